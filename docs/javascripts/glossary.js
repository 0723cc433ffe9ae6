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
 */
document$.subscribe(function () {
  var seen = new Set()
  document.querySelectorAll(".md-content abbr").forEach(function (term) {
    var name = term.textContent.trim().toLowerCase()
    term.tabIndex = seen.has(name) ? -1 : 0
    seen.add(name)
    term.addEventListener("click", function () {
      term.focus()
    })
  })
})
