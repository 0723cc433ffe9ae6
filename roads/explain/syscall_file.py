"""/proc/PID/syscall: what a thread is doing in the kernel (man 5 proc).

Read by roads explain only (``Tracer._execve_elsewhere``), and kept out of
``roads.capture.proc``, whose file is an input of every sample's capture
(``capture.freshness.ENGINE_FILES``): a change there makes them all stale.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..capture.proc import Proc
from ..errors import CaptureError
from .task_file import read_task_file


@dataclass(frozen=True)
class Syscall:
    """One thread's /proc/PID/syscall: the number of the system call it is blocked in
    (``nr``; -1 when it is blocked outside one, None when it is running, which the file
    says as ``running``), the call's six argument registers, and the thread's stack
    pointer and program counter (``sp``, ``pc``). The number is that of the thread's own
    table: i386's for a call made through ``int 0x80``. A thread stopped on its way back
    from a call (by a signal delivered then) still shows that call."""

    nr: int | None
    args: tuple[int, ...] = ()
    sp: int | None = None
    pc: int | None = None


def parse_syscall(text: str | bytes) -> Syscall:
    """Parse /proc/PID/syscall: ``running``; ``-1 SP PC``; or ``NR`` and six arguments,
    SP and PC, all but NR in hexadecimal (``59 0x7ffc... ... 0x7f...``)."""
    line = (text.decode("ascii", "replace") if isinstance(text, bytes) else text).strip()
    if line == "running":
        return Syscall(None)
    fields = line.split()
    try:
        values = [int(fields[0])] + [int(f, 16) for f in fields[1:]]
    except (ValueError, IndexError):
        raise CaptureError(f"malformed syscall line: {line!r}") from None
    if values[0] == -1 and len(values) == 3:
        return Syscall(-1, (), values[1], values[2])
    if values[0] >= 0 and len(values) == 9:
        return Syscall(values[0], tuple(values[1:7]), values[7], values[8])
    raise CaptureError(f"malformed syscall line: {line!r}")


def read_syscall(proc: Proc, pid: int) -> Syscall:
    """/proc/PID/syscall under ``proc``'s root (it needs ptrace access to ``pid``):
    ProcessGone once the thread is gone, CaptureError naming the file otherwise."""
    data = read_task_file(proc, pid, "syscall")
    return parse_syscall(data)
