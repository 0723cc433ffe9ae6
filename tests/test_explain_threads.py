"""roads explain's tracer and the program's threads and vfork children: a trap reported
after its breakpoint was taken out, a child that shares the program's memory, a delay
stop once the main thread has ended. Each program exits on its own; what it prints says
whether the tracer harmed it."""

from __future__ import annotations

import shutil

import pytest

from roads.explain import session as session_mod

pytestmark = [pytest.mark.dot]


@pytest.fixture(autouse=True)
def gcc():
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")


def _run(session):
    return session.capture.variants["default"].runs[0]


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
