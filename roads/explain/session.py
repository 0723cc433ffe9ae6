"""One ``roads explain`` session: run (or seize) a program, capture each stop exactly as a
sample's checkpoint is captured (``roads.capture.snapshot.snapshot_process``), and
gather the stops into a capture document (``roads.document.Capture``) that the site's
figure modules draw from.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Callable

import msgspec

from .. import command, document
from ..cachedir import remove_folder
from ..errors import (CaptureError, ProcessGone, RoadsError, SampleError, refused_memory,
                      told_output)
from ..capture.build import written_back
from ..capture.elf import parse_elf, read_bytes, read_elf
from ..capture.proc import Proc
from ..capture.runner import (EMPTIED, NO_READ_ONLY, TOOL_TASKS, Stop, describe_status,
                              emptied)
from ..capture.samples import DEFAULT_FLAGS, MAX_REGIONS
from ..capture.snapshot import snapshot_process
from ..capture.toolchain import package_versions, provenance
from ..constants import ADDR_NO_RANDOMIZE, PROGRAM_ADDRESS_SPACE
from ..elfspec import ELFMAG
from ..errors import ExplainError
from ..escapes import escape_bytes
from ..figures.filenames import program_path
from .program import (DEFAULT_DEADLINE, MAX_DEADLINE, bad_interpreter, not_runnable, shebang,
                      user_program)
from .mapped import Files, MappedFile, mapped_files, merge, opened
from .crash import file_offset, symbol_at
from .record import (NO_BUILD_DIR, VARIANT, Crash, Returned, Session, UnreadStop,
                     address_space_words, listed, session_from_json)
from . import shellwords
from .symbols import inlined, load_span, writes_through_stdio
from .trace import (MAX_OUTPUT, Ending, Hit, Outcome, StopSpec, Tracer, made_with, memory_refused,
                    parse_stop, seize_and_read)

def _shown(job: dict) -> tuple[str, ...]:
    """What the sandbox must show of the machine's /tmp, where it lies there (launcher.c
    gives the run a private /tmp, and shows only these, read-only): the program, the
    folder it runs in, and this Python and roads (a checkout cloned under /tmp)."""
    here = str(Path(__file__).resolve().parents[2])
    return tuple(dict.fromkeys(p for p in (
        job["path"], job["cwd"], sys.executable, os.path.realpath(sys.executable),
        sys.prefix, sys.base_prefix, sys.exec_prefix, here) if _under(p, "/tmp")))


def _program_path(program: str) -> str:
    """The file ``program`` names, found as a shell finds it (on PATH alone without a
    slash), links resolved; ExplainError when there is none or it cannot be run."""
    found = user_program(program)
    if found is None:
        raise ExplainError(not_runnable(program))
    return os.path.realpath(found)


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def _i386_instead(path: str, argv: Sequence[str]) -> str:
    """For a 32-bit x86 program (gcc -m32), which the kernel runs but whose file the
    figures cannot read: the roads run line that shows its map, read from /proc alone;
    "" for any other file."""
    try:
        with open(path, "rb") as file:
            head = file.read(20)
    except OSError:
        return ""
    # e_ident's EI_CLASS 1 (ELFCLASS32), then e_machine 3 (EM_386), little-endian.
    if len(head) < 20 or head[:5] != ELFMAG + b"\x01" or head[18:20] != b"\x03\x00":
        return ""
    return (f"; roads run -- {shellwords.join(list(argv))} shows its memory map as it "
            "runs, from /proc, which a 32-bit program has as any other")


def _script_interpreter(path: str) -> str | None:
    """The interpreter line of a script (what follows ``#!``), or None for a file that
    does not start with one."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return None
    line = shebang(head)
    return None if line is None else escape_bytes(line) or None


def unreadable_program(path: str, exc: RoadsError) -> ExplainError | None:
    """The error for a program that may be run but not read (``chmod 111``), where
    ``exc`` is ``read_elf``'s refusal for want of the right to read it; else None. The
    kernel runs such a file, but roads explain reads it first, as a debugger does, for
    its segments and symbols."""
    if not isinstance(exc.__cause__, PermissionError):
        return None
    try:
        mode = stat.filemode(os.stat(path).st_mode)
    except OSError:
        mode = "its permissions"
    return ExplainError(
        f"{path}: may be run but not read ({mode}), and roads explain reads a program's "
        "file, as a debugger does, for its segments and symbols: make it readable "
        f"(chmod a+r {shellwords.quote(path)}), or name a readable copy")


def sample_name(path: str) -> str:
    name = re.sub(r"[^\w.+-]+", "-", os.path.basename(path)).strip("-")
    return name or "program"


def compile_c(source: Path, out_dir: Path, sandbox: Path | None = None,
              or_no_run: bool = False) -> tuple[Path, tuple[str, ...]]:
    """``source`` compiled as the site compiles its samples (``-O0 -g``, gcc's default PIE),
    from its own folder, which the debug information names ``.`` as a sample's names its
    checkout (``capture.build``): the same source gives the same program wherever it lies.

    With ``sandbox`` (the launcher's cache folder) gcc runs in the sandbox, as the
    samples' gcc does, with only ``out_dir`` writable: a build compiles the source a
    saved session names (``saved.refreshed``), which a repository holds as it holds a
    sample. A name gcc would read as an option or a file of options (``-wrapper...``,
    ``@opts.c``; gcc hands its compiler the name, which reads ``@`` so too, whatever
    folder it is named from) is refused: gcc runs the programs it is told to. With
    ``or_no_run`` (roads explain's), where the system refuses the sandbox its namespaces,
    gcc does not run, and ExplainError says why (``NOT_RUN``), as the program's run would:
    no work is done for a run that will not be."""
    if source.name.startswith(("-", "@")):
        taken = "an option" if source.name[0] == "-" else "a file of options"
        raise ExplainError(f"{source}: gcc would read a name beginning with "
                           f"{source.name[0]!r} as {taken}, not a source: rename the file")
    name = sample_name(source.stem)
    binary = out_dir / name
    argv = ["gcc", *DEFAULT_FLAGS, source.name, "-o", str(binary),
            f"-ffile-prefix-map={source.parent}=."]
    prefix: list[str] = []
    env = {**os.environ}
    if sandbox is not None:
        from ..capture.runner import tool_prefix

        prefix = tool_prefix(sandbox, out_dir, show=tuple(
            p for p in (str(source.parent),) if _under(p, "/tmp")), or_no_run=or_no_run)
        env["TMPDIR"] = str(out_dir)  # the sandbox's /tmp is its own, and small
    # gcc names the folder it runs in after $PWD when that is the same folder (a link's
    # path, say), which the prefix map would miss: the real path, as capture.build does.
    env["PWD"] = str(source.parent)
    done = command.run(argv, timeout=120, check=False, merge_stderr=True, cwd=source.parent,
                       env=env, sandbox=prefix)
    if or_no_run and done.returncode == 2 and NO_READ_ONLY in done.stdout:
        raise ExplainError(NOT_RUN)
    if done.returncode != 0:
        raise ExplainError(f"gcc could not compile {source}:\n{done.stdout.strip()}"
                           + _link_advice(done.stdout, source))
    written_back(binary)  # its code mapped clean, as the samples' (capture.build)
    return binary, ("gcc", *DEFAULT_FLAGS, source.name, "-o", name)


def _link_advice(told: str, source: Path) -> str:
    """What to do where gcc compiled ``source`` but could not link it (``undefined
    reference``: a library it needs, such as -lm, which roads explain does not give):
    compile it yourself, then name the program; "" for any other failure."""
    if "undefined reference to" not in told:
        return ""
    program = source.with_suffix("")
    return ("\nroads explain compiles a source with gcc -O0 -g and nothing more: a program "
            "that needs a library (-lm for sqrt, say) or other options is yours to compile, "
            f"then to name: gcc -O0 -g -o {shellwords.quote(str(program))} "
            f"{shellwords.quote(str(source))} -lm (or what it needs), then roads explain "
            f"-- {shellwords.quote(str(program))}")


def _checkpoint(hit: Hit, seq: int, proc: Proc) -> dict:
    stop = Stop(pid=hit.pid, ppid=hit.ppid, name=hit.label, seq=seq,
                addresses=tuple(hit.addresses), ranges=())
    try:
        return snapshot_process(stop, proc, NO_BUILD_DIR)
    except SampleError:  # the one a snapshot raises: more regions than a capture holds
        regions = _regions(hit.pid, proc)
        raise ExplainError(
            f"--at {hit.label}: process {hit.pid} had {regions} memory regions mapped here,"
            f" more than the {MAX_REGIONS} a stop is read and drawn with "
            "(MAX_REGIONS, roads/capture/samples.py: no figure of more could be read). Stop "
            "earlier, before it maps so many") from None
    except CaptureError as exc:
        if not memory_refused(hit.pid):
            raise
        # A tracee of this tracer, run as its user, that /proc now keeps to itself.
        refused = exc.message.split(";")[0]  # "cannot read /proc/PID/smaps: Permission denied"
        raise ExplainError(
            f"--at {hit.label}: /proc keeps process {hit.pid}'s memory from roads explain "
            f"({refused}): the program made itself not dumpable (prctl PR_SET_DUMPABLE 0) or "
            "changed its user or group ids (setuid, or execve of a set-user-ID program) "
            "before this stop, and /proc then shows its memory only to a tracer with "
            "CAP_SYS_PTRACE. Stop before it does, or, as root, run roads explain with "
            "--no-sandbox") from None
    except ProcessGone:
        # Its main thread has ended (pthread_exit, say) while others run on: /proc/PID
        # shows no memory then, /proc/PID/task/TID of a thread still running shows it
        # all (every thread shares it), as roads show reads it. The checkpoint is the
        # process's; the status lines are that thread's.
        if not _leader_gone(hit.pid, proc):
            raise
        # The thread held at the stop, when it is not the main one; else another.
        tasks = proc.tasks(hit.pid)
        held = hit.tid if hit.tid not in (None, hit.pid) and not tasks.exited(hit.tid) else None
        tid = held or proc.other_thread(hit.pid)
        if tid is None:
            raise
        record = snapshot_process(replace(stop, pid=tid), tasks, NO_BUILD_DIR)
        return {**record, "pid": hit.pid}


def _regions(pid: int, proc: Proc) -> str:
    """How many regions process ``pid`` maps (the lines of its maps file), in words."""
    try:
        return str(len(proc.maps(pid)))
    except RoadsError:
        return "too many"


def _leader_gone(pid: int, proc: Proc) -> bool:
    """Whether the main thread of process ``pid`` has ended while other threads of it
    run on: the leader a zombie (state Z), the process not."""
    try:
        leader = proc.tasks(pid).stat(pid)
    except RoadsError:
        return False
    return leader.state == "Z" and proc.other_thread(pid) is not None


def _capture(name: str, command_line: list[str], elf, checkpoints: list[dict], *,
             aslr: bool | None, gcc_argv: tuple[str, ...], run: dict, title: str,
             packages: Mapping[str, str | None] | None) -> document.Capture:
    """The capture document of the stops ``checkpoints``, with ``elf`` (``read_elf``'s
    record of the program run) as its variant's ELF file; ``packages`` for its
    provenance (``provenance``: None, asked here)."""
    personality = checkpoints[0]["personality"] if checkpoints else 0
    # Whether the first stop's layout was chosen at random, at its execve (the
    # personality read at the stop may have changed since: ``Checkpoint.randomized``).
    randomized = checkpoints[0].get("randomized") if checkpoints else None
    if randomized is None:
        randomized = not personality & ADDR_NO_RANDOMIZE
    # What the run started with, as the launcher records it for a sample: the flag
    # ptrace.randomize set (and checked) for a process roads started; for one it did
    # not, the personality at its first stop.
    disabled = not aslr if aslr is not None else bool(personality & ADDR_NO_RANDOMIZE)
    if aslr is None:  # a process roads did not start: it asked for what it has
        aslr = randomized
    doc = {
        "schema": 1,
        "sample": name,
        "title": title,
        "inputs": {"manifest": {"name": name, "args": command_line[1:], "aslr": aslr,
                                "checkpoints": list(dict.fromkeys(c["name"] for c in checkpoints)),
                                "variants": [{"name": VARIANT, "flags": []}]}},
        "provenance": provenance(packages),
        "variants": {VARIANT: {
            "gcc_argv": list(gcc_argv),
            "elf": document.to_builtins(elf),
            "runs": [{"index": 0, "aslr_requested": aslr, "personality": personality,
                      "aslr_disabled": disabled,
                      "checkpoints": checkpoints, **run}],
        }},
    }
    return document.from_builtins(doc)


def explain_program(argv: list[str], wheres: list[str], *, aslr: bool = False,
                    follow_fork: bool = False, deadline: float = 30.0,
                    sandbox: Path | None = None, cache: Path | None = None,
                    progress: Callable[[str], None] = lambda s: None,
                    shown: list[str] | None = None, or_no_run: bool = False) -> Session:
    """Run ``argv`` (a ``.c`` file is compiled first) to the stops ``wheres``; the page
    names the program and its arguments as ``shown`` (default: ``argv``, as given, so
    that its command makes the page again where it was typed; a saved session gives them
    as recorded, relative to the project, not the clone's path it runs them by).

    With ``sandbox`` (the cache folder of the launcher) the tracer and the program run
    in the launcher's sandbox, as gcc and gdb do for the samples (``tool_prefix``): pid
    and mount namespaces, every file read-only but a fresh folder seen at /run/build,
    a private /tmp (where the program and its folder, if they lie in /tmp, are seen
    alone, read-only: ``--show`` in ``launcher.c``), no capabilities; the capture
    comes back as a document.

    That fresh folder, where a ``.c`` program is compiled, is made in the cache folder,
    not under /tmp: where /tmp is a tmpfs the binary's pages would stay dirty
    (``capture.build.written_back``). What the run needs of the machine's /tmp (the
    program, its working folder, this Python and roads when a checkout lives there) is
    shown in the sandbox's private one (``_shown``).

    The toolchain's packages the capture records are asked here, not in the sandbox,
    where nothing but the run's folder may be written: with ``cache`` (the tools
    folder), dpkg's answers are kept there for the next run (``package_versions``).

    Where the system refuses the sandbox its namespaces, the launcher runs the tracer
    without them, amid the user's files (``REFUSED``), as a build of the site's own
    samples needs in a container; with ``or_no_run`` (roads explain's, whose program is
    anyone's) it runs nothing, and ExplainError says why (``NOT_RUN``)."""
    stops = [parse_stop(w) for w in wheres] or [parse_stop("main")]
    labels = [s.label for s in stops]
    if len(set(labels)) != len(labels):
        raise ExplainError("the same --at twice: " + ", ".join(sorted({l for l in labels if labels.count(l) > 1})))
    # The same stop written two ways (main and main:1, 0.5s and 500ms): one stop.
    same: dict[tuple, str] = {}
    for stop in stops:
        key = (stop.kind, stop.name, stop.count, stop.seconds)
        if key in same:
            raise ExplainError(f"--at {same[key]} and --at {stop.label} are the same stop: "
                               "give it once")
        same[key] = stop.label
    for stop in stops:
        if stop.kind == "func" and stop.name == "exit":  # exit:2, which reads as a process's
            progress(f"--at {stop.label} {EXIT_FUNCTION}")
    for stop in stops:
        # A delay counts from the program's start, the deadline from the command's.
        if stop.kind == "delay" and stop.seconds >= deadline:
            later = (f"give a later --deadline, at most {MAX_DEADLINE:g} s"
                     if stop.seconds < MAX_DEADLINE
                     else f"a delay of {MAX_DEADLINE:g} s or more is never reached")
            raise ExplainError(f"--at {stop.label} comes after the deadline, {deadline:g} s "
                               f"from the command's start (--deadline): {later}")
    program = argv[0]
    named = shellwords.quote(program)  # in a sentence, as a shell reads it back
    compiled = program.endswith(".c")
    path = "" if compiled else _program_path(program)
    place = None
    if sandbox is not None:
        if path and emptied(path):  # a program named (a .c file is compiled elsewhere)
            raise ExplainError(f"{named}: lies under {EMPTIED}, which the sandbox replaces "
                               "with an empty one: copy it elsewhere, or use --no-sandbox")
        sandbox.mkdir(parents=True, exist_ok=True)
        place = sandbox
    with _run_folder(place, progress) as tmp:
        gcc_argv: tuple[str, ...] = ()
        if compiled:
            source = Path(program)
            if source.is_dir():
                raise ExplainError(f"{named}: a folder, not a C source")
            if not source.is_file():
                raise ExplainError(f"{named}: no such file")
            progress(f"compiling {shellwords.join([program])}")
            binary, gcc_argv = compile_c(source.resolve(), Path(tmp), sandbox, or_no_run)
            path = str(binary)
        try:
            read_elf(path)
        except RoadsError as exc:
            interpreter = _script_interpreter(path)
            if interpreter is not None:
                # Named on PATH, the script is given to its interpreter by its path.
                script = program if "/" in program else user_program(program) or program
                where = "" if script == program else f" ({shellwords.quote(script)})"
                runner = interpreter.split()
                runner = runner[1:] if Path(runner[0]).name == "env" and runner[1:] else runner
                if not runner[0].startswith("-") and user_program(runner[0]) is None:
                    # As a shell finds it (env looks on PATH): one that is not there
                    # fails as the script does ("bad interpreter"); no line to type.
                    raise ExplainError(f"{named}{where} is "
                                       f"{bad_interpreter(runner[0], interpreter)}") from None
                # The line to type with the arguments given (it said "followed by the
                # script's arguments", and a learner's -c '...' had to be typed again).
                raise ExplainError(
                    f"{named}{where} is a script, run by {interpreter}, not a compiled "
                    "program: name its interpreter, whose memory you will see: roads "
                    f"explain -- {shellwords.join([*runner, script, *argv[1:]])}") from None
            refused = unreadable_program(path, exc)
            if refused is not None:
                raise refused from None
            raise ExplainError(f"{named}: not an ELF program roads explain can read "
                               f"({exc.message}){_i386_instead(path, argv)}") from None
        if not gcc_argv:
            # A program just built (gcc -o prog, then roads explain ./prog) is not yet
            # written back: smaps would count every page it maps from its file, its
            # read-only data too, as dirty, as for a .c compiled here (compile_c).
            written_back(Path(path))
        shown = list(argv) if shown is None else list(shown)
        name = sample_name(program if not gcc_argv else Path(program).stem)
        # A program named is run as a shell runs it, its file given argv[0] as typed (a
        # multi-call program such as xzcat reads what to do there); a compiled one, its path.
        job = {"path": path, "argv0": "" if gcc_argv else program, "args": argv[1:],
               "wheres": [s.label for s in stops], "aslr": aslr, "follow_fork": follow_fork,
               "deadline": deadline, "gcc_argv": list(gcc_argv), "shown": shown, "name": name,
               "typed": list(argv), "private_args": _private_args(argv[1:]),
               "default_stop": not wheres,
               "cwd": os.getcwd(), "sandbox": sandbox is not None,
               # The program's own limit, in the sandbox as under roads run (Tracer).
               "address_space": PROGRAM_ADDRESS_SPACE.value if sandbox is not None else None,
               "packages": package_versions(cache)}
        if sandbox is None:
            progress(f"running {shellwords.join(argv)}")
            return trace_program(job, progress)
        return _in_sandbox(job, Path(tmp), sandbox, progress, or_no_run)


RUN_FOLDER = "roads-explain-"  # the start of a run folder's name (mkdtemp's prefix)
# A run folder's name as mkdtemp makes them: the prefix and eight of its letters.
_RUN_NAME = re.compile(re.escape(RUN_FOLDER) + r"[a-z0-9_]{8}")
# A run holds a lock on the file of this name beside its folder (outside it: the program
# may change anything in its folder) for as long as it lasts.
LOCK_SUFFIX = ".lock"
# A lock file this young may be one a run has made and not locked yet.
LOCK_AGE = 60.0


def _remove_left(place: Path, now: float | None = None) -> int:
    """Remove the run folders in ``place`` that runs ended by SIGKILL left (which gives
    no time to remove one); how many. A folder is one only if its name is one mkdtemp
    gives a run, it is this user's, and its lock file beside it is there, a minute old
    and locked by no one: its run is over, however old the folder or its contents look,
    and a folder of the user's own that happens to be named alike is never touched. A
    folder with a file system mounted inside, or that cannot be removed, is left."""
    now = time.time() if now is None else now
    removed = 0
    try:
        entries = list(os.scandir(place))
    except OSError:
        return 0
    for entry in entries:
        if not _RUN_NAME.fullmatch(entry.name):
            continue
        lock_path = f"{entry.path}{LOCK_SUFFIX}"
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                continue
            fd = os.open(lock_path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = os.fstat(fd)
            # Only a lock file of this user's, as a run makes it: in a folder others may
            # write to (TMPDIR=/tmp), one they made there would vouch for a folder of yours.
            if (not stat.S_ISREG(held.st_mode) or held.st_uid != os.getuid()
                    or held.st_nlink != 1 or now - held.st_mtime < LOCK_AGE
                    or _holds_a_mount(entry.path)):
                continue
            remove_folder(Path(entry.path))
            os.unlink(lock_path)
            removed += 1
        except OSError:  # locked (its run goes on), or not all removed
            continue
        finally:
            os.close(fd)
    return removed


def _holds_a_mount(folder: str) -> bool:
    """Whether a file system is mounted at or under ``folder`` (its files are not the
    run's to remove): by this process's mount table, /proc/self/mountinfo, which also
    lists a folder bound there from the same file system (which has the same st_dev);
    True where the table cannot be read."""
    top = os.path.realpath(folder)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            table = f.read()
    except OSError:
        return True
    for line in table.splitlines():
        fields = line.split(" ")
        if len(fields) < 5:
            continue
        # The mount point, with its space, tab, newline and backslash written in octal.
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
        if point == top or point.startswith(top + "/"):
            return True
    return False


@contextlib.contextmanager
def _run_folder(place: Path | None,
                progress: Callable[[str], None] | None = None) -> Iterator[Path]:
    """A fresh folder for the run, this user's alone (mkdtemp), in ``place``; removed
    after the run however the program filled it (``cachedir.remove_folder``): a tree
    some thousand folders deep stopped TemporaryDirectory's rmtree with RecursionError,
    which ended roads explain in a traceback instead of the page, the folder left.
    The run holds a lock beside it while it lasts; the folders whose runs were killed
    before they could remove them go first (``_remove_left``)."""
    where = Path(place) if place is not None else Path(tempfile.gettempdir())
    _remove_left(where)
    folder, lock, lock_path = _new_run_folder(place, where)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder
        except BaseException:
            if not _holds_a_mount(str(folder)):
                with contextlib.suppress(OSError):
                    remove_folder(folder)
            raise
        if _holds_a_mount(str(folder)):
            # A program run outside the sandbox, with the right to, mounted something
            # there: removing the folder would delete through it what is not the run's.
            # The run itself went well: said, and its page still made (with no one to
            # tell, an error).
            left = (f"the run's folder {folder} has a file system mounted in it (by the "
                    "program?): left as it is; unmount it, then remove the folder")
            if progress is None:
                raise ExplainError(left)
            progress(left)
            return
        try:
            remove_folder(folder)
        except OSError as exc:
            raise ExplainError(f"cannot remove the run's folder {folder}: "
                               f"{exc.strerror or exc}") from None
    finally:
        if not os.path.lexists(folder):  # one left keeps its lock file: a later run's to remove
            with contextlib.suppress(OSError):
                os.unlink(lock_path)
        os.close(lock)


def _new_run_folder(place: Path | None, where: Path) -> tuple[Path, int, str]:
    """A new run folder in ``place`` and its lock file, open: the folder, the lock's
    descriptor and its path. In a folder others may write to, one who watches it can
    make the lock file's name first, as soon as the folder appears (it failed the run
    with a traceback): another folder is tried then, a few times."""
    for _ in range(5):
        folder = Path(tempfile.mkdtemp(prefix=RUN_FOLDER, dir=place))
        lock_path = f"{folder}{LOCK_SUFFIX}"
        try:
            return folder, os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL
                                   | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600), lock_path
        except FileExistsError:
            taken = lock_path
        except OSError as exc:
            with contextlib.suppress(OSError):
                remove_folder(folder)
            raise ExplainError(f"cannot make the run's lock file {lock_path}: "
                               f"{exc.strerror or exc}") from None
        with contextlib.suppress(OSError):
            remove_folder(folder)
    raise ExplainError(f"cannot make a run folder's lock file in {where}: another process "
                       f"made each name first ({taken}, the last); give roads explain a "
                       "folder of your own (TMPDIR)")


# The namespaces whose being the sandbox's own makes it one (launcher.c's init): where
# the system refuses them, the launcher runs the program without them (its fallback,
# a child subreaper), with its limits and without privileges but amid the machine's
# files, and the inner half says so (``REFUSED``).
SANDBOX_NAMESPACES = ("mnt", "pid")
REFUSED = ("the system refused the sandbox its namespaces: the program runs with its "
           "limits and without privileges, but sees your files as you do and may write "
           "where you may")


def namespaces() -> dict[str, str]:
    """This process's namespaces that make the sandbox, by kind (``/proc/self/ns``);
    those that cannot be read are left out."""
    found = {}
    for kind in SANDBOX_NAMESPACES:
        try:
            found[kind] = os.readlink(f"/proc/self/ns/{kind}")
        except OSError:
            pass
    return found


def refused(outside: dict[str, str], inside: dict[str, str]) -> bool:
    """Whether a run meant for the sandbox shares a namespace with the process that
    started it: namespaces the system refused."""
    return any(inside.get(kind) == ns for kind, ns in outside.items())


def sandboxed_job(job: dict, folder: Path) -> dict:
    """``job`` as the inner half is given it: a program compiled into the run's
    ``folder`` named from there (``./NAME``), which the inner half, started in that
    folder, makes absolute. Inside the sandbox the folder is seen at RUN_ROOT; where the
    system refused the sandbox its namespaces, it is seen where it lies."""
    if job["path"].startswith(str(folder) + "/"):
        return {**job, "path": "./" + job["path"][len(str(folder)) + 1:]}
    return job


# What the inner Python's environment changes of the caller's (``_inner_environment``),
# which the program is given back as it was (``program_environment``).
INNER_ENVIRONMENT = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONSTARTUP")


def _inner_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of ``python -m roads.explain.inner``: this roads first on its
    path, no .pyc written (the sandbox's files are read-only), no start-up file."""
    env = {k: v for k, v in environ.items() if k != "PYTHONSTARTUP"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[2]),
                                                    env.get("PYTHONPATH", "")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def program_environment(environ: Mapping[str, str],
                        callers: Mapping[str, str | None]) -> dict[str, str]:
    """The environment the traced program is given: ``environ`` with the variables in
    ``callers`` as the caller had them (None: unset), whatever the inner Python was given."""
    env = {k: v for k, v in environ.items() if k not in callers}
    env.update({k: v for k, v in callers.items() if v is not None})
    return env


# Why a run that the sandbox could not hold was not started (``or_no_run``).
NOT_RUN = ("the system refuses the sandbox its namespaces (PID and mount: a container, "
           "or user namespaces turned off), and without them the program would see and "
           "may write your files as you do: it was not run; roads explain --no-sandbox "
           "runs it so, for a program you trust")


# Why a run the launcher killed for its tasks (``TOOL_FORKED``) ended.
FORKED = (f"the program started more than {TOOL_TASKS} processes and threads at once, the "
          "sandbox's limit: the run was killed")


def _in_sandbox(job: dict, folder: Path, cache: Path, progress: Callable[[str], None],
                or_no_run: bool = False) -> Session:
    """``trace_program`` run by ``python -m roads.explain.inner`` inside the sandbox; with
    ``or_no_run``, nowhere where the sandbox would be refused its namespaces."""

    from ..capture.runner import RUN_ROOT, TOOL_FORKED, TOOL_STOPPED, launcher, tool_prefix
    from ..errors import CommandTimeout

    job = {**sandboxed_job(job, folder), "outside": namespaces(),
           "environ": {name: os.environ.get(name) for name in INNER_ENVIRONMENT}}
    (folder / "job.json").write_text(json.dumps(job))
    progress(f"running {shellwords.join(job['typed'])} in the sandbox")
    launcher(cache)
    env = _inner_environment(os.environ)

    def relay(line: str) -> None:
        """The tracer's progress lines, and the launcher's word on it, told as they come
        (they were told once the run was over: none while a program ran for long)."""
        if line.startswith("roads explain: "):
            progress(line.removeprefix("roads explain: "))
        elif line.startswith(TOOL_STOPPED):
            progress(_tool_stopped(line.removeprefix(TOOL_STOPPED)))

    try:
        done = command.run([sys.executable, "-m", "roads.explain.inner", "job.json"], cwd=folder,
                           timeout=job["deadline"] + 60, check=False, env=env,
                           sandbox=tool_prefix(cache, folder, run_at=RUN_ROOT,
                                               show=_shown(job), or_no_run=or_no_run),
                           on_line=relay)
    except CommandTimeout as exc:
        raise ExplainError(f"the sandboxed run did not finish: {exc.message}") from None
    if or_no_run and done.returncode == 2 and NO_READ_ONLY in done.stderr:
        raise ExplainError(NOT_RUN)
    if done.returncode != 0 and any(line.startswith(TOOL_FORKED)
                                    for line in done.stderr.splitlines()):
        raise ExplainError(FORKED)
    result = _result(folder / "result.json", done)
    if "error" in result:
        raise ExplainError(str(result["error"]))
    return session_from_json(result)


def _tool_stopped(told: str) -> str:
    """The launcher's word that the tracer was stopped and continued (``TOOL_STOPPED``,
    then the signal's number), for the user."""
    number = told.split(";", 1)[0]
    try:
        name = signal.Signals(int(number)).name
    except ValueError:
        name = f"signal {number}"
    return (f"the program (or a process it started) stopped roads explain's tracer with "
            f"{name}; the sandbox continued it, and the run went on")


def _result(path: Path, done: command.Completed) -> dict:
    """What the tracer (``roads.explain.inner``) left at ``path``, in the run's folder,
    which the program writes too: it may have put a FIFO there (a read would wait for
    ever), a link, or words of its own, then killed its tracer (its parent, of the same
    user). So a result counts only from a tracer that ended well, status 0, having
    renamed its result into place once the run was over, and it is read only as a
    regular file, not through a link, without waiting."""
    failed = f"the sandboxed run failed (status {done.returncode})"
    if done.returncode > 128:  # the launcher's status for its tool killed: 128 + signal
        try:
            name = signal.Signals(done.returncode - 128).name
        except ValueError:
            name = f"signal {done.returncode - 128}"
        failed = (f"the tracer in the sandbox was killed by {name} before it gave its result "
                  "(the program runs as the same user, and may signal it)")
    told = (done.stderr or done.stdout).strip()[-2000:]
    if done.returncode != 0:
        raise ExplainError(f"{failed}: {told}" if told else failed)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            result = json.loads(f.read())
    except (OSError, ValueError) as exc:
        raise ExplainError(f"{failed}: {path.name}: {getattr(exc, 'strerror', None) or exc}"
                           + (f": {told}" if told else "")) from None
    if not isinstance(result, dict):
        raise ExplainError(f"{failed}: {path.name} holds no result")
    return result


def trace_program(job: dict, progress: Callable[[str], None] = lambda s: None) -> Session:
    """Trace ``job`` (what ``explain_program`` resolved) here, in this process."""
    stops = [parse_stop(w) for w in job["wheres"]]
    if job.get("default_stop"):
        stops = [replace(stop, default=True) for stop in stops]
    labels = [s.label for s in stops]
    path, deadline = job["path"], job["deadline"]
    program = shellwords.quote(job["shown"][0])  # as its errors name it
    proc = Proc()
    checkpoints: list[dict] = []
    unread: list[UnreadStop] = []
    returned: dict[str, Returned] = {}
    files: dict[str, MappedFile | None] = {}
    threads: dict[int, int] = {}
    shared: dict[int, tuple[int, ...]] = {}
    other_file: set[int] = set()
    crashes: dict[int, Crash] = {}

    def on_stop(hit: Hit) -> None:
        # A stop that cannot be read is told and the run goes on: the stops read before
        # it, and any after it that can be, still make the page.
        seq = len(checkpoints)
        try:
            checkpoints.append(_checkpoint(hit, seq, proc))
            if started is not None and _identity(f"/proc/{hit.pid}/exe") not in (started, None):
                other_file.add(seq)
            # While it is held: which files its paths name (read after the run).
            merge(files, mapped_files(hit.pid, proc, checkpoints[-1]["regions"]))
        except RoadsError as exc:
            unread.append(UnreadStop(hit.label, hit.pid, exc.message))
            # Named now, as the run goes on; why, once, at the end (command.cmd_explain).
            progress(f"could not read the stop {hit.label} (pid {hit.pid}); the reason "
                     "follows at the end")
            return
        if hit.returned is not None:
            returned[hit.label] = hit.returned
        if hit.thread is not None:
            threads[seq] = hit.thread
        if hit.crash is not None:
            crashes[seq] = hit.crash
        sharing = tracer.sharing_memory(hit.pid, hit.tid)
        if sharing:
            shared[seq] = sharing

    # The program's file held (O_PATH: nothing read, no driver's open) until the run
    # is over: while it is, no file made meanwhile can take its inode number, by which
    # a stop in it is told from one in a new build put at its path (``other_file``).
    try:
        held = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        held = None
    try:
        # Read before it runs, as a sample's binary is (capture.snapshot): the program may
        # delete or replace its own file (it lies in the run's folder, which it may write),
        # and the capture would fail, or show another program's ELF file.
        try:
            st = None if held is None else os.fstat(held)
            started = None if st is None else (st.st_dev, st.st_ino)
            data = read_bytes(Path(path))
            elf = parse_elf(Path(path), data)
        except RoadsError as exc:
            # The sandbox has no right to read what only root's could (roads run as root).
            raise unreadable_program(path, exc) or exc from None
        if started is not None and _identity(path) != started:  # replaced as it was read
            started = None
        # Whether it writes through stdio's buffers (the page's note on output lost in them).
        stdio = writes_through_stdio(data, path, list(elf.needed))
        cwd = job["cwd"] if os.path.isdir(job["cwd"]) else None
        tracer = Tracer([job.get("argv0") or path, *job["args"]], stops, on_stop=on_stop,
                        aslr=job["aslr"], follow_fork=job["follow_fork"], deadline=deadline,
                        progress=progress, cwd=cwd, executable=path,
                        env=program_environment(os.environ, job.get("environ", {})),
                        address_space=job.get("address_space"))
        outcome = tracer.run()
    finally:
        if held is not None:
            os.close(held)
    missing = [l for l in labels if l not in outcome.reached]
    # A system call the C library makes with another one (glibc's fork() with clone).
    unreached = {spec.label: counted_words(spec, outcome.counted[spec.label])
                 for spec in stops if spec.label in outcome.counted} | {
        spec.label: made_with(spec.name) for spec in stops if spec.kind == "syscall"
        and spec.label in missing and made_with(spec.name)} | {
        label: "no function of that name in the program, its libraries or any it "
               "opened" for label in outcome.unfound} | {
        label: why for label, why in outcome.execed.items() if label in missing
    } | outcome.refused
    unreached |= _inlined_stops(stops, missing, outcome, unreached, path)
    hint = "".join(f" ({label}: {why})" for label, why in unreached.items())
    late = [label for label in missing if label not in outcome.refused]
    # No page to show what the program wrote: the error does (why it ended, often).
    wrote = _wrote(outcome, program, sandboxed=job.get("sandbox", True),
                   args=job.get("private_args", ()), address_space=job.get("address_space"))
    if outcome.timed_out and late:
        reached = [label for label in labels if label in outcome.reached]
        # What the run had, and how to get a page: it said only that it was killed.
        then = (f"; the stops it reached ({', '.join(reached)}) get no page from a run the "
                "deadline cuts short" if reached else "")
        later = f"a later --deadline (at most {MAX_DEADLINE:g} s)"
        waiting = ""
        if outcome.waiting_in:
            # A program that waits (pause, a lock, a child that never ends) may wait
            # past any deadline: said, so that a later one is not taken for the cure.
            waiting = (f" while it waited in the system call"
                       f"{'s' if len(outcome.waiting_in) > 1 else ''} "
                       f"{', '.join(outcome.waiting_in)}")
            then += f": {later} helps only if that wait ends by then"
        else:
            then += f": give it {later}"
        then += ", or leave out the stops it does not reach" if reached else ""
        if "exit" in late:  # a server, a game loop, a learner's for (;;): it never ends
            then += ("; a program that runs until it is stopped has no exit to wait for: a "
                     "delay stop (--at 1s) shows it as it runs")
        raise ExplainError(f"{program} did not reach {', '.join(late)} within "
                           f"{deadline:g} s (--deadline); it was killed{waiting}" + "".join(
                               f" ({label}: {outcome.execed[label]})"
                               for label in late if label in outcome.execed) + then + wrote)
    ending = _ending(outcome, program, deadline)
    if not checkpoints and unread:
        raise ExplainError(f"{program}: no stop it reached could be read, nothing was "
                           "captured: " + "; ".join(u.reason for u in unread) + wrote)
    if not checkpoints:
        raise ExplainError(f"{program} {ending} before reaching {', '.join(missing)}; "
                           f"nothing was captured{hint}{wrote}")
    main = outcome.processes[outcome.pid]
    status = main.status
    run = {
        "pid": outcome.pid,
        "exit_code": os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None,
        "signal": (os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status)
                   and not main.killed_by_us else None),
        "status": ending,
        "processes": [{"pid": p.pid, "ppid": p.ppid if p.pid != outcome.pid else 0,
                       "exit_code": os.WEXITSTATUS(p.status) if p.status is not None and os.WIFEXITED(p.status) else None,
                       "signal": os.WTERMSIG(p.status) if p.status is not None and os.WIFSIGNALED(p.status) else None}
                      for p in outcome.processes.values()],
        "stdout": outcome.stdout,
        "stderr": outcome.stderr,
    }
    shown = [escape_bytes(a) for a in job["shown"]]  # bytes that are not UTF-8 as \xNN
    capture = _capture(job["name"], shown, elf, checkpoints, aslr=job["aslr"],
                       gcc_argv=tuple(job["gcc_argv"]), run=run,
                       title=command_line(job), packages=job.get("packages"))
    cut = {name: n for name, n in outcome.written.items() if n > MAX_OUTPUT}
    # The program started, whose ELF file the capture holds: a stop after an execve is
    # another's (roads.explain.page.selections).
    return Session(capture, escape_bytes(outcome.exe), shown, ending, not missing, missing,
                   cut, unread, returned, list(outcome.stopped), unreached,
                   spans=load_spans(checkpoints, files), files=files, threads=threads,
                   typed=shellwords.join(job["shown"]), own_pids=_own_pids(job),
                   shared=shared, stdio=stdio, other_file=frozenset(other_file),
                   crashes=_crash_symbols(crashes, checkpoints, files),
                   address_space=job.get("address_space"))


def _crash_symbols(crashes: Mapping[int, Crash], checkpoints: list[dict],
                   files: Files) -> dict[int, Crash]:
    """Each crash with the function that holds its faulting instruction (``symbol_at``),
    looked up in the file its stop's regions map at the pc, read now, while the run's
    files are there, and only where it is the file the stops mapped (``mapped.opened``);
    a crash in anonymous memory (JIT code), in a file gone or replaced, or in code no
    symbol covers keeps none."""
    elves: dict[str, object] = {}
    out = {}
    for seq, crash in crashes.items():
        regions = msgspec.convert(checkpoints[seq]["regions"], list[document.Region])
        found = file_offset(regions, crash.pc)
        if found is None:
            out[seq] = crash
            continue
        region, offset = found
        path = region.pathname
        if path not in elves:
            try:
                with opened(path, files) as fd:
                    elves[path] = parse_elf(Path(path), read_bytes(Path(f"/proc/self/fd/{fd}")))
            except (RoadsError, OSError):
                elves[path] = None
        elf = elves[path]
        out[seq] = replace(crash, symbol=symbol_at(elf, offset)) if elf is not None else crash
    return out


def _identity(path: str) -> tuple[int, int] | None:
    """The device and inode of the file at ``path`` (of /proc/PID/exe: the file the
    process runs, whatever lies at its path now), or None where it cannot be told."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


# Enough of a file's start to hold its program headers (they follow the ELF header).
HEADERS_READ = 64 * 1024


def load_spans(checkpoints: list[dict], files: Files) -> dict[str, int]:
    """How many bytes the loader maps of each ELF file the stops map, from its first page
    (``symbols.load_span``), by its path as maps names it: read from its program headers
    now, while the run's files are there (a page, or a build drawing a saved session,
    may be made elsewhere). A file gone, not ELF, or not the one the stops mapped
    (``files``: replaced since, ``mapped.opened``) has none."""
    spans: dict[str, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    paths = {r["pathname"] for c in checkpoints for r in c["regions"]}
    for path in sorted(p for p in paths if p.startswith("/") and not p.endswith(" (deleted)")):
        try:
            with opened(path, files) as fd:
                head = os.pread(fd, HEADERS_READ, 0)
            span = load_span(head, path, page)
        except (OSError, ExplainError):
            continue
        if span is not None:
            spans[path] = span
    return spans


def _own_pids(job: dict) -> bool:
    """Whether this run, in the sandbox (``job["outside"]``: the namespaces of the
    process that started it), has a pid namespace of its own: one the system did not
    refuse it."""
    outside = job.get("outside", {}).get("pid")
    return outside is not None and namespaces().get("pid") not in (None, outside)


# Why a function stop of the program's own was not reached, where its debugging
# information says the compiler inlined the function (``symbols.inlined``).
INLINED = ("the compiler inlined its calls into their callers (gcc -O1 and above, and at -O0 "
           "too for a function marked always_inline, as the program's debugging information "
           "says), so the copy of its own that the stop was set on never ran: compile the "
           "program with -O0, as roads explain compiles a .c file, and without always_inline")


def _inlined_stops(stops: list[StopSpec], missing: list[str], outcome: Outcome,
                   unreached: Mapping[str, str], path: str) -> dict[str, str]:
    """The function stops of ``missing`` whose function the program at ``path`` has
    inlined, each with ``INLINED`` (after how many calls there were, for one with a
    count); not one another reason explains (an execve, a refusal, no such function).
    A function that other files may call keeps a copy of its own, found and set, while
    its callers in the program run their inlined copies: a program built with -O2
    "exited with status 0 before reaching helper", which it called four times."""
    other = set(outcome.execed) | set(outcome.refused) | set(outcome.unfound)
    asked = [s for s in stops if s.kind == "func" and s.label in missing and s.label not in other]
    if not asked:
        return {}
    try:
        data = read_bytes(Path(path))
    except (OSError, RoadsError):
        return {}
    return {s.label: f"{unreached[s.label]}: {INLINED}" if s.label in unreached else INLINED
            for s in asked if inlined(data, s.name)}


def command_line(job: dict) -> str:
    """The roads explain command that makes the page again, as the page names it: the
    options given (those left at their defaults left out), then the program and its
    arguments as given (``job["shown"]``), each written as a shell reads it back."""
    options = ["--follow-fork"] if job["follow_fork"] else []
    options += ["--aslr"] if job["aslr"] else []
    options += ["--no-sandbox"] if not job.get("sandbox", True) else []
    if job["deadline"] != DEFAULT_DEADLINE:
        options += ["--deadline", f"{job['deadline']:g}"]
    for where in job["wheres"]:
        options += ["--at", where]
    shown = job["shown"]
    program = ["--", *shown] if shown and shown[0].startswith("-") else shown
    return "roads explain " + shellwords.join([*options, *program])


# Of each stream a program wrote, the last lines an error that writes no page shows.
OUTPUT_LINES = 20


# Where the sandbox lets a program write, for one whose words show a write refused.
READ_ONLY_HERE = ("in the sandbox every file is read-only but a fresh folder, /run/build, and "
                  "empty /tmp, /run and /dev/shm of its own: --no-sandbox runs the program as "
                  "you, outside")


def refused_write(said: str) -> bool:
    """Whether a program's output ``said`` shows a write the sandbox refused: EROFS, in
    the C library's words (perror's, strerror's)."""
    return os.strerror(errno.EROFS) in said


