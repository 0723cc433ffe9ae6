"""What "Files, accounting and the page table's bits" says about its captures: one file
page mapped shared, private and shared again, and an anonymous shared page across fork
(filemap); a major fault on a cold file (filemap's cold-* checkpoints); smaps
accounting after fork (cow); a transparent huge page (hugepage); executing data (nx);
and the paging mode the build probed.

Frame numbers need a capture made with CAP_SYS_ADMIN; the tests that compare them skip
when they are hidden, as the other series tests do. Bits and sizes come from
roads.constants.
"""

from __future__ import annotations

from roads import constants as c
from tests.claims_support import doc
from tests.test_claims_series_b import at, need_frames, pages, region, snap

PAGE = c.PAGE_SIZE.value
KIB = 1024


def fm(checkpoint: str, **kw):
    return snap("filemap", checkpoint, **kw)


def mapping(checkpoint: str, name: str, **kw):
    """The page of range ``name`` and the region holding it, at ``checkpoint``."""
    s = fm(checkpoint, **kw)
    (page,) = pages(s, name)
    return page, region(s, s.address(name))


def recorded(sample: str, checkpoint: str, name: str, **kw) -> int:
    return snap(sample, checkpoint, **kw).address(name)


def uss(r) -> int:
    return r.kb["Private_Clean"] + r.kb["Private_Dirty"]


# --------------------------------------------------------------------------- mmap as an API


def test_filemap_one_frame_three_mappings():
    seen = [mapping("read", name) for name in ("shared", "private", "view")]
    assert all(p.present and p.file_or_shared and not p.exclusive for p, _ in seen)
    assert all(r.pathname == "/build/filemap.dat" for _, r in seen)
    # The page's table shows the range 'mappings': the three, in this order.
    s = fm("read")
    assert [p.vaddr for p in pages(s, "mappings")] == [s.address(n) for n in ("shared", "private", "view")]
    need_frames([p for p, _ in seen])
    assert len({p.pfn for p, _ in seen}) == 1


def test_filemap_pss_divides():
    regions = [mapping("read", name)[1] for name in ("shared", "private", "view")]
    for r in regions:
        assert r.kb["Rss"] * KIB == PAGE and r.kb["Shared_Clean"] == r.kb["Rss"]
        assert r.kb["Pss"] == r.kb["Rss"] // len(regions)   # smaps rounds down
        assert uss(r) == 0


def test_filemap_private_write_copies():
    before, _ = mapping("read", "private")
    after, r = mapping("written", "private")
    assert after.present and after.exclusive and not after.file_or_shared
    assert r.kb["Anonymous"] * KIB == PAGE == r.kb["Private_Dirty"] * KIB
    assert r.pathname == "/build/filemap.dat"   # still the file's mapping
    need_frames([before, after])
    assert after.pfn != before.pfn


def test_filemap_shared_write_same_frame():
    before, _ = mapping("read", "shared")
    shared, r = mapping("written", "shared")
    view, v = mapping("written", "view")
    assert shared.file_or_shared and not shared.exclusive and r.kb["Anonymous"] == 0
    # the private copy left: two mappings of the page now, so each is charged half
    assert r.kb["Pss"] * 2 == r.kb["Rss"] == v.kb["Pss"] * 2
    need_frames([before, shared, view])
    assert before.pfn == shared.pfn == view.pfn


def test_filemap_shared_write_reaches_file():
    assert recorded("filemap", "written", "file-byte") == ord("S")
    assert recorded("filemap", "written", "view-byte") == ord("S")
    assert recorded("filemap", "written", "private-byte") == ord("P")


def test_filemap_fork_leaves_shared_unmapped():
    shared, r = mapping("child-wrote", "shared")
    view, _ = mapping("child-wrote", "view")
    private, p = mapping("child-wrote", "private")
    assert not shared.present and not view.present and r.kb["Rss"] == 0
    assert private.present and not private.exclusive
    assert p.kb["Pss"] * 2 == p.kb["Rss"] == p.kb["Shared_Dirty"]


def test_filemap_anon_shared_same_frame():
    child, cr = mapping("child-wrote", "anon")
    parent, pr = mapping("parent-after-child", "anon")
    assert fm("child-wrote").ppid == fm("parent-after-child").pid
    assert child.present and parent.present and child.file_or_shared and parent.file_or_shared
    assert cr.perms == pr.perms == "rw-s" and cr.kb["Anonymous"] == 0
    assert recorded("filemap", "parent-after-child", "anon-byte") == ord("C")
    need_frames([child, parent])
    assert child.pfn == parent.pfn


def test_filemap_munmap_removes():
    s = fm("unmapped")
    assert not any(r.pathname == "/build/filemap.dat" for r in s.regions)
    assert all(not p.present for name in ("shared", "private", "view") for p in pages(s, name))
    assert any(p.present for p in pages(s, "anon"))


# --------------------------------------------------------------------------- faults


def faults(checkpoint: str) -> tuple[int, int]:
    return (recorded("filemap", checkpoint, f"minflt-{checkpoint}"),
            recorded("filemap", checkpoint, f"majflt-{checkpoint}"))


