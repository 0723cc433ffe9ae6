"""Drawing a map diff (``roads.figures.diff``): one figure, in HTML, that reflows.

Each row is one changed region group: its box before, what changed, its box after,
highest address on top, with unchanged stretches folded into one line. On a wide
column the two sides stand left and right; in a narrow one (a phone) each row's
before stands above its after (a container query in figures-more.css). A box
carries its region kind as a swatch and a size bar in the kind's colour; the change
is told apart by another channel, never by a kind's hue: a badge (a sign and a word)
and the box's outline (dashed for gone, double for moved, ...), with a legend in
the caption. Sizes are drawn to scale where they changed: bars of one length per
row, so a grown region's before bar is shorter than its after bar, and the smaps
counters and recorded pages of a region whose layout stayed are shown too.

Three arrangements:

- lineage: rows of changes; moves by one amount are one row (``MapDiff.move_groups``);
- runs: the same, with the bits that differ, and a table of the recorded pointers
  (the only table: the rows hold the regions' details);
- replaced (across execve): no rows, since nothing of the old image is the new
  one's: the old image's objects gone on one side, the new image's built on the other.
"""

from __future__ import annotations

import collections
from html import escape
from typing import Sequence

from ..constants import PAGE_SIZE, STACK_RANDOM_BYTES
from .diff import PAGE_BITS, Change, MapDiff, MoveGroup, PageChange, describe_bits, one_run
from .filenames import described
from . import hints
from .regions import KINDS
from .select import Region, Selection
from ..units import hex_address, human_size, unbroken

PAGE_SIZE_TEXT = PAGE_SIZE.format()

# The badge of each change: a sign that does not depend on colour, and its meaning
# for the legend (which names the size bars: their tooltip, "size", reaches no keyboard
# or tap). The outline that goes with it is in figures-more.css.
BADGES = {
    "added": ("+", "mapped only after"),
    "removed": ("−", "mapped only before: gone"),
    "moved": ("→", "the same mapping at another address"),
    "grown": ("▲", "larger after; size bars to scale"),
    "shrunk": ("▼", "smaller after; size bars to scale"),
    "split": ("÷", "one mapping became several lines"),
    "merged": ("∪", "several lines became one"),
    "permissions": ("±", "permissions changed"),
    "resident": ("●", "same layout, other smaps counters (Pss not compared); bars to scale"),
    "frames": ("▦", "same layout, other pagemap entries"),
}


# The figure's one control for what its boxes hold beyond their labels (roads.figures.hints).
LINES_CONTROL = hints.control(
    "Each box's lines of maps, whole",
    "Shown in each box: its kind, the whole line of maps of each of its regions (a box "
    "names its object, shortened, and counts its regions), and its recorded pages.")


# --------------------------------------------------------------------------- rows


def _row_groups(diff: MapDiff, unchanged: bool) -> list[list[Change] | MoveGroup | int]:
    """The rows, highest address first: a group of changes shown as one, a move
    group, or a count of unchanged groups folded into one row."""
    grouped: dict[int, MoveGroup] = {}
    for g in diff.move_groups:
        if len(g.changes) > 1:
            for c in g.changes:
                grouped[id(c)] = g
    items: list[list[Change] | MoveGroup] = []
    seen: set[int] = set()
    singles = _by_object(diff.changes) if diff.mode == "runs" else [[c] for c in diff.changes]
    for group in singles:
        move = grouped.get(id(group[0]))
        if move is None:
            items.append(group)
        elif id(move) not in seen:
            seen.add(id(move))
            items.append(move)
    rows: list[list[Change] | MoveGroup | int] = []
    for item in reversed(items):  # highest address first
        if isinstance(item, MoveGroup) or item[0].changed or unchanged:
            rows.append(item)
        elif rows and isinstance(rows[-1], int):
            rows[-1] += 1
        else:
            rows.append(1)
    return rows


def _by_object(changes: Sequence[Change]) -> list[list[Change]]:
    """Neighbouring changes of one object that changed alike, as one row: all the
    pieces of one ELF object move together, or go and come together."""
    groups: list[list[Change]] = []
    for c in changes:
        last = groups[-1][-1] if groups else None
        if last is not None and c.label == last.label and c.what == last.what \
                and bool(c.before) == bool(last.before) and bool(c.after) == bool(last.after) \
                and (not (c.before and c.after) or _delta(c) == _delta(last)):
            groups[-1].append(c)
        else:
            groups.append([c])
    return groups


