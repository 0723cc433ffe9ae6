"""The one subprocess wrapper: every external program the engine runs goes through ``run``.

Argument lists only (no shell), a timeout after which the whole process group is
killed and reaped, and a missing executable turned into an error that says what
to install.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from . import interrupts
from .errors import CommandCancelled, CommandFailed, CommandTimeout, ToolMissing

# Which Debian package brings each tool we call; used in "install X" messages.
PACKAGES = {
    "gcc": "gcc",
    "cc": "gcc",
    "dot": "graphviz",
    "gdb": "gdb",
    "readelf": "binutils",
    "objdump": "binutils",
    "pmap": "procps",
    "chromium": "chromium",
}


@dataclass(frozen=True)
class Completed:
    """What a finished command left behind."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


# Where each capture's time goes (benchmarks/bench.py reads it): the thread that makes
# a capture opens a ledger, and the time that thread spends waiting for a program (gcc,
# gdb: in ``run``, by the program's name; the sample's run: ``roads.capture.runner``) is
# added to it under that name. Outside a ledger nothing is kept.
_ledgers = threading.local()


@contextmanager
def ledger() -> Iterator[dict[str, float]]:
    """Collect, while inside, the seconds this thread's ``charge`` calls report, by name."""
    outer = getattr(_ledgers, "current", None)
    times: dict[str, float] = {}
    _ledgers.current = times
    try:
        yield times
    finally:
        _ledgers.current = outer


def charge(what: str, seconds: float) -> None:
    """Add ``seconds`` under ``what`` to this thread's open ledger, if there is one."""
    times = getattr(_ledgers, "current", None)
    if times is not None:
        times[what] = times.get(what, 0.0) + seconds


def install_hint(tool: str) -> str:
    """How to get ``tool`` on Debian or Ubuntu."""
    package = PACKAGES.get(os.path.basename(tool), os.path.basename(tool))
    return f"install it with: apt-get install {package}"


def which(tool: str) -> str:
    """The full path of ``tool``, or ToolMissing saying what to install."""
    found = shutil.which(tool)
    if found is None:
        raise ToolMissing(f"{tool} not found on PATH; {install_hint(tool)}")
    return found


def tool_identity(tool: str) -> str:
    """A cheap fingerprint of an installed program (path, size, mtime), or "missing".

    Cache keys include it, so that upgrading the program invalidates what it made.
    """
    found = shutil.which(tool)
    if found is None:
        return "missing"
    st = os.stat(found)
    return f"{os.path.realpath(found)}:{st.st_size}:{st.st_mtime_ns}"


def kill_group(pgid: int) -> None:
    """SIGKILL a whole process group, waking stopped members so none stays stopped."""
    for sig in (signal.SIGKILL, signal.SIGCONT):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            return


def end(proc: subprocess.Popen, launcher: bool) -> None:
    """Ask the command ``proc`` to end, with all it started: a sandbox's launcher
    (``launcher``: ``runner.tool_prefix``, ``sandbox`` below) by SIGTERM, to it alone,
    any other by SIGKILL to its group. Asked so, the launcher kills its run and exits
    only once each process of it is reaped: its namespace's init, whose exit the kernel
    holds until every process of the namespace is reaped, or, where the namespace was
    refused, each of its descendants, as their subreaper. Killed at once with its group
    instead, it left the init taking the run down unwaited: the command returned with
    its program still exiting. The caller reaps ``proc`` (``ended``)."""
    if launcher:
        proc.send_signal(signal.SIGTERM)  # none to a command reaped already
    else:
        kill_group(proc.pid)


def ended(proc: subprocess.Popen) -> None:
    """Reap ``proc``, asked to end (``end``): waited for ``KILLED_READ`` seconds at most,
    then, still there (a launcher whose run does not end: a process held in the kernel,
    or a launcher stopped), killed with its group and waited for as long again. Then
    what was left of its group, killed with it (gcc's cc1, as and ld, which init adopted
    as gcc ended), is waited for until it is gone too, for ``KILLED_READ`` at most."""
    if proc.returncode is None:
        try:
            proc.wait(timeout=KILLED_READ)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)  # its pid, unreaped, is still its group's
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=KILLED_READ)  # SIGKILLed: it ends, unless held in the kernel
    _group_gone(proc.pid, time.monotonic() + KILLED_READ)


# Seconds between two looks for a group's last processes: the first pause, the longest.
GROUP_PAUSES = (0.002, 0.1)


