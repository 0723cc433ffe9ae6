"""The page cache: a page nothing of which changed is not rendered again.

Two steps of a page's build are kept (``roads.words.rendercache``, under the build's
cache folder, ``pages/``):

1. **Its macros** (the macros plugin's Jinja rendering). The key holds the page's
   Markdown and front matter, the code (``roads/``, ``macros/``), Graphviz, the
   build's settings and configuration; the entry records every file the macros read
   (``depends``: the captures, with the sample files and manifest they were made
   from, the claims, the glossary, the saved sessions). On a hit the macros plugin
   is told not to render (``render_macros: false``, for this build only) and is
   handed the kept Markdown, and the figures and blocks kept aside (``placed``) come
   back on the page.
2. **Its Markdown made HTML** (MkDocs' ``Page.render``). The key holds the Markdown
   exactly as the last hook hands it to MkDocs, the page's place, every file of the
   site (links are resolved against them), the configuration and the versions of
   the Markdown packages; the files appended by the snippets extension are its
   dependencies. On a hit MkDocs converts an empty page, and ``on_page_content``
   puts back the HTML, the table of contents, the title and the anchors.

A page whose rendering logged a warning (a stale capture in a frozen build, an error
box, a broken link) is never kept: the next build renders it again, and says so
again. Nor is a page whose template read a variable the key does not hold (the
plugin's ``page``, ``git``, ``config``, ``navigation``, its own macros such as
``now()``): every template's lookups of names go through ``_Watched``, and only our
macros (what they read is recorded), ``extra`` and the page's front matter are
followed. A claim's words that read one are neither kept nor shared between pages.
``refresh`` mode looks nothing up. A warm build gives the same bytes as a cold one
(tests/test_pagecache.py).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import posixpath
from collections.abc import Iterable
from pathlib import Path

import jinja2.runtime
from jinja2.loaders import split_template_path

from roads.words.rendercache import FileStates, Recorder, RenderCache, digest

log = logging.getLogger("mkdocs.plugins.roads")
_FILES = FileStates()  # shared by every build of this process
_CACHED = "roads_cached"  # on a page: the payload of step 2 found for it
_STATE = "roads_page_cache"  # on a page: this build's state of its cache entries
_recorders: list[Recorder] = []  # the renderings under way, innermost last


class _Warnings(logging.Handler):
    """Counts the warnings MkDocs and its plugins log: a rendering that logged one is
    not kept."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


_WARNINGS = _Warnings()


def warnings() -> int:
    """How many warnings were logged in this process so far (installed on first use)."""
    logger = logging.getLogger("mkdocs")
    if _WARNINGS not in logger.handlers:
        logger.addHandler(_WARNINGS)
    return _WARNINGS.count


_HIDDEN: list[str] = []  # this build's warnings that ``logger`` dropped (``hidden``)


def warning(logger: logging.Logger | None, message: str, *args: object) -> None:
    """Log a warning of ours and count it, also where ``logger`` drops it: ``mkdocs
    build -q`` raises MkDocs' level to errors, and a page that showed a red box would be
    kept, to show it on later builds without a word. With no ``logger``, a warning told
    already: counted (its page is not kept either), not logged. A warning dropped so is
    also kept for ``hidden``: MkDocs' strict mode counts only the warnings it sees."""
    warnings()
    if logger is None or not logger.isEnabledFor(logging.WARNING):
        _WARNINGS.count += 1
        if logger is not None:
            _HIDDEN.append(message % args if args else message)
    if logger is not None:
        logger.warning(message, *args)


def hidden() -> list[str]:
    """The warnings of ours that a logger dropped since the last call (``-q``), each
    once, in order; the list starts again empty."""
    told = list(dict.fromkeys(_HIDDEN))
    _HIDDEN.clear()
    return told


