"""The page ``roads explain`` writes: one self-contained HTML file (stylesheets, scripts
and SVG inline, nothing fetched: it works opened from a file) with the site's figures
for each stop: the address-space diagram and its table, ELF → memory for the executable
and its libraries, the diffs between stops, and the provenance under each figure. Its
scripts are a line that follows the reader's light or dark preference and the site's
own that show what a drawing's part focused or tapped says in the figure's readout
(readout.js) and open a figure full screen (zoom.js).
"""

from __future__ import annotations

import dataclasses
import html
import os
import shlex
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ..errors import ExplainError, RoadsError, printable, refused_memory, tail
from ..figures import diff, diffview, elfmap
from ..figures.diagram import render_diagram
from ..figures.filenames import file_path, program_path
from ..figures.hints import zoomable
from ..figures.options import options_whole
from ..figures.provenance import BACK_ON, Aslr, aslr_of, with_provenance
from ..figures.regions import largest_stack_gap_base, memory_map
from ..figures.select import Selection, Snapshot, forked_by, select
from ..figures.table import render_table
from ..units import human_size, unbroken
from .crash import crash_line, delivered, fault_place, instruction_place
from .mapped import Files, opened
from .record import VARIANT, Crash, Session, address_space_words, generation, listed

# The site's own stylesheets and scripts, linked here from docs/stylesheets/ and
# docs/javascripts/ so that an install of the package (a wheel copies what a link names)
# carries them too. The scripts in the site's order: pages.js first (roadsEachPage,
# roadsDrawing), then the figures' readouts and full screen.
STYLESHEETS = Path(__file__).resolve().parent / "assets"
SHEETS = ("figures.css", "figures-more.css", "linking.css", "pictures.css", "zoom.css")
SCRIPTS = ("pages.js", "readout.js", "zoom.js")

# Material's colours for its two schemes (the variables the site's stylesheets use).
BASE_CSS = """
:root, [data-md-color-scheme="default"] {
  --md-default-fg-color: rgba(0,0,0,.87); --md-default-fg-color--light: rgba(0,0,0,.54);
  --md-default-fg-color--lighter: rgba(0,0,0,.32); --md-default-fg-color--lightest: rgba(0,0,0,.07);
  --md-default-bg-color: #fff; --md-accent-fg-color: #526cfe;
  --md-accent-fg-color--transparent: rgba(82,108,254,.1); --md-primary-fg-color: #4051b5;
  --md-primary-bg-color: #fff; --md-typeset-a-color: #4051b5; --md-code-bg-color: #f5f5f5;
  --md-code-hl-keyword-color: #3f6ec6; --md-typeset-table-color: rgba(0,0,0,.12);
  --md-text-font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  --md-code-font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  color-scheme: light;
}
[data-md-color-scheme="slate"] {
  --md-default-fg-color: hsla(232,75%,95%,.82); --md-default-fg-color--light: hsla(232,75%,95%,.56);
  --md-default-fg-color--lighter: hsla(232,75%,95%,.32); --md-default-fg-color--lightest: hsla(232,75%,95%,.12);
  --md-default-bg-color: hsl(232,15%,14%); --md-accent-fg-color: #7d8ffe;
  --md-accent-fg-color--transparent: rgba(125,143,254,.1); --md-primary-fg-color: #4051b5;
  --md-primary-bg-color: #fff; --md-typeset-a-color: #8c9cf6; --md-code-bg-color: hsl(232,15%,18%);
  --md-code-hl-keyword-color: #8fb0f0; --md-typeset-table-color: hsla(232,75%,95%,.12);
  color-scheme: dark;
}
html { font-size: 125%; }
body { margin: 0; background: var(--md-default-bg-color); color: var(--md-default-fg-color);
  font-family: var(--md-text-font-family); line-height: 1.5; }
.md-typeset { max-width: 61rem; margin: 0 auto; padding: .8rem; font-size: .8rem; overflow-wrap: break-word; }
.md-typeset a { color: var(--md-typeset-a-color); }
.md-typeset code, .md-typeset pre { font-family: var(--md-code-font-family); font-size: .85em;
  background: var(--md-code-bg-color); border-radius: .2rem; }
.md-typeset code { padding: 0 .25em; }
.md-typeset pre { padding: .6rem; overflow-x: auto; white-space: pre-wrap; }
.md-typeset table:not([class]), .md-typeset .roads-map table { border-collapse: collapse; }
.md-typeset th, .md-typeset td { border-bottom: 1px solid var(--md-typeset-table-color);
  padding: .2rem .4rem; text-align: left; vertical-align: top; }
.md-typeset .roads-figure, .md-typeset .roads-map, .md-typeset figure { margin: 1rem 0; max-width: 100%;
  overflow-x: auto; }
.md-typeset svg { max-width: 100%; height: auto; }
.md-typeset h1 { font-size: 1.4rem; line-height: 1.25; }
.md-typeset h2 { font-size: 1.1rem; margin-top: 2rem; border-top: 1px solid var(--md-typeset-table-color);
  padding-top: 1rem; }
.md-typeset details { margin: .5rem 0; }
.md-typeset summary { cursor: pointer; }
.roads-explain-facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
.roads-explain-facts dt { font-weight: 600; }
.roads-explain-facts dd { margin: 0; overflow-wrap: anywhere; }
.md-typeset .roads-explain-facts pre { margin: 0; padding: .1rem .4rem; }
.roads-explain-note { color: var(--md-default-fg-color--light); }
.roads-option { white-space: nowrap; }
"""

