"""What the roads command takes as a pid or a number of seconds, run as a user runs it
(the command in its own process, on real processes): a pid in decimal digits only
(leading zeros kept) for roads show and roads explain, --after and --deadline in decimal
digits; and what a pid names: a thread's id is read as its process's, by roads show and
roads explain alike, and a pid no process has is not said to have exited."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from roads import cli
from roads.explain.program import MAX_DEADLINE
from tests.cli_support import DEADLINE, roads

pytestmark = pytest.mark.usefixtures("no_leftovers")


@pytest.mark.parametrize("command", ["show", "explain"])
@pytest.mark.parametrize("given", ["1_0", "+5", " 5", "\u0665", "0x10"])
def test_a_pid_is_decimal_ascii_digits_only(command, given):
    """int() took "1_0" as 10, " 5" and "+5" as 5 and an Arabic-Indic five as 5: the
    map of a process the user never named (roads explain --pid as roads show --pid)."""
    done = roads(command, "--pid", given)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.endswith(f"roads {command}: error: argument --pid: {given!r} is not "
                                "a whole number from 1 to 2147483647 in decimal digits\n")


def test_a_pid_with_leading_zeros_is_still_that_pid():
    done = roads("show", "--pid", f"00{os.getpid()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{os.getpid()}: ")


# A process with a second thread, which waits for the end of its input; the process
# prints its pid and that thread's id.
THREADED = """\
import os, sys, threading
reader = threading.Thread(target=sys.stdin.read)
reader.start()
print(os.getpid(), reader.native_id, flush=True)
reader.join()
"""


@pytest.fixture
def threaded() -> Iterator[tuple[int, int]]:
    """(pid, tid): a running process and the id of its second thread."""
    with subprocess.Popen([sys.executable, "-c", THREADED], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as process:
        try:
            pid, tid = map(int, process.stdout.readline().split())
            yield pid, tid
        finally:
            process.stdin.close()  # the thread reads to the end, the process ends
            process.wait(timeout=DEADLINE)


def test_show_of_a_threads_id_says_whose_thread_it_is(threaded):
    """/proc/TID answers for a thread as for a process (though /proc lists only
    processes): the map was shown under the thread's id as if it were a process's."""
    pid, tid = threaded
    assert pid != tid
    done = roads("show", "--pid", str(tid))
    assert done.returncode == 0, done.stderr
    heading, note, columns = done.stdout.splitlines()[:3]
    assert heading.startswith(f"{pid}: {sys.executable} -c ")
    assert note == (f"(--pid {tid} is a thread of process {pid}, not a process: this is the "
                    "one address space all its threads share)")
    assert columns.split() == ["start", "end", "size", "perms", "offset", "Rss", "Pss", "name"]
    space = json.loads(roads("show", "--pid", str(tid), "--json").stdout)
    assert (space["pid"], space["thread"], space["read_through"]) == (pid, tid, None)
    # The process's own id: no word of a thread.
    space = json.loads(roads("show", "--pid", str(pid), "--json").stdout)
    assert (space["pid"], space["thread"]) == (pid, None)
    assert "thread" not in roads("show", "--pid", str(pid)).stdout.splitlines()[1]


def test_show_of_a_pid_no_process_has_does_not_say_it_exited():
    """A pid no process ever had was said to be "gone", as if it had exited: the kernel
    cannot tell the two apart, and the message now says either may be."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    for pid in (ended.pid, (1 << 31) - 1):  # one that ended; one the kernel never gives
        assert not Path(f"/proc/{pid}").exists()
        done = roads("show", "--pid", str(pid))
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr == (f"roads: error: no process {pid}: /proc/{pid} does not exist "
                               "(a process of that pid has ended, or there never was one)\n")


@pytest.mark.parametrize(("words", "bounds"), [
    (["run", "--after", "1_0", "--", "true"], f"from 0 to {cli.MAX_AFTER:g}"),
    (["run", "--after", "inf", "--", "true"], f"from 0 to {cli.MAX_AFTER:g}"),
    (["run", "--after", " 5", "--", "true"], f"from 0 to {cli.MAX_AFTER:g}"),
    (["explain", "--deadline", "0", "--", "true"], f"more than 0 and at most {MAX_DEADLINE:g}"),
    (["explain", "--deadline", "1e1", "--", "true"], f"more than 0 and at most {MAX_DEADLINE:g}"),
])
def test_seconds_are_decimal_digits(words, bounds):
    """float() took "1_0" as 10, " 5" as 5, and "1e1", "inf" and "nan" too."""
    done = roads(*words)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.endswith(f"roads {words[0]}: error: argument {words[1]}: {words[2]!r} "
                                f"is not a number of seconds {bounds}, in decimal digits\n")


@pytest.mark.parametrize("given", ["0", "2.5", ".5", "3."])
def test_seconds_in_decimal_digits_are_taken(given):
    from roads.argtypes import seconds

    assert seconds(10)(given) == float(given)


def test_explain_of_a_threads_id_reads_its_process(threaded, tmp_path):
    """roads explain --pid TID seized the thread alone and called it a process; it now
    reads the process, as roads show --pid does, and says so."""
    pid, tid = threaded
    done = roads("explain", "--pid", str(tid), "--out", str(tmp_path / "t.html"), "--save",
                 str(tmp_path / "t.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (f"{tid} is a thread of process {pid}, not a process: reading the process"
            in done.stderr), done.stderr
    assert f"reading process {pid}\n" in done.stderr
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["capture"]["variants"]["default"]["runs"][0]["pid"] == pid
    # The page's Command is one to paste: the process's own command line follows it as a
    # shell's comment ("--pid N (prog)" was a syntax error in a shell).
    title = saved["capture"]["title"]
    assert title.startswith(f"roads explain --pid {pid}  # "), title
    assert shlex.split(title, comments=True) == ["roads", "explain", "--pid", str(pid)], title
