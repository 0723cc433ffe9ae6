"""ELF files read into typed records.

Names follow the ELF specification (System V ABI, "Object Files" chapter, and its
x86-64 supplement): ``e_*`` header fields, ``sh_*`` section headers, ``p_*``
program headers, ``st_*`` symbols. Only ELF64 little-endian x86-64 files are
accepted; the site explains that architecture and nothing else.

``read_elf(path)`` is the I/O edge: pyelftools parses the headers, and the symbol
table is read straight from its section bytes, since pyelftools' per-symbol objects
are too slow for a static glibc binary's two thousand symbols. The records are the
capture document's (``roads.document``: ``Elf``, ``ElfHeader``, ``Section``,
``Segment``, ``Symbol``), their meaning the specification's (``roads.elfspec``). Linking
the segments to the regions they became at run time is ``roads.figures.elflink``'s.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import struct
from pathlib import Path
from typing import Sequence

import msgspec
from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from ..document import Elf, ElfHeader, Section, Segment, Symbol
from ..elfspec import ELFMAG, section_in_segment
from ..errors import RoadsError

# e_ident and header values that we accept (gABI "ELF Identification").
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_EM_X86_64 = 62
_EHDR64_SIZE = 64

# Symbol table entries (gABI "Symbol Table"): Elf64_Sym is st_name (Elf64_Word),
# st_info, st_other (unsigned char), st_shndx (Elf64_Half), st_value (Elf64_Addr),
# st_size (Elf64_Xword): 24 bytes.
_ELF64_SYM = struct.Struct("<IBBHQQ")
_SHN_LORESERVE = 0xFF00  # UND is 0; ABS, COMMON, XINDEX and the rest are >= this
_STT_NAMES = {1: "STT_OBJECT", 2: "STT_FUNC", 6: "STT_TLS"}  # the only types we keep
_STB_NAMES = {0: "STB_LOCAL", 1: "STB_GLOBAL", 2: "STB_WEAK", 10: "STB_GNU_UNIQUE"}

# Dynamic section entries (gABI "Dynamic Section"): Elf64_Dyn is d_tag (Elf64_Sxword)
# and d_un (Elf64_Xword).
_ELF64_DYN = struct.Struct("<qQ")
_DT_NULL, _DT_NEEDED, _DT_STRTAB = 0, 1, 5
_DT_FLAGS_1 = 0x6FFFFFFB
_DF_1_PIE = 0x08000000

# What pyelftools raises on a file it cannot read: its own errors, and struct's and
# Python's where a value read sends it out of the file (a seek to 2**63 or past it, an
# offset no file has, is an OverflowError).
MALFORMED = (ELFError, struct.error, ValueError, OverflowError)


def malformed(path: str | Path, exc: Exception) -> str:
    """The message for the file ``path`` that pyelftools could not read (``exc``, one
    of MALFORMED)."""
    why = "an offset past the end of any file" if isinstance(exc, OverflowError) else exc
    return f"{path}: malformed ELF file: {why}"

# --------------------------------------------------------------------------- reading


MAX_ELF_BYTES = 1 << 30  # far above any sample or library; a bound on what is read


def _read_regular(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_ELF_BYTES. A FIFO or a device in its
    place (a sample may swap its own binary while it runs) is refused, never read: a
    FIFO would block the read, /dev/zero would never end it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if info.st_size > MAX_ELF_BYTES:
            raise OSError(errno.EFBIG, f"larger than {MAX_ELF_BYTES} bytes")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(MAX_ELF_BYTES + 1)[:MAX_ELF_BYTES]
    finally:
        os.close(fd)


def read_elf(path: str | Path) -> Elf:
    """Read the ELF file at ``path``: header, sections, segments, symbols, linkage.

    Raises RoadsError naming the file when it is not an ELF64 little-endian x86-64
    file, or is truncated.
    """
    path = Path(path)
    return parse_elf(path, read_bytes(path))


def read_bytes(path: Path) -> bytes:
    """The bytes of the ELF file at ``path`` (RoadsError naming it if it cannot be read)."""
    try:
        return _read_regular(path)
    except OSError as exc:
        raise RoadsError(f"{path}: cannot read ELF file: {exc.strerror}") from exc


def parse_elf(path: Path, data: bytes) -> Elf:
    """``read_elf`` of ``data``, the bytes read from ``path`` (named in errors)."""
    _check_ident(path, data)
    try:
        elffile = ELFFile(io.BytesIO(data))
        header = _header(elffile)
        # Checked before pyelftools walks the tables, whose own errors are vaguer.
        _need(path, data, header.e_phoff + header.e_phnum * header.e_phentsize,
              "the program header table")
        _need(path, data, header.e_shoff + header.e_shnum * header.e_shentsize,
              "the section header table")
        raw_sections = [(s.name, s.header) for s in elffile.iter_sections()]
        raw_segments = [s.header for s in elffile.iter_segments()]
    except MALFORMED as exc:  # UnicodeDecodeError is a ValueError
        raise RoadsError(malformed(path, exc)) from exc
    for name, h in raw_sections:
        if h.sh_type != "SHT_NOBITS":
            _need(path, data, h.sh_offset + h.sh_size, f"section {name or '(null)'}")
    for number, h in enumerate(raw_segments):
        _need(path, data, h.p_offset + h.p_filesz, f"segment {number} ({_enum(h.p_type)})")

    sections = tuple(
        Section(
            name=name,
            sh_type=_enum(h.sh_type),
            sh_flags=h.sh_flags,
            sh_addr=h.sh_addr,
            sh_offset=h.sh_offset,
            sh_size=h.sh_size,
            sh_link=h.sh_link,
            sh_info=h.sh_info,
            sh_addralign=h.sh_addralign,
            sh_entsize=h.sh_entsize,
        )
        for name, h in raw_sections
    )
    segments = []
    for h in raw_segments:
        bare = Segment(
            p_type=_enum(h.p_type),
            p_flags=h.p_flags,
            p_offset=h.p_offset,
            p_vaddr=h.p_vaddr,
            p_paddr=h.p_paddr,
            p_filesz=h.p_filesz,
            p_memsz=h.p_memsz,
            p_align=h.p_align,
            sections=(),
        )
        # Section 0 is the null section header; readelf starts at 1 too.
        names = tuple(s.name for s in sections[1:] if section_in_segment(s, bare))
        segments.append(msgspec.structs.replace(bare, sections=names))

    symtab, symbols = _symbols(path, data, sections)
    interp = _interp(data, segments)
    needed, flags_1 = _dynamic(path, data, segments)
    # A PIE is ET_DYN that is an executable: either it asks for ld.so (PT_INTERP) or,
    # for static-pie, it carries DF_1_PIE. A plain shared library has neither.
    is_pie = header.e_type == "ET_DYN" and (interp is not None or bool(flags_1 & _DF_1_PIE))
    # Static means an executable with no dynamic loader and no libraries: static-pie
    # still has a PT_DYNAMIC (for its self-relocation) but no PT_INTERP, no DT_NEEDED.
    is_executable = header.e_type == "ET_EXEC" or is_pie
    is_static = is_executable and interp is None and not needed
    return Elf(
        header=header,
        sections=sections,
        segments=tuple(segments),
        symbols=symbols,
        symtab=symtab,
        interp=interp,
        needed=needed,
        is_pie=is_pie,
        is_static=is_static,
    )


def _check_ident(path: Path, data: bytes) -> None:
    """Refuse, with the file named, anything but an ELF64 LSB x86-64 file."""
    if data[:4] != ELFMAG:
        raise RoadsError(f"{path}: not an ELF file (no \\x7fELF magic)")
    if len(data) < _EHDR64_SIZE:
        raise RoadsError(
            f"{path}: truncated ELF file: {len(data)} bytes, shorter than an ELF header"
        )
    ei_class, ei_data = data[4], data[5]
    if ei_class != _ELFCLASS64:
        bits = {1: "32-bit (ELFCLASS32)"}.get(ei_class, f"EI_CLASS {ei_class}")
        raise RoadsError(f"{path}: {bits} ELF file; only 64-bit x86-64 ELF is supported")
    if ei_data != _ELFDATA2LSB:
        raise RoadsError(
            f"{path}: big-endian or unknown byte order (EI_DATA {ei_data}); "
            "only little-endian x86-64 ELF is supported"
        )
    (e_machine,) = struct.unpack_from("<H", data, 18)
    if e_machine != _EM_X86_64:
        raise RoadsError(
            f"{path}: ELF file for machine {e_machine}, not x86-64 (EM_X86_64 = 62)"
        )


def _need(path: Path, data: bytes, end: int, what: str) -> None:
    """Refuse a file too short to hold ``what``, which ends at file offset ``end``."""
    if end > len(data):
        raise RoadsError(
            f"{path}: truncated ELF file: {what} ends at {end:#x}, "
            f"the file has {len(data):#x} bytes"
        )


def _header(elffile: ELFFile) -> ElfHeader:
    h = elffile.header
    return ElfHeader(
        ei_class=h.e_ident.EI_CLASS,
        ei_data=h.e_ident.EI_DATA,
        ei_osabi=_enum(h.e_ident.EI_OSABI),
        e_type=_enum(h.e_type),
        e_machine=_enum(h.e_machine),
        e_entry=h.e_entry,
        e_phoff=h.e_phoff,
        e_shoff=h.e_shoff,
        e_flags=h.e_flags,
        e_ehsize=h.e_ehsize,
        e_phentsize=h.e_phentsize,
        e_phnum=h.e_phnum,
        e_shentsize=h.e_shentsize,
        e_shnum=h.e_shnum,
        e_shstrndx=h.e_shstrndx,
    )


def _enum(value: str | int) -> str:
    """pyelftools gives known enumeration values as names and unknown ones as ints."""
    return value if isinstance(value, str) else f"{value:#x}"


def _symbols(
    path: Path, data: bytes, sections: tuple[Section, ...]
) -> tuple[str | None, tuple[Symbol, ...]]:
    """Defined, named FUNC/OBJECT/TLS symbols of .symtab, or of .dynsym if stripped."""
    table = next((s for s in sections if s.sh_type == "SHT_SYMTAB"), None)
    if table is None:
        table = next((s for s in sections if s.sh_type == "SHT_DYNSYM"), None)
    if table is None:
        return None, ()
    if table.sh_entsize != _ELF64_SYM.size or table.sh_size % _ELF64_SYM.size:
        raise RoadsError(
            f"{path}: symbol table {table.name} has entries of {table.sh_entsize} bytes, "
            f"not {_ELF64_SYM.size}"
        )
    if not 0 < table.sh_link < len(sections):
        raise RoadsError(f"{path}: symbol table {table.name} links to no string table")
    strtab = sections[table.sh_link]
    strings = data[strtab.sh_offset : strtab.sh_offset + strtab.sh_size]
    raw = data[table.sh_offset : table.sh_offset + table.sh_size]
    names = [s.name for s in sections]
    symbols = []
    for st_name, st_info, _st_other, st_shndx, st_value, st_size in _ELF64_SYM.iter_unpack(raw):
        kind = _STT_NAMES.get(st_info & 0xF)
        # st_shndx 0 is SHN_UNDEF; the reserved range holds SHN_ABS and SHN_COMMON,
        # which name no section this file maps.
        if kind is None or st_name == 0 or st_shndx == 0 or st_shndx >= _SHN_LORESERVE:
            continue
        end = strings.find(b"\0", st_name)
        name = strings[st_name : end if end >= 0 else None].decode("utf-8", "replace")
        if not name or st_shndx >= len(names):
            continue
        symbols.append(
            Symbol(
                name=name,
                st_value=st_value,
                st_size=st_size,
                type=kind,
                bind=_STB_NAMES.get(st_info >> 4, f"{st_info >> 4:#x}"),
                section=names[st_shndx],
            )
        )
    return table.name, tuple(symbols)


def _interp(data: bytes, segments: list[Segment]) -> str | None:
    """The path in PT_INTERP (gABI: a null-terminated path name), or None."""
    seg = next((s for s in segments if s.p_type == "PT_INTERP"), None)
    if seg is None:
        return None
    raw = data[seg.p_offset : seg.p_offset + seg.p_filesz]
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _dynamic(path: Path, data: bytes, segments: list[Segment]) -> tuple[tuple[str, ...], int]:
    """DT_NEEDED names and DT_FLAGS_1 from PT_DYNAMIC; ((), 0) if there is none.

    Read from the segment rather than the .dynamic section so that a file without
    section headers works too; DT_STRTAB is a virtual address, turned back into a
    file offset through the PT_LOAD that holds it.
    """
    seg = next((s for s in segments if s.p_type == "PT_DYNAMIC"), None)
    if seg is None:
        return (), 0
    raw = data[seg.p_offset : seg.p_offset + seg.p_filesz]
    raw = raw[: len(raw) - len(raw) % _ELF64_DYN.size]
    needed_offsets: list[int] = []
    strtab_vaddr = None
    flags_1 = 0
    for d_tag, d_val in _ELF64_DYN.iter_unpack(raw):
        if d_tag == _DT_NULL:
            break
        if d_tag == _DT_NEEDED:
            needed_offsets.append(d_val)
        elif d_tag == _DT_STRTAB:
            strtab_vaddr = d_val
        elif d_tag == _DT_FLAGS_1:
            flags_1 = d_val
    if not needed_offsets:
        return (), flags_1
    strtab = _file_offset(segments, strtab_vaddr) if strtab_vaddr is not None else None
    if strtab is None:
        raise RoadsError(f"{path}: DT_NEEDED entries but no DT_STRTAB inside a PT_LOAD")
    names = []
    for offset in needed_offsets:
        start = strtab + offset
        end = data.find(b"\0", start)
        names.append(data[start : end if end >= 0 else None].decode("utf-8", "replace"))
    return tuple(names), flags_1


def _file_offset(segments: Sequence[Segment], vaddr: int) -> int | None:
    for s in segments:
        if s.p_type == "PT_LOAD" and s.p_vaddr <= vaddr < s.p_vaddr + s.p_filesz:
            return s.p_offset + (vaddr - s.p_vaddr)
    return None
