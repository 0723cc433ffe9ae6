"""MkDocs hooks for the page conventions; the rules themselves live in ``roads.words.pages``.

Registered in mkdocs.yml under ``hooks:``. MkDocs runs hooks after the plugins, so
the macros plugin has rendered a page before its Update Timeline is added here.

- on_nav: checks every page's front matter (failing a strict or CI build with a
  message that names the file and the field; otherwise, under ``mkdocs serve``, the
  page shows it in a red box and the server stays up) and, when mkdocs.yml has no
  ``nav:``, orders the docs tree by weight as Hugo does.
- on_page_markdown: puts the Update Timeline block on top of the page and dates the
  page from its newest entry: the sitemap's <lastmod> and Material's "last update".
  A page whose front matter says ``whats_new: true`` gets, below its text, every
  page's timeline entries newest first (``roads.words.news``, gathered in on_nav).
- on_post_page: links the feeds of those entries from every page's <head>;
  on_post_build writes them (feed.xml, Atom; rss.xml, RSS) into the site.
"""

from __future__ import annotations

import html
import logging
import os
import re
import signal
from dataclasses import dataclass

import yaml
from mkdocs.exceptions import Abort, PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.nav import Navigation, Section
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url
from mkdocs.utils.meta import YAML_RE, SafeLoader

from roads.errors import RoadsError
from roads.words import news
from roads.words.markup import inline_options_whole, unshield
from macros import (INLINE_ERRORS, again, ahead, gitinfo, must_fail, pagecache, placed,
                    quickexit, themecache, themefiles)
from macros.project import cache_dir
from roads.words.pages import (FIELD, PageMeta, fallback_title, format_date, order_by_weight,
                               validate_front_matter, with_timeline)

log = logging.getLogger("mkdocs.plugins.roads")
# Loaded before the plugins' on_config: the macros plugin's git variables, cached (and,
# when nothing is kept for the repository's state, asked of git ahead, in a thread).
gitinfo.install()
# MkDocs lists the theme's files without walking its hidden folders (Material's icons).
themefiles.install()
# A worker builds pages' HTML ahead, from the last page down (``macros.ahead``).
ahead.install()
# Set on a page's File when its front matter is unusable and the build goes on.
_PAGE_ERROR = "roads_page_error"
# Every page's timeline entries, newest first, gathered by on_nav for this build.
_news: list[news.NewsItem] = []
# This build's navigation, theme environment and files, for the page written after it.
_built: dict = {}


class _Undated(str):
    """The update date of a page without a timeline.

    MkDocs stamps every page with the build date, which the sitemap prints as
    <lastmod> and sitemap.xml.gz takes as its header time; both would change from
    one build to the next. This value is false to the sitemap template (no
    <lastmod>) and, when no page has a timeline, gives the gzip header the epoch
    (``max()`` over the pages' dates feeds ``datetime.fromisoformat``).
    """

    def __new__(cls) -> _Undated:
        return super().__new__(cls, "1970-01-01")

    def __bool__(self) -> bool:
        return False


class _FrontMatterLoader(SafeLoader):
    """MkDocs' YAML loader, except that an impossible date stays the text it was.

    PyYAML raises a bare ValueError for ``2025-02-30``, with no key and no line; as
    text, it reaches the schema check, which names the field.
    """

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_FrontMatterLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", _FrontMatterLoader.construct_yaml_timestamp
)


def on_nav(nav: Navigation, config, files: Files) -> Navigation:
    """Check all front matter up front, then order the automatic nav by weight."""
    metas = {
        file.src_uri: _checked(_read_front_matter(file, config), file, config)
        for file in files.documentation_pages()
    }
    if config.nav is None:
        _order(nav.items, metas)
        nav.pages[:] = _pages(nav.items)
        _link_previous_and_next(nav.pages)
    _news[:] = news.gather(news.NewsPage(page.file.src_uri, page.file.url, metas[page.file.src_uri])
                           for page in nav.pages if page.file.src_uri in metas)
    _built.clear()
    _built["nav"] = nav
    # The last of the events before the pages render: a cold build renders some ahead.
    ahead.start(config, files)
    return nav


