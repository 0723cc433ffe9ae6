"""roads explain: three faults found and left by an earlier session, each shown by a real
run that went wrong before its fix.

A program recompiled while an old copy of it runs (/proc/PID/exe and maps say
"/path/prog (deleted)") was named "prog-deleted" by ``--pid``: in the page's captions,
titles, ids and its default file name; and the page did not say that the file was gone.

A process held stopped by a stop signal (``Tracer._tend_held``) and killed meanwhile was
told of only in a progress line: the page said nothing of its stop, nor of its end.

A stop signal that no process sent (a POSIX timer's, SI_TIMER; the terminal's Ctrl-Z,
SI_KERNEL) was "stopped by SIGSTOP", its sender unnamed, where one a process sent names
that process.
"""

from __future__ import annotations

import contextlib
import html
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_explain import explain, root  # noqa: F401 - root is a fixture
from tests.explain_support import build, page_facts

pytestmark = [pytest.mark.gcc]

# Says it is ready, then waits for a signal; the number tells two builds apart.
WAITS = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("ready %d\n", BUILD); fflush(stdout); pause(); return 0; }
"""


@contextlib.contextmanager
def running(program: Path) -> Iterator[int]:
    """``program`` run until it says it is ready: its pid; always killed and reaped."""
    child = subprocess.Popen([str(program)], cwd=program.parent, stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().startswith(b"ready"), "it ended before it was ready"
        yield child.pid
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()


def test_a_program_recompiled_while_it_runs_keeps_its_name(root, gcc, tmp_path, capsys,
                                                           monkeypatch, no_leftovers):
    """The learner's case: ``prog`` recompiled while the old one runs. ``--pid`` names
    the program "prog" (the " (deleted)" the kernel appends taken off as the capture's
    regions record it, ``figures.filenames.program_path``), says its file was deleted
    or replaced since it started, and still draws the old program's own ELF file."""
    monkeypatch.chdir(tmp_path)
    program = build(tmp_path, "prog", WAITS, "-DBUILD=1")
    with running(program) as pid:
        build(tmp_path, "prog", WAITS, "-DBUILD=2")  # the linker unlinks the old file
        assert os.readlink(f"/proc/{pid}/exe") == f"{program} (deleted)"
        assert explain(root, "--pid", str(pid)) == 0  # the default page: explain-NAME.html
    out = capsys.readouterr().out.strip()
    assert out == "explain-prog.html", out
    page = (tmp_path / out).read_text()
    assert "deleted-" not in page and "-deleted" not in page
    assert "vas-prog-default-now-desc" in page  # the figures' ids
    text = html.unescape(page)
    assert "prog's PT_LOAD segments" in text  # the ELF figure's caption
    assert "prog, stop 'now'" in text  # the diagram's
    assert "No ELF figure for the executable" not in page and "roads-elf-figure" in page
    assert page_facts(page)["Program"] == (f"{program}: its file was deleted or replaced "
                                           "since the process started")
