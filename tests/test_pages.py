"""Page conventions (roads.words.pages): the front matter schema, the timeline block, weight order."""

from __future__ import annotations

import re
import datetime
import sys
from dataclasses import dataclass

import pytest

from roads.command import run
from roads.errors import ConfigError
from roads.words.pages import (
    FIELD,
    PageMeta,
    TimelineEntry,
    format_date,
    order_by_weight,
    render_timeline,
    validate_front_matter,
    with_timeline,
)

PATH = "docs/x.md"


def entry(day: str, note: str) -> TimelineEntry:
    return TimelineEntry(datetime.date.fromisoformat(day), note)


# --- front matter ------------------------------------------------------------------


def test_full_front_matter_becomes_typed_meta():
    meta = validate_front_matter(
        {
            "title": "Processes",
            "weight": 2,
            "timeline": [
                {"date": datetime.date(2024, 1, 15), "note": "first version"},
                {"date": "2025-03-02", "note": "added fork and exec"},
            ],
            "description": "left alone",
        },
        PATH,
    )
    assert meta == PageMeta(
        title="Processes",
        weight=2,
        timeline=(entry("2024-01-15", "first version"), entry("2025-03-02", "added fork and exec")),
    )
    assert meta.last_updated == datetime.date(2025, 3, 2)


def test_title_alone_is_enough():
    meta = validate_front_matter({"title": "Home"}, PATH)
    assert meta == PageMeta(title="Home", weight=None, timeline=())
    assert meta.last_updated is None


def test_same_day_entries_keep_their_order_and_the_last_is_newest():
    meta = validate_front_matter(
        {"title": "T", "timeline": [{"date": "2025-01-01", "note": "a"}, {"date": "2025-01-01", "note": "b"}]},
        PATH,
    )
    assert [e.note for e in meta.timeline] == ["a", "b"]


def test_folded_note_becomes_one_line():
    meta = validate_front_matter(
        {"title": "T", "timeline": [{"date": "2025-01-01", "note": "one\n  two\n"}]}, PATH
    )
    assert meta.timeline[0].note == "one two"


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({}, "docs/x.md: front matter: 'title' is required"),
        ({"title": None}, "docs/x.md: front matter: 'title' is required"),
        ({"title": ""}, "docs/x.md: front matter: 'title' must be a non-empty string, got ''"),
        ({"title": 3}, "docs/x.md: front matter: 'title' must be a non-empty string, got 3"),
        ({"title": "T", "weight": "3"}, "docs/x.md: front matter: 'weight' must be an integer, got '3'"),
        ({"title": "T", "weight": "x"}, "docs/x.md: front matter: 'weight' must be an integer, got 'x'"),
        ({"title": "T", "weight": True}, "docs/x.md: front matter: 'weight' must be an integer, got True"),
        ({"title": "T", "weight": 2.5}, "docs/x.md: front matter: 'weight' must be an integer, got 2.5"),
        (["title"], "docs/x.md: front matter: must be a mapping of keys to values, got ['title']"),
    ],
)
def test_bad_title_or_weight_names_file_and_field(meta, message):
    with pytest.raises(ConfigError) as caught:
        validate_front_matter(meta, PATH)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"title": "T", "wieght": 3}, "'wieght' is not a key of a page's front matter; did you mean 'weight'?"),
        ({"title": "T", "timline": []}, "'timline' is not a key of a page's front matter; did you mean 'timeline'?"),
        ({"tilte": "T"}, "'tilte' is not a key of a page's front matter; did you mean 'title'?"),
        ({"title": "T", "Weight": 3}, "'Weight' is not a key of a page's front matter; did you mean 'weight'?"),
    ],
)
def test_a_misspelt_key_is_named_not_ignored(meta, message):
    """A misspelt weight or timeline was silently left out: the page went to the end of
    its siblings, or lost its history, with no word of why."""
    with pytest.raises(ConfigError) as caught:
        validate_front_matter(meta, PATH)
    assert str(caught.value) == f"docs/x.md: front matter: {message}"
    assert getattr(caught.value, FIELD) == (next(iter(set(meta) - {"title"})),)  # its line


