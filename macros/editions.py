"""The site's other editions: the whole series on one printable page, its PDF, and the
offline edition (README "Offline and on paper").

Registered under ``hooks:`` in mkdocs-publish.yml, the published site's configuration
(``./dev build``; after ``macros/hooks.py``, whose ``on_nav`` orders the pages by weight
first), not in mkdocs.yml: rebuilding while writing leaves the editions out. Three parts:

- The print page, ``print.html`` at the site's root, written at the end of every
  published build (``on_post_build``). It is made from the built pages, not from their Markdown:
  figures go into a page at ``on_post_page`` (``macros/hooks.py``), so only the
  finished HTML holds them. Each page's article is taken in the navigation's order,
  its ids are prefixed with the page's name so that they stay unique, links between
  pages become links within the print page, and the whole is rendered with the theme's
  own template, as a page of the site. ``docs/stylesheets/print.css`` lays it out on
  paper: light palette, every step of a time-lapse, code and tables unclipped.
- The PDF: ``python -m macros.editions pdf SITE`` (``./dev pdf``) prints that page with
  headless Chromium (Playwright) into ``SITE/all-roads-to-memory.pdf``. Chromium
  stamps the time of printing into the PDF; the stamp is replaced by the newest date of
  the pages' Update Timelines, so that the same site gives the same bytes. The engine
  never needs Chromium: only this command does.
- The offline edition: ``mkdocs-offline.yml`` adds Material's ``offline`` plugin
  (``./dev offline``). When that plugin is on, ``on_config`` turns instant navigation off
  (the offline plugin does not support it) and serves the ``iframe-worker`` shim that
  search needs from ``file://`` from the site itself instead of a CDN: it is copied from
  the npm package (``package-lock.json``, ``node_modules/``) at build time.
"""

from __future__ import annotations

import html
import os
import posixpath
import re
import shutil
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError

from roads.cachedir import partial_file

# A file of its own, not a folder's index.html: it is no page of the navigation, and
# the tests that visit every page (every index.html) need not see the series twice.
PRINT_PAGE = "print.html"
# How MkDocs names this module among a configuration's plugins (mkdocs-publish.yml's hooks).
HOOK = "macros/editions.py"
PDF_NAME = "all-roads-to-memory.pdf"
OFFLINE_ZIP = "all-roads-to-memory-offline.zip"
# Where the offline edition keeps the shim (the offline plugin adds a CDN copy unless a
# polyfill's URL names iframe-worker).
SHIM = "javascripts/iframe-worker/shim.js"
SHIM_SOURCE = Path("node_modules/iframe-worker/shim/index.js")
# The publish workflow sets it when it ships the PDF and the offline zip next to the
# print page; the print page links to them only then (a link must not lead nowhere).
DOWNLOADS_ENV = "ROADS_DOWNLOADS"

_state: dict = {}


# ----------------------------------------------------------------------- MkDocs hooks


def _offline(config) -> bool:
    plugin = config.plugins.get("material/offline") or config.plugins.get("offline")
    return plugin is not None and plugin.config.enabled


def on_config(config):
    """For the offline edition: no instant navigation, and the search shim from the site."""
    if not _offline(config):
        return config
    features = config.theme.get("features") or []
    config.theme["features"] = [f for f in features if not f.startswith("navigation.instant")]
    config.extra["polyfills"] = [SHIM] + [
        url for url in config.extra.get("polyfills", []) if "iframe-worker" not in url
    ]
    return config


# Feeds linked from a page's head: Material reads every <link rel="alternate"> as another
# language of the site and fetches its sitemap.xml, which a browser refuses from file://.
_FEED_LINK = re.compile(r'<link rel="alternate" type="application/(?:atom|rss)\+xml"[^>]*>\n?')


def on_post_page(output, page, config):
    """Offline, no feed links (a feed needs a server, and they cost a console error)."""
    return _FEED_LINK.sub("", output) if _offline(config) else output


def on_env(env, config, files):
    _state["env"] = env
    return env


def on_nav(nav, config, files):
    _state["nav"] = nav
    _state["files"] = files
    return nav


def on_post_build(config):
    """Write the print page (and, offline, the search shim) into the built site."""
    if _offline(config):
        root = Path(config.config_file_path).parent
        source = root / SHIM_SOURCE
        if not source.is_file():
            raise PluginError(
                f"the offline edition needs {SHIM_SOURCE} (the npm package iframe-worker, "
                "package-lock.json): run `npm ci` (./dev offline does)")
        target = Path(config.site_dir) / SHIM
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    nav = _state.get("nav")
    if nav is None or "env" not in _state:
        return
    _write_print_page(config, nav, _state["files"], _state["env"])


