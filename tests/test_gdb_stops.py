"""gdb transcripts split per stop (roads.figures.transcript.split_stops), the
``info proc mappings`` tables read from them, the map changes between stops, and the
split figure: on every committed transcript, against /proc/PID/maps of a live
process under gdb, and in Chromium at phone and desktop widths in both palettes."""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest

from roads.capture.project import Project
from roads.figures import transcript as tr
from roads.figures.select import select
from tests.browser import DESKTOP, PHONE, open_page, quiet
from tests.conftest import REPO

PROJECT = Project(REPO, mode="frozen")


def sessions():
    """(sample, variant, selection) of every committed capture with a gdb transcript."""
    found = []
    for path in sorted((REPO / "snapshots").glob("*.json")):
        doc = PROJECT.document(path.stem)
        for name, variant in doc.variants.items():
            if variant.gdb:
                found.append((path.stem, name, select(doc, variant=name)))
    return found


SESSIONS = sessions()


def test_there_are_sessions():
    assert {s for s, _, _ in SESSIONS} >= {"starti", "starti-syscalls", "heapbins", "lazybind"}


@pytest.mark.parametrize("sample,variant,chosen", SESSIONS,
                         ids=[f"{s}-{v}" for s, v, _ in SESSIONS])
def test_split_keeps_every_line_and_names_every_stop(sample, variant, chosen):
    text = chosen.variant_record.gdb.transcript
    stops = tr.split_stops(text)
    assert [line for s in stops for line in s.lines] == tr.transcript_lines(text)
    # Numbered in order, the set-up (if any) first; each stop says what stopped it.
    assert [s.number for s in stops] == list(range(stops[0].number, stops[0].number + len(stops)))
    for stop in stops:
        if stop.command:
            assert stop.lines[0] == "+" + stop.command and stop.event, (sample, stop.number)
            assert tr._verb(stop.command) in tr.RESUMING
        else:
            assert stop.number == 0 and not any(
                line.startswith("+") and tr._verb(line[1:]) in tr.RESUMING for line in stop.lines)
    # Every script lets the program run to its end: the last stop says so.
    assert re.match(r"^\[Inferior 1 \(process \d+\) exited normally\]$", stops[-1].exited)
    assert sum(1 for s in stops if s.exited) == 1
    # Each echoed info proc mappings gave a table whose rows parse and go up in address.
    echoed = sum(1 for line in tr.transcript_lines(text) if line == "+info proc mappings")
    tables = tr.parse_mappings(tr.transcript_lines(text))
    assert len(tables) == echoed
    for table in tables:
        assert table and all(a.end <= b.start for a, b in zip(table, table[1:]))


def test_the_stops_of_each_script():
    events = {(s, v): [(st.command, st.event.split(",")[0].split(" 0x")[0])
                       for st in tr.split_stops(c.variant_record.gdb.transcript)]
              for s, v, c in SESSIONS}
    assert [e for _, e in events[("starti", "default")]][:3] == [
        "Program stopped.", "Breakpoint 1", "Breakpoint 2"]
    assert tr._EXITED.match(events[("starti", "default")][3][1])
    assert [c for c, _ in events[("heapbins", "default")]] == ["", "run", "finish", "next", "continue"]
    syscalls = tr.split_stops(select(PROJECT.document("starti-syscalls")).variant_record.gdb.transcript)
    assert [s.silent for s in syscalls] == [False, True, False]
    assert [s.maps is not None for s in syscalls] == [True, True, False]


def test_map_changes_words():
    M = tr.Mapping
    before = (M(0x1000, 0x3000, 0, "r--p", "/a"), M(0x5000, 0x6000, 0, "rw-p", ""),
              M(0x8000, 0x9000, 0, "rw-p", ""), M(0x10000, 0x11000, 0, "rw-p", "[heap]"),
              M(0x20000, 0x21000, 0, "r--p", "/gone"))
    after = (M(0x1000, 0x2000, 0, "r--p", "/a"), M(0x2000, 0x3000, 0x1000, "rw-p", "/a"),
             M(0x4000, 0x6000, 0, "rw-p", ""), M(0x8000, 0x9000, 0, "rw-p", ""),
             M(0x12000, 0x13000, 0, "rw-p", "[heap]"), M(0x30000, 0x31000, 0, "rw-p", ""))
    got = [(c.word, c.name) for c in tr.map_changes(before, after)]
    assert got == [("split", "/a"), ("grown", ""), ("moved", "[heap]"), ("removed", "/gone"),
                   ("added", "")]
    assert tr.map_changes(after, after) == []


