"""Run one program in the sandbox and stop it at its checkpoints.

The process tree is started by a small C launcher (``launcher.c``), compiled once
into the cache: it turns ASLR off with personality(2), sets resource limits, runs
the program in PID and mount namespaces of its own (read-only files but the run's
folder, a /proc that shows the run only, no capabilities but those the sample
declares) or, where namespaces are refused, as a child subreaper, puts it in a
process group of its own, reaps every process of the run, and counts them against
a process limit. This module reads the protocol lines of ``samples/roads.h`` and the
launcher, translates the pids the sample sees into the build's (through NSpid),
waits for each checkpointing process to be stopped, hands it to a snapshot
callback, and resumes it. Whatever happens (a crash, a timeout, a flood of output,
Ctrl-C) the run is killed and every process reaped before ``run_program`` returns
or raises. ``tool_prefix`` runs gcc and gdb in the same sandbox.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import select
import selectors
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .. import command
from ..cachedir import partial_file, walk_folder
from ..constants import ADDR_NO_RANDOMIZE, CONTROL_FD
from ..errors import (CommandFailed, EngineError, NotExecuted, ProcessGone, RoadsError,
                      SampleError, tail)
from ..units import human_size
from .proc import PAGE_SIZE, Proc, Status
from .samples import MAX_ADDRESSES, MAX_CHECKPOINTS, MAX_RANGE_PAGES, MAX_RANGES, name_problem

LAUNCHER_SOURCE = Path(__file__).with_name("launcher.c")
STOP_WAIT = 2.0
# The bits of the launcher's "N" line (CONTAINED_* in launcher.c), in that order.
CONTAINMENT = ("pid-namespace", "mount-namespace", "read-only-files", "private-tmp",
               "own-proc", "no-capabilities", "no-new-privs", "subreaper", "user-namespace",
               "ipc-namespace", "network-namespace", "fixed-path")
PID_NAMESPACE = 1 << CONTAINMENT.index("pid-namespace")
READ_ONLY_FILES = 1 << CONTAINMENT.index("read-only-files")
# Where a sample's folder is seen from inside its run (the launcher's AT): the same path
# from every clone, so that no clone path reaches a sample's memory (a static program keeps
# its folder's name on its heap; gdb starts a program by its full path). A fresh tmpfs
# covers /run inside the run, which also hides the machine's sockets there.
RUN_ROOT = "/run/build"
# gcc and gdb: the limits they run under (seconds of CPU, bytes of address space).
TOOL_CPU = 120
TOOL_ADDRESS_SPACE = 8 << 30
# The launcher's own deadline, for when the build cannot end a run (stopped, say): past
# the build's timeout, so that the build's clearer message comes first when it can.
DEADLINE_GRACE = 5
TOOL_DEADLINE = 180
# The most tasks (processes and their threads) a tool's run may have at once: gcc's
# passes, gdb's worker threads (at most 8) and roads explain's tracer with the program it
# runs and every process that starts. RLIMIT_NPROC does not bind root; past this the
# launcher kills the run and says so on stderr (TOOL_FORKED, then the limit).
TOOL_TASKS = 512
TOOL_FORKED = "launcher: the run started more than "  # (also in launcher.c)
# What the launcher says on stderr (once) when a process of a tool's run stops the tool
# (SIGSTOP cannot be blocked) and it continues it; the stop signal's number follows.
TOOL_STOPPED = "launcher: the tool was stopped by signal "
# What the launcher says on stderr where asked for read-only files or no run
# (--read-only-or-no-run) and the system refuses it the namespaces that make them.
NO_READ_ONLY = "launcher: the run's files cannot be made read-only here"
_LAUNCHER_LOCK = threading.Lock()
_LAUNCHERS: set[Path] = set()  # built and seen in this process


@dataclass(frozen=True)
class Stop:
    """One process, stopped, at a named checkpoint: what a snapshot callback receives."""

    pid: int
    ppid: int
    name: str
    seq: int  # order of the checkpoint within the run, 0-based
    addresses: tuple[tuple[str, int], ...]  # what this process recorded so far
    ranges: tuple[tuple[str, int, int], ...]  # (name, start, length) to read pagemap for


@dataclass
class ProcessRecord:
    """One process seen during a run."""

    pid: int
    ppid: int
    status: int | None = None  # raw wait status when the launcher reaped it
    cpu_ms: int | None = None  # CPU time it had used when reaped (when the launcher says)
    # Its RLIMIT_CPU (soft, hard) in seconds as it stood at its end, None for unlimited;
    # None as a whole where the launcher did not tell. The run sets one, and the process
    # may lower it (a shell's ulimit -t, setrlimit).
    cpu_limit: tuple[int | None, int | None] | None = None
    last_checkpoint: str | None = None
    cause: str | None = None  # why it ended, where the status alone does not say

    def describe(self) -> str:
        """How it ended, why, and after which checkpoint: for error messages."""
        text = describe_status(self.status)
        if self.cause:
            text += f" ({self.cause})"
        if self.last_checkpoint is not None:
            text += f" after its last checkpoint {self.last_checkpoint!r}"
        return text

    @property
    def cpu_hard_limit(self) -> int | None:
        """Its hard RLIMIT_CPU in seconds (``cpu_limit``); None: unlimited, or not told."""
        return self.cpu_limit[1] if self.cpu_limit is not None else None

    @property
    def exit_code(self) -> int | None:
        """The exit status, when it exited normally."""
        if self.status is not None and os.WIFEXITED(self.status):
            return os.WEXITSTATUS(self.status)
        return None

    @property
    def signal(self) -> int | None:
        """The killing signal, when a signal ended it."""
        if self.status is not None and os.WIFSIGNALED(self.status):
            return os.WTERMSIG(self.status)
        return None


@dataclass
class RunResult:
    """Everything a run produced apart from the snapshots' own content."""

    pid: int
    personality: int | None
    stdout: str
    stderr: str
    processes: dict[int, ProcessRecord]
    snapshots: list = field(default_factory=list)
    reached: list[str] = field(default_factory=list)
    seconds: float = 0.0
    contained: int = 0  # the launcher's CONTAINMENT bits
    # ``stop_after``: the first process had ended by then, and what it left running was
    # killed once it was reaped (the run does not wait for them to end).
    left_killed: bool = False

    @property
    def containment(self) -> list[str]:
        """Which containment held for this run, by name (``CONTAINMENT``)."""
        return [name for bit, name in enumerate(CONTAINMENT) if self.contained & (1 << bit)]

    @property
    def main(self) -> ProcessRecord:
        """The first process of the run."""
        return self.processes[self.pid]

    @property
    def aslr_disabled(self) -> bool | None:
        """Whether the personality the sample ran with had ADDR_NO_RANDOMIZE."""
        if self.personality is None:
            return None
        return bool(self.personality & ADDR_NO_RANDOMIZE)


