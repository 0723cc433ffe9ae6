"""Every figure legible on every page, measured in the rendered page (issue 11's "done").

Each page of the built site is opened once per width (390 px, a phone; 1280 px, a
desktop); in that load each palette (Material's "default" and "slate") is switched on
in turn, and one JavaScript call measures, in the page itself:

- contrast: every SVG text label against what lies beneath its centre: the fill of
  the shapes painted before it in the same SVG that contain that point (through
  ``isPointInFill``), else the page's background; colours are computed styles (CSS
  variables come out resolved), semi-transparent ones composited; WCAG ratio >= 4.5;
- overlaps: two label boxes (``getBoundingClientRect`` of ``<text>``) of one SVG that
  intersect by more than a pixel both ways, or a label that sticks out of its own box
  (the shape of its node beneath it) by more than a pixel;
- cut off (phone): a label outside the visible box of its nearest scroll container,
  or outside the viewport's width, unless its figure has the full-screen control
  (a wrapper of class ``roads-zoomable``); the page itself wider than the phone; and
  words on the screen cut short by an ellipsis (the header's title, the footer's
  previous and next);
- covered (both widths): a character of a code block under Material's copy button, as
  the block opens or scrolled to the end of its lines;
- too wide (desktop): a table, figure or ``pre`` wider than the article's column
  (its own width or what scrolls inside it);
- small text: an SVG label whose font size times the SVG's scale is under 9 px on
  the screen, unless its figure has the full-screen control;
- accessibility (issue 16): axe-core, the standard accessibility engine, run on the
  same page loads after the measurements (every rule on the desktop in the light
  palette, the colour rules in the dark one: AXE_PASSES; on a phone, the harness's own
  copy of its rule that what scrolls is focusable: SCROLL_FOCUS);
  every violation of impact "serious" or "critical" fails, listed with its rule and the
  elements it names. axe-core comes from the npm lock file (node_modules/axe-core,
  installed by ``./dev test``); without it the check fails and says so.

The desktop loads serve the site's own checks too (tests/test_browser.py's one load of
every page, folded in here): no console error as the page loads, every link of the site
reaching its page and anchor, a copy button on every code block.

Every failure is listed with its page, width, palette and label; the whole list is
written to tests/artifacts/legibility/report.txt (tests/artifacts/ is ignored by git).
With ROADS_LEGIBILITY_SHOTS=1 in the environment, element screenshots of every figure
at both widths in both palettes are saved beside it, to look at: they pass or fail
nothing, and take about a minute and a half of the suite's time, so a plain run skips
them.

Run: ``.venv/bin/python -m pytest -q -p no:cacheprovider -m legibility tests/test_browser_legibility.py``
"""

from __future__ import annotations

import collections
import os
import re
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.browser import PHONE, WIDTHS, open_page, quiet
from tests.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.legibility]
ARTIFACTS = REPO / "tests" / "artifacts" / "legibility"
# Element screenshots of every figure, for a person to look at (see the module's text).
SHOTS = os.environ.get("ROADS_LEGIBILITY_SHOTS") == "1"
PALETTES = ("default", "slate")
MIN_CONTRAST = 4.5
MIN_TEXT_PX = 9.0
ZOOMABLE = "roads-zoomable"  # the full-screen control's wrapper
# What must fit the column on a desktop (the issue: every table, page view, transcript and
# figure). Code listings are left to scroll sideways, as code does everywhere: a sample's
# C lines and the authoring guide's examples are not reflowed, so that they copy as written.
WIDE = "table, figure, .roads-gdb pre"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
AXE_FAILS = ("serious", "critical")
# axe-core runs in one load of each page (the last: 1280 px, dark palette), after the
# measurements: what costs is loading axe-core into a page and its first run over
# thousands of elements, not the rules. Each pass sets the width and palette, and runs
# the rules whose answer they can change: the rules about colour in the dark palette,
# every rule (None: axe-core's defaults, WCAG A and AA and its best practices) in the
# light one. On a phone, where tables and views that fit a desktop's column scroll, the
# phone loads check axe-core's scrollable-region-focusable themselves (SCROLL_FOCUS: an
# axe-core pass there cost a quarter of axe-core's time).
AXE_PASSES = (
    ("1280", "slate", ["color-contrast", "link-in-text-block"]),
    ("1280", "default", None),
)
# axe-core's scrollable-region-focusable, as a phone's page load finds it: every element
# of the content that scrolls (overflow auto or scroll, with more to show) is focusable
# or holds something focusable, so that the keyboard can scroll it.
SCROLL_FOCUS = r"""
() => {
  const focusable = 'a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"])';
  const out = [];
  for (const el of document.querySelectorAll('.md-content *:not(svg):not(svg *)')) {
    const cs = getComputedStyle(el);
    const scrolls = (/auto|scroll/.test(cs.overflowX) && el.scrollWidth > el.clientWidth + 1)
                 || (/auto|scroll/.test(cs.overflowY) && el.scrollHeight > el.clientHeight + 1);
    if (!scrolls || el.matches(focusable) || el.querySelector(focusable)) continue;
    const path = [];
    for (let e = el; e && e !== document.body && path.length < 4; e = e.parentElement)
      path.unshift(e.id ? '#' + e.id : e.tagName.toLowerCase() + (e.classList[0] ? '.' + e.classList[0] : ''));
    out.push(path.join(' > '));
  }
  return out;
}
"""
# One axe-core run over the whole document: the violations, each with the CSS paths of
# (at most 8 of) its elements.
AXE_RUN = r"""
async ({fails, rules}) => {
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const options = {resultTypes: ['violations']};
  if (rules) options.runOnly = {type: 'rule', values: rules};
  const r = await axe.run(document, options);
  return r.violations.filter(v => fails.includes(v.impact)).map(v => ({
    rule: v.id, impact: v.impact, nodes: v.nodes.length,
    targets: v.nodes.slice(0, 8).map(n => n.target.join(' ')),
    why: (v.nodes[0] && v.nodes[0].failureSummary || v.help).replace(/\s+/g, ' ').slice(0, 200)}));
}
"""

