"""The qualitative claims of the series' first pages, checked against the committed captures.

Every sentence of docs/hello-world.md, docs/all-roads-to-memory/index.md,
docs/all-roads-to-memory/processes.md and docs/gdb-sessions.md that says something
about what a capture shows ("four PT_LOAD segments became five regions", "void main
exited with 13") has a test here (virtual-address-space.md's are in test_claims_vas.py).
The pages print the numbers through macros; these tests make sure the words around
the numbers stay true when the captures are made again on another machine.

"""

from __future__ import annotations

import re
from functools import cache

from roads.figures.elflink import link_segments
from roads.constants import AT_RANDOM_BYTES
from roads.figures.regions import memory_map
from roads.figures.select import Selection, select
from tests.claims_support import doc

VAS = "docs/all-roads-to-memory/virtual-address-space.md"


# --------------------------------------------------------------------------- helpers


def sel(sample: str, **kw) -> Selection:
    return select(doc(sample), **kw)


def exe_regions(s: Selection):
    return [r for r in s.regions if r.pathname == s.snapshot.exe]


def named(s: Selection, suffix: str):
    return [r for r in s.regions if r.pathname.endswith(suffix)]


def pointer(s: Selection, name: str) -> int:
    return s.snapshot.address(name)


def region_of(s: Selection, name: str):
    region = s.snapshot.region_at(pointer(s, name))
    assert region is not None, f"{name} points into no region"
    return region


def symbol(s: Selection, name: str):
    matches = [sym for sym in s.elf.symbols if sym.name == name]
    assert matches, f"no symbol {name}"
    return matches[0]


# The hello world of the series: starti prints "hello, world" and is stopped under
# gdb as well as at its checkpoints.
HELLO_SAMPLE = "starti"


def hello() -> Selection:
    return sel(HELLO_SAMPLE, checkpoint="main")


@cache
def gdb_stops() -> list[dict]:
    """The gdb transcript of starti cut at each ``info proc mappings``: for each stop,
    the lines of the map as (start, end, offset, perms, objfile) and the text before it."""
    text = doc(HELLO_SAMPLE)["variants"]["default"]["gdb"]["transcript"]
    blocks = text.split("Mapped address spaces:")
    stops = []
    line = re.compile(r"^\s*(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s+"
                      r"([-rwxsp]{4})\s*(.*)$")
    for before, block in zip(blocks, blocks[1:]):
        rows = []
        for raw in block.splitlines():
            m = line.match(raw)
            if m:
                rows.append((int(m[1], 16), int(m[2], 16), int(m[3], 16), m[4], m[5].strip()))
            elif rows:
                break
        stops.append({"before": before, "rows": rows, "after": block})
    assert len(stops) == 3, "expected three stops: starti, main, exit"
    return stops


def gdb_names(stop: dict) -> list[str]:
    return [row[4] for row in stop["rows"]]


# --------------------------------------------------------------------------- hello world


def test_hello_is_elf64_x86_64():
    h = hello().elf.header
    assert (h.ei_class, h.ei_data, h.e_machine) == ("ELFCLASS64", "ELFDATA2LSB", "EM_X86_64")


def test_entry_point_is_start_not_main():
    s = hello()
    entry = s.elf.header.e_entry
    assert entry == symbol(s, "_start").st_value
    assert entry != symbol(s, "main").st_value


def test_hello_has_four_load_segments():
    assert [seg.flags for seg in hello().elf.loads] == ["R  ", "R E", "R  ", "RW "]


def test_hello_sections():
    names = {section.name for section in hello().elf.sections}
    assert {".text", ".rodata", ".data", ".bss", ".dynamic", ".got", ".plt", ".dynsym"} <= names


def test_pie_is_gccs_default():
    manifest = doc(HELLO_SAMPLE)["inputs"]["manifest"]
    flags = manifest["flags"] + [f for v in manifest["variants"] for f in v["flags"]]
    assert not any("pie" in flag.lower() for flag in flags)
    assert hello().elf.is_pie and hello().elf.header.e_type == "ET_DYN"


def test_four_loads_become_five_regions():
    s = hello()
    mm = memory_map(s)
    links = link_segments(s.elf, s.regions, s.snapshot.exe, mm.bias)
    loads = len(s.elf.loads)
    assert len(links) == loads
    assert sum(len(link.regions) for link in links) == loads + 1
    assert len(exe_regions(s)) == loads + 1
    data = links[-1]
    assert len(data.regions) == 2 and data.relro_applied
    assert all(len(link.regions) == 1 for link in links[:-1])


