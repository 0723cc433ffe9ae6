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
from dataclasses import dataclass
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


# --------------------------------------------------------------------------- stops
#
# A transcript split where gdb stopped the program. The split comes from the text
# itself: a command that lets the program run (``starti``, ``run``, ``continue``, a
# ``next`` or ``finish``) opens a stop, and gdb's first line about it ("Program
# stopped.", "Breakpoint N, ...", "Catchpoint N (...)", the line a step landed on, or
# "[Inferior N (process P) exited ...]") says what stopped it. The lines before the
# first such command (breakpoints set, options) are the set-up. Joined again, the
# stops' lines are the transcript.

# gdb's commands that resume the program (with their usual abbreviations).
RESUMING = frozenset("run r start starti continue c cont fg next n step s nexti ni stepi si "
                     "finish fin until u advance jump".split())
# Of those, the ones whose landing gdb reports as a location or a source line.
STEPPING = frozenset("next n step s nexti ni stepi si finish fin until u advance".split())
# A line in which gdb says why the program stopped or that it ended.
_EVENT = re.compile(r"^(?:Program stopped\.|(?:Temporary )?Breakpoint \d+, |Catchpoint \d+ \(|"
                    r"\[Inferior \d+ \(process \d+\) exited|Program received signal |"
                    r"Program terminated with signal )")
_EXITED = re.compile(r"^\[Inferior \d+ \(process \d+\) exited")
_SOURCE_LINE = re.compile(r"^(\d+)\t(.*)$")


@dataclass(frozen=True)
class Mapping:
    """A line of ``info proc mappings`` (or of ``/proc/PID/maps``)."""
    start: int
    end: int
    offset: int
    perms: str
    objfile: str


@dataclass(frozen=True)
class Stop:
    """One stop of a session: ``number`` 0 for the set-up before the program runs; the
    resuming ``command`` that led here ("" for the set-up); ``event``, what gdb said
    stopped it ("" when the stop was silent); ``exited``, gdb's line saying the program
    ended, if it ended in this stop; ``lines``, the transcript's lines (echoed commands
    with their ``+``); ``maps``, the last ``info proc mappings`` table printed here;
    ``silent``, true when the resuming command itself printed no stop, so that the
    program first stopped where breakpoint commands ran silently and went on, and
    ``event`` is the first stop gdb did report further down."""
    number: int
    command: str
    event: str
    exited: str
    lines: tuple[str, ...]
    maps: tuple[Mapping, ...] | None
    silent: bool = False


def transcript_lines(text: str) -> list[str]:
    """The transcript's lines, carriage returns and blank lines at either end dropped."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")


def _verb(command: str) -> str:
    return command.split()[0] if command.split() else ""


def _event(command: str, output: list[str]) -> str:
    """What stopped the program, in gdb's words, from the resuming command's output."""
    for i, line in enumerate(output):
        if line == "Program stopped.":
            where = next((rest for rest in output[i + 1:] if rest.strip()), "")
            return f"{line} {where}".strip()
        if _EVENT.match(line):
            return line
    if _verb(command) in STEPPING:
        for line in output:
            if line.startswith("Run till exit from ") or not line.strip():
                continue
            source = _SOURCE_LINE.match(line)
            return f"line {source[1]}: {source[2].strip()}" if source else line
    return ""


def split_stops(text: str) -> list[Stop]:
    """The transcript cut into stops (pure; see above). The set-up comes first if the
    script did anything before the program ran."""
    lines = transcript_lines(text)
    starts = [i for i, line in enumerate(lines)
              if line.startswith("+") and _verb(line[1:]) in RESUMING]
    bounds = ([0] if not starts or starts[0] != 0 else []) + starts + [len(lines)]
    stops: list[Stop] = []
    for a, b in zip(bounds, bounds[1:]):
        chunk = lines[a:b]
        resuming = a in starts
        command = chunk[0][1:].strip() if resuming else ""
        own = []
        for line in chunk[1:] if resuming else []:
            if line.startswith("+"):
                break
            own.append(line)
        event = _event(command, own) if resuming else ""
        silent = resuming and not event
        if silent:
            event = _event("", [line for line in chunk if not line.startswith("+")])
        exited = next((line for line in chunk if _EXITED.match(line)), "")
        tables = parse_mappings(chunk)
        stops.append(Stop(len(stops) if (stops or resuming) else 0, command, event, exited,
                          tuple(chunk), tables[-1] if tables else None, silent))
    if stops and stops[0].command:  # no set-up: number the stops from 1
        stops = [Stop(s.number + 1, s.command, s.event, s.exited, s.lines, s.maps, s.silent)
                 for s in stops]
    return stops


_MAPPING_ROW = re.compile(r"^\s*0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)"
                          r"(?:\s+([r-][w-][x-][ps]))?(?:\s+(\S.*?))?\s*$")


def parse_mappings(lines: list[str] | tuple[str, ...]) -> list[tuple[Mapping, ...]]:
    """Each table printed by an echoed ``info proc mappings`` among ``lines``, in order
    (pure). A row whose size is not its end minus its start is a ConfigError."""
    tables: list[tuple[Mapping, ...]] = []
    rows: list[Mapping] | None = None
    for line in lines:
        if line.startswith("+"):
            if rows is not None:
                tables.append(tuple(rows))
            rows = [] if line[1:].strip() == "info proc mappings" else None
            continue
        if rows is None:
            continue
        m = _MAPPING_ROW.match(line)
        if not m:
            continue
        start, end, size, offset = (int(m[k], 16) for k in range(1, 5))
        if end - start != size or end <= start:
            raise ConfigError(f"not a line of info proc mappings: {line!r}")
        rows.append(Mapping(start, end, offset, m[5] or "", m[6] or ""))
    if rows is not None:
        tables.append(tuple(rows))
    return tables


def parse_proc_maps(text: str) -> tuple[Mapping, ...]:
    """``/proc/PID/maps`` as the same records (pure)."""
    rows = []
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 5 or not re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", fields[0]):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        rows.append(Mapping(start, end, int(fields[2], 16), fields[1],
                            fields[5].strip() if len(fields) > 5 else ""))
    return tuple(rows)


# --------------------------------------------------------------------------- map change


@dataclass(frozen=True)
class MapChange:
    """A change of the map between two stops, for one object (a file, a kernel-named
    region such as ``[heap]``, or one anonymous region): ``word`` from
    ``roads.figures.diff.CHANGES``; the object's lines before and after."""
    word: str
    name: str
    before: tuple[Mapping, ...]
    after: tuple[Mapping, ...]