# The reader's preference, before the first paint (and when it changes).
SCHEME_JS = ("(function(){var q=window.matchMedia('(prefers-color-scheme: dark)');"
             "function s(){document.body.setAttribute('data-md-color-scheme',q.matches?'slate':'default');}"
             "s();if(q.addEventListener)q.addEventListener('change',s);})();")


@dataclass(frozen=True)
class ExplainSelection(Selection):
    """A selection of an explained program: its ELF record is the program's own when the
    process still runs it (the site's samples compare with ``/build/NAME``)."""

    exe_path: str = ""
    # The session's ``spans`` (``Session.spans``), as pairs: a frozen record's field.
    spans: tuple[tuple[str, int], ...] = ()
    # The thread, not the main one, whose pc and sp the stop's addresses are
    # (``Session.threads``), or None.
    thread: int | None = None
    # The run's other processes that shared this one's address space at the stop
    # (``Session.shared``).
    shares_with: tuple[int, ...] = ()
    # Whether the process ran another file than the program started at the stop, where
    # its path may be the same (``Session.other_file``).
    other_file: bool = False
    SUBJECT: ClassVar[str] = "program"
    POINT: ClassVar[str] = "stop"
    NAMES_VARIANT: ClassVar[bool] = False

    @property
    def library_spans(self) -> dict[str, int]:
        return dict(self.spans)

    @property
    def slug(self) -> str:
        # Processes that reach one stop are told apart by pid: two children of the
        # program are both the child.
        return f"{super().slug}-{self.snapshot.pid}" if self.shared_name else super().slug

    @property
    def exe_matches_elf(self) -> bool:
        # ``exe_path`` is /proc/PID/exe as read when the program was loaded, or at the
        # first stop of --pid: unlinked by then, it says " (deleted)" there too.
        # ``other_file``: the path is the program's, the file another one renamed over it.
        exe = self.snapshot.exe
        return not self.other_file and (
            exe == self.exe_path or program_path(exe, self.regions) == self.exe_path)


@dataclass(frozen=True)
class LibrarySelection(ExplainSelection):
    """The same stop seen from one library: its ELF record and its path in place of the
    executable's, for the ELF → memory figure of that library."""

    library: str = ""
    library_elf: object = None
    SUBJECT: ClassVar[str] = "library"

    @property
    def elf(self):
        return self.library_elf

    @property
    def exe_matches_elf(self) -> bool:
        return True

    @property
    def is_library(self) -> bool:
        return True

    @property
    def snapshot(self) -> Snapshot:
        return dataclasses.replace(super().snapshot, exe=self.library)

    @property
    def slug(self) -> str:
        return super().slug + "-" + "".join(c if c.isalnum() else "-" for c in os.path.basename(self.library)).lower()


@dataclass(frozen=True)
class ExecutedSelection(ExplainSelection):
    """A stop in a program that one of the run's processes started by execve, seen with
    that program's own ELF record (read from its file after the run, as a library's is):
    its regions are named after their segments, and its ELF → memory figure drawn."""

    program: str = ""
    program_elf: object = None

    @property
    def elf(self):
        return self.program_elf

    @property
    def exe_matches_elf(self) -> bool:
        return True

    @property
    def compiled(self) -> bool:
        return False


def _mapped_elf(path: str, files: Files, read_elf) -> tuple[object, Exception | None]:
    """The ELF record of the file at ``path`` when it is the one the stops mapped
    (``mapped.opened``), and None; else None and why: ExplainError (another file lies
    there now), OSError (it cannot be opened), another RoadsError (not ELF)."""
    try:
        with opened(path, files) as fd:  # the file checked is the one read
            return read_elf(f"/proc/self/fd/{fd}"), None
    except (RoadsError, OSError) as exc:
        return None, exc


def _executed(sels: list[ExplainSelection], read_elf,
              files: Files) -> tuple[list[ExplainSelection], list[str]]:
    """``sels`` with each stop in a program that its process runs since an execve (not
    the one started: its ELF record is not the capture's) given that program's ELF
    record, read once a file from the one the stops mapped (``mapped.opened``); and, for
    each program not read, why, once. A stop whose program's file was unlinked while it
    ran keeps no ELF record, whatever lies at the path now (another build, renamed over
    it, that another stop runs): that is not its file."""
    read: dict[str, object] = {}
    refused: dict[str, str] = {}
    out = []
    for sel in sels:
        path = program_path(sel.snapshot.exe, sel.regions)
        if sel.exe_matches_elf or not path.startswith("/"):
            out.append(sel)
            continue
        if path != sel.snapshot.exe:  # unlinked: " (deleted)" in maps
            refused.setdefault(f"{path} (deleted)", f"{path}: its file was deleted while the "
                               "process ran it, so it is not read")
            out.append(sel)
            continue
        if path not in read:
            read[path], failed = _mapped_elf(path, files, read_elf)
            if failed is not None:
                refused[path] = (f"{path}: cannot be read here ({failed.strerror})"
                                 if isinstance(failed, OSError) else failed.message)
        elf = read[path]
        out.append(sel if elf is None else ExecutedSelection(
            **{f.name: getattr(sel, f.name) for f in dataclasses.fields(sel)},
            program=path, program_elf=elf))
    return out, list(refused.values())


