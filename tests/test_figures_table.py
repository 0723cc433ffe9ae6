"""roads.figures.table: the memory-map table, rendered from committed captures."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from roads.figures.regions import memory_map
from roads.figures.select import select
from roads.figures.table import COLUMNS, render_table, row_id
from tests.capture_docs import KERNEL_PAGES, fake_doc, region, snapshot


class Rows(HTMLParser):
    """The rows of a table: (id, classes, the text of each cell as it first shows: its
    hints, hidden until the table's control is opened, left out)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[tuple[str | None, list[str], list[str]]] = []
        self._cell: list[str] | None = None
        self._spans: list[bool] = []  # each open <span>: whether it is a hint

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self.rows.append((attrs.get("id"), (attrs.get("class") or "").split(), []))
        elif tag in ("td", "th") and self.rows:
            self._cell = []
        elif tag == "span":
            self._spans.append("roads-hint" in (attrs.get("class") or "").split())

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1][2].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "span" and self._spans:
            self._spans.pop()

    def handle_data(self, data):
        if self._cell is not None and not any(self._spans):
            self._cell.append(data)


def parse(html: str) -> Rows:
    rows = Rows()
    rows.feed(html)
    return rows


def region_rows(rows: Rows):
    return [r for r in rows.rows if r[0] and "roads-gap" not in r[1]]


@pytest.mark.parametrize("variant", ["pie", "nopie", "static"])
def test_rows_are_the_regions_in_order(variant):
    chosen = select(snapshot("layout"), variant=variant)
    mm = memory_map(chosen)
    rows = region_rows(parse(render_table(mm)))
    assert [r[0] for r in rows] == [row_id(chosen.slug, r.start) for r in chosen.regions]
    for (_, classes, cells), c in zip(rows, mm.regions):
        r = c.region
        assert f"roads-kind-{c.kind}" in classes
        assert cells[0] == f"{r.start:012x}" and cells[1] == f"{r.end:012x}"
        assert cells[3] == r.perms
        assert cells[5] == c.label
        assert len(cells) == len(COLUMNS)


def test_row_ids_are_stable():
    html = render_table(memory_map(select(snapshot("layout"), variant="pie")))
    assert 'id="map-layout-pie-running-555555554000"' in html
    assert 'id="map-layout-pie-running"' in html  # the table itself


def test_sizes_permissions_and_smaps_counters():
    chosen = select(snapshot("layout"), variant="nopie")
    rows = region_rows(parse(render_table(memory_map(chosen))))
    heap = next(cells for _, classes, cells in rows if "roads-kind-heap" in classes)
    record = next(r for r in chosen.checkpoint_record.regions if r.pathname == "[heap]")
    assert heap[2] == "132 KiB"
    assert heap[6] == "[heap]"
    assert heap[7] == f"{record.kb['Rss']} KiB" and heap[8] == f"{record.kb['Pss']} KiB"


def test_gaps_are_rows_with_their_sizes():
    rows = parse(render_table(memory_map(select(snapshot("layout"), variant="pie")))).rows
    gaps = {cells[3] for _, classes, cells in rows if "roads-gap" in classes}
    assert "unmapped, 85.3 TiB" in gaps  # below 0x555555554000
    assert "non-canonical hole, 16.0 EiB" in gaps
    assert "kernel space, 128.0 TiB" in gaps
    assert "unmapped, 4 KiB" in gaps  # the top page of user space is never mapped
    bare = parse(render_table(memory_map(select(snapshot("layout"))), gaps=False)).rows
    assert not [r for r in bare if "roads-gap" in r[1]]


def test_pointers_are_listed_under_the_region_that_holds_them():
    rows = parse(render_table(memory_map(select(snapshot("layout"), variant="pie")))).rows
    holds = {}
    for before, row in zip(rows, rows[1:]):
        if "roads-holds" in row[1]:
            holds[before[0]] = row[2][0]
    text_row = row_id("layout-pie-running", 0x555555555000)
    assert "main" in holds[text_row]
    data = next(v for k, v in holds.items() if "initialized" in v)
    assert "zeroed" in data and "greeting" in data and "(symbol)" in data


def test_values_that_point_nowhere_are_noted():
    html = render_table(memory_map(select(snapshot("threshold"), checkpoint="after-100k")))
    note = re.search(r'<p class="roads-map-note">(.*?)</p>', html).group(1)
    assert "chunk-size-100k" in note


