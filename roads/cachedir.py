"""Files kept in a cache folder: written whole, made once, and the ones nobody used for a
month thrown away.

The page cache and the figure cache keep one file per entry under their key, and a key
changes whenever anything that made the entry does (a page's text, a capture, the
code): old entries are never looked up again, and without pruning a folder grows with
every edit. An entry's modification time says when it was last used: written when made,
touched when found (at most once a day, so that a warm build writes almost nothing).
``prune`` removes the entries unused for ``UNUSED`` seconds; a build calls it at its end,
at most once every ``EVERY`` seconds (a stamp file in the folder), so pruning costs a
build one ``stat`` on other days. Nothing here knows what an entry holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from pathlib import Path

DAY = 24 * 3600
UNUSED = 30 * DAY  # an entry not used for this long is removed
EVERY = DAY  # a folder is scanned at most this often
STAMP = ".pruned"


def keep_text(path: Path, text: str) -> None:
    """Replace the kept file ``path`` with ``text``, whole or not at all for a reader (a
    cache's file: not synced to disk, since losing it only means making it again). The
    partial file is this thread's own: threads of one process may keep the same entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident():x}.tmp")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def used(path: Path, now: float | None = None) -> None:
    """Mark the entry at ``path`` as used now (when its mark is a day old or more)."""
    now = time.time() if now is None else now
    with contextlib.suppress(OSError):
        if now - os.stat(path).st_mtime >= DAY:
            os.utime(path, (now, now))


def prune(directory: Path, suffixes: tuple[str, ...], *, now: float | None = None,
          unused: float = UNUSED, every: float = EVERY) -> int | None:
    """Remove the entries (files ending in ``suffixes``, and the partial or lock files a
    killed process left) of ``directory`` unused for ``unused`` seconds; how many, or
    None when the folder was scanned less than ``every`` seconds ago."""
    now = time.time() if now is None else now
    stamp = directory / STAMP
    try:
        if now - os.stat(stamp).st_mtime < every:
            return None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    removed = 0
    for folder, _, names in os.walk(directory):
        for name in names:
            # Entries, and the hidden partial and lock files of their writers.
            if name == STAMP or not (name.endswith(suffixes) or name.startswith(".")):
                continue
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                if now - os.stat(path).st_mtime >= unused:
                    os.unlink(path)
                    removed += 1
    with contextlib.suppress(OSError):
        directory.mkdir(parents=True, exist_ok=True)
        stamp.touch()
        os.utime(stamp, (now, now))
    return removed


LOCK_WAIT = 300.0  # seconds to wait for another process making the same entry


@contextlib.contextmanager
def locked(path: Path):
    """Hold the lock of the entry at ``path`` while it is made, so that two processes
    rendering pages at once (``macros.ahead``) do not both make it: the second waits,
    then finds it. ``flock`` on a hidden file beside it, released by the kernel if the
    process dies; past ``LOCK_WAIT``, the entry is made without the lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(f".{path.name}.lock")
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        pause = 0.002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()  # a process waiting on it finds the entry once it has the lock
        os.close(fd)
