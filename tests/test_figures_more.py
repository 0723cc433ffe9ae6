"""Figures, part 2: ELF to memory, checkpoint diffs, pages, gdb transcripts, values and
provenance, rendered from the committed captures in snapshots/.

The tests assert properties a re-capture on another machine keeps (the 200 KiB block
comes and goes, the child's frame changes, the indices recombine), checked where
possible against an independent oracle: the chunk header malloc wrote, the indices
the pagewalk sample printed itself, Python-Markdown's own rendering of a fence.
"""

from __future__ import annotations

import html
import re
import shlex
from functools import cache
from pathlib import Path

import lxml.html
import markdown
import msgspec
import pytest

from roads import document
from roads.figures import diff, diffview, elfmap, hints, pageview, provenance, transcript
from roads.figures.regions import KINDS

from roads.words import values
from roads.errors import ConfigError
from roads.capture.project import Project
from roads.figures.select import Selection, select
from roads.units import human_size

ROOT = Path(__file__).resolve().parent.parent
KIB = 1024
PAGE = 4096


@cache
def doc(sample: str) -> document.Capture:
    return Project(ROOT, mode="frozen").document(sample)


def sel(sample: str, **where) -> Selection:
    return select(doc(sample), **where)


def page_up(n: int) -> int:
    return (n + PAGE - 1) & ~(PAGE - 1)


# --------------------------------------------------------------------------- diff


def threshold_step(before: str, after: str) -> diff.MapDiff:
    return diff.diff_selections(sel("threshold", checkpoint=before), sel("threshold", checkpoint=after))


def test_threshold_200k_block_mapped_then_unmapped() -> None:
    header = sel("threshold", checkpoint="after-200k").snapshot.address("chunk-size-200k")
    assert header & 0x2, "malloc's header says the block was mmapped (IS_MMAPPED)"
    chunk = header & ~0x7  # the low bits are flags

    mapped = threshold_step("after-100k", "after-200k")
    changed = [c for c in mapped.changes if c.changed]
    added = [r for c in changed for r in c.added]
    assert sum(hi - lo for lo, hi in added) == chunk >= 200 * KIB
    assert all(not c.removed for c in changed)
    assert [c.pointers_added for c in changed if c.added] == [("block-200k",)]
    assert all(c.kind == "mmap" for c in changed)  # anonymous memory, merged or not

    unmapped = threshold_step("after-200k", "after-free")
    changed = [c for c in unmapped.changes if c.changed]
    removed = [r for c in changed for r in c.removed]
    assert removed == added
    assert [c.pointers_removed for c in changed if c.removed] == [("block-200k",)]
    assert all(not c.added for c in changed)


def test_threshold_second_200k_comes_from_the_heap() -> None:
    again = threshold_step("after-free", "after-200k-again")
    changed = [c for c in again.changes if c.changed and c.what != ("resident",)]
    assert [c.label for c in changed] == ["[heap]"]
    assert changed[0].what == ("grown",)
    grown = sum(hi - lo for lo, hi in changed[0].added)
    assert grown >= 200 * KIB - 132 * KIB  # the heap had 132 KiB, part of it free


def test_diff_matches_by_identity_not_line_number() -> None:
    # Growing the anonymous region shifts nothing else: every other region is unchanged,
    # though the line numbers below it would have moved had a line been added.
    mapped = threshold_step("after-100k", "after-200k")
    regions = sel("threshold", checkpoint="after-100k").regions
    unchanged = [r for c in mapped.changes if not c.changed for r in c.before]
    assert len(unchanged) == len(regions) - 1


def test_forkexec_exec_drops_heap_and_mapping() -> None:
    child = sel("forkexec", checkpoint="child-before-exec")
    execd = sel("forkexec", checkpoint="after-exec")
    assert child.snapshot.pid == execd.snapshot.pid  # execve keeps the process
    d = diff.diff_selections(child, execd)
    assert "[heap]" in [c.label for c in d.of("removed")]
    lost = {name for c in d.changes for name in c.pointers_removed}
    assert {"heap-block", "mapping"} <= lost


def test_parent_and_child_after_fork_have_the_same_map() -> None:
    d = diff.diff_selections(sel("forkexec", checkpoint="before-fork"),
                             sel("forkexec", checkpoint="child-before-exec"))
    assert d.mode == "lineage"
    assert [c for c in d.changes if c.changed] == []  # Rss differences are not reported


def test_aslr_runs_move_everything_but_the_low_12_bits() -> None:
    d = diff.diff_selections(sel("aslr", run=0), sel("aslr", run=1))
    assert d.mode == "runs"
    moved = d.of("moved")
    files = [c for c in d.changes if c.before and c.before[0].pathname.startswith("/")]
    assert files and all("moved" in c.what for c in files)
    assert d.randomized_bits and d.randomized_bits & 0xFFF == 0
    assert all(c.xor & 0xFFF == 0 for c in moved)
    # vsyscall sits at a fixed address in the kernel half: never randomised.
    assert [c.what for c in d.changes if c.label == "[vsyscall]"] == [("unchanged",)]
    html = diffview.render_diff_figure(d)
    assert "the low 12 never do" in html
    # Pointers into page-aligned memory keep their low 12 bits; the stack pointer is
    # also shifted within its page, and the table says so when it happened.
    for p in d.pointers:
        if p.name != "stack":
            assert p.xor & 0xFFF == 0, p.name


