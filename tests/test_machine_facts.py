"""Machine facts in every capture's provenance, and the figures that depend on them.

The parsers get text; the probes run on this machine and are checked against an
independent way of knowing the same thing; the 5-level branch of the figures is
tested on a mutated capture, since this machine has 4-level paging.
"""

from __future__ import annotations

import copy
import ctypes
import errno
import json
import resource
from pathlib import Path

import pytest

from roads.capture import toolchain

from roads.words import values
from roads.figures.diagram import build_graph
from roads.capture.proc import (
    PAGING_PROBE_HINT,
    USER_BITS,
    Limit,
    Proc,
    cmdline_stack_guard_gap,
    parse_kernel_cmdline,
    parse_limits,
    parse_maps,
    parse_sysctl_int,
    parse_vsyscall_mode,
    paging_levels_from_probe,
)
from roads.document import Provenance
from roads.figures.provenance import caption
from roads.figures.regions import (
    ADDRESS_END,
    KERNEL_START,
    PAGING,
    TASK_SIZE,
    USER_END,
    Band,
    canonical_for,
    memory_map,
)
from roads.figures.select import select
from roads.figures.table import render_table, row_id
from tests.capture_docs import KERNEL_PAGES, SNAPSHOTS, fake_doc, region, snapshot

MACHINE_KEYS = ("paging_levels", "vsyscall", "mmap_min_addr", "overcommit_memory",
                "stack_rlimit", "cmdline_stack_guard_gap", "overcommit_ratio",
                "overcommit_kbytes", "swap_total", "swap_free", "swap_areas", "swappiness")

# --------------------------------------------------------------------------- parsers


def test_kernel_cmdline_stops_at_init_arguments_and_unquotes():
    text = ('BOOT_IMAGE=/vmlinuz quiet vsyscall=emulate stack_guard_gap=1 '
            'dyndbg="file a.c +p" stack_guard_gap=512 -- --init-flag stack_guard_gap=9\n')
    params = parse_kernel_cmdline(text)
    assert params["quiet"] is None and params["vsyscall"] == "emulate"
    assert params["dyndbg"] == "file a.c +p"
    assert params["stack_guard_gap"] == "512"  # the last one, and nothing after "--"
    assert "--init-flag" not in params
    assert cmdline_stack_guard_gap(params) == 512
    assert cmdline_stack_guard_gap(parse_kernel_cmdline("quiet")) is None
    assert cmdline_stack_guard_gap({"stack_guard_gap": "64k"}) == 64  # simple_strtoul


VSYSCALL = "ffffffffff600000-ffffffffff601000 {} 00000000 00:00 0                  [vsyscall]\n"
STACK = "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]\n"


@pytest.mark.parametrize("perms, mode", [("--xp", "xonly"), ("r-xp", "emulate")])
def test_vsyscall_mode_from_its_maps_line(perms, mode):
    assert parse_vsyscall_mode(STACK + VSYSCALL.format(perms)) == mode


def test_no_vsyscall_line_is_none():
    assert parse_vsyscall_mode(STACK) == "none"


def test_sysctl_and_probe_decisions():
    assert parse_sysctl_int("65536\n") == 65536
    assert paging_levels_from_probe(0x7FFFF7FBF000) == 4
    assert paging_levels_from_probe(PAGING_PROBE_HINT) == 5
    assert USER_BITS == {4: 47, 5: 56}


MEMINFO = """\
MemTotal:       24684092 kB
SwapCached:            0 kB
SwapTotal:       2097148 kB
SwapFree:        2090236 kB
Zswap:                 0 kB
"""

SWAPS = """\
Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority
/dev/vda3                               partition\t2097148\t\t6912\t\t-2
/swapfile                               file\t\t1048572\t\t0\t\t-3
"""


