"""The heap as a strip of chunks: each chunk's header, size and flags, its state, and
the tcache's lists drawn as arrows.

A sample that wants this figure records, at a checkpoint, every chunk it allocated in
address order (``ROADS_ADDRESS``): ``chunk-KEY``, the address ``malloc`` returned, and
``size-KEY``, the word just before it (the chunk's size, flags in its low bits), where
KEY is a digit and a letter, ``0a`` for the block ``a[0]``. For a block it freed it
records the block's first word as ``LETTERDIGIT-link`` (``a0-link``): the tcache's
link to the next free chunk of that size, stored mangled (safe-linking, glibc 2.32
and later: ``stored = next ^ (&link >> PAGE_SHIFT)``); the figure decodes it. A block
the program got back from ``malloc`` later is one the sample recorded again after its
link, under another name (``again``): in use again. Nothing about a chunk's state is
typed: a chunk is free in the tcache when its link was recorded and nothing took it
back; the list heads are the free chunks no decoded link points to.

Chunks are ``2 * SIZE_SZ`` of header (``prev_size``, then the size word) and the block;
the size is the word without its flag bits (``PREV_INUSE``, ``IS_MMAPPED``,
``NON_MAIN_ARENA``, glibc's malloc/malloc.c). The heap's first chunk is the tcache's
own (``tcache_perthread_struct``: a count and a list head for each of
``TCACHE_MAX_BINS`` sizes) when the space before the first recorded chunk has its
size; the top chunk starts where the last recorded chunk ends and runs to the end of
``[heap]``.

``heap_strip`` reads a selection into a ``HeapStrip``; ``render_heap_strip`` draws it
as an inline SVG one phone column wide, high addresses on top as in the site's other
figures, each chunk's header at its lower edge, where the chunk starts. Pure: a selection in,
HTML out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from .. import constants
from ..errors import ConfigError
from . import hints
from .select import Selection
from .strip import Arrow, Lanes, draw_arrows, strip_svg

SIZE_SZ = constants.SIZE_SZ.value
HEADER = 2 * SIZE_SZ  # prev_size and the size word
FLAG_MASK = (1 << constants.CHUNK_FLAG_BITS.value) - 1  # glibc's SIZE_BITS
FLAGS = (("P", constants.PREV_INUSE.value, "PREV_INUSE: the chunk before is in use"),
         ("M", constants.IS_MMAPPED.value, "IS_MMAPPED: the chunk was mapped on its own"),
         ("A", constants.NON_MAIN_ARENA.value, "NON_MAIN_ARENA: the chunk is of a thread's arena"))
ALIGN = constants.MALLOC_ALIGNMENT.value
MIN_CHUNK = constants.MIN_CHUNK_SIZE.value
SHIFT = constants.PAGE_SHIFT.value
CHUNK = re.compile(r"^chunk-(\d)([a-z])$")

IN_USE, FREE, TOP, TCACHE, UNKNOWN = "in-use", "free", "top", "tcache", "unknown"


def request_to_chunk(n: int) -> int:
    """glibc's request2size: ``n`` bytes asked of malloc, the size of their chunk."""
    return max(MIN_CHUNK, (n + SIZE_SZ + ALIGN - 1) & ~(ALIGN - 1))


def tcache_chunk_size() -> int:
    """The chunk of ``tcache_perthread_struct``: its counts and its list heads."""
    bins = constants.TCACHE_MAX_BINS.value
    return request_to_chunk(bins * (constants.TCACHE_COUNT_BYTES.value + SIZE_SZ))


def tcache_index(size: int) -> int:
    """glibc's csize2tidx: the tcache list of chunks of ``size`` bytes."""
    return (size - MIN_CHUNK + ALIGN - 1) // ALIGN


def decode_link(stored: int, where: int) -> int:
    """Safe-linking undone: the link stored in the word at ``where``."""
    return stored ^ (where >> SHIFT)