def test_aslr_off_runs_do_not_move() -> None:
    d = diff.diff_selections(sel("aslr-off", run=0), sel("aslr-off", run=1))
    assert d.of("moved") == () and d.randomized_bits == 0
    assert "not randomised" in diffview.render_diff_figure(d)


def test_bit_ranges() -> None:
    assert diff.bit_ranges(0) == []
    assert diff.bit_ranges(0b1011_0000) == [(4, 5), (7, 7)]
    assert diff.describe_bits(0xFFF000) == "bits 12–23 (12 bits)"
    assert diff.describe_bits(1 << 40) == "bit 40"


# --------------------------------------------------------------------------- pages


COW = [("before-fork", "parent"), ("parent-after-fork", "parent"), ("child-before-write", "child"),
       ("child-after-write", "child"), ("parent-after-child-write", "parent")]


def cow_pages(checkpoint: str, pid: str):
    return pageview.page_range(sel("cow", checkpoint=checkpoint, pid=pid), "buffer").pages


def test_cow_child_write_copies_one_page() -> None:
    before = cow_pages("child-before-write", "child")
    after = cow_pages("child-after-write", "child")
    assert all(p.present for p in before + after)
    assert [p.exclusive for p in before] == [False] * len(before)  # shared after fork
    assert after[0].exclusive and not any(p.exclusive for p in after[1:])
    if any(p.pfn is None for p in before + after):
        pytest.skip("frame numbers hidden in this capture (no CAP_SYS_ADMIN)")
    assert after[0].pfn != before[0].pfn
    assert [p.pfn for p in after[1:]] == [p.pfn for p in before[1:]]
    parent = cow_pages("parent-after-fork", "parent")
    assert [p.pfn for p in parent] == [p.pfn for p in before]  # same frames as the child's


PART = re.compile(r'<span class="roads-pages-(?:bit|frame)"[^>]*>(.*?)</span>')


def page_cells(html: str) -> list[list[list[str]]]:
    """The page view's rows of pages: for each, its cells after the address, each the
    list of its parts (present bit, exclusive bit, frame)."""
    rows = re.findall(r"<tr><td>\d+</td><td>.*?</td>(.*?)</tr>", html)
    return [[PART.findall(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)] for row in rows]


def test_cow_page_view_marks_the_new_frame() -> None:
    chosen = [sel("cow", checkpoint=c, pid=p) for c, p in COW]
    html = pageview.render_page_view(chosen, "buffer")
    rows = re.findall(r"<tr><td>(\d+)</td>(.*?)</tr>", html)
    assert [int(k) for k, _ in rows] == [0, 1, 2, 3]
    cells = page_cells(html)
    # One column per checkpoint, each cell (present, excl., frame); column 3 is the
    # child after its write.
    assert all(len(row) == len(COW) for row in cells)
    child_after = 3
    assert cells[0][child_after][1] == "<mark>1</mark>"
    frames_hidden = ">hidden<" in html  # a frame number shown as "hidden", not the hidden description
    assert ("<mark><code>" in cells[0][child_after][2]) is not frames_hidden
    assert all("<mark>" not in part for row in cells[1:] for part in row[child_after])
    # The parent, compared with its own column after fork: page 0 is exclusive again
    # (the child took a copy), its frame unchanged.
    parent_last = 4
    assert cells[0][parent_last][1] == "<mark>1</mark>"
    assert "<mark>" not in cells[0][parent_last][2]


def test_zero_page_shared_after_reads() -> None:
    reads = pageview.page_range(sel("demand", variant="anonymous", checkpoint="after-reads"), "range")
    writes = pageview.page_range(sel("demand", variant="anonymous", checkpoint="after-writes"), "range")
    if any(p.pfn is None for p in reads.pages if p.present):
        pytest.skip("frame numbers hidden in this capture (no CAP_SYS_ADMIN)")
    zero = pageview.zero_frames(reads.pages)
    assert len(zero) == 1 and all(p.pfn in zero for p in reads.pages)
    assert pageview.zero_frames(writes.pages) == frozenset()
    html = pageview.render_page_view(
        [sel("demand", variant="anonymous", checkpoint=c) for c in ("after-reads", "after-writes")],
        "range")
    assert html.count("zero page</span>") == len(reads.pages)


