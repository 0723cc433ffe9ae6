"""roads explain: whether a stopped process's addresses were chosen at random is told
as the kernel decided it, at the process's execve (PF_RANDOMIZE in the flags of
/proc/PID/stat), not from the personality read at the stop. A program may clear
ADDR_NO_RANDOMIZE after its execve, which changes no address of the image it runs;
or clear it and run execve again, which lays the new image out at random by the
program's own doing, not by roads failing to turn ASLR off."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import pytest

from roads.constants import ADDR_NO_RANDOMIZE
from roads.explain import ptrace as pt
from roads.figures.provenance import BACK_ON
from tests.explain_support import build, page_facts, page_text, saved_session
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.dot]

CLEARS = r"""
#include <stdio.h>
#include <sys/personality.h>
void here(void) { puts("here"); }
int main(void) {
    personality(0);  /* ADDR_NO_RANDOMIZE gone, after the execve that laid this out */
    here();
    return 0;
}
"""

# A child that clears the flag and runs the program again; its parent keeps it.
RUNS_AGAIN = r"""
#include <sys/personality.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int persona = personality(0xffffffff);
    if (argc > 1)
        return 0;
    pid_t child = fork();
    if (child == 0) {
        personality(persona & ~ADDR_NO_RANDOMIZE);
        execl("/proc/self/exe", argv[0], "again", (char *)0);
        return 127;
    }
    waitpid(child, 0, 0);
    return 0;
}
"""


def _checkpoints(saved: Path) -> list[dict]:
    return saved_session(saved)["capture"]["variants"]["default"]["runs"][0]["checkpoints"]


def test_a_flag_cleared_after_execve_leaves_the_layout_unrandomised(root, tmp_path):
    """The page said "ASLR on: addresses change from run to run" and each caption "NOT
    turned off as asked", although the process ran as laid out with ASLR off."""
    program = build(tmp_path, "clears", CLEARS)
    assert explain(root, "--at", "here", "--out", str(tmp_path / "p.html"),
                   "--save", str(tmp_path / "p.json"), str(program)) == 0
    page = (tmp_path / "p.html").read_text()
    assert page_facts(page)["ASLR"] == (
        "off: laid out under personality ADDR_NO_RANDOMIZE, as on the site; the program "
        "cleared it later, which changes no address until it runs execve again")
    text = page_text(page)
    assert "NOT turned off" not in text and "ASLR on" not in text
    assert "ASLR off (laid out under personality ADDR_NO_RANDOMIZE, which the program " \
           "cleared later; verified)" in text
    (stop,) = _checkpoints(tmp_path / "p.json")
    assert not stop["personality"] & ADDR_NO_RANDOMIZE and stop["randomized"] is False
    run = saved_session(tmp_path / "p.json")["capture"]["variants"]["default"]["runs"][0]
    assert run["aslr_disabled"] is True


def test_a_program_that_turns_aslr_back_on_is_said_to_have(root, tmp_path):
    """Each stop is told by its own execve: the parent's as roads started it, the
    child's, which cleared the flag and ran the program again, at random; the header
    says which stop is which, and no caption blames roads."""
    program = build(tmp_path, "again", RUNS_AGAIN)
    assert explain(root, "--follow-fork", "--at", "exit", "--out", str(tmp_path / "p.html"),
                   "--save", str(tmp_path / "p.json"), str(program)) == 0
    page = (tmp_path / "p.html").read_text()
    fact = page_facts(page)["ASLR"]
    child = re.search(r"at exit \(the child, pid \d+\), on, turned back on at an execve \("
                      + re.escape(BACK_ON) + r"\), so addresses change from run to run", fact)
    parent = re.search(r"at exit \(the parent, pid \d+\), off \(personality "
                       r"ADDR_NO_RANDOMIZE\), as on the site", fact)
    assert child and parent, fact
    text = page_text(page)
    assert "NOT turned off" not in text
    assert f"ASLR on (full), turned back on at an execve: {BACK_ON}" in text
    assert sorted(c["randomized"] for c in _checkpoints(tmp_path / "p.json")) == [False, True]


