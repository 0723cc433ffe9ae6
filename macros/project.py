"""The one ``Project`` a site build shares: every figure macro reads captures through it.

Its settings are decided here and nowhere else (``settings``), once per build
(``configure``, from ``define_env``), and passed down to the engine, which reads no
environment: mkdocs.yml's ``extra: roads:`` mapping gives the defaults, and the
environment overrides them:

- ``mode`` (``ROADS_MODE``): ``auto``, ``refresh`` or ``frozen``; ``auto`` when unset;
- ``root`` (``ROADS_ROOT``): the project folder; the one that holds this package
  (the site's root, beside mkdocs.yml) when unset;
- ``cache`` (``ROADS_CACHE``): the folder of build artefacts and drawn figures,
  relative to the root or absolute; ``.cache/roads`` when unset (tests give each
  build its own).

One Project per settings, so each capture is checked, and made if stale, once per build.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from roads.errors import ConfigError, RoadsError

if TYPE_CHECKING:  # imported when first used: a build whose pages all come from the
    # page cache (macros.pagecache) never loads the capture engine or the drawing code
    from roads.capture.project import Project
    from roads.figures.figcache import FigureCache

# Project.MODES, written here so that deciding the settings imports no engine
# (tests/test_pagecache.py holds them equal).
MODES = ("auto", "refresh", "frozen")

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("mkdocs.plugins.roads")
# The settings' environment overrides, by setting.
ENVIRONMENT = {"mode": "ROADS_MODE", "root": "ROADS_ROOT", "cache": "ROADS_CACHE"}


@dataclass(frozen=True)
class Settings:
    """How a build reads captures: its mode, the project folder and the cache folder."""

    mode: str = "auto"
    root: str = str(ROOT)
    cache: str = ".cache/roads"


def settings(extra: Mapping | None = None, environ: Mapping[str, str] = os.environ) -> Settings:
    """The settings from mkdocs.yml's ``extra: roads:`` mapping (``extra``), each
    overridden by its environment variable when that is set and not empty."""
    given = dict(extra or {})
    unknown = sorted(set(given) - set(ENVIRONMENT))
    if unknown:
        raise ConfigError(f"mkdocs.yml: extra.roads: unknown setting(s) {', '.join(unknown)}; "
                          f"known: {', '.join(ENVIRONMENT)}")
    for key, variable in ENVIRONMENT.items():
        if environ.get(variable):
            given[key] = environ[variable]
    chosen = Settings(**{k: str(v) for k, v in given.items() if v is not None})
    if chosen.mode not in MODES:
        where = "ROADS_MODE" if environ.get("ROADS_MODE") else "mkdocs.yml: extra.roads.mode"
        raise ConfigError(f"{where}: unknown capture mode {chosen.mode!r}; one of {', '.join(MODES)}")
    return chosen


_current: Settings | None = None


def configure(config) -> Settings:
    """Decide this build's settings from MkDocs' ``config`` (and the environment); an
    unusable one stops the build with one message."""
    from mkdocs.exceptions import PluginError

    global _current
    try:
        _current = settings((config.get("extra") or {}).get("roads"))
    except ConfigError as exc:
        raise PluginError(exc.message) from None
    return _current


def current() -> Settings:
    """This build's settings; outside a build (a test calling a macro), the environment's."""
    return _current if _current is not None else settings()


# Builds begun in this process (prefetch, from define_env), and the build each shared
# Project last began (by its id): 0, outside any build, judges every capture at every load.
_builds = 0
_begun: dict[int, int] = {}


def project() -> Project:
    """The shared Project for this build's settings."""
    shared = _project(current())
    if _builds and _begun.get(id(shared)) != _builds:
        _begun[id(shared)] = _builds
        shared.begin_build()
    return shared


@functools.lru_cache(maxsize=None)
def _project(chosen: Settings) -> Project:
    from roads.capture.project import Project

    from .pagecache import Counted

    return Project(chosen.root, mode=chosen.mode, cache=chosen.cache, log=Counted(log, {}))


@functools.lru_cache(maxsize=None)
def _figure_cache(directory: str) -> FigureCache:
    from roads.figures.figcache import FigureCache

    from .pagecache import code

    # Every module of the engine and of this package, and the Graphviz that lays the
    # figures out: a new dot draws again.
    return FigureCache(Path(directory), code())


def figure_cache() -> FigureCache:
    """The build's figure cache."""
    return _figure_cache(str(cache_dir() / "figures"))


def figure_key(name: str, args: tuple, kwargs: dict, extra=None) -> tuple[FigureCache, str]:
    """The figure cache and the key of the figure ``name(*args, **kwargs)``.

    The key holds the digest of the capture the figure draws (brought up to date
    first, as the mode says), its arguments and the drawing code, and whatever else
    ``extra(*args, **kwargs)`` names (the sample's files, for a figure that shows them:
    a frozen build does not re-capture an edited sample, but must show the edit).
    """
    sample = args[0] if args else kwargs.get("sample")
    shared = project()
    parts = [name, list(args), sorted(kwargs.items()), shared.content_digest(sample)]
    _count_if_stale(shared, sample)
    if extra is not None:
        parts.append(extra(*args, **kwargs))
    cache = figure_cache()
    return cache, cache.key(parts)


