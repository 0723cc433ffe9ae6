"""The capture document: what ``snapshots/NAME.json`` holds, as typed, frozen records.

Both halves of the engine share this one definition: ``roads.capture.snapshot`` writes the
document, ``roads.capture.freeze`` compares two of them field by field, ``roads.capture.validate``
checks a file by decoding it, and the figures read it. Record and field names follow
``man 5 proc`` (maps, smaps, status, auxv, pagemap) and the ELF specification
(``e_*``, ``sh_*``, ``p_*``, ``st_*``).

A capture holds variants (one build each), a variant holds runs, a run holds the
checkpoints its processes reached, and a checkpoint holds the regions of
``/proc/PID/smaps``, the pointers the sample recorded, ``auxv``, the lines of
``status`` and the pages of ``pagemap`` it asked for::

    Capture → Variant → Run → Checkpoint → Region, Address, AuxvEntry, Status, PageRange → Page
              Variant → Elf → ElfHeader, Section, Segment, Symbol

What a re-capture cannot hold still is marked on the field itself (``volatile``
below): a pid, a frame number, a counter that depends on other processes. ``freeze``
reads those marks; nothing decides volatility by a key's name.

Fields a reader can do without have defaults; keys a capture may lack altogether
(``gdb`` for a sample without a gdb script) are ``UNSET`` and stay absent when the
document is written again. Unknown keys are accepted and ignored when decoding,
except in the ELF records, which are written whole by ``roads.capture.elf``. The JSON Schema
published in ``schema/capture.schema.json`` is ``json_schema()``:
``python -m roads.document --schema`` prints it.
"""

from __future__ import annotations

import sys
import types
import typing
from functools import cache
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from .constants import ADDR_NO_RANDOMIZE
from .elfspec import PAGE_SIZE, section_flags, segment_flags
from .escapes import escape_bytes

SCHEMA = 1  # the document's version, as freeze writes it in ``schema``

# -- volatility marks --------------------------------------------------------------
# The kinds of looseness a comparison of two captures allows (roads.capture.freeze).
PID = "pid"  # renumbered by order of first appearance: pids differ from run to run
FRAME = "frame"  # renumbered likewise, within each run: frames are wherever the kernel found room
IGNORED = "ignored"  # never compared
ASLR = "aslr"  # not compared in a run that asked for ASLR: randomised
ASLR_HEX = "aslr-hex"  # text whose long hex numbers are masked in a run with ASLR
PIDS_IN_TEXT = "pids-in-text"  # text whose process and thread ids are masked
FILES_IN_TEXT = "files-in-text"  # text whose /proc/PID/maps lines' device and inode are masked
UNORDERED = "unordered"  # a list compared as a multiset (threads race to record)
SHARING = "sharing"  # smaps counters that depend on other processes are left out
ASLR_SWITCH = "aslr-switch"  # true: the marks ``aslr`` apply to this record and below
INPUT = "input"  # what went into a capture rather than what it observed
PAGE_CACHE = "page-cache"  # counts of file pages that depend on what the page cache holds

_WHY = {
    PID: "a pid, compared by order of first appearance rather than by number",
    FRAME: "a physical frame, compared by order of first appearance within its run rather "
           "than by number (a frame one run freed may be handed to the next)",
    IGNORED: "not compared (it depends on timing or on the pid)",
    ASLR: "not compared in a run with ASLR (randomised)",
    ASLR_HEX: "compared with long hex numbers masked in a run with ASLR",
    PIDS_IN_TEXT: "compared with process and thread ids masked",
    FILES_IN_TEXT: "compared with the device and inode of its /proc/PID/maps lines masked "
                   "(a file built anew has another inode)",
    UNORDERED: "compared in any order",
    SHARING: "compared without the counters that depend on other processes "
             "(Pss*, SwapPss, Shared_*, Private_*, Referenced)",
    ASLR_SWITCH: "when true, addresses and counters of this run are not compared",
    INPUT: "what went into the capture, compared apart from what it observed",
    PAGE_CACHE: "not compared where it counts pages of files the sample did not make (a "
                "library): a fault maps the neighbours the page cache holds, in the folios "
                "it holds, as other processes' reads left them",
}


