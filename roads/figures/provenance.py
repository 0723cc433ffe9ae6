"""Where a figure's numbers come from: the one-line caption under every figure.

What can change a picture of memory is recorded with every capture (kernel,
glibc, gcc, architecture, page size, paging levels, THP mode, ``randomize_va_space``,
and more that pages quote: see ``roads.capture.toolchain.provenance``) and with
every run (whether ASLR was asked off) and every stop (the process's personality,
and whether the kernel laid it out at random, which says whether it really was). ``Provenance`` gathers those for one or more selected
checkpoints; ``caption`` says it in one line of text and ``caption_html`` as the
paragraph figures end with. ``with_provenance(html, selection)`` is what every
figure renderer calls last.

Pure: selections in, text out.
"""

from __future__ import annotations

import html as _html
import shlex
from dataclasses import dataclass
from typing import Sequence

from ..constants import ADDR_NO_RANDOMIZE
from .select import Selection
from ..units import human_size, unbroken
from .options import options_whole


# /proc/sys/kernel/randomize_va_space (Documentation/admin-guide/sysctl/kernel.rst).
# At 1 a PIE's load address moves too (load_elf_binary adds arch_mmap_rnd() whenever
# PF_RANDOMIZE is set); only the heap's own random offset waits for 2.
_RANDOMIZE = {0: "off system-wide", 1: "all but the heap's own offset", 2: "full"}


# Why a process that roads started with ADDR_NO_RANDOMIZE was laid out at random, the
# flag gone from its personality: an execve ran without it. The program may have
# cleared it; or the file run was set-user-ID or set-group-ID, or had file
# capabilities that gave the process one it lacked, for which execve drops the flag
# itself (PER_CLEAR_ON_SETID, include/uapi/linux/personality.h; fs/exec.c
# bprm_fill_uid, security/commoncap.c cap_bprm_creds_from_file: __cap_gained), traced
# or not. A file capability root already holds clears nothing. A capture cannot tell
# the two apart.
BACK_ON = ("the program cleared ADDR_NO_RANDOMIZE before it, or the file it ran is "
           "set-user-ID or set-group-ID, or has file capabilities that gave it one it "
           "lacked, for which execve clears the flag")


@dataclass(frozen=True)
class Aslr:
    """Whether a run asked for ASLR, and what the process's personality says it got."""

    requested: bool  # the sample was run with ASLR left on
    randomized: bool  # verified: the kernel laid the process out at random at its execve
    personality: int  # at the stop: a program may have changed it since its execve
    randomize_va_space: int | None
    # Whether ``randomized`` is what the kernel recorded at the execve (PF_RANDOMIZE),
    # not judged from the personality at the stop as in captures made before it was.
    at_execve: bool = True

    def describe(self) -> str:
        """``ASLR off (ADDR_NO_RANDOMIZE, verified)``, ``ASLR on (full)`` and the odd cases.

        A layout is chosen at execve, from the personality of that moment; the
        personality read at the stop may have changed since. Asked off and yet
        randomized, with ADDR_NO_RANDOMIZE gone from the personality, the flag was gone
        at an execve after roads set it (and checked it did): ``BACK_ON`` says how."""
        if self.randomize_va_space == 0:
            return "ASLR off (randomize_va_space 0)"
        if not self.randomized:
            words = ("ASLR off (laid out under personality ADDR_NO_RANDOMIZE, which the "
                     "program cleared later; verified)" if self.cleared_later else
                     "ASLR off (personality ADDR_NO_RANDOMIZE, verified)")
            return words if not self.requested else words + ", although it was asked on"
        level = _RANDOMIZE.get(self.randomize_va_space, f"level {self.randomize_va_space}") \
            if self.randomize_va_space is not None else "level unknown"
        words = f"ASLR on ({level})"
        if self.requested:
            return words
        if self.turned_back_on:
            return f"{words}, turned back on at an execve: {BACK_ON}"
        return words + ", NOT turned off as asked"

    @property
    def cleared_later(self) -> bool:
        """Laid out under ADDR_NO_RANDOMIZE, which the personality at the stop no longer
        holds: cleared after the execve, which moved nothing."""
        return not self.randomized and not self.personality & ADDR_NO_RANDOMIZE

    @property
    def turned_back_on(self) -> bool:
        """Asked off, yet laid out at random, as the kernel recorded at an execve after
        roads set the flag (and checked it did): ``BACK_ON`` says how. Not where the
        flag is still held, or the capture predates the record: then roads failed."""
        return (self.randomized and not self.requested and self.at_execve
                and not self.personality & ADDR_NO_RANDOMIZE)

    @property
    def turned_off_by_program(self) -> bool:
        """Asked on (``--aslr`` cleared the flag before the program started), yet laid
        out without randomisation, as the kernel recorded: the program set the flag and
        ran execve."""
        return not self.randomized and self.requested and self.at_execve

    @property
    def as_asked(self) -> bool:
        """Whether the run got what the sample asked for."""
        return self.requested == self.randomized


