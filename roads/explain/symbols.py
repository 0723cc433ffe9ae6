"""The function a name given to ``roads explain --at`` stands for in an ELF file: the
definition the dynamic linker binds a newly linked program's call to.

A library may define one name several times, in versions (GNU symbol versioning):
glibc keeps ``memcpy@GLIBC_2.2.5`` for programs linked before 2.14, and
``memcpy@@GLIBC_2.14``, the default version (``@@``), is the one a program linked now
calls. In ``.dynsym`` the names carry no version: ``.gnu.version`` (SHT_GNU_versym)
gives each symbol the index of its version, with VERSYM_HIDDEN set for all but the
default, and ``.gnu.version_d`` (SHT_GNU_verdef) names the versions. ``.symtab`` (kept
by executables, static ones included, and by unstripped libraries) writes the version
into the name (``f@V1``, ``f@@V2``); a name without one is unversioned.

Pure: ``functions`` reads the bytes of a file (``has_symtab``: whether it keeps
``.symtab``), ``bound`` chooses among the definitions
of a name, ``cxx_named`` finds a C++ function by its name in the source, ``data_object``
finds a variable, ``old_versions`` lists those no new call binds to, ``first_load`` gives
the address the file's symbol values are counted from once it is mapped, and ``inlined``
tells, from the debugging information, a function the compiler inlined.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass
from typing import Callable, Mapping, NamedTuple

from elftools.common.exceptions import DWARFError
from elftools.dwarf.enums import ENUM_DW_INL
from elftools.elf.elffile import ELFFile

from ..capture.elf import MALFORMED
from ..errors import ExplainError

# gABI "ELF Header": e_phoff (Elf64_Off) at 0x20, e_shoff at 0x28; e_phentsize, e_phnum
# (Elf64_Half) at 0x36, e_shentsize, e_shnum at 0x3A.
_ELF64_PHDR = struct.Struct("<IIQQQQQQ")  # Elf64_Phdr: p_type, p_flags, p_offset, p_vaddr, ...
PT_LOAD = 1
_ELF64_SHDR = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr: _Shdr's fields
_ELF64_SYM = struct.Struct("<IBBHQQ")  # st_name, st_info, st_other, st_shndx, st_value, st_size
_VERSYM = struct.Struct("<H")  # Elf64_Versym
_VERDEF = struct.Struct("<HHHHIII")  # vd_version, vd_flags, vd_ndx, vd_cnt, vd_hash, vd_aux, vd_next
_VERDAUX = struct.Struct("<II")  # vda_name, vda_next
SHT_SYMTAB, SHT_DYNSYM = 2, 11
SHT_GNU_VERDEF, SHT_GNU_VERSYM = 0x6FFFFFFD, 0x6FFFFFFF
STT_OBJECT, STT_FUNC, STT_GNU_IFUNC = 1, 2, 10
STB_LOCAL = 0
SHN_LORESERVE = 0xFF00  # UND is 0; ABS, COMMON and the rest name no section
VER_NDX_LOCAL = 0  # a .dynsym entry bound in its own file alone
VER_FLG_BASE = 1  # the verdef entry naming the file itself, not a version
VERSYM_HIDDEN = 0x8000


@dataclass(frozen=True)
class Function:
    """One definition of a function's name (an ``Elf64_Sym`` of type STT_FUNC or
    STT_GNU_IFUNC, defined in a section of its file; ``data_object`` reads a variable's,
    STT_OBJECT, the same way)."""

    name: str  # without its version
    version: str  # '' when unversioned
    default: bool  # what a call naming no version binds to: name@@version, or unversioned
    st_value: int
    ifunc: bool  # STT_GNU_IFUNC: st_value is the resolver, which picks the code called
    table: str  # '.dynsym' or '.symtab'
    local: bool = False  # STB_LOCAL: a static function, which no other file's call reaches

    @property
    def spelled(self) -> str:
        """As readelf writes it: ``name@@version``, ``name@version`` or ``name``."""
        return f"{self.name}@{'@' if self.default else ''}{self.version}" if self.version \
            else self.name


class _Shdr(NamedTuple):
    """A section header (``Elf64_Shdr``)."""

    sh_name: int
    sh_type: int
    sh_flags: int
    sh_addr: int
    sh_offset: int
    sh_size: int
    sh_link: int
    sh_info: int
    sh_addralign: int
    sh_entsize: int


def _section_headers(data: bytes, path: str) -> list[_Shdr]:
    """The section headers of ``data`` (an ELF64 little-endian file; ``path`` names it
    in errors); none for another file, or one without them. ExplainError when they lie
    outside the file."""
    if data[:6] != b"\x7fELF\x02\x01" or len(data) < 64:
        return []
    (e_shoff,) = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
    if e_shoff == 0 or e_shnum == 0:
        return []
    if e_shentsize != _ELF64_SHDR.size or e_shoff + e_shnum * e_shentsize > len(data):
        raise ExplainError(f"{path}: its section headers lie outside the file")
    return [_Shdr._make(_ELF64_SHDR.unpack_from(data, e_shoff + i * e_shentsize))
            for i in range(e_shnum)]


def has_symtab(data: bytes, path: str) -> bool:
    """Whether ``data`` (an ELF64 little-endian file; ``path`` names it in errors) keeps
    a symbol table (SHT_SYMTAB, ``.symtab``): ``strip`` takes it out, and with it the
    names of the functions a program does not share with its libraries."""
    return any(h.sh_type == SHT_SYMTAB for h in _section_headers(data, path))


def functions(data: bytes, path: str) -> dict[str, tuple[Function, ...]]:
    """The functions ``data`` (an ELF64 little-endian file; ``path`` names it in errors)
    defines in ``.dynsym`` and ``.symtab``, by name without the version; {} for a file
    that is not ELF64 little-endian. ExplainError when a table lies outside the file."""
    return _definitions(data, path, (STT_FUNC, STT_GNU_IFUNC))


def data_object(data: bytes, path: str, name: str) -> int | None:
    """The ``st_value`` of the data object (STT_OBJECT) ``name`` that ``data`` (an ELF64
    little-endian file; ``path`` names it in errors) defines, the definition a reference
    binds to as for a function (``bound``): the loader's ``_r_debug``, say. None when it
    defines none."""
    chosen = bound(_definitions(data, path, (STT_OBJECT,)), name)
    return chosen.st_value if chosen is not None else None


def _definitions(data: bytes, path: str, kinds: tuple[int, ...]
                 ) -> dict[str, tuple[Function, ...]]:
    """The symbols of the types ``kinds`` that ``data`` defines (``functions``), as
    Function records (of a data object, ``ifunc`` is False)."""
    headers = _section_headers(data, path)
    e_shnum = len(headers)

    def section(index: int, what: str) -> bytes:
        if not 0 < index < e_shnum:
            raise ExplainError(f"{path}: {what} links to no section (index {index})")
        header = headers[index]
        if header.sh_offset + header.sh_size > len(data):
            raise ExplainError(f"{path}: {what} lies outside the file")
        return data[header.sh_offset:header.sh_offset + header.sh_size]

    found: dict[str, list[Function]] = {}
    for index, header in enumerate(headers):
        if header.sh_type not in (SHT_SYMTAB, SHT_DYNSYM):
            continue
        table = ".dynsym" if header.sh_type == SHT_DYNSYM else ".symtab"
        if header.sh_entsize != _ELF64_SYM.size:
            raise ExplainError(f"{path}: {table} has entries of {header.sh_entsize} bytes, "
                               f"not {_ELF64_SYM.size}")
        if header.sh_size % _ELF64_SYM.size:
            raise ExplainError(f"{path}: {table} holds {header.sh_size} bytes, not a whole "
                               f"number of {_ELF64_SYM.size}-byte entries")
        strings = section(header.sh_link, f"{table}'s string table")
        versym, names = _versions(headers, section) if table == ".dynsym" else ([], {})
        for n, (st_name, st_info, _, st_shndx, st_value, _) in enumerate(
                _ELF64_SYM.iter_unpack(section(index, table))):
            kind = st_info & 0xF
            if kind not in kinds or st_name == 0 or st_value == 0 \
                    or st_shndx == 0 or st_shndx >= SHN_LORESERVE:
                continue
            spelled = _string(strings, st_name)
            if table == ".symtab":  # the version, if any, is in the name
                name, at, version = spelled.partition("@")
                default = not at or version.startswith("@")
                version = version.removeprefix("@")
            elif n < len(versym):
                if versym[n] == VER_NDX_LOCAL:
                    continue
                name, version = spelled, names.get(versym[n] & ~VERSYM_HIDDEN, "")
                default = not versym[n] & VERSYM_HIDDEN
            else:  # no .gnu.version: every name unversioned
                name, version, default = spelled, "", True
            if name:
                found.setdefault(name, []).append(
                    Function(name, version, default, st_value, kind == STT_GNU_IFUNC, table,
                             local=st_info >> 4 == STB_LOCAL))
    return {name: tuple(defs) for name, defs in found.items()}


def imports(data: bytes, path: str, name: str) -> bool:
    """Whether ``data`` (an ELF64 little-endian file; ``path`` names it in errors) calls
    ``name`` in another file: a symbol of that name in ``.dynsym`` that it does not
    define (SHN_UNDEF). False for a file that is not ELF64 or has no such table."""
    table = _symbol_names(data, path)
    return table is not None and name in table[0]


def _symbol_names(data: bytes, path: str, sh_type: int = SHT_DYNSYM
                  ) -> tuple[frozenset[str], frozenset[str]] | None:
    """The names of ``data``'s symbol table of type ``sh_type`` (``.dynsym``, or
    ``.symtab`` with SHT_SYMTAB): those it takes from other files (SHN_UNDEF,
    ``imports``), and all of them; None where it has none (``.dynsym``: linked static;
    ``.symtab``: stripped; or not ELF64)."""
    headers = _section_headers(data, path)
    found: tuple[set[str], set[str]] | None = None
    for header in headers:
        if header.sh_type != sh_type or header.sh_entsize != _ELF64_SYM.size \
                or not 0 < header.sh_link < len(headers):
            continue
        if found is None:
            found = (set(), set())
        strings = headers[header.sh_link]
        names = data[strings.sh_offset:strings.sh_offset + strings.sh_size]
        table = data[header.sh_offset:header.sh_offset + header.sh_size]
        table = table[:len(table) - len(table) % _ELF64_SYM.size]
        for st_name, _, _, st_shndx, _, _ in _ELF64_SYM.iter_unpack(table):
            if st_name:
                name = _string(names, st_name)
                found[1].add(name)
                if st_shndx == 0:
                    found[0].add(name)
    return None if found is None else (frozenset(found[0]), frozenset(found[1]))


# C stdio's functions that write to a stream, into its buffer (glibc's libio): gcc
# makes puts or putchar of a printf whose format allows it, _FORTIFY_SOURCE the _chk
# forms; C++'s std::cout and std::wcout write through stdout's (sync_with_stdio).
STDIO_WRITERS = frozenset({
    "printf", "vprintf", "fprintf", "vfprintf", "puts", "putchar", "putchar_unlocked",
    "fputs", "fputs_unlocked", "fputc", "fputc_unlocked", "putc", "putc_unlocked",
    "_IO_putc", "fwrite", "fwrite_unlocked", "__overflow", "__printf_chk",
    "__vprintf_chk", "__fprintf_chk", "__vfprintf_chk", "wprintf", "vwprintf",
    "fwprintf", "vfwprintf", "putwchar", "putwchar_unlocked", "fputws", "fputws_unlocked",
    "fputwc", "fputwc_unlocked", "putwc", "putwc_unlocked", "__wprintf_chk",
    "__vwprintf_chk", "__fwprintf_chk", "__vfwprintf_chk", "printf_size", "putw",
    "malloc_info", "argp_help", "argp_state_help", "putpwent", "putgrent", "putspent",
    "putsgent"})
# The standard output's stream itself, named by a program that hands it to a function
# (malloc_info(0, stdout)) or writes to it (C++'s std::cout and std::wcout): in .dynsym
# as an import, or defined there where the program holds a copy (a copy relocation).
STDOUT_STREAMS = frozenset({"stdout", "_IO_2_1_stdout_", "_ZSt4cout", "_ZSt4wcout"})
# Ways to run code the program's file does not show (another program, a library
# opened later), whose writes are their own.
OTHER_CODE = frozenset({
    "execve", "execv", "execvp", "execvpe", "execl", "execlp", "execle", "fexecve",
    "execveat", "posix_spawn", "posix_spawnp", "system", "popen", "dlopen", "dlmopen",
    "dlsym", "dlvsym"})
# Libraries that write to the standard output only through calls the program makes:
# glibc's and the libraries it splits off, and musl's C library (named libc.so by
# musl-gcc, libc.musl-x86_64.so.1 by Alpine's linker).
QUIET_LIBRARIES = frozenset({"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2",
                             "librt.so.1", "libc.so", "libc.musl-x86_64.so.1"})


def writes_through_stdio(data: bytes, path: str, needed: list[str]) -> bool | None:
    """Whether the program in ``data`` (``path`` names it in errors), which links the
    libraries ``needed`` (DT_NEEDED), writes through C stdio's buffers: True where it
    calls one of ``STDIO_WRITERS`` or names the standard output's stream
    (``STDOUT_STREAMS``); None where that cannot be told from its file
    (another library linked, another program run or a library opened);
    False otherwise.

    A program that links no library (``-static``, ``-static-pie``, ``-nostdlib``, Go's)
    holds what it has of a C library in its own file, and its symbol table
    (``.symtab``) names it: None (it may) where that holds stdio's writers or streams
    (glibc's always does, for its own messages; musl's where the program calls them) or
    a way to run other code, or where the file keeps no symbol table (stripped); False
    where it holds none (no C library, or musl's without its stdio)."""
    if not needed:
        table = _symbol_names(data, path, SHT_SYMTAB)
        if table is None:
            return None
        # .symtab writes a symbol's version into its name (``puts@GLIBC_2.2.5``).
        held = {name.partition("@")[0] for name in table[1]}
        return None if held & (STDIO_WRITERS | STDOUT_STREAMS | OTHER_CODE) else False
    symbols = _symbol_names(data, path)
    if symbols is None:
        return None
    names, named = symbols
    if names & STDIO_WRITERS or named & STDOUT_STREAMS:
        return True
    if names & OTHER_CODE or not set(needed) <= QUIET_LIBRARIES:
        return None
    return False


def _loads(data: bytes, path: str) -> list[tuple[int, int]]:
    """The (``p_vaddr``, ``p_memsz``) of each PT_LOAD segment of ``data`` (an ELF64
    little-endian file; ``path`` names it in errors); none for another file.
    ExplainError when its program headers lie outside it."""
    if data[:6] != b"\x7fELF\x02\x01" or len(data) < 64:
        return []
    (e_phoff,) = struct.unpack_from("<Q", data, 0x20)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 0x36)
    if e_phoff == 0 or e_phnum == 0:
        return []
    if e_phentsize != _ELF64_PHDR.size or e_phoff + e_phnum * e_phentsize > len(data):
        raise ExplainError(f"{path}: its program headers lie outside the file")
    return [(fields[3], fields[6]) for fields in _ELF64_PHDR.iter_unpack(
        data[e_phoff:e_phoff + e_phnum * e_phentsize]) if fields[0] == PT_LOAD]


def first_load(data: bytes, path: str) -> int | None:
    """The lowest ``p_vaddr`` of the PT_LOAD segments of ``data`` (an ELF64 little-endian
    file; ``path`` names it in errors): the file's symbol values less this are offsets
    from where its first page is mapped. None for a file that is not ELF64
    little-endian or loads nothing; ExplainError when its program headers lie outside it."""
    loads = _loads(data, path)
    return min(vaddr for vaddr, _ in loads) if loads else None


def load_span(data: bytes, path: str, page_size: int) -> int | None:
    """How many bytes the loader maps of ``data`` (an ELF64 little-endian file; ``path``
    names it in errors), from the page of its lowest PT_LOAD to the end of its highest
    (``p_vaddr + p_memsz``, the zero-filled bss included), in pages of ``page_size``:
    what lies past them is not the file's. None for a file that loads nothing."""
    loads = _loads(data, path)
    if not loads:
        return None
    first = min(vaddr for vaddr, _ in loads) // page_size * page_size
    end = max(vaddr + memsz for vaddr, memsz in loads)
    return -(-(end - first) // page_size) * page_size


def _string(strings: bytes, offset: int) -> str:
    end = strings.find(b"\0", offset)
    return strings[offset:end if end >= 0 else None].decode("utf-8", "replace")


def _versions(headers: list[_Shdr], section: Callable[[int, str], bytes]
              ) -> tuple[list[int], dict[int, str]]:
    """``.gnu.version``'s entries (one for each ``.dynsym`` symbol; none without it) and
    the names of the versions ``.gnu.version_d`` defines, by index."""
    versym: list[int] = []
    names: dict[int, str] = {}
    for index, header in enumerate(headers):
        if header.sh_type == SHT_GNU_VERSYM:
            entries = section(index, ".gnu.version")
            versym = [v for (v,) in _VERSYM.iter_unpack(entries[:len(entries) & ~1])]
        elif header.sh_type == SHT_GNU_VERDEF:
            verdef = section(index, ".gnu.version_d")
            strings = section(header.sh_link, ".gnu.version_d's string table")
            at = 0
            for _ in range(header.sh_info):  # the number of entries
                if at + _VERDEF.size > len(verdef):
                    break
                _, vd_flags, vd_ndx, vd_cnt, _, vd_aux, vd_next = _VERDEF.unpack_from(verdef, at)
                if vd_cnt and not vd_flags & VER_FLG_BASE \
                        and at + vd_aux + _VERDAUX.size <= len(verdef):
                    vda_name = _VERDAUX.unpack_from(verdef, at + vd_aux)[0]  # the first names it
                    names[vd_ndx] = _string(strings, vda_name)
                if not vd_next:
                    break
                at += vd_next
    return versym, names


def _asked(name: str) -> tuple[str, str]:
    """``--at``'s name as (name, version): ``memcpy``, ``memcpy@GLIBC_2.2.5`` or
    ``memcpy@@GLIBC_2.14``."""
    bare, _, version = name.partition("@")
    return bare, version.removeprefix("@")


def bound(table: Mapping[str, tuple[Function, ...]], name: str) -> Function | None:
    """Of a file's functions (``functions``), the definition a call to ``name`` binds
    to: the default version (for a name given with a version, that version), from
    ``.dynsym``, where the dynamic linker looks, before ``.symtab`` (the functions a file
    keeps to itself, and every function of a static executable), and a global one before
    a static one of the same name (which ``.symtab`` lists first); None when there is none."""
    bare, version = _asked(name)
    chosen = [d for d in table.get(bare, ()) if (d.version == version if version else d.default)]
    chosen.sort(key=lambda d: (d.table != ".dynsym", d.local))
    return chosen[0] if chosen else None


def _source_name(symbol: str) -> str | None:
    """The name a C++ function has in its source (``shapes::area``), read from its
    symbol mangled as the Itanium C++ ABI (gcc's, clang's) writes it
    (``_ZN6shapes4areaEi``): ``_Z``, ``L`` for one of internal linkage, then a name of
    one part (``<length><identifier>``, ``St`` before it for ``std::``) or a nested one
    (``N``, the qualifiers of a member function, its parts, ``E``); the parameter types
    follow and are not read, and so are the template arguments (``I...E``) after a name
    of one part (``_Z5twiceIiET_S0_``: ``twice``). Rust's compiler, in its legacy
    mangling, writes a nested name too, its last part a hash of the function's crate and
    type (``_ZN2rs6helper17h7fdbfe01900afe1fE``: ``rs::helper``), which is left out.
    None for another symbol, or a name this does not read: a nested one with template
    arguments (a function template in a namespace, a class template's member), a
    constructor's or an operator's."""
    if symbol.startswith("_R"):
        return _v0_name(symbol)
    if not symbol.startswith("_Z"):
        return None
    at = 3 if symbol.startswith("_ZL") else 2
    nested = symbol.startswith("N", at)
    if nested:
        at += 1
        while at < len(symbol) and symbol[at] in "rVKRO":  # restrict, volatile, const, &, &&
            at += 1
    parts = []
    if symbol.startswith("St", at):
        parts.append("std")
        at += 2
    while at < len(symbol) and symbol[at].isdigit():
        digits = at
        while symbol[at].isdigit():
            at += 1
        length = int(symbol[digits:at])
        if length == 0 or at + length > len(symbol):
            return None
        parts.append(symbol[at:at + length])
        at += length
        if not nested:
            break
    if not parts or parts == ["std"] or (nested and not symbol.startswith("E", at)):
        return None
    if is_rust(symbol):
        parts.pop()
    return "::".join(parts)


# A legacy-mangled Rust symbol ends its nested name with a part of 17 characters, "h"
# and 16 hexadecimal digits (rustc's symbol hash), before the "E" that closes it.
_RUST_HASH = re.compile(r"_ZN(?:\d+[^\d].*)?17h[0-9a-f]{16}E\Z", re.S)


def is_rust(symbol: str) -> bool:
    """Whether ``symbol`` is a Rust function's: mangled in rustc's legacy scheme (a
    C++-like nested name whose last part is its hash: ``_ZN2rs6helper17h…E``) or in its
    v0 scheme (``_R…``)."""
    return (symbol.startswith("_R") and symbol[2:3] in tuple("CNMXYIB")) \
        or _RUST_HASH.match(symbol) is not None


_BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class _V0:
    """A reader of the paths of Rust's v0 mangling (the Rust RFC 2603's grammar), for
    the names a function has in its source: a crate root (``C``), a name nested in a
    value or type namespace (``Nv``, ``Nt``), an inherent impl's type (``M``) and a
    back-reference (``B``) to a path read before. Anything else (generic arguments,
    trait impls, closures, types that are not paths, Punycode) is not read: ``None``."""

    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0

    def _take(self) -> str:
        if self.at >= len(self.text):
            raise ValueError("cut short")
        self.at += 1
        return self.text[self.at - 1]

    def _base62(self) -> int:
        if self.text.startswith("_", self.at):
            self.at += 1
            return 0
        value = 0
        while (c := self._take()) != "_":
            if c not in _BASE62:
                raise ValueError("not base 62")
            value = value * 62 + _BASE62.index(c)
        return value + 1

    def _identifier(self) -> str:
        if self.text.startswith("s", self.at):  # a disambiguator, the crate's hash
            self.at += 1
            self._base62()
        if self.text.startswith("u", self.at):
            raise ValueError("Punycode")
        digits = self.at
        while self.at < len(self.text) and self.text[self.at].isdigit():
            self.at += 1
        if digits == self.at:
            raise ValueError("no length")
        length = int(self.text[digits:self.at])
        if self.text.startswith("_", self.at):
            self.at += 1
        word = self.text[self.at:self.at + length]
        if len(word) != length:
            raise ValueError("cut short")
        self.at += length
        return word

    def path(self) -> list[str]:
        start = self.at
        tag = self._take()
        if tag == "C":
            return [self._identifier()]
        if tag == "N":
            if self._take() not in "vt":  # a closure's, a shim's: no name in the source
                raise ValueError("namespace")
            parent = self.path()
            return [*parent, self._identifier()]
        if tag == "M":
            if self.text.startswith("s", self.at):
                self.at += 1
                self._base62()
            self.path()  # the impl's own path (where it is written), not its type's
            return self.path()  # the type, a path
        if tag == "B":
            target = self._base62()
            if not target < start:  # it refers to a path before it
                raise ValueError("back-reference ahead")
            back = _V0(self.text)
            back.at = target
            return back.path()
        raise ValueError(f"{tag!r} not read")


def _v0_name(symbol: str) -> str | None:
    """The source's name of a function whose symbol Rust's v0 scheme made
    (``_RNvCs…_2rs6helper``: ``rs::helper``), or None where ``_V0`` does not read it."""
    text = symbol[2:]
    if text[:1].isdigit():  # an encoding version, only 0 so far
        return None
    try:
        return "::".join(_V0(text).path())
    except (ValueError, RecursionError):
        return None


def source_name(symbol: str) -> str | None:
    """The name a C++ or Rust function's mangled ``symbol`` has in its source
    (``rd::read``), where it can be read (``_source_name``); None otherwise."""
    return _source_name(symbol)


def cxx_named(table: Mapping[str, tuple[Function, ...]], name: str) -> list[str]:
    """The symbols of the C++ (or Rust) functions among a file's functions
    (``functions``) that the source calls ``name``: whole (``shapes::area``), or its last
    parts (``area``; ``shapes::area`` for Rust's ``rs::shapes::area``, the crate first),
    as gdb takes them. The linker knows them by their mangled names alone
    (``_ZN6shapes4areaEi``), which ``--at`` names. Sorted."""
    found = set()
    for symbol in table:
        written = _source_name(symbol)
        if written is not None and (written == name or written.endswith("::" + name)):
            found.add(symbol)
    return sorted(found)


def old_versions(table: Mapping[str, tuple[Function, ...]], name: str) -> list[str]:
    """The versions of ``name`` in a file's functions that no call naming no version
    binds to, as readelf spells them (``f@V1``)."""
    return sorted({d.spelled for d in table.get(_asked(name)[0], ()) if not d.default})


# DWARF 5, 7.11 "Inlining": a function's abstract instance says DW_INL_inlined (not
# declared inline) or DW_INL_declared_inlined where the compiler inlined calls to it.
_INLINED = (ENUM_DW_INL["DW_INL_inlined"], ENUM_DW_INL["DW_INL_declared_inlined"])
# More debugging information than this is not searched: the answer only adds a reason to
# an error, and a large program's would take seconds to read.
MAX_DEBUG_INFO = 8 << 20


def inlined(data: bytes, name: str) -> bool:
    """Whether the debugging information of the ELF file ``data`` (gcc -g) names a
    function ``name`` whose calls the compiler inlined (gcc -O1 and above; at -O0 too,
    one marked always_inline): its code
    is copied into each caller, and a breakpoint on its symbol, where there is one
    (a function other files may call keeps a copy of its own), is never reached.
    False where the file has no such information, or it cannot be read."""
    wanted = name.encode()
    try:
        elf = ELFFile(io.BytesIO(data))
        info = elf.get_section_by_name(".debug_info")
        if info is None or info["sh_size"] > MAX_DEBUG_INFO:
            return False
        for unit in elf.get_dwarf_info().iter_CUs():
            for die in unit.get_top_DIE().iter_children():
                if die.tag != "DW_TAG_subprogram":
                    continue
                inline = die.attributes.get("DW_AT_inline")
                named = die.attributes.get("DW_AT_name")
                if inline is not None and inline.value in _INLINED and named is not None \
                        and named.value == wanted:
                    return True
    except MALFORMED + (DWARFError, KeyError, IndexError, AttributeError, TypeError):
        return False
    return False
