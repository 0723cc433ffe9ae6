"""The one small exception tree of the engine.

Every error can say where it happened: the page that asked (when a page asked), the
sample, the line, then the command and its output. ``RoadsError.located()`` puts
those parts together in that order, so the CLI and the MkDocs side print the same
message.
"""

from __future__ import annotations

import errno
import json
import os
import re

from .escapes import escape_char


class RoadsError(Exception):
    """Base of every error the engine raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        page: str | None = None,
        sample: str | None = None,
        line: int | None = None,
        command: list[str] | None = None,
        output: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.page = page
        self.sample = sample
        self.line = line
        self.command = command
        self.output = output

    def at_page(self, page: str, line: int | None = None) -> "RoadsError":
        """Return this error with the page (and line) that asked for it filled in."""
        self.page = page
        if line is not None and self.line is None:
            self.line = line
        return self

    def located(self) -> str:
        """The message with its location: page, sample, line, command, output tail."""
        where = []
        if self.page:
            where.append(f"{self.page}:{self.line}" if self.line else self.page)
        if self.sample:
            where.append(f"sample {self.sample!r}")
        head = ": ".join(where + [self.message]) if where else self.message
        parts = [head]
        if self.command:
            parts.append("command: " + " ".join(self.command))
        if self.output:
            parts.append(_indent(tail(self.output)))
        parts += getattr(self, "__notes__", ())  # what went wrong too, while ending it
        return printable("\n".join(parts))

    def __str__(self) -> str:
        return self.located()


class ToolMissing(RoadsError):
    """An external program (gcc, dot, gdb, ...) is not installed."""


class CommandFailed(RoadsError):
    """An external program ran and failed."""


class CommandTimeout(RoadsError):
    """An external program did not finish in time; its process group was killed."""


class CommandCancelled(RoadsError):
    """An external program was stopped before it finished, as what it worked for was
    called off (Ctrl-C, a capture ending early); its process group was killed."""


class ConfigError(RoadsError):
    """A sample manifest, page front matter or macro call is malformed."""


class FileError(ConfigError):
    """An error in a file the build reads as a whole (``tests/claims.toml`` that is not
    TOML), located in that file: the page that happened to ask keeps its place out of
    it, so every call that reads the file gets the same message, told once."""

    def at_page(self, page: str, line: int | None = None) -> "FileError":
        return self


class CompileError(RoadsError):
    """gcc refused a sample; ``output`` holds its ``file:line: error:`` lines."""


class SampleError(RoadsError):
    """A sample ran but misbehaved: crashed, hung, flooded, forked too much, missed a checkpoint."""


class NotExecuted(SampleError):
    """The kernel refused to start the program (its execve failed with ``errno``)."""

    def __init__(self, message: str, *, errno: int, **where) -> None:
        super().__init__(message, **where)
        self.errno = errno


class CheckpointMissed(SampleError):
    """A run ended without reaching checkpoints its entry lists (``missing``, in the
    entry's order; ``reached``, in the run's)."""

    def __init__(self, message: str, *, missing: tuple[str, ...] = (),
                 reached: tuple[str, ...] = (), **where) -> None:
        super().__init__(message, **where)
        self.missing = missing
        self.reached = reached


class ProcessGone(RoadsError):
    """A process vanished while its /proc files were being read, or was not there."""


class EngineError(RoadsError):
    """The engine's own part failed (its launcher would not compile): not the sample's fault."""


class CaptureError(RoadsError):
    """A frozen capture is missing, corrupt, stale or of an unknown schema."""


class ExplainError(RoadsError):
    """``roads explain``: bad input or a run that went wrong: the message says which."""


# JSON nested some thousand levels down (a hostile capture or saved session): Python's
# and msgspec's readers raise RecursionError there, which no ValueError handler catches,
# and a walk of a document a little shallower overflows too. No capture comes near.
NESTED = "its lists and tables are nested too deeply to be read"


def json_document(text: str) -> object:
    """``json.loads(text)``, where a document nested too deeply raises the ValueError that
    its readers catch for any other bad JSON (json.JSONDecodeError, ``NESTED``)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError(NESTED, text, 0) from None


