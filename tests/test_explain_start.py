"""roads explain at the start and the end of a run: the two waits for the program's start,
which had no deadline, a start that fails for want of a second output pipe (the first
one's descriptors left open), the closing line of the command, which said why a stop
was not reached nowhere the page says it, and the progress lines of a sandboxed run,
told as it goes."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roads.errors import ExplainError
from roads.explain.command import INCOMPLETE
from roads.explain import ptrace as pt
from roads.explain import trace
from roads.explain.trace import Tracer, parse_stop
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

BLOCKED = 8.0  # seconds a start stood in for here is blocked: more than the deadline


def test_an_execve_that_does_not_return_is_given_up_at_the_deadline(monkeypatch, no_leftovers):
    """A program whose execve does not return (its file on a file system that does not
    answer; stood in for here: the forked child's execve sleeps) kept the tracer in its
    read of the pipe that reports a failed start, with no deadline: until the execve
    returned, forever for a mount that never answers. It is given up at the deadline,
    the child killed and reaped."""

    def execve(path, argv, env):  # runs in the forked child only
        time.sleep(BLOCKED)
        os._exit(0)

    monkeypatch.setattr(os, "execve", execve)
    started = time.monotonic()
    with pytest.raises(ExplainError) as failed:
        Tracer(["/bin/true"], [parse_stop("exit")], on_stop=lambda hit: None,
               deadline=1.0).run()
    took = time.monotonic() - started
    assert failed.value.message == ("cannot start /bin/true: its execve did not return within "
                                    "1 s (--deadline); is its file on a file system that "
                                    "does not answer?"), failed.value.message
    assert 1.0 <= took < BLOCKED - 2, took


def test_a_start_cut_short_by_a_very_short_deadline_is_told_so(monkeypatch, no_leftovers):
    """--deadline 0.001 cut every start short, and the error asked whether the program's
    file was on a file system that does not answer, where the deadline was the cause.
    (The start is held here, as above, so that it is the one cut short.)"""

    def execve(path, argv, env):  # runs in the forked child only
        time.sleep(BLOCKED)
        os._exit(0)

    monkeypatch.setattr(os, "execve", execve)
    with pytest.raises(ExplainError) as failed:
        Tracer(["/bin/true"], [parse_stop("exit")], on_stop=lambda hit: None,
               deadline=0.2).run()
    message = failed.value.message
    assert message.startswith("cannot start /bin/true: its execve did not return within "
                              "0.2 s (--deadline); "), message
    assert message.endswith("a program may take longer than that to start: give a longer "
                            "--deadline"), message
    assert "file system" not in message, message


def test_a_program_that_never_stops_at_its_start_is_given_up_at_the_deadline(monkeypatch,
                                                                            no_leftovers):
    """The first wait of a run, for the stop the program makes once its execve is done
    (it asked to be traced, PTRACE_TRACEME), had no deadline: an execve that blocks past
    the point where the pipe reporting a failed start closes (the loader reading a file
    system that does not answer) kept the tracer there. Stood in for here by a child
    that does not ask to be traced, and so never stops: it is given up at the deadline,
    killed and reaped."""
    monkeypatch.setattr(pt, "traceme", lambda: None)  # runs in the forked child only
    started = time.monotonic()
    with pytest.raises(ExplainError) as failed:
        Tracer(["/bin/sleep", str(BLOCKED)], [parse_stop("exit")], on_stop=lambda hit: None,
               deadline=1.0).run()
    took = time.monotonic() - started
    assert failed.value.message.startswith("/bin/sleep did not stop at its start within 1 s "
                                           "(--deadline)"), failed.value.message
    assert 1.0 <= took < BLOCKED - 2, took


def test_a_child_that_told_its_failed_start_is_not_waited_for_unbounded(tmp_path, monkeypatch,
                                                                        no_leftovers):
    """A child whose execve failed reports why through a pipe and exits; it was then
    waited for by a waitpid with no deadline. Stood in for here: the child closes the
    pipe and lingers before its exit. It is killed and reaped, the failure told."""
    real_exit = os._exit

    def lingering_exit(code):  # runs in the forked child only
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the pipe's write end among them
        time.sleep(BLOCKED)
        real_exit(code)

    monkeypatch.setattr(os, "_exit", lingering_exit)
    missing = str(tmp_path / "missing")
    started = time.monotonic()
    with pytest.raises(ExplainError) as failed:
        Tracer([missing], [parse_stop("exit")], on_stop=lambda hit: None, deadline=1.0).run()
    took = time.monotonic() - started
    assert failed.value.message.startswith(f"cannot start {missing}: FileNotFoundError"), \
        failed.value.message
    assert took < BLOCKED - 2, took


@pytest.mark.parametrize("where", ["fork", "execve", "started"])
def test_a_run_ended_as_its_program_starts_kills_and_reaps_it(monkeypatch, no_leftovers,
                                                              where):
    """A signal that ends the command (Ctrl-C, SIGTERM, SIGHUP: its handler raises) taken
    as the program starts: as the fork returns, while the tracer waits for the child's
    execve, or once it has returned, before the run's clean-up was armed. The child,
    which the clean-up did not know of, was left: running its program untraced, or held
    at its first stop, traced without PTRACE_O_EXITKILL. It is killed and reaped before
    the command ends. The signal is sent from the place itself (SIGTERM to this
    process), as if it came then, and taken by roads' own handlers."""
    from roads import cli

    children: list[int] = []
    drains: list = []
    real_fork, real_read = os.fork, trace._read_until_closed
    real_init, real_close = trace._Drain.__init__, trace._Drain.close_write_end

    def fork():
        pid = real_fork()
        if pid:
            children.append(pid)
            if where == "fork":
                os.kill(os.getpid(), signal.SIGTERM)
        return pid

    def read_until_closed(fd, limit):
        os.kill(os.getpid(), signal.SIGTERM)
        return real_read(fd, limit)

    def drain_init(drain):
        drains.append(drain)
        real_init(drain)

    def close_write_end(drain):
        if where == "started" and drain is drains[0]:
            os.kill(os.getpid(), signal.SIGTERM)
        real_close(drain)

    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.setattr(trace._Drain, "__init__", drain_init)
    monkeypatch.setattr(trace._Drain, "close_write_end", close_write_end)
    if where == "execve":
        monkeypatch.setattr(trace, "_read_until_closed", read_until_closed)
    try:
        with pytest.raises(cli.Ended), cli._ended_as_interrupted():
            Tracer(["/bin/sleep", str(BLOCKED)], [parse_stop("exit")],
                   on_stop=lambda hit: None, deadline=BLOCKED).run()
    finally:
        left = []
        for pid in children:
            try:
                os.waitpid(pid, pt.WALL | os.WNOHANG)
            except ChildProcessError:  # reaped
                continue
            left.append(pid)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, pt.WALL)
    assert len(children) == 1
    assert not left, f"the program's process was left unreaped: {left}"


