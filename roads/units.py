"""Sizes in binary units, as the tables and figures print them."""

from __future__ import annotations

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


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
