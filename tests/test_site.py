"""The MkDocs side end to end: real mini-sites built with ``mkdocs build --strict``.

Each mini-site is the fixture tree tests/minisite/docs under tmp_path, next to a copy
of the project's own mkdocs.yml and a link to its macros package, so what is tested
is the real configuration, macros module and hooks.
"""

from __future__ import annotations

import calendar
import datetime
import gzip
import os
import re
import shutil
import struct
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from roads.command import Completed, run

ROOT = Path(__file__).resolve().parent.parent
MINISITE = Path(__file__).resolve().parent / "minisite"
SITEMAP_NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}
BASE_URL = "http://127.0.0.1:8000/"  # site_url when SITE_URL is not set


def make_project(tmp_path: Path, docs: Path | None = MINISITE / "docs") -> Path:
    """A project folder: our mkdocs.yml, our macros package, and a docs tree."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    (project / "macros").symlink_to(ROOT / "macros", target_is_directory=True)
    # mkdocs.yml watches samples/ for `mkdocs serve`; the folder must exist.
    (project / "samples").symlink_to(ROOT / "samples", target_is_directory=True)
    if docs is not None:
        shutil.copytree(docs, project / "docs")
    return project


def build(project: Path, site: Path | None = None, strict: bool = True,
          prefix: tuple[str, ...] = (), args: tuple[str, ...] = (), **env: str) -> Completed:
    """``mkdocs build --strict`` (or without, as ``mkdocs serve`` builds) of ``project``
    into ``site`` (default project/site), run under ``prefix`` (a command such as
    ``taskset``) if given, with ``args`` (``-v``) added.

    Frozen, with ``project`` as the root of the captures (and of the cache folder),
    unless ``env`` says otherwise: a mini-site's build never captures, and never
    writes into the checkout its ``macros`` link points to."""
    site = site or project / "site"
    # CI (set on GitHub and by the project's CI) makes any error fatal, as --strict
    # does: a build without --strict is the author's build, so CI is dropped too.
    dropped = {"SOURCE_DATE_EPOCH", "SITE_URL", "ROADS_CACHE", *(() if strict else ("CI",))}
    environ = {k: v for k, v in os.environ.items() if k not in dropped}
    # PYTHONPATH: this checkout's engine, also for a project folder elsewhere.
    environ.update({"NO_MKDOCS_2_WARNING": "1", "ROADS_MODE": "frozen",
                    "ROADS_ROOT": str(project), "PYTHONPATH": str(ROOT), **env})
    config = str(project / "mkdocs.yml")
    argv = [*prefix, sys.executable, "-m", "mkdocs", "build", *(["--strict"] if strict else []), "-f",
            config, "-d", str(site), *args]
    return run(argv, cwd=project, env=environ, timeout=180, check=False)


def built(project: Path, **env: str) -> Path:
    """Build ``project`` and return its site folder; fail the test with mkdocs' output."""
    done = build(project, **env)
    assert done.returncode == 0, done.stderr
    return project / "site"


def write_page(project: Path, name: str, text: str) -> None:
    path = project / "docs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