def _delta(c: Change) -> int:
    return c.after[0].start - c.before[0].start


def _signed(delta: int) -> str:
    return f"{'+' if delta >= 0 else '−'}{abs(delta):#x}"


# --------------------------------------------------------------------------- boxes


def _badge(word: str) -> str:
    sign = BADGES.get(word, ("", ""))[0]
    return (f'<span class="roads-diff-badge roads-change-{word}">'
            f'<span aria-hidden="true">{sign}</span>\u00a0{word}</span>')


def _span(regions: Sequence[Region]) -> str:
    lo, hi = min(r.start for r in regions), max(r.end for r in regions)
    return f"<code>{hex_address(lo)}</code>–<code>{hex_address(hi)}</code>"


def _maps_line(r: Region) -> str:
    """``r``'s line of maps, as the box's hint and tooltip show it whole."""
    return f"{hex_address(r.start)}-{hex_address(r.end)} {r.perms} {described(r) or 'anonymous'}"


def _lines(regions: Sequence[Region], kinds: Sequence[str], pages: Sequence[PageChange] = (),
           before: bool = True) -> str:
    """A box's hint: each of its regions' lines of maps, whole, under its kind (a box
    names its object, shortened: "libc.so.6 (5 regions)"), then each recorded page.
    What the box's tooltips told the pointer alone."""
    one = len(set(kinds)) == 1
    out = [f'<span class="roads-diff-line-kind">{escape(KINDS[kinds[0]].label)}</span>'] if one else []
    for r, kind in zip(regions, kinds):
        named = "" if one else f'<span class="roads-diff-line-kind">{escape(KINDS[kind].label)}</span> '
        out.append(f'<span class="roads-diff-line">{named}<code>{escape(_maps_line(r))}</code></span>')
    out += [f'<span class="roads-diff-line">{escape(_page_words(p, before))}</span>' for p in pages]
    return hints.hint("".join(out), "roads-diff-lines")


def _page_words(p: PageChange, before: bool) -> str:
    """One recorded page, on one side: "0x7ffff7fb8000: present exclusive, frame 0x3928"."""
    entry = p.before if before else p.after
    state = ("present" if entry.present else "absent") + (" exclusive" if entry.exclusive else "")
    frame = f"frame {entry.pfn:#x}" if entry.pfn is not None else (
        "frame not readable" if entry.present else "no frame")
    return f"{hex_address(p.vaddr)}: {state}, {frame}"


def _box(regions: Sequence[Region], kind: str, label: str, side: str, *,
         scale: int = 0, counters: Sequence[tuple[str, int]] = (),
         pages: Sequence[PageChange] = (), before: bool = True) -> str:
    """One side's box: name, size and permissions, address span, and bars to scale
    (``scale`` the length of a full bar, in bytes; 0 for none)."""
    if not regions:
        return (f'<div class="roads-diff-box roads-diff-empty"><span class="roads-diff-side">'
                f'{escape(side)}</span>not mapped</div>')
    size = sum(r.size for r in regions)
    title = "; ".join(_maps_line(r) for r in regions)
    name = escape(label) + (f" ({len(regions)}\u00a0regions)" if len(regions) > 1 else "")
    # Each permission once, with how many of the regions have it where more than one
    # do: the box names its regions' count, and the change beside it lists them all.
    counts = collections.Counter(r.perms for r in regions)
    perms = "/".join(p if counts[p] == 1 else f"{p}\u00a0×{counts[p]}" for p in counts)
    out = [f'<div class="roads-diff-box roads-kind-{kind}" title="{escape(title)}">',
           f'<span class="roads-diff-side">{escape(side)}</span>' if side else "",
           f'<span class="roads-diff-name"><span class="roads-swatch roads-kind-{kind}" '
           f'aria-hidden="true"></span><span title="{escape(KINDS[kind].label)}">{name}</span></span>',
           f'<span class="roads-diff-size">{unbroken(human_size(size))} · <code>{escape(perms)}</code></span>',
           f'<span class="roads-diff-range">{_span(regions)}</span>']
    if scale:
        out.append(_bar(size, scale, "size"))
    for counter, value in counters:
        out.append(_bar(value, size, f"{counter} {unbroken(human_size(value))}", counter=True))
    if pages:
        out.append(_pages_strip(pages, before))
    out.append(_lines(regions, [kind] * len(regions), pages, before))
    out.append("</div>")
    return "".join(out)


