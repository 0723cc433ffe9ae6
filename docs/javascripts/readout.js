/*
 * A figure's readout (roads.figures.hints.readout): the line inside a drawing's figure
 * where what the part last focused or tapped says is shown, in words. A part is an
 * element of the SVG whose first child is a <title> (a box, a chunk, an arrow, a
 * Graphviz node): its tooltip, which a resting pointer shows and nothing else does. No
 * browser shows a <title> on focus, and a tap on a phone sends no hover.
 *
 * In a figure, the parts take the focus already (the address-space diagram's boxes are
 * links to their table rows, and a phone's drawing's numbered pointers take the focus, as
 * the strips' and the page walk's boxes do): focusing one, or tapping it, shows its
 * words. Each drawing's parts are one Tab stop (roadsRove, pages.js: the part focused
 * last, the first until then), and the up and down arrow keys go from part to part, top
 * down, Home and End to the first and the last. In the time-lapse (dozens of boxes a
 * step, no links) the stepper's one Tab stop takes the up and down arrow keys, which go
 * from box to box of the step shown (and on a phone to the pointers' numbers among
 * them), and a tap picks one; going to another step keeps the same region's box, or the
 * same pointer's number, where it has one.
 *
 * A readout says what it says to the eye only (aria-hidden): a focused part's <title> is
 * its accessible name, read on focus. The time-lapse's picked box is said by the
 * stepper's status line (timelapse.js), its one live region, so that a step announced
 * with the box still picked is one announcement, not one from each line.
 *
 * Full screen (zoom.js) moves a drawing into a dialog above the page, out of its
 * figure; the dialog's own readout line then shows what the figure's would, for the
 * parts focused or tapped there. The up and down arrow keys go from part to part there
 * too, from anywhere in the dialog (Shift and an arrow pan); in the time-lapse the
 * stepper's status line, which timelapse.js moves into the dialog with its step bar,
 * says the box picked there. On closing, the box picked there is brought into view on
 * the page with its readout.
 */
