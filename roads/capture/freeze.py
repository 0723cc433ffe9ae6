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

import contextlib
import functools
import hashlib
import json
import os
import re
import stat
import tempfile
import types
import typing
from pathlib import Path

import msgspec

from .. import cachedir, document
from ..errors import CaptureError, json_document

SCHEMA = document.SCHEMA
SUFFIX = ".json"
# Counters of smaps that depend on which other processes share a page (a page of libc
# is Shared_Clean while any other process maps it, Private_Clean otherwise), or on
# reclaim's sampling (Referenced). Rss, Anonymous and the rest must repeat.
VOLATILE_KB = re.compile(r"^(Pss.*|SwapPss|Shared_.*|Private_.*|Referenced)$")
PROCESS_IN_TEXT = re.compile(r"\b(process|LWP|Thread 0x[0-9a-f]+ \(LWP) (\d+)")
HEX_IN_TEXT = re.compile(r"0x[0-9a-f]{4,}")
# A /proc/PID/maps line inside a text (a gdb script printing one): range, permissions
# and offset kept, device and inode masked, with the spaces that pad the inode's column.
MAPS_LINE_IN_TEXT = re.compile(
    r"^(\s*[0-9a-f]+-[0-9a-f]+ [r-][w-][x-][ps] [0-9a-f]+ )[0-9a-f]+:[0-9a-f]+ +\d+ *",
    re.MULTILINE)


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


# json.dumps with these arguments, made once (json.dumps makes an encoder on each call).
_COMPACT = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(", ", ": "))
_key = json.JSONEncoder(ensure_ascii=False).encode
# What _COMPACT.encode does with a value that is not a string, without the Python code
# that makes the C encoder anew on each call (half of writing a static binary's
# thousands of symbols, one record each). No markers: a document is never circular,
# and one dict of markers shared by threads writing at once could see one object twice.
_c_encoder = None if json.encoder.c_make_encoder is None else json.encoder.c_make_encoder(
    None, _COMPACT.default, json.encoder.encode_basestring, None, _COMPACT.key_separator,
    _COMPACT.item_separator, True, False, True)


def _compact(value: object) -> str:
    """``_COMPACT.encode(value)``."""
    if _c_encoder is None or isinstance(value, str):
        return _COMPACT.encode(value)
    return "".join(_c_encoder(value, 0))


_FLAT = frozenset({str, int, float, bool, type(None)})  # the types of a scalar


def _is_record(value: object) -> bool:
    """A dict whose values are scalars, or lists and dicts of scalars only."""
    if not isinstance(value, dict):
        return False
    if _FLAT.issuperset(map(type, value.values())):  # most records: at C speed
        return True
    for item in value.values():
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        for v in item:  # plain loops: a static binary has thousands of records
            if isinstance(v, (dict, list)):
                return False
    return True


def _write(node: object, depth: int, out: list[str]) -> None:
    pad = " " * (depth + 1)
    if isinstance(node, dict) and node and not (_is_record(node) and depth > 0):
        out.append("{\n")
        keys = sorted(node)
        for i, key in enumerate(keys):
            out.append(f"{pad}{_key(key)}: ")
            _write(node[key], depth + 1, out)
            out.append(",\n" if i < len(keys) - 1 else "\n")
        out.append(" " * depth + "}")
    elif isinstance(node, list) and node and any(isinstance(v, (dict, list)) for v in node):
        # One line per item; a record (the common case: regions, pages, symbols) is
        # written at once, without a call of its own.
        items = []
        for item in node:
            if isinstance(item, dict) and item and _is_record(item):
                items.append(_compact(item))
            else:
                inner: list[str] = []
                _write(item, depth + 1, inner)
                items.append("".join(inner))
        out.append(f"[\n{pad}")
        out.append(f",\n{pad}".join(items))
        out.append("\n" + " " * depth + "]")
    else:
        out.append(_compact(node))


