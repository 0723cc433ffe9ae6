"""The top of the stack, drawn: what ``execve`` leaves above ``main``'s frame.

From high addresses down (``fs/exec.c`` copies the strings, ``create_elf_tables``
in ``fs/binfmt_elf.c`` writes the rest): the path given to ``execve``, the
environment strings, the argument strings, the platform name and the random bytes
of ``AT_RANDOM``, the auxiliary vector, the ``envp`` and ``argv`` arrays of
pointers, and ``argc``, where the first instruction's stack pointer points; far
below, the frames of the start-up code and of ``main``.

Every position comes from the capture: the addresses the sample recorded
(``argv``, ``envp``, ``auxv``, the first argument and environment strings, a local
of ``main``), the auxiliary vector read from ``/proc/PID/auxv`` (where
``AT_EXECFN``, ``AT_PLATFORM`` and ``AT_RANDOM`` point) with the strings they name,
and the ``[stack]`` region. Sizes follow from neighbours: ``argc`` is the count of
pointers between ``argv`` and ``envp`` (less the null that ends them), the vector
is its entries plus ``AT_NULL``. What lies between two pieces is drawn as padding
when it is small and as a labelled break when it is not.

``stack_top`` reads the selection into a ``StackTop``; ``render_stack_top`` draws
it as an inline SVG, narrow enough for a phone without shrinking its text. Boxes
are not to scale: each states its size. Pure: a selection in, HTML out.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from .. import constants
from ..errors import ConfigError
from ..units import human_size
from . import hints
from .select import Region, Selection
from .strip import Arrow, Lanes, draw_arrows, strip_svg

WORD = constants.ADDRESS_BITS.value // 8  # a pointer, argc, half an auxv entry
AUXV_ENTRY = 2 * WORD  # a_type and a_val (Elf64_auxv_t)
RANDOM_BYTES = constants.AT_RANDOM_BYTES.value
# A gap between two pieces up to this size is padding the kernel left for alignment;
# a larger one is a break in the drawing.
PADDING_MAX = 64

# The addresses the figure needs the sample to record (ROADS_ADDRESS), and those it
# draws when they are there.
REQUIRED = ("argv", "envp", "auxv")
OPTIONAL = ("argv-0-string", "argv-last-string", "envp-0-string", "local")


@dataclass(frozen=True)
class Piece:
    """One thing on the stack: ``start`` to ``end`` (exclusive), drawn as a box."""

    key: str  # a stable name: "argv", "execfn", "pad-3", ...
    title: str  # the box's first line
    detail: str  # its second line (size, content); may be empty
    start: int
    end: int
    kind: str  # "string", "pointers", "auxv", "bytes", "word", "padding", "frame"
    tooltip: str

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Gap:
    """A stretch of the stack the figure does not draw to its size: ``size`` bytes
    between ``start`` and ``end``."""

    key: str
    title: str
    start: int
    end: int
    tooltip: str = ""

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class StackTop:
    """What the figure draws, from the highest address down."""

    selection: Selection
    region: Region  # the [stack] region
    items: tuple[Piece | Gap, ...]
    pointers: tuple[Arrow, ...]  # "argv[0]", "AT_EXECFN"
    argc: int

    def piece(self, key: str) -> Piece:
        for item in self.items:
            if isinstance(item, Piece) and item.key == key:
                return item
        raise KeyError(key)


def _recorded(selection: Selection) -> dict[str, int]:
    return {a.name: a.value for a in selection.snapshot.addresses}


def _auxv(selection: Selection) -> dict[str, int]:
    return {e.name: e.a_val for e in selection.snapshot.auxv}


def _quoted(text: str, limit: int = 14) -> str:
    """``“text”``, cut with an ellipsis past ``limit`` characters."""
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"“{short}”"


def _bytes(n: int) -> str:
    return "1 byte" if n == 1 else f"{n} bytes"


def stack_top(selection: Selection) -> StackTop:
    """The top of the stack of the selected checkpoint; ConfigError naming the
    addresses the sample must record when it did not record them."""
    rec = _recorded(selection)
    missing = [n for n in REQUIRED if n not in rec]
    if missing:
        raise ConfigError(
            f"{selection.describe()}: the stack figure needs the sample to record "
            f"{', '.join(missing)} with ROADS_ADDRESS (recorded: {', '.join(rec) or 'none'})",
            sample=selection.sample)
    snap = selection.snapshot
    region = snap.region_at(rec["argv"])
    if region is None:
        raise ConfigError(f"{selection.describe()}: argv {rec['argv']:#x} is in no region",
                          sample=selection.sample)
    aux = _auxv(selection)
    strings = snap.auxv_strings
    argv, envp, auxv = rec["argv"], rec["envp"], rec["auxv"]
    argc = (envp - argv) // WORD - 1
    envc = (auxv - envp) // WORD - 1
    if argc < 0 or envc < 0 or (envp - argv) % WORD or (auxv - envp) % WORD:
        raise ConfigError(f"{selection.describe()}: argv {argv:#x}, envp {envp:#x} and auxv "
                          f"{auxv:#x} are not arrays of pointers one after another",
                          sample=selection.sample)
    manifest = selection.capture.inputs.manifest
    env_names = ", ".join(f"{k}={v}" for k, v in manifest.env)

    pieces: list[Piece] = [
        Piece("argc", "argc", f"= {argc} · {_bytes(WORD)}", argv - WORD, argv, "word",
              f"argc, the number of arguments ({argc}): the word the stack pointer points to "
              f"at the first instruction"),
        Piece("argv", "argv[]", f"{argc} pointers + null · {_bytes(envp - argv)}", argv, envp,
              "pointers", f"argv: {argc} pointers to the argument strings, then a null pointer"),
        Piece("envp", "envp[]", f"{envc} pointers + null · {_bytes(auxv - envp)}", envp, auxv,
              "pointers", f"envp: {envc} pointers to the environment strings, then a null pointer"),
    ]
    entries = len(snap.auxv) + 1  # /proc/PID/auxv's entries, and the AT_NULL that ends them
    pieces.append(Piece("auxv", "auxiliary vector", f"{entries} entries · {_bytes(entries * AUXV_ENTRY)}",
                        auxv, auxv + entries * AUXV_ENTRY, "auxv",
                        f"the auxiliary vector: {entries - 1} type/value pairs and AT_NULL, "
                        f"{AUXV_ENTRY} bytes each"))
    pointers = [Arrow("argv", "argv-strings", "argv[0]"), Arrow("envp", "env-strings", "envp[0]")]

    if "AT_RANDOM" in aux:
        pieces.append(Piece("random", "AT_RANDOM bytes", f"random · {_bytes(RANDOM_BYTES)}",
                            aux["AT_RANDOM"], aux["AT_RANDOM"] + RANDOM_BYTES, "bytes",
                            f"{RANDOM_BYTES} random bytes (AT_RANDOM), the seed of the "
                            f"stack-protector canary"))
        pointers.append(Arrow("auxv", "random", "AT_RANDOM"))
    for name, key, title in (("AT_PLATFORM", "platform", "AT_PLATFORM string"),
                             ("AT_EXECFN", "execfn", "AT_EXECFN string")):
        if name in aux and name in strings:
            text = strings[name]
            size = len(text.encode()) + 1
            pieces.append(Piece(key, title, f"{_quoted(text)} · {_bytes(size)}", aux[name],
                                aux[name] + size, "string", f"{name}: “{text}” and its null byte"))
            pointers.append(Arrow("auxv", key, name))

    # The argument and environment strings: each block runs up to the next thing
    # recorded above it (the environment's first string, then AT_EXECFN's path).
    above = sorted(p.start for p in pieces)
    if "argv-0-string" in rec:
        start = rec["argv-0-string"]
        end = rec.get("envp-0-string") or min((a for a in above if a > start), default=region.end)
        shown = ", ".join(_quoted(a, 8) for a in manifest.args)
        pieces.append(Piece("argv-strings", "argument strings",
                            f"{argc} strings · {_bytes(end - start)}", start, end, "string",
                            f"the {argc} argument strings, argv[0] first"
                            + (f"; argv[1] on: {shown} (the manifest's args)" if shown else "")
                            + (f"; the last at {rec['argv-last-string']:#x}"
                               if "argv-last-string" in rec else "")))
    if "envp-0-string" in rec and envc:
        start = rec["envp-0-string"]
        end = min((p.start for p in pieces if p.start > start), default=region.end)
        pieces.append(Piece("env-strings", "environment strings",
                            f"{envc} strings · {_bytes(end - start)}", start, end, "string",
                            f"the {envc} environment strings, NAME=value"
                            + (f"; the manifest gives {env_names}" if env_names else "")))
    pointers = [p for p in pointers if any(q.key == p.target for q in pieces)]

    pieces.sort(key=lambda p: p.start, reverse=True)
    for high, low in zip(pieces, pieces[1:]):
        if low.end > high.start:
            raise ConfigError(f"{selection.describe()}: {low.title} ({low.start:#x}–{low.end:#x}) "
                              f"overlaps {high.title} ({high.start:#x})", sample=selection.sample)

    items: list[Piece | Gap] = []
    top = region.end
    if top > pieces[0].end:
        items.append(Piece("top", "unused top", _bytes(top - pieces[0].end), pieces[0].end, top,
                           "padding", "left free by execve above the strings, up to the end "
                           "of the [stack] region"))
    for k, (high, low) in enumerate(zip(pieces, pieces[1:] + [None])):
        items.append(high)
        if low is None:
            break
        gap = high.start - low.end
        if 0 < gap <= PADDING_MAX:
            items.append(Piece(f"pad-{k}", "padding", _bytes(gap), low.end, high.start, "padding",
                               "alignment: what lies here the capture does not say"))
        elif gap:
            items.append(Gap(f"gap-{k}", f"{human_size(gap)} not drawn", low.end, high.start,
                             "a stretch the capture says nothing about"))
    if "local" in rec and region.start <= rec["local"] < pieces[-1].start:
        local = rec["local"]
        items.append(Gap("callers", f"{human_size(pieces[-1].start - local)} of frames",
                         local, pieces[-1].start,
                         "the frames of the start-up code that called main, then main's own "
                         "down to its local variable"))
        items.append(Piece("main", "main's frame", "holds the local variable", local, local, "frame",
                           "the address of a local variable of main, recorded by the sample"))
        bottom = local
    else:
        bottom = pieces[-1].start
    if bottom > region.start:
        items.append(Gap("rest", f"{human_size(bottom - region.start)} more of [stack]",
                         region.start, bottom, "the rest of the [stack] region, down to its start"))
    return StackTop(selection, region, tuple(items), tuple(pointers), argc)


# --------------------------------------------------------------------------- drawing

VIEW_WIDTH = 360  # viewBox units: one CSS pixel each on a phone's column
ADDRESS_RIGHT = 92  # right edge of the address labels
BOX_LEFT, BOX_RIGHT = 96, 262
LANES = Lanes(box_right=BOX_RIGHT, first=272, step=14)
PIECE_HEIGHT = {"padding": 16}
DEFAULT_HEIGHT = 34  # two lines of text, their boxes apart
GAP_HEIGHT = 26
TOP_MARGIN, BOTTOM_MARGIN = 10, 12


def _height(item: Piece | Gap) -> int:
    if isinstance(item, Gap):
        return GAP_HEIGHT
    return PIECE_HEIGHT.get(item.kind, DEFAULT_HEIGHT)


def _zigzag(y: float, left: float, right: float, up: bool) -> str:
    """A torn edge across the box column at ``y``."""
    step, amp = 8, 3 if up else -3
    points, x, k = [], left, 0
    while x < right:
        points.append(f"{x:.0f},{y + (amp if k % 2 else 0):.0f}")
        x += step
        k += 1
    points.append(f"{right:.0f},{y:.0f}")
    return " ".join(points)


def _pointer_words(st: StackTop, p: Arrow) -> str:
    """An arrow in words: "argv[0] points into the argument strings"."""
    return f"{p.label} points into the {st.piece(p.target).title}"


# Where a box's tooltip shows without a mouse: each box, and each break, takes the focus
# (readout.js makes them one Tab stop, the arrow keys going from box to box).
READOUT = hints.readout("Tab to the drawing, then the up and down arrow keys go from box "
                        "to box, or tap one: its addresses and what it holds show here.")


def render_stack_top(st: StackTop) -> str:
    """The figure: an inline SVG of ``st`` in a ``<figure>`` with its caption."""
    ys: dict[str, tuple[float, float]] = {}
    parts: list[str] = []

    def leaving(key: str) -> str:
        """What the arrows leaving a box say: a keyboard reaches the box, not the arrow."""
        return "".join(f"; {_pointer_words(st, p)}" for p in st.pointers if p.source == key)

    y = TOP_MARGIN
    boundaries: list[tuple[float, int]] = []
    for item in st.items:
        h = _height(item)
        ys[item.key] = (y, y + h)
        if isinstance(item, Gap):
            parts.append(
                f'<g class="roads-stack-gap" data-key="{escape(item.key)}" tabindex="0">'
                f'<title>{escape(item.title)}: '
                f'{escape(item.tooltip)} ({item.start:#x}–{item.end:#x})</title>'
                f'<polyline points="{_zigzag(y + 4, BOX_LEFT, BOX_RIGHT, True)}"/>'
                f'<polyline points="{_zigzag(y + h - 4, BOX_LEFT, BOX_RIGHT, False)}"/>'
                f'<text x="{(BOX_LEFT + BOX_RIGHT) / 2:.0f}" y="{y + h / 2 + 4:.0f}" '
                f'text-anchor="middle">{escape(item.title)}</text></g>')
        else:
            classes = f"roads-stack-piece roads-stack-{item.kind}"
            text_x = BOX_LEFT + 6
            where = (f"{item.start:#x}" if item.start == item.end
                     else f"{item.start:#x}–{item.end:#x}, {_bytes(item.size)}")
            lines = [f'<text class="roads-stack-title" x="{text_x}" y="{y + 13:.0f}">'
                     f'{escape(item.title)}</text>']
            if item.kind == "padding":
                lines = [f'<text class="roads-stack-detail" x="{text_x}" y="{y + 12:.0f}">'
                         f'{escape(item.title)} · {escape(item.detail)}</text>']
            elif item.detail:
                lines.append(f'<text class="roads-stack-detail" x="{text_x}" y="{y + h - 6:.0f}">'
                             f'{escape(item.detail)}</text>')
            parts.append(
                f'<g class="{classes}" data-key="{escape(item.key)}" tabindex="0">'
                f'<title>{escape(item.tooltip)} ({where}){escape(leaving(item.key))}</title>'
                f'<rect x="{BOX_LEFT}" y="{y:.0f}" width="{BOX_RIGHT - BOX_LEFT}" height="{h}"/>'
                + "".join(lines) + "</g>")
            if item.start != item.end:
                boundaries.append((y + h, item.start))
        y += h
    height = y + BOTTOM_MARGIN
    # The address of every boundary, at its line: the start of the box above it.
    top_item = st.items[0]
    labels = [(ys[top_item.key][0], top_item.end)] + boundaries
    main = next((i for i in st.items if isinstance(i, Piece) and i.kind == "frame"), None)
    if main is not None:
        labels.append((sum(ys[main.key]) / 2, main.start))
    addr = "".join(f'<text x="{ADDRESS_RIGHT}" y="{ly + 3.5:.1f}" text-anchor="end">'
                   f'{value:#x}</text>' for ly, value in labels)
    parts.insert(0, f'<g class="roads-stack-addr">{addr}</g>')

    # Pointer arrows in lanes right of the boxes, the shortest nearest; where several
    # leave one box they leave from distinct heights.
    def centre(key: str) -> float:
        a, b = ys[key]
        return (a + b) / 2

    order = sorted(st.pointers, key=lambda p: abs(centre(p.source) - centre(p.target)))
    by_source: dict[str, list[Arrow]] = {}
    for p in st.pointers:
        by_source.setdefault(p.source, []).append(p)
    def leaves(p: Arrow) -> float:  # siblings leave their box at distinct heights
        siblings = by_source[p.source]
        a, b = ys[p.source]
        return a + (b - a) * (siblings.index(p) + 1) / (len(siblings) + 1)

    parts.append(draw_arrows(LANES, "roads-stack-pointer", (
        (leaves(p), centre(p.target), _pointer_words(st, p)) for p in order)))

    sel = st.selection
    fid = f"roads-stack-{sel.slug}"
    short = f"The top of the stack of {sel.sample} at checkpoint {sel.checkpoint_name}"
    pieces = [i for i in st.items if isinstance(i, Piece) and i.kind not in ("padding",)]
    long = "From the highest address down: " + "; ".join(
        f"{p.title} at {p.start:#x}" + (f", {_bytes(p.size)}" if p.size else "") for p in pieces) + "."
    svg = strip_svg("roads-stack", fid, VIEW_WIDTH, height, short, long, parts)
    caption = (f"The top of the [stack] region ({st.region.start:#x}–{st.region.end:#x}) at "
               f"checkpoint {sel.checkpoint_name}, high addresses on top. Boxes are not to "
               f"scale: each gives its size, and each address marks the line beside it. "
               f"Arrows: the pointers of argv, envp and the auxiliary vector.")
    return (f'<figure class="roads-picture roads-stack-figure" id="{fid}" data-search-exclude>\n'
            f"{svg}\n{READOUT}\n<figcaption>{escape(caption)}</figcaption>\n</figure>\n")
