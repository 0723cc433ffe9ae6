"""What's new, its feeds, the repository links, and the numbered listings (issue 16).

- ``roads.words.news`` gathers every page's Update Timeline, newest first, and writes
  the Atom and RSS feeds of the same entries, dated from the timelines only;
- the real site (the session's ``site``, built without a repository) has the What's
  new page, the feeds linked from every page's <head>, and no repository link at all;
- a mini-site built as the publish workflow builds (REPO_URL, EDIT_URI) has the header's
  repository link, "edit this page" and each sample file linked to its page there;
- where the authoring guide refers to lines of its listings, the listings are numbered
  and the lines hold what the prose says they hold.
"""

from __future__ import annotations

import datetime
import json
import posixpath
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest

from roads.words import news
from roads.words.pages import PageMeta, TimelineEntry, validate_front_matter
from roads.errors import ConfigError
from roads.words.source import (call_line, marked_lines, render_sample_code, repository_files,
                                shown_files)
from tests.conftest import REPO
from tests.test_site import built, make_project, write_page

ATOM = "{http://www.w3.org/2005/Atom}"
SITE_URL = "https://example.org/roads/"
D = datetime.date


def page(src: str, url: str, title: str, *entries: tuple[datetime.date, str]) -> news.NewsPage:
    return news.NewsPage(src, url, PageMeta(title, timeline=tuple(TimelineEntry(d, n)
                                                                  for d, n in entries)))


PAGES = [
    page("index.md", "", "Start", (D(2026, 1, 1), "first"), (D(2026, 3, 1), "redrawn")),
    page("a/b.md", "a/b/", "B & <b>", (D(2026, 3, 1), "one"), (D(2026, 3, 1), "two *x*")),
    page("c.md", "c/", "C"),  # no timeline
    page("d.md", "d/", "D", (D(2026, 2, 1), "middle")),
]


# --------------------------------------------------------------------------- the engine


def test_entries_newest_first_same_day_in_navigation_order_later_entry_first():
    items = news.gather(PAGES)
    assert [(i.src, i.note) for i in items] == [
        ("index.md", "redrawn"), ("a/b.md", "two *x*"), ("a/b.md", "one"),
        ("d.md", "middle"), ("index.md", "first")]
    assert [i.fragment for i in items[:3]] == ["update-2", "update-2", "update-1"]


def test_the_list_links_each_entry_to_its_page_under_its_day():
    text = news.render_markdown(news.gather(PAGES), "sub/whats-new.md", ("../feed.xml", "../rss.xml"))
    assert text.index("## March 1, 2026") < text.index("## February 1, 2026") \
        < text.index("## January 1, 2026")
    assert "- [Start](../index.md): redrawn" in text
    # A title or a note shows as written: no markup, no raw HTML from it.
    assert "- [B &amp; &lt;b&gt;](../a/b.md): two \\*x\\*" in text
    assert 'href="../feed.xml"' in text and 'href="../rss.xml"' in text
    assert news.render_markdown([], "whats-new.md") == ""


def entry_date(entry) -> datetime.date:
    """Atom's <updated>, RSS's <pubDate> (asked for by its own name: feedparser warns
    when one stands in for the other)."""
    key = "updated_parsed" if dict.__contains__(entry, "updated_parsed") else "published_parsed"
    return datetime.date(*dict.__getitem__(entry, key)[:3])


