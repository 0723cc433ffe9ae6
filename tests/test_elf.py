"""roads.capture.elf against two independent oracles: GNU readelf, and the maps of running processes.

The binaries are compiled here with the real gcc, in PIE, non-PIE, static, static-pie
and large-bss variants, then (1) every header, section, program header, section to
segment mapping and symbol is compared with ``readelf -hlSsW``, and (2) each program
is run until it stops itself, and its ``/proc/PID/maps`` is linked to its PT_LOADs.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from roads.command import run
import msgspec

from roads.document import Elf, Region, to_builtins
from roads.capture.elf import read_elf
from roads.elfspec import PAGE_SIZE
from roads.figures.elflink import find_region, link_segments, load_bias, symbol_address
from roads.errors import ConfigError, RoadsError
from roads.capture.proc import parse_maps

SOURCE = r"""
#include <signal.h>

#ifdef BIG
static char big[1 << 20];
#endif
__thread int tls_counter = 1;
int initialised = 42;
int zeroed;

int main(void)
{
#ifdef BIG
    big[0] = 1;
    big[sizeof big - 1] = 1;
#endif
    zeroed = tls_counter + initialised;
    raise(SIGSTOP);
    return 0;
}
"""

VARIANTS = {
    "pie": ["-fPIE", "-pie"],
    "nopie": ["-fno-pie", "-no-pie"],
    "static": ["-static"],
    "static-pie": ["-static-pie"],
    "bigbss": ["-fPIE", "-pie", "-DBIG"],
    "bigstatic": ["-static", "-DBIG"],
    # Stripped of .symtab, but -rdynamic exports main and the globals in .dynsym.
    "stripped": ["-fPIE", "-pie", "-rdynamic", "-s"],
}

pytestmark = pytest.mark.gcc


@pytest.fixture(scope="module")
def binaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every variant compiled once, in parallel (gcc dominates this file's run time)."""
    folder = tmp_path_factory.mktemp("elf").resolve()
    source = folder / "hold.c"
    source.write_text(SOURCE)

    def build(name: str) -> tuple[str, Path]:
        out = folder / name
        run(["gcc", "-O0", *VARIANTS[name], "-o", str(out), str(source)], timeout=60)
        return name, out

    with ThreadPoolExecutor(len(VARIANTS)) as pool:
        return dict(pool.map(build, VARIANTS))


# --------------------------------------------------------------------------- readelf


def readelf(path: Path) -> dict:
    """``readelf -hlSsW`` parsed into plain data: the oracle."""
    text = run(["readelf", "-hlSsW", str(path)]).stdout
    header: dict[str, str] = {}
    sections: list[dict] = []
    segments: list[dict] = []
    mapping: dict[int, list[str]] = {}
    symtabs: dict[str, list[dict]] = {}
    part = table = None
    segment_row = re.compile(
        r"^\s+([A-Z_0-9]+|0x[0-9a-f]+)\s+(0x[0-9a-f]+) (0x[0-9a-f]+) (0x[0-9a-f]+) "
        r"(0x[0-9a-f]+) (0x[0-9a-f]+) (.{3}) (0x[0-9a-f]+)$"
    )
    for line in text.splitlines():
        if line.startswith("ELF Header:"):
            part = "header"
        elif line.startswith("Section Headers:"):
            part = "sections"
        elif line.startswith("Program Headers:"):
            part = "segments"
        elif "Section to Segment mapping" in line:
            part = "mapping"
        elif m := re.match(r"Symbol table '(.+)' contains", line):
            part, table = "symbols", m.group(1)
            symtabs[table] = []
        elif part == "header" and ":" in line:
            key, _, value = line.partition(":")
            header[key.strip()] = value.strip()
        elif part == "sections" and (m := re.match(r"^\s+\[\s*(\d+)\](.*)$", line)):
            tokens = m.group(2).split()
            lk, inf, al = (int(t) for t in tokens[-3:])
            has_flags = not re.fullmatch(r"[0-9a-f]{2}", tokens[-4])
            flags = tokens[-4] if has_flags else ""
            front = tokens[: -4 if has_flags else -3]
            name = front[0] if len(front) == 6 else ""
            kind, addr, off, size, es = front[-5:]
            sections.append(
                dict(name=name, type=kind, addr=int(addr, 16), off=int(off, 16),
                     size=int(size, 16), es=int(es, 16), flags=flags, lk=lk, inf=inf, al=al)
            )
        elif part == "segments" and (m := segment_row.match(line)):
            kind, off, vaddr, paddr, filesz, memsz, flg, align = m.groups()
            segments.append(
                dict(type=kind, off=int(off, 16), vaddr=int(vaddr, 16), paddr=int(paddr, 16),
                     filesz=int(filesz, 16), memsz=int(memsz, 16), flags=flg,
                     align=int(align, 16))
            )
        elif part == "mapping" and (m := re.match(r"^\s+(\d\d)\s+(.*)$", line)):
            mapping[int(m.group(1))] = m.group(2).split()
        elif part == "symbols" and (m := re.match(r"^\s+\d+: ([0-9a-f]+)\s+(\S+) (.*)$", line)):
            fields = m.group(3).split(None, 4)
            kind, bind, _vis, ndx = fields[:4]
            name = fields[4] if len(fields) > 4 else ""
            # .dynsym names carry their version: "puts@GLIBC_2.2.5 (2)".
            name = re.sub(r"@.*$", "", name.split(" (")[0])
            symtabs[table].append(
                dict(value=int(m.group(1), 16), size=int(m.group(2), 0), type=kind,
                     bind=bind, ndx=ndx, name=name)
            )
    return dict(header=header, sections=sections, segments=segments, mapping=mapping,
                symtabs=symtabs)


