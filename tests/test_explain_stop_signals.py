"""roads explain and the program's stop signals (SIGSTOP, SIGTSTP), each test a run that
went wrong before its fix.

A program that stops itself stays stopped until something of the run continues it, or
until roads explain does, after CONTINUE_AFTER, as a shell's fg would; a child that
stops itself is continued by its parent, not first by roads explain; a delay that comes
due while the program is held stopped is taken there; a process killed while it is held
stopped has its stop and its end on the page.

The sender is named from the signal's si_code, and si_pid is read only where a process
sent it: a process of the run, a POSIX timer of the program (SI_TIMER), the kernel for
a terminal's job control (SI_KERNEL). A process outside the sandbox's pid namespace
reaches the program with si_pid 0, the kernel having no id for the sender in the
receiver's namespace (kernel/signal.c, task_tgid_nr_ns of a task the namespace does not
hold): the page named "process 0", which does not exist, and names where the sender is
now.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.explain_support import page_facts, saved_session, stop_names
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture


def _stopped(folder: Path) -> list[dict]:
    """The stop signals the session saved as ``p.json`` in ``folder`` records."""
    return json.loads((folder / "p.json").read_text())["stopped"]


def _run(root: Path, *args: str) -> None:
    assert explain(root, "--no-sandbox", "--at", "main", "--at", "exit", "--out", "p.html",
                   "--save", "p.json", *args) == 0


# Stops itself, and says whether its SIGCONT handler ran and how long it stayed stopped.
SELF_STOP = r"""
#include <signal.h>
#include <stdio.h>
#include <time.h>
static volatile sig_atomic_t continued;
static void on_cont(int sig) { (void)sig; continued = 1; }
int main(void) {
    struct timespec a, b;
    signal(SIGCONT, on_cont);
    clock_gettime(CLOCK_MONOTONIC, &a);
    raise(SIGSTOP);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("continued=%d stopped_ms=%ld\n", continued,
           (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000);
    return 0;
}
"""


# A parent that waits for its child to stop itself, then continues it, as a shell does.
PARENT_CONTINUES = r"""
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
static volatile sig_atomic_t continued;
static void on_cont(int sig) { (void)sig; continued = 1; }
int main(void) {
    pid_t child = fork();
    if (child == 0) {
        signal(SIGCONT, on_cont);
        raise(SIGSTOP);
        printf("child continued=%d\n", continued);
        return 0;
    }
    int status;
    waitpid(child, &status, WUNTRACED);
    printf("parent saw stopped=%d\n", WIFSTOPPED(status));
    fflush(stdout);
    kill(child, SIGCONT);
    waitpid(child, &status, 0);
    return 0;
}
"""


STOPS_THEN_SLEEPS = r"""
#include <signal.h>
#include <unistd.h>
int main(void) { raise(SIGSTOP); sleep(5); return 0; }
"""


@pytest.mark.gcc
def test_a_program_that_stops_itself_is_stopped_then_continued(root, gcc, tmp_path, capsys,
                                                               monkeypatch, no_leftovers):
    """raise(SIGSTOP) was resumed at once, as if nothing had happened (the tracer restarted
    the group-stop, which PTRACE_TRACEME cannot keep): the program did not stop and its
    SIGCONT handler never ran. Now it stops; nothing of the run continues it, so roads
    explain does with SIGCONT after CONTINUE_AFTER (as a shell's fg would), and the page
    and the messages say so."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "selfstop.c").write_text(SELF_STOP)
    assert explain(root, "--at", "main", "--at", "exit", "--out", "p.html", "--save", "p.json",
                   "--", "./selfstop.c") == 0
    err = capsys.readouterr().err
    saved = saved_session(tmp_path / "p.json")
    out = saved["capture"]["variants"]["default"]["runs"][0]["stdout"]
    assert out.startswith("continued=1 "), out
    from roads.explain.trace import CONTINUE_AFTER

    assert int(out.split("stopped_ms=")[1]) >= CONTINUE_AFTER * 1000 * 0.9, out
    pid = saved["capture"]["variants"]["default"]["runs"][0]["pid"]
    assert saved["stopped"] == [{"pid": pid, "signal": "SIGSTOP", "sender": pid, "by_us": True,
                                 "after": CONTINUE_AFTER, "code": -6, "ended": ""}]  # SI_TKILL: raise
    said = (f"process {pid} stopped itself with SIGSTOP; nothing of the run continued it "
            f"within {CONTINUE_AFTER:g} s, so roads explain did, with SIGCONT")
    assert said in err
    assert f"<dt>Stopped by a signal</dt><dd>{said}" in (tmp_path / "p.html").read_text()
    assert "exit" in stop_names(saved)


@pytest.mark.gcc
def test_a_child_stopped_is_continued_by_its_parent(root, gcc, tmp_path, capsys, monkeypatch,
                                                    no_leftovers):
    """Followed, a child that stops itself stays stopped until its parent, told of the
    stop by waitpid(WUNTRACED), sends SIGCONT: roads explain does not continue it first.
    The child went on at once, before its parent had sent anything."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "parent.c").write_text(PARENT_CONTINUES)
    assert explain(root, "--no-sandbox", "--follow-fork", "--at", "main", "--at", "exit",
                   "--out", "p.html", "--save", "p.json", "--", "./parent.c") == 0
    capsys.readouterr()
    saved = saved_session(tmp_path / "p.json")
    out = saved["capture"]["variants"]["default"]["runs"][0]["stdout"]
    assert out == "parent saw stopped=1\nchild continued=1\n", out
    [stopped] = saved["stopped"]
    assert stopped["by_us"] is False and stopped["sender"] == stopped["pid"]
    assert "another process of the run continued it (SIGCONT)" in (tmp_path / "p.html").read_text()


@pytest.mark.gcc
def test_a_delay_comes_due_while_the_program_is_stopped(root, gcc, tmp_path, capsys,
                                                        monkeypatch, no_leftovers):
    """A delay whose time comes while the program is held stopped is taken there (its
    SIGSTOP, pending, would be undone by the SIGCONT that continues the program), and
    the run ends after it, its last stop."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sleeps.c").write_text(STOPS_THEN_SLEEPS)
    assert explain(root, "--no-sandbox", "--at", "0.3s", "--out", "p.html", "--save", "p.json",
                   "--", "./sleeps.c") == 0
    capsys.readouterr()
    saved = saved_session(tmp_path / "p.json")
    assert stop_names(saved) == ["0.3s"]
    assert saved["ending"] == "was ended by roads explain after its last stop"


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
# tests/test_explain_follow_fork.py.)
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


@pytest.mark.gcc
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


def test_a_signal_names_its_sender_only_when_a_process_sent_it() -> None:
    """si_pid is read only where si_code says a process sent the signal (kill,
    sigqueue, tkill, a message queue's notice): a POSIX timer's SIGSTOP (SI_TIMER)
    holds the timer's id in its place, which was read as a sender, and one equal to
    roads explain's own pid would have been taken for a delay's stop."""
    import struct

    from roads.explain.siginfo import SIGINFO_SIZE, parse_siginfo

    def sender_of(siginfo: bytes) -> int | None:
        return parse_siginfo(siginfo).si_pid

    def siginfo(code: int, word: int) -> bytes:
        head = struct.pack("<iii4xi", 19, 0, code, word)  # si_signo SIGSTOP, ..., the union
        return head + bytes(SIGINFO_SIZE - len(head))

    assert sender_of(siginfo(0, 4321)) == 4321  # SI_USER: kill
    assert sender_of(siginfo(-6, 4321)) == 4321  # SI_TKILL: tgkill
    assert sender_of(siginfo(-1, 4321)) == 4321  # SI_QUEUE: sigqueue
    assert sender_of(siginfo(-2, 4321)) is None  # SI_TIMER: a timer's id
    assert sender_of(siginfo(-5, 4321)) is None  # SI_SIGIO
    assert sender_of(siginfo(0x80, 4321)) is None  # SI_KERNEL


# Stops itself with a POSIX timer's SIGSTOP (si_code SI_TIMER), then prints a line.
TIMER_STOP = r"""
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGSTOP};
    timer_t t;
    if (timer_create(CLOCK_MONOTONIC, &ev, &t) != 0) return 1;
    struct itimerspec when = {.it_value = {.tv_nsec = 50 * 1000 * 1000}};
    timer_settime(t, 0, &when, NULL);
    usleep(300 * 1000);
    puts("done");
    return 0;
}
"""


@pytest.mark.gcc
def test_a_timers_stop_signal_names_no_sender(root, gcc, tmp_path, capsys, monkeypatch,
                                              no_leftovers):
    """A SIGSTOP a POSIX timer sends (SI_TIMER) holds the timer's id where a kill's holds
    the sender's: it was read as one ("stopped by SIGSTOP from process 0")."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "timerstop.c").write_text(TIMER_STOP)
    assert explain(root, "--at", "exit", "--out", "p.html", "--save", "p.json",
                   "--", "./timerstop.c") == 0
    err = capsys.readouterr().err
    [stopped] = saved_session(tmp_path / "p.json")["stopped"]
    assert stopped["signal"] == "SIGSTOP" and stopped["sender"] is None and stopped["by_us"]
    assert "stopped by SIGSTOP, sent by a timer of the program" in err
    assert "from process" not in err


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


@pytest.mark.gcc
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


# Waits, up to ten seconds, to be stopped from outside and continued.
WAITS = r"""
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static volatile sig_atomic_t continued;
static void on_cont(int sig) { (void)sig; continued = 1; }
int main(void) {
    signal(SIGCONT, on_cont);
    for (int i = 0; i < 100 && !continued; i++)
        usleep(100 * 1000);
    puts(continued ? "continued" : "never stopped");
    return 0;
}
"""


NAME = "outsider"


def _in_a_namespace_of_its_own(name: str) -> int | None:
    """The host's id of a process called ``name`` that has a second, inner id (NSpid:
    it runs in a pid namespace below this one), or None."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields.get("Name") == name and len(fields.get("NSpid", "").split()) > 1:
            return int(entry)
    return None


