"""roads.figures.regions: every region gets one kind; pointers land in the right regions."""

from __future__ import annotations

import pytest

from roads.figures.regions import (
    ADDRESS_END,
    KERNEL_START,
    KINDS,
    USER_END,
    Band,
    classify,
    interesting_symbols,
    memory_map,
)
from roads.figures.select import Snapshot, decoded, select, variant_names
from tests.capture_docs import KERNEL_PAGES, SNAPSHOTS, fake_doc, region, snapshot

EXE_PIECES = ["rodata", "text", "rodata", "relro", "data"]
LIB_PIECES = ["lib-rodata", "lib-text", "lib-rodata", "lib-relro", "lib-data", "lib-bss"]


def kinds_of(mm, owner: str) -> list[str]:
    return [c.kind for c in mm.regions if c.owner == owner]


def pointer_kinds(mm) -> dict[str, str]:
    return {p.name: mm.regions[p.region].kind for p in mm.pointers if p.region is not None}


@pytest.mark.parametrize("variant", ["pie", "nopie", "static"])
def test_layout_pieces(variant):
    mm = memory_map(select(snapshot("layout"), variant=variant))
    kinds = [c.kind for c in mm.regions]
    for kind in ("heap", "stack", "vdso", "vvar", "vsyscall", "mmap"):
        assert kind in kinds
    exe = kinds_of(mm, "layout")
    if variant == "static":
        assert exe == EXE_PIECES + ["bss"]  # a static binary's bss reaches past its file pages
        assert not any(k.startswith("lib-") for k in kinds)
    else:
        assert exe == EXE_PIECES
        # libc's bss is the anonymous region right after its data
        assert kinds_of(mm, "libc.so.6") == LIB_PIECES
        (bss,) = [c.region for c in mm.regions if c.kind == "lib-bss"]
        assert bss.pathname == "" and bss.perms == "rw-p"
        assert kinds_of(mm, "ld-linux-x86-64.so.2") == LIB_PIECES[:5]
    assert pointer_kinds(mm) == {
        "main": "text",
        "literal": "rodata",  # a string literal is read-only data, not code
        "initialized": "data",
        "zeroed": "data",  # small .bss: the zeroed tail of the data page
        "small-malloc": "heap",
        "large-malloc": "mmap",  # above the mmap threshold: a mapping of its own
        "local": "stack",
        **({} if variant == "static" else {"greeting": "data"}),
    }


def test_load_addresses_with_aslr_off():
    assert memory_map(select(snapshot("layout"), variant="pie")).bias == 0x555555554000
    assert memory_map(select(snapshot("layout"), variant="nopie")).bias == 0
    assert memory_map(select(snapshot("layout"), variant="nopie")).regions[0].region.start == 0x400000


@pytest.mark.parametrize("variant", ["pie", "nopie", "static"])
def test_relro_is_the_pt_gnu_relro_range(variant):
    chosen = select(snapshot("layout"), variant=variant)
    mm = memory_map(chosen)
    relro = chosen.elf.relro
    lo = (relro.p_vaddr + mm.bias) & ~0xFFF
    hi = (relro.p_vaddr + relro.p_memsz + mm.bias) & ~0xFFF
    (piece,) = [c.region for c in mm.regions if c.kind == "relro"]
    assert (piece.start, piece.end, piece.perms) == (lo, hi, "r--p")


def test_thread_stacks_guards_and_arenas():
    mm = memory_map(select(snapshot("threads")))
    kinds = [c.kind for c in mm.regions]
    assert kinds.count("thread-stack") == 2
    for k, c in enumerate(mm.regions):
        if c.kind == "thread-stack":
            below = mm.regions[k - 1]
            assert below.kind == "guard" and below.region.perms == "---p"
            assert below.region.end == c.region.start and below.region.size == 4096
            assert c.region.size >= 1 << 20
    arenas = [c.region for c in mm.regions if c.kind == "arena"]
    assert len(arenas) == 4
    for used, rest in zip(arenas[::2], arenas[1::2]):
        assert used.start % (64 << 20) == 0 and used.perms == "rw-p"
        assert rest.perms == "---p" and rest.end - used.start == 64 << 20
    placed = pointer_kinds(mm)
    assert placed["thread-1-local"] == placed["thread-2-local"] == "thread-stack"
    assert placed["thread-1-malloc"] == placed["thread-2-malloc"] == "arena"
    assert placed["main-local"] == "stack" and placed["main-malloc"] == "heap"


