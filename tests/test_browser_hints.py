"""What the figures say beyond their labels, reached without a mouse: by the keyboard
and by a tap on a touch screen (Chromium via Playwright).

Each kind of hint was a ``title`` alone (a tooltip), which only a resting pointer shows:
the parts that carried it take no focus, and a tap on plain text sends no hover. Now:

- the provenance line's compile command, the source box's markers and the ELF figure's
  phone layout say it in the page itself, for every reader, with nothing to press;
- a map diff's boxes show their whole lines of maps (a box names its object shortened
  and counts its regions) under one control per figure, which the keyboard opens with
  Enter and a finger with a tap: one Tab stop per figure, not one per box;
- a drawing's parts that take the focus (the address-space diagram's boxes, the heap's
  chunks, the stack's boxes, the page walk's tables) show their SVG <title> in the
  figure's readout when focused or tapped; they are one Tab stop a drawing, the up and
  down arrow keys going from part to part; the time-lapse's boxes, no Tab stops, are
  reached with the up and down arrow keys from its one stop, or a tap.

Screenshots go to tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import re

import pytest

from roads.figures.regions import KINDS
from roads.words.source import CALLS, CALL_WORDS
from tests.browser import DESKTOP, PHONE, WIDTHS, open_page, quiet
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


# Each figure whose parts' hints open under one control: (page, the figure or table that
# holds the control, what a hint of it is).
OPENED = {
    "diff": (DIFF_PAGE, DIFF, ".roads-diff-lines"),
    "table": ("all-roads-to-memory/virtual-address-space/", ".roads-map", ".roads-hint"),
    "key": ("all-roads-to-memory/virtual-address-space/", ".roads-vas-figure",
            "ul.roads-legend .roads-hint"),
}
# The Tab stops of the page in order, and which of them is the figure's control.
STOPS_BEFORE = """([holder, control]) => {
  const stops = [...document.querySelectorAll(
      'a[href], a[*|href], summary, button, input, [tabindex]:not([tabindex="-1"])')]
    .filter(e => e.getClientRects().length && e.tabIndex >= 0 && !e.closest('[hidden]'));
  const at = stops.indexOf(document.querySelector(holder).querySelector(control));
  if (at > 0) stops[at - 1].focus();
  return at;
}"""


def _shown(holder, hint: str) -> list[str]:
    return holder.evaluate(f"""h => [...h.querySelectorAll('{hint}')]
        .filter(e => e.getClientRects().length).map(e => e.textContent)""")


@pytest.mark.parametrize("width", sorted(WIDTHS))
@pytest.mark.parametrize("kind", sorted(OPENED))
def test_the_keyboard_opens_a_figures_hints_with_one_stop(site, browser, kind, width):
    """The Tab after the stop before a figure's control is the control, its focus ringed;
    Enter shows every part's hint in its place, Enter again hides them. The hints add no
    Tab stop of their own: the parts that carry them take none."""
    _, base = site
    url, holder_css, hint = OPENED[kind]
    context, page, errors = open_page(browser, base + url, viewport=WIDTHS[width],
                                      scheme="default", idle=False)
    try:
        holder = page.locator(holder_css).first
        assert not _shown(holder, hint), "hints show before the control is opened"
        at = page.evaluate(STOPS_BEFORE, [holder_css, CONTROL])
        assert at > 0, "the figure's control is no Tab stop"
        page.keyboard.press("Tab")
        control = holder.locator(CONTROL)
        assert control.evaluate("e => e === document.activeElement"), \
            page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
        assert control.evaluate("e => getComputedStyle(e).outlineStyle !== 'none'"), \
            "the focus is not shown"
        assert control.get_attribute("aria-expanded") in (None, "false")
        stops = holder.evaluate("""h => [...h.querySelectorAll(
            'summary, [tabindex]:not([tabindex="-1"])')].filter(e =>
            e.closest('.roads-hint') || e.matches('.roads-hint *')).length""")
        assert stops == 0
        page.keyboard.press("Enter")
        shown = _shown(holder, hint)
        assert shown and all(t.strip() for t in shown), shown
        if kind == "diff":
            _boxes_show_their_lines(holder)
        ARTIFACTS.mkdir(exist_ok=True)
        holder.screenshot(path=str(ARTIFACTS / f"hints-{kind}-keyboard-{width}.png"))
        page.keyboard.press("Enter")
        assert not _shown(holder, hint)
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.parametrize("kind", sorted(OPENED))
def test_a_tap_opens_a_figures_hints(site, browser, kind):
    """On a touch phone a tap on the figure's control shows every part's hint (a tooltip
    needed a hover, which a tap on plain text does not send); another tap hides them.
    What opened stays in the column, or in the table's own scrolling box."""
    _, base = site
    url, holder_css, hint = OPENED[kind]
    context, page, errors = open_page(browser, base + url, viewport=PHONE, scheme="slate",
                                      touch=True, idle=False)
    try:
        holder = page.locator(holder_css).first
        control = holder.locator(CONTROL)
        control.scroll_into_view_if_needed()
        control.tap()
        assert _shown(holder, hint)
        if kind == "diff":
            _boxes_show_their_lines(holder)
        wide = holder.evaluate(f"""h => [...h.querySelectorAll('{hint}')].filter(e =>
            !e.closest('.md-typeset__table') &&
            e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.textContent)""")
        assert not wide, wide
        assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
        ARTIFACTS.mkdir(exist_ok=True)
        holder.screenshot(path=str(ARTIFACTS / f"hints-{kind}-tap-390-slate.png"))
        control.tap()
        assert not _shown(holder, hint)
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


# Pages with memory-map tables whose rows the diagrams link to, each in one palette.
MAP_PAGES = {"all-roads-to-memory/virtual-address-space/": "default",
             "all-roads-to-memory/dynamic-memory-allocation/": "slate"}