def on_startup(command: str, dirty: bool) -> None:
    """A ``--dirty`` build renders no page ahead (``macros.ahead``). The process's exit
    skips the interpreter's last full garbage collection (``macros.quickexit``).
    ``mkdocs serve`` stops on SIGTERM and SIGHUP as on Ctrl-C (``_stop_as_ctrl_c``)."""
    ahead.setup(command, dirty)
    quickexit.install()
    if command == "serve":
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) == signal.SIG_DFL:  # not where ignored (nohup)
                signal.signal(signum, _stop_as_ctrl_c)


def _stop_as_ctrl_c(signum, frame) -> None:
    """MkDocs' serve removes its copy of the site (a ``mkdocs_*`` folder in /tmp) only
    when Ctrl-C stops it: stopped by ``kill``, a process manager or a closed terminal,
    it left one at each stop."""
    raise KeyboardInterrupt


def on_pre_page(page: Page, config, files: Files) -> Page:
    """A page a worker is rendering ahead is waited for (``macros.ahead``)."""
    ahead.take(page)
    return page


def on_env(env, config, files: Files):
    """Every page has rendered: the workers rendering ahead are done with. The theme's
    templates are compiled once and kept (``macros.themecache``)."""
    ahead.finish()
    ahead.settle()  # the theme's templates a helper compiled are kept by now
    ahead.html_next()  # MkDocs builds the pages' HTML next: a worker may help
    _built.update(env=env, files=files)
    return themecache.attach(env, cache_dir())


# A figure's placeholder, and the paragraph Markdown wraps it in when the macro stands
# indented in a block (``??? example``): a figure cannot sit inside a <p>, and a browser
# would leave an empty paragraph after it.
# It begins with a literal "<", so the search skips ahead instead of trying every position
# (11 ms a page of 200 KB with the paragraph as a leading optional group, 0.5 ms so).
_FIGURE = re.compile(r'<(p>\s*<)?div data-roads-figure="(\d+)"></div>(?(1)\s*</p>)')


def on_serve(server, config, builder):
    """Under ``mkdocs serve``, rebuild when a claim's words change: they live in
    tests/claims.toml, outside the docs (watched only when the project has one, so
    that a site without claims needs no such file). In frozen mode, also when a
    capture in snapshots/ changes (``roads capture`` in another terminal, a hand
    edit); other modes write there themselves, and re-read captures at each rebuild.
    The mode is the build's, as ``macros.project`` decided it (the first build has run)."""
    from macros.project import current  # the macros plugin has put macros/ on sys.path

    here = os.path.dirname(config.config_file_path)
    claims = os.path.join(here, "tests", "claims.toml")
    if os.path.isfile(claims):
        server.watch(claims)
    chosen = current()
    snapshots = os.path.join(chosen.root, "snapshots")
    if chosen.mode == "frozen" and os.path.isdir(snapshots):
        server.watch(snapshots)
    return server


def on_page_content(html_out: str, page: Page, config, files: Files) -> str:
    """Captured text shielded by the ``value`` macro goes back in, escaped, before the
    search index and the table of contents read the page; so do the blocks of HTML
    kept out of Markdown (``macros.placed``). A figure or a block whose placeholder
    Markdown swallowed is an error of the page."""
    stack = list(page.toc or ())
    while stack:
        link = stack.pop()
        link.title = unshield(link.title)
        stack.extend(link.children)
    cached = pagecache.cached_content(page, files)
    _figure_anchors(page)
    if cached is not None:
        return placed.place(cached, page)
    figures = page.__dict__.get("roads_figures") or ()
    lost = len(figures) - len(_FIGURE.findall(html_out))
    if lost:
        # The macro call sat inside a code block, an indented block or an inline span,
        # where a figure cannot stand.
        html_out = _page_problem(
            f"docs/{page.file.src_uri}: {lost} of {len(figures)} figures "
            "could not be placed; put each figure macro on a line of its own, outside "
            "code blocks and lists", config) + html_out
    lost = placed.missing(html_out, page)
    if lost:
        html_out = _page_problem(
            f"docs/{page.file.src_uri}: {lost} block(s) of HTML (claims(), glossary()) "
            "could not be placed; put each such macro on a line of its own, outside "
            "code blocks and lists", config) + html_out
    html_out = inline_options_whole(unshield(html_out))
    # Kept as Markdown made it: the blocks come from the macros' side of the cache.
    pagecache.keep_content(html_out, page)
    return placed.place(html_out, page)


