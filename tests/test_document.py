"""The typed capture document (roads.document): its published schema, and every committed
capture read through it (issue 10, section 3)."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import msgspec
import pytest

from roads import document, freeze
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
    assert "VmRSS" not in document.marks(document.Status)
    assert document.marks(document.Page)["pfn"] == (document.FRAME,)
    assert document.marks(document.Process) == {"pid": (document.PID,), "ppid": (document.PID,)}
    inputs = {k for k, kinds in document.marks(document.Capture).items() if document.INPUT in kinds}
    assert inputs == {"digest", "inputs", "provenance"}


def test_provenance_accepts_keys_a_newer_engine_adds():
    doc = json.loads((REPO / "snapshots" / "brk.json").read_text())
    doc["provenance"]["packages"] = {"gcc-12": "12.2.0-14"}
    assert document.from_builtins(doc).provenance.kernel == doc["provenance"]["kernel"]
