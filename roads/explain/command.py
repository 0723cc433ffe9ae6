"""``roads explain``: the arguments, the progress lines, the page written and opened."""

from __future__ import annotations

import argparse
import errno
import os
import re
import stat
import sys
import tempfile
import webbrowser
from pathlib import Path

from ..argtypes import PID_MAX, count, seconds
from ..cachedir import tools_folder
from ..capture.runner import TOOL_TASKS
from ..constants import PROGRAM_ADDRESS_SPACE
from ..errors import printable, refused_memory, told_output
from ..errors import ExplainError
from .pagefile import own_descriptor, refused, write_page
from . import shellwords
from .program import DEFAULT_DEADLINE, MAX_DEADLINE

# The exit status of a page written without every stop asked for (one not reached, or
# not read): the page is there, but a script must not take it for a whole one.
INCOMPLETE = 3


def explain_limits() -> str:
    """``roads explain --help``'s account of the limits its sandbox sets the program, in
    the numbers it uses: the address space is roads run's (``cli.run_limits``)."""
    return (f"In the sandbox each process of the program has {PROGRAM_ADDRESS_SPACE.format()} "
            "of address space, as under roads run: an mmap or malloc that would take it past "
            "that fails with ENOMEM (MAP_FAILED, NULL), and the page says so where the "
            "program's words show it. The run may have at most "
            f"{TOOL_TASKS} processes and threads at once (the tracer's included): past "
            "that it is killed. --no-sandbox runs it with your own limits.")


def add_parser(sub) -> None:
    ex = sub.add_parser(
        "explain", help="draw the memory of any program, stopped where you ask, as one HTML page",
        description="Run PROGRAM (a .c file is compiled with -O0 -g first) with ASLR off, stop it "
                    "at each --at, capture its memory as the site captures a sample, and write "
                    "one self-contained page with the site's figures.",
        epilog=explain_limits())
    ex.add_argument("--at", action="append", default=[], metavar="WHERE",
                    help="main, FUNC (a C++ one as its source names it: ns::f), "
                         "FUNC:N (N-th call, the C library's own calls counted), "
                         "FUNC@VERSION (a library's old version of FUNC), "
                         "syscall:NAME[:N] (on its return), exit (each process's end; exit:N "
                         "is the function exit()), or a delay such as 0.5s; "
                         "repeat for several stops (default: main)")
    ex.add_argument("--pid", type=count(PID_MAX), help="read a running process once instead (paused "
                    "only while read, with PTRACE_SEIZE and PTRACE_INTERRUPT; its other "
                    "threads run on, and may stop roads explain, which then waits until "
                    "continued (fg, kill -CONT); killed instead, it lets the process go)")
    ex.add_argument("--out", help="the page to write (default: explain-NAME.html here; "
                                  "- for the standard output)")
    ex.add_argument("--save", metavar="FILE.json",
                    help="also write the captured document (what the site's explained() macro "
                         "draws; - for the standard output)")
    ex.add_argument("--open", action="store_true", help="open the page in the browser")
    ex.add_argument("--aslr", action="store_true", help="leave ASLR on (default: off)")
    ex.add_argument("--follow-fork", action="store_true",
                    help="stop forked children too (default: children run free)")
    ex.add_argument("--no-sandbox", action="store_true",
                    help="run the program outside the launcher's sandbox (default: inside, as "
                         "the samples' gcc and gdb run: its own pid and mount namespaces, files "
                         "read-only but a fresh folder at /run/build, a private /tmp that shows "
                         "only the program and your folder, if they lie in /tmp). Outside, the "
                         "program is yours to trust: it may stop roads explain (kill(getppid(), "
                         "SIGSTOP)), which then waits until continued (fg, kill -CONT); killed "
                         "instead, it ends the program with it")
    ex.add_argument("--deadline", type=seconds(MAX_DEADLINE, above_zero=True),
                    default=DEFAULT_DEADLINE, metavar="SECONDS",
                    help=f"give up (and kill the program) after this long; with --pid, on "
                         f"the process's stop (let go unread): more than 0, at most "
                         f"{MAX_DEADLINE:g} s (default {DEFAULT_DEADLINE:g})")
    ex.add_argument("program", nargs=argparse.REMAINDER)
    # argparse takes a value that begins with '-' for an option unless it looks like a
    # negative number (its private matcher): --at -1s ended in "expected one argument",
    # as if no value had been given. A negative delay is a value, which parse_stop
    # refuses with its reason.
    ex._negative_number_matcher = NEGATIVE


# What argparse reads as a negative number, not an option: its own -5 and -.5, and a
# delay, -1s or -200ms.
NEGATIVE = re.compile(r"^-\d+$|^-\d*\.\d+$|^-(?:\d+(?:\.\d*)?|\.\d+)m?s$")