def family_roles(run) -> dict[int, str]:
    """The role of each process of ``run`` (a ``document.Run``) in the tree of processes
    it made: the program is the parent, a process it forked the child, one that child
    forked the grandchild, any further down a descendant. Fixed for the whole run:
    ``select`` names the roles among the processes that reached one stop, where a
    child with a child of its own is the parent, beside the program."""
    parents = forked_by(run)
    return {process.pid: generation(process.pid, parents) for process in run.processes}


def selections(session: Session) -> list[ExplainSelection]:
    """Every stop of the run, in the order they came."""
    cap = session.capture
    run = cap.variants[VARIANT].runs[0]
    points = sorted(run.checkpoints, key=lambda c: c.seq)
    roles = family_roles(run) if len(run.processes) > 1 else {}
    out = []
    for point in points:
        same = [c for c in points if c.name == point.name]
        chosen = select(cap, variant=VARIANT, checkpoint=point.name, pid=same.index(point))
        sel = ExplainSelection(**{f: getattr(chosen, f) for f in (
            "sample", "variant", "run", "checkpoint_record", "capture", "ordinal",
            "shared_name")}, role=roles.get(point.pid, chosen.role), exe_path=session.exe,
            spans=tuple(sorted(session.spans.items())), thread=session.threads.get(point.seq),
            shares_with=session.shared.get(point.seq, ()),
            other_file=point.seq in session.other_file)
        if not sel.exe_matches_elf:  # after an execve: named after the program it runs now
            program = os.path.basename(program_path(sel.snapshot.exe, sel.regions))
            sel = dataclasses.replace(sel, sample=program or sel.sample)
        out.append(sel)
    return out


def _words(text: str) -> str:
    """Prose for the page: ``text`` escaped, each size in it kept whole on one line
    (``units.unbroken``: a phone put "8" at a line's end and "MiB" on the next)."""
    return unbroken(html.escape(text))


def _figure(make, fallback: str) -> str:
    try:
        return make()
    except RoadsError as exc:
        return f'<p class="roads-explain-note">{html.escape(fallback)}: {_words(exc.message)}</p>'


def _libraries(sels: list[ExplainSelection], first: ExplainSelection, read_elf,
               files: Files) -> list[tuple[LibrarySelection | str, ExplainSelection]]:
    """The libraries the stops map, each with the stop it is seen at: the first stop
    that maps it whole (``ElfMap.in_place``), ``first``, the stop the program's own
    figure is drawn at, before the others; where none does, the first that maps it at
    all. A stop while ld.so maps it (at a system call the loader makes, ``--at
    syscall:mmap``, say) or after the program mapped a piece of the file itself holds
    part of it, which a later stop shows whole. A library whose path names another file
    now than the one the stops mapped (``files``, ``mapped.opened``) is not read: in its
    place, why."""
    at: dict[str, list[ExplainSelection]] = {}
    for sel in [first, *(s for s in sels if s is not first)]:
        program = program_path(sel.snapshot.exe, sel.regions)
        for r in sel.regions:
            p = r.pathname
            # An unlinked library's name no longer leads to its file.
            if p.startswith("/") and not r.deleted and file_path(r) != program \
                    and ".so" in os.path.basename(p):
                seen = at.setdefault(p, [])
                if not seen or seen[-1] is not sel:
                    seen.append(sel)
    out = []
    for p, seen in at.items():
        elf, failed = _mapped_elf(p, files, read_elf)
        if isinstance(failed, ExplainError):
            out.append((failed.message, seen[0]))
        if failed is not None:
            continue
        # Named after the library: the figure's headings and caption say whose segments.
        libs = ((LibrarySelection(**{f: getattr(sel, f) for f in (
            "variant", "run", "checkpoint_record", "capture", "ordinal", "role",
            "shared_name", "exe_path", "spans", "thread")}, sample=os.path.basename(p), library=p,
            library_elf=elf), sel) for sel in seen)
        out.append(_whole_first(list(libs), lambda pair: pair[0]))
    return out


def _programs_executed(sels: list[ExplainSelection]) -> list[tuple[str, ExecutedSelection]]:
    """Each program run by execve whose ELF record was read (``_executed``), with the
    stop its figure is drawn at: the first that maps it whole, as the kernel and the
    loader leave it (``ElfMap.in_place``), else its first."""
    seen: dict[str, list[ExecutedSelection]] = {}
    for sel in sels:
        if isinstance(sel, ExecutedSelection):
            seen.setdefault(sel.program, []).append(sel)
    return [(program, _whole_first(stops)) for program, stops in seen.items()]


