"""The macros module of mkdocs-macros-plugin (``module_name: macros`` in mkdocs.yml).

``define_env`` registers the macros and starts the build's work: each concern's module
lists its macros, module-level functions that call into the engine, in a ``MACROS``
tuple, and its template variables in a ``VARIABLES`` mapping. Adding a macro is one
line in its module's ``MACROS``; adding a module is one line in ``MODULES`` below.
Around the registering, ``define_env`` also decides the build's settings, forgets the
last build's reported errors, forks the helper that compiles templates ahead, binds
the claims and brings stale captures up to date (``prefetch``): it is the one hook
the plugin calls before any page, once a build.

A figure (a block of finished HTML: tables, diagrams) does not go through Markdown or
the search index: ``guard`` leaves an empty placeholder ``<div>`` in the page and keeps
the figure on the page object, and the ``on_post_page`` hook in ``hooks.py`` puts it
in the final HTML. Parsing large inline SVGs as Markdown and indexing their labels for
search cost more than drawing them. A block of finished HTML that readers search
(About's list of claims, the Glossary) skips Markdown only: its macro returns it as a
``placed.AfterMarkdown``, which the ``on_page_content`` hook puts in (``placed``).

Every macro is registered through ``guard``: an engine error (a sample that does not
compile, a missing checkpoint, a stale capture in frozen mode), and any other
exception a macro raises, is located at the page and line of the call. In
``mkdocs build --strict`` or under CI it fails the build with one message; otherwise
(``mkdocs serve``) it is logged and shown on the page in a red box, so the server
stays up while the author fixes it. An error of the page's template itself (a
syntax error, an unknown macro or variable) reaches the plugin's ``format_error``,
where ``page_error`` takes over with the same rule: located at the line of the
page's file (front matter counted), a red box in place of the page, or one message
and a failed build. The plugin's own ``on_error_fail`` stays off in mkdocs.yml: it
would end ``mkdocs serve`` on the first typo.

Pitfalls of the plugin worth knowing here:

- An ImportError raised while importing this package stops MkDocs with a traceback
  as it loads the plugin: ``roads-macros`` (``macros/plugin.py``) is a module of this
  package, so the package is imported first. Loaded as plain ``macros:``, the plugin
  would report the same error as "could not find custom 'macros' module" and hide
  the real one (``python -c 'import macros'`` shows it).
- Front matter keys become template variables of their page and shadow macros of
  the same name: never name a macro ``title``, ``weight`` or ``timeline``.
"""

from __future__ import annotations

import copy
import difflib
import functools
import html
import inspect
import logging
import os
import re
import sys
from pathlib import Path

from roads.errors import ConfigError, RoadsError, printable
from roads.words.pages import fallback_title

from . import ahead, arguments, claims, compiled, figures, glossary, pagecache, placed, themecache
from .project import cache_dir, configure, current, figure, prefetch

MODULES = (figures, claims, glossary)
log = logging.getLogger("mkdocs.plugins.roads")


def define_env(env) -> None:
    """Register every module's macros and variables, then bring stale captures up to date.

    The plugin calls this once per build (and per rebuild under ``mkdocs serve``), before
    any page renders: the one moment to capture all stale samples in parallel. The
    build's settings (its capture mode, from mkdocs.yml or ``ROADS_MODE``) are decided
    first, once (``project.configure``). Templates are compiled once and kept
    (``compile_ahead``).
    """
    configure(env.conf)
    _REPORTED.clear()
    _TOLD.clear()
    _AGAIN.clear()
    _AS_ABOVE.clear()
    compile_ahead(env)
    figures.begin_build(env.conf)
    for module in MODULES:
        deferred = set(getattr(module, "FIGURES", ()))
        inline = set(getattr(module, "INLINE", ()))
        for function in module.MACROS:
            env.macro(guard(function, env, defer=function in deferred,
                            inline=function in inline), function.__name__)
        env.variables.update(getattr(module, "VARIABLES", {}))
    # The page cache follows what our macros read; any other name a page's template
    # reads (the VARIABLES too) renders it at every build (pagecache._Watched).
    pagecache.follow((f.__name__ for m in MODULES for f in m.MACROS), env.conf.get("extra") or {})
    claims.bind(env)
    catch_page_errors(env)
    prefetch()


