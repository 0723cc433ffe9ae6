"""Command-line argument types the roads commands share."""

from __future__ import annotations

import argparse
import re

PID_MAX = (1 << 31) - 1  # the largest pid a pid_t holds (the kernel's limit is lower)


def count(highest: int):
    """An argparse type: a whole number from 1 to ``highest``, in decimal digits."""
    def parse(text: str) -> int:
        # ASCII digits alone: int() also takes "1_0", "+5", " 5" and other scripts'
        # digits ("\u0665"), which would name a process the user never typed.
        try:
            value = int(text) if text.isascii() and text.isdigit() else 0
        except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
            value = 0
        if not 1 <= value <= highest:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to "
                                             f"{highest} in decimal digits")
        return value
    return parse


# Seconds as a person types them: digits, with a decimal point or not (float() also
# takes "1_0", " 5", "1e3", "inf" and other scripts' digits).
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def seconds(highest: float, *, above_zero: bool = False):
    """An argparse type: a number of seconds in decimal digits, from 0 (or more than 0,
    with ``above_zero``) to ``highest``."""
    def parse(text: str) -> float:
        value = float(text) if _DECIMAL.fullmatch(text) else -1.0
        if not (0 < value if above_zero else 0 <= value) or value > highest:
            bounds = (f"more than 0 and at most {highest:g}" if above_zero
                      else f"from 0 to {highest:g}")
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds {bounds}, "
                                             "in decimal digits")
        return value
    return parse
