"""Every figure has a text alternative drawn from its capture (issue 16).

A screen reader meets a figure by its accessible name (what it is and whose) and its
description (what it shows, with the key numbers). For every figure of every page of
the built site: the name and the description are present, are words rather than an id
or "figure", and carry at least one number that the committed captures hold (an
address, a size as the kernel counted it, a page frame, a pid). Each kind of figure is
found by the element the macros make for it, and every figure container on a page must
hold at least one such element, so a new kind of figure without an alternative fails.

The names are computed here as the accessible-name rules give them for these elements
(aria-label, aria-labelledby, a table's caption; aria-describedby, an SVG's <desc>);
one browser test asks Chromium's own accessibility tree for the same, so that a hidden
description really is read. A unit test changes a capture and sees the text follow.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path

import pytest
from lxml import html as lxml_html

from roads.capture.project import Project
from roads.figures.select import select

ROOT = Path(__file__).resolve().parent.parent

# Each kind of figure and the element that carries its name and description.
ROOTS = {
    "drawing (address space, time-lapse step, ELF to memory, stack, page walk)":
        '//*[local-name()="svg" and @role="img"]',
    "ELF to memory on a phone": '//*[contains(@class,"roads-elf-narrow")]',
    "time-lapse": '//*[contains(concat(" ",@class," ")," roads-timelapse ")]',
    "diff": '//*[contains(@class,"roads-diffmap")]',
    "memory-map table": '//*[contains(concat(" ",@class," ")," roads-map ")]/table',
    "page view": '//*[contains(concat(" ",@class," ")," roads-pages ")]/table',
    "page walk table": '//*[contains(concat(" ",@class," ")," roads-page-walk ")]/table',
    "gdb transcript": '//*[contains(concat(" ",@class," ")," roads-gdb ")]',
}
# What holds a figure on a page: each must hold at least one element of ROOTS.
CONTAINERS = ('//figure[contains(@class,"roads-")] | //*[contains(concat(" ",@class," ")," roads-map ")]'
              ' | //*[contains(concat(" ",@class," ")," roads-pages ")]'
              ' | //*[contains(concat(" ",@class," ")," roads-page-walk ")]'
              ' | //*[contains(concat(" ",@class," ")," roads-gdb ")]'
              ' | //*[contains(concat(" ",@class," ")," roads-timelapse ")]')
GENERIC = {"figure", "image", "diagram", "table", "chart", "graph", "svg", "picture"}
NODE_ID = re.compile(r"^[\w-]+$|->")


def _text(element) -> str:
    return re.sub(r"\s+", " ", element.text_content()).strip()


def _by_ids(doc, ids: str | None) -> str:
    if not ids:
        return ""
    found = [doc.get_element_by_id(i, None) for i in ids.split()]
    return " ".join(_text(e) for e in found if e is not None)


def accessible_name(doc, element) -> str:
    """The accessible name, by the rules these elements use (aria-labelledby, then
    aria-label, then a table's caption or a figure's figcaption)."""
    name = _by_ids(doc, element.get("aria-labelledby")) or (element.get("aria-label") or "").strip()
    if not name:
        child = {"table": "caption", "figure": "figcaption"}.get(element.tag)
        found = element.find(child) if child else None
        name = _text(found) if found is not None else ""
    return name


def accessible_description(doc, element) -> str:
    return _by_ids(doc, element.get("aria-describedby"))


# --------------------------------------------------------------------------- numbers


def _numbers(value, out: set[int]) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        out.add(value)
    elif isinstance(value, str):
        out.update(int(h, 16) for h in re.findall(r"\b(?:0x)?([0-9a-f]{4,16})\b", value))
        out.update(int(d) for d in re.findall(r"\b\d+\b", value))
    elif isinstance(value, dict):
        for v in value.values():
            _numbers(v, out)
    elif isinstance(value, list):
        for v in value:
            _numbers(v, out)


@cache
def captured_numbers() -> frozenset[int]:
    """Every number the committed captures hold: integers, and the hex and decimal
    numbers in their texts (maps lines, transcripts)."""
    out: set[int] = set()
    for path in sorted((ROOT / "snapshots").glob("*.json")):
        _numbers(json.loads(path.read_bytes()), out)
    return frozenset(out)


UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def telling_numbers(text: str) -> set[int]:
    """The numbers of ``text`` that could only come from a capture: addresses and frames
    (hex), sizes (in bytes, and in KiB as smaps counts them) and numbers of three digits
    or more (pids, line counts are not: they are under 100 here)."""
    found = {int(h, 16) for h in re.findall(r"\b0x([0-9a-f]+)\b", text)}
    for number, unit in re.findall(r"\b(\d+(?:\.\d+)?) (B|KiB|MiB|GiB|TiB)\b", text):
        size = round(float(number) * UNITS[unit])
        found |= {size, size // 1024}
    found |= {int(d) for d in re.findall(r"(?<![.\w])(\d{3,})(?![.\w])", text)}
    return {n for n in found if n >= 16}


# --------------------------------------------------------------------------- the site


def figures_of(page: Path):
    """(document, [(kind, element)]) of a built page."""
    doc = lxml_html.parse(str(page)).getroot()
    found = []
    for kind, path in ROOTS.items():
        found += [(kind, e) for e in doc.xpath(path)]
    return doc, found


def site_pages(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*.html"))
            if not p.relative_to(folder).parts[0] in ("print", "assets", "search")
            and p.name != "404.html"]


def check_site(folder: Path) -> tuple[int, list[str]]:
    """How many figures the site has, and what is wrong with their alternatives."""
    numbers = captured_numbers()
    problems: list[str] = []
    count = 0
    for page in site_pages(folder):
        rel = page.relative_to(folder)
        doc, found = figures_of(page)
        for container in doc.xpath(CONTAINERS):
            inside = {id(e) for e in container.iter()}
            if not any(id(e) in inside or container in e.iterancestors() for _, e in found):
                problems.append(f"{rel}: a figure without a named element: "
                                f"<{container.tag} class={container.get('class')!r}>")
        for kind, element in found:
            if element.xpath("ancestor::*[contains(@class,'roads-zoom-dialog')]"):
                continue
            count += 1
            name = accessible_name(doc, element)
            description = accessible_description(doc, element)
            where = f"{rel}: {kind} {name[:60]!r}"
            if len(name.split()) < 3 or name.strip().lower() in GENERIC or NODE_ID.search(name):
                problems.append(f"{where}: no meaningful name")
            if len(description.split()) < 5:
                problems.append(f"{where}: no description ({description!r})")
            if not telling_numbers(name + " " + description) & numbers:
                problems.append(f"{where}: no number from a capture in {name!r} / {description[:120]!r}")
            if element.tag.endswith("svg") and element.get("role") != "img":
                problems.append(f"{where}: an SVG without role=img")
    return count, problems


@pytest.mark.slow  # the built site
def test_every_figure_of_the_site_has_a_text_alternative_from_its_capture(site) -> None:
    folder, _ = site
    count, problems = check_site(folder)
    assert count > 40, f"only {count} figures found: the selectors lost them"
    assert problems == []


@pytest.mark.browser
def test_chromium_reads_the_names_and_hidden_descriptions(site, browser) -> None:
    """Chromium's accessibility tree gives each kind of figure the name and description
    computed above, hidden descriptions included (aria-describedby reads hidden text)."""
    folder, base = site
    from tests.browser import open_page, quiet

    kinds = set()
    for path in ("all-roads-to-memory/mapping-procedure/", "gdb-sessions/",
                 "all-roads-to-memory/dynamic-memory-allocation/"):
        doc, found = figures_of(folder / path / "index.html")
        context, page, errors = open_page(browser, base + path, idle=False)
        try:
            shown = page.evaluate("[...document.querySelectorAll('[hidden][id$=\"-desc\"]')]"
                                  ".filter(e => getComputedStyle(e).display !== 'none').map(e => e.id)")
            assert shown == [], "hidden descriptions that a stylesheet shows"
            cdp = context.new_cdp_session(page)
            tree = cdp.send("Accessibility.getFullAXTree")["nodes"]
            names = {}
            for node in tree:
                name = (node.get("name") or {}).get("value") or ""
                desc = (node.get("description") or {}).get("value") or ""
                if name:
                    names.setdefault(name, set()).add(desc)
            for kind, element in found:
                name = accessible_name(doc, element)
                description = accessible_description(doc, element)
                if element.xpath("ancestor-or-self::*[contains(@class,'roads-elf-narrow')]"
                                 " | ancestor::details[not(@open)]"
                                 " | ancestor::li[contains(@class,'roads-timelapse-step')][preceding-sibling::li]"):
                    continue  # on a phone only, folded, or a time-lapse step not shown yet
                assert name in names, f"{kind}: Chromium has no element named {name!r}"
                assert description in names[name], (kind, name, names[name])
                kinds.add(kind)
            quiet(page)
            assert errors == []
        finally:
            context.close()
    assert len(kinds) >= 6, kinds


# --------------------------------------------------------------------------- from the capture


@cache
def _raw(sample: str) -> dict:
    return Project(ROOT, mode="frozen").read(sample)


def test_the_alternatives_follow_the_capture() -> None:
    """Change the capture (a region fewer, a heap twice as big, another frame, another
    transcript) and each figure's text says so."""
    from roads.figures import diagram, diff, diffview, elfmap, pageview, transcript
    from roads.figures.regions import memory_map
    from roads.figures.summary import overview
    from roads.figures.table import render_table

    layout = copy.deepcopy(_raw("layout"))
    regions = layout["variants"]["pie"]["runs"][0]["checkpoints"][0]["regions"]
    before = memory_map(select(_raw("layout"), variant="pie"))
    n = len(before.regions)
    assert overview(before).startswith(f"{n} regions")
    heap = next(r for r in regions if r["pathname"] == "[heap]")
    heap["end"] = heap["start"] + 2 * (heap["end"] - heap["start"])
    regions.remove(next(r for r in regions if r["pathname"] == "[vdso]"))
    after = memory_map(select(layout, variant="pie"))
    heap_size = heap["end"] - heap["start"]
    from roads.units import human_size
    for text in (overview(after), diagram.describe(after)[1], render_table(after)):
        assert f"{n - 1} regions" in text and f"[heap] ({human_size(heap_size)}" in text, text
    assert f"{n} regions" in overview(before) and f"{n} regions" not in overview(after)

    # The ELF figure says each segment's sizes as the ELF header has them.
    elf2maps = copy.deepcopy(_raw("elf2maps"))
    chosen = select(elf2maps, variant="bigbss")
    em = elfmap.elf_map(chosen)
    assert human_size(em.segment(em.links[-1]).p_memsz) in elfmap.describe(em)[1]

    # The diff says the sizes on both sides.
    threshold = _raw("threshold")
    d = diff.diff_selections(select(threshold, checkpoint="after-100k"),
                             select(threshold, checkpoint="after-200k"))
    long = diffview.describe(d)[1]
    changed = [c for c in d.changes if c.changed]
    assert changed and all(c.label in long for c in changed)
    assert human_size(changed[0].size_after) in long

    # The page walk's name gives the address as recorded.
    walk = copy.deepcopy(_raw("pagewalk"))
    answer = next(a for a in walk["variants"][next(iter(walk["variants"]))]["runs"][0]["checkpoints"][0]
                  ["addresses"] if a["name"] == "answer")
    text = pageview.render_page_walk(select(walk), "answer")
    assert f"{answer['value']:#x}" in text
    answer["value"] += 0x1000
    moved = pageview.render_page_walk(select(walk), "answer")
    assert f"{answer['value']:#x}" in moved and moved != text

    # The transcript's name counts its commands and lines.
    starti = copy.deepcopy(_raw("starti"))
    gdb = next(v for v in starti["variants"].values() if v.get("gdb"))["gdb"]
    label, _ = transcript.describe_gdb_session(select(starti))
    gdb["transcript"] += "\n+info registers rip\nrip 0x401530 0x401530 <_start>\n"
    label2, words = transcript.describe_gdb_session(select(starti))
    assert label != label2 and "info registers rip" in words


def test_a_page_views_description_counts_distinct_frames_and_names_the_lowest() -> None:
    """A page view's hidden description says how many distinct frames the pages are in
    and which is the lowest: it said '4 frames of their own from X', X being the lowest
    of a sorted set rather than the first page's frame, and 'of their own' beside
    '0 exclusively mapped' for a file's shared page-cache frame."""
    from roads.figures import pageview

    capture = _raw("mremap")
    chosen = select(capture, checkpoint="written")
    pages = [p for p in pageview.page_range(chosen, "buffer").pages if p.present]
    frames = sorted({p.pfn for p in pages})
    text = pageview.render_page_view([chosen], "buffer")
    desc = re.search(r'id="[^"]*-desc"[^>]*>([^<]*)<', text)
    assert desc, text
    words = f"{len(frames)} distinct frames, the lowest {frames[0]:#x}"
    assert words in desc.group(1) and "of their own" not in desc.group(1), desc.group(1)
    if frames[0] != pages[0].pfn:
        assert f"{pages[0].pfn:#x}" not in desc.group(1)
