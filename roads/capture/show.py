"""The address space of any running process, read from smaps and shown like ``pmap``.

``address_space`` gathers a record; ``format_table`` and ``to_json`` present it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import msgspec

from ..document import Region, to_builtins
from ..errors import ProcessGone, RoadsError, printable
from ..escapes import escape_bytes
from .proc import Proc, SmapsEntry, Status
from ..units import human_size


@dataclass(frozen=True)
class AddressSpace:
    """One process's areas, in address order, as /proc/PID/smaps listed them."""

    pid: int
    name: str  # Name of /proc/PID/status (the kernel's comm, at most 15 characters)
    cmdline: tuple[str, ...]
    exe: str | None  # None for a kernel thread
    regions: tuple[SmapsEntry, ...]
    kernel_thread: bool = False  # no user address space at all; ``regions`` is empty
    # Its main thread had ended (pthread_exit) while others ran on: Linux shows no memory
    # in /proc/PID then, and the areas were read in /proc/PID/task/TID of this thread.
    read_through: int | None = None
    # The id asked for was a thread's, not its process's (Tgid in /proc/TID/status):
    # the space is that process's, the one all its threads share.
    thread: int | None = None
    # Areas (by start) of a file whose own name ends in " (deleted)", still in place,
    # which maps cannot tell from a file unlinked since it was mapped (``Proc.unlinked``).
    named_deleted: frozenset[int] = frozenset()

    @property
    def size(self) -> int:
        """Bytes of virtual address space mapped, all areas together."""
        return sum(region.maps.size for region in self.regions)

    @property
    def rss(self) -> int:
        """Resident bytes, all areas together."""
        return sum(region.rss for region in self.regions)

    @property
    def pss(self) -> int:
        """Proportional set size in bytes, summed as smaps rounds it per area."""
        return sum(region.pss for region in self.regions)


def address_space(pid: int, proc: Proc | None = None) -> AddressSpace:
    """Read the address space of ``pid`` (ProcessGone if there is none, it exits
    meanwhile, or is a zombie); a kernel thread has none, and says so. A process whose
    main thread has ended (pthread_exit) while others run on shows no memory in
    /proc/PID: it is read through one of its other threads (``read_through``). The id
    of a thread other than a process's main one reads that process's, which is the
    thread's too (``thread``)."""
    proc = proc or Proc()
    folder = proc.root / str(pid)
    if not folder.exists():
        # Whether a process had that pid and ended, or none ever had it, the kernel
        # keeps no trace of: "gone" would say the first.
        raise ProcessGone(f"no process {pid}: {folder} does not exist (a process of that "
                          "pid has ended, or there never was one)")
    try:
        group = proc.tgid(pid)
    except RoadsError:  # gone meanwhile, or not readable: the reads below say which
        group = pid
    if group != pid:
        return replace(_address_space(group, proc), thread=pid)
    return _address_space(pid, proc)


def _address_space(pid: int, proc: Proc) -> AddressSpace:
    """``address_space`` of ``pid`` taken as a process (or, read through, a thread whose
    process's main thread has ended)."""
    try:
        regions = proc.smaps(pid)
    except ProcessGone:
        ended = _ended(pid, proc)
        if ended is None:
            raise
        if ended.Threads > 1:
            tid = proc.other_thread(pid)
            if tid is None:  # the others ended meanwhile: the process is ending
                raise ProcessGone(f"process {pid} exited while reading it") from None
            # Every thread shares the process's memory; its name stays the process's.
            space = _address_space(tid, proc.tasks(pid))
            return replace(space, pid=pid, name=ended.Name, read_through=tid)
        raise ProcessGone(f"process {pid} is a zombie: it has exited, and its parent "
                          f"(process {ended.PPid}) has not reaped it (waited for it) yet; "
                          "there is no memory left to show") from None
    try:
        status = proc.status(pid)
        if not regions and status.VmSize is None and not status.State.startswith(("Z", "X")):
            # No memory of its own and not a zombie (man 5 proc: status): a kernel thread.
            return AddressSpace(pid=pid, name=status.Name, cmdline=(), exe=None, regions=(),
                                kernel_thread=True)
        space = AddressSpace(
            pid=pid,
            name=status.Name,
            cmdline=proc.cmdline(pid),
            exe=proc.exe(pid),
            regions=regions,
            named_deleted=frozenset(region.maps.start for region in regions
                                    if region.maps.deleted
                                    and not proc.unlinked(pid, region.maps)),
        )
    except ProcessGone:
        raise _exited_meanwhile(pid) from None
    # smaps of a process whose memory goes while it is read ends early, as if it had
    # listed every area (its reader finds no memory left and stops): a process that is
    # ending or has ended by now may have been listed in part.
    if proc.exited(pid):
        raise _exited_meanwhile(pid)
    return space