# Each memory-map table as its reader sees it: what its scrolling box hides to the right,
# each cell or hint shown that reaches past the screen's edges, each hint narrower than
# the table's box (a hint in its column, not under its row), and its rows, header cells
# and cells as the rows and cells of the browser's own table (the accessibility tree's,
# counted by axTree below).
MAP_SEEN = """m => {
  const box = m.querySelector('.md-typeset__scrollwrap'), width = box.clientWidth;
  const past = e => { const r = e.getBoundingClientRect();
    return Math.round(Math.max(-r.left, r.right - innerWidth)) };
  const shown = [...m.querySelectorAll('td, .roads-hint')].filter(e => e.getClientRects().length);
  const hints = shown.filter(e => e.matches('.roads-hint'));
  const said = e => e.textContent.trim().slice(0, 40);
  return {hidden: box.scrollWidth - width, hints: hints.length,
          past: shown.filter(e => past(e) > 1).map(e => [said(e), past(e)]),
          narrow: hints.filter(e => e.getBoundingClientRect().width < 0.8 * width)
            .map(e => [said(e), Math.round(e.getBoundingClientRect().width), width]),
          dom: {row: m.querySelectorAll('tr').length, columnheader: m.querySelectorAll('th').length,
                cell: m.querySelectorAll('td').length}};
}"""


def _ax_roles(page, table, roles) -> dict[str, int]:
    """How many nodes of each role the browser's accessibility tree has in ``table``."""
    cdp = page.context.new_cdp_session(page)
    try:
        handle = cdp.send("Runtime.evaluate", {
            "expression": f"document.querySelectorAll('.roads-map table')[{table}]"})
        handle = handle["result"]["objectId"]
        return {role: len(cdp.send("Accessibility.queryAXTree",
                                   {"objectId": handle, "role": role})["nodes"])
                for role in roles}
    finally:
        cdp.detach()


@pytest.mark.parametrize("path", sorted(MAP_PAGES))
def test_a_memory_map_reads_on_a_phone_without_scrolling_sideways(site, browser, path):
    """At 390 px a memory map was twice the screen's width and scrolled sideways in its
    box; its hints, opened, filled the kind and name columns, off the screen. Each row is
    a block of lines now: every cell and every hint opened lies on the screen, a hint as
    wide as the table's box, nothing scrolls sideways; the table is still a table to a
    screen reader (its rows, header cells and cells), and a row the diagram links to is
    marked whole (the bar down its left edge)."""
    _, base = site
    context, page, errors = open_page(browser, base + path, viewport=PHONE,
                                      scheme=MAP_PAGES[path], touch=True, idle=False)
    try:
        maps = page.locator(".roads-map")
        assert maps.count() >= 1
        for k in range(maps.count()):
            seen = maps.nth(k).evaluate(MAP_SEEN)
            assert seen["hidden"] <= 1 and not seen["past"] and not seen["hints"], seen
            assert _ax_roles(page, k, seen["dom"]) == seen["dom"]
        holder = maps.first
        control = holder.locator(CONTROL)
        control.scroll_into_view_if_needed()
        control.tap()
        seen = holder.evaluate(MAP_SEEN)
        assert seen["hints"] >= 10, seen
        assert seen["hidden"] <= 1 and not seen["past"] and not seen["narrow"], seen
        assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
        row = holder.locator("tr.roads-linkable").nth(3)
        row.focus()
        bar = row.evaluate("r => getComputedStyle(r).boxShadow")
        assert row.evaluate("r => r.classList.contains('roads-linked')") and "inset" in bar, bar
        quiet(page)
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
                                      touch=width == "390", scheme="default", idle=False)
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
        quiet(page)
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
                                      touch=touch, scheme="default", idle=False)
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
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["default", "slate"])
def test_the_elf_figure_on_a_phone_says_each_regions_kind(site, browser, scheme):
    """On a phone the ELF figure is a list; what each region under a segment is, and
    why, was its tooltip, which a tap does not show. Each region now says it."""
    _, base = site
    context, page, errors = open_page(browser, base + ELF_PAGE, viewport=PHONE,
                                      touch=True, scheme=scheme, idle=False)
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
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


def test_the_page_view_says_what_its_bits_are_under_the_table(site, browser):
    """The page view's headings and cells told which pagemap bit each is, and what a
    zero page or a missing page is, in tooltips alone; the notes under the table say it,
    on a phone, with nothing to press, and no cell has a title."""
    _, base = site
    context, page, errors = open_page(browser, base + MARKED_PAGE, viewport=PHONE,
                                      touch=True, scheme="default", idle=False)
    try:
        view = page.locator(".roads-pages").first
        notes = view.locator(".roads-notes")
        notes.scroll_into_view_if_needed()
        assert notes.is_visible()
        said = " ".join(notes.inner_text().split())
        for words in ("present (pagemap bit", "excl. (exclusively mapped, pagemap bit",
                      "frame (the page frame number, pagemap bits 0-"):
            assert words in said, said
        assert page.locator(".roads-pages [title]").count() == 0
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


