"""Making the capture of one sample, under its lock.

A sample is captured when it is stale (or always, with ``refresh``), and the file is
written only when the new capture says something new (``roads.capture.freeze``). A
failure is remembered with the state of the samples folder it happened in: while
nothing there changes, asking again gives the same error without a new run.
"""

from __future__ import annotations

import difflib
import glob
import hashlib
import re
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import cachedir, command
from ..cores import usable as usable_cores
from ..errors import CaptureError, CheckpointMissed, CommandCancelled, RoadsError
from . import freeze
from .build import folder_stamp
from .freshness import KEPT, Checker
from .samples import Sample, line_of, shown
from .sampleset import SampleSet
from .store import Store


# A C string literal of a checkpoint's kind of name (what ROADS_CHECKPOINT is given).
_STRING = re.compile(r'"([A-Za-z0-9_.:+-]{1,64})"')


@dataclass
class Outcome:
    """What ``capture`` did for one sample."""

    sample: str
    action: str  # "captured", "unchanged" (re-captured, same result), "fresh", "failed"
    seconds: float = 0.0
    error: RoadsError | None = None
    reasons: tuple[str, ...] = field(default_factory=tuple)
    # Of ``seconds``, those spent waiting for programs, by name ("gcc", "gdb", "run": the
    # sample's own run), and our work done beside them ("elf beside the run"):
    # ``roads.command.ledger``. The engine's own time is the rest, plus the latter.
    timing: dict[str, float] = field(default_factory=dict)


