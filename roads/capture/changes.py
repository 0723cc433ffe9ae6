"""What a re-capture changed, against a git revision: for the refresh pull request.

For each capture that differs from the one committed at REV: the sample, and which
provenance fields (kernel, glibc, gcc, ...) moved, or that only the content did.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import command
from ..errors import CommandFailed, ConfigError


def committed(root: Path, rev: str, relative: str) -> dict | None:
    """The JSON document at ``relative`` in revision ``rev``, or None if it was not there."""
    try:
        done = command.run(["git", "show", f"{rev}:{relative}"], cwd=root, timeout=60)
    except CommandFailed:
        return None
    try:
        doc = json.loads(done.stdout)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def summarise(root: Path, snapshots: Path, rev: str = "HEAD") -> list[str]:
    """One Markdown line per capture that differs from ``rev``; empty when none does.
    ConfigError when ``rev`` names no commit (each capture would read as new)."""
    try:
        command.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=root,
                    timeout=60)
    except CommandFailed:
        raise ConfigError(f"--rev {rev}: no such commit in {root}") from None
    listed = command.run(["git", "status", "--porcelain", "--untracked-files=all", "--", str(snapshots)], cwd=root,
                         timeout=60).stdout
    lines = []
    for row in sorted(listed.splitlines()):
        path = row[3:].strip()
        if not path.endswith(".json"):
            continue
        name = Path(path).stem
        relative = Path(path).as_posix()
        old = committed(root, rev, relative)
        try:
            new = json.loads((root / relative).read_text())
        except (OSError, ValueError):
            new = None
        if not isinstance(new, dict):
            lines.append(f"- `{name}`: removed or unreadable")
            continue
        if old is None:
            lines.append(f"- `{name}`: new capture")
            continue
        was, now = _provenance(old), _provenance(new)
        moved = [f"{key} {was.get(key)!s} → {now.get(key)!s}"
                 for key in sorted(set(was) | set(now)) if was.get(key) != now.get(key)]
        inputs = old.get("inputs") != new.get("inputs")
        what = "; ".join(moved) if moved else "content only"
        if inputs:
            what += " (its inputs changed too)"
        lines.append(f"- `{name}`: {what}")
    return lines


def _provenance(doc: dict) -> dict:
    """A capture's provenance, or {} where it has none a table can read."""
    found = doc.get("provenance")
    return found if isinstance(found, dict) else {}
