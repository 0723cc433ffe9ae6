"""Mutations for the claims of "Giving memory back with madvise" that a plain ``set``
cannot make: the buffer's line of the map is found by the address the sample recorded,
not by an address written here, which another capture would move.

Each function receives one checkpoint of the madvise capture and changes the buffer's
line in place, as another kernel could have shown it.
"""

from __future__ import annotations


def _buffer_line(checkpoint: dict) -> dict:
    buffer = next(a["value"] for a in checkpoint["addresses"] if a["name"] == "buffer")
    (line,) = [r for r in checkpoint["regions"] if r["start"] <= buffer < r["end"]]
    return line


def buffer_read_only(checkpoint: dict) -> None:
    """The buffer's line with other permissions, as if the call had changed the VMA."""
    _buffer_line(checkpoint)["perms"] = "r--p"


def lazyfree_none(checkpoint: dict) -> None:
    """smaps counting no page of the buffer as LazyFree."""
    _buffer_line(checkpoint)["kb"]["LazyFree"] = 0


def lazyfree_one(checkpoint: dict) -> None:
    """smaps counting one freed page as LazyFree, as if the read had taken its page back."""
    line = _buffer_line(checkpoint)
    line["kb"]["LazyFree"] = line["kb"]["KernelPageSize"]


def lazyfree_both(checkpoint: dict) -> None:
    """smaps still counting both freed pages as LazyFree, the written one too."""
    line = _buffer_line(checkpoint)
    line["kb"]["LazyFree"] = 2 * line["kb"]["KernelPageSize"]