def digest(value: object) -> str:
    """sha256 of a JSON value in canonical form."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def capture_document(sample: str, title: str, inputs: dict, provenance: dict,
                     body: dict) -> dict:
    """A sample's capture document as it is written: its name and title, what it was
    made from (``inputs``, whose digest it carries), the machine (``provenance``) and
    what the runs found (``body``: variants, headers). Here, among the files whose code
    shapes a capture (``freshness.ENGINE_FILES``), not in the capturer that schedules
    captures."""
    doc = {"schema": SCHEMA, "sample": sample, "title": title, "inputs": inputs,
           "provenance": provenance, **body}
    doc["digest"] = digest(doc["inputs"])
    return doc


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
        doc = json_document(text)
    except json.JSONDecodeError as exc:
        raise CaptureError(f"{path}:{exc.lineno}: corrupt capture: {exc.msg}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise CaptureError(f"{path}: capture schema {found!r}, this engine reads {SCHEMA}")
    for key in ("sample", "inputs", "provenance", "variants"):
        if key not in doc:
            raise CaptureError(f"{path}: corrupt capture: no {key!r}")
    return doc


def write_if_changed(path: Path, doc: dict, old: dict | None = None,
                     old_stable: str | None = None, cache: Path | None = None,
                     new_stable: str | None = None) -> bool:
    """Write ``doc`` unless the file there already says the same; True if written.

    ``old``: the file's document, when the caller has it already (read, not changed),
    and ``old_stable`` its ``stable`` text, when the caller has that too (``stable_kept``).
    With ``cache``, the ``stable`` text of a file written is kept there (``stable_kept``).
    ``new_stable``: ``stable(doc)``, when the caller has it already.
    """
    if old is None:
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
    if new_stable is None:
        new_stable = stable(doc)
    if old is not None and (old_stable if old_stable is not None else stable(old)) == new_stable:
        return False
    if old is not None and stable(_observed(old)) == stable(_observed(doc)):
        # Only the inputs moved (an engine edit, say), not what the runs observed: keep
        # the old observations, pids and frames included, so the diff is the inputs.
        doc = {**old, **{key: doc[key] for key in _recorded_inputs() if key in doc}}
        new_stable = None  # not that of the document written
    text = dumps(doc)
    write_atomic(path, text)
    if cache is not None and new_stable is not None:
        _keep_stable(cache, hashlib.sha256(text.encode("utf-8")).hexdigest(), new_stable)
    return True


# The code that decides what ``stable`` makes of a document, under roads/.
STABLE_CODE = ("capture/freeze.py", "document.py")


@functools.cache
def _stable_code() -> str:
    roads = Path(__file__).parent.parent
    h = hashlib.sha256(f"msgspec {msgspec.__version__}".encode())
    for name in STABLE_CODE:
        h.update(name.encode() + b"\0" + (roads / name).read_bytes())
    return h.hexdigest()[:16]


def stable_kept(doc: dict, sha: str, cache: Path) -> str:
    """``stable(doc)`` of the document read from a file whose bytes have the digest
    ``sha``, kept under ``cache/stable`` by that digest and by the digest of the code
    that makes it: a committed capture compared again (each refresh) is not walked
    again."""
    text = stable_known(sha, cache)
    if text is not None:
        return text
    text = stable(doc)
    _keep_stable(cache, sha, text)
    return text


def stable_known(sha: str, cache: Path) -> str | None:
    """The kept ``stable`` text of the file whose bytes have digest ``sha`` (made by
    this very code), or None when none is kept (the texts of this process's last
    files are also held in memory: a long-lived process refreshing again reads none)."""
    path = _stable_path(cache, sha)
    text = _STABLE_HELD.get(str(path))
    if text is not None:
        return text
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not text:  # a file emptied by a crash
        return None
    _hold(str(path), text)
    return text


# The stable texts kept last, by the path they are kept at (which names the code that
# made them and the digest of the file's bytes): a few dozen captures' worth.
_STABLE_HELD: dict[str, str] = {}
_STABLE_HELD_MAX = 64


def _hold(key: str, text: str) -> None:
    if len(_STABLE_HELD) >= _STABLE_HELD_MAX:
        try:
            _STABLE_HELD.pop(next(iter(_STABLE_HELD)), None)  # the oldest
        except (RuntimeError, StopIteration):  # another thread changed it meanwhile
            pass
    _STABLE_HELD[key] = text


def _stable_path(cache: Path, sha: str) -> Path:
    return cache / "stable" / _stable_code() / f"{sha}.txt"


def _keep_stable(cache: Path, sha: str, text: str) -> None:
    """Keep ``text``, the ``stable`` text of the file whose bytes have digest ``sha``."""
    kept = _stable_path(cache, sha)
    try:
        cachedir.keep_text(kept, text)
    except OSError:  # a cache: the text is made again next time
        return
    _hold(str(kept), text)


def _recorded_inputs() -> tuple[str, ...]:
    """Top-level keys that describe what went into a capture, not what it observed."""
    return tuple(key for key, kinds in document.marks(document.Capture).items()
                 if document.INPUT in kinds)


def _observed(doc: dict) -> dict:
    inputs = _recorded_inputs()
    return {key: value for key, value in doc.items() if key not in inputs}


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that no reader ever sees half a file.

    The text is written to a file of its own in ``path``'s folder (so on the same file
    system, for the rename), made by ``mkstemp``: a name no one can guess, created with
    O_EXCL, so that nothing planted in a folder others may write (a page written to
    /tmp) is written through. It gets the permission bits ``path`` had, or those of a
    new file (``_permissions``), and is removed whatever fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _permissions(path)
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with open(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def _permissions(path: Path) -> int:
    """The permission bits (no set-id bits) of the regular file ``path``, or, where there
    is none, those a new file gets: 0666 less the umask."""
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode) & 0o777
    except OSError:
        pass
    return 0o666 & ~_umask()


def _umask() -> int:
    """This process's umask, read from /proc (Linux 4.7), not set and set back with
    ``os.umask``: a thread making a file meanwhile would be given the wrong one. 077,
    the strictest, where /proc does not say."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o077


