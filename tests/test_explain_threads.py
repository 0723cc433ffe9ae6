"""roads explain's tracer and the program's threads and vfork children: a trap reported
after its breakpoint was taken out, a child that shares the program's memory, a delay
stop once the main thread has ended, a step over a breakpoint that runs execve, threads
made while the process exits or runs execve. Each program exits on its own; what it
prints says whether the tracer harmed it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from roads.capture.proc import Proc
from roads.explain import session as session_mod
from roads.explain import trace as trace_mod
from roads.explain.syscall_file import read_syscall
from roads.explain.trace import Hit, Outcome, Tracer, parse_stop

pytestmark = [pytest.mark.dot]


@pytest.fixture(autouse=True)
def gcc():
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")


def _run(session):
    return session.capture.variants["default"].runs[0]


def _build(folder: Path, name: str, source: str) -> Path:
    """``source`` compiled as the bugs were found: gcc -O0 -g -pthread."""
    (folder / f"{name}.c").write_text(source)
    subprocess.run(["gcc", "-O0", "-g", "-pthread", "-o", str(folder / name),
                    str(folder / f"{name}.c")], check=True, timeout=60)
    return folder / name


THREADS_TRAP = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

void work(int i) { void *p = malloc(64 + i); usleep(100); free(p); }

static void *run(void *arg) { for (int i = 0; i < 200; i++) work(i); return arg; }

/* raise_trap(pid, tid): tgkill(pid, tid, SIGTRAP) by a syscall instruction whose last
   byte is trap_end's first, so that the signal is reported where an int3 at trap_end
   would report it (rip - 1 == trap_end). Called itself, trap_end is
   add $0x90909090, %eax; ret. */
void raise_trap(long pid, long tid);
void trap_end(void);
__asm__(".globl raise_trap, trap_end\n"
        ".type raise_trap, @function\n.type trap_end, @function\n"
        "raise_trap:\n\tmovl $5, %edx\n\tmovl $234, %eax\n\t.byte 0x0f\n"
        "trap_end:\n\t.byte 0x05\n\t.long 0x90909090\n\tret\n"
        ".size raise_trap, .-raise_trap\n.size trap_end, .-trap_end\n");

static volatile sig_atomic_t traps;
static void count(int sig) { (void)sig; traps++; }

int main(void)
{
    signal(SIGTRAP, count);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, run, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    trap_end();
    raise_trap(getpid(), syscall(SYS_gettid));
    raise(SIGTRAP);
    printf("joined, %d traps\n", traps);
    return 0;
}
"""


def test_threads_that_ran_into_a_breakpoint_taken_out_are_not_killed(tmp_path, no_leftovers):
    """Four threads call work(); at its 50th call the breakpoint is taken out, while other
    threads had run into its int3 already: their SIGTRAP, reported after, was delivered
    to the program, which was killed by it ("was killed by SIGTRAP", nothing printed),
    or, as this one handles SIGTRAP, ran on from the middle of an instruction (SIGSEGV).
    The SIGTRAPs the program sends itself are still its own, also one reported where
    a breakpoint was taken out (raise_trap at trap_end)."""
    (tmp_path / "threads.c").write_text(THREADS_TRAP)
    for wheres in (["work:50", "trap_end", "exit"], ["usleep", "exit"]):
        s = session_mod.explain_program([str(tmp_path / "threads.c")], wheres)
        assert s.ending == "exited with status 0", wheres
        assert s.complete, f"{s.ending} before reaching {', '.join(s.missing)}"
        assert _run(s).stdout == "joined, 2 traps\n", wheres



# Four threads call both() at once, 300 times each; its first instruction (a nop) is
# neither emulated nor a system call: each call is a single step.
SAME_BREAKPOINT = r"""
#include <pthread.h>
#include <stdio.h>

__asm__(".text\n.globl both\n.type both,@function\n"
        "both:\n\tFIRST\n\tmov $39, %eax\n\tsyscall\n\tret\n.size both,.-both\n");
long both(void);

static pthread_barrier_t barrier;
static long calls[4];

static void *run(void *arg)
{
    long i = (long)arg;
    for (int k = 0; k < 300; k++) {
        pthread_barrier_wait(&barrier);
        calls[i] += both() > 0;
    }
    return NULL;
}

int main(void)
{
    pthread_t threads[4];
    pthread_barrier_init(&barrier, NULL, 4);
    for (long i = 0; i < 4; i++)
        pthread_create(&threads[i], NULL, run, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    printf("%ld calls\n", calls[0] + calls[1] + calls[2] + calls[3]);
    return 0;
}
"""


def test_threads_stepping_over_one_breakpoint_at_once(tmp_path, no_leftovers):
    """Threads that ran into one int3 together are stepped over it one after another's
    trap, the steps under way at once: the first step's end puts the int3 back, and the
    next thread, its step begun but its instruction not yet run, stops at the int3
    instead. Taken for the step's own trap, it ran on from the middle of the instruction
    (SIGILL); it steps again. No call is counted twice (one may pass unseen while
    another thread's step has the original byte in: under load, some do)."""
    binary = _build(tmp_path, "same_breakpoint", SAME_BREAKPOINT.replace("FIRST", "nop"))
    outcome = Tracer([str(binary)], [parse_stop("both:100000"), parse_stop("exit")],
                     on_stop=lambda hit: None, deadline=60).run()
    assert outcome.stdout == "1200 calls\n"
    assert os.WIFEXITED(outcome.processes[outcome.pid].status)
    assert 0 < outcome.counted["both:100000"] <= 1200