def test_hidden_frames_are_said_so() -> None:
    chosen = sel("cow", checkpoint="child-after-write")
    point = chosen.checkpoint_record
    hidden = msgspec.structs.replace(point, pagemap=tuple(
        msgspec.structs.replace(r, pages=tuple(msgspec.structs.replace(p, pfn=None) for p in r.pages))
        for r in point.pagemap))
    blind = Selection(chosen.sample, chosen.variant, chosen.run, hidden, chosen.capture)
    html = pageview.render_page_view([blind], "buffer")
    frames = [row[-1][2] for row in page_cells(html)]
    assert frames == ["hidden"] * 4
    assert "Frame numbers are hidden without CAP_SYS_ADMIN" in html
    walk = pageview.render_page_walk(blind, "buffer")
    assert "hidden without CAP_SYS_ADMIN" in walk and "physical address" not in walk


def test_pages_no_region_holds_are_not_mapped() -> None:
    # mremap moved its buffer away: at 'grown' no region holds the old pages, which
    # pagemap reads as absent; the view says they are not mapped, not merely absent.
    chosen = [sel("mremap", checkpoint=c) for c in ("written", "grown")]
    old = pageview.page_range(chosen[1], "buffer")
    assert all(chosen[1].snapshot.region_at(p.vaddr) is None for p in old.pages)
    html = pageview.render_page_view(chosen, "buffer")
    rows = re.findall(r"<tr><td>\d+</td><td>.*?</td>(.*?)</tr>", html)
    assert len(rows) == len(old.pages)
    grown = [re.findall(r"<td[^>]*>(.*?)</td>", row)[1] for row in rows]
    assert all("<mark>not mapped</mark>" in cell for cell in grown)
    assert f"{len(old.pages)} not mapped" in html and "Not mapped: no region holds" in html
    # Pages of a mapped range never touched stay "not present", folded as before.
    moved = pageview.render_page_view([chosen[1]], "moved")
    assert "pages, not present</td>" in moved and "not mapped" not in moved
    # A run absent everywhere and mapped nowhere folds as "not mapped".
    alone = pageview.render_page_view([chosen[1]], "buffer")
    assert f"{len(old.pages)} pages, not mapped</td>" in alone


@pytest.mark.parametrize("address", [0, 0x555555558040, 0x7FFFFFFFF000 - 1, 0xFFFFFFFFFF600000,
                                     0x0000800000000000, (1 << 64) - 1])
def test_split_recombines(address: int) -> None:
    split = pageview.split_address(address)
    assert split.recombine() == address
    assert all(0 <= i < 512 for i in split.indices) and 0 <= split.offset < PAGE
    assert split.canonical == (address < 1 << 47 or address >= 0xFFFF800000000000)


def test_page_walk_agrees_with_the_sample_printout() -> None:
    chosen = sel("pagewalk")
    address = chosen.snapshot.address("answer")
    split = pageview.split_address(address)
    printed = dict(re.findall(r"^(PML4|PDPT|PD|PT) index\s+(\d+)$", chosen.run_record.stdout, re.M))
    assert printed == {"PML4": str(split.pml4), "PDPT": str(split.pdpt), "PD": str(split.pd),
                       "PT": str(split.pt)}
    html = pageview.render_page_walk(chosen, "answer")
    for index in split.indices:
        assert f"<td>{index}</td>" in html
    page = pageview.find_page(chosen, address)
    assert page is not None and page.present
    if page.pfn is not None:
        assert f"{page.pfn * PAGE + split.offset:#x}" in html


def test_page_walk_of_every_recorded_address_recombines() -> None:
    for sample in ("layout", "threshold", "forkexec", "elf2maps"):
        for a in sel(sample).addresses:
            assert pageview.split_address(a.value).recombine() == a.value


def test_page_errors_list_what_is_there() -> None:
    with pytest.raises(ConfigError, match=r"no pagemap range 'nope' \(ranges: buffer\)"):
        pageview.page_range(sel("cow"), "nope")
    with pytest.raises(ConfigError, match=r"addresses: .*ranges:"):
        pageview.render_page_walk(sel("layout"), "nope")
    assert pageview.checkpoint_specs(["a", ["b", "child"]]) == [("a", None), ("b", "child")]
    with pytest.raises(ConfigError):
        pageview.checkpoint_specs([["a", "b", "c"]])


# --------------------------------------------------------------------------- ELF


def test_elf_to_memory_relro_split_and_small_bss() -> None:
    em = elfmap.elf_map(sel("elf2maps", variant="small"))
    assert len(em.links) == 4
    regions = {k for link in em.links for k in link.regions}
    assert len(regions) == 5  # four PT_LOADs, five regions: RELRO split the data
    data = em.links[-1]
    assert data.relro_applied and len(data.regions) == 2
    offsets = [em.regions[k].region.offset for k in sorted(regions)]
    assert len(offsets) - len(set(offsets)) == 1  # one file offset mapped twice
    assert data.bss_tail > 0 and data.bss_pages is None
    assert all(link.congruent for link in em.links)
    label = elfmap._segment_label(em, data)
    assert "(RELRO)" in label and ".bss" in label and "zeroed tail" in label


