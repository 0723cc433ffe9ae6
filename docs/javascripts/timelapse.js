/*
 * The time-lapse stepper (roads.figures.timelapse). The page holds every step of the
 * time-lapse as an item of an ordered list, so that without JavaScript all of them show,
 * in order. This turns the list into a stepper: one step at a time, Previous and Next
 * buttons, a button per step, and the left and right arrow keys (Home and End for the
 * first and last) while the focus is in it; the line above the figure names the
 * checkpoint and what changed since the step before.
 *
 * Going from one step to another morphs the figure: every box of the new step starts
 * where its region was drawn in the old one (same data-roads-track) and slides and
 * stretches into place; labels follow their box; what is new fades in. A phone's
 * numbered pointers and their lines of the key are matched by their pointer
 * (data-roads-pointer, roads.figures.diagram.pointer_keys), not by their text: number 2
 * of one step may be another pointer than number 2 of the next, and a number slides
 * only where it is the same pointer's. Other labels (addresses, the wide drawing's
 * pointers, which say their name) are matched by their text. Readers who ask for
 * reduced motion get the new step at once.
 *
 * Full screen (zoom.js) the bar goes into the dialog, above the drawing, with its keys
 * (the left and right arrows, Home and End, from anywhere in the dialog: Shift and an
 * arrow pan there) and its status line, live there as on the page (the page behind the
 * modal dialog is out of a screen reader's reach); a step shown there takes the place
 * of the one in the dialog, at the same pan and zoom, and morphs as on the page. The bar
 * comes back to the page when the dialog closes.
 */
