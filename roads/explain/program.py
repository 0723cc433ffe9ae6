"""The program a learner names to ``roads explain`` or ``roads run``: found as a shell
finds it, or why there is none to run, or why the kernel would not start the file
found; and how long a run may take. The engine
(``session``, ``saved``) and the command line (``command``) both read it.

A name in what these say, and a command line to type, is written as a shell reads it
back (``shellwords.quote``): ``'my prog'``, ``$'a\\nb'``, ``./prog`` as it is; a file
named on a command line after a program's options has a slash put before a leading
``-`` (``./-x``), so that the program takes it for a file (``argument``).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ..capture.elf import parse_elf, read_bytes
from ..elfspec import ELFMAG
from ..errors import RoadsError
from .shellwords import quote

DEFAULT_DEADLINE = 30.0
MAX_DEADLINE = 110.0  # seconds: a run's work, gcc included, within a couple of minutes


def user_program(name: str) -> str | None:
    """The file a user's command ``name`` runs, found as a shell (and execvp(3)) finds
    it: one with a slash as named; one without in the folders PATH names, in turn, and
    nowhere else, the current folder not unless PATH names it. An empty entry (``::``, a
    leading or trailing ``:``, or PATH set but empty) names it, as POSIX keeps for old
    PATHs and dash, bash and glibc's execvp take it (``shutil.which`` finds nothing for
    a PATH set but empty); PATH unset, the system's default (confstr's _CS_PATH, as
    execvp). None when there is none or it cannot be run (``not_runnable`` says why).
    ``roads run`` finds its program so too."""
    if "/" in name:
        return name if _runnable(name) else None
    path = os.environ.get("PATH")
    if path is None:
        path = os.confstr("CS_PATH") or os.defpath
    for folder in path.split(os.pathsep):
        candidate = os.path.join(folder or os.curdir, name)
        if _runnable(candidate):
            return candidate
    return None


# The endings g++ takes for a C++ source (gcc(1), "-x c++"): roads explain compiles C
# alone (a .c file), so one of these named as the program is told how to compile it.
CXX_SOURCES = (".cc", ".cp", ".cxx", ".cpp", ".CPP", ".c++", ".C")


def argument(path: str) -> str:
    """``path`` as a word of a command line that names it as a file, after a program's
    options (``gcc -o``, ``chmod +x``, ``sh``): written as a shell reads it back, a
    leading ``-`` (which the program would read as an option) behind ``./``."""
    return quote(f"./{path}" if path.startswith("-") else path)


def not_runnable(name: str, command: str = "explain") -> str:
    """Why ``user_program`` found nothing to run for ``name``, as ``name: why``: what
    is there by that name (a folder, a C++ source) where that is why, and for a source
    the ``roads COMMAND`` line to run once it is compiled."""
    named = quote(name)  # '' (an empty variable, say): it was ": not found on PATH"
    if not name:
        return f"{named}: an empty name, which names no program"
    if "/" not in name:
        if _runnable(name):
            return (f"{named}: not found on PATH; a program in this folder is named "
                    f"{quote('./' + name)}")
        here = _what_is(name, command)
        return f"{named}: not found on PATH" + (f"; {named} in this folder is {here}"
                                                if here else "")
    if not os.path.exists(name):
        return f"{named}: {_unreachable(name)}"
    return f"{named}: {_what_is(name, command) or 'not an executable file'}"


def _unreachable(path: str) -> str:
    """Why there is no file at ``path`` to run: none by that name, or a link that leads
    nowhere or round in a loop, or a folder on the way that is none or may not be
    looked into (each was said to be "no such program")."""
    try:
        os.stat(path)
    except OSError as exc:
        error = exc
    else:  # there after all (made since it was looked for)
        return "no such program"
    if error.errno == errno.ELOOP:  # at the name itself, or at a folder on the way to it
        where = ("a symbolic link" if os.path.islink(path)
                 else "a path that goes through a symbolic link")
        return f"{where} that leads round in a loop (too many levels of links)"
    if error.errno == errno.ENOENT:
        if os.path.islink(path):
            return f"a symbolic link to {os.readlink(path)}, which is not there"
        return "no such program"
    if error.errno == errno.ENOTDIR:
        return "a part of the path that should be a folder is a file"
    return f"cannot be reached: {error.strerror}"


def _what_is(path: str, command: str) -> str | None:
    """What the file at ``path`` is, where that says why it is no program to run: a
    folder; a C++ source, or for ``roads run`` a C one (``roads explain`` compiles those
    itself), with the lines that compile and run it; a file no one may run, with the
    chmod that lets them; None otherwise."""
    if os.path.isdir(path):
        return "a folder, not a program"
    if not os.path.isfile(path):
        return None
    for endings, language, compiler in ((CXX_SOURCES, "C++", "g++"), ((".c",), "C", "gcc")):
        if not path.endswith(endings) or (language == "C" and command == "explain"):
            continue
        stem = os.path.splitext(path)[0]
        program = stem if "/" in stem else f"./{stem}"
        which = (" (roads explain compiles a .c file, not C++)" if command == "explain"
                 else " (roads run starts a compiled program; roads explain compiles a .c "
                 "file itself)" if language == "C" else "")
        return (f"a {language} source, not a program{which}: compile it, {compiler} -O0 -g "
                f"-o {argument(stem)} {argument(path)}, then name what it makes: "
                f"roads {command} -- {quote(program)}")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if not mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
        # Copied, downloaded or written by an editor: no x bit, which a shell says only
        # as "Permission denied".
        return (f"not an executable file: its mode, {stat.filemode(mode)[1:]}, lets no one "
                f"run it; if it is a program, chmod +x {argument(path)} makes it one")
    return None


def _runnable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def not_executed(name: str, path: str, err: int, command: str = "run") -> str:
    """Why the kernel's execve refused the file at ``path`` (``name`` as typed) with
    errno ``err``, as ``name: why``: for ENOEXEC, what the file is instead (empty, text
    without a ``#!`` line, an ELF file of another machine, or neither); for a script,
    the interpreter its ``#!`` line names where that cannot be run; for ENOENT of an
    ELF program that is there, the loader its header names (PT_INTERP), which is not;
    else the system's words. ``name`` is said as a shell reads it back (``quote``), and
    the line to type names the file found, ``path``, which ``sh`` reads as named."""
    named = quote(name)
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        head = None
    line = shebang(head) if head is not None else None
    if line is not None:
        needed = line.split()[0] if line else ""
        if not needed:
            return (f"{named}: a script whose first line, #!, names no interpreter: the "
                    "kernel cannot start it")
        if err == errno.ENOENT and _runnable(needed):  # here, but not in the sandbox
            return (f"{named}: a script whose interpreter, {quote(needed)}, named by its first "
                    f"line (#!{line}), is not there in the sandbox, which gives the "
                    f"program /tmp, /run and /dev/shm of its own: copy it elsewhere")
        if not _runnable(needed):
            return f"{named}: {bad_interpreter(needed, line)}"
    if err == errno.ENOEXEC and head is not None:
        if not head:
            what = ("an empty file, which the kernel cannot start (a shell runs it as a "
                    "script, empty, that does nothing)")
        elif head.startswith(ELFMAG):
            what = ("an ELF file the kernel cannot start: not a program of this machine "
                    "(built for another processor or system), or no program at all")
        elif _text(head):
            what = ("a text file without a #! line naming its interpreter, which the "
                    "kernel cannot start (a shell runs such a file as a script of its "
                    f"own): name the shell, roads {command} -- sh {argument(path)}")
        else:
            what = ("neither a compiled program (ELF) nor a script (#!): the kernel "
                    "cannot start it")
        return f"{named}: {what}"
    if err == errno.ENOENT and head is not None and head.startswith(ELFMAG):
        loader = _loader(path)
        if loader is not None:
            why = ("is not there in the sandbox, which gives the program /tmp, /run and "
                   "/dev/shm of its own: copy it elsewhere" if os.path.exists(loader)
                   else "is not there: a program built for another system (a shell says "
                   "\"required file not found\")")
            return (f"{named}: its loader, {loader}, which its ELF header names (PT_INTERP) "
                    f"for the kernel to start first, {why}")
    return f"{named}: could not execute {quote(path)}: {os.strerror(err)}"


def shebang(head: bytes) -> str | None:
    """What follows ``#!`` on the first line of a file whose first bytes are ``head``
    (its interpreter, and an argument), stripped; None for a file that does not begin
    with ``#!``."""
    if not head.startswith(b"#!"):
        return None
    return os.fsdecode(head[2:].split(b"\n", 1)[0].strip())


def bad_interpreter(interpreter: str, line: str) -> str:
    """Said of a script whose first line, ``#!`` then ``line``, names ``interpreter``,
    which cannot be run."""
    return (f"a script whose interpreter cannot be run ({not_runnable(interpreter)}), "
            f"named by its first line (#!{line}): a shell cannot run it either")


def _text(head: bytes) -> bool:
    """Whether ``head``, a file's first bytes, reads as text: UTF-8 (but for a character
    cut where the read ended) without control characters other than tab, newline,
    carriage return and form feed."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(head) < 4096 or exc.start < len(head) - 3:
            return False
        text = head[:exc.start].decode("utf-8")
    return not any((ord(c) < 0x20 and c not in "\t\n\r\f") or c == "\x7f" for c in text)


def _loader(path: str) -> str | None:
    """The loader the ELF file at ``path`` names (PT_INTERP); None if it names none or
    cannot be read."""
    try:
        return parse_elf(Path(path), read_bytes(Path(path))).interp
    except RoadsError:
        return None
