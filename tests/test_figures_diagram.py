"""roads.figures.diagram: the address-space diagram, rendered by the real ``dot``."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from roads.figures.diagram import (
    COLOURS,
    PALETTE_END,
    PALETTE_START,
    address_label,
    build_graph,
    figure_id,
    finish_svg,
    palette_css,
    render_diagram,
    render_svg,
)
from roads.errors import ToolMissing
from roads.figures.regions import GAP_KINDS, KINDS, memory_map
from roads.figures.select import select
from roads.figures.table import row_id
from roads.units import hex_address
from roads.units import human_size
from tests.capture_docs import KERNEL_PAGES, fake_doc, region, snapshot

REPO = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"


def svg_of(mm, cache_dir=None) -> ET.Element:
    html = render_diagram(mm, cache_dir=cache_dir)
    svg = html[html.index("<svg"):html.index("</svg>") + len("</svg>")]
    return ET.fromstring(svg)


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if cls in (g.get("class") or "").split()]


def texts(element: ET.Element) -> list[str]:
    return [t.text or "" for t in element.iter(f"{SVG}text")]


@pytest.fixture(scope="module")
def layout():
    return memory_map(select(snapshot("layout"), variant="pie"))


@pytest.fixture(scope="module")
def layout_svg(layout):
    return svg_of(layout)


def test_dot_source_is_deterministic_and_needs_no_dot(layout):
    one, two = build_graph(layout).source, build_graph(layout).source
    assert one == two
    # every region is a pinned box that links to its table row
    for c in layout.regions:
        assert f'href="#{row_id(layout.selection.slug, c.region.start)}"' in one


@pytest.mark.dot
def test_one_box_per_region_with_its_colour_class_and_link(layout, layout_svg):
    boxes = groups(layout_svg, "roads-region")
    assert len(boxes) == len(layout.regions)
    slug = layout.selection.slug
    by_id = {g.get("id"): g for g in boxes}
    for c in layout.regions:
        box = by_id[f"{figure_id(slug)}-{c.region.start:x}"]
        assert f"roads-kind-{c.kind}" in box.get("class").split()
        (link,) = box.iter(f"{SVG}a")
        assert link.get(XLINK) == f"#{row_id(slug, c.region.start)}"


@pytest.mark.dot
def test_boxes_are_stacked_high_addresses_on_top(layout, layout_svg):
    tops = []
    for c in layout.regions:  # lowest address first
        (box,) = [g for g in groups(layout_svg, "roads-region")
                  if g.get("id").endswith(f"-{c.region.start:x}")]
        points = next(box.iter(f"{SVG}polygon")).get("points")
        ys = [float(p.split(",")[1]) for p in points.split()]
        tops.append(min(ys))  # SVG y grows downwards
    assert tops == sorted(tops, reverse=True)


@pytest.mark.dot
def test_gaps_are_labelled_breaks(layout_svg):
    labels = {t for g in groups(layout_svg, "roads-gap") for t in texts(g)}
    assert "~ 85.3 TiB unmapped ~" in labels
    assert "~ 16.0 EiB non-canonical hole ~" in labels
    assert "kernel space · 128.0 TiB" in labels
    assert "~ 4 KiB unmapped ~" in labels


@pytest.mark.dot
def test_every_boundary_has_its_address(layout, layout_svg):
    printed = {t for g in groups(layout_svg, "roads-addr") for t in texts(g)}
    for band in layout.bands():
        assert address_label(band.start) in printed
        assert address_label(band.end) in printed
    assert "2⁶⁴" in printed and "0x000000000000" in printed


@pytest.mark.dot
def test_recorded_addresses_and_symbols_are_arrows(layout, layout_svg):
    placed = [p for p in layout.pointers if p.region is not None]
    assert len(groups(layout_svg, "roads-arrow")) == len(placed)
    labels = " ".join(t for g in groups(layout_svg, "roads-pointer") for t in texts(g))
    for p in placed:
        assert f"{p.name}" in labels and f"{p.address:#x}" in labels
    assert "greeting (symbol)" in labels  # a symbol the sample did not record


@pytest.mark.dot
def test_screen_readers_get_a_title_and_a_description(layout, layout_svg):
    assert layout_svg.get("role") == "img"
    assert "layout (pie)" in layout_svg.get("aria-label")
    title = layout_svg.find(f"{SVG}title")
    desc = layout_svg.find(f"{SVG}desc")
    assert title is not None and title.text == layout_svg.get("aria-label")
    assert desc is not None and desc.get("id") == layout_svg.get("aria-describedby")
    assert "[heap]" in desc.text and "non-canonical hole" in desc.text
    assert list(layout_svg)[0] is title  # the first child names the image


@pytest.mark.dot
def test_ids_are_unique_and_prefixed(layout_svg, layout):
    ids = [e.get("id") for e in layout_svg.iter() if e.get("id")]
    assert len(ids) == len(set(ids))
    prefix = figure_id(layout.selection.slug)
    assert all(i.startswith(prefix) or i.startswith(f"a_{prefix}") for i in ids)


@pytest.mark.dot
def test_a_phone_has_a_narrow_drawing_of_the_same_boxes_with_a_numbered_key(layout, layout_svg):
    """The narrow drawing, which figures.css shows on a phone, fits a 390 px phone's
    column (358 px) at the size it is drawn, has every box, link and region key of the
    wide one, its text alternative and ids of its own; each pointer is a number beside
    its box (top down) and the line of the key with that number names it."""
    from roads.figures.diagram import NARROW, text_width

    html = render_diagram(layout)
    wide, narrow = [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", html, re.S)]
    assert ET.tostring(wide) == ET.tostring(layout_svg)
    assert (wide.get("class"), narrow.get("class")) == ("roads-vas", "roads-vas roads-vas-narrow")
    assert float(narrow.get("viewBox").split()[2]) * 4 / 3 <= 358

    def boxes(root):
        return [(g.get("data-roads-region"), g.get("class"), [a.get(XLINK) for a in g.iter(f"{SVG}a")])
                for g in root.iter(f"{SVG}g") if g.get("data-roads-region")]

    assert boxes(narrow) == boxes(wide) and len(boxes(wide)) == len(layout.bands())
    assert narrow.get("aria-label") == wide.get("aria-label")
    assert narrow.find(f"{SVG}desc").text == wide.find(f"{SVG}desc").text
    assert narrow.get("aria-describedby") == narrow.find(f"{SVG}desc").get("id")
    ids = [e.get("id") for root in (wide, narrow) for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))
    for box in groups(narrow, "roads-region") + groups(narrow, "roads-gap"):
        assert all(text_width(t, 8.5) <= NARROW.label_room for t in texts(box))
    placed = [p for p in layout.pointers if p.region is not None]
    marks = [g for g in groups(narrow, "roads-pointer") if "roads-key" not in g.get("class")]
    key = [" ".join(texts(g)).replace("\xa0", " ") for g in groups(narrow, "roads-key")]
    assert len(marks) == len(key) == len(groups(narrow, "roads-arrow")) == len(placed)
    numbers = sorted(marks, key=lambda g: float(g.find(f".//{SVG}text").get("y")))
    assert [texts(g) for g in numbers] == [[str(j + 1)] for j in range(len(placed))]
    for p in placed:
        (line,) = [k for k in key if f" {p.name}" in k and f"{p.address:#x}" in k]
        assert line.startswith(f"{key.index(line) + 1} ")
        # A tap on its number shows those words (its <title>, which readout.js shows).
        (number,) = [g for g in numbers if texts(g) == [line.split()[0]]]
        assert number.find(f"{SVG}title").text == (
            f"{line.split()[0]}: {p.name}{' (symbol)' if p.source == 'symbol' else ''} "
            f"{p.address:#x}")
    # Each number is a Tab stop, as each box is (a link); it and its line of the key
    # carry their pointer's identity, the same in every step of a time-lapse.
    assert all(g.get("tabindex") == "0" for g in numbers)
    assert not [g for g in groups(narrow, "roads-key") if g.get("tabindex")]
    for number in numbers:
        (line,) = [g for g in groups(narrow, "roads-key")
                   if texts(g)[0].split()[0] == texts(number)[0]]
        name = number.find(f"{SVG}title").text.split(": ", 1)[1].rsplit(" ", 1)[0]
        assert number.get("data-roads-pointer") == line.get("data-roads-pointer") == (
            name.removesuffix(" (symbol)"))
    # The wide drawing's pointers say their words in their labels: no title there.
    assert all(g.find(f"{SVG}title") is None for g in groups(wide, "roads-pointer"))


def _narrow(mm) -> ET.Element:
    html = render_diagram(mm)
    return ET.fromstring(re.findall(r"<svg\b.*?</svg>", html, re.S)[1])


def _extent(node: ET.Element) -> tuple[float, float, float, float]:
    """Left, top, right and bottom of a node's polygon, in the SVG's units."""
    points = [tuple(map(float, xy.split(","))) for poly in node.iter(f"{SVG}polygon")
              for xy in poly.get("points").split()]
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return min(xs), min(ys), max(xs), max(ys)


def _baselines(node: ET.Element) -> list[float]:
    return [float(t.get("y")) for t in node.iter(f"{SVG}text")]


@pytest.mark.dot
@pytest.mark.parametrize("sample,variant", [("layout", "pie"), ("brk", None), ("probe", None)])
def test_a_phones_numbers_have_their_words_right_under_their_boxes(sample, variant):
    """On a phone a pointer's number and its line of the key were a screen apart on a
    tall drawing: the key was under the lowest box. Each line is now in the break right
    under the boxes its number is beside (no break between the number and its line),
    inside that break's dashed box, whose own label goes to its foot."""
    from roads.figures.diagram import NARROW, text_width

    mm = memory_map(select(snapshot(sample), variant=variant))
    narrow = _narrow(mm)
    breaks = {g.get("id"): _extent(g) for g in groups(narrow, "roads-gap")}
    numbers = {g.get("id").rpartition("-")[2]: g for g in groups(narrow, "roads-worded")}
    lines = {g.get("id").rpartition("-")[2]: g for g in groups(narrow, "roads-key")}
    assert numbers and numbers.keys() == lines.keys()
    for j, number in numbers.items():
        (at,) = _baselines(number)
        line = _baselines(lines[j])
        between = [b for b in breaks.values() if at < b[1] and b[3] < line[0]]
        assert line[0] > at and not between, (j, texts(lines[j]), between)
        (host,) = [b for b in breaks.values() if b[1] < line[0] and line[-1] < b[3]]
        for text in lines[j].iter(f"{SVG}text"):
            left = float(text.get("x"))
            assert host[0] < left and left + text_width(text.text, 8.5) < host[2], text.text
    # A break with lines of the key has its own label under them, at its foot.
    for g in groups(narrow, "roads-gap"):
        own = _baselines(g)[0]
        held = [y for line in lines.values() for y in _baselines(line)
                if breaks[g.get("id")][1] < y < breaks[g.get("id")][3]]
        assert all(y < own for y in held), (g.get("id"), held, own)
    assert float(narrow.get("viewBox").split()[2]) * 4 / 3 <= 358  # still a phone's width
    assert NARROW.keyed