def test_a_set_user_id_program_is_not_said_to_have_cleared_the_flag(root, tmp_path):
    """execve drops ADDR_NO_RANDOMIZE itself for a set-user-ID file (PER_CLEAR_ON_SETID,
    traced or not): the program below never calls personality(2), and the page said
    "the program cleared ADDR_NO_RANDOMIZE and ran execve". Outside the sandbox, whose
    no_new_privs keeps the bit; as root, to give the file to another user."""
    import os

    if os.geteuid() != 0:
        pytest.skip("making a set-user-ID file of another user's needs root")
    program = build(tmp_path, "setuid", "int main(void) { return 0; }\n")
    os.chown(program, 65534, 65534)
    os.chmod(program, 0o4755)
    assert explain(root, "--no-sandbox", "--at", "main", "--out", str(tmp_path / "p.html"),
                   "--save", str(tmp_path / "p.json"), str(program)) == 0
    page = (tmp_path / "p.html").read_text()
    (stop,) = _checkpoints(tmp_path / "p.json")
    assert stop["randomized"] is True and not stop["personality"] & ADDR_NO_RANDOMIZE
    fact = page_facts(page)["ASLR"]
    assert fact == f"on, turned back on at an execve ({BACK_ON}), so addresses change from " \
                   "run to run"
    assert "set-user-ID" in fact and "the program cleared ADDR_NO_RANDOMIZE and ran" not in \
        page_text(page)


def test_aslr_off_is_refused_where_the_personality_does_not_take_it(monkeypatch):
    """A personality(2) that leaves the flag out (a seccomp filter's refusal) stops the
    start: the program would have run at random and been said to run without."""
    monkeypatch.setattr(pt, "_personality", lambda persona: 0)
    with pytest.raises(OSError, match=r"did not take ADDR_NO_RANDOMIZE: ASLR cannot be "
                                      r"turned off here \(run with --aslr\)"):
        pt.randomize(False)
    monkeypatch.setattr(pt, "_personality", lambda persona: ADDR_NO_RANDOMIZE)
    with pytest.raises(OSError, match=r"did not clear ADDR_NO_RANDOMIZE: ASLR cannot be "
                                      r"turned on here$"):
        pt.randomize(True)
    monkeypatch.setattr(pt, "_personality", lambda persona: -1)
    ctypes.set_errno(1)
    with pytest.raises(OSError):
        pt.randomize(False)


def test_aslr_left_on_is_on_whatever_roads_inherited(root, tmp_path):
    """roads started with ASLR off for it (under ``setarch -R``, or from gdb) passed the
    flag on to the program with --aslr, which then ran without, said to be "although
    it was asked on"; --aslr clears it."""
    program = build(tmp_path, "clears", CLEARS)
    libc = ctypes.CDLL(None, use_errno=True)
    before = libc.personality(0xFFFFFFFF)
    libc.personality(before | ADDR_NO_RANDOMIZE)
    try:
        assert explain(root, "--aslr", "--at", "here", "--out", str(tmp_path / "p.html"),
                       "--save", str(tmp_path / "p.json"), str(program)) == 0
    finally:
        libc.personality(before)
    assert page_facts((tmp_path / "p.html").read_text())["ASLR"] == \
        "on: addresses change from run to run"
    (stop,) = _checkpoints(tmp_path / "p.json")
    assert stop["randomized"] is True


SETS_OFF = r"""
#include <sys/personality.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int persona = personality(0xffffffff);
    if (!(persona & ADDR_NO_RANDOMIZE)) {
        personality(persona | ADDR_NO_RANDOMIZE);
        execv("/proc/self/exe", argv);
        return 127;
    }
    return 0;
}
"""


def test_a_program_that_turns_aslr_off_under_aslr_is_said_to_have(root, tmp_path):
    """With --aslr the program starts with the flag cleared: one that sets it and runs
    itself again runs without randomisation by its own doing."""
    program = build(tmp_path, "setsoff", SETS_OFF)
    assert explain(root, "--aslr", "--at", "exit", "--out", str(tmp_path / "p.html"),
                   "--save", str(tmp_path / "p.json"), str(program)) == 0
    assert page_facts((tmp_path / "p.html").read_text())["ASLR"] == (
        "off: the program set personality ADDR_NO_RANDOMIZE and ran execve, though --aslr "
        "had left it on")
    (stop,) = _checkpoints(tmp_path / "p.json")
    assert stop["randomized"] is False and stop["personality"] & ADDR_NO_RANDOMIZE
