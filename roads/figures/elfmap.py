"""From the file to memory: PT_LOAD segments and their sections beside the regions they became.

The figure puts the executable's program headers (``readelf -l``) on the left, each
``PT_LOAD`` with the sections it holds, and the lines of ``maps`` that came from
them on the right, joined by arrows, highest address on top as in the address-space
diagrams. It shows what ``roads.figures.elflink.link_segments`` finds:

* the page rule: ``p_offset ≡ p_vaddr (mod 4096)``, so that mmap can map whole file
  pages; both numbers end in the same three hex digits;
* RELRO: ``PT_GNU_RELRO`` pages made read-only after relocation split the data
  segment, so one file offset appears twice in ``maps``;
* the bss: ``p_memsz`` past ``p_filesz``, first the zeroed tail of the last file
  page, then, for a large one, whole anonymous pages: a region of its own.

``elf_map`` gathers the records (pure), ``build_graph`` makes the DOT source, and
``render_elf_figure`` returns the inline ``<figure>``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from html import escape

import graphviz

from .diagram import COLOURS, MONO, dot_text, laid_out_graph
from ..document import Elf, Section, Segment
from ..elfspec import PAGE_SIZE, PF_W, PF_X
from .elflink import SegmentLink, link_segments
from ..errors import ConfigError, RoadsError, printable
from .regions import KINDS, Classified, memory_map
from .select import Selection
from .svg import inline, render
from ..units import hex_address
from ..units import human_size, unbroken

REGION_WIDTH = 2.2  # inches; a wider label widens its box
SEGMENT_MARGIN = 0.08  # inches, left and right of a box's label
BAR_WIDTH = 160  # points: a segment's p_memsz drawn to length, p_filesz its first part
BAR_HEIGHT = 7
# Sentinel fills of the bar's two parts: ``render_elf_figure`` gives the polygons that
# carry them a class, so that the stylesheet paints them in either palette.
BAR_FILE, BAR_BSS = "#fffffe", "#010101"


@dataclass(frozen=True)
class ElfMap:
    """An executable's PT_LOAD segments linked to the regions of one snapshot."""

    selection: Selection
    elf: Elf
    bias: int  # run-time address minus p_vaddr
    links: tuple[SegmentLink, ...]  # one per PT_LOAD, in program header order
    regions: tuple[Classified, ...]  # every region of the snapshot, classified

    def segment(self, link: SegmentLink) -> Segment:
        return self.elf.segments[link.index]

    def load_number(self, link: SegmentLink) -> int:
        """The segment's position among the PT_LOADs (0 for the first)."""
        return [l.index for l in self.links].index(link.index)

    def sections(self, link: SegmentLink) -> tuple[Section, ...]:
        """The sections of the segment, as readelf maps them, in address order."""
        names = set(self.segment(link).sections)
        return tuple(sorted((s for s in self.elf.sections if s.name in names),
                            key=lambda s: (s.sh_addr, s.name)))

    @property
    def relro_sections(self) -> frozenset[str]:
        relro = self.elf.relro
        return frozenset(relro.sections) if relro is not None else frozenset()

    @property
    def in_place(self) -> bool:
        """Whether every PT_LOAD is mapped as the loader leaves it: each page of the
        segment in a region, with the segment's execute and write permissions (the pages
        of PT_GNU_RELRO writable or, once relocated, read-only). Not while ld.so is still
        mapping the file, a piece at a time (first the whole file read-only, then each
        segment over it, then the bss), nor where only part of it is mapped."""
        return all(self._segment_in_place(link) for link in self.links)

    def _segment_in_place(self, link: SegmentLink) -> bool:
        flags = self.segment(link).p_flags
        covered = link.start
        for k in sorted(link.regions, key=lambda k: self.regions[k].region.start):
            r = self.regions[k].region
            if r.start > covered:  # a page of the segment in no region
                return False
            covered = max(covered, r.end)
            perms = r.perms[:3]
            if ("x" in perms) != bool(flags & PF_X):
                return False
            relro = link.relro is not None and link.relro[0] <= r.start and r.end <= link.relro[1]
            if ("w" in perms) != bool(flags & PF_W) and not (relro and "w" not in perms):
                return False
        return covered >= link.end

    def users_of(self, region_index: int) -> tuple[int, ...]:
        """The PT_LOAD numbers whose segment became region ``region_index``."""
        return tuple(self.load_number(l) for l in self.links if region_index in l.regions)


