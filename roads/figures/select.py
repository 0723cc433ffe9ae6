"""Pick what a figure shows from a capture document, as typed read-only records.

A capture (``roads.capture.snapshot``) holds variants, each with runs, each with the
checkpoints its processes reached. A figure shows one of those checkpoints:
``select`` finds it from the few words a page gives (``variant``, ``run``,
``checkpoint``, ``pid``) and wraps it in a ``Selection``: the typed records of
``roads.document`` around it (capture, variant, run, checkpoint, provenance) and the
checkpoint's view for the figures, named after ``man 5 proc``: the fields of a
``maps`` line (address range, perms, offset, dev, inode, pathname) and the smaps
counters in KiB. Nothing here reads a key of the JSON: a loaded document is decoded
first (``decoded``).

Pure: the document comes in, records come out; nothing here reads a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, ClassVar, Mapping

import msgspec

from .. import document
from ..document import Address, AuxvEntry, Elf
from ..errors import CaptureError, ConfigError
from .filenames import program_path
from .perrecord import PerRecord

# Names the pages may give ``pid`` when two processes of a fork demo reached the
# same checkpoint.
ROLES = ("parent", "child")


# --------------------------------------------------------------------------- records

# The checkpoints' views already made, by the identity of the record each was made of,
# kept with it (so that its id cannot be reused while the entry stands): a page's values
# and figures select the same few checkpoints again and again (a fresh clone's build:
# 381 selections of 82 checkpoints). Records and views are frozen, so one view serves
# every selection of its record; the oldest go past VIEWS_KEPT.
VIEWS_KEPT = 128

# The leaf records are the document's own (roads.document); the names a figure module
# knows them by are kept.
PageEntry = document.Page
PagemapRange = document.PageRange


class Region(document.Region, frozen=True, kw_only=True):
    """A region of a checkpoint (``roads.document.Region``: a line of
    ``/proc/PID/maps`` with its ``smaps`` counters) and its position among the
    checkpoint's regions, ``index``, by which figures link rows and pointers to it."""

    index: int


@dataclass(frozen=True)
class Snapshot:
    """One process stopped at one checkpoint (``roads.document.Checkpoint``) as the
    figures read it: regions numbered, ``status`` and ``auxv_strings`` as read-only
    tables by the kernel's key."""

    name: str  # the checkpoint's name
    seq: int  # order of arrival among the run's checkpoints
    pid: int
    ppid: int
    exe: str
    personality: int
    regions: tuple[Region, ...]
    addresses: tuple[Address, ...]
    auxv: tuple[AuxvEntry, ...]
    auxv_strings: Mapping[str, str] = field(repr=False, compare=False)
    status: Mapping[str, Any] = field(repr=False, compare=False)
    pagemap: tuple[PagemapRange, ...] = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Snapshot":
        """Typed view of a checkpoint document (``roads.capture.snapshot.snapshot_process``);
        CaptureError naming the key when it is not shaped as one."""
        try:
            point = msgspec.convert(d, document.Checkpoint)
        except msgspec.ValidationError as exc:
            raise CaptureError(f"malformed checkpoint in capture: {exc}") from None
        return cls.from_checkpoint(point)

    @classmethod
    def from_checkpoint(cls, point: document.Checkpoint) -> "Snapshot":
        """The view of a decoded checkpoint: made once for each record (``_VIEWS``)."""
        if cls is not Snapshot:
            return cls._view(point)
        return _VIEWS(point)

    @classmethod
    def _view(cls, point: document.Checkpoint) -> "Snapshot":
        return cls(
            name=point.name,
            seq=point.seq,
            pid=point.pid,
            ppid=point.ppid,
            exe=point.exe,
            personality=point.personality,
            # kb read-only too: the figures of a page share one document.
            regions=tuple(Region(index=k, **{**msgspec.structs.asdict(r),
                                             "kb": MappingProxyType(r.kb)})
                          for k, r in enumerate(point.regions)),
            addresses=point.addresses,
            auxv=point.auxv,
            auxv_strings=MappingProxyType(dict(point.auxv_strings)),
            status=MappingProxyType(document.to_builtins(point.status) if point.status else {}),
            pagemap=point.pagemap,
        )

    def region_at(self, address: int) -> Region | None:
        """The region holding ``address``, or None if it is unmapped."""
        for region in self.regions:
            if region.start <= address < region.end:
                return region
        return None

    def address(self, name: str) -> int:
        """The value recorded under ``name``; ConfigError listing the names if unknown."""
        for a in self.addresses:
            if a.name == name:
                return a.value
        known = ", ".join(a.name for a in self.addresses) or "none"
        raise ConfigError(f"checkpoint {self.name!r} recorded no address {name!r} (recorded: {known})")


