"""Sizes in binary units, as the tables and figures print them, and a value in the format
it reads best in (what a page's ``value`` and ``const`` macros print)."""

from __future__ import annotations

import re
from dataclasses import dataclass

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
FORMATS = ("hex", "int", "human", "text")


def human_size(n: int) -> str:
    """``n`` bytes in the largest binary unit that keeps the value readable.

    A value that is exact in some unit with at most one decimal and fewer than
    five digits is printed exactly: 4096 is "4 KiB", 0x21000 is "132 KiB",
    1.5 MiB is "1.5 MiB" and 2052 KiB stays "2052 KiB" rather than a rounded
    "2.0 MiB", since memory sizes on this site are meant to be read exactly.
    Anything else is rounded to one decimal in the largest unit.
    """
    if n < 0:
        return "-" + human_size(-n)
    if n == 0:
        return "0 B"
    largest = min(len(UNITS) - 1, (n.bit_length() - 1) // 10)
    for power in range(largest, -1, -1):
        unit = 1 << (10 * power)
        tenths, rest = divmod(n * 10, unit)
        if rest == 0 and tenths < 100_000:
            whole, tenth = divmod(tenths, 10)
            value = f"{whole}" if tenth == 0 else f"{whole}.{tenth}"
            return f"{value} {UNITS[power]}"
    return f"{n / (1 << (10 * largest)):.1f} {UNITS[largest]}"


# A size as human_size writes it, in a sentence: a number, a space, a binary unit.
_SIZE = re.compile(r"\b(\d+(?:\.\d)?) ((?:[KMGTPE]i)?B)\b")


def unbroken(text: str) -> str:
    """``text`` with the space of each size in it (``8 MiB``) made a no-break space, for
    prose on a page: a phone's narrow column put the number at a line's end and its unit
    on the next (the crash words of a page ``roads explain`` writes)."""
    return _SIZE.sub("\\1\u00a0\\2", text)


@dataclass(frozen=True)
class Value:
    """A resolved value and the format it reads best in."""

    value: int | str | bool | None
    default: str  # one of FORMATS

    def format(self, fmt: str | None = None) -> str:
        """The value as text in ``fmt`` (default: its own)."""
        fmt = fmt or self.default
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
        v = self.value
        if v is None:
            return "none"
        if isinstance(v, str):
            if fmt != "text":
                raise ValueError(f"{v!r} is text, it has no {fmt} form")
            return v
        n = int(v)
        if fmt == "text":
            return str(n)
        if fmt == "hex":
            return f"{n:#x}" if n >= 0 else f"-{-n:#x}"
        if fmt == "human":
            return human_size(n)
        return str(n)


def hex_address(address: int) -> str:
    """An address as the site prints it: 12 hex digits for user space, 16 above;
    the end of the address space, one past the last byte, is "2^64"."""
    if address >= 1 << 64:
        return "2^64"
    return f"0x{address:012x}" if address < 1 << 48 else f"0x{address:016x}"