@pytest.mark.skipif(shutil.which("gdb") is None, reason="no gdb")
def test_mappings_parser_matches_proc_maps_of_a_live_process(tmp_path):
    """gdb's table, parsed, is /proc/PID/maps of the same stopped process, parsed."""
    script = tmp_path / "s.gdb"
    script.write_text("set pagination off\nset width 0\nset startup-with-shell off\n"
                      "set trace-commands on\nstarti\ninfo proc mappings\nset trace-commands off\n"
                      "python print('==MAPS=='); print(open('/proc/%d/maps' % "
                      "gdb.selected_inferior().pid).read(), end='')\nkill\n")
    out = subprocess.run(["gdb", "-nx", "-batch", "-x", str(script), "/bin/true"],
                         capture_output=True, text=True, timeout=60).stdout
    text, _, maps = out.partition("==MAPS==\n")
    (table,) = tr.parse_mappings(tr.transcript_lines(text))
    assert table == tr.parse_proc_maps(maps) and len(table) > 5
    (stop,) = tr.split_stops(text)
    assert stop.event.startswith("Program stopped. ") and stop.maps == table


def test_split_figure_is_byte_stable_and_the_transcript():
    chosen = select(PROJECT.document("starti"))
    block = tr.render_gdb_stops(chosen)
    again = tr.render_gdb_stops(select(Project(REPO, mode="frozen").document("starti")))
    assert block == again and block.endswith("</div>\n") and "\n" not in block.rstrip("\n")
    lines = re.findall(r'<span class="roads-gdb-line[^"]*">(.*?)</span>', block)
    shown = [f"(gdb) {line[1:]}" if line.startswith("+") else line
             for line in tr.transcript_lines(chosen.variant_record.gdb.transcript)]
    assert [html.unescape(line) for line in lines] == shown
    heads = [html.unescape(re.sub(r"<[^>]+>", "", h))
             for h in re.findall(r'<p class="roads-gdb-stop-head">(.*?)</p>', block)]
    assert heads[0].startswith("Stop 1 (gdb) starti: Program stopped. ") and heads[-1].startswith("End ")
    assert block.count('<table class="roads-gdb-mapchange">') == 2
    assert "from stop 1 to stop 2" in block and "from stop 2 to stop 3" in block
    # A file's whole path is on the page, its folder under its name (a tooltip once).
    changes = block[block.index('<table class="roads-gdb-mapchange">'):]
    assert "title=" not in changes
    assert '<code>starti</code><br><code class="roads-gdb-folder"><span>/build/</span></code>' in changes
    # A library's folder may break after a slash only.
    assert ('<code class="roads-gdb-folder"><span>/usr/</span><wbr><span>lib/</span><wbr>'
            '<span>x86_64-linux-gnu/</span></code>') in changes


@pytest.mark.browser
@pytest.mark.slow
def test_split_transcript_in_chromium(site, browser):
    """At phone and desktop widths (one page load each, both palettes): the stops are
    headed, nothing runs wider than the column, the map-change tables show their
    badges in colours other than the page's."""
    _, base = site
    for width in (PHONE, DESKTOP):
        context, page, errors = open_page(browser, base + "gdb-sessions/", viewport=width,
                                          scheme="default", idle=False)
        try:
            assert page.locator(".roads-gdb-stops").count() == 2
            heads = page.locator(".roads-gdb-stop-head").all_inner_texts()
            assert heads[0].startswith("Stop 1") and any(h.startswith("End") for h in heads)
            rows = page.locator("table.roads-gdb-mapchange tbody tr")
            assert rows.count() >= 3 and rows.first.locator(".roads-diff-badge").is_visible()
            for scheme in ("default", "slate"):
                page.evaluate(f"document.body.setAttribute('data-md-color-scheme', '{scheme}')")
                wide, colours = page.evaluate("""() => {
                    const wide = [...document.querySelectorAll(
                        '.roads-gdb-stops, .roads-gdb-stops pre, table.roads-gdb-mapchange')]
                        .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className);
                    const td = getComputedStyle(document.querySelector('table.roads-gdb-mapchange td'));
                    const badge = getComputedStyle(document.querySelector(
                        'table.roads-gdb-mapchange .roads-diff-badge'));
                    const bg = getComputedStyle(document.querySelector('.md-main')).backgroundColor;
                    return [wide, [td.color, badge.color, bg]]; }""")
                assert wide == [], (width, scheme, wide)
                td, badge, bg = colours
                assert td != bg and badge != bg, (width, scheme, colours)
            quiet(page)
            assert not errors, errors
        finally:
            context.close()