def volatile(*kinds: str) -> Meta:
    """A field's mark: how a comparison of two captures treats it (kinds above)."""
    return Meta(description="Between two captures: " + "; ".join(_WHY[k] for k in kinds) + ".",
                extra={"volatile": kinds})


Pid = Annotated[int, volatile(PID)]
# An address, size, offset or count as the kernel or an ELF64 file gives it: unsigned. A
# capture holding a negative one is invalid (read as it came, a map was drawn from
# '0x-555555554000'); a region's bounds past 64 bits too (Region.__post_init__: msgspec
# bounds an integer within 64 bits signed only, which the kernel's half is not).
U64 = Annotated[int, Meta(ge=0)]
Kib = Annotated[int, Meta(description="KiB, as the kernel prints its kB")]
Kinds = tuple[str, ...]


def marks(cls: type) -> dict[str, Kinds]:
    """The volatility marks of a record's fields, by the name they have in JSON."""
    return _marks(cls)


@cache
def _marks(cls: type) -> dict[str, Kinds]:
    found = {}
    for field in msgspec.inspect.type_info(cls).fields:
        kinds = _kinds(field.type)
        if kinds:
            found[field.encode_name] = kinds
    return found


def field_types(cls: type) -> dict[str, Any]:
    """A record's fields and their annotations (``Annotated`` marks kept), by JSON name."""
    return _field_types(cls)


@cache
def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.encode_name: hints[f.name] for f in msgspec.structs.fields(cls)}


def container(kind: Any, node: Any) -> Any:
    """What ``node`` is read as under the annotation ``kind``: a record class, a
    ``tuple[..., ...]`` or ``dict[...]`` type, a scalar type, or Any (marks and the options of
    a union that do not fit the node are set aside)."""
    while typing.get_origin(kind) is Annotated:
        kind = typing.get_args(kind)[0]
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        for option in typing.get_args(kind):
            option = container(option, node)
            if isinstance(node, dict) and (is_record(option) or typing.get_origin(option) is dict):
                return option
            if isinstance(node, list) and typing.get_origin(option) in (list, tuple):
                return option
        return Any
    return kind


def is_record(kind: Any) -> bool:
    """Whether ``kind`` is one of the document's record classes."""
    return isinstance(kind, type) and issubclass(kind, Struct)


def _kinds(info: Any) -> Kinds:
    if isinstance(info, msgspec.inspect.Metadata):
        return tuple((info.extra or {}).get("volatile", ())) + _kinds(info.type)
    return ()


# -- /proc records (man 5 proc) ------------------------------------------------------

