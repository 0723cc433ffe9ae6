"""roads explain and a pid the kernel gives again: what the tracer keeps of a process,
and the signals it sends, reach the run's processes and no other. A child that ended
before its first stop was seen left its bookkeeping to the next process given its pid;
the timers of the delay stop and the deadline signalled by pid and group number, and
reached a process given the program's pid since. They signal through pidfds now, and a
kernel without them (or without PIDFD_SIGNAL_PROCESS_GROUP) still ends the run. The
pids are made to be given again in a pid namespace of the test's own (unshare)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from roads.explain import trace
from roads.explain.trace import Tracer, parse_stop
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
                    on_stop=lambda hit: hits.append(hit.label), deadline=2.0)
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