def _overlaps(a: Mapping, b: Mapping) -> bool:
    return a.start < b.end and b.start < a.end


def _compare(name: str, before: tuple[Mapping, ...], after: tuple[Mapping, ...]) -> str:
    if not before:
        return "added"
    if not after:
        return "removed"
    lo_b, hi_b = before[0].start, before[-1].end
    lo_a, hi_a = after[0].start, after[-1].end
    if hi_a <= lo_b or hi_b <= lo_a:
        return "moved"
    if (hi_a - lo_a) > (hi_b - lo_b):
        return "grown"
    if (hi_a - lo_a) < (hi_b - lo_b):
        return "shrunk"
    if len(after) > len(before):
        return "split"
    if len(after) < len(before):
        return "merged"
    if [m.perms for m in before] != [m.perms for m in after] or lo_a != lo_b:
        return "permissions" if lo_a == lo_b else "moved"
    return "unchanged"


def map_changes(before: tuple[Mapping, ...], after: tuple[Mapping, ...]) -> list[MapChange]:
    """What changed from one table to the next in one process (pure): a named object
    (file or ``[heap]``-like name) is matched by its name, an anonymous region by
    overlapping one before. Unchanged objects are left out; the order is the address
    order of the later table (removed ones where they were)."""
    names = [m.objfile for m in before + after if m.objfile]
    changes: list[tuple[int, MapChange]] = []
    for name in dict.fromkeys(names):
        b = tuple(m for m in before if m.objfile == name)
        a = tuple(m for m in after if m.objfile == name)
        word = _compare(name, b, a)
        if word != "unchanged":
            changes.append(((a or b)[0].start, MapChange(word, name, b, a)))
    anon_b = [m for m in before if not m.objfile]
    anon_a = [m for m in after if not m.objfile]
    matched: set[int] = set()
    for m in anon_a:
        olds = tuple(o for o in anon_b if _overlaps(o, m))
        matched.update(id(o) for o in olds)
        word = _compare("", olds, (m,))
        if word != "unchanged":
            changes.append((m.start, MapChange(word, "", olds, (m,))))
    for o in anon_b:
        if id(o) not in matched:
            changes.append((o.start, MapChange("removed", "", (o,), ())))
    return [c for _, c in sorted(changes, key=lambda pair: pair[0])]


# --------------------------------------------------------------------------- drawn


def _line_spans(lines: tuple[str, ...] | list[str]) -> str:
    out = []
    for line in lines:
        command = line.startswith("+")
        kind = "roads-gdb-line roads-gdb-command" if command else "roads-gdb-line"
        shown = PROMPT + line[1:] if command else line
        out.append(f'<span class="{kind}">{escape(shown, quote=False)}</span>')
    return "".join(out)


def stop_title(stop: Stop) -> tuple[str, str]:
    """The stop's short name ("Stop 2", "Set-up", "End") and what stopped it."""
    if not stop.command:
        return "Set-up", "before the program runs"
    name = "End" if stop.exited and stop.event == stop.exited else f"Stop {stop.number}"
    what = stop.event or "no stop reported"
    if stop.silent:
        what = ("first, silent stops, where a breakpoint's own commands ran and went on; then "
                + what)
    if stop.exited and stop.exited != stop.event:
        what += f"; then {stop.exited}"
    return name, what


