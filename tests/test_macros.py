"""The MkDocs side's own logic: where a failing macro call is on its page."""

from __future__ import annotations

from macros import call_line

PAGE = """\
---
title: x
---
{{ value('layout', 'exit_code') }}
and {{ value("layout", "count:regions") }}
{{ memory_map('brk', 'before-malloc') }}
"""


def test_call_line_tells_calls_apart_by_their_arguments():
    assert call_line(PAGE, "value", ("layout", "exit_code")) == 4
    assert call_line(PAGE, "value", ("layout", "count:regions")) == 5
    assert call_line(PAGE, "memory_map", ("brk", "before-malloc")) == 6


def test_call_line_falls_back_to_the_first_argument_then_gives_up():
    assert call_line(PAGE, "value", ("layout", "not:on:the:page")) == 4
    assert call_line(PAGE, "page_view", ("cow",)) is None


def test_a_shown_sample_file_is_part_of_the_figure_key(tmp_path, monkeypatch):
    """A frozen build never re-captures: an edited sample must still draw its code box
    anew, so the box's cache key holds the files it shows."""
    import shutil

    from macros import figures
    from macros.project import figure
    from tests.conftest import REPO

    for folder in ("samples", "snapshots"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    monkeypatch.setenv("ROADS_ROOT", str(tmp_path))
    monkeypatch.setenv("ROADS_MODE", "frozen")
    made = []

    def draw():
        made.append(1)
        return f"<p>{len(made)}</p>"

    key = figures.sample_code.cache_inputs
    assert figure("sample_code", ("intmain",), {}, draw, key) == "<p>1</p>"
    assert figure("sample_code", ("intmain",), {}, draw, key) == "<p>1</p>"  # cached
    source = tmp_path / "samples" / "intmain.c"
    source.write_text(source.read_text() + "/* edited */\n")
    assert figure("sample_code", ("intmain",), {}, draw, key) == "<p>2</p>"
