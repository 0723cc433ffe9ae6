"""Whether a committed capture still matches its inputs, and if not, why.

The inputs are the sample's sources, the headers they include, its manifest entry and
the capture code (``ENGINE_FILES``). gcc's version is recorded too, but a different gcc
on this machine alone is a note (state ``"toolchain"``), never staleness: committed
captures come from one reference toolchain.

Hashing the inputs is the costly part. A capture found fresh is remembered with the
stats of its file, the manifest and its input files: while none of them moves, it
still is, and nothing is hashed again (``mkdocs serve`` asks on every rebuild).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import CaptureError
from . import freeze
from .build import file_digest
from .samples import MANIFEST, Sample
from .sampleset import SampleSet
from .store import Store

# Freshness states under which auto mode keeps a capture as it is.
KEPT = ("fresh", "toolchain")
# The engine files whose behaviour shapes a capture; editing one makes captures stale.
# Paths under roads/.
ENGINE_FILES = ("capture/launcher.c", "capture/runner.py", "capture/snapshot.py",
                "capture/build.py", "capture/proc.py", "capture/elf.py", "capture/freeze.py",
                "capture/samples.py", "capture/toolchain.py", "command.py", "document.py",
                "elfspec.py")


def engine_digest() -> str:
    """Digest of the capture code itself (and the schema version)."""
    h = hashlib.sha256(f"schema {freeze.SCHEMA}".encode())
    here = Path(__file__).parent.parent
    for name in ENGINE_FILES:
        h.update(name.encode() + b"\0" + (here / name).read_bytes())
    return h.hexdigest()


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
    """

    def __init__(self, samples: SampleSet, store: Store, *, consult_gcc: bool = True) -> None:
        self.samples = samples
        self.store = store
        self.consult_gcc = consult_gcc
        self.engine = engine_digest()
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
            doc = self.store.read(name)
            paths = [self.store.path(name), self.samples.path]
            paths += [self.samples.directory / rel for rel in doc["inputs"].get("files", {})]
            return tuple((str(p), st.st_mtime_ns, st.st_size, st.st_ino)
                         for p in paths for st in (p.stat(),)) + (sample,)
        except (OSError, CaptureError, KeyError, AttributeError):
            return None

    def still_fresh(self, name: str) -> bool:
        """Whether ``name`` was found fresh (or kept) under the stats its files have now."""
        return name in self._fresh_at and self.stamp(name) == self._fresh_at[name]

    def freshness(self, name: str, doc: dict | None = None) -> Freshness:
        """Compare the committed capture's recorded inputs with the current ones."""
        # Stats first: a file saved while its digest is taken must not be remembered
        # as fresh under its new stats.
        stamp = self.stamp(name)
        fresh = self._judge(name, doc)
        if fresh.state in KEPT and stamp is not None and stamp == self.stamp(name):
            self._fresh_at[name] = stamp
        return fresh

    def _judge(self, name: str, doc: dict | None) -> Freshness:
        sample = self.samples.sample(name)
        if doc is None:
            try:
                doc = self.store.read(name)
            except CaptureError as exc:
                if not self.store.path(name).exists():
                    return Freshness(name, "missing", (str(exc),))
                return Freshness(name, "stale", (exc.message,))
        old = doc["inputs"]
        new = self.inputs(sample, doc.get("headers", []))
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
            notes.append(f"captured with {old.get('gcc')}; gcc not consulted here")
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