def test_elf_to_memory_big_bss_gets_its_own_region() -> None:
    em = elfmap.elf_map(sel("elf2maps", variant="bigbss"))
    data = em.links[-1]
    assert data.bss_pages is not None
    anonymous = [em.regions[k] for k in data.regions if not em.regions[k].region.pathname]
    assert [c.kind for c in anonymous] == ["bss"]
    assert anonymous[0].region.start == data.bss_pages[0]


def bss_breakdowns():
    """(sample, variant, link) of every captured executable segment with a bss."""
    out = []
    for path in sorted(Path(__file__).resolve().parent.parent.glob("snapshots/*.json")):
        for variant in doc(path.stem).variants:
            try:
                em = elfmap.elf_map(sel(path.stem, variant=variant))
            except ConfigError:
                continue  # no ELF record, or the process runs another program
            out += [(path.stem, variant, em, link) for link in em.links if link.bss is not None]
    return out


def test_every_bss_breakdown_adds_up() -> None:
    """The figure's lines under "bss: N bytes" add up to N, big .bss included."""
    found = bss_breakdowns()
    assert any(link.bss_pages for *_, link in found), "no capture with a big .bss"
    for sample, variant, em, link in found:
        lo, hi = link.bss
        assert link.bss_tail + link.bss_page_bytes == hi - lo, (sample, variant)
        lines = elfmap._segment_notes(em, link)
        total = int(re.search(r"bss: (0x[0-9a-f]+) bytes", "\n".join(lines))[1], 16)
        parts = [int(m, 16) for m in re.findall(r"^  (0x[0-9a-f]+) of them", "\n".join(lines), re.M)]
        assert sum(parts) == total == hi - lo, (sample, variant, lines)


def test_elf_to_memory_static_binary_has_no_bias() -> None:
    em = elfmap.elf_map(sel("layout", variant="static"))
    assert em.bias == 0
    assert all(em.segment(l).p_vaddr >= 0x400000 for l in em.links)


def test_elf_to_memory_congruence_shown() -> None:
    em = elfmap.elf_map(sel("layout", variant="pie"))
    for link in em.links:
        seg = em.segment(link)
        assert f"both end in ...{seg.p_offset % PAGE:03x}" in elfmap._segment_label(em, link)


# --------------------------------------------------------------------------- gdb


def test_fence_outlasts_backticks_and_markdown_escapes() -> None:
    text = "before\n```\n<script>alert(1)</script> & ````\nafter\n"
    block = transcript.fenced(text, "text")
    assert block.startswith("`````text\n") and block.endswith("\n`````\n")
    html = markdown.markdown(block, extensions=["pymdownx.superfences"])
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "after" in html and html.count("<pre") == 1  # not closed early


def test_gdb_session_is_the_transcript() -> None:
    chosen = sel("starti")
    text = chosen.variant_record.gdb.transcript
    block = transcript.render_gdb_session(chosen)
    lines = re.findall(r'<span class="roads-gdb-line[^"]*">(.*?)</span>', block)
    # Each line as gdb printed it, the script's echoed commands (+cmd) after gdb's prompt.
    shown = [f"(gdb) {line[1:]}" if line.startswith("+") else line
             for line in text.strip("\n").split("\n")]
    assert [html.unescape(line) for line in lines] == shown
    assert "Mapped address spaces" in block and "\n" not in block.rstrip("\n")
    commands = re.findall(r'<span class="roads-gdb-line roads-gdb-command">(.*?)</span>', block)
    assert commands and all(html.unescape(c).startswith("(gdb) ") for c in commands)
    assert "(gdb) info proc mappings" in [html.unescape(c) for c in commands]


def test_gdb_session_escapes_its_text() -> None:
    chosen = sel("starti")
    record = msgspec.structs.replace(chosen.variant_record.gdb,
                                     transcript="+p $x\n<script>alert(1)</script> & `x`\r\n")
    fake = type("Chosen", (), {"variant_record": msgspec.structs.replace(chosen.variant_record,
                                                                         gdb=record),
                               "sample": "<b>starti", "variant": chosen.variant})()
    block = transcript.render_gdb_session(fake)
    assert "<script>" not in block and "&lt;/script&gt; &amp; `x`</span>" in block and "\r" not in block
    assert "<b>" not in block and "on &lt;b&gt;starti" in block  # the name and description too


def test_gdb_session_missing_names_the_variants() -> None:
    with pytest.raises(ConfigError, match="no gdb transcript"):
        transcript.render_gdb_session(sel("layout"))
    with pytest.raises(ConfigError, match="not a code block language"):
        transcript.fenced("x", "text\n```")


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("sample, path, where, expected", [
    ("voidmain", "exit_code", {}, "13"),
    ("intmain", "exit_code", {}, "0"),
    ("layout", "region:[heap].size", {"variant": "pie"}, "132 KiB"),
    ("layout", "elf:e_type", {"variant": "pie"}, "ET_DYN"),
    ("layout", "elf:e_type", {"variant": "nopie"}, "ET_EXEC"),
    ("layout", "elf:segment:0.p_vaddr", {"variant": "nopie"}, "0x400000"),
    ("layout", "provenance:page_size", {}, "4 KiB"),
    ("layout", "count:loads", {"variant": "pie"}, "4"),
    ("threshold", "region:[stack].start", {}, "0x7ffffffde000"),
])
def test_values_resolve(sample: str, path: str, where: dict, expected: str) -> None:
    assert values.lookup(doc(sample), path, **where) == expected


