"""roads.figures.timelapse: a process's address space checkpoint by checkpoint, each step
named by what changed, regions keeping their identity (track) from step to step."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from roads.errors import ConfigError
from roads.figures.regions import memory_map
from roads.figures.select import checkpoint_names, select
from roads.figures.table import region_key
from roads.figures.timelapse import render_timelapse, step_words, steps
from tests.capture_docs import snapshot

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"


def every_checkpoint(sample: str, variant: str | None = None):
    doc = snapshot(sample)
    first = select(doc, variant=variant)
    return [select(doc, variant=variant, checkpoint=name)
            for name in checkpoint_names(first.run_record)]


@pytest.fixture(scope="module")
def brk():
    return every_checkpoint("brk")


@pytest.fixture(scope="module")
def brk_html(brk, tmp_path_factory):
    return render_timelapse(brk, cache_dir=tmp_path_factory.mktemp("svg"))


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(m.group(0)) for m in re.finditer(r"<svg\b.*?</svg>", html, re.S)]


def heap_track(step) -> str | None:
    for c in step.map.regions:
        if c.region.pathname == "[heap]":
            return step.tracks[region_key(step.selection.slug, c.region.start)]
    return None


def test_steps_follow_the_checkpoints_in_order(brk):
    made = steps(brk)
    assert [s.name for s in made] == [s.checkpoint_name for s in brk]
    assert len(made) >= 3


def test_each_step_is_named_by_what_changed(brk):
    made = steps(brk)
    words = [step_words(s, k) for k, s in enumerate(made)]
    assert words[0].startswith("the first checkpoint")
    assert words[1].startswith("[heap] appeared")
    for later in words[2:]:
        assert re.fullmatch(r"\[heap\] grew by \d+ KiB, to \d+ KiB", later), later


def test_a_step_without_change_says_so():
    made = steps(every_checkpoint("stackgrow"))
    words = {s.name: step_words(s, k) for k, s in enumerate(made)}
    assert words["returned"] == "no region changed"
    assert any(w.startswith("[stack] grew by") for w in words.values())


def test_regions_keep_their_track_from_step_to_step(brk):
    made = steps(brk)
    assert heap_track(made[0]) is None
    assert len({heap_track(s) for s in made[1:]}) == 1
    # What no step changes (the executable's regions, the libraries) keeps one track
    # all along, and no track is used twice within a step.
    first = made[0]
    for c in first.map.regions:
        track = first.tracks[region_key(first.selection.slug, c.region.start)]
        if c.region.pathname.startswith("/"):
            for later in made[1:]:
                assert later.tracks[region_key(later.selection.slug, c.region.start)] == track
    for s in made:
        assert len(set(s.tracks.values())) == len(s.tracks) == len(s.map.bands())


def test_breaks_are_tracked_by_the_addresses_they_cover(brk):
    made = steps(brk)
    # The break above the executable's data keeps its track when the heap appears
    # at its low end, since it still covers most of the same addresses.
    def break_above_data(step):
        bands = step.map.bands()
        k = max(i for i, b in enumerate(bands) if b.region is not None
                and b.region.region.pathname.startswith("/build/"))
        above = next(b for b in bands[k + 1:] if b.region is None)
        return step.tracks[region_key(step.selection.slug, above.start, gap=True)]

    assert len({break_above_data(s) for s in made}) == 1


def test_fewer_than_two_checkpoints_is_an_authoring_error(brk):
    with pytest.raises(ConfigError, match="two checkpoints"):
        steps(brk[:1])


@pytest.mark.dot
def test_every_step_is_in_the_list_in_order(brk, brk_html):
    names = re.findall(r'<li class="roads-timelapse-step" data-roads-checkpoint="([^"]+)"', brk_html)
    assert names == [s.checkpoint_name for s in brk]
    assert brk_html.count("<ol") == 1
    heads = re.findall(r'<span class="roads-timelapse-name">(\d+) of (\d+)', brk_html)
    assert heads == [(str(k + 1), str(len(brk))) for k in range(len(brk))]
    assert len(svgs(brk_html)) == 2 * len(brk)  # each step drawn wide and narrow


@pytest.mark.dot
def test_step_diagrams_are_tracked_unlinked_and_their_ids_prefixed(brk, brk_html):
    ids = re.findall(r'\bid="([^"]+)"', brk_html)
    assert len(ids) == len(set(ids))
    assert all(i.startswith(("tl-", "timelapse-")) for i in ids)
    made = steps(brk)
    for step, root in zip([s for s in made for _ in ("wide", "narrow")], svgs(brk_html), strict=True):
        assert not [e for e in root.iter() if e.get(XLINK)], "a step links to a row the page may not have"
        # Nor Tab stops: a phone's numbers are picked as the boxes are, by the arrow keys.
        assert not [e for e in root.iter() if e.get("tabindex")]
        boxes = [g for g in root.iter(f"{SVG}g") if g.get("data-roads-region")]
        assert boxes and all(g.get("data-roads-track") == step.tracks[g.get("data-roads-region")]
                             for g in boxes)
        assert len(boxes) == len(step.map.bands())


@pytest.mark.dot
def test_same_captures_render_byte_identical(brk, brk_html, tmp_path):
    assert render_timelapse(brk, cache_dir=tmp_path) == brk_html


@pytest.mark.dot
def test_timelapse_macro(monkeypatch):
    monkeypatch.setenv("ROADS_MODE", "frozen")
    monkeypatch.delenv("ROADS_ROOT", raising=False)
    from macros import figures

    html = figures.timelapse("stackgrow", checkpoints=["start", "depth-64"])
    assert figures.timelapse in figures.MACROS and figures.timelapse in figures.FIGURES
    assert html.count('class="roads-timelapse-step"') == 2
    assert "[stack] grew by" in html
    assert html.rstrip().endswith("</p>") and '<p class="roads-provenance' in html
    with pytest.raises(ConfigError, match="no checkpoint 'nowhere'"):
        figures.timelapse("stackgrow", checkpoints=["start", "nowhere"])


@pytest.mark.dot
def test_boxes_and_rows_share_their_region_key(tmp_path):
    """The identity hover linking pairs (docs/javascripts/linking.js), and the steps'
    tracks are keyed by: every box and break of the diagram carries the key of its row."""
    from roads.figures.diagram import render_diagram
    from roads.figures.table import render_table

    mm = memory_map(select(snapshot("layout"), variant="pie"))
    figure, table = render_diagram(mm, cache_dir=tmp_path), render_table(mm)
    rows = re.findall(r'<tr\b[^>]*\bdata-roads-region="([^"]+)"', table)
    assert len(set(rows)) == len(rows) == len(mm.bands())
    assert len(svgs(figure)) == 2  # wide and narrow: each box of each is its row's
    for root in svgs(figure):
        boxes = [g.get("data-roads-region") for g in root.iter(f"{SVG}g")
                 if {"roads-region", "roads-gap"} & set((g.get("class") or "").split())]
        assert sorted(boxes) == sorted(rows)