class Counted(logging.LoggerAdapter):
    """A logger for the engine (``roads.capture.project.Project``'s ``log``) whose
    warnings go through ``warning``: counted, kept from the page cache and from strict
    mode's count even under ``-q`` (a stale capture passed ``mkdocs build --strict -q``,
    and the page drawn from it was kept for the next build)."""

    def warning(self, msg, *args, **kwargs) -> None:  # noqa: D102 - as Logger.warning
        warning(self.logger, msg, *args)


# -- the names a template reads ---------------------------------------------------------

_macros: set[str] = set()  # our macros: each records the files it reads
# ... and the names whose values the keys hold or that always give the same: extra and
# its names (the configuration is in every key), Jinja's pure globals (not lipsum()).
_steady: set[str] = set()
_reads: list[str] = []  # every other name a template looked up and found, in order


def follow(macros: Iterable[str], extra: Iterable[str]) -> None:
    """The names whose values the keys follow, as ``define_env`` registered them: our
    macros and the configuration's ``extra``."""
    _macros.clear()
    _macros.update(macros)
    _steady.clear()
    _steady.update(_macros, extra, ("extra", "range", "dict", "cycler", "joiner", "namespace"))


def ours(name: str) -> bool:
    """Whether ``name`` is one of our macros (not one of the plugin's, such as ``now``)."""
    return name in _macros


class _Watched(jinja2.runtime.Context):
    """A template's context that notes each name looked up and found besides the
    followed ones (Jinja's documented place for custom lookups)."""

    def resolve_or_missing(self, key: str):
        value = super().resolve_or_missing(key)
        if key not in _steady and value is not jinja2.runtime.missing:
            _reads.append(key)
        return value


def watch(environment) -> None:
    """Render ``environment``'s templates with a ``_Watched`` context (not part of the
    compiled code: the kept code serves)."""
    if environment.context_class is not _Watched:
        environment.context_class = _Watched


def reads() -> int:
    """A mark in the names read so far: ``read_since(mark)`` lists those read after."""
    return len(_reads)


def read_since(mark: int) -> set[str]:
    return set(_reads[mark:])


def sha256_of(path: str | os.PathLike[str]) -> str | None:
    """The digest of the file at ``path`` now (None when there is none), as the page
    cache records it: taken again when its stats move, or while they cannot vouch for
    its bytes (``FileStates``)."""
    return _FILES.state(path).sha256


def learn(path: str | os.PathLike[str], stats: tuple[int, int, int], sha256: str) -> None:
    """The digest of the file at ``path`` while it keeps ``stats``, taken by its reader
    (``FileStates.learn``): recording it as read does not hash it again."""
    _FILES.learn(path, stats, sha256)


def depends(*paths: str | os.PathLike[str]) -> None:
    """Record that the page being rendered read the files ``paths``."""
    for recorder in _recorders:
        recorder.add(*paths)


@contextlib.contextmanager
def recording():
    """The files read inside the block (recorded for the page as well): for a part of
    a page that another page will reuse, such as a claim's words."""
    recorder = Recorder(_FILES)
    _recorders.append(recorder)
    try:
        yield recorder
    finally:
        _recorders.remove(recorder)


@functools.lru_cache(maxsize=None)
def code() -> str:
    """The rendering code's version: roads/, macros/, Graphviz's dot and the libraries
    the figures are made with (``DRAWING_LIBRARIES``)."""
    from roads.command import tool_identity
    from roads.figures.figcache import code_digest

    here = Path(__file__).resolve().parent.parent
    files = sorted((here / "roads").rglob("*.py")) + sorted((here / "macros").glob("*.py"))
    return code_digest(files) + tool_identity("dot") + ";".join(_library_versions())


# What a figure's HTML depends on besides our code and dot: the Python library that
# writes the DOT text, the one that tidies the SVG (its libxml2 comes with its wheel),
# the lexer that colours the sample code and the decoder of the captures. Each is named
# by its distribution, whose version is read from its metadata (without importing a
# library that a build taking every figure from the cache does not load), or by its
# module's ``__version__`` where every build has imported it already.
DRAWING_LIBRARIES = {"graphviz": None, "lxml": None, "Pygments": "pygments",
                     "msgspec": "msgspec"}


