/*
 * roadsEachPage(setUp): run setUp on every page the reader sees. Under Material's instant
 * navigation a page is swapped in without loading the scripts again, and document$
 * announces each one; without it, once the document is parsed. Loaded before the
 * figures' scripts (linking, time-lapse, zoom), which each hand it their set-up.
 *
 * roadsDrawing(root): the SVG under root that the screen shows. The address-space
 * diagram is drawn twice, wide and narrow (roads.figures.diagram.drawings), and the
 * stylesheet shows one, by the screen's width: the first whose own display is not none
 * (a step the time-lapse hides hides both of its drawings, not one).
 *
 * roadsRove(group, stops): the elements ``stops()`` lists, in reading order, inside
 * ``group`` (a drawing's boxes, a table's rows) are one Tab stop between them, as the
 * WAI-ARIA practice has a composite widget (a "roving tabindex"): one of them keeps
 * tabindex 0, the others get -1, so that Tab reaches the group once and leaves it with
 * the next press. The up and down arrow keys move the focus to the next or the previous
 * one, Home and End to the first and the last; the one focused, by a key, a click or a
 * script, is the group's Tab stop from then on (the first until one is). Without
 * JavaScript every one of them is a Tab stop, as the page writes them.
 */
(function () {
  window.roadsEachPage = function (setUp) {
    if (typeof window.document$ !== "undefined" && window.document$.subscribe) {
      window.document$.subscribe(setUp)
    } else if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", setUp)
    } else {
      setUp()
    }
  }

  window.roadsDrawing = function (root) {
    var all = root.querySelectorAll("svg")
    for (var i = 0; i < all.length; i++) {
      if (getComputedStyle(all[i]).display !== "none") return all[i]
    }
    return all[0] || null
  }

  // The group ``target`` is in, and its stops, the one ``target`` is or is in among them.
  function roving(target) {
    for (var group = target; group && group.nodeType === 1; group = group.parentNode) {
      if (group.roadsRove) {
        var all = group.roadsRove()
        var stop = all.find(function (each) { return each === target || each.contains(target) })
        return stop ? { all: all, stop: stop } : null
      }
    }
    return null
  }

  function settle(all, stop) {
    all.forEach(function (each) { each.setAttribute("tabindex", each === stop ? "0" : "-1") })
  }

  // On the document, not on the group: an SVG element with a focus listener of its own
  // is a Tab stop itself in Chromium. Keys on the capture phase, before a figure's full
  // screen (zoom.js) pans with the same ones.
  document.addEventListener("focusin", function (event) {
    var at = roving(event.target)
    if (at) settle(at.all, at.stop)
  })
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return
    var at = roving(event.target)
    if (!at) return
    var k = at.all.indexOf(at.stop)
    var to = { ArrowDown: k + 1, ArrowUp: k - 1, Home: 0, End: at.all.length - 1 }[event.key]
    if (to === undefined) return
    event.preventDefault()  // no scroll, and full screen no pan
    at.all[Math.min(at.all.length - 1, Math.max(0, to))].focus()
  }, true)

  window.roadsRove = function (group, stops) {
    if (group.roadsRove || !stops().length) return
    group.roadsRove = stops
    settle(stops(), stops()[0])
  }
})()
