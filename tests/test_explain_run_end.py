"""How roads explain ends a run, each test a run that went wrong before its fix.

A process the program itself killed is not said to have been ended by roads explain,
though its end is read only after the deadline's SIGKILL or in the clean-up after the
last stop; a deadline that passes during that clean-up is not told as the run's end.
What the run leaves is ended with it: a daemon's orphan the tracer did not follow (in
the sandbox and out of it), and an orphan the tracer adopted and held at its exit stop,
unknown to it. What SIGKILL does not end at once is looked for less and less often.
A program whose name is not UTF-8 is ended as any other.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from roads.capture.proc import Proc
from roads.errors import ExplainError
from roads.explain.syscall_file import read_syscall
from roads.explain import trace
from roads.explain.trace import Hit, Tracer, parse_stop
from tests.explain_support import build
from tests.test_explain_threads import SYS_EXIT_GROUP
from tests.test_explain import explain_apart, root  # noqa: F401 - root is a fixture


# The start of main in the two programs below: it forks a child that says through a
# pipe that it runs, then waits, and it reads that word (a child killed before its first
# stop was seen has no exit stop to report, and the test would have nothing to look at).
FORKS_A_CHILD = r"""int main(void) {
    int ready[2];
    char byte;
    if (pipe(ready) != 0)
        return 1;
    pid_t child = fork();
    if (child == 0) {
        write(ready[1], "r", 1);
        pause();
        _exit(0);
    }
    read(ready[0], &byte, 1);
"""
# Their end: the child killed with SIGKILL and reaped, and the parent asleep until the
# deadline ends it.
KILLS_IT = r"""    kill(child, SIGKILL);
    waitpid(child, 0, 0);
    sleep(100);
    return 0;
}
"""
# The parent kills its child as soon as the child runs.
KILLS_ITS_CHILD = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
""" + FORKS_A_CHILD + KILLS_IT
# The child running, a thread of the parent calls f (a stop read slowly), and the main
# thread, while that stop is read, kills the child.
KILLS_WHILE_READ = r"""
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
void f(void) {}
static void *call_f(void *unused) { f(); return 0; }
""" + FORKS_A_CHILD + r"""    pthread_t thread;
    pthread_create(&thread, 0, call_f, 0);
    usleep(300000);
""" + KILLS_IT


# Calls f, then waits to be killed.
WAITS_AFTER_F = r"""
#include <unistd.h>
void f(void) {}
int main(void) {
    f();
    pause();
    return 0;
}
"""


# Names itself with bytes that are not UTF-8 (as a file named so would be named), then
# sleeps past its one stop: roads explain ends it.
RENAMES_IN_BYTES = r"""
#include <sys/prctl.h>
#include <unistd.h>
int main(void) {
    prctl(PR_SET_NAME, "\xff\xfe name", 0, 0, 0);
    sleep(100);
    return 0;
}
"""


def test_a_program_whose_name_is_not_utf8_is_ended_after_its_last_stop(gcc, tmp_path,
                                                                      no_leftovers):
    """Ending the run after its last stop reads the program's /proc/PID/stat, whose
    second field is its name: read as UTF-8 text, a name holding \\xff (set with prctl,
    or given by a file named so) ended roads explain in a UnicodeDecodeError and a
    traceback, no page written. The stat line is read as bytes."""
    program = build(tmp_path, "renames", RENAMES_IN_BYTES)
    outcome = Tracer([str(program)], [parse_stop("sleep")], on_stop=lambda hit: None,
                     deadline=20).run()
    assert outcome.reached == ["sleep"]
    assert outcome.processes[outcome.pid].killed_by_us