# One call per page load: every check, returned as lists of plain records.
MEASURE = r"""
async ({phone, minContrast, minPx, zoomable, wide, once}) => {
  if (document.fonts && document.fonts.ready) await document.fonts.ready;
  // Scripts that reshape a figure or a table after loading get a moment to finish, once
  // a load (the first palette's call): a change of palette sets none of them off.
  if (once) await new Promise(r => setTimeout(r, 250));
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const out = {contrast: [], overlap: [], cutoff: [], wide: [], small: [], covered: [],
               labels: 0, figures: 0};
  const article = document.querySelector('.md-content article')
               || document.querySelector('.md-content') || document.body;

  // --- colours --------------------------------------------------------------------
  const probe = document.createElement('canvas').getContext('2d');
  function parse(text) {
    // Computed colours are rgb()/rgba() in Chromium; anything else goes through a canvas.
    if (!text || text === 'none' || text === 'transparent') return null;
    let m = text.match(/^rgba?\(([^)]*)\)$/);
    if (!m) {
      probe.fillStyle = '#000'; probe.fillStyle = text;
      m = String(probe.fillStyle).match(/^rgba?\(([^)]*)\)$/);
      if (!m) {
        const h = String(probe.fillStyle).match(/^#([0-9a-f]{6})$/i);
        if (!h) return null;
        const n = parseInt(h[1], 16);
        return [(n >> 16) & 255, (n >> 8) & 255, n & 255, 1];
      }
    }
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(parseFloat);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  const over = (fg, bg) => {  // fg (with alpha) over an opaque bg
    const a = fg[3];
    return [0, 1, 2].map(i => fg[i] * a + bg[i] * (1 - a)).concat([1]);
  };
  const lum = c => {
    const ch = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * ch(c[0]) + 0.7152 * ch(c[1]) + 0.0722 * ch(c[2]);
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const hex = c => c ? '#' + c.slice(0, 3).map(v => Math.round(v).toString(16).padStart(2, '0')).join('') : null;
  // Opacity of an element times that of its ancestors.
  const opacities = new Map();
  function opacity(el) {
    if (!el || el.nodeType !== 1) return 1;
    let o = opacities.get(el);
    if (o === undefined) {
      o = parseFloat(getComputedStyle(el).opacity) * opacity(el.parentElement);
      opacities.set(el, o);
    }
    return o;
  }
  // The page's background behind an element: its ancestors' backgrounds, composited.
  function pageBackground(el) {
    const layers = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    if (!layers.length || layers[layers.length - 1][3] < 1) {
      const root = parse(getComputedStyle(document.documentElement).backgroundColor);
      if (root && root[3] > 0) bg = over(root, bg);
    }
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  }
  // The colours a shape's fill can show: one for a plain fill; a gradient's stops or a
  // pattern's own fills (and what shows through it) otherwise. [] for no fill.
  const fillsOf = new Map();
  function fills(shape) {
    let f = fillsOf.get(shape);
    if (f === undefined) { f = fillsUncached(shape); fillsOf.set(shape, f); }
    return f;
  }
  function fillsUncached(shape) {
    const cs = getComputedStyle(shape);
    const a = parseFloat(cs.fillOpacity) * opacity(shape);
    const url = cs.fill.match(/url\(["']?#([^"')]+)["']?\)/);
    if (url) {
      const ref = document.getElementById(url[1]);
      if (!ref) return [];
      const found = [];
      const parts = ref.tagName.toLowerCase() === 'pattern'
        ? ref.querySelectorAll('rect,polygon,path,ellipse,circle,polyline')
        : ref.querySelectorAll('stop');
      for (const p of parts) {
        const pcs = getComputedStyle(p);
        const c = parse(p.tagName.toLowerCase() === 'stop' ? pcs.stopColor : pcs.fill);
        if (c) { c[3] *= a * (p.tagName.toLowerCase() === 'stop' ? parseFloat(pcs.stopOpacity) : parseFloat(pcs.fillOpacity)); found.push(c); }
      }
      // A pattern shows what lies beneath between its shapes.
      if (ref.tagName.toLowerCase() === 'pattern') found.push([0, 0, 0, 0]);
      return found;
    }
    const c = parse(cs.fill);
    if (!c) return [];
    c[3] *= a;
    return c[3] > 0 ? [c] : [];
  }

  // --- which texts, which shapes ----------------------------------------------------
  const visible = el => {
    if (!el.isConnected) return false;
    const cs = getComputedStyle(el);
    if (cs.visibility !== 'visible' || cs.display === 'none') return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && opacity(el) > 0.05;
  };
  const inZoomable = el => !!el.closest('.' + zoomable);
  const figureOf = svg => {
    const f = svg.closest('figure[id], [id^="vas-"], [id]');
    return (svg.id || (f && f.id) || '');
  };
  const SHAPES = 'rect,polygon,path,ellipse,circle,polyline';
  const NOT_DRAWN = 'defs, pattern, marker, clipPath, mask, symbol';

  const svgs = [...article.querySelectorAll('svg')].filter(s => !s.parentElement.closest('svg'));
  const allLabels = [];
  for (const svg of svgs) {
    const texts = [...svg.querySelectorAll('text')].filter(t => t.textContent.trim() && visible(t) && !t.closest(NOT_DRAWN));
    if (!texts.length) continue;
    out.figures++;
    const fid = figureOf(svg);
    const shapes = [...svg.querySelectorAll(SHAPES)].filter(s => !s.closest(NOT_DRAWN) && visible(s));
    const inverse = new Map();
    const pageBg = pageBackground(svg);
    const labels = texts.map(t => ({t, r: t.getBoundingClientRect(), text: t.textContent.trim().replace(/\s+/g, ' ')}));
    for (const {t, r, text} of labels) {
      out.labels++;
      allLabels.push({t, r, text, svg, fid});
      // contrast
      const cs = getComputedStyle(t);
      const fg = parse(cs.fill);
      if (fg) {
        fg[3] *= parseFloat(cs.fillOpacity) * opacity(t);
        const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
        // Shapes painted before the text that hold its centre, topmost first.
        let candidates = [[0, 0, 0, 0]];  // colours still to be composited onto
        const stack = [];
        for (let i = shapes.length - 1; i >= 0; i--) {
          const s = shapes[i];
          if (!(t.compareDocumentPosition(s) & Node.DOCUMENT_POSITION_PRECEDING)) continue;
          if (s.contains(t)) continue;
          const f = fills(s);
          if (!f.length) continue;
          let m = inverse.get(s);
          if (m === undefined) { const ctm = s.getScreenCTM(); m = ctm ? ctm.inverse() : null; inverse.set(s, m); }
          if (!m) continue;
          const p = new DOMPoint(cx, cy).matrixTransform(m);
          let inside = false;
          try { inside = s.isPointInFill(p); } catch (e) { inside = false; }
          if (!inside) continue;
          stack.push({shape: s, fills: f});
          if (f.every(c => c[3] >= 1)) break;
        }
        // Composite bottom-up: page, then the shapes from the lowest.
        let bgs = [pageBg];
        for (let i = stack.length - 1; i >= 0; i--) {
          const next = [];
          for (const b of bgs) for (const c of stack[i].fills) next.push(c[3] > 0 ? over(c, b) : b);
          bgs = next;
        }
        let worst = null;
        for (const b of bgs) {
          const shown = over(fg, b);
          const q = ratio(shown, b);
          if (!worst || q < worst.q) worst = {q, fg: shown, bg: b};
        }
        // A label drawn on its own box (a shape of the same node) stays inside it.
        const node = t.closest('g.node');
        const own = stack.find(x => node && node.contains(x.shape));
        if (own) {
          const b = own.shape.getBoundingClientRect();
          const out_ = Math.max(b.left - r.left, r.right - b.right, b.top - r.top, r.bottom - b.bottom);
          if (out_ > 1)
            out.overlap.push({figure: fid, label: text + ' ⟷ the edge of its box', by: Math.round(out_ * 10) / 10});
        }
        if (worst && worst.q < minContrast) {
          const under = stack.length ? (stack[0].shape.closest('g[class]') || stack[0].shape).getAttribute('class') : 'page';
          out.contrast.push({figure: fid, label: text, ratio: Math.round(worst.q * 100) / 100,
                             fg: hex(worst.fg), bg: hex(worst.bg), under});
        }
      }
      // small text
      const ctm = t.getScreenCTM();
      if (ctm) {
        const px = parseFloat(cs.fontSize) * Math.hypot(ctm.a, ctm.b);
        if (px < minPx - 0.05 && !inZoomable(svg))
          out.small.push({figure: fid, label: text, px: Math.round(px * 10) / 10});
      }
      // cut off on a phone
      if (phone && !inZoomable(svg)) {
        let box = null;
        for (let e = svg; e && e !== document.body; e = e.parentElement) {
          const s = getComputedStyle(e);
          if (e !== svg && (s.overflowX !== 'visible' || s.overflowY !== 'visible')) { box = e; break; }
        }
        let cut = r.left < -1 || r.right > window.innerWidth + 1;
        if (!cut && box) {
          const b = box.getBoundingClientRect();
          const left = b.left + box.clientLeft, top = b.top + box.clientTop;
          const clipX = getComputedStyle(box).overflowX !== 'visible', clipY = getComputedStyle(box).overflowY !== 'visible';
          cut = (clipX && (r.left < left - 1 || r.right > left + box.clientWidth + 1))
             || (clipY && (r.top < top - 1 || r.bottom > top + box.clientHeight + 1));
        }
        if (cut) out.cutoff.push({figure: fid, label: text});
      }
    }
    // overlapping label boxes within this SVG
    for (let i = 0; i < labels.length; i++) {
      for (let j = i + 1; j < labels.length; j++) {
        const a = labels[i].r, b = labels[j].r;
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (w > 1 && h > 1)
          out.overlap.push({figure: fid, label: labels[i].text + ' ⟷ ' + labels[j].text,
                            by: [Math.round(w * 10) / 10, Math.round(h * 10) / 10]});
      }
    }
  }

  // --- wider than the column (desktop) ------------------------------------------------
  if (!phone) {
    const inner = article.getBoundingClientRect();
    const acs = getComputedStyle(article);
    const column = inner.width - parseFloat(acs.paddingLeft) - parseFloat(acs.paddingRight)
                   - parseFloat(acs.borderLeftWidth) - parseFloat(acs.borderRightWidth);
    const failed = [];
    for (const el of article.querySelectorAll(wide)) {
      if (!visible(el) || failed.some(f => f.contains(el))) continue;
      let w = Math.max(el.getBoundingClientRect().width, el.scrollWidth);
      for (const c of el.querySelectorAll(':scope > code')) w = Math.max(w, c.scrollWidth);
      if (w > column + 1) {
        failed.push(el);
        const named = el.closest('[id]');
        const what = (el.querySelector('caption, figcaption') || el).textContent.trim().replace(/\s+/g, ' ').slice(0, 80);
        out.wide.push({figure: el.id || (named ? named.id : ''), label: el.tagName.toLowerCase() + ': ' + what,
                       by: Math.round(w - column)});
      }
    }
  }
  // --- words cut short (phone): a line of the page's own frame or of the article ended
  // by an ellipsis (the header's title, the footer's previous and next), as far as it
  // is on the screen (the closed navigation drawer is not).
  if (phone) {
    for (const el of document.querySelectorAll('body *')) {
      const cs = getComputedStyle(el);
      if (cs.textOverflow !== 'ellipsis' || cs.overflowX === 'visible' || !visible(el)) continue;
      const r = el.getBoundingClientRect();
      if (r.right <= 0 || r.left >= window.innerWidth) continue;
      // The text's own width against the box (scrollWidth is rounded to a whole pixel,
      // and a title half a pixel too wide loses its last letters).
      const text = document.createRange();
      text.selectNodeContents(el);
      const room = r.width - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)
                   - parseFloat(cs.borderLeftWidth) - parseFloat(cs.borderRightWidth);
      // A box clamped to a number of lines cuts the lines past them.
      if (text.getBoundingClientRect().width > room + 0.25 || el.scrollHeight > el.clientHeight + 1)
        out.cutoff.push({figure: el.closest('.md-header') ? 'header' : el.closest('.md-footer') ? 'footer'
                                 : (el.closest('[id]') || {}).id || '',
                         label: el.textContent.trim().replace(/\s+/g, ' ') + ' (cut short by an ellipsis)'});
    }
  }

  // --- code under the copy button: no character of a code block that shows (inside
  // what its box lets through) lies beneath the button, as it opens or scrolled to the
  // end of its lines.
  if (once) {
    const range = document.createRange();
    const hits = (r, b) => r.right > b.left + 0.5 && r.left < b.right - 0.5 && r.bottom > b.top + 0.5 && r.top < b.bottom - 0.5;
    for (const nav of article.querySelectorAll('pre > .md-code__nav')) {
      const code = nav.parentElement.querySelector(':scope > code');
      if (!code || !visible(nav)) continue;
      const keep = code.scrollLeft;
      let under = null;
      for (const left of [0, code.scrollWidth]) {
        code.scrollLeft = left;
        const b = nav.getBoundingClientRect(), c = code.getBoundingClientRect();
        const port = {left: c.left + code.clientLeft, top: c.top + code.clientTop};
        port.right = port.left + code.clientWidth; port.bottom = port.top + code.clientHeight;
        // A character's box, as far as the code's box lets it show.
        const shown = r => hits({left: Math.max(r.left, port.left), right: Math.min(r.right, port.right),
                                 top: Math.max(r.top, port.top), bottom: Math.min(r.bottom, port.bottom)}, b);
        const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n && !under; n = walker.nextNode()) {
          range.selectNodeContents(n);
          if (![...range.getClientRects()].some(shown)) continue;
          for (let i = 0; i < n.length && !under; i++) {
            if (/\s/.test(n.data[i])) continue;
            range.setStart(n, i); range.setEnd(n, i + 1);
            if ([...range.getClientRects()].some(shown)) under = n.data.slice(Math.max(0, i - 12), i + 4);
          }
        }
        if (under) break;
      }
      code.scrollLeft = keep;
      if (under) {
        const named = code.closest('[id]');
        out.covered.push({figure: named ? named.id : '', label: code.textContent.trim().split('\n')[0].slice(0, 60),
                          under: under.replace(/\s+/g, ' ')});
      }
    }
  }
  // The palette the page is in now, as the measurements end: the one asked for, unless
  // something switched it meanwhile.
  out.scheme = document.body.getAttribute('data-md-color-scheme');
  return out;
}
"""

