"""roads.explain.symbols against GNU readelf: every function definition, with its
version, of the C library this process runs with, of a versioned library built here
(stripped, and with its .symtab) and of a static executable; and the definition a call
binds to, which --at FUNC stops at (it stopped at glibc's memcpy@GLIBC_2.2.5, kept for
programs linked before 2.14, which no program linked now calls)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from roads.command import run
from roads.errors import ExplainError
from roads.explain.symbols import bound, first_load, functions, inlined, old_versions
from tests.test_explain import root  # noqa: F401 - a fixture

pytestmark = [pytest.mark.gcc]

# f in two versions, both plain functions: f@V1 for programs linked against an older
# libversioned, f@@V2 the default; g only in an old version.
VERSIONED = r"""
int old_f(void) { return 1; }
int new_f(void) { return 2; }
int old_g(void) { return 3; }
__asm__(".symver old_f, f@V1");
__asm__(".symver new_f, f@@V2");
__asm__(".symver old_g, g@V1");
"""
VERSION_SCRIPT = "V1 { global: f; g; local: *; };\nV2 { global: f; } V1;\n"
CALLS_F = "int f(void);\nint main(void) { return f() != 2; }\n"
CALLS_STRLEN = "#include <string.h>\nint main(int argc, char **argv) { return strlen(argv[0]) == 0; }\n"


def build_versioned(folder: Path, *, stripped: bool = True) -> Path:
    """libversioned.so built in ``folder`` from VERSIONED (stripped: .dynsym alone)."""
    (folder / "versioned.c").write_text(VERSIONED)
    (folder / "versioned.map").write_text(VERSION_SCRIPT)
    library = folder / ("libversioned.so" if stripped else "libversioned-full.so")
    run(["gcc", "-shared", "-fPIC", *(["-s"] if stripped else []), "-o", str(library),
         str(folder / "versioned.c"), f"-Wl,--version-script={folder / 'versioned.map'}"])
    return library


def build(folder: Path, name: str, source: str, *flags: str) -> Path:
    (folder / f"{name}.c").write_text(source)
    run(["gcc", "-O0", "-o", str(folder / name), str(folder / f"{name}.c"), *flags])
    return folder / name


def this_libc() -> Path:
    """The C library this process maps."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        path = line.split(None, 5)[5] if len(line.split(None, 5)) > 5 else ""
        if re.search(r"/libc\.so\.6$", path):
            return Path(path)
    pytest.skip("this Python maps no libc.so.6")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("symbols")
    return {"libc": this_libc(), "stripped": build_versioned(folder),
            "full": build_versioned(folder, stripped=False),
            "static": build(folder, "static", CALLS_STRLEN, "-static")}


def readelf_functions(path: Path) -> dict[str, set[tuple[str, int, bool]]]:
    """Each symbol table's defined functions as readelf -sW prints them: (name with
    its version, value, whether an ifunc)."""
    tables: dict[str, set[tuple[str, int, bool]]] = {}
    table = None
    for line in run(["readelf", "-sW", str(path)]).stdout.splitlines():
        heading = re.match(r"Symbol table '(\.\w+)'", line)
        if heading:
            table = tables.setdefault(heading[1], set())
            continue
        fields = line.split()
        if table is None or len(fields) != 8 or not fields[0].endswith(":"):
            continue
        _, value, _, kind, _, _, ndx, name = fields
        if kind in ("FUNC", "IFUNC") and ndx not in ("UND", "ABS") and int(value, 16):
            table.add((name, int(value, 16), kind == "IFUNC"))
    return tables


@pytest.mark.parametrize("which", ["libc", "stripped", "full", "static"])
def test_every_function_and_its_version_agrees_with_readelf(files, which):
    path = files[which]
    found = functions(path.read_bytes(), str(path))
    ours: dict[str, set[tuple[str, int, bool]]] = {}
    for defs in found.values():
        for d in defs:
            ours.setdefault(d.table, set()).add((d.spelled, d.st_value, d.ifunc))
    theirs = {name: rows for name, rows in readelf_functions(path).items() if rows}
    assert ours == theirs
    assert ours, "no function found at all: the comparison would prove nothing"