@pytest.mark.parametrize("first", [
    "test %rdi, %rdi",         # glibc's free
    "sub $0xd8, %rsp\\n\\tadd $0xd8, %rsp",  # glibc's printf
    "cmpb $0, flag(%rip)",     # glibc's read and write (__libc_single_threaded)
    "xor %esi, %esi",
    "mov flag(%rip), %rcx",    # glibc's strtol, _IO_iter_begin
    "cmpq $0, flag(%rip)",     # glibc's endprotoent
    "lea 8(%rsp,%rdi,2), %rcx",
    "jmp 1f\\n1:",             # a function that is another's other name
])
def test_threads_at_one_breakpoint_on_an_instruction_carried_out_are_all_counted(
        tmp_path, first, no_leftovers):
    """A function that begins with test, sub, cmp, xor, a load from its object's data,
    lea or jmp had its breakpoint passed by a single step, the original byte put back meanwhile: another thread that called it
    then went by unseen, and four threads calling it at once left calls uncounted (the
    page's "Every call counts" was not true of them). Carried out by the tracer
    (``emulate``), the int3 stays: every one of the 1,200 calls is counted, and the
    program computes as before (the flags the instruction set are read by none here,
    but the registers are: tests/test_explain_emulate.py checks the flags)."""
    source = SAME_BREAKPOINT.replace("FIRST", first).replace(
        "long both(void);", "long both(void);\nchar flag;")
    binary = _build(tmp_path, "carried_out", source)
    outcome = Tracer([str(binary)], [parse_stop("both:100000"), parse_stop("exit")],
                     on_stop=lambda hit: None, deadline=60).run()
    assert outcome.stdout == "1200 calls\n"
    assert os.WIFEXITED(outcome.processes[outcome.pid].status)
    assert outcome.counted["both:100000"] == 1200


SHARES_MEMORY = r"""
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

void step(int who) { (void)who; }

int main(void)
{
    pid_t child = vfork();
    if (child == 0) {            /* in the parent's memory, breakpoints and all */
        step(1);
        step(1);
        write(1, "vfork child\n", 12);
        execl("/bin/echo", "echo", "hi from child", (char *)0);
        _exit(127);
    }
    waitpid(child, NULL, 0);
    char *argv[] = {"echo", "spawned", NULL};  /* clone(CLONE_VM | CLONE_VFORK), execve */
    if (posix_spawn(&child, "/bin/echo", NULL, NULL, argv, environ) == 0)
        waitpid(child, NULL, 0);
    step(2);
    printf("parent done\n");
    return 0;
}
"""


def test_a_child_that_shares_the_memory_runs_free_past_the_breakpoints(tmp_path, no_leftovers):
    """A vfork or posix_spawn child, not followed, was let go with its parent's int3 bytes
    in the memory they share: it died of SIGTRAP at the first breakpoint it ran into
    (step, execve), and printed nothing. It runs free now: its calls count for no stop,
    its system calls are no syscall stops, and the parent's stops are where they were."""
    source = tmp_path / "shares_memory.c"
    source.write_text(SHARES_MEMORY)
    printed = "vfork child\nhi from child\nspawned\nparent done\n"
    s = session_mod.explain_program([str(source)], ["step", "syscall:write", "exit"])
    run = _run(s)
    assert (s.ending, run.stdout) == ("exited with status 0", printed)
    assert [(c.name, c.pid) for c in run.checkpoints] == [
        ("step", run.pid), ("syscall:write", run.pid), ("exit", run.pid)]
    s = session_mod.explain_program([str(source)], ["main", "execve", "exit"])
    run = _run(s)
    assert (s.ending, run.stdout) == ("exited with status 0", printed)
    assert s.missing == ["execve"]  # called by the children alone, which run free
    # Followed, the children's execve is theirs to stop at, the vfork child's first.
    s = session_mod.explain_program([str(source)], ["execve", "exit"], follow_fork=True)
    run = _run(s)
    assert s.complete and run.stdout == printed
    assert run.checkpoints[0].name == "execve" and run.checkpoints[0].pid != run.pid


MAIN_THREAD_ENDS = r"""
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static void *late(void *arg)
{
    for (int i = 0; i < 20; i++)
        usleep(100000);
    exit(0);
    return arg;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, late, NULL);
    pthread_exit(NULL);
}
"""


def test_a_delay_stops_a_program_whose_main_thread_has_ended(tmp_path, no_leftovers):
    """main() ends by pthread_exit, another thread runs 2 s: the delay's SIGSTOP went to
    the main thread alone, which, ended, never took it, and the run said the program
    "exited with status 0 before reaching 0.5s". The tracer is run here with a callback
    that reads nothing: where the main thread has ended, /proc/PID shows no memory for
    a capture to read (it is the thread group's, seen through a thread that runs)."""
    binary = _build(tmp_path, "main_thread_ends", MAIN_THREAD_ENDS)
    hits: list[Hit] = []
    tracer = Tracer([str(binary)], [parse_stop("0.5s")], on_stop=hits.append, deadline=10.0)
    outcome = tracer.run()
    assert [(h.label, h.pid) for h in hits] == [("0.5s", outcome.pid)]
    assert outcome.ended_after_last_stop and not outcome.timed_out


