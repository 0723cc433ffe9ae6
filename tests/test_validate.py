"""Parseable but wrong captures: the shape the figures read is checked when a capture is
read; an invalid one counts as missing (re-made in auto mode, an error naming it in
frozen mode), never as fresh (issue 9, item 8)."""

from __future__ import annotations

import hashlib
import json
import re
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roads.errors import CaptureError
from roads.capture.validate import problem
from tests.conftest import REPO

SOURCE = """\
#include <stdlib.h>
#include "roads.h"
int main(void) {
    char *p = malloc(32);
    ROADS_ADDRESS("block", p);
    ROADS_CHECKPOINT("here");
    return 0;
}
"""


def committed(name: str = "brk") -> dict:
    return json.loads((REPO / "snapshots" / f"{name}.json").read_text())


def first_checkpoint(doc: dict) -> dict:
    return doc["variants"]["default"]["runs"][0]["checkpoints"][0]


# Each hostile document: what is done to a good capture, and the key the error names.
BREAKAGES = {
    "address as text": (lambda d: first_checkpoint(d)["regions"][0].update(start="0x1000"),
                        "checkpoints[0].regions[0].start: expected an integer, found a string"),
    "list for a table": (lambda d: d.update(variants=[]),
                         "variants: expected a table, found a list"),
    "table for a list": (lambda d: d["variants"]["default"]["runs"][0].update(checkpoints={}),
                         "runs[0].checkpoints: expected a list, found a table"),
    "bool for an int": (lambda d: first_checkpoint(d).update(pid=True),
                        "checkpoints[0].pid: expected an integer, found true or false"),
    "null for a list": (lambda d: first_checkpoint(d).update(regions=None),
                        "checkpoints[0].regions: expected a list, found null"),
    "a key gone": (lambda d: first_checkpoint(d)["regions"][0].pop("perms"),
                   "regions[0].perms: missing"),
    "an unknown ELF field": (lambda d: d["variants"]["default"]["elf"]["symbols"][0].update(x=1),
                             "elf.symbols[0].x: unexpected key"),
    "a page's flag as text": (
        lambda d: first_checkpoint(d)["pagemap"][0]["pages"][0].update(present="yes"),
        "pagemap[0].pages[0].present: expected true or false"),
    "provenance as a list": (lambda d: d.update(provenance=[]),
                             "provenance: expected a table, found a list"),
    "a gdb transcript as a list": (
        lambda d: d["variants"]["default"]["gdb"].update(transcript=["x"]),
        "gdb.transcript: expected a string, found a list"),
    "manifest env as a table": (lambda d: d["inputs"]["manifest"].update(env={"A": "1"}),
                                "inputs.manifest.env: expected a list, found a table"),
    "counters as text": (lambda d: first_checkpoint(d)["regions"][0].update(kb={"Rss": "4"}),
                         "regions[0].kb.Rss: expected an integer, found a string"),
    # Values no kernel and no ELF file gives, which the figures drew as they came
    # (a map from '0x-555555554000', a region of 32.0 EiB, -5 KiB resident).
    "a negative address": (lambda d: first_checkpoint(d)["regions"][0].update(start=-4096),
                           "regions[0].start: expected an integer >= 0, found -"),
    "an address past 64 bits": (lambda d: first_checkpoint(d)["regions"][0].update(end=1 << 70),
                                "regions[0]: its end (0x400000000000000000) is past the last address a "
                                "pointer can hold"),
    "a region that ends before it starts": (
        lambda d: first_checkpoint(d)["regions"][0].update(end=0),
        "regions[0]: its end (0x0) is not above its start"),
    "a negative counter": (lambda d: first_checkpoint(d)["regions"][0]["kb"].update(Rss=-5),
                           "regions[0].kb.Rss: expected an integer >= 0, found -"),
    "permissions no kernel prints": (
        lambda d: first_checkpoint(d)["regions"][0].update(perms="<b>"),
        "regions[0].perms: expected a string matching regex '^[r-][w-][x-][ps]$', found '<b>'"),
    "a negative recorded address": (
        lambda d: first_checkpoint(d)["addresses"][0].update(value=-1),
        "addresses[0].value: expected an integer >= 0, found -"),
    "a negative segment address": (
        lambda d: d["variants"]["default"]["elf"]["segments"][0].update(p_vaddr=-1),
        "elf.segments[0].p_vaddr: expected an integer >= 0, found -"),
    "a negative page": (
        lambda d: first_checkpoint(d)["pagemap"][0]["pages"][0].update(vaddr=-4096),
        "pagemap[0].pages[0].vaddr: expected an integer >= 0, found -"),
}


