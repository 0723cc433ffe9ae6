"""Captured text in a page: never markup, wherever on the page it lands.

A capture holds text that the sample chose: its output, the paths it ran from, the
files it mapped. Put into a page's Markdown as it is, ``<script>`` in it would run
in the reader's browser. HTML-escaping it first is not enough, since the same call
may sit inside a code span (where Markdown escapes again, and the reader would see
``&lt;``) or outside one. So text with a character that could be markup is
``shield``-ed: replaced by a token of hex digits between two private-use
characters, which Markdown leaves alone in every context; ``unshield``, run on the
finished HTML, puts the text back, escaped once. Plain text (numbers, addresses,
ordinary words) is returned unchanged, so templates can still compare and count it.
"""

from __future__ import annotations

import html
import re

from ..errors import printable
from ..figures.options import options_whole

_OPEN, _CLOSE = "\ue000", "\ue001"
_TOKEN = re.compile(f"{_OPEN}([0-9a-f]*){_CLOSE}")
# What could make markup of text: tags, entities and autolinks (<, >, &), code spans
# (a backtick closes the one the call sits in), attribute lists ({: onmouseover=...},
# which attr_list turns into attributes), inline and reference links ("](", "][",
# "]:", which could carry a javascript: URL), and the token's own delimiters. Text
# with none of these (underscores, stars, a lone "[heap]") is left as it is: it can
# only change emphasis, and "[heap]" and "ET_DYN" must stay comparable in templates.
_RISKY = re.compile(r"[<>&`{}" + _OPEN + _CLOSE + r"]|\]\s*[(\[:]")


def shield(text: str) -> str:
    """``text`` itself when it cannot be markup, else a token that ``unshield`` reverses;
    either way with its control characters written as escapes (``errors.printable``:
    an escape sequence, a carriage return, a right-to-left override that would show a
    name reversed), as roads explain's page writes them."""
    text = printable(text)
    if not _RISKY.search(text):
        return text
    return f"{_OPEN}{text.encode('utf-8').hex()}{_CLOSE}"


def verbatim(text: str) -> str:
    """``text`` as a token whatever it holds: put back, escaped, once Markdown is done,
    so that nothing of Markdown's touches it (the glossary's tooltips, in a source line
    that names a term: a citation is quoted as it is written)."""
    return f"{_OPEN}{printable(text).encode('utf-8').hex()}{_CLOSE}"


def unshield(page_html: str) -> str:
    """``page_html`` with every token put back as escaped text."""
    if _OPEN not in page_html:
        return page_html
    return _TOKEN.sub(lambda m: html.escape(bytes.fromhex(m.group(1)).decode("utf-8", "replace"),
                                            quote=True), page_html)



# Inline code as Markdown writes it: no attribute, nothing but text inside (a
# highlighted block's code holds spans, and keeps its lines as they are anyway).
_INLINE_CODE = re.compile(r"<code>([^<]*)</code>")


def inline_options_whole(page_html: str) -> str:
    """``page_html`` with each option in its inline code kept on one line (a phone broke
    '--aslr' after its hyphens: ``roads.figures.options``)."""
    return _INLINE_CODE.sub(lambda m: f"<code>{options_whole(m.group(1))}</code>"
                            if "-" in m.group(1) else m.group(0), page_html)