def test_the_page_views_zero_page_words_keep_their_spaces(site, browser):
    """A cell's parts are set apart by margins, its spaces drawn at no width; the words
    after a zero page's frame read "0x3928zeropage" until they kept their spaces."""
    _, base = site
    context, page, errors = open_page(browser, base + MARKED_PAGE, viewport=PHONE,
                                      touch=True, scheme="default", idle=False)
    try:
        zero = page.locator(".roads-pages .roads-pages-zero").first
        zero.scroll_into_view_if_needed()
        gaps = zero.evaluate("""z => {
          const words = document.createRange(); words.selectNodeContents(z)
          const rects = [...words.getClientRects()]
          const code = z.parentElement.querySelector('code').getBoundingClientRect()
          const text = z.firstChild, r = document.createRange()
          const first = text.textContent.indexOf(' ')
          r.setStart(text, first); r.setEnd(text, first + 1)
          return {before: z.getBoundingClientRect().left - code.right,
                  space: r.getBoundingClientRect().width, lines: rects.length}
        }""")
        size = float(zero.evaluate("z => getComputedStyle(z).fontSize").removesuffix("px"))
        assert gaps["before"] >= size * 0.2, gaps
        assert gaps["space"] >= size * 0.2, gaps
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


def test_a_gdb_map_change_shows_each_files_folder(site, browser):
    """gdb's map-change tables name a file by its name; its folder was a tooltip, and
    now stands under the name, in the column, on a phone."""
    _, base = site
    context, page, errors = open_page(browser, base + "gdb-sessions/", viewport=PHONE,
                                      touch=True, scheme="slate", idle=False)
    try:
        folders = page.locator("table.roads-gdb-mapchange .roads-gdb-folder")
        assert folders.count() >= 1
        folders.first.scroll_into_view_if_needed()
        assert folders.first.is_visible()
        assert folders.first.inner_text().startswith("/")
        assert page.locator("table.roads-gdb-mapchange [title]").count() == 0
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


def _content_axe(browser, url: str, width: str, prepare) -> list:
    """axe-core (WCAG A and AA, contrast in both palettes) over the content of the page
    at ``url``, after ``prepare(page)`` (what opens or focuses the hints to be read): the
    violations, each with its page and palette. (The page's frame is
    test_browser_legibility's: Material's search box, closed, is there a scrolling region
    on a phone.)"""
    from tests.test_browser_legibility import AXE, AXE_FAILS, AXE_RUN

    content_run = AXE_RUN.replace("axe.run(document,", "axe.run(document.querySelector('.md-content'),")
    assert content_run != AXE_RUN
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing: {AXE.relative_to(REPO)} (npm ci)", pytrace=False)
    found = []
    context, page, errors = open_page(browser, url, viewport=WIDTHS[width], idle=False)
    try:
        page.add_script_tag(path=str(AXE))
        page.add_style_tag(content="*, ::before, ::after { transition: none !important; }")
        prepare(page)
        for scheme, rules in (("default", None), ("slate", ["color-contrast"])):
            page.evaluate("s => document.body.setAttribute('data-md-color-scheme', s)", scheme)
            found += [(url, scheme, v) for v in page.evaluate(
                content_run, {"fails": list(AXE_FAILS), "rules": rules})]
        quiet(page)
        assert not errors, errors
    finally:
        context.close()
    return found


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_opened_hints_pass_axe_in_both_palettes(site, browser, width):
    """axe-core over the pages' content with every figure's hints opened: what was hidden
    is now read, and must be legible."""
    def open_hints(page):
        page.evaluate("document.querySelectorAll('details.roads-hints').forEach(d => d.open = true)")
        page.wait_for_timeout(300)  # access.js decides again what scrolls

    _, base = site
    found = []
    for url in sorted({u for u, _, _ in OPENED.values()}):
        found += _content_axe(browser, base + url, width, open_hints)
    assert not found, found


# --------------------------------------------------------------------------- readouts

# Each drawing whose parts say more than their labels in an SVG <title> (a tooltip, which
# neither the keyboard nor a tap shows), and shows it in its readout line when a part is
# focused or tapped: (page, the figure, the parts that take the focus).
READOUTS = {
    # The drawing shown: wide, or on a phone the narrow one (figures.css).
    "diagram": ("all-roads-to-memory/virtual-address-space/", ".roads-vas-figure",
                "svg:visible g.node a"),
    "heap": ("all-roads-to-memory/inside-the-c-library/", ".roads-heap-figure",
             ".roads-heap-chunk"),
    "stack": (SOURCE_PAGE, ".roads-stack-figure", ".roads-stack-piece, .roads-stack-gap"),
    "walk": (MARKED_PAGE, ".roads-walk-figure",
             ".roads-walk-cr3, .roads-walk-table, .roads-walk-frame"),
}
TIMELAPSE_PAGE = "all-roads-to-memory/dynamic-memory-allocation/"
READOUT = ".roads-readout"
# The part an element is in (readout.js's partOf): its nearest SVG element with a <title> first.
PART_OF = """e => { for (; e && e.nodeType === 1; e = e.parentNode)
  if (e.ownerSVGElement && e.firstElementChild && e.firstElementChild.localName === 'title')
    return e; return null }"""
# Focus the page's Tab stop just before the figure's first, and say how many come before.
STOP_BEFORE_FIGURE = """figure => {
  const stops = [...document.querySelectorAll(
      'a[href], a[*|href], summary, button, input, [tabindex]:not([tabindex="-1"])')]
    .filter(e => e.getClientRects().length && e.tabIndex >= 0 && !e.closest('[hidden]'));
  const at = stops.findIndex(e => figure.contains(e));
  if (at > 0) stops[at - 1].focus();
  return at;
}"""
# Whether the focus moved since this was last asked.
MOVED = """() => { const moved = window.roadsLast !== document.activeElement;
  window.roadsLast = document.activeElement; return moved }"""
