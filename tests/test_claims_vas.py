"""What docs/all-roads-to-memory/virtual-address-space.md says about its captures.

The page shows each claim's words through ``{{ claim('id') }}``; here each claim has
its test, which reads the captures only through ``tests.claims_support.doc`` so that
the mutation harness (tests/test_claim_mutations.py) can hand it a changed capture
and see it fail. Facts of the machine that can differ elsewhere (the paging mode,
the vsyscall mode, ``vm.mmap_min_addr``, ``randomize_va_space``) are read from the
capture's provenance, and the page switches its words on them the same way.

"""

from __future__ import annotations

import re
from functools import cache

from roads import constants as c
from roads.figures.regions import memory_map
from roads.figures.select import Region, Selection, Snapshot, select
from tests.claims_support import SNAPSHOTS, doc


PAGE = c.PAGE_SIZE.value
# Where the kernel puts the top of the stack under either paging mode (STACK_TOP).
STACK_TOP = (1 << c.MAP_WINDOW_BITS.value) - PAGE
# Every committed capture ("any capture on this site").
SAMPLES = tuple(sorted(path.stem for path in SNAPSHOTS.glob("*.json")))


# --------------------------------------------------------------------------- helpers


def sel(sample: str, **kw) -> Selection:
    return select(doc(sample), **kw)


def layout() -> Selection:
    return sel("layout", variant="pie")


def exe_regions(s: Selection) -> list[Region]:
    return [r for r in s.regions if r.pathname == s.snapshot.exe]


def named(s: Selection, suffix: str) -> list[Region]:
    return [r for r in s.regions if r.pathname.endswith(suffix)]


def one(s: Selection, pathname: str) -> Region:
    found = named(s, pathname)
    assert len(found) == 1, f"{len(found)} regions named {pathname}"
    return found[0]


def region_of(s: Selection, name: str) -> Region:
    region = s.snapshot.region_at(s.snapshot.address(name))
    assert region is not None, f"{name} points into no region"
    return region


def provenance(sample: str, key: str):
    prov = doc(sample)["provenance"]
    assert key in prov, f"{sample}: the capture's provenance has no {key!r}"
    return prov[key]


def user_bits(sample: str) -> int:
    """Bits of user space under the capture's paging mode."""
    levels = provenance(sample, "paging_levels")
    assert levels in (4, 5), levels
    return (c.USER_BITS_5LEVEL if levels == 5 else c.USER_BITS_4LEVEL).value


def kernel_start(sample: str) -> int:
    return (1 << 64) - (1 << user_bits(sample))


def every_snapshot():
    """(sample, variant, checkpoint, snapshot) of every process at every checkpoint of
    every run of every variant of SAMPLES."""
    for sample in SAMPLES:
        for variant, vdoc in doc(sample)["variants"].items():
            for rdoc in vdoc["runs"]:
                for cp in rdoc["checkpoints"]:
                    yield sample, variant, cp["name"], Snapshot.from_dict(cp)


def addresses(sample: str, run: int) -> dict[str, int]:
    return {a.name: a.value for a in sel(sample, run=run).addresses}


def moved(before: Region, after: Region) -> int:
    return after.start - before.start


@cache
def gdb_maps() -> list[list[tuple[int, int, str, str]]]:
    """The maps that starti's gdb session printed, stop by stop: (start, end, perms, objfile)."""
    text = doc("starti")["variants"]["default"]["gdb"]["transcript"]
    line = re.compile(r"^\s*(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+"
                      r"([-rwxsp]{4})\s*(.*)$")
    stops = []
    for block in text.split("Mapped address spaces:")[1:]:
        rows = []
        for raw in block.splitlines():
            if raw.startswith("+"):
                break
            m = line.match(raw)
            if m:
                rows.append((int(m[1], 16), int(m[2], 16), m[3], m[4].strip()))
        stops.append(rows)
    return stops


def gdb_fs_base() -> list[int]:
    text = doc("starti")["variants"]["default"]["gdb"]["transcript"]
    return [int(v, 16) for v in re.findall(r"^\+p/x \$fs_base\n\$\d+ = (0x[0-9a-f]+)$", text, re.M)]


# --------------------------------------------------------------------------- the walk


def test_region_order():
    s = layout()
    exe = exe_regions(s)
    heap = one(s, "[heap]")
    libc = named(s, "/libc.so.6")
    stack = one(s, "[stack]")
    assert max(r.end for r in exe) == heap.start
    assert min(r.start for r in exe) == min(r.start for r in s.regions)
    assert heap.end < min(r.start for r in libc)
    user = [r for r in s.regions if r.end <= 1 << user_bits("layout")]
    assert stack == max(user, key=lambda r: r.start)