@dataclass(frozen=True)
class Provenance:
    """Everything the caption of a figure of ``selections`` says."""

    sample: str
    variants: tuple[str, ...]
    runs: tuple[int, ...]
    run_count: int  # runs of the (first) variant
    checkpoints: tuple[str, ...]  # one per selection, with the process role when shared
    kernel: str
    glibc: str
    gcc: str  # the version as ``gcc --version`` printed it
    gcc_argv: tuple[tuple[str, ...], ...]  # the compile command, one per variant
    flags: tuple[tuple[str, ...], ...]  # the options that shape the binary, one per variant
    arch: str
    page_size: int | None
    thp: str
    aslr: tuple[Aslr, ...]  # one per distinct run, in order
    paging_levels: int | None = None  # 4 or 5; None in captures made before it was recorded
    subject: str = "sample"  # the selections' words (Selection.SUBJECT, POINT)
    point: str = "checkpoint"


def compiler_flags(gcc_argv: Sequence[str]) -> tuple[str, ...]:
    """The options of a compile command that shape the binary.

    Dropped: the driver itself, ``-o FILE``, source files and include folders, which
    say where the build ran rather than what it made.
    """
    out: list[str] = []
    skip = False
    for arg in list(gcc_argv)[1:]:
        if skip:
            skip = False
            continue
        if arg == "-o" or arg == "-I":
            skip = True
        elif arg.startswith("-I") or not arg.startswith("-"):
            continue
        else:
            out.append(arg)
    return tuple(out)


def aslr_of(selection: Selection) -> Aslr:
    """The ASLR state of the selected process, as the kernel recorded it at its execve."""
    checkpoint = selection.checkpoint_record
    level = selection.provenance_record.randomize_va_space
    return Aslr(selection.run_record.aslr_requested, checkpoint.laid_out_at_random(level),
                checkpoint.personality, level, checkpoint.randomized is not None)


def provenance(selections: Selection | Sequence[Selection]) -> Provenance:
    """The provenance of one selection, or of several from one capture (a diff)."""
    sels = _as_list(selections)
    first = sels[0]
    prov = first.provenance_record
    seen_runs: list[tuple[str, int]] = []
    aslr: list[Aslr] = []
    for s in sels:
        if (s.variant, s.run) not in seen_runs:
            seen_runs.append((s.variant, s.run))
            aslr.append(aslr_of(s))
    # The compile command only where every figure's file is the one it made.
    argvs = tuple(first.capture.variants[v].gcc_argv
                  for v in dict.fromkeys(s.variant for s in sels)) \
        if all(s.compiled for s in sels) else ()
    return Provenance(
        sample=first.sample,
        variants=tuple(dict.fromkeys(s.variant for s in sels)),
        runs=tuple(dict.fromkeys(s.run for s in sels)),
        run_count=len(first.variant_record.runs),
        checkpoints=tuple(_checkpoint_words(s) for s in sels),
        kernel=prov.kernel or "unknown",
        glibc=prov.glibc or "unknown",
        gcc=prov.gcc or "unknown",
        gcc_argv=argvs,
        flags=tuple(compiler_flags(argv) for argv in argvs),
        arch=prov.arch or "unknown",
        page_size=prov.page_size,
        thp=prov.thp or "unknown",
        aslr=tuple(aslr),
        paging_levels=prov.paging_levels,
        subject=first.SUBJECT,
        point=first.POINT,
    )


def _as_list(selections: Selection | Sequence[Selection]) -> list[Selection]:
    sels = [selections] if isinstance(selections, Selection) else list(selections)
    if not sels:
        raise ValueError("provenance of no selection")
    return sels


def _checkpoint_words(s: Selection) -> str:
    words = s.checkpoint_name
    if s.shared_name:
        words += f" ({s.role})" if s.role else f" (process #{s.ordinal})"
    return words


