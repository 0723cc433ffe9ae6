"""The no_leftovers guard itself: it sees a zombie nobody reaps, and not one reaped late."""

from __future__ import annotations

import subprocess
import sys
import threading
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