def _group_gone(group: int, limit: float) -> None:
    """Wait until process group ``group``, killed, has no process left (a zombie is one:
    until reaped, its pid holds the group's, which no other process can take then), or
    ``limit`` (time.monotonic()) passes. Polled: no wait reaches another's children."""
    pause = GROUP_PAUSES[0]
    while True:
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return
        now = time.monotonic()
        if now >= limit:
            return
        time.sleep(min(pause, limit - now))
        pause = min(2 * pause, GROUP_PAUSES[1])


def spawn(argv: list[str], *, cwd=None, env: dict[str, str] | None = None,
          pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    """Start ``argv`` in a session of its own (and so a process group of its own),
    stdout and stderr piped, for callers that read its output as it comes (the sample
    runner). The caller reaps it. A new session has no controlling terminal: a sample
    cannot open the build's /dev/tty and push input into the user's shell (TIOCSTI),
    nor send the terminal's signals to the build."""
    if os.sep not in argv[0]:
        which(argv[0])
    try:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                pass_fds=pass_fds, start_new_session=True)
    except FileNotFoundError as exc:
        raise ToolMissing(f"{argv[0]} not found; {install_hint(argv[0])}", command=argv) from exc


CANCEL_POLL = 0.1  # seconds between two looks at a run's ``cancel``


class _Cancelled(Exception):
    pass


