"""The memory-map table: ``/proc/PID/maps`` and smaps as an HTML table.

One row per region, in the order of ``maps`` (lowest address first): start, end,
size, permissions, offset, kind, name, Rss and Pss; right under it, a row listing
the recorded addresses and symbols that point into it, if any. Gaps between regions can appear as rows of their own
("unmapped, 21.8 TiB"), the non-canonical hole and the kernel half included. Every
row has a stable id (``row_id``) that the address-space diagram links to.

The table has no class of its own, so Material styles it like any Markdown table;
the wrapping ``div.roads-map`` and the cells' classes are styled by
``docs/stylesheets/figures.css``, and ``figures-more.css`` lays each row out on a phone
as a block of lines (with the roles below kept).
"""

from __future__ import annotations

from html import escape

from . import hints
from .filenames import described
from .regions import ADDRESS_END, GAP_KINDS, KINDS, Band, MemoryMap, Pointer
from .summary import hidden_text, overview
from ..units import hex_address, human_size

COLUMNS = ("start", "end", "size", "perms", "offset", "kind", "name", "Rss", "Pss")
# Each part of the table carries the role it has as a table element: on a phone the rows
# are laid out as blocks of lines (figures-more.css), and a browser may drop the table's
# semantics (rows, cells, their headers) from elements that are not displayed as a table.
CELL = '<td role="cell">'


# The table's one control for what its cells say beyond their words (roads.figures.hints):
# those were tooltips alone, out of a keyboard's and a tap's reach.
HINTS_CONTROL = hints.control(
    "What each kind and gap is, and each file's whole path",
    "Shown in the table: under each kind, what it is and why the region is of it; under "
    "each gap, what it is; under a file's name, its whole path.")


def _address_cell(address: int) -> str:
    """An address as ``maps`` prints it (hex without "0x"), which keeps the table narrow."""
    if address >= ADDRESS_END:
        return "2<sup>64</sup>"
    return f"<code>{hex_address(address)[2:]}</code>"


def row_id(slug: str, start: int, *, gap: bool = False) -> str:
    """The HTML id of the row for the region (or gap) starting at ``start``."""
    return f"map-{slug}-{'gap-' if gap else ''}{start:x}"


def region_key(slug: str, start: int, *, gap: bool = False) -> str:
    """What a region (or gap) of one figure is, shared by its table row and its box in
    the diagram as ``data-roads-region``: docs/javascripts/linking.js pairs the two."""
    return f"{slug}/{'gap-' if gap else ''}{start:x}"


def figure_id(slug: str) -> str:
    """The HTML id of a whole table."""
    return f"map-{slug}"


def render_table(mm: MemoryMap, *, gaps: bool = True, caption: str | None = None) -> str:
    """The memory map of ``mm`` as an HTML fragment (no blank lines, so Markdown keeps it).

    ``gaps`` adds a row for every stretch of address space between two regions.
    ``caption`` replaces the default caption, which names the sample, variant and
    checkpoint.
    """
    slug = mm.selection.slug
    if caption is None:
        caption = f"Memory map of {mm.selection.describe()}, from /proc/{mm.selection.snapshot.pid}/smaps"
    head = "".join(f'<th scope="col" role="columnheader">{escape(c)}</th>' for c in COLUMNS)
    rows = []
    for band in mm.bands():
        if band.region is not None:
            rows.append(_region_row(mm, band, slug))
        elif gaps:
            rows.append(_gap_row(band, slug) + _holds(mm.pointers_in_gap(band)))

    desc = f"{figure_id(slug)}-desc"
    parts = [
        f'<div class="roads-map" id="{figure_id(slug)}">',
        HINTS_CONTROL,
        hidden_text(desc, overview(mm)),
        f'<table role="table" aria-describedby="{desc}">',
        f"<caption>{escape(caption)}</caption>",
        f'<thead role="rowgroup"><tr role="row">{head}</tr></thead>',
        '<tbody role="rowgroup">',
        *rows,
        "</tbody>",
        "</table>",
    ]
    # A value below mmap_min_addr cannot be the address of anything a program maps
    # (sizes, counts, NULL); above it, a pointer into unmapped memory (a probe, a
    # freed block).
    low = mm.selection.provenance_record.mmap_min_addr or 0
    numbers = [p for p in mm.stray if p.address < max(low, 1)]
    outside = [p for p in mm.stray if p.address >= max(low, 1)]
    if not gaps:  # no gap row to list a fault's address under
        outside += [p for band in mm.bands() for p in mm.pointers_in_gap(band)]
    for found, words in ((numbers, "Recorded numbers, too low to be addresses of mapped memory"),
                         (outside, "Recorded addresses outside every region")):
        if found:
            values = ", ".join(
                f"<code>{escape(p.name)}</code> = <code>{p.address:#x}</code>" for p in found
            )
            parts.append(f'<p class="roads-map-note">{words}: {values}</p>')
    parts.append("</div>")
    return "\n".join(parts) + "\n"


