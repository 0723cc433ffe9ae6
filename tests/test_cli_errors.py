"""What the roads command says when it cannot do what was asked, run as a user runs it:
output it cannot write."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROADS = [sys.executable, "-m", "roads.cli"]
DEADLINE = 60  # seconds for one run of the command
pytestmark = pytest.mark.usefixtures("no_leftovers")


def roads(*args: str, stdout=subprocess.PIPE, buffered: bool = True,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``roads args`` from this checkout, stderr captured. ``buffered``: stdout
    block-buffered, as a user has it when it is no terminal (without PYTHONUNBUFFERED),
    so a write that fails fails as the interpreter exits, not at once."""
    env = dict(os.environ if env is None else env)
    env.pop("PYTHONUNBUFFERED", None)
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    return subprocess.run([*ROADS, *args], stdout=stdout, stderr=subprocess.PIPE, text=True,
                          cwd=REPO, env=env, timeout=DEADLINE)


# One of each kind of output: a table, JSON, a Markdown summary, one line a sample,
# argparse's help.
WRITERS = {
    "show": ["show", "--pid", str(os.getpid())],
    "show --json": ["show", "--pid", str(os.getpid()), "--json"],
    "changes": ["--root", str(REPO), "changes"],
    "check": ["--root", str(REPO), "check"],
    "--help": ["--help"],
}
CASES = [pytest.param(args, True, id=name) for name, args in WRITERS.items()] + [
    pytest.param(WRITERS["show"], False, id="show-unbuffered")]


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
@pytest.mark.parametrize(("args", "buffered"), CASES)
def test_output_to_a_full_disk_is_one_error_line(args, buffered):
    with open("/dev/full", "w") as full:
        done = roads(*args, stdout=full, buffered=buffered)
    no_traceback(done.stderr)
    assert done.returncode == 1, done.stderr
    # check may note this machine's gcc first; the error is the last line.
    assert done.stderr.splitlines()[-1] == (
        f"roads: error: cannot write the output: {os.strerror(errno.ENOSPC)}"), done.stderr


@pytest.mark.parametrize(("args", "buffered"), CASES)
def test_output_to_a_pipe_nobody_reads_ends_quietly_with_141(args, buffered):
    """``roads show --pid N | head -c1``: the reader gone, roads ends as a program
    killed by SIGPIPE would (status 128 + 13), saying nothing."""
    reader, writer = os.pipe()
    os.close(reader)  # gone before roads writes: every write fails with EPIPE
    try:
        done = roads(*args, stdout=writer, buffered=buffered)
    finally:
        os.close(writer)
    no_traceback(done.stderr)
    assert done.returncode == 141, done.stderr
    assert "cannot write" not in done.stderr, done.stderr