def _sh_type(ours: str) -> str:
    """pyelftools' SHT_GNU_versym is readelf's VERSYM; the rest only lose SHT_."""
    name = ours.removeprefix("SHT_")
    return name.removeprefix("GNU_").upper() if name.startswith("GNU_ver") else name


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_matches_readelf(binaries: dict[str, Path], variant: str) -> None:
    path = binaries[variant]
    elf = read_elf(path)
    oracle = readelf(path)

    h, oh = elf.header, oracle["header"]
    assert h.ei_class == "ELFCLASS" + oh["Class"].removeprefix("ELF")
    assert h.e_machine == "EM_X86_64"
    assert h.e_type == "ET_" + oh["Type"].split()[0]
    assert h.e_entry == int(oh["Entry point address"], 16)
    assert h.e_phoff == int(oh["Start of program headers"].split()[0])
    assert h.e_shoff == int(oh["Start of section headers"].split()[0])
    assert h.e_phnum == int(oh["Number of program headers"])
    assert h.e_shnum == int(oh["Number of section headers"])
    assert h.e_shstrndx == int(oh["Section header string table index"])
    assert h.e_phentsize == int(oh["Size of program headers"].split()[0])

    ours_sections = [
        dict(name=s.name, type=_sh_type(s.sh_type), addr=s.sh_addr, off=s.sh_offset,
             size=s.sh_size, es=s.sh_entsize, flags=s.flags, lk=s.sh_link, inf=s.sh_info,
             al=s.sh_addralign)
        for s in elf.sections
    ]
    assert ours_sections == oracle["sections"]

    ours_segments = [
        dict(type=s.p_type.removeprefix("PT_"), off=s.p_offset, vaddr=s.p_vaddr,
             paddr=s.p_paddr, filesz=s.p_filesz, memsz=s.p_memsz, flags=s.flags,
             align=s.p_align)
        for s in elf.segments
    ]
    assert ours_segments == oracle["segments"]
    assert {i: list(s.sections) for i, s in enumerate(elf.segments)} == oracle["mapping"]

    # readelf shows every table; we read .symtab, or .dynsym when stripped.
    expected_table = ".dynsym" if variant == "stripped" else ".symtab"
    assert elf.symtab == expected_table
    wanted = [
        dict(name=r["name"], value=r["value"], size=r["size"], type="STT_" + r["type"],
             bind="STB_" + r["bind"], section=oracle["sections"][int(r["ndx"])]["name"])
        for r in oracle["symtabs"][expected_table]
        if r["type"] in ("FUNC", "OBJECT", "TLS") and r["ndx"].isdigit() and r["name"]
    ]
    ours_symbols = [
        dict(name=s.name, value=s.st_value, size=s.st_size, type=s.type, bind=s.bind,
             section=s.section)
        for s in elf.symbols
    ]
    assert ours_symbols == wanted
    names = {s.name for s in elf.symbols}
    assert {"main", "initialised", "zeroed", "tls_counter"} <= names


