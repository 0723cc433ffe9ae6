"""Mutations of captures for the claims of docs/all-roads-to-memory/processes.md that
a plain set or add cannot express (see roads.words.claims)."""

from __future__ import annotations


def main_in_backtrace(gdb: dict) -> None:
    """Put ``main`` back into the backtrace at ``exit``, where the C library's frame was."""
    text = gdb["transcript"]
    assert "in __libc_start_call_main (" in text
    gdb["transcript"] = text.replace("in __libc_start_call_main (", "in main (", 1)


def first_stop_in_program(gdb: dict) -> None:
    """Have ``starti`` stop in a ``_start`` of the program instead of the loader's."""
    text = gdb["transcript"]
    marker = "in _start () from "
    at = text.index(marker) + len(marker)
    end = text.index("\n", at)
    gdb["transcript"] = text[:at] + "/build/starti" + text[end:]