def test_the_executable_mapped_again_is_a_file_mapping():
    mm = memory_map(select(snapshot("demand"), variant="file", checkpoint="after-reads"))
    exe = [c for c in mm.regions if c.owner == "demand"]
    assert [c.kind for c in exe] == EXE_PIECES + ["file"]
    page = mm.selection.snapshot.pagemap[0].start
    assert mm.regions[mm.selection.snapshot.region_at(page).index].kind == "file"


def test_bss_larger_than_a_page_is_its_own_region():
    mm = memory_map(select(snapshot("elf2maps"), variant="bigbss"))
    assert kinds_of(mm, "elf2maps") == EXE_PIECES + ["bss"]
    (bss,) = [c.region for c in mm.regions if c.kind == "bss"]
    assert bss.pathname == "" and bss.perms == "rw-p"


def _all_selections():
    for path in sorted(SNAPSHOTS.glob("*.json")):
        doc = decoded(snapshot(path.stem))
        for variant in variant_names(doc):
            for run, record in enumerate(doc.variants[variant].runs):
                for k, c in enumerate(record.checkpoints):
                    same = [x for x in record.checkpoints if x.name == c.name]
                    yield doc, variant, run, c.name, same.index(c)


def test_every_region_of_every_capture_has_a_known_kind():
    seen = 0
    for doc, variant, run, name, ordinal in _all_selections():
        mm = memory_map(select(doc, variant=variant, run=run, checkpoint=name, pid=ordinal))
        for c in mm.regions:
            assert c.kind in KINDS and c.kind != "other", (doc["sample"], variant, name, c)
        if mm.selection.exe_matches_elf:
            assert mm.bias is not None, (doc["sample"], variant, name)
            assert "text" in [c.kind for c in mm.regions]
        seen += 1
    assert seen >= 3


def test_bands_cover_the_whole_space_and_name_the_hole():
    mm = memory_map(select(snapshot("layout")))
    bands = mm.bands()
    assert bands[0].start == 0 and bands[-1].end == ADDRESS_END
    assert all(a.end == b.start for a, b in zip(bands, bands[1:]))
    assert Band(USER_END, KERNEL_START, "hole") in bands
    assert [b.kind for b in bands if b.region is None and b.start >= KERNEL_START] == ["kernel", "kernel"]
    assert sum(b.size for b in bands if b.region is not None) == sum(c.region.size for c in mm.regions)
    # User space is almost all empty.
    assert mm.mapped / USER_END < 1e-4


# --- fabricated edge cases -----------------------------------------------------------

LIBFOO = "/usr/lib/libfoo.so.1"


def test_library_pieces_without_vmflags_use_their_order():
    regions = [
        region(0x7F0000000000, 0x7F0000001000, "r--p", LIBFOO, 0, vmflags=()),
        region(0x7F0000001000, 0x7F0000005000, "r-xp", LIBFOO, 0x1000, vmflags=()),
        region(0x7F0000005000, 0x7F0000006000, "r--p", LIBFOO, 0x5000, vmflags=()),
        region(0x7F0000006000, 0x7F0000007000, "r--p", LIBFOO, 0x6000, vmflags=()),
        region(0x7F0000007000, 0x7F0000008000, "rw-p", LIBFOO, 0x7000, vmflags=()),
    ]
    snap = Snapshot.from_dict(fake_doc(regions)["variants"]["default"]["runs"][0]["checkpoints"][0])
    classified, bias = classify(snap.regions)
    assert bias is None
    assert [c.kind for c in classified] == LIB_PIECES[:5]


