"""The roads command as a user runs it: show and run on programs we did not write."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roads.proc import parse_maps

ROADS = [sys.executable, "-m", "roads.cli"]
pytestmark = pytest.mark.usefixtures("no_leftovers")


def test_show_json_matches_proc_maps_of_a_foreign_process():
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.1)
        sleeper.send_signal(19)  # SIGSTOP: nothing moves while we compare
        done = subprocess.run([*ROADS, "show", "--pid", str(sleeper.pid), "--json"],
                              capture_output=True, text=True, check=True)
        maps = parse_maps(Path(f"/proc/{sleeper.pid}/maps").read_text())
    finally:
        sleeper.kill()
        sleeper.wait()
    doc = json.loads(done.stdout)
    got = [(r["start"], r["end"], r["perms"], r["offset"], r["path"]) for r in doc["regions"]]
    assert got == [(m.start, m.end, m.perms, m.offset, m.pathname) for m in maps]
    assert all(isinstance(r["start"], int) and isinstance(r["offset"], int) for r in doc["regions"])


def test_show_table_for_a_missing_pid_is_a_clear_error():
    done = subprocess.run([*ROADS, "show", "--pid", "999999999"], capture_output=True, text=True)
    assert done.returncode == 1
    assert "999999999" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.gcc
def test_run_stops_a_program_and_shows_its_map(tmp_path):
    done = subprocess.run([*ROADS, "--root", str(tmp_path), "run", "--after", "0.3", "--json",
                           "--", "sleep", "20"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    paths = [r["path"] for r in doc["regions"]]
    assert "/usr/bin/sleep" in paths or "/bin/sleep" in paths
    assert "[stack]" in paths
    # ASLR is off by default: a PIE loads at the kernel's fixed base.
    assert doc["regions"][0]["start"] == 0x555555554000


@pytest.mark.gcc
def test_run_of_a_program_that_ends_first(tmp_path):
    done = subprocess.run([*ROADS, "--root", str(tmp_path), "run", "--after", "2", "--",
                           "true"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "ended (exit status 0) before 2 s" in done.stderr