def cmd_explain(args) -> int:
    from .page import LAST_LINES, LAST_WIDTH, crashes, last_words, render_page
    from .record import VARIANT, address_space_words
    from .session import READ_ONLY_HERE, explain_pid, explain_program, refused_write, sample_name
    from ..capture.elf import read_elf

    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    # "-" is the standard output, as for most commands: it wrote a file named "-".
    if args.out == "-" and args.save == "-":
        print("roads: error: --out - and --save - both name the standard output: give one "
              "of them a file", file=sys.stderr)
        return 2
    args.out, args.save = (STDOUT if given == "-" else given for given in (args.out, args.save))

    def progress(line: str) -> None:
        print(printable(f"roads explain: {line}"), file=sys.stderr, flush=True)

    if args.pid is not None and program:
        print("roads: error: give --pid or a program, not both", file=sys.stderr)
        return 2
    if args.pid is None and not program:
        print("roads: error: explain needs a program: roads explain [--at WHERE]... -- PROGRAM "
              "[ARGS] (or --pid PID)", file=sys.stderr)
        return 2
    for option, given in (("--out", args.out), ("--save", args.save)):
        problem = given and file_problem(given)
        if problem:  # told before the program runs, not after
            print(printable(f"roads: error: {option} {given}: {problem}"), file=sys.stderr)
            return 2
    if args.out and args.save and same_file(args.out, args.save):
        print(printable(f"roads: error: --out {args.out} and --save {args.save} name the same "
                        "file: the saved session would replace the page"), file=sys.stderr)
        return 2
    if args.pid is not None:
        if args.at:
            print("roads: error: --pid reads the process once, now: no --at", file=sys.stderr)
            return 2
        session = explain_pid(args.pid, progress, deadline=args.deadline)
    else:
        # The sandbox's launcher and a run's folder, and dpkg's answers about the
        # toolchain the page records; with --no-sandbox none, and nothing is written.
        sandbox = None if args.no_sandbox else tools_folder(Path(args.root), args.root_named,
                                                            os.environ)
        # A session to be saved names its program as its record does, from the project
        # folder, as a build that makes it again names it (saved.refreshed).
        shown = _recorded(program, Path(args.root).resolve()) if args.save else None
        session = explain_program(program, args.at, aslr=args.aslr, follow_fork=args.follow_fork,
                                  deadline=args.deadline, sandbox=sandbox, cache=sandbox,
                                  progress=progress, shown=shown, or_no_run=True)
        if input_given(sys.stdin):
            progress("the program's standard input is empty (/dev/null): what comes to "
                     "roads explain's own is not passed on")
    progress("drawing the figures")
    text = render_page(session, read_elf=read_elf)
    out = Path(args.out) if args.out else Path(f"explain-{sample_name(session.capture.sample)}.html")
    if args.save and same_file(str(out), args.save):  # the default page's name, known now
        print(printable(f"roads: error: the page {out} and --save {args.save} name the same "
                        "file: the saved session would replace the page; give --out"),
              file=sys.stderr)
        return 2
    for where, write in ((out, lambda: write_page(text, out, named=bool(args.out))),
                         (args.save, lambda: _save(session, program, args))):
        if not where:
            continue
        try:
            write()
        except OSError as exc:  # a full disk, a folder made meanwhile, no right to write
            if isinstance(exc, BrokenPipeError) and own_descriptor(str(where)) is not None:
                raise  # its reader gone: the command ends as SIGPIPE ends it (cli.main)
            print(printable(f"roads: error: cannot write {exc.filename or where}: "
                            f"{exc.strerror or exc}", one_line=True), file=sys.stderr)
            return 1
    # Where it crashed (the page's Crash facts), the program named as typed (a saved
    # session's is named from the project folder), as a shell reads it back, as every
    # line names it.
    words = program or session.command  # --pid's: the process's own
    named = shellwords.quote(words[0]) if words else ""
    told = crashes(session, named)
    for line in told:
        progress(line)
    run = session.capture.variants[VARIANT].runs[0]
    if not session.complete:
        progress(f"{shellwords.quote(session.command[0])} {session.ending} before reaching "
                 f"{', '.join(session.not_reached())}: the page shows the stops it reached")
    elif program and not told and session.ending != "exited with status 0":
        # An end worth knowing (abort()'s SIGABRT, a failing exit status, a program ended
        # after its last stop) was on the page alone; a crash has its own line above. A
        # program that failed for a write the sandbox refused is told why it was refused.
        why = (f"; it was refused a write ({os.strerror(errno.EROFS)}): {READ_ONLY_HERE}"
               if not args.no_sandbox and refused_write(run.stdout + run.stderr) else "")
        progress(f"{named} {session.ending}{why}")
    if program and last_words(session) is not None:
        # As the page quotes them beside how it ended, and the error that writes no page
        # quotes them (session._wrote): the program's stderr was not shown here.
        progress(told_output(named, "stderr", run.stderr, LAST_LINES, LAST_WIDTH))
    if program and session.address_space is not None and refused_memory(run.stdout + run.stderr):
        progress(address_space_words(session.address_space))
    for stop in session.unread:
        progress(f"the stop {stop.label} (pid {stop.pid}) could not be read, and the page "
                 f"shows the others: {stop.reason}")
    if own_descriptor(str(out)) is None:
        if args.open and not webbrowser.open(out.resolve().as_uri()):
            progress("found no browser to open the page with: open it yourself")
        if own_descriptor(args.save or "") != 1:  # a session saved to stdout is all it holds
            print(printable(str(out), one_line=True))
    elif args.open:
        progress(f"the page went to {out}: there is no file to open")
    return 0 if session.whole else INCOMPLETE


