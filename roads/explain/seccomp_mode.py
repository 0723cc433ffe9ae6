"""The ``Seccomp:`` line of /proc/PID/status: a thread's seccomp mode (man 5 proc).

Read by roads explain only (``Tracer._ends_alone``), and kept out of
``roads.capture.proc``, whose file is an input of every sample's capture
(``capture.freshness.ENGINE_FILES``): a change there makes them all stale.
"""

from __future__ import annotations

from ..capture.proc import Proc
from ..errors import CaptureError
from .task_file import read_task_file

# The modes (linux/seccomp.h): none, strict (read, write, exit, sigreturn alone), a filter.
SECCOMP_MODE_DISABLED, SECCOMP_MODE_STRICT, SECCOMP_MODE_FILTER = 0, 1, 2
# The mode the kernel gives a thread as it kills it for a call its mode forbids, before
# the thread exits (kernel/seccomp.c, not in the uapi header; Linux 5.17 on): a strict
# thread's, and a filter's SECCOMP_RET_KILL_THREAD or SECCOMP_RET_KILL_PROCESS.
SECCOMP_MODE_DEAD = 3


def parse_seccomp_mode(text: str | bytes) -> int | None:
    """The mode a /proc/PID/status says on its ``Seccomp:`` line; None for a status with
    no such line (a kernel built without CONFIG_SECCOMP). CaptureError for one that is
    not a number."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key == "Seccomp":
            try:
                return int(value)
            except ValueError:
                raise CaptureError(f"malformed Seccomp line: {line!r}") from None
    return None


def read_seccomp_mode(proc: Proc, pid: int) -> int | None:
    """The seccomp mode of thread ``pid`` (/proc/PID/status under ``proc``'s root):
    ProcessGone once the thread is gone, CaptureError naming the file otherwise."""
    data = read_task_file(proc, pid, "status")
    try:
        return parse_seccomp_mode(data)
    except CaptureError as exc:
        raise CaptureError(f"{proc.path(pid, 'status')}: {exc.message}") from None