def _wrote(outcome: Outcome, program: str, *, sandboxed: bool,
           args: Sequence[str] = (), address_space: int | None = None) -> str:
    """What ``program`` wrote to its stdout and stderr, for an error that writes no page:
    the last ``OUTPUT_LINES`` lines of each (``errors.tail``), under a line that names
    the stream; "" where it wrote nothing. A write the sandbox refused (EROFS, said as
    the C library says it) gets a word on where the program may write, and an allocation
    refused (``NO_MEMORY``) one on the sandbox's limit on address space, ``address_space``
    (``address_space_words``; none where no limit was set): a program built
    with -fsanitize=address died before main with its sanitizer's words alone, which
    blame "ulimit -v", and the way out, --no-sandbox, was not named. An argument that
    names a file in /tmp, /run or /dev/shm that the sandbox's own copy of the folder
    lacks (``_hidden``) is said to be missing there: the program's own words said only
    "No such file or directory", of a file the learner sees."""
    out = []
    for stream in ("stdout", "stderr"):
        text = getattr(outcome, stream)
        if text.strip():
            out.append(told_output(program, stream, text, OUTPUT_LINES))
    said = outcome.stdout + outcome.stderr
    if sandboxed and refused_write(said):
        out.append(f"({READ_ONLY_HERE})")
    if address_space is not None and refused_memory(said):
        out.append(f"({address_space_words(address_space)})")
    if sandboxed:
        out.extend(_hidden(args))
    return "".join(f"\n{part}" for part in out)


