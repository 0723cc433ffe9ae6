"""What "Dynamic memory allocation" says about its captures beyond the first claims
(those are in test_claims_series_b.py): the exact sizes glibc's allocator asks the
kernel for, what a chunk header holds, when the mmap threshold is consulted at all,
a static program's heap, and the sizes of thread stacks and arenas.

Sizes are checked exactly, from the captured requests, headers and breaks and the
named constants of roads.constants (glibc's defaults), never from typed numbers.
"""

from __future__ import annotations

import re

from roads import constants as c
from tests.claims_support import doc, gcc_option_states
from tests.test_claims_series_b import exe_regions, heap, region, snap


PAGE = c.PAGE_SIZE.value
SIZE_SZ = c.SIZE_SZ.value
ALIGN = c.MALLOC_ALIGNMENT.value
FLAGS = (1 << c.CHUNK_FLAG_BITS.value) - 1


# --------------------------------------------------------------------------- helpers


def align_up(n: int, to: int) -> int:
    return -(-n // to) * to


def chunk_for(request: int) -> int:
    """The chunk malloc makes for ``request`` bytes (request2size in malloc.c): the
    request and the size word, rounded up to the alignment, at least a minimal chunk."""
    return max(align_up(request + SIZE_SZ, ALIGN), c.MIN_CHUNK_SIZE.value)


def size_of(header: int) -> int:
    return header & ~FLAGS


def flags_of(header: int) -> int:
    return header & FLAGS


def th(checkpoint: str):
    return snap("threshold", checkpoint)


def request(name: str) -> int:
    return th("after-200k").address(f"request-{name}")


def top_left(s, last_block: str, last_header: str) -> int:
    """Free bytes at the top of [heap] after the chunk of block ``last_block``."""
    end_of_chunk = s.address(last_block) - 2 * SIZE_SZ + size_of(s.address(last_header))
    return heap(s).end - end_of_chunk


# --------------------------------------------------------------------------- brk


def test_brk_first_chunk_is_tcache():
    s = snap("brk", "after-first-malloc")
    first_chunk = s.address("first-malloc") - 2 * SIZE_SZ - heap(s).start
    header = s.address("tcache-header")
    assert first_chunk > 0
    assert size_of(header) == first_chunk
    assert flags_of(header) == c.PREV_INUSE.value
    # tcache_perthread_struct: a count and a list head for each of the tcache's sizes.
    table = c.TCACHE_MAX_BINS.value * (c.TCACHE_COUNT_BYTES.value + SIZE_SZ)
    assert size_of(header) == chunk_for(table)


def test_brk_first_heap_composition():
    s = snap("brk", "after-first-malloc")
    h = heap(s)
    first_chunk = size_of(s.address("tcache-header"))
    assert h.size == align_up(first_chunk + c.M_TOP_PAD_DEFAULT.value + c.MIN_CHUNK_SIZE.value, PAGE)


def test_brk_minimal_chunk():
    s = snap("brk", "after-first-malloc")
    asked, header = s.address("first-request"), s.address("first-malloc-header")
    assert size_of(header) == chunk_for(asked) == c.MIN_CHUNK_SIZE.value
    assert flags_of(header) == c.PREV_INUSE.value


def test_brk_prev_size_overlap():
    s = snap("brk", "after-growth-1")
    first, asked = s.address("first-malloc"), s.address("first-request")
    next_block = s.address("first-block")
    assert next_block - first == size_of(s.address("first-malloc-header"))
    next_chunk = next_block - 2 * SIZE_SZ  # its prev_size word starts here
    assert next_chunk + SIZE_SZ == first + asked  # ... and is the block's last word


def test_brk_step_pad_plus_page():
    s = snap("brk", "after-growth-2")
    breaks = [s.address(n) for n in ("brk-after-first-malloc", "brk-after-growth-1",
                                     "brk-after-growth-2")]
    steps = {b - a for a, b in zip(breaks, breaks[1:])}
    assert steps == {c.M_TOP_PAD_DEFAULT.value + PAGE}
    assert chunk_for(s.address("block-request")) + c.MIN_CHUNK_SIZE.value <= PAGE


def test_brk_static_heap_before_main():
    s = snap("brk", "before-malloc", variant="static")
    h = heap(s)
    assert h is not None and h.size > 0
    assert s.address("brk-before") == h.end
    assert heap(snap("brk", "before-malloc")) is None  # the dynamic build has none yet


def test_brk_static_tls_in_heap():
    static = snap("brk", "before-malloc", variant="static")
    assert static.address("tcb") in heap(static)
    assert static.address("tcb") - heap(static).start < PAGE
    dynamic = snap("brk", "before-malloc")
    r = region(dynamic, dynamic.address("tcb"))
    assert r.anonymous and r.pathname == "" and r.perms == "rw-p"


def test_brk_static_first_malloc_no_brk():
    s = snap("brk", "after-first-malloc", variant="static")
    assert s.address("brk-after-first-malloc") == s.address("brk-before")
    assert s.address("first-malloc") in heap(s)


# --------------------------------------------------------------------------- threshold


def test_threshold_200k_top_too_small():
    s = th("after-100k")
    left = top_left(s, "block-100k", "chunk-size-100k")
    assert 0 < left < chunk_for(request("200k")) + c.MIN_CHUNK_SIZE.value


def test_threshold_200k_pointer_after_header():
    s = th("after-200k")
    block = s.address("block-200k")
    assert block % PAGE == 2 * SIZE_SZ
    assert region(s, block - 2 * SIZE_SZ) is region(s, block)


def test_threshold_second_request_below_raised():
    raised = size_of(th("after-200k").address("chunk-size-200k"))
    needed = chunk_for(request("200k"))
    assert c.MMAP_THRESHOLD_DEFAULT.value <= needed < raised
    assert size_of(th("after-200k-again").address("chunk-size-200k-again")) == needed


def test_threshold_again_step_exact():
    before, after = th("after-free"), th("after-200k-again")
    left = top_left(before, "block-100k", "chunk-size-100k")
    # The second block was cut where the top chunk began.
    assert after.address("block-200k-again") - 2 * SIZE_SZ == heap(before).end - left
    step = heap(after).end - heap(before).end
    needed = size_of(after.address("chunk-size-200k-again"))
    assert step == align_up(needed + c.M_TOP_PAD_DEFAULT.value + c.MIN_CHUNK_SIZE.value - left, PAGE)


def test_threshold_free_keeps_heap():
    before, after = th("after-200k-again"), th("after-frees")
    assert (heap(after).start, heap(after).end) == (heap(before).start, heap(before).end)
    assert after.region_at(before.address("block-200k-again")) is not None


def test_threshold_freed_chunks_merged():
    s = th("after-200k-again")
    first = size_of(s.address("chunk-size-100k"))
    second = size_of(s.address("chunk-size-200k-again"))
    # Neighbours: the second chunk starts where the first ends.
    assert s.address("block-100k") + first == s.address("block-200k-again")
    needed = chunk_for(request("256k"))
    assert needed > first and needed > second
    assert needed <= first + second


def test_threshold_256k_from_free_chunk():
    before, s = th("after-frees"), th("after-256k")
    block, header = s.address("block-256k"), s.address("chunk-size-256k")
    assert block == s.address("block-100k")
    assert block in heap(s)
    assert heap(s).end == heap(before).end
    assert not header & c.IS_MMAPPED.value
    assert size_of(header) == chunk_for(request("256k"))
    raised = size_of(s.address("chunk-size-200k"))
    assert size_of(header) > raised > c.MMAP_THRESHOLD_DEFAULT.value


# --------------------------------------------------------------------------- threads


def test_threads_stack_size_rlimit():
    s = snap("threads", "both-threads")
    limit = doc("threads")["provenance"]["stack_rlimit"]
    expected = c.THREAD_STACK_UNLIMITED.value if limit is None else align_up(limit, PAGE)
    for n in (1, 2):
        stack = region(s, s.address(f"thread-{n}-local"))
        assert stack.size == expected


def test_threads_arena_rw_part():
    s = snap("threads", "both-threads")
    # The thread's tcache, the request that made its arena, is a chunk of the size the
    # brk capture shows for the main thread's.
    tcache = snap("brk", "after-first-malloc").address("tcache-header") & ~7
    for n in (1, 2):
        used = region(s, s.address(f"thread-{n}-malloc"))
        assert used.size % PAGE == 0
        assert c.M_TOP_PAD_DEFAULT.value + tcache < used.size <= c.M_TOP_PAD_DEFAULT.value + PAGE


# --------------------------------------------------------------------------- stackgrow


def main_stack(checkpoint: str):
    s = snap("stackgrow", checkpoint)
    (r,) = [r for r in s.regions if r.pathname == "[stack]"]
    return r


def test_stackgrow_kept_size_and_pages():
    deepest, back = main_stack("depth-64"), main_stack("returned")
    assert (back.start, back.end) == (deepest.start, deepest.end)
    assert back.rss() == deepest.rss()
    assert back.rss() > main_stack("start").rss()


# --------------------------------------------------------------------------- the compiler


def test_gcc_no_stack_clash_protection():
    """The captured gcc is Debian's gcc 12; when it is also this machine's gcc, ask it."""
    captured = doc("threads")["provenance"]["gcc"]
    assert re.search(r"\(Debian [^)]*\) 12\.", captured), captured
    states = gcc_option_states(captured)
    if states is not None:
        assert states["-fstack-clash-protection"] == "[disabled]"
