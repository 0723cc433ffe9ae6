"""What roads run says where the program's world is not a terminal's: its input is
/dev/null (said in --help, and when roads run's own input is a pipe), what it printf'd
without fflush is lost in the C library's buffer at the kill, an allocation it was
refused is tied to the sandbox's address space, and a run's error is told in a run's
words, not a sample's. The run itself is stood in for (``cli.run_program``): this
test's own process is the program stopped at --after."""

from __future__ import annotations

import os

import pytest

from roads import cli
from roads.capture.runner import ProcessRecord, RunResult, Stop
from roads.constants import PROGRAM_ADDRESS_SPACE
from roads.errors import SampleError


def _result(stdout: str = "", stderr: str = "", status: int | None = None) -> RunResult:
    return RunResult(pid=4242, personality=None, stdout=stdout, stderr=stderr,
                     processes={4242: ProcessRecord(pid=4242, ppid=1, status=status)})


def _fake_run(monkeypatch, result: RunResult, *, stop: bool = True, error=None):
    """``cli.run_program`` stood in for: this test's own process is the program
    stopped at --after (when ``stop``), its memory read for real."""
    def run_program(argv, *, snapshot, **kwargs):
        if error is not None:
            raise error
        if stop:
            snapshot(Stop(pid=os.getpid(), ppid=os.getppid(), name="stopped", seq=0,
                          addresses=(), ranges=()))
        return result

    monkeypatch.setattr(cli, "run_program", run_program)


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_run_error_does_not_speak_of_a_samples_checkpoints(here, monkeypatch, capsys):
    """A program of the user's has no checkpoints: "(no checkpoint reached)", a
    sample's words, only puzzled the reader of a fork storm's or a flood's error."""
    _fake_run(monkeypatch, _result(), error=SampleError(
        "forked too much: more than 32 processes and threads at once; killed "
        "(no checkpoint reached)", sample="true", command=["true"]))
    assert cli.main(["--root", str(here), "run", "--", "true"]) == 1
    err = capsys.readouterr().err
    assert "forked too much: more than 32 processes and threads at once; killed" in err
    assert "checkpoint" not in err, err


def test_output_lost_in_the_c_librarys_buffer_is_explained(here, monkeypatch, capsys):
    """printf to a pipe is held in the C library's buffer, and the kill at --after
    throws it away: a program that printf'd its addresses (no fflush) showed nothing,
    where a terminal would have shown them. The run says why, and what to do."""
    _fake_run(monkeypatch, _result(stdout=""))
    assert cli.main(["--root", str(here), "run", "--", "/bin/true"]) == 0
    err = capsys.readouterr().err
    assert "fflush(stdout)" in err, err
    # A program from PATH (sleep 5) may well print nothing: no note then.
    assert cli.main(["--root", str(here), "run", "--", "true"]) == 0
    assert "fflush" not in capsys.readouterr().err


def test_no_buffer_note_when_the_program_printed(here, monkeypatch, capsys):
    _fake_run(monkeypatch, _result(stdout="at 0x5555\n"))
    assert cli.main(["--root", str(here), "run", "--", "/bin/true"]) == 0
    err = capsys.readouterr().err
    assert "fflush" not in err
    assert "at 0x5555" in err


def test_input_piped_to_roads_run_is_said_not_to_reach_the_program(here, monkeypatch,
                                                                    capsys):
    """`echo 42 | roads run -- ./prog`: the program reads /dev/null, and said "eof"
    without a word of why."""
    read, write = os.pipe()
    os.write(write, b"42\n")
    os.close(write)
    saved = os.dup(0)
    os.dup2(read, 0)
    os.close(read)
    try:
        _fake_run(monkeypatch, _result(stdout="eof\n", status=0), stop=False)
        assert cli.main(["--root", str(here), "run", "--", "true"]) == 1
    finally:
        os.dup2(saved, 0)
        os.close(saved)
    err = capsys.readouterr().err
    assert "standard input" in err and "/dev/null" in err, err


def test_a_failed_allocation_is_tied_to_the_sandboxs_address_space(here, monkeypatch,
                                                                   capsys):
    """An mmap beyond 4 GiB (or -fsanitize=address's shadow) fails with ENOMEM in the
    sandbox only; the run named no limit, and a learner looked for a bug in the code."""
    _fake_run(monkeypatch, _result(stderr="mmap: Cannot allocate memory\n", status=3 << 8),
              stop=False)
    assert cli.main(["--root", str(here), "run", "--", "true"]) == 1
    err = capsys.readouterr().err
    assert f"{PROGRAM_ADDRESS_SPACE.format()} of address space" in err, err