# Material re-applies its own palette (the one a toggle has chosen: the light one here)
# whenever the reader's system switches between light and dark, a frame or a few after
# the switch: the page's palette is set once that has happened, or it is set back under
# the measurements. Armed before the switch; then told whether the system's scheme
# changed, and the palette to show.
ARM_PALETTE = r"""
() => {
  window.roadsPaletteApplied = new Promise(done => new MutationObserver((_, seen) => {
    seen.disconnect(); done();
  }).observe(document.body, {attributes: true, attributeFilter: ['data-md-color-media']}));
}
"""
SET_PALETTE = r"""
async ({scheme, changed}) => {
  if (changed)
    await Promise.race([window.roadsPaletteApplied, new Promise(r => setTimeout(r, 5000))]);
  document.body.setAttribute('data-md-color-scheme', scheme);
}
"""

CHECKS = ("contrast", "overlap", "cutoff", "wide", "small", "covered", "axe")


def pages_of(out: Path) -> list[str]:
    """Every page of the built site, as a path relative to the site root."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("index.html")
                  if "assets" not in p.parts and p.parent.name != "404")


def _name(rel: str) -> str:
    return rel.replace("/", "_").removesuffix("_index.html").removesuffix("index.html") or "home"


def _screenshots(page, rel: str, width: str, palette: str) -> int:
    """Element screenshots of every figure of the page (and of any SVG drawing outside a
    figure) into ARTIFACTS; how many. Material's sticky header is pinned to the top
    of the page first, so that it does not cover the figures."""
    pin = page.add_style_tag(content=".md-header { position: absolute !important; }")
    handles = page.query_selector_all(
        ".md-content article figure, .md-content article svg:not(figure svg):not(svg svg)")
    n = 0
    for k, handle in enumerate(handles):
        if not handle.evaluate("e => e.getBoundingClientRect().width > 0 && "
                               "(e.tagName !== 'svg' || !!e.querySelector('text'))"):
            continue
        ident = handle.evaluate("e => e.id || (e.querySelector('[id]') || {}).id || ''")
        ident = re.sub(r"[^A-Za-z0-9_.-]+", "-", ident)[:60] or str(k)
        try:
            handle.screenshot(path=str(ARTIFACTS / f"{_name(rel)}-{k:02d}-{ident}-{width}-{palette}.png"),
                              timeout=15000)
            n += 1
        except Exception:  # noqa: BLE001 - a picture that cannot be taken fails no check
            pass
    pin.evaluate("e => e.remove()")
    return n


def _axe(page, rel: str, totals: collections.Counter) -> list[dict]:
    """The passes of AXE_PASSES in one loaded page: every serious or critical violation,
    as a failure of the page at that pass's width and palette."""
    began = time.perf_counter()
    page.add_script_tag(path=str(AXE))
    # A change of palette would start Material's colour transitions: none, the new colours
    # at once (measured half-way, a link would have the old palette's colour).
    page.add_style_tag(content="*, ::before, ::after { transition: none !important; "
                               "animation: none !important; }")
    failures = []
    for width, palette, rules in AXE_PASSES:
        if page.viewport_size != WIDTHS[width]:
            page.set_viewport_size(WIDTHS[width])
            page.wait_for_timeout(300)  # what scrolls is decided again (access.js: 150 ms)
        page.evaluate("s => document.body.setAttribute('data-md-color-scheme', s)", palette)
        for v in page.evaluate(AXE_RUN, {"fails": list(AXE_FAILS), "rules": rules}):
            failures.append({"page": rel.removesuffix("index.html") or "/", "width": width,
                             "palette": palette, "figure": v["rule"], "label": v["why"],
                             "impact": v["impact"], "nodes": v["nodes"],
                             "targets": v["targets"]})
        totals["axe runs"] += 1
    totals["axe seconds"] += time.perf_counter() - began
    return failures


