"""What roads explain lost, found by a learner's tour: the stops read before one that
cannot be read (too many regions, a program made not dumpable), a system call's failure
at a syscall stop, and a program's stop of itself (SIGSTOP)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_explain import explain, root  # noqa: F401 - root is a fixture
from tests.test_explain_minors import gcc  # noqa: F401 - gcc is a fixture

pytestmark = pytest.mark.gcc

# More regions than a stop is read with (MAX_REGIONS): every other page of one mapping
# made writable, each page a region of its own.
MANY = r"""
#include <sys/mman.h>
void here(void) {}
int main(void) {
    enum { PAGES = 2400 };
    char *p = mmap(0, 4096L * PAGES, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < PAGES; i += 2)
        mprotect(p + 4096L * i, 4096, PROT_READ | PROT_WRITE);
    here();
    return 0;
}
"""

UNDUMPABLE = r"""
#include <sys/prctl.h>
void here(void) {}
int main(void) {
    prctl(PR_SET_DUMPABLE, 0);
    here();
    return 0;
}
"""


def _saved(path: Path) -> dict:
    return json.loads(path.read_text())


def _stops(saved: dict) -> list[str]:
    return [c["name"] for c in saved["capture"]["variants"]["default"]["runs"][0]["checkpoints"]]


def test_a_stop_with_too_many_regions_keeps_the_stops_before_it(root, gcc, tmp_path, capsys,
                                                                 monkeypatch, no_leftovers):
    """A stop where the program maps more regions than a stop is read with was an error
    that threw away the stop read before it, and no page was written: now the page shows
    main, says which stops could not be read and why, and the status is 3 (the page lacks
    stops asked for), as for a run that ends before its last stop."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "many.c").write_text(MANY)
    assert explain(root, "--no-sandbox", "--at", "main", "--at", "here", "--at", "exit",
                   "--out", "p.html", "--save", "p.json", "--", "./many.c") == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "the stop here (pid" in err and "could not be read" in err
    assert "memory regions mapped here, more than the 1024" in err and "Stop earlier" in err
    saved = _saved(tmp_path / "p.json")
    assert _stops(saved) == ["main"]
    assert [u["label"] for u in saved["unread"]] == ["here", "exit"]
    assert saved["missing"] == [] and saved["complete"]
    page = (tmp_path / "p.html").read_text()
    assert "<dt>Not read</dt><dd>here (pid" in page and "Stop earlier" in page


def test_a_program_made_not_dumpable_keeps_the_stops_before(root, gcc, tmp_path, capsys,
                                                            monkeypatch, no_leftovers):
    """In the sandbox (no CAP_SYS_PTRACE), a program that calls prctl(PR_SET_DUMPABLE, 0)
    keeps its memory from the tracer: the stop after it cannot be read, and ptrace refuses
    the breakpoints too (EIO), so the run ends there. The stop before is kept and drawn;
    the page and the messages say which stop was not read, why, and how the run ended."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "undumpable.c").write_text(UNDUMPABLE)
    assert explain(root, "--at", "main", "--at", "here", "--at", "exit", "--out", "p.html",
                   "--save", "p.json", "--", "./undumpable.c") == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Input/output error" not in err
    assert "the stop here (pid" in err and "made itself not dumpable (prctl PR_SET_DUMPABLE 0)" in err
    assert "before reaching exit: the page shows the stops it reached" in err
    saved = _saved(tmp_path / "p.json")
    assert _stops(saved) == ["main"]
    assert [u["label"] for u in saved["unread"]] == ["here"]
    assert saved["missing"] == ["exit"]
    assert "not dumpable" in saved["ending"] and "CAP_SYS_PTRACE" in saved["ending"]
    page = (tmp_path / "p.html").read_text()
    assert "<dt>Not read</dt><dd>here (pid" in page and "<dt>Not reached</dt><dd>exit" in page
