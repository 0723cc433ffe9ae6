"""Text from /proc and from arguments, as Python keeps it, written so that JSON and a
terminal can carry it.

The kernel hands out bytes: a process's name, a mapped file's path, an argument.
Python decodes them as it decodes file names (``os.fsdecode``), keeping each byte that
is not UTF-8 as a lone surrogate (U+DC80 to U+DCFF), which no UTF-8 text (a capture's
JSON, a page, a terminal's output) can hold. Such a byte is written ``\\xNN``, the
byte's own value; any other lone surrogate ``\\uNNNN``.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def escape_char(char: str) -> str:
    """The escape of one character: ``\\xNN`` for a byte kept as a surrogate or a code
    point below 256, ``\\uNNNN`` otherwise."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_bytes(text: str) -> str:
    """``text`` with each lone surrogate escaped (``escape_char``); the rest as it is."""
    return _SURROGATE.sub(lambda m: escape_char(m[0]), text)