# What the focused part and the readout say, and whether both are seen.
FOCUSED = f"""figure => {{
  const partOf = {PART_OF};
  const e = document.activeElement;
  if (!figure.contains(e)) return null;
  const part = partOf(e), r = figure.querySelector('.roads-readout').getBoundingClientRect();
  const shape = part && part.querySelector('polygon, rect, polyline');
  const s = shape && shape.getBoundingClientRect();
  return {{title: part ? part.firstElementChild.textContent.trim() : null,
           shown: figure.querySelector('.roads-readout').textContent.trim(),
           on: figure.querySelector('.roads-readout').classList.contains('roads-readout-on'),
           inView: r.top >= 0 && r.bottom <= innerHeight && r.height > 0,
           under: s ? Math.max(0, Math.min(s.bottom, r.bottom) - Math.max(s.top, r.top)) : 0,
           ring: shape ? parseFloat(getComputedStyle(shape).strokeWidth) : 0}};
}}"""
# In full screen (zoom.js): the part focused in the dialog, and what the dialog's readout says.
ZOOM_FOCUSED = f"""() => {{
  const partOf = {PART_OF};
  const dialog = document.querySelector('dialog.roads-zoom-dialog[open]');
  const part = dialog && partOf(document.activeElement);
  const line = dialog && dialog.querySelector('.roads-zoom-readout');
  if (!part || !line) return null;
  const r = line.getBoundingClientRect();
  return {{title: part.firstElementChild.textContent.trim(), shown: line.textContent.trim(),
           on: line.classList.contains('roads-readout-on'), aria: line.getAttribute('aria-hidden'),
           inView: r.top >= 0 && r.bottom <= innerHeight && r.height > 0}};
}}"""
# Every part shown's words, and the words its own labels show (for the page walk's
# fields); the diagram's drawing not shown (wide or narrow) is not the reader's.
PARTS = f"""figure => {{
  const partOf = {PART_OF};
  return [...figure.querySelectorAll('svg *')]
    .filter(e => partOf(e) === e && e.getClientRects().length).map(e => ({{
    cls: e.getAttribute('class') || '', title: e.firstElementChild.textContent.trim(),
    text: [...e.querySelectorAll('text')].map(t => t.textContent).join(' ')}}));
}}"""


# A box's or a break's words begin with its addresses (2⁶⁴ for the end of the space); a
# phone's number's with its number and end with its pointer's address.
SPAN = re.compile(r"(0x[0-9a-f]+)-(0x[0-9a-f]+|2⁶⁴)\b")
NUMBER = re.compile(r"(\d+): .* (0x[0-9a-f]+)")


def _read_top_down(said: list[str], *, every_band: bool) -> int:
    """``said``, the words of the parts met one after the other, are in the reading order:
    boxes (and breaks) top down, from high addresses to low (``every_band``: each one's
    end the start of the one before, none skipped), and each number right after the box
    its pointer's address is in, before the next box, numbers counting up. Returns how
    many numbers were met."""
    box, numbers = None, []
    for words in said:
        span, number = SPAN.match(words), NUMBER.fullmatch(words)
        if span:
            start = int(span[1], 16)
            end = 1 << 64 if span[2] == "2⁶⁴" else int(span[2], 16)
            if box is not None:
                assert start < box[0] and (not every_band or end == box[0]), (box, words, said)
            box = (start, end)
        else:
            assert number, words
            assert box is not None and box[0] <= int(number[2], 16) < box[1], (box, words, said)
            numbers.append(int(number[1]))
    assert box is not None, said
    assert numbers == sorted(numbers), numbers
    return len(numbers)


@pytest.mark.parametrize("width", sorted(WIDTHS))
@pytest.mark.parametrize("kind", sorted(READOUTS))
def test_the_keyboard_reads_each_drawn_parts_words(site, browser, kind, width):
    """Tab into a drawing, then the down arrow key from part to part: each part focused
    is ringed and its words (its SVG <title>, a tooltip no browser shows on focus) are
    shown in the figure's readout, on screen, the part not under it (a readout that says
    something sticks to the window's bottom); every part's words are reached so (an
    arrow's with the box it leaves, an address field's are its labels). The next Tab
    leaves the drawing; out of the figure, the readout says how to use it again. Full
    screen (the diagram), the dialog's own readout says them: the figure's is behind
    it, and the arrow keys go from box to box there too."""
    _, base = site
    url, figure_css, _ = READOUTS[kind]
    context, page, errors = open_page(browser, base + url, viewport=WIDTHS[width],
                                      scheme="default", idle=False)
    try:
        figure = page.locator(figure_css).first
        readout = figure.locator(READOUT)
        prompt = readout.inner_text()
        assert readout.is_visible() and "Tab to" in prompt, prompt
        assert page.evaluate(STOP_BEFORE_FIGURE, figure.element_handle()) > 0
        said = []
        page.keyboard.press("Tab")  # the drawing's one stop: its first part
        while page.evaluate(MOVED):
            now = figure.evaluate(FOCUSED)
            assert now and now["title"], now
            assert now["shown"] == now["title"] and now["on"], now
            assert now["inView"], now
            assert now["under"] <= 1, now
            assert now["ring"] >= 2, now
            said.append(now["title"])
            if len(said) == 2:
                ARTIFACTS.mkdir(exist_ok=True)
                figure.screenshot(path=str(ARTIFACTS / f"readout-{kind}-keyboard-{width}.png"))
            page.keyboard.press("ArrowDown")
        assert said, "no part of the figure takes the focus"
        for _ in range(10):  # out of the drawing at once, past the figure's other controls
            page.keyboard.press("Tab")
            now = figure.evaluate(FOCUSED)
            if now is None:
                break
            assert now["title"] is None, (said, now)  # its key's control
            assert now["shown"] == " ".join(prompt.split()) and not now["on"], now
        if kind == "diagram":  # as drawn: they came bottom up, and every number after every box
            numbers = figure.locator("svg:visible g.roads-worded").count()
            assert _read_top_down(said, every_band=True) == numbers
            assert numbers > 1 if width == "390" else numbers == 0
        if kind == "diagram" and width == "390":  # its numbers' words, their lines of the key
            keys = figure.evaluate("f => [...f.querySelectorAll('g.roads-key')]"
                                   ".filter(g => g.getClientRects().length)"
                                   ".map(g => g.textContent.replace(/\\s+/g, ' ').trim())")
            numbers = [t for t in said if re.match(r"\d+: ", t)]
            assert keys and len(numbers) == len(keys), (numbers, keys)
            for words, line in zip(numbers, keys):
                assert " ".join(words.replace(": ", " ", 1).split()) == line, (words, line)
        for part in figure.evaluate(PARTS):
            if part["title"] in said:
                continue
            if part["cls"] in ("roads-heap-link", "roads-stack-pointer"):
                assert any(part["title"] in s for s in said), part
            else:  # a phone's numbered pointer is a Tab stop, as a box is
                assert part["cls"].startswith("roads-walk-field"), part
                assert part["title"] == part["text"].replace(" ", ": ", 1), part
        assert readout.inner_text() == prompt
        if kind == "diagram":
            page.locator(f".roads-zoomable:has({figure_css})").first.locator(
                ".roads-zoom-open").click()
            page.wait_for_selector("dialog.roads-zoom-dialog[open]")
            page.keyboard.press("Tab")  # from Close, the dialog's next stop: the drawing's
            now = page.evaluate(ZOOM_FOCUSED)
            assert now and now["title"] == said[-1], now  # the box focused last
            page.keyboard.press("ArrowUp")
            now = page.evaluate(ZOOM_FOCUSED)
            assert now and now["title"] == said[-2], now
            assert now["shown"] == now["title"] and now["on"] and now["inView"], now
            assert now["aria"] == "true", now  # the focused link's name is read already
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"readout-diagram-full-screen-{width}.png"))
            page.keyboard.press("Escape")
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


