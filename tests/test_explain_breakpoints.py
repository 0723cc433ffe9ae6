"""roads explain's breakpoints: an int3 byte written over an instruction, and taken out
again to step over it, through ptrace, which reads and writes memory 8 bytes at a time.
Each test shows a run that went wrong before its fix: a breakpoint in the last bytes of
a mapping whose next page is not mapped, two breakpoints less than 8 bytes apart, and a
signal that comes due while a breakpoint is stepped over (the program's own, a delay's
SIGSTOP, another process's)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from roads.explain.trace import Hit, Tracer, parse_stop
from tests.explain_support import build


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


# Two functions less than 8 bytes apart: empty ones at -O0 (push %rbp first: the step
# over the breakpoint is emulated), and ones of one instruction and a ret, not aligned
# (lea first: stepped with the original byte put back).
ADJACENT = {
    "-O0": (r"""
void f(void) {}
void g(void) {}
int main(void) { f(); g(); f(); g(); return 5; }
""", 5),
    "-O2 -fno-align-functions": (r"""
__attribute__((noipa)) int f(int x) { return x + 1; }
__attribute__((noipa)) int g(int x) { return x * 3; }
int main(void) {
    int a = f(1) + g(2);
    int b = f(a) + g(a);
    return a + b;
}
""", 41),
}


@pytest.mark.parametrize("flags", list(ADJACENT))
def test_breakpoints_less_than_a_word_apart_are_each_kept(gcc, tmp_path, no_leftovers, flags):
    """ptrace reads and writes memory 8 bytes at a time. The breakpoint at f saved the
    8 bytes under it, g's first byte among them, and wrote them all back: putting f's
    int3 in took g's out (or, the other way round, brought an int3 back where it had been
    taken out). The run missed g: "exited with status 0 before reaching g"."""
    source, status = ADJACENT[flags]
    program = build(tmp_path, "adjacent", source, *flags.split())
    symbols = dict(line.split()[::-2] for line in subprocess.run(
        ["nm", str(program)], capture_output=True, text=True, check=True).stdout.splitlines()
        if line.endswith((" T f", " T g")))
    assert 0 < int(symbols["g"], 16) - int(symbols["f"], 16) < 8, symbols  # the case at hand
    hits: list[Hit] = []
    outcome = Tracer([str(program)], [parse_stop(w) for w in ("f", "g", "f:2", "g:2", "exit")],
                     on_stop=hits.append, deadline=20).run()
    assert [h.label for h in hits] == ["f", "g", "f:2", "g:2", "exit"]
    ended = outcome.processes[outcome.pid].status
    assert os.WIFEXITED(ended) and os.WEXITSTATUS(ended) == status  # the code ran as written


# twice() begins with neither endbr64 nor a push (-O2, no CET): its breakpoint is passed
# by a single step, not emulated (Tracer._step_over).
STEPPED = r"""
#include <signal.h>
#include <stdio.h>

static volatile sig_atomic_t handled;
static void count(int sig) { (void)sig; handled++; }

__attribute__((noinline)) int twice(int x) { return x * 2; }

int main(void)
{
    signal(SIGUSR1, count);
    signal(SIGTRAP, count);
    int r = twice(21);
    printf("%d, handled %d\n", r, (int)handled);
    return 0;
}
"""


@pytest.mark.gcc
@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGWINCH, signal.SIGTRAP],
                         ids=["handled", "ignored", "sigtrap"])
def test_a_signal_due_during_a_step_counts_the_call_once(gcc, tmp_path, no_leftovers, sig):
    """twice() is called once; its first call is a stop and its second is asked for. A
    signal sent while the first stop is read comes due when the breakpoint is stepped
    over, before the instruction runs: it was passed on and the thread, back at the
    int3 (after the handler, or at once for a signal ignored), counted the same call
    again: "twice:2" was reached. A SIGTRAP sent then was taken for the step's own and
    swallowed. The signal is the program's, delivered once; the call counts once."""
    binary = build(tmp_path, "stepped", STEPPED, "-O2", "-fcf-protection=none")
    hits: list[str] = []

    def on_stop(hit: Hit) -> None:
        hits.append(hit.label)
        os.kill(hit.pid, sig)  # due once the thread is let go: at the step

    tracer = Tracer([str(binary)], [parse_stop("twice:1"), parse_stop("twice:2")],
                    on_stop=on_stop, deadline=20.0)
    outcome = tracer.run()
    assert hits == ["twice:1"]
    handled = 0 if sig == signal.SIGWINCH else 1
    assert outcome.stdout == f"42, handled {handled}\n"
    assert os.WIFEXITED(outcome.processes[outcome.pid].status)


