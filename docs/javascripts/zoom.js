/*
 * Full screen for a figure too detailed for its column (a phone, mostly): a figure
 * wrapped in .roads-zoomable (macros/figures.py: zoomable) carries a button
 * "Open full screen", hidden until this script shows it. The button opens one shared
 * <dialog> (modal, named after the figure) holding the figure's own SVG, moved there
 * while the dialog is open and put back when it closes (its ids, links and hover
 * linking stay the ones of the page). In the dialog the SVG pans by dragging (mouse,
 * pen or one finger), zooms with the wheel, a pinch (two pointers), the + and -
 * buttons or keys, and fits the screen with "Fit" or 0 (it opens at the figure's own
 * size where fitting would shrink it, as on a phone: opening()); arrow keys pan, with
 * Shift or without; Escape or "Close" closes and gives the focus back to the button. A
 * link in the figure closes the dialog and is followed; a drag never counts as a click
 * on it. A part focused with Tab, or picked by a figure's own keys, is panned into view.
 *
 * A figure's readout line (readout.js: what the part focused or tapped says) would be
 * behind the dialog: the dialog has a line of its own under the figure, hidden unless
 * readout.js shows it. A "roads-zoom-open" event, sent from where the SVG was when the
 * dialog opens, tells the figure's readout.js, which fills the line until it closes.
 * The event's detail carries reveal(part), to pan to a part it picks; a figure whose
 * script takes the up and down arrow keys in the dialog (a drawing whose parts take
 * the focus, the time-lapse: they go from box to box there as on the page) names what they do in detail.upDown, and takes them
 * before they pan (its keydown listener, on the dialog's capture phase, prevents their
 * default): the bar's hint then says that Shift and an arrow pan. A figure whose script
 * takes the left and right arrow keys there as well (the time-lapse: they go from step to
 * step) names what they do in detail.leftRight. Such a figure may show another drawing
 * of itself in the dialog, in place of the one shown (the time-lapse's next step):
 * detail.replace(svg) puts the one in the dialog back in its place on the page and moves
 * svg in, the view kept as it is; closing gives the focus back to the button of the
 * figure the drawing shown last came from.
 *
 * Set up on every page through roadsEachPage (pages.js).
 */
