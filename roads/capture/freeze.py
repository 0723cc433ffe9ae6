"""Frozen captures: one versioned JSON document per sample, committed to the repository.

Written deterministically (sorted keys, fixed layout, a newline at the end) and
atomically (a temporary file in the same folder, then rename). A new capture that
differs from the committed one only in what no run can hold still (real pids,
physical frame numbers, smaps counters that depend on other processes (Pss, shared
and private splits), peaks reached in passing (VmPeak, VmHWM), and, when a sample asks
for ASLR, every address and counter: only the shape of its space must repeat) leaves
the file untouched. Which field is which is marked on the field in ``roads.document``.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import os
import re
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import document
from ..errors import CaptureError

SCHEMA = document.SCHEMA
SUFFIX = ".json"
# Counters of smaps that depend on which other processes share a page (a page of libc
# is Shared_Clean while any other process maps it, Private_Clean otherwise), or on
# reclaim's sampling (Referenced). Rss, Anonymous and the rest must repeat.
VOLATILE_KB = re.compile(r"^(Pss.*|SwapPss|Shared_.*|Private_.*|Referenced)$")
PROCESS_IN_TEXT = re.compile(r"\b(process|LWP|Thread 0x[0-9a-f]+ \(LWP) (\d+)")
HEX_IN_TEXT = re.compile(r"0x[0-9a-f]{4,}")


def dumps(doc: dict) -> str:
    """The canonical text of a document.

    Containers are indented one level per line down to the records (a region, a page,
    an auxv entry), which stand on one line each: diffs of a re-capture read as one
    changed line per changed region, and the C encoder writes those lines (Python's
    json module falls back to its slow pure-Python encoder whenever indent is set).
    """
    out: list[str] = []
    _write(doc, 0, out)
    out.append("\n")
    return "".join(out)


def _compact(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))


def _is_record(value: object) -> bool:
    """A dict whose values are scalars, or lists and dicts of scalars only."""
    if not isinstance(value, dict):
        return False
    for item in value.values():
        if isinstance(item, dict):
            if any(isinstance(v, (dict, list)) for v in item.values()):
                return False
        elif isinstance(item, list):
            if any(isinstance(v, (dict, list)) for v in item):
                return False
    return True


def _write(node: object, depth: int, out: list[str]) -> None:
    pad = " " * (depth + 1)
    if isinstance(node, dict) and node and not (_is_record(node) and depth > 0):
        out.append("{\n")
        keys = sorted(node)
        for i, key in enumerate(keys):
            out.append(f"{pad}{json.dumps(key, ensure_ascii=False)}: ")
            _write(node[key], depth + 1, out)
            out.append(",\n" if i < len(keys) - 1 else "\n")
        out.append(" " * depth + "}")
    elif isinstance(node, list) and node and any(isinstance(v, (dict, list)) for v in node):
        out.append("[\n")
        for i, item in enumerate(node):
            out.append(pad)
            _write(item, depth + 1, out)
            out.append(",\n" if i < len(node) - 1 else "\n")
        out.append(" " * depth + "]")
    else:
        out.append(_compact(node))


def digest(value: object) -> str:
    """sha256 of a JSON value in canonical form."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def load(path: Path) -> dict:
    """Read and check a frozen capture; CaptureError if it is corrupt or of another schema."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaptureError(f"{path}: no capture") from None
    return parse(text, path)


def parse(text: str, path: Path) -> dict:
    """Check the text of a frozen capture read from ``path``; the document."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CaptureError(f"{path}:{exc.lineno}: corrupt capture: {exc.msg}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise CaptureError(f"{path}: capture schema {found!r}, this engine reads {SCHEMA}")
    for key in ("sample", "inputs", "provenance", "variants"):
        if key not in doc:
            raise CaptureError(f"{path}: corrupt capture: no {key!r}")
    return doc


def write_if_changed(path: Path, doc: dict) -> bool:
    """Write ``doc`` unless the file there already says the same; True if written."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    if old is not None and stable(old) == stable(doc):
        return False
    if old is not None and stable(_observed(old)) == stable(_observed(doc)):
        # Only the inputs moved (an engine edit, say), not what the runs observed: keep
        # the old observations, pids and frames included, so the diff is the inputs.
        doc = {**old, **{key: doc[key] for key in _recorded_inputs() if key in doc}}
    write_atomic(path, dumps(doc))
    return True


def _recorded_inputs() -> tuple[str, ...]:
    """Top-level keys that describe what went into a capture, not what it observed."""
    return tuple(key for key, kinds in document.marks(document.Capture).items()
                 if document.INPUT in kinds)


def _observed(doc: dict) -> dict:
    inputs = _recorded_inputs()
    return {key: value for key, value in doc.items() if key not in inputs}


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that no reader ever sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{id(text):x}.tmp")
    try:
        with open(partial, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def locked(lock_dir: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock for ``name`` so two builds never capture it at once."""
    try:
        f = open(lock_dir / f"{name}.lock", "w")
    except FileNotFoundError:
        lock_dir.mkdir(parents=True, exist_ok=True)
        f = open(lock_dir / f"{name}.lock", "w")
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def stable(doc: dict) -> str:
    """The part of a document that a re-capture is expected to reproduce, as text.

    Each field is compared as ``roads.document`` marks it: pids and frames by order of
    first appearance, what depends on timing or on other processes left out, and in a
    run that asked for ASLR only the shape of its space (not even the low 12 bits of
    an address, which the kernel shifts for the stack). Keys the document does not
    declare are compared as they are.
    """
    doc = copy.deepcopy(doc)
    pids: dict[int, int] = {}
    frames: dict[int, int] = {}

    def number(value: object, seen: dict[int, int]) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return seen.setdefault(value, len(seen) + 1)
        return value

    def walk(node: object, kind: object, aslr: bool) -> None:
        kind = document.container(kind, node)
        if isinstance(node, list):
            item = typing.get_args(kind)[0] if typing.get_origin(kind) is tuple else None
            for value in node:
                walk(value, item, aslr)
        elif isinstance(node, dict) and document.is_record(kind):
            fields = document.field_types(kind)
            marks = document.marks(kind)
            for key, kinds in marks.items():
                if document.ASLR_SWITCH in kinds and key in node:
                    aslr = bool(node[key])
            for key in sorted(node):
                if key not in fields:
                    continue
                value, kinds = node[key], marks.get(key, ())
                if aslr and document.ASLR in kinds:
                    node[key] = None
                elif document.IGNORED in kinds:
                    del node[key]
                elif document.PID in kinds:
                    node[key] = number(value, pids)
                elif document.FRAME in kinds:
                    node[key] = number(value, frames)
                elif document.SHARING in kinds and isinstance(value, dict):
                    node[key] = {k: v for k, v in value.items() if not VOLATILE_KB.match(k)}
                elif document.ASLR_HEX in kinds and isinstance(value, str):
                    node[key] = HEX_IN_TEXT.sub("0x…", value) if aslr else value
                elif document.PIDS_IN_TEXT in kinds and isinstance(value, str):
                    node[key] = PROCESS_IN_TEXT.sub(lambda m: f"{m.group(1)} N", value)
                else:
                    walk(value, fields[key], aslr)
                    if document.UNORDERED in kinds and isinstance(value, list):
                        node[key] = sorted(value, key=lambda a: json.dumps(a, sort_keys=True))
        elif isinstance(node, dict) and typing.get_origin(kind) is dict:
            values = typing.get_args(kind)[1]
            for key in sorted(node):
                walk(node[key], values, aslr)

    walk(doc, document.Capture, False)
    return json.dumps(doc, sort_keys=True)
