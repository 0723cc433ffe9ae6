"""What a reader saw wrong in the published site, in a real browser, checked so that it
stays fixed: each test fails on the site as it was before its fix.

- An address, a name or a path in a table (the memory map's addresses, a page walk's
  binary fields, the ELF header's field names, the stack top's addresses) is never
  broken over lines: it reads as one or not at all, and on a desktop every table still
  fits the text column.
- A run of pages that are not present reads as words ("14 pages, not present"), not
  squeezed together by the spacing the page view gives its bit columns.
- An ELF figure in a narrow column (one of two side by side on a desktop) is laid out
  for that column, not drawn at half size with labels of 5 px.
- A compile command or a gdb transcript, which wrap instead of scrolling, runs no text
  under Material's copy button.
- A memory map's caption, under a table that scrolls on a phone, wraps within what its
  scrolling box shows instead of running on off the screen with the columns.
- The keyboard's focus on the header's palette switch shows, in both palettes.
"""

from __future__ import annotations

import pytest

from tests.browser import DESKTOP, PHONE, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = {"390": PHONE, "1280": DESKTOP}

# Pages with tables holding code: the figures' (the memory map, the page view, the page
# walk, the diff's pointer table) and the prose's (the ELF header, the stack top, the
# probe printout, the heap's lists, the authoring guide's references).
TABLE_PAGES = (
    "hello-world/",
    "all-roads-to-memory/processes/",
    "all-roads-to-memory/mapping-procedure/",
    "all-roads-to-memory/dynamic-memory-allocation/",
    "all-roads-to-memory/inside-the-c-library/",
    "all-roads-to-memory/files-and-accounting/",
    "all-roads-to-memory/virtual-address-space/",
    "about/authoring/",
)

# Every <code> that is a cell's own content and one token (no space inside), with the
# number of lines it is laid out on (its client rectangles' distinct tops); and each
# table's overflow past the text column (what its scrolling box hides, or how far it
# reaches past the column).
TABLE_CODE = r"""
() => {
  const column = document.querySelector('.md-content__inner').getBoundingClientRect();
  const tokens = [...document.querySelectorAll('article table td > code')]
    .filter(code => code.textContent.trim() && !/\s/.test(code.textContent.trim()))
    .map(code => ({text: code.textContent,
                   lines: new Set([...code.getClientRects()].map(r => Math.round(r.top))).size}));
  const tables = [...document.querySelectorAll('article table')].map(table => {
    const box = table.closest('.md-typeset__scrollwrap') || table;
    return {head: table.rows[0] ? table.rows[0].textContent.trim().replace(/\s+/g, ' ').slice(0, 40) : '',
            over: Math.max(box.scrollWidth - box.clientWidth,
                           table.getBoundingClientRect().right - column.right)};
  });
  // A memory map's caption, against the part of its table that its scrolling box shows.
  const captions = [...document.querySelectorAll('article .roads-map caption')].map(c => {
    const box = c.closest('.md-typeset__scrollwrap');
    const shown = box.getBoundingClientRect();
    const words = c.getBoundingClientRect();
    return {text: c.textContent.slice(0, 60), past: Math.round(words.right - shown.right)};
  });
  return {tokens, tables, captions};
}
"""


@pytest.mark.parametrize("width", sorted(WIDTHS))
@pytest.mark.parametrize("path", TABLE_PAGES)
def test_no_address_or_name_in_a_table_is_broken(site, browser, path, width):
    """An address, a field's name or a path in a table reads whole: it is never cut over
    lines (a table that is wider than a phone scrolls in its own box); on a desktop every
    table fits the text column."""
    _, base = site
    context, page, errors = open_page(browser, base + path, viewport=WIDTHS[width],
                                      scheme="default")
    try:
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        found = page.evaluate(TABLE_CODE)
        tokens = found["tokens"]
        assert tokens, f"no code in a table on {path}"
        broken = [t for t in tokens if t["lines"] > 1]
        assert not broken, f"{len(broken)} of {len(tokens)} tokens broken over lines " \
                           f"on {path} at {width} px: {broken[:8]}"
        if width == "1280":
            wide = [t for t in found["tables"] if t["over"] > 1]
            assert not wide, f"tables wider than the column on {path}: {wide}"
        # A map wider than a phone scrolls; its caption wraps where the reader sees it.
        cut = [c for c in found["captions"] if c["past"] > 1]
        assert not cut, f"map captions running past what their box shows on {path}: {cut}"
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_runs_of_absent_pages_read_as_words(site, browser, width):
    _, base = site
    context, page, errors = open_page(browser, base + "all-roads-to-memory/mapping-procedure/",
                                      viewport=WIDTHS[width], scheme="default")
    try:
        # Each run's cell, measured as laid out and as its words would be with the page's
        # ordinary spacing: the same width, to the pixel.
        runs = page.evaluate(r"""() => [...document.querySelectorAll('.roads-pages td[colspan]')].map(td => {
          const range = document.createRange();
          range.selectNodeContents(td);
          const probe = document.createElement('span');
          probe.textContent = td.textContent;
          probe.style.cssText = 'position:absolute; white-space:nowrap; word-spacing:normal; visibility:hidden';
          td.appendChild(probe);
          const normal = probe.getBoundingClientRect().width;
          probe.remove();
          return {text: td.textContent, width: range.getBoundingClientRect().width, normal};
        })""")
        assert runs, "no run of absent pages on the mapping page"
        squeezed = [r for r in runs if abs(r["width"] - r["normal"]) > 1]
        assert not squeezed, squeezed
        assert not errors, errors
    finally:
        context.close()


