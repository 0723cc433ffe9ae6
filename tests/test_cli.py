"""The roads command as a user runs it: show and run on programs we did not write, what
their tables show (a mapped file's name with a tab escaped, the table ending with its
total line) and what they pass on of a program's output (escaped, its bytes that are
not UTF-8 written \\xNN)."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from roads.capture.proc import Proc, parse_maps
from tests.cli_support import DEADLINE, own_folder, roads  # noqa: F401 - own_folder is a fixture
from tests.conftest import REPO, wait_for

ROADS = [sys.executable, "-P", "-m", "roads.cli"]
pytestmark = pytest.mark.usefixtures("no_leftovers")


def test_show_json_matches_proc_maps_of_a_foreign_process():
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        # Once it runs sleep (not the fork that precedes the exec) and has stopped
        # (SIGSTOP: nothing moves while we compare), each within a deadline.
        sleeping = Path(shutil.which("sleep")).resolve()
        wait_for(lambda: Path(f"/proc/{sleeper.pid}/exe").resolve() == sleeping, "sleep's exec")
        sleeper.send_signal(signal.SIGSTOP)
        wait_for(lambda: Proc().stat(sleeper.pid).state == "T", "the stop")
        done = subprocess.run([*ROADS, "show", "--pid", str(sleeper.pid), "--json"],
                              capture_output=True, text=True, check=True)
        maps = parse_maps(Path(f"/proc/{sleeper.pid}/maps").read_text())
    finally:
        sleeper.kill()
        sleeper.wait()
    doc = json.loads(done.stdout)
    got = [(r["start"], r["end"], r["perms"], r["offset"], r["pathname"]) for r in doc["regions"]]
    assert got == [(m.start, m.end, m.perms, m.offset, m.pathname) for m in maps]
    assert all(isinstance(r["start"], int) and isinstance(r["offset"], int) for r in doc["regions"])


def test_show_json_writes_bytes_that_are_not_utf8_escaped(tmp_path):
    """A process named, started with an argument and mapping a file in bytes that are
    not UTF-8: JSON cannot hold them, so each is written \\xNN (a file's name was a
    traceback)."""
    odd = os.fsencode(tmp_path) + b"/\xff.bin"
    holder = subprocess.Popen(
        [sys.executable.encode(), b"-c", b"import ctypes, mmap, os, sys, time\n"
         b"ctypes.CDLL(None).prctl(15, b'\\xff\\xfe odd', 0, 0, 0)\n"  # PR_SET_NAME
         b"fd = os.open(%r, os.O_RDWR | os.O_CREAT, 0o600)\n" % odd +
         b"os.ftruncate(fd, 4096)\n"
         b"m = mmap.mmap(fd, 4096)\n"
         b"print('mapped', flush=True)\n"
         b"time.sleep(30)\n", b"\xfe"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "mapped\n"
        done = subprocess.run([*ROADS, "show", "--pid", str(holder.pid), "--json"],
                              capture_output=True, text=True)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert f"{tmp_path}/\\xff.bin" in [r["pathname"] for r in doc["regions"]]
    assert doc["name"] == "\\xff\\xfe odd" and doc["cmdline"][-1] == "\\xfe"


def test_show_table_writes_a_file_names_escapes_and_odd_bytes_escaped(tmp_path):
    """A file's name may hold a terminal's escape sequences and bytes that are not
    UTF-8: the table shows them escaped, also where stdout takes UTF-8 only (a
    locale such as en_US.UTF-8; it was a traceback there, and the raw escapes
    elsewhere)."""
    hostile = os.fsencode(tmp_path) + b"/\x1b[2J\xff.bin"
    holder = subprocess.Popen(
        [sys.executable.encode(), b"-c", b"import mmap, os, time\n"
         b"fd = os.open(%r, os.O_RDWR | os.O_CREAT, 0o600)\n" % hostile +
         b"os.ftruncate(fd, 4096)\n"
         b"m = mmap.mmap(fd, 4096)\n"
         b"print('mapped', flush=True)\n"
         b"time.sleep(30)\n"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "mapped\n"
        done = subprocess.run([*ROADS, "show", "--pid", str(holder.pid)], capture_output=True,
                              env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    out = done.stdout.decode("utf-8")  # strict: nothing but UTF-8
    assert "\x1b" not in out
    # The area's row (the heading, the command line, holds the name too).
    rows = out.splitlines()[2:]
    assert any(row.endswith(f"{tmp_path}/\\x1b[2J\\xff.bin") for row in rows), out


def test_show_table_keeps_an_argument_with_a_newline_on_its_heading(tmp_path):
    """An argument's newline would start a line that reads as an area of the table."""
    forged = "x\n    7ffff7ff0000      7ffff7ff1000  4 KiB  rwxp  00000000  /etc/shadow"
    holder = subprocess.Popen([sys.executable, "-c", "import time; print('up', flush=True); "
                               "time.sleep(30)", forged], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "up\n"
        done = subprocess.run([*ROADS, "show", "--pid", str(holder.pid)], capture_output=True,
                              text=True)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert done.returncode == 0, done.stderr
    heading = done.stdout.splitlines()[0]
    assert heading.endswith(forged.replace("\n", "\\x0a"))
    assert "/etc/shadow" not in "\n".join(done.stdout.splitlines()[1:])


# Maps the file named in argv[1], says so on stdout, and waits to be killed.
MAPS_A_FILE = """\
import mmap, sys, time
with open(sys.argv[1], "rb") as f:
    view = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
print("mapped", flush=True)
time.sleep(600)
"""


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


def test_the_table_ends_with_its_total_line():
    """print() added a newline to the table's own: every table ended with a blank line."""
    done = subprocess.run([sys.executable, "-m", "roads.cli", "show", "--pid", str(os.getpid())],
                          capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(" areas\n") and not done.stdout.endswith("\n\n")


def test_show_table_for_a_missing_pid_is_a_clear_error():
    done = subprocess.run([*ROADS, "show", "--pid", "999999999"], capture_output=True, text=True)
    assert done.returncode == 1
    assert "999999999" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.gcc
def test_run_stops_a_program_and_shows_its_map(tmp_path):
    done = subprocess.run([*ROADS, "--root", str(tmp_path), "run", "--after", "0.3", "--json",
                           "--", "sleep", "20"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    paths = [r["pathname"] for r in doc["regions"]]
    assert "/usr/bin/sleep" in paths or "/bin/sleep" in paths
    assert "[stack]" in paths
    # ASLR is off by default: a PIE loads at the kernel's fixed base.
    assert doc["regions"][0]["start"] == 0x555555554000


@pytest.mark.gcc
def test_run_after_no_time_stops_the_program_once_it_runs(tmp_path):
    """--after 0 is due before the launcher has even forked: the stop waits until the
    program runs (it failed, as a launcher that could not start or a run that ended)."""
    for _ in range(3):
        done = subprocess.run([*ROADS, "--root", str(tmp_path), "run", "--after", "0", "--json",
                               "--", "sleep", "5"], capture_output=True, text=True, timeout=60,
                              cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        paths = [r["pathname"] for r in json.loads(done.stdout)["regions"]]
        assert "/usr/bin/sleep" in paths or "/bin/sleep" in paths


def test_root_that_is_a_file_and_a_removed_folder_are_clear_errors(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("")
    for command in (["check"], ["run", "--", "true"]):
        done = subprocess.run([*ROADS, "--root", str(afile), *command], capture_output=True,
                              text=True)
        assert done.returncode == 2 and "not a folder" in done.stderr, done.stderr
    gone = tmp_path / "gone"
    gone.mkdir()
    done = subprocess.run(f"cd {gone} && rmdir {gone} && {sys.executable} -m roads.cli --root "
                          f"{tmp_path} run -- true", shell=True, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 1 and "the current folder was removed" in done.stderr, done.stderr


def test_changes_against_a_revision_that_does_not_exist_is_an_error(tmp_path):
    from tests.conftest import REPO

    done = subprocess.run([*ROADS, "--root", str(REPO), "changes", "--rev", "no-such-rev"],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "--rev no-such-rev: no such commit" in done.stderr


def test_changes_outside_a_git_checkout_says_so(tmp_path):
    # It said "--rev HEAD: no such commit in FOLDER", as if the folder had a history.
    done = subprocess.run([*ROADS, "--root", str(tmp_path), "changes"], capture_output=True,
                          text=True, env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (f"roads: error: {tmp_path}: not a git checkout, whose commits roads "
                           "changes compares the captures with: is this the project's folder? "
                           "(roads --root FOLDER COMMAND names another)\n")


@pytest.mark.gcc
@pytest.mark.parametrize("named", ["path", "link into /tmp", "link in /tmp", "folder link"])
def test_run_shows_a_program_under_tmp_alone_and_what_it_printed(named, outside_tmp):
    """``roads run /tmp/a.out`` from a folder outside /tmp: the sandbox kept the program
    hidden behind its private /tmp ('could not execute ... No such file'). It is seen
    there alone, read-only: not the files beside it (a shared /tmp, even read-only,
    would let it reach the Unix sockets there), and /tmp stays its own to write. Named
    through links too. What it printed is shown on stderr, the map alone on stdout."""
    from tests.test_explain import program_under_tmp, written_in_tmp

    project = outside_tmp
    program, written = program_under_tmp("says"), written_in_tmp()
    beside = program.parent / "says.c"
    try:
        (project / "elsewhere").mkdir()
        shutil.copy(program, project / "elsewhere" / "says")
        path = {"path": program, "link into /tmp": project / "link",
                "link in /tmp": program.parent / "link",
                "folder link": program.parent / "folder" / "says"}[named]
        if named == "link into /tmp":
            path.symlink_to(program)
        elif named == "link in /tmp":
            path.symlink_to(project / "elsewhere" / "says")
        elif named == "folder link":
            path.parent.symlink_to(project / "elsewhere")
        done = subprocess.run([*ROADS, "--root", str(project), "run", "--after", "0.5",
                               "--json", "--", str(path), "wait", str(beside), written],
                              cwd=project,
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        # Seen where it was named (a link's place in /tmp holds the file itself).
        seen = {r["pathname"] for r in doc["regions"]}
        assert str(path) in seen or os.path.realpath(path) in seen, seen
        assert (f"roads: {path} wrote to its stdout:\nsaid from {path}\n"
                "beside it: hidden; /tmp: writable\n") in done.stderr, done.stderr
        assert not Path(written).exists()  # written to its own /tmp
    finally:
        Path(written).unlink(missing_ok=True)
        shutil.rmtree(program.parent, ignore_errors=True)


@pytest.mark.gcc
@pytest.mark.parametrize("place", ["/tmp", "/run"])
def test_run_from_a_folder_in_tmp_sees_that_folder_and_no_socket(tmp_path, place):
    """``cd /tmp/x && roads run ./a.out``: the machine's /tmp was shared with the program
    (read-only), which could then connect() to any Unix socket there (a terminal
    multiplexer's: a read-only mount does not stop that). Now its private /tmp holds its
    own folder (writable, as roads run's folder is) and nothing else of the machine's;
    /run, where daemons keep theirs, is an empty one of its own."""
    import socket
    import tempfile

    from tests.test_explain import program_under_tmp, written_in_tmp

    if not os.access(place, os.W_OK):
        pytest.skip(f"{place} cannot be written here for the socket")
    program, written = program_under_tmp("says"), written_in_tmp()
    other = Path(tempfile.mkdtemp(prefix="roads-test-sock-", dir=place))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(other / "sock"))
        listener.listen(1)
        done = subprocess.run([*ROADS, "--root", str(tmp_path), "run", "--after", "0.5", "--",
                               "./says", "wait", str(other / "sock"), written],
                              cwd=program.parent,
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
        assert done.returncode == 0, done.stderr
        assert "beside it: hidden; /tmp: writable\n" in done.stderr, done.stderr
        assert not Path(written).exists()  # written to its own /tmp
    finally:
        Path(written).unlink(missing_ok=True)
        listener.close()
        shutil.rmtree(other, ignore_errors=True)
        shutil.rmtree(program.parent, ignore_errors=True)


@pytest.mark.gcc
def test_run_from_a_subfolder_in_tmp_sees_its_neighbours(tmp_path):
    """``cd /tmp/p/build && roads run ./prog``, the program reading ../data: the entry of
    /tmp that holds the folder is shown (read-only), not the folder alone."""
    import tempfile

    from tests.test_explain import program_under_tmp, written_in_tmp

    program, written = program_under_tmp("says"), written_in_tmp()
    try:
        build, data = program.parent / "build", program.parent / "data"
        build.mkdir()
        data.mkdir()
        (data / "in.txt").write_text("hello\n")
        shutil.move(program, build / "says")
        done = subprocess.run([*ROADS, "--root", str(tmp_path), "run", "--after", "0.5", "--",
                               "./says", "wait", "../data/in.txt", written], cwd=build,
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
        assert done.returncode == 0, done.stderr
        assert "beside it: seen; /tmp: writable\n" in done.stderr, done.stderr
        assert not Path(written).exists()  # written to its own /tmp
    finally:
        Path(written).unlink(missing_ok=True)
        shutil.rmtree(program.parent, ignore_errors=True)


@pytest.mark.parametrize("folder", ["/", "/tmp"])
def test_run_is_refused_in_the_root_or_a_shared_folder(tmp_path, folder):
    """The program may write the folder it runs in: not the root, nor /tmp."""
    done = subprocess.run([*ROADS, "--root", str(tmp_path), "run", "--", "true"], cwd=folder,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 1 and "run it from a folder of your own" in done.stderr, done.stderr


@pytest.mark.gcc
def test_run_shows_the_last_lines_a_program_printed_escaped(tmp_path):
    # A shell, not Python: it has written its lines within milliseconds, where Python's
    # start-up alone could outlast the stop's second on a busy machine (it did once).
    script = ("i=0; while [ $i -lt 30 ]; do echo line $i; i=$((i+1)); done; "
              "printf 'oops \\033[31m\\n' >&2; exec sleep 20")
    done = subprocess.run([*ROADS, "--root", str(tmp_path), "run", "--after", "2", "--",
                           "/bin/sh", "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "wrote to its stdout (the last 20 of 30 lines):\nline 10\n" in done.stderr
    assert "line 9\n" not in done.stderr and "line 29\n" in done.stderr
    assert "wrote to its stderr:\noops \\x1b[31m\n" in done.stderr


def test_run_escapes_a_tab_in_a_mapped_files_name(own_folder):
    """roads run prints the same table, of a program stopped at --after."""
    mapped = own_folder / "c\td"
    mapped.write_bytes(b"x")
    done = roads("--root", str(own_folder), "run", "--after", "2", "--", sys.executable, "-c",
                 MAPS_A_FILE, mapped.name, cwd=own_folder)
    assert done.returncode == 0, done.stderr
    assert "\t" not in done.stdout
    assert name_column(done.stdout, "c\\x09d") == f"{own_folder}/c\\x09d"


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


@pytest.mark.gcc
def test_run_of_a_program_that_ends_first(tmp_path):
    done = subprocess.run([*ROADS, "--root", str(tmp_path), "run", "--after", "2", "--",
                           "true"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 1
    assert "ended (exit status 0) before 2 s" in done.stderr
    # What to do instead: no map was shown.
    assert ("roads: to see its memory, stop it sooner (--after) or where it ends: roads "
            "explain --at exit -- true\n") in done.stderr


def test_a_command_outside_a_project_says_where_to_run_it(tmp_path):
    done = subprocess.run([*ROADS, "check"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert (f"{tmp_path}/samples/samples.toml: no sample manifest: is this the project's "
            "folder? (roads --root FOLDER COMMAND names another)") in done.stderr


@pytest.mark.parametrize("kind", ["not executable", "folder"])
def test_run_of_a_file_it_cannot_run_says_so(tmp_path, kind):
    """As roads explain words it: 'no such program' was said of a file that is there,
    and a folder is said to be one."""
    target = tmp_path / "target"
    if kind == "folder":
        target.mkdir()
    else:
        target.write_text("data\n")
    done = subprocess.run([*ROADS, "--root", str(tmp_path), "run", "--", str(target)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    why = ("a folder, not a program" if kind == "folder" else "not an executable file: its "
           f"mode, rw-r--r--, lets no one run it; if it is a program, chmod +x {target} makes "
           "it one")
    assert f"{target}: {why}" in done.stderr, done.stderr


# --- issue 9, item 11: usage errors, kernel threads, what errors echo ----------------

@pytest.mark.parametrize("args, words", [
    (["run", "--after", "-1", "--", "true"], "not a number of seconds from 0 to"),
    (["run", "--after", "nan", "--", "true"], "not a number of seconds"),
    (["run", "--after", "inf", "--", "true"], "not a number of seconds"),
    (["run", "--after", "1e999", "--", "true"], "not a number of seconds"),
    (["capture", "--jobs", "-1"], "not a whole number from 1 to"),
    (["capture", "--jobs", "0"], "not a whole number from 1 to"),
    (["show", "--pid", "-5"], "not a whole number from 1 to"),
])
def test_bad_numbers_are_usage_errors(args, words):
    done = subprocess.run([*ROADS, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert words in done.stderr and "Traceback" not in done.stderr


def kernel_thread() -> tuple[str, str] | None:
    """Some kernel thread's pid and name (``Kthread: 1`` in its status), if any is visible."""
    for entry in sorted(Path("/proc").iterdir(), key=lambda p: (len(p.name), p.name)):
        try:
            status = (entry / "status").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if "\nKthread:\t1\n" in status:
            return entry.name, status.split("\n", 1)[0].split("\t")[1]
    return None


def test_show_says_a_kernel_thread_has_no_user_address_space():
    found = kernel_thread()
    if found is None:
        pytest.skip("no kernel thread visible here (a PID namespace)")
    pid, name = found  # kthreadd (2) on a machine of its own
    done = subprocess.run([*ROADS, "show", "--pid", pid], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"{pid}: [{name}]" in done.stdout and "a kernel thread" in done.stdout
    done = subprocess.run([*ROADS, "show", "--pid", pid, "--json"], capture_output=True,
                          text=True, check=True)
    doc = json.loads(done.stdout)
    assert doc["kernel_thread"] is True and doc["regions"] == [] and doc["exe"] is None


def test_errors_show_control_characters_escaped():
    from roads.errors import SampleError

    hostile = "\x1b]0;pwned\x07\x1b[2J\rover\u202eevil\udcff\x9b31m"
    err = SampleError(f"ended {hostile}", sample="s", command=["./s", hostile],
                      output=f"line one\n{hostile}\ttab kept\n")
    text = err.located()
    assert not any(c in text for c in "\x1b\x07\r\u202e\udcff\x9b")
    assert "\\x1b]0;pwned\\x07" in text and "\\u202e" in text and "\ttab kept" in text
    assert text.count("\n") == 3  # head, command, two output lines: newlines kept


def test_check_shows_what_a_capture_records_escaped(tmp_path, monkeypatch, capsys):
    """The gcc a capture file records is printed in a note where no gcc is on PATH: it
    reached the terminal raw (an edited capture set the window's title, cleared the
    screen)."""
    from roads import cli
    from tests.conftest import copy_checkout

    root = copy_checkout(tmp_path / "copy")
    capture = root / "snapshots" / "layout.json"
    capture.write_text(capture.read_text().replace(
        '"gcc": "gcc', '"gcc": "\\u001b]0;PWNED\\u0007\\u001b[2Jgcc', 1))
    assert "PWNED" in capture.read_text()
    from roads.capture import toolchain

    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    toolchain.gcc_version.cache_clear()  # asked once a process: an earlier test's answer
    try:
        cli.main(["--root", str(root), "check"])
    finally:
        toolchain.gcc_version.cache_clear()
    out = capsys.readouterr().out
    assert "layout: note: captured with \\x1b]0;PWNED\\x07\\x1b[2Jgcc" in out, out
    assert "\x1b" not in out and "\x07" not in out


def test_the_clis_log_lines_show_control_characters_escaped():
    """What the engine logs (a stale capture's reasons, an internal error's traceback)
    can carry a file's or a program's text: the CLI's log lines escape it, as its
    errors do. A warning logged as the engine logs one, in a process set up as the CLI
    sets itself up."""
    script = ("import logging; from roads import cli; cli.configure_logging(); "
              "logging.getLogger('roads').warning('capture of %r is stale: %s', 'x', "
              "'\\x1b]0;owned\\x07\\x1b[2J\\rover')")
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60,
                         cwd=REPO)
    done = subprocess.CompletedProcess(ran.args, ran.returncode, ran.stdout.decode(),
                                       ran.stderr.decode())  # bytes: a CR stays a CR
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr and "\r" not in done.stderr
    assert done.stderr == "WARNING: capture of 'x' is stale: \\x1b]0;owned\\x07\\x1b[2J\\x0dover\n"


@pytest.mark.gcc
def test_a_samples_escape_sequences_reach_the_terminal_escaped(scratch):
    scratch.add("noisy", """\
        #include <stdio.h>
        int main(void) {
            fputs("\\033]0;owned\\007\\033[31mred\\r\\n", stderr);
            return 3;
        }
    """)
    done = subprocess.run([*ROADS, "--root", str(scratch.root), "capture", "noisy"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
    assert "\\x1b]0;owned\\x07\\x1b[31mred" in done.stderr


@pytest.mark.gcc
def test_half_written_captures_are_ignored_by_git_and_swept(scratch, tmp_path):
    from tests.conftest import REPO

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".gitignore").write_text((REPO / ".gitignore").read_text())
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    check = ["git", "check-ignore", "-q"]
    assert subprocess.run([*check, "snapshots/.brk.json.4242.7f0a.tmp"], cwd=repo).returncode == 0
    assert subprocess.run([*check, "snapshots/brk.json"], cwd=repo).returncode == 1
    scratch.add("fine", "int main(void){return 0;}\n")
    snapshots = scratch.root / "snapshots"
    snapshots.mkdir()
    partial = snapshots / ".fine.json.4242.7f0a.tmp"
    other = snapshots / ".other.json.4242.7f0a.tmp"
    partial.write_text('{"half": ')
    other.write_text('{"half": ')
    scratch.project().capture_one("fine")
    assert not partial.exists() and other.exists()  # each sample sweeps its own, under its lock
    assert (snapshots / "fine.json").exists()


@pytest.mark.parametrize("first", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_signal_that_ends_a_command_is_taken_once_and_its_handlers_go_back(first):
    """SIGTERM or SIGHUP raises Ended, Ctrl-C KeyboardInterrupt, once; any of the three
    coming next, while the first one's cleanup runs, is ignored (it cut the cleanup
    short, the run's folder left half removed: a Ctrl-C after SIGTERM, or a second
    Ctrl-C, still did); after the command the handlers are what they were."""
    from roads import cli

    signum = signal.Signals[first]
    raised = KeyboardInterrupt if signum == signal.SIGINT else cli.Ended
    # A shell starts a background job (`./dev test &`) with SIGINT ignored, nohup with
    # SIGHUP ignored, and the command leaves an ignored one so, as it should: here each
    # is taken as on a terminal (the test failed in a suite run in the background).
    inherited = {s: signal.getsignal(s) for s in cli.ENDING}
    for s, handler in inherited.items():
        if handler == signal.SIG_IGN:
            signal.signal(s, signal.default_int_handler if s == signal.SIGINT else signal.SIG_DFL)
    try:
        _taken_once(cli, signum, raised)
    finally:
        for s, handler in inherited.items():
            signal.signal(s, handler)


def _taken_once(cli, signum, raised) -> None:
    before = {s: signal.getsignal(s) for s in cli.ENDING}
    with pytest.raises(raised) as caught:
        with cli._ended_as_interrupted():
            try:
                os.kill(os.getpid(), signum)
                signal.sigtimedwait([], 0)  # no-op: lets the handler run here
            except KeyboardInterrupt:
                assert all(signal.getsignal(s) == signal.SIG_IGN for s in cli.ENDING)
                for other in cli.ENDING:
                    os.kill(os.getpid(), other)  # each ignored
                signal.sigtimedwait([], 0)
                raise
    assert caught.type is raised
    if raised is cli.Ended:
        assert caught.value.signum == signum
    assert {s: signal.getsignal(s) for s in cli.ENDING} == before


@pytest.mark.gcc
def test_a_command_whose_terminal_closes_ends_by_sighup(tmp_path):
    """Its terminal gone, the command cannot write its last line there: it ends all the
    same, by SIGHUP once its cleanup is done (the write's error made it exit with 1),
    its program gone."""
    import pty
    import time

    marker = f"sleep 1000.{os.getpid()}"
    pid, master = pty.fork()
    if pid == 0:  # the child: roads run on a terminal of its own, from a folder of its own
        os.chdir(tmp_path)
        os.execve(sys.executable, [*ROADS, "--root", str(tmp_path), "run", "--after", "60",
                                   "--", "sh", "-c", marker],
                  {**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and subprocess.run(
                ["pgrep", "-f", f"^{marker}$"], capture_output=True).returncode != 0:
            time.sleep(0.05)
        os.close(master)  # the terminal hangs up: SIGHUP
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("roads run went on after its terminal closed")
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGHUP, status
    wait_for(lambda: subprocess.run(["pgrep", "-f", f"^{marker}$"],
                                    capture_output=True).returncode != 0, "its program to end")


@pytest.mark.parametrize("how", ["interrupted", "a failure"])
def test_capture_on_a_terminal_keeps_each_line_its_own(tmp_path, monkeypatch, capsys, how):
    """On a terminal, a sample's progress line replaces the one before, without its
    newline: a failed sample's line, and the line of a command interrupted, were written
    after it on the same line ('... fresh (0.00 s)roads: interrupted')."""
    from roads import cli
    from roads.capture.capturer import Outcome
    from roads.errors import SampleError

    class Project:
        names = ["a", "b"]

        def __init__(self, root):
            pass

        def capture(self, samples, *, refresh, jobs, progress):
            progress(Outcome("a", "fresh"))
            if how == "interrupted":
                raise KeyboardInterrupt
            failed = Outcome("b", "failed", error=SampleError("no", sample="b"))
            progress(failed)
            return [Outcome("a", "fresh"), failed]

    monkeypatch.setattr(cli, "Project", Project)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    before = signal.getsignal(signal.SIGCHLD)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        status = cli.main(["--root", str(tmp_path), "capture"])
        # The caller's SIGCHLD disposition is its own again.
        assert signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGCHLD, before)
    err = capsys.readouterr().err
    if how == "interrupted":
        assert status == 130 and err == "\r\x1b[K[1/2] a: fresh (0.00 s)\nroads: interrupted\n"
    else:
        assert status == 1
        assert err.startswith("\r\x1b[K[1/2] a: fresh (0.00 s)\r\x1b[K[2/2] b: failed (0.00 s)\n"
                              "roads: error: "), err


def test_ctrl_c_ends_a_shell_loop_of_roads_commands(tmp_path):
    """Ctrl-C during ``for ...; do roads run ...; done`` (SIGINT to the foreground group:
    the shell and roads) ends the loop, as it ends a loop of any program the key kills:
    roads, its program killed and its folder removed, ends by SIGINT. It exited with
    130, which bash takes for a command that dealt with the key itself, so the loop went
    on to its next command."""
    marker = f"sleep 1000.{os.getpid()}"
    log = tmp_path / "log"
    roads = shlex.join([*ROADS, "--root", str(tmp_path), "run", "--after", "60", "--",
                        "sh", "-c", marker])
    script = (f'for i in 1 2; do echo "start $i" >> {shlex.quote(str(log))}; '
              f"{roads} >/dev/null 2>&1; done; echo after >> {shlex.quote(str(log))}")
    shell = subprocess.Popen(
        ["bash", "-c", script], start_new_session=True, env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for(lambda: subprocess.run(["pgrep", "-f", f"^{marker}$"],
                                        capture_output=True).returncode == 0, "the program to run")
        os.killpg(shell.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C
        try:
            shell.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the loop went on after Ctrl-C: {log.read_text()!r}") from None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGKILL)
        shell.wait()
    assert log.read_text() == "start 1\n"
    assert shell.returncode == -signal.SIGINT
    wait_for(lambda: subprocess.run(["pgrep", "-f", f"^{marker}$"],
                                    capture_output=True).returncode != 0, "its program to end")