def test_other_keys_are_left_alone():
    meta = validate_front_matter({"title": "T", "whats_new": True, "hide": ["toc"],
                                  "description": "d", "template": "t.html",
                                  "subtitle": "s"}, PATH)
    assert meta == PageMeta(title="T")


@pytest.mark.parametrize(
    ("timeline", "field", "detail"),
    [
        ("2025-01-01", "'timeline'", "must be a non-empty list of {date, note}, got '2025-01-01'"),
        ([], "'timeline'", "must be a non-empty list"),
        (["first version"], "'timeline[0]'", "must be a mapping with 'date' and 'note'"),
        ([{"date": "2025-01-01"}], "'timeline[0].note'", "is required"),
        ([{"note": "first"}], "'timeline[0].date'", "is required"),
        ([{"date": "2025-01-01", "note": ""}], "'timeline[0].note'", "must be a non-empty string"),
        ([{"date": "2025-01-01", "notes": "x"}], "'timeline[0]'", "unknown key(s) 'notes'"),
        ([{"date": "2025-13-01", "note": "x"}], "'timeline[0].date'", "must be a date written YYYY-MM-DD, got '2025-13-01'"),
        ([{"date": "2025-02-30", "note": "x"}], "'timeline[0].date'", "got '2025-02-30'"),
        ([{"date": "26/11/2026", "note": "x"}], "'timeline[0].date'", "got '26/11/2026'"),
        ([{"date": "20261126", "note": "x"}], "'timeline[0].date'", "got '20261126'"),
        ([{"date": 20261126, "note": "x"}], "'timeline[0].date'", "got 20261126"),
        (
            [{"date": datetime.datetime(2026, 11, 26, 10, 0), "note": "x"}],
            "'timeline[0].date'",
            "got '2026-11-26 10:00:00'",
        ),
        (
            [
                {"date": "2025-01-01", "note": "a"},
                {"date": "2025-03-01", "note": "b"},
                {"date": "2025-02-01", "note": "c"},
            ],
            "'timeline[2].date'",
            "2025-02-01 is older than the entry before it (2025-03-01); list entries oldest first",
        ),
    ],
)
def test_bad_timeline_names_file_and_field(timeline, field, detail):
    with pytest.raises(ConfigError) as caught:
        validate_front_matter({"title": "T", "timeline": timeline}, PATH)
    message = str(caught.value)
    assert message.startswith(f"docs/x.md: front matter: {field} ")
    assert detail in message
    assert caught.value.page == PATH


# --- the Update Timeline block -----------------------------------------------------


def test_single_entry_is_bold_upright():
    assert render_timeline([entry("2026-11-26", "first version")]) == (
        "## Update Timeline\n"
        "\n"
        "**November 26, 2026 (first version)**\n"
        "\n"
        "---\n"
    )


def test_older_entries_bold_italic_newest_bold_then_rule():
    block = render_timeline(
        [
            entry("2024-01-05", "first version"),
            entry("2024-06-30", "roadmap reordered"),
            entry("2025-03-02", "added the allocation page"),
        ]
    )
    assert block == (
        "## Update Timeline\n"
        "\n"
        "***January 5, 2024 (first version)***\n"
        "\n"
        "***June 30, 2024 (roadmap reordered)***\n"
        "\n"
        "**March 2, 2025 (added the allocation page)**\n"
        "\n"
        "---\n"
    )


def test_notes_cannot_break_the_emphasis():
    block = render_timeline([entry("2025-01-01", "malloc(*p) & <stdio.h> [x] a_b `c`")])
    assert "**January 1, 2025 (malloc(\\*p) &amp; &lt;stdio.h&gt; \\[x\\] a\\_b \\`c\\`)**" in block


def test_no_entries_no_block():
    assert render_timeline([]) == ""
    assert with_timeline("body\n", []) == "body\n"


