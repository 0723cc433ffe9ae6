"""Where a crash happened, in words: the function that holds the faulting instruction
(``symbol_at``: read from its file's symbols, through the region that maps it), and the
region or gap of the memory map that holds an address (``place``), as the page's map
draws them; then the crash said whole (``crash_line``) and in parts (``fault_place``,
``instruction_place``, ``delivered``).

Pure: the regions come from a stop's capture (``roads.figures.regions.memory_map``), the
symbols from an ELF record (``roads.capture.elf``); a saved session draws them again
with no file of its run at hand.
"""

from __future__ import annotations

from typing import Sequence

from ..document import Elf, Region
from ..errors import printable
from ..figures.regions import Band, Classified, MemoryMap
from ..units import human_size
from .record import UNLIMITED, Crash


def file_offset(regions: Sequence[Region], address: int) -> tuple[Region, int] | None:
    """The region of ``regions`` that maps ``address`` from a file, and the offset in
    that file the address maps; None where no region holds it or the one that does
    maps no file (anonymous memory, [stack], [vdso])."""
    for r in regions:
        if r.start <= address < r.end:
            if not r.pathname.startswith("/"):
                return None
            return r, r.offset + address - r.start
    return None


def symbol_at(elf: Elf, offset: int) -> str:
    """The function of ``elf`` whose code holds the byte at file offset ``offset``, as
    gdb writes a place in it: ``main+16`` (``main`` at its first byte); "" where no
    PT_LOAD segment holds that byte from the file, or no STT_FUNC symbol with a size
    covers it (a stripped file's static functions, say: none is guessed)."""
    vaddr = next((s.p_vaddr + offset - s.p_offset for s in elf.loads
                  if s.p_offset <= offset < s.p_offset + s.p_filesz), None)
    if vaddr is None:
        return ""
    holding = sorted((s for s in elf.symbols if s.type == "STT_FUNC"
                      and s.st_value <= vaddr < s.st_value + s.st_size),
                     key=lambda s: (s.bind == "STB_LOCAL", s.name))
    if not holding:
        return ""
    chosen = holding[0]
    within = vaddr - chosen.st_value
    # Any bytes the file holds: a newline in the name began a line of the command's
    # output that read as its own. Its control characters as escapes, on one line.
    name = printable(chosen.name, one_line=True)
    return f"{name}+{within}" if within else name


def _named(c: Classified) -> str:
    """A region as its neighbour names it: its file, its kernel name, or anonymous memory."""
    r = c.region
    if r.pathname.startswith("/"):
        return r.filename
    return r.pathname or f"anonymous memory ({c.label})"


def _region_words(c: Classified) -> str:
    """``in crash's region 0x555555556000-0x555555557000 (r--p: program read-only data)``."""
    r = c.region
    span = f"{r.start:#x}-{r.end:#x} ({r.perms}: {c.label})"
    if r.pathname.startswith("/") and " " not in r.filename:
        return f"in {r.filename}'s region {span}"
    if r.pathname.startswith("/"):  # "memfd:x (deleted)": no possessive after a bracket
        return f"in the region {span} of {r.filename}"
    if r.pathname:
        return f"in {r.pathname}, {span}"
    return f"in anonymous memory, {span}"


def place(mm: MemoryMap, address: int, stack_limit: int | str | None = None) -> str:
    """Where ``address`` lies in the stop's memory map ``mm``, in words: in which region
    (its file, span, permissions and kind), or in which gap, between which regions. An
    address under the machine's mmap_min_addr is said to be: nothing can be mapped
    there, and a NULL pointer, or a small offset from one, points there. One in the gap
    below [stack], farther from its top than ``stack_limit`` (the process's soft
    RLIMIT_STACK: ``Crash.stack_limit``; None, not read: the capturing command's) lets
    the stack grow, is said to be."""
    bands = mm.bands()
    k = next(i for i, b in enumerate(bands) if b.start <= address < b.end)
    band = bands[k]
    if band.region is not None:
        return _region_words(band.region)
    return _gap_words(mm, bands, k, address, stack_limit)


