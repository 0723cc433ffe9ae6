"""Page conventions: the front matter schema, the Update Timeline block, weight ordering.

Pure functions over plain data: front matter arrives as the mapping YAML produced,
pages to order as anything with a weight, a title and a path. The site generator
reads the files and hands them here, so these rules hold whatever builds the site.

Front matter of a page::

    title: The virtual address space     # required, a non-empty string
    weight: 1                            # optional integer; lowest first among siblings
    timeline:                            # optional; oldest first
      - date: 2026-11-26
        note: first version
"""

from __future__ import annotations

import datetime
import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..errors import ConfigError

# English month names whatever the locale: strftime("%B") follows LC_TIME.
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

TIMELINE_HEADING = "Update Timeline"

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ENTRY_KEYS = ("date", "note")
_KEYS = ("title", "weight", "timeline")
# Keys of others that look like ours: Material for MkDocs reads a page's subtitle.
_OTHER_KEYS = frozenset({"subtitle"})
# Characters that would start inline Markdown or raw HTML inside a note.
_MARKDOWN_ESCAPES = {c: "\\" + c for c in "\\`*_[]{}!"} | {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


@dataclass(frozen=True)
class TimelineEntry:
    """One dated line of a page's history."""

    date: datetime.date
    note: str


@dataclass(frozen=True)
class PageMeta:
    """A page's validated front matter."""

    title: str
    weight: int | None = None
    timeline: tuple[TimelineEntry, ...] = ()

    @property
    def last_updated(self) -> datetime.date | None:
        """The newest timeline date, or None for a page without a timeline."""
        return self.timeline[-1].date if self.timeline else None


def fallback_title(src_uri: str) -> str:
    """The title of a page whose front matter gives none that can be used: its file's
    name in words (``docs/memory-map.md``: "Memory map")."""
    stem = os.path.splitext(os.path.basename(src_uri))[0]
    return stem.replace("-", " ").replace("_", " ").capitalize()


def validate_front_matter(meta: Mapping[str, Any], path: str) -> PageMeta:
    """Check the front matter of the page at ``path`` and return it typed.

    Raises ConfigError naming ``path`` and the offending field, e.g.
    ``docs/x.md: front matter: 'weight' must be an integer, got '3'``.
    Keys other than title, weight and timeline are left to whoever reads them, except
    one that looks like a misspelling of those three (``wieght``), which would otherwise
    be dropped without a word.
    """
    if not isinstance(meta, Mapping):
        raise _error(path, f"must be a mapping of keys to values, got {_show(meta)}")
    for key in meta:
        near = _misspelt(key)
        if near is not None:
            raise _error(path, f"{key!r} is not a key of a page's front matter; "
                               f"did you mean {near!r}?", key)
    return PageMeta(
        title=_title(meta, path),
        weight=_weight(meta, path),
        timeline=_timeline(meta, path),
    )


def format_date(day: datetime.date) -> str:
    """``Month D, YYYY``, as the timeline writes dates: November 26, 2026."""
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def render_timeline(entries: Iterable[TimelineEntry]) -> str:
    """The Update Timeline block, in Markdown, for entries given oldest first.

    A level-two heading, one paragraph ``Month D, YYYY (note)`` per entry, older
    entries in bold italic and the newest in bold upright, then a horizontal rule
    that separates the block from the body. Notes are escaped, so a note shows as
    written and cannot break the emphasis around it. Empty for no entries.
    """
    entries = tuple(entries)
    if not entries:
        return ""
    paragraphs = [f"## {TIMELINE_HEADING}"]
    for position, entry in enumerate(entries, start=1):
        text = f"{format_date(entry.date)} ({_escape(entry.note)})"
        mark = "**" if position == len(entries) else "***"
        paragraphs.append(f"{mark}{text}{mark}")
    paragraphs.append("---")
    return "\n\n".join(paragraphs) + "\n"


def with_timeline(markdown: str, entries: Iterable[TimelineEntry]) -> str:
    """``markdown`` with the Update Timeline block on top (below a leading ``# `` title)."""
    block = render_timeline(entries)
    if not block:
        return markdown
    head, _, body = markdown.partition("\n")
    if head.startswith("# "):
        return head + "\n\n" + block + "\n" + body.lstrip("\n")
    return block + "\n" + markdown


class Weighted(Protocol):
    """What ordering needs to know about a page or a section."""

    @property
    def weight(self) -> int | None: ...

    @property
    def title(self) -> str: ...

    @property
    def path(self) -> str: ...


W = TypeVar("W", bound=Weighted)


def weight_key(item: Weighted) -> tuple[bool, int, str, str, str]:
    """Sort key of Hugo's default order: weighted first by weight, then title, then path.

    Titles compare without regard to case ("gdb sessions" before "Zebra"), the exact
    title only breaking what case alone separates.
    """
    return (item.weight is None, item.weight or 0, item.title.casefold(), item.title, item.path)


def order_by_weight(items: Iterable[W]) -> list[W]:
    """Siblings in Hugo's order: by weight, lowest first; unweighted after all weighted.

    Ties (equal weights, or no weight) fall back to the title and then the path, so
    the order never depends on how the items arrived. A section is expected to
    carry the weight and title of its index page.
    """
    return sorted(items, key=weight_key)


def _misspelt(key: object) -> str | None:
    """The key of ours that ``key``, not one of them, most likely misspells, if any."""
    if not isinstance(key, str) or key in _KEYS or key in _OTHER_KEYS:
        return None
    near = difflib.get_close_matches(key.lower(), _KEYS, n=1, cutoff=0.7)
    return near[0] if near else None


def _title(meta: Mapping[str, Any], path: str) -> str:
    if "title" not in meta or meta["title"] is None:
        raise _error(path, "'title' is required")
    title = meta["title"]
    if not isinstance(title, str) or not title.strip():
        raise _error(path, f"'title' must be a non-empty string, got {_show(title)}", "title")
    return title


def _weight(meta: Mapping[str, Any], path: str) -> int | None:
    weight = meta.get("weight")
    # bool is an int subclass: `weight: yes` must not read as weight 1.
    if weight is None or (isinstance(weight, int) and not isinstance(weight, bool)):
        return weight
    raise _error(path, f"'weight' must be an integer, got {_show(weight)}", "weight")


def _timeline(meta: Mapping[str, Any], path: str) -> tuple[TimelineEntry, ...]:
    raw = meta.get("timeline")
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise _error(
            path, f"'timeline' must be a non-empty list of {{date, note}}, got {_show(raw)}",
            "timeline",
        )
    entries = tuple(_entry(item, index, path) for index, item in enumerate(raw))
    for index in range(1, len(entries)):
        before, after = entries[index - 1].date, entries[index].date
        if after < before:
            raise _error(
                path,
                f"'timeline[{index}].date' {after.isoformat()} is older than the entry before it"
                f" ({before.isoformat()}); list entries oldest first",
                "timeline", index, "date",
            )
    return entries


def _entry(item: object, index: int, path: str) -> TimelineEntry:
    field, at = f"timeline[{index}]", ("timeline", index)
    if not isinstance(item, Mapping):
        raise _error(path, f"'{field}' must be a mapping with 'date' and 'note', got {_show(item)}",
                     *at)
    unknown = sorted(str(key) for key in item if key not in _ENTRY_KEYS)
    if unknown:
        keys = ", ".join(map(repr, unknown))
        raise _error(path, f"'{field}' has unknown key(s) {keys}; expected 'date' and 'note'",
                     *at, unknown[0])
    for key in _ENTRY_KEYS:
        if item.get(key) is None:
            raise _error(path, f"'{field}.{key}' is required", *at)
    note = item["note"]
    if not isinstance(note, str) or not note.strip():
        raise _error(path, f"'{field}.note' must be a non-empty string, got {_show(note)}",
                     *at, "note")
    # A folded YAML string may hold newlines; one entry is one paragraph.
    return TimelineEntry(_date(item["date"], at, path), " ".join(note.split()))


def _date(value: object, at: tuple[str | int, ...], path: str) -> datetime.date:
    # datetime is a date subclass; a time of day has no place in the timeline.
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _error(path, f"'timeline[{at[1]}].date' must be a date written YYYY-MM-DD, got "
                 f"{_show(value)}", *at, "date")


def _escape(text: str) -> str:
    return "".join(_MARKDOWN_ESCAPES.get(char, char) for char in text)


def _show(value: object) -> str:
    if isinstance(value, (datetime.date, datetime.datetime)):
        return repr(str(value))
    return repr(value)


# On a front-matter error: the keys and indexes of the value at fault (``_error``).
FIELD = "front_matter_field"


def _error(path: str, problem: str, *field: str | int) -> ConfigError:
    """The page's front-matter error; ``field`` (its ``front_matter_field``) is where in
    the front matter it is, keys and list indexes from the top (none for a key that is
    missing), for the caller that has the page's text to name its line."""
    error = ConfigError(f"front matter: {problem}", page=path)
    setattr(error, FIELD, field)
    return error
