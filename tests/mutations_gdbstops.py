"""Mutations of gdb transcripts for the claims about their stops (tests/claims.toml)."""

from __future__ import annotations


def _replace(record: dict, old: str, new: str) -> None:
    text = record["transcript"]
    if old not in text:
        raise ValueError(f"{old!r} not in the transcript")
    record["transcript"] = text.replace(old, new, 1)


def no_main_stop(record: dict) -> None:
    """The breakpoint at main reported somewhere else."""
    _replace(record, "Breakpoint 1, main ()", "Breakpoint 1, start_main ()")


def libc_bss_not_mapped(record: dict) -> None:
    """The mmap that made libc's zero-filled end answered with another address."""
    _replace(record, ") = 0x7ffff7faa000 ", ") = 0x7ffff7fab000 ")