class Region(Struct, frozen=True):
    """One area of ``/proc/PID/smaps``: its maps line and what the kernel counts in it.

    ``start``/``end`` bound the area (``end`` exclusive), ``perms`` are ``rwxp`` or
    ``rwxs``, ``offset`` is the file offset mapped at ``start``, ``pathname`` a file,
    a pseudo-path such as ``[heap]``, or "" for anonymous memory. ``kb`` holds the
    smaps ``kB`` lines as printed (``kb["Rss"]``), ``vmflags`` the two-letter
    ``VmFlags``, ``thp_eligible`` the ``THPeligible`` line. A capture writes device
    and inode as zero (they differ between machines), and each byte of a path that is
    not UTF-8 as ``\\xNN`` (``roads.escapes``). ``unlinked`` is recorded only for a
    pathname that ends in " (deleted)": whether the file was really unlinked, or is
    named so (``roads.capture.proc.Proc.unlinked``, asked while the process lived).
    ``elf`` is recorded only for a region that maps a file executable, where the file
    could be read: whether it begins with ELF's magic number (a JIT compiler's code,
    in a memfd, say, does not; ``roads.capture.proc.Proc.starts_as_elf``).
    """

    start: Annotated[U64, volatile(ASLR)]
    end: Annotated[U64, volatile(ASLR)]
    perms: Annotated[str, Meta(pattern="^[r-][w-][x-][ps]$")]
    offset: U64
    dev: str = "00:00"
    inode: U64 = 0
    pathname: str = ""
    kb: Annotated[dict[str, U64], volatile(ASLR, SHARING, PAGE_CACHE)] = {}
    vmflags: tuple[str, ...] = ()
    thp_eligible: bool | None = None
    unlinked: bool | UnsetType = UNSET
    elf: bool | UnsetType = UNSET

    def __post_init__(self) -> None:
        # (Raised while decoding, msgspec names the region: a capture's error.)
        if self.end <= self.start:
            raise ValueError(f"its end ({self.end:#x}) is not above its start "
                             f"({self.start:#x})")
        if self.end > 1 << 64:
            raise ValueError(f"its end ({self.end:#x}) is past the last address a pointer "
                             "can hold")

    @property
    def size(self) -> int:
        """Bytes of address space the region covers."""
        return self.end - self.start

    @property
    def readable(self) -> bool:
        return self.perms[0] == "r"

    @property
    def writable(self) -> bool:
        return self.perms[1] == "w"

    @property
    def executable(self) -> bool:
        return self.perms[2] == "x"

    @property
    def shared(self) -> bool:
        """``s`` in the fourth column: MAP_SHARED; ``p`` is private (copy-on-write)."""
        return self.perms[3] == "s"

    @property
    def anonymous(self) -> bool:
        """No file behind it: empty pathname, or a kernel-named anonymous region."""
        return self.pathname == "" or self.pathname.startswith(("[anon:", "[anon_shmem:"))

    @property
    def pseudo(self) -> bool:
        """A bracketed name the kernel gives: ``[heap]``, ``[stack]``, ``[vdso]``, ..."""
        return self.pathname.startswith("[") and self.pathname.endswith("]")

    @property
    def deleted(self) -> bool:
        """The file was unlinked while mapped: as recorded (``unlinked``); in a document
        that did not record it, as maps reads, by the " (deleted)" it appends (which a
        file's own name may hold too)."""
        if self.unlinked is not UNSET:
            return self.unlinked
        return self.pathname.endswith(" (deleted)")

    @property
    def filename(self) -> str:
        """The last component of a file's path; pseudo-paths and "" as they are."""
        if not self.pathname.startswith("/"):
            return self.pathname
        return self.pathname.rsplit("/", 1)[-1]

    def rss(self) -> int | None:
        """Resident bytes (smaps ``Rss``), or None when smaps was not read."""
        return self.counter("Rss")

    def pss(self) -> int | None:
        """Proportional share in bytes (smaps ``Pss``), or None."""
        return self.counter("Pss")

    def counter(self, name: str) -> int | None:
        """An smaps counter in bytes (the file prints KiB), or None when absent."""
        value = self.kb.get(name)
        return None if value is None else value * 1024

    def __contains__(self, address: int) -> bool:
        return self.start <= address < self.end

    @classmethod
    def from_smaps(cls, entry: Any) -> "Region":
        """The record of a parsed smaps block (``roads.capture.proc.SmapsEntry``)."""
        m = entry.maps
        return cls(start=m.start, end=m.end, perms=m.perms, offset=m.offset, dev=m.dev,
                   inode=m.inode, pathname=m.pathname, kb=dict(sorted(entry.kb.items())),
                   vmflags=tuple(entry.vmflags), thp_eligible=entry.thp_eligible)


class Address(Struct, frozen=True):
    """A value the sample recorded with ``ROADS_ADDRESS(name, pointer)`` (a pointer,
    a size or a chunk header: whether it points into a region is for the reader)."""

    name: str
    value: Annotated[U64, volatile(ASLR)]


class AuxvEntry(Struct, frozen=True):
    """One ``/proc/PID/auxv`` entry: ``a_type`` with its ``AT_*`` name, and ``a_val``."""

    a_type: U64
    name: str
    a_val: Annotated[U64, volatile(ASLR)]


class Page(Struct, frozen=True, forbid_unknown_fields=True):
    """One page of ``/proc/PID/pagemap`` (Documentation/admin-guide/mm/pagemap.rst).

    ``pfn`` is None when the frame number was hidden (no CAP_SYS_ADMIN) or absent.
    """

    vaddr: Annotated[U64, volatile(ASLR)]
    present: bool  # bit 63
    swapped: bool  # bit 62
    file_or_shared: bool  # bit 61
    exclusive: bool  # bit 56: exclusively mapped
    soft_dirty: bool  # bit 55
    pfn: Annotated[U64 | None, volatile(FRAME)]  # bits 0-54


