"""The ELF specification's records' meaning, shared by the capture (reading ELF files)
and the figures (linking sections to regions): flag letters as readelf prints them, which
section lies in which segment, and the page size segments are mapped in.

Pure functions over any object with the gABI's field names (``roads.document``'s
records): no I/O, no pyelftools.
"""

from __future__ import annotations

from typing import Any

from .constants import PAGE_SIZE as _PAGE

# The kernel's page size on x86-64; mmap works in whole pages of it.
PAGE_SIZE = _PAGE.value

# The first four bytes of every ELF file, e_ident[EI_MAG0..EI_MAG3] (gABI "ELF
# Identification"; elf.h's ELFMAG).
ELFMAG = b"\x7fELF"

# Section header flags (gABI "Sections", Figure 4-11, plus GNU and x86-64 extensions)
# with readelf's one-letter key, in bit order since readelf prints lowest bit first.
_SHF_LETTERS = (
    (0x1, "W"),  # SHF_WRITE
    (0x2, "A"),  # SHF_ALLOC
    (0x4, "X"),  # SHF_EXECINSTR
    (0x10, "M"),  # SHF_MERGE
    (0x20, "S"),  # SHF_STRINGS
    (0x40, "I"),  # SHF_INFO_LINK
    (0x80, "L"),  # SHF_LINK_ORDER
    (0x100, "O"),  # SHF_OS_NONCONFORMING
    (0x200, "G"),  # SHF_GROUP
    (0x400, "T"),  # SHF_TLS
    (0x800, "C"),  # SHF_COMPRESSED
    (0x200000, "R"),  # SHF_GNU_RETAIN
    (0x10000000, "l"),  # SHF_X86_64_LARGE
    (0x80000000, "E"),  # SHF_EXCLUDE
)
_SHF_MASKOS = 0x0FF00000
_SHF_MASKPROC = 0xF0000000
SHF_ALLOC = 0x2
SHF_TLS = 0x400

# Program header flags (gABI "Program Header", Figure 5-2).
PF_X, PF_W, PF_R = 0x1, 0x2, 0x4

# Segment types that may only hold SHF_ALLOC sections in readelf's section to
# segment mapping (binutils include/elf/internal.h, ELF_SECTION_IN_SEGMENT_1).
_ALLOC_ONLY_SEGMENTS = frozenset(
    {"PT_LOAD", "PT_DYNAMIC", "PT_GNU_EH_FRAME", "PT_GNU_STACK", "PT_GNU_RELRO", "PT_GNU_SFRAME"}
)
_U64 = (1 << 64) - 1


def section_flags(sh_flags: int) -> str:
    """``sh_flags`` in readelf's one-letter key (``o``/``p``/``x``: OS, processor, unknown)."""
    letters = []
    rest = sh_flags
    for bit, letter in _SHF_LETTERS:
        if sh_flags & bit:
            letters.append(letter)
            rest &= ~bit
    if rest & _SHF_MASKOS:
        letters.append("o")
    if rest & _SHF_MASKPROC:
        letters.append("p")
    if rest & ~(_SHF_MASKOS | _SHF_MASKPROC):
        letters.append("x")
    return "".join(letters)


def segment_flags(p_flags: int) -> str:
    """``p_flags`` as readelf's three-column ``Flg``: R, W, E or a space each."""
    return (
        ("R" if p_flags & PF_R else " ")
        + ("W" if p_flags & PF_W else " ")
        + ("E" if p_flags & PF_X else " ")
    )


def section_in_segment(section: Any, segment: Any) -> bool:
    """Whether readelf lists ``section`` under ``segment`` in its section to segment mapping.

    A transcription of binutils' ``ELF_SECTION_IN_SEGMENT_STRICT`` (include/elf/internal.h)
    together with readelf's ``ELF_TBSS_SPECIAL`` exclusion, so the mapping matches
    ``readelf -l`` exactly: in particular ``.tbss`` belongs to ``PT_TLS`` but not to the
    ``PT_LOAD`` that holds ``.tdata``, because it takes no room there.
    """
    is_tls = bool(section.sh_flags & SHF_TLS)
    is_alloc = bool(section.sh_flags & SHF_ALLOC)
    nobits = section.sh_type == "SHT_NOBITS"
    p_type = segment.p_type
    if is_tls and nobits and p_type != "PT_TLS":
        return False  # ELF_TBSS_SPECIAL: .tbss occupies no space outside PT_TLS
    if is_tls:
        if p_type not in ("PT_TLS", "PT_GNU_RELRO", "PT_LOAD"):
            return False
    elif p_type in ("PT_TLS", "PT_PHDR"):
        return False
    if not is_alloc and p_type in _ALLOC_ONLY_SEGMENTS:
        return False
    size = section.sh_size
    # The macro computes in unsigned 64-bit arithmetic: p_filesz - 1 wraps for 0.
    if not nobits:
        delta = section.sh_offset - segment.p_offset
        if delta < 0 or delta > ((segment.p_filesz - 1) & _U64) or delta + size > segment.p_filesz:
            return False
    if is_alloc:
        delta = section.sh_addr - segment.p_vaddr
        if delta < 0 or delta > ((segment.p_memsz - 1) & _U64) or delta + size > segment.p_memsz:
            return False
    # No empty section at the very start or end of PT_DYNAMIC or PT_NOTE.
    if p_type in ("PT_DYNAMIC", "PT_NOTE") and size == 0 and segment.p_memsz != 0:
        inside_file = nobits or (
            segment.p_offset < section.sh_offset < segment.p_offset + segment.p_filesz
        )
        inside_memory = not is_alloc or (
            segment.p_vaddr < section.sh_addr < segment.p_vaddr + segment.p_memsz
        )
        return inside_file and inside_memory
    return True
