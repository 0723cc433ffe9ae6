"""The no_leftovers guard of tests/conftest.py itself: it sees a zombie nobody reaps, and
not one reaped late, nor one of the browser's."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
import time

from tests.conftest import _leftovers, left_behind


def _zombie() -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    for _ in range(200):  # until it has exited and is waiting to be reaped
        if (child.pid, "Z") in _leftovers():
            return child
        time.sleep(0.01)
    raise AssertionError("the child never became a zombie")


def test_a_zombie_nobody_reaps_is_left_behind():
    before = _leftovers()
    child = _zombie()
    try:
        assert (child.pid, "Z") in left_behind(before, grace=0.3)
    finally:
        child.wait(timeout=5)
    assert (child.pid, "Z") not in _leftovers()


def test_a_zombie_its_parent_reaps_soon_is_not():
    before = _leftovers()
    child = _zombie()
    reaper = threading.Timer(0.2, child.wait)
    reaper.start()
    try:
        assert (child.pid, "Z") not in left_behind(before, grace=2.0)
    finally:
        reaper.join()


def test_a_zombie_under_the_browser_is_the_browsers(tmp_path):
    """A zombie whose parent is a Chromium-named process belongs to the browser, which reaps
    its own children on its own time: not counted."""
    import shutil
    import subprocess

    fake = tmp_path / "chromium"
    shutil.copy(sys.executable, fake)  # a process whose comm starts with "chrom"
    parent = subprocess.Popen([str(fake), "-c",
                               "import subprocess, sys, time\n"
                               "child = subprocess.Popen([sys.executable, '-c', 'pass'])\n"
                               "print(child.pid, flush=True)\n"
                               "time.sleep(30)\n"], stdout=subprocess.PIPE, text=True)
    try:
        zombie = int(parent.stdout.readline())
        for _ in range(200):
            if Path(f"/proc/{zombie}/stat").read_text().split(") ")[1][0] == "Z":
                break
            time.sleep(0.01)
        assert all(pid != zombie for pid, _ in _leftovers())
    finally:
        parent.kill()
        parent.wait(timeout=5)
        parent.stdout.close()
