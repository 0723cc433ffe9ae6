"""More claims of docs/all-roads-to-memory/processes.md, checked against the captures.

The page's first claims are tested in test_claims_series_a.py; these cover what it
says about the stack's layout word by word, the auxiliary vector against the ELF
file, the exit status as the low byte of what main left, and what fork copies of
the page tables and what it leaves to page faults. The tests assert the claim, never
the exact addresses or sizes, which the page prints through macros.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from roads.constants import EXIT_STATUS_BITS, EXIT_STATUS_MASK
from roads.figures.select import Region, Selection, select
from tests.claims_support import doc


POINTER = 8  # bytes in a pointer on x86-64
LIBC = "/libc.so.6"


def sel(sample: str, **kw) -> Selection:
    return select(doc(sample), **kw)


def forkexec(checkpoint: str) -> Selection:
    return sel("forkexec", checkpoint=checkpoint)


def region(s: Selection, suffix: str, perms: str | None = None) -> Region:
    """The first region whose pathname ends with ``suffix`` (and has ``perms``)."""
    found = [r for r in s.regions if r.pathname.endswith(suffix)
             and (perms is None or r.perms == perms)]
    assert found, f"no region {suffix} {perms or ''}"
    return found[0]


def same_range(s: Selection, r: Region) -> Region:
    """The region of ``s`` at exactly the addresses of ``r``."""
    found = [x for x in s.regions if (x.start, x.end) == (r.start, r.end)]
    assert found, f"no region {r.start:#x}-{r.end:#x}"
    return found[0]


# --------------------------------------------------------------------------- from execve to main


def test_exec_starts_in_loader():
    transcript = doc("starti")["variants"]["default"]["gdb"]["transcript"]
    first, _, rest = transcript.partition("+info proc mappings")
    m = re.search(r"^(0x[0-9a-f]+) in _start \(\) from (\S+)$", first, re.M)
    assert m, "starti did not stop in a _start"
    pc, objfile = int(m[1], 16), m[2]
    assert PurePosixPath(objfile).name == PurePosixPath(
        doc("starti")["variants"]["default"]["elf"]["interp"]).name
    # The stop's own map: the program counter is in the loader's executable region.
    rows = re.findall(r"^\s*(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+"
                      r"([-rwxsp]{4})\s*(.*)$", rest.split("+x/i")[0], re.M)
    holding = [(perms, name) for lo, hi, perms, name in rows if int(lo, 16) <= pc < int(hi, 16)]
    assert len(holding) == 1
    perms, name = holding[0]
    assert perms == "r-xp" and PurePosixPath(name).name == PurePosixPath(objfile).name


# --------------------------------------------------------------------------- the top of the stack


def stacktop() -> Selection:
    return sel("stacktop")


def test_pointer_arrays_back_to_back():
    s = stacktop()
    manifest = doc("stacktop")["inputs"]["manifest"]
    argc = len(manifest["args"]) + 1  # the program's name is argv[0]
    envc = len(manifest["env"]) + 1  # the build adds ROADS_FD
    argv, envp, auxv = (s.snapshot.address(n) for n in ("argv", "envp", "auxv"))
    assert envp - argv == (argc + 1) * POINTER  # argv's pointers and its null
    assert auxv - envp == (envc + 1) * POINTER  # envp's pointers and its null


def test_argc_below_argv():
    s = stacktop()
    m = re.fullmatch(r"word below argv: (\d+), argc: (\d+)\n", s.run_record.stdout)
    assert m, s.run_record.stdout
    word, argc = int(m[1]), int(m[2])
    assert word == argc == len(doc("stacktop")["inputs"]["manifest"]["args"]) + 1


def auxv(s: Selection) -> dict[str, int]:
    return {a.name: a.a_val for a in s.snapshot.auxv}


def test_at_phdr_is_header_offset():
    s = stacktop()
    header = doc("stacktop")["variants"]["default"]["elf"]["header"]
    first = [r for r in s.regions if r.pathname == s.snapshot.exe][0]
    assert first.offset == 0
    assert auxv(s)["AT_PHDR"] == first.start + header["e_phoff"]
    assert auxv(s)["AT_PHNUM"] == header["e_phnum"]
    assert auxv(s)["AT_PHENT"] == header["e_phentsize"]


def test_interp_is_at_base():
    s = stacktop()
    interp = doc("stacktop")["variants"]["default"]["elf"]["interp"]
    at_base = s.snapshot.region_at(auxv(s)["AT_BASE"])
    assert at_base is not None and at_base.start == auxv(s)["AT_BASE"] and at_base.offset == 0
    assert PurePosixPath(at_base.pathname).name == PurePosixPath(interp).name


def test_at_pagesz_is_page_size():
    s = stacktop()
    assert auxv(s)["AT_PAGESZ"] == doc("stacktop")["provenance"]["page_size"]


# --------------------------------------------------------------------------- exit status


def test_void_main_long_exit_low_byte():
    run = sel("voidmain", variant="long").run_record
    assert EXIT_STATUS_MASK.value == (1 << EXIT_STATUS_BITS.value) - 1
    count = len(run.stdout)
    assert count > EXIT_STATUS_MASK.value, "the line is too short to show the truncation"
    assert run.exit_code == count & EXIT_STATUS_MASK.value
    assert run.exit_code == count % (EXIT_STATUS_MASK.value + 1)
    assert run.stdout.strip() == "hello, world" and run.stdout.endswith("\n")


# --------------------------------------------------------------------------- fork and exec


def test_fork_copies_anonymous_ptes():
    parent, child = forkexec("before-fork"), forkexec("child-before-exec")
    with_anon = [r for r in parent.regions if r.kb.get("Anonymous", 0) > 0]
    assert len(with_anon) >= 3
    for r in with_anon:
        assert same_range(child, r).kb["Rss"] >= r.kb["Rss"], r
    mapping = child.snapshot.region_at(child.snapshot.address("mapping"))
    assert mapping.kb["Rss"] == parent.snapshot.region_at(mapping.start).kb["Rss"]
    assert 0 < mapping.kb["Shared_Dirty"] <= mapping.kb["Rss"]


def test_fork_skips_file_ptes():
    parent, child = forkexec("before-fork"), forkexec("child-before-exec")
    before = region(parent, LIBC)
    after = same_range(child, before)
    assert before.perms == after.perms == "r--p" and before.offset == 0
    assert before.kb["Rss"] > 0 and before.kb["Anonymous"] == 0
    assert after.kb["Rss"] == 0


def test_child_faults_file_pages_back():
    parent, child = forkexec("before-fork"), forkexec("child-before-exec")
    before = region(parent, LIBC, "r-xp")
    after = same_range(child, before)
    assert after.kb["Anonymous"] == before.kb["Anonymous"] == 0
    assert 0 < after.kb["Rss"] <= before.kb["Rss"]


def test_exec_fresh_stack():
    before, after = forkexec("child-before-exec"), forkexec("after-exec")
    old, new = region(before, "[stack]"), region(after, "[stack]")
    assert (old.start, old.end) == (new.start, new.end)
    assert old.kb["Shared_Dirty"] > 0  # copy-on-write pages still shared with the parent
    assert new.kb["Shared_Dirty"] == 0 and new.kb["Private_Dirty"] == new.kb["Rss"] > 0
