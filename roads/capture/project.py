"""A project: its samples, their frozen captures, and when each must be made again.

This is what the command line and the site generator both use. Modes:

``auto``     re-capture a sample when one of its inputs changed (the default);
``refresh``  re-capture every sample asked for;
``frozen``   never compile or execute: serve the committed captures, warn about
             stale ones, fail on missing ones (for machines without Linux or gcc).

The inputs are the sample's sources, the headers they include, its manifest entry and
the capture code. gcc's version is recorded too, but a different gcc on this machine
alone is a note, never a reason to re-capture in ``auto`` mode: committed captures come
from one reference toolchain, and a build elsewhere must not rewrite them (``refresh``
does; ``roads check --toolchain`` fails on it).

The mode is the caller's to decide (the site reads it from mkdocs.yml, with the
environment as override, in ``macros/project.py``); nothing here reads the environment.
"""

from __future__ import annotations

import copy
import glob
import hashlib
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import freeze
from .build import file_digest, folder_stamp
from ..errors import CaptureError, ConfigError, RoadsError
from .proc import Proc
from .samples import MANIFEST, Manifest, Sample, read_manifest
from .toolchain import gcc_version_or_none, provenance

log = logging.getLogger("roads")
MODES = ("auto", "refresh", "frozen")
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


@dataclass
class Outcome:
    """What ``capture`` did for one sample."""

    sample: str
    action: str  # "captured", "unchanged" (re-captured, same result), "fresh", "failed"
    seconds: float = 0.0
    error: RoadsError | None = None
    reasons: tuple[str, ...] = field(default_factory=tuple)