def _library_versions() -> list[str]:
    import sys
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name, module in DRAWING_LIBRARIES.items():
        loaded = getattr(sys.modules.get(module or ""), "__version__", None)
        try:
            found.append(f"{name} {loaded or version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} none")
    return found


@functools.lru_cache(maxsize=None)
def _versions() -> list[str]:
    import markdown
    import mkdocs
    import pygments
    import pymdownx

    return [markdown.__version__, mkdocs.__version__, pygments.__version__, pymdownx.__version__]


@functools.lru_cache(maxsize=None)
def _template_versions() -> list[str | None]:
    """Jinja's and the macros plugin's versions, which shape a page's rendering, and
    Markdown's and MkDocs', with which macros convert the claims' words and read
    the pages' titles (About's list)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        plugin = version("mkdocs-macros-plugin")
    except PackageNotFoundError:  # run from a source tree
        plugin = None
    return [jinja2.__version__, plugin, *_versions()]


@functools.lru_cache(maxsize=4)
def _cache(directory: str) -> RenderCache:
    return RenderCache(Path(directory), _FILES)


def _settings():
    from .project import cache_dir, current

    return current(), cache_dir()


def _pages() -> RenderCache:
    """This build's page cache (``pages/`` in its cache folder)."""
    from .project import cache_dir

    return _cache(str(cache_dir() / "pages"))