def feed_entries(text: str):
    parsed = feedparser.parse(text)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def test_feeds_are_xml_and_read_by_feedparser_with_the_timeline_dates():
    items = news.gather(PAGES)
    atom = news.render_atom(items, site_url=SITE_URL, title="Site", description="About it")
    rss = news.render_rss(items, site_url=SITE_URL, title="Site", description="About it")
    root = ET.fromstring(atom.encode())
    assert root.findtext(f"{ATOM}updated") == "2026-03-01T00:00:00Z"  # the newest entry's
    assert ET.fromstring(rss.encode()).findtext("channel/lastBuildDate") == \
        "Sun, 01 Mar 2026 00:00:00 +0000"
    for text in (atom, rss):
        parsed = feed_entries(text)
        assert [e.link for e in parsed.entries] == [SITE_URL + i.url for i in items]
        assert [e.id for e in parsed.entries] == [f"{SITE_URL}{i.url}#{i.fragment}" for i in items]
        assert len({e.id for e in parsed.entries}) == len(items)
        assert [entry_date(e) for e in parsed.entries] == [i.date for i in items]
        assert parsed.entries[1].summary == "two *x*"
        assert parsed.entries[1].title == "B & <b>, updated March 1, 2026"
    # Nothing but the entries decides the bytes: no clock, no git.
    assert atom == news.render_atom(items, site_url=SITE_URL.rstrip("/"), title="Site",
                                    description="About it")


def test_repository_files_from_repo_url_and_edit_uri():
    assert repository_files("https://github.com/o/r", "edit/main/docs/") == \
        "https://github.com/o/r/blob/main/"
    assert repository_files("https://gitlab.com/o/r/", "-/edit/dev/docs/") == \
        "https://gitlab.com/o/r/-/blob/dev/"
    assert repository_files(None, "edit/main/docs/") is None
    assert repository_files("https://github.com/o/r", None) is None
    assert repository_files("https://example.org/r", "?path=docs/") is None


def sample_box(repository: str | None) -> str:
    doc = json.loads((REPO / "snapshots" / "starti.json").read_text())
    files = {path: (REPO / "samples" / path).read_bytes() for path in shown_files(doc)}
    return render_sample_code(doc, files, repository=repository)


def test_sample_files_link_to_the_repository_only_when_it_is_known():
    base = "https://github.com/o/r/blob/main/"
    hrefs = re.findall(r'<a href="([^"]+)">', sample_box(base))
    assert hrefs == [base + "samples/starti.c", base + "samples/starti.gdb"]
    assert "<a " not in sample_box(None)
    # Not inside the <summary>: a link in the control that folds the box.
    assert not re.search(r"<summary>(?:(?!</summary>).)*<a ", sample_box(base), re.S)


# --------------------------------------------------------------------------- the real site


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.head: list[dict] = []
        self.hrefs: list[str] = []
        self.in_article = False
        self.items: list[str] = []  # the hrefs of the first link of each <li> in the article
        self._li = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link":
            self.head.append(a)
        if tag == "article":
            self.in_article = True
        if tag == "a":
            self.hrefs.append(a.get("href") or "")
            if self.in_article and self._li:
                self.items.append(a.get("href") or "")
                self._li = False
        if tag == "li" and self.in_article:
            self._li = True

    def handle_endtag(self, tag):
        if tag == "article":
            self.in_article = False


def parsed(path: Path) -> Links:
    parser = Links()
    parser.feed(path.read_text())
    return parser


def docs_entries() -> list[tuple[datetime.date, str]]:
    """Every timeline entry of every page of docs/, as (date, page source)."""
    import yaml

    out = []
    for path in sorted((REPO / "docs").rglob("*.md")):
        if "includes" in path.parts:
            continue
        text = path.read_text()
        front = yaml.safe_load(text.split("---\n")[1]) if text.startswith("---\n") else {}
        meta = validate_front_matter(front or {}, str(path))
        src = path.relative_to(REPO / "docs").as_posix()
        out += [(entry.date, src) for entry in meta.timeline]
    return out


def built_pages(site: Path) -> list[Path]:
    """The built page of every page of docs/ (not the 404 page, nor other editions)."""
    out = []
    for path in sorted((REPO / "docs").rglob("*.md")):
        if "includes" not in path.parts:
            rel = path.relative_to(REPO / "docs").with_suffix("")
            rel = rel.parent if rel.name == "index" else rel
            out.append(site / rel / "index.html")
    assert all(p.is_file() for p in out), out
    return out


