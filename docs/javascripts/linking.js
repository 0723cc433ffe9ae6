/*
 * Hover linking: a region's box in an address-space diagram and its row in the
 * memory-map table of the same checkpoint carry the same data-roads-region
 * (roads.figures.table.region_key). Pointing at either, or focusing it with the
 * keyboard, marks both with the class roads-linked (docs/stylesheets/linking.css).
 *
 * The listeners sit on the document once, so they outlive Material's page changes;
 * what each page needs (rows and boxes made focusable when they have a partner) is
 * done again for every page (roadsEachPage, pages.js).
 */
(function () {
  var ATTRIBUTE = "data-roads-region"
  var LINKED = "roads-linked"
  var ROW = "data-roads-row"  // a row made a Tab stop here
  var hovered = null
  var focused = null

  function keyOf(target) {
    // Only what has a partner on the page (setUp marks it) is linked.
    var element = target && target.closest ? target.closest(".roads-linkable") : null
    return element ? element.getAttribute(ATTRIBUTE) : null
  }

  function withKey(key) {
    return document.querySelectorAll("[" + ATTRIBUTE + '="' + CSS.escape(key) + '"]')
  }

  function show() {
    document.querySelectorAll("." + LINKED).forEach(function (element) {
      if (element.getAttribute(ATTRIBUTE) !== hovered && element.getAttribute(ATTRIBUTE) !== focused) {
        element.classList.remove(LINKED)
      }
    })
    ;[hovered, focused].forEach(function (key) {
      if (key) withKey(key).forEach(function (element) { element.classList.add(LINKED) })
    })
  }

  // A row or box is worth a tab stop only when the page has its partner; a box that
  // is a link already is one. A table's rows so made are one Tab stop between them, the
  // up and down arrow keys going from row to row (roadsRove, pages.js), as a drawing's
  // boxes are (readout.js): a table of dozens of regions is not dozens of stops.
  function setUp() {
    var count = {}
    var tables = []
    document.querySelectorAll("[" + ATTRIBUTE + "]").forEach(function (element) {
      var key = element.getAttribute(ATTRIBUTE)
      count[key] = (count[key] || 0) + 1
    })
    document.querySelectorAll("[" + ATTRIBUTE + "]").forEach(function (element) {
      if (count[element.getAttribute(ATTRIBUTE)] < 2) return
      element.classList.add("roads-linkable")
      var link = element.querySelector("a[href], a[*|href]")
      if (link || element.hasAttribute("tabindex")) return
      element.setAttribute("tabindex", "0")
      element.setAttribute(ROW, "")
      var table = element.closest("table")
      if (table && tables.indexOf(table) < 0) tables.push(table)
    })
    tables.forEach(function (table) {
      window.roadsRove(table, function () {
        return Array.prototype.slice.call(table.querySelectorAll("[" + ROW + "]"))
      })
    })
    hovered = focused = null
  }

  document.addEventListener("mouseover", function (event) {
    var key = keyOf(event.target)
    if (key !== hovered) {
      hovered = key
      show()
    }
  })
  document.addEventListener("mouseout", function (event) {
    if (!event.relatedTarget && hovered) {  // the pointer left the window
      hovered = null
      show()
    }
  })
  document.addEventListener("focusin", function (event) {
    focused = keyOf(event.target)
    show()
  })
  document.addEventListener("focusout", function (event) {
    if (!keyOf(event.relatedTarget)) {
      focused = null
      show()
    }
  })

  window.roadsEachPage(setUp)
})()
