"""Rendered figures kept by the digest of everything that made them.

A figure is a pure function of its capture, its arguments and the code that draws
it; the cache key is a digest of all three, so a hit can never be stale. Two layers:
a dictionary for a long-running process (``mkdocs serve``), and one file a figure
under the cache folder for the next process (a plain rebuild).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path

from .. import cachedir


def code_digest(files: Iterable[Path]) -> str:
    """Digest of source files, in the order given (the drawing code's version)."""
    h = hashlib.sha256()
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


class FigureCache:
    """Figures by key, in memory and in ``directory``."""

    def __init__(self, directory: Path, code: str) -> None:
        self.directory = directory
        self.code = code
        self.memory: dict[str, str] = {}
        self.made = 0  # figures made by this process (misses), for its callers to count

    def key(self, parts: object) -> str:
        """The digest naming a figure made from ``parts`` (JSON-able) by this code."""
        return hashlib.sha256(json.dumps([self.code, parts], sort_keys=True,
                                         default=repr).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.html"

    def has(self, key: str) -> bool:
        """Whether the figure named ``key`` is kept (in memory or on disk)."""
        return key in self.memory or self._path(key).exists()

    def prune(self, **limits) -> int | None:
        """Remove the figures unused for a month (``roads.cachedir.prune``)."""
        return cachedir.prune(self.directory, (".html",), **limits)

    def get(self, parts: object, make: Callable[[], str]) -> str:
        """The figure for ``parts``, made (and kept) by ``make`` if not there yet."""
        return self.get_key(self.key(parts), make)

    def get_key(self, key: str, make: Callable[[], str]) -> str:
        """The figure named ``key`` (``key(parts)``), made by ``make`` if not there yet."""
        found = self.memory.get(key)
        if found is not None:
            return found
        path = self._path(key)
        found = _read(path)
        if found is not None:
            cachedir.used(path)
        else:
            # Several processes may render pages at once (macros.ahead): the first to
            # want a figure draws it, and the others wait for it and read it.
            with cachedir.locked(path):
                found = _read(path)
                if found is None:
                    found = make()
                    self.made += 1
                    cachedir.keep_text(path, found)
        self.memory[key] = found
        return found


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
