"""What a ``roads explain`` session made (``Session``), and the JSON it is saved as.

Apart from the code that runs a session (``roads.explain.session``: the tracer, the
capture engine, pyelftools), so that drawing a saved session (the site's
``explained()`` figures) loads none of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import document
from ..errors import ExplainError

VARIANT = "default"
# No capture folder to write "/build": paths stay as the machine names them.
NO_BUILD_DIR = Path("/nonexistent/roads-explain")


@dataclass(frozen=True)
class UnreadStop:
    """A stop the run reached whose memory could not be read: its ``--at``, the process
    held there, and why, in words that say what the user could do."""

    label: str
    pid: int
    reason: str


@dataclass
class Session:
    """What a session made: the document, the program's real path, and how it ended."""

    capture: document.Capture
    exe: str
    command: list[str]
    ending: str  # how the run ended, in words
    complete: bool  # every stop asked for was reached
    missing: list[str]
    # The bytes written to stdout or stderr, all told, where more than the run keeps.
    cut: dict[str, int] = field(default_factory=dict)
    # Stops reached but not read (``UnreadStop``), in the order they came; the page
    # shows the others.
    unread: list[UnreadStop] = field(default_factory=list)

    @property
    def whole(self) -> bool:
        """Whether the page shows every stop asked for: each reached and read."""
        return self.complete and not self.unread


def session_json(session: Session) -> dict:
    """A session as plain JSON data (``roads explain --save``; the sandbox's result)."""
    data = {"explain": 1, "capture": document.to_builtins(session.capture), "exe": session.exe,
            "command": session.command, "ending": session.ending,
            "complete": session.complete, "missing": session.missing}
    if session.cut:
        data["cut"] = session.cut
    if session.unread:
        data["unread"] = [{"label": u.label, "pid": u.pid, "reason": u.reason}
                          for u in session.unread]
    return data


def session_from_json(data: dict) -> Session:
    """The session ``session_json`` wrote; ExplainError when it is not one."""
    try:
        return Session(document.from_builtins(data["capture"]), data["exe"], list(data["command"]),
                       data["ending"], bool(data["complete"]), list(data["missing"]),
                       {str(k): int(v) for k, v in data.get("cut", {}).items()},
                       [UnreadStop(str(u["label"]), int(u["pid"]), str(u["reason"]))
                        for u in data.get("unread", [])])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ExplainError(f"not a document roads explain saved: {exc}") from None


def load_session(path: str | Path) -> Session:
    try:
        return session_from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ExplainError(f"{path}: {exc}") from None