(function () {
  var ON = "roads-readout-on"
  var CHOSEN = "roads-chosen"
  // What the dialog's readout prompts in the time-lapse, where the focus is anywhere in
  // the dialog (its buttons, a box).
  var DIALOG_PROMPT = "The up and down arrow keys go from box to box, or tap a box: its " +
    "whole line of maps and its kind show here."

  // The part ``target`` is in, below ``holder``: an SVG element with a <title> first.
  function partOf(target, holder) {
    for (var e = target; e && e !== holder && e.nodeType === 1; e = e.parentNode) {
      if (e.ownerSVGElement && e.firstElementChild && e.firstElementChild.localName === "title") {
        return e
      }
    }
    return null
  }

  function words(part) {
    return part.firstElementChild.textContent.trim()
  }

  function show(readout, part) {
    if (part) {
      readout.textContent = words(part)
    } else {
      readout.innerHTML = readout.roadsPrompt
    }
    readout.classList.toggle(ON, Boolean(part))
  }

  // A readout that says something sticks to the window's bottom over a tall drawing
  // (figures.css), as Material's header and the time-lapse's step bar (timelapse.css:
  // ``bar``) stick to its top; the part focused or picked is not left under any of them:
  // the window scrolls by the least that clears it of them, and a gap (the browser
  // scrolls a part focused into view, but counts no sticky line over it). Never so far
  // that the part's top goes under the header or the bar.
  function uncover(part, readout, bar) {
    var GAP = 8
    var box = part.getBoundingClientRect()
    var top = 0
    ;[document.querySelector(".md-header"), bar].forEach(function (cover) {
      if (cover) top = Math.max(top, cover.getBoundingClientRect().bottom)
    })
    var line = readout.getBoundingClientRect()
    var bottom = line.height && box.top < line.bottom ? line.top : window.innerHeight
    var by = Math.min(Math.max(0, box.bottom + GAP - bottom), box.top - top - GAP)
    if (by) window.scrollBy({ top: by, behavior: "instant" })
  }

  // The part picked full screen, on the page again once the dialog has closed, in view
  // with its readout (the least scroll that clears it of the sticky lines: uncover),
  // smoothly unless the reader asks for reduced motion.
  function bringBack(part, readout, bar) {
    var from = window.scrollY
    // The focus where the reader's pick is, not on the button that opened the dialog
    // (zoom.js gives it back there), which may now be far above, off screen.
    if (part.tabIndex >= 0) part.focus({ preventScroll: true })
    var box = part.getBoundingClientRect()
    if (box.bottom < 0 || box.top > window.innerHeight) {
      part.scrollIntoView({ block: "center", behavior: "instant" })
    }
    uncover(part, readout, bar)
    var to = window.scrollY
    if (to === from || matchMedia("(prefers-reduced-motion: reduce)").matches) return
    window.scrollTo({ top: from, behavior: "instant" })  // measured: now the glide there
    window.scrollTo({ top: to, behavior: "smooth" })
  }

  // Full screen: zoom.js sends "roads-zoom-open" from where the drawing was, with the
  // dialog, its stage (where the drawing now is) and its readout line. ``listen(stage,
  // signal, detail)`` takes the parts' focus and taps there (and may take keys, with
  // the event's detail) until the dialog closes; ``lines`` gets the dialog's readout
  // meanwhile, its prompt ``prompt``, live where ``live`` (what it says is said by
  // nothing else there), and showing ``current()`` first, the part picked, which is
  // brought into view on closing.
  function fullScreen(holder, lines, listen, prompt, live, current) {
    holder.addEventListener("roads-zoom-open", function (event) {
      var dialogLine = event.detail.readout
      var done = new AbortController()
      dialogLine.roadsPrompt = prompt
      dialogLine.setAttribute(live ? "aria-live" : "aria-hidden", live ? "polite" : "true")
      dialogLine.removeAttribute(live ? "aria-hidden" : "aria-live")
      show(dialogLine, current())
      dialogLine.hidden = false
      lines.push(dialogLine)
      listen(event.detail.stage, done.signal, event.detail)
      event.detail.dialog.addEventListener("close", function () {
        done.abort()
        lines.splice(lines.indexOf(dialogLine), 1)
        dialogLine.hidden = true
        dialogLine.textContent = ""
        // Once every script has put its part of the page back (the drawing, the bar).
        requestAnimationFrame(function () {
          var part = current()
          if (part && holder.contains(part) && document.contains(holder)) {
            bringBack(part, lines[0], holder.querySelector(".roads-timelapse-controls"))
          }
        })
      }, { once: true })
    })
  }

  function figure(holder, readout) {
    var lines = [readout]

    function say(part) {
      lines.forEach(function (line) { show(line, part) })
      if (part && holder.contains(part)) uncover(part, readout)
    }

    function listen(place, signal) {
      var options = { signal: signal }
      // Focus on another control of the figure (its key's, its zoom's): the prompt again.
      place.addEventListener("focusin", function (event) {
        say(partOf(event.target, place))
      }, options)
      place.addEventListener("focusout", function (event) {
        if (!place.contains(event.relatedTarget)) say(null)
      }, options)
      // A tap on a part that takes no focus (an arrow), and a click, as iOS sends it
      // to an element whose figure listens.
      place.addEventListener("click", function (event) {
        var part = partOf(event.target, place)
        if (part) say(part)
      }, options)
    }

    listen(holder)
    // Each drawing's parts that take the focus, one Tab stop (roadsRove, pages.js): the
    // up and down arrow keys go from one to the next, top down.
    holder.querySelectorAll("svg").forEach(function (svg) {
      window.roadsRove(svg, function () { return stops(svg) })
    })
    // In the dialog as on the page: Tab to the drawing, the arrow keys from part to part
    // (the diagram's boxes are links, which Enter or a tap follows, closing the dialog),
    // its name read on focus.
    fullScreen(holder, lines, function (place, signal, zoom) {
      listen(place, signal)
      var svg = window.roadsDrawing(place)
      if (!svg || !stops(svg).length) return
      zoom.upDown = "go from box to box"
      // From anywhere in the dialog (its buttons), as the time-lapse's: to the drawing's
      // Tab stop, the part last focused, which the keys then leave (roadsRove); before
      // zoom.js pans with them.
      zoom.dialog.addEventListener("keydown", function (event) {
        if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return
        if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return
        var all = stops(svg)
        if (all.some(function (stop) { return stop.contains(event.target) })) return
        event.preventDefault()
        ;(all.find(function (stop) { return stop.tabIndex === 0 }) || all[0]).focus()
      }, { capture: true, signal: signal })
    }, readout.roadsPrompt, false, function () { return null })
  }

  // The parts of the drawing ``svg`` that take the focus, in its order, which is its
  // reading order (top down: roads.figures.diagram's reading_order): each the part
  // itself (tabindex: a chunk, a box of the stack, a table of the walk, a phone's
  // numbered pointer) or the link it holds (a box of the address-space diagram).
  function stops(svg) {
    var found = []
    svg.querySelectorAll("title").forEach(function (title) {
      var part = title.parentNode
      if (part === svg || part.firstElementChild !== title) return
      var stop = part.hasAttribute("tabindex") ? part : part.querySelector("a[href], a[*|href]")
      if (stop) found.push(stop)
    })
    return found
  }

  function stepper(root, readout) {
    var chosen = null
    var lines = [readout]
    var dialogReveal = null  // zoom.js's reveal while the drawing is full screen
    var dialogStage = null  // and its stage, where the drawing is
    // Said through the status line, visually hidden there (the readout shows it).
    var said = document.createElement("span")
    said.className = "roads-timelapse-said"

    function shown() {
      if (dialogStage) return window.roadsDrawing(dialogStage)
      return window.roadsDrawing(root.querySelector(".roads-timelapse-current") || root)
    }

    // The boxes of the drawing ``svg`` (the step shown), and on a phone the numbers of its
    // pointers, each after the box it points into (their lines of the key say nothing
    // more: no title): in the drawing's order, which is its reading order (top down, as
    // the arrow keys meet the parts of a diagram on its page: roads.figures.diagram's
    // reading_order). By their height on the screen, a number pushed below the next box
    // came after that box.
    function parts(svg) {
      if (!svg) return []
      return Array.prototype.filter.call(svg.querySelectorAll("g.node"), function (node) {
        return partOf(node, svg) === node
      })
    }

    function choose(part) {
      if (chosen) chosen.classList.remove(CHOSEN)
      chosen = part
      lines.forEach(function (line) { show(line, part) })
      // (Full screen, timelapse.js has moved it into the dialog, above the stage.)
      var status = root.querySelector(".roads-timelapse-status") ||
        (dialogStage && dialogStage.parentNode.querySelector(".roads-timelapse-status"))
      said.textContent = !part ? ""
        : (part.classList.contains("roads-pointer") ? ". Picked pointer: " : ". Picked box: ") + words(part)
      if (status && said.parentNode !== status) status.appendChild(said)
      if (!part) return
      part.classList.add(CHOSEN)
      if (!root.contains(part)) {  // in the full-screen dialog: its view pans to it
        if (dialogReveal) dialogReveal(part)
        return
      }
      var box = part.getBoundingClientRect()
      if (box.top < 0 || box.bottom > window.innerHeight) {
        part.scrollIntoView({ block: "center" })
      }
      uncover(part, readout, root.querySelector(".roads-timelapse-controls"))
    }

    // The up and down arrow keys (no modifier): the next box of ``svg`` down or up from
    // the one picked, or its first or last.
    function walk(event, svg) {
      if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return
      var by = { ArrowDown: 1, ArrowUp: -1 }[event.key]
      if (!by) return
      var all = parts(svg)
      if (!all.length) return
      event.preventDefault()
      var at = all.indexOf(chosen)
      choose(all[at < 0 ? (by > 0 ? 0 : all.length - 1)
                        : Math.min(all.length - 1, Math.max(0, at + by))])
    }

    root.addEventListener("keydown", function (event) {
      if (event.target.closest(".roads-timelapse-steps")) walk(event, shown())
    })

    // On the page, and (``zoom``: zoom.js's detail) full screen, where the arrow keys
    // pick a box from anywhere in the dialog, before zoom.js pans with them.
    function listen(place, signal, zoom) {
      place.addEventListener("focusin", function (event) {
        var part = partOf(event.target, place)
        if (part) choose(part)
      }, { signal: signal })
      place.addEventListener("click", function (event) {
        var part = partOf(event.target, place)
        if (part) choose(part)
      }, { signal: signal })
      if (!zoom) return
      zoom.upDown = "pick a box"
      dialogReveal = zoom.reveal
      dialogStage = zoom.stage
      signal.addEventListener("abort", function () { dialogReveal = dialogStage = null })
      zoom.dialog.addEventListener("keydown", function (event) {
        walk(event, window.roadsDrawing(place))
      }, { capture: true, signal: signal })
    }

    listen(root)
    // In the dialog the status line, moved there with the step bar, says the box picked:
    // the dialog's line shows it, as the page's does.
    fullScreen(root, lines, listen, DIALOG_PROMPT, false, function () { return chosen })
    // Another step shown: the box of the same region in it, if it has one (the number
    // of the same pointer, for a number).
    new MutationObserver(function () {
      if (!chosen) return
      var svg = shown()
      var track = chosen.getAttribute("data-roads-track")
      var pointer = chosen.getAttribute("data-roads-pointer")
      var same = track ? 'g.node[data-roads-track="' + CSS.escape(track) + '"]'
        : pointer ? 'g.node.roads-worded[data-roads-pointer="' + CSS.escape(pointer) + '"]' : null
      choose(same && svg ? svg.querySelector(same) : null)
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
