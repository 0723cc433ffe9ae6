"""Templates made from text (a page's Markdown, a claim's words) compiled once and kept.

mkdocs-macros renders every page's Markdown as a Jinja template (``from_string``), and
so do the claims whose words use more than plain macro calls: Jinja parses each, writes
Python for it and compiles that, about 3 ms a page here, 0.15 s of a fresh clone's
build in all. ``attach`` gives the plugin's environment a ``from_string`` that looks
the compiled code up by the text's digest, under a folder named after what else shapes
it (``themecache.settings``: Jinja's and Python's versions, the extensions, the
syntax), and compiles and keeps it when it is not there: the same code, so the same
template, as Jinja's own ``from_string`` makes. A text Jinja refuses is refused as
before, and nothing is kept of it.

The page cache (``macros.pagecache``) already spares rendering a page whose inputs did
not change; this serves every build that renders pages again, a fresh clone above all,
where ``ahead`` compiles the pages' and the claims' texts in the helper process that
runs while the build starts (``macros.ahead.helper``), before any page renders. A text
read differently there than by the build (another plugin's doing) is only a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
from pathlib import Path

from roads import cachedir

from .themecache import settings

FOLDER = "templates"  # under the build's cache folder
SUFFIX = ".code"


def folder(cache: Path) -> Path:
    return cache / FOLDER


def _where(env, cache: Path) -> Path:
    return folder(cache) / settings(env)[:24]


def _path(where: Path, source: str) -> Path:
    return where / (hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest() + SUFFIX)


def _load(path: Path):
    """The code kept at ``path``, or None (not there, cut short, damaged: then removed)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        code = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    if type(code).__name__ != "code":
        return None
    cachedir.used(path)
    return code


def compile_kept(env, source: str, where: Path):
    """The code of ``source`` compiled by ``env``: kept under ``where``, or compiled
    (Jinja's errors raised as ``env.compile`` raises them) and kept."""
    path = _path(where, source)
    code = _load(path)
    if code is None:
        code = env.compile(source)
        with contextlib.suppress(OSError):  # a full disk, a read-only folder: not kept
            cachedir.keep_bytes(path, marshal.dumps(code))
    return code


def attach(env, cache: Path) -> None:
    """Give the Jinja environment ``env`` a ``from_string`` whose compiled code is kept
    under ``cache`` (the build's cache folder); once per environment."""
    if getattr(env.from_string, "roads_kept", False):
        return
    where = _where(env, cache)

    def from_string(source, globals=None, template_class=None):
        """``jinja2.Environment.from_string``, its code kept (``macros.compiled``)."""
        cls = template_class or env.template_class
        return cls.from_code(env, compile_kept(env, source, where), env.make_globals(globals),
                             None)

    from_string.roads_kept = True
    env.from_string = from_string


def texts(root: Path) -> list[str]:
    """The texts a build renders as templates first, as far as can be told before it
    starts: each page's Markdown without its front matter. (The claims' words, some
    three dozen small templates, are left to the build: compiling them too, the helper
    was still at work when the pages began, and took a core from them.)"""
    from mkdocs.utils.meta import get_data

    found = []
    for page in sorted((root / "docs").rglob("*.md")):
        with contextlib.suppress(OSError, ValueError):
            found.append(get_data(page.read_text(encoding="utf-8-sig"))[0])
    return found


def like(plugin):
    """An environment that compiles as the macros plugin's will: the plugin makes its
    own at the end of its ``on_config``, after ``define_env``, from its ``j2_*`` options
    (the syntax, the extensions), and adds the filters registered by then. What else it
    is given (a loader, an undefined) shapes no compiled code; anything that differs
    and does (a filter registered later) puts the code in another folder
    (``themecache.settings``), where the build does not look."""
    import jinja2

    options = {key[3:]: value for key, value in plugin.config.items()
               if key.startswith("j2_") and value}
    env = jinja2.Environment(**options)
    env.filters.update(plugin.filters)
    return env


def ahead(plugin, cache: Path, root: Path):
    """What a helper process compiles while the build starts (before the plugin has
    made its environment: ``like``), when nothing is kept yet for it (a fresh clone,
    another Jinja): a function, or None."""
    env = like(plugin)
    where = _where(env, cache)
    with contextlib.suppress(OSError):
        if any(name.endswith(SUFFIX) for name in os.listdir(where)):
            return None

    def compile_all() -> None:
        for source in texts(root):
            with contextlib.suppress(Exception):  # the build reports its own errors
                compile_kept(env, source, where)

    return compile_all


def prune(cache: Path) -> None:
    """Compiled texts no build used for a month go (a scan at most once a day)."""
    cachedir.prune(folder(cache), (SUFFIX,))
