"""Figures drawn ahead, in another process, while the pages render: a cold build.

MkDocs renders pages one after the other in one process, and a figure is drawn when
its page reaches it, so on a machine with several cores a build whose figures are not
in the cache yet (a fresh clone, a change to the drawing code) leaves them idle. Before
the pages render, ``start`` reads every page's Markdown for figure macros called with
literal arguments (``roads.words.claims.simple_calls``), and hands those whose figure
is not in the figure cache to worker processes (one core is the pages'); a worker
draws one into the figure cache, exactly as the page would (``project.figure``, with
the same key), the last page's first. When a page reaches a figure handed out, it
takes it back if no worker has started it, or else waits for the worker (``wait``: a
deadline, then it draws it itself) and reads it from the cache, so no figure is drawn
twice.

Nothing is handed out once a build has found every figure in the cache (a mark per
version of the drawing code, set at the end of such a build): a warm build does not
even read the captures for it. Workers are forked; never under ``mkdocs serve``'s
threads, and their logging is off (the page that shows a figure says what went wrong).
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

log = logging.getLogger("mkdocs.plugins.roads")
WAIT = 120.0  # seconds a page waits for a worker before drawing the figure itself
_pending: dict[str, Future] = {}
_state: dict[str, object] = {}


def _functions() -> dict:
    from . import figures

    return {f.__name__: f for f in figures.FIGURES}


def _calls(docs: Path, names: set[str]) -> list[tuple[str, tuple, dict]]:
    """Every figure macro called with literal arguments in the pages under ``docs``."""
    import re

    from roads.words.claims import simple_calls

    found, seen = [], set()
    call = re.compile(r"\{\{\s*(?:" + "|".join(sorted(names)) + r")\s*\(.*?\)\s*\}\}", re.S)
    for path in sorted(docs.rglob("*.md")):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        for match in call.finditer(text):
            parts = simple_calls(match.group(0)) or []
            for part in parts:
                if isinstance(part, tuple) and part[0] in names:
                    key = repr(part)
                    if key not in seen:
                        seen.add(key)
                        found.append(part)
    return found


def _quiet() -> None:
    """A worker's set-up: no logging, and no waiting on its parent's futures."""
    logging.disable(logging.CRITICAL)
    _pending.clear()
    _state["worker"] = True


def cores() -> int:
    """The cores this process may run on (``taskset`` and cgroups' cpusets count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _draw(name: str, args: tuple, kwargs: dict) -> bool:
    """In a worker: the figure into the figure cache, as the page would draw it."""
    from .project import figure

    function = _functions()[name]
    figure(name, args, kwargs, lambda: function(*args, **kwargs),
           getattr(function, "cache_inputs", None))
    return True


def _mark(cache) -> Path:
    return cache.directory / f".complete-{cache.code[:32]}"


def start(docs: Path) -> None:
    """Hand the figures of the pages in ``docs`` that the cache lacks to workers."""
    from .project import figure_cache, figure_key

    _pending.clear()
    cache = figure_cache()
    _state.update(cache=cache, made=cache.made, handed=0)
    usable = cores()
    if usable < 2 or threading.active_count() > 1 or _state.get("worker") or _mark(cache).exists():
        return
    functions = _functions()
    todo = []
    for name, args, kwargs in _calls(docs, set(functions)):
        try:
            _, key = figure_key(name, args, kwargs, getattr(functions[name], "cache_inputs", None))
        except Exception:  # noqa: BLE001 - the page will say what is wrong with it
            continue
        if key not in _pending and not cache.has(key):
            todo.append((key, name, args, kwargs))
            _pending[key] = None  # type: ignore[assignment]
    _pending.clear()
    if len(todo) < 2:
        return
    pool = ProcessPoolExecutor(max_workers=usable - 1, mp_context=get_context("fork"),
                               initializer=_quiet)
    # Last page first: the pages start from the first, and the two meet in the middle.
    for key, name, args, kwargs in reversed(todo):
        _pending[key] = pool.submit(_draw, name, args, kwargs)
    pool.shutdown(wait=False)  # the workers leave when the queue is done
    _state["handed"] = len(todo)
    _state["pool"] = pool
    log.info("drawing %d figures in %d worker process(es) while the pages render",
             len(todo), usable - 1)


def wait(key: str) -> None:
    """Before a page draws the figure ``key``: if a worker is drawing it, wait for it;
    if no worker has started it yet, take it back (the page draws it)."""
    future = _pending.pop(key, None)
    if future is None or _state.get("worker") or future.cancel():
        return
    try:
        future.result(timeout=WAIT)
    except Exception:  # noqa: BLE001 - a worker's failure or its deadline: draw it here
        future.cancel()


def finish() -> None:
    """At the end of a build: mark the cache complete when the build found every figure
    it asked for there; let go of what no page waited for."""
    for future in _pending.values():
        future.cancel()
    _pending.clear()
    cache = _state.get("cache")
    if cache is not None and _state.get("handed") == 0 and cache.made == _state.get("made"):
        try:
            _mark(cache).parent.mkdir(parents=True, exist_ok=True)
            _mark(cache).touch()
        except OSError:
            pass


def abandon() -> None:
    """The build is failing: drop the figures no worker has started, so that the
    process exits once the ones being drawn are done (each has dot's deadline)."""
    pool = _state.pop("pool", None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
    _pending.clear()
