"""What the series pages "The mapping procedure" and "Dynamic memory allocation" say
about their captures, checked against the committed captures in snapshots/.

The pages never type an address or a size; their figures and numbers come from
macros. What they do say in words ("the heap does not exist before the first
malloc", "after the write the child's page has a new frame") is a claim of tests/claims.toml,
one test per sentence, so that a re-capture on another kernel or C library that
breaks a sentence fails here instead of leaving the page wrong. The tests assert the
claim, never the exact addresses.

Claims about frame numbers need a capture made with CAP_SYS_ADMIN; without it
pagemap hides the frames and the pages say so instead (the macros decide from the
capture), so those tests are skipped when the frames are hidden.
"""

from __future__ import annotations

import re

import pytest

from roads.figures.select import PageEntry, Region, Selection, Snapshot, select
from tests.claims_support import doc

KIB = 1024
PAGE = 4096


# --------------------------------------------------------------------------- helpers


def at(sample: str, checkpoint: str, *, variant: str | None = None,
       pid: str | int | None = None) -> Selection:
    return select(doc(sample), variant=variant, checkpoint=checkpoint, pid=pid)


def snap(sample: str, checkpoint: str, **kw) -> Snapshot:
    return at(sample, checkpoint, **kw).snapshot


def region(s: Snapshot, address: int) -> Region:
    r = s.region_at(address)
    assert r is not None, f"{address:#x} is unmapped at {s.name}"
    return r


def heap(s: Snapshot) -> Region | None:
    found = [r for r in s.regions if r.pathname == "[heap]"]
    assert len(found) <= 1
    return found[0] if found else None


def pages(s: Snapshot, name: str) -> tuple[PageEntry, ...]:
    ranges = [r for r in s.pagemap if r.name == name]
    assert ranges, f"no range {name!r} at {s.name}"
    return ranges[0].pages


def range_start(s: Snapshot, name: str) -> int:
    return next(r.start for r in s.pagemap if r.name == name)


def frames_known(*page_lists) -> bool:
    return all(p.pfn is not None for ps in page_lists for p in ps if p.present)


def need_frames(*page_lists) -> None:
    if not frames_known(*page_lists):
        pytest.skip("the capture has no frame numbers (no CAP_SYS_ADMIN); the page says so")


def stdout(sample: str, variant: str | None = None) -> str:
    sel = select(doc(sample), variant=variant)
    return sel.run_record.stdout


def exe_regions(s: Snapshot) -> list[Region]:
    exe = s.exe.removesuffix(" (deleted)")
    return [r for r in s.regions if r.pathname.removesuffix(" (deleted)") == exe]


# --------------------------------------------------------------------------- pagewalk


def test_pagewalk_printout_matches_split():
    va = snap("pagewalk", "main").address("answer")
    printed = dict(re.findall(r"^(PML4|PDPT|PD|PT) index\s+(\d+)$", stdout("pagewalk"), re.M))
    offset = int(re.search(r"^offset\s+(0x[0-9a-f]+|0)$", stdout("pagewalk"), re.M).group(1), 16)
    expected = {"PML4": va >> 39 & 0x1FF, "PDPT": va >> 30 & 0x1FF, "PD": va >> 21 & 0x1FF,
                "PT": va >> 12 & 0x1FF}
    assert {k: int(v) for k, v in printed.items()} == expected
    assert offset == va & 0xFFF
    # Put back together, the parts are the address again (bits 63-48 copy bit 47).
    again = (expected["PML4"] << 39 | expected["PDPT"] << 30 | expected["PD"] << 21
             | expected["PT"] << 12 | offset)
    assert again == va


def test_pagewalk_answer_in_private_data():
    s = snap("pagewalk", "main")
    r = region(s, s.address("answer"))
    assert r in exe_regions(s)
    assert r.perms == "rw-p"


def test_pagewalk_page_present_and_exclusive():
    s = snap("pagewalk", "main")
    (page,) = pages(s, "answer-page")
    assert page.vaddr == s.address("answer") & ~0xFFF
    assert page.present and page.exclusive
    # Written: an anonymous copy now, no longer the page cache's.
    assert not page.file_or_shared


