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

An address inside a transparent huge page is walked one level less: the
page-directory entry has its page-size bit (PS) set and names a 2 MiB frame itself,
and the address's low bits below the PD index are the offset in it (SDM vol. 3A,
4.5, figure 4-9). The PS bit is in kernel memory too, so the capture cannot show it;
``huge_mapping`` decides from what it does show (see there), and the figure says so.

Pure: a selection in, HTML out. The split and the frame lookup are pageview's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from .. import constants
from ..units import human_size
from .pageview import (HIDDEN, PAGE_SHIFT, PAGE_SIZE, AddressSplit, find_page, paging_levels_of,
                       physical_address, resolve_address, split_address)
from . import hints
from .select import Selection

ENTRIES = constants.TABLE_ENTRIES.value
ENTRY_BYTES = constants.PTE_BYTES.value
HUGE_SHIFT = constants.HPAGE_PMD_SHIFT.value
HUGE_SIZE = 1 << HUGE_SHIFT
HUGE_TEXT = constants.HPAGE_PMD_SIZE.format()  # "2 MiB"
PS_BIT = constants.PTE_PSE_BIT.value
KIB = constants.KIB  # smaps counts in kB
NOT_CAPTURED = "table not captured: page tables are kernel memory, out of a program's reach"


@dataclass(frozen=True)
class HugeMapping:
    """What the capture proves of the 2 MiB page holding an address."""

    start: int  # the huge page's virtual address, a multiple of its size
    region_start: int
    region_end: int
    anon_huge: int  # the region's AnonHugePages, in bytes
    blocks: int  # aligned huge-page-sized blocks of the region the pagemap does not rule out
    first_frame: int | None  # the frame of its first 4 KiB page (pagemap), when captured
    frames_checked: bool  # all its pages captured present, on consecutive aligned frames


def _block_frames(selection: Selection, start: int) -> tuple[bool, int | None, bool]:
    """(ruled out, first frame, all frames seen) for the aligned block at ``start``: a page of it
    recorded not present, or recorded frames that are not one aligned run of consecutive
    frames, rule out a PMD mapping; all its pages recorded present on such a run confirm it."""
    pages = {}
    for r in selection.snapshot.pagemap:
        for p in r.pages:
            if start <= p.vaddr < start + HUGE_SIZE:
                pages[p.vaddr] = p
    base = None
    for vaddr, p in pages.items():
        if not p.present:
            return True, None, False
        if p.pfn is None:
            continue
        first = p.pfn - ((vaddr - start) >> PAGE_SHIFT)
        if first % ENTRIES or (base is not None and first != base):
            return True, None, False
        base = first
    complete = len(pages) == ENTRIES and base is not None and all(p.pfn is not None for p in pages.values())
    return False, base, complete