def _communicate(proc: subprocess.Popen, input: str | None, timeout: float, cancel):
    """``proc.communicate(input, timeout)``, raising _Cancelled once ``cancel`` is set.

    With ``input``, ``cancel`` is not looked at: a ``communicate`` called again after a
    timeout goes on reading but writes no more input (it may not be given twice), so
    the program would wait for the rest of it until the timeout."""
    if cancel is None or input is not None:
        return proc.communicate(input, timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        if cancel.is_set():
            raise _Cancelled
        left = deadline - time.monotonic()
        try:
            # Called again after a timeout, communicate goes on where it was and loses no
            # output (there is no input here: see above).
            return proc.communicate(None, timeout=max(0.0, min(CANCEL_POLL, left)))
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                raise


class _Relay:
    """A command's stderr read on a thread of its own, each line handed to ``on_line``
    as it comes (a long run's progress, told while it runs), and kept whole for the
    ``Completed`` record. An error of ``on_line`` ends the calls, not the reading (a
    command whose stderr nobody read would block once the pipe was full): ``whole``
    raises it."""

    def __init__(self, stream, on_line: Callable[[str], None]) -> None:
        self._stream, self._on_line = stream, on_line
        self._lines: list[str | bytes] = []
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with self._stream:
            for line in self._stream:
                self._lines.append(line)
                if self._failed is None:
                    text = line if isinstance(line, str) else os.fsdecode(line)
                    try:
                        self._on_line(text.removesuffix("\n"))
                    except Exception as exc:  # noqa: BLE001 - raised again by whole()
                        self._failed = exc

    def whole(self, timeout: float | None = None) -> str | bytes:
        """All the stream held, once it has ended (the command and what it started
        have ended, or been killed, and closed it), or what it held after ``timeout``
        seconds (a descendant that left the killed group keeps it open: the reading
        thread, a daemon, is left to it); ``on_line``'s error, if it had one."""
        self._thread.join(timeout)
        if self._failed is not None:
            raise self._failed
        return type(self._lines[0])().join(self._lines) if self._lines else ""


# How long the pipes of a command whose group was killed are still read: a descendant
# that left the group (its own session) keeps them open, and the read would never end.
KILLED_READ = 5.0


def _after_kill(proc: subprocess.Popen) -> tuple:
    """What a command asked to end (``end``) still had in its stdout and stderr, read for
    ``KILLED_READ`` seconds at most; then the pipes are closed, with what was read lost,
    and the command reaped (``ended``)."""
    try:
        out = proc.communicate(timeout=KILLED_READ)
        ended(proc)  # reaped: what is left of its group
        return out
    except subprocess.TimeoutExpired:
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        ended(proc)
        return None, None


def _end_now(proc: subprocess.Popen, launcher: bool) -> None:
    """End ``proc`` and all it started (``end``), reap it (``ended``), and close its
    pipes, nothing read from them (a relay's stderr is the relay's to close)."""
    end(proc, launcher)
    ended(proc)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _as_text(*outputs: str | bytes | None) -> tuple[str | None, ...]:
    """Outputs read as bytes (``run``'s ``translate_newlines`` False) decoded as file
    names are (``os.fsdecode``): a byte that is not UTF-8 kept as a lone surrogate, so
    that a name read from a listing opens that file (and ``errors.printable`` shows
    the byte)."""
    return tuple(os.fsdecode(o) if isinstance(o, bytes) else o for o in outputs)


def run(
    argv: list[str],
    *,
    timeout: float = 60.0,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
    check: bool = True,
    merge_stderr: bool = False,
    sandbox: list[str] | tuple[str, ...] = (),
    cancel=None,
    translate_newlines: bool = True,
    on_line: Callable[[str], None] | None = None,
) -> Completed:
    """Run ``argv`` to completion in its own session and return its output.

    On timeout the whole group is killed and CommandTimeout raised; with ``check``
    a non-zero exit raises CommandFailed carrying stderr (or stdout). With
    ``merge_stderr`` both streams arrive interleaved, in order, in ``stdout``.
    ``sandbox`` is a command that runs ``argv`` for us (``runner.tool_prefix``: gcc and
    gdb run code too); messages still name ``argv``. ``cancel`` (anything with an
    ``is_set()``, a ``threading.Event``): once it is set, within ``CANCEL_POLL``
    seconds, the group is killed and CommandCancelled raised (a program run on a
    thread other than the main one sees no Ctrl-C of its own); not with ``input``.
    The output is text, its line ends made newlines (CRLF and a lone CR too); with
    ``translate_newlines`` False it is decoded as it came, a CR kept (git's ``-z``
    lists, where a CR or a byte that is not UTF-8 may be part of a file's name).
    ``on_line`` is called with each line of stderr, its newline taken off, as the
    command writes it (a tool that reports its progress), on a thread of its own;
    the result's ``stderr`` still holds them all. Not with ``merge_stderr``.
    """
    if on_line is not None and merge_stderr:
        raise ValueError("on_line reads stderr, which merge_stderr sends to stdout")
    which(argv[0])
    started = time.perf_counter()
    proc = None
    try:
        # A signal that ends the command, taken as the fork returns, is raised once
        # ``proc`` holds the child (``interrupts.held``), and the child ended below:
        # raised in Popen, it lost the child, left running.
        with interrupts.held():
            proc = subprocess.Popen(
                [*sandbox, *argv],
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                text=translate_newlines,
                errors="replace" if translate_newlines else None,
                start_new_session=True,  # no controlling terminal for what it runs (see spawn)
            )
    except FileNotFoundError as exc:
        raise ToolMissing(f"{argv[0]} not found; {install_hint(argv[0])}", command=argv) from exc
    except BaseException:
        if proc is not None:
            _end_now(proc, launcher=bool(sandbox))
        raise
    if not translate_newlines and input is not None:
        input = input.encode()
    relay = None
    if on_line is not None:
        relay = _Relay(proc.stderr, on_line)
        proc.stderr = None  # communicate reads stdout alone; the relay, stderr

    def relayed(out, err, wait: float | None = None):
        return _as_text(out, relay.whole(wait) if relay is not None else err)

    try:
        out, err = relayed(*_communicate(proc, input, timeout, cancel))
    except _Cancelled:
        end(proc, launcher=bool(sandbox))
        relayed(*_after_kill(proc), KILLED_READ)
        raise CommandCancelled(f"{os.path.basename(argv[0])} was stopped before it finished",
                               command=argv) from None
    except subprocess.TimeoutExpired:
        end(proc, launcher=bool(sandbox))
        out, err = relayed(*_after_kill(proc), KILLED_READ)
        raise CommandTimeout(
            f"{os.path.basename(argv[0])} did not finish within {timeout:g} s and was killed",
            command=argv,
            output=err or out,
        ) from None
    except BaseException:
        # Ctrl-C or any other interruption: leave nothing running or unreaped, and return
        # only once it is all gone.
        _end_now(proc, launcher=bool(sandbox))
        raise
    finally:
        charge(os.path.basename(argv[0]), time.perf_counter() - started)
    done = Completed(tuple(argv), proc.returncode, out, err or "", time.perf_counter() - started)
    if check and proc.returncode != 0:
        raise CommandFailed(
            f"{os.path.basename(argv[0])} exited with status {proc.returncode}",
            command=argv,
            output=err or out,
        )
    return done