# The folders the sandbox replaces with private copies of its own, and what each shows.
PRIVATE = {"/tmp": ("a private one, which shows only the program and the folder you run "
                    "the command from"),
           "/run": "an empty one of its own", "/dev/shm": "an empty one of its own"}


def _private_args(args: Sequence[str]) -> list[str]:
    """Of the program's arguments, those that name a file this machine has in a folder
    the sandbox replaces (``PRIVATE``), found before the run (``_hidden`` tells, in the
    sandbox, which of them it lacks)."""
    return [a for a in dict.fromkeys(args)
            if any(a.startswith(top + "/") for top in PRIVATE) and os.path.lexists(a)]


def _hidden(args: Sequence[str]) -> list[str]:
    """Of the arguments ``_private_args`` found, each the sandbox lacks, as seen from
    there: a word on why, and the ways out."""
    said = []
    for arg in args:
        top = next((t for t in PRIVATE if arg.startswith(t + "/")), None)
        if top is None or os.path.lexists(arg):
            continue
        said.append(f"(in the sandbox {top} is {PRIVATE[top]}: {arg}, which an argument "
                    "names, is not there; keep the file in your folder, or use --no-sandbox)")
    return said


# What --at exit:N is, which a learner may take for a process's exit (--at exit).
EXIT_FUNCTION = ("counts the calls of the C library's function exit(), which a process "
                 "makes once when it returns from main or calls exit (not when it calls "
                 "_exit or is killed); --at exit, without a count, is each process's own end")