def page_of(site: Path, url: str) -> Path:
    return site / url / "index.html" if url.endswith("/") or not url else site / url


def test_whats_new_lists_every_entry_of_every_page_newest_first(site):
    out, _ = site
    entries = docs_entries()
    listed = parsed(out / "whats-new" / "index.html")
    assert len(listed.items) == len(entries)
    html_text = (out / "whats-new" / "index.html").read_text()
    days = [datetime.datetime.strptime(d, "%B %d, %Y").date()
            for d in re.findall(r'<h2 id="[a-z]+-\d+-\d+">([A-Z][a-z]+ \d+, \d{4})<', html_text)]
    assert days == sorted({d for d, _ in entries}, reverse=True)
    # Every link reaches a built page, and each page as often as it has entries.
    reached = [posixpath.normpath(posixpath.join("whats-new", href)) for href in listed.items]
    for target in reached:
        assert page_of(out, "" if target == "." else target + "/").is_file(), target
    by_page = {src: sum(1 for _, s in entries if s == src) for _, src in entries}
    url_of = {src: "." if src == "index.md" else posixpath.splitext(src)[0].removesuffix("/index")
              for src in by_page}
    assert {url_of[src]: n for src, n in by_page.items()} == \
        {t: reached.count(t) for t in set(reached)}


def test_feeds_hold_the_same_entries_and_every_page_links_them(site):
    out, _ = site
    entries = docs_entries()
    base = "http://127.0.0.1:8000/"  # site_url when SITE_URL is not set
    for name in (news.ATOM_FEED, news.RSS_FEED):
        text = (out / name).read_text()
        ET.fromstring(text.encode())
        got = feed_entries(text).entries
        assert len(got) == len(entries)
        dates = [entry_date(e) for e in got]
        assert dates == sorted((d for d, _ in entries), reverse=True)
        for entry in got:
            assert entry.link.startswith(base)
            assert page_of(out, entry.link.removeprefix(base)).is_file(), entry.link
    for path in built_pages(out):
        kinds = {link.get("type"): link.get("href") for link in parsed(path).head
                 if link.get("rel") == "alternate"}
        assert kinds.get(news.FEED_TYPE_ATOM, "").endswith("feed.xml"), path
        assert kinds.get(news.FEED_TYPE_RSS, "").endswith("rss.xml"), path


def test_a_site_without_repository_links_to_none(site):
    """The tests' site names no repository: no header link, no "edit this page", no
    sample file links, so no reader's browser (and no browser test) asks GitHub's API."""
    out, _ = site
    for path in out.rglob("*.html"):
        text = path.read_text()
        assert 'class="md-source"' not in text and "md-content__button" not in text, path
        assert "github.com" not in text, path


# --------------------------------------------------------------------------- published


@pytest.mark.slow
def test_published_build_links_repository_edit_and_sample_files(tmp_path):
    """A mini-site built as the publish workflow builds it: REPO_URL and EDIT_URI set."""
    project = make_project(tmp_path)
    (project / "snapshots").symlink_to(REPO / "snapshots", target_is_directory=True)
    write_page(project, "code.md", "---\ntitle: Code\ntimeline:\n  - date: 2026-04-01\n"
               "    note: the code\n---\n\nIt stops on line {{ source_line('starti', 'main') }}."
               "\n\n{{ sample_code('starti') }}\n")
    write_page(project, "whats-new.md", "---\ntitle: What's new\nwhats_new: true\n---\n\nAll.\n")
    repo = "https://github.com/someone/roads"
    site = built(project, REPO_URL=repo, EDIT_URI="edit/trunk/docs/", ROADS_CACHE=str(tmp_path / "c"))
    code = (site / "code" / "index.html").read_text()
    assert f'href="{repo}/edit/trunk/docs/code.md"' in code  # edit this page
    assert f'href="{repo}" title="Go to repository" class="md-source"' in code
    assert re.findall(rf'href="({repo}/blob/[^"]+)"', code) == [
        f"{repo}/blob/trunk/samples/starti.c", f"{repo}/blob/trunk/samples/starti.gdb"]
    line = call_line((REPO / "samples" / "starti.c").read_text(), "ROADS_CHECKPOINT", "main")
    assert f"It stops on line {line}." in code and f'data-linenos="{line} "' in code
    listed = parsed(site / "whats-new" / "index.html").items
    # The mini-site's three entries and the code page's, newest first.
    assert listed == ["../code/", "../memory/", "../memory/alloc/", "../memory/", "../memory/"]


