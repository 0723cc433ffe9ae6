"""What a map diff says changed (issue 11, "Say what changed"), from the committed
captures: across execve nothing is "unchanged", moves with one cause are one row,
changes are told apart without the kinds' hues, a write to a page already in memory
shows although the layout stayed; and, in a real browser, the two sides of a diff
stand one above the other on a phone and side by side on a desktop.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from roads.capture.project import Project
from roads.figures import diff, diffview
from roads.figures.diagram import COLOURS
from roads.figures.select import Selection, select

ROOT = Path(__file__).resolve().parent.parent
CSS = ROOT / "docs" / "stylesheets" / "figures-more.css"


@cache
def doc(sample: str):
    return Project(ROOT, mode="frozen").document(sample)


def sel(sample: str, **where) -> Selection:
    return select(doc(sample), **where)


def step(sample: str, before: str, after: str, **kw) -> diff.MapDiff:
    variant = kw.pop("variant", None)
    return diff.diff_selections(sel(sample, checkpoint=before, variant=variant),
                                sel(sample, checkpoint=after, variant=variant), **kw)


# --------------------------------------------------------------------------- execve


def test_execve_diff_calls_nothing_of_the_new_image_unchanged() -> None:
    d = step("forkexec", "child-before-exec", "after-exec", resident=False)
    assert d.replaced, "the execve between the two checkpoints went unseen"
    # Identity is image and mapping: no region of the old image is paired with one of
    # the new, although the executable, ld.so and libc sit at the very same addresses.
    assert all(not (c.before and c.after) for c in d.changes)
    assert [c for c in d.changes if not c.changed] == []
    after = sel("forkexec", checkpoint="after-exec").regions
    assert sorted(r.start for c in d.of("added") for r in c.after) == sorted(r.start for r in after)
    html = diffview.render_diff_figure(d)
    assert "unchanged" not in html
    assert "execve" in html and "AT_EXECFN" in html  # says what showed it


def test_execve_seen_from_the_parent_too_but_fork_is_no_new_image() -> None:
    assert step("forkexec", "before-fork", "after-exec", resident=False).replaced
    fork = step("forkexec", "before-fork", "child-before-exec")
    assert not fork.replaced and [c for c in fork.changes if c.changed] == []
    later = step("threshold", "after-100k", "after-200k")
    assert not later.replaced


def test_image_change_evidence() -> None:
    child = sel("forkexec", checkpoint="child-before-exec").snapshot
    execd = sel("forkexec", checkpoint="after-exec").snapshot
    assert diff.image_change(child, child) == ""
    assert "AT_EXECFN" in diff.image_change(child, execd)
    from dataclasses import replace
    assert "executable" in diff.image_change(child, replace(execd, exe="/bin/other"))


def test_a_new_command_name_in_the_same_image_is_no_execve() -> None:
    """A program renames itself without any execve (prctl's PR_SET_NAME, a write to
    /proc/self/comm): the command name alone was taken for one, and the diff called every
    region of the process gone and new. It counts only where neither the executable nor
    AT_EXECFN is recorded on both sides."""
    from dataclasses import replace
    child = sel("forkexec", checkpoint="child-before-exec").snapshot
    renamed = replace(child, status={**child.status, "Name": "<script>"})
    assert diff.image_change(child, renamed) == ""
    anonymous = replace(child, exe="", auxv_strings={})
    assert "command name" in diff.image_change(
        anonymous, replace(renamed, exe="", auxv_strings={}))


# --------------------------------------------------------------------------- moves


def test_moves_with_one_cause_are_one_row() -> None:
    d = diff.diff_selections(sel("aslr", run=0), sel("aslr", run=1))
    groups = {g.cause: g for g in d.move_groups}
    mmap = groups["the mmap base"]
    labels = {c.label for c in mmap.changes}
    assert {"libc.so.6", "ld-linux-x86-64.so.2", "[vdso]"} <= labels
    assert len({c.after[0].start - c.before[0].start for c in mmap.changes}) == 1
    assert mmap.regions >= 10
    assert "the executable's load address" in groups and "[heap]" not in labels
    html = diffview.render_diff_figure(d)
    rows = re.findall(r'<div class="roads-diff-row roads-change-moved">', html)
    assert len(rows) == len(d.move_groups) < len(d.of("moved"))
    assert html.count("the mmap base moved by") == 1
    assert f"{mmap.regions}\u00a0regions" in html


# --------------------------------------------------------------------------- colours


def _rules(css: str) -> list[tuple[str, str]]:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    return [(sel.strip(), body) for sel, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css)]


def test_change_styling_uses_no_kind_colour() -> None:
    rules = [(s, b) for s, b in _rules(CSS.read_text(encoding="utf-8"))
             if "roads-change-" in s or "roads-diff-badge" in s]
    assert rules, "no change styling found"
    kind_hexes = {c.lower() for c in COLOURS.values()}
    for selector, body in rules:
        assert "--roads-fill" not in body, selector
        assert not re.search(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|hsla?\(", body), selector
        assert not kind_hexes & set(re.findall(r"#[0-9a-f]{6}", body.lower())), selector
        colours = re.findall(r"var\((--[\w-]+)", body)
        assert all(v.startswith("--md-default-fg-color") for v in colours), (selector, colours)


def test_every_change_shown_has_a_legend_entry_and_a_badge() -> None:
    d = step("threshold", "after-100k", "after-200k")
    html = diffview.render_diff_figure(d)
    legend = html.split('<span class="roads-diff-legend">')[1]
    for word in {w for c in d.changes if c.changed for w in c.what}:
        assert f'roads-diff-key roads-change-{word}' in legend, word
        assert f'roads-diff-badge roads-change-{word}' in html.split("<figcaption>")[0], word


# --------------------------------------------------------------------------- inside a region


def test_private_write_to_a_present_page_shows() -> None:
    """cow: the child writes to a page it shares with its parent. The page was present
    before and after, the layout and Rss stay; the write shows as the page's new frame,
    exclusive now, and the dirty counters that moved from shared to private."""
    d = step("cow", "child-before-write", "child-after-write")
    changed = [c for c in d.changes if c.changed]
    assert len(changed) == 1
    c = changed[0]
    assert "frames" in c.what and not {"grown", "shrunk", "added", "removed"} & set(c.what)
    snapshot = sel("cow", checkpoint="child-after-write").snapshot
    written = [r for r in snapshot.pagemap if r.name == "buffer"][0].start  # buffer[0] = 'c'
    assert [p.vaddr for p in c.pages] == [written]  # that page, and no other
    first = c.pages[0]
    assert first.before.present and first.after.present
    assert not first.before.exclusive and first.after.exclusive
    if first.before.pfn is not None:
        assert first.new_frame
    counters = {k.name: (k.before, k.after) for k in c.counters}
    assert counters["Private_Dirty"][1] > counters["Private_Dirty"][0]
    html = diffview.render_diff_figure(d)
    assert "no region changed" not in html
    assert "Private_Dirty" in html and "now exclusive" in html


def test_first_reads_show_in_the_pages_though_rss_stays() -> None:
    d = step("demand", "after-mmap", "after-reads", variant="anonymous")
    c = [c for c in d.changes if c.changed][0]
    assert c.what == ("frames",) and all(p.after.present and not p.before.present for p in c.pages)
    assert f"{len(c.pages)} pages from" in diffview.render_diff_figure(d)


def test_nothing_changed_says_so_in_full() -> None:
    html = diffview.render_diff_figure(step("threshold", "after-frees", "after-256k"))
    assert "no region changed: the same layout, the same smaps counters" in html


def test_pages_a_fork_shares_are_said_to_be_shared_with_another_process() -> None:
    """Across a fork the parent's written pages turn from Private_Dirty to Shared_Dirty,
    and the diff listed the counters without a word of why (a learner's program): its
    note says that another process maps them, copy-on-write. Not where Shared_Dirty
    fell (the child wrote, and has a copy of its own), nor where no fork came."""
    note = ("Written pages of private anonymous memory counted Shared_Dirty are mapped more "
            "than once: by another process after a fork")
    assert note in diffview.render_diff_figure(step("cow", "before-fork", "parent-after-fork"))
    assert note not in diffview.render_diff_figure(step("cow", "child-before-write",
                                                        "child-after-write"))
    assert note not in diffview.render_diff_figure(step("threshold", "after-frees",
                                                        "after-256k"))


def test_nothing_changed_between_two_processes_says_what_was_compared() -> None:
    """Between a parent's stop and its child's the counters are not compared (a fork
    turns every private page of both shared: ``diff_selections``), and the figure said
    "the same smaps counters" of a child whose counters differed from its parent's (a
    learner's program that wrote 64 KiB in the child)."""
    d = step("cow", "parent-after-fork", "child-before-write")
    assert not d.resident and not [c for c in d.changes if c.changed]
    before = sel("cow", checkpoint="parent-after-fork").regions
    after = sel("cow", checkpoint="child-before-write").regions
    assert any(b.kb != a.kb for b, a in zip(before, after))  # so no word may say "same"
    html = diffview.render_diff_figure(d)
    words = ("no region changed: the same layout (the smaps counters of two processes are "
             "not compared)")
    assert words in html and "the same smaps counters" not in html
    assert diffview.describe(d)[1].startswith("No region changed: the same layout (the "
                                              "smaps counters of two processes")


# --------------------------------------------------------------------------- browser


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["default", "slate"])
def test_diff_sides_stack_on_a_phone(site, browser, scheme) -> None:
    from tests.browser import DESKTOP, PHONE, open_page, quiet

    _, base = site
    for viewport, stacked in ((PHONE, True), (DESKTOP, False)):
        context, page, errors = open_page(browser, base + "all-roads-to-memory/processes/",
                                          viewport=viewport, scheme=scheme, idle=False)
        try:
            figures = page.locator("figure.roads-diff-figure")
            assert figures.count() >= 1
            for k in range(figures.count()):
                fig = figures.nth(k)
                fig.scroll_into_view_if_needed()
                sizes = fig.evaluate("f => [f.scrollWidth, f.clientWidth]")
                assert sizes[0] <= sizes[1] + 1, f"diff {k} wider than its column: {sizes}"
                row = fig.locator(".roads-diff-row").first
                boxes = row.locator(":scope > .roads-diff-column, :scope > .roads-diff-box")
                first, last = boxes.first.bounding_box(), boxes.last.bounding_box()
                if stacked:
                    assert last["y"] >= first["y"] + first["height"] - 1, "after not below before"
                else:
                    assert abs(last["y"] - first["y"]) < 2 and last["x"] > first["x"] + first["width"]
                # Change badges are drawn in the text colour, never in a kind's hue.
                badge = row.locator(".roads-diff-badge").first
                colour = badge.evaluate("b => getComputedStyle(b).color")
                body = page.evaluate("getComputedStyle(document.querySelector('.md-typeset')).color")
                assert colour == body, (colour, body)
            quiet(page)
            assert errors == []
        finally:
            context.close()


