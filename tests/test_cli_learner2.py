"""roads show and roads run as a learner meets them, run as a user runs them (the
command in its own process, on real processes): a pid typed oddly, a pid no process has,
a thread's id, a mapped file's name holding a tab, output that is not UTF-8, a program
that used up its processor time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEADLINE = 120  # seconds for one run of the command (a run compiles its launcher first)
pytestmark = pytest.mark.usefixtures("no_leftovers")


def roads(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``roads args`` run from ``cwd`` with this checkout's code, its output captured."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "roads.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=DEADLINE)


@pytest.mark.parametrize("given", ["1_0", "+5", " 5", "\u0665", "0x10"])
def test_a_pid_is_decimal_ascii_digits_only(given):
    """int() took "1_0" as 10, " 5" and "+5" as 5 and an Arabic-Indic five as 5: the
    map of a process the user never named."""
    done = roads("show", "--pid", given)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.endswith(f"roads show: error: argument --pid: {given!r} is not a "
                                "whole number from 1 to 2147483647 in decimal digits\n")


def test_a_pid_with_leading_zeros_is_still_that_pid():
    done = roads("show", "--pid", f"00{os.getpid()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{os.getpid()}: ")