def test_null_page_unmapped():
    for sample, variant, checkpoint, snapshot in every_snapshot():
        assert snapshot.region_at(0) is None, (sample, variant, checkpoint)


def test_lowest_region_above_mmap_min_addr():
    for sample, variant, checkpoint, snapshot in every_snapshot():
        floor = provenance(sample, "mmap_min_addr")
        assert isinstance(floor, int) and floor >= 0
        assert min(r.start for r in snapshot.regions) >= floor, (sample, variant, checkpoint)


def test_layout_executable_regions():
    s = layout()
    exe = exe_regions(s)
    assert [r.perms for r in exe] == ["r--p", "r-xp", "r--p", "r--p", "rw-p"]
    assert all(a.end == b.start for a, b in zip(exe, exe[1:]))
    assert region_of(s, "main") == exe[1]
    assert region_of(s, "literal") == exe[2]
    assert region_of(s, "initialized") == region_of(s, "zeroed") == exe[4]


def test_heap_after_executable():
    s = layout()
    assert doc("layout")["variants"]["pie"]["elf"]["interp"]  # dynamically linked
    heap = one(s, "[heap]")
    assert heap.start == exe_regions(s)[-1].end
    assert region_of(s, "small-malloc") == heap
    off = sel("aslr-off")
    assert one(off, "[heap]").start == exe_regions(off)[-1].end


def test_heap_larger_than_request():
    s = layout()
    heap = one(s, "[heap]")
    assert region_of(s, "small-malloc") == heap
    # The first chunk of the heap is the tcache's table; the 64-byte block is the next
    # one, so its user pointer is a chunk header past the table's end.
    table = s.snapshot.address("small-malloc") - 2 * c.SIZE_SZ.value - heap.start
    assert 0 < table < PAGE and table % c.MALLOC_ALIGNMENT.value == 0
    # The one brk step: the table, M_TOP_PAD and a minimal chunk, in whole pages.
    need = table + c.M_TOP_PAD_DEFAULT.value + c.MIN_CHUNK_SIZE.value
    assert heap.size == (need + PAGE - 1) // PAGE * PAGE


def test_small_malloc_heap_large_malloc_mmap():
    s = layout()
    heap = one(s, "[heap]")
    assert region_of(s, "small-malloc") == heap
    large = region_of(s, "large-malloc")
    libc = named(s, "/libc.so.6")
    assert large.anonymous and large.perms == "rw-p"
    assert large.size > 1 << 20 > c.MMAP_THRESHOLD_DEFAULT.value
    assert heap.end < large.start < libc[0].start


def test_large_malloc_region_merged():
    s = layout()
    large = region_of(s, "large-malloc")
    libc = named(s, "/libc.so.6")[0]
    assert large.end == libc.start
    assert large.size > ((1 << 20) + 16 + PAGE - 1) // PAGE * PAGE
    # Without the 1 MiB malloc, the same libraries leave a smaller anonymous region there.
    before = sel("elf2maps", variant="small")
    below_libc = [r for r in before.regions
                  if r.anonymous and r.end == named(before, "/libc.so.6")[0].start]
    assert len(below_libc) == 1 and below_libc[0].perms == large.perms == "rw-p"
    assert below_libc[0].end == large.end and large.start < below_libc[0].start


def test_loader_anonymous_regions():
    first, at_main = gdb_maps()[0], gdb_maps()[1]
    assert not [row for row in first if row[3] == ""], "anonymous regions at the first instruction"
    s = sel("starti", checkpoint="main")
    libc = named(s, "/libc.so.6")[0]
    vvar = one(s, "[vvar]")
    below_libc = s.snapshot.region_at(libc.start - 1)
    below_vvar = s.snapshot.region_at(vvar.start - 1)
    for r in (below_libc, below_vvar):
        assert r is not None and r.anonymous and r.perms == "rw-p" and r.size <= 4 * PAGE
    assert below_libc.end == libc.start and below_vvar.end == vvar.start
    # gdb saw the same two at main, and the thread pointer in the one below libc.
    anon_at_main = {(row[0], row[1]) for row in at_main if row[3] == ""}
    assert {(below_libc.start, below_libc.end), (below_vvar.start, below_vvar.end)} <= anon_at_main
    fs_start, fs_main = gdb_fs_base()[:2]
    assert fs_start == 0 and below_libc.start <= fs_main < below_libc.end


def test_libc_mapped_like_the_executable():
    s = layout()
    libc = named(s, "/libc.so.6")
    assert [r.perms for r in libc] == [r.perms for r in exe_regions(s)]
    assert [r.perms for r in libc] == ["r--p", "r-xp", "r--p", "r--p", "rw-p"]


