"""roads explain's tracer, after a review: smaller faults, each shown by a run that went
wrong before its fix. A signal due while a breakpoint is stepped over counted the call
twice (or was swallowed, a SIGTRAP). A child that ended with no stop seen left its
bookkeeping to the next process given its pid. A second output pipe that could not be
made left the first one open. PATH set but empty found nothing where a shell finds
./NAME. The end of a run looked for what was left of it every 2 ms. A refused --pid
named Yama where CAP_SYS_PTRACE overrides it, and compared ids the kernel does not.
The timers signalled by pid and group number, reaching a process given the pid since.
Breakpoints less than 8 bytes apart took each other out (ptrace writes 8 bytes)."""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roads.errors import ExplainError
from roads.explain import trace
from roads.explain.command import user_program
from roads.explain.trace import Tracer, parse_stop
from tests.conftest import status_lines
from tests.explain_support import build


# Its first child shares its memory (vfork) and ends with no stop seen; the next is a
# copy given that child's pid again (ns_last_pid), whose own child calls step().
REUSED = r"""
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void step(void) {}
void again(void) {}

int main(void)
{
    pid_t shared = vfork();
    if (shared == 0)
        _exit(0);
    waitpid(shared, NULL, 0);
    again();
    pid_t copy = fork();
    if (copy == 0) {
        pid_t inner = fork();
        if (inner == 0) {
            step();
            _exit(0);
        }
        int status;
        waitpid(inner, &status, 0);
        printf("inner %s\n", WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exited");
        fflush(stdout);
        _exit(0);
    }
    waitpid(copy, NULL, 0);
    printf("%s\n", copy == shared ? "same pid" : "another pid");
    return 0;
}
"""

# Run as pid 1 of a pid namespace of its own, whose next pid it may set. The vfork
# child is killed, its exit stop taken here and its end told to the tracer as the loop
# tells one that ended with no stop seen (the kernel makes none for a thread with a
# SIGKILL pending of its own, one racing an exit_group, say); at again(), the pid it had
# is made the next one given.
NO_STOP_SEEN = r"""
import json, os, signal, sys
from roads.explain import ptrace as pt
from roads.explain.trace import Tracer, parse_stop

gone = []

class EndedUnseen(Tracer):
    def _stopped(self, tid, status):
        child = pt.event_msg(tid) if status >> 16 == pt.PTRACE_EVENT_VFORK else 0
        super()._stopped(tid, status)
        if child and child not in self.traced:  # its first stop not seen yet
            os.kill(child, signal.SIGKILL)
            while True:
                _, end = os.waitpid(child, pt.WALL)
                if not os.WIFSTOPPED(end):
                    break
                pt.call(pt.PTRACE_CONT, child, 0, 0)
            gone.append(child)
            self._ended(child, end)

def on_stop(hit):
    if hit.label == "again" and gone:
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(gone[0] - 1))

tracer = EndedUnseen([sys.argv[1]], [parse_stop("again"), parse_stop("step")],
                     on_stop=on_stop, deadline=20.0)
print(json.dumps({"gone": gone, "stdout": tracer.run().stdout}))
"""


def _in_pid_namespace(script: str, binary: Path) -> dict:
    """The JSON ``script`` prints, run by this Python on ``binary`` in a pid namespace of
    its own (``unshare``: where pids can be made to be given again); skipped where none
    can be made."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare (util-linux)")
    root = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c",
                           script, str(binary)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": root})
    if done.returncode != 0 and "unshare" in done.stderr.split(":")[0]:
        pytest.skip(f"no pid namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.gcc
def test_a_child_ended_unseen_leaves_nothing_a_later_pid_inherits(gcc, tmp_path):
    """A child made with CLONE_VM that ended before its first stop was seen kept its
    entry in Tracer.shares_memory: the next process given its pid, a plain fork (a
    copy of the memory, int3 bytes and all), was taken for a child sharing the memory,
    traced as a shadow with its breakpoints left in, and its own child, never traced,
    died of SIGTRAP in step(). Now it is a copy: its breakpoints taken out, let go."""
    result = _in_pid_namespace(NO_STOP_SEEN, build(tmp_path, "reused", REUSED, "-O0"))
    assert result["gone"], "the vfork child's first stop was seen before its end"
    assert result["stdout"] == "inner exited\nsame pid\n"


def _open_fds() -> set[int]:
    """This process's open file descriptors (less the one the listing itself opens)."""
    listed = {int(fd) for fd in os.listdir("/proc/self/fd")}
    return {fd for fd in listed if os.path.exists(f"/proc/self/fd/{fd}")}