class PageRange(Struct, frozen=True):
    """The pages of a range asked for with ``ROADS_RANGE(name, pointer, bytes)``."""

    name: str
    start: Annotated[U64, volatile(ASLR)]
    length: U64
    pages: tuple[Page, ...]


class Status(Struct, frozen=True):
    """The identity and memory lines of ``/proc/PID/status`` (kernel's keys, KiB).

    A line the kernel did not print is absent (the memory lines, for kernel threads
    and zombies).
    """

    Name: str | UnsetType = UNSET
    State: str | UnsetType = UNSET
    Pid: Annotated[int | UnsetType, volatile(IGNORED)] = UNSET
    PPid: Annotated[int | UnsetType, volatile(IGNORED)] = UNSET
    Threads: int | UnsetType = UNSET
    VmPeak: Annotated[int | UnsetType, volatile(IGNORED)] = UNSET  # a peak reached in passing
    VmSize: Kib | UnsetType = UNSET
    VmLck: Kib | UnsetType = UNSET
    VmPin: Kib | UnsetType = UNSET
    VmHWM: Annotated[int | UnsetType, volatile(IGNORED)] = UNSET  # likewise
    VmRSS: Annotated[int | UnsetType, volatile(PAGE_CACHE)] = UNSET  # RssFile's pages too
    RssAnon: Kib | UnsetType = UNSET
    RssFile: Annotated[int | UnsetType, volatile(PAGE_CACHE)] = UNSET
    RssShmem: Kib | UnsetType = UNSET
    VmData: Kib | UnsetType = UNSET
    VmStk: Kib | UnsetType = UNSET
    VmExe: Kib | UnsetType = UNSET
    VmLib: Kib | UnsetType = UNSET
    VmPTE: Kib | UnsetType = UNSET
    VmSwap: Kib | UnsetType = UNSET


class Checkpoint(Struct, frozen=True):
    """One process stopped at one checkpoint (``roads.capture.snapshot.snapshot_process``).

    ``seq`` orders the run's checkpoints by arrival; ``exe`` is ``/proc/PID/exe`` with
    the build folder written ``/build``; ``personality`` is ``/proc/PID/personality``;
    ``randomized`` whether the process's layout was chosen at random (PF_RANDOMIZE in
    the flags of ``/proc/PID/stat``, set by its last execve from the personality and
    ``randomize_va_space`` of that moment: a later personality(2) call, which changes
    ``personality``, does not move what is mapped; None in captures made before it was
    recorded); ``auxv_strings`` the strings some auxv entries point at (``AT_EXECFN``, ...).
    """

    name: str
    pid: Pid
    regions: tuple[Region, ...]
    seq: int = 0
    ppid: Pid = 0
    exe: str = ""
    personality: int = 0
    randomized: bool | None = None
    addresses: Annotated[tuple[Address, ...], volatile(UNORDERED)] = ()
    auxv: tuple[AuxvEntry, ...] = ()
    auxv_strings: dict[str, str] = {}
    status: Annotated[Status | None, volatile(ASLR)] = None
    pagemap: tuple[PageRange, ...] = ()

    def laid_out_at_random(self, randomize_va_space: int | None) -> bool:
        """Whether the kernel chose this process's layout at random: ``randomized`` where
        recorded; in an older capture, judged from the personality at the stop and the
        machine's ``randomize_va_space``."""
        if self.randomized is not None:
            return self.randomized
        return not (self.personality & ADDR_NO_RANDOMIZE) and randomize_va_space != 0


class Process(Struct, frozen=True):
    """A process of a run, in the order the run met it, and how it ended."""

    pid: Pid
    ppid: Pid
    exit_code: int | None
    signal: int | None


