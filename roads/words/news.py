"""What's new: every page's Update Timeline in one list, newest first, and its feeds.

Pure functions over plain data, as in ``roads.words.pages``: the site generator hands
over its pages in navigation order (a ``NewsPage`` each: where the page's source is,
its address, its validated front matter); this module gathers their timeline entries,
writes the list that the "What's new" page shows (Markdown whose links point at the
pages' sources, so the site generator checks and rewrites them) and the Atom and RSS
feeds of the same entries.

Every date comes from a timeline, never from a clock or from git: the feed of a
build is the same bytes as the feed of any other build of the same pages. An entry's
identifier is its page's address with the entry's place in that page's timeline
(``#update-3``): a timeline only grows at its end, so an entry keeps its identifier,
and a feed reader shows it once.
"""

from __future__ import annotations

import datetime
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import format_datetime
from urllib.parse import urljoin
from xml.sax.saxutils import escape, quoteattr

from .pages import PageMeta, format_date

# Where the feeds are written in the built site, from its root.
ATOM_FEED = "feed.xml"
RSS_FEED = "rss.xml"
# What the feeds call themselves, in readers' lists and in each page's <head>.
FEED_TYPE_ATOM = "application/atom+xml"
FEED_TYPE_RSS = "application/rss+xml"
# Characters that would start inline Markdown or raw HTML inside a title or a note
# (as roads.words.pages escapes a timeline's notes).
_MARKDOWN_ESCAPES = {c: "\\" + c for c in "\\`*_[]{}!"} | {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


@dataclass(frozen=True)
class NewsPage:
    """One page as the gathering needs it."""

    src: str  # its source, relative to the docs folder: "all-roads-to-memory/processes.md"
    url: str  # its address, relative to the site's root: "all-roads-to-memory/processes/"
    meta: PageMeta


@dataclass(frozen=True)
class NewsItem:
    """One timeline entry of one page."""

    date: datetime.date
    note: str
    title: str  # the page's title
    src: str
    url: str
    number: int  # the entry's place in its page's timeline, from 1 (oldest)

    @property
    def fragment(self) -> str:
        return f"update-{self.number}"


def gather(pages: Iterable[NewsPage]) -> list[NewsItem]:
    """Every timeline entry of ``pages`` (given in navigation order), newest first.

    Entries of the same day keep the navigation's order of their pages; within a page,
    its later entry comes first, as it does across days.
    """
    found = []
    for position, page in enumerate(pages):
        for number, entry in enumerate(page.meta.timeline, start=1):
            item = NewsItem(entry.date, entry.note, page.meta.title, page.src, page.url, number)
            found.append((item, position))
    found.sort(key=lambda pair: (-pair[0].date.toordinal(), pair[1], -pair[0].number))
    return [item for item, _ in found]


def render_markdown(items: Sequence[NewsItem], here: str, feeds: tuple[str, str] | None = None
                    ) -> str:
    """The list the "What's new" page shows: a heading for each day, newest first, and
    under it one line per entry, its page's title linking to the page, then its note.

    ``here`` is the source of the page that shows the list (its links are relative to
    it). ``feeds``, the addresses of the Atom and the RSS feed relative to that page,
    adds a paragraph that links them (raw HTML: they are files of the built site, not
    pages). Empty for no entries.
    """
    folder = posixpath.dirname(here)
    out: list[str] = []
    if feeds is not None and items:
        atom, rss = (quoteattr(href) for href in feeds)
        out.append(f'<p class="roads-feeds">The same entries as a feed, for a feed reader: '
                   f'<a href={atom} type="{FEED_TYPE_ATOM}">Atom</a> or '
                   f'<a href={rss} type="{FEED_TYPE_RSS}">RSS</a>.</p>\n')
    day = None
    for item in items:
        if item.date != day:
            day = item.date
            out.append(f"\n## {format_date(day)}\n")
        link = posixpath.relpath(item.src, folder or ".")
        out.append(f"- [{_escape(item.title)}]({link}): {_escape(item.note)}")
    return "\n".join(out).lstrip("\n") + "\n" if out else ""


def newest(items: Sequence[NewsItem]) -> datetime.date:
    """The date of the newest entry: the feeds' own date (the epoch for none)."""
    return max((item.date for item in items), default=datetime.date(1970, 1, 1))


def render_atom(items: Sequence[NewsItem], *, site_url: str, title: str,
                description: str = "", author: str = "") -> str:
    """An Atom feed (RFC 4287) of ``items``: one entry each, dated from its timeline.

    ``site_url`` is the site's absolute address; every link is made absolute from it.
    """
    base = _base(site_url)
    feed_url = urljoin(base, ATOM_FEED)
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"  <id>{escape(feed_url)}</id>",
        f"  <title>{escape(_feed_title(title))}</title>",
    ]
    if description:
        lines.append(f"  <subtitle>{escape(description)}</subtitle>")
    lines += [
        f"  <updated>{_iso(newest(items))}</updated>",
        f"  <author><name>{escape(author or title)}</name></author>",
        f"  <link rel=\"self\" type=\"{FEED_TYPE_ATOM}\" href={quoteattr(feed_url)}/>",
        f"  <link rel=\"alternate\" type=\"text/html\" href={quoteattr(base)}/>",
    ]
    for item in items:
        page = urljoin(base, item.url)
        lines += [
            "  <entry>",
            f"    <id>{escape(page)}#{item.fragment}</id>",
            f"    <title>{escape(_entry_title(item))}</title>",
            f"    <updated>{_iso(item.date)}</updated>",
            f"    <link rel=\"alternate\" type=\"text/html\" href={quoteattr(page)}/>",
            f"    <summary>{escape(item.note)}</summary>",
            "  </entry>",
        ]
    lines.append("</feed>")
    return "\n".join(lines) + "\n"