def test_no_descriptor_is_left_when_the_second_pipe_cannot_be_made(no_leftovers):
    """With room for one pipe left (RLIMIT_NOFILE), the run's second output pipe failed
    with EMFILE, an OSError with no word of what it was for, and the first pipe's two
    descriptors stayed open in the tracer's process."""
    before = _open_fds()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    free = [fd for fd in range(soft) if fd not in before][:3]
    if len(free) < 3:
        pytest.skip(f"fewer than 3 descriptors free under RLIMIT_NOFILE {soft}")
    # The lowest free numbers are given first: below free[2] there is room for one pipe.
    resource.setrlimit(resource.RLIMIT_NOFILE, (free[2], hard))
    try:
        with pytest.raises(Exception) as failed:
            Tracer(["/bin/true"], [parse_stop("exit")], on_stop=lambda hit: None,
                   deadline=10.0).run()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert _open_fds() == before
    assert isinstance(failed.value, ExplainError), repr(failed.value)
    assert failed.value.message == ("cannot make a pipe for the program's output: Too many "
                                    "open files")


@pytest.mark.parametrize("path", ["/usr/bin:/bin", "/usr/bin::/bin", "/usr/bin:", ":/usr/bin",
                                  "", "/usr/bin:."],
                         ids=["plain", "empty-between", "trailing", "leading", "set-empty", "dot"])
def test_a_name_is_looked_up_on_path_as_the_shell_does(tmp_path, monkeypatch, path):
    """The shell is the oracle: ``sh -c 'command -v NAME'`` (dash, bash alike). An empty
    entry of PATH is the current folder, for a shell as for execvp; PATH set but empty
    is one such entry, where roads found nothing (shutil.which's choice)."""
    program = tmp_path / "here-only"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", path)
    shell = subprocess.run(["/bin/sh", "-c", "command -v here-only"], capture_output=True,
                           text=True, timeout=30)
    said = shell.stdout.strip() or None
    found = user_program("here-only")
    where = [os.path.realpath(p) if p else None for p in (found, said)]
    assert where[0] == where[1], (found, said)
    assert where[1] in (None, os.path.realpath(program))
    assert (user_program("sh") is None) == ("/bin" not in path.split(":") and
                                            "/usr/bin" not in path.split(":"))


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


def test_a_refused_trace_names_what_the_kernel_checks(tmp_path, monkeypatch):
    """Why ``--pid`` was refused, by what the kernel's attach check compares
    (__ptrace_may_access): this process's real uid and gid against the process's real,
    effective and saved ones (not its fsuid, which named "another user" for a process
    whose fsuid alone differed; its gids were not looked at), whether it is dumpable
    (/proc/PID/status is root's while it is not), and Yama's scope, which CAP_SYS_PTRACE
    overrides at 1 and 2 and an ancestor passes at 1 (it was named all the same)."""
    me, other = os.getpid(), 4242
    mine = {"Uid": "1000\t1000\t1000\t1000", "Gid": "1000\t1000\t1000\t1000",
            "CapEff": "0", "CapPrm": "0"}
    theirs = {**mine, "PPid": "1"}
    statuses = {me: mine, other: theirs, 1: {"PPid": "0"}}
    owners = {other: 1000}
    monkeypatch.setattr(trace, "_status_of", lambda pid: status_lines(statuses.get(pid)))
    monkeypatch.setattr(trace, "_status_owner", lambda pid: owners.get(pid), raising=False)
    yama = tmp_path / "ptrace_scope"
    monkeypatch.setattr(trace, "YAMA_SCOPE", yama)
    kernel = "the kernel refused it ("

    def why(**changes: dict[str, str]) -> str:
        statuses[me] = {**mine, **changes.get("mine", {})}
        statuses[other] = {**theirs, **changes.get("theirs", {})}
        return trace._why_not_traced(other)

    sys_ptrace = {"CapEff": f"{1 << trace.CAP_SYS_PTRACE:x}",
                  "CapPrm": f"{1 << trace.CAP_SYS_PTRACE:x}"}
    for level in ("1", "2"):
        yama.write_text(f"{level}\n")
        assert why(mine=sys_ptrace).startswith(kernel), level
    yama.write_text("3\n")
    assert why(mine=sys_ptrace) == f"{yama} is 3: no process may be traced at all"
    yama.write_text("1\n")
    assert why() == f"{yama} is 1: only a process's ancestors may trace it (or sudo)"
    assert why(theirs={"PPid": str(me)}).startswith(kernel)  # its parent may
    yama.unlink()
    assert why(theirs={"Uid": "1000\t1000\t1000\t0"}).startswith(kernel)  # fsuid alone
    assert why(theirs={"Gid": "100\t100\t100\t100"}) == "it runs as another group (gid 100)"
    assert why(theirs={"Uid": "1000\t0\t0\t0"}) == (
        "its uids (real, effective, saved: 1000, 0, 0) are not all 1000, this process's "
        "real uid")
    owners[other] = 0
    assert why().startswith("it is not dumpable (")
    assert why(mine=sys_ptrace).startswith(kernel)


# The first process waits until its child has a group of its own (setsid), then exits:
# its group is empty and its pid free, while the child, followed, keeps the run going.
LEAVES_EARLY = r"""
#include <unistd.h>

int main(void)
{
    int ready[2];
    pipe(ready);
    if (fork() == 0) {
        setsid();
        write(ready[1], "", 1);
        sleep(10);
        return 0;
    }
    char c;
    read(ready[0], &c, 1);
    return 0;
}
"""