def elf_map(selection: Selection) -> ElfMap:
    """Link the selected snapshot's executable to its regions; ConfigError if it cannot be."""
    elf = selection.elf
    if elf is None:
        raise ConfigError(f"{selection.describe()}: the capture holds no ELF record",
                          sample=selection.sample)
    if not selection.exe_matches_elf:
        raise ConfigError(
            f"{selection.describe()}: the process runs {selection.snapshot.exe}, not the "
            f"{selection.SUBJECT}'s own executable, so its PT_LOADs say nothing about these "
            "regions",
            sample=selection.sample,
        )
    mm = memory_map(selection)
    if mm.bias is None:
        raise ConfigError(f"{selection.describe()}: the executable's regions were not found "
                          "in maps", sample=selection.sample)
    regions = selection.snapshot.regions
    try:
        links = link_segments(elf, regions, selection.snapshot.exe, mm.bias)
    except RoadsError as exc:
        raise ConfigError(f"{selection.describe()}: {exc.message}", sample=selection.sample) from None
    # A library's regions were read as the program's: each gets the library's kind.
    regions = tuple(replace(c, kind=_kind_of(selection, c.kind)) for c in mm.regions)
    return ElfMap(selection, elf, mm.bias, tuple(links), regions)


# The kinds of an executable's own regions, each with a library's kind: "lib-" before it.
_OWN_KINDS = frozenset({"text", "rodata", "relro", "data", "bss"})


def _kind_of(selection: Selection, kind: str) -> str:
    """``kind`` of the selected ELF's own pieces: the library's kind for a library."""
    return f"lib-{kind}" if selection.is_library and kind in _OWN_KINDS else kind


# --------------------------------------------------------------------------- graph


def figure_id(em: ElfMap) -> str:
    return f"elf-{em.selection.slug}"


def _h(text: str) -> str:
    """Text for a Graphviz HTML-like label, control characters (a section's name may
    hold any) written as escapes (``diagram.dot_text``)."""
    return escape(printable(text), quote=False)


def _congruence(seg, link: SegmentLink) -> str:
    """Whether a PT_LOAD's file offset and address agree below the page size, as mmap
    needs them to: "0x2d50 ≡ 0x3d50 (mod 0x1000): both end in ...d50"."""
    if not link.congruent:
        return f"{seg.p_offset:#x} ≢ {seg.p_vaddr:#x} (mod {PAGE_SIZE:#x}): mmap cannot map this"
    digits = (PAGE_SIZE.bit_length() - 1 + 3) // 4  # hex digits below the page size
    return (f"{seg.p_offset:#x} ≡ {seg.p_vaddr:#x} (mod {PAGE_SIZE:#x}): both end in "
            f"...{seg.p_offset % PAGE_SIZE:0{digits}x}")


def _segment_label(em: ElfMap, link: SegmentLink, width: float | None = None) -> str:
    """The segment's box: its program header, its bar, its sections and notes; with
    ``width`` (points) the table is that wide, its rows flush left."""
    seg = em.segment(link)
    number = em.load_number(link)
    rows = [
        f'<TR><TD COLSPAN="4" ALIGN="LEFT"><B>PT_LOAD #{number}</B>  '
        f"{_h(seg.flags.strip() or '---')}</TD></TR>",
        f'<TR><TD COLSPAN="4" ALIGN="LEFT">file: p_offset {seg.p_offset:#x}, '
        f"p_filesz {seg.p_filesz:#x}</TD></TR>",
        f'<TR><TD COLSPAN="4" ALIGN="LEFT">memory: p_vaddr {seg.p_vaddr:#x}, '
        f"p_memsz {seg.p_memsz:#x}</TD></TR>",
    ]
    rows += _bar_rows(seg.p_filesz, seg.p_memsz)
    rows.append(f'<TR><TD COLSPAN="4" ALIGN="LEFT"><I>{_h(_congruence(seg, link))}</I></TD></TR>')
    rows.append('<TR><TD ALIGN="LEFT"><U>section</U></TD><TD ALIGN="RIGHT"><U>offset</U></TD>'
                '<TD ALIGN="RIGHT"><U>address</U></TD><TD ALIGN="RIGHT"><U>size</U></TD></TR>')
    relro = em.relro_sections
    for s in reversed(em.sections(link)):
        name = _h(s.name)
        if s.name in relro:
            name += " <I>(RELRO)</I>"
        if s.sh_type == "SHT_NOBITS":
            name += " <I>(no file bytes)</I>"
            offset = "—"
        else:
            offset = f"{s.sh_offset:#x}"
        rows.append(
            f'<TR><TD ALIGN="LEFT">{name}</TD>'
            f'<TD ALIGN="RIGHT"><FONT FACE="{MONO}">{offset}</FONT></TD>'
            f'<TD ALIGN="RIGHT"><FONT FACE="{MONO}">{s.sh_addr:#x}</FONT></TD>'
            f'<TD ALIGN="RIGHT"><FONT FACE="{MONO}">{s.sh_size:#x}</FONT></TD></TR>'
        )
    for note in _segment_notes(em, link):
        rows.append(f'<TR><TD COLSPAN="4" ALIGN="LEFT"><I>{_h(note)}</I></TD></TR>')
    if width:
        # A row as wide as the widest segment's table: its columns spread to that width
        # (a TABLE's WIDTH would only centre the table in a wider box).
        rows.append(f'<TR><TD COLSPAN="4" WIDTH="{width:.0f}" HEIGHT="0" FIXEDSIZE="TRUE" '
                    'CELLPADDING="0"></TD></TR>')
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
            + "".join(rows) + "</TABLE>>")