# The smallest text of each ELF figure as the reader sees it, in CSS pixels: the drawing's
# labels (their font size times the drawing's scale on the screen) when the drawing
# shows, else the HTML layout's.
ELF_TEXT = r"""
() => [...document.querySelectorAll('.roads-elf-figure')].map(figure => {
  const svg = figure.querySelector(':scope > svg');
  const narrow = figure.querySelector('.roads-elf-narrow');
  const shows = e => e && getComputedStyle(e).display !== 'none' && e.getBoundingClientRect().width > 0;
  let px = Infinity, how = 'nothing shows';
  if (shows(svg)) {
    how = 'drawing';
    for (const t of svg.querySelectorAll('text')) {
      const size = parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a;
      px = Math.min(px, size);
    }
  } else if (shows(narrow)) {
    how = 'html';
    for (const e of narrow.querySelectorAll('*')) {
      if (![...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
      px = Math.min(px, parseFloat(getComputedStyle(e).fontSize));
    }
  }
  return {id: figure.id, how, px: Math.round(px * 10) / 10, width: figure.getBoundingClientRect().width};
})
"""
ELF_PAGES = ("hello-world/", "all-roads-to-memory/inside-the-c-library/",
             "explore-your-own-program/")
MIN_TEXT_PX = 9.0


@pytest.mark.parametrize("width", sorted(WIDTHS))
@pytest.mark.parametrize("path", ELF_PAGES)
def test_elf_figures_are_legible_in_their_own_column(site, browser, path, width):
    """An ELF figure in a narrow column (a phone, or one of two side by side on a desktop)
    is laid out again in HTML instead of drawn at half size."""
    _, base = site
    context, page, errors = open_page(browser, base + path, viewport=WIDTHS[width],
                                      scheme="default")
    try:
        figures = page.evaluate(ELF_TEXT)
        assert figures, f"no ELF figure on {path}"
        small = [f for f in figures if not f["px"] >= MIN_TEXT_PX]
        assert not small, f"ELF figures with text under {MIN_TEXT_PX} px on {path} " \
                          f"at {width} px: {small}"
        assert not errors, errors
    finally:
        context.close()


# The characters of each wrapping block's text that lie under its copy button.
UNDER_THE_BUTTON = r"""
() => [...document.querySelectorAll('article pre.roads-command, article .roads-gdb pre')].map(pre => {
  const button = pre.querySelector('.md-code__button');
  const code = pre.querySelector('code');
  if (!button || !code || !button.getClientRects().length) return null;
  const b = button.getBoundingClientRect();
  const range = document.createRange();
  const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
  let hidden = '';
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    for (let i = 0; i < n.length; i++) {
      if (!n.data[i].trim()) continue;
      range.setStart(n, i);
      range.setEnd(n, i + 1);
      for (const r of range.getClientRects())
        if (r.right > b.left && r.left < b.right && r.bottom > b.top && r.top < b.bottom)
          hidden += n.data[i];
    }
  }
  return {id: pre.id || pre.closest('[id]').id, hidden};
}).filter(Boolean)
"""
WRAPPING_PAGES = ("all-roads-to-memory/dynamic-memory-allocation/",
                  "all-roads-to-memory/inside-the-c-library/", "gdb-sessions/")


@pytest.mark.parametrize("width", sorted(WIDTHS))
@pytest.mark.parametrize("path", WRAPPING_PAGES)
def test_no_text_under_the_copy_button_of_what_wraps(site, browser, path, width):
    _, base = site
    context, page, errors = open_page(browser, base + path, viewport=WIDTHS[width],
                                      scheme="default")
    try:
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        blocks = page.evaluate(UNDER_THE_BUTTON)
        assert blocks, f"no command or transcript with a copy button on {path}"
        covered = [b for b in blocks if b["hidden"]]
        assert not covered, f"text under the copy button on {path} at {width} px: {covered}"
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_palette_switch_shows_the_keyboard_focus(site, browser, scheme):
    _, base = site
    # The reader's own palette, from the system, as a reader who never picked one has it.
    context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
    page = context.new_page()
    try:
        page.goto(base + "hello-world/")
        page.wait_for_load_state("networkidle")
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.classList.contains('md-option')"):
                break
        else:
            raise AssertionError("Tab never reached the palette switch")
        shown = page.evaluate("""() => [...document.querySelectorAll('.md-header__option label')]
            .filter(l => getComputedStyle(l).display !== 'none')
            .map(l => ({title: l.title, outline: getComputedStyle(l).outlineStyle}))""")
        assert len(shown) == 1, shown
        assert shown[0]["outline"] != "none", f"no focus ring on the palette switch: {shown}"
    finally:
        context.close()