# --------------------------------------------------------------------------- demand, anonymous


def anon(checkpoint: str) -> Snapshot:
    return snap("demand", checkpoint, variant="anonymous")


def test_demand_anon_nothing_present_after_mmap():
    ps = pages(anon("after-mmap"), "range")
    assert len(ps) > 1
    assert not any(p.present for p in ps)


def test_demand_anon_reads_present_rss_unchanged():
    before, after = anon("after-mmap"), anon("after-reads")
    assert all(p.present for p in pages(after, "range"))
    start = range_start(before, "range")
    # Match the region by address: the range may have merged with a neighbour.
    assert region(after, start).rss() == region(before, start).rss()


def test_demand_anon_reads_share_one_frame():
    ps = pages(anon("after-reads"), "range")
    need_frames(ps)
    assert len({p.pfn for p in ps}) == 1
    assert not any(p.exclusive for p in ps)


def test_demand_anon_writes_own_frames():
    read, written = pages(anon("after-reads"), "range"), pages(anon("after-writes"), "range")
    assert all(p.present and p.exclusive for p in written)
    need_frames(read, written)
    frames = [p.pfn for p in written]
    assert len(set(frames)) == len(frames)
    assert read[0].pfn not in frames


def test_demand_anon_writes_grow_rss_by_range():
    before, after = anon("after-reads"), anon("after-writes")
    start = range_start(before, "range")
    grown = region(after, start).rss() - region(before, start).rss()
    assert grown == len(pages(after, "range")) * PAGE


# --------------------------------------------------------------------------- demand, file


def filed(checkpoint: str) -> Snapshot:
    return snap("demand", checkpoint, variant="file")


def touched_page(s: Snapshot) -> int:
    """The page the file variant read and wrote: the only one its write took away from
    the page cache (a page-cache page can be exclusive too, when mapped only here)."""
    written = pages(filed("after-writes"), "range")
    copied = [k for k, p in enumerate(written) if p.present and not p.file_or_shared]
    assert len(copied) == 1, f"pages no longer in the page cache: {copied}"
    return copied[0]


def test_demand_file_nothing_present_after_mmap():
    s = filed("after-mmap")
    assert not any(p.present for p in pages(s, "range"))
    r = region(s, range_start(s, "range"))
    assert r.pathname.startswith("/") and r.rss() == 0


def test_demand_file_one_read_maps_many():
    ps = pages(filed("after-reads"), "range")
    present = [k for k, p in enumerate(ps) if p.present]
    assert len(present) > 1
    assert touched_page(filed("after-writes")) in present
    assert all(p.file_or_shared for p in ps if p.present)


def test_demand_file_fault_around_is_one_window():
    ps = pages(filed("after-reads"), "range")
    present = [k for k, p in enumerate(ps) if p.present]
    assert present == list(range(present[0], present[-1] + 1))
    k = touched_page(filed("after-writes"))
    assert present[0] < k < present[-1]


def test_demand_file_rss_matches_present_pages():
    before, after = filed("after-mmap"), filed("after-reads")
    start = range_start(before, "range")
    present = sum(p.present for p in pages(after, "range"))
    assert region(after, start).rss() - region(before, start).rss() == present * PAGE


def test_demand_file_write_copies_one_page():
    read, written = pages(filed("after-reads"), "range"), pages(filed("after-writes"), "range")
    k = touched_page(filed("after-writes"))
    assert written[k].present and written[k].exclusive and not written[k].file_or_shared
    for j, (a, b) in enumerate(zip(read, written)):
        if j != k:
            assert (a.present, a.exclusive, a.file_or_shared) == (b.present, b.exclusive,
                                                                   b.file_or_shared)
    need_frames(read, written)
    assert written[k].pfn != read[k].pfn
    assert all(a.pfn == b.pfn for j, (a, b) in enumerate(zip(read, written)) if j != k)


# --------------------------------------------------------------------------- copy-on-write


def cow(checkpoint: str, pid: str | None = None) -> tuple[PageEntry, ...]:
    return pages(snap("cow", checkpoint, pid=pid), "buffer")


def test_cow_before_fork_exclusive():
    assert all(p.present and p.exclusive for p in cow("before-fork"))