# Focus the page's first Tab stop after the figure.
STOP_AFTER_FIGURE = """figure => {
  const stops = [...document.querySelectorAll(
      'a[href], a[*|href], summary, button, input, [tabindex]:not([tabindex="-1"])')]
    .filter(e => e.getClientRects().length && e.tabIndex >= 0 && !e.closest('[hidden]'));
  let last = -1;
  stops.forEach((e, k) => { if (figure.contains(e)) last = k });
  stops[last + 1].focus();
}"""
# The focused part's shape against Material's header, sticky at the window's top.
UNDER_HEADER = f"""figure => {{
  const part = figure.contains(document.activeElement) && ({PART_OF})(document.activeElement);
  if (!part) return null;
  const s = (part.querySelector('polygon, rect, polyline') || part).getBoundingClientRect();
  return Math.max(0, document.querySelector('.md-header').getBoundingClientRect().bottom - s.top);
}}"""


@pytest.mark.parametrize("width", sorted(WIDTHS))
@pytest.mark.parametrize("kind", sorted(READOUTS))
def test_a_part_the_up_arrow_focuses_is_clear_of_the_header(site, browser, kind, width):
    """Going back through a drawing's parts from its last with the up arrow key (Shift+Tab
    into the drawing, End), the browser scrolls each part focused to the window's top,
    where Material's header sticks over it (the heap's chunks were under it): the page
    scrolls it clear, as it does of the readout."""
    _, base = site
    url, figure_css, _ = READOUTS[kind]
    context, page, errors = open_page(browser, base + url, viewport=WIDTHS[width],
                                      scheme="default", idle=False)
    try:
        figure = page.locator(figure_css).first
        figure.evaluate(STOP_AFTER_FIGURE)
        for _ in range(10):  # back past the figure's other controls, into its drawing
            page.keyboard.press("Shift+Tab")
            if figure.evaluate(UNDER_HEADER) is not None:
                break
        page.keyboard.press("End")
        parts = 0
        while page.evaluate(MOVED):
            under = figure.evaluate(UNDER_HEADER)
            assert under is not None, "the up arrow key left the drawing"
            parts += 1
            assert under <= 1, (parts, under)
            page.keyboard.press("ArrowUp")
        assert parts > 1, "no part of the figure takes the focus"
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


# The drawing shown's focusable elements in the order of the document (the drawing's
# reading order), and which of them the focus is on (-1: one not among them).
DRAWING_STOPS = """figure => {
  const svg = [...figure.querySelectorAll('svg')].find(s => s.getClientRects().length);
  const all = [...svg.querySelectorAll('a[href], a[*|href], [tabindex]')];
  return {count: all.length, at: all.indexOf(document.activeElement),
          tabbable: all.filter(e => e.tabIndex >= 0).length,
          inside: svg.contains(document.activeElement)};
}"""