@dataclass(frozen=True)
class Chunk:
    """One chunk: ``start`` (its header) to ``start + size``."""

    key: str  # "0a", "top", "tcache", "gap"
    label: str  # "a[0]", "top chunk"
    start: int
    size: int
    state: str  # IN_USE, FREE, TOP, TCACHE, UNKNOWN
    size_word: int | None = None  # as recorded; None when the capture does not hold it
    next: int | None = None  # a free chunk: the block its decoded link points to (0: none)
    stored: int | None = None  # a free chunk: its link as stored
    returned_as: str | None = None  # freed, then returned by malloc again: the record's name

    @property
    def block(self) -> int:
        return self.start + HEADER

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def flags(self) -> tuple[str, ...]:
        if self.size_word is None:
            return ()
        return tuple(name for name, bit, _ in FLAGS if self.size_word & bit)


@dataclass(frozen=True)
class HeapStrip:
    selection: Selection
    heap_start: int
    heap_end: int
    chunks: tuple[Chunk, ...]  # in address order, the top chunk last
    links: tuple[Arrow, ...]  # the word that links, in chunk source, to the block of target
    lists: tuple[tuple[int, tuple[str, ...]], ...]  # (chunk size, keys head first)

    def chunk(self, key: str) -> Chunk:
        for c in self.chunks:
            if c.key == key:
                return c
        raise KeyError(key)


def heap_strip(selection: Selection) -> HeapStrip:
    """The recorded chunks of the selected checkpoint; ConfigError when the sample did
    not record them, or when what it recorded is not a strip of chunks."""
    snap = selection.snapshot
    records = list(snap.addresses)
    rec = {a.name: a.value for a in records}
    order = {a.name: k for k, a in enumerate(records)}
    found = []
    for a in records:
        m = CHUNK.match(a.name)
        if m is None:
            continue
        digit, letter = m.groups()
        key = digit + letter
        if f"size-{key}" not in rec:
            raise ConfigError(f"{selection.describe()}: chunk-{key} is recorded without size-{key}",
                              sample=selection.sample)
        found.append((a.value, key, f"{letter}[{digit}]", f"{letter}{digit}"))
    if not found:
        raise ConfigError(f"{selection.describe()}: the heap strip needs the sample to record "
                          f"chunk-KEY and size-KEY with ROADS_ADDRESS (recorded: "
                          f"{', '.join(rec) or 'none'})", sample=selection.sample)
    found.sort()
    heap = snap.region_at(found[0][0])
    if heap is None:
        raise ConfigError(f"{selection.describe()}: chunk {found[0][0]:#x} is in no region",
                          sample=selection.sample)

    # Which blocks are free: their link was recorded, and no record made after it holds
    # the block's address under another name (what a later malloc returned).
    own_names = {}
    for block, key, _, name in found:
        own_names.setdefault(block, set()).update({name, f"chunk-{key}"})
    chunks: list[Chunk] = []
    for block, key, label, name in found:
        word = rec[f"size-{key}"]
        size = word & ~FLAG_MASK
        link = f"{name}-link"
        taken = [a.name for a in records if link in rec and a.value == block
                 and order[a.name] > order[link] and a.name not in own_names[block]]
        if link in rec and not taken:
            chunks.append(Chunk(key, label, block - HEADER, size, FREE, word,
                                decode_link(rec[link], block), rec[link]))
        else:
            chunks.append(Chunk(key, label, block - HEADER, size, IN_USE, word,
                                returned_as=taken[0] if taken else None))
    for here, after in zip(chunks, chunks[1:]):
        if here.end > after.start:
            raise ConfigError(f"{selection.describe()}: the chunk of {here.label} "
                              f"({here.start:#x}, {here.size} bytes) overlaps that of {after.label}",
                              sample=selection.sample)
        if here.end < after.start:
            raise ConfigError(f"{selection.describe()}: {after.start - here.end} bytes between "
                              f"the chunks of {here.label} and {after.label} were not recorded",
                              sample=selection.sample)
    last = chunks[-1]
    if not (heap.start <= chunks[0].start and last.end <= heap.end):
        raise ConfigError(f"{selection.describe()}: the chunks are not all in {heap.pathname or 'one region'}",
                          sample=selection.sample)
    before = chunks[0].start - heap.start
    out: list[Chunk] = []
    if before == tcache_chunk_size():
        out.append(Chunk("tcache", "glibc's tcache", heap.start, before, TCACHE))
    elif before:
        out.append(Chunk("gap", "not recorded", heap.start, before, UNKNOWN))
    out += chunks
    if last.end < heap.end:
        out.append(Chunk("top", "top chunk", last.end, heap.end - last.end, TOP))

    # The tcache's lists: each free chunk's decoded link names the next one of its size.
    free = {c.block: c for c in chunks if c.state == FREE}
    targets = set()
    for c in free.values():
        if c.next:
            nxt = free.get(c.next)
            if nxt is None or nxt.size != c.size:
                raise ConfigError(f"{selection.describe()}: the link of {c.label} decodes to "
                                  f"{c.next:#x}, no free chunk of its size", sample=selection.sample)
            targets.add(c.next)
    lists = []
    links: list[Arrow] = []
    for head in sorted((c for c in free.values() if c.block not in targets),
                       key=lambda c: (c.size, c.start)):
        keys, c = [], head
        while c is not None and c.key not in keys:
            keys.append(c.key)
            c = free.get(c.next) if c.next else None
        lists.append((head.size, tuple(keys)))
        if out[0].state == TCACHE:
            links.append(Arrow("tcache", head.key, f"entries[{tcache_index(head.size)}]"))
        for here, nxt in zip(keys, keys[1:]):
            links.append(Arrow(here, nxt, f"the link in {next(x.label for x in chunks if x.key == here)}"))
    return HeapStrip(selection, heap.start, heap.end, tuple(out), tuple(links), tuple(lists))


