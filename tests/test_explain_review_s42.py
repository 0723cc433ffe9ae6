"""roads explain, after a review of the one-byte breakpoints and of the runs ended at the
deadline: each test shows a run that went wrong before its fix. A breakpoint in the last
7 bytes of a mapping whose next page is not mapped could be neither set nor stepped over
(ptrace reads and writes 8 bytes from the address given, whole or not at all: EIO)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from roads.explain.trace import Hit, Tracer, parse_stop


# f, in the last bytes of the only segment (text, then nothing: no data, no heap yet),
# the next page not mapped. "ret" is passed by a single step; "push %rbx" is emulated.
AT_THE_END = r"""
    .text
    .globl _start
_start:
    call f
    call f
    mov $60, %eax
    mov $3, %edi
    syscall
    .balign 4096
    .skip 4096 - {size}
    .globl f
    .type f, @function
f:
    {code}
    .size f, {size}
"""
ENDS = {"ret": ("ret", 1), "push": ("push %rbx; pop %rbx; ret", 3)}


@pytest.mark.parametrize("first", list(ENDS))
def test_a_breakpoint_in_the_last_bytes_of_a_mapping(gcc, tmp_path, no_leftovers, first):
    """The word from f's first byte on ran into the unmapped page after it: setting the
    breakpoint failed, "OSError: [Errno 5] Input/output error" (as it did before the
    breakpoints were one byte each). Each byte is now read and written through the
    aligned word that holds it, which never crosses a page."""
    code, size = ENDS[first]
    source = tmp_path / "end.s"
    source.write_text(AT_THE_END.format(code=code, size=size))
    program = tmp_path / "end"
    subprocess.run(["gcc", "-nostdlib", "-static", "-no-pie", "-Wl,-z,noseparate-code",
                    "-o", str(program), str(source)], check=True, timeout=60)
    f = int(subprocess.run(["nm", str(program)], capture_output=True, text=True,
                           check=True).stdout.split(" T f\n")[0].split()[-1], 16)
    hits: list[Hit] = []
    outcome = Tracer([str(program)], [parse_stop(w) for w in ("f", "f:2", "exit")],
                     on_stop=hits.append, deadline=20).run()
    assert (f + size) % 4096 == 0  # the case at hand: f ends its page, and the segment
    assert [h.label for h in hits] == ["f", "f:2", "exit"]
    ended = outcome.processes[outcome.pid].status
    assert os.WIFEXITED(ended) and os.WEXITSTATUS(ended) == 3


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