class Project:
    """Samples in ``samples/``, captures in ``snapshots/``, build artefacts in ``.cache/roads``.

    ``cache`` may be absolute (a test's own folder). ``log`` receives the warnings of a
    frozen build about stale captures (the site passes a logger that MkDocs counts, so
    that ``--strict`` fails on them).
    """

    def __init__(self, root: str | os.PathLike[str] = ".", *, samples: str = "samples",
                 snapshots: str = "snapshots", cache: str | os.PathLike[str] = ".cache/roads",
                 mode: str = "auto", log: logging.Logger | None = None) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown capture mode {mode!r}; one of {', '.join(MODES)}")
        self.root = Path(root).resolve()
        self.samples_dir = self.root / samples
        self.snapshots_dir = self.root / snapshots
        self.cache_dir = self.root / cache
        self.mode = mode
        self.log = log if log is not None else logging.getLogger("roads")
        self._manifest: tuple[int, Manifest] | None = None
        self._engine = engine_digest()
        self._gcc: str | None | bool = False  # False: not asked yet
        self._docs: dict[str, tuple[tuple[int, int, int], dict, str]] = {}
        self._valid_dir: Path | None = None  # marks of captures found well shaped
        self._warned: set[tuple] = set()
        self._refreshed: set[str] = set()  # re-captured by this Project in refresh mode
        # The file stats under which each capture was last found fresh: while none of
        # them moves, it still is, and no input needs hashing again (serve rebuilds).
        self._fresh_at: dict[str, tuple] = {}
        # The last failure of each sample and the state of samples/ it happened in: while
        # nothing there changes, asking again gives the same error without a re-run.
        self._failed: dict[str, tuple[tuple, RoadsError]] = {}

    # -- samples and inputs -----------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        """The manifest, re-read when it changed on disk (for long-running servers).

        ConfigError only when no entry of it can be read; a broken entry is kept as the
        error of its own sample (``sample`` raises it), and every other sample works.
        """
        path = self.samples_dir / MANIFEST
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            raise ConfigError(f"{path}: no sample manifest") from None
        if self._manifest is None or self._manifest[0] != mtime:
            self._manifest = (mtime, read_manifest(self.samples_dir))
        return self._manifest[1]

    @property
    def samples(self) -> dict[str, Sample]:
        """The usable samples of the manifest by name (broken entries left out)."""
        return self.manifest.samples

    @property
    def names(self) -> list[str]:
        """Every sample the manifest declares, broken entries included, sorted."""
        return self.manifest.names

    def sample(self, name: str) -> Sample:
        """One sample by name; its entry's ConfigError when that is broken, or one
        listing the known samples."""
        manifest = self.manifest
        if name in manifest.samples:
            return manifest.samples[name]
        if name in manifest.broken:
            raise copy.copy(manifest.broken[name])  # each raise carries its own page
        known = ", ".join(manifest.names) or "none"
        raise ConfigError(f"no sample {name!r} in {self.samples_dir / MANIFEST} "
                          f"(known: {known})", sample=name)

    def gcc(self) -> str | None:
        """gcc's version, asked once; None where there is no gcc or in frozen mode."""
        if self._gcc is False:
            self._gcc = None if self.mode == "frozen" else gcc_version_or_none()
        return self._gcc  # type: ignore[return-value]

    def read(self, name: str) -> dict:
        """The committed capture of ``name``, parsed once per version of the file."""
        path = self.snapshot_path(name)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise CaptureError(f"{path}: no capture; run: roads capture {name}",
                               sample=name) from None
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._docs.get(name)
        if cached is None or cached[0] != key:
            # One read: the digest must be of the very bytes the document came from.
            try:
                data = path.read_bytes()
            except OSError as exc:  # a folder in its place, no permission
                raise CaptureError(f"{path}: cannot read the capture: {exc.strerror}",
                                   sample=name) from None
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CaptureError(f"{path}: corrupt capture: {exc}", sample=name) from None
            sha = hashlib.sha256(data).hexdigest()
            try:
                doc = freeze.parse(text, path)
            except CaptureError as exc:
                exc.sample = name
                raise
            self._check_shape(path, name, doc, sha)
            cached = (key, doc, sha)
            self._docs[name] = cached
        return cached[1]

    def _check_shape(self, path: Path, name: str, doc: dict, sha: str) -> None:
        """CaptureError naming the key when ``doc`` is not shaped as the figures read it.

        A document found valid leaves a mark named by its digest (and the checker's)
        under the cache, so that later builds, new processes included, skip the walk.
        """
        if self._valid_dir is None:
            # The check is the typed document's decode: both files key the marks.
            roads = Path(__file__).parent.parent
            checker = b"".join((roads / name).read_bytes()
                               for name in ("capture/validate.py", "document.py"))
            self._valid_dir = self.cache_dir / "valid" / hashlib.sha256(checker).hexdigest()[:16]
        mark = self._valid_dir / sha
        if mark.exists():
            return
        from .validate import problem  # only for a document not seen before

        found = problem(doc)
        if found is not None:
            raise CaptureError(f"{path}: invalid capture: {found}; it counts as missing "
                               f"(run: roads capture {name})", sample=name)
        try:
            self._valid_dir.mkdir(parents=True, exist_ok=True)
            mark.touch()
        except OSError:
            pass  # a read-only cache: checked again next time, no harm

    def content_digest(self, name: str) -> str:
        """sha256 of the capture of ``name`` as the current mode serves it."""
        self.load(name)
        return self._docs[name][2]

    def snapshot_path(self, name: str) -> Path:
        """Where the frozen capture of ``name`` lives."""
        return self.snapshots_dir / f"{name}{freeze.SUFFIX}"

    def inputs(self, sample: Sample, headers: list[str] | tuple[str, ...]) -> dict:
        """Everything a capture of ``sample`` depends on, as recorded in its document."""
        manifest = asdict(sample)
        for key in ("directory", "title"):
            manifest.pop(key)
        files = {}
        for rel in sorted({*sample.sources, *headers, *([sample.gdb] if sample.gdb else [])}):
            files[rel] = file_digest(self.samples_dir / rel)
        # Through JSON, so that tuples compare equal to the lists a loaded capture holds.
        return json.loads(json.dumps({"engine": self._engine, "files": files,
                                      "gcc": self.gcc(), "manifest": manifest}))

    def _stamp(self, name: str) -> tuple | None:
        """Stats of a capture's file, its manifest and its input files; None if one is gone."""
        sample = self.sample(name)
        try:
            doc = self.read(name)
            paths = [self.snapshot_path(name), self.samples_dir / MANIFEST]
            paths += [self.samples_dir / rel for rel in doc["inputs"].get("files", {})]
            return tuple((str(p), st.st_mtime_ns, st.st_size, st.st_ino)
                         for p in paths for st in (p.stat(),)) + (sample,)
        except (OSError, CaptureError, KeyError, AttributeError):
            return None

    def freshness(self, name: str, doc: dict | None = None) -> Freshness:
        """Compare the committed capture's recorded inputs with the current ones."""
        # Stats first: a file saved while its digest is taken must not be remembered
        # as fresh under its new stats.
        stamp = self._stamp(name)
        fresh = self._freshness(name, doc)
        if fresh.state in KEPT and stamp is not None and stamp == self._stamp(name):
            self._fresh_at[name] = stamp
        return fresh

    def _samples_stamp(self) -> tuple:
        """Stats of every file in the samples folder (a small folder)."""
        return folder_stamp(self.samples_dir)

    def _freshness(self, name: str, doc: dict | None) -> Freshness:
        sample = self.sample(name)
        if doc is None:
            try:
                doc = self.read(name)
            except CaptureError as exc:
                if not self.snapshot_path(name).exists():
                    return Freshness(name, "missing", (str(exc),))
                return Freshness(name, "stale", (exc.message,))
        old = doc["inputs"]
        new = self.inputs(sample, doc.get("headers", []))
        reasons, notes = [], []
        for rel in sorted(set(old.get("files", {})) | set(new["files"])):
            if old.get("files", {}).get(rel) != new["files"].get(rel):
                reasons.append(f"{self.samples_dir.name}/{rel} changed")
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

    # -- capturing --------------------------------------------------------------

    def capture_one(self, name: str, *, refresh: bool = False,
                    cancel: threading.Event | None = None) -> Outcome:
        """Capture ``name`` if it is stale (or always, with ``refresh``); write if changed.

        Raises the capture's RoadsError; the same error again, without a new run, while
        nothing in the samples folder changes.
        """
        started = time.perf_counter()
        sample = self.sample(name)
        if not refresh and name in self._fresh_at and self._stamp(name) == self._fresh_at[name]:
            return Outcome(name, "fresh", time.perf_counter() - started)
        before = self._samples_stamp()
        failed = self._failed.get(name)
        if failed is not None and failed[0] == before:
            raise failed[1]
        doc = None
        try:
            with freeze.locked(self.cache_dir / "locks", name):
                self._sweep_partials(self.snapshot_path(name))
                fresh = None if refresh else self.freshness(name)
                if fresh is not None and fresh.state in KEPT:
                    # Another gcc alone keeps the capture; its note goes with the outcome.
                    return Outcome(name, "fresh", time.perf_counter() - started,
                                   reasons=fresh.reasons)
                doc = self._capture(sample, cancel, before)
                written = self._write(name, doc)
        except RoadsError as exc:
            if doc is None:  # the sample failed; a capture that could not be written is
                self._failed[name] = (before, exc)  # tried again (the folder may be fixed)
            raise
        except OSError as exc:  # a read-only or full cache folder, say
            where = f"{exc.filename}: " if exc.filename else ""
            raise CaptureError(f"{where}cannot capture: {exc.strerror or exc}",
                               sample=name) from None
        self._failed.pop(name, None)
        if refresh:
            self._refreshed.add(name)
        reasons = fresh.reasons if fresh else ("refresh asked",)
        return Outcome(name, "captured" if written else "unchanged",
                       time.perf_counter() - started, reasons=reasons)

    def _capture(self, sample: Sample, cancel: threading.Event | None, before: tuple) -> dict:
        from .snapshot import capture_sample  # pyelftools and all: only when capturing

        body = capture_sample(sample, self.cache_dir, Proc(), cancel)
        if self._samples_stamp() != before:
            raise CaptureError(f"{self.samples_dir.name}/ changed while {sample.name!r} was "
                               "being captured; capture again", sample=sample.name)
        doc = {
            "schema": freeze.SCHEMA,
            "sample": sample.name,
            "title": sample.title,
            "inputs": self.inputs(sample, body["headers"]),
            "provenance": provenance(),
            **body,
        }
        doc["digest"] = freeze.digest(doc["inputs"])
        return doc

    def _write(self, name: str, doc: dict) -> bool:
        """Write a new capture of ``name`` unless the file says the same; True if written.

        What stands in the capture's place and cannot be read as one (a corrupt or
        invalid document, an empty folder) is removed first: it counts as missing.
        """
        path = self.snapshot_path(name)
        try:
            if path.is_dir():
                try:
                    path.rmdir()
                except OSError:
                    raise CaptureError(f"{path} is a folder, not a capture: remove it",
                                       sample=name) from None
            elif path.exists():
                try:
                    self.read(name)
                except CaptureError:
                    path.unlink()
            return freeze.write_if_changed(path, doc)
        except OSError as exc:
            raise CaptureError(f"{path}: cannot write the capture: {exc.strerror or exc}",
                               sample=name) from None

    @staticmethod
    def _sweep_partials(path: Path) -> None:
        """Remove half-written copies of ``path`` (``.NAME.json.PID.ID.tmp``) that a build
        killed while writing left behind: under the sample's lock nobody else writes one."""
        for partial in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            partial.unlink(missing_ok=True)

    def capture(self, names: list[str] | None = None, *, refresh: bool = False,
                jobs: int | None = None, progress=None) -> list[Outcome]:
        """Capture several samples concurrently (one worker per core by default).

        Failures do not stop the others; each comes back as an Outcome with its error.
        """
        if self.mode == "frozen":
            raise ConfigError("frozen mode never captures; use auto or refresh")
        manifest = self.manifest
        names = manifest.names if not names else names
        for name in names:
            if name not in manifest.broken:
                self.sample(name)  # an unknown name stops here; a broken entry fails alone
        jobs = jobs or os.cpu_count() or 1

        cancel = threading.Event()

        def one(name: str) -> Outcome:
            started = time.perf_counter()
            try:
                outcome = self.capture_one(name, refresh=refresh or self.mode == "refresh",
                                           cancel=cancel)
            except RoadsError as exc:
                exc.sample = exc.sample or name
                outcome = Outcome(name, "failed", time.perf_counter() - started, error=exc)
            except Exception as exc:  # a bug of ours: report it with the sample, go on
                log.exception("internal error while capturing %r", name)
                error = CaptureError(f"internal error while capturing: {exc!r}", sample=name)
                outcome = Outcome(name, "failed", time.perf_counter() - started, error=error)
            if progress:
                progress(outcome)
            return outcome

        if jobs == 1 or len(names) == 1:
            return [one(n) for n in names]
        # Longest first (variants, runs, a gdb session), so that no long sample starts
        # last while the other workers idle; results still come back in name order.
        def weight(name: str) -> int:
            s = manifest.samples.get(name)
            return 0 if s is None else len(s.variants) * (s.runs + 1) + (3 if s.gdb else 0)

        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            futures = {n: pool.submit(one, n) for n in sorted(names, key=weight, reverse=True)}
            return [futures[n].result() for n in names]
        except BaseException:
            # Ctrl-C: runs under way stop within half a second, queued ones never start.
            cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)

    # -- reading, for figures -----------------------------------------------------

    def load(self, name: str) -> dict:
        """The capture of ``name`` as the current mode wants it.

        auto/refresh: captured first when stale (refresh: once per Project). frozen:
        the committed file as it is, a warning logged when it is stale.
        """
        self.sample(name)
        if self.mode == "frozen":
            doc = self.read(name)
            fresh = self.freshness(name, doc)
            warned = (name, doc.get("digest"), fresh.reasons)
            if fresh.state not in KEPT and warned not in self._warned:
                self._warned.add(warned)  # once per build, not once per figure
                self.log.warning("capture of %r is stale: %s (run: roads capture %s)", name,
                                 "; ".join(fresh.reasons), name)
            return doc
        if self.mode == "refresh":
            if name not in self._refreshed:
                self._raise(self.capture_one(name, refresh=True))
        else:
            self._raise(self.capture_one(name))
        return self.read(name)

    @staticmethod
    def _raise(outcome: Outcome) -> None:
        if outcome.error is not None:
            raise outcome.error

    def check(self) -> list[Freshness]:
        """Freshness of every sample's committed capture, without running anything; a
        broken manifest entry is state ``"broken"`` with its error."""
        manifest = self.manifest
        return [Freshness(name, "broken", (manifest.broken[name].message,))
                if name in manifest.broken else self.freshness(name)
                for name in manifest.names]