def bar_widths(filesz: int, memsz: int, width: int = BAR_WIDTH) -> tuple[int, int]:
    """The lengths, in points, of the file part and the zero-filled part of a bar
    ``width`` long for ``memsz`` bytes; a part that holds any byte is at least 2."""
    if memsz <= 0:
        return width, 0
    file_part = round(width * min(filesz, memsz) / memsz)
    if 0 < filesz < memsz:
        file_part = min(max(file_part, 2), width - 2)
    return file_part, width - file_part


def _bar_rows(filesz: int, memsz: int) -> list[str]:
    """A bar of p_memsz drawn to length, its first p_filesz from the file and the rest,
    the bss, zero-filled; the arrows to the regions leave from its end (port ``mem``)."""
    file_part, zero_part = bar_widths(filesz, memsz)
    cells = []
    for fill, length in ((BAR_FILE, file_part), (BAR_BSS, zero_part)):
        if length:
            cells.append(f'<TD BGCOLOR="{fill}" WIDTH="{length}" HEIGHT="{BAR_HEIGHT}" '
                         'FIXEDSIZE="TRUE"></TD>')
    bar = ('<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0" FIXEDSIZE="TRUE" '
           f'WIDTH="{BAR_WIDTH}" HEIGHT="{BAR_HEIGHT}"><TR>' + "".join(cells) + "</TR></TABLE>")
    if memsz > filesz:
        words = "p_memsz to scale: hollow from the file, solid zero-filled (bss)"
    else:
        words = "p_memsz to scale, all of it from the file"
    return [f'<TR><TD COLSPAN="4" ALIGN="LEFT" PORT="mem">{bar}</TD></TR>',
            f'<TR><TD COLSPAN="4" ALIGN="LEFT"><I>{_h(words)}</I></TD></TR>']


def _segment_notes(em: ElfMap, link: SegmentLink) -> list[str]:
    notes = []
    if link.relro is not None:
        lo, hi = link.relro
        covering = [em.regions[k].region for k in link.regions
                    if em.regions[k].region.start < hi and em.regions[k].region.end > lo]
        if link.relro_applied:
            state = "made read-only after relocation"
        elif covering and all(r.perms[:3] == "r--" for r in covering):
            state = "not in place yet: ld.so is loading the file"  # mapped whole, read-only
        else:
            state = "still writable: not relocated yet"
        # Two lines: on one, this note alone made the box twice as wide as the others,
        # and the whole figure had to shrink to illegible text to fit the page.
        notes.append(f"PT_GNU_RELRO pages {hex_address(lo)}-{hex_address(hi)}:")
        notes.append(f"  {state}")
    if link.bss is not None:
        lo, hi = link.bss
        notes.append(f"bss: {hi - lo:#x} bytes past the file's {em.segment(link).p_filesz:#x}")
        if link.bss_tail:
            notes.append(f"  {link.bss_tail:#x} of them: the zeroed tail of the last file page")
        if link.bss_pages is not None:
            plo, phi = link.bss_pages
            pages = (phi - plo) // PAGE_SIZE
            notes.append(f"  {link.bss_page_bytes:#x} of them: in {pages} anonymous "
                         f"page{'s' if pages != 1 else ''}")
    for other in link.shares_file_page_with:
        number = [l.index for l in em.links].index(other)
        notes.append(f"shares a file page with PT_LOAD #{number}")
    return notes


