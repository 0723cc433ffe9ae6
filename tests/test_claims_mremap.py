"""Claims of 'Moving a mapping with mremap' (docs/all-roads-to-memory/mremap.md)."""

import pytest

from roads.figures.select import select
from tests.claims_support import doc

# samples/mremap.c writes 'a' + i at the start of page i of its buffer.
PAGES = 4


def _range(snapshot, name):
    return next(r for r in snapshot.pagemap if r.name == name)


def test_mremap_moved():
    written = select(doc("mremap"), checkpoint="written").snapshot
    grown = select(doc("mremap"), checkpoint="grown").snapshot
    buffer = written.address("buffer")
    neighbour = written.region_at(written.address("neighbour"))
    # The page right after the buffer is taken, and inaccessible: no room to grow there.
    assert neighbour is not None and neighbour.start == _range(written, "buffer").start + \
        _range(written, "buffer").length and neighbour.perms == "---p"
    moved = grown.address("moved")
    assert moved != buffer
    assert grown.region_at(moved) is not None
    # Nothing at the old address: no region overlaps any of the buffer's old pages.
    old_end = buffer + _range(written, "buffer").length
    assert not any(r.start < old_end and buffer < r.end for r in grown.regions)


def test_mremap_same_frames():
    written = _range(select(doc("mremap"), checkpoint="written").snapshot, "buffer").pages
    grown = select(doc("mremap"), checkpoint="grown").snapshot
    old = _range(grown, "buffer").pages
    moved = _range(grown, "moved").pages
    assert len(written) == PAGES and all(p.present for p in written)
    assert not any(p.present for p in old)
    assert len(moved) == 2 * PAGES
    assert all(p.present for p in moved[:PAGES])
    assert not any(p.present for p in moved[PAGES:])
    if any(p.pfn is None for p in written + moved[:PAGES]):
        pytest.skip("the capture has no frame numbers (no CAP_SYS_ADMIN); the claim says so")
    assert [p.pfn for p in moved[:PAGES]] == [p.pfn for p in written]


def test_mremap_content():
    read = select(doc("mremap"), checkpoint="read").snapshot
    assert read.address("last-byte") == ord("a") + PAGES - 1