# The system calls that make a process or thread: the new one starts at their return,
# with 0, and no system-call stop is made there (the kernel gives a traced child no
# syscall-exit stop of the call that made it: copy_process clears its syscall tracing).
MAKES_A_TASK = frozenset({"clone", "clone3", "fork", "vfork"})


def counted_words(spec: StopSpec, calls: int) -> str:
    """Why the function or system-call stop ``spec``, with a count, was not reached:
    the program made ``calls`` of the ``spec.count`` it waits for, in words."""
    times = "once" if calls == 1 else f"{calls} times"
    if spec.kind == "syscall":
        said = (f"the system call {spec.name} returned {times}" if calls
                else f"the system call {spec.name} never returned")
        if calls and spec.name in MAKES_A_TASK:
            said += (" in the caller; each process or thread such a call makes returns from "
                     "it too, with 0, but makes no stop there, and is not counted")
    else:
        # Told at the start what exit:N is (EXIT_FUNCTION): the function, named so.
        name = "the C library's function exit()" if spec.name == "exit" else spec.name
        said = f"{name} was called {times}" if calls else f"{name} was not called"
    return said


def _ending(outcome: Outcome, program: str, deadline: float) -> str:
    """How the run ended, in words: the program's own end, and which of its processes
    roads explain ended once the last stop was made and they had run on for
    ``trace.RUN_ON`` seconds (or, every stop made, when the deadline passed: a stop at
    an exit waits for every process to end), when the
    program had ended first; then the others a signal ended, and those whose exit stop
    was passed unseen."""
    main = outcome.processes[outcome.pid]
    if outcome.cut_short:
        return outcome.cut_short
    late = f", when the deadline passed ({deadline:g} s, --deadline)" if outcome.timed_out else ""
    if main.killed_by_us or (outcome.ended_after_last_stop and main.status is None):
        own = f"was ended by roads explain after its last stop{late}"
    else:
        own = _own_end(outcome, late)
    return own + _others_killed(outcome) + _exits_unseen(outcome)


