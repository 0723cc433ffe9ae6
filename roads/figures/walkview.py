"""The page walk, drawn: from CR3 through each level of table to the frame.

``roads.figures.pageview`` cuts a recorded address into its table indices and offset
and prints them as a table of bits; this draws the same split as the walk the MMU
does (Intel SDM vol. 3A, 4.5): CR3 names the top table, the address's first index
picks an entry in it, that entry names the next table, and so on down to the page
table, whose entry names the frame; the offset picks the byte in it. The number of
levels is the capture's (``provenance.paging_levels``: 4, or 5 with a PML5 on top).

What is captured and what is not is drawn differently. The indices come from the
recorded address and the frame from ``/proc/PID/pagemap`` (when the capture could
read it); the tables on the way are kernel memory, which no program reads, so their
frames are unknown: they are drawn dashed, labelled so, with only the entry the walk
uses marked, at its place among the table's entries.

Pure: a selection in, HTML out. The split and the frame lookup are pageview's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from .. import constants
from .pageview import (HIDDEN, PAGE_SIZE, AddressSplit, find_page, paging_levels_of,
                       physical_address, resolve_address, split_address)
from .select import Selection

ENTRIES = constants.TABLE_ENTRIES.value
ENTRY_BYTES = constants.PTE_BYTES.value
NOT_CAPTURED = "table not captured: page tables are kernel memory, out of a program's reach"


@dataclass(frozen=True)
class Walk:
    """One address's walk: the split, and what the capture says of its frame."""

    selection: Selection
    name: str  # the recorded address (or range) walked
    split: AddressSplit
    frame: int | None  # the page frame number, when captured
    frame_state: str  # "captured", "hidden", "absent" (not present) or "unrecorded"

    @property
    def physical(self) -> int | None:
        return None if self.frame is None else physical_address(self.frame, self.split.offset)


def walk(selection: Selection, name: str) -> Walk:
    """The walk of the address ``name`` (as ``page_walk`` resolves it) at the selection."""
    address = resolve_address(selection, name)
    split = split_address(address, paging_levels_of(selection))
    page = find_page(selection, address)
    if page is None:
        return Walk(selection, name, split, None, "unrecorded")
    if not page.present:
        return Walk(selection, name, split, None, "absent")
    if page.pfn is None:
        return Walk(selection, name, split, None, "hidden")
    return Walk(selection, name, split, page.pfn, "captured")


# --------------------------------------------------------------------------- drawing

VIEW_WIDTH = 360
MARGIN = 6
BAR_TOP, BAR_HEIGHT = 22, 36
BOX_LEFT, BOX_RIGHT = 30, 292
LANE = 310
TABLE_HEIGHT, FRAME_HEIGHT = 66, 50
CONNECTOR = 22
ROW = 15  # height of the marked entry
HEADER = 18


def _field_widths(split: AddressSplit) -> list[float]:
    """Widths of the sign, index and offset fields: by bits, with a floor so that
    every label fits."""
    bits = [64 - split.translated_bits] + [constants.INDEX_BITS.value] * split.paging_levels \
        + [constants.PAGE_SHIFT.value]
    floor, total = 40.0, VIEW_WIDTH - 2 * MARGIN
    widths = [max(floor, total * b / 64) for b in bits]
    scale = (total - floor * widths.count(floor)) / sum(w for w in widths if w != floor)
    return [w if w == floor else w * scale for w in widths]


def _row_y(top: float, height: float, position: int, count: int) -> float:
    """Where a marked row sits in a box: at its place among ``count`` rows."""
    inner = height - HEADER - ROW - 4
    return top + HEADER + inner * position / max(count - 1, 1)


