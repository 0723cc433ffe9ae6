"""Renderings kept until one of the files they read changes.

A page's rendering (its macros run, or its Markdown made HTML) is a function of its
text, the code and settings that render it, and the files it reads on the way: the
captures its figures draw, the sample files it shows, the claims it states. The
first three go into the key (``RenderCache.key``); the files are recorded with the
entry as they were read (``Dependency``: path, size, mtime, inode, sha256) and
checked when the entry is looked up. A file whose stats are unchanged is taken as
unchanged, as make does; a file whose stats changed is read again and compared by
digest, so that a checkout or a touch does not throw away what it did not change. A
file read too soon after its last modification (``cachedir.racy``) could still change
without its stats moving: it is recorded without its modification time, and compared
by digest when looked up.

One JSON file an entry under the cache folder, read when looked up: an entry holds a
page's HTML with its figures, and a build keeps none of them in memory longer than
the page needs it. Nothing here knows MkDocs: ``macros/`` says what a page's key and
payload are.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from .. import cachedir

FORMAT = 1  # of an entry's file: a new format misses every old entry
# msgspec's JSON: an entry holds a page's HTML and figures, and json's pure-Python
# string escaping was a good part of a warm build's time at a few hundred pages.
_DECODE = msgspec.json.Decoder().decode
_ENCODE = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class Dependency:
    """A file a rendering read, as it was when read; ``sha256`` None: it did not exist."""

    path: str
    size: int
    mtime_ns: int
    inode: int
    sha256: str | None

    def stats(self) -> tuple[int, int, int]:
        return (self.size, self.mtime_ns, self.inode)


class FileStates:
    """Files' digests, taken once per version of their stats in this process."""

    def __init__(self) -> None:
        self._known: dict[str, Dependency] = {}

    def state(self, path: str | os.PathLike[str]) -> Dependency:
        """The file at ``path`` now (digest re-read only when its stats moved)."""
        name = os.path.abspath(path)
        read_at = time.time_ns()  # before the stats: what ``cachedir.racy`` judges by
        try:
            st = os.stat(name)
        except OSError:
            return Dependency(name, -1, -1, -1, None)
        known = self._known.get(name)
        if known is not None and known.stats() == (st.st_size, st.st_mtime_ns, st.st_ino):
            return known
        try:
            with open(name, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
        except OSError:
            return Dependency(name, -1, -1, -1, None)
        state = Dependency(name, st.st_size, st.st_mtime_ns, st.st_ino, digest)
        if cachedir.racy(st.st_mtime_ns, read_at):  # its stats vouch for nothing yet: compared by digest
            return Dependency(name, st.st_size, -1, st.st_ino, digest)
        # Kept only when the stats did not move while the file was read.
        try:
            again = os.stat(name)
        except OSError:
            return state
        if (again.st_size, again.st_mtime_ns, again.st_ino) == state.stats():
            self._known[name] = state
        return state

    def learn(self, path: str | os.PathLike[str], stats: tuple[int, int, int], sha256: str) -> None:
        """Take ``sha256`` as the digest of the file at ``path`` while it keeps ``stats``
        (size, mtime_ns, inode): a digest its reader took of the very bytes it read,
        under stats that vouch for them (not ``racy``). Not read again to be hashed."""
        size, mtime_ns, inode = stats
        name = os.path.abspath(path)
        self._known[name] = Dependency(name, size, mtime_ns, inode, sha256)

    def unchanged(self, recorded: Dependency) -> bool:
        """Whether the file still holds what it held when ``recorded``."""
        try:
            st = os.stat(recorded.path)
        except OSError:
            return recorded.sha256 is None
        if recorded.sha256 is None:
            return False
        if (st.st_size, st.st_mtime_ns, st.st_ino) == recorded.stats():
            return True
        return self.state(recorded.path).sha256 == recorded.sha256


def _plain(value: object) -> object:
    if isinstance(value, os.PathLike):
        # Absolute: MkDocs' ``!relative`` paths read "" or the folder itself, depending
        # on whether the configuration was named with -f.
        return os.path.abspath(os.fspath(value))
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return str(value)


def digest(parts: object) -> str:
    """sha256 of ``parts`` as canonical JSON (what a key is made of; paths as paths,
    anything else JSON does not know by its ``str``)."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()


class RenderCache:
    """Payloads (JSON-able mappings) by key, each valid while its dependencies are."""

    def __init__(self, directory: Path, files: FileStates | None = None) -> None:
        self.directory = Path(directory)
        self.files = files if files is not None else FileStates()

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The payload kept under ``key`` if every file it read is unchanged, else None."""
        path = self._path(key)
        try:
            data = _DECODE(path.read_bytes())
            if data.get("format") != FORMAT or data.get("key") != key:
                return None
            depends = [Dependency(*d) for d in data["depends"]]
            payload = data["payload"]
        except (OSError, ValueError, TypeError, KeyError, AttributeError, msgspec.DecodeError):
            return None  # absent, or unreadable: rendered again and rewritten
        if not all(self.files.unchanged(d) for d in depends):
            return None
        cachedir.used(path)
        return payload

    def prune(self, **limits) -> int | None:
        """Remove the entries unused for a month (``roads.cachedir.prune``)."""
        return cachedir.prune(self.directory, (".json",), **limits)

    def put(self, key: str, payload: dict, depends: Iterable[Dependency]) -> None:
        """Keep ``payload`` under ``key``, valid while the files ``depends`` are unchanged."""
        deps = tuple(sorted(set(depends), key=lambda d: d.path))
        path = self._path(key)
        text = _ENCODE({"format": FORMAT, "key": key,
                        "depends": [[d.path, d.size, d.mtime_ns, d.inode, d.sha256] for d in deps],
                        "payload": payload}).decode("utf-8")
        cachedir.keep_text(path, text)


class Recorder:
    """The files one rendering reads, as they were when first read."""

    def __init__(self, files: FileStates) -> None:
        self.files = files
        self.read: dict[str, Dependency] = {}

    def add(self, *paths: str | os.PathLike[str]) -> None:
        for path in paths:
            if path.__class__ is str and path in self.read:
                continue  # an absolute name recorded already: no path work
            name = os.path.abspath(path)
            if name not in self.read:
                self.read[name] = self.files.state(name)