def gcc_version(banner: str) -> str:
    """``gcc 12.2.0`` from ``gcc (Debian 12.2.0-14+deb12u1) 12.2.0``."""
    parts = banner.split()
    return f"gcc {parts[-1]}" if len(parts) > 1 else banner


def _parts(p: Provenance, subject: str | None = None, aslr: str | None = None) -> list[tuple[str, str]]:
    """The caption's pieces as (plain text, the same as HTML).

    ``subject`` replaces the words on which checkpoints are shown (a gdb session
    shows none); ``aslr`` the ASLR state (gdb turns randomisation off by itself).
    """
    def plain(text: str) -> tuple[str, str]:
        return text, _html.escape(text)

    def versioned(name: str, version: str, after: str = "") -> tuple[str, str]:
        """A release kept on one line: a kernel's "6.18.44-fc-v1098" would otherwise
        break at a hyphen on a phone."""
        text = " ".join(filter(None, (name, version, after)))
        tail = f" {_html.escape(after)}" if after else ""
        return text, (f'{_html.escape(name)} <span class="roads-version">'
                      f'{_html.escape(version)}</span>{tail}')

    where = f"{p.subject} {p.sample}"
    if len(p.variants) > 1 or p.variants != ("default",):
        where += f" ({' vs '.join(p.variants)})"
    if len(p.runs) > 1:
        where += f", runs {' and '.join(map(str, p.runs))}"
    elif p.run_count > 1:
        where += f", run {p.runs[0]} of {p.run_count}"
    checkpoints = tuple(dict.fromkeys(p.checkpoints))
    word = p.point if len(checkpoints) == 1 else f"{p.point}s"
    where += ", " + (subject or f"{word} " + " → ".join(checkpoints))

    compiler = gcc_version(p.gcc)
    # The whole command where the capture has it (a name with a space quoted), in the
    # caption itself: it was only a tooltip, which neither a keyboard nor a tap reaches
    # (no control to focus, no hover on a phone). The flags alone otherwise.
    commands = [shlex.join(argv) for argv in p.gcc_argv if argv]
    shown = commands or [" ".join(f) for f in p.flags]
    gcc_text = f"{compiler}: {' vs '.join(commands)}" if commands else (
        f"{compiler} {' vs '.join(shown)}".rstrip())
    gcc_html = _html.escape(compiler) + (":" if commands else "")
    if any(shown):
        gcc_html += " " + " vs ".join(f'<code class="roads-gcc">{options_whole(_html.escape(c))}</code>'
                                      for c in shown)

    aslr = aslr or "; ".join(dict.fromkeys(a.describe() for a in p.aslr))
    size = human_size(p.page_size) if p.page_size else ""
    pages = f"{size} pages" if size else "page size unknown"
    # In the HTML the size's number and unit stay on one line (a phone broke "4" from
    # "KiB" at a line's end).
    pages_html = (f"{_html.escape(unbroken(size))} pages" if size
                  else _html.escape(pages))
    if p.paging_levels:
        pages += f", {p.paging_levels}-level paging"
        pages_html += f", {p.paging_levels}-level paging"
    return [
        plain(where),
        versioned("Linux", p.kernel, p.arch),
        versioned("glibc", p.glibc),
        (gcc_text, gcc_html),
        plain(aslr),
        plain(f"THP {p.thp}"),
        (pages, pages_html),
    ]


def caption(selections: Selection | Sequence[Selection], *, subject: str | None = None,
            aslr: str | None = None) -> str:
    """The provenance in one line of plain text (``subject``, ``aslr``: see ``_parts``)."""
    return " · ".join(text for text, _ in _parts(provenance(selections), subject, aslr))


def caption_html(selections: Selection | Sequence[Selection], *, subject: str | None = None,
                 aslr: str | None = None) -> str:
    """The provenance as the paragraph that closes a figure (an HTML block of its own)."""
    p = provenance(selections)
    inner = " · ".join(h for _, h in _parts(p, subject, aslr))
    warn = "" if aslr or all(a.as_asked for a in p.aslr) else " roads-provenance-warning"
    return f'<p class="roads-provenance{warn}"><small>{inner}</small></p>'


def with_provenance(html: str, selection: Selection | Sequence[Selection], *,
                    subject: str | None = None, aslr: str | None = None) -> str:
    """``html`` (or Markdown) followed by its provenance caption.

    A blank line separates the two, so that Markdown before it stays Markdown and
    the caption is an HTML block of its own. Every figure macro ends with this.
    """
    return html.rstrip("\n") + "\n\n" + caption_html(selection, subject=subject, aslr=aslr) + "\n"
