"""roads.capture.show: the pmap-like view of any process, live and from captured text."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roads.command import run
from roads.errors import ProcessGone
from roads.capture.proc import Proc
from roads.capture.show import address_space, format_table, to_json
from roads.units import human_size

# Nothing started here may be left stopped or unreaped (fixture in conftest.py).
pytestmark = pytest.mark.usefixtures("no_leftovers")


@pytest.fixture
def sleeper() -> Iterator[int]:
    """A ``sleep`` that has finished loading, held stopped; always woken and reaped."""
    with subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL) as proc:
        try:
            deadline = time.monotonic() + 10
            # 230 is clock_nanosleep: the loader is done and the areas are final.
            while Path(f"/proc/{proc.pid}/syscall").read_text().split()[0] != "230":
                assert time.monotonic() < deadline, "sleep never went to sleep"
                time.sleep(0.002)
            os.kill(proc.pid, signal.SIGSTOP)
            yield proc.pid
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
                os.kill(proc.pid, signal.SIGCONT)
            proc.wait(timeout=10)


def test_json_regions_are_the_maps_file(sleeper: int) -> None:
    space = to_json(address_space(sleeper))
    lines = Path(f"/proc/{sleeper}/maps").read_text().splitlines()
    assert len(space["regions"]) == len(lines)
    for region, line in zip(space["regions"], lines):
        address, perms, offset, dev, inode, *path = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in address.split("-"))
        assert (region["start"], region["end"], region["size"]) == (start, end, end - start)
        assert (region["perms"], region["offset"], region["dev"]) == (perms, int(offset, 16), dev)
        assert region["pathname"] == (path[0] if path else "")
        assert region["rss"] == region["kb"]["Rss"] * 1024
    assert space["pid"] == sleeper and space["name"] == "sleep"
    assert space["cmdline"] == ["sleep", "30"] and space["exe"].endswith("/sleep")
    assert space["rss"] == sum(r["rss"] for r in space["regions"])
    assert json.loads(json.dumps(space)) == space


def test_json_rss_and_pss_agree_with_pmap(sleeper: int) -> None:
    # Rss must agree exactly. Pss moves whenever another process maps or drops a
    # page of a shared library, even while ours is stopped, and pmap itself maps
    # libc while it reads: so for shared pages its Pss can only be lower, and
    # only a pmap run between two equal readings of ours is compared at all.
    for _ in range(50):
        regions = to_json(address_space(sleeper))["regions"]
        rows = run(["pmap", "-X", "-p", str(sleeper)], timeout=20).stdout.splitlines()
        header = rows[1].split()
        seen = [dict(zip(header, row.split(None, len(header) - 1))) for row in rows[2 : 2 + len(regions)]]
        for region, row in zip(regions, seen, strict=True):
            assert int(row["Address"], 16) == region["start"]
            assert int(row["Rss"]) * 1024 == region["rss"]
        if to_json(address_space(sleeper))["regions"] != regions:
            continue
        if all(_pss_fits(region, int(row["Pss"]) * 1024) for region, row in zip(regions, seen)):
            return
    pytest.fail("pmap's Pss never agreed with a steady reading")


def _pss_fits(region: dict[str, Any], pmap_pss: int) -> bool:
    shared = region["kb"]["Shared_Clean"] + region["kb"]["Shared_Dirty"]
    return pmap_pss <= region["pss"] if shared else pmap_pss == region["pss"]


def test_table_of_a_live_process(sleeper: int) -> None:
    space = address_space(sleeper)
    table = format_table(space).splitlines()
    assert table[0] == f"{sleeper}: sleep 30"
    assert table[1].split() == ["start", "end", "size", "perms", "offset", "Rss", "Pss", "name"]
    assert len(table) == len(space.regions) + 3
    for row, region in zip(table[2:], space.regions):
        assert row.split()[:2] == [f"{region.maps.start:x}", f"{region.maps.end:x}"]
        assert row.endswith(region.maps.pathname)
    assert table[-1].endswith(f"total of {len(space.regions)} areas")


def test_vanished_process(sleeper: int) -> None:
    os.kill(sleeper, signal.SIGKILL)
    os.kill(sleeper, signal.SIGCONT)
    os.waitpid(sleeper, 0)
    with pytest.raises(ProcessGone, match=str(sleeper)):
        address_space(sleeper)


MAPS_FILES = """\
import mmap, sys, time
files = [open(path, "rb") for path in sys.argv[1:]]
kept = [mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) for f in files]
print(flush=True)
time.sleep(30)
"""


def test_table_tells_a_file_named_deleted_from_one_unlinked(tmp_path: Path) -> None:
    # maps writes both as "... (deleted)"; the table said nothing more, so a file
    # named so read as deleted. JSON has told them apart (unlinked) all along.
    named, gone = tmp_path / "named (deleted)", tmp_path / "gone"
    named.write_bytes(b"x" * 4096)
    gone.write_bytes(b"y" * 4096)
    with subprocess.Popen([sys.executable, "-c", MAPS_FILES, str(named), str(gone)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE) as proc:
        try:
            proc.stdout.readline()
            gone.unlink()
            table = format_table(address_space(proc.pid)).splitlines()
        finally:
            proc.kill()
    rows = {row.split()[0]: row for row in table[2:-2]}
    at = [start for start, row in rows.items() if row.endswith(f"{named}")]
    assert len(at) == 1 and sum(row.endswith(f"{gone} (deleted)") for row in rows.values()) == 1
    assert table[-1] == f'(at {at[0]}: a file whose own name ends in " (deleted)", in place, not deleted)'


def test_a_process_that_blanked_its_arguments_is_named_by_its_name(captured: Proc) -> None:
    # Its argument area written over with NULs (setproctitle's way): the heading was
    # "4242:" and blanks; ps names such a process [NAME].
    (captured.root / "4242" / "cmdline").write_bytes(b"\0" * 40)
    assert format_table(address_space(4242, captured)).splitlines()[0] == "4242: [hello]"


# A captured process, small enough to check the table by eye.
CAPTURED_SMAPS = """\
555555554000-555555555000 r--p 00000000 fe:00 1234                       /tmp/my dir/hello
Size:                  4 kB
Rss:                   4 kB
Pss:                   4 kB
VmFlags: rd mr mw me dw sd
555555559000-55555557a000 rw-p 00000000 00:00 0                          [heap]
Size:                132 kB
Rss:                   4 kB
Pss:                   4 kB
VmFlags: rd wr mr mw me ac sd
7ffff7d86000-7ffff7d89000 rw-p 00000000 00:00 0 
Size:                 12 kB
Rss:                   8 kB
Pss:                   8 kB
VmFlags: rd wr mr mw me ac sd
7ffff7fc1000-7ffff7fc5000 r--p 00000000 00:00 0                          [vvar]
Size:                 16 kB
Rss:                   0 kB
Pss:                   0 kB
VmFlags: rd mr pf io de dd sd
7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]
Size:                132 kB
Rss:                  12 kB
Pss:                  12 kB
THPeligible:           0
VmFlags: rd wr mr mw me gd ac
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
Size:                  4 kB
Rss:                   0 kB
Pss:                   0 kB
VmFlags: ex
"""

EXPECTED_TABLE = """\
4242: ./hello world
           start               end     size  perms    offset     Rss     Pss  name
    555555554000      555555555000    4 KiB  r--p   00000000   4 KiB   4 KiB  /tmp/my dir/hello
    555555559000      55555557a000  132 KiB  rw-p   00000000   4 KiB   4 KiB  [heap]
    7ffff7d86000      7ffff7d89000   12 KiB  rw-p   00000000   8 KiB   8 KiB
    7ffff7fc1000      7ffff7fc5000   16 KiB  r--p   00000000     0 B     0 B  [vvar]
    7ffffffde000      7ffffffff000  132 KiB  rw-p   00000000  12 KiB  12 KiB  [stack]