# A figure's own id, on its outermost element (``sample_code``'s ``source-NAME``).
_OUTER_ID = re.compile(r'\s*<[a-zA-Z][^>]*?\sid="([^"]*)"')


def _figure_anchors(page: Page) -> None:
    """Add the ids of the figures' outermost elements to the page's anchors: the figures
    go in after MkDocs read the page's ids, and a link to one (``page.md#source-NAME``,
    as the authoring guide shows) would fail a strict build as an unknown anchor."""
    figures = page.__dict__.get("roads_figures")
    if not figures or page.present_anchor_ids is None:
        return
    found = {html.unescape(m[1]) for f in figures if (m := _OUTER_ID.match(f))}
    page.present_anchor_ids = page.present_anchor_ids | found


def on_post_page(output: str, page: Page, config) -> str:
    """Put the figures the macros kept aside (see ``macros.defer_figure``) in the page,
    and any shielded captured text left in titles or the table of contents back."""
    figures = page.__dict__.get("roads_figures")
    output = _with_feed_links(unshield(output), page, config)
    if not figures:
        return output
    # Every placeholder was counted in on_page_content.
    return _FIGURE.sub(lambda m: figures[int(m.group(2))], output)


def on_page_markdown(markdown: str, page: Page, config, files: Files) -> str:
    """Add the Update Timeline block and date the page from its newest entry."""
    problem = page.file.__dict__.get(_PAGE_ERROR)
    if problem is not None:
        page.update_date = _Undated()
        return _error_box(problem) + "\n\n" + markdown
    inline = page.__dict__.pop(INLINE_ERRORS, None)  # a box would break their sentence
    if inline:
        markdown = "\n\n".join(inline) + "\n\n" + markdown
    meta = _checked(page.meta, page.file, config)
    if page.meta.get("whats_new") is True:
        feeds = (get_relative_url(news.ATOM_FEED, page.url), get_relative_url(news.RSS_FEED, page.url))
        markdown = (markdown.rstrip("\n") + "\n\n"
                    + news.render_markdown(_news, page.file.src_uri, feeds if config.site_url else None))
    if meta.last_updated is None:
        page.update_date = _Undated()
    else:
        page.update_date = meta.last_updated.isoformat()
        # Material shows `revision_date` as the page's "last update" under the body.
        page.meta["revision_date"] = format_date(meta.last_updated)
        markdown = with_timeline(markdown, meta.timeline)
    # Last of the page's Markdown hooks: HTML kept for exactly this Markdown is used.
    return pagecache.before_markdown(markdown, page, config, files)


def on_build_error(error) -> None:
    """A failed build leaves no worker rendering pages ahead (``macros.ahead``)."""
    ahead.abandon()
    pagecache.hidden()  # the next build counts its own