def test_cow_after_fork_shared():
    before, parent, child = cow("before-fork"), cow("parent-after-fork"), cow("child-before-write")
    assert all(p.present and not p.exclusive for p in parent + child)
    need_frames(before, parent, child)
    assert [p.pfn for p in before] == [p.pfn for p in parent] == [p.pfn for p in child]


def test_cow_child_write_copies_one_page():
    shared, written = cow("child-before-write"), cow("child-after-write")
    assert written[0].present and written[0].exclusive
    assert all(not p.exclusive for p in written[1:])
    need_frames(shared, written)
    assert written[0].pfn != shared[0].pfn
    assert [p.pfn for p in written[1:]] == [p.pfn for p in shared[1:]]


def test_cow_parent_keeps_original():
    before, parent = cow("before-fork"), cow("parent-after-child-write")
    assert parent[0].exclusive
    assert all(not p.exclusive for p in parent[1:])
    need_frames(before, parent)
    assert parent[0].pfn == before[0].pfn


# --------------------------------------------------------------------------- probe


def probes() -> dict[str, dict[str, str]]:
    out = {}
    for line in stdout("probe").splitlines():
        fields = dict(word.split("=", 1) for word in line.split())
        out[fields["probe"]] = fields
    return out


def test_probe_page_faults():
    p = probes()
    for name in ("null", "unmapped"):
        assert p[name]["si_code"] == "SEGV_MAPERR" and p[name]["trapno"] == "14"
        assert p[name]["si_addr"] == p[name]["address"]
    assert p["code"]["access"] == "write"
    assert p["code"]["si_code"] == "SEGV_ACCERR" and p["code"]["trapno"] == "14"
    # The code page is mapped (that is what ACCERR means): executable, not writable.
    s = snap("probe", "before-probes")
    r = region(s, s.address("main"))
    assert r.executable and not r.writable


def pf_bits() -> tuple[int, int, int]:
    """The page-fault error code's protection, write and user bits (roads.constants)."""
    from roads.constants import X86_PF_PROT_BIT, X86_PF_USER_BIT, X86_PF_WRITE_BIT
    return tuple(1 << b.value for b in (X86_PF_PROT_BIT, X86_PF_WRITE_BIT, X86_PF_USER_BIT))


def test_probe_error_codes():
    prot, write, user = pf_bits()
    p = probes()
    for name in ("null", "unmapped"):
        assert p[name]["access"] == "read"
        assert int(p[name]["error_code"], 16) == user  # a user-mode read that found no page
    assert p["code"]["access"] == "write"
    assert int(p["code"]["error_code"], 16) == prot | write | user


def test_probe_kernel_half_page_fault():
    from roads.constants import SIGN_BIT_5LEVEL, X86_TRAP_PF
    p = probes()
    for name in ("kernel", "vsyscall"):
        address = int(p[name]["address"], 16)
        # In the upper half and canonical with 4- and 5-level paging alike.
        assert address >> SIGN_BIT_5LEVEL.value == (1 << 64 - SIGN_BIT_5LEVEL.value) - 1
        assert int(p[name]["trapno"]) == X86_TRAP_PF.value
        assert p[name]["si_code"].startswith("SEGV_")
        assert int(p[name]["si_addr"], 16) == address


def test_probe_noncanonical_gp():
    from roads.constants import ADDRESS_BITS, SIGN_BIT_4LEVEL, SIGN_BIT_5LEVEL, X86_TRAP_GP
    levels = doc("probe")["provenance"].get("paging_levels", 4)
    sign = (SIGN_BIT_5LEVEL if levels == 5 else SIGN_BIT_4LEVEL).value
    found = 0
    for p in probes().values():
        address = int(p["address"], 16)
        if address >> sign in (0, (1 << ADDRESS_BITS.value - sign) - 1):
            continue  # canonical: the page tables are consulted
        found += 1
        assert int(p["trapno"]) == X86_TRAP_GP.value
        assert p["si_code"] == "SI_KERNEL"
        assert int(p["si_addr"], 16) == 0
    assert found, "no probe of a non-canonical address"


# --------------------------------------------------------------------------- brk


