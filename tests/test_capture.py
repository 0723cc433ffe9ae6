"""Captures agree with reality: /proc/PID/maps, pmap -X and gdb, read while stopped."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from roads import command
from roads.capture.snapshot import snapshot_process
from roads.capture.proc import Proc, parse_maps
from roads.capture.runner import launcher, run_program
from tests.conftest import REPO

pytestmark = [pytest.mark.gcc, pytest.mark.usefixtures("no_leftovers")]

PROGRAM = """\
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "roads.h"
static char zeroed[1 << 16];
int main(void) {
    char *small = malloc(64), *big = malloc(1 << 20);
    char *anon = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(anon, 1, 4096);
    ROADS_ADDRESS("small", small);
    ROADS_RANGE("anon", anon, 8 * 4096);
    ROADS_CHECKPOINT("ready");
    zeroed[0] = big[0] = small[0] = 1;
    if (fork() == 0) {
        ROADS_CHECKPOINT("child");
        _exit(0);
    }
    wait(NULL);  /* without it the child may be orphaned before it names its parent */
    return 0;
}
"""


@pytest.fixture
def built(scratch):
    scratch.add("reality", PROGRAM)
    sample = scratch.project().sample("reality")
    from roads.capture.build import compile_variant

    return scratch, sample, compile_variant(sample, sample.variants[0], scratch.root / ".cache")


def run_with(built, oracle, no_aslr=True):
    scratch, sample, build = built
    return run_program(
        ["./reality"], launcher_path=launcher(scratch.root / ".cache"), cwd=build.binary.parent,
        env={}, timeout=30, no_aslr=no_aslr, snapshot=oracle,
    )


def test_regions_equal_proc_maps_pmap_and_gdb(built):
    proc = Proc()
    seen = []

    def oracle(stop):
        doc = snapshot_process(stop, proc, built[2].binary.parent)
        maps = parse_maps(Path(f"/proc/{stop.pid}/maps").read_text())
        pmap = command.run(["pmap", "-X", str(stop.pid)], timeout=30).stdout
        gdb = None
        if shutil.which("gdb"):
            gdb = command.run(["gdb", "-batch", "-nx", "-p", str(stop.pid), "-ex",
                               "info proc mappings"], timeout=60, check=False).stdout
        seen.append((stop, doc, maps, pmap, gdb))

    result = run_with(built, oracle)
    assert result.main.exit_code == 0
    assert [s[0].name for s in seen] == ["ready", "child"]
    for stop, doc, maps, pmap, gdb in seen:
        regions = doc["regions"]
        assert [(r["start"], r["end"], r["perms"], r["offset"]) for r in regions] == \
            [(m.start, m.end, m.perms, m.offset) for m in maps]
        # pmap -X: address (hex, no 0x), perms, offset, ..., Rss column, mapping name last.
        rows = [line.split() for line in pmap.splitlines()[2:] if re.match(r"^\s*[0-9a-f]{8,} ", line)]
        assert [int(r[0], 16) for r in rows] == [r["start"] for r in regions]
        assert [r[1] for r in rows] == [r["perms"] for r in regions]
        assert [int(r[2], 16) for r in rows] == [r["offset"] for r in regions]
        rss_column = pmap.splitlines()[1].split().index("Rss")
        assert [int(r[rss_column]) for r in rows] == [r["kb"]["Rss"] for r in regions]
        if gdb and "Start Addr" in gdb:
            starts = [int(m, 16) for m in re.findall(r"^\s+(0x[0-9a-f]+)\s+0x", gdb, re.M)]
            assert starts == [r["start"] for r in regions]
    # The child inherited the parent's range request and has its own pid.
    child = seen[1][1]
    assert child["ppid"] == seen[0][0].pid
    assert child["pagemap"][0]["name"] == "anon"
    parent_pages = seen[0][1]["pagemap"][0]["pages"]
    assert [p["present"] for p in parent_pages] == [True] + [False] * 7


def test_aslr_is_off_and_verified(built):
    personalities = []

    def oracle(stop):
        personalities.append(Proc().personality(stop.pid).persona)

    result = run_with(built, oracle)
    assert result.aslr_disabled is True
    assert all(p & 0x0040000 for p in personalities)


def test_aslr_asked_for_is_on_whatever_the_build_inherited(built):
    """A build started with ASLR off for itself (under setarch -R, or from gdb) passed
    ADDR_NO_RANDOMIZE on to a sample that asks for ASLR, which ran without it; the
    launcher clears it. (randomize_va_space 0 would leave nothing to see.)"""
    import ctypes

    from roads.constants import ADDR_NO_RANDOMIZE

    if int(Path("/proc/sys/kernel/randomize_va_space").read_text()) == 0:
        pytest.skip("randomize_va_space is 0 on this machine")
    seen = []

    def oracle(stop):
        seen.append(snapshot_process(stop, Proc(), built[2].binary.parent))

    libc = ctypes.CDLL(None, use_errno=True)
    before = libc.personality(0xFFFFFFFF)
    libc.personality(before | ADDR_NO_RANDOMIZE)
    try:
        result = run_with(built, oracle, no_aslr=False)
    finally:
        libc.personality(before)
    assert result.aslr_disabled is False
    assert seen and all(doc["randomized"] and not doc["personality"] & ADDR_NO_RANDOMIZE
                    for doc in seen)


def test_capture_twice_gives_identical_files(scratch):
    scratch.add("twice", PROGRAM, 'checkpoints = ["ready", "child"]\n')
    project = scratch.project()
    assert project.capture_one("twice").action == "captured"
    first = (scratch.root / "snapshots" / "twice.json").read_bytes()
    assert scratch.project().capture_one("twice", refresh=True).action == "unchanged"
    assert (scratch.root / "snapshots" / "twice.json").read_bytes() == first
    assert scratch.project().capture_one("twice").action == "fresh"


def test_only_changed_inputs_recapture(scratch):
    scratch.add("inputs", PROGRAM)
    assert scratch.project().capture_one("inputs").action == "captured"
    header = scratch.samples / "roads.h"
    header.write_text(header.read_text() + "\n/* touched */\n")
    fresh = scratch.project().freshness("inputs")
    assert fresh.state == "stale" and "samples/roads.h changed" in fresh.reasons
    assert scratch.project().capture_one("inputs").action in ("captured", "unchanged")
    assert scratch.project().freshness("inputs").state == "fresh"


def test_frozen_mode_builds_with_gcc_hidden(scratch, tmp_path):
    scratch.add("frozen", PROGRAM)
    scratch.project().capture_one("frozen")
    bin_dir = tmp_path / "bin"  # an empty PATH: no gcc, no dot, nothing
    bin_dir.mkdir()
    code = ("from roads.capture.project import Project; import json; "
            f"d = Project({str(scratch.root)!r}, mode='frozen').load('frozen'); "
            "print(d['variants']['default']['runs'][0]['checkpoints'][0]['name'])")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, text=True,
                          capture_output=True, env={"PATH": str(bin_dir),
                                                    "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ready"
    assert shutil.which("gcc", path=str(bin_dir)) is None


def test_cli_capture_and_check(scratch):
    scratch.add("cli", PROGRAM)
    roads = [sys.executable, "-m", "roads.cli", "--root", str(scratch.root)]
    check = subprocess.run([*roads, "check"], capture_output=True, text=True)
    assert check.returncode == 1 and "cli: missing" in check.stdout
    cap = subprocess.run([*roads, "capture"], capture_output=True, text=True)
    assert cap.returncode == 0, cap.stderr
    assert "1 captured" in cap.stderr
    check = subprocess.run([*roads, "check"], capture_output=True, text=True)
    assert check.returncode == 0 and "cli: fresh" in check.stdout
    doc = json.loads((scratch.root / "snapshots" / "cli.json").read_text())
    assert doc["provenance"]["kernel"] == os.uname().release
    assert doc["variants"]["default"]["gcc_argv"][0] == "gcc"
    assert str(scratch.root) not in json.dumps(doc), "checkout path leaked into the capture"


def test_engine_change_rewrites_only_the_inputs(scratch):
    scratch.add("engine", PROGRAM)
    scratch.project().capture_one("engine")
    path = scratch.root / "snapshots" / "engine.json"
    before = path.read_text().splitlines()
    project = scratch.project()
    project.checker.engine = "0" * 64  # as if the capture code had been edited
    assert project.freshness("engine").reasons == ("the capture engine changed",)
    assert project.capture_one("engine").action == "captured"
    after = path.read_text().splitlines()
    changed = [b for a, b in zip(before, after) if a != b]
    assert len(before) == len(after)
    assert len(changed) == 2 and all('"digest"' in c or '"engine"' in c for c in changed), changed
