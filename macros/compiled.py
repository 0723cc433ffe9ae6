"""Templates made from text (a page's Markdown, a claim's words): walked, or compiled once
and kept.

mkdocs-macros renders every page's Markdown as a Jinja template (``from_string``), and
so do the claims whose words are more than plain macro calls and more than
``macros.interpret`` walks. ``attach`` gives the plugin's environment a
``from_string`` whose template is rendered by walking the tree Jinja parsed
(``macros.interpret``) where the walk takes all of it: a page's text is rendered once a
build, and writing Python for it and compiling that cost Jinja about as much again as
parsing it (in all, 9 % of a fresh clone's build in instructions). The walk locates an
error at the line Jinja would (``WALKING``, ``WALKED_LINE``: ``macros.template_line``).

Any other template (a loop, a macro of its own, an include: about a third of the
pages' text) is compiled, and its code is kept by the text's digest, under a folder
named after what else shapes it (``themecache.settings``: Jinja's and Python's
versions, the extensions, the syntax); the same code, so the same template, as
Jinja's own ``from_string`` makes. A text Jinja refuses is refused as before, and
nothing is kept of it.

The page cache (``macros.pagecache``) already spares rendering a page whose inputs did
not change; this serves every build that renders pages again, a fresh clone above all,
where ``ahead`` compiles the pages' texts that the walk will not take in the helper
process that runs while the build starts (``macros.ahead.helper``), before any page
renders. A text read differently there than by the build (another plugin's doing) is
only a miss.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import marshal
import types
from pathlib import Path

from jinja2.runtime import missing, new_context

from roads import cachedir

from . import interpret
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


def compile_kept(env, source: str, where: Path, tree=None) -> types.CodeType:
    """The code of ``source`` compiled by ``env``: kept under ``where``, or compiled
    (Jinja's errors raised as ``env.compile`` raises them; from ``tree``, its parse,
    when given) and kept."""
    path = _path(where, source)
    code = _load(path)
    if code is None:
        code = env.compile(source if tree is None else tree)
        with contextlib.suppress(OSError):  # a full disk, a read-only folder: not kept
            cachedir.keep_bytes(path, marshal.dumps(code))
    return code


# The lines the templates being walked are at, outermost first (a page's, then a claim's
# words it shows): where a macro's error is located.
WALKING: list[interpret.Where] = []
# Set on an exception raised by a walked template: the line it was raised at.
WALKED_LINE = "roads_walked_line"


class _Kept:
    """Mixed into an environment's class by ``attach``: ``from_string`` walked where it
    can be, its code kept where it is compiled. A class, not a function set on the
    environment, so that an overlay (which copies the environment's attributes)
    compiles with its own settings."""

    roads_cache: Path

    def from_string(self, source, globals=None, template_class=None):
        """``jinja2.Environment.from_string``, walked or its code kept (``macros.compiled``).
        A text Jinja cannot parse raises here, as Jinja's own ``from_string`` raises."""
        if not isinstance(source, str):  # a template's syntax tree: compiled as always
            return super().from_string(source, globals, template_class)
        cls = template_class or self.template_class
        tree = self.parse(source) if interpret.walkable(self) else None
        if tree is not None and _walks(self, tree):
            return _Template(self, source, tree, self.make_globals(globals), cls)
        code = compile_kept(self, source, _where(self, self.roads_cache), tree)
        return cls.from_code(self, code, self.make_globals(globals), None)


class _Template:
    """What ``from_string`` gives for a text the walk takes (``_walks``): ``render`` walks
    its parsed ``tree`` (``macros.interpret``), or, where the variables it is given
    leave it to Jinja (a name not among them), renders the compiled template, its code
    kept; anything else asked of it is asked of the compiled template."""

    def __init__(self, env, source: str, tree, globals, template_class) -> None:
        self._env = env
        self._source = source
        self._tree = tree
        self._globals = globals
        self._class = template_class
        self._template = None  # compiled when first needed

    def render(self, *args, **kwargs) -> str:
        env = self._env
        # The names the template reads, looked up as its compiled code would: in a
        # context of these variables (whose class notes them for the page cache).
        context = new_context(env, None, {}, dict(*args, **kwargs), False, self._globals)

        def lookup(name: str) -> object:
            value = context.resolve_or_missing(name)
            if value is missing:
                raise KeyError(name)
            return value

        where = interpret.Where()
        WALKING.append(where)
        try:
            walked = interpret.walk(env, self._tree, lookup, where)
        except Exception as exc:
            exc.__dict__.setdefault(WALKED_LINE, where.line)
            raise
        finally:
            WALKING.pop()
        if walked is not None:
            return walked
        return self._compiled().render(*args, **kwargs)

    def _compiled(self):
        if self._template is None:
            env = self._env
            code = compile_kept(env, self._source, _where(env, env.roads_cache), self._tree)
            self._template = self._class.from_code(env, code, self._globals, None)
        return self._template

    def __getattr__(self, name: str):
        return getattr(self._compiled(), name)


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
    starts: each page's Markdown without its front matter."""
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
    made its environment: ``like``), when it has not done so yet for it (a fresh clone,
    another Jinja): a function, or None."""
    env = like(plugin)
    where = _where(env, cache)
    if cachedir.holds(where, SUFFIX) or (where / AHEAD).exists():
        return None
    return lambda: compile_unwalked(env, texts(root), where)


# Made in a folder of code once the helper went through the pages: a site whose pages are
# all walked keeps no code, and its later builds fork no helper to find that again.
AHEAD = ".ahead"


def compile_unwalked(env, sources, where: Path) -> None:
    """Compile and keep under ``where`` each of ``sources`` that the build will not walk
    (``_walks``)."""
    for source in sources:
        with contextlib.suppress(Exception):  # the build reports its own errors
            tree = env.parse(source)
            if not _walks(env, tree):
                compile_kept(env, source, where, tree)
    with contextlib.suppress(OSError):
        where.mkdir(parents=True, exist_ok=True)
        (where / AHEAD).touch()


def _walks(env, tree) -> bool:
    """Whether the build will walk the parsed template ``tree`` rather than compile it,
    as far as can be told without its variables (any name taken as one the build
    has, a plain function)."""
    return interpret.walkable(env) and interpret.takes(env, tree, lambda name: _any)


def _any(*args, **kwargs):
    """What ``_walks`` takes a name the template reads to be."""


def prune(cache: Path) -> None:
    """Compiled texts no build used for a month go (a scan at most once a day)."""
    cachedir.prune(folder(cache), (SUFFIX,))