# A tracer SIGKILLed as it waits for its child's execve; the child runs the program once
# its tracer is gone (its execve stood in for: it waits for that first, within a bound).
# The child's pid is the first line of its output.
KILLED_TRACER = """
import os, signal, sys, time
from roads.explain import trace

tracer, real_execve, real_fork = os.getpid(), os.execve, os.fork

def execve(path, argv, env):  # in the child
    limit = time.monotonic() + 10
    while os.getppid() == tracer and time.monotonic() < limit:
        time.sleep(0.005)
    real_execve(path, argv, env)

def fork():
    pid = real_fork()
    if pid:
        print(pid, flush=True)
    return pid

def killed(fd, limit):
    os.kill(os.getpid(), signal.SIGKILL)

os.execve, os.fork, trace._read_until_closed = execve, fork, killed
trace.Tracer(["/bin/sleep", sys.argv[1]], [trace.parse_stop("exit")],
             on_stop=lambda hit: None, deadline=30).run()
"""


def test_a_tracer_killed_as_its_program_starts_takes_the_program_with_it():
    """roads explain SIGKILLed (or dead of a crash: no clean-up runs) between its fork and
    the program's first stop, where PTRACE_O_EXITKILL is set: the child, no longer
    traced, ran its program to its end, whoever's parent it became. The child asks for
    SIGKILL at its parent's death (PR_SET_PDEATHSIG) before anything else."""
    import select

    done = subprocess.run([sys.executable, "-c", KILLED_TRACER, str(BLOCKED)],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == -9, done.stderr
    child = int(done.stdout.split()[0])
    try:
        pidfd = os.pidfd_open(child)
    except ProcessLookupError:
        return  # gone, reaped by whoever adopted it
    try:
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        # Its end, as a pidfd says it (an exit, reaped or not), within BLOCKED / 2: the
        # program, run free, sleeps for BLOCKED.
        ended = bool(select.select([pidfd], [], [], BLOCKED / 2)[0])
        if not ended and cmdline.startswith(b"/bin/sleep\0"):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except FileNotFoundError:
        ended = True
    finally:
        os.close(pidfd)
    assert ended, "the program ran on, its tracer killed before its first stop"


@pytest.mark.gcc
def test_a_program_whose_loader_is_missing_names_it(tmp_path, no_leftovers):
    """It said "cannot start PATH: FileNotFoundError: [Errno 2] No such file or
    directory: 'PATH'" of a file that is there: what is not is the loader it names."""
    (tmp_path / "loaderless.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-o", tmp_path / "loaderless", tmp_path / "loaderless.c",
                    "-Wl,--dynamic-linker=/lib64/ld-nowhere.so.2"], check=True, timeout=60)
    program = str(tmp_path / "loaderless")
    with pytest.raises(ExplainError) as failed:
        Tracer([program], [parse_stop("exit")], on_stop=lambda hit: None, deadline=5.0).run()
    assert failed.value.message == (
        f"{program}: its loader, /lib64/ld-nowhere.so.2, which its ELF header names "
        "(PT_INTERP) for the kernel to start first, is not there: a program built for "
        "another system (a shell says \"required file not found\")")


