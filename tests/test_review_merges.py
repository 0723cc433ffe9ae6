"""Where two of the changes since 5d54abf met: a signal that cuts a step over a
breakpoint short (``Tracer._step_over``) is told apart as ``Tracer._stopped`` tells a
stop signal apart, and roads run puts a SIGKILL down to a processor-time limit the
process lowered only when it did lower it."""

from __future__ import annotations

import os
import signal
import subprocess

from roads.capture.runner import ProcessRecord, cpu_limit_end, end_cause


# --------------------------------------------------------------------------- roads run

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