def on_post_build(config) -> None:
    """Write the feeds of every page's timeline entries (dated from the timelines only,
    so that two builds write the same bytes). They need the site's absolute address.
    The page cache now holds this code's renderings (``macros.ahead``), and its entries
    unused for a month go, as do those of the other caches (``pagecache.prune``)."""
    ahead.html_done()  # the worker that built pages' HTML ahead, if the last page did not end it
    for line in again():  # one line for an error told once and met again
        log.warning("%s", line)
    ahead.filled(config)
    pagecache.prune()
    hidden = pagecache.hidden()
    if hidden and must_fail(config):
        # -q: MkDocs drops warnings before its strict mode counts them.
        raise Abort(f"Aborted with {len(hidden)} warning{'s' if len(hidden) != 1 else ''} "
                    "in strict mode, which -q hid:\n" + "\n".join(f"  {w}" for w in hidden))
    from macros import editions

    if editions.HOOK not in config.plugins and "nav" in _built and "env" in _built:
        # Under serve, About's link to the print page leads to a page that says where
        # it is made (mkdocs-publish.yml) instead of nowhere.
        editions.write_left_out(config, _built["nav"], _built["files"], _built["env"])
    if not config.site_url:
        log.info("no site_url: no feeds of the Update Timelines")
        return
    facts = {"site_url": config.site_url, "title": config.site_name,
             "description": config.site_description or ""}
    for name, text in ((news.ATOM_FEED, news.render_atom(_news, author=config.site_author or "",
                                                        **facts)),
                       (news.RSS_FEED, news.render_rss(_news, **facts))):
        with open(os.path.join(config.site_dir, name), "w", encoding="utf-8", newline="\n") as out:
            out.write(text)


def _with_feed_links(output: str, page: Page, config) -> str:
    """``output`` with the feeds announced in its <head>, where feed readers look."""
    if "</head>" not in output or not config.site_url:
        return output
    title = html.escape(f"{config.site_name}: what's new", quote=True)
    links = "".join(
        f'<link rel="alternate" type="{kind}" title="{title}" '
        f'href="{html.escape(get_relative_url(name, page.url), quote=True)}">'
        for kind, name in ((news.FEED_TYPE_ATOM, news.ATOM_FEED), (news.FEED_TYPE_RSS, news.RSS_FEED)))
    return output.replace("</head>", links + "</head>", 1)


def _source_path(file: File, config) -> str:
    """The page's path as the author sees it: relative to mkdocs.yml, e.g. docs/x.md."""
    return os.path.relpath(file.abs_src_path, os.path.dirname(config.config_file_path))


