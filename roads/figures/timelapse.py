"""The time-lapse: one process's address space at each of its checkpoints, in order.

Every step is the address-space diagram of one checkpoint (``roads.figures.diagram``),
named by what changed since the step before, in the words of the map diff
(``roads.figures.diff``): "[heap] grew by 132 KiB, to 264 KiB". The steps are an
ordered list, so that without JavaScript a reader sees every one of them, in order;
``docs/javascripts/timelapse.js`` turns the list into a stepper that shows one step at a
time and morphs the figure from one to the next.

For the morph, a region keeps its identity from step to step: every box and break
carries ``data-roads-track``, the same value at every checkpoint for what the diff
matched (the heap before and after it grew), a new one for a region that appeared.
A break between regions is tracked by the region under it.

Pure: selections in, HTML out (Graphviz lays out each step's diagram, through the
cache that ``render_diagram`` uses).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from html import escape
from typing import Sequence

from lxml import etree

from ..errors import ConfigError
from ..units import human_size
from . import diagram, hints
from .diff import Change, diff_maps
from .regions import MemoryMap, memory_map
from .select import Selection
from .svg import SVG_NS, XLINK_NS
from .table import region_key

ID_PREFIX = "tl-"  # the steps' diagrams must not clash with an address_space of the same checkpoint


@dataclass(frozen=True)
class Step:
    """One checkpoint of the time-lapse: its map, what changed since the step before
    (nothing for the first), and the track of each of its boxes and breaks by
    ``data-roads-region`` (``roads.figures.table.region_key``)."""

    map: MemoryMap
    changes: tuple[Change, ...]
    tracks: dict[str, str] = field(hash=False, compare=False)

    @property
    def selection(self) -> Selection:
        return self.map.selection

    @property
    def name(self) -> str:
        return self.selection.checkpoint_name


def steps(selections: Sequence[Selection]) -> tuple[Step, ...]:
    """The steps of a time-lapse through ``selections``: checkpoints of one process,
    in the order they were reached. A ConfigError for fewer than two."""
    if len(selections) < 2:
        sample = selections[0].sample if selections else None
        raise ConfigError("a time-lapse needs two checkpoints at least", sample=sample)
    maps = [memory_map(s) for s in selections]
    counter = iter(range(1 << 30))
    out: list[Step] = []
    regions: dict[int, str] = {}  # region start -> track, in the step before
    gaps: list[tuple[int, int, str]] = []  # (start, end, track) of its breaks
    for k, mm in enumerate(maps):
        changes: tuple[Change, ...] = ()
        tracks: dict[int, str] = {}
        if k:
            diff = diff_maps(maps[k - 1], mm, mode="lineage", resident=False)
            changes = tuple(c for c in diff.changes if c.changed)
            for c in diff.changes:
                befores = sorted(r.start for r in c.before)
                for j, start in enumerate(sorted(r.start for r in c.after)):
                    # A region split in two keeps its track on its lowest piece.
                    if j < len(befores) and befores[j] in regions:
                        tracks[start] = regions[befores[j]]
        for c in mm.regions:
            tracks.setdefault(c.region.start, f"r{next(counter)}")
        regions = tracks
        gaps = _gap_tracks(mm, gaps, counter)
        keys = {region_key(mm.selection.slug, start): track for start, track in tracks.items()}
        keys.update({region_key(mm.selection.slug, lo, gap=True): track for lo, _, track in gaps})
        out.append(Step(mm, changes, keys))
    return tuple(out)


def _gap_tracks(mm: MemoryMap, before: list[tuple[int, int, str]],
                counter) -> list[tuple[int, int, str]]:
    """The breaks of ``mm`` with their tracks: a break is the one of the step before
    that covered most of the same addresses (the address space is one, changed in
    place), or a new one."""
    taken: set[str] = set()
    out = []
    for band in mm.bands():
        if band.region is not None:
            continue
        overlaps = sorted(((min(hi, band.end) - max(lo, band.start), track)
                           for lo, hi, track in before
                           if lo < band.end and band.start < hi and track not in taken),
                          reverse=True)
        track = overlaps[0][1] if overlaps else f"g{next(counter)}"
        taken.add(track)
        out.append((band.start, band.end, track))
    return out


# --------------------------------------------------------------------------- words


def change_words(c: Change) -> str:
    """One group's change as a phrase: "[heap] grew by 132 KiB, to 264 KiB"."""
    before, after = human_size(c.size_before), human_size(c.size_after)
    delta = human_size(abs(c.size_after - c.size_before))
    phrases = []
    for word in c.what:
        if word == "added":
            phrases.append(f"appeared ({after})")
        elif word == "removed":
            phrases.append(f"went away ({before})")
        elif word == "grown":
            phrases.append(f"grew by {delta}, to {after}")
        elif word == "shrunk":
            phrases.append(f"shrank by {delta}, to {after}")
        elif word == "moved":
            phrases.append("moved")
        elif word == "split":
            phrases.append(f"split in {len(c.after)}")
        elif word == "merged":
            phrases.append(f"merged from {len(c.before)}")
        elif word == "permissions":
            old = "/".join(sorted({r.perms for r in c.before}))
            new = "/".join(sorted({r.perms for r in c.after}))
            phrases.append(f"changed permissions from {old} to {new}")
        elif word == "resident":
            phrases.append("changed how much of it is resident")
    return f"{c.label} " + ", ".join(phrases)


