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
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_explain import explain, root  # noqa: F401 - root is a fixture
from tests.test_explain_losses import TIMER_STOP  # a POSIX timer's SIGSTOP
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


def _stopped(folder: Path) -> list[dict]:
    """The stop signals the session saved as ``p.json`` in ``folder`` records."""
    return json.loads((folder / "p.json").read_text())["stopped"]


def _run(root: Path, *args: str) -> None:
    assert explain(root, "--no-sandbox", "--at", "main", "--at", "exit", "--out", "p.html",
                   "--save", "p.json", *args) == 0


# Followed, the child stops itself; its parent, told of the stop, kills it (SIGKILL) a
# moment later, once roads explain has heard of the stop too and holds it.
CHILD_KILLED = r"""
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t child = fork();
    if (child == 0) {
        raise(SIGSTOP);
        puts("child continued");
        return 0;
    }
    int status;
    waitpid(child, &status, WUNTRACED);
    usleep(500 * 1000);
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    printf("child killed by %d\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return 0;
}
"""

# The program stops itself; a child it made, which runs free (not followed), kills it.
KILLED_FROM_OUTSIDE = r"""
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    if (fork() == 0) {
        usleep(500 * 1000);
        kill(getppid(), SIGKILL);
        _exit(0);
    }
    raise(SIGSTOP);
    puts("continued");
    return 0;
}
"""


# Followed, the child stops itself, and nothing continues it before the deadline, which
# comes before roads explain would (CONTINUE_AFTER, made longer for the tests); the
# parent, told of the stop, has exited by then. (Before 8c6e02e, a parent that exited at
# once could end the run before roads explain had seen its child's first stop:
# tests/test_explain_fork_race.py.)
CHILD_LEFT_STOPPED = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t child = fork();
    if (child == 0) {
        raise(SIGSTOP);
        return 0;
    }
    int status;
    waitpid(child, &status, WUNTRACED);
    return 0;
}
"""

DEADLINE, HELD = 2.0, 30.0  # seconds: the deadline, and CONTINUE_AFTER, longer


@pytest.mark.parametrize("source, args, ended", [
    (CHILD_KILLED, ["--follow-fork"], "killed by SIGKILL"),
    (KILLED_FROM_OUTSIDE, [], "killed by SIGKILL"),
    (CHILD_LEFT_STOPPED, ["--follow-fork", "--deadline", f"{DEADLINE:g}"],
     "killed by roads explain at the deadline (--deadline)"),
], ids=["child-by-its-parent", "program-from-outside", "by-the-deadline"])
def test_a_process_killed_while_held_stopped_is_told_on_the_page(
        root, gcc, tmp_path, capsys, monkeypatch, no_leftovers, source, args, ended):
    """Killed while roads explain holds it stopped (within CONTINUE_AFTER), a process's
    stop and its end, with the signal, are on the page as a stop that was continued is,
    in the session saved and in the messages; its end in the words the page says the
    program's own end in ("killed by SIGKILL"), or, killed at the deadline, as such."""
    # Run here (--no-sandbox), the tracer reads it at the stop: a kill that comes late on
    # a busy machine still comes while the process is held.
    monkeypatch.setattr("roads.explain.trace.CONTINUE_AFTER", HELD)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "held.c").write_text(source)
    _run(root, *args, "--", "./held.c")
    err = capsys.readouterr().err
    saved = json.loads((tmp_path / "p.json").read_text())
    run = saved["capture"]["variants"]["default"]["runs"][0]
    [stopped] = saved.get("stopped") or pytest.fail(f"no stop signal recorded:\n{err}")
    pid = stopped["pid"]
    # The stop really was a kill while held: it ended by SIGKILL, no continuing it.
    [end] = [p for p in run["processes"] if p["pid"] == pid]
    assert end["signal"] == signal.SIGKILL, run["processes"]
    assert "continued\n" not in run["stdout"], run["stdout"]
    assert stopped["ended"] == ended and stopped["by_us"] is False
    said = (f"process {pid} stopped itself with SIGSTOP; it was {ended} while held stopped, "
            "before anything continued it")
    assert said in err
    facts = page_facts((tmp_path / "p.html").read_text())
    assert facts["Stopped by a signal"] == said



# A terminal of its own (a pseudo-terminal): a session on it, whose foreground job is a
# process of the run, and a Ctrl-Z typed there, which the kernel's terminal turns into
# SIGTSTP to that job (si_code SI_KERNEL). The job's group has a parent in the session,
# in another group: not orphaned, so SIGTSTP stops it. Continued, the job ends.
TERMINAL_STOP = r"""
#define _XOPEN_SOURCE 600
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
static volatile sig_atomic_t continued;
static void on_cont(int sig) { (void)sig; continued = 1; }
int main(void) {
    int master = posix_openpt(O_RDWR | O_NOCTTY), ready[2];
    if (master < 0 || grantpt(master) || unlockpt(master) || pipe(ready)) return 1;
    const char *name = ptsname(master);
    pid_t leader = fork();
    if (leader == 0) {
        setsid();
        int tty = open(name, O_RDWR);  /* the session's controlling terminal */
        if (tty < 0) _exit(2);
        pid_t job = fork();
        if (job == 0) {
            signal(SIGCONT, on_cont);
            setpgid(0, 0);
            while (tcgetpgrp(tty) != getpid()) usleep(1000);
            if (write(ready[1], "j", 1) != 1) _exit(3);
            for (int i = 0; i < 500 && !continued; i++) usleep(10 * 1000);
            printf("job continued=%d\n", continued);
            _exit(0);
        }
        setpgid(job, job);
        signal(SIGTTOU, SIG_IGN);
        if (tcsetpgrp(tty, job) != 0) _exit(4);
        int status;
        waitpid(job, &status, 0);
        _exit(0);
    }
    char c;
    if (read(ready[0], &c, 1) != 1) return 5;
    if (write(master, "\x1a", 1) != 1) return 6;  /* Ctrl-Z */
    int status;
    waitpid(leader, &status, 0);
    return 0;
}
"""


@pytest.mark.parametrize("source, follow, signame, code, sender", [
    (TIMER_STOP, False, "SIGSTOP", -2, "a timer of the program (timer_create)"),
    (TERMINAL_STOP, True, "SIGTSTP", 0x80, "the kernel, for its terminal's job control"),
], ids=["timer", "terminal"])
def test_a_stop_signal_no_process_sent_names_its_sender(
        root, gcc, tmp_path, capsys, monkeypatch, no_leftovers, source, follow, signame, code,
        sender):
    """The sender of a stop signal is named from its si_code (asm-generic/siginfo.h) as a
    process sender is (process P stopped itself, was stopped from process S): SI_TIMER,
    a POSIX timer of the program's own; SI_KERNEL, the kernel, here the terminal's."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stops.c").write_text(source)
    _run(root, *(["--follow-fork"] if follow else []), "--", "./stops.c")
    err = capsys.readouterr().err
    [stopped] = _stopped(tmp_path)
    assert (stopped["signal"], stopped["sender"], stopped["code"]) == (signame, None, code)
    said = f"process {stopped['pid']} was stopped by {signame}, sent by {sender}; "
    assert said in err
    assert page_facts((tmp_path / "p.html").read_text())["Stopped by a signal"].startswith(said)