@pytest.fixture(scope="module")
def measured(site, browser):
    """Every check on every page at both widths in both palettes: ({check: [failure]},
    each failure a dict with page, width, palette, figure and label; the totals; what
    the desktop loads found for the site's own checks, see _site_checks)."""
    out, base = site
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    found: dict[str, list[dict]] = {c: [] for c in CHECKS}
    totals = collections.Counter()
    loaded = {"errors": {}, "ids": {}, "links": [], "copy": {}}
    axe = AXE.is_file()
    # One load of each page at each width: both palettes are measured in it, one after
    # the other (Material's palette switch, with the colour transitions off so that the
    # new colours hold at once), then axe-core's passes at their width.
    for rel in pages_of(out):
        for width, viewport in WIDTHS.items():
            # The load event is enough to measure: the site's pages fetch nothing that
            # they show, and what Material fetches after it (the search index, the
            # sitemap) changes nothing on the screen. The network's quiet, which the
            # console's errors wait for, has mostly come by the time the measurements
            # are made.
            url = base + rel.removesuffix("index.html")
            context, page, console = open_page(browser, url,
                                               viewport=viewport, scheme=PALETTES[0],
                                               idle=False)
            page.add_style_tag(content="*, ::before, ::after { transition: none !important; "
                                       "animation: none !important; }")
            results = {}
            try:
                system = "light"  # open_page's, for the first palette
                for palette in PALETTES:
                    media = "dark" if palette == "slate" else "light"
                    page.evaluate(ARM_PALETTE)
                    page.emulate_media(color_scheme=media)
                    page.evaluate(SET_PALETTE, {"scheme": palette, "changed": media != system})
                    system = media
                    result = page.evaluate(MEASURE, {"phone": viewport is PHONE,
                                                     "minContrast": MIN_CONTRAST,
                                                     "minPx": MIN_TEXT_PX, "zoomable": ZOOMABLE,
                                                     "wide": WIDE,
                                                     "once": palette == PALETTES[0]})
                    if result["scheme"] != palette:
                        raise AssertionError(f"{rel} @{width}: measured in Material's palette "
                                             f"{result['scheme']!r}, not {palette!r}")
                    totals["labels"] += result["labels"]
                    if SHOTS:
                        totals["screenshots"] += _screenshots(page, rel, width, palette)
                    result["axe"] = []
                    results[palette] = result
                if viewport is PHONE:
                    # What scrolls is reachable by keyboard, and the page itself is no
                    # wider than the phone (a palette changes neither).
                    first = results[PALETTES[0]]
                    unreachable = page.evaluate(SCROLL_FOCUS)
                    if unreachable:
                        first["axe"].append({
                            "figure": "scrollable-region-focusable",
                            "label": "scrolls, and neither it nor anything in it is focusable",
                            "impact": "serious", "nodes": len(unreachable),
                            "targets": unreachable[:8]})
                    overflow = page.evaluate(
                        "() => document.scrollingElement.scrollWidth - window.innerWidth")
                    if overflow > 1:
                        first["cutoff"].append({"figure": "the page",
                                                "label": f"{overflow}px wider than the phone"})
                if axe and width == AXE_PASSES[0][0]:
                    found["axe"].extend(_axe(page, rel, totals))
                page.wait_for_load_state("networkidle")
                if viewport is not PHONE:
                    _site_checks(page, rel, url, base, console, loaded)
            finally:
                context.close()
            for palette, result in results.items():
                for check in CHECKS:
                    for failure in result[check]:
                        found[check].append({"page": rel.removesuffix("index.html") or "/",
                                             "width": width, "palette": palette, **failure})
    lines = [f"{len(pages_of(out))} pages x {len(WIDTHS)} widths x {len(PALETTES)} palettes; "
             f"{totals['labels']} labels measured; {totals['screenshots']} screenshots; "
             f"axe-core: {totals['axe runs']} runs, {totals['axe seconds']:.1f} s", ""]
    for check in CHECKS:
        lines.append(f"== {check}: {len(found[check])}")
        lines.extend(_line(f) for f in found[check])
        lines.append("")
    (ARTIFACTS / "report.txt").write_text("\n".join(lines), encoding="utf-8")
    return found, totals, loaded


