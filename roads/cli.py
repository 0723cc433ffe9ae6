"""The ``roads`` command line: capture, check, changes, show, run, explain."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import signal
import stat
import sys
import threading
import time
from pathlib import Path
from typing import NoReturn

from .argtypes import PID_MAX, count, seconds
from .constants import PAGE_SIZE, PROGRAM_ADDRESS_SPACE
from .cachedir import tools_folder, user_tools_folder
from .capture.runfolder import (HOME, TOOLCHAINS, Guarded, Kept, guarded, home_folder,
                                kept_read_only, links_to, named_below, renamed_made,
                                repositories, started_in, survey)
from .command import install_hint
from . import interrupts
from .capture.changes import summarise
from .errors import NotExecuted, RoadsError, SampleError, printable, refused_memory, tail
from .capture.project import Outcome, Project
from .capture.proc import Proc
from .capture.runner import (EMPTIED, READ_ONLY_FILES, ProcessRecord, Stop, cpu_limit_end,
                             emptied, launcher, lowered_cpu_limit, run_program)
from .capture.show import address_space, format_table, to_json
from .cores import usable as usable_cores
from .explain import command as explain
from .explain.program import not_executed, not_runnable, user_program
from .explain import shellwords


MAX_JOBS = 256
MAX_AFTER = 3600.0
# roads run's sandbox: the program and every process it starts are killed RUN_GRACE
# seconds after --after; each may use PROGRAM_ADDRESS_SPACE bytes of address space (roads
# explain's program too: constants.py), and as much processor time as that leaves it on
# every core (the samples' limit of 10 s would end a busy program before a later
# --after); RUN_OUTPUT bytes of output are read.
RUN_GRACE = 30.0
RUN_PROCESSES = 32
RUN_OUTPUT = 64 << 20


def run_limits() -> str:
    """``roads run --help``'s account of its sandbox (RUN_*), in the numbers it uses."""
    return (f"The program runs in a sandbox: at most {RUN_PROCESSES} processes and threads "
            f"at once, {PROGRAM_ADDRESS_SPACE.format()} of address space each (as roads "
            "explain gives its program), as much "
            "processor time each as the run's time allows on every core, and "
            f"{RUN_OUTPUT >> 20} MiB of output. At --after the program's first process is "
            "stopped and shown, then everything it started is killed; a program that ended "
            "before --after is reported then, and what it left running (a daemon, `cmd &`) "
            f"is killed. A run still going {RUN_GRACE:g} s after --after is killed. Unlike "
            "in a terminal, its standard input is /dev/null, its stdout a pipe (printf's "
            "output waits in the C library's buffer: fflush(stdout) to see it before "
            "--after), and its processes have pids of the sandbox's own (getpid() says 2, "
            "where the map's heading gives the pid outside).")


class OutputError(Exception):
    """Writing the command's output (stdout) failed: a full disk, a reader gone. Told
    apart from a command's own OSErrors, which name the file they read or wrote."""