def _region_label(em: ElfMap, index: int) -> str:
    c = em.regions[index]
    r = c.region
    lines = [f"{hex_address(r.start)}-{hex_address(r.end)}",
             f"{r.perms} · {human_size(r.size)} · " + (f"file offset {r.offset:#x}" if r.pathname.startswith("/")
                                                        else (r.pathname or "anonymous"))]
    lines.append(c.label)
    users = em.users_of(index)
    same_offset = [k for k, o in enumerate(em.regions)
                   if k != index and o.region.pathname == r.pathname and r.pathname.startswith("/")
                   and o.region.offset == r.offset]
    if same_offset:
        lines.append(f"offset {r.offset:#x} is mapped twice")
    if len(users) > 1:
        lines.append("from PT_LOAD " + " and ".join(f"#{u}" for u in users))
    # One row per line, padded: lines of a plain multi-line label touched (a label's
    # underscore on the line below it) in the browser's font.
    rows = "".join(f"<TR><TD>{_h(x)}</TD></TR>" for x in lines)
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{rows}</TABLE>>'


def _edge_label(em: ElfMap, link: SegmentLink, index: int) -> str:
    r = em.regions[index].region
    if link.bss_pages is not None and not r.pathname.startswith("/"):
        return "bss pages"
    if link.relro is not None and link.relro_applied and link.relro[0] <= r.start \
            and r.end <= link.relro[1]:
        return "RELRO"
    return ""


def build_graph(em: ElfMap, *, segment_width: float | None = None,
                region_width: float = REGION_WIDTH) -> graphviz.Digraph:
    """Segments left, regions right, highest address on top; deterministic. With
    ``segment_width`` (points) every segment's table is that wide, and every region box
    ``region_width`` (inches): ``render_elf_figure`` passes the widest of each, so that
    both columns have straight edges. Each arrow leaves from the end of its segment's bar."""
    fid = figure_id(em)
    g = laid_out_graph(fid, rankdir="LR", ranksep="0.6", nodesep="0.12",
                       node_margin=f"{SEGMENT_MARGIN},0.04", edge_penwidth="0.9")

    links = sorted(em.links, key=lambda l: -l.start)
    region_ids = sorted({k for l in em.links for k in l.regions},
                        key=lambda k: -em.regions[k].region.start)
    with g.subgraph(name="segments") as col:
        col.attr(rank="same")
        col.node("hs", label=dot_text(f"{em.selection.sample}: program headers"),
                 shape="plaintext", **{"class": "roads-elf-head"})
        previous = "hs"
        for link in links:
            kind = _segment_kind(em, link)
            node = f"s{link.index}"
            col.node(node, label=_segment_label(em, link, segment_width), shape="box",
                     style="filled", fillcolor=COLOURS.get(kind, COLOURS["other"]),
                     color="#555555", id=f"{fid}-seg-{link.index}",
                     **{"class": f"roads-region roads-elf-segment roads-kind-{kind}"})
            col.edge(previous, node, style="invis")
            previous = node
    with g.subgraph(name="regions") as col:
        col.attr(rank="same")
        col.node("hr", label=dot_text("/proc/PID/maps"),
                 shape="plaintext", **{"class": "roads-elf-head"})
        previous = "hr"
        for k in region_ids:
            c = em.regions[k]
            node = f"r{k}"
            col.node(node, label=_region_label(em, k), shape="box", style="filled",
                     fillcolor=COLOURS.get(c.kind, COLOURS["other"]), color="#555555",
                     width=f"{region_width:.3f}" if region_width != REGION_WIDTH
                     else f"{REGION_WIDTH}", id=f"{fid}-{c.region.start:x}",
                     tooltip=dot_text(f"{KINDS[c.kind].label}: {c.why}"),
                     **{"class": f"roads-region roads-kind-{c.kind}"})
            col.edge(previous, node, style="invis")
            previous = node
    g.edge("hs", "hr", style="invis")
    for link in links:
        for k in sorted(link.regions, key=lambda k: -em.regions[k].region.start):
            label = _edge_label(em, link, k)
            attrs = {"label": dot_text(label)} if label else {}
            g.edge(f"s{link.index}:mem:e", f"r{k}:w", id=f"{fid}-edge-{link.index}-{k}",
                   **{"class": "roads-arrow"}, **attrs)
    return g


