"""More claims of Hello World, gdb sessions and the hub, checked against the captures.

These sentences are about who writes what before ``main``: the kernel zeroes the tail
of the executable's ``.bss`` during ``execve`` (so that page is private before the
first instruction), the dynamic loader allocates the main thread's TLS block and
points ``%fs`` at it, and a static binary, which has no loader, makes a heap with
``brk`` for the same purpose. Most come from the gdb transcripts of ``starti`` and
``starti-static``, which stop at the first instruction, at ``main`` and at ``exit``
(samples/starti.gdb); the others from the checkpoints and the ELF headers.

"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from roads.figures.elflink import link_segments
from roads.figures.regions import USER_END, memory_map
from roads.figures.select import Selection, select
from tests.claims_support import doc


DYNAMIC, STATIC = "starti", "starti-static"


# --------------------------------------------------------------------------- gdb stops


@dataclass(frozen=True)
class Row:
    """A line of gdb's ``info proc mappings``."""

    start: int
    end: int
    offset: int
    perms: str
    objfile: str

    def __contains__(self, address: int) -> bool:
        return self.start <= address < self.end


@dataclass(frozen=True)
class Stop:
    """What gdb printed from one ``info proc mappings`` to the next."""

    rows: tuple[Row, ...]
    text: str  # the rows and everything after them, up to the next stop's map


ROW = re.compile(r"^\s*(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s+"
                 r"([-rwxsp]{4})\s*(.*)$")
ANONYMOUS = re.compile(r"^\s+(0x[0-9a-f]+) (0x[0-9a-f]+) ([-rwxsp]{4})\s+Anonymous: (\d+) kB$",
                       re.M)
FS_BASE = re.compile(r"^\+p/x \$fs_base\n\$\d+ = (0x[0-9a-f]+)$", re.M)


def transcript(sample: str) -> str:
    return doc(sample)["variants"]["default"]["gdb"]["transcript"]


@cache
def stops(sample: str) -> tuple[Stop, ...]:
    """The first instruction, main and exit, as gdb saw them."""
    pieces = transcript(sample).split("+info proc mappings\n")
    found = []
    for piece in pieces[1:]:
        rows = []
        for line in piece.splitlines():
            m = ROW.match(line)
            if m:
                rows.append(Row(int(m[1], 16), int(m[2], 16), int(m[3], 16), m[4], m[5].strip()))
            elif rows:
                break
        found.append(Stop(tuple(rows), piece))
    assert len(found) == 3, "expected three stops: the first instruction, main and exit"
    return tuple(found)


def before_first_stop(sample: str) -> str:
    return transcript(sample).split("+info proc mappings\n")[0]


def fs_base(stop: Stop) -> int:
    m = FS_BASE.search(stop.text)
    assert m, "no p/x $fs_base at this stop"
    return int(m[1], 16)


def exe_rows(sample: str, stop: Stop) -> list[Row]:
    return [r for r in stop.rows if r.objfile == f"/build/{sample}"]


def rows_named(stop: Stop, suffix: str) -> list[Row]:
    return [r for r in stop.rows if r.objfile.endswith(suffix)]


def row_at(stop: Stop, address: int) -> Row:
    found = [r for r in stop.rows if address in r]
    assert found, f"{address:#x} is in no region of this stop"
    return found[0]