class Run(Struct, frozen=True):
    """One run of a variant: how it ended, what it printed, where it stopped.

    ``status`` is the run's exit in words ("exited with status 0"), not
    ``/proc/PID/status`` (that is ``Checkpoint.status``). ``containment`` names the
    walls the launcher put around the run. ``aslr_disabled`` and ``personality`` are
    what the run started with (ADDR_NO_RANDOMIZE set and checked before its first
    execve); whether each process was laid out at random is its checkpoints'
    ``randomized``, which a program may have changed by clearing the flag and running
    execve again.
    """

    checkpoints: tuple[Checkpoint, ...]
    index: int = 0
    aslr_requested: Annotated[bool, volatile(ASLR_SWITCH)] = False
    aslr_disabled: bool = False
    personality: int = 0
    pid: Pid = 0
    exit_code: int | None = None
    signal: int | None = None
    status: str = ""
    containment: tuple[str, ...] = ()
    processes: tuple[Process, ...] = ()
    stdout: Annotated[str, volatile(ASLR_HEX)] = ""
    stderr: Annotated[str, volatile(ASLR_HEX)] = ""


# -- ELF records (System V gABI; enumerations spelled as in the specification) ------

class ElfHeader(Struct, frozen=True, forbid_unknown_fields=True):
    """The ELF header (``Elf64_Ehdr``)."""

    ei_class: str  # 'ELFCLASS64'
    ei_data: str  # 'ELFDATA2LSB'
    ei_osabi: str  # 'ELFOSABI_SYSV'
    e_type: str  # 'ET_EXEC', 'ET_DYN', ...
    e_machine: str  # 'EM_X86_64'
    e_entry: U64
    e_phoff: U64
    e_shoff: U64
    e_flags: U64
    e_ehsize: U64
    e_phentsize: U64
    e_phnum: U64
    e_shentsize: U64
    e_shnum: U64
    e_shstrndx: U64


class Section(Struct, frozen=True, forbid_unknown_fields=True):
    """One section header (``Elf64_Shdr``) with its name resolved."""

    name: str
    sh_type: str  # 'SHT_PROGBITS', 'SHT_NOBITS', ...
    sh_flags: U64
    sh_addr: U64
    sh_offset: U64
    sh_size: U64
    sh_link: U64
    sh_info: U64
    sh_addralign: U64
    sh_entsize: U64

    @property
    def flags(self) -> str:
        """``sh_flags`` in readelf's key: ``"WA"`` for ``.data``, ``"AX"`` for ``.text``."""
        return section_flags(self.sh_flags)


class Segment(Struct, frozen=True, forbid_unknown_fields=True):
    """One program header (``Elf64_Phdr``) and the sections it holds (readelf's
    "Section to Segment mapping")."""

    p_type: str  # 'PT_LOAD', 'PT_GNU_RELRO', ...
    p_flags: U64
    p_offset: U64
    p_vaddr: U64
    p_paddr: U64
    p_filesz: U64
    p_memsz: U64
    p_align: U64
    sections: tuple[str, ...]

    @property
    def flags(self) -> str:
        """``p_flags`` as readelf prints them, three columns wide: ``"R E"``, ``"RW "``."""
        return segment_flags(self.p_flags)

    def congruent(self, modulus: int = PAGE_SIZE) -> bool:
        """Whether ``p_offset ≡ p_vaddr (mod modulus)``.

        The gABI requires it modulo ``p_align`` and, for ``PT_LOAD``, modulo the page
        size: mmap can only map a file page at a page boundary, so a byte's place
        within its page must be the same in the file and in memory.
        """
        if modulus <= 1:
            return True
        return self.p_offset % modulus == self.p_vaddr % modulus


class Symbol(Struct, frozen=True, forbid_unknown_fields=True):
    """A defined function, object or thread-local symbol (``Elf64_Sym``)."""

    name: str
    st_value: U64
    st_size: U64
    type: str  # 'STT_FUNC', 'STT_OBJECT', 'STT_TLS'
    bind: str  # 'STB_LOCAL', 'STB_GLOBAL', 'STB_WEAK', 'STB_GNU_UNIQUE'
    section: str  # the section st_shndx points at


