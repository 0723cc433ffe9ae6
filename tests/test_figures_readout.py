"""Each drawing whose parts say more than their labels (an SVG ``<title>``, a tooltip) has
one readout line (``roads.figures.hints.readout``), where docs/javascripts/readout.js
shows what the part focused or tapped says; tests/test_browser_hints.py drives it.

What is checked here, on the makers' HTML: one readout per figure, after the drawing
and hidden until the script runs; and every ``<title>`` of a part is reached without a
mouse: its part is a Tab stop (the address-space diagram's boxes as links), or it is an
arrow whose words its source box's ``<title>`` holds too, or it says what the part
shows (the page walk's address fields).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from roads.figures import heapview, hints, stackview, walkview
from roads.figures.diagram import render_diagram
from roads.figures.regions import memory_map
from roads.figures.select import select
from roads.figures.timelapse import render_timelapse
from tests.capture_docs import snapshot
from tests.test_figures_heap import strip
from tests.test_figures_pictures import pagewalk, stack
from tests.test_figures_timelapse import every_checkpoint

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
READOUT = re.compile(r'<p class="roads-readout" [^>]*>')


def _svg(html: str) -> ET.Element:
    return ET.fromstring(html[html.index("<svg"):html.index("</svg>") + len("</svg>")])


def _titled(root: ET.Element) -> list[ET.Element]:
    """The parts: every element below the ``<svg>`` whose first child is a ``<title>``."""
    return [e for e in root.iter() if e is not root and len(e) and e[0].tag == f"{SVG}title"]


def _words(part: ET.Element) -> str:
    return part[0].text or ""


def _text(part: ET.Element) -> str:
    return " ".join("".join(t.itertext()) for t in part.iter(f"{SVG}text"))


def test_a_readout_is_hidden_until_its_script_runs():
    assert hints.readout("Tab to a box") == (
        '<p class="roads-readout" aria-hidden="true" hidden>Tab to a box</p>')


def _pictures() -> dict[str, str]:
    return {
        "heap": heapview.render_heap_strip(strip("freed")),
        "stack": stackview.render_stack_top(stack()[1]),
        "walk": walkview.render_walk(pagewalk()[1]),
    }


@pytest.mark.parametrize("kind", ["heap", "stack", "walk"])
def test_each_picture_has_one_readout_after_its_drawing(kind):
    html = _pictures()[kind]
    assert len(READOUT.findall(html)) == 1
    assert html.index("</svg>") < READOUT.search(html).start() < html.index("<figcaption>")
    assert 'aria-hidden="true" hidden>' in READOUT.search(html).group(0)


@pytest.mark.parametrize("kind", ["heap", "stack", "walk"])
def test_every_parts_words_are_reached_without_a_mouse(kind):
    """A part with a tooltip takes the focus, or its words are its source box's too (an
    arrow: from the word that holds the pointer), or its labels say them already."""
    root = _svg(_pictures()[kind])
    parts = _titled(root)
    assert parts
    stops = [p for p in parts if p.get("tabindex") == "0"]
    said = [_words(p) for p in stops]
    for part in parts:
        if part.get("tabindex") == "0":
            continue
        cls = part.get("class") or ""
        if cls in ("roads-heap-link", "roads-stack-pointer"):
            assert sum(_words(part) in s for s in said) == 1, _words(part)
        else:
            assert cls.startswith("roads-walk-field"), cls
            assert _words(part) == _text(part).replace(" ", ": ", 1), (_words(part), _text(part))
    # The page walk: CR3, each table and the page.
    if kind == "walk":
        assert [p.get("class").split()[0] for p in stops] == (
            ["roads-walk-cr3"] + ["roads-walk-table"] * (len(stops) - 2) + ["roads-walk-frame"])
    if kind == "stack":
        assert any(p.get("class") == "roads-stack-gap" for p in stops)


def test_a_heap_chunk_says_where_its_link_points():
    root = _svg(_pictures()["heap"])
    chunks = {p.get("data-key"): _words(p) for p in _titled(root)
              if "roads-heap-chunk" in (p.get("class") or "")}
    arrows = [_words(p) for p in _titled(root) if p.get("class") == "roads-heap-link"]
    assert arrows
    for words in arrows:
        assert any(words in said for said in chunks.values()), words
    assert "entries[" in chunks["tcache"]


def test_the_address_space_diagram_has_a_readout_and_its_boxes_are_links():
    mm = memory_map(select(snapshot("layout"), variant="pie"))
    html = render_diagram(mm)
    assert len(READOUT.findall(html)) == 1
    assert html.index("</svg>") < READOUT.search(html).start() < html.index("<figcaption>")
    root = _svg(html)
    nodes = [p for p in _titled(root) if "node" in (p.get("class") or "").split()]
    assert nodes
    for node in nodes:
        link = node.find(f"{SVG}g/{SVG}a")
        assert link is not None and link.get(f"{XLINK}href", "").startswith("#"), _words(node)
        assert link.get(f"{XLINK}title") == _words(node)


def test_the_timelapse_has_one_readout_after_its_steps(tmp_path):
    """One readout, hidden from screen readers as the others are: the box picked is
    said by the stepper's status line, with the step (tests/test_browser_hints.py)."""
    html = render_timelapse(every_checkpoint("brk"), cache_dir=tmp_path)
    found = READOUT.findall(html)
    assert len(found) == 1 and 'aria-hidden="true"' in found[0] and " hidden>" in found[0]
    assert "aria-live" not in found[0]
    assert html.index("</ol>") < html.index(found[0]) < html.rindex("</div>")
    for svg in re.findall(r"<svg\b.*?</svg>", html, re.S):
        root = ET.fromstring(svg)
        # No box a link, and so no Tab stop: the stepper's arrow keys reach them.
        assert root.findall(f".//{SVG}a[@{{{XLINK[1:-1]}}}href]") == []
        assert _titled(root)
