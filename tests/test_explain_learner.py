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