def test_the_deadline_counts_from_the_start_of_the_run(monkeypatch, no_leftovers):
    """The deadline's timer was started at the program's first stop, once its start was
    done: a start that took its time (stood in for here: the forked child waits before it
    asks to be traced and runs the program) was added to --deadline, and the run lasted
    that much longer. The deadline counts from the run's start."""
    slow, deadline = 0.8, 1.2
    traceme = pt.traceme

    def slow_traceme():  # runs in the forked child only
        time.sleep(slow)
        traceme()

    monkeypatch.setattr(pt, "traceme", slow_traceme)
    started = time.monotonic()
    outcome = Tracer(["/bin/sleep", str(BLOCKED)], [parse_stop("exit")],
                     on_stop=lambda hit: None, deadline=deadline).run()
    took = time.monotonic() - started
    assert outcome.timed_out and outcome.reached == []
    assert deadline <= took < deadline + slow / 2, took


def _open_fds() -> set[int]:
    """This process's open file descriptors (less the one the listing itself opens)."""
    listed = {int(fd) for fd in os.listdir("/proc/self/fd")}
    return {fd for fd in listed if os.path.exists(f"/proc/self/fd/{fd}")}


def test_no_descriptor_is_left_when_the_second_pipe_cannot_be_made(no_leftovers):
    """With room for one pipe left (RLIMIT_NOFILE), the run's second output pipe failed
    with EMFILE, an OSError with no word of what it was for, and the first pipe's two
    descriptors stayed open in the tracer's process."""
    before = _open_fds()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    free = [fd for fd in range(soft) if fd not in before][:3]
    if len(free) < 3:
        pytest.skip(f"fewer than 3 descriptors free under RLIMIT_NOFILE {soft}")
    # The lowest free numbers are given first: below free[2] there is room for one pipe.
    resource.setrlimit(resource.RLIMIT_NOFILE, (free[2], hard))
    try:
        with pytest.raises(Exception) as failed:
            Tracer(["/bin/true"], [parse_stop("exit")], on_stop=lambda hit: None,
                   deadline=10.0).run()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert _open_fds() == before
    assert isinstance(failed.value, ExplainError), repr(failed.value)
    assert failed.value.message == ("cannot make a pipe for the program's output: Too many "
                                    "open files")