def test_swap_parsers():
    assert toolchain.parse_meminfo_swap(MEMINFO) == (2097148 * 1024, 2090236 * 1024)
    assert toolchain.parse_meminfo_swap("MemTotal: 1 kB\nSwapTotal: 0 kB\n") == (0, None)
    assert toolchain.parse_meminfo_swap("SwapTotal: lots\n") == (None, None)
    assert toolchain.parse_swap_areas(SWAPS) == 2
    assert toolchain.parse_swap_areas(SWAPS.splitlines()[0] + "\n") == 0
    assert toolchain.parse_swap_areas("") is None


LIMITS = """\
Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max stack size            8388608              unlimited            bytes     
Max processes             63451                63451                processes 
Max realtime timeout      unlimited            unlimited            us        
"""


def test_limits_parse():
    limits = parse_limits(LIMITS)
    assert limits["Max stack size"] == Limit(8388608, None, "bytes")
    assert limits["Max cpu time"] == Limit(None, None, "seconds")
    assert limits["Max processes"].soft == 63451
    own = parse_limits(Path("/proc/self/limits").read_text())
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    assert own["Max stack size"].soft == (None if soft == resource.RLIM_INFINITY else soft)


# --------------------------------------------------------------------------- this machine


def _mmap(hint: int, flags: int) -> tuple[int, int]:
    """(address or -1, errno) of a one-page PROT_NONE anonymous mmap at ``hint``; unmapped again."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long)
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    address = libc.mmap(hint, 4096, 0, 0x22 | flags, -1, 0)  # MAP_PRIVATE | MAP_ANONYMOUS
    if address in (None, ctypes.c_void_p(-1).value):
        return -1, ctypes.get_errno()
    libc.munmap(address, 4096)
    return address, 0


def test_paging_probe_agrees_with_independent_checks():
    levels = toolchain.paging_levels()
    assert levels in (4, 5)
    # MAP_FIXED_NOREPLACE at the same address: the kernel refuses an address above
    # TASK_SIZE_MAX outright (4-level), or maps exactly there (5-level).
    fixed, err = _mmap(PAGING_PROBE_HINT, 0x100000)
    assert (levels == 5) == (fixed == PAGING_PROBE_HINT), (levels, hex(fixed), err)
    if levels == 4:
        assert err == errno.ENOMEM
    # A plain hint far above 2^47 lands below it unless 5 levels are in use.
    hinted, _ = _mmap(1 << 50, 0)
    assert (hinted >= 1 << 47) == (levels == 5)
    # Everything this process has mapped in user space lies below its end.
    end = PAGING[levels].user_end
    for entry in parse_maps(Path("/proc/self/maps").read_text()):
        if entry.pathname != "[vsyscall]":
            assert entry.end <= end, entry
    flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("flags")), "")
    if "la57" not in flags.split():
        assert levels == 4  # without the CPU feature there is no 5-level paging


def test_this_machine_has_4_level_paging():
    """The committed captures, and the prose that reads them, come from 4-level paging;
    the 5-level branch is tested below on mutated captures."""
    assert toolchain.paging_levels() == 4
    stack = [e for e in parse_maps(Path("/proc/self/maps").read_text()) if e.pathname == "[stack]"]
    assert stack and stack[0].end <= 1 << 47


def test_machine_facts_on_this_machine():
    prov = toolchain.provenance()
    assert set(MACHINE_KEYS) <= set(prov)
    assert prov["vsyscall"] in ("xonly", "emulate", "none")
    vsyscall = [e for e in parse_maps(Path("/proc/self/maps").read_text()) if e.pathname == "[vsyscall]"]
    assert prov["vsyscall"] == ({"--xp": "xonly", "r-xp": "emulate"}[vsyscall[0].perms]
                                if vsyscall else "none")
    assert prov["mmap_min_addr"] == int(Path("/proc/sys/vm/mmap_min_addr").read_text())
    assert prov["overcommit_memory"] == int(Path("/proc/sys/vm/overcommit_memory").read_text())
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    assert prov["stack_rlimit"] == (None if soft == resource.RLIM_INFINITY else soft)
    cmdline = Path("/proc/cmdline").read_text().split(" -- ")[0].split()
    given = [w.split("=", 1)[1] for w in cmdline if w.startswith("stack_guard_gap=")]
    assert prov["cmdline_stack_guard_gap"] == (int(given[-1]) if given else None)


def _tool(*argv: str) -> str:
    import shutil
    import subprocess
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed")
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def test_overcommit_and_swap_on_this_machine():
    """Checked against sysctl, free and swapon, which read the same files their own way."""
    prov = toolchain.provenance()
    for key in ("overcommit_memory", "overcommit_ratio", "overcommit_kbytes", "swappiness"):
        assert prov[key] == int(_tool("sysctl", "-n", f"vm.{key}")), key
    swap = next(line.split() for line in _tool("free", "-b").splitlines() if line.startswith("Swap:"))
    assert prov["swap_total"] == int(swap[1])
    # SwapFree moves while other processes run: free's reading, a moment later, is close.
    assert abs(prov["swap_free"] - int(swap[3])) <= prov["swap_total"] // 100
    areas = _tool("swapon", "--show", "--noheadings").splitlines()
    assert prov["swap_areas"] == len([a for a in areas if a.strip()])
    assert (prov["swap_total"] == 0) == (prov["swap_areas"] == 0)


def _committed() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(SNAPSHOTS.glob("*.json"))]


def test_every_capture_records_the_machine_facts():
    docs = _committed()
    assert docs
    for doc in docs:
        prov = doc["provenance"]
        missing = [k for k in MACHINE_KEYS if k not in prov]
        assert not missing, (doc["sample"], missing)
        assert prov["paging_levels"] in (4, 5)
        end = PAGING[prov["paging_levels"]].user_end
        for variant in doc["variants"].values():
            for run in variant["runs"]:
                for cp in run["checkpoints"]:
                    for r in cp["regions"]:
                        assert r["end"] <= end or r["pathname"] == "[vsyscall]", (doc["sample"], r)
                    vsys = [r["perms"] for r in cp["regions"] if r["pathname"] == "[vsyscall]"]
                    expected = {"--xp": "xonly", "r-xp": "emulate"}[vsys[0]] if vsys else "none"
                    assert prov["vsyscall"] == expected, doc["sample"]


def test_machine_facts_are_values_for_pages():
    doc = snapshot("layout")
    assert values.lookup(doc, "provenance:paging_levels") == str(doc["provenance"]["paging_levels"])
    assert values.lookup(doc, "provenance:vsyscall") == doc["provenance"]["vsyscall"]
    assert values.lookup(doc, "provenance:mmap_min_addr", fmt="hex") == hex(doc["provenance"]["mmap_min_addr"])
    expected = doc["provenance"]["stack_rlimit"]
    assert values.lookup(doc, "provenance:stack_rlimit") == ("none" if expected is None else str(expected))
    doc["provenance"]["stack_rlimit"] = None
    assert values.lookup(doc, "provenance:stack_rlimit") == "none"


@pytest.mark.gcc
@pytest.mark.usefixtures("no_leftovers")
def test_a_sample_runs_with_the_recorded_stack_limit(scratch):
    """The launcher leaves RLIMIT_STACK alone: the sample's own /proc/PID/limits says
    what provenance records."""
    from roads.capture.build import compile_variant
    from roads.capture.runner import launcher, run_program

    scratch.add("limits", '#include "roads.h"\nint main(void) { ROADS_CHECKPOINT("here"); return 0; }\n')
    sample = scratch.project().sample("limits")
    build = compile_variant(sample, sample.variants[0], scratch.root / ".cache")
    proc = Proc()
    seen = []
    run_program(["./limits"], launcher_path=launcher(scratch.root / ".cache"), cwd=build.binary.parent,
                env={}, timeout=30, no_aslr=True, proc=proc,
                snapshot=lambda stop: seen.append(parse_limits(proc.path(stop.pid, "limits").read_text())))
    (limits,) = seen
    assert limits["Max stack size"].soft == toolchain.stack_rlimit()


# --------------------------------------------------------------------------- figures


def test_old_captures_default_to_4_levels():
    assert canonical_for(Provenance()) is PAGING[4] and canonical_for(None) is PAGING[4]
    assert canonical_for(Provenance(paging_levels=None)) is PAGING[4]
    assert canonical_for(Provenance(paging_levels=5)) is PAGING[5]
    assert (USER_END, TASK_SIZE, KERNEL_START) == (1 << 47, 0x7FFFFFFFF000, 0xFFFF800000000000)
    doc = snapshot("layout")
    del doc["provenance"]["paging_levels"]
    mm = memory_map(select(doc))
    assert mm.canonical is PAGING[4] and Band(USER_END, KERNEL_START, "hole") in mm.bands()


def test_4_level_capture_boundaries():
    doc = snapshot("layout")
    assert doc["provenance"]["paging_levels"] == 4
    mm = memory_map(select(doc))
    assert Band(1 << 47, 0xFFFF800000000000, "hole") in mm.bands()
    assert mm.canonical.task_size == 0x7FFFFFFFF000 and mm.canonical.sign_bits == 17
    assert "4-level paging" in caption(select(doc))


def test_5_level_capture_moves_the_hole():
    doc = snapshot("layout")
    doc["provenance"]["paging_levels"] = 5
    mm = memory_map(select(doc))
    c = mm.canonical
    assert (c.user_end, c.task_size, c.kernel_start) == (1 << 56, 0x00FFFFFFFFFFF000, 0xFF00000000000000)
    assert c.hole_size == 0xFF00000000000000 - (1 << 56) and c.sign_bits == 8
    bands = mm.bands()
    assert bands[0].start == 0 and bands[-1].end == ADDRESS_END
    assert all(a.end == b.start for a, b in zip(bands, bands[1:]))
    (hole,) = [b for b in bands if b.kind == "hole"]
    assert (hole.start, hole.end) == (1 << 56, 0xFF00000000000000)
    # The user space above 2^47 is unmapped, not non-canonical, under 5 levels.
    assert any(b.kind == "unmapped" and b.start < 1 << 47 < b.end for b in bands)
    assert [b.kind for b in bands if b.region is None and b.start >= c.kernel_start] == ["kernel", "kernel"]
    # The figures say so: the diagram's boundary labels and the table's gap rows.
    source = build_graph(mm).source
    assert "0x0100000000000000" in source and "0xff00000000000000" in source
    assert "0xffff800000000000" not in source
    table = render_table(mm)
    assert row_id(mm.selection.slug, 1 << 56, gap=True) in table
    assert "5-level paging" in caption(select(doc))
    # And the mutated capture differs from the committed one only there.
    assert memory_map(select(snapshot("layout"))).bands() != bands


def test_5_level_region_above_2_to_the_47_is_user_space():
    high = region(1 << 50, (1 << 50) + 0x1000)
    doc = fake_doc([high, *KERNEL_PAGES])
    four = memory_map(select(doc))
    doc5 = copy.deepcopy(doc)
    doc5["provenance"]["paging_levels"] = 5
    five = memory_map(select(doc5))
    assert five.mapped == four.mapped + 0x1000  # counted as user space only under 5 levels
    around = [b.kind for b in five.bands() if b.region is None and b.end in (1 << 50, (1 << 56))]
    assert around == ["unmapped", "unmapped"]
    assert [b.kind for b in four.bands() if b.end == 1 << 50] == ["hole"]



# --------------------------------------------------------------------------- packages

def _dpkg_by_shell(tool_or_path: str) -> str | None:
    """``package=version`` of what owns a tool (or a file), asked of dpkg by the shell:
    the way a person would check what the provenance says."""
    import subprocess
    script = r'''
        f=$(readlink -f "$(command -v "$1" || echo "$1")")
        owner=$(dpkg -S "$f" 2>/dev/null || dpkg -S "${f#/usr}" 2>/dev/null) || exit 1
        pkg=${owner%%: *}
        printf '%s=%s' "${pkg%%:*}" "$(dpkg-query -W -f '${Version}' "$pkg")"
    '''
    done = subprocess.run(["sh", "-c", script, "sh", tool_or_path], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def test_provenance_records_the_exact_debian_builds_of_the_toolchain():
    if toolchain.shutil.which("dpkg-query") is None:
        pytest.skip("not a dpkg system: every package_* key is null there")
    toolchain.package_versions.cache_clear()
    packages = toolchain.package_versions()
    assert set(packages) == set(toolchain.PACKAGE_KEYS)
    assert {k: v for k, v in toolchain.provenance().items() if k in toolchain.PACKAGE_KEYS} == packages
    libc = next(line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
                if "/libc.so" in line or "/libc-" in line)
    assert packages == {
        "package_gcc": _dpkg_by_shell("gcc"),
        "package_libc": _dpkg_by_shell(libc),
        "package_binutils": _dpkg_by_shell("ld"),
    }
    # The compiler's package is the versioned one (gcc-12 on Debian 12), not the `gcc`
    # metapackage, whose version names no compiler build.
    if packages["package_gcc"] is not None:
        assert not packages["package_gcc"].startswith("gcc=")
        assert packages["package_gcc"].split("=")[1] in toolchain.gcc_version()
    if packages["package_libc"] is not None and toolchain.glibc_version():
        assert packages["package_libc"].split("=")[1].startswith(toolchain.glibc_version())


def test_provenance_packages_are_null_without_dpkg(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dpkg-query, no gcc, no ld
    assert toolchain._package_of("/usr/bin/gcc") is None
    assert toolchain._dpkg_version("libc6") is None
    assert toolchain._package_of(None) is None
    assert toolchain._dpkg_owner("/no/such/file") is None


def test_provenance_packages_are_values_and_fit_the_shape():
    from roads.capture import validate
    doc = copy.deepcopy(snapshot("layout"))
    doc["provenance"].update({"package_gcc": "gcc-12=12.2.0-14+deb12u1",
                              "package_libc": "libc6=2.36-9+deb12u14",
                              "package_binutils": None})
    assert validate.problem(doc) is None
    assert values.lookup(doc, "provenance:package_gcc") == "gcc-12=12.2.0-14+deb12u1"
    assert values.lookup(doc, "provenance:package_libc") == "libc6=2.36-9+deb12u14"


def test_overcommit_and_swap_are_values_and_older_captures_load():
    from roads.capture import validate
    from roads.document import from_builtins, present
    from roads.errors import ConfigError
    doc = copy.deepcopy(snapshot("layout"))
    doc["provenance"].update({"overcommit_ratio": 50, "overcommit_kbytes": 0, "swappiness": 60,
                              "swap_total": 2 << 30, "swap_free": None, "swap_areas": 1})
    assert validate.problem(doc) is None
    assert values.lookup(doc, "provenance:overcommit_ratio") == "50"
    assert values.lookup(doc, "provenance:swap_total") == "2 GiB"
    assert values.lookup(doc, "provenance:swap_areas") == "1"
    assert values.lookup(doc, "provenance:swap_free") == "none"   # not readable there
    new = ("overcommit_ratio", "overcommit_kbytes", "swappiness", "swap_total", "swap_free",
           "swap_areas")
    for key in new:     # a capture made before these were recorded
        del doc["provenance"][key]
    assert validate.problem(doc) is None
    assert not set(new) & set(present(from_builtins(doc).provenance))
    with pytest.raises(ConfigError, match="no provenance 'swap_total'"):
        values.lookup(doc, "provenance:swap_total")


@pytest.mark.gcc
@pytest.mark.usefixtures("no_leftovers")
def test_a_capture_carries_the_package_versions(scratch):
    scratch.add("packages", '#include "roads.h"\nint main(void) { ROADS_CHECKPOINT("here"); return 0; }\n')
    scratch.project().capture_one("packages")
    doc = json.loads((scratch.root / "snapshots" / "packages.json").read_text())
    toolchain.package_versions.cache_clear()
    assert {k: doc["provenance"][k] for k in toolchain.PACKAGE_KEYS} == toolchain.package_versions()
    if toolchain.shutil.which("dpkg-query"):
        assert doc["provenance"]["package_gcc"] == _dpkg_by_shell("gcc")
