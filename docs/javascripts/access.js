/*
 * Accessibility fixes that need the page as the reader's browser lays it out
 * (issue 16; docs/stylesheets/access.css has the rest):
 *
 * - Every region of the page content that scrolls (a wide table, a page view, a gdb
 *   transcript, a code block on a phone) is reachable with the keyboard: it gets
 *   tabindex="0", so that Tab stops on it and the arrow keys scroll it, and, unless it
 *   has a role of its own, role="region" with a name taken from its caption or figure.
 *   Whether a region scrolls depends on the width of the screen, so this is decided
 *   again when the window is resized or a folded box (<details>) is opened; a region
 *   that no longer scrolls loses what was given to it (only that).
 * - Material's search overlay (a dialog) and instant navigation's progress bar have a
 *   role and no name: they are named.
 * - The navigation drawer's menu button (below 1220 px) is reached and pressed with the
 *   keyboard (drawer(), below); the search results' box is a Tab stop only while there
 *   are results (searchResults()).
 *
 * Set up on every page through roadsEachPage (pages.js).
 */
(function () {
  "use strict"
  var MARK = "data-roads-scroll"
  var SCROLLS = /^(auto|scroll)$/

  function text(el) {
    return el ? el.textContent.replace(/\s+/g, " ").trim() : ""
  }

  // A name for a scrolling region: its table's caption, its figure's caption or drawing,
  // the figure it sits in; the kind of thing it is otherwise.
  function nameOf(region) {
    var caption = region.querySelector("caption")
    var figure = region.closest("figure") || region.querySelector("figure")
    var svg = region.querySelector("svg[aria-label]")
    var name = text(caption) ||
      (figure && text(figure.querySelector("figcaption"))) ||
      (svg && svg.getAttribute("aria-label")) || ""
    if (!name) {
      name = region.querySelector("table") ? "Table"
        : region.querySelector("pre, code") || region.matches("pre, code") ? "Code" : "Content"
    }
    if (name.length > 120) name = name.slice(0, 117).replace(/\s+\S*$/, "") + "\u2026"
    return name + " (scrolls)"
  }

  function scrolls(el, style) {
    return (SCROLLS.test(style.overflowX) && el.scrollWidth > el.clientWidth + 1) ||
      (SCROLLS.test(style.overflowY) && el.scrollHeight > el.clientHeight + 1)
  }

  function mark(el) {
    el.setAttribute(MARK, "")
    el.setAttribute("tabindex", "0")
    // A plain box becomes a named region; anything with a meaning of its own (a figure,
    // a code block, a table) keeps it, and its name.
    if (!el.hasAttribute("role") && el.matches("div, span")) {
      el.setAttribute(MARK, "region")
      el.setAttribute("role", "region")
      el.setAttribute("aria-label", nameOf(el))
    }
  }

  function unmark(el) {
    if (el.getAttribute(MARK) === "region") {
      el.removeAttribute("role")
      el.removeAttribute("aria-label")
    }
    el.removeAttribute("tabindex")
    el.removeAttribute(MARK)
  }

  function regions() {
    var content = document.querySelector(".md-content")
    if (!content) return
    // SVG drawings never scroll themselves: their insides are not looked at.
    var all = content.querySelectorAll("*:not(svg):not(svg *)")
    for (var i = 0; i < all.length; i++) {
      var el = all[i]
      var marked = el.hasAttribute(MARK)
      var style = getComputedStyle(el)
      if (scrolls(el, style)) {
        if (!marked && !el.hasAttribute("tabindex")) mark(el)
      } else if (marked) {
        unmark(el)
      }
    }
  }

  // Material's parts that have a role but no name: the search overlay (a dialog) and
  // instant navigation's progress bar.
  var NAMES = [[".md-search[role='dialog']", "Search"],
               [".md-progress[role='progressbar']", "Loading the page"]]
  function nameMaterial() {
    NAMES.forEach(function (pair) {
      var el = document.querySelector(pair[0])
      if (el && !el.hasAttribute("aria-label") && !el.hasAttribute("aria-labelledby")) {
        el.setAttribute("aria-label", pair[1])
      }
    })
  }

  // The drawer's menu button in the header (below 1220 px; access.css has the rest): a
  // <label> for Material's checkbox, which the keyboard could not reach. It becomes a
  // button, named, that says whether the drawer is open; Enter or Space opens the
  // drawer and puts the focus on its first link, and Escape in the drawer closes it and
  // gives the focus back to the button.
  function drawer() {
    var toggle = document.getElementById("__drawer")
    var button = document.querySelector(".md-header label[for='__drawer']")
    var sidebar = document.querySelector(".md-sidebar--primary")
    if (!toggle || !button || !sidebar || button.hasAttribute("data-roads-drawer")) return
    button.setAttribute("data-roads-drawer", "")
    button.setAttribute("tabindex", "0")
    button.setAttribute("role", "button")
    button.setAttribute("aria-label", "Navigation")
    if (!sidebar.id) sidebar.id = "roads-navigation"
    button.setAttribute("aria-controls", sidebar.id)
    var keyed = false
    // The first link that shows on top once the drawer has slid in: Material opens it at
    // this page's section, a panel over the levels above, whose links are still there.
    function focusInto() {
      var links = sidebar.querySelectorAll("a[href], [tabindex='0']")
      var shown = Array.prototype.find.call(links, function (el) {
        if (!el.getClientRects().length) return false
        var box = el.getBoundingClientRect()
        var hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2)
        return hit !== null && (hit === el || el.contains(hit))
      })
      if (toggle.checked) (shown || links[0]).focus()
    }
    function said() {
      button.setAttribute("aria-expanded", toggle.checked ? "true" : "false")
      // Opened from the keyboard: the focus goes into the drawer (it slides in in 0.25 s).
      if (keyed && toggle.checked) setTimeout(focusInto, 300)
      keyed = false
    }
    said()
    toggle.addEventListener("change", said)
    // The label's own click toggles the checkbox. Material clicks a focused label on
    // Enter itself, from its handler of the whole window: the key stops here, so that
    // one press is one click.
    button.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" && event.key !== " ") return
      event.preventDefault()
      event.stopPropagation()
      keyed = true
      button.click()
    })
    sidebar.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || !toggle.checked) return
      toggle.checked = false
      toggle.dispatchEvent(new Event("change", { bubbles: true }))
      button.focus()
    })
  }

  // Material's search results (the box under the search field) are a Tab stop, so that
  // the keyboard can scroll them; with nothing typed there are none, the box has no
  // height, and the Tab after the search field left the focus on nothing to be seen
  // (the search closing as it went). The box is a stop only while a query is typed;
  // until then it does not scroll either (it has nothing to scroll), so that it is no
  // scrolling region out of the keyboard's reach.
  function searchResults() {
    var input = document.querySelector(".md-search__input")
    var results = document.querySelector(".md-search__scrollwrap")
    if (!input || !results || input.hasAttribute("data-roads-results")) return
    input.setAttribute("data-roads-results", "")
    function stop() {
      var typed = input.value.trim() !== ""
      results.setAttribute("tabindex", typed ? "0" : "-1")
      results.style.overflowY = typed ? "" : "hidden"
    }
    stop()
    input.addEventListener("input", stop)
    input.addEventListener("change", stop)
  }

  var pending = 0
  function later() {
    clearTimeout(pending)
    pending = setTimeout(regions, 150)
  }

  window.addEventListener("resize", later)
  window.addEventListener("load", later)
  // A folded box (the sample's source) opened or closed: what scrolls inside it changed.
  document.addEventListener("toggle", later, true)

  window.roadsEachPage(function () {
    nameMaterial()
    drawer()
    searchResults()
    regions()
    // Fonts and the figures' own scripts can change widths once they are done.
    later()
  })
})()
