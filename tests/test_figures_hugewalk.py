"""The page walk of an address in a transparent huge page (roads.figures.walkview).

On the real hugepage capture: the advised region's first byte is walked PML4, PDPT,
PD, and the PD entry maps the 2 MiB frame (its PS bit), the low 21 bits being the
offset; the plain region's byte next to it still walks four levels. The rule that
decides it (smaps' AnonHugePages covering every aligned block of the region the
pagemap does not rule out) is tested on edited copies of the capture. A browser test
shows the figure on its page at phone and desktop width in both palettes.

Sizes and bit numbers come from roads.constants.
"""

from __future__ import annotations

import re

import pytest

from roads import constants as c
from roads.figures import walkview
from roads.figures.select import select
from tests.browser import DESKTOP, PHONE, open_page, quiet
from tests.test_figures_pictures import HEX, MEASURE, _blend, doc, svg_texts

PAGE = c.PAGE_SIZE.value
HUGE = c.HPAGE_PMD_SIZE.value
SHIFT = c.HPAGE_PMD_SHIFT.value
POINT = ("variants", "default", "runs", 0, "checkpoints", 1)  # "touched"


def walk_of(name: str, d: dict | None = None) -> walkview.Walk:
    return walkview.walk(select(d or doc("hugepage"), checkpoint="touched"), name)


def point(d: dict) -> dict:
    p = d
    for k in POINT:
        p = p[k]
    assert p["name"] == "touched"
    return p


def huge_region(d: dict) -> dict:
    address = next(a["value"] for a in point(d)["addresses"] if a["name"] == "huge")
    return next(r for r in point(d)["regions"] if r["start"] <= address < r["end"])


def test_huge_page_walks_three_levels_to_a_2mib_frame() -> None:
    w = walk_of("huge")
    assert w.huge is not None
    assert [name for name, _ in w.levels] == ["PML4", "PDPT", "PD"]
    assert [index for _, index in w.levels] == list(w.split.indices[:3])
    assert w.offset_bits == SHIFT and w.offset == w.split.address & (HUGE - 1)
    first = point(doc("hugepage"))["pagemap"][0]["pages"][0]
    assert first["vaddr"] == w.huge.start and w.frame == first["pfn"] == w.huge.first_frame
    assert w.physical == first["pfn"] * PAGE + w.offset
    html = walkview.render_walk(w)
    texts = svg_texts(html)
    assert html.count('class="roads-walk-table ') == 3 and "PT" not in texts
    assert texts.count("not captured: kernel memory") == 3
    # The PS bit ends the walk, in the PD's entry and under it.
    assert f"PS = 1 → the {c.HPAGE_PMD_SIZE.format()} frame" in texts
    assert f"PS (bit {c.PTE_PSE_BIT.value}) = 1: no page table, the walk ends" in texts
    # The offset field is 21 bits wide, printed with all its hex digits.
    assert f"{SHIFT}-bit offset" in texts and f"{w.offset:#08x}" in texts
    assert f"{c.HPAGE_PMD_SIZE.format()} frame" in texts and f"at {w.frame * PAGE:#x} (pagemap)" in texts
    assert f"physical {w.physical:#x}" in " ".join(texts)
    allowed = {w.split.address, w.split.sign, w.offset, w.frame, w.frame * PAGE, w.physical}
    assert {int(h, 16) for h in HEX.findall(" ".join(texts))} <= allowed
    caption = re.search(r"<figcaption>(.*)</figcaption>", html).group(1)
    assert "ends at the PD" in caption and "AnonHugePages" in caption
    assert f"{w.frame:#x}, a multiple of {c.TABLE_ENTRIES.value}" in caption
    assert "ending at the PD" in html  # the aria-label


def test_small_page_next_to_it_still_walks_four_levels() -> None:
    w = walk_of("plain")
    assert w.huge is None and w.offset_bits == c.PAGE_SHIFT.value
    assert [name for name, _ in w.levels] == ["PML4", "PDPT", "PD", "PT"]
    html = walkview.render_walk(w)
    assert html.count('class="roads-walk-table ') == 4
    assert "PS" not in " ".join(svg_texts(html)) and "AnonHugePages" not in html