@pytest.mark.parametrize("stop", ["f", "syscall:getppid", "1ms", "f, stepped over"])
def test_a_process_killed_while_a_stop_of_it_is_read_still_stops_at_its_exit(
        gcc, tmp_path, no_leftovers, stop):
    """A SIGKILL from another process (here the test's, as a parent's or a shell's
    kill -9 would be) wakes a tracee held at a stop: it comes to its exit stop, memory
    still mapped, while the stop is read, and letting it go from the stop read let it
    past its exit stop unseen (with a function stop: no exit stop was made, the process
    gone at the next event). Now that exit stop is the next stop. So too where the
    tracer lets it go with a single step, over a breakpoint kept for a later stop (f:2)
    at an instruction it does not emulate (f's ret, built with -O2 and no endbr64)."""
    flags: tuple[str, ...] = ()
    later: list[str] = []
    source = WAITS_AFTER_F
    if stop.startswith("sys"):
        source = WAITS_AFTER_F.replace("f();", "f(); getppid();")
    elif stop == "f, stepped over":
        source = WAITS_AFTER_F.replace("void f(void)", "__attribute__((noipa)) void f(void)")
        source = source.replace("f();", "f(); f();")
        flags, stop, later = ("-O2", "-fcf-protection=none"), "f", ["f:2"]
    program = build(tmp_path, "waits", source, *flags)
    hits: list[Hit] = []

    def killed(hit: Hit) -> None:
        hits.append(hit)
        if hit.label != "exit":
            os.kill(hit.pid, signal.SIGKILL)
            time.sleep(0.3)  # for it to come to its exit stop, as a slow read gives it

    outcome = Tracer([str(program)], [parse_stop(w) for w in (stop, *later, "exit")],
                     on_stop=killed, deadline=20).run()
    assert [h.label for h in hits] == [stop, "exit"] == outcome.reached
    assert hits[1].pid == outcome.pid
    ending = outcome.processes[outcome.pid]
    assert os.WTERMSIG(ending.status) == signal.SIGKILL and not ending.killed_by_us


def test_an_exit_stop_a_sigkill_carried_it_past_is_said(gcc, tmp_path, no_leftovers,
                                                        monkeypatch):
    """What the check before each resume cannot close: the SIGKILL landing after it
    found the process held at the stop being read, the resume then letting it go from
    its exit stop. Forced here by a check that never finds the exit stop: the run has
    no exit stop, and how it ended says which process's exit was not seen, and why."""
    from roads.explain.session import _ending

    program = build(tmp_path, "waits", WAITS_AFTER_F)
    monkeypatch.setattr(trace.pt, "held_at_exit", lambda tid: False)

    def killed(hit: Hit) -> None:
        os.kill(hit.pid, signal.SIGKILL)
        time.sleep(0.3)

    outcome = Tracer([str(program)], [parse_stop("f"), parse_stop("exit")],
                     on_stop=killed, deadline=20).run()
    assert outcome.reached == ["f"] and outcome.exits_unseen == [outcome.pid]
    words = _ending(outcome, "waits", 20)
    assert words == (f"was killed by SIGKILL; no stop was made at the exit of process "
                     f"{outcome.pid}: a signal ended it before roads explain could hold it "
                     "there (a SIGKILL that comes while another stop is read can carry a "
                     "process past its exit stop)"), words