def describe_status(status: int | None) -> str:
    """'exit status 3' or 'killed by SIGSEGV' for a raw wait status."""
    if status is None:
        return "no exit status"
    if os.WIFEXITED(status):
        return f"exit status {os.WEXITSTATUS(status)}"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(sig).name}"
        except ValueError:
            return f"killed by signal {sig}"
    return f"wait status {status:#x}"


def wait_status(returncode: int | None) -> int | None:
    """The raw wait status (``describe_status``'s) of a Popen's ``returncode``: negative
    for a signal's end, else the exit status. Given as it was, exit status 2 (the
    launcher's refusal to run) read as a wait status said "killed by SIGINT"."""
    if returncode is None:
        return None
    return -returncode if returncode < 0 else returncode << 8


def oom_kills(proc_root: Path) -> int | None:
    """The machine's count of processes ended by the out-of-memory killer (``oom_kill``
    in /proc/vmstat, Linux 4.13 and later; memory-cgroup kills included); None if absent."""
    try:
        text = (Path(proc_root) / "vmstat").read_text()
    except OSError:
        return None
    found = _OOM_KILL.search(text)  # the first such line, as a loop over the lines would
    return None if found is None else int(found.group(1))


_OOM_KILL = re.compile(r"^oom_kill (.*)$", re.MULTILINE)


def cpu_limit_end(record: ProcessRecord, cpu_seconds: int | None) -> str | None:
    """Whether the processor-time limit ended ``record``: "soft" (its SIGXCPU), "hard"
    (SIGKILL once past the run's limit, SIGXCPU ignored), "lowered" (SIGKILL with its
    processor time about a hard limit of its own, lower than the run's: a shell's
    ``ulimit -t`` sets soft and hard alike, and the kernel sends SIGKILL, no SIGXCPU,
    at that limit), or None. "lowered" is a likelihood: the kernel checks the limit
    against processor time sampled at each clock tick, and the time the process is
    reaped with is the scheduler's own count, which may fall short of it (a 1 s limit
    read 0.94 to 0.97 s), while a SIGKILL from elsewhere at the same moment looks the same."""
    if record.signal == signal.SIGXCPU:
        return "soft"
    if record.signal != signal.SIGKILL or record.cpu_ms is None:
        return None
    if cpu_seconds and record.cpu_ms >= cpu_seconds * 1000:
        return "hard"
    hard = record.cpu_hard_limit
    # The run's own hard limit is a second above cpu_seconds (launcher.c): one that is
    # not below it was not lowered, and a SIGKILL near it came from elsewhere.
    lowered = hard is not None and (not cpu_seconds or hard <= cpu_seconds)
    if lowered and hard and record.cpu_ms >= hard * 1000 * LOWERED_SHARE:
        return "lowered"
    return None


# The share of a process's own hard processor-time limit that its processor time, as
# reaped, must reach for a SIGKILL to be put down to that limit (``cpu_limit_end``).
LOWERED_SHARE = 0.75


def end_cause(record: ProcessRecord, cpu_seconds: int | None, oom_kills_during: int) -> str | None:
    """Why a process of a run ended, where its wait status alone does not say."""
    limit = cpu_limit_end(record, cpu_seconds)
    if limit == "soft":
        return f"it used up its CPU time: limits.cpu = {cpu_seconds} s"
    if limit == "hard":
        return (f"it used up its CPU time, limits.cpu = {cpu_seconds} s, and went on past "
                "SIGXCPU")
    if limit == "lowered":
        return lowered_cpu_limit(record)
    if record.signal == signal.SIGKILL:
        if oom_kills_during > 0:
            return ("the kernel's out-of-memory killer, most likely: oom_kill in /proc/vmstat "
                    f"rose by {oom_kills_during} during the run")
    return None


