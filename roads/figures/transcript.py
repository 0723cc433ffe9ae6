"""A captured gdb session as a code block.

The capture holds what ``gdb -batch -x SCRIPT`` printed. Shown on a page it must stay
exactly that text. ``render_gdb_session`` gives it as HTML, one element per line, so
that a line too long for the column (``info proc mappings`` with its objfile column, a
backtrace) wraps under itself with a hanging indent instead of running off to the
right (docs/stylesheets/figures-more.css); copied, it is the text as gdb printed it.
``fenced`` gives any text as a Markdown fence, made longer than any run of backticks in
it, so no line of output can close the block early. Pure: text in, HTML or Markdown out.
"""

from __future__ import annotations

import re
from html import escape

from ..document import Gdb
from ..errors import ConfigError
from .select import Selection

_BACKTICKS = re.compile(r"`+")


def fence_for(text: str) -> str:
    """A backtick fence longer than any run of backticks in ``text`` (at least three)."""
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)


def fenced(text: str, language: str = "text") -> str:
    """``text`` as a fenced code block in ``language``, ending with a newline.

    Tabs and trailing spaces are kept; blank lines at either end are dropped, and so
    is any carriage return (gdb never means one, and a lone CR would end a Markdown line).
    """
    if not re.fullmatch(r"[A-Za-z0-9_+-]*", language):
        raise ConfigError(f"not a code block language: {language!r}")
    body = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    fence = fence_for(body)
    return f"{fence}{language}\n{body}\n{fence}\n"


def gdb_of(selection: Selection) -> Gdb:
    """The ``gdb`` record of the selected variant; ConfigError if it ran no gdb script."""
    record = selection.variant_record.gdb
    if not record:
        with_gdb = [name for name, v in selection.capture.variants.items() if v.gdb]
        hint = f" (variants with one: {', '.join(with_gdb)})" if with_gdb else \
            "; give the sample a gdb script in samples.toml"
        raise ConfigError(f"variant {selection.variant!r} has no gdb transcript{hint}",
                          sample=selection.sample)
    return record


# What a command line of a transcript starts with on the page: gdb's own prompt.
PROMPT = "(gdb) "


def render_gdb_session(selection: Selection, language: str = "text") -> str:
    """The variant's gdb transcript as an HTML code block: one ``span`` per line, the
    lines gdb echoes for the script's commands (``+info proc mappings``) marked as such
    and shown after gdb's prompt, as typed in a session (``(gdb) info proc mappings``).
    Blank lines at either end are dropped, carriage returns too (as in ``fenced``)."""
    if not re.fullmatch(r"[A-Za-z0-9_+-]*", language):
        raise ConfigError(f"not a code block language: {language!r}")
    text = gdb_of(selection).transcript
    body = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    lines = []
    for line in body.split("\n"):
        kind = "roads-gdb-line roads-gdb-command" if line.startswith("+") else "roads-gdb-line"
        if line.startswith("+"):
            line = PROMPT + line[1:]
        lines.append(f'<span class="{kind}">{escape(line, quote=False)}</span>')
    label, description = describe_gdb_session(selection)
    fid = re.sub(r"[^a-z0-9]+", "-", f"gdb-{selection.sample}-{selection.variant}".lower())
    return (f'<div class="roads-gdb language-{language} highlight" role="figure" '
            f'aria-label="{escape(label)}" aria-describedby="{fid}-desc">'
            f'<p hidden id="{fid}-desc">{escape(description)}</p><pre><code>'
            + "".join(lines) + "</code></pre></div>\n")


# An output line worth the description: an address or where the program stopped.
_TELLING = re.compile(r"0x[0-9a-f]+|^Breakpoint \d+, ")
# A line of output in the description is cut after this many characters.
LINE_WORDS = 90


def describe_gdb_session(selection: Selection) -> tuple[str, str]:
    """The transcript's accessible name (whose, how many commands and lines) and its
    description: each command of the script and the first telling line it printed (an
    address, or where the program stopped; else its first line), as gdb printed them."""
    record = gdb_of(selection)
    body = record.transcript.replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")
    said: list[tuple[str, list[str]]] = []
    for line in body:
        if line.startswith("+"):
            said.append((line[1:].strip(), []))
        elif said and line.strip():
            said[-1][1].append(" ".join(line.split()))
    output = len(body) - len(said)
    label = (f"Transcript of gdb -batch -x {record.script} on {selection.sample} "
             f"({selection.variant}): {len(said)} command{'s' if len(said) != 1 else ''}, "
             f"{output} line{'s' if output != 1 else ''} of output")
    parts = []
    for command, lines in said:
        telling = next((line for line in lines if _TELLING.search(line)), lines[0] if lines else "")
        if len(telling) > LINE_WORDS:
            telling = telling[:LINE_WORDS - 1] + "…"
        parts.append(f"{command}: {telling}" if telling else command)
    words = ("Each command and a line it printed: "
             + "; ".join(parts) + ".") if parts else "No commands echoed."
    return label, words
