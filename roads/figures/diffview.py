"""Drawing a map diff (``roads.figures.diff``): an HTML table of the changes and a diagram.

The table lists each changed region group with its words of change, its regions
before and after, and what changed (lineage) or which address bits differ (runs);
for runs a second table gives the recorded pointers. The diagram puts before on the
left and after on the right, one row per changed group, unchanged stretches folded,
laid out by ``dot`` and finished by ``roads.figures.svg``.
"""

from __future__ import annotations

import os
from html import escape
from typing import Sequence

import graphviz

from .diagram import COLOURS, FONT, box_height, laid_out_graph
from .diff import PAGE_BITS, Change, MapDiff, describe_bits
from .regions import KINDS
from .select import Region, Selection
from .svg import inline, render
from .table import hex_address
from ..units import human_size

# Border colour of a changed box in the diagram (the light scheme's; figures-more.css
# sets both schemes' through the roads-change-* classes).
CHANGE_COLOURS = {
    "added": "#2e7d32",
    "removed": "#c62828",
    "moved": "#1565c0",
    "grown": "#ef6c00",
    "shrunk": "#ef6c00",
    "split": "#00838f",
    "merged": "#00838f",
    "permissions": "#6a1b9a",
    "resident": "#546e7a",
}
DIFF_BOX_WIDTH = 2.4  # inches, as dot wants them
POINTS_PER_INCH = 72.0  # roads.figures.diagram measures in points


# --------------------------------------------------------------------------- HTML


def render_diff(diff: MapDiff, *, unchanged: bool = False) -> str:
    """The diff as an HTML table (no blank lines), with the ASLR bit table for runs."""
    b_sel, a_sel = diff.before.selection, diff.after.selection
    shown = [c for c in diff.changes if unchanged or c.changed]
    runs = diff.mode == "runs"
    head = ["change", "region", _side_name(b_sel, a_sel, True), _side_name(b_sel, a_sel, False),
            "bits that differ" if runs else "what"]
    out = ['<div class="roads-diff">', "<table>",
           "<thead><tr>" + "".join(f'<th scope="col">{escape(h)}</th>' for h in head) + "</tr></thead>",
           "<tbody>"]
    for group in (_by_object(shown) if runs else [[c] for c in shown]):
        out.append(_change_row(group, runs))
    if not shown:
        out.append(f'<tr><td colspan="{len(head)}">no region changed</td></tr>')
    out += ["</tbody>", "</table>"]
    same = sum(1 for c in diff.changes if not c.changed)
    notes = []
    if same and not unchanged:
        notes.append(f"{same} other region group{'s' if same != 1 else ''} unchanged.")
    if any("grown" in c.what and c.added and c.after and c.added[0][0] == c.after[0].start
           and not c.after[0].pathname for c in diff.changes):
        notes.append("An anonymous region that grows at its low end is usually a new mmap "
                     "placed right below it: the kernel merged the two, so maps shows one line.")
    if runs:
        notes.append(_bits_note(diff))
    if notes:
        out.append('<p class="roads-notes">' + " ".join(notes) + "</p>")
    if runs and diff.pointers:
        out += _pointer_table(diff)
    out.append("</div>")
    return "\n".join(out)


def _side_name(b: Selection, a: Selection, before: bool) -> str:
    s = b if before else a
    if (b.variant, b.run) != (a.variant, a.run):
        words = []
        if b.variant != a.variant:
            words.append(s.variant)
        if b.run != a.run:
            words.append(f"run {s.run}")
        return ", ".join(words)
    words = s.checkpoint_name
    if s.shared_name or b.snapshot.pid != a.snapshot.pid:
        words += f" ({s.role or 'process #' + str(s.ordinal)})"
    return words if b.checkpoint_name != a.checkpoint_name or b.snapshot.pid != a.snapshot.pid \
        else ("before" if before else "after")


def _caption(diff: MapDiff) -> str:
    b, a = diff.before.selection, diff.after.selection
    return f"From {b.describe()} to {a.describe()}"


def _by_object(changes: Sequence[Change]) -> list[list[Change]]:
    """Runs: neighbouring changes of one file that moved by the same amount, as one row.

    All the pieces of one ELF object move together, so one row says it once.
    """
    groups: list[list[Change]] = []
    for c in changes:
        last = groups[-1][-1] if groups else None
        if last is not None and c.label == last.label and c.before and c.after \
                and last.before and last.after and c.before[0].pathname.startswith("/") \
                and _delta(c) == _delta(last) and c.what == last.what:
            groups[-1].append(c)
        else:
            groups.append([c])
    return groups