def _site_checks(page, rel: str, url: str, base: str, console: list[str], loaded: dict) -> None:
    """What the site's own checks need of a page's desktop load, into ``loaded``: its
    console errors, the ids of its elements, its links within the site, and how many
    code blocks and copy buttons it has."""
    if console:
        loaded["errors"][rel] = list(console)
    loaded["ids"][url] = set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)"))
    # Material's copy button (9.8: a button of type copy in the block's own nav).
    loaded["copy"][rel] = (page.locator(".md-typeset pre > code").count(),
                           page.locator(".md-typeset pre button[data-md-type='copy']").count())
    for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
        if href.startswith(base):
            loaded["links"].append((url, href))


def _line(f: dict) -> str:
    extra = {k: v for k, v in f.items() if k not in ("page", "width", "palette", "figure", "label")}
    more = " ".join(f"{k}={v}" for k, v in extra.items())
    return f"{f['page']} @{f['width']} {f['palette']} [{f['figure']}] {f['label']!r} {more}".rstrip()


def _verdict(failures: list[dict], what: str) -> None:
    if not failures:
        return
    by_page = collections.Counter((f["page"], f["width"], f["palette"]) for f in failures)
    summary = "; ".join(f"{p} @{w} {s}: {n}" for (p, w, s), n in sorted(by_page.items()))
    listed = "\n".join(_line(f) for f in failures[:60])
    more = f"\n... and {len(failures) - 60} more" if len(failures) > 60 else ""
    pytest.fail(f"{len(failures)} {what} (full list: tests/artifacts/legibility/report.txt)\n"
                f"per page: {summary}\n{listed}{more}", pytrace=False)