STDOUT = "/dev/stdout"


def input_given(stream) -> bool:
    """Whether ``stream`` (roads explain's standard input) is a pipe or a file, which a
    user sends the program input through (``prog < file``, ``cmd | roads explain``):
    not a terminal, /dev/null or none. The program reads an empty one all the same."""
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError, AttributeError):  # closed, or no descriptor behind it
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode)


def file_problem(given: str) -> str | None:
    """Why a file cannot be written at the path ``given`` (a folder's name, under a
    file, in a folder that is not there or refuses it), or None."""
    path = Path(given)
    if own_descriptor(given) is not None:  # this process's own: written where it stands
        return None
    if given.endswith("/") or path.name in ("", ".", ".."):
        return "names a folder; give a file's name"
    # os.path's tests: a folder this user may not look into is left to the write to say.
    if os.path.isdir(path):
        return "is a folder; give a file's name"
    why = refused(given)  # a link another user made on the way, say: told before the run
    if why is not None:
        return why
    if os.path.exists(path) and not os.path.isfile(path):  # /dev/stdout: written as it is
        return None if os.access(path, os.W_OK) else "cannot be written (no permission)"
    if os.path.islink(path):  # the page replaces the link's target (pagefile.write_page)
        path = Path(os.path.realpath(path))
    for parent in path.parents:  # the folder to write in, or the first of it that exists
        if not os.path.lexists(parent):
            continue
        if not os.path.isdir(parent):
            return f"{parent} is not a folder"
        return unwritable(parent) if parent == path.parent else f"there is no folder {path.parent}"
    return None


def unwritable(folder: Path) -> str | None:
    """Why no file can be made in ``folder``, or None. Tried, not read from its mode:
    root writes where the mode says no, and a file system may be read-only or refuse
    files (/proc)."""
    try:
        handle, probe = tempfile.mkstemp(prefix=".roads-explain-", suffix=".tmp", dir=folder)
    except OSError as exc:
        return f"cannot write in {folder}: {exc.strerror or exc}"
    os.close(handle)
    os.unlink(probe)
    return None


def same_file(first: str, second: str) -> bool:
    """Whether the paths ``first`` and ``second`` name one file (through links too)."""
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them is not there yet
        return False


def _save(session, program: list[str], args) -> None:
    """Write the session's record (``--save``). The record names the program as seen
    from the project folder (--root), where a build runs it again when it goes stale,
    with the options that shaped the run (roads/explain/saved.py); a process read with
    --pid cannot be run again: its record says so (no argv)."""
    from .saved import RunOptions, save

    root = Path(args.root).resolve()
    options = RunOptions(aslr=args.aslr, follow_fork=args.follow_fork,
                         deadline=args.deadline, sandbox=not args.no_sandbox)
    save(session, _recorded(program, root), args.at, root, Path(args.save), options=options)


def _recorded(program: list[str], root: Path) -> list[str]:
    """``program`` (its argv) as a saved session records it: a file it names by a path
    (a source, or a program named with a slash) named from ``root``, where the two share
    a folder other than / (a source in a folder beside the project: ``../work/prog.c``);
    by its absolute path where they share only / (/bin/true was '../../../../bin/true',
    true of the project's place alone)."""
    recorded = list(program)
    source = bool(recorded) and recorded[0].endswith(".c")  # a path, slash or none
    if recorded and (source or "/" in recorded[0] and os.path.exists(recorded[0])):
        # Through the links named (a multi-call program reads its name), and with a
        # slash, which a build's run needs: a name without one is looked up on PATH.
        # A source is a file named from this folder, never looked up on PATH
        # (session.explain_program compiles it): named so from the root.
        whole = os.path.abspath(recorded[0])
        if os.path.commonpath([whole, str(root)]) == "/":
            recorded[0] = whole
            return recorded
        relative = os.path.relpath(whole, root)
        recorded[0] = relative if "/" in relative or source else f"./{relative}"
    return recorded


__all__ = ["add_parser", "cmd_explain", "ExplainError"]