def test_one_file_offset_mapped_twice():
    regions = exe_regions(hello())
    offsets = [r.offset for r in regions]
    assert len(offsets) - len(set(offsets)) == 1
    # The page says which: the offset of the fourth region (region:starti#3), shared by
    # the constants' region before it and the RELRO region that starts there.
    constants, relro = regions[2], regions[3]
    assert constants.offset == relro.offset and offsets.count(relro.offset) == 2
    assert constants.perms == relro.perms == "r--p" and constants.end == relro.start


def test_offset_congruent_to_vaddr():
    page = doc("starti")["provenance"]["page_size"]
    for sample, variant in (("starti", None), ("layout", "pie"), ("layout", "nopie"),
                            ("layout", "static"), ("elf2maps", "small"), ("elf2maps", "bigbss")):
        s = sel(sample, variant=variant)
        assert s.elf.loads and all(seg.p_offset % page == seg.p_vaddr % page
                                   for seg in s.elf.loads), (sample, variant)


def test_string_literal_not_in_text():
    s = sel("layout", variant="pie")
    region = region_of(s, "literal")
    assert region.perms == "r--p" and region.pathname == s.snapshot.exe
    rodata = s.elf.get_section(".rodata")
    text = s.elf.get_section(".text")
    bias = memory_map(s).bias
    literal = pointer(s, "literal") - bias
    assert rodata.sh_addr <= literal < rodata.sh_addr + rodata.sh_size
    assert not text.sh_addr <= literal < text.sh_addr + text.sh_size


def test_pointer_to_literal_is_in_data():
    s = sel("layout", variant="pie")
    mm = memory_map(s)
    greeting = next(p for p in mm.pointers if p.name == "greeting")
    region = s.regions[greeting.region]
    assert region.perms == "rw-p" and region.pathname == s.snapshot.exe


def test_small_bss_adds_no_region():
    s = sel("elf2maps", variant="small")
    assert region_of(s, "zeroed") == region_of(s, "initialized")
    assert region_of(s, "zeroed").pathname == s.snapshot.exe
    assert region_of(s, "end").pathname == s.snapshot.exe
    assert len(exe_regions(s)) == len(s.elf.loads) + 1  # the RELRO split, nothing more
    assert not [r for r in s.regions if r.anonymous and r.start == exe_regions(s)[-1].end]


