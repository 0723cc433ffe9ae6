"""Templates made from text (a page's Markdown, a claim's words) compiled once and kept.

mkdocs-macros renders every page's Markdown as a Jinja template (``from_string``), and
so do the claims whose words are more than plain macro calls and more than
``macros.interpret`` walks: Jinja parses each, writes Python for it and compiles that,
about 3 ms a page here, a tenth of a second of a fresh clone's build in all. ``attach``
gives the plugin's environment a ``from_string`` that looks the compiled code up by the
text's digest, under a folder named after what else shapes it (``themecache.settings``:
Jinja's and Python's versions, the extensions, the syntax), and compiles and keeps it
when it is not there: the same code, so the same template, as Jinja's own
``from_string`` makes. A text Jinja refuses is refused as before, and nothing is kept
of it.

The page cache (``macros.pagecache``) already spares rendering a page whose inputs did
not change; this serves every build that renders pages again, a fresh clone above all,
where ``ahead`` compiles the pages' texts in the helper process that runs while the
build starts (``macros.ahead.helper``), before any page renders. A text read
differently there than by the build (another plugin's doing) is only a miss.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import marshal
import types
from pathlib import Path

from roads import cachedir

from .themecache import settings

FOLDER = "templates"  # under the build's cache folder
SUFFIX = ".code"


def folder(cache: Path) -> Path:
    return cache / FOLDER


def _where(env, cache: Path) -> Path:
    """The folder of ``env``'s code under ``cache``, named after its settings."""
    return folder(cache) / settings(env)[:24]


def _path(where: Path, source: str) -> Path:
    return where / (hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest() + SUFFIX)


def _load(path: Path) -> types.CodeType | None:
    """The code kept at ``path``, or None (not there; cut short or damaged: removed)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        code = marshal.loads(data)
    except Exception:  # noqa: BLE001 - EOFError, ValueError, TypeError, even SystemError
        code = None
    if not isinstance(code, types.CodeType):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    cachedir.used(path)
    return code


def compile_kept(env, source: str, where: Path) -> types.CodeType:
    """The code of ``source`` compiled by ``env``: kept under ``where``, or compiled
    (Jinja's errors raised as ``env.compile`` raises them) and kept."""
    path = _path(where, source)
    code = _load(path)
    if code is None:
        code = env.compile(source)
        with contextlib.suppress(OSError):  # a full disk, a read-only folder: not kept
            cachedir.keep_bytes(path, marshal.dumps(code))
    return code


class _Kept:
    """Mixed into an environment's class by ``attach``: ``from_string`` with its code
    kept. A class, not a function set on the environment, so that an overlay (which
    copies the environment's attributes) compiles with its own settings."""

    roads_cache: Path

    def from_string(self, source, globals=None, template_class=None):
        """``jinja2.Environment.from_string``, its code kept (``macros.compiled``)."""
        if not isinstance(source, str):  # a template's syntax tree: compiled as always
            return super().from_string(source, globals, template_class)
        cls = template_class or self.template_class
        code = compile_kept(self, source, _where(self, self.roads_cache))
        return cls.from_code(self, code, self.make_globals(globals), None)


@functools.lru_cache(maxsize=None)
def _kept_class(base: type) -> type:
    return type(f"Kept{base.__name__}", (_Kept, base), {"__module__": __name__})


def attach(env, cache: Path) -> None:
    """Give the Jinja environment ``env`` a ``from_string`` whose compiled code is kept
    under ``cache`` (the build's cache folder)."""
    if not isinstance(env, _Kept):
        env.__class__ = _kept_class(type(env))
    env.roads_cache = cache


def texts(root: Path) -> list[str]:
    """The texts a build renders as templates first, as far as can be told before it
    starts: each page's Markdown without its front matter. (The claims' words are
    walked, not compiled: ``macros.interpret``.)"""
    from mkdocs.utils.meta import get_data

    found = []
    for page in sorted((root / "docs").rglob("*.md")):
        with contextlib.suppress(OSError, ValueError):
            found.append(get_data(page.read_text(encoding="utf-8-sig"))[0])
    return found


def like(plugin):
    """An environment that compiles as the macros plugin's will: the plugin makes its
    own at the end of its ``on_config``, after ``define_env``, from its ``j2_*`` options
    (the syntax, the extensions, the class of undefined values), and adds the filters
    registered by then. Its loader shapes no compiled code; anything that differs
    and does (a filter registered later) puts the code in another folder
    (``themecache.settings``), where the build does not look."""
    import jinja2

    options = {key[3:]: value for key, value in plugin.config.items()
               if key.startswith("j2_") and value}
    with contextlib.suppress(Exception):  # the plugin's own table of undefined classes
        from mkdocs_macros.plugin import UNDEFINED_BEHAVIOR

        options["undefined"] = UNDEFINED_BEHAVIOR[plugin.config["on_undefined"]]
    env = jinja2.Environment(**options)
    env.filters.update(plugin.filters)
    return env


def ahead(plugin, cache: Path, root: Path):
    """What a helper process compiles while the build starts (before the plugin has
    made its environment: ``like``), when nothing is kept yet for it (a fresh clone,
    another Jinja): a function, or None."""
    env = like(plugin)
    where = _where(env, cache)
    if cachedir.holds(where, SUFFIX):
        return None

    def compile_all() -> None:
        for source in texts(root):
            with contextlib.suppress(Exception):  # the build reports its own errors
                compile_kept(env, source, where)

    return compile_all


def prune(cache: Path) -> None:
    """Compiled texts no build used for a month go (a scan at most once a day)."""
    cachedir.prune(folder(cache), (SUFFIX,))