def _whole_first(stops: list, selection=lambda stop: stop):
    """The first of ``stops`` whose selection maps its file whole (``_in_place``), else
    the first: where a file's ELF → memory figure is drawn."""
    return next((stop for stop in stops if _in_place(selection(stop))), stops[0])


def _in_place(sel: ExplainSelection) -> bool:
    """Whether the stop ``sel`` maps its file (a library's, a program's) whole, as the
    loader leaves it."""
    try:
        return elfmap.elf_map(sel).in_place
    except RoadsError:  # not linked to its regions: no figure of it there either
        return False


def _unlinked_program(sel: Selection) -> str | None:
    """The path of the program ``sel``'s process runs when its file was unlinked since
    it started (recompiled meanwhile, say: the path names another file now, or none),
    as the regions mapping it record (``program_path``); None while it is in place."""
    program = program_path(sel.snapshot.exe, sel.regions)
    return program if program != sel.snapshot.exe else None


def _stop_title(sel: ExplainSelection) -> str:
    who = f"pid {sel.snapshot.pid}"
    if sel.thread is not None:  # reached by a thread of the process other than main's
        who = f"{who}, thread {sel.thread}"
    if sel.role and len(sel.run_record.processes) > 1:
        who = f"the {sel.role}, {who}"
    if sel.sample != sel.capture.sample:  # another program, run by execve (``selections``)
        who = f"{sel.sample}, {who}"
    return f"{sel.checkpoint_name} ({who})"


def _sharing(sel: ExplainSelection, roles: dict[int, str], followed: set[int]) -> str:
    """Where the stop's process shares its address space with other processes of the run
    (``shares_with``), that in words: one memory, and how a process comes to share it;
    "" where it shares it with none. ``roles`` names the processes followed
    (``followed``); one not followed is one the run made and let run (without
    --follow-fork: a vfork child, say)."""
    if not sel.shares_with:
        return ""

    def named(pid: int) -> str:
        if pid not in followed:
            return (f"process {pid} (made by a process of the run and let run, not "
                    "followed: --follow-fork follows it)")
        return f"process {pid}" + (f" (the {roles[pid]})" if pid in roles else "")

    names = [named(sel.snapshot.pid), *map(named, sel.shares_with)]
    two = len(names) == 2
    return (f"At this stop {listed(names)} are one address space, not {'two' if two else 'several'} "
            "(kcmp(2) with KCMP_VM finds them so): clone(2) with CLONE_VM gives the process "
            "it makes the memory of its maker itself, where fork(2) gives a copy, and vfork(2) "
            "and glibc's posix_spawn(3) make their children so, until the child runs execve "
            "or exits. "
            + ("What either writes, the other reads, and the regions drawn here are both "
               "processes'." if two else "What one of them writes, the others read, and the "
               "regions drawn here are all of theirs."))


# A command line longer than this is shortened in the page's heading and its title (a
# learner's 100 KB argument made a heading of many screens); the Command fact keeps it
# whole, folded.
HEADING_MAX = 160


def _shortened(command_line: str) -> tuple[str, str]:
    """``command_line`` as the heading shows it, and what follows it there: cut, with
    its length after it, when long."""
    if len(command_line) <= HEADING_MAX:
        return command_line, ""
    return f"{command_line[:HEADING_MAX - 1]}…", f" ({len(command_line)} characters)"


def _code_shortened(command_line: str) -> str:
    """``command_line`` shortened, as HTML: the command as code, its length as words."""
    shown, length = _shortened(command_line)
    return f"<code>{options_whole(html.escape(shown))}</code>{length}"


def _whole_command(command_line: str) -> str:
    """The Command fact: the command that makes the page again, whole; when long, folded
    under its shortened form, to open."""
    whole = f"<code>{options_whole(html.escape(command_line))}</code>"
    if len(command_line) <= HEADING_MAX:
        return whole
    return f"<details><summary>{_code_shortened(command_line)}</summary>{whole}</details>"


def _what_it_points_at(returned) -> str:
    """For ``brk``, what its result is: the program break, where the heap ends, and so
    no byte of it (the table may list it outside every region); "" for another call."""
    if returned.name != "brk" or returned.address is None:
        return ""
    return (": the program break, where the heap ends (the kernel maps the heap's pages "
            "up to the page boundary at or above it)")


# The header's words for a process laid out under an unlimited stack size (ulimit -s
# unlimited), which moves the mmap area: arch/x86/mm/mmap.c, mmap_base, leaves below the
# stack's top a gap of the stack limit and some padding, kept between a minimum and a
# maximum; no limit takes the maximum. Told from the layout itself (the vDSO, which the
# kernel maps in the mmap area at execve, at or below the base that maximum gives), not
# from the limit roads explain had: a process read with --pid, one that changed its
# limit before an execve of its own, or a set-user-ID one (whose execve lays it out
# under a capped limit) may have had another.
UNLIMITED_STACK = ("unlimited (ulimit -s unlimited) when the program started, as its layout "
                   "shows: the kernel left under the stack the largest room it ever leaves "
                   "for it to grow, and put the mmap area, where the libraries go, below that, "
                   "low in user space (mmap_base in arch/x86/mm/mmap.c)")


