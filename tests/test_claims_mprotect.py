"""Claims of 'Changing a mapping's permissions with mprotect'
(docs/all-roads-to-memory/mprotect.md)."""

import pytest

from roads.figures.select import select
from tests.claims_support import doc

# samples/mprotect.c: a buffer of PAGES written pages, its pages but the first and the
# last made read-only, then readable and writable again.
PAGES = 4


def _at(checkpoint):
    return select(doc("mprotect"), checkpoint=checkpoint).snapshot


def _buffer(snapshot):
    return next(r for r in snapshot.pagemap if r.name == "buffer")


def _lines(snapshot):
    """The regions the buffer's pages are in, first to last, each once."""
    found = []
    for page in _buffer(snapshot).pages:
        region = snapshot.region_at(page.vaddr)
        assert region is not None
        if region not in found:
            found.append(region)
    return found


def _alone(snapshot, region):
    """The buffer's line is its own: it begins and ends with the buffer."""
    buffer = _buffer(snapshot)
    return region.start == buffer.start and region.end == buffer.start + buffer.length


def _one_line(snapshot):
    """The buffer's line where it has a single one, its own: rw-p, from the buffer's
    start to its end."""
    lines = _lines(snapshot)
    assert len(lines) == 1
    line = lines[0]
    assert line.perms == "rw-p" and _alone(snapshot, line)
    return line


def _others(snapshot, lines):
    """The snapshot's regions but ``lines``, as (start, end, perms)."""
    return {(r.start, r.end, r.perms) for r in snapshot.regions if r not in lines}


def test_mprotect_splits_in_three():
    mapped, protected = _at("mapped"), _at("protected")
    # Before: one line, the buffer's own.
    before = _one_line(mapped)
    # After: three lines, cut where the read-only pages begin and where they end.
    lines = _lines(protected)
    assert len(lines) == 3
    first, middle, last = lines
    assert first.start == protected.address("buffer")
    assert first.end == middle.start == protected.address("middle")
    assert middle.end == last.start == protected.address("last")
    assert last.end == _buffer(protected).start + _buffer(protected).length
    assert (first.perms, middle.perms, last.perms) == ("rw-p", "r--p", "rw-p")
    # Two lines more in all, and nothing else changed.
    assert len(protected.regions) == len(mapped.regions) + 2
    assert _others(mapped, [before]) == _others(protected, [first, middle, last])


def test_mprotect_same_frames():
    before = _buffer(_at("mapped")).pages
    after = _buffer(_at("protected")).pages
    assert len(before) == len(after) == PAGES
    assert all(p.present for p in before) and all(p.present for p in after)
    if any(p.pfn is None for p in before + after):
        pytest.skip("the capture has no frame numbers (no CAP_SYS_ADMIN); the claim says so")
    assert [p.pfn for p in after] == [p.pfn for p in before]


def test_mprotect_joined_again():
    mapped, restored = _at("mapped"), _at("restored")
    _one_line(restored)
    assert len(restored.regions) == len(mapped.regions)
