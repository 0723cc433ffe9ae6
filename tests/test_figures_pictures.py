"""The drawn pictures: the top of the stack (roads.figures.stackview), the page walk
(roads.figures.walkview) and the landing page's address space.

The figures are read from the committed captures, and every number they print is
traced back to the capture document: the recorded addresses, /proc/PID/auxv and the
strings it points to, the [stack] region, the pagemap frame. Where the run can be
its own oracle it is: the stacktop sample prints the word below argv and argc, the
pagewalk sample prints its indices. A browser test shows the three pictures in both
palettes at phone and desktop width, fitting their column, legible and in contrast.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path

import pytest

from roads import constants
from roads.capture.project import Project
from roads.errors import ConfigError
from roads.figures import stackview, walkview
from roads.figures.pageview import PAGE_SIZE, split_address
from roads.figures.provenance import with_provenance
from roads.figures.select import Selection, select
from tests.browser import DESKTOP, PHONE, open_page, quiet

ROOT = Path(__file__).resolve().parent.parent
HEX = re.compile(r"0x[0-9a-f]+")
WORD = 8


@cache
def _doc(sample: str) -> dict:
    return Project(ROOT, mode="frozen").read(sample)


def doc(sample: str) -> dict:
    """A copy of the committed capture, free to change."""
    return copy.deepcopy(_doc(sample))


def svg_texts(html: str) -> list[str]:
    """The text of every ``<text>`` element of a figure (tspans included)."""
    from lxml import etree

    root = etree.fromstring(html[html.index("<svg"):html.index("</svg>") + 6])
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


# --------------------------------------------------------------------------- the stack


def stack(d: dict | None = None) -> tuple[Selection, stackview.StackTop]:
    sel = select(d or _doc("stacktop"), checkpoint="main")
    return sel, stackview.stack_top(sel)


def test_stack_counts_agree_with_the_run_and_the_manifest() -> None:
    sel, st = stack()
    # The program printed the word below argv[0] and its argc: the figure's argc is both.
    word, argc = map(int, re.findall(r"-?\d+", sel.run_record.stdout))
    assert st.argc == word == argc == len(sel.capture.inputs.manifest.args) + 1
    assert st.piece("argc").start == sel.snapshot.address("argv") - WORD
    envc = (st.piece("envp").size // WORD) - 1
    assert envc >= len(sel.capture.inputs.manifest.env)


def test_stack_pieces_come_from_the_capture() -> None:
    sel, st = stack()
    snap = sel.snapshot
    aux = {e.name: e.a_val for e in snap.auxv}
    rec = {a.name: a.value for a in snap.addresses}
    region = snap.region_at(rec["argv"])
    assert region.pathname == "[stack]" and st.region == region
    assert st.items[0].end == region.end and st.items[-1].start == region.start

    execfn = st.piece("execfn")
    assert execfn.start == aux["AT_EXECFN"] == rec["at-execfn"]
    assert execfn.size == len(snap.auxv_strings["AT_EXECFN"]) + 1
    platform = st.piece("platform")
    assert platform.start == aux["AT_PLATFORM"] and platform.size == len(snap.auxv_strings["AT_PLATFORM"]) + 1
    random = st.piece("random")
    assert random.start == aux["AT_RANDOM"] and random.size == constants.AT_RANDOM_BYTES.value
    auxv = st.piece("auxv")
    assert auxv.start == rec["auxv"] and auxv.size == (len(snap.auxv) + 1) * 2 * WORD
    assert st.piece("envp").start == rec["envp"] and st.piece("envp").end == rec["auxv"]
    assert st.piece("argv").start == rec["argv"] and st.piece("argv").end == rec["envp"]
    strings = st.piece("argv-strings")
    assert strings.start == rec["argv-0-string"] < rec["argv-last-string"] < strings.end
    assert st.piece("env-strings").start == rec["envp-0-string"]
    assert st.piece("env-strings").end == execfn.start
    assert st.piece("main").start == rec["local"]


def test_stack_is_drawn_high_to_low_without_holes() -> None:
    _, st = stack()
    for high, low in zip(st.items, st.items[1:]):
        assert low.end == high.start or low.start == low.end == high.start, (high, low)
    # Small gaps are padding, with their size; nothing overlaps.
    pads = [i for i in st.items if isinstance(i, stackview.Piece) and i.kind == "padding"]
    assert all(0 < p.size <= stackview.PADDING_MAX for p in pads)


def test_stack_pointers_land_in_their_targets() -> None:
    sel, st = stack()
    snap = sel.snapshot
    aux = {e.name: e.a_val for e in snap.auxv}
    targets = {p.target: p for p in st.pointers}
    assert {p.source for p in st.pointers} == {"argv", "envp", "auxv"}
    for key, address in (("random", aux["AT_RANDOM"]), ("platform", aux["AT_PLATFORM"]),
                         ("execfn", aux["AT_EXECFN"]), ("argv-strings", snap.address("argv-0-string")),
                         ("env-strings", snap.address("envp-0-string"))):
        piece = st.piece(key)
        assert key in targets and piece.start <= address < piece.end


def test_every_number_in_the_stack_figure_is_traceable() -> None:
    sel, st = stack()
    html = stackview.render_stack_top(st)
    texts = svg_texts(html)
    bounds = {b for i in st.items for b in (i.start, i.end)}
    shown = {int(h, 16) for t in texts for h in HEX.findall(t)}
    assert shown and shown <= bounds, sorted(map(hex, shown - bounds))
    # Every boundary is labelled, the region's end first.
    assert texts[0] == f"{st.region.end:#x}"
    for item in st.items:
        if isinstance(item, stackview.Piece) and item.kind != "frame":
            assert f"{item.start:#x}" in texts, item
    # Sizes in the boxes are the boxes' own.
    for item in st.items:
        if isinstance(item, stackview.Piece) and item.size:
            line = " ".join(t for t in texts if item.title in t or item.detail in t)
            assert stackview._bytes(item.size) in line, (item, line)
    assert f"= {st.argc}" in texts[[t for t in texts].index("argc") + 1]


def test_stack_figure_caption_and_provenance() -> None:
    sel, st = stack()
    html = with_provenance(stackview.render_stack_top(st), sel)
    assert '<figure class="roads-picture roads-stack-figure"' in html
    assert "<figcaption>" in html and 'class="roads-provenance' in html
    kernel = sel.provenance_record.kernel
    # Kept on one line: a release such as 6.18.44-fc-v1098 broke at a hyphen on a phone.
    assert f'Linux <span class="roads-version">{kernel}</span>' in html
    assert f"{st.region.start:#x}" in html.split("<figcaption>")[1]


def test_stack_needs_the_recorded_arrays() -> None:
    d = doc("stacktop")
    point = d["variants"]["default"]["runs"][0]["checkpoints"][0]
    point["addresses"] = [a for a in point["addresses"] if a["name"] != "envp"]
    with pytest.raises(ConfigError, match="needs the sample to record envp"):
        stack(d)


def test_stack_without_optional_addresses_still_draws() -> None:
    d = doc("stacktop")
    point = d["variants"]["default"]["runs"][0]["checkpoints"][0]
    point["addresses"] = [a for a in point["addresses"] if a["name"] in stackview.REQUIRED]
    _, st = stack(d)
    keys = [i.key for i in st.items]
    assert "argv-strings" not in keys and "main" not in keys
    assert st.items[0].end == st.region.end and st.items[-1].start == st.region.start
    svg_texts(stackview.render_stack_top(st))  # well-formed


# --------------------------------------------------------------------------- the walk


def pagewalk(d: dict | None = None) -> tuple[Selection, walkview.Walk]:
    sel = select(d or _doc("pagewalk"))
    return sel, walkview.walk(sel, "answer")


def test_walk_indices_are_the_ones_the_program_printed() -> None:
    sel, w = pagewalk()
    printed = dict(re.findall(r"^(PML4|PDPT|PD|PT) index\s+(\d+)$", sel.run_record.stdout, re.M))
    levels = [name for name, _ in w.split.levels]
    assert w.split.paging_levels == sel.provenance_record.paging_levels
    for name, index in zip(levels, w.split.indices):
        if name in printed:
            assert int(printed[name]) == index
    html = walkview.render_walk(w)
    texts = svg_texts(html)
    for index in w.split.indices:
        assert f"entry {index}" in texts


def test_walk_frame_and_physical_address_from_pagemap() -> None:
    sel, w = pagewalk()
    page = next(p for r in sel.snapshot.pagemap for p in r.pages
                if p.vaddr == w.split.address & ~(PAGE_SIZE - 1))
    html = walkview.render_walk(w)
    texts = " ".join(svg_texts(html))
    if page.pfn is None:
        assert w.frame is None and "physical" not in texts
    else:
        assert w.frame == page.pfn
        assert w.physical == page.pfn * PAGE_SIZE + w.split.offset
        assert f"frame {page.pfn:#x}" in texts and f"physical {w.physical:#x}" in texts
    # Every number printed: the address, its fields, the frame, the physical address.
    allowed = {w.split.address, w.split.sign, w.split.offset, *(x for x in (w.frame, w.physical) if x is not None)}
    assert {int(h, 16) for h in HEX.findall(texts)} <= allowed
    decimals = {int(n) for t in svg_texts(html) for n in re.findall(r"^\d+$|(?<=entry )\d+", t)}
    assert decimals <= set(w.split.indices)


def test_walk_marks_the_tables_as_not_captured() -> None:
    _, w = pagewalk()
    html = walkview.render_walk(w)
    texts = svg_texts(html)
    assert texts.count("not captured: kernel memory") == w.split.paging_levels
    assert html.count('class="roads-walk-table ') == w.split.paging_levels
    assert "captured (pagemap)" in texts
    assert "CR3" in texts


def test_walk_follows_the_captured_paging_levels() -> None:
    d = doc("pagewalk")
    d["provenance"]["paging_levels"] = 5
    sel, w = pagewalk(d)
    assert w.split == split_address(sel.snapshot.address("answer"), 5)
    html = walkview.render_walk(w)
    texts = svg_texts(html)
    names = [t for t in texts if t in ("PML5", "PML4", "PDPT", "PD", "PT")]
    # Each level twice: its field in the address and its table.
    assert names == ["PML5", "PML4", "PDPT", "PD", "PT"] * 2
    assert "5-level" in html


def test_walk_without_a_frame_says_why() -> None:
    d = doc("pagewalk")
    for r in d["variants"]["default"]["runs"][0]["checkpoints"][0]["pagemap"]:
        for p in r["pages"]:
            p["pfn"] = None
    _, w = pagewalk(d)
    assert w.frame_state == "hidden"
    texts = svg_texts(walkview.render_walk(w))
    assert any("hidden without CAP_SYS_ADMIN" in t for t in texts)
    d["variants"]["default"]["runs"][0]["checkpoints"][0]["pagemap"] = []
    _, w = pagewalk(d)
    assert w.frame_state == "unrecorded"
    assert "frame not recorded" in svg_texts(walkview.render_walk(w))


# --------------------------------------------------------------------------- the pages


def test_pages_call_the_pictures() -> None:
    docs = ROOT / "docs"
    assert "{{ address_space('layout'" in (docs / "index.md").read_text()
    assert "{{ stack_top('stacktop') }}" in (docs / "all-roads-to-memory" / "processes.md").read_text()
    assert "{{ page_walk_diagram('pagewalk', 'answer') }}" in \
        (docs / "all-roads-to-memory" / "mapping-procedure.md").read_text()


PICTURES = [("", "figure.roads-vas-figure"),
            ("all-roads-to-memory/processes/", "figure.roads-stack-figure"),
            ("all-roads-to-memory/mapping-procedure/", "figure.roads-walk-figure")]

# For each <text> of a picture: its rendered font size, its box, and the colour of
# the text and of what is painted under its centre (the topmost filled shape there,
# else the page).
MEASURE = """(sel) => {
  const fig = document.querySelector(sel);
  const svg = fig.querySelector('svg');
  const column = fig.closest('.md-content__inner, article') || fig.parentElement;
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const page = getComputedStyle(document.querySelector('.md-main') || document.body).backgroundColor;
  const body = getComputedStyle(document.body).backgroundColor;
  const out = [];
  for (const t of svg.querySelectorAll('text')) {
    if (!t.textContent.trim()) continue;
    const r = t.getBoundingClientRect();
    const cx = r.x + r.width / 2, cy = r.y + r.height / 2;
    let under = null;
    for (const shape of svg.querySelectorAll('rect, polygon')) {
      const b = shape.getBoundingClientRect();
      const fill = getComputedStyle(shape).fill;
      if (!fill || fill === 'none' || rgb(fill).length < 3 || (rgb(fill).length > 3 && rgb(fill)[3] === 0)) continue;
      if (cx >= b.x && cx <= b.x + b.width && cy >= b.y && cy <= b.y + b.height) under = fill;
    }
    out.push({text: t.textContent, size: parseFloat(getComputedStyle(t).fontSize) * scale,
              box: [r.x, r.y, r.width, r.height], fg: getComputedStyle(t).fill,
              bg: under || (rgb(body).length === 4 && rgb(body)[3] === 0 ? page : body)});
  }
  const f = fig.getBoundingClientRect(), c = column.getBoundingClientRect();
  return {texts: out, figure: [f.x, f.width], column: [c.x, c.width],
          scroll: [fig.scrollWidth, fig.clientWidth]};
}"""


def _blend(fg: list[float], bg: list[float]) -> tuple[float, ...]:
    alpha = fg[3] if len(fg) > 3 else 1.0
    return tuple(alpha * f + (1 - alpha) * b for f, b in zip(fg[:3], bg[:3]))


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("scheme", ["default", "slate"])
def test_pictures_render_legibly(site, browser, viewport, scheme) -> None:
    from tests.test_browser import contrast

    _, base = site
    for path, selector in PICTURES:
        context, page, errors = open_page(browser, base + path, viewport=viewport, scheme=scheme,
                                          idle=False)
        try:
            assert page.locator(selector).count() >= 1, (path, selector)
            if selector == "figure.roads-vas-figure":
                continue  # the address-space diagram: its own tests measure it
            m = page.evaluate(MEASURE, selector)
            quiet(page)
        finally:
            context.close()
        assert not errors, errors
        fx, fw = m["figure"]
        cx, cw = m["column"]
        assert fx >= cx - 1 and fx + fw <= cx + cw + 1, (path, m["figure"], m["column"])
        assert m["scroll"][0] <= m["scroll"][1] + 1, (path, "the figure scrolls sideways")
        texts = m["texts"]
        assert texts
        for t in texts:
            assert t["size"] >= 9, (path, t["text"], t["size"])
            ratio = contrast(_blend(*[list(map(float, re.findall(r"[\d.]+", t[k]))) for k in ("fg", "bg")]),
                             tuple(map(float, re.findall(r"[\d.]+", t["bg"])))[:3])
            assert ratio >= 4.5, (path, scheme, t["text"], t["fg"], t["bg"], round(ratio, 2))
        for i, a in enumerate(texts):
            for b in texts[i + 1:]:
                ax, ay, aw, ah = a["box"]
                bx, by, bw, bh = b["box"]
                overlap_x = min(ax + aw, bx + bw) - max(ax, bx)
                overlap_y = min(ay + ah, by + bh) - max(ay, by)
                assert not (overlap_x > 1 and overlap_y > 1), (path, a["text"], b["text"])
