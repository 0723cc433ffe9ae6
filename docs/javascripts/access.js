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
    regions()
    // Fonts and the figures' own scripts can change widths once they are done.
    later()
  })
})()
