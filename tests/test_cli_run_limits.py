"""roads run's sandbox as the user meets it: its limits said in --help with the numbers
it uses (its address space the one roads explain gives its program too, and says in its
--help), a processor-time limit that lets a busy program run until --after, a
processor-time limit reached said in roads run's words (the sandbox's, or a lower one
the program set itself), a program that ended first reported at --after (what it left
running killed, not waited for), and one whose main thread has ended stopped and shown
all the same."""

from __future__ import annotations

import errno
import math
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from roads import cli
from roads.capture.runner import ProcessRecord, end_cause
from roads.constants import PROGRAM_ADDRESS_SPACE
from roads.cores import usable as usable_cores
from roads.errors import SampleError
from tests.cli_support import own_folder, roads  # noqa: F401 - own_folder is a fixture
from tests.explain_support import page_facts, page_text

PTHREAD_EXIT = r"""
#include <pthread.h>
#include <unistd.h>
static void *spin(void *arg) { for (;;) pause(); return arg; }
int main(void) {
    pthread_t t;
    pthread_create(&t, 0, spin, 0);
    pthread_exit(0);
}
"""


def test_run_help_states_its_sandbox_limits(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert f"at most {cli.RUN_PROCESSES} processes and threads" in said
    assert f"{PROGRAM_ADDRESS_SPACE.format()} of address space each" in said
    assert f"{cli.RUN_OUTPUT >> 20} MiB of output" in said
    assert f"A run still going {cli.RUN_GRACE:g} s after --after is killed" in said
    assert "what it left running (a daemon, `cmd &`) is killed" in said


def test_explain_help_states_the_same_address_space(capsys):
    """roads explain ran the program with the 8 GiB gcc and gdb get (TOOL_ADDRESS_SPACE),
    roads run with 4 GiB, and explain's --help gave no number: both now give the one
    limit, PROGRAM_ADDRESS_SPACE, and say it."""
    with pytest.raises(SystemExit):
        cli.main(["explain", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert (f"In the sandbox each process of the program has {PROGRAM_ADDRESS_SPACE.format()} "
            "of address space, as under roads run") in said


# Maps each size given (GiB), PROT_NONE and MAP_NORESERVE: address space alone, no memory.
MAPS = r"""
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        size_t size = strtoul(argv[i], 0, 10) << 30;
        void *p = mmap(0, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        printf("%s GiB: %s\n", argv[i], p == MAP_FAILED ? strerror(errno) : "mapped");
        if (p != MAP_FAILED)
            munmap(p, size);
    }
    return 0;
}
"""


@pytest.mark.gcc
@pytest.mark.usefixtures("no_leftovers")
def test_roads_run_and_roads_explain_give_a_program_the_same_address_space(own_folder):
    """A mapping a GiB above roads run's limit worked under roads explain, whose program
    had the 8 GiB of its tracer: both now refuse it and grant one a GiB below, and the
    page names the limit it hit (it said nothing); outside the sandbox no limit is set."""
    subprocess.run(["gcc", "-o", own_folder / "maps", "-x", "c", "-"], input=MAPS, text=True,
                   check=True, timeout=60)
    below, above = (str((PROGRAM_ADDRESS_SPACE.value >> 30) + d) for d in (-1, 1))
    told = [f"{below} GiB: mapped", f"{above} GiB: {os.strerror(errno.ENOMEM)}"]
    ran = roads("--root", str(own_folder), "run", "--", "./maps", below, above, cwd=own_folder)
    assert ran.returncode == 1 and "\n".join(told) in ran.stdout + ran.stderr, ran.stderr
    for sandbox in ([], ["--no-sandbox"]):
        done = roads("--root", str(own_folder), "explain", *sandbox, "--at", "exit", "--out",
                     "m.html", "--", "./maps", below, above, cwd=own_folder)
        assert done.returncode == 0, done.stderr
        page = (own_folder / "m.html").read_text()
        facts = page_facts(page)
        if sandbox:
            assert f"{above} GiB: mapped" in page_text(page)
            assert "Address space" not in facts and "address space" not in done.stderr
            continue
        assert "\n".join(told) in page_text(page)
        limit = (f"in the sandbox each process has {PROGRAM_ADDRESS_SPACE.format()} of "
                 "address space in all, as under roads run (roads explain --help)")
        assert facts["Address space"].startswith(limit)
        assert f"roads explain: {limit}" in done.stderr


def test_a_busy_program_may_use_the_processor_until_after(tmp_path, monkeypatch):
    """The samples' 10 s of processor time would kill a busy program before --after 60."""
    given = {}

    def run_program(argv, **kwargs):
        given.update(kwargs)
        raise SampleError("stood in for")

    monkeypatch.setattr(cli, "run_program", run_program)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--root", str(tmp_path), "run", "--after", "60", "--", "true"]) == 1
    timeout = 60 + cli.RUN_GRACE
    assert given["timeout"] == timeout
    assert given["cpu_seconds"] >= math.ceil(timeout)
    assert (given["max_processes"], given["address_space"], given["max_output"]) == (
        cli.RUN_PROCESSES, PROGRAM_ADDRESS_SPACE.value, cli.RUN_OUTPUT)


@pytest.mark.usefixtures("no_leftovers")
def test_a_run_that_used_up_its_processor_time_says_so_of_roads_run(own_folder):
    """The message named limits.cpu, a field of the samples' manifest, and gave the
    sandbox's limit as the one reached, where the program had set a lower one itself
    (a real run cannot reach the sandbox's own in a test's time: see the next test)."""
    program = "ulimit -S -t 1; while :; do :; done"
    done = roads("--root", str(own_folder), "run", "--after", "30", "--", "sh", "-c", program,
                 cwd=own_folder)
    assert (done.returncode, done.stdout) == (1, "")
    limit = math.ceil(30 + cli.RUN_GRACE) * usable_cores()
    said = re.fullmatch(
        rf"roads: sh -c '{re.escape(program)}' ended \(killed by SIGXCPU \(the signal of a "
        r"processor-time limit, at (\d+\.\d) s of processor time, below the "
        rf"{limit} s roads run's sandbox gives each process: a lower limit set within the "
        r"run \(setrlimit, ulimit -t\), or the signal sent to it \(kill\)\)\) before 30 s\n"
        rf"roads: to see its memory, stop it sooner \(--after\) or where it ends: roads "
        rf"explain --at exit -- sh -c {re.escape(shlex.quote(program))}\n",
        done.stderr)
    assert said is not None, done.stderr
    # The limit of 1 s, as the process's times measured it (in clock ticks, sampled).
    assert 0.5 <= float(said[1]) < 2.0


@pytest.mark.usefixtures("no_leftovers")
@pytest.mark.parametrize(("signum", "went_on", "cpu_ms"), [
    (signal.SIGXCPU, "", 100_000),
    (signal.SIGXCPU, "", 99_100),  # the times read at its end a little short of the limit
    (signal.SIGKILL, ", and ran on past the SIGXCPU sent then", 100_000),  # it ignored it
])
def test_the_sandboxs_processor_time_is_named_as_roads_runs(signum, went_on, cpu_ms):
    """The sandbox's limit reached, the engine's own words (runner.end_cause) said for
    roads run."""
    record = ProcessRecord(pid=2, ppid=1, status=signum, cpu_ms=cpu_ms)
    record.cause = end_cause(record, 100, 0)
    assert "limits.cpu" in record.cause  # the words this rewrites
    assert cli._ending(record, 100) == (
        f"killed by {signal.Signals(signum).name} (it used up the 100 s of processor time "
        f"roads run's sandbox gives each process{went_on})")


@pytest.mark.gcc
def test_a_program_that_left_a_process_behind_is_reported_at_after(tmp_path, monkeypatch,
                                                                  capsys):
    """sh ends at once, its background sleep would run on: at --after the run ends, sh's
    own status reported, the sleep killed (it waited for the sleep until the timeout)."""
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    sleep = f"sleep 1000.{os.getpid()}"  # a command line of this test's alone, for pgrep
    program = ["sh", "-c", f"{sleep} &"]
    assert cli.main(["--root", str(tmp_path), "run", "--after", "0.2", "--", *program]) == 1
    assert time.monotonic() - started < cli.RUN_GRACE / 2
    err = capsys.readouterr().err
    assert err.startswith(f"roads: sh -c '{sleep} &' ended (exit status 0) before 0.2 s; "
                          "anything it left running was killed\n"), err
    left = subprocess.run(["pgrep", "-f", f"^{re.escape(sleep)}$"], capture_output=True,
                          text=True)
    assert left.stdout == ""


@pytest.mark.gcc
def test_a_program_whose_main_thread_ended_is_stopped_and_shown(tmp_path, monkeypatch,
                                                               capsys):
    """SIGSTOP stops its other thread; its memory is read through that thread, since
    /proc/PID shows none (the run used to leave it stopped, and wait for the timeout)."""
    name = f"pe{os.getpid()}"  # a name of this test's alone, for pgrep
    (tmp_path / "pe.c").write_text(PTHREAD_EXIT)
    subprocess.run(["gcc", "-pthread", "-o", tmp_path / name, tmp_path / "pe.c"], check=True,
                   timeout=60)
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    assert cli.main(["--root", str(tmp_path), "run", "--after", "0.3", "--", f"./{name}"]) == 0
    assert time.monotonic() - started < cli.RUN_GRACE / 2
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(f": ./{name}")
    assert out[1].startswith("(its main thread has ended; read through thread ")
    assert any(line.endswith(str(tmp_path / name)) for line in out)
    assert subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 1