def _bar(value: int, scale: int, words: str, counter: bool = False) -> str:
    """A bar ``value / scale`` of the box's width: a size, or a counter of the region."""
    width = 100.0 * value / scale if scale else 0.0
    kind = "roads-diff-counter" if counter else "roads-diff-bar"
    label = "" if not counter else f'<span class="roads-diff-bar-words">{words}</span>'
    return (f'<span class="{kind}" title="{escape(words)}">{label}'
            f'<span class="roads-diff-bar-fill" style="width:{width:.1f}%"></span></span>')


def _pages_strip(pages: Sequence[PageChange], before: bool) -> str:
    """The changed pages, one cell each: filled when present, a ring when exclusive."""
    cells = []
    for p in pages:
        entry = p.before if before else p.after
        classes = "roads-diff-page" + (" roads-diff-page-present" if entry.present else "") + (
            " roads-diff-page-exclusive" if entry.exclusive else "")
        cells.append(f'<span class="{classes}" title="{escape(_page_words(p, before))}"></span>')
    return f'<span class="roads-diff-pages">{"".join(cells)}</span>'


# --------------------------------------------------------------------------- what


def _what(group: Sequence[Change], runs: bool, cause: str = "") -> str:
    """The middle cell: the badges and, in words, what changed."""
    c = group[0]
    parts = ["".join(_badge(w) for w in c.what if w != "unchanged")]
    details: list[str] = []
    for g in group:
        for lo, hi in g.added:
            details.append(f"+{unbroken(human_size(hi - lo))} at <code>{hex_address(lo)}</code>"
                           f"–<code>{hex_address(hi)}</code>")
        for lo, hi in g.removed:
            details.append(f"−{unbroken(human_size(hi - lo))} at <code>{hex_address(lo)}</code>"
                           f"–<code>{hex_address(hi)}</code>")
    if "permissions" in c.what:
        perms_b = "/".join(r.perms for r in c.before)
        perms_a = "/".join(r.perms for r in c.after)
        details.append(f"<code>{escape(perms_b)}</code> → <code>{escape(perms_a)}</code>")
    if "moved" in c.what and c.before and c.after:
        details.append(f"{escape(cause) + ' moved ' if cause else 'moved '}by {_signed(_delta(c))}")
        if c.frames_kept:
            kept = c.frames_kept
            details.append(f"{kept} recorded page{'s' if kept > 1 else ''} in the same "
                           f"frame{'s' if kept > 1 else ''}: moved, not copied")
        if runs and c.xor is not None:
            details.append(_bits(c.xor))
    inside = "resident" in c.what or "frames" in c.what  # the layout stayed
    for counter in c.counters if inside else ():
        details.append(f"{counter.name} {unbroken(human_size(counter.before))} → "
                       f"{unbroken(human_size(counter.after))}")
    if c.pages and inside:
        details.append(_pages_words(c.pages))
    names_added = [n for g in group for n in g.pointers_added]
    names_removed = [n for g in group for n in g.pointers_removed]
    if names_added:
        details.append("holds " + ", ".join(f"<code>{escape(n)}</code>" for n in names_added))
    if names_removed:
        details.append("held " + ", ".join(f"<code>{escape(n)}</code>" for n in names_removed))
    if details:
        parts.append('<span class="roads-diff-details">' + "<br>".join(details) + "</span>")
    return "".join(parts)


def _bits(xor: int) -> str:
    text = escape(describe_bits(xor)) + " differ"
    return text if not xor & ((1 << PAGE_BITS) - 1) else f"<mark>{text}</mark>"