def lowered_cpu_limit(record: ProcessRecord) -> str:
    """The cause of a "lowered" end (``cpu_limit_end``), in words."""
    return (f"probably its processor-time limit: it had used {(record.cpu_ms or 0) / 1000:.2f} "
            f"s, about the hard limit of {record.cpu_hard_limit} s it had (RLIMIT_CPU, lowered within the "
            "run: ulimit -t, setrlimit), at which the kernel sends SIGKILL")


def launcher_died(signum: int, oom_kills_during: int) -> str:
    """The message for a launcher that a signal killed in the middle of a run."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    why = (f" (the kernel's out-of-memory killer, most likely: oom_kill in /proc/vmstat rose "
           f"by {oom_kills_during})" if oom_kills_during > 0 and signum == signal.SIGKILL else "")
    return (f"the launcher holding the run was killed by {name}{why}; the run was killed "
            "with it and no process of it has an exit status")


# The folder the launcher replaces with an empty one of the run's own and shows nothing
# of (launcher.c; /tmp and /run show what a run needs of them, --show).
EMPTIED = "/dev/shm"


def emptied(path: str) -> bool:
    """Whether the file ``path`` (as named, or its links resolved) lies in ``EMPTIED``,
    where a run in the sandbox would not find it."""
    return any(p.startswith(EMPTIED + "/") for p in (os.path.abspath(path), os.path.realpath(path)))


def launcher(cache: Path) -> Path:
    """The compiled launcher, built into ``cache`` on first use (keyed by its source)."""
    digest = _launcher_digest()
    binary = cache / f"launcher-{digest}"
    with _LAUNCHER_LOCK:
        if binary in _LAUNCHERS:
            return binary
        if not binary.exists():
            cache.mkdir(parents=True, exist_ok=True)
            # Another build may compile it at the same moment: each writes its own file
            # and the rename makes one of them win whole.
            handle, partial = partial_file(binary)  # a name no one can plant a link at
            os.close(handle)
            try:
                command.run(["gcc", "-O2", "-o", str(partial), str(LAUNCHER_SOURCE)],
                            timeout=60)
                os.replace(partial, binary)
            except CommandFailed as exc:
                # Not the sample's compile error, though a sample's compile is what asked.
                raise EngineError(f"the engine's sandbox launcher ({LAUNCHER_SOURCE.name}) "
                                  "did not compile", command=exc.command,
                                  output=exc.output) from exc
            finally:
                partial.unlink(missing_ok=True)
        _LAUNCHERS.add(binary)
    return binary


def _launcher_digest() -> str:
    """The digest of the launcher's source, hashed again only when its stats move."""
    st = LAUNCHER_SOURCE.stat()
    key = (st.st_mtime_ns, st.st_size, st.st_ino)
    known = _LAUNCHER_DIGEST.get(key)
    if known is None:
        known = hashlib.sha256(LAUNCHER_SOURCE.read_bytes()).hexdigest()[:16]
        _LAUNCHER_DIGEST.clear()
        _LAUNCHER_DIGEST[key] = known
    return known


_LAUNCHER_DIGEST: dict[tuple[int, int, int], str] = {}


def tool_prefix(cache: Path, writable: Path, run_at: str | None = None,
                show: tuple[str, ...] = (), or_no_run: bool = False) -> list[str]:
    """The launcher command that runs a tool (gcc, gdb) in the sandbox, with only
    ``writable`` writable: prefix it to the tool's argv (``command.run(sandbox=...)``).
    With ``run_at`` (RUN_ROOT), a tool started in ``writable`` sees it there. ``show``:
    files that lie under /tmp kept visible (read-only) in the sandbox's private /tmp.
    With ``or_no_run``, where the system refuses the sandbox its namespaces the launcher
    runs nothing (status 2, ``NO_READ_ONLY`` on stderr), not the tool amid every file.
    The run is killed past TOOL_TASKS tasks at once (``TOOL_FORKED`` on stderr), and
    what the tool leaves running when it ends."""
    shown = [arg for path in show for arg in ("--show", path)]
    return [str(launcher(cache)), "--tool", str(TOOL_CPU), str(TOOL_ADDRESS_SPACE),
            str(Path(writable).resolve()), str(TOOL_DEADLINE), run_at or "-", *shown,
            "--max-tasks", str(TOOL_TASKS),
            *(("--read-only-or-no-run",) if or_no_run else ()), "--"]


# The number fields of a roads.h line: a pointer in at most 16 hex digits after 0x, a
# length in decimal digits (below 2^64, checked where it is read).
_HEX64 = re.compile(r"(?:0x)?[0-9a-f]{1,16}")
_DEC = re.compile(r"[0-9]{1,20}")


def parse_nspid(status: str) -> tuple[int, ...]:
    """The NSpid line of /proc/PID/status: the pid in each namespace, outermost first."""
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            return tuple(int(x) for x in line.split()[1:])
    return ()


