"""What a re-capture changed, against a git revision: for the refresh pull request.

For each capture of the working tree that differs from the one committed at REV (what
commits since REV changed and what is not committed yet count alike, staged or not): the
sample, which provenance fields (kernel, glibc, gcc, ...) moved, and the first fields of
its content that differ in what a re-capture is expected to reproduce
(``freeze.stable``: no pid, no timing), each named by its path in the document.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import command
from ..errors import CommandFailed, ConfigError, json_document
from . import freeze

# How many of a capture's differing fields its line names.
SHOWN = 4


def committed(root: Path, rev: str, relative: str) -> dict | None:
    """The JSON document at ``relative`` (to ``root``) in revision ``rev``, or None if it
    was not there."""
    try:
        done = command.run(["git", "show", f"{rev}:./{relative}"], cwd=root, timeout=60)
    except CommandFailed:
        return None
    try:
        doc = json_document(done.stdout)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def differing(root: Path, snapshots: Path, commit: str) -> list[str]:
    """The files under ``snapshots`` that may differ between ``commit`` and the working tree,
    relative to ``root``, sorted: those git tracks (in ``commit`` or in the index) whose
    content in the working tree is not ``commit``'s, and the untracked ones not ignored.
    A rename is the old path and the new one."""
    # Against the working tree, not HEAD nor the index: what is staged does not count.
    git = ["git", "--no-optional-locks", "--literal-pathspecs"]
    tracked = command.run([*git, "diff", "--name-only", "-z", "--no-renames", "--relative",
                           "--no-ext-diff", commit, "--", str(snapshots)], cwd=root, timeout=60,
                          translate_newlines=False)
    untracked = command.run([*git, "ls-files", "-z", "--others", "--exclude-standard", "--",
                             str(snapshots)], cwd=root, timeout=60, translate_newlines=False)
    return sorted(set(split_z(tracked.stdout)) | set(split_z(untracked.stdout)))


def split_z(listed: str) -> list[str]:
    """The paths of git's ``-z`` output: NUL-terminated, never quoted."""
    return [path for path in listed.split("\0") if path]


def summarise(root: Path, snapshots: Path, rev: str = "HEAD") -> list[str]:
    """One Markdown line per capture of the working tree that differs from ``rev``'s
    (changed, new, or removed); empty when none does.
    ConfigError when ``rev`` names no commit (each capture would read as new)."""
    try:
        # Its commit id from here on: git takes no id for an option or a path.
        commit = command.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                             cwd=root, timeout=60).stdout.strip()
    except CommandFailed:
        try:
            command.run(["git", "rev-parse", "--git-dir"], cwd=root, timeout=60)
        except CommandFailed:
            # Not "no such commit": there is no history here to hold one.
            raise ConfigError(f"{root}: not a git checkout, whose commits roads changes "
                              "compares the captures with: is this the project's folder? "
                              "(roads --root FOLDER COMMAND names another)") from None
        raise ConfigError(f"--rev {rev}: no such commit in {root}") from None
    lines = []
    for relative in differing(root, snapshots, commit):
        if not relative.endswith(".json"):
            continue
        try:
            new = json_document((root / relative).read_text())
        except (OSError, ValueError):
            new = None
        line = describe(Path(relative).stem, committed(root, commit, relative), new)
        if line is not None:
            lines.append(line)
    return lines


def describe(name: str, old: dict | None, new) -> str | None:
    """The Markdown line for capture ``name`` as it was (``old``, None if it was not
    there) and is (``new``, the parsed file or None); None when nothing differs."""
    if not isinstance(new, dict):
        return f"- `{name}`: removed or unreadable"
    if old is None:
        return f"- `{name}`: new capture"
    if old == new:  # e.g. put back as it was but untracked, which git lists as deleted
        return None
    was, now = _provenance(old), _provenance(new)
    moved = [f"{key} {was.get(key)!s} → {now.get(key)!s}"
             for key in sorted(set(was) | set(now)) if was.get(key) != now.get(key)]
    what = "; ".join(moved) if moved else "content only"
    if old.get("inputs") != new.get("inputs"):
        what += " (its inputs changed too)"
    fields = content_changes(old, new)
    if fields:
        shown = "; ".join(f"`{path}` {a} → {b}" for path, a, b in fields[:SHOWN])
        more = f" and {len(fields) - SHOWN} more" if len(fields) > SHOWN else ""
        what += f": {shown}{more}"
    return f"- `{name}`: {what}"


def content_changes(old: dict, new: dict) -> list[tuple[str, str, str]]:
    """The fields of the captures' content (provenance, inputs and digest aside) that
    differ in what a re-capture is expected to reproduce (``freeze.stable``): each as
    its path, a checkpoint named by its name and a region by its file, permissions and
    offset, with its value before and after."""
    try:
        a, b = (json.loads(freeze.stable(d)) for d in (old, new))
        for doc in (a, b):
            for key in ("provenance", "inputs", "digest"):
                doc.pop(key, None)
        out: list[tuple[str, str, str]] = []
        _walk(a, b, "", out)
    except (TypeError, ValueError, AttributeError, RecursionError):  # (nested too deeply)
        return []
    return out


_GONE = object()


def _walk(a: object, b: object, where: str, out: list) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            _walk(a.get(key, _GONE), b.get(key, _GONE), f"{where}.{key}" if where else key, out)
    elif isinstance(a, list) and isinstance(b, list):
        before, after = _keyed(a), _keyed(b)
        if before is None or after is None:  # items without names: by their places
            if len(a) != len(b):
                out.append((where, f"{len(a)} items", f"{len(b)} items"))
            for i, (x, y) in enumerate(zip(a, b)):
                _walk(x, y, f"{where}[{_label(x, i)}]", out)
            return
        # Named items (checkpoints, regions) matched by their names, so that one region
        # added does not read as every region after it changed.
        for key in list(dict.fromkeys([*before, *after])):
            x, y = before.get(key, _GONE), after.get(key, _GONE)
            if x is _GONE or y is _GONE:
                out.append((f"{where}[{key}]", "(none)" if x is _GONE else "there",
                            "there" if x is _GONE else "(none)"))
            else:
                _walk(x, y, f"{where}[{key}]", out)
    elif a != b:
        out.append((where, _shown(a), _shown(b)))


def _keyed(items: list) -> dict[str, object] | None:
    """``items`` by their names (``_label``), a name met again numbered (#2, #3...);
    None where one has no name."""
    keyed: dict[str, object] = {}
    for i, item in enumerate(items):
        label = _label(item, i)
        if label == str(i):
            return None
        key, n = label, 1
        while key in keyed:
            n += 1
            key = f"{label} #{n}"
        keyed[key] = item
    return keyed


def _label(item: object, index: int) -> str:
    """A list item named as a reader knows it: a checkpoint by its name, a region by its
    file, permissions and offset; else by its place."""
    if isinstance(item, dict):
        if isinstance(item.get("name"), str):
            return item["name"]
        if isinstance(item.get("perms"), str) and isinstance(item.get("offset"), int):
            return f"{item.get('pathname') or 'anonymous'} {item['perms']} @{item['offset']:#x}"
    return str(index)


def _shown(value: object) -> str:
    if value is _GONE:
        return "(none)"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _provenance(doc: dict) -> dict:
    """A capture's provenance, or {} where it has none a table can read."""
    found = doc.get("provenance")
    return found if isinstance(found, dict) else {}