# --------------------------------------------------------------------------- line numbers


def fenced(text: str, opening: str) -> list[str]:
    """The lines of the code block that opens with ``opening`` in ``text``."""
    start = text.index(opening + "\n") + len(opening) + 1
    return text[start:text.index("\n```\n", start)].split("\n")


def test_the_guide_numbers_the_listings_whose_lines_it_refers_to(site):
    """Step 7 of the authoring guide names lines of its strcopy.c and strcopy.md: both
    listings are numbered, and those lines hold what the words say."""
    text = (REPO / "docs" / "about" / "authoring.md").read_text()
    program = fenced(text, '```c linenums="1"')
    assert program[19 - 1].strip() == 'ROADS_CHECKPOINT("copied");'  # its ';' removed in step 7
    assert program[20 - 1].strip() == "free(copy);"
    assert "samples/strcopy.c:20:5: error: expected ‘;’ before ‘free’" in text
    assert "gcc reports the error on line 20, where it noticed it, not on line 19" in text
    page = fenced(text, '```markdown linenums="1"')
    first_call = next(n for n, line in enumerate(page, start=1) if "{{" in line)
    assert first_call == 10 and "line 10\nof `strcopy.md` is the first macro call" in text
    assert page[14 - 1] == "{{ memory_map('strcopy', 'copied') }}"
    assert "Here line 14 of the page calls" in text
    # Its missed checkpoint's message names the manifest's line of [strcopy]'s
    # checkpoints: the entry added at the end of the file, after a blank line, its
    # header and its title (the guide's step 2). The number is the manifest's, read when
    # the guide is built: adding a sample does not make the guide wrong.
    assert "samples/samples.toml:{{ manifest_lines(plus=4) }} lists it for [strcopy]" in text
    assert "({{ manifest_lines(plus=4) }} here, with\n`[strcopy]` added" in text
    out, _ = site
    built_page = (out / "about" / "authoring" / "index.html").read_text()
    entry = len((REPO / "samples" / "samples.toml").read_text().splitlines()) + 4
    assert f"samples/samples.toml:{entry} lists it for [strcopy]" in built_page
    assert f"({entry} here, with\n<code>[strcopy]</code> added" in built_page
    # Numbered inside the code, as the samples' boxes are (pymdownx-inline): the
    # numbers are not copied with it.
    assert 'data-linenos="20 "' in built_page and 'data-linenos="14 "' in built_page


def test_the_line_of_a_call_is_the_line_its_box_marks():
    text = ('/* ROADS_CHECKPOINT("a"); */\nconst char *s = "ROADS_CHECKPOINT(\\"a\\")";\n'
            'int main(void)\n{\n    ROADS_CHECKPOINT(\n        "a");\n    ROADS_RANGE("r", p, 1);\n'
            '    ROADS_CHECKPOINT("b");\n    ROADS_CHECKPOINT("b");\n}\n')
    assert call_line(text, "ROADS_CHECKPOINT", "a") == 5  # not the comment, not the string
    assert marked_lines(text)[5] == "checkpoint"
    assert call_line(text, "ROADS_RANGE", "r") == 7
    assert call_line(text, "ROADS_CHECKPOINT", "c") is None
    with pytest.raises(ConfigError, match="several lines"):
        call_line(text, "ROADS_CHECKPOINT", "b")
    with pytest.raises(ConfigError, match="not a call"):
        call_line(text, "printf", "a")
