"""dpkg's answer about a file of the toolchain, remembered between processes.

Which package owns a file is asked of ``dpkg-query -S``, which reads the file list of
every installed package: 0.1 s a call on a warm machine, up to a second on a cold one,
and ``toolchain.package_versions`` makes four or more calls (the libc's path is asked
twice on a merged-/usr system). ``functools.cache`` keeps the answers for one process
only, and every ``roads explain`` is a new one.

dpkg-query stays the authority: nothing here reads dpkg's database. Each answer is kept
in the cache folder (one small file per file asked about, under ``dpkg/``) with the
stats of what would make it wrong, and given again only while all of them are as they
were:

- the file itself (device, inode, size, modification time): another build in its place;
- dpkg's database: ``status`` (rewritten, to a new inode, by every dpkg run), the
  ``updates/`` folder (where a dpkg run that was cut short left what ``status`` does not
  hold yet), ``diversions``, and the owning package's file list (``info/PKG.list``,
  written again when the package is reinstalled or upgraded);
- dpkg-query itself (``command.tool_identity``).

The stats are taken before dpkg-query is asked, so a change made while it runs is seen
by the next look; an answer is not kept while a stat is too recent to vouch for what it
stands for (``cachedir.racy``). An entry that cannot be read, or is not what this module
writes, is asked again; one that cannot be written is not kept. Where ``DPKG_ROOT`` or
``DPKG_ADMINDIR`` send dpkg-query to another database, nothing is kept: it is asked.

This module decides nothing about what a capture records (``toolchain`` does, and the
answers are the ones dpkg-query gives): it is not among the capture engine's files
(``freshness.ENGINE_FILES``), so that changing how the answers are kept does not make
every committed capture stale.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from ..cachedir import keep_bytes, racy
from ..command import tool_identity

ADMINDIR = "/var/lib/dpkg"
# What of dpkg's database a ``dpkg-query -S`` or ``-W`` answer depends on, but for the
# owning package's file list: under ADMINDIR.
DATABASE = ("status", "updates", "diversions")
FOLDER = "dpkg"  # under the cache folder
# The variables that send dpkg-query to another root or database (dpkg-query(1)).
ELSEWHERE = ("DPKG_ROOT", "DPKG_ADMINDIR")

# A file's stats as kept: device, inode, size, modification time (ns); None: no such
# file (a database without diversions, say).
Stamp = tuple[int, int, int, int] | None


class Entry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One answer of dpkg-query about ``path``, with the stats it holds for."""

    path: str  # the file asked about (its links resolved)
    tool: str  # dpkg-query's identity
    file: Stamp
    database: list[Stamp]  # of DATABASE, in that order
    owner: str | None  # the owning package as dpkg-query named it (``libc6:amd64``)
    owner_list: Stamp  # that package's info/OWNER.list
    answer: str | None  # ``package=version``, or None: no package owns the file


def stamp(path: str) -> Stamp:
    """The stats of ``path`` that change when it is replaced or written; None when it
    is not there or cannot be looked at."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def list_file(owner: str) -> str:
    """The file list dpkg keeps of the installed package ``owner`` (as dpkg-query names
    it: ``libc6:amd64`` for a package of a foreign or multi-arch kind, ``gcc-12``)."""
    return os.path.join(ADMINDIR, "info", f"{owner}.list")


def entry_path(cache: Path, path: str) -> Path:
    """Where the answer about ``path`` is kept in ``cache``."""
    return cache / FOLDER / f"{hashlib.sha256(os.fsencode(path)).hexdigest()[:32]}.json"


def read_entry(where: Path) -> Entry | None:
    """The entry kept at ``where``; None when there is none, or it cannot be read, or it
    is not an entry (a half-written or foreign file): asked again then."""
    try:
        data = where.read_bytes()
    except OSError:
        return None
    try:
        return msgspec.json.decode(data, type=Entry)
    except msgspec.MsgspecError:
        return None


def still_holds(entry: Entry, path: str, tool: str, file: Stamp,
                database: list[Stamp]) -> bool:
    """Whether ``entry`` answers for ``path`` as it is now (``file``, ``database``,
    ``tool``: stats taken now)."""
    return (entry.path == path and entry.tool == tool and entry.file == file
            and entry.database == database
            and (entry.owner is None or entry.owner_list == stamp(list_file(entry.owner))))


def remembered(cache: Path, path: str,
               ask: Callable[[str], tuple[str | None, str | None]]) -> str | None:
    """``ask(path)``'s answer (its second item: ``package=version`` or None), kept in
    ``cache`` and given again while nothing it depends on has moved. ``ask`` returns the
    owning package as dpkg-query named it (None: none) and the answer. ``path``: a file
    whose links are resolved."""
    tool = tool_identity("dpkg-query")
    if tool == "missing" or any(os.environ.get(name) for name in ELSEWHERE):
        return ask(path)[1]
    read_at = time.time_ns()  # before the stats: what ``racy`` judges by
    file = stamp(path)
    database = [stamp(os.path.join(ADMINDIR, name)) for name in DATABASE]
    where = entry_path(cache, path)
    known = read_entry(where)
    if known is not None and still_holds(known, path, tool, file, database):
        return known.answer
    owner, answer = ask(path)
    owner_list = None if owner is None else stamp(list_file(owner))
    stamps = [file, owner_list, *database]
    if file is None or any(s is not None and racy(s[3], read_at) for s in stamps):
        return answer
    entry = Entry(path=path, tool=tool, file=file, database=database, owner=owner,
                  owner_list=owner_list, answer=answer)
    # Losing the entry only means asking again: a read-only or full cache folder is no
    # reason to fail a capture.
    with contextlib.suppress(OSError):
        keep_bytes(where, msgspec.json.encode(entry))
    return answer
