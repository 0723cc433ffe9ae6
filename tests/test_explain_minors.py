"""roads explain's tracer, after a review: smaller faults, each shown by a run that went
wrong before its fix. A signal due while a breakpoint is stepped over counted the call
twice (or was swallowed, a SIGTRAP)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from roads.explain.trace import Hit, Tracer, parse_stop

pytestmark = [pytest.mark.gcc]


@pytest.fixture
def gcc():
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")


def _build(folder: Path, name: str, source: str, *flags: str) -> Path:
    (folder / f"{name}.c").write_text(source)
    subprocess.run(["gcc", *flags, "-o", str(folder / name), str(folder / f"{name}.c")],
                   check=True, timeout=60)
    return folder / name


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


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGWINCH, signal.SIGTRAP],
                         ids=["handled", "ignored", "sigtrap"])
def test_a_signal_due_during_a_step_counts_the_call_once(gcc, tmp_path, no_leftovers, sig):
    """twice() is called once; its first call is a stop and its second is asked for. A
    signal sent while the first stop is read comes due when the breakpoint is stepped
    over, before the instruction runs: it was passed on and the thread, back at the
    int3 (after the handler, or at once for a signal ignored), counted the same call
    again: "twice:2" was reached. A SIGTRAP sent then was taken for the step's own and
    swallowed. The signal is the program's, delivered once; the call counts once."""
    binary = _build(tmp_path, "stepped", STEPPED, "-O2", "-fcf-protection=none")
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
