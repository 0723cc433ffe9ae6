"""A command line written so that a shell, reading it back, gives the very same words.

``shlex.quote`` keeps a word as it is inside single quotes, which is right for every
character a terminal shows, and wrong for the others: a newline pasted inside quotes
comes back as a newline, but on a page it is drawn as a space, and a byte that was
not UTF-8 (kept by Python as a lone surrogate, ``roads.escapes``) cannot be written
at all; written ``\\xff`` inside single quotes, it comes back as four characters. A word
holding such a character is written as bash, zsh and ksh read ``$'...'`` (POSIX.1-2024
gives it to sh too, but the dash of Debian 12 reads it as a dollar sign and quotes):
each of those characters as its escape, ``\\n`` and ``\\t`` for a newline and a tab,
``\\xNN`` for a byte (another control below 0x80, or a byte that was not UTF-8),
``\\uNNNN`` for any other, which the shell writes in its locale's encoding (UTF-8); a
backslash and a single quote escaped too. Any other word is left to ``shlex.quote``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

# What cannot stand as itself in a quoted word: C0 and C1 controls (tab and newline
# included: a page draws them as spaces), bidirectional overrides and isolates, and
# lone surrogates (bytes that were not UTF-8). errors.printable escapes the same ones.
_ESCAPED = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# The escapes a reader knows best, for the two controls a command line most often holds.
_NAMED = {"\n": "\\n", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8: that byte
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def quote(word: str) -> str:
    """``word`` as a shell reads it back: ``shlex.quote``'s, or ``$'...'`` where it
    holds a character that quotes cannot show (see the module's docstring)."""
    if not _ESCAPED.search(word):
        return shlex.quote(word)
    body = word.replace("\\", "\\\\").replace("'", "\\'")
    return "$'" + _ESCAPED.sub(lambda m: _escape(m[0]), body) + "'"


def join(words: Iterable[str]) -> str:
    """``words`` quoted (``quote``) and joined by spaces: a command line to type."""
    return " ".join(quote(w) for w in words)