def _laid_out_under_no_stack_limit(sel: ExplainSelection) -> bool:
    """Whether the stop's process was laid out with the largest gap under its stack:
    its vDSO at or below ``largest_stack_gap_base``. The legacy bottom-up layout
    (vm.legacy_va_layout, personality ADDR_COMPAT_LAYOUT) puts it higher, at a third of
    user space and up."""
    vdso = [r for r in sel.snapshot.regions if r.pathname == "[vdso]"]
    return bool(vdso) and vdso[0].end <= largest_stack_gap_base()


def _aslr_words(aslr: Aslr) -> str:
    """Whether a stopped process's layout was chosen at random, in the header's words.

    The kernel chooses it at execve, from the personality of that moment
    (``Checkpoint.randomized``): a program may clear ADDR_NO_RANDOMIZE later, which
    moves nothing until it runs execve again."""
    if aslr.randomize_va_space == 0:
        return "off on this whole machine (randomize_va_space 0)"
    if aslr.turned_off_by_program:
        return ("off: the program set personality ADDR_NO_RANDOMIZE and ran execve, "
                "though --aslr had left it on")
    if aslr.cleared_later:
        return ("off: laid out under personality ADDR_NO_RANDOMIZE, as on the site; the "
                "program cleared it later, which changes no address until it runs execve again")
    if not aslr.randomized:
        return "off (personality ADDR_NO_RANDOMIZE), as on the site"
    if aslr.requested:
        return "on: addresses change from run to run"
    if aslr.turned_back_on:
        return f"on, turned back on at an execve ({BACK_ON}), so addresses change from run to run"
    return "on, although roads turned it off"


def _aslr_fact(sels: list[ExplainSelection]) -> str:
    """The header's ASLR line: one state, or each stop's where they differ."""
    said: dict[str, list[str]] = {}
    for sel in sels:
        said.setdefault(_aslr_words(aslr_of(sel)), []).append(_stop_title(sel))
    if len(said) == 1:
        return next(iter(said))
    return "; ".join(f"at {', '.join(stops)}, {words}" for words, stops in said.items())