def test_a_stop_after_the_main_thread_ended_is_read_through_another_thread(tmp_path,
                                                                           no_leftovers):
    """The same program through the command: /proc/PID shows no memory once the main
    thread has ended, and the reading failed ("process N exited while reading
    /proc/N/smaps", then an error saying the stop could not be read), though the
    process ran on. Its memory is read through the thread still running: the stop is
    the process's, with its areas (the program's own file among them)."""
    binary = _build(tmp_path, "main_thread_ends", MAIN_THREAD_ENDS)
    session = session_mod.explain_program([str(binary)], ["0.5s", "exit"], deadline=10.0)
    run = session.capture.variants["default"].runs[0]
    stopped, ended = run.checkpoints
    assert (stopped.name, stopped.pid, ended.name, ended.pid) == ("0.5s", run.pid, "exit", run.pid)
    assert any(r.pathname == str(binary) for r in stopped.regions)
    assert stopped.status.Pid != run.pid  # the lines of the thread it was read through


def test_the_exit_stop_is_the_processs_exit_not_its_main_threads(tmp_path, no_leftovers):
    """main() ends by pthread_exit 2 s before the process exits: the exit stop was taken
    at the main thread's end, first, before the delay's; it is the last thread's now,
    read through it."""
    binary = _build(tmp_path, "main_thread_ends", MAIN_THREAD_ENDS)
    session = session_mod.explain_program([str(binary)], ["0.5s", "exit"], deadline=10.0)
    run = session.capture.variants["default"].runs[0]
    assert [c.name for c in run.checkpoints] == ["0.5s", "exit"]
    ended = run.checkpoints[-1]
    assert ended.pid == run.pid and ended.status.Pid != run.pid  # read through the thread


FORKS_DURING_A_STOP = r"""
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

void foo(void) {}

static void *once(void *arg)
{
    usleep(20000);
    foo();                              /* the stop: its breakpoint is taken out then */
    return arg;
}

int main(void)
{
    pthread_t t;
    int killed = 0;
    pthread_create(&t, NULL, once, NULL);
    for (int i = 0; i < 150; i++) {     /* forks while the tracer handles that stop */
        pid_t child = fork();
        if (child == 0) {
            usleep(30000);
            foo();                      /* the copy's int3 kills it if still there */
            _exit(0);
        }
        usleep(2000);
    }
    for (int status; wait(&status) > 0;)
        killed += WIFSIGNALED(status);
    pthread_join(t, NULL);
    printf("killed %d\n", killed);
    return 0;
}
"""


def test_a_child_forked_while_a_breakpoint_is_taken_out_keeps_none(tmp_path, no_leftovers):
    """A fork made while the tracer takes a breakpoint out (another thread's last hit,
    read slowly) may copy the int3: the child, not followed, was let go with it, and
    died of SIGTRAP when it called the function."""
    import time

    binary = _build(tmp_path, "forks_during_a_stop", FORKS_DURING_A_STOP)
    tracer = Tracer([str(binary)], [parse_stop("foo"), parse_stop("exit")],
                    on_stop=lambda hit: time.sleep(0.1), deadline=30.0)
    outcome = tracer.run()
    assert "killed 0" in outcome.stdout, outcome.stdout


THREADS_THEN_EXIT = r"""
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static void *idle(void *arg) { for (;;) pause(); return arg; }

int main(void)
{
    pthread_t t;
    for (int i = 0; i < 4; i++)
        pthread_create(&t, NULL, idle, NULL);
    exit(0);
}
"""


def test_the_exit_stop_of_threads_killed_before_their_first_stop(tmp_path, no_leftovers):
    """exit() right after pthread_create: a new thread, killed by the exit_group before
    it ran, makes its exit event its first stop; it counts towards the process's exit
    like any thread's (it was resumed unseen, and the exit stop was missed about one run
    in six: "exited with status 0 before reaching exit")."""
    binary = _build(tmp_path, "threads_then_exit", THREADS_THEN_EXIT)
    for _ in range(12):
        session = session_mod.explain_program([str(binary)], ["exit"], deadline=10.0)
        run = session.capture.variants["default"].runs[0]
        assert [c.name for c in run.checkpoints] == ["exit"]


# doexec: a function whose first instruction is a system call, so that the step over its
# breakpoint runs the call; the caller sets its number and arguments.
DOEXEC = r"""
void doexec(void);
__asm__(".globl doexec\n.type doexec, @function\ndoexec:\n\tsyscall\n\tret\n"
        ".size doexec, .-doexec\n");
"""


THREADS_EXEC = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

""" + DOEXEC + r"""
static long call(long number, char *path, char **argv)
{
    long ret;
    __asm__ volatile("call doexec" : "=a"(ret) : "a"(number), "D"(path), "S"(argv), "d"(0L)
                     : "rcx", "r11", "memory");
    return ret;
}

static char *again[] = {"threads_exec", "again", NULL};
static char *true_[] = {"/bin/true", NULL};

static void *run(void *arg)
{
    usleep(1000);
    printf("execve failed: %ld\n", call(59, true_[0], true_));
    return arg;
}

static void *wait_ever(void *arg) { for (;;) pause(); return arg; }

