"""The wide views fit their column at 1280 px, in a real browser: the page views (one
column per checkpoint), the memory-map tables, the gdb transcripts (long lines wrap
under themselves) and the ELF figures; on a phone the transcripts wrap too, and the
ELF figures show whole with their full-screen control (tests/test_browser_zoom.py). An
ELF figure in a narrow column (a phone, or one of two side by side on a desktop) is
laid out for that column, not drawn at half size with labels of 5 px."""

from __future__ import annotations

import pytest

from tests.browser import DESKTOP, PHONE, WIDTHS, open_page, quiet

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Pages and what on them must fit; every selector must find something.
VIEWS = {
    "all-roads-to-memory/mapping-procedure/": [".roads-pages table"],
    "all-roads-to-memory/virtual-address-space/": [".roads-map table"],
    "all-roads-to-memory/dynamic-memory-allocation/": [".roads-map table"],
    "hello-world/": [".roads-map table", ".roads-elf-figure svg", ".roads-gdb pre"],
    "gdb-sessions/": [".roads-gdb pre"],
}

OVERFLOW = r"""
(selector) => {
  const column = document.querySelector('.md-content__inner').getBoundingClientRect();
  return [...document.querySelectorAll(selector)].map(el => {
    const box = el.getBoundingClientRect();
    const inner = el.querySelector('code') || el;
    return {
      over: Math.max(box.right - column.right, el.scrollWidth - el.clientWidth,
                     inner.scrollWidth - inner.clientWidth),
      text: (el.closest('[id]') || el).id || el.className.baseVal || el.className,
    };
  });
}
"""


@pytest.mark.parametrize("scheme", ["default", "slate"])
@pytest.mark.parametrize("path", sorted(VIEWS))
def test_wide_views_fit_a_desktop_column(site, browser, path, scheme):
    _, base = site
    context, page, errors = open_page(browser, base + path, viewport=DESKTOP, scheme=scheme,
                                      idle=False)
    try:
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        for selector in VIEWS[path]:
            found = page.evaluate(OVERFLOW, selector)
            assert found, f"nothing matches {selector} on {path}"
            wide = [f for f in found if f["over"] > 1]
            assert not wide, f"{selector} wider than the column on {path}: {wide}"
        if path in DIAGRAM_PAGES:
            _diagram_reads(page, DESKTOP, f"{path} at 1280 px, {scheme}")
        quiet(page)
        assert not errors
    finally:
        context.close()


def test_transcripts_wrap_on_a_phone(site, browser):
    _, base = site
    context, page, errors = open_page(browser, base + "gdb-sessions/", viewport=PHONE,
                                      scheme="default", idle=False)
    try:
        # Material lets code blocks reach the screen's edges on a phone: nothing of them
        # scrolls, and nothing passes the screen.
        found = page.evaluate("""() => [...document.querySelectorAll('.roads-gdb pre')].map(pre => {
          const code = pre.querySelector('code');
          return Math.max(code.scrollWidth - code.clientWidth,
                          pre.getBoundingClientRect().right - window.innerWidth);
        })""")
        assert found and all(over <= 1 for over in found), found
        # Every line of the mappings is whole on the screen: the objfile column included.
        assert page.locator(".roads-gdb-line", has_text="/build/starti").count() > 0
        line = page.locator(".roads-gdb-line", has_text="/usr/lib/x86_64-linux-gnu/libc.so.6").first
        box = line.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        # Only the code reaches the edges: the stop heads and the tables of what changed
        # are prose, their words inside the column's margins as a paragraph's are.
        prose = page.evaluate("""() => {
          const column = document.querySelector('.md-content__inner > p').getBoundingClientRect();
          const words = [...document.querySelectorAll(
              '.roads-gdb-stop-head, .roads-gdb-mapchange caption, .roads-gdb-mapchange td, .roads-gdb-mapchange th')];
          const out = words.filter(e => {
            const box = document.createRange(); box.selectNodeContents(e);
            const r = box.getBoundingClientRect();
            return r.left < column.left - 1 || r.right > column.right + 1;
          }).map(e => e.textContent.trim().slice(0, 40));
          // Each cell's words apart from the next cell's, not run into them.
          const tight = [...document.querySelectorAll('.roads-gdb-mapchange tr')].flatMap(row => {
            const boxes = [...row.cells].map(c => {
              const r = document.createRange(); r.selectNodeContents(c); return r.getBoundingClientRect();
            });
            return boxes.slice(1).filter((b, k) => b.left - boxes[k].right < 4)
                        .map(() => row.textContent.trim().slice(0, 40));
          });
          // A folder that breaks over lines breaks after a slash, not at a name's hyphen.
          const torn = [...document.querySelectorAll('.roads-gdb-mapchange .roads-gdb-folder')].filter(f => {
            const lines = new Map();
            const walk = document.createTreeWalker(f, NodeFilter.SHOW_TEXT);
            for (let t = walk.nextNode(); t; t = walk.nextNode()) {
              for (let i = 0; i < t.length; i++) {
                const r = document.createRange(); r.setStart(t, i); r.setEnd(t, i + 1);
                const top = Math.round(r.getBoundingClientRect().top);
                lines.set(top, (lines.get(top) || '') + t.data[i]);
              }
            }
            return [...lines.values()].some(line => !line.endsWith('/'));
          }).map(f => f.textContent);
          return {count: words.length, out, tight, torn};
        }""")
        assert prose["count"] > 10 and not prose["out"] and not prose["tight"], prose
        assert not prose["torn"], prose
        quiet(page)
        assert not errors
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["default", "slate"])
def test_elf_figures_are_laid_out_again_on_a_phone(site, browser, scheme):
    """Each segment above the regions it became, in HTML as wide as the column; the
    drawing itself still opens full screen."""
    _, base = site
    context, page, errors = open_page(browser, base + "hello-world/", viewport=PHONE, scheme=scheme,
                                      idle=False)
    try:
        figures = page.locator(".roads-elf-figure")
        assert figures.count() >= 3
        column = page.evaluate("document.querySelector('.md-content__inner').getBoundingClientRect().right")
        for k in range(figures.count()):
            figure = figures.nth(k)
            narrow = figure.locator(".roads-elf-narrow")
            assert narrow.is_visible() and not figure.locator("svg").is_visible()
            segments = narrow.locator(".roads-elf-seg").count()
            assert segments >= 2 and narrow.locator(".roads-elf-became li").count() >= segments
            right = narrow.evaluate("n => Math.max(...[...n.querySelectorAll('*')].map(e => e.getBoundingClientRect().right))")
            assert right <= column + 1
            size = narrow.evaluate("n => parseFloat(getComputedStyle(n.querySelector('td')).fontSize)")
            assert size >= 9
        quiet(page)
        assert not errors
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
                                      scheme="default", idle=False)
    try:
        figures = page.evaluate(ELF_TEXT)
        assert figures, f"no ELF figure on {path}"
        small = [f for f in figures if not f["px"] >= MIN_TEXT_PX]
        assert not small, f"ELF figures with text under {MIN_TEXT_PX} px on {path} " \
                          f"at {width} px: {small}"
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