def _region_row(mm: MemoryMap, band: Band, slug: str) -> str:
    c = band.region
    assert c is not None
    r = c.region
    kind = KINDS[c.kind]
    classes = [f"roads-kind-{c.kind}"]
    flags = []
    if c.guard:
        classes.append("roads-guard" if c.kind == "guard" else "roads-noaccess")
        flags.append("no access")
    if c.writable_and_executable:
        classes.append("roads-wx")
        flags.append("W+X")
    if r.pathname:
        shown = r.filename if r.pathname.startswith("/") else r.pathname
        name = f'<span title="{escape(described(r))}">{escape(shown)}</span>'
        if described(r) != shown:
            name += hints.hint(escape(described(r)), "roads-map-path")
    else:
        name = '<span class="roads-muted">anonymous</span>'
    kind_cell = (
        f'<span class="roads-swatch roads-kind-{c.kind}" aria-hidden="true"></span>'
        f'<span title="{escape(kind.about + "; " + c.why)}">{escape(kind.label)}</span>'
    )
    hint = hints.hint(escape(kind.about + "; " + c.why))
    if flags:
        kind_cell += " " + " ".join(f'<strong class="roads-flag">{escape(f)}</strong>' for f in flags)
    kind_cell += hint
    cells = [
        _address_cell(r.start),
        _address_cell(r.end),
        human_size(r.size),
        f"<code>{escape(r.perms)}</code>",
        f"<code>{r.offset:#x}</code>" if r.offset else "<code>0</code>",
        kind_cell,
        name,
        _kib(r.kb.get("Rss")),
        _kib(r.kb.get("Pss")),
    ]
    body = "".join(f"{CELL}{cell}</td>" for cell in cells)
    row = (f'<tr role="row" id="{row_id(slug, r.start)}" '
           f'data-roads-region="{region_key(slug, r.start)}" '
           f'class="{" ".join(classes)}">{body}</tr>')
    # A row of its own under the region, so the table stays narrow enough for
    # Material's content column.
    row += _holds(mm.pointers_in(r.index))
    return row


def _gap_row(band: Band, slug: str) -> str:
    kind = GAP_KINDS[band.kind]
    cells = [
        _address_cell(band.start),
        _address_cell(band.end),
        human_size(band.size),
        f'<td role="cell" colspan="{len(COLUMNS) - 3}"><span title="{escape(band.about)}">'
        f"{escape(kind.label)}, {human_size(band.size)}</span>{hints.hint(escape(band.about))}</td>",
    ]
    body = "".join(f"{CELL}{cell}</td>" for cell in cells[:3]) + cells[3]
    return (f'<tr role="row" id="{row_id(slug, band.start, gap=True)}" '
            f'data-roads-region="{region_key(slug, band.start, gap=True)}" '
            f'class="roads-gap roads-gap-{band.kind}">{body}</tr>')


def _holds(pointers: tuple[Pointer, ...]) -> str:
    """The row under a region's or a gap's that lists the addresses pointing into it;
    "" for none."""
    if not pointers:
        return ""
    listed = " · ".join(_pointer(p) for p in pointers)
    return (f'\n<tr role="row" class="roads-holds"><td role="cell" colspan="{len(COLUMNS)}">'
            f'<span class="roads-muted">points here:</span> {listed}</td></tr>')


def _kib(value: int | None) -> str:
    return "" if value is None else human_size(value * 1024)


def _pointer(p: Pointer) -> str:
    """``name 0x...``, with "(symbol)" for a symbol the sample did not record itself."""
    note = ' <span class="roads-muted">(symbol)</span>' if p.source == "symbol" else ""
    return (f'<span><code>{escape(p.name)}</code> '
            f'<code class="roads-muted">{p.address:#x}</code>{note}</span>')
