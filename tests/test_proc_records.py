"""What roads reads of a live process's /proc files, read once, by the engine's readers:
the arguments of /proc/PID/cmdline, the lines of /proc/PID/status, whether a mapped
file is really unlinked (as roads explain, roads show and roads run record it), and what
ended a process under a processor-time limit."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from roads.capture.proc import Proc, parse_cmdline
from roads.capture.runner import ProcessRecord, cpu_limit_end, end_cause
from roads.capture.show import address_space, to_json

from tests.cli_support import DEADLINE, own_folder, roads  # noqa: F401 - own_folder is a fixture
from tests.test_explain import root  # noqa: F401 - a fixture

SYS_TGKILL = 234  # x86-64 (arch/x86/entry/syscalls/syscall_64.tbl)

pytestmark = pytest.mark.usefixtures("no_leftovers")

PROC = Proc()


@contextlib.contextmanager
def python(code: str, *args: str | bytes) -> Iterator[subprocess.Popen[bytes]]:
    """A Python running ``code`` with ``args``, once it has printed its first line (its
    setup done); always killed and reaped."""
    child = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
    try:
        assert child.stdout is not None
        assert child.stdout.readline(), "the child ended before it was ready"
        yield child
    finally:
        child.kill()
        child.wait(timeout=10)
        child.stdout.close()


SLEEP = "import time; print(flush=True); time.sleep(60)"


# ---------------------------------------------------------------------------
# /proc/PID/cmdline


def test_a_trailing_empty_argument_is_kept() -> None:
    """Each argument is followed by one NUL: ``prog a ''`` ends in two, the second the
    empty argument's own (it was stripped with the terminator, and ``roads show --json``
    lost it)."""
    assert parse_cmdline(b"prog\0a\0\0") == ("prog", "a", "")
    assert parse_cmdline(b"prog\0\0\0") == ("prog", "", "")
    with python(SLEEP, "a", "", "") as child:
        assert Path(f"/proc/{child.pid}/cmdline").read_bytes().endswith(b"a\0\0\0")
        assert PROC.cmdline(child.pid) == (sys.executable, "-c", SLEEP, "a", "", "")
        assert to_json(address_space(child.pid))["cmdline"][-3:] == ["a", "", ""]


# A process that rewrites its argument area (setproctitle) so that the area's last byte
# is no longer NUL: the kernel then gives the string at the area's start, up to and with
# its first NUL, or one page of it when there is none (fs/proc/base.c, get_mm_proctitle).
RETITLE = """
import ctypes, sys, time
fields = open("/proc/self/stat").read().rpartition(")")[2].split()
start, end = int(fields[48 - 3]), int(fields[49 - 3])  # arg_start, arg_end
title = sys.argv[1].encode() + (b"\\0" if sys.argv[2] == "nul" else b"")
ctypes.memmove(start, title, len(title))
ctypes.memset(start + len(title), ord("x"), end - start - len(title))
print(flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("end", ["nul", "fill"])
def test_a_rewritten_argument_area_reads_as_one_title(end: str) -> None:
    """With a NUL after the title the kernel stops there and includes it; without one
    (the rest of an area longer than a page overwritten) it gives a page of text with no
    NUL at its end. Either is one argument, whose last byte is kept when not a NUL."""
    with python(RETITLE, "worker: idle", end, "y" * 5000) as child:
        data = Path(f"/proc/{child.pid}/cmdline").read_bytes()
        args = PROC.cmdline(child.pid)
    if end == "nul":
        assert data == b"worker: idle\0" and args == ("worker: idle",)
    else:
        assert b"\0" not in data and data.endswith(b"x")
        assert args == (os.fsdecode(data),) and args[0].startswith("worker: idlexx")


# ---------------------------------------------------------------------------
# /proc/PID/status


def test_status_holds_the_lines_roads_explain_reads() -> None:
    """The thread group, tracer, ids and capabilities of /proc/PID/status, typed, from the
    one reader (roads explain read them from a dictionary of its own, all text)."""
    mine = PROC.status(os.getpid())
    assert mine.Tgid == os.getpid() and mine.TracerPid == 0
    assert mine.Uid is not None and mine.Uid[:3] == os.getresuid()
    assert mine.Gid is not None and mine.Gid[:3] == os.getresgid()
    effective = Path("/proc/self/status").read_text().split("CapEff:")[1].split()[0]
    assert mine.CapEff == int(effective, 16) and mine.CapPrm is not None


def test_status_holds_the_pending_signals() -> None:
    """SigPnd: and ShdPnd: as masks: a blocked signal sent to one thread shows in its
    own mask, one sent to the process in the process's (roads explain reads them to tell
    a SIGCONT sent to a process it holds stopped)."""
    bit = 1 << (signal.SIGUSR2 - 1)
    blocked = ("import signal, sys, time\n"
               "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})\n"
               "print('ready', flush=True)\ntime.sleep(60)\n")
    with python(blocked) as child:
        before = PROC.status(child.pid)
        assert before.SigPnd is not None and before.ShdPnd is not None
        assert not (before.SigPnd | before.ShdPnd) & bit
        os.kill(child.pid, signal.SIGUSR2)
        shared = PROC.status(child.pid)
        assert shared.ShdPnd & bit and not shared.SigPnd & bit
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.syscall(SYS_TGKILL, child.pid, child.pid, signal.SIGUSR2) == 0  # its thread
        assert PROC.status(child.pid).SigPnd & bit


def test_a_traced_process_names_its_tracer() -> None:
    """TracerPid is the tracer's id while roads explain holds a process, 0 once let go;
    the stop's parent is the process's PPid. The tracer is a thread (ptrace's tracer is
    the thread that seized, which --pid does in a thread of its own): one of this
    process's."""
    from roads.explain import trace

    seen = []
    with python(SLEEP) as child:
        assert PROC.status(child.pid).TracerPid == 0
        def at_stop(hit) -> None:
            tracer = PROC.status(child.pid).TracerPid
            seen.append((hit.ppid, tracer, PROC.status(tracer).Tgid if tracer else None))

        trace.seize_and_read(child.pid, at_stop)
        assert PROC.status(child.pid).TracerPid == 0
    assert seen == [(os.getpid(), seen[0][1], os.getpid())] and seen[0][1]


# ---------------------------------------------------------------------------
# A mapped file maps calls deleted: unlinked, or named so


# Maps two files, one named "kept (deleted)" and left in place, one unlinked once mapped;
# then prints a line and sleeps.
MAPS_TWO = """
import mmap, os, time
maps = []
for name in ("kept (deleted)", "gone"):
    with open(name, "wb") as f:
        f.write(b"x" * 4096)
    with open(name, "rb") as f:
        maps.append(mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ))
os.unlink("gone")
print(flush=True)
time.sleep(60)
"""


def _unlinked_by_name(regions, folder: Path) -> dict[str, bool]:
    return {Path(r.pathname).name: r.deleted for r in regions
            if r.pathname.startswith(f"{folder}/")}


def test_a_capture_records_whether_a_mapped_file_was_unlinked(tmp_path, monkeypatch) -> None:
    """A checkpoint records, while the process lives, whether a file maps calls deleted
    was unlinked: Region.deleted read the name alone, and called a file named
    "kept (deleted)" unlinked, in captures and roads explain pages alike."""
    import msgspec

    from roads import document
    from roads.capture.runner import Stop
    from roads.capture.snapshot import snapshot_process

    monkeypatch.chdir(tmp_path)
    with python(MAPS_TWO) as child:
        stop = Stop(pid=child.pid, ppid=os.getpid(), name="now", seq=0, addresses=(),
                    ranges=())
        record = snapshot_process(stop, PROC, tmp_path / "build")
    regions = msgspec.convert(record, document.Checkpoint).regions
    assert _unlinked_by_name(regions, tmp_path) == {"kept (deleted)": False,
                                                    "gone (deleted)": True}
    # Only a name maps calls deleted holds the record: every other region is written as
    # before, so a capture of none is unchanged.
    assert {r.pathname for r in regions if r.unlinked is not document.UNSET} == {
        f"{tmp_path}/kept (deleted)", f"{tmp_path}/gone (deleted)"}


# Maps "x", keeps it as "other" too (a hard link), unlinks "x" and puts a symbolic link
# named "x (deleted)" to "other" in its place; then prints a line and sleeps.
MAPS_LINKED = """
import mmap, os, time
with open("x", "wb") as f:
    f.write(b"x" * 4096)
os.link("x", "other")
with open("x", "rb") as f:
    kept = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
os.unlink("x")
os.symlink("other", "x (deleted)")
print(flush=True)
time.sleep(60)
"""


def test_a_link_named_as_maps_says_is_not_the_file(tmp_path, monkeypatch) -> None:
    """The file at the name maps gives is looked at itself, not through a symbolic link
    there: a link named "x (deleted)" to another name of the unlinked file's inode
    does not make "x" linked again."""
    monkeypatch.chdir(tmp_path)
    with python(MAPS_LINKED) as child:
        entries = [e for e in PROC.maps(child.pid) if e.pathname == f"{tmp_path}/x (deleted)"]
        assert len(entries) == 1
        assert PROC.unlinked(child.pid, entries[0])


def test_roads_explain_records_it_too(root, tmp_path, monkeypatch) -> None:
    """roads explain --pid's saved session, read back, tells the two files apart."""
    import json

    from roads import document
    from tests.test_explain import explain

    monkeypatch.chdir(tmp_path)
    with python(MAPS_TWO) as child:
        assert explain(root, "--pid", str(child.pid), "--out", "p.html", "--save",
                       "p.json") == 0
    capture = document.from_builtins(json.loads((tmp_path / "p.json").read_text())["capture"])
    (variant,) = capture.variants.values()
    (checkpoint,) = variant.runs[0].checkpoints
    assert _unlinked_by_name(checkpoint.regions, tmp_path) == {"kept (deleted)": False,
                                                               "gone (deleted)": True}


# Maps three files, one named "kept (deleted)" and left in place, two unlinked once
# mapped, the name maps then gives to the last taken by a new file; then prints its pid
# and waits for the end of its input.
MAPS_THREE = """\
import mmap, os, sys
maps = []
for name in ("kept (deleted)", "gone", "back"):
    with open(name, "wb") as f:
        f.write(b"x" * 4096)
    with open(name, "rb") as f:
        maps.append(mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ))
os.unlink("gone")
os.unlink("back")
with open("back (deleted)", "wb") as f:  # another file, at the name maps then gives
    f.write(b"y" * 4096)
print(os.getpid(), flush=True)
sys.stdin.read()
"""


def test_a_file_named_deleted_is_not_called_unlinked(tmp_path):
    """maps appends " (deleted)" to an unlinked file's path, so a file whose name ends
    so read as unlinked; the file still at that path, with the inode maps gives, is
    the one mapped."""
    child = subprocess.Popen([sys.executable, "-c", MAPS_THREE], cwd=tmp_path, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        pid = int(child.stdout.readline())
        done = roads("show", "--pid", str(pid), "--json")
    finally:
        child.communicate("", timeout=DEADLINE)
    assert done.returncode == 0, done.stderr
    deleted = {Path(r["pathname"]).name: r["deleted"] for r in json.loads(done.stdout)["regions"]
               if r["pathname"].startswith(str(tmp_path))}
    assert deleted == {"kept (deleted)": False, "gone (deleted)": True, "back (deleted)": True}


def test_a_file_named_deleted_is_looked_up_where_the_process_sees_it(own_folder):
    """roads run's program has /tmp of its own: the name is looked up from its root
    (/proc/PID/root), not from roads' own."""
    program = ("import mmap, time\n"
               "f = open('/tmp/k (deleted)', 'wb+'); f.write(b'x' * 4096); f.flush()\n"
               "m = mmap.mmap(f.fileno(), 0)\n"
               "time.sleep(60)\n")
    # Stopped after three seconds, not one: on the loaded suite a Python that had not yet
    # mapped its file when roads run read the map left nothing to look up.
    done = roads("--root", str(own_folder), "run", "--json", "--after", "3", "--", "python3",
                 "-c", program, cwd=own_folder)
    assert done.returncode == 0, done.stderr
    found = [r["deleted"] for r in json.loads(done.stdout)["regions"]
             if r["pathname"] == "/tmp/k (deleted)"]
    assert found == [False]


def test_a_document_that_did_not_record_it_reads_the_name() -> None:
    """A capture made before the record (no ``unlinked``) reads as maps does."""
    from roads import document

    old = document.Region(start=0, end=4096, perms="rw-s", offset=0,
                          pathname="/dev/zero (deleted)")
    assert old.deleted
    assert not document.Region(start=0, end=4096, perms="r--p", offset=0,
                               pathname="/x (deleted)", unlinked=False).deleted


# ---------------------------------------------------------------------------
# roads run: a processor-time limit lowered within the run, and one that was not


def _roads_run(root: Path, *program: str) -> subprocess.CompletedProcess[str]:
    """``roads run --after 20 -- PROGRAM`` in a process of its own, from ``root``."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.run([sys.executable, "-P", "-m", "roads.cli", "--root", str(root), "run",
                           "--after", "20", "--", *program], capture_output=True, text=True,
                          cwd=root, env=env, timeout=120)


@pytest.mark.gcc
def test_roads_run_names_a_lowered_processor_time_limit(root) -> None:
    """``ulimit -t 1`` sets the soft and the hard limit alike: the kernel sends SIGKILL at
    1 s of processor time, no SIGXCPU, and roads run said "killed by SIGKILL" alone. The
    launcher reads the process's own limit before reaping it; a SIGKILL at about that
    limit is put down to it, as probable (the kernel's tick-sampled time and the time
    reaped differ: 1 s was read 0.94 s)."""
    done = _roads_run(root, "sh", "-c", "ulimit -t 1; while :; do :; done")
    assert done.returncode == 1, done.stderr
    assert ("ended (killed by SIGKILL (probably its processor-time limit: it had used "
            in done.stderr), done.stderr
    assert "about the hard limit of 1 s it had (RLIMIT_CPU" in done.stderr, done.stderr
    # Another SIGKILL, far below the limit, is not put down to it.
    done = _roads_run(root, "sh", "-c", "ulimit -t 5; kill -9 $$")
    assert "ended (killed by SIGKILL) before" in done.stderr, done.stderr


def _killed() -> int:
    """The wait status of a real process SIGKILL ended (its signal's number)."""
    child = subprocess.Popen(["sleep", "60"])
    child.kill()
    assert child.wait(timeout=10) == -signal.SIGKILL
    status = int(signal.SIGKILL)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return status


def test_the_runs_own_hard_limit_is_not_called_lowered() -> None:
    """The run sets RLIMIT_CPU soft to its limit and hard a second above (launcher.c);
    a process that left it so and was SIGKILLed by something else (the OOM killer, a
    kill -9) at 3.8 s of processor time under a 4 s limit was said to have reached a
    limit it had lowered itself, "the hard limit of 5 s", and the OOM killer's hint was
    lost. Only a hard limit below the run's is one the process lowered."""
    status = _killed()
    record = ProcessRecord(pid=2, ppid=1, status=status, cpu_ms=3800, cpu_limit=(4, 5))
    assert cpu_limit_end(record, 4) is None
    assert end_cause(record, 4, 1).startswith("the kernel's out-of-memory killer")
    lowered = ProcessRecord(pid=2, ppid=1, status=status, cpu_ms=950, cpu_limit=(1, 1))
    assert cpu_limit_end(lowered, 4) == "lowered"
    assert cpu_limit_end(ProcessRecord(pid=2, ppid=1, status=status, cpu_ms=4100,
                                       cpu_limit=(4, 5)), 4) == "hard"