def _text(text: str) -> str:
    """sha256 of a large text, for a key (faster than escaping it into JSON)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# Digests of this build's configuration and site files, by the object they were taken
# of (one per build: each page's key holds them).
_per_build: dict[str, tuple[object, str]] = {}


def _once_per_build(name: str, of: object, make) -> str:
    found = _per_build.get(name)
    if found is None or found[0] is not of:
        found = (of, make())
        _per_build[name] = found
    return found[1]


def _config_parts(config) -> dict:
    """What of MkDocs' configuration a page's rendering can depend on."""
    from . import editions

    from mkdocs_macros.plugin import MacrosPlugin  # loaded with the configuration

    theme = config.get("theme")
    # The macros plugin by its class, under whichever name the configuration loads it
    # (``roads-macros``, macros/plugin.py; a mini-site's plain ``macros``).
    macros = next((p for p in config.plugins.values() if isinstance(p, MacrosPlugin)), None)
    return {
        # The plugins and hooks, but not the editions (mkdocs-publish.yml), which act on
        # built pages only: the pages rendered while writing serve the published build.
        "plugins": [name for name in config.plugins if name != editions.HOOK],
        # The macros plugin's own settings (what it renders, how, with which variables).
        "macros": sorted((key, repr(value)) for key, value in macros.config.items())
        if macros is not None and hasattr(macros, "config") else None,
        # What a page's template can name of the site (``config.site_name``...).
        "site": [config.get(key) for key in ("site_name", "site_description", "site_author",
                                             "copyright")],
        "site_url": config.get("site_url"), "repo_url": config.get("repo_url"),
        "edit_uri": config.get("edit_uri"), "use_directory_urls": config.get("use_directory_urls"),
        "docs_dir": config.get("docs_dir"), "extra": config.get("extra"),
        "markdown_extensions": config.get("markdown_extensions"),
        "mdx_configs": config.get("mdx_configs"),
        "theme": getattr(theme, "name", None),
        # Not ``strict``: a rendering that logged a warning is never kept, so strict or
        # not, a kept one is the same.
        "validation": str(config.get("validation")),
    }


def _page_state(page) -> dict:
    return page.__dict__.setdefault(_STATE, {})


# -- step 1: the macros ---------------------------------------------------------------


def before_macros(env) -> None:
    """The macros plugin's ``on_pre_page_macros``: the kept rendering of this page, if
    nothing it read changed, or else a record of what its rendering reads."""
    page = env.page
    chosen, shared = _settings()
    state = _page_state(page)
    state["warnings"] = warnings()
    if not _recorders:  # a page, not a part of one: what earlier pages read is done with
        _reads.clear()
    state["reads"] = reads()
    watch(env.env)
    if not chosen.root or page is None:
        return
    key = digest(["macros", page.file.src_uri, page.url, page.title, page.meta,
                  _text(env.markdown), code(), _template_versions(), chosen.root,
                  str(shared), _config_digest(env.conf)])
    cache = _pages()
    found = cache.get(key) if chosen.mode != "refresh" else None
    if found is not None:
        from . import FIGURES_ATTRIBUTE, placed

        env.markdown = found["markdown"]
        if found["figures"]:
            page.__dict__[FIGURES_ATTRIBUTE] = list(found["figures"])
        placed.restore(page, found.get("blocks"))
        state["render_macros"] = page.meta.get("render_macros", _ABSENT)
        page.meta["render_macros"] = False  # the plugin's own switch, for this build only
        return
    recorder = Recorder(_FILES)
    if page.file.abs_src_path:
        recorder.add(page.file.abs_src_path)
    state["key"] = key
    state["recorder"] = recorder
    # The title as written: the plugin renders a title's macros before after_macros,
    # and a kept page is not rendered, its title with it.
    state["title"] = page.title
    _recorders.append(recorder)
    _record_templates(env.env)


def _record_templates(environment) -> None:
    """Every template a page's Jinja includes, imports or extends (by name, through the
    plugin's loader) is recorded as read: an edit of it renders the page again. So is
    every file a name was looked for in and not found (``ignore missing``, a list of
    names of which an earlier one is missing): making it renders the page again."""
    if getattr(environment, "_roads_records_templates", False):
        return
    loader = environment.loader
    folders = getattr(loader, "searchpath", None)
    if folders is not None:  # the plugin's FileSystemLoader
        found_in = loader.get_source

        def get_source(env, template, _original=found_in):
            try:
                return _original(env, template)
            except jinja2.TemplateNotFound:
                with contextlib.suppress(jinja2.TemplateNotFound):  # a name with ".."
                    pieces = split_template_path(template)
                    # Where Jinja looked (as it joins them); a folder there is no template
                    # a file could become, and would leave the page never kept.
                    looked = (posixpath.join(folder, *pieces) for folder in folders)
                    depends(*(path for path in looked if not os.path.isdir(path)))
                raise

        loader.get_source = get_source
    for name in ("get_template", "select_template"):
        original = getattr(environment, name)

        def recorded(*args, _original=original, **kwargs):
            template = _original(*args, **kwargs)
            if template.filename:
                depends(template.filename)
            # An imported template's module is made once and kept on the template
            # (Jinja's _get_default_module): made again, each page that imports it runs
            # its code, and records what that reads.
            if getattr(template, "_module", None) is not None:
                template._module = None
            return template

        setattr(environment, name, recorded)
    environment._roads_records_templates = True


_ABSENT = object()


def after_macros(env) -> None:
    """The macros plugin's ``on_post_page_macros``: keep what was rendered (when it
    logged no warning), or undo the switch set for a kept rendering."""
    from . import FIGURES_ATTRIBUTE, placed

    page = env.page
    state = _page_state(page)
    if "render_macros" in state:
        previous = state.pop("render_macros")
        if previous is _ABSENT:
            page.meta.pop("render_macros", None)
        else:
            page.meta["render_macros"] = previous
        return
    recorder = state.pop("recorder", None)
    if recorder is None:
        return
    if recorder in _recorders:
        _recorders.remove(recorder)
    if warnings() != state.get("warnings") or "{" in (state.get("title") or page.title or ""):
        return
    unfollowed = read_since(state.get("reads", 0)) - set(page.meta)
    if unfollowed:
        log.debug("docs/%s is rendered at every build: its template reads %s, which the "
                  "page cache does not follow", page.file.src_uri, ", ".join(sorted(unfollowed)))
        return
    figures = page.__dict__.get(FIGURES_ATTRIBUTE) or []
    _pages().put(
        state["key"], {"markdown": env.markdown, "figures": list(figures),
                       "blocks": placed.kept(page)},
        recorder.read.values())


# -- step 2: Markdown to HTML -----------------------------------------------------------


def _appended(config) -> list[str]:
    """The files pymdownx.snippets appends to every page (the glossary)."""
    options = (config.get("mdx_configs") or {}).get("pymdownx.snippets") or {}
    base = options.get("base_path") or ["."]
    bases = [base] if isinstance(base, (str, os.PathLike)) else list(base)
    bases = [os.fspath(b) for b in bases]
    found = []
    for name in [*options.get("auto_append", []), *options.get("auto_prepend", [])]:
        for folder in bases:
            path = os.path.join(folder, name)
            if os.path.exists(path):
                found.append(path)
                break
        else:
            found.append(name)
    return found


def _site_files(files) -> str:
    return _once_per_build("files", files, lambda: digest(
        sorted((f.src_uri, f.dest_uri, f.url, str(f.inclusion)) for f in files)))


def _config_digest(config) -> str:
    return _once_per_build("config", config, lambda: digest(_config_parts(config)))


def before_markdown(markdown: str, page, config, files) -> str:
    """At the end of ``on_page_markdown``: the kept HTML of exactly this Markdown, if
    there is one (MkDocs then converts an empty page), else the Markdown as it is."""
    chosen, _ = _settings()
    state = _page_state(page)
    state.setdefault("warnings", warnings())
    if "--8<--" in markdown:
        return markdown  # a snippet included by name: its file is not a dependency here
    appended = _appended(config)
    key = digest(["html", page.file.src_uri, page.url, _text(markdown), _site_files(files),
                  _config_digest(config), _versions(), code()])
    state["html_key"] = key
    state["appended"] = appended
    found = _pages().get(key) if chosen.mode != "refresh" else None
    if found is None:
        return markdown
    page.__dict__[_CACHED] = found
    return ""


def _toc_json(items) -> list:
    return [{"title": i.title, "id": i.id, "level": i.level, "children": _toc_json(i.children),
             "active": bool(getattr(i, "active", False))} for i in items]


def _toc(items: list):
    from mkdocs.structure.toc import AnchorLink

    out = []
    for item in items:
        link = AnchorLink(item["title"], item["id"], item["level"])
        link.children = _toc(item["children"])
        if item["active"]:
            link.active = True
        out.append(link)
    return out


def cached_content(page, files) -> str | None:
    """At the start of ``on_page_content``: the kept HTML, with the table of contents,
    title and anchors put back on the page, or None (convert as usual)."""
    found = page.__dict__.pop(_CACHED, None)
    if found is None:
        return None
    from mkdocs.structure.toc import TableOfContents

    page.toc = TableOfContents(_toc(found["toc"]))
    page._title_from_render = found["title"]
    page.present_anchor_ids = set(found["anchors"])
    links = found["links"]
    if links is None:
        page.links_to_anchors = None
    else:
        page.links_to_anchors = {files.get_file_from_path(src): dict(anchors)
                                 for src, anchors in links.items()}
    _page_state(page)["done"] = True
    return found["html"]


def keep_content(html_out: str, page) -> None:
    """At the end of ``on_page_content``: keep the page's HTML (when nothing along the
    way logged a warning)."""
    state = _page_state(page)
    key = state.get("html_key")
    if key is None or state.get("done") or warnings() != state.get("warnings"):
        return
    links = page.links_to_anchors
    payload = {
        "html": html_out, "toc": _toc_json(page.toc or ()),
        "title": page.__dict__.get("_title_from_render"),
        "anchors": sorted(page.present_anchor_ids or ()),
        "links": None if links is None else {f.src_uri: dict(a) for f, a in links.items()},
    }
    recorder = Recorder(_FILES)
    recorder.add(*state.get("appended", ()))
    _pages().put(key, payload, recorder.read.values())


def kept(kind: str, parts: object, config) -> tuple[str | None, dict | None]:
    """The key of a part of a page rendered from ``parts`` with the build's settings
    and ``config``, and what is kept under it if nothing it read changed (None in
    ``refresh`` mode): for a part several pages show, such as a claim's words."""
    chosen, shared = _settings()
    if not chosen.root:
        return None, None
    key = digest([kind, parts, code(), _template_versions(), chosen.root, str(shared),
                  _config_digest(config)])
    return key, (_pages().get(key) if chosen.mode != "refresh" else None)