class Elf(Struct, frozen=True, forbid_unknown_fields=True):
    """What a capture records of a variant's executable (``roads.capture.elf.read_elf`` reads it).

    ``symtab`` is the table the symbols came from ('.symtab', or '.dynsym' for a
    stripped file); ``interp`` is PT_INTERP, ``needed`` the DT_NEEDED entries of the
    dynamic section.
    """

    header: ElfHeader
    sections: tuple[Section, ...]
    segments: tuple[Segment, ...]
    symbols: tuple[Symbol, ...]
    symtab: str | None
    interp: str | None
    needed: tuple[str, ...]
    is_pie: bool
    is_static: bool

    @property
    def relro(self) -> Segment | None:
        """The ``PT_GNU_RELRO`` segment, or None."""
        return next((s for s in self.segments if s.p_type == "PT_GNU_RELRO"), None)

    @property
    def loads(self) -> tuple[Segment, ...]:
        """The ``PT_LOAD`` segments, in program header order (ascending ``p_vaddr``)."""
        return tuple(s for s in self.segments if s.p_type == "PT_LOAD")

    def get_section(self, name: str) -> Section | None:
        """The first section called ``name``, or None."""
        return next((s for s in self.sections if s.name == name), None)


# -- a variant and the whole capture ---------------------------------------------

class Gdb(Struct, frozen=True):
    """The sample's gdb script run in batch mode against its binary."""

    script: str
    transcript: Annotated[str, volatile(PIDS_IN_TEXT, FILES_IN_TEXT)]
    version: str = ""


class Variant(Struct, frozen=True):
    """One build of the sample (its gcc command and ELF file) and its runs."""

    runs: tuple[Run, ...]
    gcc_argv: tuple[str, ...] = ()
    elf: Elf | None = None
    gdb: Gdb | UnsetType = UNSET


class Limits(Struct, frozen=True):
    """What a run of the sample may use (samples/manifest.toml)."""

    address_space: int
    cpu: int
    output: int
    processes: int


class ManifestVariant(Struct, frozen=True):
    """A variant as the manifest declares it."""

    name: str
    flags: tuple[str, ...] = ()


class Manifest(Struct, frozen=True):
    """The sample's entry in samples/manifest.toml, as it was when captured."""

    name: str = ""
    sources: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    libs: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, ...], ...] = ()
    checkpoints: tuple[str, ...] = ()
    variants: tuple[ManifestVariant, ...] = ()
    gdb: str | None = None
    aslr: bool = False
    runs: int = 1
    timeout: float = 0.0
    expect_exit: int | None = None
    limits: Limits | None = None
    privileges: tuple[str, ...] = ()  # capabilities the sample keeps


class Inputs(Struct, frozen=True):
    """Everything the capture depended on: the engine's code, the source files (by
    digest), gcc's version and the manifest entry."""

    manifest: Manifest
    files: dict[str, str] = {}
    engine: str = ""
    gcc: str | None = None


class Provenance(Struct, frozen=True):
    """The machine that made the capture (``roads.capture.toolchain.provenance``).

    Every field may be null (not readable on that machine). ``package_*`` are the exact
    Debian builds of gcc, the C library and binutils (``gcc-12=12.2.0-14+deb12u1``),
    absent from captures made before they were recorded. A capture made by a newer
    engine may carry more keys: they are accepted.

    Overcommit and swap (``man 5 proc``; the kernel's
    Documentation/admin-guide/sysctl/vm.rst and mm/overcommit-accounting.rst); all but
    ``overcommit_memory`` are absent from captures made before they were recorded:

    - ``overcommit_memory``: ``vm.overcommit_memory``, 0 heuristic (only obvious
      overcommits refused), 1 always grant, 2 strict accounting against the commit limit;
    - ``overcommit_ratio``: in mode 2, the commit limit is swap plus this percentage of
      physical RAM (less huge-TLB pages); modes 0 and 1 do not use it;
    - ``overcommit_kbytes``: the same limit's RAM part in KiB instead; setting either
      makes the other read 0, so 0 means the ratio is in force;
    - ``swap_total``, ``swap_free``: /proc/meminfo's SwapTotal and SwapFree, in bytes;
    - ``swap_areas``: the swap files and partitions in use (lines of /proc/swaps);
    - ``swappiness``: ``vm.swappiness``, how readily reclaim swaps anonymous pages out
      rather than dropping file pages (default 60); it does nothing without swap.
    """

    arch: str | None = None
    os: str | None = None
    kernel: str | None = None
    gcc: str | None = None
    glibc: str | None = None
    page_size: int | None = None
    paging_levels: int | None = None
    randomize_va_space: int | None = None
    mmap_min_addr: int | None = None
    overcommit_memory: int | None = None
    stack_rlimit: int | None = None
    cmdline_stack_guard_gap: int | None = None
    thp: str | None = None
    vsyscall: str | None = None
    package_gcc: str | None | UnsetType = UNSET
    package_libc: str | None | UnsetType = UNSET
    package_binutils: str | None | UnsetType = UNSET
    overcommit_ratio: int | None | UnsetType = UNSET
    overcommit_kbytes: int | None | UnsetType = UNSET
    swap_total: int | None | UnsetType = UNSET
    swap_free: int | None | UnsetType = UNSET
    swap_areas: int | None | UnsetType = UNSET
    swappiness: int | None | UnsetType = UNSET


