"""The committed captures in ``snapshots/``, each read once per version of its file.

``recorded`` gives what a capture recorded of its inputs (what its freshness is judged
by), ``read`` a capture as loaded JSON (what the capture half compares and writes),
``digest`` the sha256 of the very bytes it came from (what keys a drawn figure), and
``document`` the typed capture (``roads.document.Capture``) that the figures read. A
file is read and checked (``roads.capture.marks``) when its stats change, and only its
schema and recorded inputs are decoded then: the whole document is parsed as JSON the
first time ``read`` asks for it (a build never does), and the typed document decoded
from the same bytes the first time it is asked for, so a build whose figures all come
from their cache decodes nothing more (a file checked as it is read, with no mark yet,
keeps the typed document its check made). A file read too soon
after it was modified for its stats to vouch for its bytes (``cachedir.racy``) is
compared by digest at each read until they can.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from .. import cachedir, document
from ..errors import NESTED, CaptureError
from . import freeze
from .marks import ValidMarks


class _Head(msgspec.Struct):
    """The keys of a capture the capture half checks first (``freeze.parse``) and judges
    its freshness by, decoded without the rest: the keys it only requires are kept as
    raw bytes. UNSET where the document lacks one."""

    schema: Any = msgspec.UNSET
    sample: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    inputs: Any = msgspec.UNSET
    provenance: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    variants: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    headers: Any = msgspec.UNSET
    digest: Any = msgspec.UNSET


@dataclass(frozen=True)
class Recorded:
    """What one version of a capture recorded of what it was made from: ``inputs``,
    ``headers`` (the project headers it included; [] when none was recorded) and
    ``digest`` (None when none was), as loaded JSON holds them."""

    inputs: Any
    headers: Any
    digest: Any

    @classmethod
    def of(cls, doc: dict) -> Recorded:
        return cls(doc["inputs"], doc.get("headers", []), doc.get("digest"))


def _recorded(data: bytes, text: str, path: Path) -> tuple[Recorded, dict | None]:
    """What the capture ``data`` (``text`` decoded) read from ``path`` recorded, and its
    whole document when it had to be parsed for that (else None). Only the head is
    decoded when it is well formed; otherwise ``freeze.parse`` reads it all, and raises
    in its words (or takes JSON the head's decoder does not, such as NaN, which the
    marks' check then names)."""
    try:
        head = msgspec.json.decode(data, type=_Head)
    except (msgspec.MsgspecError, RecursionError):  # freeze.parse says which
        head = None
    if (head is None or head.schema != freeze.SCHEMA
            or msgspec.UNSET in (head.sample, head.inputs, head.provenance, head.variants)):
        doc = freeze.parse(text, path)
        return Recorded.of(doc), doc
    return Recorded(head.inputs, [] if head.headers is msgspec.UNSET else head.headers,
                    None if head.digest is msgspec.UNSET else head.digest), None


@dataclass
class _Version:
    """One version of a capture file: its stats, what it recorded, its digest, and what
    it says once parsed."""

    stat: tuple[int, int, int]  # mtime_ns, size, inode
    data: bytes = field(repr=False)
    recorded: Recorded = field(repr=False)
    sha: str
    doc: dict | None = field(default=None, repr=False)  # parsed when ``read`` asks
    typed: document.Capture | None = field(default=None, repr=False)
    # Read while the file was too recently modified for its stats to vouch for its
    # bytes (``cachedir.racy``), or while its stats moved: its bytes are compared again
    # until they can.
    racy: bool = False


class Store:
    """The captures of ``directory``, checked against ``marks``."""

    def __init__(self, directory: Path, marks: ValidMarks) -> None:
        self.directory = directory
        self.marks = marks
        self._versions: dict[str, _Version] = {}

    def path(self, name: str) -> Path:
        """Where the frozen capture of ``name`` lives."""
        return self.directory / f"{name}{freeze.SUFFIX}"

    def _version(self, name: str) -> _Version:
        path = self.path(name)
        read_at = time.time_ns()  # before the stats: what ``cachedir.racy`` judges by
        try:
            st = path.stat()
        except FileNotFoundError:
            raise CaptureError(f"{path}: no capture; run: roads capture {name}",
                               sample=name) from None
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        known = self._versions.get(name)
        if known is not None and known.stat == key and not known.racy:
            return known
        # One read: the digest must be of the very bytes the document came from. The
        # stats again once they are read, of the file read: a save or a rename between
        # the first stats and the read leaves bytes those stats cannot vouch for.
        try:
            with open(path, "rb") as f:
                data = f.read()
                after = os.fstat(f.fileno())
        except OSError as exc:  # a folder in its place, no permission
            raise CaptureError(f"{path}: cannot read the capture: {exc.strerror}",
                               sample=name) from None
        racy = ((after.st_mtime_ns, after.st_size, after.st_ino) != key
                or cachedir.racy(st.st_mtime_ns, read_at))
        if known is not None and known.stat == key and known.data == data:
            # The same bytes (compared, not hashed: a capture just saved is read again at
            # every look until its stats can vouch for it).
            known.racy = racy
            return known
        sha = hashlib.sha256(data).hexdigest()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CaptureError(f"{path}: corrupt capture: {exc}", sample=name) from None
        try:
            recorded, doc = _recorded(data, text, path)
        except CaptureError as exc:
            exc.sample = name
            raise

        def parsed() -> dict:  # for the words of a check that failed
            return doc if doc is not None else freeze.parse(text, path)

        # A document checked now comes typed from the check: not decoded a second time.
        typed = self.marks.check(path, name, parsed, sha, data)
        version = _Version(key, data, recorded, sha, doc=doc, typed=typed, racy=racy)
        self._versions[name] = version
        return version

    def recorded(self, name: str) -> Recorded:
        """What the committed capture of ``name`` recorded of its inputs; CaptureError
        when it is missing, unreadable, corrupt or not shaped as a capture."""
        return self._version(name).recorded

    def read(self, name: str) -> dict:
        """The committed capture of ``name`` as loaded JSON; CaptureError when it is
        missing, unreadable, corrupt or not shaped as a capture."""
        version = self._version(name)
        if version.doc is None:
            try:
                version.doc = freeze.parse(version.data.decode("utf-8"), self.path(name))
            except CaptureError as exc:
                exc.sample = name
                raise
        return version.doc

    def digest(self, name: str) -> str:
        """sha256 of the capture file of ``name`` as it is now."""
        return self._version(name).sha

    def vouched(self, name: str) -> tuple[tuple[int, int, int], str] | None:
        """The stats (size, mtime_ns, inode) and sha256 of the capture of ``name`` as it
        was last read, when its stats vouch for its bytes; None when it was not read
        yet, was read too soon after a save (``cachedir.racy``) or moved while read."""
        known = self._versions.get(name)
        if known is None or known.racy:
            return None
        mtime_ns, size, ino = known.stat
        return (size, mtime_ns, ino), known.sha

    def document(self, name: str) -> document.Capture:
        """The typed capture of ``name``, decoded once per version of its file."""
        version = self._version(name)
        if version.typed is None:
            try:
                version.typed = document.decode(version.data)
            except msgspec.DecodeError as exc:  # a mark said valid: a changed checker
                raise CaptureError(f"{self.path(name)}: invalid capture: {exc}",
                                   sample=name) from None
            except RecursionError:
                raise CaptureError(f"{self.path(name)}: invalid capture: {NESTED}",
                                   sample=name) from None
        return version.typed
