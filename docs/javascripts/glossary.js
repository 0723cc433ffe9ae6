/*
 * Glossary terms: every <abbr title="definition"> that the abbr extension made from
 * docs/includes/abbreviations.md. Material's content.tooltips shows the definition
 * while a term is hovered or focused. Hover alone leaves out keyboards, and touch
 * screens that send no mouse events for a tap on plain text (Safari on iOS among them),
 * so each term becomes focusable, and a tap or click focuses it: the tooltip then
 * stays until the focus moves on, which a tap anywhere else does.
 */
document$.subscribe(function () {
  document.querySelectorAll(".md-content abbr").forEach(function (term) {
    term.tabIndex = 0
    term.addEventListener("click", function () {
      term.focus()
    })
  })
})