def _pages_words(pages: Sequence[PageChange]) -> str:
    """The changed pagemap entries in words, pages that changed alike counted once:
    "8 pages from 0x…: present, each in a frame of its own (all were in 0x3b34),
    now exclusive"."""
    def phrase(p: PageChange) -> str:
        b, a = p.before, p.after
        if a.present and not b.present:
            words = "now present"
        elif b.present and not a.present:
            words = "no longer present"
        elif p.new_frame:
            words = "in a new frame"
        else:
            words = "same frame"
        if a.exclusive != b.exclusive:
            words += ", now exclusive" if a.exclusive else ", no longer exclusive"
        return words

    def frames(entries: Sequence) -> str:
        pfns = [e.pfn for e in entries if e.present]
        if not pfns or None in pfns:
            return "frames not readable" if pfns else ""
        if len(set(pfns)) == 1:
            return f"{'all ' if len(pfns) > 1 else ''}in frame {pfns[0]:#x}"
        return "each in a frame of its own" if len(set(pfns)) == len(pfns) else \
            f"in {len(set(pfns))} frames"

    phrases: dict[str, list[PageChange]] = {}
    for p in pages:
        phrases.setdefault(phrase(p), []).append(p)
    out = []
    for words, same in phrases.items():
        where = (f"page <code>{hex_address(same[0].vaddr)}</code>" if len(same) == 1
                 else f"{len(same)} pages from <code>{hex_address(same[0].vaddr)}</code>")
        was, now = frames([p.before for p in same]), frames([p.after for p in same])
        detail = "; ".join(x for x in (now, f"before, {was}" if was and was != now else "") if x)
        out.append(f"{where}: {escape(words)}" + (f" ({escape(detail)})" if detail else ""))
    return "<br>".join(out)


# --------------------------------------------------------------------------- figure


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


def _change_row(group: Sequence[Change], names: tuple[str, str], runs: bool, cause: str = "") -> str:
    c = group[0]
    before = [r for g in group for r in g.before]
    after = [r for g in group for r in g.after]
    scale = 0
    size_b, size_a = sum(r.size for r in before), sum(r.size for r in after)
    if before and after and size_b != size_a:
        scale = max(size_b, size_a)
    inside = "resident" in c.what or "frames" in c.what  # the layout stayed: show within
    b_counters = tuple((k.name, k.before) for k in c.counters) if inside else ()
    a_counters = tuple((k.name, k.after) for k in c.counters) if inside else ()
    pages = c.pages if inside else ()
    classes = " ".join(f"roads-change-{w}" for w in c.what)
    return (f'<div class="roads-diff-row {classes}">'
            + _box(before, c.kind, c.label, names[0], scale=scale, counters=b_counters,
                   pages=pages, before=True)
            + f'<div class="roads-diff-what">{_what(group, runs, cause)}</div>'
            + _box(after, c.kind, c.label, names[1], scale=scale, counters=a_counters,
                   pages=pages, before=False)
            + "</div>")


def _move_row(move: MoveGroup, names: tuple[str, str], runs: bool) -> str:
    """One row for every region that moved by one amount: one cause."""
    objects = list(dict.fromkeys(c.label for c in move.changes))
    before = [r for c in move.changes for r in c.before]
    after = [r for c in move.changes for r in c.after]
    listing = ", ".join(escape(o) for o in objects)

    def box(regions: Sequence[Region], side: str, before: bool) -> str:
        size = sum(r.size for r in regions)
        kinds = list(dict.fromkeys(c.kind for c in move.changes))
        each = [c.kind for c in move.changes for _ in (c.before if before else c.after)]
        swatches = "".join(f'<span class="roads-swatch roads-kind-{k}" title="{escape(KINDS[k].label)}">'
                           "</span>" for k in kinds)
        return (f'<div class="roads-diff-box roads-diff-many"><span class="roads-diff-side">{escape(side)}</span>'
                f'<span class="roads-diff-name"><span class="roads-diff-swatches" aria-hidden="true">'
                f'{swatches}</span>{move.regions}\u00a0regions: {listing}</span>'
                f'<span class="roads-diff-size">{unbroken(human_size(size))} in all</span>'
                f'<span class="roads-diff-range">{_span(regions)}</span>'
                f"{_lines(regions, each)}</div>")

    details = [f"{escape(move.cause)} moved by {_signed(move.delta)}: {move.regions}\u00a0regions"]
    xor = move.changes[0].xor
    if runs and xor is not None:
        details.append(_bits(xor))
    return ('<div class="roads-diff-row roads-change-moved">' + box(before, names[0], True)
            + f'<div class="roads-diff-what">{_badge("moved")}<span class="roads-diff-details">'
            + "<br>".join(details) + "</span></div>" + box(after, names[1], False) + "</div>")