def test_block_goes_on_top_or_below_a_leading_title():
    entries = [entry("2026-11-26", "first version")]
    block = render_timeline(entries)
    assert with_timeline("Body.\n", entries) == block + "\nBody.\n"
    assert with_timeline("# Title\n\nBody.\n", entries) == "# Title\n\n" + block + "\nBody.\n"


@pytest.mark.parametrize(
    ("day", "text"),
    [("2026-11-26", "November 26, 2026"), ("2024-01-05", "January 5, 2024"), ("2025-05-31", "May 31, 2025")],
)
def test_dates_read_month_day_year(day, text):
    assert format_date(datetime.date.fromisoformat(day)) == text


# --- ordering ----------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    title: str
    weight: int | None
    path: str


def test_lowest_weight_first_unweighted_last():
    items = [
        Item("Zebra", None, "zebra.md"),
        Item("gdb sessions", 5, "gdb.md"),
        Item("Hello World", 1, "hello.md"),
        Item("Appendix", None, "appendix.md"),
        Item("Hub", 4, "memory"),
        Item("Negative", -2, "neg.md"),
        Item("Zero", 0, "zero.md"),
    ]
    assert [i.title for i in order_by_weight(items)] == [
        "Negative", "Zero", "Hello World", "Hub", "gdb sessions", "Appendix", "Zebra",
    ]  # fmt: skip


def test_ties_fall_back_to_title_then_path():
    items = [
        Item("Errata", 9, "a-errata.md"),
        Item("About this site", 9, "about.md"),
        Item("Same", 9, "b.md"),
        Item("Same", 9, "a.md"),
        Item("errata, part two", 9, "e2.md"),
    ]
    assert [(i.title, i.path) for i in order_by_weight(items)] == [
        ("About this site", "about.md"),
        ("Errata", "a-errata.md"),
        ("errata, part two", "e2.md"),
        ("Same", "a.md"),
        ("Same", "b.md"),
    ]


def test_order_does_not_depend_on_arrival():
    items = [Item(t, w, p) for t, w, p in [("B", 2, "b"), ("A", 2, "a"), ("C", None, "c"), ("D", 1, "d")]]
    assert order_by_weight(items) == order_by_weight(reversed(items))


def test_page_conventions_do_not_import_mkdocs():
    # The engine must work without the site generator: checked in a fresh interpreter.
    code = (
        "import sys, roads.words.pages\n"
        "site = ('mkdocs', 'material', 'mkdocs_macros')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in site))"
    )
    assert run([sys.executable, "-c", code]).stdout.strip() == "[]"


def test_no_page_copies_code_from_a_sample():
    """Code on a page is included from the sample file (sample_code), never copied: a
    copy goes stale when the sample changes. The authoring guide's examples are the
    exception: they are not samples."""
    from tests.conftest import REPO

    fence = re.compile(r"^\s*(```|~~~)\s*c\b", re.M)
    copied = [p.relative_to(REPO).as_posix() for p in sorted((REPO / "docs").rglob("*.md"))
              if p.name != "authoring.md" and fence.search(p.read_text(encoding="utf-8"))]
    assert copied == [], "pages with C code typed in; use {{ sample_code(...) }}"


# What the newest timeline entry may hold: on a phone (390 px) it is the first thing the
# page shows, in bold, above the page itself; about 420 characters fill eleven lines.
NEWEST_NOTE_MAX = 420


def test_every_pages_newest_timeline_entry_leaves_room_for_the_page():
    """A page's newest timeline entry is shown whole, in bold, on top of the page; a
    5259-character one filled a phone's screen several times before the page began.
    The details of a change belong in the history; the note tells a returning reader
    what to read again."""
    import yaml

    from tests.conftest import REPO

    long = {}
    for path in sorted((REPO / "docs").rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        if not text.startswith("---"):
            continue
        meta = validate_front_matter(yaml.safe_load(text.split("---", 2)[1]) or {}, str(path))
        if meta.timeline and len(meta.timeline[-1].note) > NEWEST_NOTE_MAX:
            long[path.relative_to(REPO).as_posix()] = len(meta.timeline[-1].note)
    assert long == {}, f"newest timeline notes over {NEWEST_NOTE_MAX} characters"
