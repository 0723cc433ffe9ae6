"""The theme's templates compiled once, their code kept in the cache folder.

MkDocs makes a new Jinja environment for its theme on every build, so every build,
each rebuild of ``mkdocs serve`` included, parses and compiles Material's templates
again: 39 of them for this site, a third of a warm rebuild. Jinja can keep a
template's compiled code (a bytecode cache: found by the template's name and file,
used only while its source is the same). ``attach`` gives the theme's environment one
in the build's cache folder, in a folder named after everything else that shapes the
code Jinja writes (its version, Python's, the environment's extensions and syntax), so
that an edited template or another setting compiles afresh.

A build with nothing kept (a fresh clone) would compile them after its pages, on one
core. ``ahead`` gives the work to the helper process (``macros.ahead``) that runs
while the build starts, when the other cores have nothing to do yet: the templates
the theme renders (its static ones and ``main.html``) and every one they name, found
by reading them. A template named only at render time (an icon chosen by a setting)
is compiled by the build as before. Compiling them in the worker that renders pages
ahead was tried: the worker's pages then came later, by as much as the build's last
step gained.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import sys
import types
from pathlib import Path

import jinja2

from roads import cachedir

FOLDER = "theme"  # under the build's cache folder
SUFFIX = ".cache"  # FileSystemBytecodeCache's file names: __jinja2_<key>.cache
PARTIAL = ".tmp"  # and those it writes first: __jinja2_<key>.cache<random>.tmp


class _Kept(jinja2.FileSystemBytecodeCache):
    """Jinja's cache of compiled templates in a folder, whose files a build that uses
    them marks as used (``roads.cachedir.prune`` removes those no build used). A file
    that cannot be read back (cut short, damaged) is a miss, and one that cannot be
    written (a full disk, a folder made read-only) is only not kept: the template is
    compiled as without a cache."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        path = Path(self.directory) / (self.pattern % bucket.key)
        try:
            super().load_bytecode(bucket)
        except Exception:  # noqa: BLE001 - Jinja reads the checksum with pickle, unguarded
            bucket.reset()
            with contextlib.suppress(OSError):
                path.unlink()
            return
        if bucket.code is not None:
            cachedir.used(path)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _installed(module) -> tuple | None:
    """An installed module's file by its size and time (a new version is a new file)."""
    try:
        st = os.stat(module.__file__)
    except (OSError, TypeError, AttributeError):
        return None
    return (st.st_size, st.st_mtime_ns)


# MarkupSafe escapes what Jinja escapes while it compiles (its ``e`` filter on a constant).
_MARKUPSAFE = _installed(sys.modules.get("markupsafe"))


def _named(value: object) -> object:
    """A setting as the digest sees it: a class by its module and name; a function by
    its module, name and what it does (``_function``); other values by their repr (a
    set's sorted: its order changes from process to process)."""
    if isinstance(value, type):
        return (value.__module__, value.__qualname__)
    if callable(value):
        return _function(value)
    if isinstance(value, (set, frozenset)):
        return repr(sorted(map(repr, value)))
    return repr(value)


def _code(code: types.CodeType) -> str:
    """A digest of a function's compiled body: its bytecode, names and constants (a
    nested function's by its own digest: its repr holds an address)."""
    parts = [code.co_code, repr(code.co_names).encode()]
    parts += [repr(_constant(const)).encode() for const in code.co_consts]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


def _constant(value: object) -> object:
    """A constant of compiled code as the digest sees it: the same in every process (a
    set's order and a nested function's address are not)."""
    if isinstance(value, types.CodeType):
        return _code(value)
    if isinstance(value, (set, frozenset)):
        return sorted(map(repr, value))
    if isinstance(value, tuple):
        return tuple(_constant(v) for v in value)
    return value


@functools.lru_cache(maxsize=None)
def _function(value) -> tuple:
    """A function as the digest sees it: Jinja calls filters and tests while it compiles
    (on constant arguments) and writes the result into the code, so what one does
    matters, not only its name: its body and what it closes over."""
    function = getattr(value, "__func__", value)
    code = getattr(function, "__code__", None)
    cells = []
    for cell in getattr(function, "__closure__", None) or ():
        try:
            cells.append(_named(cell.cell_contents))
        except ValueError:  # an empty cell
            cells.append(None)
    return (getattr(value, "__module__", None), getattr(value, "__qualname__", repr(type(value))),
            _code(code) if code is not None else None, tuple(cells))


def _passes(functions: dict) -> list:
    """Filters or tests by name, with what each asks to be passed (the context, the
    environment: ``jinja2.pass_context``...), which Jinja writes into the compiled call,
    and what each does (``_function``)."""
    return sorted((name, repr(getattr(f, "jinja_pass_arg", None)), _named(f))
                  for name, f in functions.items())