def test_the_harness_measured_labels(measured):
    """The measurement itself worked: labels were found (and, when asked for, figures
    photographed)."""
    totals = measured[1]
    assert totals["labels"] > 100, totals
    if SHOTS:
        assert totals["screenshots"] > 0, totals


def test_every_label_has_contrast(measured):
    _verdict(measured[0]["contrast"], f"SVG labels under {MIN_CONTRAST}:1 against what lies beneath")


def test_no_two_labels_overlap(measured):
    _verdict(measured[0]["overlap"], "pairs of SVG labels intersecting by more than a pixel")


def test_no_label_cut_off_on_a_phone(measured):
    _verdict(measured[0]["cutoff"], "labels cut off at 390 px (no full-screen control), "
                                     "words cut short by an ellipsis, or a page wider "
                                     "than the phone")


def test_no_code_under_the_copy_button(measured):
    """Material's copy button sits on a code block's top right corner: as the block opens
    and scrolled to the end of its lines, no character that shows is under it, at both
    widths."""
    _verdict(measured[0]["covered"], "code blocks with text under the copy button "
                                     "(as they open, or scrolled to the end of their lines)")


def test_nothing_wider_than_its_column_on_a_desktop(measured):
    _verdict(measured[0]["wide"], "tables, figures or pre wider than their column at 1280 px")


def test_axe_finds_nothing_serious(measured):
    """axe-core on every page, at both widths, in both palettes (AXE_PASSES):
    no violation of impact serious or critical (each listed as: page @width palette
    [rule] 'what' targets=...)."""
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing: {AXE.relative_to(REPO)} (run `npm ci` in the "
                    "repository, as ./dev test does, from package-lock.json)", pytrace=False)
    assert measured[1]["axe runs"] > 0, measured[1]
    _verdict(measured[0]["axe"], "axe-core violations of impact serious or critical")


