"""The processor cores this process may use, which bound what it runs at once."""

from __future__ import annotations

import os


def usable() -> int:
    """The cores this process may run on (``taskset`` and cgroups' cpusets count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