def stable(doc: dict) -> str:
    """The part of a document that a re-capture is expected to reproduce, as text.

    Each field is compared as ``roads.document`` marks it: pids by order of first
    appearance, frames likewise within each run, what depends on timing or on other
    processes left out, and in a run that asked for ASLR only the shape of its space
    (not even the low 12 bits of an address, which the kernel shifts for the stack).
    Keys the document does not declare are compared as they are.

    ``doc`` is not changed: what the marks change is built anew, and what no mark can
    reach (the ELF records, a static binary's thousands of symbols) is taken as it is.
    """
    pids: dict[int, int] = {}
    frames: dict[int, int] = {}
    value = _stable(doc, document.Capture, False, pids, frames)
    try:  # msgspec's encoder, keys sorted: the text is only ever compared with another
        return _encode(value).decode()
    except TypeError:  # a key that is not a string (no capture has one)
        return json.dumps(value, sort_keys=True)


_encode = msgspec.json.Encoder(order="sorted").encode


def _number(value: object, seen: dict[int, int]) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return seen.setdefault(value, len(seen) + 1)
    return value


def _stable(node: object, kind: object, aslr: bool, pids: dict, frames: dict) -> object:
    """``node`` read as ``kind`` with the marks applied (in the order of sorted keys, so
    that pids and frames are numbered as they first appear); ``node`` itself where no
    mark applies below it."""
    if _inert(kind):
        return node
    kind = _container(kind, dict if isinstance(node, dict) else list if isinstance(node, list)
                      else None)
    if isinstance(node, list):
        item = typing.get_args(kind)[0] if typing.get_origin(kind) is tuple else None
        if _inert(item):
            return node
        if document.is_record(item):  # the common case, without the lookups above
            return [_record(value, item, aslr, pids, frames) if isinstance(value, dict)
                    else _stable(value, item, aslr, pids, frames) for value in node]
        return [_stable(value, item, aslr, pids, frames) for value in node]
    if not isinstance(node, dict):
        return node
    if document.is_record(kind):
        return _record(node, kind, aslr, pids, frames)
    if typing.get_origin(kind) is dict:
        values = typing.get_args(kind)[1]
        if _inert(values):
            return node
        return {key: _stable(node[key], values, aslr, pids, frames) for key in sorted(node)}
    return node


# What ``_record`` does with a field, decided once per record class and ASLR state.
_WALK, _NULL, _DROP, _PID, _FRAME, _OTHER = range(6)


def _record(node: dict, kind: type, aslr: bool, pids: dict, frames: dict) -> dict:
    """``_stable`` of a dict read as the record class ``kind``: a copy, with the fields
    that a mark can change changed, in the order of their names (that of ``sorted``,
    so that pids and frames are numbered as they first appear; the others number
    nothing and are copied as they are, as are the keys the document does not declare)."""
    for key in _switches(kind):
        if key in node:
            aslr = bool(node[key])
    if kind is document.Run:
        # Frames are numbered within a run: the frame of a page that one run freed at
        # its exit may be handed to the next run or not, as the kernel's free lists of
        # the CPU it ran on happen to be.
        frames = {}
    out = dict(node)
    for key, action, inner, kinds in _plan(kind, aslr):
        if key not in node:
            continue
        value = node[key]
        if action == _WALK:
            out[key] = _stable(value, inner, aslr, pids, frames)
        elif action == _NULL:
            out[key] = None
        elif action == _DROP:
            del out[key]
        elif action == _PID:
            out[key] = _number(value, pids)
        elif action == _FRAME:
            out[key] = _number(value, frames)
        elif document.SHARING in kinds and isinstance(value, dict):
            kept = _steady_kb(tuple(value), document.PAGE_CACHE in kinds and _theirs(node))
            out[key] = {k: value[k] for k in kept}
        elif document.PAGE_CACHE in kinds:  # a process's count of such pages
            del out[key]
        elif isinstance(value, str) and _TEXT_MARKS & set(kinds):
            out[key] = _masked(value, kinds, aslr)
        else:
            value = _stable(value, inner, aslr, pids, frames)
            if document.UNORDERED in kinds and isinstance(value, list):
                value = sorted(value, key=_encode)
            out[key] = value
    return out