def _exited_meanwhile(pid: int) -> ProcessGone:
    return ProcessGone(f"process {pid} exited while its memory was being read: smaps stops "
                       "listing areas once a process's memory is gone, so what was read may "
                       "be only some of them, and none is shown")


def _ended(pid: int, proc: Proc) -> Status | None:
    """The status of ``pid`` if its main thread has ended (state Z); None if it has not
    or the process is gone. ``Threads`` tells a zombie (1) from a process whose main
    thread alone has ended (pthread_exit) while others run on: both show state Z."""
    try:
        status = proc.status(pid)
    except RoadsError:
        return None
    return status if status.State.startswith("Z") else None


_COLUMNS = ("start", "end", "size", "perms", "offset", "Rss", "Pss", "name")
# Columns holding numbers are right-aligned; perms and name are text.
_RIGHT = {"start", "end", "size", "offset", "Rss", "Pss"}


def format_table(space: AddressSpace) -> str:
    """A pmap-like table: one row per area and a total line."""
    if space.kernel_thread:
        return (f"{space.pid}: [{space.name}]\na kernel thread: it runs in the kernel's "
                "address space only and has no user-space areas to show\n")
    rows = [
        (
            f"{r.maps.start:x}",
            f"{r.maps.end:x}",
            human_size(r.maps.size),
            r.maps.perms,
            f"{r.maps.offset:08x}",
            human_size(r.rss),
            human_size(r.pss),
            printable(r.maps.pathname, one_line=True),  # a tab would break the columns
        )
        for r in space.regions
    ]
    areas = len(space.regions)
    total = (
        "",
        "",
        human_size(space.size),
        "",
        "",
        human_size(space.rss),
        human_size(space.pss),
        f"total of {areas} area{'s' if areas != 1 else ''}",
    )
    table = [_COLUMNS, *rows, total]
    widths = [max(len(row[i]) for row in table) for i in range(len(_COLUMNS))]

    def line(row: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(w) if column in _RIGHT else cell.ljust(w)
            for column, cell, w in zip(_COLUMNS, row, widths)
        ]
        return "  ".join(cells).rstrip()

    # On one line: an argument may hold a newline, and a row after it would look like
    # an area of the table (the other controls: errors.printable, on the way out).
    # One line, as every cell: an argument's newline would start what reads as a row.
    # A process that blanked its arguments (cmdline all NULs) is named as ps names it.
    words = " ".join(space.cmdline) if any(space.cmdline) else f"[{space.name}]"
    command = printable(words, one_line=True)
    heading = f"{space.pid}: {command}"
    if space.read_through is not None:
        heading += (f"\n(its main thread has ended; read through thread {space.read_through}, "
                    f"as /proc/{space.pid} shows no memory then)")
    if space.thread is not None:
        heading += (f"\n(--pid {space.thread} is a thread of process {space.pid}, not a "
                    "process: this is the one address space all its threads share)")
    notes = []
    if space.named_deleted:
        # maps writes an unlinked file's path with " (deleted)" after it: a file named
        # so reads the same in the name column, and only this line tells them apart.
        starts = ", ".join(f"{start:x}" for start in sorted(space.named_deleted))
        which = ("a file whose own name ends" if len(space.named_deleted) == 1
                 else "files whose own names end")
        notes.append(f"(at {starts}: {which} in \" (deleted)\", in place, not deleted)")
    return "\n".join([heading, line(_COLUMNS), *(line(row) for row in rows), line(total),
                      *notes]) + "\n"


def to_json(space: AddressSpace) -> dict[str, Any]:
    """The address space as plain JSON data: integers in bytes, smaps lines in kB; each
    region as a capture records it (pathname, kb), with its size, rss and pss."""
    # Names, arguments and paths as /proc gives them, bytes that are not UTF-8 written
    # \xNN (JSON cannot hold them), as in a capture (``document.to_builtins``).
    return {
        "pid": space.pid,
        "name": escape_bytes(space.name),
        "cmdline": [escape_bytes(word) for word in space.cmdline],
        "exe": None if space.exe is None else escape_bytes(space.exe),
        "kernel_thread": space.kernel_thread,
        "read_through": space.read_through,
        "thread": space.thread,
        "size": space.size,
        "rss": space.rss,
        "pss": space.pss,
        "regions": [_region(region, space) for region in space.regions],
    }


def _region(region: SmapsEntry, space: AddressSpace) -> dict[str, Any]:
    """An area as a capture records it (``roads.document.Region``: man 5 proc's names,
    counters in kB) with its size, resident and proportional bytes beside."""
    record = Region.from_smaps(region)
    if region.maps.deleted:
        record = msgspec.structs.replace(
            record, unlinked=region.maps.start not in space.named_deleted)
    return {
        **to_builtins(record),
        "size": region.maps.size,
        "deleted": record.deleted,
        "rss": region.rss,
        "pss": region.pss,
    }