(function () {
  "use strict"
  var MIN = 0.2
  var MAX = 12
  var STEP = 1.4
  var dialog = null
  var stage = null
  var view = null
  var readout = null
  var current = null // {svg, placeholder, button}
  var s = 1
  var x = 0
  var y = 0
  var pointers = new Map()
  var gesture = null
  var moved = 0

  function el(tag, attrs, text) {
    var e = document.createElement(tag)
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]) })
    if (text) e.textContent = text
    return e
  }

  function apply() {
    view.style.transform = "translate(" + x + "px, " + y + "px) scale(" + s + ")"
  }

  function size() {
    var svg = current.svg
    var w = svg.width.baseVal.value
    var h = svg.height.baseVal.value
    if (!w || !h) {
      var r = svg.getBoundingClientRect()
      w = r.width / s
      h = r.height / s
    }
    return { w: w, h: h }
  }

  function fit() {
    var box = stage.getBoundingClientRect()
    var d = size()
    s = Math.min(box.width / d.w, box.height / d.h, 2)
    s = Math.max(MIN, s)
    x = (box.width - d.w * s) / 2
    y = Math.max(0, (box.height - d.h * s) / 2)
    apply()
  }

  // Where the dialog opens: the whole figure when that shows it at its own size or
  // larger; else (a phone, where fitting a memory map to the screen leaves its labels
  // as small as in the page's column, or a map taller than a desktop's screen) the
  // figure at its own size, the size its labels were drawn for, from its top left, to
  // pan; "Fit" (or 0) shows it whole.
  function opening() {
    fit()
    if (s >= 1) return
    var box = stage.getBoundingClientRect()
    var d = size()
    s = 1
    x = d.w <= box.width ? (box.width - d.w) / 2 : 0
    y = d.h <= box.height ? (box.height - d.h) / 2 : 0
    apply()
  }

  // Zoom by factor k about the point (cx, cy) of the stage: that point stays put.
  function zoom(k, cx, cy) {
    var box = stage.getBoundingClientRect()
    if (cx === undefined) { cx = box.width / 2; cy = box.height / 2 }
    var next = Math.min(MAX, Math.max(MIN, s * k))
    x = cx - (cx - x) * next / s
    y = cy - (cy - y) * next / s
    s = next
    apply()
  }

  function local(event) {
    var box = stage.getBoundingClientRect()
    return { x: event.clientX - box.left, y: event.clientY - box.top }
  }

  function startGesture() {
    var points = Array.from(pointers.values())
    if (points.length === 1) {
      gesture = { kind: "pan", px: points[0].x, py: points[0].y, x: x, y: y }
    } else if (points.length >= 2) {
      var a = points[0]
      var b = points[1]
      gesture = {
        kind: "pinch", d: Math.hypot(a.x - b.x, a.y - b.y) || 1,
        mx: (a.x + b.x) / 2, my: (a.y + b.y) / 2, s: s, x: x, y: y
      }
    } else {
      gesture = null
    }
  }

  function onDown(event) {
    if (event.button !== undefined && event.button > 0) return
    pointers.set(event.pointerId, local(event))
    if (pointers.size === 1) moved = 0
    startGesture()
  }

  function onMove(event) {
    if (!pointers.has(event.pointerId) || !gesture) return
    pointers.set(event.pointerId, local(event))
    var points = Array.from(pointers.values())
    if (gesture.kind === "pan" && points.length === 1) {
      var dx = points[0].x - gesture.px
      var dy = points[0].y - gesture.py
      moved = Math.max(moved, Math.abs(dx) + Math.abs(dy))
      if (moved > 4 && !stage.hasPointerCapture(event.pointerId)) {
        stage.setPointerCapture(event.pointerId)
      }
      x = gesture.x + dx
      y = gesture.y + dy
      apply()
    } else if (gesture.kind === "pinch" && points.length >= 2) {
      var a = points[0]
      var b = points[1]
      var d = Math.hypot(a.x - b.x, a.y - b.y) || 1
      var mx = (a.x + b.x) / 2
      var my = (a.y + b.y) / 2
      var next = Math.min(MAX, Math.max(MIN, gesture.s * d / gesture.d))
      // The point under the fingers' first midpoint follows their midpoint.
      x = mx - (gesture.mx - gesture.x) * next / gesture.s
      y = my - (gesture.my - gesture.y) * next / gesture.s
      s = next
      moved = 99
      apply()
    }
    event.preventDefault()
  }

  function onUp(event) {
    if (!pointers.delete(event.pointerId)) return
    startGesture()
  }

  function onWheel(event) {
    event.preventDefault()
    var p = local(event)
    var delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY
    zoom(Math.exp(-delta * 0.002), p.x, p.y)
  }

  // Pan by the least that shows ``part`` whole in the stage, a margin around it (its top
  // left, where it is larger than the stage).
  function reveal(part) {
    var M = 12
    var box = stage.getBoundingClientRect()
    var r = part.getBoundingClientRect()
    var dx = Math.max(Math.min(0, box.right - M - r.right), box.left + M - r.left)
    var dy = Math.max(Math.min(0, box.bottom - M - r.bottom), box.top + M - r.top)
    if (!dx && !dy) return
    x += dx
    y += dy
    apply()
  }

  // The browser scrolls the stage to show a part focused in it (overflow: hidden scrolls
  // too): the view's pan takes that scroll over, so that dragging, zooming about a point
  // and "Fit" go on from where the drawing is seen.
  function unscroll() {
    if (!stage.scrollTop && !stage.scrollLeft) return
    x -= stage.scrollLeft
    y -= stage.scrollTop
    stage.scrollTop = stage.scrollLeft = 0
    apply()
  }

  function onKey(event) {
    if (event.defaultPrevented) return  // a key the figure's own script took
    if (event.target && event.target.tagName === "BUTTON" &&
        (event.key === "Enter" || event.key === " ")) return
    var handled = true
    switch (event.key) {
      case "+": case "=": zoom(STEP); break
      case "-": case "_": zoom(1 / STEP); break
      case "0": fit(); break
      case "ArrowLeft": x += 40; apply(); break
      case "ArrowRight": x -= 40; apply(); break
      case "ArrowUp": y += 40; apply(); break
      case "ArrowDown": y -= 40; apply(); break
      default: handled = false
    }
    if (handled) event.preventDefault()
  }

  function build() {
    dialog = el("dialog", {
      "class": "roads-zoom-dialog", role: "dialog", "aria-modal": "true",
      "aria-label": "Figure, full screen", "aria-describedby": "roads-zoom-hint"
    })
    var bar = el("div", { "class": "roads-zoom-bar", role: "toolbar", "aria-label": "Zoom and pan" })
    var buttons = [
      ["in", "+", "Zoom in"], ["out", "\u2212", "Zoom out"], ["fit", "Fit", "Fit to the screen"]
    ]
    buttons.forEach(function (b) {
      var button = el("button", { type: "button", "class": "roads-zoom-" + b[0], "aria-label": b[2], title: b[2] }, b[1])
      bar.appendChild(button)
    })
    bar.appendChild(el("span", { "class": "roads-zoom-hint", id: "roads-zoom-hint", "aria-hidden": "true" }))
    bar.appendChild(el("button", {
      type: "button", "class": "roads-zoom-close", "aria-label": "Close full screen (Escape)",
      title: "Close (Escape)"
    }, "Close"))
    stage = el("div", { "class": "roads-zoom-stage" })
    view = el("div", { "class": "roads-zoom-view" })
    stage.appendChild(view)
    readout = el("p", { "class": "roads-zoom-readout", hidden: "" })
    dialog.appendChild(bar)
    dialog.appendChild(stage)
    dialog.appendChild(readout)
    document.body.appendChild(dialog)

    bar.querySelector(".roads-zoom-in").addEventListener("click", function () { zoom(STEP) })
    bar.querySelector(".roads-zoom-out").addEventListener("click", function () { zoom(1 / STEP) })
    bar.querySelector(".roads-zoom-fit").addEventListener("click", fit)
    bar.querySelector(".roads-zoom-close").addEventListener("click", function () { dialog.close() })
    dialog.addEventListener("close", restore)
    dialog.addEventListener("keydown", onKey)
    stage.addEventListener("pointerdown", onDown)
    stage.addEventListener("pointermove", onMove)
    stage.addEventListener("pointerup", onUp)
    stage.addEventListener("pointercancel", onUp)
    stage.addEventListener("wheel", onWheel, { passive: false })
    stage.addEventListener("scroll", unscroll)
    // On the dialog, so after readout.js (on the stage) has shown the part's words: the
    // line may take more height from the stage.
    dialog.addEventListener("focusin", function (event) {
      if (!stage.contains(event.target)) return
      unscroll()
      reveal(event.target)
    })
    // A drag that ends on a link is no click on it; a click on a link leaves the dialog.
    stage.addEventListener("click", function (event) {
      if (moved > 4) {
        event.preventDefault()
        event.stopPropagation()
        return
      }
      // (An <a> with no href, as the time-lapse's boxes keep, is no link: a tap picks it.)
      if (event.target.closest && event.target.closest("a[href], a[*|href]")) dialog.close()
    }, true)
    window.addEventListener("resize", function () { if (dialog.open) fit() })
  }

  // ``svg`` out of the page into the view, a placeholder of its height in its place.
  function moveIn(svg, button) {
    var placeholder = el("div", { "class": "roads-zoom-placeholder", "aria-hidden": "true" })
    placeholder.style.height = svg.getBoundingClientRect().height + "px"
    svg.replaceWith(placeholder)
    view.appendChild(svg)
    current = { svg: svg, placeholder: placeholder, button: button }
    var name = svg.getAttribute("aria-label") || "Figure"
    dialog.setAttribute("aria-label", name + " (full screen)")
    return placeholder
  }

  // Another drawing of the figure open (its script's: detail.replace) in place of the
  // one shown, at the same pan and zoom; the button of its own figure, if it has one,
  // takes the focus on close.
  function replace(svg) {
    if (!current || !svg || svg === current.svg) return
    var wrapper = svg.closest(".roads-zoomable")
    var button = (wrapper && wrapper.querySelector(".roads-zoom-open")) || current.button
    current.placeholder.replaceWith(current.svg)
    moveIn(svg, button)
  }

  function open(wrapper, button) {
    var svg = window.roadsDrawing(wrapper)
    if (!svg) return
    if (!dialog || !document.body.contains(dialog)) build()
    if (dialog.open) dialog.close()
    var placeholder = moveIn(svg, button)
    pointers.clear()
    gesture = null
    dialog.showModal()
    // Before the figure is placed: a readout shown takes its height from the stage.
    var detail = {
      dialog: dialog, stage: stage, readout: readout, reveal: reveal, replace: replace,
      upDown: null, leftRight: null
    }
    placeholder.dispatchEvent(new CustomEvent("roads-zoom-open", { bubbles: true, detail: detail }))
    hint(detail)
    s = 1
    opening()
    dialog.querySelector(".roads-zoom-close").focus()
  }

  // The bar's hint, the dialog's description: its keys, and what the figure's arrow
  // keys do where its script takes them (detail.leftRight, detail.upDown).
  function hint(detail) {
    var own = []
    if (detail.leftRight) own.push("\u2190 \u2192 " + detail.leftRight)
    if (detail.upDown) own.push("\u2191 \u2193 " + detail.upDown)
    var keys = own.length ? own.join(" \u00b7 ") + " \u00b7 drag or Shift+arrows pan"
                          : "Drag or arrow keys pan"
    dialog.querySelector(".roads-zoom-hint").textContent =
      keys + " \u00b7 pinch, wheel, + or \u2212 zoom \u00b7 0 fits \u00b7 Esc closes"
  }

  function restore() {
    if (!current) return
    current.placeholder.replaceWith(current.svg)
    var button = current.button
    current = null
    view.style.transform = ""
    if (button && document.contains(button)) button.focus()
  }

  function setUp() {
    document.querySelectorAll(".roads-zoomable").forEach(function (wrapper) {
      var button = wrapper.querySelector(".roads-zoom-open")
      if (!button || button.dataset.roadsZoom) return
      button.dataset.roadsZoom = "ready"
      button.hidden = false
      button.addEventListener("click", function () { open(wrapper, button) })
    })
  }

  window.roadsEachPage(function () {
    if (dialog && dialog.open) dialog.close() // a page swapped in under an open dialog
    setUp()
  })
})()