def test_a_call_binds_to_the_default_version(files):
    libc = functions(files["libc"].read_bytes(), "libc")
    rows = readelf_functions(files["libc"])[".dynsym"]
    default = next(r for r in rows if r[0].startswith("memcpy@@"))
    old = next(r for r in rows if r[0].startswith("memcpy@") and not r[0].startswith("memcpy@@"))
    chosen = bound(libc, "memcpy")
    assert (chosen.spelled, chosen.st_value, chosen.ifunc) == default  # memcpy@@GLIBC_2.14
    assert chosen.ifunc
    named = bound(libc, old[0])  # memcpy@GLIBC_2.2.5, when named
    assert (named.spelled, named.st_value, named.ifunc) == old

    for which in ("stripped", "full"):
        lib = functions(files[which].read_bytes(), which)
        f = bound(lib, "f")
        assert (f.spelled, f.table) == ("f@@V2", ".dynsym"), which
        assert bound(lib, "f@V1").spelled == "f@V1"
        assert f.st_value != bound(lib, "f@V1").st_value
        assert bound(lib, "g") is None  # only an old version: no new call binds to it
        assert old_versions(lib, "g") == ["g@V1"]
        assert old_versions(lib, "f") == ["f@V1"]

    static = functions(files["static"].read_bytes(), "static")
    strlen = bound(static, "strlen")  # .symtab alone: the name unversioned
    assert strlen is not None and strlen.ifunc and strlen.table == ".symtab"