(function () {
  var DURATION = 650  // ms, as in timelapse.css

  function setUp() {
    document.querySelectorAll(".roads-timelapse:not(.roads-timelapse--live)").forEach(start)
  }

  function element(tag, className, text) {
    var made = document.createElement(tag)
    if (className) made.className = className
    if (text) made.textContent = text
    return made
  }

  function start(root) {
    var steps = Array.prototype.slice.call(root.querySelectorAll(".roads-timelapse-step"))
    if (steps.length < 2) return
    var current = 0
    var list = root.querySelector(".roads-timelapse-steps")

    var controls = element("div", "roads-timelapse-controls")
    controls.setAttribute("role", "group")
    controls.setAttribute("aria-label", "Steps of the time-lapse")
    var previous = element("button", "roads-timelapse-previous", "\u2190 Previous")
    var next = element("button", "roads-timelapse-next", "Next \u2192")
    var dots = element("span", "roads-timelapse-dots")
    var buttons = steps.map(function (step, k) {
      var dot = element("button", "roads-timelapse-dot", String(k + 1))
      dot.type = "button"
      dot.setAttribute("aria-label", "Step " + (k + 1) + ": " + step.dataset.roadsCheckpoint)
      dot.addEventListener("click", function () { go(k) })
      dots.appendChild(dot)
      return dot
    })
    previous.type = next.type = "button"
    previous.addEventListener("click", function () { go(current - 1) })
    next.addEventListener("click", function () { go(current + 1) })
    var status = element("p", "roads-timelapse-status")
    status.setAttribute("aria-live", "polite")
    controls.append(previous, next, dots, status)
    root.insertBefore(controls, list)

    // The figure itself takes the focus too, so that the arrow keys work from it.
    list.tabIndex = 0
    list.setAttribute("aria-label", "Time-lapse figure: left and right arrow keys step through it")
    function keys(event) {
      if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return
      var to = { ArrowLeft: current - 1, ArrowRight: current + 1, Home: 0, End: steps.length - 1 }[event.key]
      if (to === undefined) return
      event.preventDefault()
      go(to)
    }
    root.addEventListener("keydown", keys)

    var full = null  // zoom.js's detail while the time-lapse is full screen
    root.addEventListener("roads-zoom-open", function (event) {
      full = event.detail
      full.leftRight = "step"
      // A placeholder of the bar's height keeps the page behind as it was.
      var placeholder = element("div", "roads-timelapse-placeholder")
      placeholder.setAttribute("aria-hidden", "true")
      placeholder.style.height = controls.getBoundingClientRect().height + "px"
      controls.replaceWith(placeholder)
      full.dialog.insertBefore(controls, full.stage)
      // On the capture phase, before zoom.js pans with the same keys.
      var done = new AbortController()
      full.dialog.addEventListener("keydown", keys, { capture: true, signal: done.signal })
      full.dialog.addEventListener("close", function () {
        done.abort()
        full = null
        placeholder.replaceWith(controls)
      }, { once: true })
    })

    root.classList.add("roads-timelapse--live")
    show(0)

    function show(k) {
      steps.forEach(function (step, j) {
        step.classList.toggle("roads-timelapse-current", j === k)
        buttons[j].setAttribute("aria-current", j === k ? "step" : "false")
      })
      current = k
      var name = steps[k].querySelector(".roads-timelapse-name")
      var change = steps[k].querySelector(".roads-timelapse-change")
      status.replaceChildren(element("strong", "", "Step " + name.textContent.trim()),
                             " " + change.textContent.trim())
      previous.setAttribute("aria-disabled", String(k === 0))
      next.setAttribute("aria-disabled", String(k === steps.length - 1))
      root.dataset.roadsStep = String(k)
    }

    // The drawing of the step shown: in the dialog, full screen.
    function drawing() {
      return window.roadsDrawing(full ? full.stage : steps[current])
    }

    function go(k) {
      if (k < 0 || k >= steps.length || k === current) return
      var was = geometry(drawing())
      show(k)
      if (full) full.replace(window.roadsDrawing(steps[k]))
      if (!matchMedia("(prefers-reduced-motion: reduce)").matches) morph(drawing(), was)
    }
  }

  // ------------------------------------------------------------------------ morph

  function keyOf(node) {
    if (node.dataset.roadsTrack) return "track:" + node.dataset.roadsTrack
    if (node.dataset.roadsPointer) {
      return (node.classList.contains("roads-key") ? "key:" : "pointer:") + node.dataset.roadsPointer
    }
    var text = node.textContent.trim()
    return text ? "text:" + text : null
  }

  function shapeOf(node) {
    return node.querySelector("polygon, path, ellipse")
  }

  // Where each keyed node of a step's drawing ``svg`` is, in the SVG's own units,
  // measured from the top of the SVG: its centre and its shape's height.
  function geometry(svg) {
    var found = {}
    if (!svg || !svg.viewBox.baseVal) return found
    var frame = svg.getBoundingClientRect()
    var scale = frame.width / svg.viewBox.baseVal.width
    if (!scale) return found
    svg.querySelectorAll("g.node").forEach(function (node) {
      var key = keyOf(node)
      if (!key || key in found) return
      var box = (shapeOf(node) || node).getBoundingClientRect()
      found[key] = { centre: (box.top + box.height / 2 - frame.top) / scale, height: box.height / scale }
    })
    return found
  }

  // Where a box new in this step was, in the step before: nowhere, so a line of no
  // height on the boundary it opens from, the edge of its neighbour above (or below)
  // as that neighbour was drawn then.
  function seam(to, was, is) {
    var top = to.centre - to.height / 2
    var bottom = to.centre + to.height / 2
    var best = null
    Object.keys(is).forEach(function (key) {
      if (key.indexOf("track:") !== 0 || !was[key]) return
      var other = is[key]
      var otherBottom = other.centre + other.height / 2
      var otherTop = other.centre - other.height / 2
      var edge
      if (Math.abs(otherBottom - top) < 1.5) edge = was[key].centre + was[key].height / 2
      else if (Math.abs(otherTop - bottom) < 1.5) edge = was[key].centre - was[key].height / 2
      else return
      if (best === null) best = edge
    })
    return best === null ? null : { centre: best, height: 0 }
  }

  function morph(svg, was) {
    if (!svg) return
    var is = geometry(svg)
    svg.classList.remove("roads-timelapse-moving")
    var moved = []
    svg.querySelectorAll("g.node").forEach(function (node) {
      var key = keyOf(node)
      var shape = shapeOf(node)
      var texts = node.querySelectorAll("text")
      var from = key && was[key]
      var to = key && is[key]
      if (!from && to && node.dataset.roadsTrack) from = seam(to, was, is)
      if (from && to) {
        var dy = from.centre - to.centre
        var stretch = shape && to.height ? from.height / to.height : 1
        if (Math.abs(dy) < 0.05 && Math.abs(stretch - 1) < 0.001) return
        if (shape) shape.style.transform = "translate(0px, " + dy + "px) scale(1, " + Math.max(stretch, 0.01) + ")"
        if (!was[key]) {
          node.style.opacity = "0"  // a new box opens from the seam between its neighbours
          moved.push(node)
        }
        texts.forEach(function (text) { text.style.transform = "translate(0px, " + dy + "px)" })
        moved.push(shape)
        texts.forEach(function (text) { moved.push(text) })
      } else {
        // New here: a box grows from nothing, any other label fades in.
        if (shape && node.dataset.roadsTrack) shape.style.transform = "scale(1, 0.01)"
        node.style.opacity = "0"
        moved.push(shape, node)
      }
    })
    svg.querySelectorAll("g.edge").forEach(function (edge) {
      edge.style.opacity = "0"
      moved.push(edge)
    })
    svg.getBoundingClientRect()  // the starting positions take effect before the move
    svg.classList.add("roads-timelapse-moving")
    moved.forEach(function (item) {
      if (!item) return
      item.style.transform = ""
      item.style.opacity = ""
    })
    clearTimeout(svg.roadsTimer)
    svg.roadsTimer = setTimeout(function () {
      svg.classList.remove("roads-timelapse-moving")
    }, DURATION + 100)
  }

  window.roadsEachPage(setUp)
})()