def test_text_is_escaped():
    regions = [region(0x7F0000000000, 0x7F0000001000, "r--p", "/tmp/<b>a&b<i>.dat"), *KERNEL_PAGES]
    html = render_table(memory_map(select(fake_doc(regions, {"<x>": 0x7F0000000010}))))
    assert "<b>" not in html and "&lt;b&gt;a&amp;b&lt;i&gt;.dat" in html
    assert "<x>" not in html and "&lt;x&gt;" in html
    rows = region_rows(parse(html))
    assert rows[0][2][6] == "<b>a&b<i>.dat"


def test_every_part_of_the_table_says_its_table_role():
    """On a phone the rows are laid out as blocks of lines (figures-more.css), which may
    cost a table element its role in a browser's accessibility tree; each carries it.
    A gap row and a row of pointers (cells spanning columns) too."""
    roles = {"table": "table", "thead": "rowgroup", "tbody": "rowgroup", "tr": "row",
             "th": "columnheader", "td": "cell"}
    html = render_table(memory_map(select(snapshot("layout"), variant="pie")))
    assert 'class="roads-gap' in html and 'class="roads-holds"' in html
    tags = re.findall(r"<(table|thead|tbody|tr|th|td)\b([^>]*)>", html)
    assert len(tags) > 100
    wrong = [(tag, attrs) for tag, attrs in tags if f'role="{roles[tag]}"' not in attrs]
    assert not wrong, wrong[:5]


def test_fragment_has_no_blank_line():
    # A blank line would end Markdown's raw HTML block in the middle of the table.
    html = render_table(memory_map(select(snapshot("threads"))))
    assert "\n\n" not in html


def test_recorded_numbers_are_told_from_stray_addresses():
    """Sizes a sample records are not called addresses; a value below mmap_min_addr
    cannot point into mapped memory."""
    from roads.figures.regions import memory_map
    from roads.figures.select import select
    from roads.figures.table import render_table
    from tests.claims_support import doc

    chosen = select(doc("brk"), checkpoint="after-first-malloc")
    mm = memory_map(chosen)
    low = chosen.provenance_record.mmap_min_addr
    html = render_table(mm)
    numbers = [p for p in mm.stray if p.address < low]
    assert numbers, "brk records its request sizes"
    note = html.split("Recorded numbers, too low to be addresses of mapped memory:")[1].split("</p>")[0]
    assert all(f"<code>{p.name}</code>" in note for p in numbers)
    assert "Recorded addresses outside every region" not in html or \
        all(p.address >= low for p in mm.stray if f"<code>{p.name}</code>" in
            html.split("Recorded addresses outside every region:")[1])


def test_what_a_cell_says_beyond_its_words_is_a_hint_under_one_control():
    """A kind's meaning and reason, a gap's meaning and a file's whole path were tooltips
    alone: each is also a hint in its cell, which the table's one control shows."""
    import lxml.html

    from roads.figures.filenames import described
    from roads.figures.regions import KINDS

    mm = memory_map(select(snapshot("layout"), variant="pie"))
    tree = lxml.html.fragment_fromstring(render_table(mm))
    assert tree[0].tag == "details" and tree[0].get("class") == "roads-hints"
    assert len(tree.findall(".//details")) == 1
    rows = {r.get("id"): r for r in tree.iter("tr") if r.get("id")}
    for c in mm.regions:
        cells = rows[row_id(mm.selection.slug, c.region.start)].findall("td")
        kind = cells[COLUMNS.index("kind")]
        assert [h.text_content() for h in kind.find_class("roads-hint")] == \
            [f"{KINDS[c.kind].about}; {c.why}"]
        paths = [h.text_content() for h in cells[COLUMNS.index("name")].find_class("roads-hint")]
        if c.region.pathname.startswith("/"):
            assert paths == [described(c.region)], paths
    gaps = [r for r in tree.iter("tr") if "roads-gap" in (r.get("class") or "")]
    assert gaps
    for gap in gaps:
        hints = [h.text_content() for h in gap.find_class("roads-hint")]
        titled = [e.get("title") for e in gap.iter("span") if e.get("title")]
        assert hints == titled and len(hints) == 1, (hints, titled)