def test_faults_folder_on_disk():
    # The page's sentence names the type the capture holds; the major fault it goes on
    # to show is only possible on a disk, which the run's folder must then be.
    fs = recorded("filemap", "read", "folder-fs-type")
    assert fs != c.TMPFS_MAGIC.value
    if fs != c.EXT4_SUPER_MAGIC.value:   # another disk file system: the text says so
        assert faults("cold-first")[1] >= 1


def test_faults_major_once():
    (min0, maj0), (min1, maj1) = faults("cold-mapped"), faults("cold-first")
    assert maj0 == 0 and maj1 == maj0 + 1 and min1 == min0


def test_faults_neighbour_free():
    assert faults("cold-neighbour") == faults("cold-first")


# --------------------------------------------------------------------------- overcommit


def oc(checkpoint: str):
    s = snap("overcommit", checkpoint)
    return s, region(s, s.address("promised"))


def test_overcommit_promise_granted():
    s, r = oc("promised")
    promised = s.address("promised-bytes")
    assert doc("overcommit")["provenance"]["overcommit_memory"] in (0, 1, 2)
    assert r.size >= promised and "ac" in r.vmflags
    assert s.status["VmSize"] * KIB >= promised
    assert r.kb["Rss"] * KIB < promised // 1000     # a few pages of it, no more
    assert s.status["VmRSS"] * KIB < promised // 100
    # malloc's own mapping is the request and its chunk's header, in whole pages; a larger
    # region (the words say so then) holds a small anonymous one the kernel merged with it.
    own = promised + PAGE
    assert r.size >= own and r.pathname == ""
    assert r.size - own < 1 << 20


def test_overcommit_touch_takes_frames():
    (before, b), (after, a) = oc("promised"), oc("touched")
    touched = after.address("touched-bytes")
    grown = (a.kb["Rss"] - b.kb["Rss"]) * KIB
    assert touched - PAGE <= grown <= touched   # the first page was already there
    assert after.status["VmSize"] == before.status["VmSize"]


def test_overcommit_refused_by_rlimit():
    s, _ = oc("refused")
    limit = s.address("rlimit-as")
    assert s.address("refused-pointer") == 0 and s.address("refused-errno") == c.ENOMEM.value
    assert limit == c.SAMPLE_ADDRESS_SPACE_DEFAULT.value   # the manifest sets no other
    # The request equals the whole limit, and the process already maps something: the
    # two together are past it, which is why it failed.
    assert s.status["VmSize"] > 0


def machine_fact(key: str):
    """One provenance value, the same in every capture (a fact about the machine)."""
    seen = {doc(sample)["provenance"].get(key) for sample in ("overcommit", "cow", "filemap")}
    assert len(seen) == 1, (key, seen)
    return seen.pop()


def test_overcommit_ratio_here():
    mode, ratio, kbytes = (machine_fact(k) for k in
                           ("overcommit_memory", "overcommit_ratio", "overcommit_kbytes"))
    assert mode in (0, 1, 2)
    assert isinstance(ratio, int) and isinstance(kbytes, int) and ratio >= 0 and kbytes >= 0
    # Setting one of the two makes the other read 0 (vm.rst, overcommit_kbytes).
    assert ratio == 0 or kbytes == 0


def test_overcommit_swap_state():
    total, areas, swappiness = (machine_fact(k) for k in ("swap_total", "swap_areas", "swappiness"))
    free = doc("overcommit")["provenance"]["swap_free"]     # moves between captures
    assert isinstance(total, int) and isinstance(areas, int)
    assert (total == 0) == (areas == 0)     # no area, no swap; an area holds some
    assert 0 <= free <= total and 0 <= swappiness <= 200
    if total == 0:
        for name in ("promised", "touched", "refused"):
            s, r = oc(name)
            assert r.kb["Swap"] == 0 and s.status["VmSwap"] == 0, name


# --------------------------------------------------------------------------- accounting


def cow_buffer(checkpoint: str, pid: str | None = None):
    s = snap("cow", checkpoint, pid=pid)
    r = region(s, next(r.start for r in s.pagemap if r.name == "buffer"))
    # The page prints this region as the third anonymous one ('region:#2'): cow records
    # the buffer as a range only, not as an address that '@buffer' could name.
    assert [a for a in s.regions if a.pathname == ""][2] == r
    return r


def test_acct_pss_halves_after_fork():
    before, after = cow_buffer("before-fork"), cow_buffer("parent-after-fork")
    assert before.kb["Pss"] == before.kb["Rss"] == uss(before) == before.kb["Private_Dirty"]
    assert after.kb["Rss"] == before.kb["Rss"] == after.kb["Shared_Dirty"]
    assert after.kb["Pss"] * 2 == after.kb["Rss"] and uss(after) == 0


def test_acct_uss_after_copy():
    child = cow_buffer("child-after-write", pid="child")
    page_kb = PAGE // KIB
    assert uss(child) == child.kb["Private_Dirty"] == page_kb
    assert child.kb["Shared_Dirty"] == child.kb["Rss"] - page_kb
    assert child.kb["Pss"] == page_kb + (child.kb["Rss"] - page_kb) // 2


