"""roads explain after this session's reviews: the wait for a --pid process's stop, which
had no deadline (a vfork's parent stops only once its child execs or exits); a source
named without a slash, saved from another folder than --root, read there ("cannot
write"); a system call at a breakpoint that a signal cut short and the kernel ran again,
counted as a new call; the reason of an unread stop told twice; and an ELF figure's
refusal after an execve in the site's words ("the sample's own executable")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from roads import cli
from roads.errors import ExplainError
from roads.explain.trace import Tracer, parse_stop
from roads.capture.proc import Proc, Status
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture
from tests.test_explain_losses import MANY
from tests.explain_support import build


def _status(pid: int) -> Status:
    return Proc().status(pid)


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


def test_an_elf_figure_after_an_execve_is_told_in_explains_words(root, tmp_path,
                                                                  no_leftovers):
    """The only stop is after an execve: the ELF figure of the program started cannot be
    drawn, and the page said so in the site's words ("not the sample's own executable");
    it now draws the program run by execve, and says why the other is not drawn."""
    out = tmp_path / "sh.html"
    assert explain(root, "--no-sandbox", "--at", "exit", "--out", str(out), "--", "sh", "-c",
                   "exec sleep 0.2") == 0
    page = out.read_text()
    assert "No stop is in the program started, <code>" in page
    assert "sleep&#x27;s file became regions" not in page  # the path, not the name
    assert "/sleep</code>'s file became regions (the program that its process runs since" in page
    assert "No ELF figure" not in page
    assert "sample&#x27;s" not in page


# ---------------------------------------------------------------------------- --pid

# The parent waits in vfork (state D: no signal but SIGKILL wakes it) until its child
# execs or exits; the child waits for its pipe to close.
VFORK_WAIT = r"""
#include <stdio.h>
#include <unistd.h>
int main(void)
{
    printf("%d\n", getpid());
    fflush(stdout);
    if (vfork() == 0) {
        char c;
        read(0, &c, 1);  /* until the test closes its end */
        _exit(0);
    }
    return 7;
}
"""


@pytest.mark.gcc
def test_a_process_that_does_not_stop_is_let_go_at_the_deadline(gcc, root, tmp_path, capsys,
                                                                  no_leftovers):
    """--pid stops the process with PTRACE_INTERRUPT, whose stop comes only when it next
    leaves the kernel or sleeps where a signal wakes it: a vfork's parent waits for its
    child's exec or exit where none does. The wait for that stop had no deadline (the
    run waited as long as the child did); now --deadline ends it with an error that
    says why, and the process, never stopped, is let go all the same (only its tracer's
    end can: PTRACE_DETACH needs a stopped tracee) and runs on when its child ends."""
    binary = build(tmp_path, "vfork_wait", VFORK_WAIT, "-O0", "-g")
    program = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    # A wait with no deadline would hold the test as long as the child waits: it is
    # ended after a while, whatever happens, and the run then reads the process.
    child_ends = threading.Timer(8.0, program.stdin.close)
    child_ends.start()
    try:
        pid = int(program.stdout.readline())
        deadline = time.monotonic() + 10
        while not _status(pid).State.startswith("D"):  # in vfork, its child running
            assert time.monotonic() < deadline, _status(pid).State
            time.sleep(0.01)
        started = time.monotonic()
        assert explain(root, "--pid", str(pid), "--deadline", "1", "--out",
                       str(tmp_path / "p.html")) == 1
        took = time.monotonic() - started
        err = capsys.readouterr().err
        assert f"process {pid} did not stop within 1 s (--deadline)" in err, err
        assert "D (disk sleep)" in err and "let go unread" in err
        assert 1 <= took < 5
        assert not (tmp_path / "p.html").exists()
        assert _status(pid).TracerPid == 0
        child_ends.cancel()
        program.stdin.close()  # its child ends: it runs on, to its own end
        assert program.wait(timeout=10) == 7
    finally:
        child_ends.cancel()
        program.kill()
        program.wait()
        program.stdout.close()


@pytest.mark.gcc
def test_a_process_stopped_before_it_is_read_is_read_and_left_stopped(root, tmp_path,
                                                                      no_leftovers):
    """A process that a job control stop (SIGSTOP) holds stops for PTRACE_INTERRUPT at
    once (ptrace re-traps a stopped process on PTRACE_SEIZE): it is read, and left as it
    was found, stopped, for whoever stopped it to continue."""
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        os.kill(sleeper.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while not _status(sleeper.pid).State.startswith("T"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.monotonic()
        assert explain(root, "--pid", str(sleeper.pid), "--deadline", "5", "--out",
                       str(tmp_path / "p.html")) == 0
        assert time.monotonic() - started < 5
        status = _status(sleeper.pid)
        assert status.State.startswith("T (stopped)") and status.TracerPid == 0
        os.kill(sleeper.pid, signal.SIGCONT)
        assert not _status(sleeper.pid).State.startswith("T")
    finally:
        sleeper.kill()
        sleeper.wait()


# ---------------------------------------------------------------------------- restarts

# snooze and wait_read begin with the system call itself (the caller sets rax): the
# breakpoint there is passed by a single step of that `syscall`, which blocks. Called
# below the red zone, where -O0 keeps the caller's locals.
RESTARTED = r"""
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

