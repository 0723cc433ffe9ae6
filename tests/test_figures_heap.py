"""The heap as a strip of chunks (roads.figures.heapview) on the real capture of heapbins.

The strip is read from the sample's records only; gdb's transcript of the same stop is
the independent witness: its tcache counts and list heads, and main_arena.top, must be
what the figure derives. The render is byte-stable, states are written and not only
coloured, and a sample that records no chunks gets an error that says what to record.
"""

from __future__ import annotations

import copy
import re

import pytest

from roads import constants as c
from roads.errors import ConfigError
from roads.figures import heapview
from roads.figures.select import select
from tests.claims_support import committed
from tests.test_claims_libc import said, words

SIZE_SZ = c.SIZE_SZ.value
ORDER = [f"{i}{k}" for i in range(4) for k in "ab"]


def strip(checkpoint: str, document: dict | None = None) -> heapview.HeapStrip:
    return heapview.heap_strip(select(document or committed("heapbins"), checkpoint=checkpoint))


def gdb_value(command: str, nth: int = 0) -> str:
    return said("heapbins", "default", command, nth).split("=", 1)[1].strip()


def test_chunks_in_address_order_with_sizes_flags_and_states():
    s = strip("freed")
    keys = [ch.key for ch in s.chunks]
    assert keys == ["tcache", *ORDER, "top"]
    starts = [ch.start for ch in s.chunks]
    assert starts == sorted(starts) and starts[0] == s.heap_start
    for here, after in zip(s.chunks, s.chunks[1:]):
        assert here.end == after.start  # back to back, the top chunk right after the last
    assert s.chunks[-1].end == s.heap_end
    snap = select(committed("heapbins"), checkpoint="freed").snapshot
    for key in ORDER:
        ch = s.chunk(key)
        assert ch.block == snap.address(f"chunk-{key}")
        assert ch.size_word == snap.address(f"size-{key}")
        assert ch.size == (4 if key.endswith("a") else 6) * SIZE_SZ
        assert ch.flags == ("P",)  # PREV_INUSE, and neither IS_MMAPPED nor NON_MAIN_ARENA
    free = {ch.key for ch in s.chunks if ch.state == heapview.FREE}
    assert free == {"0a", "1a", "2a", "1b"}  # what heapbins.c frees
    assert {ch.key for ch in s.chunks if ch.state == heapview.IN_USE} == set(ORDER) - free


def test_flags_decoded_from_the_named_bits():
    word = 0x30 | c.PREV_INUSE.value | c.NON_MAIN_ARENA.value
    ch = heapview.Chunk("x", "x", 0, word & ~7, heapview.IN_USE, word)
    assert ch.flags == ("P", "A")
    word = 0x30 | c.IS_MMAPPED.value
    assert heapview.Chunk("x", "x", 0, 0x30, heapview.IN_USE, word).flags == ("M",)


def test_links_decoded_arrows_from_the_head_against_gdb():
    s = strip("freed")
    assert dict(s.lists) == {4 * SIZE_SZ: ("2a", "1a", "0a"), 6 * SIZE_SZ: ("1b",)}
    arrows = [(k.source, k.target) for k in s.links]
    assert arrows == [("tcache", "2a"), ("2a", "1a"), ("1a", "0a"), ("tcache", "1b")]
    # gdb, at the same stop: the heads and the counts of the tcache's first two lists.
    assert int(gdb_value("p/x tcache->entries[0]"), 16) == s.chunk("2a").block
    assert int(gdb_value("p/x tcache->entries[1]"), 16) == s.chunk("1b").block
    assert int(gdb_value("p tcache->counts[0]")) == 3 and int(gdb_value("p tcache->counts[1]")) == 1
    assert heapview.tcache_index(s.chunk("2a").size) == 0
    assert heapview.tcache_index(s.chunk("1b").size) == 1
    # The decoded link of a[2] is what gdb decoded.
    assert int(gdb_value("p/x *(long *)a[2] ^ ((long)a[2] >> 12)"), 16) == s.chunk("2a").next
    assert s.chunk("0a").next == 0


def test_top_chunk_is_main_arena_top():
    s = strip("freed")
    top = s.chunks[-1]
    assert top.state == heapview.TOP
    assert top.start == int(gdb_value("p/x main_arena.top"), 16)
    size_word = words(said("heapbins", "default", "x/2gx main_arena.top"))[1]
    assert top.size == size_word & ~((1 << c.CHUNK_FLAG_BITS.value) - 1)


def test_reuse_takes_the_head():
    s = strip("reused")
    assert s.chunk("2a").state == heapview.IN_USE and s.chunk("2a").returned_as == "again"
    assert "in use again, as “again”" in heapview.describe(s)
    assert dict(s.lists)[4 * SIZE_SZ] == ("1a", "0a")
    assert int(gdb_value("p tcache->counts[0]", 1)) == len(dict(s.lists)[4 * SIZE_SZ])


def test_render_is_byte_stable_and_writes_states():
    html = heapview.render_heap_strip(strip("freed"))
    assert html == heapview.render_heap_strip(strip("freed"))
    assert html.count('class="roads-heap-chunk roads-heap-free"') == 4
    assert html.count('class="roads-heap-chunk roads-heap-in-use"') == 4
    # The state in words in each chunk, not only its colour.
    states = re.findall(r'class="roads-heap-state"[^>]*>([^<]*)<', html)
    assert states.count("in use") == 4 and sum(t.startswith("free: tcache") for t in states) == 4
    assert "safe-linking" in html and "0x21" in html
    assert 'role="img"' in html and "<desc " in html
    assert html.count('class="roads-heap-link"') == 4
    # One phone column wide.
    assert f'viewBox="0 0 {heapview.VIEW_WIDTH} ' in html and heapview.VIEW_WIDTH <= 360


def test_no_chunks_recorded_says_what_to_record():
    doc = copy.deepcopy(committed("heapbins"))
    for point in doc["variants"]["default"]["runs"][0]["checkpoints"]:
        point["addresses"] = [a for a in point["addresses"] if not a["name"].startswith("chunk-")]
    with pytest.raises(ConfigError, match="chunk-KEY and size-KEY"):
        strip("freed", doc)


def test_a_link_to_nowhere_is_an_error():
    doc = copy.deepcopy(committed("heapbins"))
    point = [p for p in doc["variants"]["default"]["runs"][0]["checkpoints"] if p["name"] == "freed"][0]
    for a in point["addresses"]:
        if a["name"] == "a2-link":
            a["value"] ^= 0x1000
    with pytest.raises(ConfigError, match="no free chunk of its size"):
        strip("freed", doc)


def test_every_address_in_the_figure_comes_from_the_capture():
    """Each hexadecimal number drawn is a recorded value, the [heap] region's bounds, or
    what the figure derives from them: a chunk's start and end (a header before a
    recorded block, plus its size word's size) and a decoded link."""
    s = strip("freed")
    snap = select(committed("heapbins"), checkpoint="freed").snapshot
    known = {a.value for a in snap.addresses} | {s.heap_start, s.heap_end}
    known |= {x for ch in s.chunks for x in (ch.start, ch.end, ch.block)}
    known |= {ch.next for ch in s.chunks if ch.next}
    drawn = {int(h, 16) for h in re.findall(r"0x[0-9a-f]+", heapview.render_heap_strip(s))}
    assert drawn and drawn <= known, {f"{x:#x}" for x in drawn - known}