def _where(rows: tuple[Mapping, ...]) -> str:
    if not rows:
        return "—"
    span = (f"<code>{rows[0].start:#x}</code>–<code>{rows[-1].end:#x}</code>")
    perms = " ".join(m.perms for m in rows)
    count = f"{len(rows)} lines: " if len(rows) > 1 else ""
    return f"{span} <span class=\"roads-gdb-perms\">{count}{escape(perms)}</span>"


def _badge(word: str) -> str:
    from .diffview import BADGES
    sign = BADGES.get(word, ("", ""))[0]
    return (f'<span class="roads-diff-badge roads-change-{word}">'
            f'<span aria-hidden="true">{sign}</span>\u00a0{word}</span>')


def _folder(folder: str) -> str:
    """A file's folder, whose lines may break after a slash only: in a phone's narrow
    column ``/usr/lib/`` over ``x86_64-linux-gnu/``, never at a name's hyphen (each piece
    is kept whole by figures-more.css)."""
    return "<wbr>".join(f"<span>{escape(piece)}</span>"
                        for piece in re.findall(r"/*[^/]*/", folder + "/"))


def render_map_change(changes: list[MapChange], before: str, after: str,
                      unchanged: int) -> str:
    """The changes as a table: one row per object, its lines at either stop."""
    if not changes:
        return (f'<p class="roads-gdb-mapchange-none">The map at {escape(after)} is the same as '
                f'at {escape(before)}.</p>')
    rows = []
    for c in changes:
        folder, _, name = c.name.rpartition("/") if c.name else ("", "", "anonymous")
        # The file's folder under its name, on the page: it was a tooltip, out of a
        # keyboard's and a tap's reach.
        where = (f'<br><code class="roads-gdb-folder">{_folder(folder)}</code>'
                 if "/" in c.name else "")
        rows.append(f'<tr class="roads-change-{c.word}"><td>{_badge(c.word)} '
                    f'<code>{escape(name)}</code>{where}</td>'
                    f'<td>{_where(c.before)}</td><td>{_where(c.after)}</td></tr>')
    same = f"; {unchanged} line{'s' if unchanged != 1 else ''} unchanged" if unchanged else ""
    return (f'<table class="roads-gdb-mapchange"><caption>What changed in the map from '
            f'{escape(before)} to {escape(after)} ({len(changes)} '
            f'change{"s" if len(changes) != 1 else ""}{same})</caption>'
            f'<thead><tr><th scope="col">Region</th><th scope="col">{escape(before)}</th>'
            f'<th scope="col">{escape(after)}</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def render_gdb_stops(selection: Selection, language: str = "text") -> str:
    """The variant's gdb transcript split per stop: for each, a heading (what stopped
    it, in gdb's words), its lines as in ``render_gdb_session`` and, at each stop that
    printed ``info proc mappings`` after an earlier one did, what changed in the map."""
    if not re.fullmatch(r"[A-Za-z0-9_+-]*", language):
        raise ConfigError(f"not a code block language: {language!r}")
    stops = split_stops(gdb_of(selection).transcript)
    parts = []
    previous: tuple[str, tuple[Mapping, ...]] | None = None
    for stop in stops:
        name, what = stop_title(stop)
        command = (f' <code>{escape(PROMPT + stop.command)}</code>' if stop.command else "")
        parts.append(f'<div class="roads-gdb-stop"><p class="roads-gdb-stop-head">'
                     f'<strong>{escape(name)}</strong>{command}: {escape(what)}</p>'
                     f'<pre><code>{_line_spans(stop.lines)}</code></pre>')
        if stop.maps is not None:
            if previous is not None:
                changes = map_changes(previous[1], stop.maps)
                touched = {id(m) for c in changes for m in c.after}
                unchanged = sum(1 for m in stop.maps if id(m) not in touched)
                parts.append(render_map_change(changes, previous[0], name.lower(), unchanged))
            previous = (name.lower(), stop.maps)
        parts.append("</div>")
    label, description = describe_gdb_stops(selection, stops)
    fid = re.sub(r"[^a-z0-9]+", "-", f"gdb-{selection.sample}-{selection.variant}".lower())
    return (f'<div class="roads-gdb roads-gdb-stops language-{language} highlight" '
            f'role="figure" aria-label="{escape(label)}" aria-describedby="{fid}-desc">'
            f'<p hidden id="{fid}-desc">{escape(description)}</p>' + "".join(parts) + "</div>\n")


def describe_gdb_stops(selection: Selection, stops: list[Stop] | None = None) -> tuple[str, str]:
    """The split transcript's accessible name and description: each stop and what
    stopped it."""
    record = gdb_of(selection)
    stops = stops if stops is not None else split_stops(record.transcript)
    label = (f"Transcript of gdb -batch -x {record.script} on {selection.sample} "
             f"({selection.variant}), stop by stop: {len(stops)} part{'s' if len(stops) != 1 else ''}")
    words = "; ".join(f"{name}: {what}" for name, what in map(stop_title, stops))
    return label, words + "."
