"""roads explain as a learner tries it: where the page goes (a device, a link), a stop at
the program's entry point, a process read with --pid (its command line as it is, a
kernel thread), output cut short, and a script named as the program."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from roads.explain import trace
from roads.explain.command import file_problem
from roads.explain.page import write_page
from roads.explain.record import session_from_json
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture
from tests.explain_support import build

HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'


def _processes() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def _status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text(errors="replace")
    except OSError:
        return {}
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def _checkpoints(saved: Path) -> list[dict]:
    return json.loads(saved.read_text())["capture"]["variants"]["default"]["runs"][0][
        "checkpoints"]


def test_a_page_written_to_a_device_leaves_the_device_in_place(tmp_path):
    """--out naming /dev/null (here through a link, which a test may make without
    touching /dev) writes into it: the page was written beside it and renamed over it,
    and as root `roads explain --out /dev/full` put a regular file in /dev's place."""
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    write_page("<p>page</p>", link)
    assert link.is_symlink() and os.readlink(link) == "/dev/null"
    assert Path("/dev/null").is_char_device()
    assert file_problem(str(link)) is None


def test_a_page_written_through_a_link_replaces_its_target_and_keeps_the_link(tmp_path):
    """A link named by --out stays a link; the file it names gets the page."""
    (tmp_path / "pages").mkdir()
    target = tmp_path / "pages" / "real.html"
    target.write_text("old")
    link = tmp_path / "page.html"
    link.symlink_to(target)
    write_page("<p>new</p>", link)
    assert link.is_symlink()
    assert target.read_text() == "<p>new</p>"
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == ["real.html"]


@pytest.mark.gcc
@pytest.mark.parametrize("flags", [(), ("-static",)])
def test_a_stop_at_the_entry_point_is_reached(root, gcc, tmp_path, monkeypatch, no_leftovers,
                                              flags):
    """--at _start stops at the program's first instruction (e_entry, no bias: -no-pie
    or -static). The function stops were set at the entry point itself, after it was
    reached: _start was said never to be reached ('exited with status 0 before
    reaching _start')."""
    program = build(tmp_path, "hello", HELLO, "-no-pie", *flags)
    entry = struct.unpack_from("<Q", program.read_bytes(), 24)[0]  # e_entry
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--no-sandbox", "--at", "_start", "--at", "main", "--out", "p.html",
                   "--save", "p.json", "--", "./hello") == 0
    stops = _checkpoints(tmp_path / "p.json")
    assert [c["name"] for c in stops] == ["_start", "main"]
    assert {a["name"]: a["value"] for a in stops[0]["addresses"]}["pc"] == entry


def test_pid_shows_the_command_line_as_it_is(root, tmp_path, monkeypatch, no_leftovers):
    """--pid of a process whose arguments hold empty ones and a byte that is not UTF-8:
    each is kept, the byte written \\xNN as a program's arguments are (the empty ones
    were dropped, and the byte read U+FFFD)."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "",
                                b"\xfe", "a b", ""])
    try:
        monkeypatch.chdir(tmp_path)
        assert explain(root, "--pid", str(sleeper.pid), "--out", "p.html",
                       "--save", "p.json") == 0
    finally:
        sleeper.kill()
        sleeper.wait()
    saved = json.loads((tmp_path / "p.json").read_text())
    assert saved["command"] == [sys.executable, "-c", "import time; time.sleep(60)", "",
                                "\\xfe", "a b", ""]
    assert saved["capture"]["title"].endswith(
        f"({sys.executable} -c 'import time; time.sleep(60)' '' '\\xfe' 'a b' '')")


def test_pid_of_a_kernel_thread_says_what_it_is(root, tmp_path, monkeypatch, capsys):
    """A kernel thread (kthreadd, a kworker) has no user memory and ptrace refuses it
    always: the message said so, not that 'the kernel refused it (a security module's
    rule, a program made not dumpable ...)', none of which applies."""
    threads = [pid for pid in _processes() if _status(pid).get("Kthread") == "1"]
    if not threads:
        pytest.skip("no kernel thread in this pid namespace, or a kernel before 6.3 "
                    "(no Kthread: line in /proc/PID/status)")
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--pid", str(threads[0])) == 1
    err = capsys.readouterr().err
    assert f"process {threads[0]} (" in err and "is a kernel thread" in err, err
    assert not list(tmp_path.iterdir())
    assert trace.kernel_thread(threads[0]) and not trace.kernel_thread(os.getpid())


LOUD = r"""
#include <stdio.h>
int main(void) {
    for (int i = 0; i < 20000; i++)
        fputs("0123456789\n", stdout);  /* 220000 bytes */
    fputs("a few words\n", stderr);
    return 0;
}
"""


@pytest.mark.gcc
def test_output_cut_short_is_said_to_be(root, gcc, tmp_path, monkeypatch, no_leftovers):
    """A program that writes more than the run keeps: the page says how much it wrote and
    that the rest was dropped (it showed the first 64 KiB, cut mid-line, as if that
    were all), and the saved session records it; a stream kept whole says nothing."""
    build(tmp_path, "loud", LOUD)
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--no-sandbox", "--at", "exit", "--out", "p.html", "--save", "p.json",
                   "--", "./loud") == 0
    saved = json.loads((tmp_path / "p.json").read_text())
    assert saved["cut"] == {"stdout": 220000}
    page = (tmp_path / "p.html").read_text()
    assert ("What it wrote to stdout (the beginning of the 214.8 KiB it wrote; the rest was "
            "read and dropped)</summary>") in page
    assert "What it wrote to stderr</summary>" in page
    assert session_from_json(saved).cut == {"stdout": 220000}


def test_a_script_is_named_one_with_the_command_that_runs_it(root, tmp_path, monkeypatch,
                                                               capsys):
    """A script named as the program (a tool's shim on PATH, ldd) is said to be one, with
    the command that names its interpreter; the message spoke of an ELF file with no
    \\x7fELF magic."""
    (tmp_path / "bin").mkdir()
    script = tmp_path / "bin" / "tool"
    script.write_text("#!/usr/bin/env sh\necho hi\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    assert explain(root, "--", "tool", "-x") == 1
    err = capsys.readouterr().err
    assert (f"roads: error: tool ({script}) is a script, run by /usr/bin/env sh, not a "
            "compiled program") in err, err
    assert f"roads explain -- sh {script} ..." in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


UNDUMPABLE = r"""
#include <stdio.h>
#include <sys/prctl.h>
void later(void) { puts("later"); }
int main(void) {
    prctl(PR_SET_DUMPABLE, 0);
    later();
    return 0;
}
"""


@pytest.mark.gcc
def test_a_program_that_makes_itself_undumpable_is_said_to(root, gcc, tmp_path, monkeypatch,
                                                          capsys, no_leftovers):
    """A stop after prctl(PR_SET_DUMPABLE, 0), in the sandbox (no CAP_SYS_PTRACE): the
    message says what the program did and what to do; it said that reading
    /proc/PID/smaps 'needs ptrace access to process 3, which root has only with
    CAP_SYS_PTRACE', of a process roads explain was tracing. The stop before it (main)
    still gets its page, status 3 (tests/test_explain_losses.py)."""
    build(tmp_path, "secret", UNDUMPABLE)
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--at", "main", "--at", "later", "--", "./secret") == 3
    err = capsys.readouterr().err
    assert "the stop later (pid" in err and "--at later: /proc keeps process " in err, err
    assert "made itself not dumpable (prctl PR_SET_DUMPABLE 0)" in err, err
    assert "Stop before it does" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["explain-secret.html", "secret",
                                                          "secret.c"]