# The address-space diagram and the time-lapse made of it: on a phone its boxes' labels,
# addresses and pointers read in the page itself (figures.css shows the narrow drawing,
# at the size it is drawn), and nothing of it passes the screen; on a desktop the wide
# drawing shows at its own size, as before.
DIAGRAM_PAGES = ("all-roads-to-memory/virtual-address-space/",
                 "all-roads-to-memory/dynamic-memory-allocation/")
DIAGRAM_MIN_PX = 11.0
# Per part of the diagram shown (the first step of a time-lapse): the smallest label in
# CSS px (its font size times the SVG's scale), the extent of its labels on the screen.
DIAGRAM_TEXT = r"""
() => {
  const shown = [...document.querySelectorAll('.roads-vas-figure > svg')]
    .filter(s => s.getBoundingClientRect().width > 0);
  const parts = {};
  for (const svg of shown) {
    for (const t of svg.querySelectorAll('text')) {
      const g = t.closest('g.node');
      const part = g && ['roads-addr', 'roads-region', 'roads-gap', 'roads-pointer']
        .find(c => g.classList.contains(c));
      if (!part || !t.textContent.trim()) continue;
      const m = t.getScreenCTM(), box = t.getBoundingClientRect();
      const px = parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b);
      const p = parts[part] || (parts[part] = {labels: 0, px: Infinity, left: Infinity, right: 0});
      p.labels += 1;
      p.px = Math.min(p.px, px);
      p.left = Math.min(p.left, box.left);
      p.right = Math.max(p.right, box.right);
    }
  }
  return {shown: shown.map(s => ({narrow: s.classList.contains('roads-vas-narrow'),
                                   width: s.getBoundingClientRect().width,
                                   drawn: s.width.baseVal.value})),
          figures: document.querySelectorAll('.roads-vas-figure').length,
          parts, overflow: document.scrollingElement.scrollWidth - window.innerWidth};
}
"""


def _diagram_reads(page, viewport, where: str) -> None:
    """The diagrams on ``page`` (DIAGRAM_TEXT) read at ``viewport``: on a phone the
    narrow drawing, on a desktop the wide one at the size it is drawn."""
    found = page.evaluate(DIAGRAM_TEXT)
    where = f"{where}: {found}"
    # One drawing shown a figure (in the time-lapse, its first step's).
    assert found["figures"] and len(found["shown"]) == (
        1 if "dynamic" in where else found["figures"]), where
    assert found["overflow"] <= 0, where
    assert set(found["parts"]) >= {"roads-addr", "roads-region", "roads-gap",
                                   "roads-pointer"}, where
    for part, p in found["parts"].items():
        assert p["px"] >= DIAGRAM_MIN_PX, f"{part} labels of {p['px']:.1f} px on {where}"
        assert p["left"] >= 0 and p["right"] <= viewport["width"], (part, where)
    assert all(s["narrow"] == (viewport is PHONE) for s in found["shown"]), where
    if viewport is DESKTOP:
        assert all(abs(s["width"] - s["drawn"]) < 1 for s in found["shown"]), where


@pytest.mark.parametrize("path", DIAGRAM_PAGES)
def test_the_address_space_diagram_reads_on_a_phone(site, browser, path):
    """At 390 px, in both palettes; the desktop's view is checked with the wide views
    (test_wide_views_fit_a_desktop_column)."""
    _, base = site
    context, page, errors = open_page(browser, base + path, viewport=PHONE, scheme="default",
                                      idle=False)
    try:
        for scheme in ("default", "slate"):
            page.evaluate("s => document.body.setAttribute('data-md-color-scheme', s)", scheme)
            _diagram_reads(page, PHONE, f"{path} at 390 px, {scheme}")
        quiet(page)
        assert not errors
    finally:
        context.close()