def test_brk_no_heap_before_malloc():
    assert heap(snap("brk", "before-malloc")) is None


def test_brk_break_at_end_of_data():
    s = snap("brk", "before-malloc")
    assert s.address("brk-before") == max(r.end for r in exe_regions(s))


def test_brk_heap_from_old_to_new_break():
    s = snap("brk", "after-first-malloc")
    h = heap(s)
    assert h is not None
    assert h.start == s.address("brk-before")
    assert h.end == s.address("brk-after-first-malloc")
    assert s.address("first-malloc") in h


def test_brk_first_heap_big_and_mostly_absent():
    from roads.constants import M_TOP_PAD_DEFAULT
    s = snap("brk", "after-first-malloc")
    h = heap(s)
    assert h.size > M_TOP_PAD_DEFAULT.value
    # Resident: the pages from the heap's start to the top chunk's header, after the block.
    written = s.address("first-malloc") + (s.address("first-malloc-header") & ~0x7)
    assert h.rss() == -(-(written - h.start) // PAGE) * PAGE


def test_brk_equal_steps():
    s = snap("brk", "after-growth-2")
    breaks = [s.address(n) for n in ("brk-before", "brk-after-first-malloc",
                                     "brk-after-growth-1", "brk-after-growth-2")]
    steps = {b - a for a, b in zip(breaks, breaks[1:])}
    assert len(steps) == 1
    assert heap(s).end == breaks[-1]


# --------------------------------------------------------------------------- threshold


def th(checkpoint: str) -> Snapshot:
    return snap("threshold", checkpoint)


IS_MMAPPED, PREV_INUSE = 2, 1


def test_threshold_100k_in_heap():
    s = th("after-100k")
    assert s.address("block-100k") in heap(s)


def test_threshold_200k_outside_heap():
    s = th("after-200k")
    block = s.address("block-200k")
    assert block not in heap(s)
    r = region(s, block)
    assert r.anonymous and r.perms == "rw-p" and r.pathname == ""


def test_threshold_200k_header_mmapped():
    from roads.constants import MALLOC_ALIGNMENT, SIZE_SZ
    s = th("after-200k")
    header, asked = s.address("chunk-size-200k"), s.address("request-200k")
    assert header & 0x7 == IS_MMAPPED
    # request2size, then one more size word (no next chunk to lend its prev_size), in pages
    chunk = -(-(asked + SIZE_SZ.value) // MALLOC_ALIGNMENT.value) * MALLOC_ALIGNMENT.value
    assert header & ~0x7 == -(-(chunk + SIZE_SZ.value) // PAGE) * PAGE


def test_threshold_200k_region_merged():
    s = th("after-200k")
    r = region(s, s.address("block-200k"))
    chunk = s.address("chunk-size-200k") & ~0x7
    assert r.size > chunk
    # The chunk starts at a page boundary inside the row: the row began before it or ends after it.
    assert r.start < s.address("block-200k") - 16 or r.end > s.address("block-200k") - 16 + chunk


def test_threshold_free_unmaps():
    before, after = th("after-200k"), th("after-free")
    block = before.address("block-200k")
    assert after.region_at(block) is None
    row = region(before, block)
    chunk = before.address("chunk-size-200k") & ~0x7
    left = [r for r in after.regions if row.start <= r.start and r.end <= row.end]
    assert sum(r.size for r in left) == row.size - chunk


def test_threshold_again_in_heap():
    small_step = _small_step()
    before, s = th("after-free"), th("after-200k-again")
    assert s.address("block-200k-again") in heap(s)
    assert not s.address("chunk-size-200k-again") & IS_MMAPPED
    assert heap(s).end - heap(before).end > small_step


def _small_step() -> int:
    s = snap("brk", "after-first-malloc")
    return s.address("brk-after-first-malloc") - s.address("brk-before")


def test_threshold_heap_headers():
    from roads.constants import MALLOC_ALIGNMENT, SIZE_SZ
    header = th("after-100k").address("chunk-size-100k")
    asked = th("after-200k").address("request-100k")  # recorded after the first checkpoint
    assert header & 0x7 == PREV_INUSE
    align = MALLOC_ALIGNMENT.value
    assert header & ~0x7 == -(-(asked + SIZE_SZ.value) // align) * align
    # The chunk before it is the heap's first, the tcache (as large as in `brk`, the same glibc).
    s = th("after-100k")
    tcache = snap("brk", "after-first-malloc").address("tcache-header") & ~0x7
    assert s.address("block-100k") - 2 * SIZE_SZ.value == heap(s).start + tcache


# --------------------------------------------------------------------------- threads


def thread_stack(s: Snapshot, n: int) -> tuple[Region, Region]:
    stack = region(s, s.address(f"thread-{n}-local"))
    guard = s.region_at(stack.start - 1)
    assert guard is not None
    return stack, guard


def test_threads_stacks_have_guards():
    s = snap("threads", "both-threads")
    stacks = []
    for n in (1, 2):
        stack, guard = thread_stack(s, n)
        assert stack.perms == "rw-p" and stack.anonymous
        assert stack.pathname != "[stack]"
        assert guard.perms.startswith("---") and guard.size == PAGE and guard.end == stack.start
        stacks.append(stack.start)
    assert len(set(stacks)) == 2


def test_threads_stacks_mostly_absent():
    s = snap("threads", "both-threads")
    for n in (1, 2):
        stack, _ = thread_stack(s, n)
        assert stack.rss() * 100 < stack.size


def test_threads_stacks_no_huge_pages():
    s = snap("threads", "both-threads")
    for n in (1, 2):
        stack, _ = thread_stack(s, n)
        assert "nh" in stack.vmflags, stack.vmflags


def test_threads_arenas():
    from roads.constants import HEAP_MAX_SIZE
    s = snap("threads", "both-threads")
    arenas = set()
    for n in (1, 2):
        used = region(s, s.address(f"thread-{n}-malloc"))
        assert used.start % HEAP_MAX_SIZE.value == 0 and used.perms == "rw-p" and used.anonymous
        rest = s.region_at(used.end)
        assert rest is not None and rest.perms.startswith("---")
        assert rest.end - used.start == HEAP_MAX_SIZE.value
        assert rest.rss() == 0
        arenas.add(used.start)
    assert len(arenas) == 2
    assert all(a not in heap(s) for a in arenas)


def test_threads_main_malloc_in_heap():
    s = snap("threads", "both-threads")
    assert s.address("main-malloc") in heap(s)


def test_threads_after_join_still_mapped():
    during, after = snap("threads", "both-threads"), snap("threads", "after-join")
    for n in (1, 2):
        for name in (f"thread-{n}-local", f"thread-{n}-malloc"):
            r = region(during, during.address(name))
            again = region(after, during.address(name))
            assert (again.start, again.end, again.perms) == (r.start, r.end, r.perms)
    assert len(after.regions) == len(during.regions)
    # Kept because they fit glibc's stack cache: the stacks with their guard pages.
    from roads.constants import STACK_CACHE_MAXSIZE
    kept = sum(s.size + g.size for s, g in (thread_stack(during, n) for n in (1, 2)))
    assert kept <= STACK_CACHE_MAXSIZE.value


# --------------------------------------------------------------------------- stackgrow


STACK_POINTS = ("start", "depth-1", "depth-4", "depth-16", "depth-64", "returned")


def main_stack(checkpoint: str) -> Region:
    s = snap("stackgrow", checkpoint)
    (r,) = [r for r in s.regions if r.pathname == "[stack]"]
    return r


def test_stackgrow_grows_never_shrinks():
    sizes = [main_stack(c).size for c in STACK_POINTS]
    assert sizes == sorted(sizes)
    assert sizes[STACK_POINTS.index("depth-64")] > sizes[0]
    assert sizes[-1] == sizes[STACK_POINTS.index("depth-64")]
    assert len({main_stack(c).end for c in STACK_POINTS}) == 1  # it grows downwards


def test_stackgrow_frames_inside_stack():
    frames = []
    for c in STACK_POINTS[1:5]:
        s = snap("stackgrow", c)
        assert s.address(f"frame-{c}") in main_stack(c)
        frames.append(s.address(f"frame-{c}"))
    assert frames == sorted(frames, reverse=True)