def _own_end(outcome: Outcome, late: str) -> str:
    """How the program itself ended, in words, and the processes of the run that had
    not ended when roads explain ended the run after its last stop (or at the
    deadline)."""
    status = outcome.processes[outcome.pid].status
    if status is not None and os.WIFEXITED(status):
        own = f"exited with status {os.WEXITSTATUS(status)}"
    elif status is not None and os.WIFSIGNALED(status):
        own = "was " + _killed(outcome.processes[outcome.pid])  # "killed by SIGSEGV"
    else:
        own = "ended (" + describe_status(status) + ")"
    # The last stop was in a process that outlived the program: it was ended then.
    others = [str(p.pid) for p in outcome.processes.values()
              if p.killed_by_us and p.pid != outcome.pid]
    if (outcome.ended_after_last_stop or outcome.timed_out) and others:
        which = (f"{'processes' if len(others) > 1 else 'process'} {listed(others)} of the "
                 f"run had not ended, and roads explain ended {'them' if len(others) > 1 else 'it'}")
        return f"{own}; {which} after the last stop{late}"
    return own


def _others_killed(outcome: Outcome) -> str:
    """The followed processes besides the program that a signal of the run's ended (a
    child its parent killed with SIGKILL, say), in words after how the run ended; those
    whose exit stop a signal carried them past are told with them (``_exits_unseen``),
    and those roads explain ended with the run."""
    killed = [p for p in outcome.processes.values()
              if p.pid != outcome.pid and p.status is not None and os.WIFSIGNALED(p.status)
              and not p.killed_by_us and p.pid not in outcome.exits_unseen]
    return "".join(f"; process {p.pid} of the run was {_killed(p)}" for p in killed)