__asm__(".text\n"
        ".globl snooze\n.type snooze,@function\nsnooze:\n\tsyscall\n\tret\n.size snooze,.-snooze\n"
        ".globl wait_read\n.type wait_read,@function\nwait_read:\n\tsyscall\n\tret\n"
        ".size wait_read,.-wait_read\n");
long snooze(void);
long wait_read(void);

static long call(long (*fn)(void), long nr, long a, long b, long c)
{
    register long rdx __asm__("rdx") = c;
    __asm__ volatile("sub $128, %%rsp\n\tcall *%[fn]\n\tadd $128, %%rsp"
                     : "+a"(nr), "+d"(rdx) : "D"(a), "S"(b), [fn] "r"(fn)
                     : "rcx", "r11", "memory");
    return nr;
}

static void handler(int sig) { (void)sig; }

static void alarm_in(int ms, int restart)
{
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    act.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGALRM, &act, NULL);
    struct itimerval timer = {{0, 0}, {ms / 1000, ms % 1000 * 1000}};
    setitimer(ITIMER_REAL, &timer, NULL);
}

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "";
    struct timespec t = {0, 300000000};
    int calls = 0;
    long r;
    if (!strcmp(how, "sigchld")) {  /* no handler: the kernel runs the call again */
        pid_t child = fork();
        if (child == 0) {
            usleep(100000);
            _exit(0);
        }
        calls++, r = call(snooze, 35, (long)&t, 0, 0);
        waitpid(child, NULL, 0);
    } else if (!strcmp(how, "restart")) {  /* SA_RESTART: read(2) is run again */
        int fds[2];
        char c = 0;
        pipe(fds);
        if (fork() == 0) {
            usleep(300000);
            write(fds[1], "x", 1);
            _exit(0);
        }
        alarm_in(100, 1);
        calls++, r = call(wait_read, 0, fds[0], (long)&c, 1);
        wait(NULL);
    } else {  /* a handler without SA_RESTART: EINTR, and the program calls again */
        /* The first call sleeps long enough for the alarm to cut it short however slowly
           a loaded machine brings the traced program to it (with 100 ms and 300 ms, the
           alarm could come first, and the one call sleep its whole time). */
        struct timespec first = {10, 0}, *wait = &first;
        alarm_in(1000, 0);
        do
            calls++, r = call(snooze, 35, (long)wait, 0, 0), wait = &t;
        while (r == -EINTR);
    }
    printf("%d calls, %ld\n", calls, r);
    return 0;
}
"""


# wait_read's step blocks in read(2) until another thread or process of the run writes
# to the pipe; that writer first runs into a breakpoint of its own (mark), 100 ms after
# the step began.
WRITTEN_LATER = r"""
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