_VIEWS: PerRecord[document.Checkpoint, Snapshot] = PerRecord(Snapshot._view, VIEWS_KEPT)


# --------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class Selection:
    """One checkpoint of one process of one run of one variant of a sample.

    ``capture`` is the whole typed document (``roads.document.Capture``) and
    ``checkpoint_record`` the selected checkpoint in it; ``variant_record``,
    ``run_record`` and ``provenance_record`` the records around it, ``snapshot`` the
    checkpoint's view for the figures, with ``regions`` and ``addresses`` as shortcuts.
    ``role`` is "parent" or "child" when the process has a parent or child in the run
    (None otherwise); ``ordinal`` its position among the processes that reached the
    same checkpoint (0 when alone), and ``shared_name`` whether there were several.
    """

    sample: str
    variant: str
    run: int
    checkpoint_record: document.Checkpoint = field(repr=False, compare=False)
    capture: document.Capture = field(repr=False, compare=False)
    ordinal: int = 0
    role: str | None = None
    shared_name: bool = False  # another process reached a checkpoint of the same name
    # The words captions use: the site's; roads explain's pages say "program" and "stop"
    # (roads.explain.page), and name no variant.
    SUBJECT: ClassVar[str] = "sample"
    POINT: ClassVar[str] = "checkpoint"
    NAMES_VARIANT: ClassVar[bool] = True

    @cached_property
    def snapshot(self) -> Snapshot:
        return Snapshot.from_checkpoint(self.checkpoint_record)

    @property
    def variant_record(self) -> document.Variant:
        return self.capture.variants[self.variant]

    @property
    def run_record(self) -> document.Run:
        return self.variant_record.runs[self.run]

    @property
    def library_spans(self) -> Mapping[str, int]:
        """How many bytes the loader maps of each ELF file, from its first page, by path,
        where the capture's maker recorded it (``roads explain`` does; a sample's capture
        does not: empty): anonymous memory past them is not a library's bss."""
        return {}

    @property
    def parent_pid(self) -> int:
        """The process that forked this one, as the run recorded it (``forked_by``);
        the snapshot's ``ppid`` where the run did not record it."""
        return forked_by(self.run_record).get(self.snapshot.pid) or self.snapshot.ppid

    @property
    def provenance_record(self) -> document.Provenance:
        """The machine that made the capture (kernel, glibc, gcc, page size, ...)."""
        return self.capture.provenance

    @property
    def regions(self) -> tuple[Region, ...]:
        return self.snapshot.regions

    @property
    def addresses(self) -> tuple[Address, ...]:
        return self.snapshot.addresses

    @property
    def checkpoint_name(self) -> str:
        return self.checkpoint_record.name

    @property
    def elf(self) -> Elf | None:
        """The variant's executable as the capture recorded it, or None if it did not."""
        return self.variant_record.elf

    @property
    def title(self) -> str:
        return self.capture.title or ""

    @property
    def is_library(self) -> bool:
        """Whether ``elf`` is a shared library the process loaded, not its executable
        (``roads explain`` draws a library's ELF → memory too)."""
        return False

    @property
    def compiled(self) -> bool:
        """Whether the file this selection's figures are of is the one the variant's
        compile command made: not a library, nor another program the process runs since
        an execve (whose flags the provenance does not name)."""
        return not self.is_library and self.exe_matches_elf

    @property
    def exe_matches_elf(self) -> bool:
        """Whether the process still runs the variant's own executable.

        After an ``execve`` of another program the recorded ELF file says nothing
        about the regions.
        """
        return program_path(self.snapshot.exe, self.regions) == f"/build/{self.sample}"

    @property
    def slug(self) -> str:
        """A stable fragment for HTML ids: sample, variant, checkpoint (run and process
        only when they are needed to tell two figures of one page apart)."""
        parts = [self.sample, self.variant, self.checkpoint_name]
        if self.run:
            parts.append(f"run{self.run}")
        if self.shared_name:
            parts.append(self.role or f"p{self.ordinal}")
        return "-".join(_slug(p) for p in parts)

    def describe(self) -> str:
        """Human words for what this is: ``layout (pie), run 0, checkpoint 'running'``."""
        words = f"{self.sample} ({self.variant})" if self.NAMES_VARIANT else self.sample
        if len(self.variant_record.runs) > 1:
            words += f", run {self.run}"
        words += f", {self.POINT} {self.checkpoint_name!r}"
        if self.shared_name:
            words += f" in the {self.role}" if self.role else f" of process #{self.ordinal}"
        return words


