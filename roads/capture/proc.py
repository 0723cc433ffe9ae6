"""Parsers for the /proc files that describe a process's memory, and one reader.

Record and field names follow ``man 5 proc`` and the kernel's own documentation
(Documentation/filesystems/proc.rst, Documentation/admin-guide/mm/pagemap.rst).
The ``parse_*`` functions take text or bytes and do no I/O; ``Proc`` reads the
files, under a root that tests can point at captured text.

Sizes are kept in the unit the kernel writes: the ``kB`` lines of ``smaps`` and
``status`` stay in KiB (the kernel's "kB" means 1024 bytes), addresses and
offsets are integers in bytes.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import stat
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from ..constants import ADDR_NO_RANDOMIZE, PAGE_SIZE as _PAGE, PF_EXITING, USER_BITS
from ..elfspec import ELFMAG
from ..errors import CaptureError, ProcessGone, RoadsError

PAGE_SIZE = _PAGE.value  # the kernel's page size on x86-64

KIB = 1024

T = TypeVar("T")

# ---------------------------------------------------------------------------
# /proc/PID/maps


@dataclass(frozen=True)
class MapsEntry:
    """One line of /proc/PID/maps: a virtual memory area (VMA).

    ``pathname`` is exactly what the kernel printed: a file path (newlines in it
    appear as ``\\012``, and `` (deleted)`` is appended once the file is
    unlinked), a pseudo-name such as ``[heap]``, ``[stack]``, ``[vdso]``,
    ``[anon:NAME]`` or ``[anon_shmem:NAME]``, or "" for an anonymous mapping.
    """

    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    pathname: str

    @property
    def size(self) -> int:
        """Length of the area in bytes."""
        return self.end - self.start

    @property
    def deleted(self) -> bool:
        """True when maps calls the file deleted: its pathname ends in `` (deleted)``, as
        an unlinked file's does, and also a file's whose own name ends so
        (``Proc.unlinked`` tells them apart while the process lives)."""
        return self.pathname.endswith(" (deleted)")

    @property
    def shared(self) -> bool:
        """True for MAP_SHARED areas (``s`` in the fourth perms column)."""
        return self.perms[3:4] == "s"

    def line(self) -> str:
        """The line as the kernel prints it (fs/proc/task_mmu.c, show_vma_header_prefix).

        Fields are zero-padded hex; when there is a pathname the line is padded
        with spaces to column 73 before it, and an anonymous area's line ends in
        a single space.
        """
        prefix = (
            f"{self.start:08x}-{self.end:08x} {self.perms} {self.offset:08x} "
            f"{self.dev} {self.inode} "
        )
        if not self.pathname:
            return prefix
        return prefix.ljust(_MAPS_PAD) + " " + self.pathname


# seq_setwidth(m, 25 + sizeof(void *) * 6 - 1) on a 64-bit kernel.
_MAPS_PAD = 25 + 8 * 6 - 1

_HEADER = re.compile(r"[0-9a-f]+-[0-9a-f]+ ")
_HEX_START = frozenset("0123456789abcdef")


def parse_maps_line(line: str) -> MapsEntry:
    """Parse one maps line (also the header line of each smaps block)."""
    line = line.rstrip("\n")
    # The pathname may contain spaces: split off only the first five fields.
    fields = line.split(None, 5)
    if len(fields) < 5 or not _HEADER.match(line):
        raise CaptureError(f"not a maps line: {line!r}")
    address, perms, offset, dev, inode = fields[:5]
    start, _, end = address.partition("-")
    try:
        return MapsEntry(
            start=int(start, 16),
            end=int(end, 16),
            perms=perms,
            offset=int(offset, 16),
            dev=dev,
            inode=int(inode),
            pathname=fields[5] if len(fields) == 6 else "",
        )
    except ValueError:
        raise CaptureError(f"not a maps line: {line!r}") from None


def parse_maps(text: str | bytes) -> tuple[MapsEntry, ...]:
    """Parse the whole of /proc/PID/maps, one record per line, in file order."""
    return tuple(parse_maps_line(row) for row in _lines(text))


# ---------------------------------------------------------------------------
# /proc/PID/smaps and smaps_rollup


@dataclass(frozen=True)
class SmapsEntry:
    """One block of /proc/PID/smaps: a maps line and what the kernel counts in it.

    ``kb`` maps each ``kB`` line's key, spelt as in the file ("Rss", "Pss_Dirty",
    "AnonHugePages", ...), to its value in KiB exactly as printed. ``vmflags`` are
    the two-letter flags of the ``VmFlags`` line; ``thp_eligible`` is the
    ``THPeligible`` line; any other non-kB line (``ProtectionKey`` on CPUs with
    protection keys) lands in ``other`` as text.
    """

    maps: MapsEntry
    kb: Mapping[str, int]
    vmflags: tuple[str, ...] = ()
    thp_eligible: bool | None = None
    other: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def bytes(self, key: str) -> int:
        """The ``key`` line in bytes; 0 when this kernel does not print it."""
        return self.kb.get(key, 0) * KIB

    @property
    def rss(self) -> int:
        """Resident set size in bytes."""
        return self.bytes("Rss")

    @property
    def pss(self) -> int:
        """Proportional set size in bytes (each shared page divided among its mappers)."""
        return self.bytes("Pss")


def parse_smaps(text: str | bytes) -> tuple[SmapsEntry, ...]:
    """Parse /proc/PID/smaps (or smaps_rollup, whose one block is ``[rollup]``).

    Block by block: most blocks repeat exactly from checkpoint to checkpoint and from
    run to run (a library's mapping, the same counters), and a block parses the same
    every time, so each is parsed once and its (immutable) record kept by its text.
    """
    text = _text(text)
    starts = [0] if _HEADER.match(text) else []
    starts += [m.start() + 1 for m in _BLOCK_START.finditer(text)]
    if not starts or text[:starts[0]].strip("\n"):
        return _parse_smaps(text)  # no area, or a line before the first: its error
    starts.append(len(text))
    out = []
    for start, end in zip(starts, starts[1:]):
        block = text[start:end]
        entry = _BLOCKS.get(block)
        if entry is None:
            (entry,) = _parse_smaps(block)  # one header, at its start: one block
            if len(_BLOCKS) >= _BLOCKS_KEPT:
                _BLOCKS.clear()  # a long-lived process starts again rather than grow
            _BLOCKS[block] = entry
        out.append(entry)
    return tuple(out)


# The line that opens a block (the test ``_parse_smaps`` makes of each line), found
# after its newline (a literal first character, which the regex engine looks for
# quickly) or at the start, and the blocks already parsed, by their text.
_BLOCK_START = re.compile(r"\n[0-9a-f]+-[0-9a-f]+ ")
_BLOCKS: dict[str, SmapsEntry] = {}
_BLOCKS_KEPT = 4096


def _parse_smaps(text: str) -> tuple[SmapsEntry, ...]:
    """Parse smaps text line by line (``parse_smaps``)."""
    blocks: list[SmapsEntry] = []
    header: MapsEntry | None = None
    kb: dict[str, int] = {}
    other: dict[str, str] = {}
    vmflags: tuple[str, ...] = ()
    thp: bool | None = None

    def close() -> None:
        if header is not None:  # each block's dicts are its own: no copies needed
            blocks.append(SmapsEntry(header, MappingProxyType(kb), vmflags, thp,
                                     MappingProxyType(other)))

    for row in _lines(text):
        known = _KB_ROWS.get(row)
        if known is not None and header is not None:
            kb[known[0]] = known[1]
            continue
        # A counter's key starts with a capital, a header with a hex digit: the pattern
        # is tried only where it can match.
        if row[0] in _HEX_START and _HEADER.match(row):
            close()
            header, kb, other, vmflags, thp = parse_maps_line(row), {}, {}, (), None
            continue
        if header is None:
            raise CaptureError(f"smaps line before any area: {row!r}")
        key, sep, value = row.partition(":")
        if not sep:
            raise CaptureError(f"not a smaps line: {row!r}")
        value = value.strip()
        if key == "VmFlags":
            vmflags = tuple(value.split())
        elif key == "THPeligible":
            thp = value == "1"
        elif value.endswith(" kB"):
            kb[key] = number = int(value[:-3])
            if len(_KB_ROWS) < _KB_ROWS_KEPT:
                _KB_ROWS[row] = (key, number)
        else:
            other[key] = value
    close()
    return tuple(blocks)


# Counter rows already parsed, as (key, KiB): most rows of smaps repeat from area to
# area and from capture to capture ("Swap:                  0 kB"), and a row parses
# the same every time.
_KB_ROWS: dict[str, tuple[str, int]] = {}
_KB_ROWS_KEPT = 8192


def parse_smaps_rollup(text: str | bytes) -> SmapsEntry:
    """Parse /proc/PID/smaps_rollup: the sums over every area, in one block."""
    blocks = parse_smaps(text)
    if len(blocks) != 1:
        raise CaptureError(f"smaps_rollup should hold one block, found {len(blocks)}")
    return blocks[0]


# ---------------------------------------------------------------------------
# /proc/PID/status


@dataclass(frozen=True)
class Status:
    """The identity, credential and memory lines of /proc/PID/status.

    Field names are the kernel's keys. The ``Vm*`` and ``Rss*`` values are in
    KiB as printed; they are None for kernel threads and zombies, which have no
    memory of their own to describe. The credential lines (``TracerPid`` to
    ``CapEff``) are None only in text that lacks them (a capture records the
    identity and memory lines alone: ``snapshot``). So are the signal masks
    (``SigPnd``, ``ShdPnd``, ``SigIgn``, ``SigCgt``).
    """

    Name: str
    State: str
    Pid: int
    PPid: int
    Threads: int
    Tgid: int | None = None  # the process (thread group) this thread belongs to
    TracerPid: int | None = None  # the process tracing this one, 0 for none
    Uid: tuple[int, int, int, int] | None = None  # real, effective, saved set, filesystem
    Gid: tuple[int, int, int, int] | None = None  # likewise
    CapPrm: int | None = None  # the permitted capability set, as a mask
    CapEff: int | None = None  # the effective capability set, as a mask
    SigPnd: int | None = None  # the signals pending for this thread, as a mask
    ShdPnd: int | None = None  # the signals pending for its whole process, as a mask
    SigIgn: int | None = None  # the signals its process ignores, as a mask
    SigCgt: int | None = None  # the signals its process has a handler for, as a mask
    VmPeak: int | None = None
    VmSize: int | None = None
    VmLck: int | None = None
    VmPin: int | None = None
    VmHWM: int | None = None
    VmRSS: int | None = None
    RssAnon: int | None = None
    RssFile: int | None = None
    RssShmem: int | None = None
    VmData: int | None = None
    VmStk: int | None = None
    VmExe: int | None = None
    VmLib: int | None = None
    VmPTE: int | None = None
    VmSwap: int | None = None


_STATUS_KB = (
    "VmPeak VmSize VmLck VmPin VmHWM VmRSS RssAnon RssFile RssShmem "
    "VmData VmStk VmExe VmLib VmPTE VmSwap"
).split()


def parse_status(text: str | bytes) -> Status:
    """Parse /proc/PID/status, keeping the lines ``Status`` names."""
    lines: dict[str, str] = {}
    for row in _lines(text):
        key, sep, value = row.partition(":")
        if sep:
            lines[key] = value.strip()
    try:
        memory = {key: int(lines[key].removesuffix(" kB")) for key in _STATUS_KB if key in lines}
        numbers = {key: int(lines[key]) for key in ("Tgid", "TracerPid") if key in lines}
        ids = {key: _four_ids(lines[key]) for key in ("Uid", "Gid") if key in lines}
        masks = {key: int(lines[key], 16) for key in ("CapPrm", "CapEff", "SigPnd", "ShdPnd",
                                                      "SigIgn", "SigCgt") if key in lines}
        return Status(
            Name=lines["Name"],
            State=lines["State"],
            Pid=int(lines["Pid"]),
            PPid=int(lines["PPid"]),
            Threads=int(lines["Threads"]),
            **numbers, **ids, **masks, **memory,
        )
    except (KeyError, ValueError) as exc:
        raise CaptureError(f"malformed status file: {exc}") from None


def _four_ids(value: str) -> tuple[int, int, int, int]:
    """A Uid: or Gid: line's real, effective, saved set and filesystem ids."""
    words = value.split()
    if len(words) != 4:
        raise ValueError(f"{value!r} is not four ids")
    real, effective, saved, filesystem = (int(word) for word in words)
    return real, effective, saved, filesystem


# ---------------------------------------------------------------------------
# /proc/PID/stat


@dataclass(frozen=True)
class Stat:
    """Selected fields of /proc/PID/stat, named and numbered as in ``man 5 proc``.

    The address fields (startcode ... env_end) read as 0 unless the reader may
    ptrace the process.
    """

    pid: int  # (1)
    comm: str  # (2), without its parentheses
    state: str  # (3)
    ppid: int  # (4)
    pgrp: int  # (5)
    session: int  # (6)
    flags: int  # (9) the kernel's PF_* flags of the task
    starttime: int  # (22) clock ticks after boot
    vsize: int  # (23) bytes
    rss: int  # (24) pages
    startcode: int  # (26)
    endcode: int  # (27)
    startstack: int  # (28)
    start_data: int  # (45)
    end_data: int  # (46)
    start_brk: int  # (47)
    arg_start: int  # (48)
    arg_end: int  # (49)
    env_start: int  # (50)
    env_end: int  # (51)


def parse_stat(text: str | bytes) -> Stat:
    """Parse /proc/PID/stat.

    ``comm`` may itself contain spaces and parentheses, so it runs from the first
    "(" to the last ")".
    """
    line = _text(text).strip()
    opened, closed = line.find("("), line.rfind(")")
    if opened < 0 or closed < opened:
        raise CaptureError(f"malformed stat line: {line!r}")
    # rest[0] is field (3); field (n) is rest[n - 3].
    rest = line[closed + 1 :].split()

    def number(n: int) -> int:
        return int(rest[n - 3])

    try:
        return Stat(
            pid=int(line[:opened]),
            comm=line[opened + 1 : closed],
            state=rest[0],
            ppid=number(4),
            pgrp=number(5),
            session=number(6),
            flags=number(9),
            starttime=number(22),
            vsize=number(23),
            rss=number(24),
            startcode=number(26),
            endcode=number(27),
            startstack=number(28),
            start_data=number(45),
            end_data=number(46),
            start_brk=number(47),
            arg_start=number(48),
            arg_end=number(49),
            env_start=number(50),
            env_end=number(51),
        )
    except (IndexError, ValueError):
        raise CaptureError(f"malformed stat line: {line!r}") from None


# ---------------------------------------------------------------------------
# /proc/PID/personality



@dataclass(frozen=True)
class Personality:
    """The execution domain word of personality(2), from /proc/PID/personality."""

    persona: int

    @property
    def addr_no_randomize(self) -> bool:
        """True when ASLR is off for this process (``setarch -R``, gdb's default)."""
        return bool(self.persona & ADDR_NO_RANDOMIZE)


def parse_personality(text: str | bytes) -> Personality:
    """Parse /proc/PID/personality: one hexadecimal word such as ``00040000``."""
    try:
        return Personality(int(_text(text).strip(), 16))
    except ValueError:
        raise CaptureError(f"malformed personality: {_text(text)!r}") from None


# ---------------------------------------------------------------------------
# /proc/PID/auxv

# include/uapi/linux/auxvec.h and arch/x86/include/uapi/asm/auxvec.h; 18-22 and
# 34-47 are other architectures' (PowerPC, SH, Alpha) but keep their names here.
AT_NAMES: Mapping[int, str] = MappingProxyType(
    {
        0: "AT_NULL",
        1: "AT_IGNORE",
        2: "AT_EXECFD",
        3: "AT_PHDR",
        4: "AT_PHENT",
        5: "AT_PHNUM",
        6: "AT_PAGESZ",
        7: "AT_BASE",
        8: "AT_FLAGS",
        9: "AT_ENTRY",
        10: "AT_NOTELF",
        11: "AT_UID",
        12: "AT_EUID",
        13: "AT_GID",
        14: "AT_EGID",
        15: "AT_PLATFORM",
        16: "AT_HWCAP",
        17: "AT_CLKTCK",
        18: "AT_FPUCW",
        19: "AT_DCACHEBSIZE",
        20: "AT_ICACHEBSIZE",
        21: "AT_UCACHEBSIZE",
        22: "AT_IGNOREPPC",
        23: "AT_SECURE",
        24: "AT_BASE_PLATFORM",
        25: "AT_RANDOM",
        26: "AT_HWCAP2",
        27: "AT_RSEQ_FEATURE_SIZE",
        28: "AT_RSEQ_ALIGN",
        29: "AT_HWCAP3",
        30: "AT_HWCAP4",
        31: "AT_EXECFN",
        32: "AT_SYSINFO",
        33: "AT_SYSINFO_EHDR",
        34: "AT_L1I_CACHESHAPE",
        35: "AT_L1D_CACHESHAPE",
        36: "AT_L2_CACHESHAPE",
        37: "AT_L3_CACHESHAPE",
        40: "AT_L1I_CACHESIZE",
        41: "AT_L1I_CACHEGEOMETRY",
        42: "AT_L1D_CACHESIZE",
        43: "AT_L1D_CACHEGEOMETRY",
        44: "AT_L2_CACHESIZE",
        45: "AT_L2_CACHEGEOMETRY",
        46: "AT_L3_CACHESIZE",
        47: "AT_L3_CACHEGEOMETRY",
        51: "AT_MINSIGSTKSZ",
    }
)

AT_NUMBERS: Mapping[str, int] = MappingProxyType({name: number for number, name in AT_NAMES.items()})


@dataclass(frozen=True)
class AuxvEntry:
    """One (a_type, a_val) pair of the ELF auxiliary vector (``Elf64_auxv_t``)."""

    a_type: int
    name: str
    a_val: int


def at_name(a_type: int) -> str:
    """The ``AT_*`` name of an auxv type, or ``AT_<number>`` for one we do not know."""
    return AT_NAMES.get(a_type, f"AT_{a_type}")


def parse_auxv(data: bytes) -> tuple[AuxvEntry, ...]:
    """Parse /proc/PID/auxv: pairs of native unsigned longs, up to (not including) AT_NULL."""
    pair = struct.Struct("@LL")
    usable = len(data) - len(data) % pair.size
    entries = []
    for a_type, a_val in pair.iter_unpack(data[:usable]):
        if a_type == 0:
            break
        entries.append(AuxvEntry(a_type, at_name(a_type), a_val))
    return tuple(entries)


def auxv_dict(entries: tuple[AuxvEntry, ...]) -> dict[str, int]:
    """The auxv as ``{name: a_val}`` (the kernel writes each type at most once)."""
    return {entry.name: entry.a_val for entry in entries}


# ---------------------------------------------------------------------------
# /proc/PID/pagemap

PAGEMAP_ENTRY = 8
_PFN_MASK = (1 << 55) - 1


@dataclass(frozen=True)
class PagemapEntry:
    """One 64-bit pagemap entry: what backs the page at ``vaddr`` (pagemap.rst).

    ``pfn`` is the page frame number of a present page, or None when the page
    is not present or the kernel zeroed bits 0-54 because the reader lacks
    CAP_SYS_ADMIN. For a swapped page, bits 0-54 hold the swap type and offset
    instead. ``raw`` is the entry as read.
    """

    vaddr: int
    present: bool  # bit 63
    swapped: bool  # bit 62
    file_or_shared: bool  # bit 61: file page or shared anonymous (since 3.5)
    guard: bool  # bit 58: MADV_GUARD_INSTALL guard region (since 6.15)
    uffd_wp: bool  # bit 57: userfaultfd write-protected (since 5.13)
    exclusive: bool  # bit 56: page exclusively mapped, i.e. mapped once (since 4.2)
    soft_dirty: bool  # bit 55: written since soft-dirty bits were last cleared
    pfn: int | None  # bits 0-54 of a present page
    raw: int

    @classmethod
    def from_raw(cls, vaddr: int, raw: int) -> "PagemapEntry":
        """Decode the 64-bit entry ``raw`` for the page at ``vaddr``."""
        present = bool(raw >> 63 & 1)
        return cls(
            vaddr=vaddr,
            present=present,
            swapped=bool(raw >> 62 & 1),
            file_or_shared=bool(raw >> 61 & 1),
            guard=bool(raw >> 58 & 1),
            uffd_wp=bool(raw >> 57 & 1),
            exclusive=bool(raw >> 56 & 1),
            soft_dirty=bool(raw >> 55 & 1),
            pfn=(raw & _PFN_MASK) or None if present else None,
            raw=raw,
        )

    @property
    def swap_type(self) -> int | None:
        """Bits 0-4 of a swapped page."""
        return self.raw & 0x1F if self.swapped else None

    @property
    def swap_offset(self) -> int | None:
        """Bits 5-54 of a swapped page."""
        return (self.raw & _PFN_MASK) >> 5 if self.swapped else None


def parse_pagemap(data: bytes, start: int) -> tuple[PagemapEntry, ...]:
    """Parse pagemap bytes read at the entry of the page holding ``start``.

    Entries are 64-bit little-endian, one per 4 KiB page, in address order.
    """
    first = start // PAGE_SIZE * PAGE_SIZE
    usable = len(data) - len(data) % PAGEMAP_ENTRY
    return tuple(
        PagemapEntry.from_raw(first + i * PAGE_SIZE, raw)
        for i, (raw,) in enumerate(struct.iter_unpack("<Q", data[:usable]))
    )


# ---------------------------------------------------------------------------
# /proc/PID/cmdline


def parse_cmdline(data: bytes) -> tuple[str, ...]:
    """Parse /proc/PID/cmdline into the process's arguments (none for zombies and kernel
    threads).

    The kernel (fs/proc/base.c, get_mm_cmdline) gives the argument area as execve laid
    it out, each argument followed by one NUL: only the last NUL ends the text, and one
    before it ends an empty last argument (``prog a ''`` reads ``prog\\0a\\0\\0``). A
    process that rewrote the area (setproctitle) so that its last byte is no longer a
    NUL gets the string at the area's start instead, up to and with its first NUL, or a
    page of it with none (get_mm_proctitle): one argument, whole either way.
    """
    if not data:
        return ()
    return tuple(os.fsdecode(arg) for arg in data.removesuffix(b"\0").split(b"\0"))


# ---------------------------------------------------------------------------
# /proc/PID/limits


@dataclass(frozen=True)
class Limit:
    """One line of /proc/PID/limits: a resource's soft and hard limit (None: unlimited)."""

    soft: int | None
    hard: int | None
    units: str  # "bytes", "seconds", "processes", ... or "" where the kernel prints none


_LIMIT_LINE = re.compile(r"^(?P<name>.+?)\s+(?P<soft>unlimited|\d+)\s+(?P<hard>unlimited|\d+)"
                         r"(?:\s+(?P<units>\S+))?\s*$")


def parse_limits(text: str | bytes) -> dict[str, Limit]:
    """Parse /proc/PID/limits (fs/proc/base.c, proc_pid_limits) into ``{name: Limit}``.

    Names are the kernel's, e.g. ``"Max stack size"``; the header line is skipped.
    """
    out: dict[str, Limit] = {}
    for row in _lines(text):
        if row.startswith("Limit "):
            continue
        match = _LIMIT_LINE.match(row)
        if match is None:
            raise CaptureError(f"not a limits line: {row!r}")
        soft, hard = (None if match[k] == "unlimited" else int(match[k]) for k in ("soft", "hard"))
        out[match["name"]] = Limit(soft, hard, match["units"] or "")
    return out


# ---------------------------------------------------------------------------
# Machine-wide facts: /proc/cmdline, /proc/sys/vm/*, the [vsyscall] line, paging


def parse_kernel_cmdline(text: str | bytes) -> dict[str, str | None]:
    """The kernel's boot parameters in /proc/cmdline as ``{name: value}``.

    A bare flag (``quiet``) has the value None; a repeated parameter keeps its last
    value, as the kernel's own parsing does for most of them. Everything after a
    lone ``--`` is for init, not the kernel, and is left out. Quoted values
    (``name="a b"``) are unquoted.
    """
    out: dict[str, str | None] = {}
    for word in _cmdline_words(_text(text)):
        if word == "--":
            break
        name, sep, value = word.partition("=")
        out[name] = value if sep else None
    return out


def _cmdline_words(text: str) -> list[str]:
    words, current, quoted = [], "", False
    for ch in text.strip():
        if ch == '"':
            quoted = not quoted
        elif ch.isspace() and not quoted:
            if current:
                words.append(current)
            current = ""
        else:
            current += ch
    if current:
        words.append(current)
    return words


def cmdline_stack_guard_gap(params: Mapping[str, str | None]) -> int | None:
    """The ``stack_guard_gap=`` boot parameter in pages, or None when it is not given.

    The kernel reads it with simple_strtoul in mm/mmap.c (cmdline_parse_stack_guard_gap):
    leading digits count, the default (256 pages) applies without it.
    """
    value = params.get("stack_guard_gap")
    if value is None:
        return None
    digits = re.match(r"\d+", value)
    return int(digits.group()) if digits else 0


VSYSCALL_MODES = ("xonly", "emulate", "none")


def parse_vsyscall_mode(maps_text: str | bytes) -> str:
    """How this kernel offers the legacy vsyscall page: ``xonly``, ``emulate`` or ``none``.

    Read from the ``[vsyscall]`` line of a 64-bit process's maps (the page is the
    same for every process; arch/x86/entry/vsyscall/vsyscall_64.c): ``--xp`` is
    execute-only (calls into it are emulated, reads fault), ``r-xp`` is emulate
    (the page can also be read), no such line is none. The ``vsyscall=`` boot
    parameter chooses among them; the maps line is what processes actually get.
    """
    for entry in parse_maps(maps_text):
        if entry.pathname == "[vsyscall]":
            if entry.perms.startswith("r"):
                return "emulate"
            if entry.perms[2:3] == "x":
                return "xonly"
            raise CaptureError(f"unexpected [vsyscall] permissions {entry.perms!r}")
    return "none"


def parse_sysctl_int(text: str | bytes) -> int:
    """A /proc/sys file that holds one integer (``vm.mmap_min_addr``, ``vm.overcommit_memory``)."""
    try:
        return int(_text(text).strip())
    except ValueError:
        raise CaptureError(f"not an integer sysctl value: {_text(text)!r}") from None


# An mmap hint above 2^47 without MAP_FIXED: the kernel places a mapping there only
# with 5-level paging, where TASK_SIZE_MAX is 2^56 minus a page
# (Documentation/arch/x86/x86_64/5level-paging.rst); with 4 levels it ignores the hint.
PAGING_PROBE_HINT = 1 << 50


def paging_levels_from_probe(address: int) -> int:
    """4 or 5, from where an anonymous mapping asked for at PAGING_PROBE_HINT landed."""
    return 5 if address >= 1 << USER_BITS[4] else 4


# ---------------------------------------------------------------------------
# The reader

# Files that a live user process never leaves empty; empty means it has exited.
_NEVER_EMPTY = frozenset({"maps", "smaps", "smaps_rollup", "auxv"})


def _is_file_of(st: os.stat_result, entry: MapsEntry) -> bool:
    """Whether ``st`` is of the file maps names at ``entry``: its device, written as maps
    writes it (major:minor in hex), and its inode."""
    return (st.st_ino == entry.inode
            and f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}" == entry.dev)


class Proc:
    """Reads one process's /proc files under ``root`` and hands them to the parsers.

    Every read goes through one helper, which turns a vanished process into
    ProcessGone and any other failure into CaptureError naming the file.
    """

    def __init__(self, root: str | os.PathLike[str] = "/proc") -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Proc({str(self.root)!r})"

    def path(self, pid: int, name: str) -> Path:
        """Where ``name`` of ``pid`` lives under this root."""
        return self.root / str(pid) / name

    def maps(self, pid: int) -> tuple[MapsEntry, ...]:
        """The areas of /proc/PID/maps."""
        return parse_maps(self._read(pid, "maps"))

    def smaps(self, pid: int) -> tuple[SmapsEntry, ...]:
        """The areas of /proc/PID/smaps with their counters."""
        return parse_smaps(self._read(pid, "smaps"))

    def smaps_rollup(self, pid: int) -> SmapsEntry:
        """The kernel's own totals over all areas, /proc/PID/smaps_rollup."""
        return parse_smaps_rollup(self._read(pid, "smaps_rollup"))

    def status(self, pid: int) -> Status:
        """/proc/PID/status."""
        return parse_status(self._read(pid, "status"))

    def tgid(self, pid: int) -> int:
        """The process thread ``pid`` belongs to (Tgid in /proc/PID/status)."""
        tgid = self.status(pid).Tgid
        if tgid is None:
            raise CaptureError(f"{self.path(pid, 'status')} has no Tgid line")
        return tgid

    def stat(self, pid: int) -> Stat:
        """/proc/PID/stat."""
        return parse_stat(self._read(pid, "stat"))

    def auxv(self, pid: int) -> tuple[AuxvEntry, ...]:
        """The auxiliary vector the kernel put on the process's stack at execve."""
        return parse_auxv(self._read(pid, "auxv"))

    def personality(self, pid: int) -> Personality:
        """/proc/PID/personality (readable only by whoever may ptrace the process)."""
        return parse_personality(self._read(pid, "personality"))

    def cmdline(self, pid: int) -> tuple[str, ...]:
        """The arguments of /proc/PID/cmdline."""
        return parse_cmdline(self._read(pid, "cmdline"))

    def exe(self, pid: int) -> str:
        """The path /proc/PID/exe points to (ends in `` (deleted)`` if unlinked)."""
        return self._io(pid, "exe", lambda path: os.readlink(path))

    def unlinked(self, pid: int, entry: MapsEntry) -> bool:
        """Whether the file mapped at ``entry`` (a maps line of ``pid``) was unlinked.

        maps appends `` (deleted)`` to an unlinked file's path, so the name alone cannot
        tell such a file from one named so. The file at that very path, looked up from
        the process's own root (/proc/PID/root, its mount namespace too), on the device
        and inode maps gives, is the one mapped, still linked. A name holding a newline,
        which maps writes ``\\012``, or a device maps gives otherwise than stat (an
        overlay's) does not match: such an area stays unlinked, as maps reads.
        """
        if not entry.deleted:
            return False
        if not entry.pathname.startswith("/"):
            return True  # not a path to look up: as maps reads
        try:
            # Not through a link at the name: the mapped file is a file, never a link.
            st = os.stat(os.path.join(self.path(pid, "root"), entry.pathname.lstrip("/")),
                         follow_symlinks=False)
        except (OSError, ValueError):  # no such file (unlinked), or a NUL in the name
            return True
        return not _is_file_of(st, entry)

    def starts_as_elf(self, pid: int, entry: MapsEntry) -> bool | None:
        """Whether the file mapped at ``entry`` (a maps line of ``pid``) begins with ELF's
        magic number (ELFMAG); None where that file cannot be opened.

        Read from the file, never through the mapping: a read there would fault the
        page in, and the capture would count a page the program never touched. The
        file is opened through /proc/PID/map_files/START-END, the mapped file itself
        (which needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE in the initial user
        namespace), else at its path from the process's own root when that is the file
        on the device and inode maps gives (``unlinked``'s test: on an overlay, which
        maps names by the layer's device, it is not, and the answer is None). Each is
        looked at first through an O_PATH descriptor, which runs no driver's open: a
        file that is no regular one (a device mapped executable, /dev/zero say) is never
        opened for reading, where its open could block or do something of its own."""
        # (path, whether it is a name (never a link: a mapped file is a file), whether
        # it may be another file than the one mapped)
        candidates = [(self.path(pid, f"map_files/{entry.start:x}-{entry.end:x}"), False, False)]
        if not entry.deleted and entry.pathname.startswith("/"):
            candidates.append((os.path.join(self.path(pid, "root"),
                                            entry.pathname.lstrip("/")), True, True))
        else:  # unlinked, or a memfd: a descriptor the process keeps open to it
            candidates += [(fd, False, True) for fd in self._descriptors_to(pid, entry.pathname)]
        for path, by_name, other in candidates:
            try:
                handle = os.open(path, os.O_PATH | os.O_CLOEXEC
                                 | (os.O_NOFOLLOW if by_name else 0))
            except (OSError, ValueError):  # not allowed, gone, or a NUL in the name
                continue
            try:
                st = os.fstat(handle)
                if not stat.S_ISREG(st.st_mode) or (other and not _is_file_of(st, entry)):
                    continue
                # Opened for reading anew from the very file the handle holds.
                fd = os.open(f"/proc/self/fd/{handle}", os.O_RDONLY | os.O_CLOEXEC
                             | os.O_NONBLOCK)
                try:
                    return os.pread(fd, len(ELFMAG), 0) == ELFMAG
                finally:
                    os.close(fd)
            except OSError:
                continue
            finally:
                os.close(handle)
        return None

    def _descriptors_to(self, pid: int, pathname: str) -> list[str]:
        """The /proc/PID/fd entries of ``pid`` that name ``pathname`` (as maps prints it,
        `` (deleted)`` and all); none where they cannot be read."""
        folder = self.path(pid, "fd")
        try:
            names = os.listdir(folder)
        except OSError:
            return []
        found = []
        for name in names:
            try:
                if os.readlink(os.path.join(folder, name)) == pathname:
                    found.append(os.path.join(folder, name))
            except OSError:
                continue
        return found

    def pagemap(self, pid: int, start: int, end: int) -> tuple[PagemapEntry, ...]:
        """One pagemap entry for each page that overlaps [start, end)."""
        first = start // PAGE_SIZE
        last = -(-end // PAGE_SIZE)
        if last <= first:
            return ()
        data = self._read(pid, "pagemap", offset=first * PAGEMAP_ENTRY, size=(last - first) * PAGEMAP_ENTRY)
        if len(data) != (last - first) * PAGEMAP_ENTRY:
            raise CaptureError(
                f"short read of {self.path(pid, 'pagemap')} for {start:#x}-{end:#x}: "
                f"{len(data)} of {(last - first) * PAGEMAP_ENTRY} bytes"
            )
        return parse_pagemap(data, first * PAGE_SIZE)

    def mem(self, pid: int, address: int, size: int) -> bytes:
        """``size`` bytes of the process's memory at ``address``, from /proc/PID/mem."""
        return self._read(pid, "mem", offset=address, size=size)

    def c_string(self, pid: int, address: int, limit: int = 4096) -> str:
        """The NUL-terminated string at ``address`` (e.g. AT_EXECFN), at most ``limit`` bytes.

        Reads page by page, so a string near the end of the stack does not run
        into the unmapped page above it.
        """
        found = b""
        while len(found) < limit:
            chunk = min(PAGE_SIZE - (address + len(found)) % PAGE_SIZE, limit - len(found))
            data = self.mem(pid, address + len(found), chunk)
            nul = data.find(b"\0")
            if nul >= 0:
                return os.fsdecode(found + data[:nul])
            found += data
            if len(data) < chunk:
                break
        raise CaptureError(f"no NUL within {len(found)} bytes at {address:#x} in {self.path(pid, 'mem')}")

    def frames_visible(self) -> bool:
        """Whether this reader sees page frame numbers in pagemap.

        The kernel shows them only to openers with CAP_SYS_ADMIN in the initial
        user namespace; inside a container a capability in /proc/self/status
        can be present and still not count, so ask pagemap itself about a page
        this process has just written.
        """
        probe = ctypes.create_string_buffer(b"x", PAGE_SIZE)
        address = ctypes.addressof(probe)
        try:
            (entry,) = self.pagemap(os.getpid(), address, address + 1)
        except CaptureError:
            return False
        return entry.pfn is not None

    # -- the one place that touches the files ---------------------------------

    def _read(self, pid: int, name: str, *, offset: int = 0, size: int | None = None) -> bytes:
        def read(path: str) -> bytes:
            with open(path, "rb", buffering=0) as f:
                if offset:
                    f.seek(offset)
                if size is None:
                    return f.readall()
                parts: list[bytes] = []
                wanted = size
                while wanted > 0:
                    try:
                        part = f.read(wanted)
                    except OSError as exc:
                        if name != "mem" or exc.errno != errno.EIO:
                            raise
                        # /proc/PID/mem fails with EIO where the range leaves mapped memory.
                        if not parts:
                            raise CaptureError(
                                f"{path}: nothing mapped at {offset:#x} in process {pid}"
                            ) from None
                        break
                    if not part:
                        break
                    parts.append(part)
                    wanted -= len(part)
                return b"".join(parts)

        data = self._io(pid, name, read)
        if not data and name in _NEVER_EMPTY and self.exited(pid):
            raise ProcessGone(f"process {pid} exited while reading {self.path(pid, name)}")
        return data

    def _io(self, pid: int, name: str, action: Callable[[str], T]) -> T:
        # A string, not a Path: a capture reads some ten files at each checkpoint.
        path = os.path.join(self.root, str(pid), name)
        try:
            return action(path)
        except ProcessLookupError:
            raise ProcessGone(f"process {pid} exited while reading {path}") from None
        except FileNotFoundError:
            if self.exited(pid):
                raise ProcessGone(f"process {pid} is gone: no {path}") from None
            raise CaptureError(f"{path} does not exist on this system") from None
        except PermissionError as exc:
            needed = _access_needed(name, _own_capability(CAP_SYS_PTRACE))
            raise CaptureError(f"cannot read {path}: {exc.strerror}; it needs ptrace access to "
                               f"process {pid}{needed}") from None
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                raise ProcessGone(f"process {pid} exited while reading {path}") from None
            raise CaptureError(f"cannot read {path}: {exc.strerror or exc}") from None

    def exited(self, pid: int) -> bool:
        """True when ``pid`` has left /proc, is a zombie, or is on its way out (its
        memory going or gone: PF_EXITING, before it is a zombie)."""
        try:
            with open(os.path.join(self.root, str(pid), "stat"), "rb") as f:
                stat = parse_stat(f.read())
        except OSError:
            return True
        except CaptureError:
            return False
        return stat.state in {"Z", "X", "x"} or bool(stat.flags & PF_EXITING.value)

    def tasks(self, pid: int) -> Proc:
        """The threads of ``pid`` (/proc/PID/task), read as processes are: each thread's
        files lie under its id there."""
        return Proc(self.path(pid, "task"))

    def other_thread(self, pid: int) -> int | None:
        """A thread of ``pid`` other than its main thread and not ending (``exited``),
        the lowest such id; None when there is none. Where the main thread has ended
        (pthread_exit) while others run on, /proc/PID shows none of the process's
        memory, and /proc/PID/task/TID of such a thread shows it all."""
        tasks = self.tasks(pid)
        try:
            tids = sorted(int(t) for t in os.listdir(tasks.root) if t.isdigit())
        except OSError:
            return None
        return next((tid for tid in tids if tid != pid and not tasks.exited(tid)), None)


CAP_SYS_PTRACE = 19  # linux/capability.h: trace any process one's user namespace holds


def _own_capability(bit: int) -> bool | None:
    """Whether this process holds capability ``bit`` (its effective set, CapEff: of
    /proc/self/status); None where that cannot be read."""
    try:
        with open("/proc/self/status", "rb") as f:
            mask = parse_status(f.read()).CapEff
    except (OSError, RoadsError):
        return None
    return None if mask is None else bool(mask >> bit & 1)


def _access_needed(name: str, privileged: bool | None = False) -> str:
    """What the kernel asks of a reader of /proc/PID/``name`` (``__ptrace_may_access``):
    a process of the reader's own user (its real, effective and saved ids), not made
    undumpable (set-user-ID, say), or CAP_SYS_PTRACE (``privileged``: whether the reader
    holds it, None if unknown). Yama's ptrace_scope restricts the attaching kind of
    access alone, which only ``mem`` asks for among these files."""
    if privileged:  # the kernel's rules were met: another stood in the way
        return (", which this process has (CAP_SYS_PTRACE), yet the kernel refused it: a "
                "security module's rule, or a process of a user namespace this one does "
                "not hold")
    if os.geteuid() == 0:
        return (", which root has only with CAP_SYS_PTRACE, lacking here" if privileged is False
                else ", which root has only with CAP_SYS_PTRACE")
    yama = ("; for its memory, also kernel.yama.ptrace_scope 0 or being its ancestor"
            if name == "mem" else "")
    return (f" (a process of your own user, not set-user-ID nor made undumpable, or "
            f"CAP_SYS_PTRACE{yama})")


def _text(data: str | bytes) -> str:
    """Decode /proc text the way Python decodes file names, so odd bytes survive."""
    return data if isinstance(data, str) else os.fsdecode(data)


def _lines(data: str | bytes) -> list[str]:
    """The non-empty lines of ``data``.

    Only "\n" ends a line: the kernel escapes nothing else in a pathname, so a
    file name may hold "\r" or "\f", which ``str.splitlines`` would split on.
    """
    return [row for row in _text(data).split("\n") if row]