# Characters that a terminal (or a reader) would act on instead of showing: C0 and C1
# controls but tab and newline (ESC starts terminal escape sequences, CR overwrites a
# line), bidirectional overrides, and lone surrogates (bytes that were not UTF-8).
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNPRINTABLE = re.compile(f"[{_CONTROLS}]")
# In a table's cell or a one-line heading, a tab or a newline breaks the layout too.
_UNPRINTABLE_IN_A_LINE = re.compile(f"[\t\n{_CONTROLS}]")


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` with every character a terminal would act on written as an escape
    (``\\x1b``, ``\\u202e``; a byte that was not UTF-8 as that byte, ``\\xff``:
    ``roads.escapes``); tabs and newlines kept, unless ``one_line`` (a table's cell,
    where they would break its columns and rows): ``\\x09``, ``\\x0a`` then."""
    pattern = _UNPRINTABLE_IN_A_LINE if one_line else _UNPRINTABLE
    return pattern.sub(lambda m: escape_char(m[0]), text)


# What a program, its C library or its sanitizer writes when an allocation fails
# (strerror of ENOMEM, AddressSanitizer's "errno: 12" and its guess "ulimit -v", the C++
# runtime's std::bad_alloc not caught): where
# a limit on address space may be why (roads run's notes and roads explain's errors).
NO_MEMORY = (os.strerror(errno.ENOMEM), "ENOMEM", "errno: 12", "ulimit -v", "out of memory",
             "Out of memory", "std::bad_alloc")


def refused_memory(said: str) -> bool:
    """Whether a program's output ``said`` shows an allocation refused (``NO_MEMORY``: the
    C library's, the C++ runtime's or a sanitizer's words), which a limit on address space
    may be why."""
    return any(words in said for words in NO_MEMORY)


def tail(text: str, lines: int = 20, width: int = 400) -> str:
    """The last ``lines`` lines of ``text``, each cut to ``width`` characters."""
    # Lines end at newlines only: a carriage return (or another control character)
    # inside a line is shown escaped, not taken for a line break.
    rows = [row.removesuffix("\r") for row in text.rstrip("\n").split("\n")[-lines:]]
    return "\n".join(r if len(r) <= width else r[:width] + " ..." for r in rows)


def told_output(name: str, stream: str, text: str, lines: int = 20, width: int = 400) -> str:
    """What ``name`` wrote to its ``stream``, quoted: a line that says so (with how many
    of its lines, where ``text`` has more than ``lines``), then its last lines (``tail``),
    each under "  | "."""
    total = text.rstrip("\n").count("\n") + 1
    which = f" (the last {lines} of {total} lines)" if total > lines else ""
    return (f"{name} wrote to its {stream}{which}:\n"
            + "\n".join(f"  | {row}" for row in tail(text, lines, width).split("\n")))


# tomllib's place of an error, at the end of its message.
_TOML_PLACE = re.compile(r"(.*) \(at line (\d+), column (\d+)\)", re.S)


def toml_problem(text: str, message: str) -> tuple[int | None, str]:
    """The line of a tomllib error's ``message`` about ``text``, and the problem in
    words: the column, or, where tomllib points past the line's last character (at its
    newline), that the line ended with a table between braces or a string still open;
    TOML ends both on the line they begin. The line is None where tomllib gives none."""
    found = _TOML_PLACE.fullmatch(message)
    if found is None:
        return None, message
    problem, line, column = found[1], int(found[2]), int(found[3])
    rows = text.split("\n")
    row = rows[line - 1].removesuffix("\r") if 0 < line <= len(rows) else ""
    if column <= len(row):
        return line, f"{problem} (column {column})"
    left_open = _open_at_end(rows[:line])
    if left_open == "string":
        open_ = "a string in quotes still open (use three quotes for one over several lines)"
    elif left_open == "table":
        open_ = "a table between braces, {...}, still open (close it on this line)"
    else:
        return line, f"{problem} (at the end of the line)"
    return line, f"{problem} at the end of the line: it ends with {open_}"


def _open_at_end(rows: list[str]) -> str | None:
    """What the last of ``rows`` (TOML, from the file's first line) leaves open at its
    end: "string" (one in single or double quotes, which ends on its line), "table" (a
    table between braces, which does too, though an array in it may go on over lines,
    as a claim's ``path`` often does), or None. Strings in three quotes may go on over
    lines; a comment runs to the line's end; a backslash escapes in double quotes only.
    The rows before the last parsed, so any bracket they leave open is an array's."""
    quote = ""  # the open string's quotes: ", ', \"\"\" or \'\'\'
    opened: list[str] = []  # the braces and brackets open, innermost last
    for number, row in enumerate(rows, start=1):
        i, n = 0, len(row)
        while i < n:
            c = row[i]
            if quote:
                if c == "\\" and quote[0] == '"':
                    i += 2
                    continue
                if row.startswith(quote, i):
                    i += len(quote)
                    quote = ""
                    continue
                i += 1
            elif c == "#":
                break
            elif c in "\"'":
                quote = c * 3 if row.startswith(c * 3, i) else c
                i += len(quote)
            else:
                if c in "{[":
                    opened.append(c)
                elif c in "}]" and opened:
                    opened.pop()
                i += 1
        if number == len(rows):
            if len(quote) == 1:
                return "string"
            return "table" if opened and opened[-1] == "{" else None
        if len(quote) == 1:  # an error of its own line, past which nothing is known
            quote = ""
    return None


def _indent(text: str) -> str:
    return "\n".join("  | " + row for row in text.split("\n"))