def run_program(
    argv: list[str],
    *,
    launcher_path: Path,
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    no_aslr: bool,
    max_processes: int = 32,
    max_output: int = 1 << 20,
    address_space: int = 4 << 30,
    cpu_seconds: int = 10,
    privileges: int = 0,
    writable: Path | None = None,
    run_at: str | None = None,
    snapshot: Callable[[Stop], object] | None = None,
    stop_after: float | None = None,
    proc: Proc | None = None,
    label: str | None = None,
    cancel: threading.Event | None = None,
    executable: str | None = None,
    read_only: tuple[Path, ...] = (),
    read_only_or_no_run: bool = False,
) -> RunResult:
    """Run ``argv`` (its first item a path relative to ``cwd``) to completion; with
    ``executable`` (a path relative to ``cwd``), run that file instead, ``argv[0]`` then
    only the name it is given (a shell's, as typed: a program found on PATH).

    Each ``ROADS_CHECKPOINT`` stops its process; ``snapshot(stop)`` is called while it
    is stopped and its return value collected in ``RunResult.snapshots``. With
    ``stop_after``, the program is stopped after that many seconds, snapshotted once
    as checkpoint ``"stopped"`` and then killed. Raises SampleError for a timeout, a
    flood of output, a fork storm, or a program that cannot be executed; setting
    ``cancel`` (Ctrl-C in another thread) ends the run within half a second.
    ``privileges`` is a mask of the capabilities the program keeps (bit n: capability
    n); ``writable`` the one folder it may write to (default ``cwd``); with ``run_at``
    (RUN_ROOT) and ``cwd`` that folder, the program runs from it seen at ``run_at``.
    ``read_only``: that folder itself or paths below it (links resolved) that stay
    read-only for the program, with all they hold; the run does not start where one
    cannot be kept so. With ``read_only_or_no_run`` (roads run's) nor where the sandbox
    cannot make files read-only at all (no mount namespace here): the program would
    write every file the user may.
    """
    proc = proc or Proc()
    label = label or os.path.basename(argv[0])
    file = argv[0] if executable is None else executable
    report_r, report_w = os.pipe()  # the launcher's lines; the sample never sees this pipe
    sample_r, sample_w = os.pipe()  # roads.h lines from the sample and its children
    full_env = dict(env)
    full_env["ROADS_FD"] = str(CONTROL_FD)
    started = time.monotonic()
    spawning = time.perf_counter()
    try:
        child = command.spawn(
            [str(launcher_path), str(report_w), str(sample_w), "1" if no_aslr else "0",
             str(cpu_seconds), str(address_space), str(max_processes), f"{privileges:x}",
             str(Path(writable or cwd).resolve()), str(math.ceil(timeout) + DEADLINE_GRACE),
             run_at or "-", *(() if executable is None else ("--exec", executable)),
             *(arg for path in read_only for arg in ("--read-only", str(path))),
             *(("--read-only-or-no-run",) if read_only_or_no_run else ()), "--", *argv],
            cwd=cwd, env=full_env, pass_fds=(report_w, sample_w),
        )
    except BaseException:
        os.close(report_r)
        os.close(sample_r)
        raise
    finally:
        os.close(report_w)
        os.close(sample_w)
    run = _Run(child, report_r, sample_r, proc, snapshot, label, argv, cancel)
    run.waited = time.perf_counter() - spawning
    try:
        run.loop(started + timeout, max_output, timeout, stop_after, started, cpu_seconds)
    finally:
        run.cleanup()
        folder = Path(writable or cwd)
        if not (run.result.contained & READ_ONLY_FILES and folder.resolve() in read_only):
            # (A folder the run kept read-only whole, a home folder say, is not walked.)
            strip_set_id_bits(folder)
        # The time spent waiting for the run (starting it, waiting for its output, its
        # stops and its end) is the sample's; reading /proc at its stops is ours.
        command.charge("run", run.waited)
    result = run.result
    result.seconds = time.monotonic() - started
    if run.failed_exec is not None:
        raise NotExecuted(
            f"could not execute {file}: {os.strerror(run.failed_exec)}", sample=label,
            errno=run.failed_exec,
            command=argv,
        )
    if run.group is None:
        raise SampleError(
            f"the launcher could not start the run ({describe_status(wait_status(child.returncode))})",
            sample=label, command=argv, output=result.stderr or None,
        )
    return result


def not_stopping(status: Status | None) -> str:
    """Why a process has not stopped when it should have, as far as its /proc status
    (``status``, None where it could not be read) shows, as a clause to end a message:
    asleep in the kernel where no signal reaches it (a vfork's parent), or traced by a
    process that may keep the stop signal from it (ptrace hands a tracer each signal
    first, and it may resume the process without it); empty where neither is seen."""
    if status is None:
        return ""
    if status.State.startswith("D"):
        return (f": it sleeps in the kernel where no signal reaches it (State: {status.State}), "
                "as a vfork's parent does until its child runs execve or exits")
    if status.TracerPid:
        return (f": process {status.TracerPid} traces it (ptrace), and a tracer is handed "
                "each signal first and may let the process go on without it")
    return f" (State: {status.State})"


def _status_or_none(proc: Proc, pid: int) -> Status | None:
    try:
        return proc.status(pid)
    except RoadsError:  # gone meanwhile, or not readable
        return None


