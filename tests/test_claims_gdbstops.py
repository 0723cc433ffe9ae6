"""What "gdb sessions" says about the stops of its transcripts, split by
roads.figures.transcript.split_stops, and the map changes drawn between them."""

from __future__ import annotations

import re

from roads.figures import transcript as tr
from tests.claims_support import doc

CALL = re.compile(r"^  (brk|mmap|munmap)\((0x[0-9a-f]+), (0x[0-9a-f]+)\) = (0x[0-9a-f]+)   in (.*)$")


def stops(sample: str, variant: str = "default") -> list[tr.Stop]:
    return tr.split_stops(doc(sample)["variants"][variant]["gdb"]["transcript"])


def changes_at(all_stops: list[tr.Stop]) -> list[list[tr.MapChange]]:
    """For each stop with a map after the first one with a map: what changed."""
    tables = [s.maps for s in all_stops if s.maps is not None]
    return [tr.map_changes(a, b) for a, b in zip(tables, tables[1:])]


def test_starti_stops_first_main_exit():
    found = stops("starti")
    events = [s.event for s in found if s.command]
    assert events[0].startswith("Program stopped. ") and " in _start () from " in events[0]
    assert re.match(r"^Breakpoint \d+, main \(\) at ", events[1])
    assert re.match(r"^Breakpoint \d+, (__GI_)?exit \(", events[2])
    assert tr._EXITED.match(events[3]) and len(events) == 4
    assert [s.maps is not None for s in found] == [True, True, True, False]


def test_syscalls_exit_regions_from_calls():
    found = stops("starti-syscalls")
    assert found[1].silent and re.match(r"^Breakpoint \d+, (__GI_)?exit \(", found[1].event)
    (change,) = changes_at(found)
    answers = []
    for line in doc("starti-syscalls")["variants"]["default"]["gdb"]["transcript"].splitlines():
        m = CALL.match(line)
        if m:
            answers.append((m[1], int(m[4], 16)))
    mapped = {a for name, a in answers if name == "mmap"}
    first_break = next(a for name, a in answers if name == "brk")
    added = [c for c in change if c.word == "added"]
    assert added and all(c.word in ("added", "split") for c in change)
    for c in added:
        if c.name == "[heap]":
            assert c.after[0].start == first_break
        else:
            assert c.after[0].start in mapped, (c.name, hex(c.after[0].start))