def test_no_inline_text_under_9px(measured):
    _verdict(measured[0]["small"], f"SVG labels under {MIN_TEXT_PX} px on screen "
                                   "(no full-screen control)")


def test_no_console_errors_no_broken_links_and_copy_buttons(site, measured):
    """Every page loads without a console error, every link of the site reaches its page
    and anchor, and every code block (the samples' sources included) has a copy button:
    read in the harness's desktop load of each page."""
    out, _ = site
    loaded = measured[2]
    assert len(loaded["copy"]) == len(pages_of(out)), sorted(loaded["copy"])
    broken = []
    for source, href in loaded["links"]:
        target, _, fragment = href.partition("#")
        if target not in loaded["ids"]:
            path = out / urllib.parse.urlparse(target).path.lstrip("/")
            if not (path.is_file() or (path / "index.html").is_file()):
                broken.append((source, href))
            continue
        if fragment and urllib.parse.unquote(fragment) not in loaded["ids"][target]:
            broken.append((source, href))
    assert not loaded["errors"], loaded["errors"]
    assert not broken, broken[:20]
    counts = loaded["copy"]
    assert sum(blocks for blocks, _ in counts.values()) > 0
    assert all(blocks == buttons for blocks, buttons in counts.values()), counts


# The copy button's icon against what lies beneath it (its strip's background over the
# code's), as a touch screen shows it: the icon's own colour, composited.
COPY_ICON = r"""
() => {
  const nav = document.querySelector('article pre > .md-code__nav');
  const code = nav.parentElement.querySelector(':scope > code');
  const rgba = t => { const p = t.match(/[\d.]+/g).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (f, b) => [0, 1, 2].map(i => f[i] * f[3] + b[i] * (1 - f[3])).concat([1]);
  const lum = c => { const ch = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                     return 0.2126 * ch(c[0]) + 0.7152 * ch(c[1]) + 0.0722 * ch(c[2]); };
  const bg = over(rgba(getComputedStyle(nav).backgroundColor), rgba(getComputedStyle(code).backgroundColor));
  const icon = over(rgba(getComputedStyle(nav.querySelector('button')).color), bg);
  const [a, b] = [lum(icon), lum(bg)];
  return {hoverNone: matchMedia('(hover: none)').matches,
          ratio: Math.round((Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) * 100) / 100};
}
"""


@pytest.mark.parametrize("scheme", PALETTES)
def test_the_copy_button_shows_on_a_touch_screen(site, browser, scheme):
    """Material shows the copy button at 7 % of the text's colour until the pointer is
    over the block: a phone has no pointer, and the button was all but invisible
    (1.2:1). Where nothing hovers, its icon holds 3:1 against its background (WCAG
    1.4.11, a control's contrast)."""
    _, base = site
    context, page, errors = open_page(browser, base + "explore-your-own-program/",
                                      viewport=PHONE, scheme=scheme, touch=True, idle=False)
    try:
        page.add_style_tag(content="*, ::before, ::after { transition: none !important; }")
        found = page.evaluate(COPY_ICON)
        assert found["hoverNone"], found
        assert found["ratio"] >= 3, f"the copy button's icon at {found['ratio']}:1 ({scheme})"
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


def test_code_keeps_its_width_on_paper(site, browser):
    """The copy button's strip (access.css) is for the screen: on paper, where the button
    is not printed, code wraps at the full width of its box."""
    _, base = site
    context, page, errors = open_page(browser, base + "explore-your-own-program/",
                                      scheme="default", idle=False)
    try:
        page.emulate_media(media="print")
        strips = page.evaluate("""() => [...document.querySelectorAll('article pre > .md-code__nav')]
          .map(n => getComputedStyle(n.parentElement.querySelector(':scope > code')).borderRightWidth)""")
        assert strips and set(strips) == {"0px"}, strips
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_the_footer_names_the_previous_page_and_table_code_reads_on_a_phone(site, browser, width):
    """Two checks of the Processes page, in one load of it at each width.

    The footer: Material shows the previous page as a bare arrow below 720 px, where the
    next page has its title: on a phone, the arrow's destination was a guess. Both links
    show their page's title, at both widths, whole and inside the screen.

    Code in a table: Material sets it at 0.85 em of the table's small text: about 11 px
    on a phone, where the addresses and AT_ names of the auxiliary vector's table were
    the hardest text of the page to read. On a phone they are as large as the words
    beside them; on a desktop, where the table's text is larger, Material's sizes stay."""
    _, base = site
    viewport = PHONE if width == 390 else {"width": width, "height": 900}
    context, page, errors = open_page(browser, base + "all-roads-to-memory/processes/",
                                      viewport=viewport, scheme="default", idle=False)
    try:
        shown = page.evaluate("""() => [...document.querySelectorAll('.md-footer__link')].map(a => {
            const t = a.querySelector('.md-footer__title');
            const r = t.getBoundingClientRect();
            return {rel: a.classList.contains('md-footer__link--prev') ? 'prev' : 'next', text: t.innerText.replace(/\\s+/g, ' ').trim(),
                    shown: getComputedStyle(t).display !== 'none' && r.width > 0,
                    inside: r.left >= 0 && r.right <= innerWidth};
        })""")
        assert {s["rel"]: s["text"] for s in shown} == {
            "prev": "Previous The virtual address space", "next": "Next The mapping procedure"}
        assert all(s["shown"] and s["inside"] for s in shown), shown
        sizes = page.evaluate("""() => [...document.querySelectorAll('.md-typeset table:not([class]) td code')]
          .map(c => [parseFloat(getComputedStyle(c).fontSize),
                     parseFloat(getComputedStyle(c.closest('td')).fontSize)])""")
        assert sizes, "no code in a table on the Processes page"
        if width == 390:
            assert all(code == words for code, words in sizes), sizes
        else:
            assert all(code < words for code, words in sizes), sizes
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