def strip_set_id_bits(folder: Path) -> None:
    """Clear the setuid and setgid bits of every file a run left in its folder.

    The folder is mounted nosuid inside the run, but not outside it: a root sample's
    setuid copy of itself would be a way to root for anyone who can reach the cache.
    Links are not followed, and nothing outside ``folder`` is touched. The walk
    (``cachedir.walk_folder``) reaches a file however deep the sample hid it, and in a
    folder it made unreadable: os.walk raised RecursionError some thousand folders
    down, leaving the copy there and the capture ended by a traceback."""
    if not os.path.isdir(folder):  # removed by a run without the sandbox (its fallback)
        return
    for fd, name, info, left in walk_folder(folder):
        if left or stat.S_ISLNK(info.st_mode) or not info.st_mode & (stat.S_ISUID | stat.S_ISGID):
            continue
        # Never through a link: the run is over, but another one still going in the same
        # folder may have put a link in the file's place since its lstat, and os.chmod
        # would give the file it names (/etc/shadow, run as root) this one's mode. The
        # file itself, by a handle that does not follow links, and only the same file.
        try:
            handle = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except OSError:
            continue  # gone meanwhile: nothing left to run as root
        try:
            now = os.fstat(handle)
            if (now.st_dev, now.st_ino) == (info.st_dev, info.st_ino) and \
                    not stat.S_ISLNK(now.st_mode):
                os.chmod(f"/proc/self/fd/{handle}",
                         stat.S_IMODE(now.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))
        except OSError:
            pass  # not ours to change: nothing left to run as root
        finally:
            os.close(handle)


def read_ready(fd: int) -> bytes | None:
    """What a non-blocking descriptor holds now: bytes, ``b""`` at end of file, or None
    when there is nothing to read yet."""
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None


