"""What a re-capture changed, against a git revision: for the refresh pull request.

For each capture that differs from the one committed at REV: the sample, and which
provenance fields (kernel, glibc, gcc, ...) moved, or that only the content did.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import command
from ..errors import CommandFailed


def committed(root: Path, rev: str, relative: str) -> dict | None:
    """The JSON document at ``relative`` in revision ``rev``, or None if it was not there."""
    try:
        done = command.run(["git", "show", f"{rev}:{relative}"], cwd=root, timeout=60)
    except CommandFailed:
        return None
    try:
        return json.loads(done.stdout)
    except ValueError:
        return None


def summarise(root: Path, snapshots: Path, rev: str = "HEAD") -> list[str]:
    """One Markdown line per capture that differs from ``rev``; empty when none does."""
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
            lines.append(f"- `{name}`: removed or unreadable")
            continue
        if old is None:
            lines.append(f"- `{name}`: new capture")
            continue
        moved = [
            f"{key} {old['provenance'].get(key)!s} → {new['provenance'].get(key)!s}"
            for key in sorted(set(old.get("provenance", {})) | set(new.get("provenance", {})))
            if old.get("provenance", {}).get(key) != new.get("provenance", {}).get(key)
        ]
        inputs = old.get("inputs") != new.get("inputs")
        what = "; ".join(moved) if moved else "content only"
        if inputs:
            what += " (its inputs changed too)"
        lines.append(f"- `{name}`: {what}")
    return lines
