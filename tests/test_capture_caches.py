"""The capture engine's caches follow what they are made from (issue 14: a refresh of
every capture spends little of its own time), and the time each capture spends waiting
for programs is recorded with it.

Real files only: a copy of an installed program for the ELF records, a committed
capture for the comparison text, this process's own smaps for the counter rows.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import struct
from pathlib import Path

import pytest

from roads import document
from roads.capture import freeze
from roads.capture.elf import read_elf
from roads.capture.proc import parse_smaps
from roads.capture.snapshot import ELF_CODE, elf_record
from tests.conftest import REPO

ROADS = REPO / "roads"


def _program(tmp_path: Path) -> Path:
    """A copy of a small x86-64 ELF program of this machine."""
    for candidate in ("/usr/bin/true", "/bin/true", "/usr/bin/env"):
        if Path(candidate).exists():
            copied = tmp_path / "program"
            shutil.copyfile(candidate, copied)
            return copied
    pytest.skip("no small installed program to read")


def test_elf_records_are_kept_by_the_files_bytes(tmp_path: Path) -> None:
    binary = _program(tmp_path)
    cache = tmp_path / "cache"
    first = elf_record(binary, cache)
    assert first == document.to_builtins(read_elf(binary))
    assert len(list((cache / "elf").iterdir())) == 1
    assert elf_record(binary, cache) == first  # from the kept record

    # The same file changed (its entry point): a record of its own, read afresh.
    data = bytearray(binary.read_bytes())
    (entry,) = struct.unpack_from("<Q", data, 24)
    struct.pack_into("<Q", data, 24, entry + 16)
    binary.write_bytes(bytes(data))
    changed = elf_record(binary, cache)
    assert changed == document.to_builtins(read_elf(binary))
    assert changed["header"]["e_entry"] == entry + 16 != first["header"]["e_entry"]
    assert len(list((cache / "elf").iterdir())) == 2

    # A kept record that does not decode (a crash while writing it) is made again.
    for kept in (cache / "elf").iterdir():
        kept.write_bytes(b"{")
    assert elf_record(binary, cache) == changed


def test_stable_text_is_kept_by_the_files_bytes(tmp_path: Path) -> None:
    data = (REPO / "snapshots" / "brk.json").read_bytes()
    doc = json.loads(data)
    untouched = copy.deepcopy(doc)
    cache = tmp_path / "cache"
    sha = hashlib.sha256(data).hexdigest()
    text = freeze.stable_kept(doc, sha, cache)
    assert text == freeze.stable(doc)
    assert doc == untouched  # stable builds anew: the document is not changed
    kept = list((cache / "stable").rglob("*.txt"))
    assert len(kept) == 1 and kept[0].read_text(encoding="utf-8") == text
    assert freeze.stable_kept(doc, sha, cache) == text

    # Another document (a region's permissions changed): another digest, another text.
    other = copy.deepcopy(doc)
    region = other["variants"]["default"]["runs"][0]["checkpoints"][0]["regions"][0]
    region["perms"] = "---p" if region["perms"] != "---p" else "r--p"
    other_sha = hashlib.sha256(freeze.dumps(other).encode()).hexdigest()
    assert freeze.stable_kept(other, other_sha, cache) == freeze.stable(other) != text

    # A kept text emptied by a crash is made again.
    kept[0].write_text("")
    assert freeze.stable_kept(doc, sha, cache) == text


def test_a_written_capture_keeps_the_text_its_file_gives(tmp_path: Path) -> None:
    """What ``write_if_changed`` keeps for the file it writes is what the file, read
    back, makes: the next refresh compares against the right text."""
    old = json.loads((REPO / "snapshots" / "brk.json").read_text(encoding="utf-8"))
    path = tmp_path / "brk.json"
    path.write_text(freeze.dumps(old), encoding="utf-8")
    new = copy.deepcopy(old)
    checkpoint = new["variants"]["default"]["runs"][0]["checkpoints"][0]
    checkpoint["regions"][0]["kb"]["Rss"] = checkpoint["regions"][0]["kb"].get("Rss", 0) + 4
    cache = tmp_path / "cache"
    assert freeze.write_if_changed(path, new, old, freeze.stable(old), cache)
    data = path.read_bytes()
    read_back = json.loads(data)
    kept = freeze.stable_kept(read_back, hashlib.sha256(data).hexdigest(), cache)
    assert kept == freeze.stable(read_back) == freeze.stable(new)
    # Unchanged next time: nothing written.
    assert not freeze.write_if_changed(path, copy.deepcopy(new), read_back, kept, cache)


def test_smaps_rows_parse_the_same_when_seen_again() -> None:
    text = Path("/proc/self/smaps").read_text()
    first = parse_smaps(text)
    assert parse_smaps(text) == first
    # The same rows with one counter changed: the new value, not a remembered one.
    lines = text.split("\n")
    row = next(i for i, line in enumerate(lines) if line.startswith("Rss:"))
    value = int(lines[row].split()[1])
    lines[row] = lines[row].replace(f" {value} kB", f" {value + 4} kB")
    changed = parse_smaps("\n".join(lines))
    assert changed[0].kb["Rss"] == first[0].kb["Rss"] + 4
    assert changed[1:] == first[1:]


def test_the_caches_name_files_that_exist() -> None:
    for name in (*ELF_CODE, *freeze.STABLE_CODE):
        assert (ROADS / name).is_file(), name


@pytest.mark.gcc
def test_a_capture_records_where_its_time_went(scratch) -> None:
    scratch.add("timed", """\
        #include "roads.h"
        int main(void) { ROADS_CHECKPOINT("here"); return 0; }
        """, 'checkpoints = ["here"]')
    outcome = scratch.project().capture_one("timed")
    assert outcome.error is None
    timing = outcome.timing
    assert timing["gcc"] > 0 and timing["run"] > 0
    assert "gdb" not in timing
    assert timing["gcc"] + timing["run"] < outcome.seconds
