"""roads explain: what a run leaves behind. A daemon's orphan, whose parent the tracer
did not follow, is ended with the run, in the sandbox and out of it (it hung the
sandboxed run until the launcher's limit, and outside the sandbox it ran on under
init); and a program's output beyond what is kept is read and dropped, not stored
(300 MiB filled the sandbox's /tmp and made the program fail). And a process that
may not be traced is refused with the causes this machine shows, no other."""

from __future__ import annotations

import os

import pytest

from tests.test_explain import explain_apart, root  # noqa: F401 - root is a fixture
from tests.conftest import status_lines

pytestmark = [pytest.mark.gcc]


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