def test_unknown_executable_falls_back_to_permissions():
    exe = "/build/fake"
    regions = [
        region(0x400000, 0x401000, "r--p", exe, 0, vmflags=("rd",)),
        region(0x401000, 0x402000, "r-xp", exe, 0x1000, vmflags=("rd", "ex")),
        region(0x402000, 0x403000, "r--p", exe, 0x2000, vmflags=("rd",)),
        region(0x403000, 0x404000, "r--p", exe, 0x2000, vmflags=("rd", "ac")),
        region(0x404000, 0x405000, "rw-p", exe, 0x3000),
        *KERNEL_PAGES,
    ]
    mm = memory_map(select(fake_doc(regions)))  # the document holds no ELF record
    assert [c.kind for c in mm.regions] == EXE_PIECES + ["vvar", "vdso", "stack", "vsyscall"]


def test_recorded_names_mark_tls_and_thread_stacks():
    regions = [
        region(0x7F0000000000, 0x7F0000010000),  # no guard below: only a name can tell
        region(0x7F0000020000, 0x7F0000023000),
        region(0x7F0000030000, 0x7F0000031000),
        *KERNEL_PAGES,
    ]
    mm = memory_map(select(fake_doc(regions, {
        "thread-1-local": 0x7F0000000100,  # a local variable of a thread
        "tls": 0x7F0000020010,  # a __thread variable
        "other": 0x7F0000030010,
    })))
    assert [c.kind for c in mm.regions[:3]] == ["thread-stack", "tls", "mmap"]


def test_tls_name_does_not_claim_a_merged_region():
    regions = [region(0x7F0000020000, 0x7F0000123000), *KERNEL_PAGES]
    mm = memory_map(select(fake_doc(regions, {"tls": 0x7F0000122010, "big-malloc": 0x7F0000020010})))
    assert mm.regions[0].kind == "mmap"


def test_arena_rules_need_the_64_mib_alignment():
    base = 0x7FFFF0000000
    regions = [
        region(base, base + 0x21000),
        region(base + 0x21000, base + (64 << 20), "---p"),
        region(base + (64 << 20) + 0x1000, base + (64 << 20) + 0x22000),  # not aligned
        region(base + (64 << 20) + 0x22000, base + (128 << 20), "---p"),
        *KERNEL_PAGES,
    ]
    kinds = [c.kind for c in memory_map(select(fake_doc(regions))).regions[:4]]
    assert kinds == ["arena", "arena", "mmap", "reserved"]


def test_values_that_are_not_addresses_point_nowhere():
    mm = memory_map(select(snapshot("threshold"), checkpoint="after-100k"))
    stray = {p.name for p in mm.stray}
    assert "chunk-size-100k" in stray
    assert "block-100k" not in stray


def test_only_the_gap_under_the_stack_says_it_grows_the_stack():
    """An access just below [stack] grows the stack; elsewhere an unmapped gap faults."""
    from roads.figures.regions import memory_map
    from roads.figures.select import select
    from tests.claims_support import doc

    mm = memory_map(select(doc("layout"), variant="pie"))
    gaps = [b for b in mm.bands() if b.region is None and b.kind == "unmapped"]
    stack = next(c.region for c in mm.regions if c.region.pathname == "[stack]")
    under = [b for b in gaps if b.below_stack]
    assert [b.end for b in under] == [stack.start]
    assert "grows [stack]" in under[0].about
    assert all(b.about.endswith("SIGSEGV") and "grows" not in b.about
               for b in gaps if not b.below_stack)


def _pointers_by_scanning(snap, elf, bias, chosen):
    """find_pointers' rule, worked out by scanning the whole symbol table for each
    address and each name: the reference for its index (``_symbol_index``)."""
    out = []
    for a in snap.addresses:
        names = [s.name for s in elf.symbols if s.type != "STT_TLS" and s.st_value + bias == a.value]
        symbol = a.name if a.name in names else (names[0] if names else None)
        out.append((a.value, a.name, symbol))
    seen = {a.value for a in snap.addresses}
    for name in chosen:
        matches = [s for s in elf.symbols if s.name == name and s.type != "STT_TLS"]
        if len(matches) > 1:
            matches = [s for s in matches if s.bind != "STB_LOCAL"] or matches[:1]
        for s in matches[:1]:
            if s.st_value + bias not in seen:
                seen.add(s.st_value + bias)
                out.append((s.st_value + bias, name, name))
    return sorted(out)


