"""The file a region maps, named as the figures name it.

maps appends " (deleted)" to the path of a file unlinked since it was mapped, and
/proc/PID/exe to its program's; a file's own name may end so too. A capture records
which (``roads.document.Region.unlinked``, read by ``Region.deleted``), so the figures
name a file by its own path: the words maps added are taken off only where the file
was really unlinked, and a file named so keeps its whole name.

Pure: regions come in (any record with ``pathname`` and ``deleted``: the capture's
``Region``, or ``roads.capture.proc.MapsEntry``, which reads the name alone).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

# What maps and /proc/PID/exe append to an unlinked file's path (fs/d_path.c, d_path).
DELETED = " (deleted)"


class Mapped(Protocol):
    @property
    def pathname(self) -> str: ...
    @property
    def deleted(self) -> bool: ...


def file_path(region: Mapped) -> str:
    """The path of the file ``region`` maps: its pathname, less the " (deleted)" maps
    appended when the file was unlinked."""
    if region.deleted:
        return region.pathname.removesuffix(DELETED)
    return region.pathname


def file_name(region: Mapped) -> str:
    """The last component of ``file_path``: the name a figure labels the file with."""
    return file_path(region).rsplit("/", 1)[-1]


def named_so(region: Mapped) -> bool:
    """Whether the file's own name ends in " (deleted)": it is in place, not unlinked."""
    return region.pathname.endswith(DELETED) and not region.deleted


def described(region: Mapped) -> str:
    """The pathname for a tooltip: with, for a file named as maps names an unlinked one,
    words that say it is not."""
    if named_so(region):
        return f"{region.pathname} (its own name: the file is in place, not unlinked)"
    return region.pathname


def program_path(exe: str, regions: Iterable[Mapped]) -> str:
    """The path of the program a process runs: ``exe`` (/proc/PID/exe as read), less the
    " (deleted)" the kernel appended if the file was unlinked, as the regions mapping it
    record; by the name alone when none of ``regions`` is named ``exe``."""
    mapping = [r for r in regions if r.pathname == exe]
    unlinked = any(r.deleted for r in mapping) if mapping else exe.endswith(DELETED)
    return exe.removesuffix(DELETED) if unlinked else exe