class _Run:
    """The state of one run while its pipes are being read."""

    def __init__(self, child, report_fd, sample_fd, proc, snapshot, label, argv, cancel):
        self.child = child
        self.cancel = cancel
        self.proc = proc
        self.snapshot = snapshot
        self.label = label
        self.argv = argv
        self.group: int | None = None
        self.failed_exec: int | None = None
        self.buffers = {"report": b"", "sample": b"", "stdout": bytearray(),
                        "stderr": bytearray()}
        self.result = RunResult(pid=0, personality=None, stdout="", stderr="", processes={})
        self.addresses: dict[int, list[tuple[str, int]]] = {}
        self.ranges: dict[int, list[tuple[str, int, int]]] = {}
        self.limit_hit: int | None = None
        self.host_pids: dict[int, int] = {}  # the sample's pids -> the build's
        self.selector = selectors.DefaultSelector()
        self.selector.register(report_fd, selectors.EVENT_READ, "report")
        self.selector.register(sample_fd, selectors.EVENT_READ, "sample")
        self.selector.register(child.stdout, selectors.EVENT_READ, "stdout")
        self.selector.register(child.stderr, selectors.EVENT_READ, "stderr")
        self.open = 4
        self.output = 0
        self.pipes = (report_fd, sample_fd)
        # Every read is non-blocking: two places read the report pipe (the loop and
        # await_start), so a descriptor that select() called ready may already have
        # been drained when the loop comes to it. A blocking read there would wait
        # forever with the sample stopped at a checkpoint and no deadline checked.
        for fd in (report_fd, sample_fd, child.stdout.fileno(), child.stderr.fileno()):
            os.set_blocking(fd, False)
        self.deadline = float("inf")
        self.oom_before = oom_kills(proc.root)
        self.waited = 0.0  # seconds spent waiting for the run (see run_program)
        self.launcher_file: tuple[int, int] | None = None  # (st_dev, st_ino), when asked
        self.end_with_first = False  # ``stop_after`` found the first process ended

    # -- the loop ---------------------------------------------------------------

    def loop(self, deadline, max_output, timeout, stop_after, started, cpu_seconds=None):
        self.deadline = deadline
        stopped_once = False
        while self.open:
            now = time.monotonic()
            if now >= deadline:
                self.kill()
                raise self.failure(f"did not finish within {timeout:g} s; killed")
            wait = deadline - now
            if stop_after is not None and not stopped_once:
                # Once due, looked at again every 2 ms until the program has started.
                wait = min(wait, max(0.002, started + stop_after - now))
            waiting = time.perf_counter()
            events = self.selector.select(timeout=min(wait, 0.5))
            self.waited += time.perf_counter() - waiting
            if self.cancel is not None and self.cancel.is_set():
                self.kill()
                raise self.failure("interrupted; killed")
            if self.child.poll() is not None and self.child.returncode < 0:
                self.kill()
                raise self.failure(launcher_died(-self.child.returncode, self.oom_rise()))
            if (stop_after is not None and not stopped_once
                    and time.monotonic() >= started + stop_after and self.program_started()):
                stopped_once = True
                if self.stop_and_snapshot():
                    self.kill()
                else:
                    # It ended first: what it left running (a daemon, `cmd &`) is killed
                    # once its own status is in, not waited for until the timeout.
                    self.end_with_first = True
                    if self.first_reaped():
                        self.end_leftovers()
            for key, _ in events:
                data = read_ready(key.fd)
                if data is None:
                    continue  # drained meanwhile (by await_start): nothing lost, nothing to wait for
                if not data:
                    self.selector.unregister(key.fd)
                    self.open -= 1
                    continue
                if key.data == "report":
                    for fields in self.lines("report", data):
                        self.launcher_line(fields)
                    continue
                self.output += len(data)
                if self.output > max_output:
                    self.kill()
                    raise self.failure(
                        f"flooded its output: it wrote more than {human_size(max_output)} "
                        f"({max_output} bytes, its stdout and stderr together), the most a "
                        "run keeps; killed"
                    )
                if key.data == "sample":
                    for fields in self.lines("sample", data):
                        if time.monotonic() >= deadline:  # many lines, each a walk of /proc
                            self.kill()
                            raise self.failure(f"did not finish within {timeout:g} s; killed")
                        self.sample_line(fields)
                else:
                    self.buffers[key.data] += data
            if self.limit_hit is not None:
                raise self.failure(
                    f"forked too much: more than {self.limit_hit} processes and threads at once; killed"
                )
        try:
            # All pipes are closed, so the launcher is ending; still, never wait unbounded.
            waiting = time.perf_counter()
            self.child.wait(timeout=max(STOP_WAIT, deadline - time.monotonic()))
            self.waited += time.perf_counter() - waiting
        except subprocess.TimeoutExpired:
            self.kill()
            raise self.failure(f"did not finish within {timeout:g} s; killed") from None
        # A byte that is not UTF-8 written \xNN, as roads.escapes writes one in a name
        # (U+FFFD would lose it, and differ from every other text roads shows).
        self.result.stdout = self.buffers["stdout"].decode("utf-8", "backslashreplace")
        self.result.stderr = self.buffers["stderr"].decode("utf-8", "backslashreplace")
        if self.child.returncode < 0:  # the pipes closed as the launcher died
            raise self.failure(launcher_died(-self.child.returncode, self.oom_rise()))
        # The machine's count is read again only for a process that SIGKILL ended, the
        # one cause it can explain.
        oom: int | None = None
        for record in self.result.processes.values():
            if oom is None and record.signal == signal.SIGKILL:
                oom = self.oom_rise()
            record.cause = end_cause(record, cpu_seconds, oom or 0)

    def oom_rise(self) -> int:
        """How many processes the kernel's out-of-memory killer ended since the run began."""
        now = oom_kills(self.proc.root)
        return 0 if now is None or self.oom_before is None else now - self.oom_before

    def lines(self, pipe: str, data: bytes) -> list[list[str]]:
        """Whole lines received on ``pipe``, each split into its fields."""
        lines = (self.buffers[pipe] + data).split(b"\n")
        self.buffers[pipe] = lines.pop()
        # Bytes that are not UTF-8 stay visible (as lone surrogates) so that a name made
        # of them is refused rather than read as U+FFFD.
        return [raw.decode("utf-8", "surrogateescape").split(" ") for raw in lines]

    def launcher_line(self, f: list[str]) -> None:
        kind, a, b = f[0], int(f[1]), int(f[2])
        if kind == "N":
            self.result.contained |= a
        elif kind == "S":
            self.group = self.result.pid = a
            self.host_pids[b] = a
            self.result.processes[a] = ProcessRecord(a, os.getpid())
        elif kind == "P":
            self.result.personality = b & 0xFFFFFFFF
        elif kind == "F":
            self.failed_exec = b
        elif kind == "X":
            # The run ends when every process of it has: a child may outlive its parent
            # (and reach its own checkpoints); the timeout bounds the wait.
            record = self.result.processes.setdefault(a, ProcessRecord(a, 0))
            record.status = b
            if len(f) > 3:
                record.cpu_ms = int(f[3])
            if len(f) > 5:
                soft, hard = (int(n) for n in f[4:6])
                record.cpu_limit = (None if soft < 0 else soft, None if hard < 0 else hard)
            if a == self.group and self.end_with_first:
                self.end_leftovers()
        elif kind == "L":
            self.limit_hit = a

    def sample_line(self, f: list[str]) -> None:
        """One roads.h line: "<C|A|R|I> <pid> <ppid> <name> [<hex> [<len>]]"."""
        wanted = {"C": 4, "I": 4, "A": 5, "R": 6}
        if f[0] not in wanted or len(f) != wanted[f[0]]:
            raise self.malformed(f)
        # roads.h writes a pointer as 0x and hex digits and a length in decimal digits,
        # both unsigned and 64-bit: anything else (a sign, _, more bits) was not roads.h.
        if (not (_DEC.fullmatch(f[1]) and _DEC.fullmatch(f[2]))
                or (len(f) > 4 and not _HEX64.fullmatch(f[4]))
                or (len(f) > 5 and not (_DEC.fullmatch(f[5]) and int(f[5]) < 1 << 64))):
            raise self.malformed(f)
        try:
            pid, ppid = int(f[1]), int(f[2])
            value = int(f[4], 16) if len(f) > 4 else 0
            length = int(f[5]) if len(f) > 5 else 0
        except ValueError:
            raise self.malformed(f) from None
        kind, name = f[0], f[3]
        if self.group is None:
            self.await_start()
        if self.result.contained & PID_NAMESPACE:  # the pids the sample sees are its namespace's
            # ppid 0: the run's first process, whose parent is outside its namespace.
            # Pid 1 there is the launcher's init, never a process of the program.
            named = pid
            pid, ppid = self.host_pid(pid), (self.host_pid(ppid) or 0) if ppid else 0
            if pid is None or named == 1:
                raise self.failure(f"a protocol line names process {f[1]}, which is not part "
                                   f"of this run: {' '.join(f)!r}")
        problem = name_problem(name)
        if problem:
            raise self.failure(f"process {pid} sent the name {name[:80]!r}, which {problem}")
        # In the run's own pid namespace, host_pid found it among the run's processes,
        # also one that left the group (setsid); elsewhere the group is the test.
        if not self.result.contained & PID_NAMESPACE and not self.belongs(pid):
            raise self.failure(f"a protocol line names process {pid}, which is not part of "
                               f"this run: {' '.join(f)!r}")
        self.known(pid, ppid)
        if kind == "I":
            # A new program image in this process (its start, or an execve): what the
            # old image recorded points into memory that no longer exists.
            self.addresses[pid] = []
            self.ranges[pid] = []
        elif kind == "A":
            self.addresses[pid] = [a for a in self.addresses[pid] if a[0] != name]
            self.addresses[pid].append((name, value))
            if len(self.addresses[pid]) > MAX_ADDRESSES:
                raise self.failure(f"process {pid} recorded more than {MAX_ADDRESSES} "
                                   "addresses; killed")
        elif kind == "R":
            # Recording a name again (a child after fork, say) replaces it.
            self.ranges[pid] = [r for r in self.ranges[pid] if r[0] != name]
            self.ranges[pid].append((name, value, length))
            if length > MAX_RANGE_PAGES * PAGE_SIZE or len(self.ranges[pid]) > MAX_RANGES:
                raise self.failure(f"process {pid} asked for range {name!r} of {length} bytes: "
                                   f"at most {MAX_RANGES} ranges of at most {MAX_RANGE_PAGES} "
                                   "pages each; killed")
        else:
            self.checkpoint(pid, ppid, name)

    def host_pid(self, pid: int) -> int | None:
        """The build's pid for the sample's ``pid``: known, or found by walking the run's
        processes from the launcher down and reading each one's NSpid."""
        if pid not in self.host_pids:
            root = os.fspath(self.proc.root)
            pending = [self.child.pid]
            seen = 0
            # Until ``pid`` is found: what the walk passes is kept, what lies beyond it
            # is walked when a line names it (a walk reads three files a process).
            while pending and seen < 4096 and pid not in self.host_pids:
                host = pending.pop()
                seen += 1
                where = f"{root}/{host}"
                try:
                    with open(f"{where}/status", "rb") as f:
                        nspid = parse_nspid(f.read().decode("ascii", "replace"))
                    tasks = os.listdir(f"{where}/task")
                except OSError:
                    continue
                if len(nspid) > 1:
                    self.host_pids.setdefault(nspid[-1], host)
                for task in tasks:
                    try:
                        with open(f"{where}/task/{task}/children", "rb") as f:
                            pending += [int(c) for c in f.read().split()]
                    except OSError:
                        pass
        return self.host_pids.get(pid)

    def belongs(self, pid: int) -> bool:
        """Whether ``pid`` is a live process of this run's group."""
        if self.group is None:
            self.await_start()
        if pid in self.result.processes:
            return True
        try:
            return self.group is not None and self.proc.stat(pid).pgrp == self.group
        except ProcessGone:
            return False

    def await_start(self) -> None:
        """Read the launcher's pipe until it names the run's group.

        The two pipes race: the sample's first line (from its constructor) can arrive
        before the launcher's "S", which the launcher writes just after fork.
        """
        report_fd = self.pipes[0]
        limit = min(time.monotonic() + STOP_WAIT, self.deadline)
        while self.group is None and time.monotonic() < limit:
            waiting = time.perf_counter()
            ready, _, _ = select.select([report_fd], [], [], max(0.0, limit - time.monotonic()))
            self.waited += time.perf_counter() - waiting
            if not ready:
                break
            data = read_ready(report_fd)
            if data is None:
                continue
            if not data:
                break
            for fields in self.lines("report", data):
                self.launcher_line(fields)

    def malformed(self, f: list[str]) -> SampleError:
        return self.failure(f"malformed protocol line on ROADS_FD: {' '.join(f)[:200]!r} "
                            "(write to it only through roads.h)")

    def known(self, pid: int, ppid: int) -> None:
        """Remember a process; a forked child starts with its parent's records."""
        if pid not in self.result.processes:
            self.result.processes[pid] = ProcessRecord(pid, ppid)
        if pid not in self.addresses:
            self.addresses[pid] = list(self.addresses.get(ppid, ()))
            self.ranges[pid] = list(self.ranges.get(ppid, ()))

    def checkpoint(self, pid: int, ppid: int, name: str, through: int | None = None,
                   sent: bool = False) -> None:
        if len(self.result.reached) >= MAX_CHECKPOINTS:
            raise self.failure(f"process {pid} reached checkpoint {name!r}, one more than the "
                               f"{MAX_CHECKPOINTS} a run may reach; killed")
        self.wait_stopped(pid, name, through, sent)
        stop = Stop(pid, ppid, name, len(self.result.reached), tuple(self.addresses[pid]),
                    tuple(self.ranges[pid]))
        self.result.reached.append(name)
        self.result.processes[pid].last_checkpoint = name
        try:
            if self.snapshot is not None:
                self.result.snapshots.append(self.snapshot(stop))
        finally:
            # Resumed, the sample may run at once, on this very core: its time.
            waiting = time.perf_counter()
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.waited += time.perf_counter() - waiting

    def program_started(self) -> bool:
        """Whether the run's first process runs the program by now, not the launcher it
        was forked from (``stop_after``: a stop due before the exec waits for it); also
        once that process is gone, for the run's end to tell."""
        if self.group is None:
            return False
        if self.launcher_file is None:  # what the first process runs until its exec
            st = os.stat(self.child.args[0])
            self.launcher_file = (st.st_dev, st.st_ino)
        try:  # the file itself, not its name (which a replaced launcher would change)
            st = os.stat(f"{os.fspath(self.proc.root)}/{self.group}/exe")
        except OSError:
            return True
        return (st.st_dev, st.st_ino) != self.launcher_file

    def stop_and_snapshot(self) -> bool:
        """Stop the run's first process and snapshot it (``stop_after``); False when it
        had ended, or was ending, first: then it ends as it would have, its status kept.
        A process whose main thread alone has ended (pthread_exit) is stopped all the
        same (SIGSTOP stops every thread), and waited for through a thread still running
        (``Proc.other_thread``), which shows its memory where /proc/PID no longer does."""
        if self.group is None or self.first_reaped():  # its pid may be another's by now
            return False
        try:
            os.kill(self.group, signal.SIGSTOP)
        except ProcessLookupError:
            return False
        through = None
        if self.proc.exited(self.group):  # it ended, or is ending, first
            through = self.proc.other_thread(self.group)
            if through is None:
                return False
        stat = self.proc.stat(self.group)
        self.known(self.group, stat.ppid)
        try:
            self.checkpoint(self.group, stat.ppid, "stopped", through=through, sent=True)
        except SampleError:
            if through is not None or not self.proc.exited(self.group):
                raise
            # Its main thread ended as it was being stopped: through another, if any.
            through = self.proc.other_thread(self.group)
            if through is None:
                return False  # it ended as it was being stopped: the same
            self.checkpoint(self.group, stat.ppid, "stopped", through=through, sent=True)
        return True

    def first_reaped(self) -> bool:
        """Whether the launcher has reported the run's first process reaped."""
        record = self.result.processes.get(self.group) if self.group is not None else None
        return record is not None and record.status is not None

    def end_leftovers(self) -> None:
        """Kill what the run's first process left running, once, now that its own
        status is in (``stop_after``)."""
        if not self.result.left_killed:
            self.result.left_killed = True
            self.kill(group=False)  # its group may be empty, its number another's

    def wait_stopped(self, pid: int, name: str, through: int | None = None,
                     sent: bool = False) -> None:
        """Wait until ``pid`` has really stopped after announcing checkpoint ``name``, or
        after being sent SIGSTOP (``sent``: ``stop_after``) (``through``: a thread of it,
        watched where its main thread has ended)."""
        limit = time.monotonic() + STOP_WAIT
        pause = 0.00005
        proc, watched = (self.proc, pid) if through is None else (self.proc.tasks(pid), through)
        while True:
            try:
                state = proc.stat(watched).state
            except ProcessGone:
                raise self.failure(f"process {pid} died at checkpoint {name!r}") from None
            if state in ("T", "t"):
                return
            if state in ("Z", "X"):
                raise self.failure(f"process {pid} died at checkpoint {name!r}")
            if time.monotonic() > limit:
                why = not_stopping(_status_or_none(proc, watched))
                if sent:
                    raise self.failure(f"process {pid} did not stop within {STOP_WAIT:g} s of "
                                       f"being sent SIGSTOP{why}")
                raise self.failure(f"process {pid} announced checkpoint {name!r} but never "
                                   f"stopped{why}")
            waiting = time.perf_counter()
            time.sleep(pause)
            self.waited += time.perf_counter() - waiting
            pause = min(pause * 2, 0.001)

    # -- endings ----------------------------------------------------------------

    def kill(self, group: bool = True) -> None:
        """Kill the run: its group now (unless ``group`` is False), and through the
        launcher every descendant, also one that left the group with setsid."""
        if group and self.group is not None:
            command.kill_group(self.group)
        if self.child.poll() is None:
            try:
                self.child.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def cleanup(self) -> None:
        """Kill what is left and reap it all: nothing stays stopped or unreaped."""
        self.kill()
        waiting = time.perf_counter()
        if self.child.poll() is None:
            try:
                self.child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                command.kill_group(self.child.pid)
                self.child.kill()
                self.child.wait()
        self.waited += time.perf_counter() - waiting
        for key in list(self.selector.get_map().values()):
            self.selector.unregister(key.fd)
        self.selector.close()
        self.child.stdout.close()
        self.child.stderr.close()
        for fd in self.pipes:
            try:
                os.close(fd)
            except OSError:
                pass

    def failure(self, message: str) -> SampleError:
        out = (self.buffers["stdout"] + self.buffers["stderr"]).decode("utf-8",
                                                                       "backslashreplace")
        where = (f" (last checkpoint reached: {self.result.reached[-1]!r})" if self.result.reached
                 else " (no checkpoint reached)")
        return SampleError(message + where, sample=self.label, command=self.argv,
                           output=tail(out) if out else None)