@pytest.mark.parametrize("kind", sorted(READOUTS))
def test_a_drawing_is_one_tab_stop_its_parts_walked_with_the_arrow_keys(site, browser, kind):
    """A drawing's parts are one Tab stop (they were one each: a hundred on a page of
    diagrams): Tab reaches its first part and the next Tab leaves the drawing; the down
    and up arrow keys go through every part in the drawing's order, Home and End to the
    first and the last; the part focused last, with a key or a click, is where Tab and
    Shift+Tab come back to."""
    _, base = site
    url, figure_css, parts_css = READOUTS[kind]
    context, page, errors = open_page(browser, base + url, viewport=DESKTOP,
                                      scheme="default", idle=False)
    try:
        figure = page.locator(figure_css).first
        assert page.evaluate(STOP_BEFORE_FIGURE, figure.element_handle()) > 0
        page.keyboard.press("Tab")
        stops = figure.evaluate(DRAWING_STOPS)
        assert stops["at"] == 0 and stops["tabbable"] == 1 and stops["count"] > 3, stops
        page.keyboard.press("Tab")
        assert not figure.evaluate(DRAWING_STOPS)["inside"]
        page.keyboard.press("Shift+Tab")
        assert figure.evaluate(DRAWING_STOPS)["at"] == 0
        walked = []
        for key in ["ArrowDown"] * stops["count"]:
            walked.append(figure.evaluate(DRAWING_STOPS)["at"])
            page.keyboard.press(key)
        assert walked == list(range(stops["count"])), walked
        assert figure.evaluate(DRAWING_STOPS)["at"] == stops["count"] - 1  # no further
        page.keyboard.press("ArrowUp")
        assert figure.evaluate(DRAWING_STOPS)["at"] == stops["count"] - 2
        page.keyboard.press("Home")
        assert figure.evaluate(DRAWING_STOPS)["at"] == 0
        page.keyboard.press("End")
        assert figure.evaluate(DRAWING_STOPS)["at"] == stops["count"] - 1
        page.keyboard.press("Tab")
        page.keyboard.press("Shift+Tab")  # the drawing's stop, where the focus left it
        now = figure.evaluate(DRAWING_STOPS)
        assert now["at"] == stops["count"] - 1 and now["tabbable"] == 1, now
        part = figure.locator(parts_css).nth(2)
        if kind == "diagram":  # a click follows the link: focused as from its row
            part.focus()
        else:
            part.click()
        page.keyboard.press("ArrowUp")
        now = figure.evaluate(DRAWING_STOPS)
        assert now["at"] == 1 and now["tabbable"] == 1, now
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


def _says_on_a_phone(readout, words: str) -> None:
    """``readout`` shows ``words``, on a phone's screen."""
    assert readout.inner_text() == words
    box = readout.bounding_box()
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], box
    assert box["x"] + box["width"] <= PHONE["width"], box


@pytest.mark.parametrize("kind", sorted(READOUTS))
def test_a_tap_on_a_drawn_part_shows_its_words(site, browser, kind):
    """On a touch phone, a tap on a part shows its words in the readout, in the column
    and on screen. A box of the address-space diagram is a link: the tap goes to its row
    of the memory-map table, which says the same (its addresses, rights and kind)."""
    _, base = site
    url, figure_css, parts_css = READOUTS[kind]
    context, page, errors = open_page(browser, base + url, viewport=PHONE, scheme="slate",
                                      touch=True, idle=False)
    try:
        figure = page.locator(figure_css).first
        parts = figure.locator(parts_css)
        part = parts.nth(min(2, parts.count() - 1))
        part.scroll_into_view_if_needed()
        words = part.evaluate(f"e => ({PART_OF})(e).firstElementChild.textContent.trim()")
        part.tap()
        if kind == "diagram":
            page.wait_for_function("location.hash.length > 1")
            row = page.locator(f"[id='{page.evaluate('location.hash.slice(1)')}']")
            assert row.is_visible()
            cells = " ".join(row.inner_text().split())
            start, perms = re.match(r"0x([0-9a-f]+)-\S+ (\S+) ", words).groups()
            assert cells.startswith(start) and f" {perms} " in f" {cells} ", (words, cells)
        else:
            _says_on_a_phone(figure.locator(READOUT), words)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"readout-{kind}-tap-390-slate.png"))
        assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


def test_a_tap_on_a_phones_numbered_pointer_shows_its_words(site, browser):
    """On a phone the diagram numbers its pointers, named in a key under the drawing,
    a screen away on a tall one: a tap on a number shows its line of the key in the
    readout (the number has nothing to link to; its words were in the key alone)."""
    _, base = site
    url, figure_css, _ = READOUTS["diagram"]
    context, page, errors = open_page(browser, base + url, viewport=PHONE, scheme="slate",
                                      touch=True, idle=False)
    try:
        figure = page.locator(figure_css).first
        number = figure.locator("svg:visible g.roads-pointer:not(.roads-key)").first
        number.scroll_into_view_if_needed()
        words = number.evaluate("e => e.firstElementChild.textContent.trim()")
        assert re.fullmatch(r"1: \S.* 0x[0-9a-f]+", words), words
        number.tap()
        _says_on_a_phone(figure.locator(READOUT), words)
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


TIMELAPSE_CHOSEN = """t => { const c = t.querySelector('.roads-timelapse-current g.roads-chosen');
  return c && {title: c.firstElementChild.textContent.trim(), track: c.dataset.roadsTrack,
               shown: t.querySelector('.roads-readout').textContent.trim()} }"""
# The parts of the time-lapse's step shown, in the order the arrow keys go through them:
# the up arrow sent to its figure (by the page itself: a round trip a key is slow) until
# the part picked stays, then the down arrow until it stays again (``most`` keys each
# way at most); the words of each part picked.
WALK = """(list, most) => {
  const picked = () => { const c = list.querySelector('.roads-timelapse-current g.roads-chosen');
                         return c && c.firstElementChild.textContent.trim() };
  const press = key => list.dispatchEvent(new KeyboardEvent('keydown', {key, bubbles: true}));
  for (let k = 0, was = null; k < most && (k < 1 || picked() !== was); k++) {
    was = picked();
    press('ArrowUp');
  }
  const out = [picked()];
  for (let k = 0; k < most; k++) {
    press('ArrowDown');
    if (picked() === out[out.length - 1]) break;
    out.push(picked());
  }
  return out; }"""
# The time-lapse's live regions, and a record of which of them change (what a screen
# reader announces): ``said()`` gives each changed since the last call, with its words.
LIVE_REGIONS = """t => { window.roadsSaid = new Map();
  new MutationObserver(records => records.forEach(r => {
    const e = r.target.nodeType === 1 ? r.target : r.target.parentElement;
    const live = e.closest('[aria-live]:not([aria-live="off"])');
    if (live && !live.closest('[aria-hidden="true"]')) window.roadsSaid.set(live, live.textContent);
  })).observe(t, {subtree: true, childList: true, characterData: true});
  return [...t.querySelectorAll('[aria-live]:not([aria-live="off"])')].map(e => e.className) }"""