def test_too_little_anon_huge_pages_proves_nothing() -> None:
    d = doc("hugepage")
    huge_region(d)["kb"]["AnonHugePages"] //= 2
    assert walk_of("huge", d).huge is None


def test_a_wider_region_needs_every_block_covered() -> None:
    """Two aligned blocks, the pagemap ruling out neither, AnonHugePages one block: which
    one is huge is unknown, so neither is drawn huge; with one ruled out (a page not
    present) the other is."""
    d = doc("hugepage")
    region = huge_region(d)
    nxt = next(r for r in point(d)["regions"] if r["start"] == region["end"])
    point(d)["regions"].remove(nxt)
    region["end"] += HUGE
    assert walk_of("huge", d).huge is None
    point(d)["pagemap"].append({"name": "next", "start": region["end"] - HUGE, "length": PAGE,
                                "pages": [{"vaddr": region["end"] - HUGE, "present": False,
                                           "swapped": False, "file_or_shared": False,
                                           "exclusive": False, "soft_dirty": False, "pfn": None}]})
    w = walk_of("huge", d)
    assert w.huge is not None and w.huge.blocks == 1


def test_frames_that_are_not_one_aligned_run_rule_it_out() -> None:
    d = doc("hugepage")
    point(d)["pagemap"][0]["pages"][7]["pfn"] += 1
    assert walk_of("huge", d).huge is None
    d = doc("hugepage")
    for p in point(d)["pagemap"][0]["pages"]:
        p["pfn"] += 1  # consecutive, but not starting on a multiple of 512
    assert walk_of("huge", d).huge is None


def test_hidden_frames_leave_the_proof_to_smaps() -> None:
    d = doc("hugepage")
    for p in point(d)["pagemap"][0]["pages"]:
        p["pfn"] = None
    w = walk_of("huge", d)
    assert w.huge is not None and w.frame is None and w.frame_state == "hidden"
    assert not w.huge.frames_checked
    html = walkview.render_walk(w)
    assert "Pagemap agrees" not in html and "physical" not in " ".join(svg_texts(html))


def test_the_page_draws_the_huge_walk() -> None:
    from tests.conftest import REPO

    text = (REPO / "docs" / "all-roads-to-memory" / "files-and-accounting.md").read_text()
    assert "{{ page_walk_diagram('hugepage', 'huge', checkpoint='touched') }}" in text


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_huge_walk_renders_legibly(site, browser, viewport) -> None:
    """On its page, in both palettes: inside the column, no sideways scroll, text of at
    least 9 px with contrast 4.5, no two labels overlapping."""
    from tests.test_browser import contrast

    _, base = site
    selector = "#roads-walk-hugepage-default-touched-huge"
    context, page, errors = open_page(browser, base + "all-roads-to-memory/files-and-accounting/",
                                      viewport=viewport, scheme="default", idle=False)
    try:
        measured = {}
        for scheme in ("default", "slate"):
            page.evaluate(f"document.body.setAttribute('data-md-color-scheme', '{scheme}')")
            measured[scheme] = page.evaluate(MEASURE, selector)
        quiet(page)
    finally:
        context.close()
    assert not errors, errors
    for scheme, m in measured.items():
        fx, fw = m["figure"]
        cx, cw = m["column"]
        assert fx >= cx - 1 and fx + fw <= cx + cw + 1, (scheme, m["figure"], m["column"])
        assert m["scroll"][0] <= m["scroll"][1] + 1
        texts = m["texts"]
        assert any("PS (bit" in t["text"] for t in texts)
        for t in texts:
            assert t["size"] >= 9, (scheme, t["text"], t["size"])
            fg, bg = (list(map(float, re.findall(r"[\d.]+", t[k]))) for k in ("fg", "bg"))
            ratio = contrast(_blend(fg, bg), tuple(bg[:3]))
            assert ratio >= 4.5, (scheme, t["text"], round(ratio, 2))
        for i, a in enumerate(texts):
            for b in texts[i + 1:]:
                ax, ay, aw, ah = a["box"]
                bx, by, bw, bh = b["box"]
                assert not (min(ax + aw, bx + bw) - max(ax, bx) > 1
                            and min(ay + ah, by + bh) - max(ay, by) > 1), (scheme, a["text"], b["text"])
