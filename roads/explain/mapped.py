"""Which file each path the stops map was, so that a file read after the stops (its ELF
file drawn on the page, its load span measured) is the one the process mapped.

The page reads a library's ELF file by its path once the run is over. By then another
file may lie at that path: the program (run with ``--no-sandbox``, or read with
``--pid``) or anyone who may write its folder renamed one over it. In the sandbox the
program writes only its own folder, which is not there for the page to read; other
writers are not in the sandbox. So at each stop, while the process is held, the file
at each path is identified (``mapped_files``) and checked against the inode that
/proc/PID/maps gives the region; a read later opens the path and goes on only if the
file opened is that one, unchanged (``opened``).

The inode is compared with maps' where maps names the device stat(2) gives: on
overlayfs, maps may give the device and inode of the layer the file lies in, which
stat through the overlay does not (a rename cannot move a file across file systems, so
a file renamed over the path has the same device). Between the stop and the read the
whole identity is compared: device, inode, size, modification and change times (the
change time no one can set back: a file rewritten in place is told too).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ExplainError, RoadsError

if TYPE_CHECKING:  # a saved session's record (record.py) loads none of the capture code
    from ..capture.proc import Proc


@dataclass(frozen=True)
class MappedFile:
    """The file at a path a stop maps, as stat(2) gave it at the stop."""

    st_dev: int
    st_ino: int
    st_size: int
    st_mtime_ns: int
    st_ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> "MappedFile":
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


# What a session keeps of each path its stops map: the file there at the stops, or
# None where that is not known to be the file mapped (replaced before the stop, gone,
# or two files mapped from the same path).
Files = Mapping[str, "MappedFile | None"]


def mapped_files(pid: int, proc: Proc, regions: list[dict]) -> dict[str, MappedFile | None]:
    """The file at each path that ``regions`` (a checkpoint's, just read) map, identified
    now, while process ``pid`` is held at the stop: None for one whose inode is not the
    one /proc/PID/maps gives its region (the path names another file now, or none)."""
    try:
        mapped = {entry.start: (entry.dev, entry.inode) for entry in proc.maps(pid)}
    except RoadsError:
        mapped = {}
    files: dict[str, MappedFile | None] = {}
    for region in regions:
        path = region["pathname"]
        if not path.startswith("/") or path.endswith(" (deleted)"):
            continue
        try:
            st = os.stat(path)
        except OSError:
            seen = None
        else:
            seen = MappedFile.of(st) if stat.S_ISREG(st.st_mode) and _same(
                mapped, region["start"], st) else None
        merge(files, {path: seen})
    return files


def _same(mapped: dict[int, tuple[str, int]], start: int, st: os.stat_result) -> bool:
    """Whether the file ``st`` is the one maps (``mapped``: device and inode by start)
    gives the region at ``start``, as far as maps can tell: not where maps could not
    be read (a main thread gone: the checkpoint was read through another), nor where
    it gives another device (overlayfs)."""
    if not mapped:
        return True
    if start not in mapped:
        return False  # unmapped since the checkpoint was read (another thread)
    dev, inode = mapped[start]
    return inode == st.st_ino or dev != f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}"


def merge(files: dict[str, MappedFile | None], more: Files) -> None:
    """Add ``more`` to ``files``: a path that named two files (one replaced between two
    stops and mapped again, say) is known as neither."""
    for path, seen in more.items():
        files[path] = seen if files.get(path, seen) == seen else None


@contextmanager
def opened(path: str, files: Files) -> Iterator[int]:
    """A descriptor of the file at ``path``, open for reading, when it is the file the
    stops mapped there (``files``), unchanged; ExplainError saying why not otherwise,
    OSError when it cannot be opened. A path ``files`` has no word of (a session saved
    before they were kept) is opened unchecked, if it is a regular file.

    The path is the traced program's choice (a name in its maps): what lies there is
    looked at before it is opened to be read (``O_PATH``, not following a link but
    /proc's own), so that a device or a FIFO planted there is never opened (as root,
    opening /dev/watchdog starts its timer)."""
    if path in files and files[path] is None:
        raise ExplainError(
            f"{path}: the file at this path is not known to be the one the process "
            "mapped (another lay there at a stop, or it changed between stops), so it is "
            "not read")
    follow = 0 if path.startswith("/proc/") else os.O_NOFOLLOW  # /proc/PID/exe: the kernel's
    handle = os.open(path, os.O_PATH | os.O_CLOEXEC | follow)
    try:
        st = os.fstat(handle)
        if not stat.S_ISREG(st.st_mode):
            raise ExplainError(f"{path}: no regular file lies at this path now (a link, a "
                               "device or a FIFO), so it is not read")
        if path in files and MappedFile.of(st) != files[path]:
            raise ExplainError(
                f"{path}: the file at this path was replaced or rewritten after the "
                "stops (its device, inode, size or times differ from those of the "
                "file the process mapped), so it is not read")
        fd = os.open(f"/proc/self/fd/{handle}", os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    finally:
        os.close(handle)
    try:
        yield fd
    finally:
        os.close(fd)