def _segment_kind(em: ElfMap, link: SegmentLink) -> str:
    """The colour of a segment, from its flags: code, writable data or read-only data;
    a library's own kinds for a library's segments (named so, not "program code")."""
    seg = em.segment(link)
    return _kind_of(em.selection, "text" if seg.p_flags & PF_X
                    else "data" if seg.p_flags & PF_W else "rodata")


def describe(em: ElfMap) -> tuple[str, str]:
    """Short label and long description, for screen readers."""
    s = em.selection
    short = (f"The {len(em.links)} PT_LOAD segments of {s.sample} and the "
             f"{len({k for l in em.links for k in l.regions})} regions they became ({s.describe()})")
    parts = []
    for link in em.links:
        seg = em.segment(link)
        regions = ", ".join(
            f"{hex_address(em.regions[k].region.start)}-{hex_address(em.regions[k].region.end)} "
            f"{em.regions[k].region.perms}" for k in link.regions)
        parts.append(f"PT_LOAD #{em.load_number(link)} ({seg.flags.strip()}, offset {seg.p_offset:#x}, "
                     f"{human_size(seg.p_filesz)} in the file, {human_size(seg.p_memsz)} in memory, "
                     f"sections {' '.join(seg.sections) or 'none'}) became {regions or 'nothing'}")
    bias = f"Load bias {em.bias:#x}. " if em.bias else "Loaded at its link-time addresses. "
    return short, bias + "; ".join(parts) + "."


def _widest(svg: str, fid: str) -> tuple[float, float]:
    """The widest segment table (points: its box less the node's margins) and the widest
    region box (inches) of a drawn figure, read as XML: each node's group, and the first
    polygon in it, however deep (a node with a link or a tooltip holds its shapes in a
    group of its own, which a pattern stopping at the first ``</g>`` cut short)."""
    from .svg import _SVG, _parse

    widths: dict[str, float] = {"seg": 0.0, "region": 0.0}
    for group in _parse(svg).iter(f"{_SVG}g"):
        ident = group.get("id") or ""
        if not ident.startswith(f"{fid}-") or "node" not in (group.get("class") or "").split():
            continue
        polygon = next(group.iter(f"{_SVG}polygon"), None)
        if polygon is None or not polygon.get("points"):
            continue
        xs = [float(p.split(",")[0]) for p in polygon.get("points").split()]
        which = "seg" if ident.startswith(f"{fid}-seg-") else "region"
        widths[which] = max(widths[which], (max(xs) - min(xs)) / 72)
    return widths["seg"] * 72 - 2 * SEGMENT_MARGIN * 72 - 2, widths["region"]


def render_elf_figure(em: ElfMap, *, cache_dir: str | os.PathLike[str] | None = None) -> str:
    """The figure: the SVG and a caption naming the load bias."""
    fid = figure_id(em)
    short, long = describe(em)
    # Laid out once to measure the boxes, then again with every box of a column as wide
    # as the widest.
    first = render(build_graph(em).source, cache_dir)
    segments, regions = _widest(first, fid)
    drawn = render(build_graph(em, segment_width=segments,
                               region_width=max(regions, REGION_WIDTH)).source, cache_dir)
    for fill, part in ((BAR_FILE, "file"), (BAR_BSS, "bss")):
        drawn = drawn.replace(f'<polygon fill="{fill}"',
                              f'<polygon class="roads-elf-bar-{part}" fill="{fill}"')
    svg = inline(drawn, fid=fid, css_class="roads-vas roads-elf-svg", short=short, long=long)
    bias = f"load bias {em.bias:#x}" if em.bias else "loaded at its link-time addresses (ET_EXEC)"
    caption = (f"{em.selection.sample}'s PT_LOAD segments (file offsets and link-time "
               f"addresses, highest first) and the regions of maps each became ({bias}).")
    return (f'<figure class="roads-figure roads-elf-figure" id="{fid}" data-search-exclude>\n{svg}'
            f"{narrow_html(em)}"
            f"<figcaption>{escape(caption)}</figcaption>\n</figure>\n")


