"""The macros module of mkdocs-macros-plugin (``module_name: macros`` in mkdocs.yml).

``define_env`` only registers: each concern's module lists its macros, module-level
functions that call into the engine, in a ``MACROS`` tuple, and its template
variables in a ``VARIABLES`` mapping. Adding a macro is one line in its module's
``MACROS``; adding a module is one line in ``MODULES`` below.

A figure (a block of finished HTML: tables, diagrams) does not go through Markdown or
the search index: ``guard`` leaves an empty placeholder ``<div>`` in the page and keeps
the figure on the page object, and the ``on_post_page`` hook in ``hooks.py`` puts it
in the final HTML. Parsing large inline SVGs as Markdown and indexing their labels for
search cost more than drawing them.

Every macro is registered through ``guard``: an engine error (a sample that does not
compile, a missing checkpoint, a stale capture in frozen mode) is located at the
page and line of the call. In ``mkdocs build --strict`` or under CI it fails the
build; otherwise (``mkdocs serve``) it is logged and shown on the page in a red box,
so the server stays up while the author fixes it.

Pitfalls of the plugin worth knowing here:

- An ImportError raised while importing this package is reported by the plugin as
  "could not find custom 'macros' module": run ``python -c 'import macros'`` to see
  the real one.
- Front matter keys become template variables of their page and shadow macros of
  the same name: never name a macro ``title``, ``weight`` or ``timeline``.
"""

from __future__ import annotations

import copy
import functools
import html
import inspect
import logging
import os
import re

from roads.errors import ConfigError, RoadsError

from . import claims, figures, glossary
from .project import figure, prefetch

MODULES = (figures, claims, glossary)
log = logging.getLogger("mkdocs.plugins.roads")


def define_env(env) -> None:
    """Register every module's macros and variables, then bring stale captures up to date.

    The plugin calls this once per build (and per rebuild under ``mkdocs serve``), before
    any page renders: the one moment to capture all stale samples in parallel.
    """
    for module in MODULES:
        deferred = set(getattr(module, "FIGURES", ()))
        for function in module.MACROS:
            env.macro(guard(function, env, defer=function in deferred), function.__name__)
        env.variables.update(getattr(module, "VARIABLES", {}))
    claims.bind(env)
    prefetch()


def guard(function, env, *, defer: bool = False):
    """``function`` with its engine errors located at the calling page and line; with
    ``defer``, its HTML kept on the page and a placeholder returned in its stead."""

    @functools.wraps(function)
    def call(*args, **kwargs):
        try:
            try:
                # A misspelt or missing argument is the author's error, not a crash.
                inspect.signature(function).bind(*args, **kwargs)
            except TypeError as exc:
                raise ConfigError(f"{function.__name__}(): {exc}") from None
            page = getattr(env, "page", None)
            if not defer or page is None:
                return function(*args, **kwargs)
            html_out = figure(function.__name__, args, kwargs, lambda: function(*args, **kwargs),
                              getattr(function, "cache_inputs", None))
            return defer_figure(page, html_out)
        except RoadsError as error:
            # A copy: a failed capture's error is kept and raised again for every page
            # that asks for the sample, and each must carry its own page and line.
            exc = copy.copy(error)
            page = getattr(env, "page", None)
            rendering = claims.rendering()
            if rendering is not None:
                # Raised by a macro inside a claim's words: those words are in claims.toml.
                exc.at_page(f"tests/claims.toml (claim {rendering.id!r}, shown on {rendering.page})",
                            claims.line_of(rendering.id))
            elif page is not None:
                src = f"{env.conf['docs_dir'].rstrip('/').rsplit('/', 1)[-1]}/{page.file.src_uri}"
                exc.at_page(src, call_line(source_of(page), function.__name__, args))
            if must_fail(env.conf):
                # One clear message, then stop: SystemExit passes through the macros
                # plugin, which would otherwise wrap the error in its own traceback.
                log.error("%s", exc.located())
                raise SystemExit(1) from None
            log.warning("%s", exc.located())
            return error_box(exc)

    return call


FIGURES_ATTRIBUTE = "roads_figures"


def defer_figure(page, html_out: str) -> str:
    """Keep ``html_out`` on ``page`` and return the placeholder that stands for it."""
    figures = page.__dict__.setdefault(FIGURES_ATTRIBUTE, [])
    figures.append(html_out)
    return f'\n\n<div data-roads-figure="{len(figures) - 1}"></div>\n\n'


def must_fail(conf) -> bool:
    """Whether an error fails the build: ``--strict`` or a CI environment."""
    return bool(conf.get("strict")) or bool(os.environ.get("CI"))


def source_of(page) -> str:
    """The page's Markdown file as written: line numbers then count the front matter."""
    try:
        with open(page.file.abs_src_path, encoding="utf-8-sig") as f:
            return f.read()
    except (OSError, TypeError):
        return page.markdown or ""


def call_line(markdown: str, name: str, args: tuple) -> int | None:
    """The 1-based line of the first call to ``name`` with these leading arguments.

    The first two string arguments are matched (``value('layout', 'exit_code')`` and
    ``value('layout', 'count:regions')`` are told apart); failing that, the first;
    failing that, None.
    """
    strings = [a for a in args[:2] if isinstance(a, str)]
    # Never down to no argument at all when there are some: the first call of the same
    # macro elsewhere on the page would be a wrong place (a claim's words, rendered
    # on About, call macros that the About page itself does not).
    for count in range(len(strings), 0 if strings else -1, -1):
        quoted = r"\s*,\s*".join(rf"['\"]{re.escape(a)}['\"]" for a in strings[:count])
        pattern = re.compile(rf"\b{re.escape(name)}\s*\(\s*{quoted}")
        for number, line in enumerate(markdown.splitlines(), start=1):
            if pattern.search(line):
                return number
    return None


def error_box(exc: RoadsError) -> str:
    """The error as a Material admonition, for pages built without --strict."""
    body = html.escape(exc.located())
    return (f'<div class="admonition failure"><p class="admonition-title">This figure could '
            f'not be made</p><pre><code>{body}</code></pre></div>')
