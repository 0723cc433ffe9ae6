/*
 * A figure's readout (roads.figures.hints.readout): the line inside a drawing's figure
 * where what the part last focused or tapped says is shown, in words. A part is an
 * element of the SVG whose first child is a <title> (a box, a chunk, an arrow, a
 * Graphviz node): its tooltip, which a resting pointer shows and nothing else does. No
 * browser shows a <title> on focus, and a tap on a phone sends no hover.
 *
 * In a figure, the parts are Tab stops already (the address-space diagram's boxes are
 * links to their table rows; the strips' and the page walk's boxes take the focus):
 * focusing one, or tapping it, shows its words. In the time-lapse (dozens of boxes a
 * step, no links) the stepper's one Tab stop takes the up and down arrow keys, which go
 * from box to box of the step shown, and a tap picks a box; going to another step keeps
 * the same region's box, where it has one.
 */
(function () {
  var ON = "roads-readout-on"
  var CHOSEN = "roads-chosen"

  // The part ``target`` is in, below ``holder``: an SVG element with a <title> first.
  function partOf(target, holder) {
    for (var e = target; e && e !== holder && e.nodeType === 1; e = e.parentNode) {
      if (e.ownerSVGElement && e.firstElementChild && e.firstElementChild.localName === "title") {
        return e
      }
    }
    return null
  }

  function show(readout, part) {
    if (part) {
      readout.textContent = part.firstElementChild.textContent.trim()
    } else {
      readout.innerHTML = readout.roadsPrompt
    }
    readout.classList.toggle(ON, Boolean(part))
  }

  function figure(holder, readout) {
    // Focus on another control of the figure (its key's, its zoom's): the prompt again.
    holder.addEventListener("focusin", function (event) {
      show(readout, partOf(event.target, holder))
    })
    holder.addEventListener("focusout", function (event) {
      if (!holder.contains(event.relatedTarget)) show(readout, null)
    })
    // A tap on a part that takes no focus (an arrow), and a click, as iOS sends it
    // to an element whose figure listens.
    holder.addEventListener("click", function (event) {
      var part = partOf(event.target, holder)
      if (part) show(readout, part)
    })
  }

  function stepper(root, readout) {
    var chosen = null

    function shown() {
      return root.querySelector(".roads-timelapse-current svg") || root.querySelector("svg")
    }

    // The boxes of the step shown, top down as drawn (high addresses first).
    function parts() {
      var svg = shown()
      if (!svg) return []
      return Array.prototype.filter.call(svg.querySelectorAll("g.node"), function (node) {
        return partOf(node, svg) === node
      }).sort(function (a, b) {
        return a.getBoundingClientRect().top - b.getBoundingClientRect().top
      })
    }

    function choose(part) {
      if (chosen) chosen.classList.remove(CHOSEN)
      chosen = part
      if (part) {
        part.classList.add(CHOSEN)
        var box = part.getBoundingClientRect()
        if (box.top < 0 || box.bottom > window.innerHeight) {
          part.scrollIntoView({ block: "center" })
        }
      }
      show(readout, part)
    }

    root.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return
      var by = { ArrowDown: 1, ArrowUp: -1 }[event.key]
      if (!by || !event.target.closest(".roads-timelapse-steps")) return
      var all = parts()
      if (!all.length) return
      event.preventDefault()
      var at = all.indexOf(chosen)
      choose(all[at < 0 ? (by > 0 ? 0 : all.length - 1)
                        : Math.min(all.length - 1, Math.max(0, at + by))])
    })
    root.addEventListener("focusin", function (event) {
      var part = partOf(event.target, root)
      if (part) choose(part)
    })
    root.addEventListener("click", function (event) {
      var part = partOf(event.target, root)
      if (part) choose(part)
    })
    // Another step shown: the box of the same region in it, if it has one.
    new MutationObserver(function () {
      if (!chosen) return
      var track = chosen.getAttribute("data-roads-track")
      var svg = shown()
      choose(track && svg ? svg.querySelector('g.node[data-roads-track="' + CSS.escape(track) + '"]')
                          : null)
    }).observe(root, { attributes: true, attributeFilter: ["data-roads-step"] })
  }

  function setUp() {
    document.querySelectorAll(".roads-readout").forEach(function (readout) {
      if (readout.roadsPrompt !== undefined) return
      readout.roadsPrompt = readout.innerHTML
      readout.hidden = false
      var holder = readout.parentElement
      if (holder.classList.contains("roads-timelapse")) stepper(holder, readout)
      else figure(holder, readout)
    })
  }

  window.roadsEachPage(setUp)
})()