def test_a_file_not_elf64_has_no_functions_and_one_cut_short_is_named(files):
    assert functions(b"#!/bin/sh\n", "script") == {}
    assert functions(b"", "empty") == {}
    data = files["stripped"].read_bytes()  # its section headers come last
    with pytest.raises(ExplainError, match="^cut: its section headers lie outside the file$"):
        functions(data[:len(data) // 2], "cut")


def test_a_symbol_table_of_a_size_not_whole_entries_is_named(files):
    """A .dynsym one byte longer than its entries (sh_size): an error naming the file
    and the table, not struct's own error and a traceback."""
    import struct

    data = bytearray(files["stripped"].read_bytes())
    (e_shoff,) = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
    for i in range(e_shnum):
        at = e_shoff + i * e_shentsize
        if struct.unpack_from("<I", data, at + 4)[0] == 11:  # SHT_DYNSYM
            size_at = at + 32  # sh_size, after sh_name, sh_type, sh_flags, sh_addr, sh_offset
            struct.pack_into("<Q", data, size_at, struct.unpack_from("<Q", data, size_at)[0] + 1)
            break
    else:
        pytest.fail("no .dynsym")
    with pytest.raises(ExplainError, match=r"^odd: \.dynsym holds \d+ bytes, not a whole number "
                                           r"of 24-byte entries$"):
        functions(bytes(data), "odd")


def test_a_global_function_is_chosen_over_a_static_one_of_the_same_name(tmp_path):
    """A program whose one file keeps a static f and whose other defines the global f
    that main calls: .symtab lists the static one first; --at f stops at the global one,
    whose address readelf gives."""
    (tmp_path / "other.c").write_text("static int f(void) { return 7; }\n"
                                      "int use_static(void) { return f(); }\n")
    program = build(tmp_path, "both", "int f(void) { return 1; }\nint use_static(void);\n"
                    "int main(void) { return f() + use_static() != 8; }\n",
                    str(tmp_path / "other.c"))
    found = functions(program.read_bytes(), "both")
    assert sorted(d.local for d in found["f"]) == [False, True]
    chosen = bound(found, "f")
    assert chosen is not None and not chosen.local
    global_f = [int(fields[1], 16) for line in run(["readelf", "-sW", str(program)]).stdout.splitlines()
                if (fields := line.split()) and len(fields) >= 8 and fields[7] == "f"
                and fields[4] == "GLOBAL"]
    assert global_f == [chosen.st_value]


def test_first_load_is_the_lowest_load_segment_readelf_lists(files):
    """The address a file's symbols are counted from (the tracer's load bias is where
    its first page is mapped, less this), for each file, as ``readelf -lW`` lists its
    LOAD segments; None for what is not an ELF64 file, and an error naming a file whose
    program headers were cut off."""
    for which, path in files.items():
        loads = [int(fields[2], 16) for line in run(["readelf", "-lW", str(path)]).stdout.splitlines()
                 if (fields := line.split()) and fields[0] == "LOAD"]
        assert loads, which
        assert first_load(path.read_bytes(), which) == min(loads), which
    assert first_load(b"#!/bin/sh\n", "script") is None
    data = files["stripped"].read_bytes()
    with pytest.raises(ExplainError, match="^cut: its program headers lie outside the file$"):
        first_load(data[:80], "cut")


RUST = r"""
#[inline(never)]
fn helper(n: u64) -> u64 { n * 3 + 1 }
mod shapes { #[inline(never)] pub fn area(side: u64) -> u64 { side * side } }
fn main() { println!("{}", (0..10).map(helper).sum::<u64>() + shapes::area(3)); }
"""


@pytest.mark.parametrize("symbol, written, rust", [
    ("_ZN2rs6helper17h7fdbfe01900afe1fE", "rs::helper", True),
    ("_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write", True),
    ("_ZN6shapes4areaEi", "shapes::area", False),
    ("_Z7throweri", "thrower", False),
    # A C++ name whose last part merely looks like a hash keeps it: no "E" after it.
    ("_ZN1a17h0123456789abcdefEv", "a::h0123456789abcdef", False),
    # rustc's v0 scheme: a function, an inherent impl's method (its type a back-reference
    # to the module), and what it does not read (a generic function's instance).
    ("_RNvCsfq2Zq5gqAK1_2v06helper", "v0::helper", True),
    ("_RNvMNtCsfq2Zq5gqAK1_2v06shapesNtB2_2Sq4area", "v0::shapes::Sq::area", True),
    ("_RINvNtCsjrHSEGnQ3l9_3std3sys3fooNtB2_3BarEB2_", None, True),
    ("_RNvB0_1x", None, True),  # a back-reference to itself
    ("_Rfoo", None, False),
])
def test_a_mangled_name_is_read_as_its_source_writes_it(symbol, written, rust):
    """rustc's legacy mangling is the C++ ABI's nested name with a hash as its last part:
    --at helper in a Rust program found nothing and called the program C++."""
    from roads.explain.symbols import _source_name, is_rust

    assert _source_name(symbol) == written
    assert is_rust(symbol) is rust


@pytest.mark.parametrize("name, found", [
    ("area", ["_ZN2rs6shapes4area17hda23555a3e6198aeE", "_ZN6shapes4areaEi"]),
    ("shapes::area", ["_ZN2rs6shapes4area17hda23555a3e6198aeE", "_ZN6shapes4areaEi"]),
    ("rs::shapes::area", ["_ZN2rs6shapes4area17hda23555a3e6198aeE"]),
    ("hapes::area", []),
])
def test_a_function_is_found_by_its_whole_name_or_its_last_parts(name, found):
    from roads.explain.symbols import cxx_named

    table = {s: () for s in ("_ZN2rs6shapes4area17hda23555a3e6198aeE", "_ZN6shapes4areaEi",
                             "_Z7throweri")}
    assert cxx_named(table, name) == found


def test_a_rust_function_is_stopped_at_by_its_name(root, tmp_path, monkeypatch, capsys):
    """A learner's Rust program: --at helper and --at shapes::area stop at the functions
    nm lists as _ZN2rs6helper17h...E and _ZN2rs6shapes4area17h...E, and a name it has
    not is refused with words about Rust, not C++."""
    import shutil

    from tests.test_explain import explain

    rustc = shutil.which("rustc")
    if rustc is None:
        pytest.skip("no rustc")
    (tmp_path / "rs.rs").write_text(RUST)
    run([rustc, "-C", "debuginfo=1", "-o", str(tmp_path / "rsprog"), str(tmp_path / "rs.rs")],
        timeout=120, check=True)
    monkeypatch.chdir(tmp_path)
    for at, part in (("helper", "6helper17h"), ("shapes::area", "6shapes4area17h")):
        assert explain(root, "--no-sandbox", "--at", at, "--out", "p.html", "--", "./rsprog") == 0
        err = capsys.readouterr().err
        assert re.search(rf"--at {at}: the Rust function _ZN2rs{part}[0-9a-f]{{16}}E", err), err
    assert explain(root, "--no-sandbox", "--at", "nothere", "--", "./rsprog") == 1
    err = capsys.readouterr().err
    assert "it is Rust, whose functions the linker knows by their mangled names" in err, err
    # A function of the program's own named as one of the C library's (read): the stop is
    # the library's, as a C name is looked up first, and the command says which it took.
    (tmp_path / "rd.rs").write_text("#[inline(never)]\nfn read(n: u64) -> u64 { n + 1 }\n"
                                     "fn main() { println!(\"{}\", read(3)); }\n")
    run([rustc, "-o", str(tmp_path / "rd"), str(tmp_path / "rd.rs")], timeout=120, check=True)
    explain(root, "--no-sandbox", "--at", "read", "--out", "p.html", "--", "./rd")
    err = capsys.readouterr().err
    assert re.search(r"--at read: libc\.so\.6's read, not the program's own Rust function of "
                     r"that name, rd::read \(_ZN2rd4read17h[0-9a-f]{16}E\)", err), err
    assert explain(root, "--no-sandbox", "--at", "rd::read", "--out", "p.html", "--", "./rd") == 0
    # The same program's functions in rustc's v0 scheme, a method of a type too.
    (tmp_path / "v0.rs").write_text(
        "mod shapes { pub struct Sq(pub u64); impl Sq { #[inline(never)] pub fn area(&self) "
        "-> u64 { self.0 * self.0 } } }\n#[inline(never)]\nfn helper(n: u64) -> u64 { n + 1 }\n"
        "fn main() { println!(\"{}\", helper(2) + shapes::Sq(3).area()); }\n")
    run([rustc, "-C", "symbol-mangling-version=v0", "-o", str(tmp_path / "v0"),
         str(tmp_path / "v0.rs")], timeout=120, check=True)
    capsys.readouterr()
    for at, symbol in (("helper", r"_RNvCs\w+_2v06helper"),
                       ("Sq::area", r"_RNvMNtCs\w+_2v06shapesNtB\w*_2Sq4area")):
        assert explain(root, "--no-sandbox", "--at", at, "--out", "p.html", "--", "./v0") == 0
        err = capsys.readouterr().err
        assert re.search(rf"--at {at}: the Rust function {symbol}\n", err), err
def test_debugging_information_past_any_file_is_no_answer(files):
    """``inlined`` of a file whose section names' string table lies at an offset no file
    has (2**64 - 256: Python cannot seek there): False, as for any file whose debugging
    information cannot be read, not a traceback."""
    import struct

    data = bytearray(files["static"].read_bytes())
    (e_shoff,) = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, _, e_shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    struct.pack_into("<Q", data, e_shoff + e_shstrndx * e_shentsize + 24, 2**64 - 256)
    assert inlined(bytes(data), "main") is False


def test_first_load_reads_the_virtual_address_not_the_physical_one(files):
    """Each PT_LOAD's p_paddr (where a loader of firmware would put it; Linux's ignores
    it, and a linker script's AT() sets it apart from p_vaddr) moved by 1 MiB: the first
    load is still the lowest p_vaddr that readelf lists (it was read from p_paddr)."""
    import struct

    data = bytearray(Path(files["stripped"]).read_bytes())
    (e_phoff,) = struct.unpack_from("<Q", data, 0x20)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 0x36)
    for at in range(e_phoff, e_phoff + e_phnum * e_phentsize, e_phentsize):
        if struct.unpack_from("<I", data, at)[0] == 1:  # PT_LOAD
            p_paddr = at + 24  # after p_type, p_flags, p_offset, p_vaddr
            struct.pack_into("<Q", data, p_paddr, struct.unpack_from("<Q", data, p_paddr)[0] + (1 << 20))
    loads = [int(fields[2], 16) for line in run(["readelf", "-lW", str(files["stripped"])]).stdout.splitlines()
             if (fields := line.split()) and fields[0] == "LOAD"]
    assert first_load(bytes(data), "moved") == min(loads)