class Capture(Struct, frozen=True):
    """One sample's capture: its variants, what went into it and where it was made.

    ``digest`` is the sha256 of ``inputs``; ``headers`` the project headers the
    sources included.
    """

    schema: Literal[1]  # SCHEMA
    sample: str
    inputs: Annotated[Inputs, volatile(INPUT)]
    provenance: Annotated[Provenance, volatile(INPUT)]
    variants: dict[str, Variant]
    title: str | UnsetType = UNSET
    digest: Annotated[str | UnsetType, volatile(INPUT)] = UNSET
    headers: tuple[str, ...] = ()


# -- JSON ------------------------------------------------------------------------

def present(record: Struct) -> dict[str, Any]:
    """A record's fields by JSON name, without those the capture left out (UNSET)."""
    return {name: value for name, value in zip(_json_names(type(record)),
                                               msgspec.structs.astuple(record))
            if value is not UNSET}


@cache
def _json_names(cls: type) -> tuple[str, ...]:
    return tuple(f.encode_name for f in msgspec.structs.fields(cls))


def from_builtins(doc: Any) -> Capture:
    """The typed document of a loaded capture; msgspec.ValidationError naming the path
    (``$.variants.default.runs[0]...``) when it is not shaped as one."""
    return msgspec.convert(doc, Capture)


def decode(data: bytes | str) -> Capture:
    """The typed document of a capture's JSON text."""
    return msgspec.json.decode(data, type=Capture)


def to_builtins(record: Struct) -> Any:
    """Plain JSON data (dicts, lists, scalars) of a record, as ``roads.capture.freeze`` writes it
    and ``json`` reads it back (arrays as lists, which ``msgspec.to_builtins`` would
    leave as the records' tuples).

    /proc gives bytes, and its parsers keep those that are not UTF-8 as Python keeps
    them in file names (``os.fsdecode``: a process that named itself ``"\\xff"``, a
    file mapped from such a name), which JSON cannot hold: each such byte is written
    ``\\xNN`` (``roads.escapes``)."""
    try:
        return msgspec.json.decode(msgspec.json.encode(record))
    except UnicodeEncodeError:
        return msgspec.json.decode(msgspec.json.encode(escaped(msgspec.to_builtins(record))))


def escaped(value: Any) -> Any:
    """Plain data (dicts, lists, tuples, scalars) with ``escape_bytes`` applied to every
    string in it, keys included; tuples come back as lists."""
    if isinstance(value, str):
        return escape_bytes(value)
    if isinstance(value, dict):
        return {escaped(k): escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escaped(v) for v in value]
    return value


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a capture document."""
    schema = msgspec.json.schema(Capture)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "All Roads To Memory capture document",
            "description": f"snapshots/NAME.json, schema version {SCHEMA} (roads/document.py)",
            **schema}


def schema_text() -> str:
    """The published schema's text: sorted keys, two-space indent, a final newline."""
    import json

    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if argv != ["--schema"]:
        print("usage: python -m roads.document --schema", file=sys.stderr)
        return 2
    sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