def test_pointers_come_from_an_index_made_once_per_executable_record(monkeypatch):
    """Every checkpoint of every capture places the pointers that scanning the symbol
    table finds, static executables (libc's symbols too) included; the index of an
    executable's record is made once, however many checkpoints it serves."""
    from roads.figures import regions as regions_module
    from roads.figures.regions import SYMBOLS_KEPT, _index_symbols, interesting_symbols
    from roads.figures.perrecord import PerRecord

    made = []
    index = PerRecord(lambda elf: made.append(elf) or _index_symbols(elf), SYMBOLS_KEPT)
    monkeypatch.setattr(regions_module, "_symbol_index", index)
    placed = static = 0
    for doc, variant, run, name, ordinal in _all_selections():
        mm = memory_map(select(doc, variant=variant, run=run, checkpoint=name, pid=ordinal))
        if mm.bias is None or not mm.selection.exe_matches_elf:
            continue
        elf, snap = mm.selection.elf, mm.selection.snapshot
        chosen = interesting_symbols(elf, [a.name for a in snap.addresses])
        got = sorted((p.address, p.name, p.symbol) for p in mm.pointers)
        assert got == _pointers_by_scanning(snap, elf, mm.bias, chosen), (doc["sample"], variant, name)
        placed += len(got)
        static += elf.is_static
    assert placed > 100 and static >= 3
    records = [id(elf) for elf in made]
    assert len(records) == len(set(records))  # each record indexed once


CXX_GLOBALS = """
#include <stdexcept>
int counter = 1;
int main() {
    try { throw std::runtime_error("x"); } catch (const std::exception &) { counter++; }
    return counter - 2;
}
"""


def test_the_compilers_own_objects_get_no_arrow(tmp_path):
    """A C++ program's data holds DW.ref.__gxx_personality_v0, an object g++ makes for
    its exception tables: roads explain's page pointed at it, in the program's data, as
    at one of the program's own variables. A name with a dot, which no C or C++ source
    can give, is the compiler's and gets no arrow; the program's own variable keeps its."""
    import shutil
    import subprocess

    from roads.capture.elf import read_elf

    if shutil.which("g++") is None:
        pytest.skip("no g++")
    (tmp_path / "globals.cpp").write_text(CXX_GLOBALS)
    subprocess.run(["g++", "-O0", "-o", str(tmp_path / "globals"), str(tmp_path / "globals.cpp")],
                   check=True, timeout=120)
    elf = read_elf(str(tmp_path / "globals"))
    assert any(s.name.startswith("DW.ref.") for s in elf.symbols)  # what g++ makes
    chosen = interesting_symbols(elf)
    assert "counter" in chosen and "main" in chosen
    assert not [name for name in chosen if "." in name]


def test_shared_memory_no_program_opened_is_not_called_a_file_it_mapped():
    """Shared anonymous memory (mmap MAP_SHARED | MAP_ANONYMOUS) and a System V segment
    (shmat) are backed by files the kernel makes for itself, which maps names
    "/dev/zero (deleted)" and "/SYSV00000000 (deleted)": a learner's program that made
    each got 'file mapping (a file mapped with mmap)' for both, though it mapped no
    file. The first is anonymous memory, said to be shared; the second a System V
    segment with its key; a file the program did map shared says so."""
    regions = [
        region(0x10000, 0x14000, "rw-s", "/dev/zero (deleted)", vmflags=("rd", "wr", "sh")),
        region(0x20000, 0x30000, "rw-s", "/SYSV0000002a (deleted)", vmflags=("rd", "wr", "sh")),
        region(0x40000, 0x42000, "rw-s", "/home/me/shared.bin", vmflags=("rd", "wr", "sh")),
        region(0x50000, 0x51000, "r--p", "/home/me/notes.txt", vmflags=("rd",)),
        *KERNEL_PAGES,
    ]
    mm = memory_map(select(fake_doc(regions)))
    got = [(c.kind, c.why) for c in mm.regions[:4]]
    assert got[0][0] == "mmap" and got[0][1].startswith("shared anonymous memory (MAP_SHARED")
    assert got[1] == ("file", "a System V shared memory segment (shmget, attached with shmat), "
                              "key 0x0000002a: maps names it SYSV and its key")
    assert got[2:] == [("file", "mapped shared (MAP_SHARED)"), ("file", "a file mapped with mmap")]


