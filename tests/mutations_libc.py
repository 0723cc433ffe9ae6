"""Mutations of the gdb transcripts of "Inside the C library" (tests/claims.toml names
them with ``call = "mutations_libc:NAME"``). Each receives a variant's ``gdb`` record
and changes what gdb printed for one command, so that one claim turns false."""

from __future__ import annotations


def _edit(record: dict, command: str, old: str, new: str, nth: int = 0) -> None:
    """Replace ``old`` by ``new`` in the output of the ``nth`` run of ``command``."""
    lines = record["transcript"].split("\n")
    seen, inside = -1, False
    for i, line in enumerate(lines):
        if line.startswith("+"):
            inside = line[1:] == command and (seen := seen + 1) == nth
        elif inside and old in line:
            lines[i] = line.replace(old, new, 1)
            record["transcript"] = "\n".join(lines)
            return
    # Not an AssertionError: the harness would take it for the claim test failing.
    raise ValueError(f"no {old!r} in the output of {command!r} #{nth}")


def _slot_words(record: dict) -> list[str]:
    lines = record["transcript"].split("\n")
    return [lines[i + 1].split()[-1] for i, line in enumerate(lines)
            if line == "+x/gx &'puts@got.plt'"]


def slot_in_got(record: dict) -> None:
    _edit(record, "info symbol &'puts@got.plt'", "section .got.plt of", "section .got of")


def slot_resolved_at_main(record: dict) -> None:
    before, after = _slot_words(record)[:2]
    _edit(record, "x/gx &'puts@got.plt'", before, after, 0)


def slot_unchanged_by_call(record: dict) -> None:
    before, after = _slot_words(record)[:2]
    _edit(record, "x/gx &'puts@got.plt'", after, before, 1)


def resolver_elsewhere(record: dict) -> None:
    _edit(record, "info symbol ((long *)$got)[2]", "_dl_runtime_resolve", "_dl_fixup_")


def now_slot_unresolved(record: dict) -> None:
    _edit(record, "info symbol *(long *)&'puts@got.plt'", "puts in section .text",
          "puts@plt + 6 in section .plt", 0)


def prev_size_zero(record: dict) -> None:
    _edit(record, "x/2gx (long)b[0] - 16", "0x6161616161616161", "0x0000000000000000")


def tcache_count_off(record: dict) -> None:
    _edit(record, "p tcache->counts[0]", "= 3", "= 2")


def top_size_off(record: dict) -> None:
    lines = record["transcript"].split("\n")
    at = lines.index("+x/2gx main_arena.top") + 1
    size = lines[at].split()[-1]
    _edit(record, "x/2gx main_arena.top", size, f"{int(size, 16) + 0x1000:#018x}")


def argc_two(record: dict) -> None:
    _edit(record, "x/4gx $sp", "0x0000000000000001", "0x0000000000000002")


def no_loader_maps(record: dict) -> None:
    text = record["transcript"]
    changed = text.replace("_dl_map_segments", "_dl_other")
    if changed == text:
        raise ValueError("no _dl_map_segments in the transcript")
    record["transcript"] = changed
