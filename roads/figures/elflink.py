"""ELF segments linked to the regions of a running process they became.

Pure: ``load_bias``, ``link_segments``, ``symbol_address`` and ``find_region`` take
an ``Elf`` (``roads.capture.elf``) and the regions of ``/proc/PID/maps`` (any objects with
the attributes of ``roads.capture.proc.MapsEntry``) and say which region came from which
``PT_LOAD`` segment, and how.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol, Sequence

from ..document import Elf, Segment
from ..elfspec import PAGE_SIZE
from ..errors import ConfigError, RoadsError
from .filenames import file_path, program_path


class Region(Protocol):
    """One line of ``/proc/PID/maps``, as ``roads.capture.proc.MapsEntry`` holds it."""

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def perms(self) -> str: ...
    @property
    def offset(self) -> int: ...
    @property
    def inode(self) -> int: ...
    @property
    def pathname(self) -> str: ...
    @property
    def deleted(self) -> bool: ...


@dataclass(frozen=True)
class SegmentLink:
    """How one ``PT_LOAD`` segment became regions of a running process.

    All addresses are run-time addresses (the load bias added). ``regions`` are
    indexes into the regions given to ``link_segments``, in address order.
    """

    index: int  # position of the PT_LOAD in Elf.segments
    start: int  # page-aligned start of the segment in memory
    end: int  # page-aligned end of p_memsz
    file_end: int  # end of the pages that map file contents (== start if p_filesz is 0)
    file_offset: int  # p_offset rounded down to a page: the file offset mapped at start
    regions: tuple[int, ...]
    relro: tuple[int, int] | None  # pages PT_GNU_RELRO makes read-only in this segment
    relro_applied: bool  # those pages are already r--p
    bss: tuple[int, int] | None  # the bytes [p_vaddr + p_filesz, p_vaddr + p_memsz)
    bss_tail: int  # bss bytes in the last file page, zeroed by the kernel at execve
    bss_pages: tuple[int, int] | None  # whole bss pages past the file: anonymous memory
    shares_file_page_with: tuple[int, ...]  # other PT_LOADs mapping a same file page
    congruent: bool  # p_offset ≡ p_vaddr (mod PAGE_SIZE)
    notes: tuple[str, ...]

    @property
    def bss_page_bytes(self) -> int:
        """The bss bytes that lie in the whole anonymous pages (not the pages' size: the
        last page holds the end of the bss and then nothing). With ``bss_tail`` it adds
        up to the whole bss."""
        if self.bss is None or self.bss_pages is None:
            return 0
        return self.bss[1] - max(self.bss[0], self.bss_pages[0])


def page_down(address: int) -> int:
    """``address`` rounded down to a page boundary."""
    return address & ~(PAGE_SIZE - 1)


def page_up(address: int) -> int:
    """``address`` rounded up to a page boundary."""
    return (address + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def _is_file(region: Region, program: str) -> bool:
    # maps appends " (deleted)" when the file was unlinked while mapped; a file named
    # so is another file.
    return file_path(region) == program


def _is_anonymous(region: Region) -> bool:
    return region.inode == 0 and region.pathname in ("", "[heap]")


def load_bias(elf: Elf, regions: Sequence[Region], exe_path: str | os.PathLike[str]) -> int:
    """The difference between run-time addresses and ``p_vaddr`` for this process.

    0 for ET_EXEC, which is loaded where its program headers say. For ET_DYN (PIE,
    static-pie) it is the start of the lowest region of ``exe_path`` that maps the
    first PT_LOAD's file page (offset 0 in practice), minus that segment's page-aligned
    ``p_vaddr``. ``exe_path`` is the path as ``maps`` shows it (symbolic links resolved),
    with or without the " (deleted)" of a file unlinked since.
    """
    if elf.header.e_type == "ET_EXEC":
        return 0
    exe_path = os.fspath(exe_path)
    loads = elf.loads
    if not loads:
        raise RoadsError(f"{exe_path}: no PT_LOAD segment, so nothing of it is mapped")
    first = loads[0]
    offset = page_down(first.p_offset)
    program = program_path(exe_path, regions)
    candidates = [r for r in regions if _is_file(r, program) and r.offset == offset]
    if not candidates:
        raise RoadsError(
            f"{exe_path}: no region in maps holds file offset {offset:#x} of it; "
            "was the process started from another path?"
        )
    return min(r.start for r in candidates) - page_down(first.p_vaddr)


def link_segments(
    elf: Elf, regions: Sequence[Region], exe_path: str | os.PathLike[str], bias: int
) -> list[SegmentLink]:
    """Link every ``PT_LOAD`` of ``elf`` to the ``regions`` (maps lines) it became.

    A region belongs to a segment when it overlaps the segment's pages and either
    maps ``exe_path`` at the matching file offset, or is anonymous memory past the
    file-backed pages (the bss). What the linking shows, in ``notes``:

    * RELRO: ld.so (or a static binary's startup code) mprotects the pages covered by
      ``PT_GNU_RELRO`` read-only after relocation, splitting the data segment, so
      four PT_LOADs typically become five regions;
    * packing: the linker lays segments out back to back in the file but on distinct
      pages in memory, so one file page can be mapped by two segments and one file
      offset appear twice in maps;
    * bss (``p_memsz > p_filesz``): its first bytes are the zeroed tail of the last
      file page; if it reaches further pages those are an anonymous ``rw-p`` region,
      which may sit next to, or be merged into, ``[heap]``.
    """
    program = program_path(os.fspath(exe_path), regions)
    relro = elf.relro
    links = []
    loads = [(i, s) for i, s in enumerate(elf.segments) if s.p_type == "PT_LOAD"]
    for index, seg in loads:
        links.append(_link_one(index, seg, loads, relro, regions, program, bias))
    return links


def _link_one(
    index: int,
    seg: Segment,
    loads: list[tuple[int, Segment]],
    relro: Segment | None,
    regions: Sequence[Region],
    program: str,
    bias: int,
) -> SegmentLink:
    start = page_down(seg.p_vaddr + bias)
    end = page_up(seg.p_vaddr + seg.p_memsz + bias)
    file_end = page_up(seg.p_vaddr + seg.p_filesz + bias) if seg.p_filesz else start
    file_offset = page_down(seg.p_offset)
    notes: list[str] = []

    congruent = seg.congruent(PAGE_SIZE)
    notes.append(
        f"p_offset {seg.p_offset:#x} ≡ p_vaddr {seg.p_vaddr:#x} (mod {PAGE_SIZE:#x}): "
        + (
            "the same offset within a page in file and memory"
            if congruent
            else "VIOLATED: mmap cannot map this"
        )
    )
    linked = _regions_from(regions, program, start, end, file_end, file_offset, notes)
    relro_range, relro_applied = _relro_in(relro, bias, start, end, regions, linked, notes)
    shared = _shared_file_pages(index, seg, loads, notes)

    bss = bss_pages = None
    bss_tail = 0
    if seg.p_memsz > seg.p_filesz:
        bss = (seg.p_vaddr + seg.p_filesz + bias, seg.p_vaddr + seg.p_memsz + bias)
        bss_tail = max(0, min(file_end, bss[1]) - bss[0])
        if bss_tail:
            notes.append(
                f"bss: its first {bss_tail:#x} bytes fill the end of the last file page, "
                "zeroed by the kernel during execve"
            )
        if end > file_end:
            bss_pages = (file_end, end)
            notes.append(
                f"bss: {bss[1] - max(bss[0], file_end):#x} more bytes in whole pages "
                f"{file_end:#x}-{end:#x}, anonymous rw-p memory"
            )

    # Every page of the segment should be in some region; say so when one is not.
    covered = sorted((max(regions[k].start, start), min(regions[k].end, end)) for k in linked)
    cursor = start
    for lo, hi in covered + [(end, end)]:
        if lo > cursor:
            notes.append(f"{cursor:#x}-{lo:#x} of this segment is not in maps")
        cursor = max(cursor, hi)

    return SegmentLink(
        index=index,
        start=start,
        end=end,
        file_end=file_end,
        file_offset=file_offset,
        regions=linked,
        relro=relro_range,
        relro_applied=relro_applied,
        bss=bss,
        bss_tail=bss_tail,
        bss_pages=bss_pages,
        shares_file_page_with=shared,
        congruent=congruent,
        notes=tuple(notes),
    )


def _regions_from(
    regions: Sequence[Region],
    program: str,
    start: int,
    end: int,
    file_end: int,
    file_offset: int,
    notes: list[str],
) -> tuple[int, ...]:
    """Indexes of the regions that came from the segment occupying [start, end)."""
    linked = []
    for k, r in enumerate(regions):
        if r.end <= start or r.start >= end:
            continue
        if _is_file(r, program):
            # The file offset this region maps at the segment's first page must be
            # the segment's own, or the region comes from elsewhere in the file.
            if r.offset + (start - r.start) != file_offset:
                continue
            linked.append(k)
            lo, hi = max(r.start, start), min(r.end, file_end)
            notes.append(
                f"region {k} {r.perms}: file offsets "
                f"{file_offset + lo - start:#x}-{file_offset + hi - start:#x} "
                f"at {lo:#x}-{hi:#x}"
            )
            if r.start < start or r.end > file_end:
                notes.append(f"region {k} extends past this segment's file pages: merged")
        elif _is_anonymous(r) and r.end > file_end:
            linked.append(k)
            label = r.pathname or "anonymous"
            notes.append(f"region {k} {r.perms} {label} at {r.start:#x}-{r.end:#x}: bss pages")
            if r.pathname == "[heap]" or r.end > end:
                notes.append(
                    f"region {k} holds the bss pages and more: the kernel merged them with "
                    "the brk heap, which starts right after the bss when not randomised"
                )
    return tuple(linked)


def _relro_in(
    relro: Segment | None,
    bias: int,
    start: int,
    end: int,
    regions: Sequence[Region],
    linked: tuple[int, ...],
    notes: list[str],
) -> tuple[tuple[int, int] | None, bool]:
    """The pages of [start, end) that PT_GNU_RELRO covers, and whether they are r--p yet."""
    if relro is None:
        return None, False
    # glibc's _dl_protect_relro rounds both ends down to a page: a partial last page
    # stays writable.
    lo = max(page_down(relro.p_vaddr + bias), start)
    hi = min(page_down(relro.p_vaddr + relro.p_memsz + bias), end)
    if lo >= hi:
        return None, False
    covering = [regions[k] for k in linked if regions[k].start < hi and regions[k].end > lo]
    # Made read-only, the RELRO pages are split from the rest of the segment, which stays
    # writable: a read-only mapping that goes on past them is the whole file, mapped
    # read-only while ld.so loads it (the segments are mapped over it next).
    applied = bool(covering) and all(r.perms[:3] == "r--" and r.end <= hi for r in covering)
    if applied:
        split = ", splitting this segment's mapping" if (start, end) != (lo, hi) else ""
        notes.append(
            f"PT_GNU_RELRO: {lo:#x}-{hi:#x} made read-only (r--p) after relocation" + split
        )
    elif covering and all(r.perms[:3] == "r--" for r in covering):
        notes.append(
            f"PT_GNU_RELRO: {lo:#x}-{hi:#x} not mapped as a segment yet: the file is "
            "mapped whole, read-only, while ld.so loads it"
        )
    else:
        notes.append(
            f"PT_GNU_RELRO: {lo:#x}-{hi:#x} still writable: relocation is not done yet "
            "(ld.so or the static startup code mprotects it before main)"
        )
    return (lo, hi), applied


def _shared_file_pages(
    index: int, seg: Segment, loads: list[tuple[int, Segment]], notes: list[str]
) -> tuple[int, ...]:
    """The other PT_LOADs that map one of this segment's file pages too."""
    if not seg.p_filesz:
        return ()
    mine = (page_down(seg.p_offset), page_up(seg.p_offset + seg.p_filesz))
    shared = []
    for other_index, other in loads:
        if other_index == index or not other.p_filesz:
            continue
        theirs = (page_down(other.p_offset), page_up(other.p_offset + other.p_filesz))
        if mine[0] < theirs[1] and theirs[0] < mine[1]:
            shared.append(other_index)
            notes.append(
                f"file page at offset {max(mine[0], theirs[0]):#x} is also mapped by segment "
                f"{other_index}: the linker packs segments in the file but gives each its "
                "own pages in memory"
            )
    return tuple(shared)


def symbol_address(elf: Elf, name: str, bias: int) -> int:
    """The run-time address of the symbol ``name``: ``st_value`` plus the load bias.

    A name defined more than once (static functions of different files) must have
    exactly one global or weak definition. ConfigError if the name is unknown,
    ambiguous, or thread-local: a TLS symbol's ``st_value`` is an offset in each
    thread's TLS block, not an address.
    """
    found = [s for s in elf.symbols if s.name == name]
    if len(found) > 1:
        found = [s for s in found if s.bind != "STB_LOCAL"] or found
    if not found:
        raise ConfigError(f"no symbol {name!r} in the ELF file ({elf.symtab or 'no symbol table'})")
    if len(found) > 1:
        where = ", ".join(f"{s.section}:{s.st_value:#x}" for s in found)
        raise ConfigError(f"symbol {name!r} is defined {len(found)} times ({where})")
    symbol = found[0]
    if symbol.type == "STT_TLS":
        raise ConfigError(
            f"symbol {name!r} is thread-local: its st_value is an offset in each thread's "
            "TLS block, not an address"
        )
    return symbol.st_value + bias


def find_region(regions: Sequence[Region], address: int) -> int | None:
    """The index of the region holding ``address``, or None if it is unmapped."""
    for k, r in enumerate(regions):
        if r.start <= address < r.end:
            return k
    return None