int main(int argc, char **argv)
{
    pthread_t t, w;
    if (strcmp(argv[1], "again") == 0) {       /* the new image, which calls doexec */
        printf("again, pid %ld\n", call(39, NULL, NULL));  /* getpid */
        return 0;
    }
    /* more threads, which wait for ever: one ("waiting") or as many as argv[2] says */
    for (int i = argc > 2 ? (atoi(argv[2]) > 1 ? atoi(argv[2]) : 1) : 0; i > 0; i--)
        pthread_create(&w, NULL, wait_ever, NULL);
    if (strcmp(argv[1], "alone") == 0) {       /* the main thread runs execve */
        printf("execve failed: %ld\n", call(59, "/proc/self/exe", again));
        return 1;
    }
    pthread_create(&t, NULL, run, NULL);       /* another thread runs it */
    if (strcmp(argv[1], "gone") == 0)          /* the main thread ended before */
        pthread_exit(NULL);
    pthread_join(t, NULL);                     /* "joined": the main thread waits */
    return 1;
}
"""


@pytest.mark.parametrize("who", ["alone", "gone", "joined"])
def test_a_step_over_a_breakpoint_that_runs_execve_ends_as_the_program_ran_another(
        tmp_path, no_leftovers, who):
    """At doexec:2 the first call is counted and stepped over, its instruction an execve.
    Run by the main thread (alone), the int3 was put back in the new image, whose call of
    doexec it then killed (SIGTRAP); as the main thread steps over any instruction while
    another thread runs execve. Run by another thread once the main one had ended
    (gone), the step's wait for it ended the run with ChildProcessError: the execve took
    its id away, giving it the main one's. Run by another thread while the main one
    waits (joined), the execve waited for the main thread to end, which roads explain
    held in its exit stop unseen, until the deadline. Each ends as the program ran
    another, its exit its own."""
    program = _build(tmp_path, "threads_exec", THREADS_EXEC)
    outcome = Tracer([str(program), who], [parse_stop("doexec:2")], on_stop=lambda hit: None,
                     deadline=5.0).run()
    _ran_another(outcome, program, who)


@pytest.mark.parametrize("who", ["alone", "gone", "joined"])
def test_a_step_over_execve_reaps_the_threads_the_execve_ends(tmp_path, no_leftovers, who):
    """The same, with one more thread, which waits for ever (pause). The execve kills it
    and waits until it is gone, which for a traced thread other than the main one is
    once its tracer has reaped it (kernel/exit.c, __exit_signal, counts it out for
    de_thread only then). The step's wait took the exit stops of the other threads but
    left their ends to the loop, which was waiting for that step: the execve never
    returned, and the run was killed at the deadline (timed out), whichever thread ran
    it. Each ends as the program ran another."""
    program = _build(tmp_path, "threads_exec", THREADS_EXEC)
    outcome = Tracer([str(program), who, "waiting"], [parse_stop("doexec:2")],
                     on_stop=lambda hit: None, deadline=5.0).run()
    _ran_another(outcome, program, who)


@pytest.mark.parametrize("who", ["gone", "joined", "alone"])
@pytest.mark.parametrize("threads", [(), ("waiting",)])
def test_the_threads_an_execve_kills_are_not_the_process_exiting(tmp_path, no_leftovers,
                                                                  who, threads):
    """``--at exit`` stops once, as the new program exits. When a thread other than the
    main one runs execve, the kernel first ends the process's other threads, the main
    one among them (de_thread): roads explain took that end (the main thread's, killed,
    or the waiting thread's once the main one had ended) for the process's exit, and
    stopped there too, in the old program."""
    program = _build(tmp_path, "threads_exec", THREADS_EXEC)
    seen: list[str] = []

    def at(hit: Hit) -> None:
        seen.append(os.readlink(f"/proc/{hit.tid or hit.pid}/exe"))

    outcome = Tracer([str(program), who, *threads], [parse_stop("exit")], on_stop=at,
                     deadline=5.0).run()
    ran = Path(program if who == "alone" else "/bin/true").resolve()
    assert not outcome.timed_out and outcome.reached == ["exit"], outcome.reached
    assert seen == [str(ran)], seen
    assert outcome.processes[outcome.pid].status == 0, outcome.processes


def test_the_threads_an_execve_kills_are_told_apart_in_one_look_each(tmp_path, no_leftovers,
                                                                     monkeypatch):
    """Each thread the execve kills comes to its exit event, and each was checked by
    reading /proc/TID/syscall of every other thread still there until the one in
    execve: reads in the square of the threads (some 800 for 40 threads, the run ten
    times as long as before the check). The thread found in execve is asked first."""
    program = _build(tmp_path, "threads_exec", THREADS_EXEC)
    reads: list[int] = []
    read = trace_mod.read_syscall
    monkeypatch.setattr(trace_mod, "read_syscall",
                        lambda proc, tid: reads.append(tid) or read(proc, tid))
    waiting = 40
    outcome = Tracer([str(program), "joined", str(waiting)], [parse_stop("exit")],
                     on_stop=lambda hit: None, deadline=10.0).run()
    assert not outcome.timed_out and outcome.reached == ["exit"], outcome.reached
    assert outcome.processes[outcome.pid].status == 0, outcome.processes
    # One look over the threads, then one read for each thread killed.
    assert len(reads) <= 3 * waiting, len(reads)


def _ran_another(outcome: Outcome, program: Path, who: str) -> None:
    """``outcome`` is that of THREADS_EXEC run as ``who``, stopped at doexec:2: it ran
    another program, reached no stop, and exited on its own."""
    ran = Path(program if who == "alone" else "/bin/true").resolve()
    assert not outcome.timed_out and outcome.reached == []
    assert outcome.execed["doexec:2"].startswith(f"process {outcome.pid} ran {ran} (execve)"), \
        outcome.execed
    assert outcome.processes[outcome.pid].status == 0, outcome.processes
    assert outcome.stdout == (f"again, pid {outcome.pid}\n" if who == "alone" else "")


THREADS_MADE = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

""" + DOEXEC + r"""
void marker(void) {}

static void *nothing(void *arg) { return arg; }

static void *make(void *arg)                   /* makes threads, one after another */
{
    for (;;) {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) == 0)
            pthread_detach(t);
    }
    return arg;
}

int main(int argc, char **argv)
{
    pthread_t t;
    char *true_[] = {"/bin/true", NULL};
    long ret;
    for (int i = 0; i < 3; i++)
        pthread_create(&t, NULL, make, NULL);
    usleep(20000);
    marker();                                  /* the tracer is slow here: a stop */
    if (strcmp(argv[1], "exit") == 0)
        exit(0);
    if (strcmp(argv[1], "execve") == 0)
        execv(true_[0], true_);
    __asm__ volatile("call doexec" : "=a"(ret) : "a"(59L), "D"(true_[0]), "S"(true_), "d"(0L)
                     : "rcx", "r11", "memory");
    printf("execve failed: %ld\n", ret);
    return 1;
}
"""


@contextmanager
def _within(seconds: int):
    """TimeoutError in this (the main) thread if the block runs longer than ``seconds``:
    a tracer that waits for ever is ended that way, its clean-up run."""
    def late(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    before = signal.signal(signal.SIGALRM, late)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)


def _made_while_ending(program: Path, how: str, stops: list[str]):
    """THREADS_MADE run as ``how``, stopped at ``stops``; its stop at marker read slowly,
    while three threads make more."""
    def on_stop(hit: Hit) -> None:
        if hit.label == "marker":
            time.sleep(0.3)

    with _within(20):
        return Tracer([str(program), how], [parse_stop(w) for w in stops], on_stop=on_stop,
                      deadline=5.0).run()


@pytest.mark.parametrize("how", ["exit", "execve"])
def test_a_thread_killed_before_its_maker_told_of_it_does_not_hold_its_process(
        tmp_path, no_leftovers, how):
    """Threads make threads while the process ends (exit_group) or runs another program
    (execve): one that has made a thread and waits, stopped at its event, for the tracer
    (busy with another stop) is killed there, and that event never comes; the thread it
    made, killed before it ran, makes its exit stop its first. Seen before its maker's
    event, that stop was held for it, for ever: the execve, which waits until each
    thread has ended, hung until the deadline; the exit, whose SIGKILL is ignored by a
    process already exiting, hung past it, the run never ended. It is taken at once."""
    program = _build(tmp_path, "threads_made", THREADS_MADE)
    outcome = _made_while_ending(program, how, ["marker", "exit"])
    assert not outcome.timed_out and outcome.reached[:2] == ["marker", "exit"], outcome
    assert outcome.processes[outcome.pid].status == 0, outcome.processes


def test_a_step_over_execve_takes_the_threads_made_during_it(tmp_path, no_leftovers):
    """THREADS_MADE steps over its execve (doexec:2, its first call counted) while three
    threads make more. The step's wait took none of their events: a thread made during
    the step, its first stop unseen, is killed by the execve, which waits until it has
    ended, and it was no thread the step's wait looked at (those it traced): the run
    hung until the deadline. A step is no longer waited for alone: the loop takes every
    event while it is under way."""
    program = _build(tmp_path, "threads_made", THREADS_MADE)
    outcome = _made_while_ending(program, "step", ["marker", "doexec:2", "exit"])
    assert not outcome.timed_out and outcome.reached[0] == "marker", outcome
    assert outcome.execed["doexec:2"].startswith(f"process {outcome.pid} ran "), outcome.execed
    assert outcome.processes[outcome.pid].status == 0, outcome.processes


VFORK_EXEC = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

""" + DOEXEC + r"""
static long call(long number, char *path, char **argv)
{
    long ret;
    __asm__ volatile("call doexec" : "=a"(ret) : "a"(number), "D"(path), "S"(argv), "d"(0L)
                     : "rcx", "r11", "memory");
    return ret;
}

static char *true_[] = {"/bin/true", NULL};

int main(void)
{
    pid_t child = vfork();
    if (child == 0) {                            /* runs execve in its parent's memory */
        call(59, true_[0], true_);
        _exit(127);
    }
    waitpid(child, NULL, 0);
    printf("pid %ld\n", call(39, NULL, NULL));   /* getpid, twice */
    printf("pid %ld\n", call(39, NULL, NULL));
    return 0;
}
"""


def test_a_vfork_childs_step_over_execve_keeps_its_parents_breakpoint(tmp_path, no_leftovers):
    """A vfork child, not followed, is carried past the breakpoints in the memory it shares
    with its parent (``Tracer._shadow``): the original byte put back, one step, the int3
    again. Its step over doexec runs execve, after which the child has a memory of its
    own, where the int3 is not put back; the memory it left is its parent's alone, and
    gets it back (``Tracer._back_in_memory``): without it the parent's two calls of doexec
    ran unseen (doexec:2 never reached)."""
    program = _build(tmp_path, "vfork_exec", VFORK_EXEC)
    outcome = Tracer([str(program)], [parse_stop("doexec:2")], on_stop=lambda hit: None,
                     deadline=5.0).run()
    assert outcome.reached == ["doexec:2"], outcome


def test_a_followed_vfork_childs_step_over_execve_keeps_its_parents_breakpoint(
        tmp_path, no_leftovers):
    """As above, the child followed (--follow-fork): the memory it left was given back
    the int3 only where the child was not followed, and the parent's two calls of
    doexec ran unseen (doexec:3 never reached)."""
    program = _build(tmp_path, "vfork_exec", VFORK_EXEC)
    tracer = Tracer([str(program)], [parse_stop("doexec:3")], on_stop=lambda hit: None,
                    follow_fork=True, deadline=5.0)
    outcome = tracer.run()
    assert outcome.reached == ["doexec:3"], outcome
    assert not tracer.memories and not tracer.memory  # nothing kept of the ended processes


CALL = r"""
static long call(long number, const char *path, char **argv)
{
    long ret;
    __asm__ volatile("call doexec" : "=a"(ret) : "a"(number), "D"(path), "S"(argv), "d"(0L)
                     : "rcx", "r11", "memory");
    return ret;
}
"""

# The parent makes a CLONE_VM child, which waits for the parent's execve (the end of an
# O_CLOEXEC pipe), then runs this program again ("again": one getpid through doexec);
# and a fork child, whose two stops at slow keep the tracer busy meanwhile, so that the
# parent's exec event is taken before the CLONE_VM child's.
EXEC_BESIDE_A_SHARER = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
""" + DOEXEC + CALL + r"""
__attribute__((noinline)) void slow(void) { __asm__ volatile(""); }
static int fds[2];
static char self[4096];
static int child(void *arg)
{
    char byte;
    close(fds[1]);
    read(fds[0], &byte, 1);
    char *argv[] = {self, "again", NULL};
    execv(self, argv);
    _exit(127);
    return arg != 0;
}
int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "again") == 0) {
        printf("again %ld\n", call(39, NULL, NULL) > 0);
        return 0;
    }
    if (argc > 1)
        return 0;
    if (readlink("/proc/self/exe", self, sizeof self - 1) < 0 || pipe2(fds, O_CLOEXEC))
        return 1;
    char *stack = malloc(1 << 20);
    clone(child, stack + (1 << 20), CLONE_VM | SIGCHLD, 0);
    if (fork() == 0) {
        close(fds[1]);
        slow();
        slow();
        _exit(0);
    }
    usleep(200000);
    char *done[] = {self, "done", NULL};
    call(59, self, done);
    return 127;
}
"""


def test_a_breakpoint_is_put_back_in_the_memory_left_not_in_a_new_program(
        tmp_path, no_leftovers):
    """The parent's step over doexec runs execve; the memory it leaves is its CLONE_VM
    child's, or was: the child has run execve too, its event not yet taken. The int3
    was put back through the child's /proc/PID/mem, which is its new program's by then
    (the same file, at the same address): the child died of SIGTRAP there. It is put
    back through the step's own /proc/TID/mem, bound to the memory left (no process
    has it any more here: nothing is written)."""
    program = _build(tmp_path, "exec_beside", EXEC_BESIDE_A_SHARER)
    outcome = Tracer([str(program)], [parse_stop(s) for s in ("doexec:100", "slow:1", "slow:2",
                                                              "exit")],
                     on_stop=lambda hit: hit.label.startswith("slow") and time.sleep(1),
                     follow_fork=True, deadline=20).run()
    assert "again 1" in outcome.stdout.splitlines(), outcome
    assert all(os.WIFEXITED(e.status) and os.WEXITSTATUS(e.status) == 0
               for e in outcome.processes.values()), outcome.processes


# A CLONE_VM child, followed, waits for its parent's execve (an O_CLOEXEC pipe), then
# calls getpid through doexec three times in the memory the parent left; the parent's
# execve is made through doexec by a thread other than its main one.
EXEC_FROM_A_THREAD = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
""" + DOEXEC + CALL + r"""
static int fds[2];
static int child(void *arg)
{
    char byte;
    close(fds[1]);
    read(fds[0], &byte, 1);
    usleep(300000);
    long a = call(39, NULL, NULL), b = call(39, NULL, NULL), c = call(39, NULL, NULL);
    printf("child %d\n", a > 0 && a == b && b == c);
    fflush(stdout);
    _exit(0);
    return arg != 0;
}
static void *execs(void *arg)
{
    static char *argv[] = {"/bin/true", NULL};
    call(59, argv[0], argv);
    return arg;
}
int main(void)
{
    if (pipe2(fds, O_CLOEXEC))
        return 1;
    char *stack = malloc(1 << 20);
    clone(child, stack + (1 << 20), CLONE_VM | SIGCHLD, 0);
    pthread_t thread;
    pthread_create(&thread, NULL, execs, NULL);
    pthread_join(thread, NULL);
    return 127;
}
"""


def test_a_threads_step_over_execve_keeps_the_breakpoint_in_the_memory_left(
        tmp_path, no_leftovers):
    """As above, the execve run by a thread other than the main one: its exec event
    comes under the main one's id, where the step ended without the int3 put back in
    the memory the CLONE_VM child goes on with; the child's three calls went unseen
    (one counted of four)."""
    program = _build(tmp_path, "exec_from_thread", EXEC_FROM_A_THREAD)
    outcome = Tracer([str(program)], [parse_stop("doexec:100"), parse_stop("exit")],
                     on_stop=lambda hit: None, follow_fork=True, deadline=20).run()
    assert "child 1" in outcome.stdout.splitlines(), outcome
    assert outcome.counted["doexec:100"] == 4, outcome.counted


# A thread forks while the main thread is held at the stop foo:1, whose int3 is taken
# out after the copy was made; the child opens a library (the loader's report: a
# change of the libraries), then calls foo.
FORK_DURING_A_STOP_THEN_OPEN = r"""
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
__attribute__((noinline)) int foo(int x) { __asm__ volatile(""); return x + 1; }
static void *forker(void *arg)
{
    usleep(300000);
    pid_t child = fork();
    if (child == 0) {
        void *lib = dlopen("libm.so.6", RTLD_NOW);
        printf("child %d %d\n", foo(1), lib != 0);
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("child status %d\n", status);
    return arg;
}
int main(void)
{
    pthread_t thread;
    pthread_create(&thread, NULL, forker, NULL);
    usleep(100000);
    printf("main %d\n", foo(5));
    fflush(stdout);
    pthread_join(thread, NULL);
    return 0;
}
"""


def test_an_int3_a_forks_copy_kept_is_still_known_after_a_library_change(
        tmp_path, no_leftovers):
    """The child's copy of the memory holds the int3 at foo that its parent took out
    after the copy was made (its stop reached, held a second meanwhile). At the child's
    dlopen, the entry of that int3 was forgotten as if its code were gone (the byte
    there is not the original one: it is the int3), and the child's call of foo died
    of SIGTRAP. A taken-out entry whose int3 is still there is kept."""
    program = _build(tmp_path, "fork_during_stop", FORK_DURING_A_STOP_THEN_OPEN)
    outcome = Tracer([str(program)], [parse_stop("foo:1"), parse_stop("bar"), parse_stop("exit")],
                     on_stop=lambda hit: hit.label == "foo:1" and time.sleep(1),
                     follow_fork=True, deadline=20).run()
    lines = outcome.stdout.splitlines()
    assert "child 2 1" in lines and "child status 0" in lines, outcome


# A thread killed by seccomp as it calls getpid. argv[1] says how: a filter
# (Documentation/userspace-api/seccomp_filter.rst) that returns SECCOMP_RET_KILL_THREAD
# ("thread": that thread alone ends, the kernel calling do_exit(SIGSYS) in it,
# kernel/seccomp.c) or SECCOMP_RET_KILL_PROCESS ("process": a SIGSYS no handler takes,
# which ends the process), or strict mode ("strict": only read, write, exit and
# sigreturn allowed, the thread alone ends, by do_exit(SIGKILL)). Without
# SECCOMP_FILTER_FLAG_TSYNC the filter, as strict mode, is the calling thread's (and of
# the threads it makes later), not the others'. Who calls getpid is argv[2]: a thread
# made for it ("thread"), which main joins, or main itself ("main"), after it made a
# thread that runs on.
SECCOMP_KILLS = r"""
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static unsigned action;
static int strict;

static void killed_at_getpid(void)
{
    if (strict) {
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0);
        syscall(SYS_getpid);
    }
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, action),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof code / sizeof code[0], code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        perror("seccomp");
        exit(99);
    }
    syscall(SYS_getpid);
}

