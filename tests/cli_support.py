"""What the tests of the roads command share: the command run as a user runs it, in a
process of its own with this checkout's code, and a folder of a test module's own for
roads run to run in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEADLINE = 120  # seconds for one run of the command (a run compiles its launcher first)


def roads(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``roads args`` run from ``cwd`` with this checkout's code, its output captured."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-P", "-m", "roads.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=DEADLINE)


@pytest.fixture(scope="module")
def own_folder(tmp_path_factory) -> Path:
    """A folder of the test's own for roads run to run in (and keep its launcher in:
    built once for the module)."""
    return tmp_path_factory.mktemp("run")