# f's first instruction, a nop, is none the tracer carries out itself (endbr64, a push):
# a breakpoint kept at f (for f:2) is stepped over, one instruction run alone.
CALLS_F = r"""
#include <unistd.h>
void f(void);
__asm__(".globl f\n.type f, @function\nf:\n\tnop\n\tret\n.size f, .-f\n");
int main(void) { f(); usleep(1500000); return 0; }
"""


# The stop at f is read for HOLD seconds; a delay stop of DURING_HOLD seconds from the
# program's start comes due then, however slowly a loaded machine starts the program
# (up to DURING_HOLD seconds: at 0.2 s, a full suite's load once brought the delay
# before f).
HOLD = 1.5
DURING_HOLD = "0.8s"


def _held_at_f(binary: Path, *stops: str, stop_it: bool = False):
    """A run whose stop at f is read for a while (as a slow read of a big process
    would be) while a signal comes: a delay's, or, ``stop_it``, a SIGSTOP that another
    process (kill(1)) sends the program. The step over f's breakpoint meets it first."""
    def on_stop(hit) -> None:
        if hit.label == "f":
            if stop_it:
                subprocess.run(["kill", "-STOP", str(hit.pid)], check=True, timeout=10)
            time.sleep(HOLD)

    return Tracer([str(binary)], [parse_stop(s) for s in ("f", "f:2", *stops)],
                  on_stop=on_stop, deadline=20).run()


@pytest.mark.gcc
def test_a_delay_that_comes_due_during_a_step_is_taken(gcc, tmp_path, no_leftovers):
    """The delay's SIGSTOP, sent while the program was held at f, is the signal the step
    over f's breakpoint stops for first; _step_over returns it and _breakpoint resumed the
    program with it, delivered: the group-stop that followed was taken for one the
    program made after it was continued and let go, and the delay's stop never came."""
    binary = build(tmp_path, "calls_f", CALLS_F, "-O0", "-g")
    outcome = _held_at_f(binary, DURING_HOLD)
    assert outcome.reached == ["f", DURING_HOLD]
    assert outcome.stopped == []  # the delay's own SIGSTOP: no stop of the program's


@pytest.mark.gcc
def test_a_stop_signal_that_comes_during_a_step_stops_the_program(gcc, tmp_path,
                                                                  no_leftovers):
    """Another process's SIGSTOP, met by the step as the delay's is, stops the program
    and is told, as one met anywhere else is: it was delivered and its stop undone at
    once, unheld and untold."""
    binary = build(tmp_path, "calls_f", CALLS_F, "-O0", "-g")
    outcome = _held_at_f(binary, "exit", stop_it=True)
    [stopped] = outcome.stopped
    assert (stopped.pid, stopped.signal, stopped.by_us) == (outcome.pid, "SIGSTOP", True)
    assert stopped.sender not in (None, outcome.pid, os.getpid())
    assert outcome.reached == ["f", "exit"]


# pf begins with push %rbp, which the tracer carries out (roads/explain/emulate.py); it is
# called on a stack of one page with nothing mapped below, from the page's start + 8:
# the call's return address fits, the push does not.
PUSH_FAULTS = r"""
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
__asm__(".globl pf\n.type pf, @function\npf:\n\tpush %rbp\n\tpop %rbp\n\tret\n"
        ".size pf, .-pf\n");
void pf(void);
int main(void)
{
    char *page = mmap((void *)0x20001000, 0x1000, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (page == MAP_FAILED || munmap(page - 0x1000, 0x1000) != 0)
        return 1;
    pf();                                    /* on its own stack: fine */
    puts("switching");
    fflush(stdout);
    __asm__ volatile("mov %0, %%rsp\n\tcall pf" : : "r"(page + 8) : "memory");
    return 0;
}
"""


def test_a_push_the_processor_cannot_make_is_left_to_the_processor(tmp_path, no_leftovers):
    """A push onto memory not mapped, carried out by the tracer, was written with
    PTRACE_POKEDATA: it failed (EIO) and the run ended in a traceback, where the program
    dies of SIGSEGV; into a page its protections forbid (a guard page), the write went
    through, where the processor faults. The store is made as the program's own
    (process_vm_writev), and where it cannot be, the push is run by the processor."""
    binary = build(tmp_path, "push_faults", PUSH_FAULTS)
    outcome = Tracer([str(binary)], [parse_stop("pf:3")], on_stop=lambda hit: None,
                     deadline=20.0).run()
    assert outcome.stdout == "switching\n"
    ended = outcome.processes[outcome.pid].status
    assert os.WIFSIGNALED(ended) and os.WTERMSIG(ended) == signal.SIGSEGV