def test_acct_rss_is_vmrss():
    shared, rss = [], []
    for checkpoint in ("before-fork", "parent-after-fork"):
        s = snap("cow", checkpoint)
        total = sum(r.kb["Rss"] for r in s.regions)
        assert s.status["VmRSS"] == total
        assert s.status["VmRSS"] == s.status["RssAnon"] + s.status["RssFile"] + s.status["RssShmem"]
        assert all(r.kb["Swap"] == 0 for r in s.regions)
        rss.append(s.status["VmRSS"])
        shared.append(sum(r.kb["Shared_Clean"] + r.kb["Shared_Dirty"] for r in s.regions))
    # "the fork did not change it, although more of it is now shared"
    assert rss[0] == rss[1] and shared[1] > shared[0]


# --------------------------------------------------------------------------- huge pages


def test_thp_advised_region_huge():
    s = snap("hugepage", "touched")
    huge, plain = region(s, s.address("huge")), region(s, s.address("plain"))
    assert doc("hugepage")["provenance"]["thp"] == "madvise"
    assert huge.start == s.address("huge") and huge.size == c.HPAGE_PMD_SIZE.value
    assert "hg" in huge.vmflags and "hg" not in plain.vmflags
    assert huge.kb["AnonHugePages"] * KIB == huge.kb["Rss"] * KIB == c.HPAGE_PMD_SIZE.value
    assert plain.kb["AnonHugePages"] == 0 and plain.kb["Rss"] * KIB == PAGE


def test_thp_frames_contiguous_aligned():
    huge = pages(snap("hugepage", "touched"), "huge")
    assert len(huge) == c.TABLE_ENTRIES.value and all(p.present for p in huge)
    need_frames(huge)
    assert [p.pfn for p in huge] == list(range(huge[0].pfn, huge[0].pfn + len(huge)))
    assert huge[0].pfn % c.TABLE_ENTRIES.value == 0


def test_thp_plain_one_page():
    plain = pages(snap("hugepage", "touched"), "plain")
    assert plain[0].present and not any(p.present for p in plain[1:])


def test_thp_walk_ends_at_pd():
    """The figure's short walk rests on AnonHugePages covering the region, one aligned block."""
    from roads.figures import walkview

    sel = at("hugepage", "touched")
    s = sel.snapshot
    address = s.address("huge")
    r = region(s, address)
    huge_size = c.HPAGE_PMD_SIZE.value
    w = walkview.walk(sel, "huge")
    assert w.huge is not None and w.huge.blocks == 1
    assert [name for name, _ in w.levels] == ["PML4", "PDPT", "PD"]
    assert w.offset == address & (huge_size - 1) and w.offset_bits == c.HPAGE_PMD_SHIFT.value
    assert r.kb["AnonHugePages"] * KIB == r.size == huge_size and r.start % huge_size == 0


# --------------------------------------------------------------------------- NX


def nx(name: str, checkpoint: str = "data-called") -> int:
    return recorded("nx", checkpoint, name)


def test_nx_data_faults():
    s = snap("nx", "data-called")
    data = region(s, s.address("data"))
    assert nx("data-faulted") == 1 and nx("data-trapno") == c.X86_TRAP_PF.value
    assert nx("data-si_code") == c.SEGV_ACCERR.value and nx("data-si_addr") == s.address("data")
    assert data.perms == "rw-p" and "ex" not in data.vmflags


def test_nx_error_code_instr():
    err = nx("data-error_code")
    for bit in (c.X86_PF_PROT_BIT, c.X86_PF_USER_BIT, c.X86_PF_INSTR_BIT):
        assert err >> bit.value & 1, bit.name
    assert not err >> c.X86_PF_WRITE_BIT.value & 1


def test_nx_exec_after_mprotect():
    s = snap("nx", "code-called")
    code = region(s, s.address("data"))
    assert nx("code-faulted", "code-called") == 0
    assert code.perms == "r-xp" and "ex" in code.vmflags
    (page,) = pages(s, "data")
    (before,) = pages(snap("nx", "data-called"), "data")
    need_frames([page, before])
    assert page.pfn == before.pfn


# --------------------------------------------------------------------------- 5-level paging


def test_la57_below_the_window():
    levels = doc("hugepage")["provenance"]["paging_levels"]
    assert levels in (4, 5) and doc("filemap")["provenance"]["paging_levels"] == levels
    window = 1 << c.MAP_WINDOW_BITS.value
    for sample, checkpoint in (("hugepage", "touched"), ("filemap", "written")):
        regions = snap(sample, checkpoint).regions
        ends = [r.end for r in regions if r.pathname != "[vsyscall]"]
        assert max(ends) <= window, sample
        # The words leave [vsyscall] out when the vsyscall mode shows one: far above.
        vsyscall = [r for r in regions if r.pathname == "[vsyscall]"]
        assert bool(vsyscall) == (doc(sample)["provenance"]["vsyscall"] != "none"), sample
        assert all(r.start > window for r in vsyscall), sample
        assert max(ends) > window - (1 << 32), sample   # the stack sits right under it
