"""The series on paper: the print page the published site holds (print.html,
macros/editions.py, hooked by mkdocs-publish.yml) and the PDF printed from it (python -m
macros.editions pdf).

The print page holds every page in the navigation's order with every figure of each,
its ids are unique and its links lead somewhere; the PDF has a page per page of the
series at least, their text, and the same bytes from one run to the next.
"""

from __future__ import annotations

import collections
import html
import html.parser
import posixpath
import re
import unicodedata
from pathlib import Path

import pytest

from macros.editions import _ARTICLE, _EDIT_BUTTON, PRINT_PAGE, fix_dates, make_pdf, page_slug

_NEXT = re.compile(r'<a href="([^"]*)" class="md-footer__link md-footer__link--next"')
_SECTION = '<section class="roads-print-page" id="'


def reading_order(site: Path) -> list[str]:
    """The built pages from the home page on, by each page's "next" link."""
    order, current = [], "index.html"
    while current not in order:
        order.append(current)
        found = _NEXT.search((site / current).read_text(encoding="utf-8"))
        if found is None:
            break
        target = posixpath.normpath(posixpath.join(posixpath.dirname(current), found.group(1)))
        current = target if target.endswith(".html") else posixpath.join(target, "index.html")
        current = current.removeprefix("./")
    return order


def print_sections(site: Path) -> dict[str, str]:
    """The print page's sections, by page name, in their order."""
    text = (site / PRINT_PAGE).read_text(encoding="utf-8")
    article = _ARTICLE.search(text).group(1)
    sections = {}
    for chunk in article.split(_SECTION)[1:]:
        slug, _, body = chunk.partition('"')
        sections[slug] = body
    return sections


def figures(fragment: str) -> tuple[int, int]:
    return fragment.count("<figure"), fragment.count("<svg")