class _Output:
    """``sys.stdout`` while ``roads`` runs: an error writing or flushing it is raised as
    OutputError (from the OSError); all else is the stream's."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError as exc:
            raise OutputError() from exc

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as exc:
            raise OutputError() from exc

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


class PrintableFormatter(logging.Formatter):
    """A log line as the terminal should show it: what it carries from a program or a
    file (a reason, a path, a traceback's message) with its control characters escaped
    (``printable``), as the CLI's own messages have them."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def configure_logging() -> None:
    """The CLI's log lines: ``WARNING: ...`` on stderr, escaped (``PrintableFormatter``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(PrintableFormatter("%(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


class Signalled(int):
    """The exit status of a command a signal ended (128 + its number, as a shell gives a
    program that signal killed), with the signal's number: ``entry`` ends the process by
    it, where ``main``'s caller in the same process (a test) gets the status."""

    signum: int

    def __new__(cls, signum: int) -> Signalled:
        status = super().__new__(cls, 128 + signum)
        status.signum = signum
        return status


def entry() -> NoReturn:
    """The ``roads`` program (its console script, ``python -m roads.cli``): ``main``'s
    status, except that a command a signal ended (Ctrl-C, SIGTERM, SIGHUP; its reader
    gone, SIGPIPE) ends the process by that signal once its cleanup is done, as shells
    and service managers expect of a program that handles one. Bash, told a command
    exited with a status after Ctrl-C, takes it that the command dealt with the key,
    and a loop of ``roads`` commands went on to the next one; a parent's wait said
    WIFEXITED 143 where systemd and a shell's ``kill`` expect death by SIGTERM."""
    status = main()
    if isinstance(status, Signalled):
        _die_by(status.signum)
    sys.exit(status)


def _die_by(signum: int) -> NoReturn:
    """End this process by ``signum``, after what an exit would do (the streams flushed,
    the exit handlers run): the signal's default action, unblocked."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed stream, its reader gone
            if stream is not None:
                stream.flush()
    atexit._run_exitfuncs()  # logging.shutdown among them, as the interpreter's exit runs them
    signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # not reached: the signal's default action ends the process


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``roads``; returns the exit status. Output that cannot be written
    ends it with one line on stderr and status 1, or, its reader gone (``| head``),
    quietly with status 141, as a program killed by SIGPIPE. A command a signal ended
    returns ``Signalled`` (128 + the signal's number)."""
    stdout = sys.stdout
    if stdout is None:  # started with stdout closed: print() writes nothing
        return _main(argv)
    sys.stdout = _Output(stdout)
    try:
        # Flushed here, so that what cannot be written fails here, not at the exit.
        try:
            status = _main(argv)
        except SystemExit:  # argparse, after --help or a usage error
            sys.stdout.flush()
            raise
        sys.stdout.flush()
        return status
    except BrokenPipeError:  # written to its own descriptor (roads explain --out /dev/stdout)
        _discard(stdout)
        return Signalled(signal.SIGPIPE)
    except OutputError as exc:
        error = exc.__cause__
        _discard(stdout)
        if isinstance(error, BrokenPipeError):
            return Signalled(signal.SIGPIPE)
        print(f"roads: error: cannot write the output: {error.strerror or error}",
              file=sys.stderr)
        return 1
    finally:
        sys.stdout = stdout


def _discard(stream) -> None:
    """Point ``stream``'s file descriptor at /dev/null, so that the text still in its
    buffer, flushed at the interpreter's exit, fails no more (no "Exception ignored"):
    what the Python documentation advises on SIGPIPE."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):  # no file under it (a test's capture), or closed
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="roads", description="The memory of Linux processes, read from /proc and drawn: "
        "capture and check the site's samples, or show, run and explain a program of yours.")
    parser.add_argument("--root", help="project folder (default: here)")
    sub = parser.add_subparsers(dest="command", required=True)

    cap = sub.add_parser("capture", help="compile, run and freeze samples that changed")
    cap.add_argument("samples", nargs="*", metavar="SAMPLE")
    cap.add_argument("--refresh", action="store_true", help="re-capture even if unchanged")
    cap.add_argument("--jobs", "-j", type=count(MAX_JOBS), default=None,
                     help=f"workers, 1 to {MAX_JOBS} (default: cores)")

    chk = sub.add_parser("check", help="exit 1 if any committed capture is stale or missing")
    chk.add_argument("--toolchain", action="store_true",
                     help="also fail when this machine's gcc differs from the captures'")

    chg = sub.add_parser("changes", help="Markdown summary of captures that differ from REV")
    chg.add_argument("--rev", default="HEAD",
                     help="the commit to compare the working tree's captures with (default HEAD)")

    show = sub.add_parser("show", help="the address space of a running process")
    show.add_argument("--pid", type=count(PID_MAX), required=True)
    show.add_argument("--json", action="store_true", help="the address space as JSON")

    run = sub.add_parser("run", help="start a program, stop it after a delay, show its memory",
                         epilog=run_limits())
    run.add_argument("--after", type=seconds(MAX_AFTER), default=0.5, metavar="SECONDS",
                     help=f"when to stop it, 0 to {MAX_AFTER:g} s (default 0.5)")
    run.add_argument("--json", action="store_true", help="the address space as JSON")
    run.add_argument("--aslr", action="store_true", help="leave ASLR on (default: off)")
    run.add_argument("program", nargs=argparse.REMAINDER)

    explain.add_parser(sub)

    args = parser.parse_args(argv)
    args.root_named = args.root is not None  # where roads explain and run keep the launcher
    args.root = args.root or "."
    configure_logging()
    try:
        os.getcwd()  # --root and a program's paths are read from it
    except FileNotFoundError:
        print("roads: error: the current folder was removed: cd to one that exists",
              file=sys.stderr)
        return 1
    if os.path.exists(args.root) and not os.path.isdir(args.root):
        print(printable(f"roads: error: --root {args.root}: not a folder"), file=sys.stderr)
        return 2
    children_ignored = signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN
    if children_ignored:
        # Started with SIGCHLD ignored (an exec keeps that): ended children would be
        # reaped by the kernel, and no wait for a run, gcc or the launcher would see them.
        # Put back after (a caller in the same process, such as a test, keeps its own).
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        with _ended_as_interrupted():
            return COMMANDS[args.command](args)
    except RoadsError as exc:
        print(f"roads: error: {exc.located()}", file=sys.stderr)
        return 1
    except Ended as exc:
        with contextlib.suppress(OSError):  # SIGHUP: its terminal may be gone
            print(f"roads: ended by {signal.Signals(exc.signum).name}", file=sys.stderr)
        return Signalled(exc.signum)
    except KeyboardInterrupt:
        print("roads: interrupted", file=sys.stderr)
        return Signalled(signal.SIGINT)
    finally:
        if children_ignored:
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)


class Ended(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a closed terminal, ``kill``, a service stopped): the command
    ends as Ctrl-C ends it, its program killed and its run folder removed on the way
    out, and then ends by the signal (``Signalled``, ``entry``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# The signals that end a command, each once (``_ended_as_interrupted``).
ENDING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _ended(signum: int, frame) -> None:
    # Once: a second signal while the first one's cleanup runs would cut it short (the
    # run's folder left half removed, 179,473 files of it after SIGTERM then Ctrl-C);
    # all three stay ignored until the handlers go back.
    for other in ENDING:
        signal.signal(other, signal.SIG_IGN)
    # Raised now, or once a child just forked is known to the clean-up (``interrupts``).
    interrupts.end(KeyboardInterrupt() if signum == signal.SIGINT else Ended(signum))


@contextlib.contextmanager
def _ended_as_interrupted():
    """SIGTERM and SIGHUP raise ``Ended`` while the command runs, and Ctrl-C
    KeyboardInterrupt as ever, each then ignoring all three while the command cleans up
    (not where they were ignored when it started, as under nohup or for a command
    started with '&'; and only in the main thread, the one Python hands signals to);
    their handlers are put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {signum: signal.getsignal(signum) for signum in ENDING}
    for signum, handler in before.items():
        if handler != signal.SIG_IGN:
            signal.signal(signum, _ended)
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def cmd_capture(args) -> int:
    project = Project(args.root)
    tty = sys.stderr.isatty()
    total = len(set(args.samples or project.names))  # a name given twice is captured once
    done: list[Outcome] = []
    # On a terminal, each sample's line replaces the one before (a failed one stays):
    # whether one is shown without its newline yet.
    open_line = [False]

    def progress(outcome: Outcome) -> None:
        done.append(outcome)
        line = printable(f"[{len(done)}/{total}] {outcome.sample}: {outcome.action} "
                         f"({outcome.seconds:.2f} s)")
        if tty:
            # A failed sample's line takes the place of the one shown, and stays.
            print("\r\033[K" + line, end="" if outcome.error is None else "\n",
                  file=sys.stderr, flush=True)
            open_line[0] = outcome.error is None
        else:
            print(line, file=sys.stderr)

    try:
        outcomes = project.capture(args.samples, refresh=args.refresh, jobs=args.jobs,
                                   progress=progress)
    finally:
        # Ended or interrupted too: what is said next starts a line of its own.
        if open_line[0]:
            with contextlib.suppress(OSError):
                print(file=sys.stderr)
    failed = [o for o in outcomes if o.error]
    for o in failed:
        print(f"roads: error: {o.error.located()}", file=sys.stderr)
    counts = {a: sum(1 for o in outcomes if o.action == a)
              for a in ("captured", "unchanged", "fresh", "failed")}
    print(", ".join(f"{n} {a}" for a, n in counts.items()), file=sys.stderr)
    return 1 if failed else 0


def cmd_check(args) -> int:
    project = Project(args.root)
    bad = 0
    for f in project.check():
        # A broken entry's name is whatever the manifest says, escapes included.
        # What a capture file says (the gcc it records, in a note) is escaped too.
        f = dataclasses.replace(f, sample=printable(f.sample),
                                reasons=tuple(printable(r) for r in f.reasons),
                                notes=tuple(printable(n) for n in f.notes))
        if f.state == "fresh":
            print(f"{f.sample}: fresh")
        elif f.state == "toolchain" and not args.toolchain:
            print(f"{f.sample}: note: {'; '.join(f.reasons)} (roads capture --refresh updates it)")
        else:
            bad += 1
            print(f"{f.sample}: {f.state}: {'; '.join(f.reasons)}")
        for note in f.notes:
            print(f"{f.sample}: note: {note}")
    if project.gcc() is None:
        failing = ", and --toolchain could not fail on it" if args.toolchain else ""
        print(f"roads: note: gcc was not found on PATH, so the gcc each capture was made with "
              f"could not be compared with this machine's{failing} ({install_hint('gcc')}); "
              "the captures were still checked against their sources, manifest entries and "
              "the capture engine", file=sys.stderr)
    if bad:
        print(f"{bad} capture(s) stale, missing or broken; run: roads capture", file=sys.stderr)
    return 1 if bad else 0


def cmd_changes(args) -> int:
    project = Project(args.root)
    lines = summarise(project.root, project.snapshots_dir, args.rev)
    # A capture's file name and its provenance are anyone's text: each line is one line.
    print("\n".join(printable(line, one_line=True) for line in lines)
          if lines else "No capture changed.")
    return 0


def cmd_show(args) -> int:
    space = address_space(args.pid, Proc())
    if args.json:
        print(json.dumps(to_json(space), indent=1, sort_keys=True))
    else:
        print(printable(format_table(space)), end="")  # a file's name may hold anything
    return 0


def cmd_run(args) -> int:
    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    if not program:
        print("roads: error: run needs a program: roads run [--after S] -- PROGRAM [ARGS]",
              file=sys.stderr)
        return 2
    path = user_program(program[0])
    if path is None:  # as roads explain finds and words it
        print(printable(f"roads: error: {not_runnable(program[0], 'run')}"),
              file=sys.stderr)
        return 1
    here = Path.cwd()  # where the program runs (main() found it still there)
    mode = here.stat().st_mode
    if str(here) == "/" or (mode & stat.S_ISVTX and mode & stat.S_IWOTH):
        # The run's folder is the one it may write: not the root, nor one shared by
        # every user (/tmp), where it would reach what others keep there.
        print(printable(f"roads: error: run it from a folder of your own: the program may "
                        f"write the folder it runs in, and {here} is "
                        f"{'the root' if str(here) == '/' else 'shared by every user'}"),
              file=sys.stderr)
        return 1
    cache = tools_folder(Path(args.root), args.root_named, os.environ)
    if _under(cache, here):
        # The launcher that later runs outside the sandbox would lie where the program
        # may write: kept in the user's cache folder instead (read-only for the program
        # should that lie there too).
        cache = user_tools_folder(os.environ)
    # What below it runs outside the sandbox afterwards stays read-only for the program.
    pythons = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                 sys.base_exec_prefix)}
    real = here.resolve()
    imports, first = sys.path, []
    if imports and (not imports[0] or Path(imports[0]).resolve() == real):
        # python -m's (or -c's) folder, which the next one started here imports from.
        imports, first = imports[1:], [started_in(real)]
    home = Path(os.path.expanduser("~"))
    others = (guarded(Path(__file__).parent, pythons, cache, imports, os.environ, here=real)
              + (links_to(Guarded(home, HOME)) if home.is_absolute() else [])
              + named_below(real, os.environ) + repositories(real) + first)
    kept = kept_read_only(real, home_folder(home), others)
    made_before = None  # kept whole, nothing in it is written
    if not kept or kept[0].path != real:
        found = survey(real, [k.path for k in kept])
        kept = kept_read_only(real, home_folder(home), others + found.kept)
        made_before = found.before
    whole = kept[0] if kept and kept[0].path == real else None
    spaces = []

    def snap(stop: Stop):
        spaces.append(address_space(stop.pid, Proc()))

    # The program named in each line as a shell reads it back, as the lines to type
    # name it (shellwords.quote: 'my prog', $'\xff'; a newline split the line).
    named = shellwords.quote(program[0])
    if emptied(path):
        print(printable(f"roads: error: {named}: lies under {EMPTIED}, which the sandbox "
                        "replaces with an empty one: copy it elsewhere"), file=sys.stderr)
        return 1
    timeout = args.after + RUN_GRACE
    cpu_seconds = math.ceil(timeout) * usable_cores()  # grows with --after: run_limits
    started = time.monotonic()
    try:
        # The file found is run, given argv[0] as typed, as a shell (and roads explain)
        # gives it: a multi-call program such as xzcat reads what to do there.
        try:
            result = run_program(
                program, executable=path, launcher_path=launcher(cache), cwd=here,
                env=dict(os.environ), timeout=timeout, no_aslr=not args.aslr,
                max_processes=RUN_PROCESSES, address_space=PROGRAM_ADDRESS_SPACE.value,
                cpu_seconds=cpu_seconds, max_output=RUN_OUTPUT,
                snapshot=snap, stop_after=args.after, label=program[0],
                read_only=tuple(k.path for k in kept), read_only_or_no_run=True,
            )
        finally:  # however it ended (Ctrl-C too): the run's processes are gone
            if whole is None and made_before is not None:
                _rename_made(real, made_before, [k.path for k in kept])
    except NotExecuted as exc:
        # What the file is, that the kernel would not start it ("Exec format error" of a
        # script without #!, "No such file or directory" of a file that is there).
        print(printable(f"roads: error: {not_executed(program[0], path, exc.errno)}"),
              file=sys.stderr)
        return 1
    except SampleError as exc:
        # A program of the user's, not a sample of the site: its name leads the message,
        # and a sample's checkpoints, which it has none of, go unmentioned.
        exc.sample = None
        exc.message = _CHECKPOINT_NOTE.sub("", exc.message)
        if not spaces and time.monotonic() - started >= timeout:
            # Its timeout, said of a program stopped by time.
            exc.message = (f"still running {timeout:g} s after it started, and not stopped at "
                           f"{args.after:g} s; killed")
        if not exc.message.startswith(f"{named}: "):
            exc.message = f"{named}: {exc.message}"
        # Its "command:" line quoted as a shell reads it back, as the run's other lines
        # name it (its words were joined with spaces: "-c import x; f()" for one word).
        exc.command = [shellwords.join(program)]
        raise
    if not spaces:
        left = "; anything it left running was killed" if result.left_killed else ""
        # --after 0 stops it as soon as it has started: one that ended first ended
        # before it could be stopped, and cannot be stopped sooner.
        when = f"before {args.after:g} s" if args.after else "before it could be stopped"
        how = ("stop it sooner (--after) or where it ends" if args.after
               else "stop it where it ends")
        # Quoted as the hint below quotes it, which a shell reads back ($'\n', $'\xff').
        print(printable(f"roads: {shellwords.join(program)} ended "
                        f"({_ending(result.main, cpu_seconds)}) {when}{left}"), file=sys.stderr)
        aslr = "--aslr " if args.aslr else ""
        print(f"roads: to see its memory, {how}: roads "
              f"explain {aslr}--at exit -- {shellwords.join(program)}", file=sys.stderr)
        sys.stderr.write(_printed(result, named))
        sys.stderr.write(_notes(result, program[0], stopped=False, path=path, whole=whole))
        return 1
    if args.json:
        print(json.dumps(to_json(spaces[0]), indent=1, sort_keys=True))
    else:
        print(printable(format_table(spaces[0])), end="")
    # The map on stdout (what --json is read for); what the program printed on stderr.
    sys.stderr.write(_printed(result, named))
    sys.stderr.write(_notes(result, program[0], stopped=True, path=path, whole=whole))
    return 0


