"""mkdocs-macros' ``git`` variable, asked of git once per state of the repository.

The plugin fills the template variable ``git`` (commit, tag, author, date, message...)
at the start of every build by running git twelve times: 20 to 40 ms a build here,
a fifth of what the plugin costs a warm build of a small site. The answers change
only when the repository's HEAD, its reflog, its tags or packed refs change, so they
are kept under a stamp of those files' stats (``.cache/roads/git-info.json`` beside
the build's working folder, and in memory under ``mkdocs serve``), and git is asked
again when the stamp moves (a folder in no repository at all is kept too). In a
worktree or submodule, or with GIT_DIR set, the plugin's own function runs as before.

``install`` puts the cached function in the plugin's place; ``macros/hooks.py`` calls
it when MkDocs loads the hooks, before the plugin's ``on_config`` runs. When nothing is
kept for the repository's state (a fresh clone, a new commit), ``install`` also asks git
right away, in a thread, while MkDocs goes on loading the configuration (git's twelve
runs are mostly waiting): the plugin's call then takes that answer.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

# What git reads to answer the plugin's commands (HEAD, the last commit, tags).
_STATE = ("HEAD", "logs/HEAD", "packed-refs", "refs/tags", "refs/heads")
_CACHE = Path(".cache") / "roads" / "git-info.json"
_memory: dict[str, dict] = {}
log = logging.getLogger("mkdocs.plugins.roads")
# git asked ahead (``ask_ahead``): by the stamp asked for, the thread and its answer.
_ahead: dict[str, tuple[threading.Thread, list]] = {}
AHEAD_WAIT = 60.0  # seconds the plugin's call waits for the answer asked ahead


def _git_dir(start: Path) -> Path | str | None:
    """The ``.git`` folder above ``start``; "none" when there is none at all; None when
    it is a file (a worktree or submodule, whose state lives elsewhere)."""
    for folder in (start, *start.parents):
        candidate = folder / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.exists():
            return None
    return "none"


def stamp(start: Path) -> str | None:
    """The state of the repository around ``start`` by stats, or None (not known)."""
    if os.environ.get("GIT_DIR") or os.environ.get("GIT_WORK_TREE"):
        return None
    git = _git_dir(start)
    if git == "none":  # no repository: git fails the same way until one appears
        return f"{start.resolve()}\nno repository"
    if git is None:
        return None
    parts = [str(start.resolve()), str(git.resolve())]
    for rel in _STATE:
        try:
            st = os.stat(git / rel)
            parts.append(f"{rel}:{st.st_mtime_ns}:{st.st_size}:{st.st_ino}")
        except OSError:
            parts.append(f"{rel}:-")
    try:
        parts.append((git / "HEAD").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return "\n".join(parts)


def cached(original):
    """``original`` (the plugin's get_git_info) with its answer kept under ``stamp``."""

    def kept(here: Path, key: str) -> dict | None:
        """The answer kept for the state ``key`` (in memory, else in the folder's file)."""
        found = _memory.get(key)
        if found is None:
            found = _read(here / _CACHE, key)
            if found is not None:
                _memory[key] = found
        return found

    def get_git_info():
        here = Path.cwd()
        key = stamp(here)
        asked = _answer_asked(key)  # every question asked ahead ends here, whatever is kept
        if key is None:
            return original()
        found = kept(here, key)
        if found is None:
            found = asked
            if found is _LATE:
                log.warning("git gave no answer in %.0f s: the page variable 'git' is "
                            "empty in this build", AHEAD_WAIT)
                return _with_date({"status": False, "diagnosis": "git gave no answer"})
        if found is None:
            found = original()
        if not isinstance(found, dict):
            return found
        if key not in _memory and stamp(here) == key:  # nothing moved while git answered
            _write(here / _CACHE, key, found)
        _memory[key] = found
        return _with_date(dict(found))

    def ask_ahead() -> None:
        """Ask git now, in a thread, unless its answer for the repository's state is
        kept: the plugin's call takes it (``get_git_info``)."""
        here = Path.cwd()
        key = stamp(here)
        if key is None or key in _ahead or kept(here, key) is not None:
            return
        answer: list = []

        def ask() -> None:
            try:
                answer.append(original())
            except Exception:  # noqa: BLE001 - the plugin's own call raises it again
                pass

        thread = threading.Thread(target=ask, name="roads-git-info", daemon=True)
        _ahead[key] = (thread, answer)
        thread.start()

    get_git_info.__doc__ = original.__doc__
    get_git_info.roads_cached = True
    get_git_info.__wrapped__ = original
    get_git_info.ask_ahead = ask_ahead
    return get_git_info


# What ``_answer_asked`` gives for a question git has not answered in ``AHEAD_WAIT``.
_LATE = object()


def _answer_asked(key: str | None):
    """The answer git gave the question asked ahead for ``key``; ``_LATE`` when it gave
    none in ``AHEAD_WAIT``; None when none was asked or it failed (the plugin's call asks
    again, and raises what it raises). Every question asked ahead is waited for, within
    that one deadline, and forgotten, also one asked for an older state of the
    repository (a commit made while MkDocs started): no thread is left running when the
    build forks its helpers (``macros.ahead``), unless git hangs."""
    deadline = time.monotonic() + AHEAD_WAIT
    found = None
    for asked, (thread, answer) in list(_ahead.items()):
        thread.join(max(0.0, deadline - time.monotonic()))
        if asked == key:
            found = _LATE if thread.is_alive() else (answer[0] if answer else None)
    _ahead.clear()
    return found


def _with_date(info: dict) -> dict:
    """The plugin's ``date``: its ``date_ISO`` parsed (a datetime, not kept as JSON)."""
    if info.get("date_ISO") and not str(info["date_ISO"]).startswith("#"):
        from dateutil.parser import parse

        info["date"] = parse(info["date_ISO"])
    else:
        info["date"] = None
    return info


def _read(path: Path, key: str) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("stamp") != key or not isinstance(data.get("info"), dict):
        return None
    return data["info"]


def _write(path: Path, key: str, info: dict) -> None:
    from roads.cachedir import keep_text

    kept = {k: v for k, v in info.items() if k != "date"}
    try:
        keep_text(path, json.dumps({"stamp": key, "info": kept}, default=str))
    except OSError:
        pass  # a read-only folder: git is asked again next time


def install() -> None:
    """Put the cached function in the plugin's place (once)."""
    try:
        from mkdocs_macros import context
    except ImportError:
        return
    if not getattr(context.get_git_info, "roads_cached", False):
        context.get_git_info = cached(context.get_git_info)
    context.get_git_info.ask_ahead()
