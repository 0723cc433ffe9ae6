"""What the two strip figures share: boxes one above the other, high addresses on top,
and arrows in lanes right of them, each from a word in one box to the box it points
into. ``roads.figures.heapview`` draws the heap's chunks so, ``roads.figures.stackview``
the top of the stack; each places its boxes and its arrows' ends, and this module draws
the arrows and makes the ``svg`` element."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Arrow:
    """A word in the box ``source`` holds an address inside the box ``target``;
    ``label`` names the word ("argv[0]", "entries[0]", "the link in a[2]")."""

    source: str
    target: str
    label: str


@dataclass(frozen=True)
class Lanes:
    """Where a strip's arrows run: from the boxes' right edge ``box_right`` into lanes
    ``step`` apart from ``first`` rightwards, and back to the target box."""

    box_right: float
    first: float
    step: float


def strip_svg(css_class: str, fid: str, width: int, height: float, short: str, long: str,
              parts: Iterable[str]) -> str:
    """The figure's ``svg`` element, ``width`` by ``height`` viewBox units (one CSS pixel
    each at the figure's natural size), named by ``short`` and described by ``long``
    (its ``desc``, of id ``fid``-desc), holding ``parts``."""
    return (f'<svg class="{css_class}" viewBox="0 0 {width} {height:.0f}" '
            f'width="{width}" height="{height:.0f}" role="img" aria-label="{escape(short)}" '
            f'aria-describedby="{fid}-desc" xmlns="http://www.w3.org/2000/svg">'
            f'<desc id="{fid}-desc">{escape(long)}</desc>' + "".join(parts) + "</svg>")


def draw_arrows(lanes: Lanes, css_class: str,
                arrows: Iterable[tuple[float, float, str]]) -> str:
    """SVG for ``arrows`` (height where each leaves its source box, height where it
    reaches its target, its tooltip), the first in the nearest lane: each runs right
    into its lane, along it, and back left to an arrowhead at the target box's edge."""
    right = lanes.box_right
    out = []
    for lane, (y0, y1, title) in enumerate(arrows):
        x = lanes.first + lane * lanes.step
        out.append(
            f'<g class="{css_class}"><title>{escape(title)}</title>'
            f'<path d="M{right},{y0:.1f} H{x} V{y1:.1f} H{right + 7}"/>'
            f'<polygon points="{right + 1},{y1:.1f} {right + 8},{y1 - 3.5:.1f} '
            f'{right + 8},{y1 + 3.5:.1f}"/></g>')
    return "".join(out)
