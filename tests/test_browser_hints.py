"""What the figures say beyond their labels, reached without a mouse: by the keyboard
and by a tap on a touch screen (Chromium via Playwright).

Each kind of hint was a ``title`` alone (a tooltip), which only a resting pointer shows:
the parts that carried it take no focus, and a tap on plain text sends no hover. Now:

- the provenance line's compile command, the source box's markers and the ELF figure's
  phone layout say it in the page itself, for every reader, with nothing to press;
- a map diff's boxes show their whole lines of maps (a box names its object shortened
  and counts its regions) under one control per figure, which the keyboard opens with
  Enter and a finger with a tap: one Tab stop per figure, not one per box.

Screenshots go to tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import re

import pytest

from roads.figures.regions import KINDS
from roads.words.source import CALLS, CALL_WORDS
from tests.browser import DESKTOP, PHONE, WIDTHS, open_page
from tests.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = REPO / "tests" / "artifacts"
DIFF_PAGE = "all-roads-to-memory/mprotect/"
DIFF = ".roads-diff-figure"
CONTROL = "details.roads-hints > summary"
# A page with a figure of the sample whose source box it shows too.
SOURCE_PAGE, SOURCE_SAMPLE = "all-roads-to-memory/processes/", "intmain"
# A source with each kind of ROADS_* call.
MARKED_PAGE = "all-roads-to-memory/mapping-procedure/"
ELF_PAGE = "hello-world/"

# Each box's lines of maps as its tooltip has them (read before anything is hovered).
BOX_LINES = """fig => [...fig.querySelectorAll('.roads-diff-box[title]')].map(box =>
  ({lines: box.getAttribute('title').split('; '),
    shown: [...box.querySelectorAll('.roads-diff-lines code')]
      .filter(c => c.getClientRects().length).map(c => c.textContent)}))"""


def _boxes_show_their_lines(figure) -> None:
    boxes = figure.evaluate(BOX_LINES)
    assert boxes, "no box with lines of maps"
    for box in boxes:
        assert box["shown"] == box["lines"], box


def _hidden_lines(figure) -> int:
    return figure.evaluate("fig => [...fig.querySelectorAll('.roads-diff-lines')]"
                           ".filter(e => e.getClientRects().length).length")


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_the_keyboard_opens_a_diffs_whole_lines_with_one_stop(site, browser, width):
    """From the text before a map diff, Tab reaches the figure's one control first;
    Enter shows every box's whole lines of maps, Enter again hides them. The figure
    holds no other Tab stop: its boxes are not stops of their own."""
    _, base = site
    context, page, errors = open_page(browser, base + DIFF_PAGE, viewport=WIDTHS[width],
                                      scheme="default")
    try:
        figure = page.locator(DIFF).first
        assert _hidden_lines(figure) == 0, "the lines show before the control is opened"
        stops = figure.evaluate("""fig => [...fig.querySelectorAll(
            'a[href], summary, [tabindex]:not([tabindex="-1"]), button, input')].length""")
        assert stops == 1, f"{stops} Tab stops in the figure"
        # Start the keyboard at the paragraph before the figure.
        figure.evaluate("""fig => { const p = fig.previousElementSibling;
            p.setAttribute('tabindex', '-1'); p.focus(); p.removeAttribute('tabindex'); }""")
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement.closest('{DIFF}') !== null"):
                break
        focused = page.evaluate("document.activeElement.outerHTML.slice(0, 80)")
        assert figure.locator(CONTROL).evaluate("e => e === document.activeElement"), focused
        assert figure.locator(CONTROL).evaluate(
            "e => getComputedStyle(e).outlineStyle !== 'none'"), "the focus is not shown"
        page.keyboard.press("Enter")
        _boxes_show_their_lines(figure)
        ARTIFACTS.mkdir(exist_ok=True)
        figure.screenshot(path=str(ARTIFACTS / f"hints-diff-keyboard-{width}.png"))
        page.keyboard.press("Enter")
        assert _hidden_lines(figure) == 0
        assert not errors, errors
    finally:
        context.close()


def test_a_tap_opens_a_diffs_whole_lines(site, browser):
    """On a touch phone a tap on the figure's control shows each box's whole lines of
    maps (a box's tooltip needed a hover a tap does not send); another tap hides them."""
    _, base = site
    context, page, errors = open_page(browser, base + DIFF_PAGE, viewport=PHONE,
                                      scheme="slate", touch=True)
    try:
        figure = page.locator(DIFF).first
        control = figure.locator(CONTROL)
        control.scroll_into_view_if_needed()
        control.tap()
        _boxes_show_their_lines(figure)
        # What opened stays in the column: no line runs past a phone's edge.
        wide = figure.evaluate("""fig => [...fig.querySelectorAll('.roads-diff-lines *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .map(e => e.textContent)""")
        assert not wide, wide
        ARTIFACTS.mkdir(exist_ok=True)
        figure.screenshot(path=str(ARTIFACTS / "hints-diff-tap-390-slate.png"))
        control.tap()
        assert _hidden_lines(figure) == 0
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_the_provenance_shows_the_whole_compile_command(site, browser, width):
    """The provenance line under a figure shows gcc's whole command, as the source box's
    'Compiled with' does; it was a tooltip over the flags, out of a keyboard's and a
    tap's reach. Nothing to press: it is read where it stands."""
    _, base = site
    context, page, errors = open_page(browser, base + SOURCE_PAGE, viewport=WIDTHS[width],
                                      touch=width == "390", scheme="default")
    try:
        command = page.locator(f"#source-{SOURCE_SAMPLE} .roads-compile pre.roads-command")
        whole = " ".join(command.first.inner_text().split())
        assert re.search(r" -o \S+$", whole), whole
        lines = [" ".join(t.split()) for t in
                 page.locator(".roads-provenance").all_inner_texts()]
        assert any(f": {whole} ·" in line for line in lines), (whole, lines)
        assert page.locator(".roads-provenance [title]").count() == 0
        caption = page.locator(".roads-provenance code.roads-gcc").first
        caption.scroll_into_view_if_needed()
        assert caption.is_visible()
        right = caption.evaluate("e => Math.max(...[...e.getClientRects()].map(r => r.right))")
        assert right <= page.viewport_size["width"], right
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.parametrize("touch", [False, True], ids=["keyboard", "tap"])
def test_the_source_box_says_what_each_highlighted_line_does(site, browser, touch):
    """A highlighted ROADS_* line said what it does in a tooltip alone; the box's legend
    now says it for each call the source has, read once the box is opened (with Enter,
    or a tap), and no line carries a tooltip of its own."""
    _, base = site
    viewport = PHONE if touch else DESKTOP
    context, page, errors = open_page(browser, base + MARKED_PAGE, viewport=viewport,
                                      touch=touch, scheme="default")
    try:
        boxes = page.locator("details.roads-src:has(.hll)")
        assert boxes.count() >= 1
        box = boxes.first
        summary = box.locator("> summary")
        if not box.evaluate("d => d.open"):
            if touch:
                summary.tap()
            else:
                summary.focus()
                page.keyboard.press("Enter")
        legend = box.locator(".roads-src-legend:not(.roads-src-repo)")
        assert legend.is_visible()
        said = " ".join(legend.inner_text().split())
        kinds = box.evaluate("""d => [...new Set([...d.querySelectorAll('.hll')].map(l =>
            [...l.classList].find(c => c.startsWith('roads-src-')).slice(10)))]""")
        assert kinds
        calls = {kind: call for call, kind in CALLS.items()}
        for kind in kinds:
            assert f"{calls[kind]} {CALL_WORDS[kind]}" in said, (kind, said)
        assert box.locator(".hll[title]").count() == 0
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["default", "slate"])
def test_the_elf_figure_on_a_phone_says_each_regions_kind(site, browser, scheme):
    """On a phone the ELF figure is a list; what each region under a segment is, and
    why, was its tooltip, which a tap does not show. Each region now says it."""
    _, base = site
    context, page, errors = open_page(browser, base + ELF_PAGE, viewport=PHONE,
                                      touch=True, scheme=scheme)
    try:
        regions = page.locator(".roads-elf-narrow .roads-elf-became li")
        assert regions.count() >= 4
        labels = tuple(k.label for k in KINDS.values())
        for text, titled in zip(regions.all_inner_texts(),
                                regions.evaluate_all("ls => ls.map(l => l.hasAttribute('title'))")):
            assert not titled
            lines = text.splitlines()
            assert any(line.startswith(tuple(f"{label}: " for label in labels))
                       for line in lines), text
        first = regions.first
        first.scroll_into_view_if_needed()
        assert first.is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator(".roads-elf-narrow").first.screenshot(
            path=str(ARTIFACTS / f"hints-elf-390-{scheme}.png"))
        assert not errors, errors
    finally:
        context.close()