def forked_by(run: document.Run) -> dict[int, int]:
    """Each process of ``run`` that another of the run made, by pid, to the pid of its
    parent as the run first met it (roads explain: the fork event; a sample: its first
    roads.h line). A checkpoint's ``ppid`` is the parent at the stop instead, which is
    another process (a subreaper such as roads explain, or init) once the parent has
    ended. The run's first process is left out: its record names whatever started the
    run."""
    return {p.pid: p.ppid for p in run.processes if p.pid != run.pid}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


def decoded(doc: document.Capture | Mapping[str, Any]) -> document.Capture:
    """The typed capture: ``doc`` itself, or a loaded JSON document decoded (a test's
    changed copy, say); CaptureError naming the key when it is not shaped as one."""
    if isinstance(doc, document.Capture):
        return doc
    try:
        return document.from_builtins(doc)
    except msgspec.ValidationError as exc:
        sample = doc.get("sample") if isinstance(doc, Mapping) else None
        raise CaptureError(f"malformed capture: {exc}",
                           sample=sample if isinstance(sample, str) else None) from None


def variant_names(capture: document.Capture) -> list[str]:
    """The variants in the order the manifest declares them (the document's keys are sorted)."""
    present = list(capture.variants)
    declared = [v.name for v in capture.inputs.manifest.variants]
    ordered = [name for name in declared if name in capture.variants]
    return ordered + [name for name in present if name not in ordered]


def checkpoint_names(run: document.Run) -> list[str]:
    """The distinct checkpoint names of a run in order of first arrival."""
    return list(dict.fromkeys(c.name for c in sorted(run.checkpoints, key=lambda c: c.seq)))


