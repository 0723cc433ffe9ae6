/*
 * Glossary terms: every <abbr title="definition"> that the abbr extension made from
 * docs/includes/abbreviations.md. Material's content.tooltips shows the definition
 * while a term is hovered or focused. Hover alone leaves out keyboards, and touch
 * screens that send no mouse events for a tap on plain text (Safari on iOS among them),
 * so each term becomes focusable, and a tap or click focuses it: the tooltip then
 * stays until the focus moves on, which a tap anywhere else does. Only the first use
 * of each term on a page is a stop of the Tab key (later ones still open on a tap,
 * a click or the pointer): every use was, and a page's terms made most of its Tab stops
 * (227 of 338 on one page), between the links a keyboard reader moves by.
 *
 * Material opens a tooltip below its term, wherever the term is on the screen: a term
 * tapped or focused on the last lines of the screen had its definition hanging below
 * the bottom edge, out of sight (on a phone, all but a line of it). When a term takes
 * the focus, the page scrolls up just enough to show its whole tooltip, never so far
 * that the term goes under the header; the pointer's hover scrolls nothing.
 */
(function () {
  var MARGIN = 8  // px between the tooltip and the bottom of the screen

  // The tooltip's bottom edge once it has slid into place: Material moves it up by
  // 0.4rem as it appears, so what is still to move is taken off.
  function settledBottom(tooltip, inner) {
    var moving = new DOMMatrixReadOnly(getComputedStyle(tooltip).transform).m42
    return inner.getBoundingClientRect().bottom - moving
  }

  function reveal(term) {
    var frames = 0
    function look() {
      if (document.activeElement !== term) return
      var id = term.getAttribute("aria-describedby")
      var tooltip = id ? document.getElementById(id) : null
      var inner = tooltip && tooltip.classList.contains("md-tooltip2--active")
        ? tooltip.querySelector(".md-tooltip2__inner") : null
      if (!inner || !inner.getBoundingClientRect().height) {
        if (++frames < 60) requestAnimationFrame(look)  // Material shows it a moment later
        return
      }
      var below = settledBottom(tooltip, inner) - (window.innerHeight - MARGIN)
      if (below <= 0) return
      var header = document.querySelector(".md-header")
      var top = header ? header.getBoundingClientRect().bottom : 0
      var room = term.getBoundingClientRect().top - top - MARGIN
      var by = Math.min(below, room)
      if (by > 0) window.scrollBy(0, by)
    }
    requestAnimationFrame(look)
  }

  document$.subscribe(function () {
    var seen = new Set()
    document.querySelectorAll(".md-content abbr").forEach(function (term) {
      var name = term.textContent.trim().toLowerCase()
      term.tabIndex = seen.has(name) ? -1 : 0
      seen.add(name)
      term.addEventListener("click", function () {
        term.focus()
      })
      term.addEventListener("focus", function () {
        reveal(term)
      })
    })
  })
})()