def test_a_gap_is_measured_between_the_regions_the_selectors_name() -> None:
    """gap:LOWER..HIGHER: from the highest end of LOWER's regions to the lowest start of
    HIGHER's, read from the regions themselves; #N picks one of several."""
    regions = sel("threshold").regions
    libc = [r for r in regions if r.filename == "libc.so.6"]
    stack = next(r for r in regions if r.pathname == "[stack]")
    heap = next(r for r in regions if r.pathname == "[heap]")
    d = doc("threshold")
    assert values.lookup(d, "gap:libc.so.6..[stack]", fmt="int") == str(stack.start - libc[-1].end)
    assert values.lookup(d, "gap:libc.so.6#0..[stack]", fmt="int") == \
        str(stack.start - libc[0].end)
    assert values.lookup(d, "gap:[heap]..libc.so.6", fmt="int") == str(libc[0].start - heap.end)
    assert values.lookup(d, "gap:[heap]..[stack]") == human_size(stack.start - heap.end)


def test_value_addresses_and_formats() -> None:
    d = doc("threshold")
    block = sel("threshold", checkpoint="after-200k").snapshot.address("block-200k")
    # Recorded at the second checkpoint: found without naming it.
    assert values.lookup(d, "address:block-200k") == f"{block:#x}"
    assert values.lookup(d, "address:block-200k", fmt="int") == str(block)
    assert values.lookup(d, "address:block-200k.offset") == f"{block & 0xFFF:#x}"
    assert block & 0xFFF == 0x10  # a page start plus the chunk header
    assert values.lookup(d, "region:@block-200k.kind") == "anonymous mapping"
    assert values.lookup(d, "count:regions") == str(len(sel("threshold").regions))
    split = pageview.split_address(block)
    assert [values.lookup(d, f"address:block-200k.{f}") for f in ("pml4", "pdpt", "pd", "pt")] \
        == [str(i) for i in split.indices]
    assert values.lookup(d, "region:[heap].size", fmt="hex") == "0x21000"
    # The symbol table plus the load bias lands where the sample saw main.
    assert values.lookup(doc("layout"), "symbol:main", variant="pie") == \
        values.lookup(doc("layout"), "address:main", variant="pie")


@pytest.mark.parametrize("path, message", [
    ("address:nope", r"no recorded address 'nope' \(recorded: block-100k, chunk-size-100k"),
    ("region:libc.so.6", r"5 regions match 'libc.so.6'; add #N to pick one: #0 0x"),
    ("region:[heap].Bogus", r"no field 'Bogus'; fields: start, end, size"),
    ("elf:section:.data.sh_bogus", r"no field 'sh_bogus' \(fields: name, sh_type, sh_flags"),
    ("bogus", r"unknown value; a plain name is one of exit_code"),
    ("nope:x", r"unknown prefix 'nope:'; prefixes: address:, symbol:, region:"),
    ("count:things", r"count: is followed by regions"),
    ("gap:[heap]", r"gap: is followed by LOWER\.\.HIGHER"),
    ("gap:[stack]..[heap]", r"'\[heap\]' \(0x[0-9a-f]+\) does not lie above '\[stack\]'"),
    ("gap:[heap]..nope", r"no region 'nope'; regions: "),
    ("stdout", None),
])
def test_value_errors_name_sample_and_path(path: str, message: str | None) -> None:
    if message is None:
        with pytest.raises(ConfigError, match=r"'stdout'.*text, it has no hex form"):
            values.lookup(doc("threshold"), path, fmt="hex")
        return
    with pytest.raises(ConfigError) as info:
        values.lookup(doc("threshold"), path)
    text = str(info.value)
    assert text.startswith("sample 'threshold': value ") and repr(path) in text
    assert re.search(message, text), text


@pytest.mark.parametrize("sample, variant, path, named, word", [
    ("threshold", None, "address:block-100k.pmd", "block-100k", "pmd"),
    # Recorded only from the second checkpoint on: read there, where the name is.
    ("threshold", None, "address:block-200k.pmd", "block-200k", "pmd"),
    ("threshold", None, "region:[heap].siz", "[heap]", "siz"),
    ("threshold", None, "region:libc.so.6#1.prems", "libc.so.6#1", "prems"),
    ("threshold", None, "region:@block-100k.siz", "@block-100k", "siz"),
    ("demand", "anonymous", "page:range#0.pfm", "range#0", "pfm"),
])
def test_value_misspelt_field_is_named(sample: str, variant: str | None, path: str,
                                       named: str, word: str) -> None:
    """A word after the last dot that is no field is told as such, with the fields:
    not as a name that does not exist, listing the very name that was written."""
    with pytest.raises(ConfigError) as info:
        values.lookup(doc(sample), path, variant=variant)
    text = str(info.value)
    assert f"{named!r} is there, but it has no field {word!r}; fields: " in text, text
    assert repr(path) in text


