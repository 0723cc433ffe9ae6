"""The committed captures: fresh for the committed samples, and readable as documents."""

from __future__ import annotations

import json

import pytest

from roads.capture import freeze
from roads.capture.project import Project
from tests.conftest import REPO


def test_every_sample_has_a_fresh_capture():
    project = Project(REPO, mode="frozen")
    stale = [f for f in project.check() if f.state not in ("fresh", "toolchain")]
    assert not stale, "\n".join(f"{f.sample}: {f.state}: {'; '.join(f.reasons)}" for f in stale)


def test_no_capture_without_a_sample():
    names = set(Project(REPO).samples)
    files = {p.stem for p in (REPO / "snapshots").glob("*.json")}
    assert files == names


@pytest.mark.parametrize("path", sorted((REPO / "snapshots").glob("*.json")), ids=lambda p: p.stem)
def test_capture_is_in_canonical_form(path):
    text = path.read_text()
    doc = freeze.load(path)
    assert freeze.dumps(doc) == text, "written by hand or by another engine: run roads capture"
    assert "/work/" not in text and "/home/" not in text, "a checkout path leaked into it"
    assert json.loads(text)["sample"] == path.stem
