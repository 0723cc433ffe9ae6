"""The typed capture document (roads.document): its published schema, and every committed
capture read through it (issue 10, section 3)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import typing

import jsonschema
import msgspec
import pytest

from roads import document

from roads.capture import freeze
from tests.conftest import REPO

SCHEMA_FILE = REPO / "schema" / "capture.schema.json"
SNAPSHOTS = sorted((REPO / "snapshots").glob("*.json"))


def test_the_published_schema_is_what_the_code_exports():
    """schema/capture.schema.json cannot drift from roads/document.py; to refresh it:
    python -m roads.document --schema > schema/capture.schema.json"""
    assert SCHEMA_FILE.read_text(encoding="utf-8") == document.schema_text()


def test_the_schema_command_prints_it():
    done = subprocess.run([sys.executable, "-m", "roads.document", "--schema"], cwd=REPO,
                          check=True, capture_output=True, text=True)
    assert done.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


def test_the_published_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text()))


@pytest.mark.parametrize("path", SNAPSHOTS, ids=lambda p: p.stem)
def test_every_snapshot_decodes_and_validates(path):
    text = path.read_text(encoding="utf-8")
    capture = document.decode(text)
    assert capture.sample == path.stem
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(json.loads(text))]
    assert not errors, errors[:5]


@pytest.mark.parametrize("path", SNAPSHOTS, ids=lambda p: p.stem)
def test_a_round_trip_through_the_typed_document_changes_no_byte(path):
    """Decoded and written again by freeze's writer, a committed capture is the same
    file: the typed document holds every key a capture has."""
    text = path.read_text(encoding="utf-8")
    assert freeze.dumps(document.to_builtins(document.decode(text))) == text


def test_the_schema_rejects_what_the_decoder_rejects():
    doc = json.loads((REPO / "snapshots" / "brk.json").read_text())
    doc["variants"]["default"]["runs"][0]["checkpoints"][0]["regions"][0]["start"] = "0x1000"
    with pytest.raises(msgspec.ValidationError, match=r"\$\.variants\[\.\.\.\]\.runs\[0\]"):
        document.from_builtins(doc)
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    assert not validator.is_valid(doc)


def test_volatility_is_marked_on_the_field():
    """The exit words of a run and the status lines of a process share a key name and
    nothing else: only the process's pid lines are left out of a comparison."""
    assert "status" not in document.marks(document.Run)
    assert document.marks(document.Checkpoint)["status"] == (document.ASLR,)
    assert document.marks(document.Status)["Pid"] == (document.IGNORED,)
    assert "RssAnon" not in document.marks(document.Status)
    assert document.marks(document.Status)["VmRSS"] == (document.PAGE_CACHE,)
    assert document.marks(document.Page)["pfn"] == (document.FRAME,)
    assert document.marks(document.Process) == {"pid": (document.PID,), "ppid": (document.PID,)}
    inputs = {k for k, kinds in document.marks(document.Capture).items() if document.INPUT in kinds}
    assert inputs == {"digest", "inputs", "provenance"}


def test_provenance_accepts_keys_a_newer_engine_adds():
    doc = json.loads((REPO / "snapshots" / "brk.json").read_text())
    doc["provenance"]["packages"] = {"gcc-12": "12.2.0-14"}
    assert document.from_builtins(doc).provenance.kernel == doc["provenance"]["kernel"]


# -- freeze compares by field, as the marks say -------------------------------------

def _doc(name: str) -> dict:
    return json.loads((REPO / "snapshots" / f"{name}.json").read_text())


def _same(a: dict, b: dict) -> bool:
    return freeze.stable(a) == freeze.stable(b)


def _checkpoint(doc: dict, variant: str = "default") -> dict:
    return doc["variants"][variant]["runs"][0]["checkpoints"][0]


def test_what_no_run_holds_still_is_not_compared():
    doc, again = _doc("cow"), _doc("cow")
    shift = 1000
    for run in again["variants"]["default"]["runs"]:
        run["pid"] += shift
        for process in run["processes"]:
            process["pid"] += shift
            process["ppid"] += shift if process["ppid"] else 0
        for point in run["checkpoints"]:
            point["pid"] += shift
            point["ppid"] += shift
            point["status"]["Pid"] += shift
            point["status"]["VmHWM"] += 4
            point["regions"][0]["kb"]["Pss"] += 4
            point["addresses"].reverse()
            for pages in point["pagemap"]:
                for page in pages["pages"]:
                    if page["pfn"] is not None:
                        page["pfn"] += 7
    assert _same(doc, again)


def test_what_a_run_must_repeat_is_compared():
    for change in (
        lambda d: _checkpoint(d)["regions"][0].update(end=_checkpoint(d)["regions"][0]["end"] + 4096),
        lambda d: _checkpoint(d)["status"].update(RssAnon=_checkpoint(d)["status"]["RssAnon"] + 4),
        lambda d: _checkpoint(d)["regions"][0]["kb"].update(Rss=1),
        lambda d: d["variants"]["default"]["runs"][0].update(status="killed by SIGKILL"),
        lambda d: d["variants"]["default"]["runs"][0].update(stdout="other"),
        lambda d: d["provenance"].update(kernel="another"),
    ):
        doc, changed = _doc("brk"), _doc("brk")
        change(changed)
        assert not _same(doc, changed)