def render_walk(w: Walk) -> str:
    """The walk of ``w`` as an inline SVG in a ``<figure>`` with its caption."""
    split = w.split
    names = [level for level, _ in split.levels]
    out: list[str] = []

    # The address, cut into its fields, coloured by level.
    out.append(f'<text class="roads-walk-heading" x="{MARGIN}" y="14">{escape(w.name)} = '
               f'<tspan class="roads-walk-mono">{split.address:#x}</tspan></text>')
    fields = [("sign", f"{split.sign:#x}", "sign")] + [
        (level, str(index), f"level-{k}") for k, (level, index) in enumerate(zip(names, split.indices))
    ] + [("offset", f"{split.offset:#05x}", "offset")]
    x = MARGIN
    for (label, value, cls), width in zip(fields, _field_widths(split)):
        out.append(f'<g class="roads-walk-field roads-walk-{cls}"><title>{escape(label)}: {escape(value)}'
                   f'</title><rect x="{x:.1f}" y="{BAR_TOP}" width="{width:.1f}" height="{BAR_HEIGHT}"/>'
                   f'<text x="{x + width / 2:.1f}" y="{BAR_TOP + 13}" text-anchor="middle">{escape(label)}</text>'
                   f'<text class="roads-walk-value" x="{x + width / 2:.1f}" y="{BAR_TOP + 31}" '
                   f'text-anchor="middle">{escape(value)}</text></g>')
        x += width

    # CR3, then one box per table, then the frame.
    y = BAR_TOP + BAR_HEIGHT + 14
    out.append(f'<g class="roads-walk-cr3"><title>CR3 holds the physical address of the top table '
               f'({escape(names[0])}); a program cannot read it</title>'
               f'<rect x="{BOX_LEFT}" y="{y}" width="44" height="20"/>'
               f'<text x="{BOX_LEFT + 22}" y="{y + 14}" text-anchor="middle">CR3</text>'
               f'<text class="roads-walk-note" x="{BOX_LEFT + 52}" y="{y + 14}">register: where the '
               f'{escape(names[0])} is</text></g>')
    arrow_from = (BOX_LEFT + 22, y + 20)
    y += 20 + CONNECTOR

    def arrow_down(x0: float, y0: float, y1: float, via_lane: bool) -> str:
        """From a marked entry (or CR3) to the top of the box below, at ``y1``."""
        target_x = BOX_LEFT + 22
        if via_lane:
            d = f"M{x0},{y0:.1f} H{LANE} V{y1 - 10:.1f} H{target_x} V{y1 - 6:.1f}"
        else:
            d = f"M{x0},{y0:.1f} V{y1 - 6:.1f}"
        return (f'<g class="roads-walk-arrow"><path d="{d}"/><polygon points="{target_x - 4},{y1 - 7:.1f} '
                f'{target_x + 4},{y1 - 7:.1f} {target_x},{y1:.1f}"/></g>')

    out.append(arrow_down(*arrow_from, y, via_lane=False))
    for k, (level, index) in enumerate(zip(names, split.indices)):
        following = names[k + 1] if k + 1 < len(names) else "page"
        row = _row_y(y, TABLE_HEIGHT, index, ENTRIES)
        out.append(
            f'<g class="roads-walk-table roads-walk-level-{k}" tabindex="0"><title>{escape(level)}: '
            f'{ENTRIES} entries of {ENTRY_BYTES} bytes; entry {index} holds the frame of the '
            f'{escape(following)}. {NOT_CAPTURED}</title>'
            f'<rect class="roads-walk-box" x="{BOX_LEFT}" y="{y:.1f}" width="{BOX_RIGHT - BOX_LEFT}" '
            f'height="{TABLE_HEIGHT}"/>'
            f'<text class="roads-walk-name" x="{BOX_LEFT + 6}" y="{y + 13:.1f}">{escape(level)}</text>'
            f'<text class="roads-walk-note" x="{BOX_RIGHT - 6}" y="{y + 13:.1f}" text-anchor="end">'
            f'not captured: kernel memory</text>'
            f'<rect class="roads-walk-entry" x="{BOX_LEFT + 1}" y="{row:.1f}" '
            f'width="{BOX_RIGHT - BOX_LEFT - 2}" height="{ROW}"/>'
            f'<text x="{BOX_LEFT + 6}" y="{row + 11:.1f}">entry {index}</text>'
            f'<text x="{BOX_RIGHT - 6}" y="{row + 11:.1f}" text-anchor="end">→ the '
            f'{escape(following)}’s frame</text></g>')
        entry_exit = (BOX_RIGHT, row + ROW / 2)
        y += TABLE_HEIGHT + CONNECTOR
        out.append(arrow_down(*entry_exit, y, via_lane=True))

    # The page, with the byte the offset picks.
    row = _row_y(y, FRAME_HEIGHT, split.offset, PAGE_SIZE)
    if w.frame_state == "captured":
        head, state = f"frame {w.frame:#x}", "captured (pagemap)"
        byte = f"offset {split.offset:#x} = physical {w.physical:#x}"
    else:
        head = "page"
        state = {"hidden": f"frame {HIDDEN}", "absent": "not present",
                 "unrecorded": "frame not recorded"}[w.frame_state]
        byte = f"offset {split.offset:#x}"
    out.append(
        f'<g class="roads-walk-frame roads-walk-{w.frame_state}" tabindex="0"><title>the page of '
        f'{escape(w.name)}: {escape(head)}, {escape(state)}; the offset picks the byte</title>'
        f'<rect class="roads-walk-box" x="{BOX_LEFT}" y="{y:.1f}" width="{BOX_RIGHT - BOX_LEFT}" '
        f'height="{FRAME_HEIGHT}"/>'
        f'<text class="roads-walk-name" x="{BOX_LEFT + 6}" y="{y + 13:.1f}">{escape(head)}</text>'
        f'<text class="roads-walk-note" x="{BOX_RIGHT - 6}" y="{y + 13:.1f}" text-anchor="end">'
        f'{escape(state)}</text>'
        f'<rect class="roads-walk-entry roads-walk-offset" x="{BOX_LEFT + 1}" y="{row:.1f}" '
        f'width="{BOX_RIGHT - BOX_LEFT - 2}" height="{ROW}"/>'
        f'<text x="{BOX_LEFT + 6}" y="{row + 11:.1f}">{escape(byte)}</text></g>')
    height = y + FRAME_HEIGHT + MARGIN

    sel = w.selection
    fid = f"roads-walk-{sel.slug}-" + (re.sub(r"[^a-z0-9]+", "-", w.name.lower()).strip("-") or "x")
    short = f"The {split.paging_levels}-level page walk of {w.name} in {sel.sample}"
    steps = "; ".join(f"{level} entry {index}" for level, index in zip(names, split.indices))
    long = (f"{w.name} = {split.address:#x}. CR3 names the {names[0]}; {steps}; then "
            + (f"frame {w.frame:#x}, offset {split.offset:#x}, physical address {w.physical:#x}."
               if w.frame is not None else f"the page ({state}), offset {split.offset:#x}."))
    svg = (f'<svg class="roads-walk" viewBox="0 0 {VIEW_WIDTH} {height:.0f}" width="{VIEW_WIDTH}" '
           f'height="{height:.0f}" role="img" aria-label="{escape(short)}" aria-describedby="{fid}-desc" '
           f'xmlns="http://www.w3.org/2000/svg"><desc id="{fid}-desc">{escape(long)}</desc>'
           + "".join(out) + "</svg>")
    caption = (f"The walk of {w.name} with {split.paging_levels}-level paging, each table's entry "
               f"at its place among the {ENTRIES}. Dashed: the tables, which no program can read, "
               f"so the capture has only the index used in each; solid: what the capture holds.")
    return (f'<figure class="roads-picture roads-walk-figure" id="{fid}" data-search-exclude>\n'
            f"{svg}\n<figcaption>{escape(caption)}</figcaption>\n</figure>\n")
