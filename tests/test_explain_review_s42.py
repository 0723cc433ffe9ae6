"""roads explain, after a review of the one-byte breakpoints and of the runs ended at the
deadline: each test shows a run that went wrong before its fix. A breakpoint in the last
7 bytes of a mapping whose next page is not mapped could be neither set nor stepped over
(ptrace reads and writes 8 bytes from the address given, whole or not at all: EIO)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from roads.explain.trace import Hit, Tracer, parse_stop


# The parent kills its child with SIGKILL once the child runs (it has said so through a
# pipe: a child killed before its first stop was seen has no exit stop to report, and
# the test would have nothing to look at), then sleeps until the deadline ends it.
KILLS_ITS_CHILD = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
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
    kill(child, SIGKILL);
    waitpid(child, 0, 0);
    sleep(100);
    return 0;
}
"""


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