@pytest.mark.gcc
def test_a_stop_from_outside_the_sandbox_names_no_process_0(root, gcc, tmp_path, capsys,
                                                            monkeypatch, no_leftovers):
    monkeypatch.chdir(tmp_path)
    (tmp_path / f"{NAME}.c").write_text(WAITS)
    sent: list[int] = []
    ended = threading.Event()

    def send() -> None:  # looks for the program until roads explain has returned
        while not ended.is_set() and not sent:
            pid = _in_a_namespace_of_its_own(NAME)
            if pid is not None:
                os.kill(pid, signal.SIGSTOP)
                sent.append(pid)
            time.sleep(0.05)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        status = explain(root, "--at", "exit", "--out", "p.html", "--save", "p.json",
                         "--", f"./{NAME}.c")
    finally:
        ended.set()
        sender.join()
    err = capsys.readouterr().err
    if not sent:
        pytest.skip(f"the run had no pid namespace of its own here:\n{err}")
    assert status == 0, err
    [stopped] = json.loads((tmp_path / "p.json").read_text())["stopped"]
    assert stopped["sender"] == 0  # si_pid, as the kernel gives it
    said = page_facts((tmp_path / "p.html").read_text())["Stopped by a signal"]
    assert "from process 0" not in said and "from process 0" not in err
    assert "from a process outside its pid namespace (the run's sandbox's" in said, said