_TEXT_MARKS = frozenset({document.ASLR_HEX, document.PIDS_IN_TEXT, document.FILES_IN_TEXT})
# The marks whose effect depends on the value's type as well (``_OTHER`` in ``_plan``).
_TYPED_MARKS = _TEXT_MARKS | {document.SHARING, document.UNORDERED, document.PAGE_CACHE}


def _masked(text: str, kinds: tuple[str, ...], aslr: bool) -> str:
    """``text`` with what its marks say a re-capture may change masked."""
    if document.ASLR_HEX in kinds and aslr:
        text = HEX_IN_TEXT.sub("0x…", text)
    if document.PIDS_IN_TEXT in kinds:
        text = PROCESS_IN_TEXT.sub(lambda m: f"{m.group(1)} N", text)
    if document.FILES_IN_TEXT in kinds:
        text = MAPS_LINE_IN_TEXT.sub(r"\1dev inode ", text)
    return text


@functools.cache
def _switches(kind: type) -> tuple[str, ...]:
    """The fields of a record that switch ASLR on or off for it and below."""
    return tuple(key for key, kinds in document.marks(kind).items()
                 if document.ASLR_SWITCH in kinds)


@functools.cache
def _plan(kind: type, aslr: bool) -> tuple[tuple[str, int, object, tuple[str, ...]], ...]:
    """The fields of a record that a mark can change (in a run with ASLR or without),
    in the order of their names, each with what ``_record`` does with it, its
    annotation and its marks."""
    marks = document.marks(kind)
    plan = []
    for key, inner in sorted(document.field_types(kind).items()):
        kinds = marks.get(key, ())
        if aslr and document.ASLR in kinds:
            action = _NULL
        elif document.IGNORED in kinds:
            action = _DROP
        elif document.PID in kinds:
            action = _PID
        elif document.FRAME in kinds:
            action = _FRAME
        elif _TYPED_MARKS & set(kinds):
            action = _OTHER  # depends on the value's type too
        elif _inert(inner):
            continue  # copied as it is
        else:
            action = _WALK
        plan.append((key, action, inner, kinds))
    return tuple(plan)


@functools.cache
def _steady_kb(keys: tuple[str, ...], theirs: bool = False) -> tuple[str, ...]:
    """Of the smaps counters ``keys``, those that do not depend on other processes; of
    a region mapping a file the sample did not make (``theirs``), not ``Rss`` either."""
    return tuple(key for key in keys
                 if not VOLATILE_KB.match(key) and not (theirs and key == "Rss"))


# A region's file that the sample did not make: a path, but not in its build folder
# (``/build``, where its program and the files it writes are) nor memory of its own
# that has a name (a memfd, System V shared memory, /dev/zero shared).
_THEIRS = re.compile(r"/(?!build/|dev/|memfd:|SYSV|anon_hugepage)")


def _theirs(region: dict) -> bool:
    """Whether ``region`` (a Region as JSON) maps a file the sample did not make, whose
    pages the page cache holds as other processes' reads left them."""
    return bool(_THEIRS.match(region.get("pathname") or ""))


@functools.cache
def _container(kind: object, shape: type | None) -> object:
    """``document.container`` for a node that is a ``shape`` (dict, list, or None: neither),
    which is all it looks at."""
    return document.container(kind, None if shape is None else shape())


_SCALARS = (int, str, bool, float, type(None), type(document.UNSET))


@functools.cache
def _inert(kind: object) -> bool:
    """Whether no mark can apply to a node read as ``kind``, nor anywhere below it (a
    type we do not know is not)."""
    while typing.get_origin(kind) is typing.Annotated:
        kind = typing.get_args(kind)[0]
    if kind is None or kind is typing.Any or kind in _SCALARS:
        return True
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return all(_inert(option) for option in args)
    if origin is typing.Literal or origin is list:  # the marks never reach into a list[...]
        return True
    if origin is tuple:
        return all(_inert(arg) for arg in args if arg is not Ellipsis)
    if origin is dict:
        return _inert(args[1])
    if document.is_record(kind):
        if kind in _visiting:
            return False
        _visiting.add(kind)
        try:
            return not document.marks(kind) and all(
                _inert(t) for t in document.field_types(kind).values())
        finally:
            _visiting.discard(kind)
    return False


_visiting: set[type] = set()