# --------------------------------------------------------------------------- provenance


def test_provenance_caption_says_where_numbers_come_from() -> None:
    chosen = sel("layout", variant="pie")
    prov = chosen.provenance_record
    text = provenance.caption(chosen)
    for part in (prov.kernel, prov.glibc, prov.arch, f"THP {prov.thp}", "4 KiB pages",
                 "-fPIE -pie", "checkpoint running", "(pie)"):
        assert part in text, part
    assert "ASLR off (personality ADDR_NO_RANDOMIZE, verified)" in text
    # The whole compile command, on the page and not only in a tooltip (no keyboard or
    # tap reaches a title): as the capture recorded it.
    argv = provenance.provenance(chosen).gcc_argv[0]
    assert f"{provenance.gcc_version(prov.gcc)}: {shlex.join(argv)}" in text
    shown = provenance.caption_html(chosen)
    assert "title=" not in shown
    assert re.search(r'<code class="roads-gcc">gcc <span class="roads-option">-O0</span> .*'
                     r'samples/layout\.c <span class="roads-option">-o</span> layout</code>', shown)


def test_provenance_of_two_variants_gives_both_flags() -> None:
    text = provenance.caption([sel("layout", variant="pie"), sel("layout", variant="nopie")])
    assert "(pie vs nopie)" in text and "-fPIE -pie " in text and " vs gcc -O0 -g -fno-pie -no-pie " in text


def test_provenance_aslr_on_and_runs() -> None:
    text = provenance.caption(sel("aslr", run=1))
    assert "ASLR on" in text and "run 1 of 2" in text and "NOT" not in text
    both = provenance.caption([sel("aslr", run=0), sel("aslr", run=1)])
    assert "runs 0 and 1" in both


def _aslr_off_with(**changes) -> Selection:
    """The aslr-off sample's selection, its checkpoint record changed by ``changes``."""
    chosen = sel("aslr-off")
    changed = msgspec.structs.replace(chosen.checkpoint_record, **changes)
    return Selection(chosen.sample, chosen.variant, chosen.run, changed, chosen.capture)


def test_provenance_flags_a_run_that_did_not_get_what_it_asked() -> None:
    assert sel("aslr-off").checkpoint_record.randomized is False
    odd = _aslr_off_with(randomized=True)
    assert "NOT turned off as asked" in provenance.caption(odd)
    assert "roads-provenance-warning" in provenance.caption_html(odd)
    # A capture made before ``randomized`` was recorded: judged from the personality.
    old = _aslr_off_with(personality=0, randomized=None)
    assert "NOT turned off as asked" in provenance.caption(old)


def test_provenance_names_what_randomize_va_space_1_moves() -> None:
    """At 1 the stack, the mmap area, the vDSO and a PIE move; the caption said "stack,
    mmap and vDSO only", which the virtual address space page contradicts (a PIE's
    load address moves whenever PF_RANDOMIZE is set: load_elf_binary)."""
    chosen = sel("aslr", run=1)
    level_1 = msgspec.structs.replace(chosen.provenance_record, randomize_va_space=1)
    capture = msgspec.structs.replace(chosen.capture, provenance=level_1)
    words = provenance.caption(Selection(chosen.sample, chosen.variant, chosen.run,
                                         chosen.checkpoint_record, capture))
    assert "ASLR on (all but the heap's own offset)" in words


def test_provenance_tells_a_layout_by_its_execve_not_the_personality_at_the_stop() -> None:
    """A layout is chosen at execve: a program that cleared ADDR_NO_RANDOMIZE after its
    own still runs as laid out without randomisation, and one that cleared it and ran
    execve again runs randomised, by its own doing, not roads' failing."""
    cleared = _aslr_off_with(personality=0, randomized=False)
    text = provenance.caption(cleared)
    assert "ASLR off (laid out under personality ADDR_NO_RANDOMIZE, which the program " \
           "cleared later; verified)" in text and "NOT" not in text
    assert "roads-provenance-warning" not in provenance.caption_html(cleared)
    again = provenance.caption(_aslr_off_with(personality=0, randomized=True))
    assert f"ASLR on (full), turned back on at an execve: {provenance.BACK_ON}" in again \
        and "set-user-ID" in again and "NOT" not in again


def test_with_provenance_is_its_own_html_block() -> None:
    out = provenance.with_provenance("| a |\n|---|\n| 1 |\n\n\n", sel("layout"))
    head, caption = out.split("\n\n")
    assert head == "| a |\n|---|\n| 1 |" and caption.startswith('<p class="roads-provenance">')
    html = markdown.markdown(out, extensions=["tables"])
    assert "<table>" in html and 'class="roads-provenance"' in html