SAID = "() => { const said = [...window.roadsSaid]; window.roadsSaid.clear(); " \
       "return said.map(([e, words]) => [e.className, words]) }"


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_the_timelapse_arrow_keys_go_from_box_to_box(site, browser, width):
    """The time-lapse's boxes are dozens a step and no links: no Tab stop each. With the
    stepper's figure focused (its one stop), the down and up arrows go from box to box
    of the step shown, top down (on a phone, each number right after the box it points
    into: they went by their height on the screen), the box ringed and its words in the
    readout (announced: the focus stays on the figure); the next step keeps the same
    region's box. The stepper's status line is the one live region: a box picked is
    announced once, and a step with a box picked once, the step and the box's words
    together."""
    _, base = site
    context, page, errors = open_page(browser, base + TIMELAPSE_PAGE, viewport=WIDTHS[width],
                                      scheme="default", idle=False)
    try:
        lapse = page.locator(".roads-timelapse").first
        readout = lapse.locator(READOUT)
        assert readout.is_visible() and readout.get_attribute("aria-hidden") == "true"
        assert lapse.evaluate(LIVE_REGIONS) == ["roads-timelapse-status"]
        figure = lapse.locator(".roads-timelapse-steps")
        figure.focus()
        assert lapse.evaluate("t => t.querySelectorAll('.roads-timelapse-current svg g.node"
                              " > title').length") > 10
        page.keyboard.press("ArrowDown")
        first = lapse.evaluate(TIMELAPSE_CHOSEN)
        assert first and first["title"] == first["shown"], first
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowDown")
        third = lapse.evaluate(TIMELAPSE_CHOSEN)
        assert third["title"] == third["shown"], third
        stroke = lapse.evaluate("t => parseFloat(getComputedStyle(t.querySelector("
                                "'g.roads-chosen polygon')).strokeWidth)")
        assert stroke >= 2
        page.evaluate(SAID)
        page.keyboard.press("ArrowUp")
        second = lapse.evaluate(TIMELAPSE_CHOSEN)["title"]
        said = page.evaluate(SAID)
        assert len(said) == 1 and said[0][1].endswith(second), said
        assert figure.evaluate("e => e === document.activeElement")
        box = readout.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= WIDTHS[width]["height"], box
        ARTIFACTS.mkdir(exist_ok=True)
        lapse.screenshot(path=str(ARTIFACTS / f"readout-timelapse-keyboard-{width}.png"))
        walked = _walked_top_down(lapse, figure, width)
        assert walked[:3] == [first["title"], second, third["title"]]
        page.keyboard.press("ArrowUp")  # the part the real keys picked, again
        page.keyboard.press("ArrowDown")
        chosen = lapse.evaluate(TIMELAPSE_CHOSEN)
        page.keyboard.press("ArrowRight")
        page.wait_for_function("t => t.dataset.roadsStep === '1'", arg=lapse.element_handle())
        after = lapse.evaluate(TIMELAPSE_CHOSEN)
        said = page.evaluate(SAID)
        assert len(said) == 1 and "Step 2 of" in said[0][1], said
        if after is None:  # that region is gone: the readout says how to pick another
            assert "arrow keys" in readout.inner_text()
        else:
            assert after["track"] == chosen["track"] and after["shown"] == after["title"]
            assert said[0][1].endswith(after["title"]), said
        if width == "390":  # the last step too, the fullest: a number below the next box
            last = lapse.locator(".roads-timelapse-step").count() - 1
            page.keyboard.press("End")
            page.wait_for_function(f"t => t.dataset.roadsStep === '{last}'",
                                   arg=lapse.element_handle())
            _walked_top_down(lapse, figure, width)
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


def _walked_top_down(lapse, figure, width: str) -> list[str]:
    """The parts of the time-lapse's step shown as the arrow keys go through them
    (``WALK``): every one of them once, as the arrow keys meet a diagram's on its page (top
    down, each number right after the box it points into; numbers on a phone only)."""
    parts = lapse.evaluate(f"""t => {{ const partOf = {PART_OF};
      return [...t.querySelectorAll('.roads-timelapse-current svg g.node')]
        .filter(n => partOf(n) === n && n.getClientRects().length)
        .map(n => n.firstElementChild.textContent.trim()) }}""")
    walked = figure.evaluate(WALK, len(parts) + 1)
    assert sorted(walked) == sorted(parts)
    numbers = sum(bool(NUMBER.fullmatch(words)) for words in parts)
    assert _read_top_down(walked, every_band=False) == numbers
    assert numbers > 0 if width == "390" else numbers == 0
    return walked