def _delta(c: Change) -> int:
    return c.after[0].start - c.before[0].start


def _change_row(group: Sequence[Change], runs: bool) -> str:
    c = group[0]
    words = " ".join(f'<strong class="roads-change-{w}">{w}</strong>' for w in c.what)
    kind = KINDS[c.kind]
    label = escape(c.label)
    if len(group) > 1:
        label += f" ({len(group)} regions)"
    region = (f'<span class="roads-swatch roads-kind-{c.kind}" aria-hidden="true"></span>'
              f'<span title="{escape(kind.label)}">{label}</span>')
    before = [r for g in group for r in g.before]
    after = [r for g in group for r in g.after]
    if runs:
        last = _bits_cell(c)
    else:
        last = _what_cell(c)
    cells = [words, region, _regions_cell(before), _regions_cell(after), last]
    classes = " ".join(f"roads-change-{w}" for w in c.what)
    return f'<tr class="{classes}">' + "".join(f"<td>{x}</td>" for x in cells) + "</tr>"


def _regions_cell(regions: Sequence[Region]) -> str:
    if not regions:
        return '<span class="roads-muted">—</span>'
    # The cell may wrap after the range's dash, but a size stays with its unit and
    # its permissions (no-break spaces), so that "1040" and "KiB" never part.
    if len(regions) > 2:
        size = _unbroken(human_size(sum(r.size for r in regions)))
        return (f"<code>{hex_address(regions[0].start)}</code>–<code>{hex_address(regions[-1].end)}</code> "
                f"{size} in {len(regions)}\u00a0pieces")
    lines = []
    for r in regions:
        lines.append(f"<code>{hex_address(r.start)}</code>–<code>{hex_address(r.end)}</code> "
                     f"{_unbroken(human_size(r.size))}\u00a0<code>{escape(r.perms)}</code>")
    return "<br>".join(lines)


def _unbroken(text: str) -> str:
    return text.replace(" ", "\u00a0")


def _what_cell(c: Change) -> str:
    parts = []
    for lo, hi in c.added:
        parts.append(f"+{_unbroken(human_size(hi - lo))} at <code>{hex_address(lo)}</code>–<code>{hex_address(hi)}</code>")
    for lo, hi in c.removed:
        parts.append(f"−{_unbroken(human_size(hi - lo))} at <code>{hex_address(lo)}</code>–<code>{hex_address(hi)}</code>")
    if "permissions" in c.what:
        perms_b = "/".join(r.perms for r in c.before)
        perms_a = "/".join(r.perms for r in c.after)
        parts.append(f"<code>{escape(perms_b)}</code> → <code>{escape(perms_a)}</code>")
    if "resident" in c.what:
        rss_b = sum(r.kb.get("Rss", 0) for r in c.before) * 1024
        rss_a = sum(r.kb.get("Rss", 0) for r in c.after) * 1024
        parts.append(f"Rss {_unbroken(human_size(rss_b))} → {_unbroken(human_size(rss_a))}")
    if "moved" in c.what and c.before and c.after:
        delta = c.after[0].start - c.before[0].start
        sign = "+" if delta >= 0 else "−"
        parts.append(f"moved by {sign}{abs(delta):#x}")
    if c.pointers_added:
        parts.append("holds " + ", ".join(f"<code>{escape(n)}</code>" for n in c.pointers_added))
    if c.pointers_removed:
        parts.append("held " + ", ".join(f"<code>{escape(n)}</code>" for n in c.pointers_removed))
    return "<br>".join(parts)


def _bits_cell(c: Change) -> str:
    if c.xor is None:
        return "" if c.before and c.after else _what_cell(c)
    low = c.xor & ((1 << PAGE_BITS) - 1)
    text = escape(describe_bits(c.xor))
    return text if not low else f"<mark>{text}</mark>"


def _bits_note(diff: MapDiff) -> str:
    mask = diff.randomized_bits
    if not mask:
        return "No region moved: these runs were not randomised."
    low = mask & ((1 << PAGE_BITS) - 1)
    words = (f"Across all regions, {describe_bits(mask)} of the start address differ between "
             "these two runs (a random bit can agree by chance, so more bits may be random)")
    if not low:
        words += "; the low 12 never do, since every region starts on a 4 KiB page."
    else:
        words += "; some of the low 12 bits too, which page-aligned starts cannot show: check the capture."
    return words