def keep(key: str | None, payload: dict, read: Recorder) -> None:
    """Keep ``payload`` under ``key`` (from ``kept``) with the files it read (the caller
    keeps nothing whose rendering logged a warning)."""
    if key is not None:
        _pages().put(key, payload, read.read.values())


# The files each figure was drawn from, by its key in the figure cache (the page cache
# keeps them too, for later processes).
_FIGURE_FILES: dict[str, tuple[str, ...]] = {}


def keep_figure_files(key: str, files) -> None:
    """Keep the files the figure under ``key`` was drawn from (what its drawing read)."""
    _FIGURE_FILES[key] = tuple(files)
    _pages().put(_figure_files_key(key), {"files": list(_FIGURE_FILES[key])}, ())


def figure_files(key: str) -> tuple[str, ...] | None:
    """The files the figure under ``key`` was drawn from; None if not known."""
    found = _FIGURE_FILES.get(key)
    if found is None:
        entry = _pages().get(_figure_files_key(key))
        if entry is not None and isinstance(entry.get("files"), list):
            found = _FIGURE_FILES[key] = tuple(str(f) for f in entry["files"])
    return found


def _figure_files_key(key: str) -> str:
    return digest(["figure files", key])


def memo(kind: str, parts: object, make) -> str:
    """``make()``, a pure function of ``parts`` and the code, kept under their digest."""
    import msgspec

    text = msgspec.json.encode(parts, enc_hook=str)
    key = digest([kind, hashlib.sha256(text).hexdigest(), code()])
    cache = _pages()
    found = cache.get(key)
    if found is not None:
        return found["text"]
    text = make()
    cache.put(key, {"text": text}, ())
    return text


