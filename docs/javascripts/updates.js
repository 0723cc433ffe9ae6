/*
 * The Update Timeline folded: a page's block (roads/words/pages.py: a heading, one
 * paragraph per entry, oldest first, then a rule) can fill the first screens of a phone,
 * and on some pages of a desktop, before the page itself begins. Where it has two older
 * entries or more, they are hidden behind a button that names how many there are and
 * since when; the newest entry stays in view. The HTML is left in the guide's style
 * (../shared/guide/CONTENT.md): without scripts every entry shows, and on paper too
 * (print.css).
 *
 * Set up on every page through roadsEachPage (pages.js).
 */
(function () {
  "use strict"
  var HEADING = "update-timeline"  // the heading's id, as MkDocs' toc makes it
  var FOLDED = "data-roads-earlier"

  function entries(heading) {
    var found = []
    for (var el = heading.nextElementSibling; el && el.tagName !== "HR"; el = el.nextElementSibling) {
      if (el.tagName === "P") found.push(el)
    }
    return el ? found : []  // no rule: not the block this script knows
  }

  // "November 26, 2026", the date an entry starts with.
  function dateOf(entry) {
    var m = /^[A-Z][a-z]+ \d{1,2}, \d{4}/.exec(entry.textContent.trim())
    return m ? m[0] : ""
  }

  function fold(heading) {
    if (heading.nextElementSibling && heading.nextElementSibling.hasAttribute(FOLDED)) return
    var all = entries(heading)
    var older = all.slice(0, -1)
    if (older.length < 2) return
    var box = document.createElement("div")
    box.className = "roads-updates-earlier"
    box.id = "roads-updates-earlier"
    box.hidden = true
    var button = document.createElement("button")
    button.type = "button"
    button.className = "roads-updates-toggle"
    button.setAttribute(FOLDED, "")
    button.setAttribute("aria-expanded", "false")
    button.setAttribute("aria-controls", box.id)
    var since = dateOf(older[0])
    var label = older.length + " earlier updates" + (since ? ", since " + since : "")
    button.textContent = "Show " + label
    button.addEventListener("click", function () {
      var open = box.hidden
      box.hidden = !open
      button.setAttribute("aria-expanded", open ? "true" : "false")
      button.textContent = (open ? "Hide " : "Show ") + label
    })
    heading.parentNode.insertBefore(button, older[0])
    heading.parentNode.insertBefore(box, older[0])
    older.forEach(function (entry) { box.appendChild(entry) })
  }

  function setUp() {
    var heading = document.getElementById(HEADING)
    if (heading && heading.tagName === "H2") fold(heading)
  }

  window.roadsEachPage(setUp)
})()
