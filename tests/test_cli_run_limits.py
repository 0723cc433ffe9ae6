"""roads run's sandbox as the user meets it: its limits said in --help with the numbers
it uses, a processor-time limit that lets a busy program run until --after, and a run
that could not be stopped explained (not "no checkpoint reached", a sample's words)."""

from __future__ import annotations

import math
import subprocess
import time
from pathlib import Path

import pytest

from roads import cli
from roads.errors import SampleError

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
    assert f"{cli.RUN_ADDRESS_SPACE >> 30} GiB of address space each" in said
    assert f"{cli.RUN_OUTPUT >> 20} MiB of output" in said
    assert f"{cli.RUN_GRACE:g} s after --after" in said
    assert "waits until every process the program started has ended" in said


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
        cli.RUN_PROCESSES, cli.RUN_ADDRESS_SPACE, cli.RUN_OUTPUT)


def _unstoppable(tmp_path: Path, monkeypatch, capsys, program: list[str]) -> str:
    """roads run of ``program`` with a short grace: what it said, after checking it
    failed at the grace's end and left nothing behind."""
    monkeypatch.setattr(cli, "RUN_GRACE", 1.5)
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    assert cli.main(["--root", str(tmp_path), "run", "--after", "0.2", "--", *program]) == 1
    assert time.monotonic() - started < 20
    err = capsys.readouterr().err
    assert "no checkpoint reached" not in err
    return " ".join(err.split())


@pytest.mark.gcc
def test_a_program_that_left_a_process_behind_is_explained(tmp_path, monkeypatch, capsys):
    said = _unstoppable(tmp_path, monkeypatch, capsys, ["sh", "-c", "sleep 1000 &"])
    assert "sh: still running 1.7 s after it started, and not stopped at 0.2 s; killed" in said
    assert "roads run waits for every process a program starts" in said
    left = subprocess.run(["pgrep", "-f", "^sleep 1000$"], capture_output=True, text=True)
    assert left.stdout == ""


@pytest.mark.gcc
def test_a_program_whose_first_thread_ended_is_explained(tmp_path, monkeypatch, capsys):
    (tmp_path / "pe.c").write_text(PTHREAD_EXIT)
    subprocess.run(["gcc", "-pthread", "-o", tmp_path / "pe", tmp_path / "pe.c"], check=True,
                   timeout=60)
    said = _unstoppable(tmp_path, monkeypatch, capsys, ["./pe"])
    assert "./pe: still running 1.7 s after it started" in said
    assert "its first thread had ended (pthread_exit)" in said
