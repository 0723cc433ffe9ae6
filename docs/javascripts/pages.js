/*
 * roadsEachPage(setUp): run setUp on every page the reader sees. Under Material's instant
 * navigation a page is swapped in without loading the scripts again, and document$
 * announces each one; without it, once the document is parsed. Loaded before the
 * figures' scripts (linking, time-lapse, zoom), which each hand it their set-up.
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
})()
