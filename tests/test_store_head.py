"""A capture read for a build is judged by what it recorded of its inputs, decoded
without the rest (``Store.recorded``): the whole document is parsed as loaded JSON only
when the capture half asks for it (``Store.read``), and a capture that is not well
formed is still named in the words of ``freeze.parse``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from roads.capture import freeze
from roads.capture.marks import ValidMarks
from roads.capture.store import Recorded, Store
from roads.errors import CaptureError
from tests.test_validate import REPO, frozen_copy


def _store(tmp_path: Path, text: str) -> Store:
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    (snapshots / "brk.json").write_text(text, encoding="utf-8")
    return Store(snapshots, ValidMarks(tmp_path / "cache"))


def _committed() -> dict:
    return json.loads((REPO / "snapshots" / "brk.json").read_text(encoding="utf-8"))


def _never_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    def parse(text: str, path: Path) -> dict:
        raise AssertionError(f"{path} parsed as loaded JSON")

    monkeypatch.setattr(freeze, "parse", parse)


def test_what_a_capture_recorded_is_what_its_json_says(tmp_path):
    doc = _committed()
    store = _store(tmp_path, (REPO / "snapshots" / "brk.json").read_text(encoding="utf-8"))
    assert store.recorded("brk") == Recorded.of(doc)
    assert store.read("brk") == doc  # parsed when asked, from the same bytes


def test_a_build_brings_captures_up_to_date_without_parsing_them(tmp_path, monkeypatch):
    """The figures ask for the typed document and the capture's digest (frozen mode:
    judged fresh or stale by its recorded inputs); neither parses it as loaded JSON."""
    project = frozen_copy(tmp_path)
    _never_parsed(monkeypatch)
    project.begin_build()
    assert project.freshness("brk").state == "fresh"
    assert project.document("brk").sample == "brk"
    assert len(project.content_digest("brk")) == 64


@pytest.mark.parametrize(("change", "words"), [
    (lambda doc: doc.update(schema=freeze.SCHEMA + 1), "capture schema"),
    (lambda doc: doc.pop("variants"), "corrupt capture: no 'variants'"),
    (lambda doc: doc.pop("inputs"), "corrupt capture: no 'inputs'"),
], ids=["schema", "no variants", "no inputs"])
def test_a_capture_not_well_formed_is_named_as_before(tmp_path, change, words):
    doc = _committed()
    change(doc)
    store = _store(tmp_path, json.dumps(doc))
    with pytest.raises(CaptureError, match=words):
        store.recorded("brk")


def test_json_the_head_cannot_decode_is_read_whole_and_then_checked(tmp_path):
    """NaN (Python's reader takes it, msgspec's does not) somewhere the head skips: the
    capture is parsed whole, and the marks' check names it invalid, as before."""
    doc = _committed()
    doc["title"] = math.nan
    store = _store(tmp_path, json.dumps(doc))
    with pytest.raises(CaptureError, match=r"brk\.json: invalid capture: the document: "):
        store.recorded("brk")
    broken = tmp_path / "broken"
    broken.mkdir()
    text = json.dumps(_committed())
    (broken / "brk.json").write_text(text[:len(text) // 2], encoding="utf-8")
    with pytest.raises(CaptureError, match=r"brk\.json:1: corrupt capture: "):
        Store(broken, ValidMarks(tmp_path / "cache")).recorded("brk")
