"""Facts about this machine that can change a capture: compiler, kernel, libc, THP, ASLR.

Read once per process and kept; each reader is a small function so the CLI, the
capture and the staleness check ask the same questions the same way.
"""

from __future__ import annotations

import functools
import os
import platform
import re
from pathlib import Path

from . import command
from .errors import ToolMissing


@functools.cache
def gcc_version() -> str:
    """gcc's identity, e.g. ``gcc (Debian 12.2.0-14+deb12u1) 12.2.0``; ToolMissing without gcc."""
    done = command.run(["gcc", "--version"], timeout=30)
    return done.stdout.splitlines()[0].strip()


def gcc_version_or_none() -> str | None:
    """gcc's identity, or None on a machine without gcc (frozen builds)."""
    try:
        return gcc_version()
    except ToolMissing:
        return None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def thp_mode() -> str | None:
    """The bracketed choice of /sys/kernel/mm/transparent_hugepage/enabled."""
    text = _read("/sys/kernel/mm/transparent_hugepage/enabled")
    match = re.search(r"\[(\w+)\]", text or "")
    return match.group(1) if match else None


def randomize_va_space() -> int | None:
    """/proc/sys/kernel/randomize_va_space: 0 off, 1 partial, 2 full (with brk)."""
    text = _read("/proc/sys/kernel/randomize_va_space")
    return int(text) if text and text.isdigit() else None


def glibc_version() -> str | None:
    """The C library's version as confstr reports it (``2.36``), None if not glibc."""
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return None
    return value.split()[-1] if value.startswith("glibc") else None


def provenance() -> dict[str, object]:
    """Everything recorded with a capture about the machine that made it."""
    uname = os.uname()
    return {
        "arch": platform.machine(),
        "gcc": gcc_version_or_none(),
        "glibc": glibc_version(),
        "kernel": uname.release,
        "os": uname.sysname,
        "page_size": os.sysconf("SC_PAGE_SIZE"),
        "randomize_va_space": randomize_va_space(),
        "thp": thp_mode(),
    }