def test_a_memfd_is_told_as_one():
    """A memfd (memfd_create) mapped shared was 'mapped shared (MAP_SHARED)' of a file
    named "memfd:scratch (deleted)", as if the program had deleted a file of its own;
    a file that is only named so in a folder is a file."""
    regions = [
        region(0x10000, 0x13000, "rw-s", "/memfd:scratch (deleted)", vmflags=("rd", "wr", "sh")),
        region(0x20000, 0x21000, "r--p", "/memfd:jit code (deleted)", vmflags=("rd",)),
        region(0x30000, 0x31000, "r--p", "/home/me/memfd:notes", vmflags=("rd",)),
        *KERNEL_PAGES,
    ]
    got = [(c.kind, c.why) for c in memory_map(select(fake_doc(regions))).regions[:3]]
    assert got[0] == ("file", "a memfd (memfd_create, named 'scratch'): a file that lives in "
                              "memory and in no folder, which maps names memfd: and its name, "
                              "mapped shared")
    assert got[1][1].startswith("a memfd (memfd_create, named 'jit code')")
    # maps writes a newline of the name as \012: shown as maps has it, not doubled.
    odd = region(0x40000, 0x41000, "rw-s", "/memfd:nl\\012x (deleted)", vmflags=("rd", "wr", "sh"))
    (told,) = [c.why for c in memory_map(select(fake_doc([odd, *KERNEL_PAGES]))).regions[:1]]
    assert told.startswith("a memfd (memfd_create, named 'nl\\012x')")
    assert got[1][1].endswith("mapped private")
    assert got[2] == ("file", "a file mapped with mmap")


def test_posix_shared_memory_is_told_as_a_file_of_dev_shm():
    """shm_open's object, /dev/shm/NAME, mapped shared was only "mapped shared
    (MAP_SHARED)" of a file (a learner's program, while a memfd was told for what it
    is); a file of a folder under /dev/shm, or elsewhere, is not told so."""
    regions = [
        region(0x10000, 0x11000, "rw-s", "/dev/shm/roads-demo", vmflags=("rd", "wr", "sh")),
        region(0x20000, 0x21000, "r--p", "/dev/shm/deeper/file", vmflags=("rd",)),
        region(0x30000, 0x31000, "rw-s", "/home/me/dev/shm/x", vmflags=("rd", "wr", "sh")),
        *KERNEL_PAGES,
    ]
    got = [(c.kind, c.why) for c in memory_map(select(fake_doc(regions))).regions[:3]]
    assert got[0] == ("file", "a file of /dev/shm, the folder where glibc's shm_open makes "
                              "POSIX shared memory objects, mapped shared (MAP_SHARED)")
    assert got[1:] == [("file", "a file mapped with mmap"), ("file", "mapped shared (MAP_SHARED)")]
    semaphore = region(0x40000, 0x41000, "rw-s", "/dev/shm/sem.lock", vmflags=("rd", "wr", "sh"))
    (told,) = [c.why for c in memory_map(select(fake_doc([semaphore, *KERNEL_PAGES]))).regions[:1]]
    assert told.startswith("a file of /dev/shm named sem.: where glibc's sem_open keeps a "
                           "named semaphore")


