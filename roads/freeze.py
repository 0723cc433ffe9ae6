"""Frozen captures: one versioned JSON document per sample, committed to the repository.

Written deterministically (sorted keys, fixed layout, a newline at the end) and
atomically (a temporary file in the same folder, then rename). A new capture that
differs from the committed one only in what no run can hold still (real pids,
physical frame numbers, smaps counters that depend on other processes (Pss, shared
and private splits), peaks reached in passing (VmPeak, VmHWM), and, when a sample asks
for ASLR, every address and counter: only the shape of its space must repeat) leaves
the file untouched.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import CaptureError

SCHEMA = 1
SUFFIX = ".json"
# Counters of smaps that depend on which other processes share a page (a page of libc
# is Shared_Clean while any other process maps it, Private_Clean otherwise), or on
# reclaim's sampling (Referenced). Rss, Anonymous and the rest must repeat.
VOLATILE_KB = re.compile(r"^(Pss.*|SwapPss|Shared_.*|Private_.*|Referenced)$")
# Lines of /proc/PID/status that name pids or record a peak reached in passing.
VOLATILE_STATUS = frozenset({"Pid", "PPid", "Tgid", "Ngid", "TracerPid", "VmPeak", "VmHWM"})
PID_FIELDS = ("pid", "ppid")
ASLR_FIELDS = ("start", "end", "value", "a_val", "vaddr")
PROCESS_IN_TEXT = re.compile(r"\b(process|LWP|Thread 0x[0-9a-f]+ \(LWP) (\d+)")
HEX_IN_TEXT = re.compile(r"0x[0-9a-f]{4,}")
# Top-level keys that describe what went into a capture rather than what it observed.
RECORDED_INPUTS = ("digest", "inputs", "provenance")


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
        doc = {**old, **{key: doc[key] for key in RECORDED_INPUTS if key in doc}}
    write_atomic(path, dumps(doc))
    return True


def _observed(doc: dict) -> dict:
    return {key: value for key, value in doc.items() if key not in RECORDED_INPUTS}


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
    """The part of a document that a re-capture is expected to reproduce, as text."""
    doc = copy.deepcopy(doc)
    pids: dict[int, int] = {}
    frames: dict[int, int] = {}

    def pid_of(value: int) -> int:
        return pids.setdefault(value, len(pids) + 1)

    def walk(node: object, aslr: bool) -> None:
        if isinstance(node, dict):
            if "aslr_requested" in node:
                aslr = bool(node["aslr_requested"])
            for key in sorted(node):
                value = node[key]
                if aslr and key in ASLR_FIELDS and isinstance(value, int):
                    # Randomised: only the shape of the space is expected to repeat (not
                    # even the low 12 bits, which the kernel shifts for the stack).
                    node[key] = None
                elif aslr and key in ("kb", "status"):
                    node[key] = None
                elif key in PID_FIELDS and isinstance(value, int):
                    node[key] = pid_of(value)
                elif key == "pfn" and isinstance(value, int):
                    node[key] = frames.setdefault(value, len(frames) + 1)
                elif key == "kb" and isinstance(value, dict):
                    node[key] = {k: v for k, v in value.items() if not VOLATILE_KB.match(k)}
                elif aslr and key in ("stdout", "stderr") and isinstance(value, str):
                    node[key] = HEX_IN_TEXT.sub("0x…", value)
                elif key == "addresses" and isinstance(value, list):
                    # Threads record theirs in whatever order the scheduler lets them.
                    walk(value, aslr)
                    node[key] = sorted(value, key=lambda a: json.dumps(a, sort_keys=True))
                elif key == "transcript" and isinstance(value, str):
                    node[key] = PROCESS_IN_TEXT.sub(lambda m: f"{m.group(1)} N", value)
                elif key == "status" and isinstance(value, dict):
                    node[key] = {k: v for k, v in value.items()
                                 if k not in VOLATILE_STATUS}
                else:
                    walk(value, aslr)
        elif isinstance(node, list):
            for item in node:
                walk(item, aslr)

    walk(doc, False)
    return json.dumps(doc, sort_keys=True)