def prune() -> None:
    """At the end of a build: the page, figure, drawing and template caches lose the
    entries no build used for a month (``roads.cachedir``; a scan at most once a day)."""
    from roads import cachedir

    from . import compiled, themecache
    from .project import cache_dir, figure_cache

    _pages().prune()
    figure_cache().prune()
    # svg_cache(), without making the Project or loading lxml: ".drawn" is
    # roads.figures.svg.KEPT; .svg and .made-by are the files of an older layout.
    cachedir.prune(cache_dir() / "svg", (".drawn", ".svg", ".made-by"))
    themecache.prune(cache_dir())
    compiled.prune(cache_dir())


def saved_session_inputs(path: Path, root: Path) -> list[Path]:
    """The files a saved ``roads explain`` session was made from: its program's source,
    and the code that captured it (a page cached while only the capture engine changed
    would keep the stale session, never asked to make it again)."""
    from roads.explain.saved import code_files, project_source

    try:
        argv = json.loads(path.read_text(encoding="utf-8"))["inputs"]["argv"]
        named = root / argv[0]
        if os.path.lexists(named) and project_source(root, argv[0]) is None:
            return code_files()  # not a file of the project (/dev/zero): never read
        return [named, *code_files()]
    except (OSError, ValueError, KeyError, IndexError, TypeError, RecursionError):
        return code_files()
