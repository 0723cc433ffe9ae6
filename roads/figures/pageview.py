"""Pages and page tables: what pagemap says about each page, and how an address is walked.

Two figures:

* the page view of a range a sample asked for (``ROADS_RANGE``): for each page,
  pagemap's bit 63 (present), bit 56 (exclusively mapped) and the page frame
  number, at one or more checkpoints side by side, so that demand paging and
  copy-on-write show as bits turning on and frames changing. A frame mapped by
  several anonymous pages at once is the kernel's shared zero page;
* the page walk of one address: x86-64 four-level paging (Intel SDM vol. 3A,
  4.5) splits a canonical 48-bit address into four 9-bit table indices (PML4,
  PDPT, PD, PT) and a 12-bit offset, and the physical address is the frame
  number times the page size plus that offset.

Frame numbers are only shown to processes with CAP_SYS_ADMIN; without it pagemap
reports 0 and the capture records None. Pure: selections in, HTML out.
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass
from typing import Sequence

from .. import constants
from ..errors import ConfigError
from .select import PageEntry, PagemapRange, Selection
from .summary import hidden_text

PAGE_SHIFT = constants.PAGE_SHIFT.value
PAGE_SIZE = 1 << PAGE_SHIFT
INDEX_BITS = constants.INDEX_BITS.value
# (name, lowest bit) of each index, top level first (Intel SDM vol. 3A, 4.5, Figures
# 4-8 and 4-9): the page table's index just above the offset, each level's above the last.
_NAMES = ("PML5", "PML4", "PDPT", "PD", "PT")
LEVELS_BY_PAGING = {
    levels: tuple((name, PAGE_SHIFT + INDEX_BITS * (levels - 1 - k))
                  for k, name in enumerate(_NAMES[len(_NAMES) - levels:]))
    for levels in (4, 5)
}
LEVELS = LEVELS_BY_PAGING[4]
VIRTUAL_BITS = constants.VA_BITS_4LEVEL.value  # with 4-level paging
HIDDEN = "hidden without CAP_SYS_ADMIN"
_PRESENT_BIT = constants.PAGEMAP_PRESENT_BIT.value
_EXCLUSIVE_BIT = constants.PAGEMAP_EXCLUSIVE_BIT.value
_PFN_BITS = constants.PAGEMAP_PFN_BITS.value


# --------------------------------------------------------------------------- page walk


@dataclass(frozen=True)
class AddressSplit:
    """A virtual address cut the way the MMU walks it, with 4- or 5-level paging."""

    address: int
    sign: int  # the bits above the translated ones: copies of the top translated bit
    indices: tuple[int, ...]  # one 9-bit index per level, top level first
    offset: int  # bits 11-0
    paging_levels: int = 4

    @property
    def levels(self) -> tuple[tuple[str, int], ...]:
        return LEVELS_BY_PAGING[self.paging_levels]

    @property
    def translated_bits(self) -> int:
        return self.paging_levels * INDEX_BITS + PAGE_SHIFT

    def index(self, level: str) -> int | None:
        """The index of the table called ``level`` (``PML4``), None if this mode has none."""
        for (name, _), value in zip(self.levels, self.indices):
            if name == level:
                return value
        return None

    pml5 = property(lambda self: self.index("PML5"))
    pml4 = property(lambda self: self.index("PML4"))
    pdpt = property(lambda self: self.index("PDPT"))
    pd = property(lambda self: self.index("PD"))
    pt = property(lambda self: self.index("PT"))

    @property
    def canonical(self) -> bool:
        """The bits above the translated ones all equal the top translated bit; anything
        else faults with #GP, not a page fault."""
        top = self.indices[0] >> (INDEX_BITS - 1)
        ones = (1 << (64 - self.translated_bits)) - 1
        return self.sign == (ones if top else 0)

    @property
    def page(self) -> int:
        """The address of the page holding ``address``."""
        return self.address & ~(PAGE_SIZE - 1)

    def recombine(self) -> int:
        """The address again, put together from its parts."""
        value = self.sign << self.translated_bits
        for (_, low), index in zip(self.levels, self.indices):
            value |= index << low
        return value | self.offset