def _killed(ending: Ending) -> str:
    """How a process a signal ended was killed, in words: "killed by SIGSEGV", and who
    sent a fault's signal that no fault raised (``Ending.sent``)."""
    sent = ending.sent if ending.sent_signal == os.WTERMSIG(ending.status) else ""
    return describe_status(ending.status) + sent


def _exits_unseen(outcome: Outcome) -> str:
    """The processes whose exit a signal carried them past unseen (``exits_unseen``),
    in words after how the run ended; "" where there is none."""
    if not outcome.exits_unseen:
        return ""
    pids = [str(pid) for pid in outcome.exits_unseen]
    return (f"; no stop was made at the exit of {'process' if len(pids) == 1 else 'processes'} "
            f"{listed(pids)}: a signal ended {'it' if len(pids) == 1 else 'them'} before roads "
            "explain could hold it there (a SIGKILL that comes while another stop is read "
            "can carry a process past its exit stop)")


def explain_pid(pid: int, progress: Callable[[str], None] = lambda s: None, *,
                deadline: float = 30.0) -> Session:
    """One stop of a running process, read while PTRACE_INTERRUPT holds it, its stop
    waited for ``deadline`` seconds at most (``trace.seize_and_read``). The id of a
    thread other than a process's main one names that process (its Tgid), as
    ``roads show --pid`` takes it: the memory is the one all its threads share."""
    proc = Proc()
    try:
        group = proc.tgid(pid)
    except RoadsError:  # gone, or not readable: seizing it says which
        group = pid
    if group != pid:
        progress(f"{pid} is a thread of process {group}, not a process: reading the process")
        pid = group
    checkpoints: list[dict] = []
    exe_path: list[str] = []
    files: dict[str, MappedFile | None] = {}

    def on_stop(hit: Hit) -> None:
        checkpoints.append(_checkpoint(hit, 0, proc))
        merge(files, mapped_files(pid, proc, checkpoints[0]["regions"]))
        try:
            exe_path.append(os.readlink(f"/proc/{pid}/exe"))
        except OSError:
            exe_path.append("")

    progress(f"reading process {pid}")
    try:
        seize_and_read(pid, on_stop, deadline=deadline)
    except RoadsError as exc:
        if isinstance(exc, ExplainError):
            raise
        raise ExplainError(f"process {pid}: {exc.message}") from None
    exe = exe_path[0]
    # Its file's path, less the " (deleted)" the kernel appends to /proc/PID/exe once
    # the file is unlinked (a program recompiled while the old one runs), as the
    # regions the capture recorded say (Region.unlinked); a file named so keeps it.
    regions = msgspec.convert(checkpoints[0]["regions"], list[document.Region])
    program = program_path(exe, regions) if exe else ""
    # A program deleted or replaced since it started is still there to read through
    # /proc, and only there: its path names another file now, or none.
    path = exe if exe and program == exe and os.path.exists(exe) else f"/proc/{pid}/exe"
    # Bytes that are not UTF-8 written \xNN, as a program's arguments are.
    try:
        words = proc.cmdline(pid) or [program]
    except RoadsError:
        words = [program]
    shown = [escape_bytes(arg) for arg in words]
    name = sample_name(program or str(pid))
    run = {"pid": pid, "exit_code": None, "signal": None,
           "status": "still running (read and let go)",
           "processes": [{"pid": pid, "ppid": 0, "exit_code": None, "signal": None}],
           "stdout": "", "stderr": ""}
    try:
        capture = _capture(name, shown, _program_elf(path, pid, files), checkpoints,
                           aslr=None, gcc_argv=(), run=run,
                           # The process's command line after a shell's comment sign:
                           # the Command, pasted, is a command ("--pid 351 (sleep 30)"
                           # was a shell's syntax error).
                           title=f"roads explain --pid {pid}  # {shellwords.join(words)}",
                           packages=None)
    except RoadsError as exc:
        raise ExplainError(f"process {pid}: {exc.message}") from None
    return Session(capture, escape_bytes(checkpoints[0]["exe"]), shown, "still running", True,
                   [], spans=load_spans(checkpoints, files), files=files,
                   typed=shellwords.join(words))


def _program_elf(path: str, pid: int, files: Files):
    """The ELF file of process ``pid``'s program, read at ``path`` when that is still the
    file the process maps (``mapped.opened``); else, replaced since the stop, through
    /proc/PID/exe, as a program replaced before it is read (the process, let go, runs on)."""
    try:
        with opened(path, files) as fd:  # read as opened; errors name its path
            return parse_elf(Path(path), read_bytes(Path(f"/proc/self/fd/{fd}")))
    except ExplainError:
        return read_elf(f"/proc/{pid}/exe")
    except OSError as exc:
        raise ExplainError(f"{path}: cannot read ELF file: {exc.strerror}") from None