def huge_mapping(selection: Selection, address: int) -> HugeMapping | None:
    """The 2 MiB page mapping ``address``, when the capture proves there is one.

    smaps' AnonHugePages counts the region's anonymous memory mapped by page-directory
    entries (fs/proc/task_mmu.c, smaps_pmd_entry; Documentation/admin-guide/mm/
    transhuge.rst: it "only applies to traditional PMD-sized THP"), so whole 2 MiB
    blocks only. If it
    covers every aligned block of the region that might be so mapped (every one the
    pagemap does not rule out: a page not present, or frames that are not one aligned
    run), then the block holding ``address`` is one. A region whose AnonHugePages is
    smaller proves nothing about which of its blocks are huge, and the walk is drawn
    with four levels. The pagemap's frames, where captured, are a check, not the proof:
    a huge page split back into 4 KiB entries keeps its consecutive frames.
    """
    region = selection.snapshot.region_at(address)
    if region is None:
        return None
    anon_huge = region.kb.get("AnonHugePages", 0) * KIB
    start = address & ~(HUGE_SIZE - 1)
    if not anon_huge or start < region.start or start + HUGE_SIZE > region.end:
        return None
    first_block = -(-region.start // HUGE_SIZE) * HUGE_SIZE
    blocks, frame, checked = 0, None, False
    for block in range(first_block, region.end - HUGE_SIZE + 1, HUGE_SIZE):
        ruled_out, base, complete = _block_frames(selection, block)
        if block == start:
            if ruled_out:
                return None
            frame, checked = base, complete
        blocks += not ruled_out
    if anon_huge < blocks * HUGE_SIZE:
        return None
    return HugeMapping(start, region.start, region.end, anon_huge, blocks, frame, checked)


@dataclass(frozen=True)
class Walk:
    """One address's walk: the split, and what the capture says of its frame."""

    selection: Selection
    name: str  # the recorded address (or range) walked
    split: AddressSplit
    frame: int | None  # the page frame number, when captured
    frame_state: str  # "captured", "hidden", "absent" (not present) or "unrecorded"
    huge: HugeMapping | None = None  # set when the address lies in a 2 MiB page

    @property
    def levels(self) -> tuple[tuple[str, int], ...]:
        """The (level, index) pairs the walk reads: without the PT under a huge page."""
        pairs = tuple((name, index) for (name, _), index in zip(self.split.levels, self.split.indices))
        return pairs[:-1] if self.huge else pairs

    @property
    def offset_bits(self) -> int:
        return HUGE_SHIFT if self.huge else PAGE_SHIFT

    @property
    def offset(self) -> int:
        """The offset in the page: the low 12 bits, or 21 in a huge page."""
        return self.split.address & ((1 << self.offset_bits) - 1)

    @property
    def physical(self) -> int | None:
        if self.frame is None:
            return None
        if self.huge:
            return (self.frame << PAGE_SHIFT) | self.offset
        return physical_address(self.frame, self.split.offset)


def walk(selection: Selection, name: str) -> Walk:
    """The walk of the address ``name`` (as ``page_walk`` resolves it) at the selection."""
    address = resolve_address(selection, name)
    split = split_address(address, paging_levels_of(selection))
    huge = huge_mapping(selection, address)
    if huge is not None:
        state = ("captured" if huge.first_frame is not None
                 else "unrecorded" if find_page(selection, address) is None else "hidden")
        return Walk(selection, name, split, huge.first_frame, state, huge)
    page = find_page(selection, address)
    if page is None:
        return Walk(selection, name, split, None, "unrecorded")
    if not page.present:
        return Walk(selection, name, split, None, "absent")
    if page.pfn is None:
        return Walk(selection, name, split, None, "hidden")
    return Walk(selection, name, split, page.pfn, "captured")


def huge_evidence(w: Walk) -> str:
    """Why the walk ends at the PD, in words: the bit is not captured, the huge page is."""
    huge = w.huge
    assert huge is not None
    blocks = "its one aligned block" if huge.blocks == 1 else f"all {huge.blocks} of its aligned blocks"
    text = (f"its entry's page-size bit (PS, bit {PS_BIT}) is set, so it maps a {HUGE_TEXT} page, "
            f"and the low {HUGE_SHIFT} bits are the offset in it. The bit itself is in kernel "
            f"memory, not captured; what the capture shows is the huge page: the "
            f"region's AnonHugePages (smaps), {human_size(huge.anon_huge)}, counts only memory mapped "
            f"by page-directory entries, and covers {blocks}.")
    if huge.frames_checked:
        text += (f" Pagemap agrees: its {ENTRIES} pages are on consecutive frames from "
                 f"{huge.first_frame:#x}, a multiple of {ENTRIES}, so the {HUGE_TEXT} frame starts at "
            f"physical address {huge.first_frame << PAGE_SHIFT:#x}.")
    return text


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
HUGE_NOTE = 16  # the line under a huge page's PD: no page table


def _field_widths(split: AddressSplit, levels: int | None = None, offset_bits: int = PAGE_SHIFT) -> list[float]:
    """Widths of the sign, index and offset fields: by bits, with a floor so that
    every label fits."""
    levels = split.paging_levels if levels is None else levels
    bits = [64 - split.translated_bits] + [constants.INDEX_BITS.value] * levels + [offset_bits]
    floor, total = 40.0, VIEW_WIDTH - 2 * MARGIN
    widths = [max(floor, total * b / 64) for b in bits]
    scale = (total - floor * widths.count(floor)) / sum(w for w in widths if w != floor)
    return [w if w == floor else w * scale for w in widths]


def _row_y(top: float, height: float, position: int, count: int) -> float:
    """Where a marked row sits in a box: at its place among ``count`` rows."""
    inner = height - HEADER - ROW - 4
    return top + HEADER + inner * position / max(count - 1, 1)


# Where a part's tooltip shows without a mouse: CR3, each table and the page take the
# focus (readout.js makes them one Tab stop, the arrow keys going from one to the next);
# the address's fields show their words (the level and the index) themselves.
READOUT = hints.readout("Tab to the drawing, then the up and down arrow keys go from CR3 "
                        "to each table and the page, or tap one: what it holds, and what "
                        "the capture says of it, show here.")


def render_walk(w: Walk) -> str:
    """The walk of ``w`` as an inline SVG in a ``<figure>`` with its caption."""
    split = w.split
    names = [level for level, _ in w.levels]
    indices = [index for _, index in w.levels]
    huge = w.huge
    out: list[str] = []

    # The address, cut into its fields, coloured by level.
    out.append(f'<text class="roads-walk-heading" x="{MARGIN}" y="14">{escape(w.name)} = '
               f'<tspan class="roads-walk-mono">{split.address:#x}</tspan></text>')
    offset_field = (("offset", f"{split.offset:#05x}", "offset") if huge is None else
                    (f"{HUGE_SHIFT}-bit offset", f"{w.offset:#0{2 + -(-HUGE_SHIFT // 4)}x}", "offset"))
    fields = [("sign", f"{split.sign:#x}", "sign")] + [
        (level, str(index), f"level-{k}") for k, (level, index) in enumerate(zip(names, indices))
    ] + [offset_field]
    x = MARGIN
    for (label, value, cls), width in zip(fields, _field_widths(split, len(names), w.offset_bits)):
        out.append(f'<g class="roads-walk-field roads-walk-{cls}"><title>{escape(label)}: {escape(value)}'
                   f'</title><rect x="{x:.1f}" y="{BAR_TOP}" width="{width:.1f}" height="{BAR_HEIGHT}"/>'
                   f'<text x="{x + width / 2:.1f}" y="{BAR_TOP + 13}" text-anchor="middle">{escape(label)}</text>'
                   f'<text class="roads-walk-value" x="{x + width / 2:.1f}" y="{BAR_TOP + 31}" '
                   f'text-anchor="middle">{escape(value)}</text></g>')
        x += width

    # CR3, then one box per table, then the frame.
    y = BAR_TOP + BAR_HEIGHT + 14
    out.append(f'<g class="roads-walk-cr3" tabindex="0"><title>CR3 holds the physical address of the top table '
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
    for k, (level, index) in enumerate(zip(names, indices)):
        following = names[k + 1] if k + 1 < len(names) else "page"
        last_huge = huge is not None and k == len(names) - 1
        row = _row_y(y, TABLE_HEIGHT, index, ENTRIES)
        holds = (f"holds the frame of the {escape(following)}" if not last_huge else
                 f"has its page-size bit (PS, bit {PS_BIT}) set: it maps the {HUGE_TEXT} page "
                 f"itself, and the walk ends here, with no page table")
        exit_text = (f"→ the {escape(following)}’s frame" if not last_huge else
                     f"PS = 1 → the {HUGE_TEXT} frame")
        out.append(
            f'<g class="roads-walk-table roads-walk-level-{k}" tabindex="0"><title>{escape(level)}: '
            f'{ENTRIES} entries of {ENTRY_BYTES} bytes; entry {index} {holds}. {NOT_CAPTURED}</title>'
            f'<rect class="roads-walk-box" x="{BOX_LEFT}" y="{y:.1f}" width="{BOX_RIGHT - BOX_LEFT}" '
            f'height="{TABLE_HEIGHT}"/>'
            f'<text class="roads-walk-name" x="{BOX_LEFT + 6}" y="{y + 13:.1f}">{escape(level)}</text>'
            f'<text class="roads-walk-note" x="{BOX_RIGHT - 6}" y="{y + 13:.1f}" text-anchor="end">'
            f'not captured: kernel memory</text>'
            f'<rect class="roads-walk-entry" x="{BOX_LEFT + 1}" y="{row:.1f}" '
            f'width="{BOX_RIGHT - BOX_LEFT - 2}" height="{ROW}"/>'
            f'<text x="{BOX_LEFT + 6}" y="{row + 11:.1f}">entry {index}</text>'
            f'<text x="{BOX_RIGHT - 6}" y="{row + 11:.1f}" text-anchor="end">{exit_text}</text></g>')
        entry_exit = (BOX_RIGHT, row + ROW / 2)
        y += TABLE_HEIGHT + CONNECTOR
        if last_huge:
            # Where a page table would be: the note that there is none.
            out.append(f'<text class="roads-walk-note roads-walk-ps" x="{BOX_LEFT}" y="{y - 6:.1f}">'
                       f'PS (bit {PS_BIT}) = 1: no page table, the walk ends</text>')
            y += HUGE_NOTE
        out.append(arrow_down(*entry_exit, y, via_lane=True))

    # The page, with the byte the offset picks.
    offset = w.offset
    row = _row_y(y, FRAME_HEIGHT, offset, HUGE_SIZE if huge else PAGE_SIZE)
    size = f"{HUGE_TEXT} " if huge else ""
    if w.frame_state == "captured" and huge is not None:
        head, state = f"{HUGE_TEXT} frame", f"at {w.frame << PAGE_SHIFT:#x} (pagemap)"
        byte = f"offset {offset:#x} = physical {w.physical:#x}"
    elif w.frame_state == "captured":
        head, state = f"{size}frame {w.frame:#x}", "captured (pagemap)"
        byte = f"offset {offset:#x} = physical {w.physical:#x}"
    else:
        head = f"{size}page"
        state = {"hidden": f"frame {HIDDEN}", "absent": "not present",
                 "unrecorded": "frame not recorded"}[w.frame_state]
        byte = f"offset {offset:#x}"
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
    steps = "; ".join(f"{level} entry {index}" for level, index in zip(names, indices))
    if huge is not None:
        short += f", ending at the {names[-1]}: a {HUGE_TEXT} page"
        steps += f" with PS (bit {PS_BIT}) set, mapping a {HUGE_TEXT} page"
    long = (f"{w.name} = {split.address:#x}. CR3 names the {names[0]}; {steps}; then "
            + (f"{size}frame {w.frame:#x}, offset {offset:#x}, physical address {w.physical:#x}."
               if w.frame is not None and huge is None else
               f"the {HUGE_TEXT} frame from frame {w.frame:#x} (physical {w.frame << PAGE_SHIFT:#x}), "
               f"offset {offset:#x}, physical address {w.physical:#x}."
               if w.frame is not None else f"the {size}page ({state}), offset {offset:#x}."))
    svg = (f'<svg class="roads-walk" viewBox="0 0 {VIEW_WIDTH} {height:.0f}" width="{VIEW_WIDTH}" '
           f'height="{height:.0f}" role="img" aria-label="{escape(short)}" aria-describedby="{fid}-desc" '
           f'xmlns="http://www.w3.org/2000/svg"><desc id="{fid}-desc">{escape(long)}</desc>'
           + "".join(out) + "</svg>")
    caption = (f"The walk of {w.name} with {split.paging_levels}-level paging, each table's entry "
               f"at its place among the {ENTRIES}. Dashed: the tables, which no program can read, "
               f"so the capture has only the index used in each; solid: what the capture holds.")
    if huge is not None:
        caption = (f"The walk of {w.name} with {split.paging_levels}-level paging ends at the "
                   f"{names[-1]}: {huge_evidence(w)} Dashed: the tables, which no program can read, so "
                   f"the capture has only the index used in each; solid: what the capture holds.")
    return (f'<figure class="roads-picture roads-walk-figure" id="{fid}" data-search-exclude>\n'
            f"{svg}\n{READOUT}\n<figcaption>{escape(caption)}</figcaption>\n</figure>\n")