def split_address(address: int, paging_levels: int = 4) -> AddressSplit:
    """Cut ``address`` (0 to 2**64 - 1) into the sign bits, one index per level of
    ``paging_levels``-level paging, and the offset."""
    if not 0 <= address < 1 << 64:
        raise ValueError(f"{address:#x} is not a 64-bit address")
    if paging_levels not in LEVELS_BY_PAGING:
        raise ValueError(f"{paging_levels}-level paging does not exist on x86-64")
    mask = (1 << INDEX_BITS) - 1
    levels = LEVELS_BY_PAGING[paging_levels]
    indices = tuple((address >> low) & mask for _, low in levels)
    translated = paging_levels * INDEX_BITS + PAGE_SHIFT
    return AddressSplit(address, address >> translated, indices, address & (PAGE_SIZE - 1),
                        paging_levels)


def paging_levels_of(selection: Selection) -> int:
    """The paging mode the capture recorded; 4-level for captures made before it was."""
    levels = selection.provenance_record.paging_levels
    return levels if levels in LEVELS_BY_PAGING else 4


def physical_address(pfn: int, offset: int) -> int:
    """Frame number times the page size plus the offset in the page."""
    return (pfn << PAGE_SHIFT) | offset


# --------------------------------------------------------------------------- pages


def page_range(selection: Selection, name: str) -> PagemapRange:
    """The pagemap range ``name`` of the selected checkpoint; ConfigError listing the ranges.

    A child process that asks again for a range its parent asked for has it twice
    (the runner hands a child its parent's ranges); the copies are the same pages.
    """
    found = [r for r in selection.snapshot.pagemap if r.name == name]
    if not found:
        known = ", ".join(dict.fromkeys(r.name for r in selection.snapshot.pagemap)) or "none"
        raise ConfigError(
            f"{selection.describe()}: no pagemap range {name!r} (ranges: {known})",
            sample=selection.sample,
        )
    return found[0]


def zero_frames(pages: Sequence[PageEntry]) -> frozenset[int]:
    """Frames mapped by more than one private anonymous page of ``pages``.

    Two pages of one private anonymous range hold separate data unless both were
    only read: then both map the kernel's shared zero page. (KSM could merge pages
    too, but no sample here asks for it.)
    """
    counts: dict[int, int] = {}
    for p in pages:
        if p.present and p.pfn is not None and not p.file_or_shared:
            counts[p.pfn] = counts.get(p.pfn, 0) + 1
    return frozenset(pfn for pfn, n in counts.items() if n > 1)


def find_page(selection: Selection, address: int) -> PageEntry | None:
    """The pagemap entry of the page holding ``address``, if a range covers it."""
    page = address & ~(PAGE_SIZE - 1)
    for r in selection.snapshot.pagemap:
        for p in r.pages:
            if p.vaddr == page:
                return p
    return None


@dataclass(frozen=True)
class Cell:
    """One page at one checkpoint, as the page view prints it."""

    present: bool
    exclusive: bool
    swapped: bool
    pfn: int | None
    zero: bool  # the shared zero page
    # A region holds the page at this checkpoint. pagemap reads a page no region holds
    # (unmapped, or moved away by mremap) as absent, like a mapped page never touched.
    mapped: bool = True

    @property
    def frame_text(self) -> str:
        if not self.present:
            return "swapped" if self.swapped else ""
        if self.pfn is None:
            return "hidden"
        return f"{self.pfn:#x}"


def _cells(pages: Sequence[PageEntry], selection: Selection | None = None) -> list[Cell]:
    zeros = zero_frames(pages)
    return [
        Cell(p.present, p.exclusive, p.swapped, p.pfn,
             p.present and p.pfn in zeros,
             selection is None or selection.snapshot.region_at(p.vaddr) is not None)
        for p in pages
    ]


def _bit(value: bool) -> str:
    return "1" if value else "0"