def step_words(step: Step, index: int) -> str:
    """What a step shows, as one sentence's worth of words."""
    if index == 0:
        return f"the first checkpoint: {len(step.map.regions)} regions"
    if not step.changes:
        return "no region changed"
    return "; ".join(change_words(c) for c in step.changes)


# --------------------------------------------------------------------------- HTML


# Where a box's tooltip (its whole line of maps, its kind and why) shows without a mouse:
# the boxes are no links here and, dozens a step, no Tab stops; the stepper's one stop
# (timelapse.js) takes the up and down arrows to go from box to box (readout.js), and a
# tap picks one.
READOUT = hints.readout("With the figure focused, the up and down arrow keys go from box to "
                        "box, or tap a box: its whole line of maps and its kind show here.")


def timelapse_id(selection: Selection) -> str:
    """The HTML id of a time-lapse that starts at ``selection``."""
    return f"timelapse-{selection.slug}"


def render_timelapse(selections: Sequence[Selection], *,
                     cache_dir: str | os.PathLike[str] | None = None) -> str:
    """The time-lapse through ``selections`` as HTML: an ordered list of steps, each a
    line naming the checkpoint and its change, and the address-space diagram."""
    made = steps(selections)
    total = len(made)
    items = []
    for k, step in enumerate(made):
        words = step_words(step, k)
        mm = step.map
        svg = "".join(_for_step(drawn, step.tracks)
                      for drawn in diagram.drawn_trees(mm, cache_dir, gap_links=False))
        fid = ID_PREFIX + diagram.figure_id(mm.selection.slug)
        caption = (f"The address space at checkpoint {step.name!r} (step {k + 1} of {total}): "
                   f"{words}.")
        items.append(
            f'<li class="roads-timelapse-step" data-roads-checkpoint="{escape(step.name)}">\n'
            f'<p class="roads-timelapse-head"><span class="roads-timelapse-name">'
            f'{k + 1} of {total} · <code>{escape(step.name)}</code>:</span> '
            f'<span class="roads-timelapse-change">{escape(words)}</span></p>\n'
            f'<figure class="roads-figure roads-vas-figure" id="{fid}">\n{svg}'
            f'{diagram.legend(mm)}\n<figcaption>{escape(caption)}</figcaption>\n</figure>\n</li>'
        )
    first = made[0].selection
    label = f"Time-lapse of {first.sample} ({first.variant}): {total} checkpoints"
    tid = timelapse_id(first)
    story = " ".join(f"{k + 1}, {step.name}: {step_words(step, k)}." for k, step in enumerate(made))
    return (f'<div class="roads-timelapse" id="{tid}" '
            f'aria-label="{escape(label)}" aria-describedby="{tid}-desc" role="region" '
            f'data-search-exclude>\n<p hidden id="{tid}-desc">{escape(story)}</p>\n'
            f'<ol class="roads-timelapse-steps">\n' + "\n".join(items) + "\n</ol>\n"
            f"{READOUT}</div>\n")


def _for_step(root: etree._Element, tracks: dict[str, str]) -> str:
    """A step's finished diagram (``diagram.drawn_trees``), written out: ids prefixed,
    links to table rows dropped (the page need not show a table of every checkpoint)
    and with them Tab stops (a phone's numbers': the stepper's arrow keys reach them,
    readout.js), every box and break tracked."""
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for name in ("id", "aria-describedby"):
            if element.get(name):
                element.set(name, ID_PREFIX + element.get(name))
        element.attrib.pop(f"{{{XLINK_NS}}}href", None)
        element.attrib.pop("tabindex", None)  # a phone's numbers, picked as the boxes are
        key = element.get("data-roads-region") if element.tag == f"{{{SVG_NS}}}g" else None
        if key in tracks:
            element.set("data-roads-track", tracks[key])
    return etree.tostring(root, encoding="unicode") + "\n"