# --------------------------------------------------------------------------- drawing

VIEW_WIDTH = 360  # viewBox units: one CSS pixel each on a phone's column
ADDRESS_RIGHT = 88  # right edge of the address labels
BOX_LEFT, BOX_RIGHT = 92, 296
LANES = Lanes(box_right=BOX_RIGHT, first=306, step=13)
HEADER_H = 17  # the header band: prev_size and the size word
BODY_H = {TCACHE: 36, TOP: 44, UNKNOWN: 22}
BODY_MIN, BODY_PER_BYTE = 36, 1  # a chunk's body: two lines, one more unit a byte past the least
TOP_MARGIN, BOTTOM_MARGIN = 8, 10
STATE_WORDS = {IN_USE: "in use", FREE: "free", TOP: "top chunk", TCACHE: "allocator's own",
               UNKNOWN: "not recorded"}


def _bytes(n: int) -> str:
    return "1 byte" if n == 1 else f"{n:,} bytes"


def _body(c: Chunk) -> int:
    if c.state in BODY_H:
        return BODY_H[c.state]
    return BODY_MIN + BODY_PER_BYTE * max(0, c.size - MIN_CHUNK)


def _state_text(strip: HeapStrip, c: Chunk) -> str:
    if c.state == FREE:
        for size, keys in strip.lists:
            if c.key in keys:
                where = ("head" if keys[0] == c.key else
                         "last" if keys[-1] == c.key else f"{keys.index(c.key) + 1} of {len(keys)}")
                if len(keys) == 1:
                    where = "alone"
                return f"free: tcache list {tcache_index(size)}, {where}"
        return "free"
    if c.state == TCACHE:
        return "counts and list heads"
    if c.state == TOP:
        return "the rest, to the end of [heap]"
    if c.returned_as:
        return f"in use again, as “{c.returned_as}”"
    return STATE_WORDS[c.state]


def _title(c: Chunk) -> str:
    if c.state in (IN_USE, FREE):
        flags = " ".join(c.flags) or "no flags"
        return f"{c.label} · {c.size} bytes · {flags}"
    if c.state in (TCACHE, TOP):
        return f"{c.label} · {_bytes(c.size)}"
    return c.label