__asm__(".text\n.globl wait_read\n.type wait_read,@function\nwait_read:\n\tsyscall\n\tret\n"
        ".size wait_read,.-wait_read\n");
long wait_read(void);

static int fds[2];

__attribute__((noinline)) void mark(void) { __asm__ volatile(""); }

static void *writer(void *arg)
{
    (void)arg;
    usleep(100000);
    mark();
    write(fds[1], "x", 1);
    return NULL;
}

int main(int argc, char **argv)
{
    char c = 0;
    pthread_t thread;
    pipe(fds);
    if (argc > 1 && !strcmp(argv[1], "fork")) {
        if (fork() == 0) {
            writer(NULL);
            _exit(0);
        }
    } else {
        pthread_create(&thread, NULL, writer, NULL);
    }
    register long rdx __asm__("rdx") = 1;
    long nr = 0;  /* SYS_read */
    __asm__ volatile("sub $128, %%rsp\n\tcall wait_read\n\tadd $128, %%rsp"
                     : "+a"(nr), "+d"(rdx) : "D"((long)fds[0]), "S"(&c)
                     : "rcx", "r11", "memory");
    printf("read %ld: %c\n", nr, c);
    if (argc > 1 && !strcmp(argv[1], "fork"))
        wait(NULL);
    else
        pthread_join(thread, NULL);
    return 0;
}
"""


@pytest.mark.gcc
@pytest.mark.parametrize("how", ["thread", "fork"])
def test_the_run_goes_on_while_a_step_over_a_breakpoint_blocks(gcc, tmp_path, no_leftovers,
                                                              how):
    """A step over a breakpoint whose instruction blocks (a read of a pipe) was waited
    for alone, every other event of the run held meanwhile: a thread or a followed
    child that must write to the pipe, held at its own breakpoint, never did, and the
    run hung until the deadline (seen under load with a child not followed, held at its
    first stop). The other events are taken while the step is under way."""
    binary = build(tmp_path, "written_later", WRITTEN_LATER, "-O0", "-pthread")
    hits: list[str] = []
    # wait_read:2 is never reached: its breakpoint stays, stepped over at the one call.
    stops = [parse_stop("wait_read:2"), parse_stop("mark"), parse_stop("exit")]
    tracer = Tracer([str(binary), how], stops, on_stop=lambda hit: hits.append(hit.label),
                    follow_fork=how == "fork", deadline=20.0)
    started = time.monotonic()
    outcome = tracer.run()
    assert not outcome.timed_out and time.monotonic() - started < 10
    assert outcome.stdout == "read 1: x\n"
    assert hits[0] == "mark" and "exit" in hits
    assert os.WIFEXITED(outcome.processes[outcome.pid].status)



# The main thread's first call of wait_read is a step blocked in read(2) until the writer
# thread's first byte, 300 ms on; 100 ms on, while that step is under way, the other
# thread opens and closes a library (dlopen) or runs into mark and forks a child that
# calls wait_read twice more (getpid).
DURING_A_STEP = r"""
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

__asm__(".text\n.globl wait_read\n.type wait_read,@function\nwait_read:\n\tsyscall\n\tret\n"
        ".size wait_read,.-wait_read\n");
long wait_read(void);

static int fds[2];
static int reads;

__attribute__((noinline)) void mark(void) { __asm__ volatile(""); }

static long call(long nr, long a, long b, long c)
{
    register long rdx __asm__("rdx") = c;
    __asm__ volatile("sub $128, %%rsp\n\tcall wait_read\n\tadd $128, %%rsp"
                     : "+a"(nr), "+d"(rdx) : "D"(a), "S"(b) : "rcx", "r11", "memory");
    return nr;
}

static void *writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < reads; i++) {
        usleep(300000);
        write(fds[1], "x", 1);
    }
    return NULL;
}

