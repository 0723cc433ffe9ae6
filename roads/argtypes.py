"""Command-line argument types the roads commands share."""

from __future__ import annotations

import argparse

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