static void *victim(void *arg) { killed_at_getpid(); return arg; }

static void *survivor(void *arg)
{
    usleep(200000);
    printf("survivor done\n");
    exit(3);
    return arg;
}

int main(int argc, char **argv)
{
    pthread_t t;
    action = strcmp(argv[1], "process") == 0 ? SECCOMP_RET_KILL_PROCESS
                                               : SECCOMP_RET_KILL_THREAD;
    strict = strcmp(argv[1], "strict") == 0;
    if (strcmp(argv[2], "main") == 0) {
        pthread_create(&t, NULL, survivor, NULL);
        killed_at_getpid();
        return 1;
    }
    pthread_create(&t, NULL, victim, NULL);
    pthread_join(t, NULL);            /* its tid cleared as it ends, however it ends */
    usleep(200000);
    printf("main done\n");
    return 3;
}
"""

SYS_EXIT_GROUP = 231  # the call exit() makes, x86-64's table


def _run_seccomp_kills(folder: Path, action: str, who: str) -> tuple[Outcome, list[int | None]]:
    """SECCOMP_KILLS run to ``--at exit``: its outcome, and at each exit stop the system
    call the stopped thread is in (/proc/TID/syscall: where it ends)."""
    program = _build(folder, "seccomp_kills", SECCOMP_KILLS)
    calls: list[int | None] = []

    def at(hit: Hit) -> None:
        calls.append(read_syscall(Proc(), hit.tid or hit.pid).nr)

    outcome = Tracer([str(program), action, who], [parse_stop("exit")], on_stop=at,
                     deadline=10.0).run()
    return outcome, calls


@pytest.mark.parametrize("who", ["thread", "main"])
@pytest.mark.parametrize("how", ["thread", "strict"])
def test_a_thread_seccomp_kills_alone_is_not_the_process_exiting(tmp_path, no_leftovers,
                                                                  how, who):
    """SECCOMP_RET_KILL_THREAD, or strict mode, ends the thread that made the call, the
    others running on; the process exits later, by exit(3). ``--at exit`` stopped at the
    killed thread's end (in getpid), taking it for the process's, and not at the
    process's exit after: the memory drawn was that of a process still running. It
    stops once, in the exit_group exit() makes, whether the thread killed is main's or
    another."""
    outcome, calls = _run_seccomp_kills(tmp_path, how, who)
    assert outcome.reached == ["exit"] and calls == [SYS_EXIT_GROUP], calls
    status = outcome.processes[outcome.pid].status
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3, status
    assert outcome.stdout == f"{'survivor' if who == 'main' else 'main'} done\n"


@pytest.mark.parametrize("who", ["thread", "main"])
def test_a_seccomp_filter_that_kills_the_process_ends_it(tmp_path, no_leftovers, who):
    """SECCOMP_RET_KILL_PROCESS ends every thread: the exit stop is the process's, made
    once, and the process ends killed by SIGSYS, before any thread prints."""
    outcome, calls = _run_seccomp_kills(tmp_path, "process", who)
    assert outcome.reached == ["exit"] and len(calls) == 1, calls
    status = outcome.processes[outcome.pid].status
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS, status
    assert outcome.stdout == ""


PLUGGED = "int plugged(int x) { return x + 1; }\n"

# main ends by pthread_exit; the thread it made waits until it has ended (main's thread
# may be joined: the kernel clears its tid as it exits), then opens a library with
# dlopen and calls a function of it.
OPENS_AFTER_MAIN = r"""
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_t main_thread;
static const char *library;