# The most repositories the program made that a warning names each, one to a line.
MAX_NAMED = 10


def _rename_made(here: Path, before, kept) -> None:
    """The repositories the program made in ``here``, the folder run from, or below it
    (``before``: ``runfolder.survey``'s before the run; ``kept``: read-only in it),
    renamed aside before the user's shell runs git there, and said so
    (``runfolder.renamed_made``)."""
    done = renamed_made(here, before, kept)
    tops = [(made, aside) for made, aside in done.moved
            if not any(made != other and made.is_relative_to(other) for other, _ in done.moved)]
    for made, aside in sorted(tops)[:MAX_NAMED]:
        inside = sorted(str(m.relative_to(made)) for m, _ in done.moved
                        if m != made and m.is_relative_to(made))
        also = (f" (and in it {', '.join(inside)}, each renamed NAME.from-run: git, run in "
                "it, would take it for a repository)") if inside else ""
        tool = TOOLCHAINS.get(made.name)
        runs = (f"{tool}, run in that folder or one below it (a shell prompt may run it: "
                "rustc --version), would run the toolchain its path names" if tool else
                "git or Mercurial, run in that folder or one below it (a shell prompt runs "
                "git at each command), would run the commands its configuration names "
                "(core.fsmonitor, hooks)")
        print(printable(f"roads: warning: the program made {made}, where {runs}: it was "
                        f"renamed {aside.name}{also}; look at it before you give it its name "
                        "back"), file=sys.stderr)
    if len(tops) > MAX_NAMED:
        print(f"roads: warning: and {len(tops) - MAX_NAMED} more repositories the program "
              "made, each renamed NAME.from-run likewise", file=sys.stderr)
    for made, exc in done.failed:
        print(printable(f"roads: warning: the program made a repository, {made}, and it could "
                        f"not be renamed ({exc.strerror or exc}): git, run there, may run the "
                        "commands its configuration names; remove it before you run git "
                        "there"), file=sys.stderr)
    for folder in done.unsearched:
        why = ("holds more files and folders than roads searches" if folder == here
               else "could not be searched (the program left it unreadable?)")
        print(printable(f"roads: warning: {folder} {why}, for repositories the program may "
                        "have made, whose configuration git, run there (a shell prompt runs "
                        "git at each command), would run: look before you go into its "
                        "folders with such a prompt"), file=sys.stderr)


