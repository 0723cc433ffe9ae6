"""Whether a committed capture still matches its inputs, and if not, why.

The inputs are the sample's sources, the headers they include, its manifest entry and
the capture code (``ENGINE_FILES``). gcc's version is recorded too, but a different gcc
on this machine alone is a note (state ``"toolchain"``), never staleness: committed
captures come from one reference toolchain.

Hashing the inputs is the costly part. A capture found fresh is remembered with the
stats of its file, the manifest and its input files: while none of them moves, it
still is, and nothing is hashed again (``mkdocs serve`` asks on every rebuild). With a
``memo`` folder (the project's cache) the same is kept on disk for a later process,
together with the manifest entry, the engine's digest and gcc's identity, so that a
new process does not read the capture at all while nothing moved. As in git's index,
a file whose modification time is too close to the moment the memo is written (a
later edit could keep the same time and size) is not trusted: no memo is written
then, and the next process hashes again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import types
from dataclasses import asdict, dataclass
from pathlib import Path

# A file modified less than RACY_NS before a memo is written may be modified again with
# the same modification time (a coarse file clock): no memo is written while one is
# (``racy``; see the module's docstring).
from ..cachedir import keep_text, racy
from ..command import tool_identity
from ..errors import CaptureError, RoadsError
from . import freeze
from .build import file_digest
from .samples import MANIFEST, Sample
from .sampleset import SampleSet
from .store import Recorded, Store

# Freshness states under which auto mode keeps a capture as it is.
KEPT = ("fresh", "toolchain")
# The engine files whose behaviour shapes a capture; editing one makes captures stale.
# Paths under roads/. Every module the capture code imports is here or is named, with
# why it shapes no capture, in tests/test_engine_digest.py.
ENGINE_FILES = ("capture/launcher.c", "capture/runner.py", "capture/snapshot.py",
                "capture/build.py", "capture/proc.py", "capture/elf.py", "capture/freeze.py",
                "capture/samples.py", "capture/toolchain.py", "capture/dpkgcache.py",
                "command.py", "document.py", "elfspec.py", "escapes.py")
# The constants (roads/constants.py) that the capture code reads: their values are part
# of the engine's digest, the file itself is not (it holds the pages' constants too, and
# adding one of those must not make every capture stale).
CAPTURE_CONSTANTS = ("ADDR_NO_RANDOMIZE", "BTRFS_SUPER_MAGIC", "CONTROL_FD",
                     "EXT4_SUPER_MAGIC", "PAGE_SIZE", "PF_EXITING", "PF_RANDOMIZE",
                     "USER_BITS", "XFS_SUPER_MAGIC")


def engine_digest() -> str:
    """Digest of the capture code itself (and the schema version); hashed again in this
    process only when the stats of one of its files move."""
    here = Path(__file__).parent.parent
    read_at = time.time_ns()  # before the stats: what ``racy`` judges by
    stats = []
    for name in ENGINE_FILES:
        st = os.stat(here / name)
        stats.append((st.st_mtime_ns, st.st_size, st.st_ino))
    key = tuple(stats)
    if _ENGINE[0] == key:
        return _ENGINE[1]
    h = hashlib.sha256(f"schema {freeze.SCHEMA}".encode())
    for name in ENGINE_FILES:
        h.update(name.encode() + b"\0" + (here / name).read_bytes())
    from .. import constants

    values = [(name, getattr(constants, name)) for name in CAPTURE_CONSTANTS]
    # A constant's value only (not where the pages cite it from); a table as its items.
    h.update(repr([(name, sorted(v.items()) if isinstance(v, types.MappingProxyType)
                    else getattr(v, "value", v)) for name, v in values]).encode())
    digest = h.hexdigest()
    if not any(racy(mtime, read_at) for mtime, _, _ in stats):
        _ENGINE[:] = [key, digest]
    return digest


_ENGINE: list = [None, None]  # the stats of ENGINE_FILES and their digest


@dataclass(frozen=True)
class Freshness:
    """Whether a sample's committed capture matches its inputs, and if not, why."""

    sample: str
    # "fresh"; "stale" (the repository's inputs changed); "toolchain" (only this
    # machine's gcc differs from the one that made it: kept as it is, except in refresh
    # mode); "missing"; or "broken" (its manifest entry cannot be used)
    state: str
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # differences that do not make it stale (e.g. a frozen build)


