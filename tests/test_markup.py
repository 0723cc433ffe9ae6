"""Captured text reaches pages as text: shielded by the value macro, put back escaped."""

from __future__ import annotations

import html

import markdown
import pytest

from roads.words.markup import shield, unshield

HOSTILE = ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>', 'a & b', '`code`',
           '[link](javascript:alert(1))', '\ue000ffff\ue001', 'x\\<y',
           "{: onmouseover=alert(1) id=pwned }", "[click][evil]\n\n[evil]: javascript:alert(2)",
           "[evil] : javascript:alert(3)"]


@pytest.mark.parametrize("text", ["hello, world", "0x555555554000", "132 KiB", "13", "none",
                                  "/build/layout", "libc.so.6", "[heap]", "ET_DYN",
                                  "/usr/lib/x86_64-linux-gnu/libc.so.6"])
def test_plain_text_is_left_alone(text):
    """So that templates can still compare, count and do sums with values."""
    assert shield(text) == text


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("template", ["{}", "`{}`", "**{}**", "| a | {} |\n|---|---|\n| b | c |",
                                      "- item {}", "[{}](x.html)"])
def test_hostile_text_shows_as_itself_in_every_context(text, template):
    page = markdown.markdown("|h|h|\n|-|-|\n|x|y|\n\n" + template.format(shield(text)),
                             extensions=["tables", "attr_list"])
    out = unshield(page)
    assert "<script" not in out and "<img" not in out and "javascript:" not in out.replace(
        html.escape(text), "")
    assert "onmouseover=" not in out.replace(html.escape(text), "")
    assert html.escape(text) in out


def test_options_in_inline_code_are_kept_whole():
    """Each option in inline code is marked to stay on one line; a word with a hyphen
    inside (a-b), and a highlighted block's code (spans inside), are left alone."""
    from roads.words.markup import inline_options_whole

    page = ('<p><code>--aslr</code>, <code>gcc -O0 -g x.c</code>, <code>a-b</code></p>'
            '<pre><span></span><code><span>--x</span></code></pre>')
    assert inline_options_whole(page) == (
        '<p><code><span class="roads-option">--aslr</span></code>, <code>gcc '
        '<span class="roads-option">-O0</span> <span class="roads-option">-g</span> x.c'
        '</code>, <code>a-b</code></p><pre><span></span><code><span>--x</span></code></pre>')