def test_dev_zero_mapped_private_is_anonymous_memory_not_a_file():
    """/dev/zero mapped MAP_PRIVATE keeps the device's name in maps (not " (deleted)"),
    but the kernel makes it anonymous memory: smaps counts its written pages as
    Anonymous (checked here on 6.18). A learner's program got 'file mapping (a file
    mapped with mmap)' for it; a file of another name mapped private still is one."""
    regions = [
        region(0x10000, 0x13000, "rw-p", "/dev/zero", vmflags=("rd", "wr", "mr", "mw", "me", "ac")),
        region(0x20000, 0x21000, "r--p", "/dev/zero", vmflags=("rd", "mr", "mw", "me")),
        region(0x30000, 0x31000, "r--p", "/srv/dev/zero", vmflags=("rd", "mr", "mw", "me")),
        *KERNEL_PAGES,
    ]
    got = [(c.kind, c.why) for c in memory_map(select(fake_doc(regions))).regions[:3]]
    assert [kind for kind, _ in got[:2]] == ["mmap", "mmap"]
    assert all(why.startswith("private anonymous memory: /dev/zero mapped private")
               for _, why in got[:2])
    assert got[2] == ("file", "a file mapped with mmap")


def _one_process(regions: list[dict], threads: int | None, addresses=None) -> list[str]:
    """The kinds of ``regions`` at a checkpoint whose status counts ``threads`` threads."""
    doc = fake_doc(regions, addresses)
    if threads is not None:
        doc["variants"]["default"]["runs"][0]["checkpoints"][0]["status"] = {"Threads": threads}
    return [c.kind for c in memory_map(select(doc)).regions]


def test_a_hole_made_with_mprotect_in_a_single_threaded_program_is_no_thread_stack():
    """A learner's program of one thread mapped 16 pages, wrote them and made the 4th to
    8th PROT_NONE: 'guard page (no access, right below a thread stack)' and 'thread
    stack' above it. With more than one thread (or the count unknown) the shape still
    tells; a recorded thread variable tells whatever the count (an ended thread's stack,
    which glibc keeps), its guard with it."""
    shape = [
        region(0x7F0000000000, 0x7F0000004000),
        region(0x7F0000004000, 0x7F0000008000, "---p"),
        region(0x7F0000008000, 0x7F0000010000),
        *KERNEL_PAGES,
    ]
    assert _one_process(shape, 1)[:3] == ["mmap", "reserved", "mmap"]
    assert _one_process(shape, 2)[:3] == ["mmap", "guard", "thread-stack"]
    assert _one_process(shape, None)[:3] == ["mmap", "guard", "thread-stack"]
    assert _one_process(shape, 1, {"thread-1-local": 0x7F0000008100})[:3] == \
        ["mmap", "guard", "thread-stack"]


def test_a_mapping_that_grows_down_is_told_so_and_whether_it_can():
    """Anonymous memory mapped MAP_GROWSDOWN (VmFlags gd) was a plain 'anonymous
    memory from mmap' (a learner's). It grows as the main stack does, within the
    stack guard gap; one right above an accessible mapping cannot grow at all, one
    above a PROT_NONE mapping or another that grows down is not held back by it, and
    the main stack keeps its own kind."""
    page = 4096
    regions = [
        region(0x10000000, 0x10008000),
        region(0x1000A000, 0x1000E000, vmflags=("rd", "wr", "mr", "mw", "me", "gd", "ac")),
        region(0x20000000, 0x20002000, "---p", vmflags=("mr", "mw", "me")),
        region(0x20003000, 0x20005000, vmflags=("rd", "wr", "mr", "mw", "me", "gd", "ac")),
        region(0x40000000, 0x40004000, vmflags=("rd", "wr", "mr", "mw", "me", "gd", "ac")),
        region(0x7FFFFFFDE000, 0x7FFFFFFFF000, pathname="[stack]",
               vmflags=("rd", "wr", "mr", "mw", "me", "gd", "ac")),
        *KERNEL_PAGES,
    ]
    got = {c.region.start: c for c in memory_map(select(fake_doc(regions))).regions}
    near, above_none, far = got[0x1000A000], got[0x20003000], got[0x40000000]
    for c in (near, above_none, far):
        assert c.kind == "mmap" and c.why.startswith(
            "anonymous memory mapped MAP_GROWSDOWN (VmFlags gd): a fault in the hole under it")
        assert "stack guard gap (1 MiB)" in c.why
    assert near.why.endswith(f"; the mapping below ends {2 * page // 1024} KiB under it, "
                             "so it cannot grow")
    assert "cannot grow" not in above_none.why and "cannot grow" not in far.why
    assert got[0x7FFFFFFDE000].kind == "stack"
    assert got[0x10000000].why == "anonymous memory from mmap"
    # Under the one that can grow, the hole says an access there grows it; under the one
    # that cannot, an access there is SIGSEGV, as anywhere unmapped.
    mm = memory_map(select(fake_doc(regions)))
    under = {b.end: b for b in mm.bands() if b.kind == "unmapped"}
    assert under[0x40000000].about.startswith(
        "user space with nothing mapped, under memory mapped MAP_GROWSDOWN: an access here")
    assert under[0x1000A000].about == "user space with nothing mapped: an access is SIGSEGV"


