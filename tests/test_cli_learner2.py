"""roads show and roads run as a learner meets them, run as a user runs them (the
command in its own process, on real processes): a pid typed oddly, a pid no process has,
a thread's id, a mapped file's name holding a tab, output that is not UTF-8, a program
that used up its processor time."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from roads import cli
from roads.explain.command import MAX_DEADLINE
from roads.capture.runner import ProcessRecord, end_cause
from roads.cores import usable as usable_cores

REPO = Path(__file__).resolve().parent.parent
DEADLINE = 120  # seconds for one run of the command (a run compiles its launcher first)
pytestmark = pytest.mark.usefixtures("no_leftovers")


def roads(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``roads args`` run from ``cwd`` with this checkout's code, its output captured."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "roads.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=DEADLINE)


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


# Maps the file named in argv[1], says so on stdout, and waits to be killed.
MAPS_A_FILE = """\
import mmap, sys, time
with open(sys.argv[1], "rb") as f:
    view = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
print("mapped", flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def own_folder(tmp_path_factory) -> Path:
    """A folder of the test's own for roads run to run in (and keep its launcher in:
    built once for the module)."""
    return tmp_path_factory.mktemp("run")


def name_column(table: str, ending: str) -> str:
    """What stands under the column heading "name" in ``table``'s row whose name ends
    with ``ending``: the name, if the row keeps to the table's columns."""
    lines = table.splitlines()
    (columns,) = [line for line in lines if line.split()[:2] == ["start", "end"]]
    (row,) = [line for line in lines[1:] if line.endswith(ending)]  # not the heading
    return row[columns.index(" name") + 1:]


def test_show_escapes_a_tab_in_a_mapped_files_name(tmp_path):
    """A tab in a file's name was printed as it is, shifting the rest of its row."""
    mapped = tmp_path / "a\tb"
    mapped.write_bytes(b"x")
    with subprocess.Popen([sys.executable, "-c", MAPS_A_FILE, mapped], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout.readline() == "mapped\n"
            done = roads("show", "--pid", str(process.pid))
        finally:
            process.kill()
            process.wait(timeout=DEADLINE)
    assert done.returncode == 0, done.stderr
    assert "\t" not in done.stdout
    assert name_column(done.stdout, "a\\x09b") == f"{tmp_path}/a\\x09b"


def test_run_escapes_a_tab_in_a_mapped_files_name(own_folder):
    """roads run prints the same table, of a program stopped at --after."""
    mapped = own_folder / "c\td"
    mapped.write_bytes(b"x")
    done = roads("--root", str(own_folder), "run", "--after", "2", "--", sys.executable, "-c",
                 MAPS_A_FILE, mapped.name, cwd=own_folder)
    assert done.returncode == 0, done.stderr
    assert "\t" not in done.stdout
    assert name_column(done.stdout, "c\\x09d") == f"{own_folder}/c\\x09d"


def test_a_run_that_used_up_its_processor_time_says_so_of_roads_run(own_folder):
    """The message named limits.cpu, a field of the samples' manifest, and gave the
    sandbox's limit as the one reached, where the program had set a lower one itself
    (a real run cannot reach the sandbox's own in a test's time: see the next test)."""
    program = "ulimit -S -t 1; while :; do :; done"
    done = roads("--root", str(own_folder), "run", "--after", "30", "--", "sh", "-c", program,
                 cwd=own_folder)
    assert (done.returncode, done.stdout) == (1, "")
    limit = math.ceil(30 + cli.RUN_GRACE) * usable_cores()
    said = re.fullmatch(
        rf"roads: sh -c '{re.escape(program)}' ended \(killed by SIGXCPU \(the signal of a "
        r"processor-time limit, at (\d+\.\d) s of processor time, below the "
        rf"{limit} s roads run's sandbox gives each process: a lower limit set within the "
        r"run \(setrlimit, ulimit -t\), or the signal sent to it \(kill\)\)\) before 30 s\n",
        done.stderr)
    assert said is not None, done.stderr
    # The limit of 1 s, as the process's times measured it (in clock ticks, sampled).
    assert 0.5 <= float(said[1]) < 2.0


@pytest.mark.parametrize(("signum", "went_on", "cpu_ms"), [
    (signal.SIGXCPU, "", 100_000),
    (signal.SIGXCPU, "", 99_100),  # the times read at its end a little short of the limit
    (signal.SIGKILL, ", and ran on past the SIGXCPU sent then", 100_000),  # it ignored it
])
def test_the_sandboxs_processor_time_is_named_as_roads_runs(signum, went_on, cpu_ms):
    """The sandbox's limit reached, the engine's own words (runner.end_cause) said for
    roads run."""
    record = ProcessRecord(pid=2, ppid=1, status=signum, cpu_ms=cpu_ms)
    record.cause = end_cause(record, 100, 0)
    assert "limits.cpu" in record.cause  # the words this rewrites
    assert cli._ending(record, 100) == (
        f"killed by {signal.Signals(signum).name} (it used up the 100 s of processor time "
        f"roads run's sandbox gives each process{went_on})")


def test_run_shows_output_that_is_not_utf8_as_its_bytes(own_folder):
    """Such a byte in what the program wrote came out as U+FFFD, where every other text
    roads shows (a name, an argument) writes it \\xNN."""
    program = r"printf 'caf\351\n'; printf '\377 \033[1m\n' >&2; sleep 60"
    done = roads("--root", str(own_folder), "run", "--after", "1", "--", "sh", "-c", program,
                 cwd=own_folder)
    assert done.returncode == 0, done.stderr
    assert "\ufffd" not in done.stderr
    assert ("roads: sh wrote to its stdout:\ncaf\\xe9\n"
            "roads: sh wrote to its stderr:\n\\xff \\x1b[1m\n") in done.stderr


# Maps three files, one named "kept (deleted)" and left in place, two unlinked once
# mapped, the name maps then gives to the last taken by a new file; then prints its pid
# and waits for the end of its input.
MAPS_TWO = """\
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
    child = subprocess.Popen([sys.executable, "-c", MAPS_TWO], cwd=tmp_path, text=True,
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
    done = roads("--root", str(own_folder), "run", "--json", "--after", "1", "--", "python3",
                 "-c", program, cwd=own_folder)
    assert done.returncode == 0, done.stderr
    found = [r["deleted"] for r in json.loads(done.stdout)["regions"]
             if r["pathname"] == "/tmp/k (deleted)"]
    assert found == [False]


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
    assert saved["capture"]["title"].startswith(f"roads explain --pid {pid} (")