def _read(env: jinja2.Environment) -> tuple:
    """What ``settings`` reads of ``env``, as it is now: the extensions, the filters and
    tests, the policies (each as its items), the settings the compiler reads, the
    syntax."""
    return (tuple(env.extensions), tuple(env.filters.items()), tuple(env.tests.items()),
            tuple(env.policies.items()), env.undefined, env.autoescape, env.finalize,
            env.code_generator_class, getattr(env, "newstyle_gettext", None),
            env.block_start_string, env.block_end_string, env.variable_start_string,
            env.variable_end_string, env.comment_start_string, env.comment_end_string,
            env.line_statement_prefix, env.line_comment_prefix, env.trim_blocks,
            env.lstrip_blocks, env.newline_sequence, env.keep_trailing_newline,
            env.optimized, env.is_async)


_SETTINGS: dict[int, tuple[tuple, str]] = {}  # by environment: what was read, the digest


def settings(env: jinja2.Environment) -> str:
    """A digest of what, besides a template's source, shapes its compiled code: Jinja's
    version, MarkupSafe's and the Python's (its bytecode's magic number), the
    extensions, the syntax, the settings the compiler reads (autoescape, finalize, the
    i18n extension's style, the policies, the class of undefined values: Jinja works
    out constant expressions while it compiles), and the filters and tests there are,
    with what each is passed and does. Worked out again for an environment only when
    one of them changed (a filter or an extension added since)."""
    read = _read(env)
    known = _SETTINGS.get(id(env))
    if known is not None and known[0] == read:
        return known[1]
    (extensions, filters, tests, policies, undefined, autoescape, finalize, generator,
     *rest) = read
    shape = (jinja2.__version__, _MARKUPSAFE, sys.implementation.cache_tag,
             importlib.util.MAGIC_NUMBER, sorted(extensions), _named(undefined),
             _passes(dict(filters)), _passes(dict(tests)), _named(autoescape),
             _named(finalize), _named(generator), sorted((k, _named(v)) for k, v in policies),
             *rest)
    digest = _SETTINGS[id(env)] = (read, hashlib.sha256(repr(shape).encode()).hexdigest())
    return digest[1]


def folder(cache: Path) -> Path:
    """Where the compiled templates are kept, under the build's cache folder."""
    return cache / FOLDER


def attach(env: jinja2.Environment, cache: Path) -> jinja2.Environment:
    """``env`` with its compiled templates kept under ``cache`` (the build's folder)."""
    where = folder(cache) / settings(env)[:24]
    with contextlib.suppress(OSError):
        where.mkdir(parents=True, exist_ok=True)
        env.bytecode_cache = _Kept(str(where))
    return env


def templates(env: jinja2.Environment, roots, each=None) -> list[str]:
    """``roots`` and every template they name, through ``extends``, ``include`` and
    ``import`` with a literal name, as far as they go (sorted; names not found left out).
    ``each(name, source, filename, tree)`` is called with each one found, as read."""
    import jinja2.meta

    found: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        try:
            source, filename, _ = env.loader.get_source(env, name)
            tree = env.parse(source, name, filename)
        except Exception:  # noqa: BLE001 - missing or broken: the build will say so
            continue
        found.add(name)
        todo.extend(n for n in jinja2.meta.find_referenced_templates(tree) if n)
        if each is not None:
            each(name, source, filename, tree)
    return sorted(found)


def _keep(env: jinja2.Environment, name: str, source: str, filename, tree) -> None:
    """The code of the template ``name`` kept in ``env``'s cache, compiled from ``tree``,
    its syntax already read from ``source``: what ``env.get_template`` keeps (the
    same bucket, the same code), without reading the source a second time."""
    cache = env.bytecode_cache
    if cache is None:
        return
    bucket = cache.get_bucket(env, name, filename, source)
    if bucket.code is None:
        bucket.code = env.compile(tree, name, filename)
        cache.set_bucket(bucket)


def ahead(config, cache: Path):
    """What a helper process compiles while the build starts (``macros.ahead.helper``)
    when none of the theme's templates is kept under ``cache`` for its environment (a
    fresh clone, a new theme or Jinja): a function, or None."""
    try:
        env = config.theme.get_env()  # as MkDocs makes it for the build
        where = folder(cache) / settings(env)[:24]
    except Exception:  # noqa: BLE001 - a theme MkDocs cannot load: the build says so
        return None
    if cachedir.holds(where, SUFFIX):
        return None

    def compile_all() -> None:
        attach(env, cache)

        def keep(*found) -> None:
            with contextlib.suppress(Exception):  # the build reports its own errors
                _keep(env, *found)

        templates(env, [*sorted(config.theme.static_templates), "main.html"], each=keep)

    return compile_all


def prune(cache: Path) -> None:
    """Compiled templates no build used for a month go (a scan at most once a day)."""
    cachedir.prune(folder(cache), (SUFFIX, PARTIAL))