def test_linkage_kinds(binaries: dict[str, Path]) -> None:
    elves = {name: read_elf(binaries[name]) for name in ("pie", "nopie", "static", "static-pie")}
    kinds = {name: (elf.is_pie, elf.is_static) for name, elf in elves.items()}
    assert kinds == {
        "pie": (True, False),
        "nopie": (False, False),
        "static": (False, True),
        # static-pie has PT_DYNAMIC (to relocate itself) but no PT_INTERP.
        "static-pie": (True, True),
    }
    pie = elves["pie"]
    assert pie.interp == "/lib64/ld-linux-x86-64.so.2"
    assert pie.needed == ("libc.so.6",)
    spie = elves["static-pie"]
    assert spie.interp is None and spie.needed == ()
    assert any(s.p_type == "PT_DYNAMIC" for s in spie.segments)
    assert elves["static"].relro is not None


def test_json_round_trip(binaries: dict[str, Path]) -> None:
    elf = read_elf(binaries["static"])
    text = json.dumps(to_builtins(elf))
    assert json.dumps(to_builtins(read_elf(binaries["static"]))) == text  # deterministic
    again = msgspec.convert(json.loads(text), Elf)
    assert again == elf
    assert again.relro == elf.relro
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"header": {}}, Elf)


def test_read_elf_is_fast(binaries: dict[str, Path]) -> None:
    # A static glibc binary has about 2000 symbols; the budget is 10 ms, with slack
    # here for busy test machines.
    read_elf(binaries["static"])
    best = min(_timed(lambda: read_elf(binaries["static"])) for _ in range(5))
    assert best < 0.05


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def test_every_load_is_congruent(binaries: dict[str, Path]) -> None:
    for path in binaries.values():
        for seg in read_elf(path).loads:
            assert seg.congruent(PAGE_SIZE), (path, seg)
            assert seg.congruent(seg.p_align), (path, seg)


# --------------------------------------------------------------------------- maps