def test_no_address_space_note_for_a_plain_failure(here, monkeypatch, capsys):
    _fake_run(monkeypatch, _result(stderr="usage: prog N\n", status=2 << 8), stop=False)
    assert cli.main(["--root", str(here), "run", "--", "true"]) == 1
    assert "address space" not in capsys.readouterr().err


def test_run_help_says_what_the_program_sees(capsys):
    """Its input is empty and its pid is the sandbox's own: both differ from a shell's."""
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "/dev/null" in said
    assert "getpid" in said


@pytest.mark.gcc
@pytest.mark.parametrize(("body", "noted"), [
    ("for (;;) pause();", False),  # no stdio: nothing waits in a buffer
    ('printf("at %p\\n", (void *)main); for (;;) pause();', True),
])
def test_the_buffer_note_is_for_a_program_that_writes_through_stdio(here, monkeypatch, capsys,
                                                                    body, noted):
    """A program that calls no stdio writer (an empty loop, pause) printed nothing
    because it writes nothing: the note on printf's buffer only puzzled (roads explain
    already read the program's imports before saying it)."""
    from tests.explain_support import build

    build(here, "quiet", "#include <stdio.h>\n#include <unistd.h>\n"
                         f"int main(void) {{ {body} }}\n")
    _fake_run(monkeypatch, _result(stdout=""))
    assert cli.main(["--root", str(here), "run", "--", "./quiet"]) == 0
    assert ("fflush(stdout)" in capsys.readouterr().err) == noted


# A program without a C library (gcc -nostdlib -static): _start waits in pause(2).
NO_C_LIBRARY = r"""
void _start(void) {
    long r;
    for (;;)
        __asm__ volatile ("syscall" : "=a"(r) : "a"(34) : "rcx", "r11", "memory");
}
"""
WAITS = "#include <unistd.h>\nint main(void) { for (;;) pause(); }\n"
MAY = "its file cannot tell whether it does"


@pytest.mark.gcc
@pytest.mark.parametrize(("source", "flags", "said"), [
    (NO_C_LIBRARY, ["-nostdlib", "-static"], None),  # no C library, no stdio buffer
    (WAITS, ["-static"], "may"),  # glibc's stdio is in every static program
    (WAITS, ["-static", "-s"], "may"),  # stripped: its file cannot tell
    ('#include <stdio.h>\n#include <unistd.h>\n'
     'int main(void) { puts("hi"); for (;;) pause(); }\n', [], "fact"),
], ids=["nostdlib", "static", "stripped", "dynamic-puts"])
def test_the_buffer_note_reads_a_static_programs_symbol_table(here, monkeypatch, capsys,
                                                               source, flags, said):
    """A program linked static with no C library (gcc -nostdlib, _start making raw
    system calls) got the note on the C library's buffer, which it has none of: its
    symbol table says so. Where the file cannot tell (stripped, or a static C library's
    stdio that it may or may not call) the note says the output may be there."""
    from tests.explain_support import build

    build(here, "prog", source, *flags)
    _fake_run(monkeypatch, _result(stdout=""))
    assert cli.main(["--root", str(here), "run", "--", "./prog"]) == 0
    err = capsys.readouterr().err
    assert ("fflush(stdout)" in err) == (said is not None), err
    assert (MAY in err) == (said == "may"), err