def render_page_view(selections: Sequence[Selection], name: str) -> str:
    """A table: one row per page of range ``name``, one column per checkpoint.

    Each cell shows bit 63 (present), bit 56 (exclusively mapped) and the frame; a
    value that differs from the same process's previous column (or, for its first, the
    column before) is marked. Runs of pages absent everywhere are folded into one row.
    """
    if not selections:
        raise ConfigError("page view of no checkpoint: name at least one")
    ranges = [page_range(s, name) for s in selections]
    base = ranges[0]
    for s, r in zip(selections, ranges):
        if (r.start, r.length) != (base.start, base.length):
            raise ConfigError(
                f"range {name!r} is {r.start:#x}+{r.length:#x} at {s.describe()} but "
                f"{base.start:#x}+{base.length:#x} at {selections[0].describe()}",
                sample=s.sample,
            )
    columns = [_cells(r.pages, s) for s, r in zip(selections, ranges)]
    references = _references(selections)
    heads = [_column_head(s) for s in selections]

    # No class on the table itself: Material styles only tables without one. One column
    # per checkpoint, each cell the page's two bits and its frame: five checkpoints fit
    # a desktop column (three columns per checkpoint did not, and hid the copy's frames).
    fid = _id("pages", selections[0].slug, name, selections[-1].checkpoint_name, str(len(selections)))
    label, summary = describe_page_view(selections, name, base, columns)
    out = ['<div class="roads-pages">', hidden_text(f"{fid}-desc", summary),
           f'<table aria-label="{_html.escape(label)}" aria-describedby="{fid}-desc">',
           "<thead>", "<tr>",
           '<th rowspan="2">page</th><th rowspan="2">virtual address</th>']
    out += [f'<th class="roads-pages-checkpoint">{h}</th>' for h in heads]
    out.append("</tr>")
    # What the three parts are is said once, in the notes under the table: it was a
    # tooltip on every heading and cell, which no keyboard or tap reached.
    out.append("<tr>" + '<th class="roads-pages-key">present excl. frame</th>' * len(selections)
               + "</tr>")
    out += ["</thead>", "<tbody>"]

    def absent(k: int) -> str | None:
        """What page ``k`` is at every checkpoint alike, when it is absent at all of
        them: "not present" (mapped) or "not mapped"; None otherwise."""
        if any(col[k].present for col in columns):
            return None
        mapped = {col[k].mapped for col in columns}
        return None if len(mapped) > 1 else "not present" if mapped.pop() else "not mapped"

    k = 0
    pages = base.pages
    while k < len(pages):
        state = absent(k)
        if state is not None:
            j = k
            while j + 1 < len(pages) and absent(j + 1) == state:
                j += 1
            if j > k:
                label = f"{k}–{j}"
                where = f"<code>{pages[k].vaddr:#x}</code>–<code>{pages[j].vaddr + PAGE_SIZE:#x}</code>"
                cells = f'<td colspan="{len(columns)}">{j - k + 1} pages, {state}</td>'
                out.append(f"<tr><td>{label}</td><td>{where}</td>{cells}</tr>")
                k = j + 1
                continue
        row = [f"<td>{k}</td>", f"<td><code>{pages[k].vaddr:#x}</code></td>"]
        for col, ref in zip(columns, references):
            row.append(_cell_html(col[k], None if ref is None else columns[ref][k]))
        out.append("<tr>" + "".join(row) + "</tr>")
        k += 1
    out += ["</tbody>", "</table>"]

    notes = _notes(columns)
    if notes:
        out.append('<p class="roads-notes">' + " ".join(notes) + "</p>")
    out.append("</div>")
    return "\n".join(out)