@contextmanager
def stopped(path: Path):
    """Run ``path`` until it raises SIGSTOP; yield its pid. Always killed and reaped."""
    proc = subprocess.Popen([str(path)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, process_group=0)
    try:
        deadline = time.monotonic() + 10
        while True:
            pid, status = os.waitpid(proc.pid, os.WNOHANG | os.WUNTRACED)
            if pid and os.WIFSTOPPED(status):
                break
            assert not pid, f"{path} ended before stopping: status {status:#x}"
            assert time.monotonic() < deadline, f"{path} did not stop within 10 s"
            time.sleep(0.002)
        yield proc.pid
    finally:
        # SIGKILL ends a stopped process too; wait() reaps it.
        proc.kill()
        proc.wait()


def live(binaries: dict[str, Path], variant: str):
    """(elf, maps regions, exe path, bias, links) of a stopped run of ``variant``."""
    path = binaries[variant]
    elf = read_elf(path)
    with stopped(path) as pid:
        regions = parse_maps(Path(f"/proc/{pid}/maps").read_text())
    exe = str(path)
    bias = load_bias(elf, regions, exe)
    return elf, regions, exe, bias, link_segments(elf, regions, exe, bias)


def _exe_regions(regions, exe: str) -> list:
    return [r for r in regions if r.pathname == exe]


def _check_links(elf, regions, exe, bias, links) -> None:
    """What holds for every variant: all exe regions accounted for, bss covered."""
    assert [link.index for link in links] == [
        i for i, s in enumerate(elf.segments) if s.p_type == "PT_LOAD"
    ]
    file_regions = [k for link in links for k in link.regions if regions[k].pathname == exe]
    assert sorted(file_regions) == [k for k, r in enumerate(regions) if r.pathname == exe]
    for link in links:
        assert link.congruent
        assert link.start % PAGE_SIZE == 0 and link.end % PAGE_SIZE == 0
        assert not any("not in maps" in note for note in link.notes), link.notes
        if link.bss_pages:
            lo, hi = link.bss_pages
            anon = [regions[k] for k in link.regions if regions[k].inode == 0]
            assert any(r.start <= lo and r.end >= hi and r.perms == "rw-p" for r in anon)
    main = symbol_address(elf, "main", bias)
    holder = regions[find_region(regions, main)]
    assert holder.pathname == exe and holder.perms == "r-xp"


def test_pie_relro_splits_four_loads_into_five_regions(binaries: dict[str, Path]) -> None:
    elf, regions, exe, bias, links = live(binaries, "pie")
    _check_links(elf, regions, exe, bias, links)
    assert len(elf.loads) == 4
    mine = _exe_regions(regions, exe)
    assert len(mine) == 5
    assert bias == mine[0].start and bias % PAGE_SIZE == 0
    # The read-only data and the RELRO part of the data segment share a file page.
    offsets = Counter(r.offset for r in mine)
    assert sorted(offsets.values()) == [1, 1, 1, 2]
    data = links[-1]
    assert len(data.regions) == 2 and data.shares_file_page_with == (links[-2].index,)
    assert data.relro_applied
    lo, hi = data.relro
    assert regions[find_region(regions, lo)].perms == "r--p"
    assert regions[find_region(regions, hi)].perms == "rw-p"
    # A few bytes of .bss: the zeroed end of the last file page, no anonymous region.
    assert data.bss_tail > 0 and data.bss_pages is None


def test_nopie_loads_at_0x400000(binaries: dict[str, Path]) -> None:
    elf, regions, exe, bias, links = live(binaries, "nopie")
    _check_links(elf, regions, exe, bias, links)
    assert elf.header.e_type == "ET_EXEC"
    assert bias == 0
    assert _exe_regions(regions, exe)[0].start == 0x400000
    assert links[0].start == 0x400000


@pytest.mark.parametrize("variant", ["static", "static-pie", "bigstatic"])
def test_static_has_no_loader(binaries: dict[str, Path], variant: str) -> None:
    elf, regions, exe, bias, links = live(binaries, variant)
    _check_links(elf, regions, exe, bias, links)
    assert not any("ld-linux" in r.pathname or "libc" in r.pathname for r in regions)
    # RELRO is applied by the static startup code as well.
    assert any(link.relro_applied for link in links)
    if variant == "static-pie":
        assert bias != 0 and bias == _exe_regions(regions, exe)[0].start
    else:
        assert bias == 0


@pytest.mark.parametrize("variant", ["bigbss", "bigstatic"])
def test_large_bss_gets_anonymous_region(binaries: dict[str, Path], variant: str) -> None:
    elf, regions, exe, bias, links = live(binaries, variant)
    _check_links(elf, regions, exe, bias, links)
    data = links[-1]
    lo, hi = data.bss_pages
    assert hi - lo >= 1 << 20
    anon = [regions[k] for k in data.regions if regions[k].inode == 0]
    assert len(anon) == 1 and anon[0].perms == "rw-p" and anon[0].start == data.file_end
    big = next(s for s in elf.symbols if s.name == "big")
    assert big.section == ".bss"
    assert find_region(regions, symbol_address(elf, "big", bias) + big.st_size - 1) == (
        regions.index(anon[0])
    )


# --------------------------------------------------------------------------- edge cases


def test_before_relocation_relro_is_still_writable(binaries: dict[str, Path]) -> None:
    """At gdb's ``starti`` ld.so has not run: the data segment is one rw-p region."""
    elf, regions, exe, bias, links = live(binaries, "pie")
    data = links[-1]
    first, second = (regions[k] for k in data.regions)
    merged = replace(first, end=second.end, perms="rw-p")
    early = [r for r in regions if r not in (first, second)]
    early.insert(data.regions[0], merged)
    (early_data,) = [
        link for link in link_segments(elf, early, exe, bias) if link.index == data.index
    ]
    assert len(early_data.regions) == 1
    assert not early_data.relro_applied
    assert any("still writable" in note for note in early_data.notes)


def test_while_ldso_loads_a_library_its_whole_mapping_is_not_relro() -> None:
    """ld.so first maps a library whole, read-only, then maps its segments over that
    mapping: a stop in between (``roads explain --at syscall:mmap:N``) saw the whole
    file's r--p region as RELRO made read-only after relocation, and named the region
    "RELRO" in the map. The C library this process runs with, as such a stop sees it
    (its segments' file offsets are their addresses, as in glibc's builds)."""
    from roads.figures.regions import classify

    path = next((line.split(None, 5)[5] for line in Path("/proc/self/maps").read_text().splitlines()
                 if re.search(r"/libc\.so\.6$", line)), None)
    if path is None:
        pytest.skip("this Python maps no libc.so.6")
    elf = read_elf(path)
    data = elf.loads[-1]
    if elf.relro is None or data.p_offset != data.p_vaddr:
        pytest.skip("this C library's data segment is not mapped at its file offset")
    base = 0x7F0000000000
    span = -(-(data.p_vaddr + data.p_memsz) // PAGE_SIZE) * PAGE_SIZE
    whole = Region(start=base, end=base + span, perms="r--p", offset=0, dev="08:01",
                   inode=1, pathname=path)
    (link,) = [l for l in link_segments(elf, [whole], path, base) if l.index == elf.segments.index(data)]
    assert link.regions == (0,)
    assert not link.relro_applied
    assert any("mapped whole, read-only, while ld.so loads it" in n for n in link.notes), link.notes
    (it,), _ = classify([whole], elf=elf, exe=path)
    assert it.kind != "relro", it


def test_bss_merged_into_heap(binaries: dict[str, Path]) -> None:
    """Some kernels merge a static binary's bss pages with the brk heap after them."""
    elf, regions, exe, bias, links = live(binaries, "bigstatic")
    data = links[-1]
    (k,) = (k for k in data.regions if regions[k].inode == 0)
    heap = next(r for r in regions if r.pathname == "[heap]")
    # The heap follows the bss only when brk is not randomised; join them either way.
    merged = replace(regions[k], end=heap.end, pathname="[heap]")
    fake = [merged if r is regions[k] else r for r in regions if r is not heap]
    (merged_data,) = [link for link in link_segments(elf, fake, exe, bias)
                      if link.index == data.index]
    assert fake[merged_data.regions[-1]] is merged
    assert any("merged them with the brk heap" in note for note in merged_data.notes)


def test_symbol_address_errors(binaries: dict[str, Path]) -> None:
    elf = read_elf(binaries["pie"])
    with pytest.raises(ConfigError, match="no symbol 'nonesuch'"):
        symbol_address(elf, "nonesuch", 0)
    with pytest.raises(ConfigError, match="thread-local"):
        symbol_address(elf, "tls_counter", 0)
    assert symbol_address(elf, "main", 0x1000) == elf.symbols[
        [s.name for s in elf.symbols].index("main")
    ].st_value + 0x1000


def test_load_bias_needs_the_executable_in_maps(binaries: dict[str, Path]) -> None:
    elf = read_elf(binaries["pie"])
    with pytest.raises(RoadsError, match="no region in maps"):
        load_bias(elf, parse_maps(""), "/nowhere/pie")


def test_not_elf(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, world\n" * 10)
    with pytest.raises(RoadsError, match=rf"{re.escape(str(path))}: not an ELF file"):
        read_elf(path)


@pytest.mark.parametrize("keep", [40, 200, "half"])
def test_truncated(binaries: dict[str, Path], tmp_path: Path, keep) -> None:
    data = binaries["pie"].read_bytes()
    cut = tmp_path / "cut"
    cut.write_bytes(data[: len(data) // 2 if keep == "half" else keep])
    with pytest.raises(RoadsError, match=rf"{re.escape(str(cut))}: truncated ELF file"):
        read_elf(cut)


def test_an_offset_past_any_file_is_named(binaries: dict[str, Path], tmp_path: Path) -> None:
    """The section names' string table (e_shstrndx) at an offset of 2**64 - 256: Python
    cannot seek there (OverflowError, not one of pyelftools' errors), and the file is
    named as malformed, not a traceback."""
    data = bytearray(binaries["pie"].read_bytes())
    (e_shoff,) = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, _, e_shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    struct.pack_into("<Q", data, e_shoff + e_shstrndx * e_shentsize + 24, 2**64 - 256)
    path = tmp_path / "far"
    path.write_bytes(bytes(data))
    with pytest.raises(RoadsError, match=rf"^{re.escape(str(path))}: malformed ELF file: an "
                                         r"offset past the end of any file$"):
        read_elf(path)


def test_32_bit(tmp_path: Path) -> None:
    source = tmp_path / "m.c"
    source.write_text("int main(void) { return 0; }\n")
    obj = tmp_path / "m32.o"
    made = run(["gcc", "-m32", "-c", "-o", str(obj), str(source)], check=False)
    if made.returncode != 0:
        # No 32-bit support in this gcc: an ELF32 header is enough to be refused.
        obj.write_bytes(b"\x7fELF\x01\x01\x01" + bytes(9) + bytes(36))
    with pytest.raises(RoadsError, match=rf"{re.escape(str(obj))}: 32-bit .*ELFCLASS32"):
        read_elf(obj)


def test_other_machine(binaries: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(binaries["pie"].read_bytes())
    data[18:20] = (183).to_bytes(2, "little")  # EM_AARCH64
    path = tmp_path / "arm"
    path.write_bytes(bytes(data))
    with pytest.raises(RoadsError, match=rf"{re.escape(str(path))}: .*not x86-64"):
        read_elf(path)