# ------------------------------------------------------------------------ print page


_ARTICLE = re.compile(r'<article class="md-content__inner md-typeset">(.*)</article>', re.S)
_EDIT_BUTTON = re.compile(r'<a [^>]*class="md-content__button[^"]*"[^>]*>.*?</a>', re.S)
# A start tag, its attributes quoted or not (values may hold ">").
_TAG = re.compile(r"""<([a-zA-Z][\w:.-]*)((?:\s+[^\s"'=<>/`]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)(\s*/?)>""")
_ATTR = re.compile(r"""(\s+)([^\s"'=<>/`]+)(?:(\s*=\s*)("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_ID_LISTS = {"id", "for", "aria-labelledby", "aria-describedby", "aria-controls", "aria-owns",
             "aria-activedescendant", "aria-details", "aria-errormessage", "aria-flowto"}
_URLS = {"href", "xlink:href", "src", "poster", "data"}
_URL_REF = re.compile(r"url\(#([^)]+)\)")
_SKIP = re.compile(r"<(script|style)\b.*?</\1>", re.S | re.I)


def page_slug(dest_uri: str) -> str:
    """A page's name in the print page: its built path without ``index.html``/``.html``."""
    path = dest_uri.removesuffix("index.html").removesuffix(".html").strip("/")
    return path.replace("/", "-") or "home"


class _Rewriter:
    """Rewrites one page's article for the print page at the site's root."""

    def __init__(self, slug: str, dest_uri: str, pages: dict[str, str]) -> None:
        self.slug = slug
        self.base = posixpath.dirname(dest_uri)
        self.pages = pages  # built path of each page of the series -> its slug

    def ident(self, value: str) -> str:
        return f"{self.slug}--{value}"

    def url(self, value: str) -> str:
        raw = html.unescape(value)
        if raw.startswith("#"):
            return "#" + (self.ident(raw[1:]) if raw[1:] else self.slug)
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//|^/", raw) or not raw:
            return value
        path, _, fragment = raw.partition("#")
        path, _, query = path.partition("?")
        target = posixpath.normpath(posixpath.join(self.base, path)) if path else posixpath.join(self.base, "index.html")
        for candidate in (target, posixpath.join(target, "index.html"), target + ".html"):
            candidate = candidate.removeprefix("./")
            if candidate in self.pages:
                slug = self.pages[candidate]
                return "#" + (f"{slug}--{fragment}" if fragment else slug)
        moved = posixpath.relpath(target, posixpath.dirname(PRINT_PAGE) or ".")
        if path.endswith("/") and not moved.endswith("/"):
            moved += "/"
        return html.escape(moved + (f"?{query}" if query else "") + (f"#{fragment}" if fragment else ""),
                           quote=True)

    def attribute(self, match: re.Match) -> str:
        space, name, equals, quoted = match.groups()
        if quoted is None:
            return match.group(0)
        quote = quoted[0] if quoted[0] in "\"'" else ""
        value = quoted[1:-1] if quote else quoted
        key = name.lower()
        if key in _ID_LISTS:
            value = " ".join(self.ident(v) for v in value.split())
        elif key in _URLS:
            value = self.url(value)
        elif key == "data-roads-region":
            value = self.ident(value)
        elif "url(#" in value:
            value = _URL_REF.sub(lambda m: f"url(#{self.ident(m.group(1))})", value)
        else:
            return match.group(0)
        return f"{space}{name}{equals}{quote}{value}{quote}"

    def tag(self, match: re.Match) -> str:
        name, attributes, end = match.groups()
        attributes = _ATTR.sub(self.attribute, attributes)
        if name.lower() == "details" and not re.search(r"\sopen\b", attributes):
            attributes += " open"  # on paper, every collapsed block is open
        return f"<{name}{attributes}{end}>"

    def rewrite(self, article: str) -> str:
        article = _EDIT_BUTTON.sub("", article)
        out, last = [], 0
        for skipped in _SKIP.finditer(article):
            out.append(_TAG.sub(self.tag, article[last:skipped.start()]))
            out.append(skipped.group(0))
            last = skipped.end()
        out.append(_TAG.sub(self.tag, article[last:]))
        return "".join(out)


def _article(site_dir: str, uri: str) -> str:
    built = Path(site_dir, uri).read_text(encoding="utf-8")
    found = _ARTICLE.search(built)
    if found is None:
        raise PluginError(f"print page: no article in {uri}")
    return found.group(1)


def _title(article: str, slug: str) -> str:
    title = re.search(r"<h1[^>]*>(.*?)</h1>", article, re.S)
    text = re.sub(r"<[^>]+>", "", title.group(1)) if title else slug
    return html.unescape(text).replace("\u00b6", "").strip()


def print_titles(site_dir: str, dest_uris: list[str]) -> list[tuple[str, str]]:
    """(slug, title) of each built page, in the order given."""
    return [(page_slug(uri), _title(_article(site_dir, uri), page_slug(uri))) for uri in dest_uris]


def print_bodies(site_dir: str, dest_uris: list[str]):
    """Each built page's article rewritten for the print page, one at a time (the whole
    series is megabytes of text: it is never held in memory at once)."""
    from roads.words.rendercache import digest

    pages = {uri: page_slug(uri) for uri in dest_uris}
    series = digest(sorted(pages.items()))  # once: every page's key holds it
    for uri in dest_uris:
        yield pages[uri], _rewritten(pages[uri], uri, pages, _article(site_dir, uri), series)


def print_sections(site_dir: str, dest_uris: list[str]) -> list[tuple[str, str, str]]:
    """(slug, title, rewritten article) of each built page, in the order given."""
    titles = dict(print_titles(site_dir, dest_uris))
    return [(slug, titles[slug], body) for slug, body in print_bodies(site_dir, dest_uris)]


def _rewritten(slug: str, uri: str, pages: dict[str, str], article: str, series: str) -> str:
    """``_Rewriter(slug, uri, pages).rewrite(article)``, kept in the page cache under the
    digest of its inputs (``series``: that of ``pages``) and this code: a warm build
    rewrites only the pages that changed."""
    from macros import pagecache

    make = lambda: _Rewriter(slug, uri, pages).rewrite(article)  # noqa: E731
    return pagecache.memo("print", [slug, uri, series, article], make)


# Stands for the series in the rendered template, which is then written around it. It
# holds "<h1" as the series does: Material adds the page's title as a heading to content
# without one.
_CONTENT = "<!--roads-print-content <h1> -->"


def _print_page(config) -> tuple:
    """The print page as a page of the site, outside the navigation: (File, Page)."""
    from mkdocs.structure.files import File
    from mkdocs.structure.pages import Page

    file = File.generated(config, "print.md", content="")
    file.dest_uri = PRINT_PAGE
    file.url = PRINT_PAGE
    page = Page("The whole series", file, config)
    page.markdown = ""
    page.meta = {"search": {"exclude": True}}
    return file, page


LEFT_OUT_MARK = 'data-roads-print-left-out'  # on that page, which is not one to print
_LEFT_OUT = (
    f"<h1 {LEFT_OUT_MARK}>The whole series</h1>"
    "<p>The whole series on one page, for paper and for the PDF, is made when the site "
    "is built as published: <code>./dev build</code> (the configuration "
    "<code>mkdocs-publish.yml</code>) writes it to <code>site/print.html</code>, and the "
    "published site has it. <code>mkdocs serve</code> and a plain <code>mkdocs "
    "build</code> leave it out, so that a rebuild while you write stays quick.</p>")


def write_left_out(config, nav, files, env) -> None:
    """Where a build without the editions (``mkdocs serve``) would have the print page,
    a page of the site saying where it is made, so that About's link leads somewhere."""
    from mkdocs.commands.build import get_context

    file, page = _print_page(config)
    page.content = _LEFT_OUT
    output = env.get_template("main.html").render(get_context(nav, files, config, page))
    target = Path(file.abs_dest_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(output, encoding="utf-8")


def _write_print_page(config, nav, files, env) -> None:
    from mkdocs.commands.build import get_context
    from mkdocs.structure.toc import get_toc

    order = [page for page in nav.pages]
    uris = [page.file.dest_uri for page in order]
    titles = print_titles(config.site_dir, uris)
    dates = [str(getattr(page, "update_date", "") or "") for page in order]
    newest = max((d for d in dates if d), default="")
    file, page = _print_page(config)
    page.toc = get_toc([{"level": 2, "id": slug, "name": html.escape(title), "children": []}
                        for slug, title in titles])
    if newest:
        page.update_date = newest
    downloads = ""
    if os.environ.get(DOWNLOADS_ENV):
        downloads = (
            '<p class="roads-print-downloads">'
            f'<a href="{PDF_NAME}" download>Download the series as PDF</a> · '
            f'<a href="{OFFLINE_ZIP}" download>Download the offline edition (zip)</a></p>')
    cover = (
        '<div class="roads-print-cover">'
        f'<p class="roads-print-title">{html.escape(config.site_name)}</p>'
        f'<p class="roads-print-description">{html.escape(config.site_description or "")}</p>'
        + (f'<p class="roads-print-date">Last updated <time datetime="{newest}">{newest}</time></p>'
           if newest else "")
        + '<p class="roads-print-note">Every page of the series, in reading order, on one page: '
        "print it, or save it as a PDF from the print dialog.</p>"
        + downloads + "</div>")
    page.content = _CONTENT
    context = get_context(nav, files, config, page)
    output = env.get_template("main.html").render(context)
    if _offline(config):
        output = _FEED_LINK.sub("", output)
    # A date for the PDF's metadata (macros.editions pdf), from the timelines.
    output = output.replace("<head>", f'<head>\n<meta name="roads-date" content="{newest}">', 1)
    if output.count(_CONTENT) != 1:
        raise PluginError("print page: the theme's main.html did not show the page's content once")
    head, tail = output.split(_CONTENT)
    target = Path(file.abs_dest_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = partial_file(target)
    try:
        with open(fd, "wb") as out:
            for piece in (head, cover):
                out.write(piece.encode("utf-8", errors="xmlcharrefreplace"))
            for slug, body in print_bodies(config.site_dir, uris):
                out.write(f'<section class="roads-print-page" id="{slug}" data-roads-print-page='
                          f'"{slug}">{body}</section>'.encode("utf-8", errors="xmlcharrefreplace"))
            out.write(tail.encode("utf-8", errors="xmlcharrefreplace"))
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------ PDF


def _chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:[0-9]{14}([^)]*)\)")


def fix_dates(pdf: bytes, date: str) -> bytes:
    """The PDF with its creation and modification dates set to ``date`` (YYYY-MM-DD), in
    place: the same number of bytes, so that the cross-reference table stays right."""
    stamp = date.replace("-", "").encode() + b"000000"
    if len(stamp) != 14:
        raise ValueError(f"not a YYYY-MM-DD date: {date!r}")

    def one(match: re.Match) -> bytes:
        # Chromium writes the machine's offset (+HH'mm'); UTC in the same width.
        zone = match.group(2)
        fixed = b"+00'00'" if len(zone) == 7 else zone
        return b"/" + match.group(1) + b" (D:" + stamp + fixed + b")"

    return _PDF_DATE.sub(one, pdf)


def make_pdf(page_file: Path, out: Path, *, browser=None) -> Path:
    """Print ``page_file`` (a built print page) to ``out`` with Chromium; dates fixed."""
    from playwright.sync_api import sync_playwright

    text = page_file.read_text(encoding="utf-8")
    found = re.search(r'<meta name="roads-date" content="([0-9-]*)">', text)
    date = found.group(1) if found and found.group(1) else "1970-01-01"

    def run(b) -> bytes:
        context = b.new_context(color_scheme="light", viewport={"width": 1000, "height": 1400})
        # Nothing from the network: the PDF is the site's own files.
        context.route("**/*", lambda route: route.continue_()
                      if route.request.url.startswith("file:") else route.abort())
        page = context.new_page()
        page.goto(page_file.resolve().as_uri())
        page.wait_for_load_state("load")
        page.evaluate("document.body.setAttribute('data-md-color-scheme', 'default')")
        page.emulate_media(media="print", color_scheme="light")
        data = page.pdf(format="A4", print_background=True,
                        margin={"top": "16mm", "bottom": "16mm", "left": "14mm", "right": "14mm"},
                        display_header_footer=True, header_template="<span></span>",
                        footer_template='<div style="font-size:8px;width:100%;text-align:center">'
                                        '<span class="pageNumber"></span> / <span class="totalPages">'
                                        '</span></div>')
        context.close()
        return data

    if browser is not None:
        data = run(browser)
    else:
        path = _chromium()
        if path is None:
            raise SystemExit("no Chromium: install chromium (or set CHROMIUM to a Chrome binary)")
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=path, args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update"])
            try:
                data = run(b)
            finally:
                b.close()
    out.write_bytes(fix_dates(data, date))
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2) or args[0] != "pdf":
        print("usage: python -m macros.editions pdf [SITE_DIR]   (default: site)", file=sys.stderr)
        return 2
    site = Path(args[1] if len(args) > 1 else "site")
    page = site / PRINT_PAGE
    if not page.is_file():
        print(f"{page} not found: build the site first (./dev build)", file=sys.stderr)
        return 1
    if LEFT_OUT_MARK in page.read_text(encoding="utf-8", errors="replace"):
        print(f"{page} is the page a build without the editions leaves in the print page's "
              f"place (mkdocs serve, mkdocs build): build the site as published first "
              f"(./dev build)", file=sys.stderr)
        return 1
    out = make_pdf(page, site / PDF_NAME)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