class _Ids(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        for name, value in attrs:
            if name == "id" and value is not None:
                self.ids.append(value)
            if name in ("href", "xlink:href", "src") and value:
                self.links.append(value)


@pytest.fixture(scope="module")
def built(site) -> Path:
    return site[0]


def test_print_page_holds_every_page_in_reading_order_with_every_figure(built):
    order = reading_order(built)
    sections = print_sections(built)
    assert len(order) >= 5, order
    assert list(sections) == [page_slug(uri) for uri in order]
    for uri in order:
        article = _EDIT_BUTTON.sub("", _ARTICLE.search((built / uri).read_text(encoding="utf-8")).group(1))
        assert figures(sections[page_slug(uri)]) == figures(article), uri
    assert sum(figures(body)[0] for body in sections.values()) >= 10


def test_print_page_ids_are_unique_and_its_links_lead_somewhere(built):
    page = built / PRINT_PAGE
    parser = _Ids()
    parser.feed(page.read_text(encoding="utf-8"))
    twice = {i for i, n in collections.Counter(parser.ids).items() if n > 1}
    # An id twice on a page of its own is that page's fault, not the print page's.
    theirs = set()
    for uri in reading_order(built):
        one = _Ids()
        one.feed((built / uri).read_text(encoding="utf-8"))
        theirs |= {f"{page_slug(uri)}--{i}" for i, n in collections.Counter(one.ids).items() if n > 1}
    assert not twice - theirs, sorted(twice - theirs)[:20]
    ids = set(parser.ids)
    broken = []
    for link in parser.links:
        if link.startswith("#"):
            if link[1:] and link[1:] not in ids:
                broken.append(link)
        elif not re.match(r"^[a-z][a-z0-9+.-]*:|^//", link):
            path = (page.parent / link.partition("#")[0].partition("?")[0]).resolve()
            if not (path.is_file() or (path / "index.html").is_file()):
                broken.append(link)
    assert not broken, broken[:20]
    # Links between pages of the series stay in the print page (the site's navigation
    # around it still leads to the pages themselves).
    article = "".join(print_sections(built).values())
    assert 'href="#hello-world"' in article or 'href="#hello-world--' in article
    assert 'href="../hello-world/' not in article


def test_pdf_dates_are_replaced_in_place():
    pdf = (b"%PDF-1.4\n1 0 obj\n<</CreationDate (D:20261130172400+01'00')\n"
           b"/ModDate (D:20261130172400+01'00')>>\nendobj\n")
    fixed = fix_dates(pdf, "2026-11-29")
    assert len(fixed) == len(pdf)
    assert b"/CreationDate (D:20261129000000+00'00')" in fixed
    assert b"/ModDate (D:20261129000000+00'00')" in fixed


def _words(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


@pytest.mark.browser
@pytest.mark.slow
def test_pdf_of_the_series(built, browser, tmp_path):
    pypdf = pytest.importorskip("pypdf")
    out = make_pdf(built / PRINT_PAGE, tmp_path / "series.pdf", browser=browser)
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert re.search(rb"/CreationDate \(D:[0-9]{8}000000", data)
    reader = pypdf.PdfReader(out)
    sections = print_sections(built)
    # A cover, then each page of the series from a new sheet.
    assert len(reader.pages) > len(sections), len(reader.pages)
    # Chromium names a destination after each id that a link points to, the sections'
    # ids among them: where each page of the series starts, in reading order. Only those
    # sheets' text is read (reading every sheet's takes pypdf most of a minute).
    destinations = reader.named_destinations
    starts = [reader.get_destination_page_number(destinations["/" + slug]) for slug in sections]
    assert starts == sorted(starts) and len(set(starts)) == len(starts), starts
    for (slug, body), start in zip(sections.items(), starts):
        title = re.search(r"<h1[^>]*>(.*?)</h1>", body, re.S).group(1)
        title = _words(html.unescape(re.sub(r"<[^>]+>", "", title).replace("\u00b6", "")))
        assert title in _words(reader.pages[start].extract_text()), (slug, title, start)


@pytest.mark.browser
@pytest.mark.slow
def test_pdf_is_the_same_bytes_twice(built, browser, tmp_path):
    """Chromium stamps the time it prints into the PDF; make_pdf puts a fixed date in.
    A page with figures stands for the whole series (printing it all twice costs time)."""
    page = built / "hello-world" / "index.html"
    one = make_pdf(page, tmp_path / "one.pdf", browser=browser).read_bytes()
    two = make_pdf(page, tmp_path / "two.pdf", browser=browser).read_bytes()
    assert one == two


def _hooks(path: Path) -> list[str]:
    import yaml

    # mkdocs.yml uses !ENV and !relative tags; only the hooks matter here.
    loader = type("Loader", (yaml.SafeLoader,), {})
    loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader).get("hooks", [])


def test_the_editions_are_published_not_rebuilt_while_writing():
    """mkdocs.yml (``mkdocs serve``, ``mkdocs build``) has no print page; the published
    configuration repeats its hooks (INHERIT replaces lists) and adds the editions', as
    the offline edition inherits it."""
    from tests.browser import PUBLISH
    from tests.conftest import REPO

    main, published = _hooks(REPO / "mkdocs.yml"), _hooks(REPO / PUBLISH)
    assert "macros/editions.py" not in main
    assert published == main + ["macros/editions.py"], (main, published)
    assert "INHERIT: mkdocs-publish.yml" in (REPO / "mkdocs-offline.yml").read_text()
    assert f"-f {PUBLISH}" in (REPO / "dev").read_text()



def test_the_page_serve_leaves_in_its_place_is_not_printed(tmp_path, capsys):
    # A build without the editions writes a page saying where the print page is made
    # (macros/editions.write_left_out); ./dev pdf refuses it rather than print it.
    from macros.editions import _LEFT_OUT, main

    (tmp_path / PRINT_PAGE).write_text(f"<html><body>{_LEFT_OUT}</body></html>", encoding="utf-8")
    assert main(["pdf", str(tmp_path)]) == 1
    assert "./dev build" in capsys.readouterr().err
    assert not (tmp_path / "all-roads-to-memory.pdf").exists()
