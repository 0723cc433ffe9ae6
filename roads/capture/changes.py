"""What a re-capture changed, against a git revision: for the refresh pull request.

For each capture of the working tree that differs from the one committed at REV (what
commits since REV changed and what is not committed yet count alike, staged or not): the
sample, and which provenance fields (kernel, glibc, gcc, ...) moved, or that only the
content did.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import command
from ..errors import CommandFailed, ConfigError


def committed(root: Path, rev: str, relative: str) -> dict | None:
    """The JSON document at ``relative`` (to ``root``) in revision ``rev``, or None if it
    was not there."""
    try:
        done = command.run(["git", "show", f"{rev}:./{relative}"], cwd=root, timeout=60)
    except CommandFailed:
        return None
    try:
        doc = json.loads(done.stdout)
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
        raise ConfigError(f"--rev {rev}: no such commit in {root}") from None
    lines = []
    for relative in differing(root, snapshots, commit):
        if not relative.endswith(".json"):
            continue
        try:
            new = json.loads((root / relative).read_text())
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
    return f"- `{name}`: {what}"


def _provenance(doc: dict) -> dict:
    """A capture's provenance, or {} where it has none a table can read."""
    found = doc.get("provenance")
    return found if isinstance(found, dict) else {}