# The time-lapse's box picked, against what sticks over the page at the window's top
# (Material's header, the step bar under it) and bottom (the readout that says something).
CHOSEN_CLEAR = """t => { const c = t.querySelector('.roads-timelapse-current g.roads-chosen');
  const s = (c.querySelector('polygon, path') || c).getBoundingClientRect();
  return {title: c.firstElementChild.textContent.trim(), top: s.top, bottom: s.bottom,
          header: document.querySelector('.md-header').getBoundingClientRect().bottom,
          bar: t.querySelector('.roads-timelapse-controls').getBoundingClientRect().bottom,
          readout: t.querySelector('.roads-readout').getBoundingClientRect().top} }"""


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_a_box_the_arrow_keys_pick_is_clear_of_the_step_bar(site, browser, width):
    """The time-lapse's step bar sticks under Material's header while its tall figure
    scrolls by, and the readout to the window's bottom: a box the arrow keys pick, down
    the whole step and back up, is never under either (the window scrolls it clear; it
    was under the bar going up)."""
    _, base = site
    context, page, errors = open_page(browser, base + TIMELAPSE_PAGE, viewport=WIDTHS[width],
                                      scheme="default", idle=False)
    try:
        lapse = page.locator(".roads-timelapse").first
        lapse.locator(".roads-timelapse-steps").focus()
        count = lapse.evaluate(f"""t => {{ const partOf = {PART_OF};
          return [...t.querySelectorAll('.roads-timelapse-current svg g.node')]
            .filter(n => partOf(n) === n && n.getClientRects().length
                         && !n.classList.contains('roads-pointer')).length }}""")
        assert count > 10
        for key in ["ArrowDown"] * count + ["ArrowUp"] * count:
            page.keyboard.press(key)
            at = lapse.evaluate(CHOSEN_CLEAR)
            assert at["top"] >= max(at["header"], at["bar"]), (key, at)
            assert at["bottom"] <= min(at["readout"], WIDTHS[width]["height"]), (key, at)
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


# Where Material's "Back to top" button and the stuck step bar overlap: the element a
# tap there reaches, or null where they do not overlap.
TOP_OVER_BAR = """t => { const top = document.querySelector('.md-top');
  if (!top || top.classList.contains('md-top--hidden')) return 'hidden';
  const a = top.getBoundingClientRect();
  const b = t.querySelector('.roads-timelapse-controls').getBoundingClientRect();
  const x0 = Math.max(a.left, b.left), x1 = Math.min(a.right, b.right);
  const y0 = Math.max(a.top, b.top), y1 = Math.min(a.bottom, b.bottom);
  if (x0 >= x1 || y0 >= y1) return null;
  const hit = document.elementFromPoint((x0 + x1) / 2, (y0 + y1) / 2);
  return hit.closest('.roads-timelapse-controls') ? 'bar' : hit.closest('.md-top') ? 'top' : hit.tagName }"""


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_the_step_bar_stays_above_back_to_top(site, browser, width):
    """Scrolling up shows Material's "Back to top" button just under the header, where
    the time-lapse's step bar sticks: the bar's steps and "Next" stay on top (the button
    covered them, on a phone half the bar)."""
    _, base = site
    context, page, errors = open_page(browser, base + TIMELAPSE_PAGE, viewport=WIDTHS[width],
                                      scheme="default", idle=False)
    try:
        lapse = page.locator(".roads-timelapse").first
        y = lapse.evaluate("t => t.getBoundingClientRect().top + window.scrollY")
        page.evaluate(f"window.scrollTo(0, {y} + 900)")
        page.mouse.move(WIDTHS[width]["width"] // 2, 400)
        for _ in range(3):
            page.mouse.wheel(0, -120)
            page.wait_for_timeout(120)
        page.wait_for_function("() => !document.querySelector('.md-top')"
                               ".classList.contains('md-top--hidden')")
        page.wait_for_timeout(300)  # the button's own transition
        assert lapse.evaluate(TOP_OVER_BAR) == "bar"
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


def test_a_tap_on_a_timelapse_box_shows_its_words(site, browser):
    """On a touch phone a tap on a box of the step shown picks it: its words show in the
    readout, the box ringed. So full screen, where the dialog's own readout shows them
    and the stepper's status line, moved into the dialog with its step bar, says them
    (the page behind it is inert), and the tap leaves the dialog open."""
    _, base = site
    context, page, errors = open_page(browser, base + TIMELAPSE_PAGE, viewport=PHONE,
                                      scheme="slate", touch=True, idle=False)
    try:
        lapse = page.locator(".roads-timelapse").first
        box = lapse.locator(".roads-timelapse-current svg:visible g.node.roads-region").nth(4)
        box.scroll_into_view_if_needed()
        words = box.evaluate("n => n.firstElementChild.textContent.trim()")
        box.tap()
        assert lapse.locator(READOUT).inner_text() == words
        assert box.evaluate("n => n.classList.contains('roads-chosen')")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "readout-timelapse-tap-390-slate.png"))
        lapse.locator(".roads-timelapse-current .roads-zoom-open").tap()
        dialog = page.locator("dialog.roads-zoom-dialog[open]")
        line = dialog.locator(".roads-zoom-readout")
        assert line.inner_text() == words and line.get_attribute("aria-hidden") == "true"
        status = dialog.locator(".roads-timelapse-status")
        assert status.get_attribute("aria-live") == "polite"
        assert status.text_content().endswith(words)
        dialog.locator(".roads-zoom-fit").tap()
        other = dialog.locator("svg g.node.roads-region").nth(2)
        words = other.evaluate("n => n.firstElementChild.textContent.trim()")
        other.tap()
        assert dialog.is_visible() and line.inner_text() == words
        assert status.text_content().endswith(words)
        assert other.evaluate("n => n.classList.contains('roads-chosen')")
        box = line.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], box
        page.screenshot(path=str(ARTIFACTS / "readout-timelapse-full-screen-390-slate.png"))
        dialog.locator(".roads-zoom-close").tap()
        assert lapse.locator(READOUT).inner_text() == words
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_readouts_pass_axe_in_both_palettes(site, browser, width):
    """axe-core over the pages' content with a part of each drawing focused, its words in
    the readout (contrast in both palettes)."""
    _, base = site
    found = []
    for url, figure_css, parts_css in sorted(READOUTS.values()):
        def focus_part(page, figure_css=figure_css, parts_css=parts_css):
            page.locator(figure_css).first.locator(parts_css).first.focus()
            assert page.locator(figure_css).first.locator(".roads-readout-on").count() == 1

        found += _content_axe(browser, base + url, width, focus_part)
    assert not found, found