def _gap_words(mm: MemoryMap, bands: tuple[Band, ...], k: int, address: int,
               stack_limit: int | str | None = None) -> str:
    band = bands[k]
    if band.kind != "unmapped" or band.past_user_space:
        # "the unmapped" alone names nothing: the last page of user space is a stretch.
        label = "unmapped stretch" if band.label == "unmapped" else band.label
        return f"in the {label} ({band.start:#x}-{band.end:#x}): {band.about}"
    below = bands[k - 1].region if k > 0 else None
    above = bands[k + 1].region if k + 1 < len(bands) else None
    size = human_size(band.size)
    if below is None:
        where = "in the unmapped gap at the bottom of the address space (" + size + (
            f", up to {_named(above)} at {above.region.start:#x})" if above else ")")
    elif above is None:
        where = f"in the unmapped gap above {_named(below)} ({size})"
    else:
        where = (f"in the unmapped gap between {_named(below)} (up to {below.region.end:#x}) "
                 f"and {_named(above)} (from {above.region.start:#x}), {size}")
    limit = mm.selection.provenance_record.stack_rlimit if stack_limit is None \
        else stack_limit if stack_limit != UNLIMITED else None
    if band.below_stack and above is not None and isinstance(limit, int) \
            and above.region.end - address > limit:
        # The kernel grows the stack down into this gap for an access below it, but not
        # past its size limit (acct_stack_growth in mm/mmap.c): that is where it stopped.
        where += (f", {human_size(above.region.end - address)} below the top of the stack, "
                  f"farther than its size limit lets it grow (RLIMIT_STACK, "
                  f"{human_size(limit)}): a stack that ran past its limit, most likely")
    low = mm.selection.provenance_record.mmap_min_addr
    if isinstance(low, int) and address < low:
        where += (f", under mmap_min_addr ({human_size(low)}), where only a privileged "
                  "process may map anything: a NULL pointer, or a small offset from one "
                  "(a field of a struct at NULL), points there")
    return where


def fault_place(crash: Crash, mm: MemoryMap | None) -> str:
    """What the fault was, and where its address lies in the stop's map ``mm`` (None
    where the stop could not be drawn: left out): "no mapping at 0x10 (SEGV_MAPERR), in
    the unmapped gap at the bottom of the address space ..."."""
    if crash.addr is None or mm is None:
        return crash.fault()
    return f"{crash.fault()}, {place(mm, crash.addr, crash.stack_limit)}"


def instruction_place(crash: Crash, mm: MemoryMap | None) -> str:
    """Where the faulting instruction lies: "0x555555555151 (main+24), in crash's region
    0x555555555000-0x555555556000 (r-xp: program code)"."""
    return crash.instruction() + (f", {place(mm, crash.pc, crash.stack_limit)}"
                                  if mm is not None else "")


def crash_line(crash: Crash, mm: MemoryMap | None) -> str:
    """The fault and the faulting instruction, each placed in the stop's map ``mm``, as
    one line that follows the signal's name (``fault_place``, ``instruction_place``)."""
    line = f"{fault_place(crash, mm)}; the faulting instruction at {instruction_place(crash, mm)}"
    return line + (f"; {crash.frame_words()}" if crash.frame_failed else "")


def delivered(crash: Crash) -> str:
    """What the crash stop is, for the page: what the kernel sent, why it killed, what
    roads explain did with it, and what the map marks."""
    marked = "the faulting instruction (pc), the thread's stack pointer (sp)"
    marked += " and the address the instruction touched (si_addr)" if crash.addr is not None else ""
    if crash.frame_failed:
        sent = ("SIGSEGV again, of its own (SI_KERNEL), with the default disposition, and "
                "that signal ended the process" if not crash.handled else
                "SIGSEGV in its place, of its own (SI_KERNEL), which ended the process: the "
                "program had no handler of SIGSEGV that could run (one on the same stack "
                "fails in the same way, and the kernel then sends SIGSEGV with the default "
                "disposition)")
        return (f"The kernel sent {crash.fault_signal} for a fault of the thread's own "
                "instruction. The program has a handler of it, but the kernel could not "
                "write the handler's frame on the stack it runs on (the thread's stack, "
                "full: a stack overflow, or a stack pointer that points nowhere; or an "
                "alternate stack, sigaltstack's, too small), so it sent "
                f"{sent}. roads explain stopped the thread as the "
                "kernel was about to deliver it, read the memory as the fault left it, then "
                "let the signal through unchanged: the process died of it as it would have "
                f"without roads explain. The map marks {marked}.")
    return (f"The kernel sent {crash.signal} for a fault of the thread's own instruction. "
            f"The program had no handler of {crash.signal} that could run (its disposition "
            "was the default, or the kernel made it so: a fault's signal that is blocked or "
            "ignored is set back to the default), so the signal ended the process. roads "
            "explain stopped the thread as the kernel was about to deliver it, read the "
            "memory as the fault left it, then let the signal through unchanged: the "
            f"process died of it as it would have without roads explain. The map marks "
            f"{marked}.")