@pytest.mark.dot
def test_a_key_no_break_under_its_boxes_holds_is_under_the_drawing():
    """A pointer into a region at address 0 (no unmapped break below it) has its line of
    the key under the drawing, the others theirs in the break under their boxes."""
    from roads.figures.diagram import UNDER, key_hosts

    regions = [region(0x0, 0x1000, "r--p", "/build/low"), *KERNEL_PAGES]
    mm = memory_map(select(fake_doc(regions, {"low": 0x10, "local": 0x7FFFFFFFE000})))
    hosts = key_hosts(mm)
    assert [p.name for p in hosts[UNDER]] == ["low"]
    (stack,) = [k for k in hosts if k != UNDER]
    assert [p.name for p in hosts[stack]] == ["local"] and mm.bands()[stack].kind == "unmapped"
    narrow = _narrow(mm)
    (low,) = [g for g in groups(narrow, "roads-key") if "low" in " ".join(texts(g))]
    lowest = max(_extent(g)[3] for g in groups(narrow, "roads-region"))
    assert _baselines(low)[0] > lowest


def test_a_pointers_identity_is_its_name_and_a_repeated_name_is_counted():
    from roads.figures.diagram import pointer_keys
    from roads.figures.regions import Pointer

    named = [Pointer("tcb", 1, "recorded", 0), Pointer("main", 2, "symbol", 0),
             Pointer("tcb", 3, "recorded", 1)]
    assert pointer_keys(tuple(named)) == ("tcb", "main", "tcb #2")


