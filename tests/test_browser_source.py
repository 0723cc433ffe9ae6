"""The code beside the figures in a real browser: the source box is there, folds and
unfolds, its highlighted lines stand out in both palettes, the compile command shows
without opening anything, and nothing of it is wider than a phone.

Screenshots go to tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import pytest

from tests.browser import DESKTOP, PHONE, open_page, quiet
from tests.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = REPO / "tests" / "artifacts"
# A short source shown unfolded, and a long one shown folded (roads.words.source.OPEN_LINES).
SHORT = ("all-roads-to-memory/processes/", "intmain")
LONG = ("all-roads-to-memory/mapping-procedure/", "probe")


def test_source_box_folds_and_unfolds(site, browser):
    _, base = site
    context, page, errors = open_page(browser, base + LONG[0], idle=False)
    box = page.locator(f"#source-{LONG[1]}")
    code = box.locator("details.roads-src .roads-src-code")
    summary = box.locator("details.roads-src > summary")
    assert summary.is_visible()
    assert not code.is_visible(), "a long source starts folded"
    # The compile command is on the page, not only behind a click or a tooltip.
    assert box.locator(".roads-compile pre.roads-command").first.is_visible()
    summary.click()
    assert code.is_visible()
    assert box.locator(".roads-src-code .hll").count() >= 1
    summary.click()
    assert not code.is_visible()
    # The run-it-yourself box opens too, and shows its commands.
    run = box.locator("details.roads-run")
    assert not run.locator("pre.roads-command").is_visible()
    run.locator("> summary").click()
    assert run.locator("pre.roads-command").is_visible()
    assert "setarch" in run.locator("pre.roads-command").inner_text()
    quiet(page)
    context.close()
    assert not errors, errors

    context, page, errors = open_page(browser, base + SHORT[0], idle=False)
    assert page.locator(f"#source-{SHORT[1]} .roads-src-code").is_visible(), \
        "a short source starts unfolded"
    quiet(page)
    context.close()
    assert not errors, errors


@pytest.mark.parametrize("scheme", ["default", "slate"])
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_source_box_fits_and_reads(site, browser, scheme, viewport):
    _, base = site
    ARTIFACTS.mkdir(exist_ok=True)
    for url, name in (SHORT, LONG):
        context, page, errors = open_page(browser, base + url, viewport=viewport, scheme=scheme,
                                          idle=False)
        box = page.locator(f"#source-{name}")
        page.evaluate(f"document.querySelectorAll('#source-{name} details')"
                      ".forEach(d => d.open = true)")
        box.scroll_into_view_if_needed()
        assert box.is_visible()
        shape = page.evaluate(f"""() => {{
            const box = document.getElementById('source-{name}');
            const r = box.getBoundingClientRect();
            const wide = [...box.querySelectorAll('*')]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                             && !e.closest('pre'))
                .map(e => e.tagName + '.' + e.className);
            const hl = box.querySelector('.roads-src-code .hll');
            const plain = [...box.querySelectorAll('.roads-src-code code > .linenos')][0];
            return {{
                left: r.left, right: r.right, inner: window.innerWidth,
                page: document.scrollingElement.scrollWidth,
                wide,
                hl: getComputedStyle(hl).backgroundColor,
                code: getComputedStyle(plain.parentElement).backgroundColor,
            }};
        }}""")
        label = f"{name} {scheme} {viewport['width']}"
        assert shape["left"] >= 0 and shape["right"] <= shape["inner"] + 1, (label, shape)
        assert shape["page"] <= shape["inner"] + 1, (label, "page wider than the screen", shape)
        assert not shape["wide"], (label, shape["wide"][:5])
        assert shape["hl"] != shape["code"], (label, "highlighted lines do not stand out")
        # The sticky header would be stitched into a screenshot taller than the window.
        page.add_style_tag(content=".md-header { position: static !important; }")
        box.screenshot(path=str(ARTIFACTS / f"source-{name}-{scheme}-{viewport['width']}.png"))
        quiet(page)
        context.close()
        assert not errors, (label, errors)