def _replaced(diff: MapDiff, names: tuple[str, str]) -> str:
    """Across execve: the old image's objects gone, the new image's built, unmatched."""
    def column(changes: Sequence[Change], side: str, before: bool) -> str:
        boxes = [f'<span class="roads-diff-side">{escape(side)}</span>']
        for group in reversed(_by_object(changes)):
            regions = [r for c in group for r in (c.before if before else c.after)]
            boxes.append(_box(regions, group[0].kind, group[0].label, ""))
        return "".join(boxes)

    old = [c for c in diff.changes if c.before]
    new = [c for c in diff.changes if c.after]
    n_old, n_new = sum(len(c.before) for c in old), sum(len(c.after) for c in new)
    return (f'<div class="roads-diff-row roads-diff-replaced">'
            f'<div class="roads-diff-column roads-change-removed">{column(old, names[0], True)}</div>'
            f'<div class="roads-diff-what">{_badge("removed")} {_badge("added")}'
            f'<span class="roads-diff-details">execve: all {n_old}\u00a0regions of the old image '
            f"gone, {n_new}\u00a0regions of the new one built; none carried over, however alike. "
            f"What shows the execve: {escape(diff.replaced)}.</span></div>"
            f'<div class="roads-diff-column roads-change-added">{column(new, names[1], False)}</div>'
            "</div>")


def render_diff(diff: MapDiff, *, unchanged: bool = False) -> str:
    """The diff's rows (no blank lines) and, for runs, the table of recorded pointers."""
    b_sel, a_sel = diff.before.selection, diff.after.selection
    names = (_side_name(b_sel, a_sel, True), _side_name(b_sel, a_sel, False))
    runs = diff.mode == "runs"
    short, long = describe(diff)
    desc = f"{figure_id(diff)}-desc"
    out = [f'<div class="roads-diffmap" role="group" aria-label="{escape(short)}" '
           f'aria-describedby="{desc}">',
           f'<p hidden id="{desc}">{escape(long)}</p>',
           f'<div class="roads-diff-sides" aria-hidden="true"><span>{escape(names[0])}</span>'
           f'<span></span><span>{escape(names[1])}</span></div>']
    if diff.replaced:
        out.append(_replaced(diff, names))
    else:
        rows = _row_groups(diff, unchanged)
        causes = {id(c): g.cause for g in diff.move_groups for c in g.changes}
        for item in rows:
            if isinstance(item, int):
                out.append(f'<div class="roads-diff-same">⋮ {item} region group'
                           f'{"s" if item != 1 else ""} unchanged</div>')
            elif isinstance(item, MoveGroup):
                out.append(_move_row(item, names, runs))
            else:
                out.append(_change_row(item, names, runs, causes.get(id(item[0]), "")))
        if not any(not isinstance(item, int) for item in rows):
            out.append(f'<div class="roads-diff-same">{escape(_nothing_changed(diff))}</div>')
    out.append("</div>")
    if runs and diff.pointers:
        out += _pointer_table(diff, names)
    return "\n".join(out)


def _has_pages(diff: MapDiff) -> bool:
    return bool(diff.before.selection.snapshot.pagemap and diff.after.selection.snapshot.pagemap)


def _notes(diff: MapDiff) -> list[str]:
    notes = []
    if any("grown" in c.what and c.added and c.after and c.added[0][0] == c.after[0].start
           and not c.after[0].pathname for c in diff.changes):
        notes.append("An anonymous region that grows at its low end is usually a new mmap "
                     "placed right below it: the kernel merged the two, so maps shows one line.")
    if diff.mode == "runs":
        notes.append(_bits_note(diff))
    if diff.resident and any(_now_shared_with_another(c) for c in diff.changes):
        notes.append("Written pages of private anonymous memory counted Shared_Dirty are "
                     "mapped more than once: by another process after a fork (parent and "
                     "child share each such page, copy-on-write, until one of them writes to "
                     "it, unmaps it, runs execve or exits), or merged by the kernel's KSM, "
                     "where it runs.")
    if _two_processes(diff) and any(c.changed for c in diff.changes) and not diff.replaced:
        note = ("These are two processes: a region marked removed is in the first one's "
                "stop only, and one marked added in the second one's only, which does not "
                "say which of the two mapped or unmapped it.")
        if diff.after.selection.parent_pid == diff.before.selection.snapshot.pid:
            note += (" A child made by fork starts with a copy of its parent's memory, "
                     "made lazily: the pages of its private regions are mapped in both, "
                     "write-protected, and the first to write to one usually gets a copy of "
                     "that page (of a huge page, one base page), the other keeping the "
                     "original (copy-on-write); its shared regions (MAP_SHARED) are the same "
                     "memory. Regions marked MADV_DONTFORK it does not get, and private "
                     "anonymous ones marked MADV_WIPEONFORK it gets as zeros. Where clone "
                     "shares the whole address space (CLONE_VM: vfork, posix_spawn) none of "
                     "this applies: it is the same memory, those regions too. Either may "
                     "have changed it since.")
        notes.append(note)
    return notes