def _pointer_table(diff: MapDiff) -> list[str]:
    b, a = diff.before.selection, diff.after.selection
    head = ["recorded pointer", _side_name(b, a, True), _side_name(b, a, False), "bits that differ"]
    out = ["<table>",
           "<thead><tr>" + "".join(f'<th scope="col">{escape(h)}</th>' for h in head) + "</tr></thead>",
           "<tbody>"]
    sub_page = []
    for p in diff.pointers:
        bits = escape(describe_bits(p.xor))
        if p.xor & ((1 << PAGE_BITS) - 1):
            bits = f"<mark>{bits}</mark>"
            sub_page.append(p)
        out.append(f"<tr><td><code>{escape(p.name)}</code></td><td><code>{p.before:#x}</code></td>"
                   f"<td><code>{p.after:#x}</code></td><td>{bits}</td></tr>")
    out += ["</tbody>", "</table>"]
    if sub_page:
        names = ", ".join(f"<code>{escape(p.name)}</code>" for p in sub_page)
        words = f"Marked: {names} also differ{'s' if len(sub_page) == 1 else ''} below bit 12, inside the page."
        if all(_in_stack(b, p.before) and _in_stack(a, p.after) for p in sub_page):
            words += (" The stack's region starts on a page like any other, but the kernel "
                      "also moves the initial stack pointer down by a random amount (below "
                      "8 KiB) before the program starts.")
        out.append(f'<p class="roads-notes">{words}</p>')
    return out


def _in_stack(selection: Selection, address: int) -> bool:
    region = selection.snapshot.region_at(address)
    return region is not None and region.pathname == "[stack]"


# --------------------------------------------------------------------------- diagram


def figure_id(diff: MapDiff) -> str:
    """The HTML id of a diff figure: both selections' slugs."""
    b, a = diff.before.selection, diff.after.selection
    tail = a.slug.removeprefix(f"{a.sample}-{a.variant}-") if a.sample == b.sample else a.slug
    return f"diff-{b.slug}-to-{tail}"


def _rows(diff: MapDiff, unchanged: bool) -> list[list[Change] | int]:
    """Diagram rows, lowest address first: groups of changes, or a count of unchanged
    groups folded into one row."""
    groups = _by_object(diff.changes) if diff.mode == "runs" else [[c] for c in diff.changes]
    rows: list[list[Change] | int] = []
    for g in groups:
        if g[0].changed or unchanged:
            rows.append(g)
        elif rows and isinstance(rows[-1], int):
            rows[-1] += 1
        else:
            rows.append(1)
    return rows


def _box_label(group: Sequence[Change], regions: Sequence[Region]) -> str:
    c = group[0]
    title = c.label + (f" ({len(regions)} regions)" if len(regions) > 1 else "")
    perms = "/".join(dict.fromkeys(r.perms for r in regions))
    size = human_size(sum(r.size for r in regions))
    span = f"{hex_address(regions[0].start)}-{hex_address(regions[-1].end)}"
    return graphviz.nohtml("\\n".join(graphviz.escape(x) for x in (title, f"{size} · {perms}", span)))


def _change_words(group: Sequence[Change], runs: bool) -> str:
    c = group[0]
    words = " + ".join(c.what)
    if not runs:
        grown = sum(hi - lo for g in group for lo, hi in g.added)
        lost = sum(hi - lo for g in group for lo, hi in g.removed)
        if grown:
            words += f"\\n+{human_size(grown)}"
        if lost:
            words += f"\\n-{human_size(lost)}"
    elif c.before and c.after and "moved" in c.what:
        delta = c.after[0].start - c.before[0].start
        words += f"\\nby {'+' if delta >= 0 else '-'}{abs(delta):#x}"
    return words


def build_graph(diff: MapDiff, *, unchanged: bool = False) -> graphviz.Digraph:
    """The DOT graph of ``diff``: before on the left, after on the right, one row per
    changed region group (highest address on top), unchanged stretches folded."""
    fid = figure_id(diff)
    runs = diff.mode == "runs"
    b_sel, a_sel = diff.before.selection, diff.after.selection
    g = laid_out_graph(fid, rankdir="TB", ranksep="0.08", nodesep="0.25",
                       node_margin="0.06,0.02", edge_penwidth="0.8")

    with g.subgraph() as row:
        row.attr(rank="same")
        for node, text in (("hl", _side_name(b_sel, a_sel, True)), ("hm", ""),
                           ("hr", _side_name(b_sel, a_sel, False))):
            row.node(node, label=graphviz.escape(text), shape="plaintext", width=f"{DIFF_BOX_WIDTH}",
                     height="0.25", fontname=FONT, **{"class": "roads-diff-head"})
        row.edge("hl", "hm", style="invis")
        row.edge("hm", "hr", style="invis")
    previous = ("hl", "hm", "hr")
    for k, item in enumerate(reversed(_rows(diff, unchanged))):
        left, mid, right = f"l{k}", f"m{k}", f"r{k}"
        with g.subgraph() as row:
            row.attr(rank="same")
            if isinstance(item, int):
                text = f"{item} region group{'s' if item != 1 else ''} unchanged"
                for node in (left, right):
                    row.node(node, label="⋮", shape="plaintext", width=f"{DIFF_BOX_WIDTH}",
                             height="0.3", **{"class": "roads-diff-same"})
                row.node(mid, label=graphviz.escape(text), shape="plaintext",
                         **{"class": "roads-diff-same"})
                row.edge(left, mid, style="invis")
                row.edge(mid, right, style="invis")
            else:
                _row_nodes(row, item, left, mid, right, runs, fid)
        for above, here in zip(previous, (left, mid, right)):
            g.edge(above, here, style="invis", weight="100")
        previous = (left, mid, right)
    return g


