"""roads explain --pid: a process that runs already, read where it is. Its command line
as it is (empty arguments kept, a byte that is not UTF-8 written \\xNN); a kernel thread
said to be one; and a process that may not be traced refused with what the kernel's
attach check compares (__ptrace_may_access) and only the causes this machine shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from roads.explain import trace
from tests.conftest import status_lines
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture


def _processes() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def _status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text(errors="replace")
    except OSError:
        return {}
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def test_pid_shows_the_command_line_as_it_is(root, tmp_path, monkeypatch, no_leftovers):
    """--pid of a process whose arguments hold empty ones and a byte that is not UTF-8:
    each is kept, the byte written \\xNN as a program's arguments are (the empty ones
    were dropped, and the byte read U+FFFD); in the command line, as bash reads it back,
    $'\\xfe' (it was '\\xfe', which a shell gives back as four characters)."""
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
        f"  # {sys.executable} -c 'import time; time.sleep(60)' '' $'\\xfe' 'a b' ''")
    assert saved["typed"] == f"{sys.executable} -c 'import time; time.sleep(60)' '' $'\\xfe' 'a b' ''"


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


def test_a_refused_trace_names_what_the_kernel_checks(tmp_path, monkeypatch):
    """Why ``--pid`` was refused, by what the kernel's attach check compares
    (__ptrace_may_access): this process's real uid and gid against the process's real,
    effective and saved ones (not its fsuid, which named "another user" for a process
    whose fsuid alone differed; its gids were not looked at), whether it is dumpable
    (/proc/PID/status is root's while it is not), and Yama's scope, which CAP_SYS_PTRACE
    overrides at 1 and 2 and an ancestor passes at 1 (it was named all the same)."""
    me, other = os.getpid(), 4242
    mine = {"Uid": "1000\t1000\t1000\t1000", "Gid": "1000\t1000\t1000\t1000",
            "CapEff": "0", "CapPrm": "0"}
    theirs = {**mine, "PPid": "1"}
    statuses = {me: mine, other: theirs, 1: {"PPid": "0"}}
    owners = {other: 1000}
    monkeypatch.setattr(trace, "_status_of", lambda pid: status_lines(statuses.get(pid)))
    monkeypatch.setattr(trace, "_status_owner", lambda pid: owners.get(pid), raising=False)
    yama = tmp_path / "ptrace_scope"
    monkeypatch.setattr(trace, "YAMA_SCOPE", yama)
    kernel = "the kernel refused it ("

    def why(**changes: dict[str, str]) -> str:
        statuses[me] = {**mine, **changes.get("mine", {})}
        statuses[other] = {**theirs, **changes.get("theirs", {})}
        return trace._why_not_traced(other)

    sys_ptrace = {"CapEff": f"{1 << trace.CAP_SYS_PTRACE:x}",
                  "CapPrm": f"{1 << trace.CAP_SYS_PTRACE:x}"}
    for level in ("1", "2"):
        yama.write_text(f"{level}\n")
        assert why(mine=sys_ptrace).startswith(kernel), level
    yama.write_text("3\n")
    assert why(mine=sys_ptrace) == f"{yama} is 3: no process may be traced at all"
    yama.write_text("1\n")
    assert why() == f"{yama} is 1: only a process's ancestors may trace it (or sudo)"
    assert why(theirs={"PPid": str(me)}).startswith(kernel)  # its parent may
    yama.unlink()
    assert why(theirs={"Uid": "1000\t1000\t1000\t0"}).startswith(kernel)  # fsuid alone
    assert why(theirs={"Gid": "100\t100\t100\t100"}) == "it runs as another group (gid 100)"
    assert why(theirs={"Uid": "1000\t0\t0\t0"}) == (
        "its uids (real, effective, saved: 1000, 0, 0) are not all 1000, this process's "
        "real uid")
    owners[other] = 0
    assert why().startswith("it is not dumpable (")
    assert why(mine=sys_ptrace).startswith(kernel)


@pytest.mark.gcc
def test_a_refused_trace_names_only_causes_the_machine_shows(tmp_path, monkeypatch):
    """Why ``--pid`` was refused: the message said "ptrace is restricted here" on a
    machine without Yama, for a process of the same user (init, holding capabilities
    the tracer had the right to override). Each cause is named only when /proc shows
    it: Yama's setting, another user, capabilities the tracer lacks without
    CAP_SYS_PTRACE; otherwise the kernel's refusal as such."""
    from roads.explain import trace

    statuses: dict[int, dict[str, str]] = {}
    monkeypatch.setattr(trace, "_status_of", lambda pid: status_lines(statuses[pid]))
    monkeypatch.setattr(trace, "YAMA_SCOPE", tmp_path / "no-yama")
    monkeypatch.setattr(trace, "_status_owner", lambda pid: None)  # dumpable or not: untold
    me, other = os.getpid(), 1
    plain = {"Uid": f"{os.getuid()}\t" * 4, "CapPrm": "0", "CapEff": "0"}
    statuses[me] = dict(plain)
    statuses[other] = dict(plain)
    why = trace._why_not_traced(other)
    assert "restricted" not in why and why.startswith("the kernel refused it"), why
    statuses[other] = {**plain, "CapPrm": "1fffeffffff"}
    assert trace._why_not_traced(other) == ("it holds privileges (capabilities) that this "
                                            "process lacks")
    statuses[me] = {**plain, "CapEff": f"{1 << trace.CAP_SYS_PTRACE:x}",
                    "CapPrm": f"{1 << trace.CAP_SYS_PTRACE:x}"}
    assert trace._why_not_traced(other).startswith("the kernel refused it")
    statuses[me] = dict(plain)
    statuses[other] = {**plain, "Uid": "65534\t65534\t65534\t65534"}
    assert trace._why_not_traced(other) == "it runs as another user (uid 65534)"
    (tmp_path / "yama").write_text("1\n")
    monkeypatch.setattr(trace, "YAMA_SCOPE", tmp_path / "yama")
    statuses[other] = dict(plain)
    assert trace._why_not_traced(other) == (f"{tmp_path / 'yama'} is 1: only a process's "
                                            "ancestors may trace it (or sudo)")