static void *meanwhile(void *arg)
{
    usleep(100000);
    if (!strcmp(arg, "dlopen")) {
        dlclose(dlopen("libm.so.6", RTLD_NOW));
    } else {
        mark();
        pid_t child = fork();
        if (child == 0) {
            call(39, 0, 0, 0);  /* SYS_getpid */
            call(39, 0, 0, 0);
            _exit(0);
        }
        waitpid(child, NULL, 0);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    char c;
    pthread_t threads[2];
    reads = !strcmp(argv[1], "dlopen") ? 3 : 1;
    pipe(fds);
    pthread_create(&threads[0], NULL, writer, NULL);
    pthread_create(&threads[1], NULL, meanwhile, argv[1]);
    for (int i = 0; i < reads; i++)
        call(0, fds[0], (long)&c, 1);  /* SYS_read */
    pthread_join(threads[0], NULL);
    pthread_join(threads[1], NULL);
    printf("%d read\n", reads);
    return 0;
}
"""


@pytest.mark.gcc
@pytest.mark.parametrize("how", ["dlopen", "fork"])
def test_a_breakpoint_stepped_over_is_kept_through_what_happens_meanwhile(gcc, tmp_path,
                                                                         no_leftovers, how):
    """While a step has the original byte of wait_read in memory, the run goes on. A
    library opened then (dlopen) made the breakpoints whose int3 was not there look
    unmapped with a library, and wait_read's was forgotten: its later calls were not
    counted (``_unmapped``). A child forked then had the original byte in its copy,
    though its breakpoints were taken to be its maker's, and its calls went unseen. Its
    third call is reached either way: in the main thread, or in the followed child."""
    binary = build(tmp_path, "during_a_step", DURING_A_STEP, "-O0", "-pthread", "-ldl")
    # nosuch: a function stop not found, looked for in each library opened later, which
    # is what looks at every breakpoint when the libraries change.
    wheres = ["wait_read:3", "nosuch" if how == "dlopen" else "mark", "exit"]
    hits: list[tuple[str, int]] = []
    outcome = Tracer([str(binary), how], [parse_stop(w) for w in wheres],
                     on_stop=lambda hit: hits.append((hit.label, hit.pid)),
                     follow_fork=how == "fork", deadline=20.0).run()
    assert not outcome.timed_out
    reached = dict(hits)
    assert "wait_read:3" in reached, outcome.counted
    if how == "fork":
        assert reached["wait_read:3"] != outcome.pid  # the child's second call
    assert outcome.stdout == f"{3 if how == 'dlopen' else 1} read\n"


@pytest.mark.gcc
@pytest.mark.parametrize("how, function, calls", [("sigchld", "snooze", 1),
                                                  ("restart", "wait_read", 1),
                                                  ("eintr", "snooze", 2)])
def test_a_system_call_run_again_after_a_signal_is_not_a_new_call(gcc, tmp_path, no_leftovers,
                                                                 how, function, calls):
    """The function's first instruction is a system call, stepped over at its breakpoint.
    A signal cuts it short (-ERESTART...); where no handler runs (SIGCHLD, ignored), or
    one set with SA_RESTART does (read(2)), the kernel sets the thread back onto the
    instruction to run it again: onto the int3 put back, which was counted as a second
    call ("FUNC:2" reached in a program that calls it once). Where a handler makes the
    call fail (EINTR) and the program calls the function again from the same frame, that
    call is a new one, and counted."""
    binary = build(tmp_path, "restarted", RESTARTED, "-O0", "-g")
    hits: list[str] = []
    # exit: the run goes on to the program's end, which says how many calls it made.
    stops = [parse_stop(function), parse_stop(f"{function}:2"), parse_stop("exit")]
    tracer = Tracer([str(binary), how], stops, on_stop=lambda hit: hits.append(hit.label),
                    deadline=20.0)
    outcome = tracer.run()
    assert outcome.stdout.startswith(f"{calls} calls, "), outcome.stdout
    assert hits == [function, f"{function}:2"][:calls] + ["exit"]
    assert os.WIFEXITED(outcome.processes[outcome.pid].status)