def render_rss(items: Sequence[NewsItem], *, site_url: str, title: str,
               description: str = "") -> str:
    """An RSS 2.0 feed of the same entries, for readers that take no Atom."""
    base = _base(site_url)
    stamp = _rfc822(newest(items))
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">',
        "  <channel>",
        f"    <title>{escape(_feed_title(title))}</title>",
        f"    <link>{escape(base)}</link>",
        f"    <description>{escape(description or _feed_title(title))}</description>",
        f"    <atom:link rel=\"self\" type=\"{FEED_TYPE_RSS}\" "
        f"href={quoteattr(urljoin(base, RSS_FEED))}/>",
        f"    <pubDate>{stamp}</pubDate>",
        f"    <lastBuildDate>{stamp}</lastBuildDate>",
    ]
    for item in items:
        page = urljoin(base, item.url)
        lines += [
            "    <item>",
            f"      <title>{escape(_entry_title(item))}</title>",
            f"      <link>{escape(page)}</link>",
            f"      <guid isPermaLink=\"false\">{escape(page)}#{item.fragment}</guid>",
            f"      <pubDate>{_rfc822(item.date)}</pubDate>",
            f"      <description>{escape(item.note)}</description>",
            "    </item>",
        ]
    lines += ["  </channel>", "</rss>"]
    return "\n".join(lines) + "\n"


def _feed_title(title: str) -> str:
    return f"{title}: what's new"


def _entry_title(item: NewsItem) -> str:
    """The page and the day: the note, often long, is the entry's summary."""
    return f"{item.title}, updated {format_date(item.date)}"


def _base(site_url: str) -> str:
    return site_url if site_url.endswith("/") else site_url + "/"


def _iso(day: datetime.date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _rfc822(day: datetime.date) -> str:
    # English day and month names whatever the locale (strftime would follow LC_TIME).
    moment = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc)
    return format_datetime(moment)


def _escape(text: str) -> str:
    return "".join(_MARKDOWN_ESCAPES.get(char, char) for char in text)