def compile_ahead(env) -> None:
    """The pages' and claims' templates keep their compiled code (``compiled``), as the
    theme's do (``themecache``). A build with nothing kept yet (a fresh clone) compiles
    the pages' and the theme's meanwhile in a helper process, on a core the build's
    start leaves idle: the pages' first, which are needed first."""
    cache = cache_dir()
    if not ahead.forkable():  # a rebuild under mkdocs serve (threads), one core
        return
    jobs = [job for job in (compiled.ahead(env, cache, Path(current().root)),
                            themecache.ahead(env.conf, cache)) if job is not None]
    if jobs:
        ahead.helper(lambda: [job() for job in jobs])


def on_pre_page_macros(env) -> None:
    """The plugin's hook before a page renders: the page cache (``pagecache``); the
    templates' compiled code kept (``compiled``), once the plugin has its environment.
    A title that is not text (``title: 123``, a date) is the page's front-matter error
    (``hooks``): the page goes on under its file's name, as its nav entry does, for
    the plugin reads the title as text after the page renders (a traceback, and
    ``mkdocs serve`` stuck for every page)."""
    page = env.page
    if page is not None:
        page.__dict__.pop(SHOWN_ERRORS, None)  # its boxes are made again
        page.__dict__.pop(FAILED_LINES, None)
    if page is not None and page.title is not None and not isinstance(page.title, str):
        page.title = fallback_title(page.file.src_uri)
    compiled.attach(env.env, cache_dir())
    pagecache.before_macros(env)


def on_post_page_macros(env) -> None:
    """The plugin's hook after a page rendered: the page cache keeps it."""
    pagecache.after_macros(env)


def guard(function, env, *, defer: bool = False, inline: bool = False):
    """``function`` with its engine errors located at the calling page and line; with
    ``defer``, its HTML kept on the page and a placeholder returned in its stead; with
    ``inline`` (words within a sentence or `code`), an error is a short note where the
    words go and its box stands on top of the page."""

    signature: list[inspect.Signature] = []  # worked out at the first call (it costs µs)

    @functools.wraps(function)
    def call(*args, **kwargs):
        try:
            try:
                # A misspelt or missing argument is the author's error, not a crash.
                if not signature:
                    signature.append(inspect.signature(function))
                bound = signature[0].bind(*args, **kwargs)
            except TypeError as exc:
                raise ConfigError(f"{function.__name__}(): {exc}"
                                  f"{_meant_argument(str(exc), signature[0])}") from None
            arguments.check(function, bound)  # and of the wrong type
            page = getattr(env, "page", None)
            if not defer or page is None:
                out = function(*args, **kwargs)
                if page is not None and isinstance(out, placed.AfterMarkdown):
                    return placed.defer(page, out)
                return out
            html_out = figure(function.__name__, args, kwargs, lambda: function(*args, **kwargs),
                              getattr(function, "cache_inputs", None))
            return defer_figure(page, html_out)
        except Exception as error:  # noqa: BLE001 - every error of a macro is the page's
            if claims.rendering() is not None and claims.rendered_claim(error) is None:
                # A macro inside a claim's words: the claim fails as a whole, told once
                # where it is shown. Left as a note in the words, it went on into their
                # arithmetic (a ZeroDivisionError told as ours) and gave a box for each
                # of the claim's values.
                raise _as_roads_error(function.__name__, error, env) from None
            return failed(function.__name__, args, error, env, inline=inline)

    return call