def test_memory_that_grows_down_with_no_hole_under_it_cannot_grow():
    """The review: the upper piece of a MAP_GROWSDOWN mapping that mprotect split (the
    piece below grows down too) and one right above a PROT_NONE page of the program's
    own were said to grow on a fault in a hole there is not; and in a process of two
    threads, memory that grows down right above a small PROT_NONE page was a thread
    stack with its guard, which glibc never maps with MAP_GROWSDOWN."""
    gd = ("rd", "wr", "mr", "mw", "me", "gd", "ac")
    regions = [
        region(0x10000000, 0x10004000, vmflags=gd),
        region(0x10004000, 0x10008000, "r--p", vmflags=("rd", "mr", "mw", "me", "gd", "ac")),
        region(0x20000000, 0x20001000, "---p", vmflags=("mr", "mw", "me")),
        region(0x20001000, 0x20021000, vmflags=gd),
        *KERNEL_PAGES,
    ]
    doc = fake_doc(regions)
    doc["variants"]["default"]["runs"][0]["checkpoints"][0]["status"] = {"Threads": 2}
    got = {c.region.start: c for c in memory_map(select(doc)).regions}
    for start in (0x10004000, 0x20001000):
        assert got[start].kind == "mmap"
        assert got[start].why.endswith("; no hole lies under it (the mapping below ends where "
                                       "it starts), so it cannot grow"), got[start].why
    assert got[0x20000000].kind == "reserved"  # no guard of a thread stack


GROWS_DOWN = r"""
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf back;
static void caught(int sig) { (void)sig; siglongjmp(back, 1); }
static int touched(volatile char *at) {
    if (sigsetjmp(back, 1)) return 0;
    *at = 1;
    return 1;
}
static char *map(unsigned long at, long pages, int flags) {
    char *p = mmap((void *)at, pages * 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | flags, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(2); }
    return p;
}
int main(void) {
    signal(SIGSEGV, caught);
    map(0x100000000UL, 8, 0);
    char *near = map(0x100000000UL + 10 * 4096, 4, MAP_GROWSDOWN);
    char *far = map(0x200000000UL, 4, MAP_GROWSDOWN);
    FILE *smaps = fopen("/proc/self/smaps", "r");
    int c;
    while ((c = fgetc(smaps)) != EOF) putchar(c);
    fclose(smaps);
    printf("touched %lx %d\n", (unsigned long)near, touched(near - 1));
    printf("touched %lx %d\n", (unsigned long)far, touched(far - 1));
    return 0;
}
"""