def test_compiler_flags() -> None:
    argv = ["gcc", "-O0", "-g", "-Isamples", "-I", "inc", "samples/x.c", "-o", "x", "-pthread"]
    assert provenance.compiler_flags(argv) == ("-O0", "-g", "-pthread")


# --------------------------------------------------------------------------- rendering


@pytest.mark.dot
def test_svg_figures_render_byte_identical(tmp_path: Path) -> None:
    def figures(cache_dir: Path) -> list[str]:
        return [
            elfmap.render_elf_figure(elfmap.elf_map(sel("elf2maps", variant="bigbss")), cache_dir=cache_dir),
        ]

    first = figures(tmp_path / "a")
    again = figures(tmp_path / "b")  # a fresh cache: dot runs again
    cached = figures(tmp_path / "a")
    assert first == again == cached
    for html in first:
        assert "\n\n" not in html  # one HTML block for Markdown
        assert html.count("<svg") == 1 and 'role="img"' in html and "<desc id=" in html
        assert not re.search(r"/proc/\d+", html)  # no pid: it changes with every capture


def test_diff_figure_outlines_the_change_and_draws_it_to_scale() -> None:
    step = threshold_step("after-100k", "after-200k")
    chunk = sel("threshold", checkpoint="after-200k").snapshot.address("chunk-size-200k") & ~0x7
    html = diffview.render_diff_figure(step)
    # One row for the grown region, its box before and after; the rest folded away.
    rows = re.findall(r'<div class="roads-diff-row ([^"]*)">(.*?)</div></div>', html)
    assert [classes for classes, _ in rows] == ["roads-change-grown"]
    assert rows[0][1].count('class="roads-diff-box roads-kind-mmap"') == 2
    assert "region groups unchanged" in html and f"+{human_size(chunk)}" in html.replace("\u00a0", " ")
    # The size bars are to scale: the after box is the longer by exactly the growth.
    grown = step.of("grown")[0]
    widths = [float(w) for w in re.findall(r'class="roads-diff-bar".*?width:([0-9.]+)%', rows[0][1])]
    assert widths == [round(100 * grown.size_before / grown.size_after, 1), 100.0]
    # What the bars are is said in the legend under the figure, not in their tooltip alone.
    assert html.count('class="roads-diff-bar" title="size"') == 2
    assert "larger after; size bars to scale" in html
    assert "<svg" not in html  # HTML that reflows on a phone, no drawing to scroll


@pytest.mark.dot
def test_elf_figure_names_relro_and_bss(tmp_path: Path) -> None:
    html = elfmap.render_elf_figure(elfmap.elf_map(sel("elf2maps", variant="bigbss")), cache_dir=tmp_path)
    svg = html.replace("&#160;", " ")
    for text in ("PT_LOAD #3", "RELRO", "bss pages", "program bss", "offset 0x2000 is mapped twice",
                 "load bias 0x555555554000"):
        assert text in svg, text


def test_html_figures_render_byte_identical() -> None:
    def figures() -> list[str]:
        cow = [sel("cow", checkpoint=c, pid=p) for c, p in COW]
        return [
            pageview.render_page_view(cow, "buffer"),
            pageview.render_page_walk(sel("pagewalk"), "answer"),
            diffview.render_diff(threshold_step("after-200k", "after-free")),
            transcript.render_gdb_session(sel("starti")),
            provenance.caption_html(cow),
        ]

    first, again = figures(), figures()
    assert first == again
    for html in first:
        if not html.startswith("```"):  # HTML blocks: a blank line would end them
            assert "\n\n" not in html.rstrip("\n")


# --------------------------------------------------------------------------- titles

NODE_ID = re.compile(r"^[A-Za-z_]{1,4}\d*(?:->[A-Za-z_]{1,4}\d*)?$|^\d+$")


@pytest.mark.dot
def test_no_figure_shows_a_node_id_as_its_title() -> None:
    """Browsers show an SVG <title> on hover and screen readers read it: a Graphviz node
    name ("hl", "m1", "b3->p3") must never be one."""
    from roads.figures.diagram import render_diagram
    from roads.figures.regions import memory_map

    figures = [
        render_diagram(memory_map(sel("layout", variant="pie"))),
        elfmap.render_elf_figure(elfmap.elf_map(sel("elf2maps", variant="bigbss"))),
        diffview.render_diff_figure(diff.diff_selections(sel("forkexec", checkpoint="child-before-exec"),
                                                     sel("forkexec", checkpoint="after-exec"))),
        diffview.render_diff_figure(threshold_step("after-100k", "after-200k")),
    ]
    titles = [t for f in figures for t in re.findall(r"<title>([^<]*)</title>", f)]
    assert titles, "the figures lost their tooltips"
    assert [t for t in titles if NODE_ID.match(t.strip())] == []


