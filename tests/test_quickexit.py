"""A build's process exits without the interpreter's last full garbage collection
(``macros.quickexit``), and nothing else about its exit changes."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

PROBE = """
import atexit, gc, sys
# Registered before install: runs after its handler (exit handlers run last first).
atexit.register(lambda: print("after:", gc.isenabled(), gc.get_freeze_count() > 0, flush=True))
from macros import quickexit
quickexit.install()
quickexit.install()  # once a process
atexit.register(lambda: print("before:", gc.isenabled(), gc.get_freeze_count(), flush=True))
cycle = []
cycle.append(cycle)
with open(sys.argv[1], "w") as out:
    out.write("written")
sys.exit(int(sys.argv[2]))
"""


def test_the_collector_is_frozen_at_exit_and_the_exit_is_otherwise_the_same(tmp_path):
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "f"), "3"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert done.stdout.splitlines() == ["before: True 0", "after: False True"]
    assert (tmp_path / "f").read_text() == "written"
    assert done.stderr == ""