def _now_shared_with_another(c: Change) -> bool:
    """Whether ``c`` is private anonymous memory (a heap, a stack, memory from mmap)
    whose Shared_Dirty grew: written pages mapped more than once, which only a fork
    (or KSM) makes of such memory. Not of a file: smaps counts a page shared wherever
    it is mapped twice, and a tmpfs file's page written with write() stays dirty in
    every mapping that reads it, a private one of the same process too."""
    return ("resident" in c.what and bool(c.after) and c.after[0].perms[3:4] == "p"
            and not c.after[0].pathname.startswith("/")
            and any(k.name == "Shared_Dirty" and k.after > k.before for k in c.counters))


def _two_processes(diff: MapDiff) -> bool:
    """Whether the diff's two stops are of two processes of one run (a parent's and its
    child's: ``roads explain --follow-fork`` compares a child's first stop with its
    parent's last before it)."""
    b, a = diff.before.selection, diff.after.selection
    return diff.mode == "lineage" and one_run(b, a) and b.snapshot.pid != a.snapshot.pid


def _bits_note(diff: MapDiff) -> str:
    mask = diff.randomized_bits
    if not mask:
        return "No region moved: these runs were not randomised."
    low = mask & ((1 << PAGE_BITS) - 1)
    words = (f"Across all regions, {describe_bits(mask)} of the start address differ between "
             "these two runs (a random bit can agree by chance, so more bits may be random)")
    if not low:
        words += f"; the low {PAGE_BITS} never do, since every region starts on a {PAGE_SIZE_TEXT} page."
    else:
        words += f"; some of the low {PAGE_BITS} bits too, which page-aligned starts cannot show: check the capture."
    return words


