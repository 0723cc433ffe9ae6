"""A stamp of everything the freshness of the captures depends on, by stats alone.

Whether a capture is fresh depends on its file, the manifest, the sample's files, the
capture code and gcc (``freshness.py``). Checking that means reading every capture and
hashing every input: tens of milliseconds a build, and the capture engine imported.
This stamp covers a superset of those inputs (every file under the samples and
snapshots folders, every module of the engine, gcc's identity) by path and stats
only, so that a build can skip the check when nothing moved since the last check
found every capture fresh (``FreshMark``). Any change at all, an unrelated file or
a touch, only means checking again. A file modified too recently for its stats to
vouch for its bytes (``cachedir.racy``) is stamped with its digest as well.

Imports nothing of the engine: a build that skips the check loads none of it.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from ..cachedir import racy
from ..command import tool_identity

ROADS = Path(__file__).resolve().parent.parent


def _walk(folder: Path, read_at: int) -> list[str]:
    found = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(top, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            found.append(_line(path, st, read_at) + f"\0{st.st_ino}")
    return found


def _line(path: str, st: os.stat_result, read_at: int) -> str:
    line = f"{path}\0{st.st_size}\0{st.st_mtime_ns}"
    if racy(st.st_mtime_ns, read_at):
        try:
            with open(path, "rb") as f:
                line += "\0" + hashlib.file_digest(f, "sha256").hexdigest()
        except OSError:
            line += "\0unreadable"
    return line


def tree_stamp(samples: Path, snapshots: Path, mode: str) -> str:
    """The stamp of the samples, the snapshots, the engine's code and gcc, for ``mode``."""
    read_at = time.time_ns()  # before every stat: what ``racy`` judges by
    lines = [mode, tool_identity("gcc"), str(samples), str(snapshots)]
    lines += _walk(samples, read_at) + _walk(snapshots, read_at) + _walk(ROADS / "capture", read_at)
    for path in sorted(ROADS.glob("*.py")):
        lines.append(_line(str(path), path.stat(), read_at))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


class FreshMark:
    """The stamp under which every capture was last found fresh, kept in the cache."""

    def __init__(self, cache_dir: Path) -> None:
        self.path = Path(cache_dir) / "fresh-stamp"

    def holds(self, stamp: str) -> bool:
        try:
            return self.path.read_text(encoding="ascii").strip() == stamp
        except OSError:
            return False

    def set(self, stamp: str) -> None:
        from .freeze import write_atomic  # only once a check found every capture fresh

        try:
            write_atomic(self.path, stamp + "\n")
        except OSError:
            pass  # a read-only cache: checked again next time

    def clear(self) -> None:
        try:
            self.path.unlink()
        except OSError:
            pass