def _under(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it, links resolved."""
    return path.resolve().is_relative_to(folder.resolve())


# What a sample's run adds to its errors: "(no checkpoint reached)", or the last reached.
_CHECKPOINT_NOTE = re.compile(r" \((?:no checkpoint reached|last checkpoint reached: .*)\)$")
def _ending(record: ProcessRecord, cpu_seconds: int) -> str:
    """How a process of roads run ended (``ProcessRecord.describe``), its processor time
    (``cpu_seconds``, the limit the run had) said of roads run's sandbox: the engine's
    words name limits.cpu, which means nothing outside a sample's manifest. A process
    that ended below the sandbox's limit had a lower one set within the run, or was
    sent the signal."""
    how = cpu_limit_end(record, cpu_seconds)
    if how is None:
        return record.describe()
    if how == "lowered":
        return dataclasses.replace(record, cause=lowered_cpu_limit(record)).describe()
    # A second's slack: the process's times, read at its end, may fall short of the limit
    # that signalled it (a 1 s limit was seen as 0.9 s).
    if record.cpu_ms is not None and record.cpu_ms < (cpu_seconds - 1) * 1000:
        # SIGXCPU before the sandbox's limit: a lower one, or the signal sent by hand.
        cause = (f"the signal of a processor-time limit, at {record.cpu_ms / 1000:.1f} s of "
                 f"processor time, below the {cpu_seconds} s roads run's sandbox gives each "
                 "process: a lower limit set within the run (setrlimit, ulimit -t), or the "
                 "signal sent to it (kill)")
    else:
        cause = (f"it used up the {cpu_seconds} s of processor time roads run's sandbox gives "
                 "each process")
    if how == "hard":
        cause += ", and ran on past the SIGXCPU sent then"
    return dataclasses.replace(record, cause=cause).describe()


def _stdin_given() -> bool:
    """Whether roads' standard input is a pipe or a file (``echo 42 | roads run``):
    input meant for the program, which reads /dev/null."""
    try:
        mode = os.fstat(0).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or (stat.S_ISREG(mode) and os.fstat(0).st_size > 0)


def _notes(result, name: str, *, stopped: bool, path: str | None = None,
           whole: Kept | None = None) -> str:
    """Where the sandbox differs from a terminal in a way the run shows: input piped to
    roads that the program never saw; printf's output lost in the C library's buffer
    when the program was killed at --after; an allocation the sandbox's address space
    (PROGRAM_ADDRESS_SPACE) refused. The buffer's note is for a program named by its path
    (``./prog``, the learner's own), not one found on PATH (``sleep 5``), which may print
    nothing, nor one whose file (``path``) shows that it writes nothing through stdio
    (``gcc -nostdlib``); worded as what may be where the file cannot tell. And the run's
    folder kept read-only whole (``whole``, ``capture.runfolder.kept_read_only``), where the
    program could write no file (where the sandbox's read-only files held)."""
    notes = []
    if whole is not None and result.contained & READ_ONLY_FILES:
        lies = "" if whole.why.path == whole.path else f"lies in {whole.why.path}, which "
        notes.append(printable(
            f"roads: note: {whole.path} was read-only for the program, which could write no "
            f"file there: it {lies}is {whole.why.what}; to let a program write files, "
            f"{whole.why.remedy}"))
    if _stdin_given():
        notes.append("roads: note: the program's standard input is /dev/null: what was "
                     "piped or redirected to roads run was not given to it")
    stdio = _through_stdio(path) if stopped and not result.stdout and "/" in name else False
    if stdio is not False:
        # Said as a fact of a program that calls a stdio writer; as what may be of one
        # whose file cannot tell (stripped, or linked static with a C library's stdio).
        may = ("" if stdio else " If it prints with the C library's stdio (printf, puts; "
               "its file cannot tell whether it does), what it printed may be lost there.")
        notes.append("roads: note: nothing reached its stdout. Its stdout is a pipe, where "
                     f"printf's output waits in the C library's buffer ({PAGE_SIZE.format()}, the "
                     "pipe's block size) until it fills "
                     f"or the program ends, and the program was killed at --after.{may} Call "
                     "fflush(stdout) after printf, or setvbuf(stdout, NULL, _IOLBF, 0) "
                     "at the start, to see it")
    said = result.stdout + result.stderr
    if not stopped and refused_memory(said):
        notes.append(f"roads: note: the sandbox gives each process "
                     f"{PROGRAM_ADDRESS_SPACE.format()} of address space (roads run --help): a "
                     "larger mmap or malloc (or -fsanitize=address's shadow memory) fails "
                     "there with ENOMEM; roads show --pid PID reads a program run outside it")
    elif (not stopped and result.main.signal in CRASHES
          and not (result.main.signal == signal.SIGABRT
                   and any(words in said for words in ABORTED_FOR))):
        # A program that maps 64 GiB (MAP_NORESERVE) and writes to it unchecked crashed
        # on MAP_FAILED, and nothing said why mmap had failed only here.
        notes.append(f"roads: note: if it maps or allocates more than the "
                     f"{PROGRAM_ADDRESS_SPACE.format()} of address space the sandbox gives each "
                     "process (roads run --help), that fails there (mmap returns MAP_FAILED, "
                     "malloc NULL, errno ENOMEM), and a program that uses what it got "
                     "unchecked crashes; roads show --pid PID reads a program run outside it")
    return "".join(note + "\n" for note in notes)


def _through_stdio(path: str | None) -> bool | None:
    """Whether the program file at ``path`` writes through C stdio's buffers, as roads
    explain tells it (``explain.symbols.writes_through_stdio``); None where its file does
    not tell, or cannot be read."""
    if path is None:
        return None
    from .capture.elf import parse_elf, read_bytes
    from .explain.symbols import writes_through_stdio

    try:
        data = read_bytes(Path(path))
        return writes_through_stdio(data, path, list(parse_elf(Path(path), data).needed))
    except (RoadsError, OSError):
        return None


# The signals of a program that used a failed allocation's result (MAP_FAILED, NULL):
# a fault, or abort() (a C++ std::bad_alloc not caught, an assert).
CRASHES = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT})
# What the C library and the C++ runtime write before an abort() of their own for a cause
# that is no failed allocation (assert(), an exception not caught, the heap's and the
# stack's checks: "free(): invalid pointer", "*** stack smashing detected ***"): the
# program's words say why, and the note on the address space would send a learner
# looking for a limit. (std::bad_alloc, an allocation refused, is in NO_MEMORY.)
ABORTED_FOR = ("Assertion `", "terminate called after throwing", "(): ", "*** ",
               "double free")

OUTPUT_LINES = 20  # of each stream of a program ``roads run`` ran, the last lines shown


def _printed(result, label: str) -> str:
    """What a program ``roads run`` ran, named ``label`` (as a shell reads it back), wrote
    to its stdout and its stderr, the last ``OUTPUT_LINES`` lines of each (escaped);
    empty when it wrote nothing."""
    out = []
    for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if not text.strip():
            continue
        lines = text.rstrip("\n").count("\n") + 1
        which = f" (the last {OUTPUT_LINES} of {lines} lines)" if lines > OUTPUT_LINES else ""
        out.append(printable(f"roads: {label} wrote to its {stream}{which}:") + "\n"
                   + printable(tail(text, OUTPUT_LINES)) + "\n")
    return "".join(out)


COMMANDS = {"capture": cmd_capture, "check": cmd_check, "changes": cmd_changes,
            "show": cmd_show, "run": cmd_run, "explain": explain.cmd_explain}

if __name__ == "__main__":
    entry()
