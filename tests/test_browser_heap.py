"""The heap strip on its page, in Chromium: on a phone and a desktop, in both palettes.

The figure fits the column without a sideways scroll, every label lies inside the
drawing and is at least 9 px on screen, each chunk states its state in words, and the
states' fills differ from one another in each palette (the colour repeats the words).
Screenshots of the first figure go to tests/artifacts/heap/ (ignored by git) to be looked at.
"""

from __future__ import annotations

import pytest

from tests.browser import DESKTOP, PHONE, open_page, quiet
from tests.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PAGE = "all-roads-to-memory/inside-the-c-library/"
ARTIFACTS = REPO / "tests" / "artifacts" / "heap"

MEASURE = r"""
() => [...document.querySelectorAll('figure.roads-heap-figure')].map(fig => {
  const svg = fig.querySelector('svg').getBoundingClientRect();
  const labels = [...fig.querySelectorAll('svg text')].map(t => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom,
            px: parseFloat(getComputedStyle(t).fontSize) * svg.width / fig.querySelector('svg').viewBox.baseVal.width};
  });
  const fills = {};
  for (const g of fig.querySelectorAll('.roads-heap-chunk')) {
    const state = [...g.classList].find(c => c !== 'roads-heap-chunk').replace('roads-heap-', '');
    fills[state] = getComputedStyle(g.querySelector('.roads-heap-body')).fill;
  }
  return {svg: {left: svg.left, right: svg.right, top: svg.top, bottom: svg.bottom},
          labels, fills, states: [...fig.querySelectorAll('.roads-heap-state')].map(t => t.textContent)};
})
"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])
def test_heap_strip_fits_and_reads(site, browser, viewport):
    """One load per width; both palettes measured in it, one after the other."""
    _, base = site
    context, page, errors = open_page(browser, base + PAGE, viewport=viewport, scheme="default",
                                      idle=False)
    try:
        # No colour transitions (the new palette at once), and Material's sticky header
        # out of the screenshots' way.
        page.add_style_tag(content="*, ::before, ::after { transition: none !important; } "
                                   ".md-header { position: absolute !important; }")
        width = page.evaluate("() => document.scrollingElement.scrollWidth")
        assert width <= viewport["width"], f"the page scrolls sideways: {width}px"
        fills = {}
        for scheme in ("default", "slate"):
            page.evaluate("s => document.body.setAttribute('data-md-color-scheme', s)", scheme)
            figures = page.evaluate(MEASURE)
            assert len(figures) == 2, "the strip at the checkpoints freed and reused"
            for fig in figures:
                svg = fig["svg"]
                assert svg["right"] <= viewport["width"]
                for label in fig["labels"]:
                    assert svg["left"] - 1 <= label["left"] and label["right"] <= svg["right"] + 1, label
                    assert label["px"] >= 9, label
                assert fig["states"].count("in use") >= 4
                assert sum(s.startswith("free: tcache") for s in fig["states"]) >= 2
                assert len(set(fig["fills"].values())) == len(fig["fills"]) == 4, fig["fills"]
            fills[scheme] = figures[0]["fills"]
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.locator("figure.roads-heap-figure").first.screenshot(
                path=str(ARTIFACTS / f"heap-{viewport['width']}-{scheme}.png"))
        assert fills["default"] != fills["slate"], "the palettes colour the states alike"
        quiet(page)
        assert not errors
    finally:
        context.close()