def frames(stop: Stop) -> list[str]:
    """The function names of the backtrace printed at this stop, innermost first."""
    return [m[1] for m in re.finditer(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+)", stop.text, re.M)]


# --------------------------------------------------------------------------- checkpoints


def sel(sample: str, **kw) -> Selection:
    return select(doc(sample), **kw)


def page_size(sample: str) -> int:
    return doc(sample)["provenance"]["page_size"]


def named(s: Selection, pathname: str):
    return [r for r in s.regions if r.pathname == pathname]


# --------------------------------------------------------------------------- hello world


def test_kernel_zeroes_bss_tail():
    first = stops(DYNAMIC)[0]
    anonymous = [(int(a, 16), int(b, 16), perms, int(kb) * 1024)
                 for a, b, perms, kb in ANONYMOUS.findall(first.text)]
    assert [(a, b, p) for a, b, p, _ in anonymous] == \
           [(r.start, r.end, r.perms) for r in exe_rows(DYNAMIC, first)]
    private = [entry for entry in anonymous if entry[3]]
    assert len(private) == 1, "one region of the executable holds private memory"
    start, end, perms, size = private[0]
    assert perms == "rw-p" and size == page_size(DYNAMIC)
    # It is the page where the data segment's file bytes end and its .bss begins.
    elf = sel(DYNAMIC).elf
    data = elf.loads[-1]
    bias = exe_rows(DYNAMIC, first)[0].start - elf.loads[0].p_vaddr
    file_end = bias + data.p_vaddr + data.p_filesz
    assert data.p_memsz > data.p_filesz and file_end % page_size(DYNAMIC)
    assert start <= file_end < end
    # No instruction of the program or of the loader has run yet.
    assert re.search(r"in _start \(\) from \S*ld-linux", before_first_stop(DYNAMIC))


def private_pages(sample: str, stop: Stop) -> dict[str, int]:
    """Bytes of private anonymous memory that anonymous-pages found, by the region's perms."""
    rows = ANONYMOUS.findall(stop.text)
    assert [(int(a, 16), int(b, 16), p) for a, b, p, _ in rows] == \
           [(r.start, r.end, r.perms) for r in exe_rows(sample, stop)]
    found: dict[str, int] = {}
    for _, _, perms, kb in rows:
        found[perms] = found.get(perms, 0) + int(kb) * 1024
    return found


def test_static_gdb_breakpoint_page():
    first = stops(STATIC)[0]
    page = page_size(STATIC)
    assert private_pages(STATIC, first) == {"r--p": 0, "r-xp": page, "rw-p": page}
    # No code has run yet: the stop is at the program's own first instruction.
    assert re.search(r"in _start \(\)\n", before_first_stop(STATIC))


def test_bss_parts_add_up():
    for variant in ("small", "bigbss"):
        s = sel("elf2maps", variant=variant)
        links = link_segments(s.elf, s.regions, s.snapshot.exe, memory_map(s).bias)
        data = [link for link in links if link.bss is not None]
        assert len(data) == 1
        bss = s.elf.get_section(".bss")
        assert data[0].bss_tail + data[0].bss_page_bytes == bss.sh_size, variant
        assert data[0].bss_tail < page_size("elf2maps")


def test_static_heap_before_main():
    static, dynamic = sel(STATIC, checkpoint="main"), sel(DYNAMIC, checkpoint="main")
    assert static.elf.is_static and not dynamic.elf.is_static
    assert len(named(static, "[heap]")) == 1 and not named(dynamic, "[heap]")
    heap = named(static, "[heap]")[0]
    assert heap.perms == "rw-p" and heap.start >= max(
        r.end for r in static.regions if r.pathname == static.snapshot.exe)


def test_static_no_heap_at_first_instruction():
    first, main, _ = stops(STATIC)
    # The first instruction is the program's own _start: no loader ran before it.
    assert re.search(r"in _start \(\)\n", before_first_stop(STATIC))
    assert not rows_named(first, "ld-linux-x86-64.so.2")
    assert not rows_named(first, "[heap]") and rows_named(main, "[heap]")
    assert fs_base(first) == 0


def test_static_thread_pointer_in_heap():
    _, main, _ = stops(STATIC)
    fs = fs_base(main)
    assert row_at(main, fs).objfile == "[heap]"
    heap = named(sel(STATIC, checkpoint="main"), "[heap]")[0]
    assert heap.start <= fs < heap.end


def test_static_heap_unchanged_by_printf():
    def bounds(sample, checkpoint):
        return [(r.start, r.end) for r in named(sel(sample, checkpoint=checkpoint), "[heap]")]

    assert bounds(STATIC, "main") == bounds(STATIC, "before-exit") != []
    assert bounds(DYNAMIC, "main") == [] != bounds(DYNAMIC, "before-exit")
    assert "hello, world" in sel(STATIC).run_record.stdout


# --------------------------------------------------------------------------- gdb sessions


def test_fs_base_unset_at_first_instruction():
    assert fs_base(stops(DYNAMIC)[0]) == 0


def test_first_stop_private_page_is_the_kernels():
    first = stops(DYNAMIC)[0]
    found = private_pages(DYNAMIC, first)
    assert {perms: size for perms, size in found.items() if size} == {"rw-p": page_size(DYNAMIC)}
    # That region is the data segment, whose file bytes end inside it and .bss follows.
    elf = sel(DYNAMIC).elf
    data = elf.loads[-1]
    bias = exe_rows(DYNAMIC, first)[0].start - elf.loads[0].p_vaddr
    assert data.p_memsz > data.p_filesz
    assert row_at(first, bias + data.p_vaddr + data.p_filesz).perms == "rw-p"


def test_thread_pointer_below_libc():
    first, main, _ = stops(DYNAMIC)
    region = row_at(main, fs_base(main))
    assert region.objfile == "" and region.perms == "rw-p"
    assert region.end == rows_named(main, "/libc.so.6")[0].start
    assert region not in first.rows and not any(fs_base(main) in r for r in first.rows)


def test_loader_region_below_vvar():
    first, main, _ = stops(DYNAMIC)
    vvar = rows_named(main, "[vvar]")[0]
    below = [r for r in main.rows if r.end == vvar.start]
    assert len(below) == 1 and below[0].objfile == "" and below[0].perms == "rw-p"
    assert below[0] not in first.rows
    # It and the region below libc are the anonymous regions that are no library's .bss.
    libc_data = rows_named(main, "/libc.so.6")[-1]
    others = [r for r in main.rows if r.objfile == "" and r.start != libc_data.end]
    assert below[0] in others and row_at(main, fs_base(main)) in others and len(others) == 2


def test_backtrace_at_exit_has_no_main():
    names = frames(stops(DYNAMIC)[2])
    assert names, "no backtrace at exit"
    assert "exit" in names[0] and names[-1] == "_start"
    assert "main" not in names
    assert names[1] == "__libc_start_call_main"


def test_backtrace_outer_frames():
    exit_ = stops(DYNAMIC)[2]
    assert frames(exit_)[2:] == ["__libc_start_main_impl", "_start"]
    # _start's frame is in the executable's code, not in a library.
    m = re.search(r"^#\d+\s+(0x[0-9a-f]+) in _start \(\)", exit_.text, re.M)
    assert m, "no frame for _start"
    code = row_at(exit_, int(m[1], 16))
    assert code.objfile == f"/build/{DYNAMIC}" and code.perms == "r-xp"


def test_gdb_region_counts():
    _, main, exit_ = stops(DYNAMIC)
    assert len(main.rows) == len(sel(DYNAMIC, checkpoint="main").regions)
    assert len(exit_.rows) == len(sel(DYNAMIC, checkpoint="before-exit").regions)


# --------------------------------------------------------------------------- the hub


def test_regions_vanish_to_scale():
    s = sel(DYNAMIC, checkpoint="before-exit")
    user = [r for r in s.regions if r.end <= USER_END]
    span = max(r.end for r in user) - min(r.start for r in user)
    total = sum(r.size for r in user)
    # The words print VmSize, the kernel's own sum of the user regions ([vsyscall] left
    # out), which is also what the figure's summary counts as user space mapped.
    assert s.snapshot.status["VmSize"] * 1024 == total
    # A figure as tall as a screen has fewer than ten thousand pixels.
    assert total / span < 1 / 10_000