def test_what_the_page_cache_holds_of_a_library_is_not_compared():
    """A fault maps the neighbours the page cache holds of a file, in the folios it holds,
    as other processes' reads left them: libc's Rss moved between two machines of the
    same kind, same kernel and same libc (660 against 596 KiB of its code), and every
    capture was written again for it. A library's Rss and the process's counts of file
    pages are not compared; the Rss of the sample's own file and its anonymous memory
    are (a region of its own grown a page is a change)."""
    def library(point: dict) -> dict:
        return next(r for r in point["regions"] if r["pathname"].endswith("/libc.so.6")
                    and "x" in r["perms"])

    doc, again = _doc("brk"), _doc("brk")
    for run in again["variants"]["default"]["runs"]:
        for point in run["checkpoints"]:
            library(point)["kb"]["Rss"] -= 64
            point["status"]["RssFile"] -= 64
            point["status"]["VmRSS"] -= 64
    assert _same(doc, again)
    for change in (
        lambda d: _checkpoint(d)["regions"][0]["kb"].update(Rss=_checkpoint(d)["regions"][0]["kb"]["Rss"] + 4),
        lambda d: library(_checkpoint(d))["kb"].update(Anonymous=4),
        lambda d: library(_checkpoint(d)).update(end=library(_checkpoint(d))["end"] + 4096),
    ):
        changed = _doc("brk")
        assert _checkpoint(changed)["regions"][0]["pathname"] == "/build/brk"
        change(changed)
        assert not _same(doc, changed)


def test_a_run_with_aslr_is_compared_by_its_shape_and_its_exit():
    doc, again = _doc("aslr"), _doc("aslr")
    variant = next(iter(again["variants"]))
    run = again["variants"][variant]["runs"][0]
    assert run["aslr_requested"]
    for region in run["checkpoints"][0]["regions"]:
        region["start"] += 1 << 20
        region["end"] += 1 << 20
        region["kb"]["Rss"] += 4
    run["checkpoints"][0]["status"]["VmRSS"] += 4
    assert _same(doc, again)
    # the run's exit words are not /proc/PID/status: ASLR does not excuse them
    run["status"] = "killed by SIGSEGV"
    assert not _same(doc, again)


def test_pids_in_a_gdb_transcript_are_masked():
    doc, again = _doc("starti"), _doc("starti")
    gdb = again["variants"]["default"]["gdb"]
    assert "process " in gdb["transcript"]
    gdb["transcript"] = re.sub(r"process \d+", "process 99999", gdb["transcript"])
    assert _same(doc, again)
    gdb["transcript"] += "x"
    assert not _same(doc, again)


def test_the_inode_of_a_maps_line_in_a_gdb_transcript_is_masked():
    # lazybind's script prints the /proc/PID/maps line of a GOT slot: the binary is
    # built anew by each refresh, so its inode (and the device) are not compared.
    doc, again = _doc("lazybind"), _doc("lazybind")
    gdb = next(v["gdb"] for v in again["variants"].values() if v.get("gdb"))
    line = re.compile(r"^(\s*[0-9a-f]+-[0-9a-f]+ \S{4} [0-9a-f]+ )(\S+ +\d+)", re.MULTILINE)
    assert line.search(gdb["transcript"])
    gdb["transcript"] = line.sub(r"\g<1>08:02 424242", gdb["transcript"])
    assert _same(doc, again)
    # the permissions of that line are compared
    gdb["transcript"] = re.sub(r"^(\s*[0-9a-f]+-[0-9a-f]+ )rw-p", r"\1r--p", gdb["transcript"],
                               count=1, flags=re.MULTILINE)
    assert not _same(doc, again)


def _written_pages(doc: dict, variant: str) -> list[dict]:
    """The pages of ``variant``'s run that have a frame, at its last checkpoint."""
    point = doc["variants"][variant]["runs"][0]["checkpoints"][-1]
    return [p for pm in point["pagemap"] for p in pm["pages"] if p["pfn"] is not None]


def test_frames_are_compared_within_a_run_not_across_runs():
    # demand's two variants run one after the other: whether the second run is handed
    # a frame the first one freed depends on the CPU's free lists, not on the program.
    doc, again = _doc("demand"), _doc("demand")
    first, second = sorted(again["variants"])
    mine = _written_pages(again, second)[-1]["pfn"]
    # A frame of the first run that the second run does not hold (the second run may be
    # handed some of the first's freed frames, and two pages of one run on one frame
    # would be another observation), or, if it holds them all, a frame no run holds.
    held = {p["pfn"] for point in again["variants"][second]["runs"][0]["checkpoints"]
            for pm in point["pagemap"] for p in pm["pages"]}
    theirs = next((p["pfn"] for p in reversed(_written_pages(again, first))
                   if p["pfn"] not in held), max(q for q in held if q is not None) + 1)
    for point in again["variants"][second]["runs"][0]["checkpoints"]:
        for page in (p for pm in point["pagemap"] for p in pm["pages"]):
            if page["pfn"] == mine:  # the same frame, all through the run
                page["pfn"] = theirs
    assert _same(doc, again)
    # within one run, two pages on one frame is another observation
    doc, again = _doc("demand"), _doc("demand")
    pages = _written_pages(again, first)
    distinct = [p for p in pages if p["pfn"] != pages[-1]["pfn"]]
    distinct[-1]["pfn"] = pages[-1]["pfn"]
    assert not _same(doc, again)


def test_the_schema_version_is_declared_once():
    hints = document.field_types(document.Capture)
    assert typing.get_args(hints["schema"]) == (document.SCHEMA,) == (freeze.SCHEMA,)