def test_a_program_that_ended_first_is_named_as_a_shell_reads_it_back(here, monkeypatch,
                                                                      capsys):
    """Its first line quoted with shlex (an argument's newline split the line, and
    '\\xff' in single quotes is four characters to a shell) where the hint under it
    quotes with $'...'; both now read back as typed."""
    _fake_run(monkeypatch, _result(status=0), stop=False)
    assert cli.main(["--root", str(here), "run", "--", "sh", "-c", "exit 0\n#", "\udcff"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "roads: sh -c $'exit 0\\n#' $'\\xff' ended (exit status 0) before 0.5 s"
    assert err[1].endswith("--at exit -- sh -c $'exit 0\\n#' $'\\xff'")


def test_every_line_of_a_run_names_the_program_as_a_shell_reads_it_back(here, monkeypatch,
                                                                        capsys):
    """The line over what it wrote named it as typed, split in two by a newline in its
    name ("roads: ./it's" then "x wrote to its stdout:"), under a line that quoted it;
    and a run's error led with the name as typed: each line now quotes it alike."""
    from roads.explain.shellwords import quote

    program = "./it's\nx"
    (here / "it's\nx").write_bytes(b"")
    (here / "it's\nx").chmod(0o755)
    _fake_run(monkeypatch, _result(stdout="hi\n", status=0), stop=False)
    assert cli.main(["--root", str(here), "run", "--", program]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"roads: {quote(program)} ended "), err
    assert err[1].endswith(f"-- {quote(program)}"), err
    assert err[2:4] == [f"roads: {quote(program)} wrote to its stdout:", "hi"], err
    _fake_run(monkeypatch, _result(), error=SampleError(
        "forked too much: more than 32 processes and threads at once; killed",
        sample=program, command=[program]))
    assert cli.main(["--root", str(here), "run", "--", program]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"roads: error: {quote(program)}: forked too much: more than 32 "
                      "processes and threads at once; killed"), err
    assert err[1] == f"command: {quote(program)}", err


def test_a_program_that_ended_before_after_0_is_not_told_to_stop_sooner(here, monkeypatch,
                                                                         capsys):
    """--after 0 stops it as soon as it has started: "ended before 0 s" and "stop it
    sooner (--after)" asked for what cannot be."""
    _fake_run(monkeypatch, _result(status=0), stop=False)
    assert cli.main(["--root", str(here), "run", "--after", "0", "--", "true"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[:2] == ["roads: true ended (exit status 0) before it could be stopped",
                       "roads: to see its memory, stop it where it ends: roads explain "
                       "--at exit -- true"]


def test_a_crash_is_tied_to_the_sandboxs_address_space_as_a_possible_cause(here, monkeypatch,
                                                                            capsys):
    """A 64 GiB mmap (MAP_NORESERVE) fails in the sandbox alone, and a program that
    writes to its MAP_FAILED unchecked dies of SIGSEGV, printing no ENOMEM: nothing said
    that the sandbox may be why."""
    _fake_run(monkeypatch, _result(stdout="0xffffffffffffffff\n", status=11), stop=False)
    assert cli.main(["--root", str(here), "run", "--", "true"]) == 1
    err = capsys.readouterr().err
    assert (f"roads: note: if it maps or allocates more than the {PROGRAM_ADDRESS_SPACE.format()} "
            "of address space the sandbox gives each process") in err, err


def test_a_run_errors_command_line_is_quoted_as_a_shell_reads_it(here, monkeypatch, capsys):
    """A fork storm's "command:" line joined the words with spaces, so that
    "python3 -c import threading, time; ..." could not be told from its words."""
    program = ["sh", "-c", "sleep 1; f", "\udcff"]
    _fake_run(monkeypatch, _result(), error=SampleError(
        "forked too much: more than 32 processes and threads at once; killed "
        "(no checkpoint reached)", sample="sh", command=program))
    assert cli.main(["--root", str(here), "run", "--", *program]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[1] == "command: sh -c 'sleep 1; f' $'\\xff'", err


@pytest.mark.parametrize("stderr", [
    "prog: prog.c:4: main: Assertion `n > 0' failed.\n",
    "terminate called after throwing an instance of 'std::out_of_range'\n"
    "  what():  vector::_M_range_check: __n (which is 10) >= this->size() (which is 3)\n",
    "free(): invalid pointer\n",
    "*** stack smashing detected ***: terminated\n",
])
def test_an_abort_that_says_its_own_cause_gets_no_address_space_note(here, monkeypatch, capsys,
                                                                     stderr):
    """assert(), an exception not caught, the heap's and the stack's checks: the program's
    words said why it aborted, and a note on the sandbox's address space came after them
    all the same, sending a learner to look for a limit."""
    _fake_run(monkeypatch, _result(stderr=stderr, status=6), stop=False)
    assert cli.main(["--root", str(here), "run", "--", "true"]) == 1
    err = capsys.readouterr().err
    assert "killed by SIGABRT" in err and stderr.splitlines()[0] in err, err
    assert "address space" not in err, err


def test_an_uncaught_bad_alloc_is_tied_to_the_sandboxs_address_space(here, monkeypatch, capsys):
    """std::bad_alloc is an allocation refused: said as ENOMEM's words are, not as a maybe."""
    _fake_run(monkeypatch, _result(
        stderr="terminate called after throwing an instance of 'std::bad_alloc'\n"
               "  what():  std::bad_alloc\n", status=6), stop=False)
    assert cli.main(["--root", str(here), "run", "--", "true"]) == 1
    err = capsys.readouterr().err
    assert (f"roads: note: the sandbox gives each process {PROGRAM_ADDRESS_SPACE.format()} of "
            "address space (roads run --help): a larger mmap or malloc") in err, err