def test_libraries_and_kernel_pages_order():
    s = layout()
    libc = named(s, "/libc.so.6")
    data = libc[-1]
    after = s.snapshot.region_at(data.end)
    assert data.perms == "rw-p" and after is not None and after.anonymous and after.perms == "rw-p"
    vdso, vvar = one(s, "[vdso]"), one(s, "[vvar]")
    ld_so = named(s, "/ld-linux-x86-64.so.2")
    stack = one(s, "[stack]")
    assert libc[-1].end <= vvar.start < vdso.start < ld_so[0].start
    assert ld_so[-1].end <= stack.start


VSYSCALL_PERMS = {"xonly": "--xp", "emulate": "r-xp"}


def test_vsyscall_mode():
    mode = provenance("layout", "vsyscall")
    assert mode in ("xonly", "emulate", "none")
    for sample in ("layout", "starti", "aslr"):
        assert provenance(sample, "vsyscall") == mode
    found = named(layout(), "[vsyscall]")
    if mode == "none":
        assert found == []
    else:
        assert [r.perms for r in found] == [VSYSCALL_PERMS[mode]]


def test_only_vsyscall_above_user_space():
    s = layout()
    stack = one(s, "[stack]")
    above = [r for r in s.regions if r.start >= stack.end]
    mode = provenance("layout", "vsyscall")
    assert [r.pathname for r in above] == ([] if mode == "none" else ["[vsyscall]"])
    for r in above:
        assert r.start >= kernel_start("layout")


def test_heap_and_stack_terabytes_apart():
    s = layout()
    heap, stack = one(s, "[heap]"), one(s, "[stack]")
    assert stack.start - heap.end > 1 << 40
    between = [r for r in s.regions if heap.end <= r.start and r.end <= stack.start]
    assert any(r.pathname.endswith("libc.so.6") for r in between)
    assert any(r.anonymous for r in between)


def test_not_drawable_to_scale():
    s = layout()
    user = [r for r in s.regions if r.end <= 1 << user_bits("layout")]
    largest = max(user, key=lambda r: r.size)
    assert largest.pathname.endswith("/libc.so.6") and largest.perms == "r-xp"
    # A figure of user space a few thousand pixels tall: the region gets far less than one.
    assert largest.size * 10_000 < 1 << user_bits("layout")


# --------------------------------------------------------------------------- the size of user space


def test_paging_mode_recorded():
    levels = provenance("layout", "paging_levels")
    assert levels in (4, 5)
    for sample in SAMPLES:
        assert provenance(sample, "paging_levels") == levels, sample
    # The probe read 2^47: non-canonical with 4 levels (#GP, trap 13), a canonical
    # unmapped address with 5 (a page fault, trap 14).
    line = re.search(r"^probe=noncanonical .*$", sel("probe").run_record.stdout, re.M)
    assert line, "the probe run printed no line for the non-canonical probe"
    fields = dict(word.split("=", 1) for word in line[0].split())
    assert int(fields["address"], 16) == 1 << c.USER_BITS_4LEVEL.value
    assert fields["trapno"] == ("13" if levels == 4 else "14")


def test_stack_ends_at_task_size():
    for sample, variant in (("layout", "pie"), ("starti", None), ("aslr-off", None)):
        assert one(sel(sample, variant=variant), "[stack]").end == STACK_TOP, sample
    assert one(sel("aslr-off", run=1), "[stack]").end == STACK_TOP
    if provenance("layout", "paging_levels") == 4:
        assert STACK_TOP == (1 << user_bits("layout")) - PAGE


# --------------------------------------------------------------------------- how empty it is


def test_user_space_almost_empty():
    for sample in ("layout", "starti"):
        s = sel(sample, variant="pie" if sample == "layout" else None)
        space = 1 << user_bits(sample)
        assert memory_map(s).mapped / space < 1e-4
        assert s.snapshot.status["VmSize"] * 1024 / space < 1e-4


def test_vsz_is_the_regions_without_vsyscall():
    s = layout()
    total = sum(r.size for r in s.regions)
    vsyscall = sum(r.size for r in s.regions if r.pathname == "[vsyscall]")
    assert (vsyscall > 0) == (provenance("layout", "vsyscall") != "none")
    assert s.snapshot.status["VmSize"] * 1024 == total - vsyscall


def test_vsz_is_not_memory_use():
    status = layout().snapshot.status
    assert status["VmRSS"] * 2 < status["VmSize"]


def test_rss_mostly_file_backed():
    status = layout().snapshot.status
    assert status["RssFile"] * 2 > status["VmRSS"]
    assert status["RssFile"] + status["RssAnon"] + status["RssShmem"] == status["VmRSS"]
    # The files' own pages in their regions (not the private copies made by writes,
    # which count as anonymous) and the vDSO's page: RssFile, to the kB.
    s = layout()
    files = sum(r.rss() - r.counter("Anonymous") for r in s.regions if r.pathname.startswith("/"))
    assert files + one(s, "[vdso]").rss() == status["RssFile"] * 1024


