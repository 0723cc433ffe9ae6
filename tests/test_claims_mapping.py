"""More of what "The mapping procedure" says about its captures (the first claims of the
page are checked in test_claims_series_b.py).

Each test checks one entry of tests/claims.toml, whose words the page shows; every
bit position and size comes from roads.constants, so that the tests hold the
constants the page prints to the captures as well. Claims about frame numbers need a
capture made with CAP_SYS_ADMIN and are skipped without one (the page then says that
the frames are hidden).
"""

from __future__ import annotations

import re

import pytest

from roads import constants as c
from roads.figures.pageview import render_page_walk
from roads.figures.select import PageEntry, Region, Snapshot, select
from tests.claims_support import doc


PAGE = c.PAGE_SIZE.value
PROT = 1 << c.X86_PF_PROT_BIT.value
WRITE = 1 << c.X86_PF_WRITE_BIT.value
USER = 1 << c.X86_PF_USER_BIT.value
INSTR = 1 << c.X86_PF_INSTR_BIT.value
PF_W = 0x2  # ELF p_flags: the segment is writable


# --------------------------------------------------------------------------- helpers


def snap(sample: str, checkpoint: str, **kw) -> Snapshot:
    return select(doc(sample), checkpoint=checkpoint, **kw).snapshot


def pages(s: Snapshot, name: str) -> tuple[PageEntry, ...]:
    ranges = [r for r in s.pagemap if r.name == name]
    assert ranges, f"no range {name!r} at {s.name}"
    return ranges[0].pages


def region(s: Snapshot, address: int) -> Region:
    r = s.region_at(address)
    assert r is not None, f"{address:#x} is unmapped at {s.name}"
    return r


def need_frames(*page_lists) -> None:
    if not all(p.pfn is not None for ps in page_lists for p in ps if p.present):
        pytest.skip("the capture has no frame numbers (no CAP_SYS_ADMIN); the page says so")


def probes() -> dict[str, dict[str, str]]:
    """The probe sample's printout: a dict of fields for each probe, by name."""
    run = select(doc("probe")).run_record
    out = {}
    for line in run.stdout.splitlines():
        fields = dict(word.split("=", 1) for word in line.split())
        out[fields["probe"]] = fields
    return out


def paging_levels(sample: str) -> int:
    """The capture's paging mode; captures made before it was recorded had 4 levels."""
    return int(doc(sample)["provenance"].get("paging_levels", 4))


def canonical(address: int, levels: int) -> bool:
    sign = (c.SIGN_BIT_5LEVEL if levels == 5 else c.SIGN_BIT_4LEVEL).value
    top = address >> sign
    return top in (0, (1 << (c.ADDRESS_BITS.value - sign)) - 1)


# --------------------------------------------------------------------------- pagewalk


def printout() -> dict[str, int]:
    """What pagewalk printed: its virtual address, the four indices and the offset."""
    text = select(doc("pagewalk")).run_record.stdout
    out = {}
    for label, value in re.findall(r"^(virtual address|PML4 index|PDPT index|PD index|PT index|"
                                   r"offset)\s+(\S+)$", text, re.M):
        out[label.split()[0] if label != "virtual address" else "va"] = int(value, 0)
    assert set(out) == {"va", "PML4", "PDPT", "PD", "PT", "offset"}, out
    return out


def test_pagewalk_indices_recombine():
    printed = printout()
    shift, address = c.PAGE_SHIFT.value, printed["offset"]
    assert printed["offset"] < PAGE
    for level in ("PT", "PD", "PDPT", "PML4"):
        assert printed[level] < c.TABLE_ENTRIES.value
        address |= printed[level] << shift
        shift += c.INDEX_BITS.value
    assert shift == c.VA_BITS_4LEVEL.value
    if address >> c.SIGN_BIT_4LEVEL.value & 1:  # the upper half: the sign bits are ones
        address |= (1 << c.ADDRESS_BITS.value) - (1 << shift)
    assert address == printed["va"] == snap("pagewalk", "main").address("answer")


def test_pagewalk_physical_address():
    chosen = select(doc("pagewalk"), checkpoint="main")
    va = chosen.snapshot.address("answer")
    (page,) = pages(chosen.snapshot, "answer-page")
    assert page.vaddr == va - va % PAGE, "the frame is not that of answer's page"
    assert page.present
    need_frames([page])
    assert page.pfn > 0
    physical = page.pfn * PAGE + va % PAGE
    assert f"<code>{physical:#x}</code>" in render_page_walk(chosen, "answer")


def test_pagewalk_bss_in_answer_page():
    chosen = select(doc("pagewalk"), checkpoint="main")
    elf, answer = chosen.elf, chosen.snapshot.address("answer")
    (symbol,) = [s for s in elf.symbols if s.name == "answer"]
    base = answer - symbol.st_value  # where the PIE was loaded
    (data,) = [s for s in elf.loads if s.p_flags & PF_W]
    file_end = data.p_vaddr + data.p_filesz
    assert data.p_memsz > data.p_filesz, "no .bss: nothing for the kernel to clear"
    assert file_end % PAGE, "the file's bytes end at a page boundary: nothing to clear"
    assert (base + file_end) // PAGE == answer // PAGE
    bss = elf.get_section(".bss")
    assert bss is not None and file_end <= bss.sh_addr and bss.sh_addr // PAGE == file_end // PAGE


# --------------------------------------------------------------------------- probe


