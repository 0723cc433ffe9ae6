"""The one ``Project`` a site build shares: every figure macro reads captures through it.

Its root is the folder that holds this package (the site's root, beside
mkdocs.yml) unless ``ROADS_ROOT`` says otherwise; its capture mode comes from
``ROADS_MODE`` (``auto``, ``refresh`` or ``frozen``; default ``auto``). One Project
per (root, mode), so each capture is checked, and made if stale, once per build.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

from roads.command import tool_identity
from roads.errors import RoadsError
from roads.figcache import FigureCache, code_digest
from roads.project import Project

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("mkdocs.plugins.roads")


def project() -> Project:
    """The shared Project for the current ``ROADS_ROOT`` and ``ROADS_MODE``."""
    return _project(os.environ.get("ROADS_ROOT") or str(ROOT), os.environ.get("ROADS_MODE") or "auto")


@functools.lru_cache(maxsize=None)
def _project(root: str, mode: str) -> Project:
    return Project(root, mode=mode)


@functools.lru_cache(maxsize=None)
def _figure_cache(directory: str) -> FigureCache:
    here = Path(__file__).resolve().parent
    code = sorted((here.parent / "roads").glob("*.py")) + sorted(here.glob("*.py"))
    # The drawing code and the Graphviz that lays it out: a new dot draws again.
    return FigureCache(Path(directory), code_digest(code) + tool_identity("dot"))


def figure(name: str, args: tuple, kwargs: dict, make, extra=None) -> str:
    """The figure ``name(*args, **kwargs)`` from the cache, or made by ``make``.

    The key holds the digest of the capture the figure draws (brought up to date
    first, as the mode says), its arguments and the drawing code, and whatever else
    ``extra(*args, **kwargs)`` names (the sample's files, for a figure that shows them:
    a frozen build does not re-capture an edited sample, but must show the edit).
    """
    sample = args[0] if args else kwargs.get("sample")
    shared = project()
    parts = [name, list(args), sorted(kwargs.items()), shared.content_digest(sample)]
    if extra is not None:
        parts.append(extra(*args, **kwargs))
    return _figure_cache(str(shared.cache_dir / "figures")).get(parts, make)


def svg_cache() -> Path:
    """Where rendered diagrams are kept between builds."""
    return project().cache_dir / "svg"


def prefetch() -> None:
    """Before pages render: re-capture every stale sample at once, one worker per core.

    Figure macros load captures page by page; a cold build would otherwise compile and
    run the samples one after the other. Failures are left for the figure that asks for
    the broken sample, which names its page and line. Frozen builds capture nothing.
    """
    shared = project()
    if shared.mode == "frozen":
        return
    try:
        outcomes = shared.capture(refresh=shared.mode == "refresh")
    except RoadsError as exc:
        # No entry of the manifest can be read: each figure says so at its own line.
        log.warning("%s", exc.located())
        return
    made = [o.sample for o in outcomes if o.action in ("captured", "unchanged")]
    if made:
        log.info("re-captured %d sample(s): %s", len(made), ", ".join(made))