def test_every_committed_capture_is_well_shaped():
    for path in sorted((REPO / "snapshots").glob("*.json")):
        assert problem(json.loads(path.read_text())) is None, path.name


@pytest.mark.parametrize("case", sorted(BREAKAGES))
def test_a_wrong_shape_is_named_by_its_key(case):
    # cow's first stop reads pagemap; starti has a gdb session
    doc = committed("cow" if "page" in case else "starti" if "gdb" in case else "brk")
    breakage, expected = BREAKAGES[case]
    breakage(doc)
    found = problem(doc)
    assert found is not None and expected in found, found


def test_other_keys_are_left_alone():
    doc = committed()
    doc["containment"] = {"anything": [1, "two"]}
    first_checkpoint(doc)["regions"][0]["future_field"] = {"x": None}
    assert problem(doc) is None


def test_the_document_itself_may_be_anything():
    assert problem([]) == "the document: expected a table, found a list []"
    assert problem("text").startswith("the document: expected a table")


def test_validation_is_not_imported_on_the_warm_path():
    """Reading a capture already found valid imports no checker (a new build process
    reads every capture: its import time counts)."""
    code = ("import sys; from roads.capture.project import Project; "
            f"p = Project({str(REPO)!r}, mode='frozen'); p.read('brk'); p.read('brk'); "
            "print('roads.capture.validate' in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True)
    assert done.stdout.strip() == "False"


def test_judging_every_capture_loads_no_runner(tmp_path):
    """A build judges its captures (a fresh clone's are all fresh) without the code that
    compiles and runs samples: its import is time before the first page. Judged only
    (``check``), nothing is made, so a stale capture is not rewritten in the checkout."""
    code = ("import sys; from roads.capture.project import Project; "
            f"p = Project({str(REPO)!r}, mode='auto', cache={str(tmp_path)!r}); "
            "assert len(p.check()) == len(p.names); "
            "print(sorted(m for m in ('roads.capture.runner', 'roads.capture.snapshot', "
            "'roads.capture.elf') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# -- through a project: auto re-makes, frozen names the file ---------------------------

def captured(scratch):
    scratch.add("demo", SOURCE, 'checkpoints = ["here"]')
    project = scratch.project()
    project.capture(["demo"])
    path = project.snapshot_path("demo")
    return path, json.loads(path.read_text())


def break_capture(path: Path, doc: dict, how: str) -> None:
    if how == "directory":
        path.unlink()
        path.mkdir()
        return
    doc = json.loads(json.dumps(doc))
    if how == "wrong inner type":
        first_checkpoint(doc)["regions"][0]["start"] = "0x1000"
    elif how == "list for table":
        doc["variants"] = [doc["variants"]["default"]]
    elif how == "document is a list":
        doc = [doc]
    path.write_text(json.dumps(doc))


HOW = ["wrong inner type", "list for table", "document is a list", "directory"]


@pytest.mark.gcc
@pytest.mark.parametrize("how", HOW)
def test_auto_mode_remakes_an_invalid_capture(scratch, how):
    path, good = captured(scratch)
    break_capture(path, good, how)
    project = scratch.project()  # a new build
    fresh = project.freshness("demo")
    assert fresh.state != "fresh" and "snapshots/demo.json" in fresh.reasons[0]
    doc = project.load("demo")
    assert problem(doc) is None and path.is_file()
    def spans(d):
        return [(r["start"], r["end"], r["perms"]) for r in first_checkpoint(d)["regions"]]

    assert spans(doc) == spans(good)


@pytest.mark.gcc
@pytest.mark.parametrize("how", HOW)
def test_frozen_mode_names_an_invalid_capture(scratch, how):
    path, good = captured(scratch)
    break_capture(path, good, how)
    with pytest.raises(CaptureError) as caught:
        scratch.project("frozen").load("demo")
    message = caught.value.located()
    assert "snapshots/demo.json" in message and "sample 'demo'" in message
    if how == "wrong inner type":
        assert "regions[0].start: expected an integer" in message


@pytest.mark.gcc
def test_a_capture_edited_in_place_is_checked_again(scratch):
    """The mark of a valid capture is its content's digest: an edit is seen, also by a
    long-running server that read the good version before."""
    path, good = captured(scratch)
    project = scratch.project("frozen")
    project.load("demo")
    break_capture(path, good, "wrong inner type")
    with pytest.raises(CaptureError, match="invalid capture"):
        project.load("demo")
    path.write_text(json.dumps(good))
    assert project.load("demo")["sample"] == "demo"


@pytest.mark.gcc
def test_a_folder_with_files_in_place_of_a_capture_is_an_error_not_a_loss(scratch):
    path, good = captured(scratch)
    path.unlink()
    path.mkdir()
    (path / "notes.txt").write_text("mine")
    with pytest.raises(CaptureError, match="is a folder, not a capture: remove it"):
        scratch.project().load("demo")
    assert (path / "notes.txt").read_text() == "mine"


@pytest.mark.gcc
def test_roads_check_and_capture_on_an_invalid_capture(scratch):
    """The command line agrees: check calls it out (exit 1), capture re-makes it."""
    path, good = captured(scratch)
    break_capture(path, good, "list for table")
    roads = [sys.executable, "-m", "roads.cli"]
    check = subprocess.run([*roads, "check"], cwd=scratch.root, capture_output=True, text=True)
    assert check.returncode == 1
    assert re.search(r"invalid capture: line \d+, variants: expected a table, found a list",
                     check.stdout + check.stderr), check.stdout + check.stderr
    made = subprocess.run([*roads, "capture"], cwd=scratch.root, capture_output=True, text=True)
    assert made.returncode == 0, made.stdout + made.stderr
    assert problem(json.loads(path.read_text())) is None


# -- the store: the typed document, decoded once per version, only when asked -----------

def frozen_copy(tmp_path: Path, name: str = "brk"):
    """A frozen Project over this checkout's samples, with a copy of one capture in a
    folder of its own (the test may rewrite it) and a cache of its own."""
    from roads.capture.project import Project

    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    copy = snapshots / f"{name}.json"
    copy.write_bytes((REPO / "snapshots" / f"{name}.json").read_bytes())
    # Saved a minute ago, as a later build finds it: a file just saved is judged again at
    # every look until its stats can vouch for it (``roads.cachedir.racy``).
    then = time.time_ns() - 60 * 10**9
    os.utime(copy, ns=(then, then))
    return Project(REPO, snapshots=str(snapshots), cache=tmp_path / "cache", mode="frozen")


def test_the_typed_document_is_decoded_once_per_version_and_only_when_asked(tmp_path,
                                                                           monkeypatch):
    from roads import document

    decodes = []
    real = document.decode
    frozen_copy(tmp_path).load("brk")  # an earlier build: checked, and marked valid
    monkeypatch.setattr(document, "decode", lambda data: decodes.append(1) or real(data))
    from roads.capture.project import Project

    project = Project(REPO, snapshots=str(tmp_path / "snapshots"), cache=tmp_path / "cache",
                      mode="frozen")
    project.content_digest("brk")  # what a figure found in its cache asks
    project.load("brk")
    assert decodes == []
    typed = project.document("brk")
    assert project.document("brk") is typed and len(decodes) == 1
    assert typed == document.from_builtins(project.read("brk"))
    # A new version of the file is read anew: with no mark for its bytes, it is checked
    # by decoding it, and the check's typed document serves (``test_capture_memo``).
    path = project.snapshot_path("brk")
    doc = json.loads(path.read_text())
    doc["title"] = "Another title"
    path.write_text(json.dumps(doc))
    assert project.document("brk").title == "Another title" and len(decodes) == 2


def test_a_frozen_build_hashes_a_captures_inputs_once_while_its_files_stay(tmp_path,
                                                                         monkeypatch):
    from roads.capture import freshness

    hashed = []
    real = freshness.file_digest
    monkeypatch.setattr(freshness, "file_digest", lambda path: hashed.append(path) or real(path))
    project = frozen_copy(tmp_path)
    project.load("brk")
    once = len(hashed)
    assert once > 0
    for _ in range(3):
        project.load("brk")
        project.document("brk")
    assert len(hashed) == once
    # An edited capture is judged again.
    path = project.snapshot_path("brk")
    path.write_text(path.read_text() + "\n")
    project.load("brk")
    assert len(hashed) == 2 * once


def test_a_capture_msgspec_cannot_read_is_invalid_whoever_reads_it_first(tmp_path):
    """JSON that Python's reader takes and the figures' decoder does not (an escaped
    lone surrogate) is an invalid capture, named with its file, in the first process
    that reads it as in any later one; a mark left by a checker that took it does not
    let the figures fail without the file's name."""
    from roads.capture.marks import ValidMarks
    from roads.capture.store import Store
    from roads.errors import CaptureError

    doc = json.loads((REPO / "snapshots" / "brk.json").read_text())
    doc["title"] = "bad \ud800 title"
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    path = snapshots / "brk.json"
    path.write_text(json.dumps(doc))  # ASCII: the surrogate as an escape
    for _ in range(2):
        with pytest.raises(CaptureError, match=r"brk\.json: invalid capture: the document: "):
            Store(snapshots, ValidMarks(tmp_path / "cache")).read("brk")
    marks = ValidMarks(tmp_path / "cache")
    marks.folder.mkdir(parents=True, exist_ok=True)
    (marks.folder / hashlib.sha256(path.read_bytes()).hexdigest()).touch()
    store = Store(snapshots, marks)
    assert store.read("brk")["title"] == "bad \ud800 title"
    with pytest.raises(CaptureError, match=r"brk\.json: invalid capture: "):
        store.document("brk")


def test_a_wrong_shape_is_named_by_its_line_too():
    """A capture is written a record to a line, but a wrong value was named by its path
    alone (variants.default.runs[0].checkpoints[0].regions[4].perms): the message gives
    the line of the file that holds it, or, for a key that is missing, of the end of the
    table that lacks it."""
    from roads.capture.freeze import dumps
    from roads.capture.validate import checked, line_of

    path = REPO / "snapshots" / "brk.json"
    doc = json.loads(path.read_text())
    region = doc["variants"]["default"]["runs"][0]["checkpoints"][0]["regions"][4]
    region["perms"] = 5
    text = dumps(doc)
    wanted = next(n for n, line in enumerate(text.splitlines(), 1) if '"perms": 5' in line)
    _, found = checked(text.encode(), lambda: json.loads(text))
    assert found.startswith(f"line {wanted}, variants.default.runs[0].checkpoints[0]"
                            ".regions[4].perms: expected a string"), found
    del region["perms"]
    text = dumps(doc)
    _, found = checked(text.encode(), lambda: json.loads(text))
    line = int(found.split(",")[0].removeprefix("line "))
    assert found.endswith("regions[4].perms: missing") and '"pathname"' in text.splitlines()[line - 1]
    assert line_of(b"[1, 2", "[5]") is None  # no such JSON: no line