def test_probe_kernel_half_maperr_prot():
    p = probes()
    codes = set()
    for name in ("kernel", "vsyscall"):
        assert p[name]["access"] == "read"
        assert int(p[name]["trapno"]) == c.X86_TRAP_PF.value
        assert p[name]["si_code"] == "SEGV_MAPERR"
        codes.add(int(p[name]["error_code"], 16))
    assert codes == {PROT | USER}


def test_probe_vsyscall_xonly_no_read_entry():
    provenance = doc("probe")["provenance"]
    if "vsyscall" in provenance:
        assert provenance["vsyscall"] == "xonly"
    s = snap("probe", "before-probes")
    (vsyscall,) = [r for r in s.regions if r.pathname == "[vsyscall]"]
    assert vsyscall.perms == "--xp"
    probe = probes()["vsyscall"]
    assert int(probe["address"], 16) in vsyscall
    assert probe["access"] == "read" and probe["si_code"] == "SEGV_MAPERR"
    assert int(probe["error_code"], 16) & PROT


def test_probe_canonical_follows_paging():
    levels = paging_levels("probe")
    faults = {"gp": 0, "pf": 0}
    for name, f in probes().items():
        trapno = int(f["trapno"])
        if canonical(int(f["address"], 16), levels):
            assert trapno == c.X86_TRAP_PF.value, f"{name}: canonical, yet trap {trapno}"
            faults["pf"] += 1
        else:
            assert trapno == c.X86_TRAP_GP.value, f"{name}: not canonical, yet trap {trapno}"
            faults["gp"] += 1
    assert faults["gp"] and faults["pf"]


# --------------------------------------------------------------------------- demand, anonymous


def test_demand_anon_row_merged():
    reads = snap("demand", "after-reads", variant="anonymous")
    writes = snap("demand", "after-writes", variant="anonymous")
    (rng,) = [r for r in writes.pagemap if r.name == "range"]
    length = len(rng.pages) * PAGE
    for s in (reads, writes):
        row = region(s, rng.start)
        assert row.anonymous and row.pathname == "" and row.perms == "rw-p"
        assert row.size > length and (row.start < rng.start or row.end > rng.start + length)
    # After the reads the range maps only the zero page, which no Rss counts: what the
    # row has resident then is the neighbour's.
    assert all(p.present and not p.exclusive for p in pages(reads, "range"))
    assert region(reads, rng.start).rss() > 0


# --------------------------------------------------------------------------- demand, file


def filed(checkpoint: str) -> Snapshot:
    return snap("demand", checkpoint, variant="file")


def touched() -> int:
    """The page the file variant read and then wrote: the only one its write took away
    from the page cache."""
    written = pages(filed("after-writes"), "range")
    copied = [k for k, p in enumerate(written) if p.present and not p.file_or_shared]
    assert len(copied) == 1
    return copied[0]


def window() -> list[int]:
    """The pages of the range that the default fault-around window covers: the
    aligned block of FAULT_AROUND_BYTES around the page read, as mm/memory.c's
    do_fault_around computes it from the page's place in its page table."""
    ps = pages(filed("after-reads"), "range")
    k = touched()
    per = c.FAULT_AROUND_BYTES.value // PAGE
    slot = ps[k].vaddr // PAGE % c.TABLE_ENTRIES.value
    first = k - slot % per
    return [j for j in range(first, first + per) if 0 <= j < len(ps)]


def test_demand_file_window_present():
    ps = pages(filed("after-reads"), "range")
    inside = window()
    assert len(inside) == c.FAULT_AROUND_BYTES.value // PAGE
    assert all(ps[j].present for j in inside)


def test_demand_file_whole_folios():
    ps = pages(filed("after-reads"), "range")
    present = [k for k, p in enumerate(ps) if p.present]
    inside = set(window())
    assert inside <= set(present)
    need_frames(ps)
    # Runs of pages that are consecutive both in the mapping and in RAM: blocks of the
    # page cache (a folio is one such run, or part of one).
    runs: list[list[int]] = []
    for k in present:
        if runs and runs[-1][-1] == k - 1 and ps[k].pfn == ps[k - 1].pfn + 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    outside = [run for run in runs if not inside & set(run)]
    assert not outside, f"pages mapped apart from the window: {outside}"


# --------------------------------------------------------------------------- copy-on-write


def cow(checkpoint: str) -> Snapshot:
    return snap("cow", checkpoint)


def test_cow_child_page_exclusive_after_write():
    before = pages(cow("child-before-write"), "buffer")[0]
    after = pages(cow("child-after-write"), "buffer")[0]
    assert before.present and not before.exclusive
    assert after.present and after.exclusive


def test_cow_fork_copies_anonymous_tables():
    parent, child = cow("parent-after-fork"), cow("child-before-write")
    assert child.ppid == parent.pid
    holding = [r for r in parent.regions if r.counter("Anonymous")]
    assert holding
    for r in holding:
        twin = region(child, r.start)
        assert (twin.start, twin.end) == (r.start, r.end)
        assert twin.rss() >= r.rss(), f"{r.pathname or 'anonymous'} at {r.start:#x} lost pages"
    # The page names this one: libc's third mapping, its read-only data.
    libc = [r for r in parent.regions if r.filename == "libc.so.6"]
    ro = libc[2]
    assert ro.perms == "r--p" and not ro.counter("Anonymous")
    assert ro.rss() > 0
    assert region(child, ro.start).rss() == 0
