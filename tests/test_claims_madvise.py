"""Claims of 'Giving memory back with madvise'
(docs/all-roads-to-memory/madvise.md)."""

import pytest

from roads.figures.select import select
from tests.claims_support import doc

# samples/madvise.c: a buffer of PAGES pages, each written with 'x'; pages DONTNEED and
# DONTNEED + 1 given back with MADV_DONTNEED, then the first read and the second written
# ('y'); pages FREE and FREE + 1 given with MADV_FREE, then the first read (checkpoint
# 'peeked') and the second written ('z', checkpoint 'rewritten').
PAGES = 6
DONTNEED = 2
FREE = 4
KIB = 1024


def _at(checkpoint):
    return select(doc("madvise"), checkpoint=checkpoint).snapshot


def _pages(snapshot):
    return next(r for r in snapshot.pagemap if r.name == "buffer").pages


def _line(snapshot):
    """The buffer's line of the map, which must be its own: from its first page to
    the end of its last, and holding no other page."""
    buffer = next(r for r in snapshot.pagemap if r.name == "buffer")
    line = snapshot.region_at(buffer.start)
    assert line is not None
    assert (line.start, line.end) == (buffer.start, buffer.start + buffer.length)
    assert line.perms == "rw-p" and line.pathname == ""
    return line


def _page_size():
    return _pages(_at("touched"))[1].vaddr - _pages(_at("touched"))[0].vaddr


def _frames_known(*pages):
    return all(p.pfn is not None for p in pages if p.present)


def test_madvise_touched():
    touched = _at("touched")
    line = _line(touched)
    pages = _pages(touched)
    assert len(pages) == PAGES and all(p.present and p.exclusive for p in pages)
    assert line.rss() == line.counter("Anonymous") == PAGES * _page_size()
    assert line.counter("LazyFree") == 0


def test_madvise_dontneed_line_kept():
    touched, dropped = _at("touched"), _at("dropped")
    before, after = _line(touched), _line(dropped)
    assert (before.start, before.end, before.perms) == (after.start, after.end, after.perms)
    assert before.vmflags == after.vmflags
    assert [(r.start, r.end, r.perms) for r in touched.regions] == \
        [(r.start, r.end, r.perms) for r in dropped.regions]


def test_madvise_dontneed_pages_gone():
    touched, dropped = _at("touched"), _at("dropped")
    before, after = _pages(touched), _pages(dropped)
    gone = range(DONTNEED, DONTNEED + 2)
    assert not any(after[i].present for i in gone)
    assert all(after[i].present for i in range(PAGES) if i not in gone)
    assert _line(touched).rss() - _line(dropped).rss() == len(gone) * _page_size()
    assert _line(dropped).counter("Anonymous") == _line(dropped).rss()
    if _frames_known(*before, *after):
        # The pages kept are in the frames they had.
        assert all(after[i].pfn == before[i].pfn for i in range(PAGES) if i not in gone)


def test_madvise_dontneed_zero_page():
    dropped, reread = _at("dropped"), _at("reread")
    assert reread.address("dropped-read") == 0
    page = _pages(reread)[DONTNEED]
    # Present, but not this process's alone, and not counted in Rss: the zero page.
    assert page.present and not page.exclusive
    counted = sum(1 for p in _pages(reread) if p.present and p.exclusive)
    assert _line(reread).rss() == counted * _page_size()
    assert _line(reread).rss() == _line(dropped).rss() + _page_size()


def test_madvise_dontneed_fresh_page():
    touched, reread = _at("touched"), _at("reread")
    assert reread.address("rewritten-next") == 0
    before, after = _pages(touched)[DONTNEED + 1], _pages(reread)[DONTNEED + 1]
    assert after.present and after.exclusive
    if not _frames_known(before, after):
        pytest.skip("the capture has no frame numbers (no CAP_SYS_ADMIN); the claim says so")
    # The page the program wrote has a frame of its own, not the zero page.
    assert after.pfn != _pages(reread)[DONTNEED].pfn


def test_madvise_free_kept():
    reread, freed = _at("reread"), _at("freed")
    before, after = _pages(reread), _pages(freed)
    assert all(p.present for p in after[FREE:FREE + 2])
    assert [p.present for p in after] == [p.present for p in before]
    assert _line(freed).rss() == _line(reread).rss()
    assert _line(freed).counter("Anonymous") == _line(reread).counter("Anonymous")
    assert [(r.start, r.end, r.perms) for r in reread.regions] == \
        [(r.start, r.end, r.perms) for r in freed.regions]
    if _frames_known(*before, *after):
        assert [p.pfn for p in after] == [p.pfn for p in before]


def test_madvise_free_lazyfree():
    reread, freed = _at("reread"), _at("freed")
    assert _line(reread).counter("LazyFree") == 0
    assert _line(freed).counter("LazyFree") == 2 * _page_size()
    # Made clean: moved from Private_Dirty to Private_Clean.
    moved = _line(reread).counter("Private_Dirty") - _line(freed).counter("Private_Dirty")
    assert moved == 2 * _page_size()
    assert _line(freed).counter("Private_Clean") - _line(reread).counter("Private_Clean") == moved


def test_madvise_free_read_kept():
    freed, peeked = _at("freed"), _at("peeked")
    # The page only read kept its bytes, and both pages their place in LazyFree.
    assert peeked.address("freed-read") == ord("x")
    assert _line(peeked).counter("LazyFree") == _line(freed).counter("LazyFree") == 2 * _page_size()
    assert _line(peeked).rss() == _line(freed).rss()
    before, after = _pages(freed)[FREE:FREE + 2], _pages(peeked)[FREE:FREE + 2]
    assert all(p.present and p.exclusive for p in after)
    if _frames_known(*before, *after):
        assert [p.pfn for p in after] == [p.pfn for p in before]


def test_madvise_free_write_cancels():
    freed, peeked, rewritten = _at("freed"), _at("peeked"), _at("rewritten")
    # LazyFree lost one page at the write, having kept both through the read: the one
    # still counted is the page read.
    assert _line(peeked).counter("LazyFree") == 2 * _page_size()
    assert _line(rewritten).counter("LazyFree") == _page_size()
    assert _line(rewritten).rss() == _line(freed).rss()
    before, after = _pages(freed)[FREE:FREE + 2], _pages(rewritten)[FREE:FREE + 2]
    assert all(p.present and p.exclusive for p in after)
    if _frames_known(*before, *after):
        assert [p.pfn for p in after] == [p.pfn for p in before]