def _zigzag(y: float, left: float, right: float) -> str:
    """A torn edge along ``y``, its teeth above the line."""
    points, x, k = [], left, 0
    while x < right:
        points.append(f"{x:.0f},{y - (3 if k % 2 else 0):.0f}")
        x += 8
        k += 1
    points.append(f"{right:.0f},{y:.0f}")
    return " ".join(points)


def describe(strip: HeapStrip) -> str:
    """The figure in words, from the highest address down: the text alternative."""
    parts = []
    for c in reversed(strip.chunks):
        what = f"{c.label} at {c.start:#x}, {_bytes(c.size)}"
        if c.size_word is not None:
            what += f", size word {c.size_word:#x}" + (f" ({' '.join(c.flags)})" if c.flags else "")
        parts.append(f"{what}: {_state_text(strip, c)}")
    lists = "; ".join(f"list {tcache_index(size)} ({size}-byte chunks), head first: "
                      + ", ".join(strip.chunk(k).label for k in keys) for size, keys in strip.lists)
    return ("From the highest address of [heap] down: " + "; ".join(parts) + "."
            + (f" The tcache's lists, links decoded: {lists}." if lists else ""))


def _link_words(strip: HeapStrip, link: Arrow) -> str:
    """An arrow in words: "the link in a[1] points to the block of a[0] (0x5555555592a0)"."""
    target = strip.chunk(link.target)
    return f"{link.label} points to the block of {target.label} ({target.block:#x})"


# Where a chunk's tooltip shows without a mouse: each chunk takes the focus (readout.js
# makes them one Tab stop, the arrow keys going from chunk to chunk).
READOUT = hints.readout("Tab to the drawing, then the up and down arrow keys go from chunk "
                        "to chunk, or tap one: its addresses, its size word's flags and "
                        "where its link points show here.")


