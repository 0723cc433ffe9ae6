"""The code beside a figure: a sample's C source, how it was compiled, how to run it.

``render_sample_code(doc, files)`` turns a capture document (the typed one of
``roads.document``) and the sample's files as they are now (bytes, read by the caller
from the samples folder) into one block of HTML:

- the source, its lines numbered, the lines that talk to the build (the
  ``ROADS_CHECKPOINT``, ``ROADS_ADDRESS`` and ``ROADS_RANGE`` calls of ``roads.h``)
  highlighted, folded when long; a warning when a file's digest differs from the one
  the capture recorded (the file was edited after the capture);
- each variant's gcc command as the capture recorded it (``gcc_argv``: the build's
  own paths, its cache and dependency file, are already left out of it);
- when the site knows its repository, a link from each file to its page there;
- a "run it yourself" box: the commands, and why a reader's addresses will differ
  from the figures', with the numbers taken from the capture: the environment the
  run had, the hole ``/etc/ld.so.cache`` left among the libraries, the kernel, C
  library and compiler it ran with.

Pure: a document and bytes in, HTML out; every piece of text is escaped. Nothing
here imports MkDocs.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..constants import ADDR_NO_RANDOMIZE, CONTROL_FD
from ..document import Capture, Checkpoint
from ..errors import ConfigError
from ..figures.select import decoded

# A capture: typed, or loaded JSON that the functions below decode first.
Document = Capture | Mapping

# Sources up to this many lines are shown unfolded unless the page says otherwise.
OPEN_LINES = 25

# The calls of roads.h, and what a highlighted line of each kind does.
CALLS = {
    "ROADS_CHECKPOINT": "checkpoint",
    "ROADS_ADDRESS": "address",
    "ROADS_RANGE": "range",
}
# What each call does, after its name, in the box's legend. Said once there, and not as
# a tooltip on each highlighted line: a title reaches no keyboard and, on a phone, no tap
# (a line of code is no control), and the line already names its call.
CALL_WORDS = {
    "checkpoint": "stops the program there, under the build, while its memory is read",
    "address": "records an address for the figures to label",
    "range": "asks for the page-table bits of a range at every later checkpoint",
}
_LIBRARY = re.compile(r"\.so(?:\.|$)")


# --------------------------------------------------------------------------- the source


def marked_lines(text: str) -> dict[int, str]:
    """1-based line numbers of the ``ROADS_*`` calls in C ``text``, with their kind.

    Only calls in code count (not a name in a comment or a string); a call written
    over several lines marks each of them, up to its closing parenthesis. Worked out
    once per text (a source box and the lines its page cites ask again).
    """
    return dict(_marked_lines(text))


@functools.lru_cache(maxsize=256)
def _marked_lines(text: str) -> tuple[tuple[int, str], ...]:
    marks: dict[int, str] = {}
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            line += text.count("\n", i, end)
            i = end
        elif c in "\"'":
            i, line = _skip_literal(text, i, line)
        elif c.isalpha() or c == "_":
            m = re.compile(r"[A-Za-z_]\w*").match(text, i)
            word = m.group(0)
            i = m.end()
            kind = CALLS.get(word)
            if kind and re.compile(r"\s*\(").match(text, i):
                last = _call_end_line(text, i, line)
                for number in range(line, last + 1):
                    marks.setdefault(number, kind)
        else:
            i += 1
    return tuple(marks.items())


def call_line(text: str, call: str, name: str) -> int | None:
    """The 1-based line on which C ``text`` calls ``call`` (``ROADS_CHECKPOINT``,
    ``ROADS_ADDRESS``, ``ROADS_RANGE``) with the name ``name``: the line the source box
    numbers so, for prose that refers to it. Only a call in code counts (as for
    ``marked_lines``); None when there is none, ConfigError when there are several.
    """
    if call not in CALLS:
        raise ConfigError(f"{call!r} is not a call of roads.h (calls: {', '.join(CALLS)})")
    marks = marked_lines(text)
    pattern = re.compile(rf'\b{call}\s*\(\s*"{re.escape(name)}"')
    lines = [text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text)]
    found = [n for n in lines if marks.get(n) == CALLS[call]]
    if len(found) > 1:
        raise ConfigError(f"{call}(\"{name}\") is called on several lines "
                          f"({', '.join(map(str, found))}); which one is meant?")
    return found[0] if found else None


def call_names(text: str, call: str) -> list[str]:
    """The names C ``text`` passes to ``call`` as a string, in code, in order and once
    each: what ``call_line`` can find, to list when it finds none."""
    marks = marked_lines(text)
    pattern = re.compile(rf'\b{call}\s*\(\s*"((?:[^"\\\n]|\\.)*)"')
    names = [m.group(1) for m in pattern.finditer(text)
             if marks.get(text.count("\n", 0, m.start()) + 1) == CALLS[call]]
    return list(dict.fromkeys(names))


def _skip_literal(text: str, i: int, line: int) -> tuple[int, int]:
    """Past the string or character literal that starts at ``i``."""
    quote, i = text[i], i + 1
    while i < len(text) and text[i] != quote:
        if text[i] == "\\":
            i += 1
        elif text[i] == "\n":  # an unterminated literal ends at the line's end
            return i, line
        i += 1
    return i + 1, line


def _call_end_line(text: str, i: int, line: int) -> int:
    """The line of the parenthesis that closes the call whose ``(`` follows ``i``."""
    depth = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif c in "\"'":
            i, line = _skip_literal(text, i, line)
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            line += text.count("\n", i, end)
            i = end
            continue
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return line
        elif c == ";" and depth == 0:
            return line
        i += 1
    return line


def _token_lines(text: str) -> list[str]:
    """``text`` as escaped HTML, one item a line, coloured as C when Pygments is there.

    The token classes are Pygments' short names, which Material's stylesheet colours
    in both palettes.
    """
    try:
        from pygments.lexers.c_cpp import CLexer
        from pygments.token import STANDARD_TYPES
    except ImportError:  # the engine does not need Pygments; the site has it
        return [html.escape(line) for line in text.split("\n")]
    lines: list[str] = []
    current: list[str] = []
    for ttype, value in CLexer(stripnl=False, ensurenl=False, tabsize=0).get_tokens(text):
        while ttype not in STANDARD_TYPES:
            ttype = ttype.parent
        css = STANDARD_TYPES[ttype]
        for k, piece in enumerate(value.split("\n")):
            if k:
                lines.append("".join(current))
                current = []
            if piece:
                escaped = html.escape(piece)
                current.append(f'<span class="{css}">{escaped}</span>' if css else escaped)
    lines.append("".join(current))
    return lines


def _body(text: str) -> str:
    """``text`` without its last newline: what the code block shows."""
    return text[:-1] if text.endswith("\n") else text


@functools.lru_cache(maxsize=64)
def render_source(text: str) -> str:
    """C ``text`` as a numbered, coloured code block with its ``ROADS_*`` lines highlighted.
    Made once per text: samples share a source (``aslr`` and ``aslr-off``, the three
    ``starti``), and lexing it is most of a box's time."""
    body = _body(text)
    marks = marked_lines(body)
    lines = _token_lines(body)
    width = len(str(len(lines)))
    out = []
    for number, content in enumerate(lines, start=1):
        numbered = (f'<span class="linenos" data-linenos="{str(number).rjust(width)} "></span>'
                    f"{content}\n")
        kind = marks.get(number)
        if kind:
            numbered = f'<span class="hll roads-src-{kind}">{numbered}</span>'
        out.append(numbered)
    return ('<div class="highlight roads-src-code"><pre><code>' + "".join(out)
            + "</code></pre></div>")


# --------------------------------------------------------------------------- the capture


@dataclass(frozen=True)
class FileState:
    """One file the box shows, as it is now against what the capture recorded."""

    path: str  # relative to the samples folder
    data: bytes | None  # None: the file is gone
    recorded: str | None  # the digest in the capture's inputs

    @property
    def digest(self) -> str | None:
        return None if self.data is None else hashlib.sha256(self.data).hexdigest()

    @property
    def edited(self) -> bool:
        """Whether the file differs from the one the capture was made from."""
        return self.recorded is not None and self.digest != self.recorded


def shown_files(doc: Document) -> list[str]:
    """The files of a sample the box shows: its C sources, then its gdb script if any."""
    manifest = decoded(doc).inputs.manifest
    return [*manifest.sources, *([manifest.gdb] if manifest.gdb else [])]


def variants_of(doc: Document, variant: str | None) -> list[str]:
    """``[variant]``, or every variant of the capture; ConfigError for an unknown one."""
    capture = decoded(doc)
    # The manifest's order (the first declared is the default); the capture sorts its keys.
    declared = [v.name for v in capture.inputs.manifest.variants]
    names = [n for n in declared if n in capture.variants] + \
        [n for n in capture.variants if n not in declared]
    if variant is None:
        return names
    if variant not in capture.variants:
        raise ConfigError(f"no variant {variant!r} in the capture (variants: {', '.join(names)})",
                          sample=capture.sample)
    return [variant]


def compile_argv(doc: Document, variant: str) -> list[str]:
    """The gcc command of ``variant`` exactly as the capture recorded it."""
    capture = decoded(doc)
    argv = capture.variants[variant].gcc_argv
    if not argv:
        raise ConfigError(f"the capture records no gcc command for variant {variant!r}",
                          sample=capture.sample)
    return list(argv)


def program_path(doc: Document) -> str:
    """How the build started the program: ``./`` and the binary's name (gcc's ``-o``)."""
    capture = decoded(doc)
    argv = compile_argv(capture, variants_of(capture, None)[0])
    name = argv[argv.index("-o") + 1] if "-o" in argv[:-1] else capture.sample
    return f"./{name}"


def environment(doc: Document) -> list[tuple[str, str]]:
    """The whole environment of the run: the manifest's, then the build's ``ROADS_FD``."""
    pairs = [(str(k), str(v)) for k, v in decoded(doc).inputs.manifest.env]
    return pairs + [("ROADS_FD", str(CONTROL_FD))]


def environment_bytes(pairs: Sequence[tuple[str, str]]) -> int:
    """Bytes the environment's strings take at the top of the stack (each ends in NUL)."""
    return sum(len(f"{k}={v}".encode()) + 1 for k, v in pairs)


def stand_in_fd() -> str:
    """A ``ROADS_FD`` value of the build's length that ``roads.h`` reads as no build.

    ``roads_fd()`` accepts digits only; letters keep the environment's size, and with
    it the stack, as they were in the capture.
    """
    return "x" * len(str(CONTROL_FD))


def first_checkpoint(doc: Document, variant: str) -> Checkpoint | None:
    """The first checkpoint the first process of run 0 of ``variant`` reached."""
    runs = decoded(doc).variants[variant].runs
    if not runs:
        return None
    run = runs[0]
    return next((cp for cp in run.checkpoints if cp.pid == run.pid), None)


def randomized(doc: Document, variant: str) -> bool:
    """Whether run 0 of ``variant`` ran with its address space randomised."""
    capture = decoded(doc)
    runs = capture.variants[variant].runs
    cp = first_checkpoint(capture, variant)
    level = capture.provenance.randomize_va_space
    if cp is not None:
        return cp.laid_out_at_random(level)
    personality = runs[0].personality if runs else 0
    return not (personality & ADDR_NO_RANDOMIZE) and level != 0


def _auxv(cp: Checkpoint) -> dict[str, int]:
    return {a.name: a.a_val for a in cp.auxv}


def stack_agrees(doc: Document, variant: str) -> bool | None:
    """Whether the captured stack holds exactly the strings this module says the run had.

    At ``execve`` the kernel copies, downwards from a pointer below the stack's top:
    the program's path (``AT_EXECFN``), the environment strings, the argument
    strings; then it aligns to sixteen and puts the platform string (``AT_PLATFORM``)
    below. So ``AT_EXECFN`` sits right below that pointer, and the argument strings
    begin within the alignment above the platform string's end. None when the run
    was randomised (the alignment then takes a random step) or the capture lacks the
    entries.
    """
    capture = decoded(doc)
    cp = first_checkpoint(capture, variant)
    if cp is None or randomized(capture, variant):
        return None
    aux, strings = _auxv(cp), cp.auxv_strings
    execfn, platform = strings.get("AT_EXECFN"), strings.get("AT_PLATFORM")
    stack = [r for r in cp.regions if r.pathname == "[stack]"]
    if not (execfn and platform and stack and "AT_EXECFN" in aux and "AT_PLATFORM" in aux):
        return None
    pointer = 8  # the null pointer the kernel leaves at the very top (sizeof(void *))
    top = stack[0].end - pointer
    if top - aux["AT_EXECFN"] != len(execfn.encode()) + 1:
        return False
    args = [execfn, *capture.inputs.manifest.args]
    arg_start = (aux["AT_EXECFN"] - environment_bytes(environment(capture))
                 - sum(len(a.encode()) + 1 for a in args))
    align = 16
    return arg_start - arg_start % align == aux["AT_PLATFORM"] + len(platform.encode()) + 1


@dataclass(frozen=True)
class CacheHole:
    """The hole ``/etc/ld.so.cache`` left among the mappings, as one capture shows it."""

    start: int
    end: int
    page_size: int

    @property
    def pages(self) -> int:
        return (self.end - self.start) // self.page_size


def cache_hole(doc: Document, variant: str) -> CacheHole | None:
    """The gap right above the libraries, where the loader had mapped its cache.

    The loader maps ``/etc/ld.so.cache`` below its own first allocation (which sits
    right below ``[vvar]``), loads the libraries below the cache, then unmaps it.
    None for a program without libraries, or when a later mapping of the sample
    moved into the hole (the gap's upper side is then no longer the loader's).
    """
    capture = decoded(doc)
    cp = first_checkpoint(capture, variant)
    if cp is None:
        return None
    base = _auxv(cp).get("AT_BASE") or 0
    regions = sorted(cp.regions, key=lambda r: r.start)
    libraries = [i for i, r in enumerate(regions)
                 if _LIBRARY.search(r.pathname) and r.start < base]
    if not base or not libraries:
        return None
    i = max(libraries)
    while i + 1 < len(regions) and regions[i + 1].start == regions[i].end:
        i += 1
    if i + 1 >= len(regions):
        return None
    above = regions[i + 1]
    special = ("[vvar]", "[vvar_vclock]", "[vdso]")
    loader_side = above.pathname in special or (
        not above.pathname and i + 2 < len(regions)
        and regions[i + 2].pathname in special and regions[i + 2].start == above.end)
    if not loader_side or above.start >= base:
        return None
    # A range of the sample's own inside the row above: its mapping moved into the hole
    # and merged with the loader's allocation, so the row's start is no longer the
    # loader's either.
    if any(above.start <= r.start < above.end for r in cp.pagemap):
        return None
    page = capture.provenance.page_size or _auxv(cp).get("AT_PAGESZ")
    if not page:
        return None
    return CacheHole(regions[i].end, above.start, page)


# --------------------------------------------------------------------------- HTML


def _v(text: object) -> str:
    """A value taken from the capture, marked as such."""
    return f'<span class="roads-captured">{html.escape(str(text))}</span>'


def _code(text: str) -> str:
    return f"<code>{html.escape(text)}</code>"


def _command_block(lines: Sequence[Sequence[str]], label: str) -> str:
    """Shell commands (argument lists), a line each; a long line wraps between
    arguments only, never inside one, and hangs under its start."""
    body = "".join(
        '<span class="roads-cmd">'
        + " ".join(f'<span class="roads-arg">{html.escape(shlex.quote(a))}</span>' for a in argv)
        + "\n</span>" for argv in lines)
    return (f'<pre class="roads-command" aria-label="{html.escape(label, quote=True)}">'
            f"<code>{body}</code></pre>")


def _warnings(sample: str, folder: str, states: Sequence[FileState]) -> str:
    out = []
    for f in states:
        where = _code(f"{folder}/{f.path}")
        if f.data is None:
            out.append(f"{where} is missing from the samples folder; the capture was made from "
                       "a file that is no longer there.")
        elif f.edited:
            out.append(f"{where} has been edited since sample {_code(sample)} was captured: "
                       "the code below is the file as it is now, the figures show the program "
                       "as it was. Capture it again with "
                       f"{_code('roads capture ' + sample)}.")
    if not out:
        return ""
    items = "".join(f"<p>{w}</p>" for w in out)
    return ('<div class="admonition warning roads-src-edited"><p class="admonition-title">'
            f"Source changed after the capture</p>{items}</div>")


def repository_files(repo_url: str | None, edit_uri: str | None) -> str | None:
    """Where the repository shows its files, from the site's ``repo_url`` and
    ``edit_uri`` (MkDocs' settings): ``https://github.com/o/r`` with ``edit/main/docs/``
    gives ``https://github.com/o/r/blob/main/``, to which a file's path from the
    repository's root is appended. None without a repository, or with an ``edit_uri``
    that names no branch in GitHub's or GitLab's way (``edit/BRANCH/...``,
    ``blob/BRANCH/...``, ``-/edit/BRANCH/...``).
    """
    if not repo_url or not edit_uri:
        return None
    match = re.match(r"(-/)?(?:edit|blob)/([^/?#]+)/", edit_uri)
    if match is None:
        return None
    return f"{repo_url.rstrip('/')}/{match.group(1) or ''}blob/{match.group(2)}/"


def _source_block(sample: str, folder: str, f: FileState, is_open: bool | None,
                  repository: str | None = None) -> str:
    if f.data is None:
        return ""
    text = f.data.decode("utf-8", errors="replace")
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    unfold = is_open if is_open is not None else lines <= OPEN_LINES
    what = "The program" if f.path.endswith((".c", ".h")) else "The gdb script"
    rendered = (render_source(text) if f.path.endswith((".c", ".h")) else
                '<div class="highlight roads-src-code"><pre><code>'
                + html.escape(text) + "</code></pre></div>")
    # The text the box shows, as render_source has just looked at it: the calls it has.
    kinds = set(marked_lines(_body(text)).values()) if f.path.endswith((".c", ".h")) else set()
    legend = ""
    if kinds:
        said = "; ".join(f"{_code(call)} {CALL_WORDS[kind]}"
                         for call, kind in CALLS.items() if kind in kinds)
        legend = ('<p class="roads-src-legend">Highlighted: the lines that talk to the build. '
                  f"{said}. Run by hand, without the build, they do nothing; "
                  f"{_code('roads.h')} defines them.</p>")
    link = ""
    if repository:
        # Not in the <summary>: a link inside the control that folds the box would be
        # a control inside a control.
        href = html.escape(repository + f"{folder}/{f.path}", quote=True)
        link = (f'<p class="roads-src-legend roads-src-repo"><a href="{href}">'
                f'{html.escape(f"{folder}/{f.path}")} in the repository</a></p>')
    return (f'<details class="roads-src"{" open" if unfold else ""}>'
            f'<summary>{what} of sample {_code(sample)}: {_code(f"{folder}/{f.path}")}</summary>'
            f"{link}{legend}{rendered}</details>")


def _compile_block(doc: Capture, names: Sequence[str]) -> str:
    rows = []
    for name in names:
        label = "" if names == ["default"] else f'<span class="roads-variant">{html.escape(name)}</span>'
        rows.append(f'<div class="roads-compile-row">{label}'
                    f"{_command_block([compile_argv(doc, name)], 'compile command')}"
                    "</div>")
    head = "Compiled, from the repository's folder, with"
    if len(names) > 1:
        head += " (a command for each variant)"
    note = ("As the capture recorded it; the build also had gcc write the binary into its "
            "cache, list the headers it read, and leave the checkout's folder out of the "
            "debugging information.")
    return (f'<div class="roads-compile"><p class="roads-compile-head">{html.escape(head)}:</p>'
            f'<div class="roads-compile-list">{"".join(rows)}</div>'
            f'<p class="roads-compile-note">{html.escape(note)}</p></div>')


def _run_box(doc: Capture, names: Sequence[str]) -> str:
    manifest = doc.inputs.manifest
    prov = doc.provenance
    arch = str(prov.arch or "x86_64")
    aslr_on = bool(manifest.aslr)
    program = program_path(doc)
    pairs = environment(doc)
    stand_in = [(k, stand_in_fd() if k == "ROADS_FD" else v) for k, v in pairs]
    run_argv = ["env", "-i", *(f"{k}={v}" for k, v in stand_in), program, *manifest.args]
    if not aslr_on:
        run_argv = ["setarch", arch, "--addr-no-randomize", *run_argv]
    commands = [compile_argv(doc, names[0]), run_argv]
    if aslr_on:
        commands.append(run_argv)
    gdb = manifest.gdb
    if gdb:
        folder = _folder_of(doc)
        commands.append(["gdb", "-batch", "-nx", "-q", "-x", f"{folder}/{gdb}", program])

    p = []
    # Not in the checkout itself: the program and any file it makes would be left there.
    intro = (f"In a folder holding a copy of the repository's {_code('samples')} folder, so "
             f"that the program and any file it makes stay out of your checkout (from the "
             f"repository's folder: {_code('mkdir -p /tmp/roads-run && cp -r samples /tmp/roads-run && cd /tmp/roads-run')})")
    if len(names) > 1:
        intro += (f"; the first line builds variant {_code(names[0])}, for another use its "
                  f"command above")
    p.append(f"<p>{intro}:</p>")
    p.append(_command_block(commands, "commands to run the sample yourself"))
    p.append("<p>Why your addresses will differ from the figures':</p><ul>")
    if aslr_on:
        p.append("<li><b>Randomisation.</b> This sample ran with address space layout "
                 "randomisation on, as your shell does: every run, the build's and yours, "
                 "gets other addresses.</li>")
    else:
        p.append(f"<li><b>Randomisation.</b> {_code('setarch ' + arch + ' --addr-no-randomize')} "
                 f"turns it off for the one command it starts, as the build did (the capture "
                 f"checked the process's personality). Without it every run moves.</li>")
    env_words = ", ".join(_code(f"{k}={v}") for k, v in pairs)
    agree = all(stack_agrees(doc, n) is not False for n in names)
    size = (f": {_v(environment_bytes(pairs))} bytes of strings at the top of the stack"
            if agree else "")
    p.append(f"<li><b>The environment.</b> The run's whole environment was "
             f"{env_words}{size}. A shell's environment is usually far larger, and every byte "
             f"of it pushes the arguments, the environment, the auxiliary vector and "
             f"{_code('main')}'s frame further down the stack; so does a longer path to the "
             f"program than {_code(program)}. {_code('env -i')} starts from an empty "
             f"environment.</li>")
    p.append(f"<li><b>The build's own variable.</b> {_code('ROADS_FD')} names the pipe on "
             f"which {_code('roads.h')} talks to the build, so it was in the run's environment "
             f"too. The command above sets it to {_code(stand_in_fd())}, a value of the same "
             f"length: the environment keeps the size it had in the capture, and "
             f"{_code('roads.h')}, which expects digits, reads it as no build at all.</li>")
    holes = [(n, cache_hole(doc, n)) for n in names]
    dynamic = [h for _, h in holes if h is not None]
    cache = (f"<li><b>The loader's cache.</b> The dynamic loader maps "
             f"{_code('/etc/ld.so.cache')} to look the libraries up, places them below it and "
             f"unmaps it when they are loaded. A cache of another size, in pages, moves every "
             f"library, and whatever is mapped after them, by the difference.")
    if dynamic:
        h = dynamic[0]
        cache += (f" In this capture the hole it left is {_v(h.pages)} pages, from "
                  f"<code>{_v(f'{h.start:#x}')}</code> to <code>{_v(f'{h.end:#x}')}</code>; "
                  f"{_code('stat -c %s /etc/ld.so.cache')} gives the size of yours in bytes.")
    if any(h is None and cache_static(doc, n) for n, h in holes):
        cache += " A static program has no loader and no such cache."
    p.append(cache + "</li>")
    kernel, glibc, gcc = prov.kernel, prov.glibc, prov.gcc
    parts = []
    if kernel:
        parts.append(f"Linux {_v(kernel)}")
    if glibc:
        parts.append(f"glibc {_v(glibc)}")
    if gcc:
        parts.append(_v(gcc))
    if parts:
        made = ", ".join(parts)
        levels = prov.paging_levels
        paging = (f", with {_v(levels)}-level paging" if levels else "")
        p.append(f"<li><b>Another kernel, C library or compiler.</b> This capture was made "
                 f"with {made} on {_v(arch)}{paging}. Another kernel places the stack, the "
                 f"vDSO and the libraries by its own rules; another glibc has libraries and a "
                 f"loader of other sizes; another gcc lays the program out differently.</li>")
    if gdb:
        p.append(f"<li><b>gdb.</b> gdb turns randomisation off by itself for the programs it "
                 f"starts; it also sets variables of its own ({_code('LINES')}, "
                 f"{_code('COLUMNS')}) in the program's environment, and starts the program "
                 f"through your shell ({_code('$SHELL')}), which may add some of its own "
                 f"(bash adds {_code('SHLVL')}; a shell adds {_code('PWD')} where the "
                 f"environment has none).</li>")
    p.append("</ul>")
    return ('<details class="tip roads-run"><summary>Run it yourself</summary>'
            + "".join(p) + "</details>")


def cache_static(doc: Document, variant: str) -> bool:
    """Whether ``variant`` was linked statically (no loader, by its auxiliary vector)."""
    cp = first_checkpoint(doc, variant)
    return cp is not None and not _auxv(cp).get("AT_BASE")


def _folder_of(doc: Capture) -> str:
    """The samples folder's name, as gcc's ``-I`` in the recorded command gives it."""
    argv = compile_argv(doc, variants_of(doc, None)[0])
    for a in argv:
        if a.startswith("-I") and len(a) > 2:
            return a[2:]
    return "samples"


def render_sample_code(doc: Document, files: Mapping[str, bytes | None], *,
                       variant: str | None = None, open: bool | None = None,
                       repository: str | None = None) -> str:
    """The source of the capture's sample, its compile commands and a run-it-yourself box.

    ``doc`` is the typed capture, or loaded JSON (decoded first). ``files`` maps each path of ``shown_files(doc)`` to the file's bytes as they are now
    (None when it is gone). ``variant`` limits the commands to one variant; ``open``
    unfolds (True) or folds (False) the source, which is otherwise unfolded when short.
    ``repository`` (see ``repository_files``) links each file to its page there.
    """
    doc = decoded(doc)
    sample = doc.sample
    names = variants_of(doc, variant)
    folder = _folder_of(doc)
    recorded = doc.inputs.files
    states = [FileState(path, files.get(path), recorded.get(path)) for path in shown_files(doc)]
    parts = [_warnings(sample, folder, states)]
    parts += [_source_block(sample, folder, f, open, repository) for f in states]
    parts.append(_compile_block(doc, names))
    parts.append(_run_box(doc, names))
    anchor = html.escape(f"source-{sample}", quote=True)
    return f'<div class="roads-sample-code" id="{anchor}">' + "".join(parts) + "</div>"
