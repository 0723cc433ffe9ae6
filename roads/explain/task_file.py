"""One thread's file under /proc, read whole for roads explain's own parsers.

``roads.capture.proc.Proc`` reads a sample's files through its own helper; the few files
roads explain alone reads (a thread's syscall and seccomp mode) are read here, outside
that module, whose file is an input of every sample's capture
(``capture.freshness.ENGINE_FILES``).
"""

from __future__ import annotations

import errno

from ..capture.proc import Proc
from ..errors import CaptureError, ProcessGone


def read_task_file(proc: Proc, tid: int, name: str) -> bytes:
    """``name`` of thread ``tid`` (/proc/TID/NAME under ``proc``'s root), in one
    unbuffered read to its end: ProcessGone once the thread is gone, CaptureError naming
    the file otherwise."""
    path = proc.path(tid, name)
    try:
        with open(path, "rb", buffering=0) as f:
            return f.readall()
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessGone(f"thread {tid} is gone: no {path}") from None
    except OSError as exc:
        if exc.errno == errno.ESRCH:
            raise ProcessGone(f"thread {tid} exited while reading {path}") from None
        raise CaptureError(f"cannot read {path}: {exc.strerror or exc}") from None