def render_heap_strip(strip: HeapStrip) -> str:
    """The figure: an inline SVG of ``strip`` in a ``<figure>`` with its caption."""
    parts: list[str] = []
    addr: list[str] = []
    rows: dict[str, float] = {}  # key: the line where its block starts (the header's top)
    y = float(TOP_MARGIN)
    half = (BOX_LEFT + BOX_RIGHT) / 2
    # High addresses on top: the end of [heap] first, each chunk's start at its lower edge.
    addr.append(f'<text x="{ADDRESS_RIGHT}" y="{y + 4:.1f}" text-anchor="end">{strip.heap_end:#x}</text>')
    for c in reversed(strip.chunks):
        body = _body(c)
        classes = f"roads-heap-chunk roads-heap-{c.state}"
        where = f"{c.start:#x}–{c.end:#x}, {_bytes(c.size)}"
        tip = f"{c.label}: {_state_text(strip, c)} ({where})"
        if c.size_word is not None:
            tip += f"; size word {c.size_word:#x}: " + (
                ", ".join(d for n, _, d in FLAGS if n in c.flags) or "no flag set")
        if c.next is not None:
            tip += (f"; link stored {c.stored:#x}, decoded {c.next:#x}" if c.next
                    else f"; link stored {c.stored:#x}, decoded: null, the end of the list")
        # What the arrows leaving it say: a keyboard reaches the chunk, not the arrow.
        tip += "".join(f"; {_link_words(strip, link)}" for link in strip.links
                       if link.source == c.key)
        size_text = f"size {c.size_word:#x}" if c.size_word is not None else "size"
        g = [f'<g class="{classes}" data-key="{escape(c.key)}" tabindex="0">'
             f'<title>{escape(tip)}</title>'
             f'<rect class="roads-heap-body" x="{BOX_LEFT}" y="{y:.0f}" '
             f'width="{BOX_RIGHT - BOX_LEFT}" height="{HEADER_H + body}"/>']
        if c.state != UNKNOWN:
            head = y + body  # the header band, at the chunk's start (its lower edge)
            rows[c.key] = head
            g.append(f'<text class="roads-heap-title" x="{BOX_LEFT + 6}" y="{y + 14:.0f}">'
                     f'{escape(_title(c))}</text>'
                     f'<text class="roads-heap-state" x="{BOX_LEFT + 6}" y="{y + 29:.0f}">'
                     f'{escape(_state_text(strip, c))}</text>')
            g.append(f'<rect class="roads-heap-header" x="{BOX_LEFT}" y="{head:.0f}" '
                     f'width="{half - BOX_LEFT:.0f}" height="{HEADER_H}"/>'
                     f'<rect class="roads-heap-header" x="{half:.0f}" y="{head:.0f}" '
                     f'width="{BOX_RIGHT - half:.0f}" height="{HEADER_H}"/>'
                     f'<text class="roads-heap-word" x="{BOX_LEFT + 5}" y="{head + 12:.0f}">prev_size</text>'
                     f'<text class="roads-heap-word" x="{half + 5:.0f}" y="{head + 12:.0f}">'
                     f'{escape(size_text)}</text>')
        else:
            g.append(f'<text class="roads-heap-state" x="{BOX_LEFT + 6}" y="{y + 15:.0f}">'
                     f'{escape(_bytes(c.size))} not recorded</text>')
        g.append("</g>")
        parts.append("".join(g))
        if c.state == TOP:
            # Not to scale: the top chunk's upper edge is torn.
            parts.append(f'<polyline class="roads-heap-tear" '
                         f'points="{_zigzag(y, BOX_LEFT, BOX_RIGHT)}"/>')
        y += HEADER_H + body
        addr.append(f'<text x="{ADDRESS_RIGHT}" y="{y + 4:.1f}" text-anchor="end">{c.start:#x}</text>')
    height = y + BOTTOM_MARGIN
    parts.insert(0, f'<g class="roads-heap-addr">{"".join(addr)}</g>')

    # The lists' arrows, each in its own lane right of the boxes, the shortest nearest:
    # from the word that holds the link (the block's first word, or the tcache's
    # entry) to the block it points to.
    def source_y(link: Arrow) -> float:
        block = rows[link.source]
        if link.source == "tcache":
            siblings = [k for k in strip.links if k.source == "tcache"]
            return block - 8 - 8 * siblings.index(link)
        return block - 8

    order = sorted(strip.links, key=lambda k: (abs(rows[k.target] - source_y(k)), k.target))
    parts.append(draw_arrows(LANES, "roads-heap-link", (
        (source_y(link), rows[link.target], _link_words(strip, link)) for link in order)))

    sel = strip.selection
    fid = f"roads-heap-{sel.slug}"
    short = (f"The heap of {sel.sample} at checkpoint {sel.checkpoint_name} as a strip of "
             f"chunks, from {strip.heap_start:#x}")
    svg = strip_svg("roads-heap", fid, VIEW_WIDTH, height, short, describe(strip), parts)
    caption = (f"The chunks of [heap] at checkpoint {sel.checkpoint_name}, high addresses on top, "
               f"each address at the start of its chunk, its lower edge. Each chunk begins with "
               f"its header, prev_size and the size word; the size is the word without its "
               f"{constants.CHUNK_FLAG_BITS.value} low bits, "
               f"the flags P (the chunk before is in use), M (mapped on its own) and A (not of "
               f"the main arena). Boxes are not to scale: each gives its size. A chunk's state "
               f"is written in it and coloured: in use, free in the tcache, the tcache's own "
               f"chunk, the top chunk. Arrows: the tcache's lists, from their heads in the "
               f"tcache to each next free chunk, the links decoded from safe-linking "
               f"(stored = next ^ (address of the link >> {SHIFT})).")
    return (f'<figure class="roads-picture roads-heap-figure" id="{fid}" data-search-exclude>\n'
            f"{svg}\n{READOUT}\n<figcaption>{escape(caption)}</figcaption>\n</figure>\n")