# --------------------------------------------------------------------------- ASLR


def test_aslr_on_everything_moves():
    one_, two = addresses("aslr", 0), addresses("aslr", 1)
    assert one_.keys() == two.keys()
    assert all(one_[k] != two[k] for k in one_)


def test_aslr_every_region_moved_but_vsyscall():
    a, b = sel("aslr", run=0).regions, sel("aslr", run=1).regions
    assert [(r.pathname, r.perms, r.size) for r in a] == [(r.pathname, r.perms, r.size) for r in b]
    stayed = [r.pathname for r, q in zip(a, b) if r.start == q.start]
    mode = provenance("aslr", "vsyscall")
    assert stayed == ([] if mode == "none" else ["[vsyscall]"])
    if mode != "none":
        assert one(sel("aslr"), "[vsyscall]").start == one(layout(), "[vsyscall]").start


def test_mmap_area_moves_as_one():
    first, second = sel("aslr", run=0), sel("aslr", run=1)
    pairs = list(zip(first.regions, second.regions))

    def between(s):
        return one(s, "[heap]").end, one(s, "[stack]").start

    lo, hi = between(first)
    middle = [(r, q) for r, q in pairs if lo <= r.start and r.end <= hi]
    assert any(r.pathname == "[vdso]" for r, _ in middle)
    assert any(r.pathname.endswith("/libc.so.6") for r, _ in middle)
    assert any(r.pathname.endswith("/ld-linux-x86-64.so.2") for r, _ in middle)
    assert len({moved(r, q) for r, q in middle}) == 1


def test_heap_moves_apart_from_exe():
    level = provenance("aslr", "randomize_va_space")
    runs = [sel("aslr", run=n) for n in (0, 1)]
    gaps = [one(s, "[heap]").start - exe_regions(s)[-1].end for s in runs]
    exe_moved = moved(exe_regions(runs[0])[0], exe_regions(runs[1])[0])
    heap_moved = moved(one(runs[0], "[heap]"), one(runs[1], "[heap]"))
    if level >= 2:
        assert all(0 < gap <= c.BRK_RANDOM_RANGE.value + PAGE for gap in gaps)
        assert heap_moved != exe_moved
    else:
        assert gaps == [0, 0] and heap_moved == exe_moved


def test_aslr_keeps_page_offsets():
    one_, two = addresses("aslr", 0), addresses("aslr", 1)
    assert set(one_) > {"stack"}
    for name in one_:
        if name != "stack":
            assert one_[name] % PAGE == two[name] % PAGE, name


def test_page_offsets_match_aslr_off():
    on, off = addresses("aslr", 0), addresses("aslr-off", 0)
    assert on.keys() == off.keys()
    for name in on:
        if name != "stack":
            assert on[name] % PAGE == off[name] % PAGE, name


def test_stack_offset_random():
    one_, two = addresses("aslr", 0), addresses("aslr", 1)
    assert (one_["stack"] - two["stack"]) % c.STACK_ALIGN.value == 0
    for run in (0, 1):
        assert region_of(sel("aslr", run=run), "stack").pathname == "[stack]"
    # A random drop over whole pages' worth of bytes makes every offset equally likely.
    assert c.STACK_RANDOM_BYTES.value % PAGE == 0


def test_aslr_stack_near_top():
    for run in (0, 1):
        end = one(sel("aslr", run=run), "[stack]").end
        below = STACK_TOP - end
        assert 0 <= below <= c.STACK_RANDOM_RANGE.value and below % PAGE == 0, run


def test_aslr_off_runs_identical():
    assert addresses("aslr-off", 0) == addresses("aslr-off", 1)
    runs = doc("aslr-off")["variants"]["default"]["runs"]
    assert runs[0]["stdout"] == runs[1]["stdout"]


def test_aslr_state_verified():
    for run in doc("aslr")["variants"]["default"]["runs"]:
        assert run["aslr_requested"] and not run["aslr_disabled"]
    assert doc("aslr")["provenance"]["randomize_va_space"] > 0
    for run in doc("aslr-off")["variants"]["default"]["runs"]:
        assert run["aslr_disabled"] and run["personality"] & 0x0040000
    # What the kernel did at each process's execve (PF_RANDOMIZE), stop by stop.
    for name, randomized in (("aslr", True), ("aslr-off", False)):
        for run in doc(name)["variants"]["default"]["runs"]:
            assert {cp["randomized"] for cp in run["checkpoints"]} == {randomized}, name
