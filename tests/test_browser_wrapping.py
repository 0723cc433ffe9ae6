"""Text that wraps in a real browser, at phone and desktop width, each test failing on
the site as it was before its fix: an address, a name or a path in a table (the memory
map's addresses, a page walk's binary fields, the ELF header's field names, the stack
top's addresses) is never broken over lines, it reads as one or not at all, and on a
desktop every table still fits the text column; a memory map's caption, under a table
that scrolls on a phone, wraps within what its scrolling box shows; a run of pages that
are not present reads as words ("14 pages, not present"), not squeezed by the spacing
of the page view's bit columns; a compile command or a gdb transcript, which wrap
instead of scrolling, runs no text under Material's copy button.
"""

from __future__ import annotations

import pytest

from tests.browser import WIDTHS, open_page, quiet

pytestmark = [pytest.mark.browser, pytest.mark.slow]


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
    // Whether a box that hides columns says so: a shadow at its edge (its background's
    // radial gradients), seen through the table (no background of its own).
    const cue = /radial-gradient/.test(getComputedStyle(box).backgroundImage)
                && getComputedStyle(table).backgroundColor === 'rgba(0, 0, 0, 0)';
    return {head: table.rows[0] ? table.rows[0].textContent.trim().replace(/\s+/g, ' ').slice(0, 40) : '',
            over: Math.max(box.scrollWidth - box.clientWidth,
                           table.getBoundingClientRect().right - column.right),
            hides: box.scrollWidth - box.clientWidth > 1, cue};
  });
  // Each code block that scrolls sideways, and whether it shows a shadow at its edge.
  const codes = [...document.querySelectorAll('article pre > code')]
    .filter(code => code.scrollWidth - code.clientWidth > 1)
    .map(code => ({head: code.textContent.trim().slice(0, 40),
                   cue: /radial-gradient/.test(getComputedStyle(code).backgroundImage)}));
  // A memory map's caption, against the part of its table that its scrolling box shows.
  const captions = [...document.querySelectorAll('article .roads-map caption')].map(c => {
    const box = c.closest('.md-typeset__scrollwrap');
    const shown = box.getBoundingClientRect();
    const words = c.getBoundingClientRect();
    return {text: c.textContent.slice(0, 60), past: Math.round(words.right - shown.right)};
  });
  return {tokens, tables, captions, codes};
}
"""


@pytest.mark.parametrize("width", sorted(WIDTHS))
@pytest.mark.parametrize("path", TABLE_PAGES)
def test_no_address_or_name_in_a_table_is_broken(site, browser, path, width):
    """An address, a field's name or a path in a table reads whole: it is never cut over
    lines (a table that is wider than a phone scrolls in its own box, with a shadow at
    the edge that hides columns); on a desktop every table fits the text column."""
    _, base = site
    context, page, errors = open_page(browser, base + path, viewport=WIDTHS[width],
                                      scheme="default", idle=False)
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
        # A table wider than a phone shows, at the edge of its box, that it goes on.
        silent = [t["head"] for t in found["tables"] if t["hides"] and not t["cue"]]
        assert not silent, f"tables hiding columns with no shadow on {path}: {silent}"
        # So does a code block that scrolls sideways (a command, a sample's long line).
        silent = [c["head"] for c in found["codes"] if not c["cue"]]
        assert not silent, f"code blocks scrolling with no shadow on {path}: {silent}"
        # A map wider than a phone scrolls; its caption wraps where the reader sees it.
        cut = [c for c in found["captions"] if c["past"] > 1]
        assert not cut, f"map captions running past what their box shows on {path}: {cut}"
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_runs_of_absent_pages_read_as_words(site, browser, width):
    _, base = site
    context, page, errors = open_page(browser, base + "all-roads-to-memory/mapping-procedure/",
                                      viewport=WIDTHS[width], scheme="default", idle=False)
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
        quiet(page)
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
                                      scheme="default", idle=False)
    try:
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        blocks = page.evaluate(UNDER_THE_BUTTON)
        assert blocks, f"no command or transcript with a copy button on {path}"
        covered = [b for b in blocks if b["hidden"]]
        assert not covered, f"text under the copy button on {path} at {width} px: {covered}"
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


# Each option written in a page's prose (--aslr, -O0: inline code that starts with a
# hyphen, or a word of such code that does) and the lines it is laid out on.
OPTION_LINES = r"""
() => [...document.querySelectorAll('article p code, article li code')]
  .filter(code => !code.closest('pre'))
  .flatMap(code => {
    const options = code.querySelectorAll('.roads-option');
    if (!options.length && /^--?[A-Za-z]/.test(code.textContent))
      return [{text: code.textContent, lines: -1}];
    return [...options].map(o => ({text: o.textContent,
      lines: new Set([...o.getClientRects()].map(r => Math.round(r.top))).size}));
  })
"""


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_an_option_in_the_prose_is_never_broken(site, browser, width):
    """A phone broke "--aslr" and "--no-sandbox" after a hyphen, '--' at a line's end
    and the name on the next. Every option in inline code is marked as one and laid
    out on one line (lines -1: an option left unmarked)."""
    _, base = site
    context, page, errors = open_page(browser, base + "explore-your-own-program/",
                                      viewport=WIDTHS[width], scheme="default", idle=False)
    try:
        found = page.evaluate(OPTION_LINES)
        assert len(found) > 50, found
        broken = [f for f in found if f["lines"] != 1]
        assert not broken, broken
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


# Every size in the article's prose (a number and a binary unit, as human_size writes
# them), outside figures, tables and code, with the number of lines it is laid out on.
SIZE_LINES = r"""
() => {
  const found = [];
  const walker = document.createTreeWalker(document.querySelector('article'), NodeFilter.SHOW_TEXT);
  const size = /\b\d+(?:\.\d)?[ \u00a0](?:[KMGTPE]i)?B\b/g;
  for (let node; (node = walker.nextNode());) {
    if (node.parentElement.closest('figure, table, pre, svg, .roads-figure, .roads-sample-code')) continue;
    for (const m of node.data.matchAll(size)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].filter(r => r.width > 0)
                           .map(r => Math.round(r.top)));
      found.push({text: m[0], lines: tops.size});
    }
  }
  return found;
}
"""

SIZE_PAGES = ("all-roads-to-memory/dynamic-memory-allocation/",
              "all-roads-to-memory/virtual-address-space/",
              "all-roads-to-memory/inside-the-c-library/",
              "all-roads-to-memory/files-and-accounting/",
              "all-roads-to-memory/madvise/")


@pytest.mark.parametrize("path", SIZE_PAGES)
def test_a_size_in_the_prose_is_never_broken(site, browser, path):
    """A phone put "4" at a line's end and "KiB" on the next. Every size a macro writes
    in the prose keeps its number and its unit on one line."""
    _, base = site
    context, page, errors = open_page(browser, base + path, viewport=WIDTHS["390"],
                                      scheme="default", idle=False)
    try:
        found = [f for f in page.evaluate(SIZE_LINES) if f["lines"]]  # 0: not shown
        assert found, "no size found in the prose"
        broken = [f for f in found if f["lines"] != 1]
        assert not broken, broken
        quiet(page)
        assert not errors, errors
    finally:
        context.close()
