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
