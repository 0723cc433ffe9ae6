"""What the roads command says when it cannot do what was asked, run as a user runs it:
output it cannot write, a process that is a zombie (and one whose main thread has ended,
which is not one: it is read through another thread), a machine without gcc."""

from __future__ import annotations

import errno
import os
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_for

REPO = Path(__file__).resolve().parent.parent
ROADS = [sys.executable, "-P", "-m", "roads.cli"]
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
def test_output_to_a_pipe_nobody_reads_ends_quietly_by_sigpipe(args, buffered):
    """``roads show --pid N | head -c1``: the reader gone, roads ends as a program
    killed by SIGPIPE, saying nothing (a shell shows 128 + 13)."""
    reader, writer = os.pipe()
    os.close(reader)  # gone before roads writes: every write fails with EPIPE
    try:
        done = roads(*args, stdout=writer, buffered=buffered)
    finally:
        os.close(writer)
    no_traceback(done.stderr)
    assert done.returncode == -signal.SIGPIPE, done.stderr
    assert "cannot write" not in done.stderr, done.stderr


# A parent that never waits for its child: the child, exited at once, stays a zombie
# until the parent reads a line, then the parent reaps it and ends.
NEGLECTFUL_PARENT = """\
import os, sys
child = os.fork()
if child == 0:
    os._exit(0)
print(child, flush=True)
sys.stdin.readline()
os.waitpid(child, 0)
"""


def state(pid: int) -> str | None:
    """The state letter of /proc/PID/stat; None once the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2]


@pytest.mark.parametrize("json", [False, True], ids=["table", "json"])
def test_show_of_a_zombie_says_it_is_one(json):
    parent = subprocess.Popen([sys.executable, "-c", NEGLECTFUL_PARENT], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert select.select([parent.stdout], [], [], DEADLINE)[0], "the parent did not start"
        zombie = int(parent.stdout.readline())
        wait_for(lambda: state(zombie) == "Z", f"process {zombie} to become a zombie")
        done = roads("show", "--pid", str(zombie), *(["--json"] if json else []))
    finally:
        parent.stdin.close()  # the parent reaps its child and ends
        try:
            parent.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            parent.kill()  # the zombie, adopted by init or a subreaper, is reaped there
            parent.wait()
        parent.stdout.close()
    no_traceback(done.stderr)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        f"roads: error: process {zombie} is a zombie: it has exited, and its parent "
        f"(process {parent.pid}) has not reaped it (waited for it) yet; there is no memory "
        "left to show\n")


# The main thread ends (pthread_exit, through ctypes, which lets go of the GIL) while
# another thread runs on.
LEADER_ENDS = """\
import ctypes, threading, time
threading.Thread(target=time.sleep, args=(60,)).start()
ctypes.CDLL(None).pthread_exit(None)
"""


@pytest.mark.parametrize("json", [False, True], ids=["table", "json"])
def test_show_of_a_process_whose_main_thread_ended_reads_it_through_another(json):
    """Not a zombie: Linux shows none of its memory in /proc/PID, and all of it in
    /proc/PID/task/TID of a thread still running, which roads names."""
    process = subprocess.Popen([sys.executable, "-c", LEADER_ENDS])
    try:
        wait_for(lambda: state(process.pid) == "Z", "the main thread to end")
        others = [int(t) for t in os.listdir(f"/proc/{process.pid}/task")
                  if int(t) != process.pid]
        done = roads("show", "--pid", str(process.pid), *(["--json"] if json else []))
    finally:
        process.kill()
        process.wait(timeout=DEADLINE)
    no_traceback(done.stderr)
    assert done.returncode == 0, done.stderr
    if json:
        space = __import__("json").loads(done.stdout)
        assert (space["pid"], space["read_through"]) == (process.pid, min(others))
        assert any(r["pathname"].endswith("libc.so.6") for r in space["regions"])
    else:
        lines = done.stdout.splitlines()
        assert lines[1] == (f"(its main thread has ended; read through thread {min(others)}, "
                            f"as /proc/{process.pid} shows no memory then)")
        assert any(line.endswith("libc.so.6") for line in lines)


@pytest.mark.parametrize("toolchain", [False, True], ids=["check", "check --toolchain"])
def test_check_without_gcc_says_gcc_was_not_found_and_the_captures_were_checked(
        tmp_path, toolchain):
    from roads.capture.project import Project

    bin_dir = tmp_path / "bin"  # PATH: git, but no gcc
    bin_dir.mkdir()
    git = shutil.which("git")
    if git is not None:
        (bin_dir / "git").symlink_to(git)
    done = roads("--root", str(REPO), "check", *(["--toolchain"] if toolchain else []),
                 env={**os.environ, "PATH": str(bin_dir)})
    no_traceback(done.stderr)
    failing = ", and --toolchain could not fail on it" if toolchain else ""
    assert (
        "roads: note: gcc was not found on PATH, so the gcc each capture was made with could "
        f"not be compared with this machine's{failing} (install it with: apt-get install "
        "gcc); the captures were still checked against their sources, manifest entries and "
        "the capture engine") in done.stderr.splitlines(), done.stderr
    # Each sample was checked all the same, and its note says why gcc was not compared.
    samples = {line.split(":")[0] for line in done.stdout.splitlines()}
    assert samples == set(Project(REPO).names), done.stdout
    notes = [line for line in done.stdout.splitlines() if ": note: captured with" in line]
    assert notes and all(line.endswith("; not compared: no gcc on PATH here")
                         for line in notes), done.stdout