def _id(*parts: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


def describe_page_view(selections: Sequence[Selection], name: str, base: PagemapRange,
                       columns: list[list[Cell]]) -> tuple[str, str]:
    """The page view's accessible name and description: whose pages, and at each
    checkpoint how many were present, exclusively mapped, on the zero page."""
    n = len(base.pages)
    first = selections[0]
    label = (f"Pagemap of {first.sample} ({first.variant}), range {name!r}: {n} page"
             f"{'s' if n != 1 else ''} from {base.start:#x}, at {len(selections)} checkpoint"
             f"{'s' if len(selections) != 1 else ''}")
    parts = []
    for s, col in zip(selections, columns):
        present = sum(c.present for c in col)
        words = [f"{present} of {n} present"]
        unmapped = sum(not c.mapped for c in col)
        if unmapped:
            words.append(f"{unmapped} not mapped")
        exclusive = sum(c.present and c.exclusive for c in col)
        if present:
            words.append(f"{exclusive} exclusively mapped")
        zero = sum(c.zero for c in col)
        if zero:
            words.append(f"{zero} on the zero page")
        frames = sorted({c.pfn for c in col if c.present and c.pfn is not None and not c.zero})
        if frames:  # the zero page's, said above, aside
            words.append(f"1 frame, {frames[0]:#x}" if len(frames) == 1 else
                         f"{len(frames)} distinct frames, the lowest {frames[0]:#x}")
        parts.append(f"at {_column_head(s)}: " + ", ".join(words))
    return label, "; ".join(parts) + "."


def _references(selections: Sequence[Selection]) -> list[int | None]:
    """For each column, the column it is compared with: the last one before it of the
    same process, or else simply the one before (a child's first column against its
    parent's)."""
    out: list[int | None] = []
    for k, s in enumerate(selections):
        same = [j for j in range(k) if selections[j].snapshot.pid == s.snapshot.pid]
        out.append(same[-1] if same else (k - 1 if k else None))
    return out


def _column_head(s: Selection) -> str:
    words = _html.escape(s.checkpoint_name)
    if s.shared_name:
        words += f" ({_html.escape(s.role or f'#{s.ordinal}')})"
    return words


def _cell_html(cell: Cell, previous: Cell | None) -> str:
    """One page at one checkpoint: its present bit, its exclusive bit and its frame, in
    one cell; each part that changed since ``previous`` is marked."""
    def marked(text: str, changed: bool, what: str) -> str:
        body = f"<mark>{text}</mark>" if changed else text
        return f'<span class="roads-pages-{what}">{body}</span>'

    if not cell.mapped:
        gone = previous is not None and previous.mapped
        return "<td>" + marked("not mapped", gone, "unmapped") + "</td>"
    changed_present = previous is not None and previous.present != cell.present
    changed_exclusive = previous is not None and previous.exclusive != cell.exclusive
    changed_frame = (previous is not None and cell.present and previous.present
                     and cell.pfn is not None and previous.pfn is not None
                     and cell.pfn != previous.pfn)
    frame = cell.frame_text
    if frame and frame not in ("hidden", "swapped"):
        frame = f"<code>{frame}</code>"
    if cell.zero:  # its own span: the cell's words are drawn without spaces (the CSS)
        frame += ' <span class="roads-pages-zero">zero page</span>'
    parts = [
        marked(_bit(cell.present), changed_present, "bit"),
        marked(_bit(cell.exclusive), changed_exclusive, "bit"),
    ]
    if frame:
        parts.append(marked(frame, changed_frame, "frame"))
    return "<td>" + " ".join(parts) + "</td>"


def _notes(columns: list[list[Cell]]) -> list[str]:
    cells = [c for col in columns for c in col]
    notes = [f"Each cell: present (pagemap bit {_PRESENT_BIT}), excl. (exclusively mapped, "
             f"pagemap bit {_EXCLUSIVE_BIT}), frame (the page frame number, pagemap bits "
             f"0-{_PFN_BITS - 1}); physical address = frame × {PAGE_SIZE} + offset."]
    if any(c.zero for c in cells):
        notes.append("Zero page: the kernel's shared zero page, one frame mapped at several "
                     "addresses after reads only; the first write gives a page a frame of its own.")
    if any(not c.mapped for c in cells):
        notes.append("Not mapped: no region holds the page at that checkpoint; pagemap "
                     "reads such a page as absent.")
    if any(c.present and c.pfn is None for c in cells):
        notes.append(f"Frame numbers are {HIDDEN}: the bits are real, the frames unknown.")
    if len(columns) > 1:
        notes.append("Marked: changed since the process's previous column (a process's "
                     "first column is compared with the column before it).")
    return notes


def render_page_walk(selection: Selection, name: str) -> str:
    """The 9/9/9/9/12 split of a recorded address (or a range's start) and its frame.

    ``name`` is an address the sample recorded with ``ROADS_ADDRESS`` or, failing
    that, a range of ``ROADS_RANGE`` (its first byte is walked).
    """
    address = resolve_address(selection, name)
    split = split_address(address, paging_levels_of(selection))
    assert split.recombine() == address
    top = split.translated_bits
    widths = [("sign extension", 63, top, split.sign)] + [
        (f"{level} index", low + INDEX_BITS - 1, low, index)
        for (level, low), index in zip(split.levels, split.indices)
    ] + [("offset", PAGE_SHIFT - 1, 0, split.offset)]

    notes = _id("walk", selection.slug, name, "notes")
    label = (f"The bits of {name}, {address:#x}, split for {split.paging_levels}-level paging: "
             + ", ".join(f"{level} index {index}" for (level, _), index in zip(split.levels, split.indices))
             + f", offset {split.offset:#x}")
    out = ['<div class="roads-page-walk">',
           f'<table aria-label="{_html.escape(label)}" aria-describedby="{notes}">',
           "<thead><tr><th></th>"]
    out += [f"<th>bits {hi}–{lo}</th>" for _, hi, lo, _ in widths]
    out += ["</tr></thead>", "<tbody>", "<tr><th>part</th>"]
    out += [f"<td>{part}</td>" for part, _, _, _ in widths]
    out += ["</tr>", "<tr><th>binary</th>"]
    out += [f"<td><code>{value:0{hi - lo + 1}b}</code></td>" for _, hi, lo, value in widths]
    out += ["</tr>", "<tr><th>value</th>"]
    values = [f"<td><code>{split.sign:#x}</code></td>"]
    values += [f"<td>{index}</td>" for index in split.indices]
    values.append(f"<td><code>{split.offset:#05x}</code></td>")
    out += values + ["</tr>", "</tbody>", "</table>"]

    words = [f"<code>{_html.escape(name)}</code> = <code>{address:#x}</code>"]
    region = selection.snapshot.region_at(address)
    if region is not None:
        label = region.pathname or "anonymous memory"
        words.append(f"in <code>{_html.escape(label)}</code> "
                     f"(<code>{region.start:#x}</code>–<code>{region.end:#x}</code>, {region.perms})")
    if not split.canonical:
        words.append(f"is not canonical: bits {constants.ADDRESS_BITS.value - 1}–{top} are not copies of bit {top - 1}, so any "
                     f"access faults with #GP before a page table is read "
                     f"({split.paging_levels}-level paging)")
    sentence = " ".join(words) + "."

    page = find_page(selection, address)
    if page is None:
        frame = ("No pagemap range covers this page, so its frame was not recorded "
                 "(ask for one with <code>ROADS_RANGE</code>).")
    elif not page.present:
        frame = "The page is not present: the walk ends at an empty entry and the access faults."
    elif page.pfn is None:
        frame = f"The page is present; its frame number is {HIDDEN}."
    else:
        phys = physical_address(page.pfn, split.offset)
        frame = (f"Frame <code>{page.pfn:#x}</code> × {PAGE_SIZE} + offset <code>{split.offset:#x}</code> "
                 f"= physical address <code>{phys:#x}</code>.")
    return "\n".join(out + [f'<p class="roads-notes" id="{notes}">{sentence} {frame}</p>', "</div>"])


def resolve_address(selection: Selection, name: str) -> int:
    """A recorded address by name, or the start of a pagemap range of that name."""
    for a in selection.snapshot.addresses:
        if a.name == name:
            return a.value
    for r in selection.snapshot.pagemap:
        if r.name == name:
            return r.start
    addresses = ", ".join(a.name for a in selection.snapshot.addresses) or "none"
    ranges = ", ".join(dict.fromkeys(r.name for r in selection.snapshot.pagemap)) or "none"
    raise ConfigError(
        f"{selection.describe()}: no address or range {name!r} "
        f"(addresses: {addresses}; ranges: {ranges})",
        sample=selection.sample,
    )


def checkpoint_specs(checkpoints: object) -> list[tuple[str, str | int | None]]:
    """``(name, pid)`` pairs from what a page may write: a name, or a list whose items
    are names or ``[name, pid]`` pairs (pid: "parent", "child" or an ordinal)."""
    items = [checkpoints] if isinstance(checkpoints, str) else checkpoints
    if not isinstance(items, (list, tuple)) or not items:
        raise ConfigError(f"checkpoints: a name or a list of names, not {checkpoints!r}")
    out: list[tuple[str, str | int | None]] = []
    for item in items:
        if isinstance(item, str):
            out.append((item, None))
        elif isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
            out.append((item[0], item[1]))
        else:
            raise ConfigError(f"checkpoints: {item!r} is neither a name nor [name, pid]")
    return out