ffffffffff600000  ffffffffff601000    4 KiB  --xp   00000000     0 B     0 B  [vsyscall]
                                    300 KiB                   28 KiB  28 KiB  total of 6 areas
"""


@pytest.fixture
def captured(tmp_path: Path) -> Proc:
    folder = tmp_path / "4242"
    folder.mkdir()
    (folder / "smaps").write_text(CAPTURED_SMAPS)
    (folder / "status").write_text("Name:\thello\nState:\tS (sleeping)\nPid:\t4242\nPPid:\t1\nThreads:\t1\n")
    (folder / "stat").write_text("4242 (hello) S 1 4242 4242 " + "0 " * 50)
    (folder / "cmdline").write_bytes(b"./hello\0world\0")
    (folder / "exe").symlink_to("/tmp/my dir/hello")
    return Proc(tmp_path)


def test_table_from_captured_text(captured: Proc) -> None:
    assert format_table(address_space(4242, captured)) == EXPECTED_TABLE


@pytest.mark.parametrize("state", ["Z (zombie)", "X (dead)"])
def test_a_process_that_ended_while_read_is_not_shown_in_part(captured: Proc, state: str) -> None:
    # smaps ends early, as if complete, once the process's memory is gone: here it
    # listed six areas and the process has exited by the time they are read. A real
    # process with 60,000 areas ending as it was read was shown with 47,253 of them.
    (captured.root / "4242" / "status").write_text(
        f"Name:\thello\nState:\t{state}\nPid:\t4242\nPPid:\t1\nThreads:\t1\n")
    (captured.root / "4242" / "stat").write_text(f"4242 (hello) {state[0]} 1 4242 4242 " + "0 " * 50)
    with pytest.raises(ProcessGone, match="exited while its memory was being read"):
        address_space(4242, captured)


def test_a_process_reaped_while_read_is_said_to_have_exited(captured: Proc) -> None:
    # Its smaps was read; its other files are gone (reaped) before they are.
    (captured.root / "4242" / "exe").unlink()
    (captured.root / "4242" / "stat").unlink()
    with pytest.raises(ProcessGone, match="exited while its memory was being read"):
        address_space(4242, captured)


def test_json_from_captured_text(captured: Proc) -> None:
    space = to_json(address_space(4242, captured))
    assert (space["name"], space["cmdline"], space["exe"]) == ("hello", ["./hello", "world"], "/tmp/my dir/hello")
    anon = space["regions"][2]
    assert anon["pathname"] == "" and anon["start"] == 0x7FFFF7D86000 and anon["size"] == 12 * 1024
    assert anon["kb"] == {"Pss": 8, "Rss": 8, "Size": 12}
    assert space["regions"][4]["thp_eligible"] is False and "gd" in space["regions"][4]["vmflags"]
    assert space["regions"][0]["thp_eligible"] is None
    assert (space["size"], space["rss"], space["pss"]) == (300 * 1024, 28 * 1024, 28 * 1024)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (4096, "4 KiB"),
        (0x21000, "132 KiB"),
        (2052 * 1024, "2052 KiB"),
        (8 << 20, "8 MiB"),
        (64 << 20, "64 MiB"),
        (1 << 47, "128 TiB"),
        (123456789, "117.7 MiB"),
        (-4096, "-4 KiB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text