def _fake_map(regions, threads):
    from roads.figures.regions import memory_map
    from tests.capture_docs import KERNEL_PAGES, fake_doc

    doc = fake_doc([*regions, *KERNEL_PAGES])
    doc["variants"]["default"]["runs"][0]["checkpoints"][0]["status"] = {"Threads": threads}
    return memory_map(select(doc))


def test_a_thread_stack_told_as_mmap_memory_is_one_mapping_only_at_the_same_addresses() -> None:
    """A thread's stack and its guard, told so in a process of two threads, are plain mmap
    memory in one of a single thread (a child a thread forked): at the very same
    addresses they are one mapping, unchanged. A stack unmapped and other memory mapped
    over part of its addresses are not: the stack is removed (matching the two made it
    'merged and grown and permissions', a review found)."""
    from tests.capture_docs import region

    stack = [region(0x7F0000000000, 0x7F0000001000, "---p"),
             region(0x7F0000001000, 0x7F0000101000)]
    same = diff.diff_maps(_fake_map(stack, 2), _fake_map(stack, 1))
    assert [c.kind for c in _fake_map(stack, 2).regions[:2]] == ["guard", "thread-stack"]
    assert [c.kind for c in _fake_map(stack, 1).regions[:2]] == ["reserved", "mmap"]
    assert not [c for c in same.changes if c.changed]
    other = [region(0x7F0000000000, 0x7F0000180000)]
    moved = diff.diff_maps(_fake_map(stack, 2), _fake_map(other, 1))
    whats = {c.kind: c.what for c in moved.changes if c.changed}
    assert whats.get("thread-stack") == ("removed",) and whats.get("guard") == ("removed",)
    assert whats.get("mmap") == ("added",), whats


