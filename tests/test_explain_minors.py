"""roads explain's tracer, after a review: smaller faults, each shown by a run that went
wrong before its fix. A signal due while a breakpoint is stepped over counted the call
twice (or was swallowed, a SIGTRAP). A child that ended with no stop seen left its
bookkeeping to the next process given its pid. A second output pipe that could not be
made left the first one open. PATH set but empty found nothing where a shell finds
./NAME. The end of a run looked for what was left of it every 2 ms. A refused --pid
named Yama where CAP_SYS_PTRACE overrides it, and compared ids the kernel does not.
The timers signalled by pid and group number, reaching a process given the pid since.
Breakpoints less than 8 bytes apart took each other out (ptrace writes 8 bytes)."""

from __future__ import annotations

import os

from roads.explain import trace
from tests.conftest import status_lines


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
