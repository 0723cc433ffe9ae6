"""A project: its samples, their frozen captures, and when each must be made again.

This is what the command line and the site generator both use: a façade over the
pieces that each hold one concern, which it wires together and which it lends its
attributes to:

- ``samples`` (``roads.capture.sampleset.SampleSet``): the manifest, re-read when it changes;
- ``store`` (``roads.capture.store.Store``): the committed captures, read, checked
  (``roads.capture.marks``) and decoded once per version of each file;
- ``checker`` (``roads.capture.freshness.Checker``): whether a capture still matches
  its inputs;
- ``capturer`` (``roads.capture.capturer.Capturer``): making the capture of one sample,
  and ``roads.capture.pool.capture_many``: many at once, on a pool of workers.

What is left here is the mode, the one policy that ties them. Modes:

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

import logging
import os
import time
from pathlib import Path

from .. import document
from ..errors import ConfigError
from .freshness import ENGINE_FILES, KEPT, Checker, Freshness, engine_digest
from .marks import ValidMarks
from .pool import capture_many
from .capturer import Capturer, Outcome
from .samples import Manifest, Sample
from .sampleset import SampleSet
from .store import Recorded, Store

__all__ = ["ENGINE_FILES", "KEPT", "MODES", "Freshness", "Outcome", "Project", "engine_digest"]

MODES = ("auto", "refresh", "frozen")


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
        self.samples_set = SampleSet(self.samples_dir)
        self.store = Store(self.snapshots_dir, ValidMarks(self.cache_dir))
        self.checker = Checker(self.samples_set, self.store, consult_gcc=mode != "frozen",
                               memo=self.cache_dir / "fresh")
        self.capturer = Capturer(self.samples_set, self.store, self.checker, self.cache_dir)
        self._warned: set[tuple] = set()  # stale captures a frozen build has warned about
        self._stale: set[str] = set()  # samples whose capture was last judged stale (frozen)
        # The captures this build has already brought up to date (begin_build), by sample:
        # the stats of the files they were judged under. None outside a build.
        self._settled: dict[str, tuple] | None = None

    # -- samples ------------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        """The manifest, re-read when it changed on disk (for long-running servers)."""
        return self.samples_set.manifest

    @property
    def samples(self) -> dict[str, Sample]:
        """The usable samples of the manifest by name (broken entries left out)."""
        return self.manifest.samples

    @property
    def names(self) -> list[str]:
        """Every sample the manifest declares, broken entries included, sorted."""
        return self.manifest.names

    def sample(self, name: str) -> Sample:
        """One sample by name (``SampleSet.sample``)."""
        return self.samples_set.sample(name)

    # -- committed captures and their freshness -------------------------------------

    def snapshot_path(self, name: str) -> Path:
        """Where the frozen capture of ``name`` lives."""
        return self.store.path(name)

    def read(self, name: str) -> dict:
        """The committed capture of ``name`` as loaded JSON, parsed once per version of
        the file, as it is (whatever the mode)."""
        return self.store.read(name)

    def gcc(self) -> str | None:
        """gcc's version, asked once; None where there is no gcc or in frozen mode."""
        return self.checker.gcc()

    def inputs(self, sample: Sample, headers: list[str] | tuple[str, ...]) -> dict:
        """Everything a capture of ``sample`` depends on, as recorded in its document."""
        return self.checker.inputs(sample, headers)

    def freshness(self, name: str, recorded: Recorded | None = None) -> Freshness:
        """Compare the committed capture's recorded inputs with the current ones."""
        return self.checker.freshness(name, recorded)

    def check(self) -> list[Freshness]:
        """Freshness of every sample's committed capture, without running anything."""
        return self.checker.check()

    # -- capturing --------------------------------------------------------------

    def capture_one(self, name: str, *, refresh: bool = False, cancel=None,
                    together: bool | None = None) -> Outcome:
        """Capture ``name`` if it is stale (or always, with ``refresh``); write if changed.
        ``together``: compile its variants at once (by default, on several cores)."""
        return self.capturer.capture_one(name, refresh=refresh, cancel=cancel,
                                         together=together)

    def capture(self, names: list[str] | None = None, *, refresh: bool = False,
                jobs: int | None = None, progress=None) -> list[Outcome]:
        """Capture several samples concurrently (one worker per core by default)."""
        if self.mode == "frozen":
            raise ConfigError("frozen mode never captures; use auto or refresh")
        return capture_many(self.capturer, names, refresh=refresh or self.mode == "refresh",
                            jobs=jobs, progress=progress)

    # -- reading, for figures -----------------------------------------------------

    def begin_build(self) -> None:
        """A build of pages starts. Until the next one, a capture this build has brought
        up to date (found fresh, made, or warned about) is not judged again for each
        figure and value that reads it while its files keep their stats: the capture
        file, the manifest and its input files are looked at (``Checker.unmoved``), not
        read or digested again. A sample saved during the build moves its stats: the
        next load judges it again, as outside a build.
        """
        self._settled = {}
        self._warned.clear()  # a stale capture is warned about once a build

    def load(self, name: str) -> dict:
        """The capture of ``name`` as the current mode wants it, as loaded JSON.

        auto/refresh: captured first when stale (refresh: once per Project). frozen:
        the committed file as it is, a warning logged when it is stale. Within a build
        (``begin_build``), judged again only when one of its files moved.
        """
        self._bring(name)
        return self.read(name)

    def document(self, name: str) -> document.Capture:
        """The capture of ``name`` as ``load`` brings it up to date, as the typed
        document the figures read (decoded once per version of the file; never parsed
        as loaded JSON)."""
        self._bring(name)
        return self.store.document(name)

    def _bring(self, name: str) -> None:
        """Bring the capture of ``name`` up to date as ``load`` says."""
        settled = self._settled
        if settled is None:
            self._bring_now(name)
            return
        judged = settled.get(name)
        if judged is not None and self.checker.unmoved(judged):
            return
        # Stats before and after: a file saved while it is judged is not settled under
        # its new stats, nor one too recent for its stats to vouch for its bytes.
        read_at = time.time_ns()
        before = self.checker.stamp(name)
        self._bring_now(name)
        if (before is not None and self.checker.stamp(name) == before
                and self.checker.vouched(before, read_at)):
            settled[name] = before
        else:
            settled.pop(name, None)

    def _bring_now(self, name: str) -> None:
        self.sample(name)
        if self.mode == "frozen":
            recorded = self.store.recorded(name)
            self._stale.discard(name)
            if self.checker.still_fresh(name):
                return
            fresh = self.freshness(name, recorded)
            if fresh.state in KEPT:
                return
            self._stale.add(name)
            warned = (name, recorded.digest, fresh.reasons)
            if warned not in self._warned:
                self._warned.add(warned)  # once per build, not once per figure
                self.log.warning("capture of %r is stale: %s (run: roads capture %s)", name,
                                 "; ".join(fresh.reasons), name)
            return
        if self.mode == "refresh":
            if name not in self.capturer.refreshed:
                self._raise(self.capture_one(name, refresh=True))
        else:
            self._raise(self.capture_one(name))
        self.store.recorded(name)  # read, checked (as load's read would), not parsed

    def stale(self, name: str) -> bool:
        """Whether the capture of ``name`` was stale when last brought up to date, in a
        frozen build (which warns once a build): whoever keeps what it drew from it
        (the site's page cache) must not keep that, or the next build never reads the
        capture again and never warns."""
        return name in self._stale

    def vouched_digest(self, name: str) -> tuple[tuple[int, int, int], str] | None:
        """The stats and digest of the capture of ``name`` as last read (``Store.vouched``)."""
        return self.store.vouched(name)

    def content_digest(self, name: str) -> str:
        """sha256 of the capture of ``name`` as the current mode serves it."""
        self._bring(name)
        return self.store.digest(name)

    @staticmethod
    def _raise(outcome: Outcome) -> None:
        if outcome.error is not None:
            raise outcome.error