def test_big_bss_adds_anonymous_region():
    small, big = sel("elf2maps", variant="small"), sel("elf2maps", variant="bigbss")
    assert len(big.regions) == len(small.regions) + 1
    bss = region_of(big, "end")
    data = region_of(big, "initialized")
    assert bss.pathname == "" and bss.perms == "rw-p" and bss.start == data.end
    # It holds the rest of .bss: from the end of the last file page to .bss's last page.
    page = doc("elf2maps")["provenance"]["page_size"]
    section = big.elf.get_section(".bss")
    last = memory_map(big).bias + section.sh_addr + section.sh_size
    assert bss.end == -(-last // page) * page


def test_pie_is_dyn_nopie_is_exec():
    pie, nopie = sel("layout", variant="pie").elf, sel("layout", variant="nopie").elf
    assert pie.header.e_type == "ET_DYN" and pie.is_pie and pie.loads[0].p_vaddr == 0
    assert nopie.header.e_type == "ET_EXEC" and not nopie.is_pie and nopie.loads[0].p_vaddr > 0


def test_load_addresses_with_aslr_off():
    pie, nopie = sel("layout", variant="pie"), sel("layout", variant="nopie")
    assert pie.run_record.aslr_disabled and nopie.run_record.aslr_disabled
    # The kernel's ELF_ET_DYN_BASE: two thirds of the default mmap window, whose top is
    # where the stack ends with ASLR off; a PIE's first segment is linked at 0.
    page = doc("layout")["provenance"]["page_size"]
    window = named(pie, "[stack]")[0].end
    base = window // 3 * 2 // page * page
    assert exe_regions(pie)[0].start == base == 0x555555554000
    assert exe_regions(sel("aslr-off"))[0].start == base
    assert exe_regions(nopie)[0].start == nopie.elf.loads[0].p_vaddr == 0x400000


def test_pie_base_two_thirds_up():
    s = sel("layout", variant="pie")
    start = exe_regions(s)[0].start
    top = named(s, "[stack]")[0].end
    # The end of the default mmap window (DEFAULT_MAP_WINDOW): with 4-level paging all
    # of user space, with 5-level paging what a program gets unless it asks for more.
    assert top == (1 << 47) - doc("layout")["provenance"]["page_size"]
    assert abs(start / top - 2 / 3) < 0.001


def test_static_has_no_loader_and_no_libc():
    s = sel("layout", variant="static")
    assert s.elf.is_static and s.elf.interp is None and not s.elf.needed
    assert not [r for r in s.regions if ".so" in r.pathname]


def test_static_map_composition():
    s = sel("layout", variant="static")
    exe = exe_regions(s)
    kernel_pages = {"[heap]", "[stack]", "[vvar]", "[vvar_vclock]", "[vdso]", "[vsyscall]"}
    others = [r for r in s.regions if r not in exe and r.pathname not in kernel_pages]
    assert all(r.pathname == "" for r in others) and len(others) == 2
    bss, block = sorted(others, key=lambda r: r.start)
    assert bss.start == exe[-1].end
    assert block == region_of(s, "large-malloc")
    assert named(s, "[heap]") and named(s, "[stack]")


def test_dynamic_builds_need_ld_so_and_libc():
    for variant in ("pie", "nopie"):
        s = sel("layout", variant=variant)
        assert s.elf.interp.endswith("ld-linux-x86-64.so.2")
        assert "libc.so.6" in s.elf.needed
        assert named(s, "/libc.so.6") and named(s, "/ld-linux-x86-64.so.2")


def test_static_text_much_larger():
    def text(variant):
        s = sel("layout", variant=variant)
        return next(r for r in exe_regions(s) if r.executable).size

    assert text("static") >= 10 * text("pie")


def test_sections_sit_in_segments():
    loads = hello().elf.loads
    code = next(seg for seg in loads if seg.flags == "R E")
    data = next(seg for seg in loads if seg.flags == "RW ")
    assert ".text" in code.sections
    assert ".data" in data.sections and ".bss" in data.sections


# --------------------------------------------------------------------------- the hub


def test_hello_world_has_every_kind_of_region():
    s = sel(HELLO_SAMPLE, checkpoint="before-exit")
    names = {r.pathname.rsplit("/", 1)[-1] for r in s.regions}
    for wanted in ("[heap]", "libc.so.6", "ld-linux-x86-64.so.2", "[stack]", "[vdso]",
                   "[vvar]"):
        assert wanted in names, wanted
    # The words name [vsyscall] only where the capture's kernel provides the page.
    provided = doc(HELLO_SAMPLE)["provenance"]["vsyscall"] != "none"
    assert ("[vsyscall]" in names) == provided


# --------------------------------------------------------------------------- processes


def stacktop() -> Selection:
    return sel("stacktop")


def test_stack_top_order():
    s = stacktop()

    def at(name: str) -> int:
        return pointer(s, name)

    assert at("argv") < at("envp") < at("auxv") < at("argv-0-string")
    assert at("argv-0-string") < at("argv-last-string")
    for name in ("argv", "envp", "auxv", "argv-0-string", "envp-0-string", "at-random",
                 "at-execfn", "at-platform"):
        assert region_of(s, name).pathname == "[stack]", name
    strings = ("argv-0-string", "envp-0-string", "at-execfn", "at-platform", "at-random")
    assert all(at(name) > at("auxv") for name in strings)


def test_hello_needs_only_libc():
    for sample in (HELLO_SAMPLE, "stacktop", "voidmain", "intmain", "forkexec"):
        for variant in doc(sample)["variants"]:
            assert sel(sample, variant=variant).elf.needed == ("libc.so.6",), (sample, variant)


def test_stacktop_command_line():
    manifest = doc("stacktop")["inputs"]["manifest"]
    assert manifest["args"] == ["one", "two"]
    assert dict(manifest["env"]) == {"GREETING": "hello", "LANG": "C"}
    assert stacktop().snapshot.auxv_strings["AT_EXECFN"] == "./stacktop"


def test_stack_top_detailed_order():
    s = stacktop()
    top_down = ["at-execfn", "envp-0-string", "argv-last-string", "argv-0-string", "at-platform",
                "at-random", "auxv", "envp", "argv", "local"]
    values = [pointer(s, name) for name in top_down]
    assert values == sorted(values, reverse=True)
    assert len(set(values)) == len(values)
    assert pointer(s, "at-platform") - pointer(s, "at-random") >= AT_RANDOM_BYTES.value


def test_local_below_argv():
    s = stacktop()
    assert pointer(s, "local") < pointer(s, "argv")


def test_auxv_pointers():
    s = stacktop()
    assert region_of(s, "at-phdr") == exe_regions(s)[0]
    assert pointer(s, "at-base") == named(s, "/ld-linux-x86-64.so.2")[0].start
    assert pointer(s, "at-sysinfo-ehdr") == named(s, "[vdso]")[0].start


def test_at_entry_is_start():
    s = stacktop()
    bias = memory_map(s).bias
    assert pointer(s, "at-entry") == symbol(s, "_start").st_value + bias
    assert pointer(s, "at-entry") != symbol(s, "main").st_value + bias
    assert region_of(s, "at-entry").executable


def test_at_execfn_on_stack():
    s = stacktop()
    assert s.snapshot.auxv_strings["AT_EXECFN"].endswith("stacktop")
    assert region_of(s, "at-execfn").pathname == "[stack]"


def test_auxv_matches_getauxval():
    s = stacktop()
    auxv = {a.name: a.a_val for a in s.snapshot.auxv}
    for name in ("at-phdr", "at-entry", "at-base", "at-random", "at-execfn", "at-platform",
                 "at-sysinfo-ehdr"):
        assert auxv[name.upper().replace("-", "_")] == pointer(s, name), name


def test_void_main_exit_13():
    run = sel("voidmain").run_record
    assert run.exit_code == 13 == len(run.stdout)
    assert run.stdout == "hello, world\n"


def test_int_main_exit_0():
    run = sel("intmain").run_record
    assert run.exit_code == 0 and run.stdout == "hello, world\n"
    assert run.stdout == sel("voidmain").run_record.stdout


def test_backtrace_start_to_exit():
    text = gdb_stops()[2]["after"]
    frames = re.findall(r"^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\S+)", text, re.M)
    names = [name for _, name in frames]
    assert [int(n) for n, _ in frames] == list(range(len(frames)))
    assert len(names) == 4 and "main" not in names
    assert names[0].endswith("exit")
    assert names[1] == "__libc_start_call_main"
    assert names[2].startswith("__libc_start_main")
    assert names[3] == "_start"
    # The frame that called exit is the one that had called main: it holds main's address.
    caller = next(line for line in text.splitlines() if line.startswith("#1 "))
    main = symbol(sel(HELLO_SAMPLE), "main").st_value + memory_map(sel(HELLO_SAMPLE)).bias
    assert re.search(rf"\bmain=\S*{main:#x} <main>", caller)


def forkexec(checkpoint: str) -> Selection:
    return sel("forkexec", checkpoint=checkpoint)


def ranges(s: Selection):
    return [(r.start, r.end, r.perms, r.pathname) for r in s.regions]


def test_fork_copies_the_map():
    parent, child = forkexec("before-fork"), forkexec("child-before-exec")
    assert child.snapshot.pid != parent.snapshot.pid
    assert child.snapshot.ppid == parent.snapshot.pid
    assert ranges(child) == ranges(parent)


def test_exec_keeps_pid():
    before, after = forkexec("child-before-exec"), forkexec("after-exec")
    assert after.snapshot.pid == before.snapshot.pid
    assert after.snapshot.ppid == before.snapshot.ppid


def test_exec_replaces_address_space():
    before, after = forkexec("child-before-exec"), forkexec("after-exec")
    assert named(before, "[heap]") and not named(after, "[heap]")
    mapping = pointer(before, "mapping")
    assert before.snapshot.region_at(mapping) is not None
    assert after.snapshot.region_at(mapping) is None
    assert after.snapshot.region_at(pointer(before, "heap-block")) is None


def test_mapping_merged_below_libc_then_small_again():
    before, after = forkexec("child-before-exec"), forkexec("after-exec")
    merged = region_of(before, "mapping")
    assert merged.end == named(before, "/libc.so.6")[0].start
    assert merged.start == pointer(before, "mapping")  # the mmap is the region's low end
    small = after.snapshot.region_at(merged.end - 1)
    assert small.anonymous and small.end == merged.end and small.size < merged.size
    assert small.start > pointer(before, "mapping")


def test_exec_same_addresses_aslr_off():
    before, after = forkexec("child-before-exec"), forkexec("after-exec")
    assert after.run_record.aslr_disabled
    for suffix in (before.snapshot.exe, "/ld-linux-x86-64.so.2", "/libc.so.6"):
        assert [(r.start, r.end, r.perms) for r in named(after, suffix)] == \
               [(r.start, r.end, r.perms) for r in named(before, suffix)], suffix


def test_parent_collects_42():
    run = forkexec("parent-after-wait").run_record
    assert re.search(r"\bstatus 42\b", run.stdout)


def test_parent_unchanged_by_child_exec():
    assert ranges(forkexec("parent-after-wait")) == ranges(forkexec("before-fork"))


# --------------------------------------------------------------------------- gdb


def test_first_instruction_in_ld_so():
    first = gdb_stops()[0]["before"]
    assert re.search(r"in _start \(\) from \S*ld-linux-x86-64\.so\.2", first)


def test_first_instruction_regions():
    names = set(gdb_names(gdb_stops()[0]))
    exe = doc(HELLO_SAMPLE)["variants"]["default"]["runs"][0]["checkpoints"][0]["exe"]
    assert all(names), "no anonymous region yet"
    kinds = {"exe" if n == exe else n.rsplit("/", 1)[-1] for n in names}
    # [vvar_vclock] exists on recent kernels only; [vsyscall] unless the kernel provides
    # none (vsyscall=none), as the capture records.
    legacy = set() if doc(HELLO_SAMPLE)["provenance"]["vsyscall"] == "none" else {"[vsyscall]"}
    assert kinds - {"[vvar_vclock]"} == {"exe", "ld-linux-x86-64.so.2", "[stack]", "[vdso]",
                                         "[vvar]"} | legacy


def exe_rows(stop: dict) -> list[tuple]:
    exe = doc(HELLO_SAMPLE)["variants"]["default"]["runs"][0]["checkpoints"][0]["exe"]
    return [row for row in stop["rows"] if row[4] == exe]


def test_exe_four_lines_then_five():
    first, main, _ = gdb_stops()
    loads = len(hello().elf.loads)
    assert len(exe_rows(first)) == loads and len(exe_rows(main)) == loads + 1
    assert exe_rows(first)[-1][3] == "rw-p"
    assert [row[3] for row in exe_rows(main)[-2:]] == ["r--p", "rw-p"]


def test_ld_so_relro_split():
    first, main, _ = gdb_stops()

    def data(stop):
        rows = [r for r in stop["rows"] if r[4].endswith("ld-linux-x86-64.so.2")]
        return [r[3] for r in rows if r[3] != "r-xp"][1:]  # after the first r--p header page

    assert data(first)[-1:] == ["rw-p"] and data(first).count("rw-p") == 1
    assert data(main)[-2:] == ["r--p", "rw-p"]
    assert len(data(main)) == len(data(first)) + 1


def test_libc_appears_by_main():
    first, main, _ = gdb_stops()
    assert not any(n.endswith("libc.so.6") for n in gdb_names(first))
    libc = [row[3] for row in main["rows"] if row[4].endswith("/libc.so.6")]
    assert libc == ["r--p", "r-xp", "r--p", "r--p", "rw-p"]
    assert [row[3] for row in exe_rows(main)] == libc


def test_anonymous_regions_appear_by_main():
    first, main, _ = gdb_stops()
    assert "" not in gdb_names(first)
    assert gdb_names(main).count("") >= 2
    rows = main["rows"]
    libc_data = [r for r in rows if r[4].endswith("libc.so.6")][-1]
    after = [r for r in rows if r[0] == libc_data[1]]
    assert libc_data[3] == "rw-p" and len(after) == 1, "a region right after libc's data"
    assert after[0][4] == "" and after[0][3] == "rw-p"


def test_heap_born_between_main_and_exit():
    _, main, exit_ = gdb_stops()
    assert "[heap]" not in gdb_names(main) and "[heap]" in gdb_names(exit_)
    new = set(exit_["rows"]) - set(main["rows"])
    assert [row[4] for row in new] == ["[heap]"]
    # The checkpoints, without gdb, say the same.
    assert not named(sel(HELLO_SAMPLE, checkpoint="main"), "[heap]")
    assert named(sel(HELLO_SAMPLE, checkpoint="before-exit"), "[heap]")


def test_map_only_grows():
    _, main, exit_ = gdb_stops()
    assert set(main["rows"]) < set(exit_["rows"])


def test_gdb_and_checkpoint_agree():
    _, main, _ = gdb_stops()
    gdb_map = [(r[0], r[1], r[3]) for r in main["rows"]]
    checkpoint = [(r.start, r.end, r.perms) for r in sel(HELLO_SAMPLE, checkpoint="main").regions]
    assert gdb_map == checkpoint


def test_gdb_loads_pie_at_default_base():
    first = gdb_stops()[0]
    assert exe_rows(first)[0][0] == 0x555555554000
    assert exe_rows(first)[0][0] == exe_regions(sel(HELLO_SAMPLE))[0].start


def test_starti_output():
    transcript = doc(HELLO_SAMPLE)["variants"]["default"]["gdb"]["transcript"]
    assert "hello, world" in transcript and "exited normally" in transcript
    assert sel(HELLO_SAMPLE).run_record.stdout == "hello, world\n"
    assert sel(HELLO_SAMPLE).run_record.exit_code == 0
