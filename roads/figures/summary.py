"""Text alternatives: what a figure shows, in a sentence, from the capture it draws.

A screen reader meets a figure by its accessible name (short: what and whose) and its
description (a sentence or two with the key numbers). The drawing modules compose those
from the analysed capture; what several of them say about one address space, its
regions grouped by what they belong to, is here, so that the diagram, the table and
the time-lapse say it alike. No number is typed: every one is read from the capture.

``hidden_text`` is the element a description points to when the figure is HTML (a
``<desc>`` does it for an SVG): hidden from sight, read by ``aria-describedby``
(a hidden element named by ``aria-describedby`` still gives its text).
"""

from __future__ import annotations

from html import escape

from .regions import MemoryMap
from ..units import hex_address, human_size

# Past this many groups, the overview names the rest by count: a sentence, not a list.
MOST_GROUPS = 8


def _groups(mm: MemoryMap) -> list[tuple[str, list]]:
    """Regions in address order, consecutive ones of one file or one name together."""
    out: list[tuple[str, list]] = []
    for c in mm.regions:
        r = c.region
        name = c.owner or r.pathname or ""
        if name.startswith("/"):
            name = r.filename
        if out and out[-1][0] == name and name:
            out[-1][1].append(c)
        else:
            out.append((name, [c]))
    return out


def overview(mm: MemoryMap) -> str:
    """One sentence: how many regions, how much is mapped, and the groups from the lowest
    address, each with its size and where it starts (``[heap] 132 KiB at 0x…``)."""
    n = len(mm.regions)
    words = []
    groups = _groups(mm)
    for name, members in groups[:MOST_GROUPS]:
        size = human_size(sum(c.region.size for c in members))
        start = hex_address(members[0].region.start)
        label = name or members[0].label
        count = f"{len(members)} regions, " if len(members) > 1 else ""
        words.append(f"{label} ({count}{size} at {start})")
    rest = len(groups) - MOST_GROUPS
    if rest > 0:
        words.append(f"{rest} more group{'s' if rest != 1 else ''}")
    return (f"{n} region{'s' if n != 1 else ''}, {human_size(mm.mapped)} of user space mapped; "
            "from the lowest address: " + ", ".join(words) + ".")


def hidden_text(fid: str, text: str, tag: str = "p") -> str:
    """A hidden element with the id ``fid`` holding ``text``, for ``aria-describedby``."""
    return f'<{tag} hidden id="{escape(fid)}">{escape(text)}</{tag}>'