# --------------------------------------------------------------------------- a move


def _frames_changed(selection: Selection, name: str, shared: bool = False) -> Selection:
    """``selection`` with the frames of the pages recorded as ``name`` told apart: each
    frame number one more, as if the pages had been copied; or with ``shared`` the same
    frames, each mapped more than once (not exclusive)."""
    import dataclasses

    import msgspec

    point = selection.checkpoint_record
    pagemap = tuple(msgspec.structs.replace(r, pages=tuple(
        msgspec.structs.replace(p, exclusive=False) if shared else
        msgspec.structs.replace(p, pfn=p.pfn + 1 if p.pfn is not None else None)
        for p in r.pages)) if r.name == name else r for r in point.pagemap)
    return dataclasses.replace(selection, checkpoint_record=msgspec.structs.replace(
        point, pagemap=pagemap))


def test_a_mapping_mremap_moved_is_one_moved_and_grown() -> None:
    """mremap moved the buffer and grew it: the diff said "anonymous mapping removed"
    and "anonymous mapping added", though its pages sit in the same frames at the new
    address, as the page's words and its page view say. Matched by those frames, it is
    one mapping moved and grown; with the frames told apart (memory unmapped, and new
    memory mapped elsewhere and written), the two stay removed and added."""
    before, after = sel("mremap", checkpoint="written"), sel("mremap", checkpoint="grown")
    recorded = next(r for r in before.snapshot.pagemap if r.name == "buffer")
    present = sum(p.present for p in recorded.pages)
    assert present
    d = diff.diff_selections(before, after)
    moved = [c for c in d.changes if "moved" in c.what]
    assert [c.what for c in moved] == [("moved", "grown")]
    assert moved[0].frames_kept == present
    assert not [c for c in d.changes if c.what in (("added",), ("removed",))]
    words = diffview.render_diff_figure(d)
    assert "anonymous mapping moved and grown" in words
    assert f"{present} recorded pages in the same frames: moved, not copied" in words

    copied = diff.diff_selections(before, _frames_changed(after, "moved"))
    assert not [c for c in copied.changes if "moved" in c.what]
    assert sorted(c.what for c in copied.changes if c.changed) == [("added",), ("removed",)]
    # The same frames, mapped more than once (the zero page under memory only read, a
    # page KSM merged): two ranges that hold them are not one moved.
    shared = diff.diff_selections(before, _frames_changed(after, "moved", shared=True))
    assert not [c for c in shared.changes if "moved" in c.what]


def test_a_box_counts_the_regions_that_share_a_permission() -> None:
    """ld.so's five regions (r--p three times): the box said 'r--p/r-xp/rw-p' beside
    '(5 regions)', and a change's detail listed every region's, so that the two read as
    different counts (a newcomer's mprotect split: 'rw-p/r--p' against three)."""
    d = step("forkexec", "child-before-exec", "after-exec", resident=False)
    html = diffview.render_diff_figure(d)
    assert "r--p\u00a0×3/r-xp/rw-p" in html
    assert "r--p/r-xp/rw-p" not in html