def narrow_html(em: ElfMap) -> str:
    """The same figure for a narrow column, in HTML: each segment (highest first) with
    its bar and sections, and under it the regions it became. The stylesheet shows it
    instead of the SVG on a phone (docs/stylesheets/figures-more.css)."""
    fid = figure_id(em)
    # Described by the drawing's <desc>, which a phone does not show but still names.
    out = [f'<div class="roads-elf-narrow" role="group" aria-label="{escape(describe(em)[0])}" '
           f'aria-describedby="{fid}-desc">']
    relro = em.relro_sections
    for link in sorted(em.links, key=lambda l: -l.start):
        seg = em.segment(link)
        kind = _segment_kind(em, link)
        file_part, zero_part = bar_widths(seg.p_filesz, seg.p_memsz)
        rule = _congruence(seg, link)
        words = ("p_memsz to scale: hollow from the file, solid zero-filled (bss)"
                 if seg.p_memsz > seg.p_filesz else "p_memsz to scale, all of it from the file")
        rows = []
        for sec in reversed(em.sections(link)):
            name = escape(sec.name)
            if sec.name in relro:
                name += " <em>(RELRO)</em>"
            nobits = sec.sh_type == "SHT_NOBITS"
            if nobits:
                name += " <em>(no file bytes)</em>"
            offset = "—" if nobits else f"<code>{sec.sh_offset:#x}</code>"
            rows.append(f"<tr><td>{name}</td><td>{offset}</td><td><code>{sec.sh_addr:#x}</code></td>"
                        f"<td><code>{sec.sh_size:#x}</code></td></tr>")
        notes = "".join(f"<li>{escape(n.strip())}</li>" for n in _segment_notes(em, link))
        out.append(
            f'<div class="roads-elf-seg roads-kind-{kind}" id="{fid}-n-seg-{link.index}">'
            f'<p><strong>PT_LOAD #{em.load_number(link)}</strong> {escape(seg.flags.strip() or "---")}<br>'
            f"file: p_offset <code>{seg.p_offset:#x}</code>, p_filesz <code>{seg.p_filesz:#x}</code><br>"
            f"memory: p_vaddr <code>{seg.p_vaddr:#x}</code>, p_memsz <code>{seg.p_memsz:#x}</code></p>"
            f'<p class="roads-elf-bar" aria-hidden="true">'
            f'<span class="roads-elf-bar-file" style="width: {100 * file_part / BAR_WIDTH:.2f}%"></span>'
            f'<span class="roads-elf-bar-bss" style="width: {100 * zero_part / BAR_WIDTH:.2f}%"></span></p>'
            f"<p><em>{escape(words)}</em><br><em>{escape(rule)}</em></p>"
            '<table class="roads-elf-sections"><thead><tr><th>section</th><th>offset</th>'
            f"<th>address</th><th>size</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            + (f'<ul class="roads-elf-notes">{notes}</ul>' if notes else "")
            + "</div>")
        became = []
        for k in sorted(link.regions, key=lambda k: -em.regions[k].region.start):
            c = em.regions[k]
            r = c.region
            label = _edge_label(em, link, k)
            where = (f"file offset {r.offset:#x}" if r.pathname.startswith("/")
                     else (r.pathname or "anonymous"))
            extra = []
            if any(j != k and o.region.pathname == r.pathname and r.pathname.startswith("/")
                   and o.region.offset == r.offset for j, o in enumerate(em.regions)):
                extra.append(f"offset {r.offset:#x} is mapped twice")
            users = em.users_of(k)
            if len(users) > 1:
                extra.append("from PT_LOAD " + " and ".join(f"#{u}" for u in users))
            # The region's kind and why it is called so, written out: it was a tooltip,
            # which no keyboard reaches and a phone (where this layout shows) cannot tap.
            kind_words = f"{KINDS[c.kind].label}: {c.why}"
            named = "" if c.label == KINDS[c.kind].label else f"{escape(c.label)}<br>"
            became.append(
                f'<li class="roads-kind-{c.kind}">'
                f'<span class="roads-elf-arrow" aria-hidden="true">↓</span>'
                + (f'<em class="roads-elf-why">{escape(label)}</em> ' if label else "")
                + f"<code>{hex_address(r.start)}-{hex_address(r.end)}</code><br>"
                # The size's number and unit on one line (a phone broke "4" from "KiB").
                f"{escape(r.perms)} · {escape(unbroken(human_size(r.size)))} · {escape(where)}<br>"
                f"{named}{escape(kind_words)}" + "".join(f"<br>{escape(x)}" for x in extra) + "</li>")
        out.append(f'<ul class="roads-elf-became" aria-label="became">{"".join(became)}</ul>')
    out.append("</div>")
    return "".join(out) + "\n"