def select(
    doc: document.Capture | Mapping[str, Any],
    *,
    variant: str | None = None,
    run: int = 0,
    checkpoint: str | None = None,
    pid: str | int | None = None,
) -> Selection:
    """The checkpoint of a capture that a figure shows.

    ``doc`` is the typed capture (``roads.document.Capture``, as the Project decodes it
    once per file), or a loaded JSON document, decoded here. Defaults: the first
    variant the manifest declares, run 0, and the first checkpoint the run's first
    process reached. ``checkpoint`` is a name; when several processes reached it (fork
    demos), ``pid`` picks one: "parent", "child", or an ordinal (0, 1, ... in order of
    arrival); without ``pid`` the run's first process is taken if it is among them,
    else the first to arrive. Every mistake is a ConfigError that names the sample and
    lists what is there.
    """
    capture = decoded(doc)
    sample = capture.sample
    names = variant_names(capture)
    if not names:
        raise ConfigError("the capture holds no variant", sample=sample)
    if variant is None:
        variant = names[0]
    elif variant not in names:
        raise ConfigError(f"no variant {variant!r} (variants: {', '.join(names)})", sample=sample)
    runs = capture.variants[variant].runs
    if isinstance(run, bool) or not isinstance(run, int) or not 0 <= run < len(runs):
        raise ConfigError(
            f"no run {run!r} of variant {variant!r} (runs: 0 to {len(runs) - 1})"
            if runs else f"variant {variant!r} has no runs",
            sample=sample,
        )
    chosen_run = runs[run]
    points = sorted(chosen_run.checkpoints, key=lambda c: c.seq)
    where = f"variant {variant!r}" + (f", run {run}" if len(runs) > 1 else "")
    if not points:
        raise ConfigError(f"{where} reached no checkpoint", sample=sample)
    main_pid = chosen_run.pid

    if checkpoint is None:
        first = [c for c in points if c.pid == main_pid] or points
        checkpoint = first[0].name
    candidates = [c for c in points if c.name == checkpoint]
    if not candidates:
        raise ConfigError(
            f"no checkpoint {checkpoint!r} in {where} "
            f"(checkpoints: {', '.join(checkpoint_names(chosen_run))})",
            sample=sample,
        )
    chosen, ordinal, role = _pick_process(candidates, pid, main_pid, sample, checkpoint,
                                          forked_by(chosen_run))
    return Selection(
        sample=sample,
        variant=variant,
        run=run,
        checkpoint_record=chosen,
        capture=capture,
        ordinal=ordinal,
        role=role,
        shared_name=len(candidates) > 1,
    )


def _roles(candidates: list[document.Checkpoint], main_pid: int,
           parents: Mapping[int, int] | None = None) -> list[str | None]:
    """"parent" for a process whose child is among the candidates, "child" for one whose
    parent is (or, failing that, for the run's first process and its children).

    A process's parent is the one that forked it, as the run recorded it (``forked_by``).
    """
    parents = parents or {}
    parent = {c.pid: parents.get(c.pid) or c.ppid for c in candidates}
    pids = set(parent)
    roles: list[str | None] = []
    for c in candidates:
        if any(parent[o.pid] == c.pid for o in candidates):
            roles.append("parent")
        elif parent[c.pid] in pids:
            roles.append("child")
        elif c.pid == main_pid:
            roles.append("parent")
        elif parent[c.pid] == main_pid:
            roles.append("child")
        else:
            roles.append(None)
    return roles


def _pick_process(
    candidates: list[document.Checkpoint],
    pid: str | int | None,
    main_pid: int,
    sample: str,
    checkpoint: str,
    parents: Mapping[int, int] | None = None,
) -> tuple[document.Checkpoint, int, str | None]:
    roles = _roles(candidates, main_pid, parents)
    if pid is None:
        for k, c in enumerate(candidates):
            if c.pid == main_pid:
                return c, k, roles[k]
        return candidates[0], 0, roles[0]
    listing = ", ".join(
        f"#{k} pid {c.pid}" + (f" ({roles[k]})" if roles[k] else "") for k, c in enumerate(candidates)
    )
    if isinstance(pid, str) and pid in ROLES:
        matches = [k for k, r in enumerate(roles) if r == pid]
        if len(matches) != 1:
            found = "none" if not matches else f"{len(matches)}"
            raise ConfigError(
                f"checkpoint {checkpoint!r}: pid={pid!r} matches {found} of the processes "
                f"that reached it ({listing}); give an ordinal instead",
                sample=sample,
            )
        k = matches[0]
        return candidates[k], k, roles[k]
    if isinstance(pid, int) and not isinstance(pid, bool) and 0 <= pid < len(candidates):
        return candidates[pid], pid, roles[pid]
    raise ConfigError(
        f"checkpoint {checkpoint!r}: no process {pid!r}; pid is 'parent', 'child' or an "
        f"ordinal 0 to {len(candidates) - 1} ({listing})",
        sample=sample,
    )