class Capturer:
    """Captures the samples of ``samples`` into ``store``, building in ``cache_dir``."""

    def __init__(self, samples: SampleSet, store: Store, checker: Checker,
                 cache_dir: Path) -> None:
        self.samples = samples
        self.store = store
        self.checker = checker
        self.cache_dir = cache_dir
        self.refreshed: set[str] = set()  # re-captured with ``refresh``
        # The last failure of each sample and the state of samples/ it happened in.
        self._failed: dict[str, tuple[tuple, RoadsError]] = {}
        # The digest of each capture file's bytes, by the stats of the file it was read
        # from (``_known_stable``): a capture compared again (each refresh of a long-lived
        # process: ``mkdocs serve``) is not read and hashed again.
        self._file_shas: dict[Path, tuple[tuple[int, ...], str]] = {}

    def _samples_stamp(self) -> tuple:
        """Stats of every file in the samples folder (a small folder)."""
        return folder_stamp(self.samples.directory)

    def found_fresh(self, name: str) -> Outcome | None:
        """``name``'s outcome when its capture needs nothing (fresh, or kept with another
        gcc), judged without the capture's lock, which only making one needs; None when
        it may need making (``capture_one`` decides that, under the lock)."""
        with command.ledger() as timing:
            started = time.perf_counter()
            try:
                self.samples.sample(name)
                fresh = None if self.checker.still_fresh(name) else self.checker.freshness(name)
            except RoadsError:
                return None
        if fresh is not None and fresh.state not in KEPT:
            return None
        return Outcome(name, "fresh", time.perf_counter() - started,
                       reasons=fresh.reasons if fresh is not None else (), timing=timing)

    def capture_one(self, name: str, *, refresh: bool = False,
                    cancel: threading.Event | None = None,
                    together: bool | None = None) -> Outcome:
        """Capture ``name`` if it is stale (or always, with ``refresh``); write if changed.

        ``together``: compile its variants at once (``snapshot.capture_sample``), as a
        capture made alone does on a machine of several cores (the default); one of
        several made at once leaves the cores to the others.
        Raises the capture's RoadsError; the same error again, without a new run, while
        nothing in the samples folder changes.
        """
        if together is None:
            together = usable_cores() > 1
        with command.ledger() as timing:
            outcome = self._capture_one(name, refresh, cancel, together)
        outcome.timing = timing
        return outcome

    def _capture_one(self, name: str, refresh: bool, cancel: threading.Event | None,
                     together: bool) -> Outcome:
        started = time.perf_counter()
        sample = self.samples.sample(name)
        if not refresh and self.checker.still_fresh(name):
            return Outcome(name, "fresh", time.perf_counter() - started)
        before = self._samples_stamp()
        failed = self._failed.get(name)
        if failed is not None and failed[0] == before:
            raise failed[1]
        doc = None
        try:
            with cachedir.held(self.cache_dir / "locks" / f"{name}.lock",
                               f"the capture of {name!r}", cancel=cancel):
                self._sweep_partials(self.store.path(name))
                fresh = None if refresh else self.checker.freshness(name)
                if fresh is not None and fresh.state in KEPT:
                    # Another gcc alone keeps the capture; its note goes with the outcome.
                    return Outcome(name, "fresh", time.perf_counter() - started,
                                   reasons=fresh.reasons)
                doc = self._capture(sample, cancel, before, together)
                written = self._write(name, doc)
        except RoadsError as exc:
            if doc is None:  # the sample failed; a capture that could not be written is
                self._failed[name] = (before, exc)  # tried again (the folder may be fixed)
            raise
        except cachedir.LockCancelled:
            raise CommandCancelled(f"the capture of {name!r} was called off while it waited "
                                   "for another's", sample=name) from None
        except OSError as exc:  # a read-only or full cache folder, say
            where = f"{exc.filename}: " if exc.filename else ""
            raise CaptureError(f"{where}cannot capture: {exc.strerror or exc}",
                               sample=name) from None
        self._failed.pop(name, None)
        if refresh:
            self.refreshed.add(name)
        reasons = fresh.reasons if fresh else ("refresh asked",)
        return Outcome(name, "captured" if written else "unchanged",
                       time.perf_counter() - started, reasons=reasons)

    def _capture(self, sample: Sample, cancel: threading.Event | None, before: tuple,
                 together: bool = False) -> dict:
        # pyelftools and all: only when capturing.
        from .proc import Proc
        from .snapshot import capture_sample
        from .toolchain import package_versions, provenance

        try:
            body = capture_sample(sample, self.cache_dir, Proc(), cancel, since=before,
                                  together=together)
        except CheckpointMissed as exc:
            raise self._missed(sample, exc) from None
        if self._samples_stamp() != before:
            raise CaptureError(f"{self.samples.directory.name}/ changed while {sample.name!r} "
                               "was being captured; capture again", sample=sample.name)
        return freeze.capture_document(
            sample.name, sample.title, self.checker.inputs(sample, body["headers"]),
            provenance(package_versions(self.cache_dir)), body)

    def _missed(self, sample: Sample, exc: CheckpointMissed) -> CheckpointMissed:
        """``exc`` told where the author can look: the manifest's line that lists the
        checkpoints, and a name no source of the sample holds (a misspelling, most
        likely) with the near ones that it does hold."""
        try:
            line = line_of(self.samples.path.read_text(encoding="utf-8"), sample.name,
                           "checkpoints")
            sources = [(p, p.read_text(encoding="utf-8", errors="replace"))
                       for p in sample.source_paths]
        except OSError:
            return exc
        names = {n for _, text in sources for n in _STRING.findall(text)}
        notes = [shown(self.samples.path) + (f":{line}" if line else "")
                 + f" lists {'it' if len(exc.missing) == 1 else 'them'} for [{sample.name}]"]
        for name in exc.missing:
            if name in names:
                continue
            near = difflib.get_close_matches(name, sorted(names | set(exc.reached)), n=2)
            notes.append(f"no source of the sample holds the string \"{name}\""
                         + (f" (did you mean {' or '.join(_held_at(n, sources) for n in near)}?)"
                            if near else ""))
        exc.message = f"{exc.message}; {'; '.join(notes)}"
        exc.args = (exc.message,)
        return exc

    def _write(self, name: str, doc: dict) -> bool:
        """Write a new capture of ``name`` unless the file says the same; True if written.

        What stands in the capture's place and cannot be read as one (a corrupt or
        invalid document, an empty folder) is removed first: it counts as missing.
        """
        path = self.store.path(name)
        old = None
        new_stable = None
        try:
            known = self._known_stable(path)
            if known is not None:
                # The file was found valid, and its stable text kept, by the digest of
                # its bytes: compared without reading it as a document.
                new_stable = freeze.stable(doc)
                if new_stable == known:
                    return False
            if path.is_dir():
                try:
                    path.rmdir()
                except OSError:
                    raise CaptureError(f"{path} is a folder, not a capture: remove it",
                                       sample=name) from None
            elif path.exists():
                try:
                    old = self.store.read(name)
                except CaptureError:
                    path.unlink()
            if old is not None:
                return freeze.write_if_changed(path, doc, old, freeze.stable_kept(
                    old, self.store.digest(name), self.cache_dir), self.cache_dir,
                    new_stable=new_stable)
            return freeze.write_if_changed(path, doc, cache=self.cache_dir,
                                           new_stable=new_stable)
        except OSError as exc:
            raise CaptureError(f"{path}: cannot write the capture: {exc.strerror or exc}",
                               sample=name) from None

    def _known_stable(self, path: Path) -> str | None:
        """The stable text kept for the capture file at ``path`` when that file, as its
        bytes are now, was found valid by this checker (``ValidMarks``); else None."""
        read_at = time.time_ns()  # before the stats: what ``cachedir.racy`` judges by
        try:
            with open(path, "rb") as f:  # a folder in its place fails here
                st = os.fstat(f.fileno())
                # The change time too: a write that put the old modification time back
                # (``os.utime``) still moves it.
                key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                known = self._file_shas.get(path)
                if known is not None and known[0] == key:
                    sha = known[1]  # the stats vouch for the bytes hashed last time
                else:
                    sha = hashlib.sha256(f.read()).hexdigest()
                    # Each stamp judged alone: a modification time set in the future
                    # (not racy, another clock's) must not hide a change time just now.
                    if (cachedir.racy(st.st_mtime_ns, read_at)
                            or cachedir.racy(st.st_ctime_ns, read_at)):
                        self._file_shas.pop(path, None)
                    else:
                        self._file_shas[path] = (key, sha)
        except OSError:
            return None
        if not self.store.marks.valid(sha):
            return None
        return freeze.stable_known(sha, self.cache_dir)

    @staticmethod
    def _sweep_partials(path: Path) -> None:
        """Remove half-written copies of ``path`` (``.NAME.json.XXXXXXXX.tmp``) that a build
        killed while writing left behind: under the sample's lock nobody else writes one."""
        for partial in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            partial.unlink(missing_ok=True)


def _held_at(name: str, sources: list[tuple[Path, str]]) -> str:
    """``name`` quoted, with the first line of the sample's sources that holds it in
    double quotes (``'after-growth', at samples/brk.c:58``): the manifest or the source
    may be the one misspelt, and the author fixes one of the two."""
    quoted = f'"{name}"'
    for path, text in sources:
        for number, line in enumerate(text.splitlines(), start=1):
            if quoted in line:
                return f"{name!r}, at {shown(path)}:{number}"
    return repr(name)