# Each line of the key of every phone's diagram (roads.figures.diagram, NARROW) shown in
# the page (loaded without its scripts: a time-lapse is its list, every step shown): how far it reaches past the right
# edge of its break (of the drawing, for the key's lines under it) and past the drawing's
# edge on the screen; and for a key set on two rows, how much room its one row would have
# left in that break, by the sum of its characters' advances in the font the browser uses
# (what the diagram estimates by, DejaVu Sans's: ``fontIsTheEstimates`` says whether the
# browser's font is that one, its "0" 1303/2048 em and its "l" 569).
KEY_LINES = r"""() => {
  const canvas = document.createElement('canvas').getContext('2d');
  const out = {lines: [], fontIsTheEstimates: null};
  for (const svg of document.querySelectorAll('svg.roads-vas-narrow')) {
    if (!svg.getClientRects().length) continue;
    const view = svg.viewBox.baseVal, frame = svg.getBoundingClientRect();
    const breaks = [...svg.querySelectorAll('g.roads-gap polygon')].map(p => p.getBBox());
    for (const key of svg.querySelectorAll('g.roads-key')) {
      const texts = [...key.querySelectorAll('text')];
      const first = texts[0].getBBox();
      const host = breaks.find(b => b.y < first.y && first.y + first.height < b.y + b.height);
      // A break's right edge, less half its border; the drawing's, under it.
      const right = host ? host.x + host.width - 0.4 : view.x + view.width;
      const size = parseFloat(texts[0].getAttribute('font-size'));
      canvas.font = '100px ' + getComputedStyle(texts[0]).fontFamily;
      if (out.fontIsTheEstimates === null)
        out.fontIsTheEstimates = canvas.measureText('0').width === 100 * 1303 / 2048
                                 && canvas.measureText('l').width === 100 * 569 / 2048;
      const advances = s => [...s].reduce((w, ch) => w + canvas.measureText(ch).width, 0) * size / 100;
      const one = texts.map(t => t.textContent).join(' \u00a0').replace(/ \u00a0\u2007+ \u00a0/, ' \u00a0');
      out.lines.push({
        text: texts.map(t => t.textContent).join(' / '), under: !host,
        past: Math.max(...texts.map(t => { const b = t.getBBox(); return b.x + b.width - right })),
        pastScreen: Math.max(...texts.map(t => t.getBoundingClientRect().right - frame.right)),
        rows: texts.length, left: right - (parseFloat(texts[0].getAttribute('x')) + advances(one))});
    }
  }
  return out;
}"""


def test_a_phones_key_lines_stay_in_their_breaks_on_one_row_where_it_fits(site, browser):
    """On a phone the diagram names its numbered pointers in lines of a key, in the break
    under their boxes (roads.figures.diagram): each line stays inside its break's box (so
    inside the drawing) at 360 and 390 px, in both palettes; and a key takes two rows
    only where one would not leave KEY_AIR to the break's edge (the estimate of its width
    was cautious, and many took two that one row held). One load a page, without its
    scripts (quicker, and every step of a time-lapse shows), for both widths."""
    from roads.figures.diagram import KEY_AIR

    out, base = site
    pages, drawn = [], set()  # the pages that show a phone's diagram no page before showed
    for rel in pages_of(out):
        svgs = set(re.findall(r"<svg [^>]*roads-vas-narrow.*?</svg>", (out / rel).read_text(),
                              re.S))
        if svgs - drawn:
            pages.append(rel)
            drawn |= svgs
    assert len(pages) > 2
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    try:
        page = context.new_page()
        found, two_rows = [], 0
        for rel in pages:
            page.goto(base + rel.removesuffix("index.html"))
            page.evaluate("document.fonts.ready.then(() => true)")
            for width, palette in [(w, p) for w in (390, 360) for p in PALETTES]:
                page.set_viewport_size({"width": width, "height": PHONE["height"]})
                page.evaluate(f"document.body.setAttribute('data-md-color-scheme', '{palette}')")
                seen = page.evaluate(KEY_LINES)
                for line in seen["lines"]:
                    where = f"{rel} @{width} {palette}: {line['text']}"
                    if line["past"] > 0.1 or line["pastScreen"] > 0.5:
                        found.append(f"{where}: past its break by {line['past']:.1f} points, "
                                     f"the drawing's edge by {line['pastScreen']:.1f} px")
                    if line["rows"] == 2 and not line["under"]:
                        two_rows += 1
                        if seen["fontIsTheEstimates"] and line["left"] >= KEY_AIR:
                            found.append(f"{where}: on two rows, one would leave "
                                         f"{line['left']:.1f} points")
        assert two_rows, "no key on two rows: nothing checked the estimate"
        assert not found, "\n".join(found)
    finally:
        context.close()