def _row_nodes(row, group: Sequence[Change], left: str, mid: str, right: str, runs: bool,
               fid: str) -> None:
    c = group[0]
    before = [r for ch in group for r in ch.before]
    after = [r for ch in group for r in ch.after]
    word = c.what[0]
    colour = CHANGE_COLOURS.get(word)
    classes = ["roads-region", f"roads-kind-{c.kind}"] + [f"roads-change-{w}" for w in c.what]
    for node, regions in ((left, before), (right, after)):
        if not regions:
            row.node(node, label="not mapped", shape="box", style="dashed", color="#999999",
                     fontcolor="#777777", width=f"{DIFF_BOX_WIDTH}", height="0.36",
                     fixedsize="true", **{"class": "roads-diff-empty"})
            continue
        size = sum(r.size for r in regions)
        attrs = {"color": colour, "penwidth": "2.2"} if colour else {"color": "#555555"}
        tooltip = "; ".join(f"{hex_address(r.start)}-{hex_address(r.end)} {r.perms} "
                            f"{r.pathname or 'anonymous'}" for r in regions)
        row.node(node, label=_box_label(group, regions), shape="box", style="filled",
                 fillcolor=COLOURS.get(c.kind, COLOURS["other"]), width=f"{DIFF_BOX_WIDTH}",
                 height=f"{max(box_height(size) / POINTS_PER_INCH, 0.5):.3f}", fixedsize="true",
                 tooltip=graphviz.escape(tooltip), id=f"{fid}-{node}",
                 **{"class": " ".join(classes)}, **attrs)
    row.node(mid, label=_change_words(group, runs), shape="plaintext",
             fontcolor=colour or "#555555",
             **{"class": " ".join(["roads-diff-what"] + [f"roads-change-{w}" for w in c.what])})
    edge_class = " ".join(f"roads-change-{w}" for w in c.what)
    row.edge(left, mid, arrowhead="none", color=colour or "#999999",
             style="solid" if c.before else "dashed", **{"class": edge_class})
    row.edge(mid, right, color=colour or "#999999", style="solid" if c.after else "dashed",
             **{"class": edge_class})


def describe(diff: MapDiff) -> tuple[str, str]:
    """Short label and long description of the diagram, for screen readers."""
    b, a = diff.before.selection, diff.after.selection
    changed = [c for c in diff.changes if c.changed]
    n = len(changed)
    groups = f"{n} region group{'s' if n != 1 else ''} changed" if n else "nothing changed"
    short = f"Changes from {b.describe()} to {a.describe()}: {groups}"
    parts = []
    for c in reversed(changed):
        parts.append(f"{c.label}: {', '.join(c.what)}")
    return short, ("From the top: " + "; ".join(parts) + ".") if parts else "Nothing changed."


def render_diff_figure(diff: MapDiff, *, cache_dir: str | os.PathLike[str] | None = None,
                       unchanged: bool = False) -> str:
    """The diff as a ``<figure>``: the diagram, then the table."""
    fid = figure_id(diff)
    short, long = describe(diff)
    svg = inline(render(build_graph(diff, unchanged=unchanged).source, cache_dir),
                 fid=fid, css_class="roads-vas roads-diff-svg", short=short, long=long)
    return (f'<figure class="roads-figure roads-diff-figure" id="{fid}" data-search-exclude>\n{svg}'
            f"{render_diff(diff, unchanged=unchanged)}\n"
            f"<figcaption>{escape(_caption(diff))}: changed regions outlined in the colour of "
            "their change; unchanged stretches folded.</figcaption>\n</figure>\n")
