"""Programs kept running to answer request after request (roads/coprocess.py): each
answer in order from one process, a program that quits or hangs reaped, a forked
process with programs of its own, nothing left running at the end."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from roads import coprocess
from roads.errors import CommandTimeout, ToolMissing

# Answers each line with its pid and the line, then END; quits on "quit"; hangs on "hang".
ECHO = ["sh", "-c", 'while read -r line; do case "$line" in quit) exit 3;; hang) sleep 60;; esac; '
        'echo "$$ $line"; echo END; done']


def ended_by(marker: str):
    return lambda out: out.endswith(marker.encode())


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not been reaped (a zombie counts)."""
    return Path(f"/proc/{pid}").exists()


@pytest.fixture(autouse=True)
def ended():
    yield
    coprocess.close_all()


def test_one_program_answers_every_request_in_order():
    answers = [coprocess.ask(ECHO, f"line {n}\n", done=ended_by("END\n")).stdout
               for n in range(5)]
    pids = {a.split()[0] for a in answers}
    assert len(pids) == 1, "one program answers them all"
    assert [a.split(" ", 1)[1] for a in answers] == [f"line {n}\nEND\n" for n in range(5)]
    pid = int(pids.pop())
    coprocess.close_all()
    assert not alive(pid), "ended and reaped at the end"


def test_a_program_that_quits_is_reaped_and_the_next_request_starts_another():
    first = coprocess.ask(ECHO, "a\n", done=ended_by("END\n")).stdout.split()[0]
    assert coprocess.ask(ECHO, "quit\n", done=ended_by("END\n")) is None
    assert not alive(int(first))
    second = coprocess.ask(ECHO, "b\n", done=ended_by("END\n")).stdout.split()[0]
    assert second != first


def test_a_program_that_does_not_answer_in_time_is_killed_and_reaped():
    pid = int(coprocess.ask(ECHO, "a\n", done=ended_by("END\n")).stdout.split()[0])
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match="did not answer within 0.5 s"):
        coprocess.ask(ECHO, "hang\n", done=ended_by("END\n"), timeout=0.5)
    assert time.monotonic() - started < 5
    assert not alive(pid)
    assert coprocess.ask(ECHO, "c\n", done=ended_by("END\n")).stdout.split()[0] != str(pid)


def test_a_program_that_is_not_installed_says_what_to_install():
    with pytest.raises(ToolMissing, match="not found"):
        coprocess.ask(["roads-no-such-program"], "x\n", done=ended_by("END\n"))


def test_a_forked_process_has_programs_of_its_own_and_ends_them():
    # In a new interpreter: this test session may run threads, and forking under
    # threads is what the build never does.
    script = textwrap.dedent(f"""
        import os, sys, time
        from roads import coprocess
        ECHO = {ECHO!r}
        def ended_by(marker):
            return lambda out: out.endswith(marker.encode())
        mine = coprocess.ask(ECHO, "parent\\n", done=ended_by("END\\n")).stdout.split()[0]
        read, write = os.pipe()
        child = os.fork()
        if child == 0:
            theirs = coprocess.ask(ECHO, "child\\n", done=ended_by("END\\n")).stdout.split()[0]
            os.write(write, theirs.encode())
            coprocess.close_all()
            os._exit(0)
        os.close(write)
        _, status = os.waitpid(child, 0)
        theirs = os.read(read, 100).decode()
        assert theirs and theirs != mine, (theirs, mine)
        assert not os.path.exists(f"/proc/{{theirs}}"), "the child's program outlived it"
        # The parent's program still answers, and the child's copies of its pipes are
        # closed: closing its input ends it.
        assert coprocess.ask(ECHO, "again\\n", done=ended_by("END\\n")).stdout.split()[0] == mine
        coprocess.close_all()
        assert not os.path.exists(f"/proc/{{mine}}")
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr


def test_requests_and_answers_larger_than_a_pipe_go_whole():
    line = "x" * 300_000  # a pipe holds 64 KiB: written and read in parts
    answer = coprocess.ask(ECHO, line + "\n", done=ended_by("END\n"))
    assert answer.stdout.split(" ", 1)[1] == line + "\nEND\n"


def test_what_the_program_says_on_stderr_comes_with_its_answer():
    talk = ["sh", "-c", 'while read -r l; do echo "warned $l" >&2; echo "$l"; echo END; done']
    first = coprocess.ask(talk, "a\n", done=ended_by("END\n"))
    second = coprocess.ask(talk, "b\n", done=ended_by("END\n"))
    assert (first.stdout, first.stderr) == ("a\nEND\n", "warned a\n")
    assert (second.stdout, second.stderr) == ("b\nEND\n", "warned b\n")