def _read_front_matter(file: File, config) -> dict:
    """The page's YAML front matter, read the way MkDocs reads it, but loud on errors.

    MkDocs silently drops front matter that is not valid YAML; here the build stops
    with the line of the error.
    """
    match = YAML_RE.match(file.content_string)
    if match is None:
        return {}
    try:
        data = yaml.load(match.group(1), _FrontMatterLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # +2: the YAML starts on the line after the opening `---`, and marks count from 0.
        line = mark.line + 2 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        where = f"{_source_path(file, config)}:{line}" if line else _source_path(file, config)
        # The line the mistake began on, shown (YAML often notices it lines later: an
        # open bracket at the end of the front matter).
        lines = match.group(1).splitlines()
        begun, context = getattr(exc, "context_mark", None), getattr(exc, "context", None)
        if begun is not None and context and begun.line < len(lines):
            problem += f" ({context}, begun at line {begun.line + 2}: {lines[begun.line].strip()!r})"
        elif mark is not None and mark.line < len(lines):
            problem += f": {lines[mark.line].strip()!r}"
        _page_problem(f"{where}: front matter: not valid YAML: {problem}", config, file)
        return {}
    return data if data is not None else {}


def _checked(meta: object, file: File, config) -> PageMeta:
    """The page's front matter typed; an unusable one is the page's error, and the page
    goes on under the title of its file name."""
    if _PAGE_ERROR in file.__dict__:
        return _fallback_meta(file)
    try:
        return validate_front_matter(meta, _source_path(file, config))
    except RoadsError as exc:
        exc.at_page(exc.page or _source_path(file, config),
                    _front_matter_line(file, getattr(exc, FIELD, ())))
        _page_problem(str(exc), config, file)
        return _fallback_meta(file)


def _front_matter_line(file: File, field: tuple[str | int, ...]) -> int | None:
    """The line of the page's file where ``field`` of its front matter (keys and list
    indexes from the top) is written: the line of its key, or of its item in a list;
    None where it is not written (a key that is missing)."""
    match = YAML_RE.match(file.content_string)
    if match is None or not field:
        return None
    try:
        node = yaml.compose(match.group(1), _FrontMatterLoader)
    except yaml.YAMLError:
        return None
    line = None
    for step in field:
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            # The last of a key written twice: the value YAML keeps, and the one at fault.
            found = next(((k, v) for k, v in reversed(node.value)
                          if isinstance(k, yaml.ScalarNode) and k.value == step), None)
            if found is None:
                return None
            line, node = found[0].start_mark.line, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and \
                0 <= step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line
        else:
            return None
    # +2: the YAML starts on the line after the opening `---`, and marks count from 0.
    return None if line is None else line + 2


def _fallback_meta(file: File) -> PageMeta:
    return PageMeta(title=fallback_title(file.src_uri))


def _page_problem(message: str, config, file: File | None = None) -> str:
    """Fail the build with ``message`` (strict or CI); otherwise log it, keep it on the
    page's ``file`` (shown on top of the page) and return it as a red box."""
    if must_fail(config):
        raise PluginError(message)
    pagecache.warning(log, "%s", message)
    if file is not None:
        file.__dict__.setdefault(_PAGE_ERROR, message)
    return _error_box(message)


def _error_box(message: str) -> str:
    """The macros' red box (``macros.error_box``) for an error of the page itself."""
    body = html.escape(message).replace("{", "&#123;").replace("}", "&#125;")
    return (f'<div class="admonition failure" data-roads-error><p class="admonition-title">'
            f'This page has an error</p><pre><code>{body}</code></pre></div>')


@dataclass(frozen=True)
class _Sibling:
    """A nav item seen through roads.words.pages.Weighted."""

    item: object
    weight: int | None
    title: str
    path: str


def _order(items: list, metas: dict[str, PageMeta]) -> None:
    """Sort ``items`` and every section below in place; an index page stays first.

    A section takes the title and weight of its index page (Hugo's _index.md); with
    Material's navigation.indexes the index must stay the section's first child.
    """
    for item in items:
        if isinstance(item, Section):
            _order(item.children, metas)
            index = _index_page(item)
            if index is not None:
                item.title = metas[index.file.src_uri].title
    indexes = [item for item in items if isinstance(item, Page) and item.is_index]
    others = [_sibling(i, metas) for i in items if not any(i is index for index in indexes)]
    items[:] = indexes + [sibling.item for sibling in order_by_weight(others)]


def _sibling(item: Page | Section, metas: dict[str, PageMeta]) -> _Sibling:
    # An automatic nav holds only pages and sections; links come from a `nav:` only.
    if isinstance(item, Page):
        meta = metas[item.file.src_uri]
        return _Sibling(item, meta.weight, meta.title, item.file.src_uri)
    index = _index_page(item)
    weight = metas[index.file.src_uri].weight if index is not None else None
    folders = [os.path.dirname(page.file.src_uri) for page in _pages(item.children)]
    folder = os.path.commonpath(folders)
    return _Sibling(item, weight, item.title, folder)


def _index_page(section: Section) -> Page | None:
    return next((c for c in section.children if isinstance(c, Page) and c.is_index), None)


def _pages(items: list) -> list[Page]:
    """Pages in nav order, depth first, as MkDocs lists them in ``nav.pages``."""
    found: list[Page] = []
    for item in items:
        if isinstance(item, Page):
            found.append(item)
        elif isinstance(item, Section):
            found.extend(_pages(item.children))
    return found


def _link_previous_and_next(pages: list[Page]) -> None:
    for position, page in enumerate(pages):
        page.previous_page = pages[position - 1] if position > 0 else None
        page.next_page = pages[position + 1] if position + 1 < len(pages) else None