def _pointer_table(diff: MapDiff, names: tuple[str, str]) -> list[str]:
    b, a = diff.before.selection, diff.after.selection
    head = ["recorded pointer", names[0], names[1], "bits that differ"]
    out = ['<div class="roads-diff">', "<table>",
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
        names_ = ", ".join(f"<code>{escape(p.name)}</code>" for p in sub_page)
        words = f"Marked: {names_} also differ{'s' if len(sub_page) == 1 else ''} below bit {PAGE_BITS}, inside the page."
        if all(_in_stack(b, p.before) and _in_stack(a, p.after) for p in sub_page):
            words += (" The stack's region starts on a page like any other, but the kernel "
                      "also moves the initial stack pointer down by a random amount (below "
                      f"{STACK_RANDOM_BYTES.format()}) before the program starts.")
        out.append(f'<p class="roads-notes">{words}</p>')
    out.append("</div>")
    return out


def _nothing_changed(diff: MapDiff) -> str:
    """What a diff in which no region changed says: what was compared. The smaps
    counters and pagemap entries are compared only between two stops of one process
    (``diff.resident``): of two processes, or two runs, they are not, and no sentence
    may say they are the same."""
    if diff.resident:
        return ("no region changed: the same layout, the same smaps counters"
                + (" and pagemap entries" if _has_pages(diff) else ""))
    if not one_run(diff.before.selection, diff.after.selection):
        which = "of two runs are"
    elif _two_processes(diff):
        which = "of two processes are"
    else:
        which = "are"
    return f"no region changed: the same layout (the smaps counters {which} not compared)"


def _in_stack(selection: Selection, address: int) -> bool:
    region = selection.snapshot.region_at(address)
    return region is not None and region.pathname == "[stack]"


def figure_id(diff: MapDiff) -> str:
    """The HTML id of a diff figure: both selections' slugs."""
    b, a = diff.before.selection, diff.after.selection
    tail = a.slug.removeprefix(f"{a.sample}-{a.variant}-") if a.sample == b.sample else a.slug
    return f"diff-{b.slug}-to-{tail}"


def describe(diff: MapDiff) -> tuple[str, str]:
    """Short label and long description of the figure, for screen readers."""
    b, a = diff.before.selection, diff.after.selection
    from .summary import overview

    if diff.replaced:
        return (f"Changes from {b.describe()} to {a.describe()}: execve replaced the address space",
                f"Every region of the old image is gone and the new image's are new ({diff.replaced}). "
                f"Before: {overview(diff.before)} After: {overview(diff.after)}")
    changed = [c for c in diff.changes if c.changed]
    n = len(changed)
    groups = f"{n} region group{'s' if n != 1 else ''} changed" if n else "nothing changed"
    short = f"Changes from {b.describe()} to {a.describe()}: {groups}"
    from .summary import MOST_GROUPS

    parts = [_phrase(c) for c in list(reversed(changed))[:MOST_GROUPS]]
    if n > MOST_GROUPS:
        parts.append(f"and {n - MOST_GROUPS} more")
    if not parts:
        same = _nothing_changed(diff)
        return short, f"{same[0].upper()}{same[1:]}; both have {overview(diff.after)}"
    return short, "From the top: " + "; ".join(parts) + "."


def _phrase(c: Change) -> str:
    """One changed group in words, with its sizes and addresses as captured."""
    words = " and ".join(w for w in c.what if w != "unchanged")
    b, a = c.before, c.after
    if not b:
        where = f"{human_size(c.size_after)} at {hex_address(a[0].start)}"
    elif not a:
        where = f"was {human_size(c.size_before)} at {hex_address(b[0].start)}"
    else:
        where = (f"{human_size(c.size_before)} to {human_size(c.size_after)}"
                 if c.size_before != c.size_after else human_size(c.size_after))
        if b[0].start != a[0].start:
            where += f", from {hex_address(b[0].start)} to {hex_address(a[0].start)}"
        else:
            where += f" at {hex_address(a[0].start)}"
    counters = [f"{k.name} {human_size(k.before)} to {human_size(k.after)}" for k in c.counters[:2]]
    if c.pages:
        counters.append(f"{len(c.pages)} page{'s' if len(c.pages) != 1 else ''} changed in pagemap")
    return f"{c.label} {words}: " + ", ".join([where, *counters])


# Between two processes (``_two_processes``), what added and removed mean: neither is
# something one of them did since the other's stop.
BADGES_TWO_PROCESSES = {
    "added": "in the second process's stop only",
    "removed": "in the first process's stop only",
}


def _legend(words: Sequence[str], two_processes: bool = False) -> str:
    meaning = {w: BADGES[w][1] for w in words}
    if two_processes:
        meaning |= {w: m for w, m in BADGES_TWO_PROCESSES.items() if w in meaning}
    keys = "".join(f'<span class="roads-diff-key roads-change-{w}"><span class="roads-diff-sample">'
                   f'</span>{_badge(w)} {escape(meaning[w])}</span>' for w in words)
    return f'<span class="roads-diff-legend">{keys}</span>' if keys else ""


def _pss(regions: Sequence[Region]) -> int:
    return sum(r.kb.get("Pss", 0) for r in regions)


def render_diff_figure(diff: MapDiff, *, unchanged: bool = False) -> str:
    """The diff as one ``<figure>``: the rows, then one caption with the legend of
    the changes shown, the count of unchanged groups and the notes."""
    fid = figure_id(diff)
    b, a = diff.before.selection, diff.after.selection
    used = [w for w in BADGES if any(w in c.what for c in diff.changes)]
    same = sum(1 for c in diff.changes if not c.changed)
    words = f"From {b.describe()} to {a.describe()}."
    if same and not unchanged and not diff.replaced:
        words += f" {same} region group{'s' if same != 1 else ''} unchanged, folded (⋮)."
        # Pss is not compared (diff.COUNTERS): it follows how many other mappings share
        # a region's pages, so a group called unchanged may differ there.
        pss = sum(1 for c in diff.changes if not c.changed and _pss(c.before) != _pss(c.after))
        if pss:
            words += (f" Pss, not compared, differs in {pss} of them: it follows how many "
                      "other mappings share their pages.")
    notes = " ".join(_notes(diff))
    return (f'<figure class="roads-figure roads-diff-figure" id="{fid}" data-search-exclude>\n'
            f"{LINES_CONTROL}\n{render_diff(diff, unchanged=unchanged)}\n"
            f"<figcaption>{_legend(used, _two_processes(diff))}<span>{escape(words)}"
            f"{(' ' + escape(notes)) if notes else ''}</span></figcaption>\n</figure>\n")