def figure(name: str, args: tuple, kwargs: dict, make, extra=None, _tries: int = 3) -> str:
    """The figure ``name(*args, **kwargs)`` from the cache, or made by ``make`` (once,
    when several processes render pages: ``macros.ahead``).

    Either way the page records the files the figure was drawn from as read
    (``macros.pagecache``): a page rendered again around a figure taken from the cache
    depends on its capture as much as one that drew it, and a change to the capture
    renders the page again. A figure whose files are not known (kept by an older
    version) is drawn again once, to know them. Its key is taken again once the page
    has recorded them: a capture saved in between gives the figure of the new one."""
    from .pagecache import depends, figure_files, keep_figure_files, recording

    cache, key = figure_key(name, args, kwargs, extra)

    def drawn() -> str:
        with recording() as read:
            html_out = make()
        # Kept before the figure is: whoever finds the figure finds its files.
        keep_figure_files(key, read.read)
        return html_out

    html_out = cache.get_key(key, drawn)
    files = figure_files(key)
    if files is None:
        drawn()
        files = figure_files(key) or ()
    depends(*files)
    if _tries > 1 and figure_key(name, args, kwargs, extra)[1] != key:
        return figure(name, args, kwargs, make, extra, _tries - 1)
    return html_out


def document(sample: str):
    """The capture of ``sample`` for a figure (``Project.document``), recorded as read by
    the page being rendered (``macros.pagecache``): its file, and the manifest and
    sample files it was made from (a frozen build warns when they moved on)."""
    from .pagecache import depends, learn

    shared = project()
    found = shared.document(sample)
    vouched = shared.vouched_digest(sample)
    if vouched is not None:  # hashed as it was read: recorded without hashing it again
        learn(shared.snapshot_path(sample), *vouched)
    depends(*_reads(shared, sample, found))
    # Judged again once the page has recorded the files (a few stats, within a build):
    # a file saved in between is judged now, so that the page never shows a capture
    # older than the files it recorded.
    again = shared.document(sample)
    if again is not found:
        depends(*_reads(shared, sample, again))
    _count_if_stale(shared, sample)
    return again


def _count_if_stale(shared, sample: str) -> None:
    """A stale capture (frozen build) is warned about once a build, at its first reader;
    every other page, figure or claim that reads it counts a warning too, untold, so
    that none of them is kept in the page cache: the next build must read the capture
    again to warn again (a page kept without a word passed the next strict build)."""
    if shared.stale(sample):
        from .pagecache import warning

        warning(None, "capture of %r is stale", sample)


# The files a capture was made from, by sample, with the Project and the document they
# were taken from: the names the page cache records (absolute), worked out once, for
# the values and figures of a build ask for the same few captures hundreds of times.
_READS: dict[str, tuple[object, object, tuple[str, ...]]] = {}


def _reads(shared, sample: str, found) -> tuple[str, ...]:
    """The capture's file, the manifest and the sample's files ``found`` was made from."""
    kept = _READS.get(sample)
    if kept is not None and kept[0] is shared and kept[1] is found:
        return kept[2]
    folder = shared.samples_dir
    names = tuple(os.path.abspath(p) for p in (
        shared.snapshot_path(sample), shared.samples_set.path,
        *(folder / rel for rel in found.inputs.files)))
    _READS[sample] = (shared, found, names)
    return names


def cache_dir() -> Path:
    """The build's cache folder (``Project.cache_dir``), without making the Project."""
    return _cache_dir(current())


@functools.lru_cache(maxsize=None)
def _cache_dir(chosen: Settings) -> Path:
    return Path(chosen.root).resolve() / chosen.cache


def svg_cache() -> Path:
    """Where rendered diagrams are kept between builds."""
    return project().cache_dir / "svg"


def prefetch() -> None:
    """Before pages render: re-capture every stale sample at once, one worker per core.

    Figure macros load captures page by page; a cold build would otherwise compile and
    run the samples one after the other. Failures are left for the figure that asks for
    the broken sample, which names its page and line. Frozen builds capture nothing.
    """
    from roads.capture.treestamp import FreshMark, tree_stamp

    global _builds
    chosen = current()
    _builds += 1  # a new build: captures are judged again, once (Project.begin_build)
    if chosen.mode == "frozen":
        return
    root = Path(chosen.root).resolve()
    mark = FreshMark(cache_dir())
    before = tree_stamp(root / "samples", root / "snapshots", chosen.mode)
    if chosen.mode == "auto" and mark.holds(before):
        return  # nothing moved since every capture was last found fresh
    shared = project()
    try:
        outcomes = shared.capture(refresh=shared.mode == "refresh")
    except RoadsError as exc:
        # No entry of the manifest can be read: each figure says so at its own line.
        log.warning("%s", exc.located())
        mark.clear()
        return
    untouched = all(o.action == "fresh" and o.error is None for o in outcomes)
    if chosen.mode == "auto" and untouched and tree_stamp(
            root / "samples", root / "snapshots", chosen.mode) == before:
        mark.set(before)
    else:
        mark.clear()
    made = [o.sample for o in outcomes if o.action in ("captured", "unchanged")]
    if made:
        log.info("re-captured %d sample(s): %s", len(made), ", ".join(made))
    kept = [o for o in outcomes if o.action == "fresh" and o.reasons]
    if kept:  # made with another gcc: kept as they are, a note only
        log.info("kept the capture of %s made with another gcc (%s); ROADS_MODE=refresh "
                 "re-makes them", ", ".join(repr(o.sample) for o in kept),
                 "; ".join(sorted({r for o in kept for r in o.reasons})))
