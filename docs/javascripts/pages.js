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
})()