def test_whether_a_mapping_that_grows_down_can_grow_is_what_the_kernel_does(gcc, tmp_path):
    """The words against the kernel: a program maps memory that grows down right above
    a mapping of its own and far from any, reads its smaps, then touches the page
    below each. Where the map says "cannot grow", the kernel refused to grow it
    (SIGSEGV); where it does not, the kernel grew it."""
    import subprocess

    from roads.capture.proc import cmdline_stack_guard_gap, parse_smaps
    from roads.capture.toolchain import kernel_cmdline
    from tests.explain_support import build

    program = build(tmp_path, "grows", GROWS_DOWN, "-O0")
    done = subprocess.run([str(program)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr  # mmap refused: its error
    lines = done.stdout.splitlines(keepends=True)
    touched = [line.split()[1:] for line in lines if line.startswith("touched ")]
    grew = {int(addr, 16): ok == "1" for addr, ok in touched}
    smaps = "".join(line for line in lines if not line.startswith("touched "))
    regions = [region(e.maps.start, e.maps.end, e.maps.perms, e.maps.pathname, e.maps.offset,
                      vmflags=e.vmflags) for e in parse_smaps(smaps)]
    doc = fake_doc(regions)  # the kernel's gap as this machine was booted with it
    doc["provenance"]["cmdline_stack_guard_gap"] = cmdline_stack_guard_gap(kernel_cmdline())
    told = {c.region.start: c.why for c in memory_map(select(doc)).regions}
    assert sorted(grew.values()) == [False, True]  # both cases were met
    for start, did in grew.items():
        assert "MAP_GROWSDOWN" in told[start]
        assert ("cannot grow" not in told[start]) == did, (hex(start), told[start])


def test_memory_the_stopped_thread_runs_on_is_told_as_its_stack():
    """A child made by clone (or posix_spawn) runs on a stack mapped with mmap, and
    roads explain's stop in it drew the memory its sp points into as a plain "anonymous
    mapping" (a learner's tour). Memory that holds the recorded sp says it is the stack
    the stopped thread runs on; memory beside it does not."""
    regions = [
        region(0x7F0000000000, 0x7F0000010000),
        region(0x7F0000020000, 0x7F0000030000),
        *KERNEL_PAGES,
    ]
    doc = fake_doc(regions, {"sp": 0x7F000000FF00, "pc": 0x555555555100})
    doc["variants"]["default"]["runs"][0]["checkpoints"][0]["status"] = {"Threads": 1}
    told = [c.why for c in memory_map(select(doc)).regions[:2]]
    assert told[0].startswith("anonymous memory from mmap that holds the stack the stopped "
                              "thread runs on (its stack pointer, sp, points into it)")
    assert told[1] == "anonymous memory from mmap"


def test_a_library_the_loader_is_mapping_is_its_reservation():
    """At ld.so's first mmap of libc (--at syscall:mmap:3) the library is one read-only
    region over its whole span, which the page called 'a shared library's headers and
    constants' (a learner's 1928 KiB of libc): the loader reserves the span at once with
    its first segment's permissions, and maps the other segments over it next. Once
    they are, the first region is read-only data again, as is a region as long as the
    span of a library whose span is not known."""
    from roads.document import Region

    reservation = "the loader's reservation of the whole library"
    libc = "/usr/lib/x86_64-linux-gnu/libc.so.6"
    span = 0x1E2000
    whole = Region(start=0x7FFFF7DD5000, end=0x7FFFF7DD5000 + span, perms="r--p", offset=0,
                   pathname=libc)
    (reserved,), _ = classify([whole], spans={libc: span})
    assert (reserved.kind, reserved.owner) == ("lib-rodata", "libc.so.6")
    assert reservation in reserved.why, reserved.why
    (unknown,), _ = classify([whole], spans={})
    assert reservation not in unknown.why
    first = Region(start=0x7FFFF7DD5000, end=0x7FFFF7DFB000, perms="r--p", offset=0,
                   pathname=libc)
    code = Region(start=0x7FFFF7DFB000, end=0x7FFFF7F51000, perms="r-xp", offset=0x26000,
                  pathname=libc)
    loaded, _ = classify([first, code], spans={libc: span})
    assert [c.kind for c in loaded] == ["lib-rodata", "lib-text"]
    assert reservation not in loaded[0].why