# Queues itself a SIGUSR1 whose si_code is that of an exit stop's siginfo, then says
# that its handler ran.
QUEUES_AN_EXIT_CODE = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static void handled(int sig) { write(1, "handled\n", 8); }
int main(void) {
    siginfo_t info;
    signal(SIGUSR1, handled);
    memset(&info, 0, sizeof info);
    info.si_signo = SIGUSR1;
    info.si_code = (6 << 8) | SIGTRAP;  /* PTRACE_EVENT_EXIT << 8 | SIGTRAP */
    if (syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, &info) != 0)
        return 1;
    printf("after\n");
    return 0;
}
"""


def test_a_signal_that_carries_an_exit_stops_code_is_delivered(gcc, tmp_path, no_leftovers):
    """A program may queue itself a signal with any si_code: one with an exit stop's was
    taken for a process held at its exit, the exit stop made in rt_sigqueueinfo and the
    signal never delivered. A thread a SIGKILL woke is ending by a fatal signal
    (PF_SIGNALED); this one is not, and its signal is delivered."""
    program = build(tmp_path, "queues", QUEUES_AN_EXIT_CODE)
    calls: list[int | None] = []
    outcome = Tracer([str(program)], [parse_stop("exit")], deadline=20,
                     on_stop=lambda hit: calls.append(read_syscall(Proc(), hit.pid).nr)).run()
    assert outcome.reached == ["exit"] and calls == [SYS_EXIT_GROUP], calls
    assert outcome.stdout == "handled\nafter\n"
    assert os.WIFEXITED(outcome.processes[outcome.pid].status)


# The parent kills its child once the child runs, reaps it, and exits.
KILLS_ITS_CHILD_AND_EXITS = KILLS_ITS_CHILD.replace("    sleep(100);\n", "")


def test_a_child_its_parent_killed_is_said_killed(gcc, tmp_path, no_leftovers):
    """How the run ended told the program's own end only: a child its parent killed
    with SIGKILL was a stop titled exit and nothing more (a learner's program). The
    ending names it, and its signal."""
    from roads.explain.session import _ending

    program = build(tmp_path, "kills", KILLS_ITS_CHILD_AND_EXITS)
    outcome = Tracer([str(program)], [parse_stop("exit")], on_stop=lambda hit: None,
                     deadline=20, follow_fork=True).run()
    child, = (p for p in outcome.processes if p != outcome.pid)
    assert outcome.reached == ["exit", "exit"] and outcome.exits_unseen == []
    words = _ending(outcome, "kills", 20)
    assert words == f"exited with status 0; process {child} of the run was killed by SIGKILL"


def test_a_process_the_program_killed_before_the_deadline_is_not_said_ended_by_us(
        gcc, tmp_path, no_leftovers):
    """The child's exit stop (its parent's SIGKILL) is read while the deadline passes:
    reaped after the deadline's SIGKILL, it was said killed by roads explain (its
    killed_by_us, which the page and the capture's run read), though its end had begun
    before, its exit event seen. The parent, still sleeping then, was ended by it."""
    program = tmp_path / "kills"
    (tmp_path / "kills.c").write_text(KILLS_ITS_CHILD)
    subprocess.run(["gcc", "-o", str(program), str(tmp_path / "kills.c")], check=True,
                   timeout=60)
    deadline = 1.0
    hits: list[Hit] = []

    def slow(hit: Hit) -> None:  # as reading a big stop is: past the deadline
        hits.append(hit)
        time.sleep(deadline + 0.5)

    outcome = Tracer([str(program)], [parse_stop("exit")], on_stop=slow, deadline=deadline,
                     follow_fork=True).run()
    assert outcome.timed_out and len(hits) == 1  # the child's exit; the parent's was ours
    child = outcome.processes[hits[0].pid]
    parent = outcome.processes[outcome.pid]
    assert child.pid != parent.pid and os.WTERMSIG(child.status) == signal.SIGKILL
    assert (child.killed_by_us, parent.killed_by_us) == (False, True)


@pytest.mark.gcc
@pytest.mark.parametrize("past_deadline", [True, False])
def test_a_child_the_program_killed_while_a_stop_was_read(gcc, tmp_path, no_leftovers,
                                                         past_deadline):
    """The program kills its child while roads explain reads another stop: the child's
    exit event is seen only once that read is done, after the deadline's SIGKILL (or in
    the clean-up after the last stop), and the child was said killed by roads explain."""
    program = build(tmp_path, "killswhileread", KILLS_WHILE_READ, "-pthread")
    deadline = 1.5
    hits: list[Hit] = []

    def slow(hit: Hit) -> None:  # as reading a big stop is: past the child's kill
        hits.append(hit)
        time.sleep(deadline + 0.5 if past_deadline else 1.0)

    outcome = Tracer([str(program)], [parse_stop("f")], on_stop=slow,
                     deadline=deadline if past_deadline else 20, follow_fork=True).run()
    assert [h.label for h in hits] == ["f"] and outcome.timed_out == past_deadline
    child, = (p for p in outcome.processes.values() if p.pid != outcome.pid)
    parent = outcome.processes[outcome.pid]
    assert os.WTERMSIG(child.status) == signal.SIGKILL
    assert (child.killed_by_us, parent.killed_by_us) == (False, True)


@pytest.mark.gcc
def test_a_deadline_during_the_clean_up_after_the_last_stop_is_not_told(gcc, tmp_path,
                                                                       monkeypatch,
                                                                       no_leftovers):
    """Every stop made, the run is ended (``Tracer._kill_all``); a deadline passing while
    that takes its time (a big process torn down) set ``timed_out``, and the page said
    the program was ended "when the deadline passed"."""
    program = build(tmp_path, "sleeps", "#include <unistd.h>\n"
                    "int main(void) { sleep(100); return 0; }\n")
    deadline = 1.0
    real = Tracer._kill_every
    tracer = threading.get_ident()  # the thread that runs the Tracer, not its timers'

    def slow(self, sig: int) -> None:  # the clean-up's own kill
        if threading.get_ident() == tracer and self._ending:
            time.sleep(deadline + 0.5)
        real(self, sig)

    monkeypatch.setattr(Tracer, "_kill_every", slow)
    outcome = Tracer([str(program)], [parse_stop("main")], on_stop=lambda hit: None,
                     deadline=deadline).run()
    assert outcome.reached == ["main"] and outcome.ended_after_last_stop
    assert not outcome.timed_out
    assert outcome.processes[outcome.pid].killed_by_us


# The parent is traced, its child is not (no --follow-fork): the child leaves the run's
# group, forks a grandchild that waits for ever, and exits, orphaning it.
DAEMON = r"""
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    if (fork() == 0) {
        setsid();
        if (fork() == 0)
            for (;;)
                pause();
        _exit(0);
    }
    usleep(300000);
    puts("parent done");
    return 0;
}
"""


@pytest.mark.gcc
@pytest.mark.parametrize("sandbox", [False, True])
def test_an_unfollowed_daemons_orphan_is_ended_with_the_run(root, tmp_path, sandbox,
                                                            no_leftovers):
    (tmp_path / "daemon.c").write_text(DAEMON)
    # Built here, not by the command (a .c file is built in a folder of its own), so
    # that no_leftovers sees a process of it still running.
    subprocess.run(["gcc", "-O0", "-o", str(tmp_path / "daemon"), str(tmp_path / "daemon.c")],
                   check=True)
    args = [*([] if sandbox else ["--no-sandbox"]), "--at", "main", "--at", "exit",
            "--deadline", "20", "--out", "daemon.html", "--", "./daemon"]
    done, seconds = explain_apart(root, tmp_path, args)
    assert done.returncode == 0, done.stderr
    assert seconds < 15, "ran into the deadline"
    page = (tmp_path / "daemon.html").read_text()
    assert "parent done" in page
    # no_leftovers: the grandchild (its program lies in tmp_path) is not running any more


# A child that leaves the run's group and waits: once its parent is killed, it is an
# orphan the tracer adopted (a child subreaper), and it is a tracee of the tracer's.
CHILD_AWAY = r"""
#include <unistd.h>
int main(void)
{
    if (fork() == 0) {
        setsid();
        for (;;)
            pause();
    }
    for (;;)
        pause();
}
"""


class _ForgetsTheChild(Tracer):
    """A tracer that, as the run is ended, knows nothing of the child: as when its
    parent was killed making it (CLONE_PARENT, or a fork at the run's last moment) and
    the parent's event never came. Only its adoption (_kill_adopted) reaches it."""

    def _kill_all(self):
        for tid in [t for t in self.traced if t != self.main]:
            self.traced.pop(tid)
            self.forgotten.append(tid)
        self.fork_kind.clear()
        self.groups.clear()
        return super()._kill_all()


@pytest.mark.gcc
def test_an_adopted_tracee_held_in_its_exit_stop_is_let_go(gcc, tmp_path, monkeypatch,
                                                           no_leftovers):
    """An orphan the tracer adopted and knew nothing of reported its exit stop to the
    wait that was to reap it, which took the stop for its end: held there, where
    SIGKILL no longer reaches (it has begun exiting), it was never let go, and the run
    ended 'could not be ended within 10 s of SIGKILL', the child left unreaped (seen
    about once in ten runs of a program that clones with CLONE_PARENT in a loop)."""
    monkeypatch.setattr(trace, "KILL_WAIT", 2.0)
    program = build(tmp_path, "child_away", CHILD_AWAY)
    tracer = _ForgetsTheChild([str(program)], [parse_stop("0.3s")], on_stop=lambda hit: None,
                              follow_fork=True, deadline=10)
    tracer.forgotten = []
    started = time.monotonic()
    tracer.run()
    assert tracer.forgotten, "the child was not traced"
    assert time.monotonic() - started < 3


def test_the_end_of_a_run_looks_for_its_leftovers_less_and_less_often(monkeypatch):
    """What is left of a run that SIGKILL does not end at once (a process in
    uninterruptible sleep, stood in for here: the waits never report it) is looked for
    until KILL_WAIT, each look reading this process's children from /proc: where the
    kernel keeps no children files (CONFIG_PROC_CHILDREN), every process's stat. The
    looks came every 2 ms, hundreds a second; now the pause between them grows."""
    looks: list[float] = []
    real = trace._children

    def children() -> list[int]:
        looks.append(time.monotonic())
        return real()

    monkeypatch.setattr(trace, "_children", children)
    monkeypatch.setattr(trace, "KILL_WAIT", 1.0)
    tracer = Tracer(["/bin/true"], [parse_stop("exit")], on_stop=lambda hit: None)
    tracer._children_before = set(real())
    monkeypatch.setattr(tracer, "_kill_every", lambda sig: None)  # nothing of a run to kill
    monkeypatch.setattr(tracer, "_poll", lambda: None)  # something alive, never reaped
    started = time.monotonic()
    with pytest.raises(ExplainError, match=r"could not be ended within 1 s of SIGKILL"):
        tracer._kill_all()
    # KILL_WAIT, not less; the upper bound leaves room for a loaded machine's scheduling.
    assert 1.0 <= time.monotonic() - started < 2.5
    assert len(looks) <= 20, f"{len(looks)} looks at /proc in 1 s"


# Its one stop is f (or its call of getppid); right after it, the program ends on its
# own, at once.
ENDS_RIGHT_AFTER = r"""
#include <unistd.h>
void f(void) {}
int main(void) {
    f();
    getppid();
    _exit(7);
}
"""


@pytest.mark.gcc
@pytest.mark.parametrize("stop", ["f", "syscall:getppid"])
def test_a_program_that_ends_right_after_its_last_stop_ends_on_its_own(
        gcc, tmp_path, monkeypatch, no_leftovers, stop):
    """Every stop made, the thread that made the last one was let run on before the run
    was ended: a program that returned from main right after it exited on its own (its
    output flushed) at one run and was ended by roads explain (nothing written) at the
    next, as the machine's timing went. Found running one program a few times with one
    --at: two pages that told two ends. It was then held at its stop and ended there
    every time, which hid how it ended: a crash after the last stop went unseen. Now
    it runs on after its last stop (RUN_ON), and ends on its own every time, the
    clean-up made slow here or not. (A system-call stop's thread, resumed with
    PTRACE_SYSCALL, stops again at its next call, exit_group among them.)"""
    program = build(tmp_path, "endsrightafter", ENDS_RIGHT_AFTER)
    real = Tracer._kill_all

    def slow(self) -> None:  # a busy machine, between the last stop and the clean-up
        time.sleep(0.3)
        real(self)

    monkeypatch.setattr(Tracer, "_kill_all", slow)
    outcome = Tracer([str(program)], [parse_stop(stop)], on_stop=lambda hit: None,
                     deadline=20).run()
    assert outcome.reached == [stop] and not outcome.ended_after_last_stop
    main = outcome.processes[outcome.pid]
    assert not main.killed_by_us and os.WIFEXITED(main.status), main.status
    assert os.WEXITSTATUS(main.status) == 7
