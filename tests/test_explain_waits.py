"""roads explain after this session's reviews: the wait for a --pid process's stop, which
had no deadline (a vfork's parent stops only once its child execs or exits); a source
named without a slash, saved from another folder than --root, read there ("cannot
write"); a system call at a breakpoint that a signal cut short and the kernel ran again,
counted as a new call; the reason of an unread stop told twice; and an ELF figure's
refusal after an execve in the site's words ("the sample's own executable")."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from roads import cli
from roads.errors import ExplainError
from roads.explain.trace import Tracer, parse_stop
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture


@pytest.fixture
def gcc():
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")


def _build(folder: Path, name: str, source: str) -> Path:
    (folder / f"{name}.c").write_text(source)
    subprocess.run(["gcc", "-O0", "-g", "-o", str(folder / name), str(folder / f"{name}.c")],
                   check=True, timeout=60)
    return folder / name


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


# ---------------------------------------------------------------------------- --save

HELLO = '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n'


@pytest.mark.gcc
def test_a_source_named_without_a_slash_is_saved_from_where_it_was_named(root, gcc, tmp_path,
                                                                           monkeypatch):
    """``roads explain --save x.json -- prog.c`` from a folder other than --root: the
    source is where the user named it, in the folder they run from; the record named it
    as it was given and read it in the root, which failed after the run with "cannot
    write ROOT/prog.c". The record names it from the root, as a path with a slash does;
    a build finds it there, fresh, and stale once it changes."""
    from roads.explain.saved import staleness

    project, work = tmp_path / "project", tmp_path / "work"
    project.mkdir()
    work.mkdir()
    (work / "prog.c").write_text(HELLO)
    monkeypatch.chdir(work)
    assert cli.main(["--root", str(project), "explain", "--no-sandbox", "--out", "x.html",
                     "--save", "x.json", "--", "prog.c"]) == 0
    saved = json.loads((work / "x.json").read_text())
    assert saved["inputs"]["argv"] == ["../work/prog.c"]
    assert staleness(work / "x.json", project) == []
    (work / "prog.c").write_text(HELLO.replace("hi", "hello"))
    assert staleness(work / "x.json", project) == ["../work/prog.c changed"]


def test_a_source_that_cannot_be_read_for_the_record_says_so(tmp_path):
    """The saved record's digest of the source is a read: its failure says "cannot
    read" and names the file, not "cannot write"."""
    from roads.explain.saved import RunOptions, inputs

    with pytest.raises(ExplainError) as failed:
        inputs(["gone.c"], [], tmp_path, RunOptions())
    assert failed.value.message.startswith(f"cannot read {tmp_path / 'gone.c'}")
    assert "No such file or directory" in failed.value.message


# ---------------------------------------------------------------------------- words

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


@pytest.mark.gcc
def test_the_reason_a_stop_was_not_read_is_told_once(root, gcc, tmp_path, capsys, monkeypatch,
                                                     no_leftovers):
    """A stop that cannot be read is named as the run goes, and its reason told at the
    end, beside how the run ended: it was told in full twice."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "many.c").write_text(MANY)
    assert explain(root, "--no-sandbox", "--at", "main", "--at", "here", "--out", "p.html",
                   "--", "./many.c") == 3
    err = capsys.readouterr().err
    assert err.count("memory regions mapped here, more than") == 1, err
    assert "could not read the stop here (pid" in err and "the reason follows at the end" in err
    last = [line for line in err.splitlines() if "memory regions mapped here" in line]
    assert last[0].startswith("roads explain: the stop here (pid")


def test_an_elf_figure_after_an_execve_is_refused_in_explains_words(root, tmp_path,
                                                                    no_leftovers):
    """The only stop is after an execve: the ELF figure of the program started cannot be
    drawn, and the page said so in the site's words ("not the sample's own executable")."""
    out = tmp_path / "sh.html"
    assert explain(root, "--no-sandbox", "--at", "exit", "--out", str(out), "--", "sh", "-c",
                   "exec sleep 0.2") == 0
    page = out.read_text()
    assert "No ELF figure for the executable" in page
    assert "not the program&#x27;s own executable" in page
    assert "sample&#x27;s" not in page