@pytest.mark.gcc
def test_the_closing_line_says_why_a_stop_was_not_reached(root, gcc, tmp_path, capsys,
                                                          monkeypatch, no_leftovers):
    """The command's last line for a page without every stop said only that the program
    "exited with status 0 before reaching later", where the page's Not reached gives the
    reason the run knows (here: the process ran another program, execve). It gives it
    too, in the page's words."""
    from tests.test_explain_compat import EXECS, _program

    program = str(_program(tmp_path, "execs", EXECS))
    true = os.path.realpath(shutil.which("true"))
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--no-sandbox", "--at", "main", "--at", "later", "--out", "x.html",
                   "--", program, true) == INCOMPLETE
    closing = [line for line in capsys.readouterr().err.splitlines()
               if line.endswith(": the page shows the stops it reached")]
    assert len(closing) == 1, closing
    assert " before reaching later (process " in closing[0], closing[0]
    assert f"ran {true} (execve)" in closing[0], closing[0]


# Could open a library with dlopen (never does), and runs the program its arguments name.
OPENS_THEN_EXECS = r"""
#include <dlfcn.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc > 5)
        dlopen("libnone.so", RTLD_NOW);
    execv(argv[1], argv + 1);
    return 1;
}
"""


@pytest.mark.gcc
def test_a_stop_left_for_dlopen_and_cut_off_by_an_execve_is_said_to_be_so_once(gcc, tmp_path,
                                                                               no_leftovers):
    """A function stop looked for in the libraries a program opens with dlopen, the
    program running another one (execve) before it opened any: the page said the execve
    took it away, the end of the run that "no function 'plugin_work' was found in any
    library the program opened", as if the program had gone on and opened them all.
    The end of the run says nothing more of it: the execve's reason was said when it
    came, and stands alone."""
    from tests.test_explain_compat import _program

    program = str(_program(tmp_path, "opens", OPENS_THEN_EXECS, "-ldl"))
    true = os.path.realpath(shutil.which("true"))
    said: list[str] = []
    outcome = Tracer([program, true], [parse_stop("main"), parse_stop("plugin_work")],
                     on_stop=lambda hit: None, deadline=20.0, progress=said.append).run()
    assert "execve" in outcome.execed.get("plugin_work", ""), outcome.execed
    assert outcome.unfound == [], outcome.unfound
    about = [line for line in said if line.startswith("--at plugin_work:")]
    assert [line for line in about if "(execve)" in line] == about[-1:], said


def test_a_sandboxed_run_tells_each_stop_as_it_comes(root, tmp_path, no_leftovers):
    """In the sandbox (the default) the tracer's lines on the error stream ('stopped at
    main (pid 3)') were told only once the run was over, all together: a program that
    ran on for long after its first stop showed nothing but 'running ... in the
    sandbox' meanwhile. Each line is told as the tracer writes it: here the stop at
    main is told while sleep still sleeps, before its exit stop."""
    script = ("import sys\nfrom roads import cli\n"
              f"sys.exit(cli.main(['--root', {str(root)!r}, 'explain', '--at', 'main', "
              "'--at', 'exit', '--out', 'p.html', '--', '/bin/sleep', '3']))\n")
    with subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, text=True,
                          stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
                          ) as command:
        try:
            told = []
            for line in command.stderr:
                told.append((line, command.poll(), time.monotonic()))
                if "stopped at main" in line:
                    break
            assert told and "stopped at main (pid" in told[-1][0], told
            assert told[-1][1] is None, "the stop was told only once the command had ended"
            rest = command.stderr.read()
            assert command.wait(timeout=60) == 0, rest
            assert time.monotonic() - told[-1][2] > 1.0  # sleep's 3 s ran after the line
            assert "stopped at exit (pid" in rest
        finally:
            command.kill()
            command.wait()
