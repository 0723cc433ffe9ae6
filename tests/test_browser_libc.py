"""Inside the C library in a real browser: the lazy and -z now builds drawn side by
side on a desktop and one above the other on a phone, in both palettes; the gdb
transcripts read as sessions, each command after gdb's prompt.
"""

from __future__ import annotations

import pytest

from tests.browser import DESKTOP, PHONE, open_page, quiet

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PAGE = "all-roads-to-memory/inside-the-c-library/"
PAIR = ".md-typeset .grid > div"


# Each palette once, at one width each: the page is heavy (every figure of six samples).
@pytest.mark.parametrize("viewport,scheme", [(DESKTOP, "slate"), (PHONE, "default")],
                         ids=["desktop-slate", "phone-default"])
def test_lazy_and_now_side_by_side_and_prompts(site, browser, viewport, scheme):
    _, base = site
    context, page, errors = open_page(browser, base + PAGE, viewport=viewport, scheme=scheme,
                                      idle=False)
    try:
        cells = page.locator(PAIR)
        assert cells.count() == 2
        texts = [cells.nth(i).inner_text() for i in range(2)]
        assert texts[0].startswith("Lazy binding") and "-Wl,-z,now" in texts[1].split("\n")[0]
        assert all(cells.nth(i).locator("svg").count() for i in range(2)), "a figure in each"
        boxes = [cells.nth(i).bounding_box() for i in range(2)]
        if viewport is DESKTOP:
            assert abs(boxes[0]["y"] - boxes[1]["y"]) < 1 and boxes[0]["x"] < boxes[1]["x"]
        else:
            assert boxes[1]["y"] >= boxes[0]["y"] + boxes[0]["height"]
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        # The transcripts read as sessions: every command after gdb's prompt.
        commands = page.locator(".roads-gdb-command").all_inner_texts()
        assert commands and all(c.startswith("(gdb) ") for c in commands)
        assert "(gdb) x/gx &'puts@got.plt'" in commands
        assert not any(t.startswith("+") for t in page.locator(".roads-gdb-line").all_inner_texts())
        quiet(page)
        assert errors == []
    finally:
        context.close()