@pytest.mark.dot
def test_same_capture_renders_byte_identical(tmp_path, layout):
    fresh = render_diagram(layout)
    assert render_diagram(layout) == fresh
    cached = render_diagram(layout, cache_dir=tmp_path)
    assert cached == fresh
    assert len(list(tmp_path.glob("*.drawn"))) == 2  # the wide drawing and the narrow
    assert render_diagram(layout, cache_dir=tmp_path) == fresh
    assert "Generated by graphviz" not in fresh and "<!--" not in fresh


@pytest.mark.dot
def test_a_cached_diagram_needs_no_dot(tmp_path, layout, monkeypatch):
    first = render_diagram(layout, cache_dir=tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert render_diagram(layout, cache_dir=tmp_path) == first


def test_missing_dot_says_what_to_install(tmp_path, layout, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolMissing, match="apt-get install graphviz"):
        render_diagram(layout, cache_dir=tmp_path)


@pytest.mark.dot
def test_angle_brackets_in_labels_stay_text():
    weird = "/tmp/<td>&amp;\\n.dat"
    regions = [region(0x7F0000000000, 0x7F0000001000, "r--p", weird), *KERNEL_PAGES]
    mm = memory_map(select(fake_doc(regions, {"<p>": 0x7F0000000010})))
    root = svg_of(mm)  # parses: nothing came out as markup
    assert "<td>&amp;\\n.dat" in texts(root)
    assert any(t.startswith("<p>") for t in texts(root))


@pytest.mark.dot
def test_guard_pages_and_wx_regions_stand_out():
    threads = svg_of(memory_map(select(snapshot("threads"))))
    guards = groups(threads, "roads-guard")
    assert len(guards) == 2
    assert all("no access" in " ".join(texts(g)) for g in guards)
    regions = [region(0x7F0000000000, 0x7F0000001000, "rwxp"), *KERNEL_PAGES]
    wx = svg_of(memory_map(select(fake_doc(regions))))
    (box,) = groups(wx, "roads-wx")
    assert "W+X" in " ".join(texts(box))


@pytest.mark.dot
def test_thread_diagram_shows_arena_and_thread_stacks():
    mm = memory_map(select(snapshot("threads")))
    html = render_diagram(mm)
    assert html.count("roads-kind-thread-stack") >= 2
    assert "roads-kind-arena" in html
    big = human_size(next(c.region.size for c in mm.regions if c.kind == "thread-stack"))
    assert f"thread stack · {big} · rw-p" in html or f"{big} · rw-p" in html


def test_figures_css_holds_the_palette():
    css = (REPO / "docs" / "stylesheets" / "figures.css").read_text()
    start, end = css.index(PALETTE_START), css.index(PALETTE_END) + len(PALETTE_END) + 1
    assert css[start:end] == palette_css(), "regenerate the palette block with palette_css()"
    for kind in KINDS:
        assert kind in COLOURS and f".roads-kind-{kind} " in css
    for kind in GAP_KINDS:
        assert f".roads-gap-{kind} " in css


def test_legend_lists_the_kinds_shown(layout):
    html = render_legend_only(layout)
    for kind in {c.kind for c in layout.regions}:
        assert f"roads-kind-{kind}" in html
    assert "roads-kind-thread-stack" not in html


def render_legend_only(mm) -> str:
    from roads.figures.diagram import legend

    return legend(mm)


@pytest.mark.dot
def test_finish_svg_strips_what_would_change_between_graphviz_builds(layout):
    raw = render_svg(build_graph(layout).source)
    assert raw.startswith("<svg")
    done = finish_svg(raw, layout)
    assert not re.search(r"<title>b\d+", done)


# --- the macros ------------------------------------------------------------------------


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setenv("ROADS_MODE", "frozen")
    monkeypatch.delenv("ROADS_ROOT", raising=False)


def test_memory_map_macro(frozen):
    from macros import figures

    html = figures.memory_map("layout", variant="nopie")
    assert html.startswith('<div class="roads-map" id="map-layout-nopie-running">')
    assert figures.memory_map in figures.MACROS


@pytest.mark.dot
def test_address_space_macro(frozen):
    from macros import figures

    html = figures.address_space("layout", variant="static")
    assert 'id="vas-layout-static-running"' in html and "<svg" in html
    assert 'href="#map-layout-static-running-400000"' in html


def test_macro_errors_are_roads_errors(frozen):
    from macros import figures
    from roads.errors import ConfigError

    with pytest.raises(ConfigError, match="no checkpoint 'nowhere'"):
        figures.memory_map("layout", checkpoint="nowhere")


def test_every_label_reaches_4_5_to_1_and_dark_kinds_stay_apart():
    """Each kind's label colour on its fill, in both schemes (the browser test measures
    the rendered page too); the dark scheme keeps apart the kinds that sit side by side."""
    from roads.figures.diagram import _lab, contrast, dark, label_colour

    for kind, colour in COLOURS.items():
        assert contrast(label_colour(colour, scheme="light"), colour) >= 4.5, kind
        shade = dark(colour, kind)
        assert contrast(label_colour(shade, scheme="dark"), shade) >= 4.5, kind
    for one, other in [("lib-data", "lib-bss"), ("lib-text", "mmap"), ("text", "lib-text"),
                       ("data", "lib-data"), ("stack", "thread-stack"), ("heap", "arena"),
                       ("lib-text", "stack"), ("lib-rodata", "lib-relro")]:
        a, b = _lab(dark(COLOURS[one], one)), _lab(dark(COLOURS[other], other))
        assert sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5 >= 12, (one, other)
    css = palette_css()
    assert '[data-md-color-scheme="slate"] .roads-kind-lib-data { --roads-fill: ' in css
    assert "--roads-label: #e8e9ee;" in css and "--roads-label: #212121;" in css


@pytest.mark.dot
def test_the_lines_of_a_box_label_are_spread(layout_svg):
    """Graphviz spaces a label's lines by its own metrics (9 points at 8.5): the lines of
    every two-line box are LINE_SPACING apart, so a browser's taller font keeps them apart."""
    from roads.figures.diagram import LINE_SPACING

    boxes = groups(layout_svg, "roads-region")
    assert boxes
    for box in boxes:
        ys = [float(t.get("y")) for t in box.iter(f"{SVG}text")]
        assert len(ys) == 2 and ys[1] - ys[0] == pytest.approx(LINE_SPACING, abs=0.02)


@pytest.mark.dot
def test_long_names_are_shortened_with_the_full_name_in_the_tooltip():
    from roads.figures.diagram import LABEL_ROOM, shorten, text_width

    long = "/usr/lib/x86_64-linux-gnu/libLLVM-19-with-a-very-long-name-indeed.so.19.1"
    regions = [region(0x7F0000000000, 0x7F0000001000, "r--p", long), *KERNEL_PAGES]
    root = svg_of(memory_map(select(fake_doc(regions))))
    (box,) = [g for g in groups(root, "roads-region") if "0x7f0000000000" in "".join(g.itertext())]
    title, second = texts(box)
    assert "…" in title and title.startswith("libLLVM") and title.endswith(".19.1")
    assert text_width(title, 8.5) <= LABEL_ROOM and text_width(second, 8.5) <= LABEL_ROOM
    tooltip = box.find(f"{SVG}title").text
    assert long in tooltip
    assert shorten("libc.so.6", LABEL_ROOM, 8.5) == "libc.so.6"


@pytest.mark.dot
def test_the_end_of_the_address_space_is_a_power(layout_svg):
    printed = {t for g in groups(layout_svg, "roads-addr") for t in texts(g)}
    assert "2⁶⁴" in printed and not any("^" in t for t in printed)


@pytest.mark.dot
def test_a_long_pointer_name_is_cut_to_its_room():
    from roads.figures.diagram import POINTER_WIDTH, text_width

    name = "a_pointer_with_a_name_far_longer_than_any_sample_would_give_it"
    regions = [region(0x7F0000000000, 0x7F0000001000, "rw-p"), *KERNEL_PAGES]
    root = svg_of(memory_map(select(fake_doc(regions, {name: 0x7F0000000010}))))
    (label,) = [t for g in groups(root, "roads-pointer") for t in texts(g)]
    assert "…" in label and label.startswith("a_pointer") and label.endswith("0x7f0000000010")
    assert text_width(label.replace("\xa0", " "), 8.5) <= POINTER_WIDTH  # dot writes "  " as " &#160;"


def test_spread_lines_stay_inside_their_box():
    """Three lines in a box too short for the full spacing: spaced as wide as the box
    holds, centred by a browser's metrics; never closer than Graphviz put them."""
    from roads.figures.diagram import ASCENT, DESCENT, spread_lines

    svg = ('<svg xmlns="http://www.w3.org/2000/svg"><g class="node">'
           '<polygon points="0,-40 100,-40 100,-6 0,-6 0,-40"/>'
           '<text x="50" y="-27" font-size="8.50">a</text>'
           '<text x="50" y="-18" font-size="8.50">b</text>'
           '<text x="50" y="-9" font-size="8.50">c</text></g></svg>')
    root = ET.fromstring(spread_lines(svg))
    ys = [float(t.get("y")) for t in root.iter(f"{SVG}text")]
    assert ys[0] - ASCENT * 8.5 >= -40 + 0.99 and ys[-1] + DESCENT * 8.5 <= -6 - 0.99
    assert 9.0 <= ys[1] - ys[0] == pytest.approx(ys[2] - ys[1], abs=0.02)


def test_arrows_into_one_box_end_apart():
    """Pointers whose addresses fall on one spot of a box get arrows ending at distinct
    points, at least PORT_GAP apart, in address order, inside the box."""
    from roads.figures.diagram import ARROW_INSET, PORT_GAP, spread_targets
    from roads.figures.regions import Pointer

    def pointer(name, address):
        return Pointer(name=name, address=address, source="recorded", region=0)

    box = (100.0, 140.0)
    same = [(120.0, pointer(f"p{i}", 0x1000 + i), *box) for i in range(4)]
    ends = [t[0] for t in spread_targets(same)]
    assert ends == sorted(ends) and all(b - a >= PORT_GAP for a, b in zip(ends, ends[1:]))
    assert box[0] + ARROW_INSET <= ends[0] and ends[-1] <= box[1] - ARROW_INSET
    # Too many for a short box: spread evenly over it, still in order and inside.
    crowded = [(120.0, pointer(f"q{i}", 0x2000 + i), *box) for i in range(12)]
    ends = [t[0] for t in spread_targets(crowded)]
    assert ends[0] == box[0] + ARROW_INSET and ends[-1] == box[1] - ARROW_INSET
    assert ends == sorted(set(ends))
    # Arrows already apart stay where their addresses put them.
    apart = [(110.0, pointer("a", 1), *box), (130.0, pointer("b", 2), *box)]
    assert [t[0] for t in spread_targets(apart)] == [110.0, 130.0]


def test_the_keys_words_are_hints_under_a_control_before_it(tmp_path, layout):
    """What each colour stands for was the key's tooltips alone: each item of the key
    holds it as a hint, which one control, right before the key, shows."""
    import lxml.html

    figure = lxml.html.fragment_fromstring(render_diagram(layout, cache_dir=tmp_path))
    key = figure.find_class("roads-legend")[0]
    control = key.getprevious()
    assert control.tag == "details" and control.get("class") == "roads-hints"
    abouts = {k.label: k.about for k in (*KINDS.values(), *GAP_KINDS.values())}
    items = [li for li in key.iter("li") if li.find_class("roads-hint")]
    assert len(items) >= 5
    for li in items:
        hint = li.find_class("roads-hint")[0]
        label = li.text_content()[: -len(hint.text_content())]
        assert hint.text_content() == abouts[label] == li.get("title")