# Pid 1 of a pid namespace of its own. Once the first process is reaped, a process that
# is none of the run's is given its pid (ns_last_pid) and leads a group of its own: a
# sleep, the child of a keeper that is this process's (not the run's) child. Then the
# delay's SIGSTOP is due, and the deadline's SIGKILL.
IMPOSTOR = r"""
import json, os, signal, subprocess, sys
from pathlib import Path
from roads.explain.trace import Tracer, parse_stop

KEEPER = (
    "import os, sys\n"
    "sys.stdin.readline()\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.setsid()\n"
    "    os.execvp('sleep', ['sleep', '30'])\n"
    "print(pid, flush=True)\n"
    "os.waitpid(pid, 0)\n")
keeper = subprocess.Popen([sys.executable, "-c", KEEPER], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)
impostor = []

class GivesThePidAgain(Tracer):
    def _ended(self, tid, status, killed=False):
        super()._ended(tid, status, killed)
        if tid == self.main and not impostor:
            Path("/proc/sys/kernel/ns_last_pid").write_text(str(self.main - 1))
            keeper.stdin.write("\n")
            keeper.stdin.flush()
            impostor.append(int(keeper.stdout.readline()))

tracer = GivesThePidAgain([sys.argv[1]], [parse_stop("0.5s")], on_stop=lambda hit: None,
                          follow_fork=True, deadline=1.5)
outcome = tracer.run()
try:
    state = Path(f"/proc/{impostor[0]}/stat").read_text().rsplit(")", 1)[1].split()[0]
except OSError:
    state = "gone"
try:
    os.kill(impostor[0], signal.SIGKILL)
except ProcessLookupError:
    pass
keeper.wait(timeout=10)
print(json.dumps({"main": outcome.pid, "impostor": impostor[0], "state": state,
                  "timed_out": outcome.timed_out}))
"""


@pytest.mark.gcc
def test_the_timers_signal_no_process_that_took_the_programs_pid(gcc, tmp_path):
    """The delay stop and the deadline are timers, whose threads signalled the program
    by its pid and its group by number (kill, killpg), at any moment: the first process
    reaped, another process given its pid (here made sure of in a pid namespace) was
    stopped by the delay's SIGSTOP and killed with its group at the deadline. They
    signal through pidfds now, which reach the run's processes and no other."""
    result = _in_pid_namespace(IMPOSTOR, build(tmp_path, "leaves_early", LEAVES_EARLY, "-O0"))
    assert result["impostor"] == result["main"], "the pid was not given again"
    assert result["timed_out"]
    assert result["state"] in ("S", "R"), result  # T: stopped; Z or gone: killed


# The first process and a child it does not have followed both wait past the deadline,
# in the run's group.
OUTLIVES = r"""
#include <unistd.h>

int main(void)
{
    if (fork() == 0)
        for (;;)
            pause();
    sleep(30);
    return 0;
}
"""


@pytest.mark.gcc
@pytest.mark.parametrize("kernel", ["pidfds", "no-group-flag", "no-pidfds"])
def test_the_deadline_ends_the_run_with_or_without_pidfds(gcc, tmp_path, monkeypatch,
                                                          no_leftovers, kernel):
    """Where the kernel has no pidfds (before 5.3) or pidfd_send_signal takes no
    PIDFD_SIGNAL_PROCESS_GROUP (before 6.9), the run's processes are signalled by pid
    and its group by number, as before: the delay still stops the program, and the
    deadline ends it and its child not followed (no_leftovers)."""
    binary = build(tmp_path, "outlives", OUTLIVES, "-O0")
    if kernel == "no-pidfds":
        def pidfd_open(pid: int, flags: int = 0) -> int:
            raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

        monkeypatch.setattr(os, "pidfd_open", pidfd_open)
    elif kernel == "no-group-flag":
        real = signal.pidfd_send_signal

        def pidfd_send_signal(fd: int, sig: int, siginfo=None, flags: int = 0) -> None:
            if flags:
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            real(fd, sig, siginfo, flags)

        monkeypatch.setattr(signal, "pidfd_send_signal", pidfd_send_signal)
    hits: list[str] = []
    tracer = Tracer([str(binary)], [parse_stop("0.3s"), parse_stop("exit")],
                    on_stop=lambda hit: hits.append(hit.label), deadline=1.0)
    outcome = tracer.run()
    assert hits == ["0.3s"] and outcome.timed_out


def test_a_process_gone_before_it_is_added_is_never_signalled(monkeypatch):
    """A child reaped before its parent's fork event was seen: pidfd_open says ESRCH,
    and the process was then signalled by its pid at the run's end, which may be
    another's by then. (Signal 0 here: nothing is sent should the pid be another's.)"""
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    gone = subprocess.Popen(["true"])
    gone.wait()
    signals = trace._Signals()
    signals.add(gone.pid)
    signals.kill_all((), 0)
    signals.kill(gone.pid, 0)
    assert sent == []