def test_diff_description_counts_in_good_grammar() -> None:
    one = diffview.describe(threshold_step("after-100k", "after-200k"))[0]
    none = diffview.describe(diff.diff_selections(sel("aslr-off", run=0), sel("aslr-off", run=1)))[0]
    assert re.search(r": (1 region group|[02-9]\d* region groups|nothing) changed$", one), one
    assert none.endswith("nothing changed"), none


@pytest.mark.parametrize("address", [0, 0x555555558040, (1 << 56) - 1, 0xFF00000000000000,
                                     0x0100000000000000])
def test_split_with_five_levels(address: int) -> None:
    split = pageview.split_address(address, 5)
    assert split.recombine() == address
    assert len(split.indices) == 5 and split.pml5 == (address >> 48) & 0x1FF
    assert split.canonical == (address < 1 << 56 or address >= 0xFF00000000000000)


def test_page_walk_follows_the_captures_paging_mode() -> None:
    """With 5-level paging the walk starts at a PML5 and 0x800000000000 is canonical."""
    import copy

    five = copy.deepcopy(Project(ROOT, mode="frozen").read("pagewalk"))  # decoded by select
    five["provenance"]["paging_levels"] = 5
    chosen = select(five)
    html = pageview.render_page_walk(chosen, "answer")
    assert "PML5 index" in html and "bits 63–57" in html
    assert "PML5" not in pageview.render_page_walk(sel("pagewalk"), "answer")
    assert values.value(chosen, "address:answer.pml5") == "0"
    assert values.value(sel("pagewalk"), "address:answer.pml5") == "none"


# --------------------------------------------------------------------------- hints


def _boxes(figure: str) -> list[tuple[str, list[str], str]]:
    """Each titled box of a diff figure: (its tooltip, the whole lines its hint shows, the
    hint's text)."""
    tree = lxml.html.fragment_fromstring(figure)
    out = []
    for box in tree.xpath('//div[contains(@class, "roads-diff-box")][@title]'):
        hint = box.xpath('./span[contains(@class, "roads-hint")]')
        assert len(hint) == 1, lxml.html.tostring(box)
        out.append((box.get("title"), [c.text_content() for c in hint[0].iter("code")],
                    "\n".join(t for t in hint[0].itertext())))
    return out


@pytest.mark.parametrize("pair", [("child-before-exec", "after-exec"), None],
                         ids=["execve", "threshold"])
def test_diff_boxes_hold_their_whole_lines_behind_one_control(pair) -> None:
    """A box names its object shortened and counts its regions; the whole line of maps of
    each region (its tooltip, once) is in the box too, as a hint that the figure's one
    control shows: one <details>, first in the figure, for all the boxes."""
    if pair:
        step = diff.diff_selections(sel("forkexec", checkpoint=pair[0]),
                                    sel("forkexec", checkpoint=pair[1]))
    else:
        step = threshold_step("after-100k", "after-200k")
    figure = diffview.render_diff_figure(step)
    tree = lxml.html.fragment_fromstring(figure)
    assert [d.get("class") for d in tree.iter("details")] == ["roads-hints"]
    assert tree[0].tag == "details" and tree[0][0].tag == "summary"
    boxes = _boxes(figure)
    assert boxes
    for title, lines, _ in boxes:
        assert lines == title.split("; ")
    assert any(len(lines) > 1 for _, lines, _ in boxes) or not pair, \
        "the execve figure has boxes of several regions"


def test_diff_box_hint_names_the_kind_and_the_recorded_pages() -> None:
    cow = [sel("cow", checkpoint=c, pid=p) for c, p in COW]
    figure = diffview.render_diff_figure(diff.diff_selections(cow[2], cow[3]))
    tree = lxml.html.fragment_fromstring(figure)
    cells = [c.get("title") for c in tree.xpath('//span[contains(@class, "roads-diff-page")][@title]')]
    assert cells, "no recorded page in the cow diff"
    said = [text for _, _, text in _boxes(figure)]
    for cell in cells:
        assert any(cell in text for text in said), cell
    labels = {k.label for k in KINDS.values()}
    assert all(text.split("\n")[0] in labels for text in said), said


def test_hints_control_and_hint_markup() -> None:
    assert hints.control("S", "B") == ('<details class="roads-hints"><summary>S</summary>'
                                       '<p class="roads-hints-body">B</p></details>')
    assert hints.hint("x", "y") == '<span class="roads-hint y">x</span>'


@pytest.mark.dot
def test_elf_figure_on_a_phone_says_each_regions_kind_and_why(tmp_path: Path) -> None:
    """The phone's list says what each region is and why (its tooltip, once)."""
    em = elfmap.elf_map(sel("elf2maps", variant="bigbss"))
    narrow = elfmap.narrow_html(em)
    items = re.findall(r'<li class="roads-kind-([^"]*)"([^>]*)>(.*?)</li>', narrow)
    assert items
    for kind, attributes, text in items:
        assert "title=" not in attributes
        assert f"<br>{html.escape(KINDS[kind].label)}: " in text, text
    assert "p_memsz past p_filesz, anonymous pages" in narrow