static void *late(void *arg)
{
    pthread_join(main_thread, NULL);
    void *handle = dlopen(library, RTLD_NOW);
    int (*plugged)(int) = handle ? (int (*)(int))dlsym(handle, "plugged") : NULL;
    printf("plugged(1) = %d\n", plugged ? plugged(1) : -1);
    exit(0);
    return arg;
}

int main(int argc, char **argv)
{
    pthread_t t;
    main_thread = pthread_self();
    library = argv[1];
    pthread_create(&t, NULL, late, NULL);
    pthread_exit(NULL);
}
"""


def test_a_library_opened_after_the_main_thread_ended_is_searched(tmp_path, no_leftovers):
    """The function stop is in a library the program opens once main has ended
    (pthread_exit): the lookup in it read /proc/PID/maps, where the process shows no
    memory then, and the run ended with a traceback ("process N exited while reading
    /proc/N/maps"), the process running on. It is read through the thread that opened
    it, and the stop made there."""
    program = _build(tmp_path, "opens_after_main", OPENS_AFTER_MAIN)
    (tmp_path / "plugged.c").write_text(PLUGGED)
    library = tmp_path / "libplugged.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(tmp_path / "plugged.c")],
                   check=True, timeout=60)
    outcome = Tracer([str(program), str(library)], [parse_stop("plugged"), parse_stop("exit")],
                     on_stop=lambda hit: None, deadline=10.0).run()
    assert outcome.reached == ["plugged", "exit"], outcome.reached
    assert outcome.stdout == "plugged(1) = 2\n"
    assert outcome.processes[outcome.pid].status == 0, outcome.processes


def test_where_a_cmpb_reads_is_judged_once_for_its_breakpoint(tmp_path, monkeypatch,
                                                             no_leftovers):
    """Whether the byte a RIP-relative cmpb reads lies in its object's own data was
    judged from /proc/PID/maps at every call: a process with 2,000 mappings ran its
    calls of write() six times slower than with the step it replaced. Its operand's
    address is fixed relative to the instruction: judged once, until breakpoints move."""
    judged = []
    real = Tracer._in_own_data

    def counted(tid, instruction, at, size=1):
        judged.append(instruction)
        return real(tid, instruction, at, size)

    monkeypatch.setattr(Tracer, "_in_own_data", staticmethod(counted))
    source = SAME_BREAKPOINT.replace("FIRST", "cmpb $0, flag(%rip)").replace(
        "long both(void);", "long both(void);\nchar flag;")
    binary = _build(tmp_path, "judged_once", source)
    outcome = Tracer([str(binary)], [parse_stop("both:100000"), parse_stop("exit")],
                     on_stop=lambda hit: None, deadline=60).run()
    assert outcome.counted["both:100000"] == 1200
    assert len(judged) == 1, len(judged)


def test_a_load_is_carried_out_only_where_all_its_bytes_are_the_objects_own_data():
    """A load of several bytes (mov disp32(%rip), %rax) is carried out only where every
    byte lies in one readable mapping of its object: one that runs past the end of the
    mapping is stepped (even into the object's bss, right after: judged as one piece, the
    memory after a mapping may be none, or memory another process serves)."""
    maps = Proc().maps(os.getpid())
    code = next(m for m in maps if "x" in m.perms and m.pathname.endswith("/libc.so.6"))
    data = [m for m in maps if (m.dev, m.inode) == (code.dev, code.inode)
            and "r" in m.perms][-1]
    assert Tracer._in_own_data(os.getpid(), code.start, data.end - 8, 8)
    assert Tracer._in_own_data(os.getpid(), code.start, data.end - 4, 4)
    assert not Tracer._in_own_data(os.getpid(), code.start, data.end - 4, 8)


# get() begins by loading (or comparing) g, its only access to it, whose page main makes
# PROT_NONE after the first call: the second call faults there, and the handler makes it
# readable again.
UNREADABLE_SINCE = r"""
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>

__attribute__((aligned(4096))) int g[1024] = {7};
__asm__(".text\n.globl get\n.type get,@function\n"
        "get:\n\tFIRST\n\tmov $7, %eax\n\tret\n.size get,.-get\n");
int get(void);
static volatile int faults;

static void on_segv(int s)
{
    (void)s;
    faults++;
    mprotect(g, 4096, PROT_READ | PROT_WRITE);
}

int main(void)
{
    signal(SIGSEGV, on_segv);
    int a = get();
    mprotect(g, 4096, PROT_NONE);
    int b = get();
    printf("a=%d b=%d faults=%d\n", a, b, faults);
    return 0;
}
"""


@pytest.mark.parametrize("first", ["mov g(%rip), %ecx", "cmpb $9, g(%rip)"])
def test_a_load_from_a_page_made_unreadable_since_faults_as_it_would(tmp_path, first,
                                                                     no_leftovers):
    """Whether a load's memory is its object's own data is judged once; the tracer then
    read it with PTRACE_PEEKDATA, which reads a page made PROT_NONE since: the second
    call was carried out where the processor faults (faults=0). It is read as the
    thread's own load would be (process_vm_readv), and where it cannot, stepped: the
    call faults, and is counted."""
    binary = _build(tmp_path, "unreadable_since", UNREADABLE_SINCE.replace("FIRST", first))
    outcome = Tracer([str(binary)], [parse_stop("get:100000"), parse_stop("exit")],
                     on_stop=lambda hit: None, deadline=20).run()
    assert outcome.stdout == "a=7 b=7 faults=1\n"
    assert outcome.counted["get:100000"] == 2