def _meant_argument(message: str, signature: inspect.Signature) -> str:
    """For a misspelt keyword argument, the one it most resembles, or else the list of
    them; nothing for any other mistake of the call."""
    match = re.search(r"unexpected keyword argument '(\w+)'", message)
    if match is None:
        return ""
    names = [p.name for p in signature.parameters.values()
             if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    close = difflib.get_close_matches(match.group(1), names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (its arguments: {', '.join(names)})"


def _as_roads_error(name: str, error: Exception, env) -> RoadsError:
    """``error`` of macro ``name`` as a RoadsError of its own, to be located. A copy of
    one the engine raised: a failed capture's error is kept and raised again for every
    page that asks for the sample, and each must carry its own page and line."""
    if isinstance(error, RoadsError):
        return copy.copy(error)
    from jinja2 import TemplateError

    if claims.rendered_claim(error) is None:
        return macro_failure(name, error, env)
    # The words of a claim, not the macro that rendered them, hold the mistake (About's
    # list of claims renders them all, so the macro's name would differ from page to
    # page): of their template, or of their own arithmetic ({{ 1 / 0 }}), which is the
    # words' error, not ours.
    if isinstance(error, TemplateError):
        return macro_failure(name, error, env, label="its words")
    return ConfigError(f"its words: {type(error).__name__}: {error}")


def failed(name: str, args: tuple, error: Exception, env, inline: bool = False) -> str:
    """What stands where macro ``name`` (called with ``args``) failed with ``error``: the
    error located at the claim whose words raised it or at the page's line, told
    (``report``), and its red box, or with ``inline`` a note there and the box on top."""
    exc = _as_roads_error(name, error, env)
    page = getattr(env, "page", None)
    # The innermost claim: one whose own template failed, inside another's words.
    rendering = claims.rendered_claim(error) or claims.rendering()
    if rendering is not None:
        # Raised by a macro inside a claim's words: those words are in claims.toml.
        exc.at_page(f"tests/claims.toml (claim {rendering.id!r}, shown on "
                    f"{claim_place(rendering)})", claims.line_of(rendering.id))
    elif page is not None:
        source = source_of(page)
        line = template_line(source, getattr(env, "markdown", None))
        exc.at_page(page_path(env, page), line or call_line(source, name, args))
    if page is not None and exc.line is not None and rendering is None:
        page.__dict__.setdefault(FAILED_LINES, []).append(exc.line)
    if inline and page is not None:
        box = report(env, exc, "This page has an error")
        page.__dict__.setdefault(INLINE_ERRORS, []).append(box)
        what = f"claim {rendering.id!r}" if rendering is not None else f"{name}()"
        return f"[{what}: see the error on top of this page]"
    return report(env, exc)


def macro_failure(name: str, error: Exception, env=None, label: str | None = None) -> RoadsError:
    """A macro's exception that the engine did not raise on purpose, as a RoadsError:
    a template error in the words it renders (a claim's: a name it does not know is
    matched against the macros, as on a page), or a bug of ours (its traceback logged
    at debug level: ``mkdocs serve -v`` shows it)."""
    from jinja2 import TemplateError, UndefinedError

    if isinstance(error, TemplateError):
        message = error.message or str(error)
        if isinstance(error, UndefinedError) and env is not None:
            message += _did_you_mean(env, message)
        return ConfigError(f"{label or name + '()'}: {type(error).__name__}: {message}")
    log.debug("%s() raised", name, exc_info=error)
    return RoadsError(f"{name}(): internal error: {error!r}")


def report(env, exc: RoadsError, title: str = "This figure could not be made") -> str:
    """Fail the build on ``exc`` (strict or CI) or log it and return its red box."""
    if must_fail(env.conf):
        # One clear message, then stop: SystemExit passes through the macros
        # plugin, which would otherwise wrap the error in its own traceback.
        log.error("%s", exc.located())
        ahead.abandon()
        raise SystemExit(1) from None
    located = exc.located()
    head, _, rest = located.partition("\n")
    key = (type(exc), exc.message, exc.sample, rest)
    if located in _TOLD:
        # The same error at the same place, told by another page: a claim's words, which
        # its page and About's list of claims both render. Counted, not told again.
        pagecache.warning(None, located)
    elif rest and key in _REPORTED and _AS_ABOVE.get(key, 0) < SHOWN_PLACES:
        # A broken sample that several calls read: told in full once a build, then only
        # located at each of the next few calls; the others, as below.
        _AS_ABOVE[key] = _AS_ABOVE.get(key, 0) + 1
        pagecache.warning(log, "%s (as above)", head)
    elif key in _REPORTED:
        # A one-line error met again elsewhere (a broken manifest: every call of every
        # page), or a longer one past its first few "(as above)": counted, and its places
        # told in one line when the build ends (``again``).
        _AGAIN.setdefault(key, (exc.message, []))[1].append(
            f"{exc.page}:{exc.line}" if exc.page and exc.line else exc.page or "?")
        pagecache.warning(None, located)
    else:
        _REPORTED.add(key)
        pagecache.warning(log, "%s", located)
    _TOLD.add(located)
    # On the page too, the first box tells it in full and each other one names its own
    # line and points there: five copies of gcc's output hid which call was which.
    page = getattr(env, "page", None)
    shown = page.__dict__.setdefault(SHOWN_ERRORS, {}) if page is not None and rest else None
    if shown is not None and key in shown:
        return error_box(exc, title, same_as=shown[key])
    anchor = None
    if shown is not None:
        anchor = shown[key] = f"roads-error-{len(shown) + 1}"
    return error_box(exc, title, anchor=anchor)


# On a page: the boxes of the errors of its inline macros, put on top of it by the
# ``on_page_markdown`` hook (``macros/hooks.py``).
INLINE_ERRORS = "roads_inline_errors"

# The errors logged in full in this build: type, message, sample, and what follows the
# first line (command, output, notes).
_REPORTED: set[tuple] = set()
# Every message logged in this build, whole (place included).
_TOLD: set[str] = set()
# Errors met again at other places in this build and not told there: key -> (message,
# places). A one-line error's every further place; a longer one's after SHOWN_PLACES
# told "(as above)" (counted in _AS_ABOVE).
_AGAIN: dict[tuple, tuple[str, list[str]]] = {}
_AS_ABOVE: dict[tuple, int] = {}
SHOWN_PLACES = 5  # of a repeated error's further places, how many ``again`` names


def again() -> list[str]:
    """For each error met again at places not told (``report``), once a build: the
    error, how many more places met it and the first of them. Emptied as it is read."""
    lines = []
    for message, places in _AGAIN.values():
        shown = ", ".join(places[:SHOWN_PLACES])
        more = len(places) - SHOWN_PLACES
        lines.append(f"the same error at {len(places)} more place{'s' if len(places) != 1 else ''}"
                     f" ({shown}{f' and {more} more' if more > 0 else ''}): {message}")
    _AGAIN.clear()
    return lines

# On a page: the errors its boxes told in full (``report``'s key), each with the id of
# the box that did; forgotten when the page renders again (``on_pre_page_macros``).
SHOWN_ERRORS = "roads_shown_errors"
# On a page: the lines of the page's file at which a macro failed in this rendering.
FAILED_LINES = "roads_failed_lines"


def page_path(env, page) -> str:
    """The page's file as the author names it: ``docs/x.md``."""
    return f"{env.conf['docs_dir'].rstrip('/').rsplit('/', 1)[-1]}/{page.file.src_uri}"


# -- errors of a page's template --------------------------------------------------------

_BOX_MARK = "data-roads-error"


def catch_page_errors(env) -> None:
    """Have the macros plugin hand every error of a page's template to ``page_error``.

    The plugin formats such an error with ``mkdocs_macros.errors.format_error``, a
    ``functools.singledispatch`` function: registering for ``Exception`` and for each
    type it already knows makes ours the formatter of every error. It then logs what
    the formatter returned as a warning; ``page_error`` has logged the located message
    already, so that copy (the red box's HTML) is filtered out.
    """
    from mkdocs_macros import errors

    def formatter(error, markdown, page):
        return page_error(env, error, markdown, page)

    for kind in {Exception, *errors.format_error.registry}:
        if kind is not object:
            errors.format_error.register(kind)(formatter)
    plugin_log = logging.getLogger("mkdocs.plugins.mkdocs_macros.util")
    if _drop_boxes not in plugin_log.filters:
        plugin_log.addFilter(_drop_boxes)


def _drop_boxes(record: logging.LogRecord) -> bool:
    return _BOX_MARK not in record.getMessage()


def page_error(env, error: Exception, markdown: str, page) -> str:
    """The page's Markdown in place of a template that could not be rendered: a red
    box locating the error at the line of the page's file (front matter counted)."""
    from jinja2 import TemplateSyntaxError, UndefinedError

    if markdown is getattr(env, "markdown", None):
        # The page's body (not its title): figures and blocks kept aside before the
        # error have no placeholder in the box that replaces it.
        page.__dict__.pop(FIGURES_ATTRIBUTE, None)
        placed.forget(page)
    source = source_of(page)
    walked = error.__dict__.get(compiled.WALKED_LINE)
    if isinstance(error, TemplateSyntaxError) and error.name is None:
        line = error.lineno + front_matter_lines(source, markdown)
    elif walked is not None and markdown:  # raised by a walked template: no frame of its own
        line = walked + front_matter_lines(source, markdown)
    else:
        line = template_line(source, markdown, error.__traceback__)
    message = getattr(error, "message", None) or str(error)
    if isinstance(error, UndefinedError):
        message += _did_you_mean(env, message)
    # Only the body goes on with a failed macro's note: the title, rendered after it, is
    # a template of its own, which no macro of the body fed.
    body = markdown is getattr(env, "markdown", None)
    before = [n for n in page.__dict__.get(FAILED_LINES, ()) if line is None or n <= line] \
        if body else []
    if before:
        # The template went on with a failed macro's note in place of its value (a
        # loop over a value's lines found the note's words): the first error is the one
        # to fix, and its box stands above this one.
        message += (f" (most likely because of the error at line {before[0]}, above: the "
                    "page went on with that macro's note in place of its value; fix that one first)")
    lines = source.splitlines()
    shown = lines[line - 1] if line and 0 < line <= len(lines) else None
    exc = ConfigError(f"{type(error).__name__}: {message}", output=shown)
    exc.at_page(page_path(env, page), line)
    return report(env, exc, "This page could not be rendered")


def _did_you_mean(env, message: str) -> str:
    match = re.match(r"'(\w+)' is undefined", message)
    if match is None:
        return ""
    known = [*env.macros, *env.variables, *env.filters]
    close = difflib.get_close_matches(match.group(1), known, n=1)
    return f" (no macro or variable of that name; did you mean {close[0]!r}?)" if close else \
        " (no macro or variable of that name)"


def template_line(source: str, markdown: str | None, tb=None) -> int | None:
    """The line of the page's file being rendered: from traceback ``tb``, or else from
    the frames now running (a macro asking where it was called from).

    The outermost template frame is the page's own (a claim's words are a template
    rendered inside it); Jinja maps its Python line back to the template's line,
    which counts from after the front matter. A page walked rather than compiled
    (``macros.compiled``) has no frame: the walk tells its line.
    """
    if not markdown:
        return None
    frames = []
    live = tb is None
    if not live:
        while tb is not None:
            frames.append((tb.tb_frame, tb.tb_lineno))
            tb = tb.tb_next
    else:
        frame = sys._getframe(1)
        while frame is not None:
            frames.insert(0, (frame, frame.f_lineno))
            frame = frame.f_back
    for frame, lineno in frames:
        if frame.f_code.co_filename != "<template>":
            continue
        if live:
            # A running template's line is Python's; Jinja's table maps it back.
            template = frame.f_globals.get("__jinja_template__")
            if template is None:
                return None
            lineno = template.get_corresponding_lineno(lineno)
        return lineno + front_matter_lines(source, markdown)
    if live and compiled.WALKING and compiled.WALKING[0].line is not None:
        return compiled.WALKING[0].line + front_matter_lines(source, markdown)
    return None


def front_matter_lines(source: str, markdown: str) -> int:
    """How many lines of the page's file precede ``markdown``, the text MkDocs hands
    the template (the file without its front matter and the blank lines after it)."""
    if markdown and source.endswith(markdown):
        return source[: len(source) - len(markdown)].count("\n")
    from mkdocs.utils.meta import YAML_RE

    match = YAML_RE.match(source)
    if match is None:
        return 0
    rest = source[match.end():]
    return source[: match.end()].count("\n") + len(rest) - len(rest.lstrip("\n"))


FIGURES_ATTRIBUTE = "roads_figures"


def defer_figure(page, html_out: str) -> str:
    """Keep ``html_out`` on ``page`` and return the placeholder that stands for it. Its
    control characters (a file's name, a sample's output: the figures escape markup,
    not these) are written as escapes (``errors.printable``), as roads explain's page
    writes them."""
    figures = page.__dict__.setdefault(FIGURES_ATTRIBUTE, [])
    figures.append(printable(html_out))
    return f'\n\n<div data-roads-figure="{len(figures) - 1}"></div>\n\n'


def must_fail(conf) -> bool:
    """Whether an error fails the build: ``--strict`` or a CI environment."""
    return bool(conf.get("strict")) or bool(os.environ.get("CI"))


def claim_place(claim) -> str:
    """Where the page that makes ``claim`` calls it: its file and the line of its
    ``claim('id')`` call there (``docs/x.md:14``), or the file alone when the call is not
    found (or the file cannot be read)."""
    try:
        with open(Path(current().root) / claim.page, encoding="utf-8-sig") as f:
            line = call_line(f.read(), "claim", (claim.id,))
    except (OSError, UnicodeDecodeError):
        line = None
    return f"{claim.page}:{line}" if line else claim.page


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


def error_box(exc: RoadsError, title: str = "This figure could not be made", *,
              anchor: str | None = None, same_as: str | None = None) -> str:
    """The error as a Material admonition, for pages built without --strict: whole, with
    the id ``anchor`` if given; or, where the box whose id is ``same_as`` tells the same
    error in full on the page, only its first line (the call's page, line and sample)
    and a link to that box."""
    text = exc.located()
    if same_as is not None:
        text = text.partition("\n")[0]
    # The braces escaped too: the box may stand in a page's Markdown that the macros
    # plugin renders no further, but nothing in it must ever read as a template.
    body = html.escape(text).replace("{", "&#123;").replace("}", "&#125;")
    ident = f' id="{anchor}"' if anchor is not None else ""
    more = (f'<p>The same error as <a href="#{same_as}">the box that tells it in full</a> '
            f'on this page.</p>' if same_as is not None else "")
    return (f'<div class="admonition failure"{ident} {_BOX_MARK}><p class="admonition-title">'
            f'{title}</p><pre><code>{body}</code></pre>{more}</div>')
