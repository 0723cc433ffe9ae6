"""roads explain as a learner tries it: where the page goes (a device, a link), a stop at
the program's entry point, a process read with --pid (its command line as it is, a
kernel thread), output cut short, and a script named as the program."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from tests.test_explain import explain, root  # noqa: F401 - root is a fixture
from tests.explain_support import build

HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'


def _checkpoints(saved: Path) -> list[dict]:
    return json.loads(saved.read_text())["capture"]["variants"]["default"]["runs"][0][
        "checkpoints"]


@pytest.mark.gcc
@pytest.mark.parametrize("flags", [(), ("-static",)])
def test_a_stop_at_the_entry_point_is_reached(root, gcc, tmp_path, monkeypatch, no_leftovers,
                                              flags):
    """--at _start stops at the program's first instruction (e_entry, no bias: -no-pie
    or -static). The function stops were set at the entry point itself, after it was
    reached: _start was said never to be reached ('exited with status 0 before
    reaching _start')."""
    program = build(tmp_path, "hello", HELLO, "-no-pie", *flags)
    entry = struct.unpack_from("<Q", program.read_bytes(), 24)[0]  # e_entry
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--no-sandbox", "--at", "_start", "--at", "main", "--out", "p.html",
                   "--save", "p.json", "--", "./hello") == 0
    stops = _checkpoints(tmp_path / "p.json")
    assert [c["name"] for c in stops] == ["_start", "main"]
    assert {a["name"]: a["value"] for a in stops[0]["addresses"]}["pc"] == entry
