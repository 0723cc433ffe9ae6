"""A session saved with ``roads explain --save``, kept as fresh as a sample's capture.

The site's worked example (``explained()``) draws from a saved session. Like a
capture, the saved file records what made it: the command's stops and arguments, the
options that shape its run (``RunOptions``), the C source it compiled (by digest) and
the code that captured it (``roads/explain/`` and the capture engine, by digest). When
the source or the code changes the file is stale; a build in ``auto`` or ``refresh``
mode runs ``roads explain`` again, with the same stops, arguments and options, and
rewrites it (the worked example is captured at build time, as the samples are), and a
``frozen`` build draws the committed file and warns that it is stale (``--strict``
fails).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

from ..capture.freshness import engine_digest
from ..errors import ExplainError, json_document
from . import shellwords
from .program import DEFAULT_DEADLINE, MAX_DEADLINE
from .pagefile import write_page
from .record import Session, load_session, session_json

HERE = Path(__file__).resolve().parent


def explain_digest() -> str:
    """Digest of the code a saved session depends on: this package and the capture engine."""
    h = hashlib.sha256(engine_digest().encode())
    for path in sorted(HERE.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def code_files() -> list[Path]:
    """The files of the code ``explain_digest`` stands for: this package and the capture
    engine's (``ENGINE_FILES``). A page drawn from a saved session depends on them too
    (``macros.pagecache``): changed, they make the session stale, and the page with it."""
    from ..capture.freshness import ENGINE_FILES

    return [*sorted(HERE.glob("*.py")), *(HERE.parent / name for name in ENGINE_FILES)]


@dataclass(frozen=True)
class RunOptions:
    """The options of ``roads explain`` that shape what a run captures, besides its
    stops and arguments: ``--aslr``, ``--follow-fork``, ``--deadline`` (a stop reached
    or not) and ``--no-sandbox`` (the pids, the files and folders the program sees).
    A saved session records them (``inputs``) and is run again with them."""

    aslr: bool = False
    follow_fork: bool = False
    deadline: float = DEFAULT_DEADLINE
    sandbox: bool = True

    @classmethod
    def recorded(cls, record: dict, path: Path) -> RunOptions:
        """The options a saved session's ``inputs`` record, the defaults for those it
        lacks (a session saved before they were recorded has none). ExplainError naming
        ``path`` and the field when one is not what it should be."""
        given = {f.name: record[f.name] for f in fields(cls) if f.name in record}
        for name, value in given.items():
            if name == "deadline":
                if isinstance(value, bool) or not isinstance(value, (int, float)) \
                        or not 0 < value <= MAX_DEADLINE:
                    raise ExplainError(f"{path}: inputs.deadline is {value!r}, not a number of "
                                       f"seconds more than 0 and at most {MAX_DEADLINE:g}")
            elif not isinstance(value, bool):
                raise ExplainError(f"{path}: inputs.{name} is {value!r}, not true or false")
        return cls(**given)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def project_source(root: Path, program: str) -> Path | None:
    """The file a saved session's ``program`` names from the project folder ``root``, as
    a build reads it (its digest, the page cache's dependency): a regular file, links
    resolved; None for any other. A saved session is a repository's file: named
    '/dev/zero', or by a link that leads there, the source was read whole, and the
    build took memory until there was none. (It may lie outside ``root``: a session
    saved from another folder names its source from the root, ``../work/prog.c``.)"""
    try:
        found = (root / program).resolve()
        return found if stat.S_ISREG(os.stat(found).st_mode) else None
    except (OSError, RuntimeError, ValueError):  # gone, a loop of links, a NUL in the name
        return None


def inputs(argv: list[str], wheres: list[str], root: Path, options: RunOptions) -> dict:
    """The record of what a session saved from ``argv`` (as given, relative to ``root``)
    with the stops ``wheres`` and ``options`` depends on."""
    record: dict = {"argv": list(argv), "at": list(wheres), "engine": explain_digest(),
                    **asdict(options)}
    program = argv[0] if argv else ""
    if program.endswith(".c"):
        source = Path(program) if Path(program).is_absolute() else root / program
        try:
            record["source"] = _file_digest(source)
        except OSError as exc:
            raise ExplainError(f"cannot read {source} (the source, for the digest the saved "
                               f"session keeps of it): {exc.strerror or exc}") from None
    return record


def staleness(path: Path, root: Path) -> list[str]:
    """Why the session saved at ``path`` no longer matches its inputs (empty: fresh)."""
    try:
        data = json_document(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"{path.name} is missing"]
    except (OSError, ValueError) as exc:
        return [f"{path.name} cannot be read: {exc}"]
    recorded = data.get("inputs") if isinstance(data, dict) else None
    if not isinstance(recorded, dict) or not recorded.get("argv"):
        return ["it records no inputs (saved without --save's record)"]
    reasons = []
    program = recorded["argv"][0]
    if "source" in recorded:
        if not os.path.lexists(root / program):
            return [f"{program} is missing"]
        source = project_source(root, program)
        if source is None:
            return [f"{program} is not a regular file"]
        try:
            now = _file_digest(source)
        except OSError:
            return [f"{program} is missing"]
        if now != recorded["source"]:
            reasons.append(f"{program} changed")
    if recorded.get("engine") != explain_digest():
        reasons.append("the capture code changed (roads/explain/ or the capture engine)")
    return reasons


def save(session: Session, argv: list[str], wheres: list[str], root: Path, out: Path, *,
         options: RunOptions) -> None:
    """Write ``session`` with the record of its inputs, atomically."""
    data = {**session_json(session, files=False), "inputs": inputs(argv, wheres, root, options)}
    write_page(json.dumps(data, indent=1, sort_keys=True) + "\n", out)


def refreshed(path: Path, root: Path, *, sandbox: Path | None,
              progress: Callable[[str], None] = lambda s: None) -> Session:
    """Run the saved command again (from ``root``), with the options it was saved with,
    and rewrite ``path``; the new session. ``sandbox`` is the launcher's cache folder;
    None runs the command outside the sandbox, which only the caller decides: a session
    saved with ``--no-sandbox`` is refused a run in the sandbox (the addresses and paths
    would not be those it was saved with), and is never taken out of it by what the
    saved file says.

    Refused when the run does not reach, or cannot read, every stop it reached before:
    a worked example that stops short is an error of the page, not a smaller figure."""
    try:
        data = json_document(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExplainError(f"{path}: cannot be read: {exc}") from None
    recorded = data.get("inputs") if isinstance(data, dict) else None
    if not isinstance(recorded, dict) or not recorded.get("argv"):  # nothing to run again
        raise ExplainError(f"{path}: it records no inputs (saved without --save's record)")
    options = RunOptions.recorded(recorded, path)
    argv = list(recorded["argv"])
    program = argv[0]
    # A source is named from the root, with a slash or none (a name without one is
    # looked up on PATH, a source never is).
    run_argv = [str(root / program) if "/" in program or program.endswith(".c") else program,
                *argv[1:]]
    from .session import explain_program  # the tracer and the capture engine: only here

    if not options.sandbox and sandbox is not None:
        raise ExplainError(f"{path}: saved with --no-sandbox, and a build runs a saved "
                           "command in the sandbox only: run it again yourself "
                           f"(roads explain --no-sandbox ... --save {path.name})")
    session = explain_program(run_argv, list(recorded["at"]), aslr=options.aslr,
                              follow_fork=options.follow_fork, deadline=options.deadline,
                              sandbox=sandbox, cache=sandbox, progress=progress, shown=argv)
    if not session.complete:
        raise ExplainError(f"roads explain {shellwords.join(argv)} {session.ending} before "
                           f"reaching {', '.join(session.missing)}")
    if session.unread:
        raise ExplainError(f"roads explain {shellwords.join(argv)}: "
                           + "; ".join(u.reason for u in session.unread))
    save(session, argv, list(recorded["at"]), root, path, options=options)
    return load_session(path)