class NavLinks(HTMLParser):
    """The page links of Material's primary navigation, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # nesting of <nav> elements inside the primary one
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "nav" and (self.depth or "md-nav--primary" in classes):
            self.depth += 1
        elif tag == "a" and self.depth and "md-nav__link" in classes:
            href = attributes.get("href") or ""
            if not href.startswith("#"):  # the current page's table of contents
                self.hrefs.append(href)

    def handle_endtag(self, tag):
        if tag == "nav" and self.depth:
            self.depth -= 1


def nav_links(html: str) -> list[str]:
    parser = NavLinks()
    parser.feed(html)
    return parser.hrefs


def sitemap_lastmods(site: Path) -> dict[str, str | None]:
    tree = ET.parse(site / "sitemap.xml")
    found = {}
    for url in tree.getroot().findall("sm:url", SITEMAP_NS):
        loc = url.findtext("sm:loc", namespaces=SITEMAP_NS).removeprefix(BASE_URL)
        found[loc] = url.findtext("sm:lastmod", namespaces=SITEMAP_NS)
    return found


def gzip_mtime(path: Path) -> int:
    # RFC 1952: MTIME is the little-endian 32-bit word at offset 4 of the header.
    return struct.unpack("<I", path.read_bytes()[4:8])[0]


def epoch(day: str) -> int:
    return calendar.timegm(datetime.date.fromisoformat(day).timetuple())


def tree_bytes(site: Path) -> dict[str, bytes]:
    return {str(p.relative_to(site)): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def minisite(tmp_path_factory) -> Path:
    """The fixture mini-site, built once for the tests that only read it."""
    return built(make_project(tmp_path_factory.mktemp("minisite")))


# --- navigation ----------------------------------------------------------------------


def test_nav_follows_weights(minisite):
    assert nav_links((minisite / "index.html").read_text()) == [
        ".",                    # the home page, first as its section's index
        "hello/",               # 1
        "memory/",              # 4: the section, with the weight of its index.md
        "memory/vas/",          # 4 (1)
        "memory/processes/",    # 4 (2)
        "memory/mapping/",      # 4 (3)
        "memory/alloc/",        # 4 (4)
        "gdb/",                 # 5
        "about/",               # 9, "About this site"
        "a-errata/",            # 9, "Errata": same weight, ordered by title
        "appendix/",            # no weight: after all weighted, by title
        "extras/notes/",        # a section without index.md: no weight, title "Extras"
        "zebra/",
    ]  # fmt: skip


def test_section_takes_the_title_of_its_index(minisite):
    html = (minisite / "index.html").read_text()
    link = r'<a href="memory/" class="md-nav__link[^"]*">\s*<span class="md-ellipsis">\s*([^<]*?)\s*<'
    assert re.search(link, html).group(1) == "All Roads To Memory"


def test_previous_and_next_follow_the_new_order(minisite):
    html = (minisite / "memory" / "vas" / "index.html").read_text()
    assert '<link rel="prev" href="../">' in html
    assert '<link rel="next" href="../processes/">' in html


def test_explicit_nav_is_left_as_written(tmp_path):
    project = make_project(tmp_path)
    config = project / "mkdocs.yml"
    config.write_text(
        config.read_text()
        + "\nnav:\n  - zebra.md\n  - index.md\n  - hello.md\n"
        + "\nnot_in_nav: |\n  /a*.md\n  /about.md\n  /gdb.md\n  /memory/\n  /extras/\n"
    )
    site = built(project)
    assert nav_links((site / "index.html").read_text()) == ["zebra/", ".", "hello/"]


# --- the Update Timeline block and dates -----------------------------------------------


def test_timeline_in_the_original_style(minisite):
    html = (minisite / "memory" / "index.html").read_text()
    block = re.search(r'<h1>All Roads To Memory</h1>\s*<h2 id="update-timeline">(.*?)<p>The hub', html, re.S)
    assert block, "the timeline must follow the title and precede the body"
    paragraphs = re.sub(r'<a class="headerlink".*?</a>', "", block.group(1))
    assert [line for line in paragraphs.splitlines() if line] == [
        "Update Timeline</h2>",
        "<p><strong><em>January 15, 2024 (first version)</em></strong></p>",
        "<p><strong><em>June 30, 2024 (roadmap reordered)</em></strong></p>",
        "<p><strong>March 2, 2025 (added the allocation page)</strong></p>",
        "<hr />",
    ]


def test_last_update_is_shown_on_the_page(minisite):
    html = (minisite / "memory" / "index.html").read_text()
    aside = re.search(r'<aside class="md-source-file">(.*?)</aside>', html, re.S)
    assert aside and "March 2, 2025" in aside.group(1)


def test_page_without_timeline_has_no_block_and_no_date(minisite):
    html = (minisite / "hello" / "index.html").read_text()
    assert "Update Timeline" not in html
    assert "md-source-file" not in html


def test_sitemap_lastmod_is_the_newest_timeline_date(minisite):
    lastmods = sitemap_lastmods(minisite)
    assert lastmods["memory/"] == "2025-03-02"
    assert lastmods["memory/alloc/"] == "2025-02-01"
    undated = {loc for loc, day in lastmods.items() if day is None}
    assert undated == set(lastmods) - {"memory/", "memory/alloc/"}
    assert gzip.decompress((minisite / "sitemap.xml.gz").read_bytes()) == (minisite / "sitemap.xml").read_bytes()
    assert gzip_mtime(minisite / "sitemap.xml.gz") == epoch("2025-03-02")


def test_site_without_any_timeline_has_no_dates(tmp_path):
    project = make_project(tmp_path, docs=None)
    write_page(project, "index.md", "---\ntitle: Home\n---\n\nNo history yet.\n")
    site = built(project)
    assert sitemap_lastmods(site) == {"": None}
    assert gzip_mtime(site / "sitemap.xml.gz") == 0


def test_two_builds_are_byte_identical(tmp_path, minisite):
    # Another build clock: whatever MkDocs would date from it must not show.
    again = built(make_project(tmp_path), SOURCE_DATE_EPOCH=str(epoch("2001-09-09")))
    first, second = tree_bytes(minisite), tree_bytes(again)
    assert sorted(first) == sorted(second)
    assert [name for name in first if first[name] != second[name]] == []


# --- malformed front matter fails the build -----------------------------------------


@pytest.mark.parametrize(
    ("name", "front_matter", "message"),
    [
        ("hello.md", "weight: 1", "docs/hello.md: front matter: 'title' is required"),
        ("hello.md", "title: Hello\nweight: x", "docs/hello.md:3: front matter: 'weight' must be an integer, got 'x'"),
        ("hello.md", 'title: Hello\nweight: "3"', "docs/hello.md:3: front matter: 'weight' must be an integer, got '3'"),
        # A key written twice: YAML keeps the last, and its line is told.
        ("hello.md", "title: Hello\nweight: 1\n\nweight: x",
         "docs/hello.md:5: front matter: 'weight' must be an integer, got 'x'"),
        (
            "memory/vas.md",
            "title: VAS\ntimeline:\n  - date: 2025-02-30\n    note: first version",
            "docs/memory/vas.md:4: front matter: 'timeline[0].date' must be a date written YYYY-MM-DD, got '2025-02-30'",
        ),
        (
            "memory/vas.md",
            "title: VAS\ntimeline:\n  - date: 2025-03-01\n    note: b\n  - date: 2025-01-01\n    note: a",
            "docs/memory/vas.md:6: front matter: 'timeline[1].date' 2025-01-01 is older than the entry before it",
        ),
        (
            "hello.md",
            "title: Hello\ntimeline:\n  - date: 2025-03-01",
            "docs/hello.md:4: front matter: 'timeline[0].note' is required",
        ),
        ("hello.md", "title: Hello\nweight: [1", "docs/hello.md:4: front matter: not valid YAML"),
        # The line the mistake began on, shown, where YAML notices it later.
        ("hello.md", "title: [Changing pages\nweight: 1",
         "(while parsing a flow sequence, begun at line 2: 'title: [Changing pages')"),
        ("hello.md", "title: Hello\nweight: 1\n  bad: indent",
         "docs/hello.md:4: front matter: not valid YAML: mapping values are not allowed in this "
         "context: 'bad: indent'"),
    ],
)
def test_malformed_front_matter_fails_the_build(tmp_path, name, front_matter, message):
    project = make_project(tmp_path)
    write_page(project, name, f"---\n{front_matter}\n---\n\nBody.\n")
    done = build(project)
    assert done.returncode != 0
    assert message in done.stderr


@pytest.mark.parametrize("title", ["123", "2026-12-02"])
def test_a_title_that_is_not_text_is_the_pages_error_only(tmp_path, title):
    """YAML reads ``title: 123`` as a number and a date-shaped title as a date: the
    page's front-matter error, in words (the macros plugin then read the number as
    text: a traceback, and ``mkdocs serve`` stuck for every page). Without --strict
    the site builds, the page showing its error."""
    project = make_project(tmp_path)
    write_page(project, "numbered.md", f"---\ntitle: {title}\n---\n\nBody.\n")
    done = build(project)
    assert done.returncode != 0
    assert "docs/numbered.md:2: front matter: 'title' must be a non-empty string" in done.stderr
    assert "Traceback" not in done.stderr and "not iterable" not in done.stderr, done.stderr
    lax = build(project, site=project / "lax", strict=False)
    assert lax.returncode == 0, lax.stderr
    page = (project / "lax" / "numbered" / "index.html").read_text()
    assert "This page has an error" in page and "must be a non-empty string" in page


def test_macro_error_fails_the_build(tmp_path):
    project = make_project(tmp_path)
    write_page(project, "hello.md", "---\ntitle: Hello\n---\n\n{{ no_such_macro() }}\n")
    done = build(project)
    assert done.returncode != 0
    assert "no_such_macro" in done.stderr + done.stdout


@pytest.mark.skipif(not shutil.which("taskset") or len(os.sched_getaffinity(0)) < 2,
                    reason="one core (or no taskset): no worker builds pages ahead")
def test_pages_html_built_ahead_is_the_html_of_a_build_on_one_core(tmp_path):
    """A worker builds the pages' HTML from the last page down (macros/ahead.py): the
    site, its search index included, has the bytes of a build on one core, cold or warm."""
    project = make_project(tmp_path)
    cache = str(tmp_path / "cache")
    ahead = build(project, site=tmp_path / "ahead", ROADS_CACHE=cache)
    assert ahead.returncode == 0, ahead.stderr
    assert re.search(r"building pages' HTML ahead in \d+ worker process", ahead.stderr), ahead.stderr
    warm = build(project, site=tmp_path / "warm", ROADS_CACHE=cache)
    assert "building pages' HTML ahead" in warm.stderr, warm.stderr
    alone = build(project, site=tmp_path / "alone", prefix=("taskset", "-c", "0"),
                  ROADS_CACHE=str(tmp_path / "cache-alone"))
    assert alone.returncode == 0, alone.stderr
    assert "pages' HTML ahead" not in alone.stderr, alone.stderr
    one = tree_bytes(tmp_path / "alone")
    assert "search/search_index.json" in one and len(one) > 20
    for other in ("ahead", "warm"):
        site = tree_bytes(tmp_path / other)
        assert site.keys() == one.keys()
        assert [name for name in one if site[name] != one[name]] == [], other


@pytest.mark.skipif(not shutil.which("taskset") or len(os.sched_getaffinity(0)) < 2,
                    reason="one core (or no taskset): no worker builds pages ahead")
def test_pages_that_write_one_file_or_log_a_line_are_built_as_on_one_core(tmp_path):
    """Two pages whose HTML goes to one file (MkDocs writes the later one last), and a
    page whose theme template renders nothing (MkDocs logs that it skipped it): the
    same site and the same lines as on one core."""
    project = make_project(tmp_path)
    # A long page first, so that a worker building from the end would write its small
    # twin first and the long one would win.
    write_page(project, "twin.md", "---\ntitle: Twin\n---\n\n" + "A long page. " * 4000 + "\n")
    write_page(project, "twin/index.md", "---\ntitle: Twin index\n---\n\nThe small one.\n")
    write_page(project, "zzz.md", "---\ntitle: Nothing\ntemplate: empty.html\n---\n\nGone.\n")
    (project / "overrides").mkdir()
    (project / "overrides" / "empty.html").write_text("{#- nothing -#}\n")
    config = (project / "mkdocs.yml").read_text()
    (project / "mkdocs.yml").write_text(
        config.replace("theme:\n  name: material\n", "theme:\n  name: material\n  custom_dir: overrides\n", 1))
    runs = {}
    for name, prefix in (("ahead", ()), ("alone", ("taskset", "-c", "0"))):
        done = build(project, site=tmp_path / name, prefix=prefix,
                     ROADS_CACHE=str(tmp_path / f"cache-{name}"))
        assert done.returncode == 0, done.stderr
        runs[name] = done.stderr
    one, ahead = tree_bytes(tmp_path / "alone"), tree_bytes(tmp_path / "ahead")
    assert b"The small one." in one["twin/index.html"] and "zzz/index.html" not in one
    assert ahead == one
    skipped = [[line for line in runs[name].splitlines() if "Page skipped" in line]
               for name in ("ahead", "alone")]
    assert skipped[0] == skipped[1] and len(skipped[0]) == 1, runs["ahead"]


@pytest.mark.skipif(not shutil.which("taskset") or len(os.sched_getaffinity(0)) < 2,
                    reason="one core (or no taskset): no worker builds pages ahead")
def test_a_verbose_build_says_what_a_build_on_one_core_says(tmp_path):
    """With -v, MkDocs logs a line for every page it builds: the worker goes on building
    pages' HTML, and the build says each page's lines in its turn, as on one core."""
    project = make_project(tmp_path)
    runs, said, sites = {}, {}, {}
    # The worker races the build for the last pages: on a busy machine it may not run
    # before the build has reached them all. So the build is made again, each time from
    # an empty cache, until the worker built at least one page (at most five times).
    tries = [("ahead", (), attempt) for attempt in range(5)] + [("alone", ("taskset", "-c", "0"), 0)]
    for name, prefix, attempt in tries:
        if name == "ahead" and built_ahead(said.get(name, "")):
            continue
        sites[name] = tmp_path / f"{name}{attempt}"
        done = build(project, site=sites[name], prefix=prefix, args=("-v",),
                     ROADS_CACHE=str(tmp_path / f"cache-{name}{attempt}"))
        assert done.returncode == 0, done.stderr
        said[name] = done.stderr
        # What MkDocs says from its pages' HTML on, but for how long it took and what
        # the workers did.
        lines = done.stderr.splitlines()
        start = next(i for i, line in enumerate(lines) if "Building markdown pages" in line)
        runs[name] = [line for line in lines[start:] if "ahead" not in line
                      and "Documentation built in" not in line]
    assert "building pages' HTML ahead in 1 worker process" in said["ahead"], said["ahead"]
    assert built_ahead(said["ahead"]), said["ahead"]
    assert runs["ahead"] == runs["alone"], runs
    assert sum("Building page" in line for line in runs["ahead"]) > 5, runs["ahead"]
    assert tree_bytes(sites["ahead"]) == tree_bytes(sites["alone"])


def built_ahead(said: str) -> bool:
    """Whether a verbose build's log says its worker built some page's HTML."""
    worked = re.search(r"(\d+) page\(s\)' HTML built ahead by the worker", said)
    return bool(worked) and int(worked.group(1)) >= 1


# --- the real site ---------------------------------------------------------------------


@pytest.mark.slow
def test_real_site_builds_strict(tmp_path):
    # Frozen, with a cache of its own: the checkout is only read.
    done = build(ROOT, site=tmp_path / "site", ROADS_CACHE=str(tmp_path / "cache"))
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "site" / "index.html").read_text()
    # The Update Timeline: its first entry, later ones (if any), then the rule below it.
    assert re.search(r"<p><strong>(<em>)?November 26, 2026 \(first version\)(</em>)?</strong></p>\n"
                     r"(<p><strong>[^\n]*</strong></p>\n)*<hr />", html)


def build_claims(tmp_path: Path, claim_id: str, claims_toml: str) -> Completed:
    """A strict frozen build of one page showing claim ``claim_id`` of ``claims_toml``."""
    project = make_project(tmp_path, docs=None)
    (project / "docs").mkdir()
    (project / "docs" / "index.md").write_text(
        f"---\ntitle: Home\nweight: 1\n---\n\nSaid: {{{{ claim('{claim_id}') }}}}\n")
    (project / "snapshots").mkdir()
    (project / "tests").mkdir()
    (project / "tests" / "claims.toml").write_text(claims_toml)
    return build(project, ROADS_ROOT=str(project), ROADS_MODE="frozen")


def test_an_error_in_a_claims_words_is_located_at_the_claim(tmp_path):
    """A macro inside a claim's text fails: the message names the claim's line in
    tests/claims.toml and the page that shows it, not a line of the About page."""
    done = build_claims(tmp_path, "broken-words",
                        '# one claim\n\n[[claim]]\nid = "broken-words"\npage = "docs/index.md"\n'
                        "text = \"It exited with {{ value('nosuch', 'exit_code') }}.\"\n"
                        'test = "test_x.py::test_x"\n')
    assert done.returncode != 0
    assert "tests/claims.toml (claim 'broken-words', shown on docs/index.md:6):6" in done.stderr


def about_and_page(tmp_path, said: str, claims_toml: str):
    """A project whose About (index.md) lists every claim and whose page.md says
    ``said`` (its claims, line 6), with ``claims_toml`` as tests/claims.toml."""
    project = make_project(tmp_path, docs=None)
    (project / "docs").mkdir()
    write_page(project, "index.md", "---\ntitle: About\nweight: 1\n---\n\n{{ claims() }}\n")
    write_page(project, "page.md", f"---\ntitle: Page\nweight: 2\n---\n\n{said}\n")
    (project / "snapshots").mkdir()
    (project / "tests").mkdir()
    (project / "tests" / "claims.toml").write_text(claims_toml)
    return project


def test_a_claim_whose_macro_fails_shows_its_box_on_every_page_that_shows_it(tmp_path):
    """A macro inside a claim's words fails, and the claim is shown twice, first by
    About's list (``claims()``, on index.md, rendered first), then on its own page: the
    note in its sentence points to a box on top of the page, and each page has that box
    (words that warned are not remembered for the next page). The log tells the error
    once a build: the same words at the same place, not once for each page."""
    project = about_and_page(
        tmp_path, "Said: {{ claim('broken-words') }}",
        '[[claim]]\nid = "broken-words"\npage = "docs/page.md"\n'
        "text = \"It exited with {{ value('nosuch', 'exit_code') }}.\"\n"
        'test = "test_x.py::test_x"\n')
    # One core: the process that renders About's list renders the claim's page too.
    for _ in ("first build", "again, pages that warned not kept"):
        done = build(project, strict=False, prefix=("taskset", "-c", "0") if shutil.which("taskset") else (),
                     ROADS_ROOT=str(project), ROADS_MODE="frozen")
        assert done.returncode == 0, done.stderr
        for page in ("index.html", "page/index.html"):
            html = (project / "site" / page).read_text()
            # The claim fails as a whole (its value() no longer leaves a note in it).
            assert "[claim 'broken-words': see the error on top of this page]" in html, page
            assert html.count("data-roads-error") >= 1, page
        assert done.stderr.count("(claim 'broken-words', shown on docs/page.md:6):") == 1, done.stderr


def test_one_claims_broken_words_leave_the_others_on_abouts_list(tmp_path):
    """About's list renders every claim's words: a typo in one (a newcomer's) failed the
    whole list, told as an error of claims(). Now that claim's entry holds a note, the
    box is on top, the error is its words', and the other claims are listed."""
    project = about_and_page(
        tmp_path, "{{ claim('broken') }} {{ claim('fine') }} {{ claim('sums') }}",
        '[[claim]]\nid = "broken"\npage = "docs/page.md"\n'
        "text = \"It exited with {{ valeu('nosuch', 'exit_code') }}.\"\n"
        'test = "test_x.py::test_x"\n\n'
        '[[claim]]\nid = "fine"\npage = "docs/page.md"\n'
        'text = "Plain words stay."\ntest = "test_x.py::test_y"\n\n'
        '[[claim]]\nid = "sums"\npage = "docs/page.md"\n'
        'text = "Half is {{ 1 / 0 }}."\ntest = "test_x.py::test_z"\n')
    done = build(project, strict=False, ROADS_ROOT=str(project), ROADS_MODE="frozen")
    assert done.returncode == 0, done.stderr
    about = (project / "site" / "index.html").read_text()
    assert "Plain words stay." in about
    assert "[claim 'broken': see the error on top of this page]" in about
    assert "data-roads-error" in about
    assert ("(claim 'broken', shown on docs/page.md:6):4: its words: UndefinedError: 'valeu' "
            "is undefined") in done.stderr, done.stderr
    assert "claims():" not in done.stderr, done.stderr
    # Told once (About's list and the claim's page name no macro, so their words agree).
    assert done.stderr.count("its words: ZeroDivisionError: division by zero") == 1, done.stderr
    assert "internal error" not in done.stderr, done.stderr


def test_a_template_mistake_in_a_claim_shown_by_another_is_located_at_its_own(tmp_path):
    """A claim whose words show another claim, whose own template is broken: the error
    is the inner claim's, at its line (it was put on the outer claim)."""
    done = build_claims(tmp_path, "outer",
                        '[[claim]]\nid = "outer"\npage = "docs/index.md"\n'
                        "text = \"As said: {{ claim('inner') }}\"\ntest = \"test_x.py::test_x\"\n\n"
                        '[[claim]]\nid = "inner"\npage = "docs/index.md"\n'
                        "text = \"It exited with {{ value('nosuch', }}.\"\n"
                        'test = "test_x.py::test_x"\n')
    assert done.returncode != 0
    assert ("tests/claims.toml (claim 'inner', shown on docs/index.md):10: its words: "
            "TemplateSyntaxError") in done.stderr, done.stderr


@pytest.mark.parametrize("text, error", [
    ("It exited with {{ value('nosuch', 'exit_code' }}.", "TemplateSyntaxError"),
    ("It exited with {{ vlaue('nosuch', 'exit_code') }}.",
     "UndefinedError: 'vlaue' is undefined (no macro or variable of that name; did you mean "
     "'value'?)"),
    # The words' own arithmetic: their error too, not an internal error of a macro.
    ("Half is {{ 1 / 0 }}.", "ZeroDivisionError: division by zero"),
])
def test_a_template_mistake_in_a_claims_words_is_located_at_the_claim(tmp_path, text, error):
    """Not a macro's failure but the words' own template: a bracket left open, a macro
    that does not exist. Located at the claim's line in tests/claims.toml, with the
    page that shows it (it was located at the page alone, the claim not named)."""
    done = build_claims(tmp_path, "broken-words",
                        '# one claim\n\n[[claim]]\nid = "broken-words"\npage = "docs/index.md"\n'
                        f"text = \"{text}\"\n"
                        'test = "test_x.py::test_x"\n')
    assert done.returncode != 0
    # "its words", not the macro that rendered them (About's claims() renders them all).
    located = "tests/claims.toml (claim 'broken-words', shown on docs/index.md:6):6: its words: "
    assert located + error in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_template_going_on_with_a_failed_macros_note_names_the_first_error(tmp_path):
    """A page loops over a value's lines, and the value fails: the loop then reads the
    words of the macro's note, and the page's template fails further down. That second
    error names the first, which is the one to fix, and both boxes are on the page."""
    project = make_project(tmp_path, docs=None)
    (project / "docs").mkdir()
    write_page(project, "page.md",
               "---\ntitle: Page\nweight: 1\n---\n\n"
               "{% for line in value('nosuch', 'stdout').splitlines() -%}\n"
               "{%- set f = {} -%}\n"
               "{{ f.field.missing }}\n"
               "{% endfor %}\n")
    (project / "snapshots").mkdir()
    done = build(project, strict=False, ROADS_ROOT=str(project), ROADS_MODE="frozen")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert any("docs/page.md:6:" in w and "nosuch" in w for w in warnings), done.stderr
    second = [w for w in warnings if "docs/page.md:8:" in w]
    assert len(second) == 1, done.stderr
    assert "most likely because of the error at line 6, above" in second[0]
    html = (project / "site" / "page" / "index.html").read_text()
    assert "This page has an error" in html and "most likely because of the error at line 6" in html


def test_a_title_mistake_is_not_blamed_on_a_failed_macro_of_the_body(tmp_path):
    """The title renders after the body, as a template of its own: its error, on a page
    whose body had a failed macro, was said to be "most likely because of the error at
    line 6, above", which nothing of the title reads."""
    project = make_project(tmp_path, docs=None)
    (project / "docs").mkdir()
    write_page(project, "page.md",
               "---\ntitle: \"{{ nosuchtitle.x }}\"\nweight: 1\n---\n\n"
               "{{ value('nosuch', 'stdout') }}\n")
    (project / "snapshots").mkdir()
    done = build(project, strict=False, ROADS_ROOT=str(project), ROADS_MODE="frozen")
    assert done.returncode == 0, done.stderr
    titled = [line for line in done.stderr.splitlines()
              if line.startswith("WARNING") and "nosuchtitle" in line]
    assert len(titled) == 1, done.stderr
    assert "most likely because of the error" not in titled[0]