def render_page(session: Session, *, read_elf=None) -> str:
    """The whole page as text."""
    sels = selections(session)
    # The program started, whose ELF record the capture holds: its figure's stop.
    first = next((s for s in sels if s.exe_matches_elf), sels[0])
    refused: list[str] = []
    if read_elf is not None:
        sels, refused = _executed(sels, read_elf, session.files)  # ``first`` is kept
    cap = session.capture
    run = cap.variants[VARIANT].runs[0]
    css = BASE_CSS + "\n".join((STYLESHEETS / name).read_text(encoding="utf-8") for name in SHEETS)
    body: list[str] = []
    command_line = session.typed or shlex.join(session.command)
    body.append(f"<h1>The memory of {_code_shortened(command_line)}</h1>")
    stops = " → ".join(html.escape(_stop_title(s)) for s in sels)
    facts = [("Command", _whole_command(cap.title or ""))]
    unlinked = _unlinked_program(first) if first.exe_matches_elf else None
    if unlinked:
        facts.append(("Program", f"<code>{html.escape(unlinked)}</code>: its file was deleted "
                                 "or replaced since the process started"))
    facts += [("Stops", stops), ("How it ended", _words(session.ending))]
    said = last_words(session)
    if said is not None:
        # Beside how it ended, its last words, which often say why (an exception not
        # caught, a failed assert, perror's): the Output below holds them all.
        quoted, lines = said
        whole = quoted.count("\n") + 1 == lines
        facts.append(("Last on stderr",
                      '<pre class="roads-explain-last">'
                      + html.escape(quoted).replace("\n", "&#10;") + "</pre>"
                      + ("" if whole else
                         f'<span class="roads-explain-note">the last {LAST_LINES} of the '
                         f'{lines} lines it wrote there, all of them under '
                         '<a href="#output-stderr">Output</a></span>')))
    if session.address_space is not None and refused_memory(run.stdout + run.stderr):
        facts.append(("Address space", _words(address_space_words(session.address_space))))
    facts.append(("ASLR", html.escape(_aslr_fact(sels))))
    if _laid_out_under_no_stack_limit(first):
        facts.append(("Stack size limit", _words(UNLIMITED_STACK)))
    if session.own_pids:
        facts.append(("Process ids", f"those of the sandbox's own pid namespace, as the "
                                     f"program sees them (its getpid() is {run.pid}); on this "
                                     f"machine pid {run.pid}, and /proc/{run.pid}, name "
                                     "another process or none"))
    if session.missing:
        facts.append(("Not reached", options_whole(_words(", ".join(session.not_reached())))))
    for k, sel in enumerate(sels):
        crash = session.crashes.get(sel.checkpoint_record.seq)
        if crash is not None:
            facts.append(("Crash", f'<a href="#stop-{k}">{html.escape(_stop_title(sel))}</a>: '
                                   f"{_words(crash_line(crash, _map_of(sel)))}"))
    for stopped in session.stopped:
        facts.append(("Stopped by a signal", _words(stopped.words())))
    for stop in session.unread:
        facts.append(("Not read", f"{html.escape(stop.label)} (pid {stop.pid}): "
                                  f"{_words(stop.reason)}"))
    if cap.variants[VARIANT].gcc_argv:
        # Quoted as a shell takes it: a source named 'prog ü.c' is one argument.
        compiled = shlex.join(cap.variants[VARIANT].gcc_argv)
        facts.append(("Compiled with", f"<code>{options_whole(html.escape(compiled))}</code>"))
    body.append('<dl class="roads-explain-facts">' + "".join(
        f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>")
    body.append('<p class="roads-explain-note">Every number here was read from this machine, '
                "from /proc and the ELF files, while the process was stopped: another machine, "
                "kernel or C library gives other addresses and sizes.</p>")
    body.append('<nav><ul>' + "".join(
        f'<li><a href="#stop-{k}">{html.escape(_stop_title(s))}</a></li>' for k, s in enumerate(sels))
        + '<li><a href="#elf">ELF → memory</a></li>'
        + ('<li><a href="#changes">What changed between stops</a></li>' if len(sels) > 1 else "")
        + '<li><a href="#output">Output</a></li></ul></nav>')

    roles = family_roles(run) if len(run.processes) > 1 else {}
    for k, sel in enumerate(sels):
        body.append(f'<h2 id="stop-{k}">Stop {k + 1}: {html.escape(_stop_title(sel))}</h2>')
        sharing = _sharing(sel, roles, {p.pid for p in run.processes})
        if sharing:
            body.append(f"<p>{_words(sharing)}</p>")
        crash = session.crashes.get(sel.checkpoint_record.seq)
        if crash is not None:
            body.append(crash_html(crash, sel))
        returned = session.returned.get(sel.checkpoint_name)
        if returned is not None:
            body.append(f"<p>The system call <code>{html.escape(returned.name)}</code> "
                        f"{_words(returned.words())}{_what_it_points_at(returned)}.</p>")
        body.append(_figure(lambda sel=sel: diagram_html(sel, wrap=zoomable), "No diagram"))

    body.append('<h2 id="elf">ELF → memory</h2>')
    executed = _programs_executed(sels)
    if first.exe_matches_elf or read_elf is None:
        body.append(f"<p>How the program's file became regions, at stop "
                    f"{html.escape(_stop_title(first))}.</p>")
        body.append(_figure(lambda: elf_html(first, wrap=zoomable), "No ELF figure for the executable"))
    else:
        body.append(f"<p>No stop is in the program started, <code>{html.escape(session.exe)}"
                    "</code>, so its file is not drawn: every stop is in a program that its "
                    "process runs since an execve.</p>")
    for program, seen in executed:
        body.append(f"<p>How <code>{html.escape(program)}</code>'s file became regions (the "
                    "program that its process runs since an execve), at stop "
                    f"{html.escape(_stop_title(seen))}.</p>")
        body.append(_figure(lambda seen=seen: elf_html(seen, wrap=zoomable), "No ELF figure"))
    for why in refused:
        body.append(f'<p class="roads-explain-note">No ELF figure: {html.escape(why)}</p>')
    if read_elf is not None:
        for lib, seen in _libraries(sels, first, read_elf, session.files):
            if isinstance(lib, str):  # not the file the stops mapped: why
                body.append(f'<p class="roads-explain-note">No ELF figure: {html.escape(lib)}</p>')
                continue
            later = "" if seen is first else f", at stop {html.escape(_stop_title(seen))}"
            body.append(f"<details><summary>ELF → memory of <code>{html.escape(lib.library)}"
                        f"</code>{later}</summary>")
            body.append(_figure(lambda lib=lib: elf_html(lib, wrap=zoomable), "No ELF figure"))
            body.append("</details>")

    if len(sels) > 1:
        body.append('<h2 id="changes">What changed between stops</h2>')
        compared = pairs(sels)
        if not compared:
            body.append(f"<p>{NOTHING_COMPARED}</p>")
        for before, after in compared:
            body.append(f"<h3>{html.escape(_stop_title(before))} → {html.escape(_stop_title(after))}</h3>")
            body.append(_figure(lambda b=before, a=after: diff_html(b, a), "No diff"))

    body.append('<h2 id="output">Output</h2>')
    for name, text in (("stdout", run.stdout), ("stderr", run.stderr)):
        if text:
            written = session.cut.get(name)
            cut = (f" (the beginning of the {unbroken(human_size(written))} it wrote; the rest was "
                   "read and dropped)" if written else "")
            # A program that failed may say why on its stderr: shown open, not behind
            # a toggle (a C++ exception not caught, say, whose words are all it says).
            toggle = " open" if name == "stderr" and failed(run) else ""
            body.append(f'<details id="output-{name}"{toggle}><summary>What it wrote to '
                        f"{name}{cut}</summary><pre>{html.escape(text)}</pre></details>")
    if not (run.stdout or run.stderr):
        body.append("<p>It wrote nothing.</p>")
    if run.exit_code is None and session.stdio is not False:
        body.append('<p class="roads-explain-note">'
                    f'{_words(unflushed(run.signal, known=session.stdio is True))}</p>')
    body.append('<p class="roads-explain-note">Made by <code>roads explain</code> '
                "(All Roads To Memory).</p>")
    title = html.escape("roads explain: " + "".join(_shortened(command_line)))
    return shown("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<meta name="color-scheme" content="light dark">\n'
            f"<title>{title}</title>\n<style>{css}</style>\n</head>\n"
            f'<body data-md-color-scheme="default"><script>{SCHEME_JS}</script>\n'
            f'<main class="md-typeset">\n' + "\n".join(body) + "\n</main>\n"
            + "".join(f"<script>{(STYLESHEETS / name).read_text(encoding='utf-8')}</script>\n"
                      for name in SCRIPTS)
            + "</body></html>\n")


def _map_of(sel: Selection):
    """The stop's memory map (``regions.memory_map``), or None where it cannot be made."""
    try:
        return memory_map(sel)
    except RoadsError:
        return None


def crash_words(crash: Crash, sel: Selection) -> str:
    """A crash in one line, as the page's Crash fact and the command's last words give it:
    "killed by SIGSEGV: no mapping at 0x10 (SEGV_MAPERR), in the unmapped gap ...; the
    faulting instruction at ... (main+16), in ...", the places said in ``sel``'s map."""
    return f"killed by {crash.signal}: {crash_line(crash, _map_of(sel))}"


def crash_html(crash: Crash, sel: Selection) -> str:
    """A crash stop's words, above its map: the fault and the faulting instruction, each
    placed in the map, and what roads explain did with the signal."""
    mm = _map_of(sel)
    return (f"<ul><li>The fault: {_words(fault_place(crash, mm))}.</li>"
            f"<li>The faulting instruction: {_words(instruction_place(crash, mm))}.</li>"
            f'</ul>\n<p class="roads-explain-note">{_words(delivered(crash))}</p>')


def crashes(session: Session, program: str = "") -> list[str]:
    """Each crash of the session (``Session.crashes``) in a line, in the order the stops
    came, as the command's last words give it: which process (the program, named
    ``program``, as typed, default as the session names it; or another of the run) and
    thread, then ``crash_words``."""
    run = session.capture.variants[VARIANT].runs[0]
    lines = []
    for sel in selections(session):
        crash = session.crashes.get(sel.checkpoint_record.seq)
        if crash is None:
            continue
        who = _stop_title(sel).removeprefix(f"{sel.checkpoint_name} ")  # "(pid 3, thread 4)"
        name = (program or session.command[0]) if sel.snapshot.pid == run.pid \
            else "a process of the run"
        lines.append(f"{name} {who} was {crash_words(crash, sel)}")
    return lines


# Of the stderr of a program that failed, the last lines quoted beside how it ended (a
# C++ exception not caught is two), each cut to LAST_WIDTH characters.
LAST_LINES = 3
LAST_WIDTH = 240


def failed(run) -> bool:
    """Whether the program's run (``document.Run``) ended in a failure of its own: killed
    by a signal (not ended by roads explain after its last stop, which records none) or
    an exit status other than 0."""
    return run.signal is not None or run.exit_code not in (None, 0)


def last_words(session: Session) -> tuple[str, int] | None:
    """The last ``LAST_LINES`` lines a program that failed (``failed``) wrote to its
    stderr, and how many lines it wrote there: for the page's fact beside how it ended
    and the command's last words. None where it did not fail, wrote nothing there, or
    wrote more than the run kept (``Session.cut``: the lines kept are not its last)."""
    run = session.capture.variants[VARIANT].runs[0]
    if not failed(run) or not run.stderr.strip() or "stderr" in session.cut:
        return None
    text = run.stderr.rstrip("\n")
    return tail(text, LAST_LINES, LAST_WIDTH), text.count("\n") + 1


def unflushed(signal_number: int | None, *, known: bool = True) -> str:
    """Under the output of a program that never called exit(), killed by signal
    ``signal_number`` or, None, ended by roads explain (after its last stop, at the
    deadline): stdio's buffers were never flushed, and a learner's printf before the
    stop or the crash is missing, where "It wrote nothing" alone reads as if it had not
    run. (roads run says so of a program it killed: ``cli._notes``.) Not ``known``:
    the program's file cannot tell whether it writes through stdio (``Session.stdio``
    None: linked static with a C library's stdio, stripped), and the note says it may."""
    how = ("was ended by roads explain" if signal_number is None
           else f"was killed by {_signal_name(signal_number)}")
    may = ("" if known else "If this program prints with the C library's stdio (printf, "
           "puts; its file cannot tell whether it does), what it printed may be lost: ")
    its = "Its" if known else "its"
    return (may + f"{its} standard output is a pipe here, not a terminal: what printf writes waits in "
            "the C library's buffer until the buffer is full or the program calls exit(), "
            f"and this program {how}, so what its buffer held then, if anything, was never "
            "written (a program that calls fflush(stdout) after each printf loses "
            "nothing). To see it, call fflush(stdout) after printf (or "
            "setvbuf(stdout, NULL, _IOLBF, 0) at the start)" + (", or add --at exit, which waits for the program's own end."
                              if signal_number is None else "."))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def shown(page_html: str) -> str:
    """``page_html`` with every control character written as its escape
    (``errors.printable``: ``\\x1b``, ``\\u202e``), tab and newline kept. Only the
    program puts such characters on a page (its arguments, its output, the names of
    what it maps, its ELF file's sections), each through one of many figures: escaped
    here, once, the page carries none raw, which a reader would not see (a carriage
    return, a bidirectional override that turns ``exe.png`` round) and a terminal
    showing the file would act on."""
    return printable(page_html)


def diagram_html(sel: Selection, *, cache_dir=None, wrap=lambda html_out: html_out) -> str:
    """The address-space diagram of one stop, its table folded under it, and provenance."""
    mm = memory_map(sel)
    figure = wrap(render_diagram(mm, cache_dir=cache_dir))
    figure += ('\n<details class="roads-map-details"><summary>The same regions as a table'
               f'</summary>\n{render_table(mm)}\n</details>')
    return with_provenance(figure, sel)


def elf_html(sel: Selection, *, cache_dir=None, wrap=lambda html_out: html_out) -> str:
    """ELF → memory for the program (or a library: ``LibrarySelection``) at one stop."""
    return with_provenance(wrap(elfmap.render_elf_figure(elfmap.elf_map(sel), cache_dir=cache_dir)), sel)


def diff_html(before: Selection, after: Selection) -> str:
    """What changed from one stop to another: stops of one run, compared by lineage
    (an execve between them told as such) even where the programs' names differ."""
    changes = diff.diff_selections(before, after, mode="lineage",
                                   resident=before.snapshot.pid == after.snapshot.pid)
    figure = with_provenance(diffview.render_diff_figure(changes), [before, after])
    left = _left_to_others(before, after, changes)
    return figure + (f'\n<p class="roads-explain-note">{_words(left)}</p>' if left else "")


def _left_to_others(before: Selection, after: Selection, changes: diff.MapDiff) -> str:
    """Where a process that shared its address space with others of the run at the first
    stop (``ExplainSelection.shares_with``: a vfork or posix_spawn child) ran execve
    before the second: what the diff calls gone went on in those others; "" elsewhere."""
    shared = getattr(before, "shares_with", ())
    if not (shared and changes.replaced and before.snapshot.pid == after.snapshot.pid):
        return ""
    others = listed([f"process {pid}" for pid in shared])
    it = "it" if len(shared) == 1 else "one of them"
    return (f"At the first stop process {before.snapshot.pid} shared its address space with "
            f"{others}. Its execve gave it a new one and let go of the old one, which the "
            "kernel unmaps only once no process uses it: what is marked gone here is gone "
            f"from process {before.snapshot.pid}, and was not unmapped by its execve while "
            f"{others} still used it ({it} may have unmapped some of it since, or ended "
            "first).")


def find_stop(sels: list[ExplainSelection], name: str) -> ExplainSelection:
    """The stop called ``name`` (the first process to reach it); ConfigError listing them."""
    from ..errors import ConfigError

    for s in sels:
        if s.checkpoint_name == name:
            return s
    raise ConfigError(f"no stop {name!r} (stops: {', '.join(s.checkpoint_name for s in sels)})")


def saved_figure(session: Session, figure: str, *, stop: str | None = None,
                 before: str | None = None, after: str | None = None, cache_dir=None,
                 wrap=lambda html_out: html_out) -> str:
    """One figure of a saved session, for a page of the site: ``diagram`` or ``elf`` of
    ``stop`` (default the first), or ``diff`` from ``before`` to ``after``."""
    from ..errors import ConfigError

    sels = selections(session)
    if figure == "diagram":
        return shown(diagram_html(find_stop(sels, stop) if stop else sels[0], cache_dir=cache_dir,
                                  wrap=wrap))
    if figure == "elf":
        return shown(elf_html(find_stop(sels, stop) if stop else sels[0], cache_dir=cache_dir,
                              wrap=wrap))
    if figure == "diff":
        if not (before and after):
            raise ConfigError("a diff needs before= and after=, two stops")
        return shown(diff_html(find_stop(sels, before), find_stop(sels, after)))
    raise ConfigError(f"no figure {figure!r}: diagram, elf or diff")


# Under "What changed between stops" where no two stops make a pair (``pairs``): each
# child stopped before its parent did (--follow-fork --at exit), say.
NOTHING_COMPARED = ("Each stop here is the first of its process, and no child stopped after "
                    "a stop of the parent that made it: there are no two stops to compare, and "
                    "each is drawn on its own above.")


def pairs(sels: list[ExplainSelection]) -> list[tuple[ExplainSelection, ExplainSelection]]:
    """Each stop against the one before it in the same process; a forked child's first
    stop against its parent's last stop before it (the parent that forked it, also when
    it has ended since)."""
    out = []
    for k, after in enumerate(sels):
        earlier = sels[:k]
        same = [s for s in earlier if s.snapshot.pid == after.snapshot.pid]
        parent = [s for s in earlier if s.snapshot.pid == after.parent_pid]
        before = same[-1] if same else (parent[-1] if parent else None)
        if before is not None:
            out.append((before, after))
    return out