class Checker:
    """Judges the captures of ``store`` against the inputs of ``samples``.

    ``consult_gcc`` False (a frozen build): gcc is never run, and its version is a note.
    ``memo``: the folder where the stamps of captures found fresh are kept for later
    processes (``NAME.json``; see the module's docstring).
    """

    def __init__(self, samples: SampleSet, store: Store, *, consult_gcc: bool = True,
                 memo: Path | None = None) -> None:
        self.samples = samples
        self.store = store
        self.consult_gcc = consult_gcc
        self.engine = engine_digest()
        self.memo = memo  # the folder of the fresh stamps kept for later processes
        self._gcc: str | None | bool = False  # False: not asked yet
        self._fresh_at: dict[str, tuple] = {}  # the stats under which each was found fresh

    def gcc(self) -> str | None:
        """gcc's version, asked once; None where there is no gcc or when not consulted."""
        if self._gcc is False:
            if self.consult_gcc:
                from .toolchain import gcc_version_or_none

                self._gcc = gcc_version_or_none()
            else:
                self._gcc = None
        return self._gcc  # type: ignore[return-value]

    def inputs(self, sample: Sample, headers: list[str] | tuple[str, ...]) -> dict:
        """Everything a capture of ``sample`` depends on, as recorded in its document."""
        manifest = asdict(sample)
        for key in ("directory", "title"):
            manifest.pop(key)
        files = {}
        for rel in sorted({*sample.sources, *headers, *([sample.gdb] if sample.gdb else [])}):
            files[rel] = file_digest(self.samples.directory / rel)
        # Through JSON, so that tuples compare equal to the lists a loaded capture holds.
        return json.loads(json.dumps({"engine": self.engine, "files": files,
                                      "gcc": self.gcc(), "manifest": manifest}))

    def stamp(self, name: str) -> tuple | None:
        """Stats of a capture's file, its manifest and its input files; None if one is gone."""
        sample = self.samples.sample(name)
        try:
            recorded = self.store.recorded(name)
            paths = [self.store.path(name), self.samples.path]
            paths += [self.samples.directory / rel for rel in recorded.inputs.get("files", {})]
            return tuple((str(p), st.st_mtime_ns, st.st_size, st.st_ino)
                         for p in paths for st in (p.stat(),)) + (sample,)
        except (OSError, CaptureError, KeyError, AttributeError):
            return None

    @staticmethod
    def unmoved(stamp: tuple) -> bool:
        """Whether every file of ``stamp`` (``Checker.stamp``) still has its stats: the
        same check as ``still_fresh``'s, without reading the capture for its file list."""
        try:
            return all((st.st_mtime_ns, st.st_size, st.st_ino) == (mtime, size, ino)
                       for path, mtime, size, ino in stamp[:-1] for st in (os.stat(path),))
        except OSError:
            return False

    def still_fresh(self, name: str) -> bool:
        """Whether ``name`` was found fresh (or kept) under the stats its files have now,
        by this process or, with a ``memo`` folder, by an earlier one."""
        if name in self._fresh_at:
            return self.stamp(name) == self._fresh_at[name]
        return self._memo_holds(name)

    def freshness(self, name: str, recorded: Recorded | None = None) -> Freshness:
        """Compare the committed capture's recorded inputs (``recorded``, when the
        caller has them: ``Store.recorded``) with the current ones."""
        # Stats first: a file saved while its digest is taken must not be remembered
        # as fresh under its new stats.
        read_at = time.time_ns()  # before the stats: what ``racy`` judges by
        stamp = self.stamp(name)
        if recorded is not None and recorded is not self._current(name):
            recorded = None  # read before a save that ``stamp`` saw: judged as it is now
        fresh = self._judge(name, recorded)
        if (fresh.state in KEPT and stamp is not None and stamp == self.stamp(name)
                and self.vouched(stamp, read_at)):
            self._fresh_at[name] = stamp
            self._memo_keep(name, stamp, read_at)
        return fresh

    def _current(self, name: str) -> Recorded | None:
        """What the capture of ``name`` recorded, as the store holds it now (None: not
        readable)."""
        try:
            return self.store.recorded(name)
        except CaptureError:
            return None

    @staticmethod
    def vouched(stamp: tuple, read_at: int) -> bool:
        """Whether the stats of every file of ``stamp`` (``Checker.stamp``), taken from
        ``read_at`` on, vouch for its bytes: none modified too recently (``racy``). A file
        saved again within one tick of the file clock keeps its stats; until it is older
        than that, what was found of it is not remembered by its stats."""
        return not any(racy(mtime, read_at) for _, mtime, _, _ in stamp[:-1])

    # -- the stamps kept on disk for later processes ----------------------------------

    def _memo_key(self) -> dict:
        """What a kept stamp holds besides the files' stats: the code that judged and
        the compiler it asked (its identity; None where gcc is not consulted)."""
        return {"engine": self.engine,
                "gcc": tool_identity("gcc") if self.consult_gcc else None}

    def _memo_path(self, name: str) -> Path:
        assert self.memo is not None
        return self.memo / f"{name}.json"

    def _memo_keep(self, name: str, stamp: tuple, read_at: int | None = None) -> None:
        if self.memo is None:
            return
        *files, sample = stamp
        if not self.vouched(stamp, time.time_ns() if read_at is None else read_at):
            return  # too recent to vouch for (``racy``)
        text = json.dumps({**self._memo_key(), "sample": repr(sample), "files": files})
        path = self._memo_path(name)
        try:
            if path.read_text(encoding="utf-8") == text:
                return
        except (OSError, UnicodeDecodeError):
            pass
        with contextlib.suppress(OSError):  # a cache: a lost file only means hashing again
            keep_text(path, text)

    def _memo_holds(self, name: str) -> bool:
        """Whether a stamp kept on disk says ``name`` is fresh: every file it names has
        the same stats now, and the manifest entry, the engine and gcc are the same."""
        if self.memo is None:
            return False
        try:
            kept = json.loads(self._memo_path(name).read_text(encoding="utf-8"))
            sample = self.samples.sample(name)
            if kept["sample"] != repr(sample) or any(
                    kept[key] != value for key, value in self._memo_key().items()):
                return False
            stamp = tuple(tuple(entry) for entry in kept["files"]) + (sample,)
            if not self.unmoved(stamp):
                return False
        except (OSError, ValueError, KeyError, TypeError, RoadsError):
            return False
        # The same stats as ``stamp`` gives: kept for the checks of this process.
        self._fresh_at[name] = stamp
        return True

    def _judge(self, name: str, recorded: Recorded | None) -> Freshness:
        sample = self.samples.sample(name)
        if recorded is None:
            try:
                recorded = self.store.recorded(name)
            except CaptureError as exc:
                if not self.store.path(name).exists():
                    return Freshness(name, "missing", (str(exc),))
                return Freshness(name, "stale", (exc.message,))
        old = recorded.inputs
        new = self.inputs(sample, recorded.headers)
        reasons, notes = [], []
        for rel in sorted(set(old.get("files", {})) | set(new["files"])):
            if old.get("files", {}).get(rel) != new["files"].get(rel):
                reasons.append(f"{self.samples.directory.name}/{rel} changed")
        if old.get("manifest") != new["manifest"]:
            keys = sorted(k for k in new["manifest"]
                          if old.get("manifest", {}).get(k) != new["manifest"][k])
            reasons.append(f"{MANIFEST} entry changed ({', '.join(keys) or 'keys'})")
        if old.get("engine") != new["engine"]:
            reasons.append("the capture engine changed")
        if new["gcc"] is None:
            why = ("not compared: no gcc on PATH here" if self.consult_gcc
                   else "gcc not consulted here (a frozen build runs nothing)")
            notes.append(f"captured with {old.get('gcc')}; {why}")
        elif old.get("gcc") != new["gcc"]:
            toolchain = f"gcc differs: captured with {old.get('gcc')}, this machine has {new['gcc']}"
            if not reasons:
                return Freshness(name, "toolchain", (toolchain,), tuple(notes))
            reasons.append(toolchain)
        return Freshness(name, "stale" if reasons else "fresh", tuple(reasons), tuple(notes))

    def check(self) -> list[Freshness]:
        """Freshness of every sample's committed capture, without running anything; a
        broken manifest entry is state ``"broken"`` with its error."""
        manifest = self.samples.manifest
        return [Freshness(name, "broken", (manifest.broken[name].message,))
                if name in manifest.broken else self.freshness(name)
                for name in manifest.names]
