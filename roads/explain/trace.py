"""Run any program under ptrace and stop it where ``roads explain --at`` asks.

Stops (``parse_stop``):

- ``FUNC`` or ``FUNC:N``: the N-th call of a function (default the first), by a
  breakpoint at its first instruction, looked up in the executable and then in each
  library: the definition a program linked now calls, the default version of a name a
  library keeps in several (``symbols.bound``: ``memcpy@@GLIBC_2.14``, not the
  ``memcpy@GLIBC_2.2.5`` kept for old programs; ``FUNC@VERSION`` names one). An ifunc
  (STT_GNU_IFUNC) is refused: its symbol is the resolver, not the code called. Every
  call counts, the C library's own calls to ``malloc`` included (a breakpoint cannot
  tell who called), from where the stops are set (``Tracer._at_exec``): in a dynamically
  linked program once the loader has relocated the libraries it starts with, before it
  runs their constructors (the calls made before, the loader's own, an ifunc resolver's
  while it relocates, the C library's ``__libc_early_init``'s, are not); in a static
  one at its entry point, before its start-up code runs anything. ``main`` of a
  stripped executable (``/bin/true``) is found as the first argument
  ``__libc_start_main`` receives (rdi at its first instruction), and ``_start`` of any
  is its entry point (AT_ENTRY: the ELF header's e_entry).
- ``syscall:NAME`` or ``syscall:NAME:N``: the N-th call of a system call, stopped when
  it *returns*, so that the memory it made or changed is there to see. NAME is of
  x86-64's table; a call made through ``int 0x80``, the 32-bit entry, is numbered from
  i386's, and is not counted (told once for each process that makes one).
- ``exit``: each followed process as it exits (PTRACE_EVENT_EXIT of its last thread: its
  memory is still mapped), whether by exit() or by a signal; a main thread that ends
  alone (pthread_exit) while others run on is not the process's exit, nor is a thread
  seccomp kills alone (SECCOMP_RET_KILL_THREAD, ``_ends_alone``), nor are the threads
  another thread's execve ends (``_execve_elsewhere``).
- ``DELAY`` (``0.5s``, ``200ms``): that long after the program started to run (its
  stops set up; ``deadline`` counts from the run's start).

Breakpoints and the counts hold in the first process and, with ``follow_fork``, in its
forked children; without it a child is let go: one with a copy of the memory once its
copies of the breakpoints are taken out, one that shares it (vfork, posix_spawn) at its
exec or exit, carried past the breakpoints it runs into until then, none of them a
stop of its own (``Tracer._shadow``). Each memory keeps its own breakpoints
(``Tracer.memories``): a forked child starts with a copy of its parent's, and the two may
then each map other code at one address (a library of their own, ASLR off). The
program runs with ASLR off (personality(2)) unless asked otherwise, stdin from
/dev/null, its output read through pipes (the first MAX_OUTPUT bytes of each kept), in
a process group of its own that is killed when the run ends: ``RUN_ON`` seconds after
the last stop, unless it ended first; at the deadline; or on any error; with it the
groups its tracees made, and the orphans the tracer adopted as a child subreaper (a
daemon's, whose parent it did not follow).
Only the stopped thread is held while a stop is read; other threads of the process go
on. A stop signal the program gets (raise(SIGSTOP)) stops it, as under a shell, until a
process of the run continues it or, there being no fg here, the tracer does
(``Tracer._tend_held``). A syscall stop records what the call returned
(``record.Returned``).

A fault that kills a followed process (SIGSEGV, SIGBUS, SIGILL or SIGFPE that the
kernel sent for the thread's own instruction, with no handler to run) makes a stop of
its own, asked for or not, labelled with the signal's name: taken at the signal's
delivery-stop, before the signal is delivered, the memory as the fault found it
(``Tracer._fault_stop``, ``record.Crash``). The signal is delivered then, unchanged: the
process dies of it as it would have untraced. So does one after the last stop, the
program running on for ``RUN_ON`` seconds to end on its own.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import os
import re
import resource
import select
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

from ..constants import PF_SIGNALED
from ..errors import ExplainError, RoadsError
from .. import interrupts
from . import emulate
from . import ptrace as pt
from . import shellwords
from .program import not_executed
from .record import (RESTART, UNLIMITED, Crash, Returned, SelfStop, generation, sent_words,
                     signed, stop_words)
from .seccomp_mode import SECCOMP_MODE_DEAD, read_seccomp_mode
from .siginfo import FAULT_SIGNALS, SI_KERNEL, Fault, SigInfo, kills, parse_fault, parse_siginfo
from .syscall_file import read_syscall
from ..capture.elf import read_bytes
from ..capture.runner import describe_status
from ..capture.proc import CAP_SYS_PTRACE, MapsEntry, Proc, Status, auxv_dict, parse_limits
from .symbols import (Function, bound, cxx_named, data_object, first_load, functions, is_rust,
                      has_symtab, imports, inlined, old_versions, source_name)

INT3 = 0xCC
# The bit of security.capability's first word that asks for the capabilities at once
# (include/uapi/linux/capability.h).
VFS_CAP_FLAGS_EFFECTIVE = 0x000001
MAX_OUTPUT = 64 << 10
KILL_WAIT = 10.0  # seconds for what is left of a run, killed, to be reaped
KILL_PAUSES = (0.002, 0.1)  # seconds between two looks for it: the first pause, the longest
DRAIN_WAIT = 1.0  # seconds the output is read for after the run, while a writer holds it
# seconds: a --deadline shorter than this is what most likely cut a start short
SHORT_START = 1.0
# System calls that never return to the program, where a syscall stop is made.
NO_RETURN = frozenset({"exit", "exit_group"})
# What a program calls by a name the C library makes with another system call (glibc
# 2.36 on x86-64, as strace shows it): --at syscall:NAME of one of these is never
# reached, or is no system call at all (wait, sleep). vfork() makes vfork.
MADE_WITH = {"fork": "clone", "open": "openat", "stat": "newfstatat", "lstat": "newfstatat",
             "fstat": "newfstatat", "pipe": "pipe2", "nanosleep": "clock_nanosleep",
             "sleep": "clock_nanosleep", "usleep": "clock_nanosleep", "wait": "wait4",
             "waitpid": "wait4", "signal": "rt_sigaction", "sigaction": "rt_sigaction",
             "readdir": "getdents64"}


def made_with(name: str) -> str:
    """Which system call the C library's function ``name`` makes, in words that name
    the stop to give instead, where it makes another (``MADE_WITH``); else ""."""
    other = MADE_WITH.get(name)
    return (f"the C library's {name}() makes the {other} system call: --at syscall:{other}"
            if other else "")
WAKE = 0.05  # seconds the tracer sleeps at most between two looks for a tracee's event
# The signals whose default action stops a process (signal(7)), and how long a process
# they stopped is held so before roads explain continues it (``Tracer._tend_held``).
STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
CONTINUE_AFTER = 1.0  # seconds
# Seconds the program runs on after its last stop (every --at made, none of them exit),
# within the deadline, to end on its own: a crash then (later in main, in an atexit
# handler or a destructor, an abort) makes its stop as one before it does, and its exit
# status is its own; one still running then is ended (``Tracer._run_on_over``).
RUN_ON = 1.0
# Seconds after the program's own process ended, --at exit still waiting for others of
# the run, before the command says so (``Tracer._tell_waiting``): a moment, so that a
# child that ends with its parent is not named, and one forked just before is.
WAITING_TOLD = 1.0
# The signals Python ignores for itself at its start, set back to their default for the
# program (``Tracer._spawn``), as subprocess's restore_signals does.
RESTORED_SIGNALS = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ")
                         if hasattr(signal, name))
# The signals of a fault (``siginfo.FAULT_SIGNALS``), by number.
FAULTS = frozenset(signal.Signals[name] for name in FAULT_SIGNALS)
SIGCONT_BIT = 1 << (signal.SIGCONT - 1)  # in the SigPnd: and ShdPnd: masks of /proc/PID/status
SIGSTOP_BIT = 1 << (signal.SIGSTOP - 1)
# The x86-64 system calls that make a process or thread, and the clone(2) flag of one
# that shares its parent's memory (asm/unistd_64.h, linux/sched.h).
SYS_CLONE, SYS_FORK, SYS_VFORK, SYS_CLONE3 = 56, 57, 58, 435
MAKING = frozenset({SYS_CLONE, SYS_FORK, SYS_VFORK, SYS_CLONE3})
# waitpid's status for a PTRACE_EVENT_EXIT stop: the event above SIGTRAP, a stop (0x7f)
EXIT_STOP_STATUS = (pt.PTRACE_EVENT_EXIT << 16) | (signal.SIGTRAP << 8) | 0x7f
SYS_EXIT = 60  # exit(2): the calling thread alone ends (pthread_exit); exit_group is 231
# execve and execveat as /proc/PID/syscall numbers them (``Tracer._execve_elsewhere``):
# x86-64's (59, 322) and i386's, for a call through int 0x80 (11, 358). The file does not
# say which table: 11 is also x86-64's munmap. Read as execve, a thread in munmap as its
# process exits only moves the exit stop to that thread's own exit event, which a
# process that exits (the only case asked about where no execve runs) gives for each
# of its threads: the stop is taken there, once, the memory the same.
EXECVE_CALLS = frozenset({59, 322, 11, 358})
EXECVE_LOOK = 0.05  # seconds to wait for a thread still running to block (or its end)
# The same calls made through int 0x80, the 32-bit entry, numbered from i386's table
# (asm/unistd_32.h), their first argument in ebx (``_call_of``).
FROM_I386 = {1: SYS_EXIT, 2: SYS_FORK, 120: SYS_CLONE, 190: SYS_VFORK, 435: SYS_CLONE3}
CLONE_VM, CLONE_PARENT = 0x100, 0x8000
# A child that shares a traced process's memory, not followed (``Tracer._shadow``): its
# exec and exit are told, not its own children, and no syscall stop is asked of it.
SHADOW_OPTIONS = (pt.PTRACE_O_TRACESYSGOOD | pt.PTRACE_O_TRACEEXEC | pt.PTRACE_O_TRACEEXIT
                  | pt.PTRACE_O_EXITKILL)
UNISTD = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
# What the breakpoints a run starts with are for (Tracer._at_exec): the program's entry
# point, and the loader's _dl_debug_state while it loads the libraries the program
# starts with (STARTUP); and the one at _dl_debug_state once the program runs: libraries
# it opens later (LOADED, Tracer._lookup).
ENTRY, STARTUP, LOADED = "entry", "startup", "loaded"
# The loader's struct r_debug (glibc's link.h): r_state, an int after int r_version,
# struct link_map *r_map and ElfW(Addr) r_brk; and the values of its enum that say the
# loader is adding objects and that it has done so.
R_STATE = 24
RT_CONSISTENT, RT_ADD = 0, 1
SYSCALL = 0x050F  # the instruction `syscall` (0f 05), as the low bytes of a word read
INT_0X80 = 0x80CD  # `int $0x80` (cd 80), the 32-bit entry, which may run execve too
SYSENTER = 0x340F  # `sysenter` (0f 34)
# x86-64's restart_syscall (arch/x86/entry/syscalls/syscall_64.tbl): what the kernel runs
# for a call cut short with -ERESTART_RESTARTBLOCK (nanosleep, poll) to finish it.
RESTART_SYSCALL = 219
# Where a signal handler's frame keeps the thread's rsp and rip to go back to: its
# ucontext_t (rdx, the handler's third argument, at rsp + 8 at its first instruction:
# past the return address), uc_mcontext.gregs[REG_RSP] and [REG_RIP] (sys/ucontext.h).
UC_RSP, UC_RIP = 160, 168
PIDFD_SIGNAL_PROCESS_GROUP = 1 << 2  # linux/pidfd.h (Linux 6.9): to the pidfd's process group


@dataclass(frozen=True)
class StopSpec:
    """One ``--at``: ``kind`` is 'func', 'syscall', 'exit' or 'delay'; or 'crash', the
    stop at a fault that kills (``Tracer._fault_stop``), which no --at names."""

    label: str
    kind: str
    name: str = ""
    count: int = 1
    seconds: float = 0.0
    number: int = -1  # the system call's number
    default: bool = False  # the stop taken where no --at was given (main)


def syscall_numbers() -> dict[str, int]:
    """x86-64 system call numbers by name, from the kernel's uapi header."""
    try:
        text = UNISTD.read_text()
    except OSError:
        raise ExplainError(f"cannot read {UNISTD} for system call numbers (package "
                           "linux-libc-dev)") from None
    return {m[1]: int(m[2]) for m in re.finditer(r"#define __NR_(\w+)\s+(\d+)", text)}


@functools.cache
def _numbered() -> dict[str, int]:
    """``syscall_numbers``, read once (the deadline's words name a call by number); empty
    where the header cannot be read."""
    try:
        return syscall_numbers()
    except ExplainError:
        return {}


def parse_stop(text: str) -> StopSpec:
    """A ``--at`` argument as a StopSpec; ExplainError saying what is accepted."""
    t = text.strip()
    if t == "exit":
        return StopSpec(t, "exit")
    if re.fullmatch(r"-\s*(?:\d+(?:\.\d*)?|\.\d+)(?:s|ms)?", t):
        raise ExplainError(f"--at {text}: a delay counts from the program's start, and "
                           "cannot be negative: 0s or more, such as 0.5s")
    if re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", t):
        raise ExplainError(f"--at {text}: a delay needs its unit, {t}s or {t}ms")
    m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)(s|ms)", t)  # as --deadline's digits
    if m:
        seconds = float(m[1]) / (1000 if m[2] == "ms" else 1)
        if not 0 <= seconds <= 3600:
            raise ExplainError(f"--at {text}: a delay is 0 to 3600 s")
        return StopSpec(t, "delay", seconds=seconds)
    m = re.fullmatch(r"syscall:(\w+)(?::(\d+))?", t)
    if m:
        numbers = syscall_numbers()
        if m[1] not in numbers:
            instead = made_with(m[1])
            raise ExplainError(f"--at {text}: no system call {m[1]!r} on x86-64"
                               + (f"; {instead}" if instead else ""))
        if m[1] in NO_RETURN:  # a syscall stop is at the call's return
            raise ExplainError(f"--at {text}: {m[1]} does not return; stop at its end with "
                               "--at exit")
        count = int(m[2] or 1)
        if count < 1:
            raise ExplainError(f"--at {text}: the count starts at 1")
        return StopSpec(t, "syscall", name=m[1], count=count, number=numbers[m[1]])
    # A C++ function may be named with its namespace or class: shapes::area. A name may
    # hold letters beyond ASCII, as gcc's identifiers may (été): [^\W\d] is a letter or _.
    m = re.fullmatch(r"([^\W\d][\w.@]*(?:::[^\W\d]\w*)*)(?::(\d+))?", t)
    if m and "@" in m[1] and not re.fullmatch(r"[^@]+@@?[^@]+", m[1]):
        # main@ and main@@ were stopped at as main, and a@b@c looked up as one name.
        wrong = "no version after its @" if m[1].endswith("@") else "more than one @"
        raise ExplainError(f"--at {text}: {wrong}: FUNC@VERSION names a version "
                           "(memcpy@GLIBC_2.2.5), FUNC@@VERSION the default one")
    if m:
        count = int(m[2] or 1)
        if count < 1:
            raise ExplainError(f"--at {text}: the count starts at 1")
        return StopSpec(t, "func", name=m[1], count=count)
    # Quoted as a shell reads it back: repr wrote a byte that is not UTF-8 as \udcc3.
    quoted = shellwords.quote(text)
    cxx = _cxx_written(t)
    if cxx:
        raise ExplainError(f"--at {quoted}: {cxx}")
    raise ExplainError(f"--at {quoted}: give main, FUNC, FUNC:N, "
                       "syscall:NAME[:N], exit or a delay such as 0.5s")


# A C++ name as gdb, nm -C or a compiler's message writes it, which --at does not take:
# an operator's or a destructor's name, a template's arguments, a function's parameters.
# They were refused as no stop at all ("give main, FUNC, ..."), which said nothing of
# the rule (a learner's --at 'operator new', --at 'Sq::area()').
_NAME = r"[^\W\d]\w*(?:::[^\W\d]\w*)*"


def _cxx_written(t: str) -> str | None:
    """What to give instead of ``t``, a C++ function written with what --at does not
    take; None for a stop that is no such name."""
    if re.search(r"\boperator\b|~|<.*>", t):
        m = re.fullmatch(rf"({_NAME})\s*<.*>\s*(?:\(.*\)\s*(?:const)?)?", t)
        template = (f"; a function template outside any namespace or class is found by its "
                    f"name alone (--at {m[1]})" if m and "::" not in m[1]
                    and "operator" not in m[1] else "")
        return ("a C++ operator, destructor or template's instance is named by its mangled "
                "symbol, as nm lists it (nm -C names each C++ function at the address of "
                f"its symbol){template}")
    m = re.fullmatch(rf"({_NAME})\s*\(.*\)\s*(?:const)?", t)
    if m:
        return (f"a function is named without its parameters: --at {m[1]} (where several "
                "have that name, the command lists their symbols to choose from)")
    return None


@dataclass
class Hit:
    """What the capture callback receives: a stopped process at one stop."""

    pid: int
    ppid: int
    label: str
    addresses: tuple[tuple[str, int], ...]
    tid: int | None = None  # the thread that reported the stop, held at it (None: pid)
    returned: Returned | None = None  # at a syscall stop, what the call returned
    crash: Crash | None = None  # at a fault that kills, the fault (its ``symbol`` not looked up)

    @property
    def thread(self) -> int | None:
        """The thread other than the main one whose pc and sp the stop's ``addresses``
        are (a function or system call that thread reached first), else None."""
        return self.tid if self.addresses and self.tid not in (None, self.pid) else None


class _Made(NamedTuple):
    """What a new process's maker's fork event says of it: by the new one's first stop
    its maker may have ended (its breakpoints forgotten, ``Tracer._ended``), or closed
    the library that held them, and the new one been given to roads explain itself,
    which adopts the run's orphans (its PPid: in /proc then)."""

    parent: int  # the process that made it, or with CLONE_PARENT that one's parent
    breakpoints: frozenset[int]  # the int3 addresses in the maker's memory then (``_Memory``)
    removed: frozenset[int]  # and those taken out of it
    # Those breakpoints then, each with its original byte and what to do there: a copy,
    # taken at the event, which becomes the new one's own (a forked child's memory is).
    table: dict[int, tuple[int, list]]
    memory: int | None  # a CLONE_VM child's: the memory it shares (``Tracer.memory``)


@dataclass
class _Memory:
    """The breakpoints of one memory (``Tracer.memories``): the int3s are the memory's,
    not a process's, and two memories may each hold other code at one address (the two
    processes of a fork, each a library of its own there)."""

    # address -> (the original byte, what to do there)
    table: dict[int, tuple[int, list]] = field(default_factory=dict)
    holding: set[int] = field(default_factory=set)  # addresses where our int3 is
    # Addresses whose int3 was taken out: a thread that ran into it before may report
    # its SIGTRAP only afterwards (``Tracer._stale_trap``).
    removed: set[int] = field(default_factory=set)


class _Step(NamedTuple):
    """A thread's single step over the breakpoint at ``addr`` (``Tracer._step_over``),
    under way until its trap comes to the loop (``Tracer._stepped``)."""

    addr: int
    rsp: int  # the stack at the breakpoint: a trap there again with it is the same call
    word: int  # the program's bytes at addr (``Tracer._code_at``)
    # For an instruction that may run execve (a system call): /proc/TID/mem opened as
    # the step began, bound to the memory the thread had then, and that memory's key
    # (``Tracer.memory``), for ``_back_in_memory``; -1 and None for any other.
    mem: int = -1
    key: int | None = None

    def close(self) -> None:
        """The step is over: its /proc/TID/mem, if any, closed."""
        if self.mem >= 0:
            os.close(self.mem)


@dataclass
class Ending:
    """How a traced process ended."""

    pid: int
    ppid: int
    status: int | None = None  # raw wait status
    killed_by_us: bool = False
    # Its exit had begun before roads explain killed anything (its exit event seen, or a
    # SIGKILL of another's found then, _before_our_kill): the end it has is its own, also
    # a SIGKILL reaped only after the deadline's (_ended).
    exiting_before: bool = False
    # A fault's signal with the default disposition that was sent, not raised by a fault
    # of its instruction (``Tracer._fault_stop``): its number, and who sent it, in words
    # that follow "killed by SIGSEGV" (``record.sent_words``); 0 and "" for none.
    sent_signal: int = 0
    sent: str = ""


@dataclass
class Outcome:
    pid: int
    reached: list[str] = field(default_factory=list)
    processes: dict[int, Ending] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    written: dict[str, int] = field(default_factory=dict)  # bytes written to each, all told
    seconds: float = 0.0
    timed_out: bool = False
    # Ended by roads explain after the last stop: still running ``RUN_ON`` seconds after.
    ended_after_last_stop: bool = False
    # Why the tracer ended the run before its stops were done, in words ("" if not).
    cut_short: str = ""
    stopped: list[SelfStop] = field(default_factory=list)  # stop signals, and how it went on
    # Followed processes that a signal ended with no exit stop made, where exit stops
    # were asked for and the end was not roads explain's (``Tracer._ended``): a SIGKILL
    # that woke one while another stop of it was read may carry it past its exit stop
    # before the tracer holds it there (``Tracer._lost_exit`` narrows, not closes, that).
    exits_unseen: list[int] = field(default_factory=list)
    exe: str = ""  # /proc/PID/exe of the program as it started, before any execve of its own
    # Function stops looked for in the libraries the program opened with dlopen, and
    # found in none of them (``Tracer._lookup``), by label; none in a run that roads
    # explain ended before the program did (``timed_out``, ``cut_short``), nor one
    # of ``execed``.
    unfound: list[str] = field(default_factory=list)
    # The system calls the program's threads were all blocked in when the deadline
    # killed it (``Tracer._waiting_in``), one name each in thread order; empty where a
    # thread was running, or the deadline did not end the run.
    waiting_in: list[str] = field(default_factory=list)
    # Function stops refused once the run had begun (an ifunc in a library opened with
    # dlopen: ``Tracer._insert_function``): why, in words, by label.
    refused: dict[str, str] = field(default_factory=dict)
    # Function stops not reached when a followed process ran another program (execve),
    # whose image has none of their breakpoints: which process ran what, in words, by
    # label (the first such execve); a stop another process reaches later is reached.
    execed: dict[str, str] = field(default_factory=dict)
    # How many calls a function or system-call stop with a count (FUNC:N) counted, by
    # label, for each not reached: the program made fewer than N.
    counted: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Read:
    """What a function lookup reads of a program or library (``Tracer._functions_of``)."""
    symtab: bool  # whether it keeps a symbol table (.symtab): stripped or not
    first: int | None  # the p_vaddr of its first PT_LOAD, None for no ELF file to map
    functions: dict[str, tuple[Function, ...]]
    calls_dlopen: bool  # whether it calls dlopen, from another file (``symbols.imports``)
    # Whether it calls __libc_start_main from another file: a dynamically linked program
    # started by the C library's start-up code (crt1.o's _start), which gives it main.
    calls_start: bool = False


def _language(symbols) -> str | None:
    """The language whose compiler mangled the function ``symbols`` of a file: "Rust"
    where one is rustc's (``symbols.is_rust``), "C++" where one is mangled as the
    Itanium C++ ABI writes it (``_Z``), None where none is."""
    names = list(symbols)
    if any(is_rust(n) for n in names):
        return "Rust"
    return "C++" if any(n.startswith("_Z") for n in names) else None


def _held_by_tracer(tasks: Proc, tid: int) -> bool:
    """Whether thread ``tid`` (under ``tasks``) is in a ptrace stop now: its state in
    /proc (t, "tracing stop"); False where it cannot be read."""
    try:
        return tasks.stat(tid).state == "t"
    except RoadsError:
        return False


def _status_of(pid: int) -> Status | None:
    """/proc/PID/status, as the engine reads it; None when the process is gone or its
    status cannot be read."""
    try:
        return Proc().status(pid)
    except RoadsError:
        return None


def _stack_limit(tid: int) -> int | str | None:
    """Thread ``tid``'s soft RLIMIT_STACK, as its /proc/TID/limits gives it (the
    process's, which it may have set itself): bytes, ``record.UNLIMITED``, or None
    where it cannot be read."""
    try:
        text = Path(f"/proc/{tid}/limits").read_text()
        limit = parse_limits(text).get("Max stack size")
    except (OSError, RoadsError):
        return None
    if limit is None:
        return None
    return UNLIMITED if limit.soft is None else limit.soft


def _ppid(pid: int) -> int:
    """The parent of process ``pid`` (PPid:); 0 when its status cannot be read."""
    status = _status_of(pid)
    return 0 if status is None else status.PPid


def _namespace_pids(pid: int) -> list[int]:
    """Thread ``pid``'s ids in each pid namespace it is in, from this process's own to
    its innermost (NSpid: in /proc/PID/status); ``[pid]`` where that line cannot be read
    (a kernel before 4.1), as in one namespace."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("NSpid:"):
                    return [int(word) for word in line.split()[1:]]
    except (OSError, ValueError):
        pass
    return [pid]


def memory_refused(pid: int) -> bool:
    """Whether /proc refuses this process the memory map of process ``pid``: one that
    made itself not dumpable, or changed its ids, shows its memory only to a tracer
    with CAP_SYS_PTRACE, and ptrace refuses such a tracer its memory too (EIO)."""
    try:
        with open(f"/proc/{pid}/maps", "rb"):
            return False
    except PermissionError:
        return True
    except OSError:
        return False


def file_bias(maps: Sequence[MapsEntry], path: str, first: int | None) -> int | None:
    """Load bias of ``path``: where its offset-0 mapping starts, less the page of its
    first PT_LOAD (``first``: that segment's ``p_vaddr``, ``symbols.first_load``)."""
    if first is None:
        return None
    for area in maps:
        if area.pathname == path and area.offset == 0:
            return area.start - (first & ~0xFFF)
    return None


def _exit_code(pid: int) -> int | None:
    """Field 52 of /proc/PID/stat, exit_code (Linux 3.5; 0 unless this process may trace
    ``pid``): once its group exits (a fatal signal, exit_group) the group's exit code,
    as waitpid reports it, from that moment on, before any of its threads has ended
    (fs/proc/array.c, do_task_stat: SIGNAL_GROUP_EXIT); while a stop signal holds it
    stopped, that signal. None when it cannot be read (reaped: its status tells). Read
    here: ``Proc.stat`` leaves the field out, and its file is an input of every sample's
    capture (``capture.freshness.ENGINE_FILES``), which a change to it makes stale."""
    try:
        # As bytes: the name, which the program sets (prctl, its file's name), need not
        # be UTF-8, and the fields after it are digits.
        line = Proc().path(pid, "stat").read_bytes()
    except OSError:
        return None
    fields = line[line.rfind(b")") + 1:].split()  # field 3 on: the name may hold spaces
    return int(fields[52 - 3]) if len(fields) > 52 - 3 else None


def _pending(tid: int) -> int:
    """The signals pending for thread ``tid`` and its process (SigPnd: | ShdPnd:)."""
    status = _status_of(tid)
    if status is None:
        return 0
    return (status.SigPnd or 0) | (status.ShdPnd or 0)


def _children(proc: Proc | None = None, of: int | None = None) -> list[int]:
    """The pids of the children of process ``of`` (this one by default), by /proc
    (``proc``'s root): the ``children`` file of each of its threads, or, where the kernel
    has none (CONFIG_PROC_CHILDREN), every process whose parent it is (its stat's ppid)."""
    proc = proc or Proc()
    me = os.getpid() if of is None else of
    tasks = proc.tasks(me)
    try:
        return [int(pid) for task in os.listdir(tasks.root)
                for pid in tasks.path(int(task), "children").read_text().split()]
    except FileNotFoundError:
        pass
    found = []
    for entry in os.listdir(proc.root):
        if entry.isdigit():
            try:
                if proc.stat(int(entry)).ppid == me:
                    found.append(int(entry))
            except RoadsError:  # gone since, or not a process's stat
                continue
    return found


class _Drain:
    """A pipe for the program's output, and a thread that empties it, keeping the
    first MAX_OUTPUT bytes and dropping the rest, so that the program never blocks on
    a full pipe nor fills a disk. Its end is read until every writer has closed it;
    ``finish`` stops waiting for that a little after the run (a process the run could
    not end, holding the pipe, would otherwise hold the tracer)."""

    def __init__(self) -> None:
        try:
            self.read_end, self.write_end = os.pipe2(os.O_CLOEXEC)
        except OSError as exc:  # EMFILE, ENFILE
            raise ExplainError("cannot make a pipe for the program's output: "
                               f"{exc.strerror}") from None
        self.kept = bytearray()
        self.total = 0  # bytes read, those dropped included
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def close_write_end(self) -> None:
        if self.write_end >= 0:
            os.close(self.write_end)
            self.write_end = -1

    def start(self) -> None:
        self._thread.start()

    def _read(self) -> None:
        poller = select.poll()
        poller.register(self.read_end, select.POLLIN)
        while not self._stop.is_set():  # looked at each turn: a writer may never stop
            if not poller.poll(100):
                continue
            chunk = os.read(self.read_end, 1 << 16)
            if not chunk:
                return
            self.total += len(chunk)
            if len(self.kept) < MAX_OUTPUT:
                self.kept += chunk[:MAX_OUTPUT - len(self.kept)]

    def finish(self) -> bytes:
        """The output kept, once the pipe is read to its end, or DRAIN_WAIT seconds
        after the run while something still holds it open."""
        if self._thread.is_alive():
            self._thread.join(DRAIN_WAIT)
            self._stop.set()
            self._thread.join()
        return bytes(self.kept)

    def close(self) -> None:
        self.close_write_end()
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
        if self.read_end >= 0:
            os.close(self.read_end)
            self.read_end = -1


class _Signals:
    """The run's processes, signalled through pidfds (pidfd_open(2), Linux 5.3). A signal
    through one reaches that process, or, with PIDFD_SIGNAL_PROCESS_GROUP, what is left
    of the group it led, and never another process that was given the pid since, as one
    sent by pid or group number may: the timers signal from threads of their own at any
    moment, seconds after the program's first process may have been reaped.

    A pidfd is opened while the process is an unreaped tracee of this process (its pid
    is its own then), and closed once it is reaped or let go (``drop``), a group's
    leader's at the end of the run, under a lock that each signal holds too: none goes
    through a descriptor closed meanwhile and given to another file. Where the kernel
    gives no pidfd (Linux before 5.3, or no descriptor left), the process is signalled
    by its pid until it is reaped, and a group is by its number where its leader's pidfd
    cannot reach it (Linux before 6.9)."""

    def __init__(self) -> None:
        self._fds: dict[int, int | None] = {}  # pid -> its pidfd; None: by its pid
        self._lock = threading.Lock()
        self._by_group = True  # whether the kernel takes PIDFD_SIGNAL_PROCESS_GROUP

    def add(self, pid: int) -> None:
        """Process ``pid``, an unreaped tracee, is one of the run's."""
        try:
            fd: int | None = os.pidfd_open(pid)
        except OSError as exc:
            # A thread is signalled with its process; a process already gone (reaped
            # before its parent's event was seen) is not signalled at all: its pid
            # may be another's by now.
            if exc.errno in (errno.EINVAL, errno.ESRCH):
                return
            fd = None  # ENOSYS, EMFILE
        with self._lock:
            old = self._fds.pop(pid, None)  # a pid reaped, let go and given again
            if old is not None:
                os.close(old)
            self._fds[pid] = fd

    def drop(self, pid: int, leader: bool = False) -> None:
        """Process ``pid`` is reaped or let go: it is signalled no more, but for the
        pidfd of a group's ``leader``, kept to reach what is left of its group."""
        with self._lock:
            if leader and self._fds.get(pid) is not None:
                return
            fd = self._fds.pop(pid, None)
            if fd is not None:
                os.close(fd)

    def kill(self, pid: int, sig: int) -> None:
        """``sig`` to process ``pid``, if it is one of the run's still."""
        with self._lock:
            if pid in self._fds:
                self._send(pid, sig)

    def kill_group(self, group: int, sig: int) -> None:
        """``sig`` to process group ``group``."""
        with self._lock:
            self._send_group(group, sig)

    def kill_all(self, groups: tuple[int, ...], sig: int) -> None:
        """``sig`` to each of ``groups`` and to each process of the run."""
        with self._lock:
            for group in groups:
                self._send_group(group, sig)
            for pid in self._fds:
                self._send(pid, sig)

    def _send(self, pid: int, sig: int) -> None:
        fd = self._fds[pid]
        try:
            if fd is None:
                os.kill(pid, sig)
            else:
                signal.pidfd_send_signal(fd, sig)
        except OSError:  # ended, or reaped already
            pass

    def _send_group(self, group: int, sig: int) -> None:
        fd = self._fds.get(group)  # the group's leader, when it is one of the run's
        if fd is not None and self._by_group:
            try:
                signal.pidfd_send_signal(fd, sig, None, PIDFD_SIGNAL_PROCESS_GROUP)
                return
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # ESRCH: no process left in it
                    return
                self._by_group = False  # a kernel before 6.9
        try:
            os.killpg(group, sig)
        except OSError:
            pass

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                if fd is not None:
                    os.close(fd)
            self._fds.clear()


class Tracer:
    """One run of ``argv`` under ptrace, stopped at ``stops``; ``run`` returns its Outcome."""

    def __init__(self, argv: list[str], stops: list[StopSpec], *, on_stop: Callable[[Hit], None],
                 aslr: bool = False, follow_fork: bool = False, deadline: float = 30.0,
                 cwd: str | None = None, env: dict[str, str] | None = None,
                 progress: Callable[[str], None] = lambda s: None,
                 executable: str | None = None, address_space: int | None = None) -> None:
        self.argv = argv
        # The program's limit on address space (RLIMIT_AS, soft and hard), set in its
        # process before its execve: the sandbox's PROGRAM_ADDRESS_SPACE, as roads run
        # gives, not the tracer's own (the launcher's for a tool, TOOL_ADDRESS_SPACE);
        # None leaves the limit it inherits (--no-sandbox: the user's).
        self.address_space = address_space
        self.executable = executable  # the file to run, when argv[0] does not name it
        self.stops = stops
        self.on_stop = on_stop
        self.aslr = aslr
        self.follow_fork = follow_fork
        self.deadline = deadline
        self.cwd = cwd
        self.env = env if env is not None else dict(os.environ)
        self.progress = progress
        self.hits = {s.label: 0 for s in stops}
        self.done: set[str] = set()
        # Function stops found in no file mapped at the entry point, of a program that
        # calls dlopen: looked for again whenever the loader has mapped more (LOADED),
        # in each process (a followed child opens libraries of its own), until reached;
        # and the labels of those found in a library opened, once at least.
        self.later: list[StopSpec] = []
        self.found_later: set[str] = set()
        self.refused: dict[str, str] = {}  # label -> why (_insert_function)
        # (memory, address, count) -> the label of the stop a later lookup set there
        self._placed_later: dict[tuple[int, int, int], str] = {}
        # The first process's loader, if any (_at_exec): where it keeps r_state
        # (_r_debug + R_STATE) and where its _dl_debug_state is; whether it has said it
        # adds the program's libraries (RT_ADD); and whether the function stops were
        # set (_lookup), once those libraries are relocated or at the entry point.
        self.r_state_at = 0
        self.startup_at = 0
        self.adding = False
        self.stops_set = False
        self.static = False  # a program with no loader (AT_BASE 0): linked -static
        self._read: dict[tuple, _Read | str | None] = {}  # _functions_of, by file version
        # The breakpoints, kept for each memory (key -> _Memory). A fork makes a memory
        # with a copy of its maker's breakpoints, after which the two processes may map
        # other code at one address (each a library of its own); an execve makes one
        # with none; a process made with CLONE_VM, and a shadow, share their maker's.
        # ``memory``: the key of a process's (or a shadow's) memory, by its pid.
        self.memories: dict[int, _Memory] = {}
        self.memory: dict[int, int] = {}
        self._keys = itertools.count(1)
        # (memory, address of a breakpoint) -> whether the byte its instruction reads lies
        # in its object's own data (_data); forgotten when breakpoints are set or
        # an image or a process comes or goes.
        self._data_known: dict[tuple[int, int], bool] = {}
        # tid -> (address, rsp) of a step over a breakpoint that a signal cut short
        # (_step_over): the thread's next trap there, with that stack, is the same call.
        self.interrupted: dict[int, tuple[int, int]] = {}
        # tid -> (address, rsp) of a step over a breakpoint whose instruction, a system
        # call, a signal cut short: the kernel runs it again, the thread back on the
        # int3, unless a handler makes it fail (_restart_told); and the threads given a
        # signal by a single step, to stop at its handler's first instruction.
        self.restarting: dict[int, tuple[int, int]] = {}
        self.to_handler: set[int] = set()
        self.steps: dict[int, _Step] = {}  # tid -> its step over a breakpoint under way
        self.traced: dict[int, int] = {}  # tid -> tgid
        # tids whose PTRACE_EVENT_EXIT came: a process exits with the last of its threads
        # (its main thread may end alone, pthread_exit, and the others run on).
        self.exiting: set[int] = set()
        self.exit_taken: set[int] = set()  # tgids whose exit stop was taken
        # tgid -> the thread last found in execve, which kills the others (_execve_elsewhere)
        self.in_execve: dict[int, int] = {}
        self.fork_kind: dict[int, int] = {}  # new pid -> PTRACE_EVENT_*
        self.made_by: dict[int, _Made] = {}  # new pid -> what its maker's event said
        self.shares_memory: dict[int, int] = {}  # new pids made with CLONE_VM -> their maker
        # children traced only past breakpoints (_shadow) -> the process whose memory
        # they share, its maker
        self.shadows: dict[int, int] = {}
        # new tids stopped before their parent's event -> the status of that first stop
        self.pending: dict[int, int] = {}
        # A thread killed at a fork, vfork or clone event, whose new pid could not be read
        # then -> that event and what the memory held then: the new one is
        # found among the thread's children at its exit stop (``_unannounced_children``).
        self.lost_events: dict[int, tuple[int, _Made]] = {}
        self.groups: set[int] = set()  # process groups tracees made, besides the run's
        self.signals = _Signals()  # the run's processes, signalled through pidfds
        self._ending = False  # set once the run is being killed (_kill_all)
        # Whether a SIGKILL of roads explain's own is on its way (_before_our_kill), and
        # the lock of the deadline's timer and the tracer that decides it.
        self._killing = False
        self._kill_lock = threading.Lock()
        self.main = 0
        self.outcome: Outcome | None = None
        # time.monotonic() when the program's own process ended, and whether the wait
        # for the others (--at exit) was told (_tell_waiting).
        self._main_ended_at: float | None = None
        self._told_waiting = False
        self._timed_out = threading.Event()
        self._deadline_at = 0.0  # time.monotonic() at the run's deadline (_run)
        # time.monotonic() once every stop was made, the program running on (_run_on_over)
        self._last_stop_at = 0.0
        # tid -> the last SIGSEGV of a fault delivered to the thread's handler, with the pc
        # and sp it was delivered at (``_fault_stop``): where the kernel cannot write the
        # handler's frame (the stack overflowed), its own SIGSEGV follows, at that pc.
        self._handled: dict[int, tuple[Fault, int, int]] = {}
        self._delay_sent: set[str] = set()
        # tid -> the number of the system call a delay's SIGSTOP cut short, which the
        # kernel runs on (as restart_syscall, for some): no return of it (_syscall_stop).
        self.cut_by_delay: dict[int, int] = {}
        # Stop signals (``_group_stop``): tgid -> the signal delivered and who sent it;
        # the threads held in the group-stop it made (tid -> tgid), and since when.
        self.stopping: dict[int, tuple[int, SigInfo]] = {}
        self.held: dict[int, int] = {}
        self.held_since: dict[int, float] = {}
        # tgid -> the wait status of a held thread of it that ended, killed while held.
        self.held_ended: dict[int, int] = {}
        self.syscalls = any(s.kind == "syscall" for s in stops)
        self.compat_told: set[int] = set()  # tgids said to make 32-bit calls (_syscall_stop)
        self._children_before: set[int] = set()  # this process's children before the run

    # ------------------------------------------------------------------ start

    def _spawn(self, out: int, err: int, limit: float) -> None:
        """Fork and exec the program, traced from its first instruction: its pid is
        ``main``. The execve is waited for until ``limit`` (time.monotonic()) at most: one
        of a file on a file system that does not answer does not return.

        The child is known to the run's clean-up (``main``, its pidfd, its group) before
        a signal that ends the command is raised (``interrupts.held``: a handler's
        exception raised as the fork returned lost the child's pid), and the caller's
        clean-up (``_run``) kills and reaps it from then on, while its execve is waited
        for too. Raised between, the child was left to run its program untraced, or held
        at its first stop, traced without PTRACE_O_EXITKILL. A child whose start failed
        is ended here, and ``main`` is 0 again."""
        path = self.executable or self.argv[0]
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        tracer = os.getpid()
        try:
            with interrupts.held():  # a signal's exception raised at its end, if any
                pid = os.fork()
                if pid == 0:  # the child: never returns
                    self._child(path, tracer, ready_r, ready_w, out, err)
                # Its group made here too, as the child makes it: the clean-up's wait for
                # the group reaches the child before it has run a line.
                with contextlib.suppress(OSError):
                    os.setpgid(pid, pid)
                self.main = pid
                self.signals.add(pid)
        except BaseException:
            os.close(ready_r)
            raise
        finally:
            os.close(ready_w)
        try:
            message = _read_until_closed(ready_r, limit)
        finally:
            os.close(ready_r)
        if message is None:
            failed = ExplainError(f"cannot start {path}: its execve did not return within "
                                  f"{self.deadline:g} s (--deadline); "
                                  + self._unstarted("is its file on a file system that does "
                                                    "not answer?"))
        elif message.startswith(b"FileNotFoundError") and os.path.isfile(path):
            # The file is there: what is not is its interpreter or its ELF loader.
            failed = ExplainError(not_executed(self.argv[0], path, errno.ENOENT, "explain"))
        elif message:
            failed = ExplainError(f"cannot start {path}: {message.decode(errors='replace')}"
                                  + _capabilities_note(path, message))
        else:
            return
        # A child that told its failure has only to exit, but is not waited for without
        # a bound either: killed and reaped as one whose execve hangs.
        try:
            _end_started(pid)
        except ExplainError as stuck:  # told beside the error that ended the run
            failed.add_note(stuck.message)
        self.signals.drop(pid)
        self.main = 0  # nothing left for the clean-up to end
        raise failed

    def _child(self, path: str, tracer: int, ready_r: int, ready_w: int, out: int,
               err: int) -> None:
        """In the child just forked by ``tracer`` (``_spawn``): the program made ready and
        executed, traced; never returns. A failure is told through ``ready_w``."""
        try:
            # Killed should the tracer die before the program's first stop, where
            # PTRACE_O_EXITKILL takes over (SIGKILL, a crash: no clean-up of its own);
            # left, the child would run the program untraced. Of no use after, harmless.
            pt.die_with(tracer)
            os.close(ready_r)
            os.setpgid(0, 0)
            null = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(err, 2)
            if self.cwd:
                os.chdir(self.cwd)
            # Python ignores SIGPIPE and SIGXFSZ for itself, and an ignored signal
            # stays ignored across execve: the program would get EPIPE where it dies
            # of SIGPIPE when a shell starts it. Both set back, as subprocess does
            # (restore_signals).
            for sig in RESTORED_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            if self.address_space is not None:
                resource.setrlimit(resource.RLIMIT_AS,
                                   (self.address_space, self.address_space))
            pt.randomize(self.aslr)
            pt.traceme()
            os.execve(path, self.argv, self.env)
        except BaseException as exc:  # noqa: BLE001 - reported through the pipe
            try:
                os.write(ready_w, f"{type(exc).__name__}: {exc}".encode()[:500])
            finally:
                os._exit(127)

    def run(self) -> Outcome:
        # Orphans of the run (a daemon's child, once its parent is gone) come to this
        # process rather than to init, to be ended with the run (``_kill_adopted``).
        self._children_before = set(_children())
        subreaper = pt.child_subreaper(True)
        try:
            return self._run()
        finally:
            pt.child_subreaper(subreaper)
            for step in self.steps.values():  # a run cut short while a step was under way
                step.close()
            self.steps.clear()

    def _run(self) -> Outcome:
        # The program's output goes to pipes that threads read, keeping the first
        # MAX_OUTPUT bytes of each: a file would hold all of it (a program that writes
        # gigabytes would fill the disk, or the sandbox's small /tmp, and fail there).
        drains: list[_Drain] = []
        try:
            drains.append(_Drain())  # stdout
            drains.append(_Drain())  # stderr: should this fail, the first is closed below
            started = time.monotonic()
            # The deadline counts from here: a start that takes its time (an execve that
            # blocks, a slow first stop) is part of the run it bounds.
            self._deadline_at = started + self.deadline
            timers = [threading.Timer(s.seconds, self._delay, (s,))
                      for s in self.stops if s.kind == "delay"]
            mask = None  # this thread's signal mask before the run, once SIGCHLD is blocked
            ignored = False  # whether SIGCHLD was ignored before the run
            try:
                # The clean-up below ends the program from its fork on (``_spawn``).
                self._spawn(drains[0].write_end, drains[1].write_end, self._deadline_at)
                for d in drains:
                    d.close_write_end()
                self.outcome = Outcome(self.main)
                self.outcome.processes[self.main] = Ending(self.main, os.getpid())
                pid, status = self._start_stop(self._deadline_at)
                if not os.WIFSTOPPED(status):
                    self.outcome.processes[self.main].status = status
                    raise ExplainError(f"{self.argv[0]} ended before it ran")
                options = (pt.PTRACE_O_TRACESYSGOOD | pt.PTRACE_O_TRACEEXEC | pt.PTRACE_O_TRACEEXIT
                           | pt.PTRACE_O_EXITKILL | pt.PTRACE_O_TRACEFORK
                           | pt.PTRACE_O_TRACEVFORK | pt.PTRACE_O_TRACECLONE)
                pt.call(pt.PTRACE_SETOPTIONS, pid, 0, options)
                self.traced[pid] = pid
                self._new_memory(pid)
                self.outcome.exe = os.readlink(f"/proc/{pid}/exe")
                self._at_exec(pid)
                # Before the timers start: their threads take this thread's mask.
                mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
                ignored = _sigchld_heard()
                timers.append(threading.Timer(max(0.0, self._deadline_at - time.monotonic()),
                                              self._time_out))
                for t in timers:
                    t.daemon = True
                    t.start()
                for d in drains:
                    d.start()
                self._resume(pid)
                self._loop()
            except BaseException as exc:
                _stop(timers)
                try:
                    if self.main:  # not where the fork failed, or a failed start was ended
                        self._kill_all()
                except ExplainError as failed:  # told beside the error that ended the run
                    exc.add_note(failed.message)
                raise
            else:
                _stop(timers)
                self._kill_all()
            finally:
                if mask is not None:
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                    if ignored:
                        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
            self.outcome.seconds = time.monotonic() - started
            self.outcome.timed_out = self._timed_out.is_set()
            # One a process's execve took away was said to be so then (``_execed``): its
            # libraries opened later, if any, were another program's.
            unfound = [spec for spec in self.later if spec.label not in self.found_later
                       and spec.label not in self.outcome.execed]
            # Ended by roads explain before the program ended (the deadline, or
            # ``cut_short``): the program might have opened such a library later.
            ended_first = self.outcome.timed_out or bool(self.outcome.cut_short)
            self.outcome.unfound = [] if ended_first else [spec.label for spec in unfound]
            self.outcome.refused = dict(self.refused)
            self.outcome.counted = {s.label: self.hits[s.label] for s in self.stops
                                    if s.kind in ("func", "syscall") and s.count > 1
                                    and s.label not in self.done}
            for spec in unfound:
                if self.outcome.timed_out:
                    self.progress(f"--at {spec.label}: the deadline passed ({self.deadline:g} "
                                  "s, --deadline) before the program opened a library with "
                                  f"a function {spec.name!r}")
                elif ended_first:
                    self.progress(f"--at {spec.label}: roads explain ended the run before "
                                  f"the program opened a library with a function {spec.name!r}")
                else:
                    self.progress(f"--at {spec.label}: no function {spec.name!r} was found "
                                  "in any library the program opened")
            for d, attr in zip(drains, ("stdout", "stderr")):
                setattr(self.outcome, attr, d.finish().decode(errors="backslashreplace"))
                self.outcome.written[attr] = d.total
        finally:
            for d in drains:
                d.close()
            self.signals.close()  # the timers ended: no signal goes through them now
        return self.outcome

    def _start_stop(self, limit: float) -> tuple[int, int]:
        """The program's first wait status, its stop once its execve is done, waited for
        until ``limit`` (time.monotonic()) at most: an execve may block past the point
        where the pipe that reports a failed start closes (the loader reading a file
        system that does not answer). Polled, the pause doubling as at the end of a run
        (``_waited``): SIGCHLD is not blocked yet. The caller's clean-up ends it."""
        got = _waited(self.main, limit)
        if got is None:
            raise ExplainError(f"{self.argv[0]} did not stop at its start within "
                               f"{self.deadline:g} s (--deadline): its execve has not "
                               "ended; " + self._unstarted("is its file, or a library's, on "
                                                           "a file system that does not "
                                                           "answer?"))
        return got

    def _unstarted(self, otherwise: str) -> str:
        """Why a start did not end within the deadline, as far as can be told: a deadline
        shorter than ``SHORT_START`` is the likely cause (a start is a fork, an execve
        and the loader's work: tens of milliseconds, more on a loaded machine); else
        ``otherwise``, the question a longer one leaves."""
        if self.deadline < SHORT_START:
            return ("a program may take longer than that to start: give a longer "
                    "--deadline")
        return otherwise

    def _time_out(self) -> None:
        if self._last_stop_at:
            # Every stop made, the program runs on until the deadline at most, and the
            # loop ends the run then (``_run_on_over``): ended after its last stop, not
            # cut short by the deadline. A SIGKILL from this thread would be taken for
            # the program's own end.
            return
        self._before_our_kill()
        # Every stop made, the run is being ended already (``_kill_all``): the deadline,
        # passing while that takes its time, ends nothing the clean-up would not.
        if not self._ending:
            if self.outcome is not None and self.main:
                self.outcome.waiting_in = self._waiting_in(self.main)
            self._timed_out.set()
        self._kill_every(signal.SIGKILL)

    def _before_our_kill(self) -> None:
        """Before the first SIGKILL of roads explain's own, the deadline's or the clean-up's
        (``_kill_all``): each followed process whose exit a SIGKILL has begun already,
        which is not ours then (the program's, say), ends on its own
        (``Ending.exiting_before``), also where its exit event is not seen yet, the tracer
        busy reading a stop. /proc/PID/stat tells, from the moment that SIGKILL came: its
        exit code is then the group's (``_exit_code``)."""
        with self._kill_lock:
            if self._killing or self.outcome is None:
                return
            for ending in list(self.outcome.processes.values()):
                if ending.status is None and not ending.exiting_before:
                    ending.exiting_before = _exit_code(ending.pid) == signal.SIGKILL
            self._killing = True

    def _kill_every(self, sig: int) -> None:
        """``sig`` to the run's group, the groups its tracees made, and every process of
        the run, also one that left the groups (``setsid``); through pidfds
        (``_Signals``). A copy of the groups: the loop's thread changes them."""
        self.signals.kill_all((self.main, *self.groups.copy()), sig)

    def _delay(self, spec: StopSpec) -> None:
        """SIGSTOP to the program's process, not to one thread: the kernel gives it to a
        thread that is still running (one that has ended, as the main thread does by
        pthread_exit, takes no signal), and any of its threads reports it."""
        self._delay_sent.add(spec.label)
        self.signals.kill(self.main, signal.SIGSTOP)  # none once it is reaped

    def _kill_all(self) -> None:
        """Nothing of the run survives it: its groups, then every tracee left, reaped."""
        self._ending = True
        self._before_our_kill()
        self._kill_every(signal.SIGKILL)
        for tid in [*self.traced, *self.pending]:
            # A tracee held in a stop we were told of already (its exit stop, when an
            # error of ours ended the loop there; a new one's first stop, its parent's
            # event not seen yet) dies only once let go: no wait would report that stop
            # again.
            try:
                pt.call(pt.PTRACE_CONT, tid, 0, 0)
            except OSError:
                pass
        limit = time.monotonic() + KILL_WAIT
        pause = KILL_PAUSES[0]
        while True:
            try:
                event = self._poll()
            except ChildProcessError:
                if not self._kill_adopted():
                    break
                event = None  # an orphan killed just now: reaped at a later turn
            pid, status = event or (0, 0)
            if pid == 0:
                self._kill_adopted()
                now = time.monotonic()
                if now > limit:
                    raise ExplainError(f"the traced program (process {self.main}) could not be "
                                       f"ended within {KILL_WAIT:g} s of SIGKILL")
                # Each look reads /proc (every process's stat, where the kernel keeps no
                # children files): while nothing ends, the pause doubles, and a SIGCHLD
                # (blocked in this thread for the run, pending till taken) cuts it short.
                signal.sigtimedwait([signal.SIGCHLD], min(pause, limit - now))
                pause = min(2 * pause, KILL_PAUSES[1])
                continue
            pause = KILL_PAUSES[0]
            if os.WIFSTOPPED(status):  # its exit stop (PTRACE_EVENT_EXIT comes even on SIGKILL)
                try:
                    pt.call(pt.PTRACE_CONT, pid, 0, 0)
                except OSError:
                    pass
                continue
            self._ended(pid, status, killed=True)

    def _kill_adopted(self) -> bool:
        """Kill and reap the run's orphans this process adopted (``run``): the children
        it has now that it had not before the run and that the waits for the run's
        groups do not reach (a daemon that left the group with ``setsid`` and whose
        parent, not followed, is gone). Whether any was found, alive or reaped: one
        reaped now may have handed this process children of its own as it exited, which
        the next look finds (the caller looks until one finds none)."""
        found = False
        for pid in set(_children()) - self._children_before - {self.main}:
            if pid in self.traced or pid in self.fork_kind:
                continue  # the groups' waits take it
            try:
                got, status = os.waitpid(pid, pt.WALL | os.WNOHANG)
            except ChildProcessError:
                continue
            found = True
            if got == 0 or os.WIFSTOPPED(status):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                # A tracee of ours the run never told of (its parent killed as it made
                # it: the parent's event never came) may be held in a stop, its exit
                # stop among them, where SIGKILL no longer reaches it and which this
                # wait reports once: let go, it ends (ESRCH for one in no stop of ours).
                try:
                    pt.call(pt.PTRACE_CONT, pid, 0, 0)
                except OSError:
                    pass
        return found

    # ------------------------------------------------------------------ breakpoints

    # ptrace reads and writes memory through a thread that is stopped: ``tid``, whose
    # process (``tgid``) shares the memory. A breakpoint no longer wanted is taken out
    # of each process where it is hit next (a followed child holds a copy of it).
    # ptrace writes a word of 8 bytes; a breakpoint is one byte of it, and the others
    # are written back as they are now, since another breakpoint may stand among them
    # (two functions 7 bytes apart, as gcc -O0 lays out empty ones). The word is the
    # aligned one that holds the byte: the 8 bytes from the byte on may run past the end
    # of its mapping (a function in the last bytes of a page, the next one not mapped),
    # and the kernel reads or writes a word whole or not at all (EIO).

    def _byte_at(self, tid: int, addr: int) -> int:
        """The byte at ``addr``."""
        base = addr & ~7
        return (pt.peek(tid, base) >> 8 * (addr - base)) & 0xFF

    def _put_byte(self, tid: int, addr: int, byte: int) -> None:
        """The byte at ``addr`` set to ``byte``, the other 7 of its word left as they are."""
        base = addr & ~7
        shift = 8 * (addr - base)
        pt.poke(tid, base, (pt.peek(tid, base) & ~(0xFF << shift)) | (byte << shift))

    def _code_at(self, tid: int, addr: int) -> int:
        """The 8 bytes of the program at ``addr``, as they were before any breakpoint
        of this tracer was put among them; those past the end of the mapping, 0 (an
        instruction there ends before it)."""
        base = addr & ~7
        words = pt.peek(tid, base)
        if base != addr:
            try:
                words |= pt.peek(tid, base + 8) << 64
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
        word = (words >> 8 * (addr - base)) & 0xFFFFFFFFFFFFFFFF
        table = self._table(tid)
        for i in range(8):
            if addr + i in table:
                word = (word & ~(0xFF << 8 * i)) | (table[addr + i][0] << 8 * i)
        return word

    # ------------------------------------------------------------------ memories

    def _new_memory(self, owner: int, copy: _Made | None = None) -> None:
        """A memory of its own for process ``owner``: its first, an execve's (no
        breakpoint), or a fork's copy of its maker's (``copy``: its breakpoints then);
        the one it had is let go (``_leave_memory``)."""
        self._leave_memory(owner)
        key = next(self._keys)
        self.memory[owner] = key
        self.memories[key] = _Memory() if copy is None else _Memory(
            copy.table, set(copy.breakpoints), set(copy.removed))
        self._data_known.clear()

    def _share_memory(self, owner: int, made: _Made) -> None:
        """``owner`` shares the memory of the process that made it (CLONE_VM), whose
        breakpoints are what they are now; a copy of them then where that memory is no
        longer known (its last process gone before this one was seen)."""
        if made.memory in self.memories:
            self._leave_memory(owner)
            self.memory[owner] = made.memory
            self._data_known.clear()
        else:
            self._new_memory(owner, made)

    def _leave_memory(self, owner: int) -> None:
        """``owner`` (a process, or a shadow) no longer has its memory: it ended, ran
        another program, or was let go."""
        key = self.memory.pop(owner, None)
        if key is not None:
            self._collect(key)

    def _collect(self, key: int | None) -> None:
        """The memory ``key`` forgotten once no process has it, nor a process made with
        CLONE_VM and not yet seen, which shares it (``_share_memory``)."""
        if key in self.memories and key not in self.memory.values() \
                and not any(made.memory == key for made in self.made_by.values()):
            del self.memories[key]
            self._forget_placed(key)

    def _forget_placed(self, key: int | None, addr: int | None = None) -> None:
        """Forget which stops a later lookup set in memory ``key`` (``_placed_later``):
        at ``addr``, or anywhere."""
        self._placed_later = {k: v for k, v in self._placed_later.items()
                              if k[0] != key or (addr is not None and k[1] != addr)}

    def _unmade(self, tid: int) -> None:
        """What ``tid``'s maker's event said of it is done with (``made_by``): seen, or
        ended unseen."""
        made = self.made_by.pop(tid, None)
        if made is not None:
            self._collect(made.memory)

    def _owner(self, tid: int) -> int:
        """Who ``tid``'s memory is kept for (``memory``): a shadow itself, a thread its
        process."""
        return tid if tid in self.shadows else self.traced.get(tid, tid)

    def _mem(self, tid: int) -> _Memory:
        """The breakpoints of ``tid``'s memory; none for one not known (not kept)."""
        key = self.memory.get(self._owner(tid))
        return self.memories[key] if key is not None else _Memory()

    def _table(self, tid: int) -> dict[int, tuple[int, list[StopSpec | str]]]:
        """The breakpoints in ``tid``'s memory, by address."""
        return self._mem(tid).table

    def _in_memory_of(self, pid: int, tgid: int) -> bool:
        """Whether process ``pid`` runs in the memory that process ``tgid`` has in the
        tracer's books: compared with each process or shadow that has it, ``tgid``
        first (``_same_memory_as``). False where none can tell."""
        sharers = sorted(self._sharers(tgid), key=lambda owner: owner != tgid)
        return any(self._same_memory_as(pid, owner) for owner in sharers)

    def _same_memory_as(self, tid: int, owner: int) -> bool | None:
        """Whether thread ``tid`` runs in the address space of ``owner`` (a shadow, or a
        process compared through a thread of it that runs, its main thread first: one
        ended has no memory left to compare), by kcmp(2); None where it cannot tell."""
        if owner in self.shadows:
            return pt.same_memory(tid, owner)
        tasks = Proc().tasks(owner)
        threads = sorted((t for t, g in self.traced.items() if g == owner
                          and t not in self.exiting and not tasks.exited(t)),
                         key=lambda t: t != owner)
        for thread in threads:
            same = pt.same_memory(tid, thread)
            if same is not None:
                return same
        return None

    def _sharers(self, tid: int) -> list[int]:
        """The processes and shadows whose memory is ``tid``'s."""
        key = self.memory.get(self._owner(tid))
        return [owner for owner, k in self.memory.items() if k == key]

    def _insert(self, tid: int, tgid: int, addr: int, what: StopSpec | str) -> None:
        self._data_known.clear()
        if tgid not in self.memory:
            self._new_memory(tgid)
        memory = self._mem(tgid)
        table = memory.table
        if addr in table and not self._held(tgid, addr) and self._byte_at(tid, addr) != INT3:
            # Kept in this memory from code that it no longer maps there (a library
            # closed while a thread stepped over its breakpoint, ``_unmapped``, and
            # another opened at its address since): its original byte is not what is
            # there now. Not where our int3 is still there.
            del table[addr]
        # One entry for each thing to do there: a second process of this memory setting
        # the same breakpoint (CLONE_VM) must not count a call twice.
        if addr in table:
            if what not in table[addr][1]:
                table[addr][1].append(what)
            if addr in memory.holding:
                return
        else:
            table[addr] = (self._byte_at(tid, addr), [what])
        self._put_byte(tid, addr, INT3)
        memory.holding.add(addr)

    def _held(self, tgid: int, addr: int) -> bool:
        """Whether our int3 at ``addr`` in ``tgid``'s memory may still be there, or its
        trap still come: the memory holds it, or it was taken out while a trap of it may
        be on its way (``removed``), a thread of it is stepping over it, or a process not
        followed shares the memory (a shadow)."""
        memory = self._mem(tgid)
        sharers = self._sharers(tgid)
        return (addr in memory.holding or addr in memory.removed
                or any(step.addr == addr and self._owner(t) in sharers
                       for t, step in self.steps.items())
                or any(t in self.shadows for t in sharers))

    def _remove_here(self, tid: int, tgid: int, addr: int) -> None:
        memory = self._mem(tgid)
        self._put_byte(tid, addr, memory.table[addr][0])
        memory.holding.discard(addr)
        memory.removed.add(addr)
        sharers = self._sharers(tgid)
        for kept in (self.interrupted, self.restarting):  # no trap comes back here
            for other, (at, _) in list(kept.items()):
                if at == addr and self._owner(other) in sharers:
                    del kept[other]

    def _stale_trap(self, tid: int, tgid: int, addr: int) -> bool:
        """Whether ``tid``'s SIGTRAP is the int3 this tracer had at ``addr`` and took out
        since: another thread's last hit removed it while this one had executed it
        already, its trap not yet reported. The kernel marks a trap of the processor's
        own (SI_KERNEL); a SIGTRAP the program sends itself (raise, kill) is its own.
        (Not one whose original byte was forgotten: its library unmapped, ``_unmapped``.)"""
        memory = self._mem(tgid)
        return addr in memory.removed and addr in memory.table \
            and pt.signal_code(tid) == SI_KERNEL

    def _at_exec(self, pid: int) -> None:
        """The program has just been loaded, its loader not yet run: where the function
        stops are to be set. A dynamically linked program's loader maps the libraries it
        needs, relocates them, tells a debugger so by calling ``_dl_debug_state`` with
        its ``_r_debug.r_state`` RT_CONSISTENT, and only then runs their constructors
        (``_dl_init``) and jumps to the entry point (glibc's elf/rtld.c, dl_main): a
        breakpoint there (STARTUP) has every call from the constructors on counted. A
        static program has no loader: its C library's start-up code, after the entry
        point, runs its constructors. The entry point gets a breakpoint in both (ENTRY):
        a loader whose report was not seen (one that keeps r_debug elsewhere) has the
        stops set there, as before any of the program's own code runs."""
        if not any(s.kind == "func" for s in self.stops):
            return
        self._insert(pid, pid, _entry_point(pid), ENTRY)
        base = auxv_dict(Proc().auxv(pid)).get("AT_BASE", 0)
        self.static = not base
        report = self._loader_report(pid, base) if base else None
        if report is not None:
            self.startup_at, self.r_state_at = report
            self._insert(pid, pid, self.startup_at, STARTUP)

    def _loader_report(self, pid: int, base: int) -> tuple[int, int] | None:
        """The addresses of ``_dl_debug_state`` and of r_state in the loader mapped at
        ``base`` (AT_BASE) in process ``pid``; None for a loader without them."""
        maps = Proc().maps(pid)
        loader = next((m.pathname for m in maps if m.start == base and m.offset == 0
                       and m.pathname.startswith("/")), None)
        read = self._functions_of(loader) if loader else None
        if not isinstance(read, _Read):
            return None
        bias = file_bias(maps, loader, read.first)
        report = bound(read.functions, "_dl_debug_state")
        try:
            r_debug = data_object(read_bytes(Path(loader)), loader, "_r_debug")
        except (RoadsError, OSError):
            return None
        if bias is None or report is None or report.ifunc or r_debug is None:
            return None
        return bias + report.st_value, bias + r_debug + R_STATE

    def _libraries_ready(self, tid: int) -> bool:
        """At the loader's ``_dl_debug_state`` (STARTUP): whether it reports the
        libraries the program starts with mapped and relocated, their constructors not
        yet run. Its first report says it begins to add them (RT_ADD); audit modules
        (LD_AUDIT) are loaded before, each in a namespace of its own, while the
        program's r_state still says RT_CONSISTENT."""
        r_state = pt.peek(tid, self.r_state_at) & 0xFFFFFFFF
        if r_state == RT_ADD:
            self.adding = True
        return self.adding and r_state == RT_CONSISTENT

    def _drop(self, tid: int, tgid: int, addr: int, what: str) -> None:
        """Take ``what`` off the breakpoint at ``addr``, the int3 with it if nothing else
        is left to do there."""
        table = self._table(tgid)
        if addr in table and what in table[addr][1]:
            table[addr][1].remove(what)
            if not table[addr][1] and addr in self._mem(tgid).holding:
                self._remove_here(tid, tgid, addr)

    def _lookup(self, tid: int, pid: int, later: bool = False) -> None:
        """Once the loader has relocated the libraries the program starts with, or at
        the entry point (``_at_exec``): a breakpoint for each function asked for, at the
        definition a call binds to (``symbols.bound``), looked for in the executable,
        then in each file the process maps. One found in none of them, in a program that
        calls ``dlopen``, is looked for again (``later``), and set in each library that
        defines it, each time the loader has mapped more libraries: it calls
        ``_dl_debug_state``, where debuggers learn of them (glibc's r_debug protocol),
        once a library opened is mapped (``LOADED``). The files are read through the
        thread held here, ``tid``: once the main thread has ended (pthread_exit) while
        others run on, /proc/PID shows no memory of the process, /proc/TID all of it."""
        proc = Proc()
        maps = proc.maps(tid)
        exe = proc.exe(tid)
        files = [exe] + [name for name in dict.fromkeys(m.pathname for m in maps)
                         if name.startswith("/") and name != exe]
        tables: dict[str, tuple[int, dict[str, tuple[Function, ...]]] | None] = {}
        unread: list[str] = []  # why a mapped file's functions could not be read
        symtab: dict[str, bool] = {}  # whether a file read keeps a symbol table

        def table(path: str) -> tuple[int, dict[str, tuple[Function, ...]]] | None:
            """The load bias of ``path`` and the functions it defines; None for a file
            that is not a program or library mapped here, or whose tables cannot be read
            (said in ``unread``, for the error of a function not found)."""
            if path not in tables:
                tables[path] = None
                read = self._functions_of(path)
                if isinstance(read, str):
                    unread.append(read)
                elif read is not None:
                    symtab[path] = read.symtab
                    bias = file_bias(maps, path, read.first)
                    if bias is not None:
                        tables[path] = bias, read.functions
            return tables[path]

        def find_all(name: str) -> list[tuple[str, int, Function]]:
            found = []
            for path in files:
                known = table(path)
                if known is not None:
                    chosen = bound(known[1], name)
                    if chosen is not None:
                        found.append((path, known[0], chosen))
            return found

        def find(name: str) -> tuple[str, int, Function] | None:
            """The first definition: the one a call from the program binds to."""
            found = find_all(name)
            return found[0] if found else None

        if later:  # each time: set where it is not yet (_insert keeps one of each)
            # In every library that defines it: one opened with dlopen (RTLD_LOCAL) is
            # looked up in a scope of its own, where its own definition comes first, and
            # none of them was mapped at the start (else the stop was set then).
            for spec in self._pending_later():
                found_all = find_all(spec.name)
                same = self._same_stop_later(pid, spec, found_all)
                if same:
                    self.refused[spec.label] = same
                    self.progress(f"--at {spec.label}: {same}; the run goes on without "
                                  "this stop")
                    continue
                for found in found_all:
                    self.found_later.add(spec.label)
                    self._insert_function(tid, pid, spec, *found, later=True)
            return
        # Two spellings of one function (malloc and malloc@@GLIBC_2.2.5, a C++ function
        # by its source name and by its symbol) are one stop, known only once they are
        # resolved: each stopped the same call, twice.
        placed: dict[tuple[int, int], str] = {}
        for spec in self.stops:
            if spec.kind != "func":
                continue
            found = find(spec.name)
            if spec.name == "_start" and (found is None or found[0] != exe):
                # The program's entry point, kept in its ELF header (e_entry) with symbols
                # or without; not a library's _start (the loader's own, run already).
                self._insert(tid, pid, _entry_point(pid), spec)
                continue
            if found is None and spec.name == "main":
                start = find("__libc_start_main")
                read = self._functions_of(exe)
                own_start = (start is not None and start[0] != exe and isinstance(read, _Read)
                             and not read.calls_start)
                if own_start:
                    # A dynamically linked program, stripped or not, with no main and no
                    # call of the shared C library's __libc_start_main (its .dynsym would
                    # import it): its own _start (-nostartfiles) never calls it, and the
                    # breakpoint there would wait for the program's end.
                    start = None
                if start is None or start[2].ifunc:
                    # A stripped static program: its C library's start-up code is in
                    # it, nameless. One that keeps its symbol table has no main at all:
                    # it starts without that code (-nostdlib), static or not. Said with
                    # the stops that need no symbol.
                    why = ("a stripped program with no shared C library"
                           if not symtab.get(exe, True) and not own_start else
                           "a program that does not start with the C library's start-up "
                           "code, which calls main: one linked with -nostdlib or "
                           "-nostartfiles, say")
                    given = ("; main is the stop taken where no --at is given"
                             if spec.default else "")
                    raise ExplainError(f"{self.argv[0]}: no symbol main and no "
                                       f"__libc_start_main to find it by ({why}{given}): "
                                       "stop at _start, its entry point, or at a system "
                                       "call, a delay or its exit")
                self._insert(tid, pid, start[1] + start[2].st_value, "libc_start_main")
                continue
            if found is None and "@" not in spec.name:
                found = self._cxx_function(spec, files, table, find)
            elif found is not None and found[0] != exe and "@" not in spec.name:
                self._shadowed(spec, found[0], table(exe))
            if found is None:
                for path in files if "@" not in spec.name else ():
                    known = table(path)
                    old = old_versions(known[1], spec.name) if known else []
                    if old:
                        lib = os.path.basename(path)
                        raise ExplainError(
                            f"--at {spec.label}: {lib} keeps only old versions of "
                            f"{spec.name!r} ({', '.join(old)}), for programs linked against "
                            f"an older {lib}; a program linked now cannot call it. To stop "
                            f"there, name the version: --at {old[0]}")
                if self._wait_for_dlopen(tid, pid, spec, files, find):
                    continue
                unreadable = f" (not read: {'; '.join(unread)})" if unread else ""
                stripped = "" if symtab.get(exe, True) else (
                    f"; {self.argv[0]} is stripped: it has no symbol table (.symtab) to name "
                    "the functions it does not share with its libraries (--at _start, its "
                    "entry point, needs none, nor does --at main where the C library is a "
                    "shared one)")
                # No loader (AT_BASE 0): a program linked -static may call dlopen, its
                # own copy, with no .dynsym entry to tell the call by. Its C library has
                # a _dl_debug_state and an _r_debug too, but the libraries it opens are
                # not searched.
                opens = ("; it is linked -static: a library it opens with dlopen is not "
                         "searched" if self.static else
                         "; nor does it call dlopen, to open another (a library the C "
                         "library opens on its own, as iconv's converters, is not searched)")
                known = table(exe)
                language = _language(known[1]) if known else None
                cxx = ("; it is C++, whose functions the linker knows by their mangled "
                       "names: one of a template, a constructor or an operator is named so, "
                       "as nm lists it" if language == "C++" else
                       "; it is Rust, whose functions the linker knows by their mangled "
                       "names: a generic one, or one the compiler inlined, has no symbol of "
                       "its own, and any that nm lists may be named so" if language == "Rust"
                       else "")
                raise ExplainError(f"--at {spec.label}: no function {spec.name!r} in "
                                   f"{shellwords.quote(self.argv[0])} or the libraries "
                                   "loaded with it"
                                   f"{unreadable}{self._inlined_words(exe, spec.name)}"
                                   f"{stripped}{opens}{cxx}")
            path, bias, chosen = found
            key = (bias + chosen.st_value, spec.count)
            if key in placed:
                where = self.argv[0] if path == exe else os.path.basename(path)
                raise ExplainError(f"--at {placed[key]} and --at {spec.label} name one "
                                   f"function, {chosen.name!r} in {where}: the same stop; "
                                   "give it once")
            placed[key] = spec.label
            self._insert_function(tid, pid, spec, *found)

    def _same_stop_later(self, pid: int, spec: StopSpec,
                         found: list[tuple[str, int, Function]]) -> str:
        """Why the function stop ``spec``, found in libraries opened with dlopen
        (``found``), is refused: another --at names the same function there (as at the
        start, ``_lookup``), whose stop it would make a second time at each call; ""
        where none does. Each stop is kept at the function's address in the memory of
        process ``pid`` and its count, the first one found there winning, until the
        library there is closed (``_unmapped``)."""
        memory = self.memory.get(pid)
        keys = [(memory, bias + chosen.st_value, spec.count) for _, bias, chosen in found]
        for key, (path, _, chosen) in zip(keys, found):
            other = self._placed_later.get(key, spec.label)
            if other != spec.label:
                return (f"--at {other} names the same function, {chosen.name!r} in "
                        f"{os.path.basename(path)}: the same stop")
        self._placed_later.update(dict.fromkeys(keys, spec.label))
        return ""

    def _inlined_words(self, exe: str, name: str) -> str:
        """Why a function of the program's source has no symbol to stop at, where its
        debugging information says it: the compiler inlined it (a static function at
        -O1 and above: square() of a program built -O2 was "no function 'square'", which
        its source plainly has; gcc inlines one marked always_inline at -O0 too, with
        DW_AT_inline DW_INL_declared_inlined). "" where it does not say so."""
        try:
            data = read_bytes(Path(exe))
        except (OSError, RoadsError):
            return ""
        if not inlined(data, name):
            return ""
        return (f"; {self.argv[0]}'s debugging information names a function {name!r} that "
                "the compiler inlined into its callers (gcc -O1 and above, and at -O0 too "
                "for a function marked always_inline), leaving it no code of its own to stop "
                "at: compile it with -O0, as roads explain compiles a .c file, and without "
                "always_inline")

    def _shadowed(self, spec: StopSpec, path: str, known) -> None:
        """Say so where ``spec``'s name, found as a library's function (at ``path``: the C
        library's read), is also the name the source gives a C++ or Rust function of the
        program itself (``known``, its functions), which --at then does not stop at: a
        Rust program's own read was passed over for the C library's, without a word."""
        own = cxx_named(known[1], spec.name) if known else []
        if own:
            written = ", ".join(f"{source_name(s)} ({s})" for s in own)
            self.progress(f"--at {spec.label}: {os.path.basename(path)}'s {spec.name}, not the "
                          f"program's own {_language(own)} function{'s' if len(own) > 1 else ''}"
                          f" of that name, {written}: name {'it' if len(own) == 1 else 'one'} "
                          "with its path or by its symbol to stop there")

    def _cxx_function(self, spec: StopSpec, files: list[str], table, find
                      ) -> tuple[str, int, Function] | None:
        """The C++ function the source calls ``spec.name`` (``thrower``, ``shapes::area``),
        in the first of ``files`` that has one: the linker knows it by its mangled name
        alone (``symbols.cxx_named``). None where none is; ExplainError where several
        are (overloads, namesakes in two namespaces), naming their symbols."""
        for path in files:
            known = table(path)
            symbols = cxx_named(known[1], spec.name) if known else []
            language = _language(symbols)
            if len(symbols) > 1:
                raise ExplainError(
                    f"--at {spec.label}: {len(symbols)} {language} functions in "
                    f"{self.argv[0] if path == files[0] else os.path.basename(path)} are "
                    f"called {spec.name}: {', '.join(symbols)}; name one by its symbol")
            if symbols:
                self.progress(f"--at {spec.label}: the {language} function {symbols[0]}")
                return find(symbols[0])
        return None

    def _functions_of(self, path: str) -> _Read | str | None:
        """What ``_lookup`` needs of the file at ``path``, read once for each version of
        it (device, inode, size, time of change): a program that opens libraries one by
        one (an interpreter's extension modules) has its lookup made again at each
        (LOADED), and would have every file it maps read and parsed each time. The
        message of an ExplainError where its tables cannot be read; None where it is
        no file to read (gone, not ELF)."""
        try:
            info = os.stat(path)
        except OSError:
            return None
        key = (path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        if key not in self._read:
            try:
                data = read_bytes(Path(path))  # once: its first segment, its symbols
                self._read[key] = _Read(has_symtab(data, path), first_load(data, path),
                                        functions(data, path), imports(data, path, "dlopen"),
                                        imports(data, path, "__libc_start_main"))
            except ExplainError as exc:
                self._read[key] = exc.message
            except (RoadsError, OSError):
                self._read[key] = None
        return self._read[key]

    def _insert_function(self, tid: int, pid: int, spec: StopSpec, path: str, bias: int,
                         chosen: Function, later: bool = False) -> None:
        """The breakpoint of the function stop ``spec`` at ``chosen``, found in ``path``
        mapped at ``bias``; ExplainError for an ifunc, before the program runs. One found
        in a library opened with dlopen (``later``) is refused in the same words, and
        the run goes on without it: the stops reached before keep their page."""
        if chosen.ifunc:
            # Its resolver is run by the loader, or in a static program by the C
            # library's start-up code (apply_irel, glibc's csu/libc-start.c).
            picker = ("the C library's start-up code picks" if self.static
                      else "the loader picks")
            why = (f"{chosen.name!r} in {os.path.basename(path)} is an ifunc, a function "
                   f"{picker} for this processor among several versions; --at cannot "
                   "stop at it (stop at a function of yours that calls it)")
            if not later:
                raise ExplainError(f"--at {spec.label}: {why}")
            self.refused[spec.label] = why
            self.progress(f"--at {spec.label}: {why}; the run goes on without this stop")
            return
        self._insert(tid, pid, bias + chosen.st_value, spec)

    def _wait_for_dlopen(self, tid: int, pid: int, spec: StopSpec, files: list[str],
                         find) -> bool:
        """Whether the function stop ``spec``, found in none of ``files``, is to be
        looked for in the libraries the program opens later: it, or a library of its,
        calls ``dlopen``, and the loader has the function where it tells a debugger of
        them (``_dl_debug_state``, a breakpoint at ``LOADED``). Said as the run starts."""
        if not any(isinstance(read, _Read) and read.calls_dlopen
                   for read in map(self._functions_of, files)):
            return False
        loader = find("_dl_debug_state")
        if loader is None or loader[2].ifunc:
            return False
        self.later.append(spec)
        self._insert(tid, pid, loader[1] + loader[2].st_value, LOADED)
        self.progress(f"--at {spec.label}: no function {spec.name!r} in "
                      f"{shellwords.quote(self.argv[0])} or "
                      "the libraries loaded with it; it calls dlopen: looked for in each "
                      "library it opens")
        return True

    def _pending_later(self) -> list[StopSpec]:
        """The function stops looked for in libraries opened with dlopen and not reached
        (nor refused)."""
        return [spec for spec in self.later
                if spec.label not in self.done and spec.label not in self.refused]

    def _unmapped(self, tid: int, tgid: int) -> None:
        """Forget the breakpoints of process ``tgid``'s memory whose code is gone: the
        library that held them was unmapped (dlclose), and what is mapped there now, if
        anything (the same library opened again, at the same address, or another), is
        not ours to restore a byte in, in this process or a child made from it
        (``_new_tid``). An int3 is gone where another byte is there, or nothing is; one
        taken out (``removed``), where the byte there is no longer the original one.
        A function stop of one is looked for again (``_lookup``, later), and may be set
        at that address again (``_placed_later``). Not one a thread of this memory is
        stepping over now (``steps``), whose original byte is in for the step: looked at
        again at the next change of the libraries."""
        key = self.memory.get(tgid)
        memory = self._mem(tgid)
        sharers = self._sharers(tgid)
        stepping = {step.addr for t, step in self.steps.items() if self._owner(t) in sharers}
        for addr in sorted(memory.holding | memory.removed):
            if addr in stepping:
                continue
            try:
                byte = self._byte_at(tid, addr)
            except OSError as exc:  # EIO: nothing mapped there now
                if exc.errno != errno.EIO:
                    raise
                byte = None
            if addr in memory.holding:
                if byte == INT3:
                    continue
                memory.holding.discard(addr)
            elif addr in memory.table and byte in (INT3, memory.table[addr][0]):
                # Taken out, the code it stood in still there; or still in, where the
                # copy a fork made holds the int3 its maker took out then (``_stale_trap``).
                continue
            memory.removed.discard(addr)
            memory.table.pop(addr, None)
            self._forget_placed(key, addr)

    # ------------------------------------------------------------------ the loop

    def _resume(self, tid: int, sig: int = 0) -> None:
        """Let ``tid`` run on from its stop, with ``sig``; also once every stop is made:
        the program runs on then to end on its own (``_run_on_over``)."""
        if self._lost_exit(tid):
            return
        request = pt.PTRACE_SYSCALL if self.syscalls else pt.PTRACE_CONT
        try:
            pt.call(request, tid, 0, sig)
        except ProcessLookupError:
            pass

    def _lost_exit(self, tid: int) -> bool:
        """Whether ``tid``, about to be let go from the stop last reported of it, is held
        at its exit stop instead, which was then taken here. A SIGKILL wakes a tracee
        held in any stop (another thread's exit_group or fatal signal, a kill -9 from
        another process while the tracer reads this one), and it comes to its exit stop
        before the tracer lets it go from the first: let go then, it would pass its exit
        stop unseen, and the process's exit with it. Asked only where exit stops are."""
        if self._ending or tid in self.exiting or tid not in self.traced \
                or tid in self.shadows or not self._exit_asked:
            return False
        held = pt.held_at_exit(tid)
        if held is None:
            # Woken, and running to its exit stop or its end, which the loop is told of;
            # let go now, it could be let go from that exit stop, reached meanwhile.
            return True
        # Held at its exit stop, or so a signal the program queued itself with that
        # si_code says: a thread a SIGKILL woke took it as a fatal signal (PF_SIGNALED).
        if not held or _signaled(tid) is False:
            return False
        try:
            self._stopped(tid, EXIT_STOP_STATUS)
        except ProcessLookupError:  # killed at that stop: its end comes next
            pass
        return True

    def _all_done(self) -> bool:
        return all(s.label in self.done or s.label in self.refused
                   for s in self.stops if s.kind != "exit") and not self._exit_asked

    def _run_on_over(self) -> bool:
        """Whether the run is to be ended now that every stop is made: the program has
        run on for ``RUN_ON`` seconds since, or until its deadline, without ending. It
        runs on so that how it ends after its last stop is its own and is told: a crash
        then is stopped at as one before it (a crash after the last stop went unseen
        when the run was ended at once, the page saying only that roads explain had
        ended it), and a program that ends quickly ends so at every run, its output
        flushed. Noted when first asked with every stop made; False before."""
        if not self._all_done():
            return False
        now = time.monotonic()
        if not self._last_stop_at:
            self._last_stop_at = now
        return now >= min(self._last_stop_at + RUN_ON, self._deadline_at or now)

    @property
    def _exit_asked(self) -> bool:
        """Whether the run stops at each process's exit (``--at exit``)."""
        return any(s.kind == "exit" for s in self.stops)

    # Waiting. The tracer waits for the run's process groups, never for a stranger child
    # of its own process: the run's own, and each group a tracee made (``setsid``: a
    # daemon), which holds its children too, traced before the tracer hears of them; a
    # tracee whose group is not known, gone already, by its pid. A blocking wait for one
    # group would not wake for the others (the kernel wakes a waiter only for the
    # children it waits for), so the waits are polled, and between polls the tracer
    # sleeps until SIGCHLD, which every stop and end of a tracee sends it (blocked in
    # this thread for the run, so that it stays pending to be waited for), or for
    # ``WAKE`` seconds at most (another thread of the process, not blocking it, may
    # take the signal).

    def _note_groups(self) -> list[int]:
        """The tracees whose group is not known (gone ones: a wait by pid reaps them);
        the groups of the others are remembered in ``groups`` (not this process's own,
        which a tracee may join: its other members are ours, not the run's)."""
        unknown = []
        for tid in list(self.traced) + list(self.fork_kind):
            try:
                group = os.getpgid(tid)
            except OSError:
                unknown.append(tid)
                continue
            if group != self.main and group != os.getpgrp():
                if group not in self.groups and (self._ending or self._timed_out.is_set()):
                    self.signals.kill_group(group, signal.SIGKILL)  # found while it is ended
                self.groups.add(group)
            elif group != self.main:
                unknown.append(tid)
        return unknown

    def _poll(self) -> tuple[int, int] | None:
        """A tracee's waiting event, or None; ChildProcessError once none is left."""
        alive = False
        for group in (self.main, *sorted(self.groups)):
            try:
                tid, status = os.waitpid(-group, pt.WALL | os.WNOHANG)
            except ChildProcessError:
                if group != self.main:
                    self.groups.discard(group)
                continue
            alive = True
            if tid:
                return tid, status
        for tid in self._note_groups():
            try:
                got, status = os.waitpid(tid, pt.WALL | os.WNOHANG)
            except ChildProcessError:  # gone and reaped: nothing more comes of it
                self.traced.pop(tid, None)
                self._forget_step(tid)  # a thread whose execve gave it the main one's id
                self.fork_kind.pop(tid, None)
                self._unmade(tid)
                continue
            alive = True
            if got:
                return got, status
        if not alive and not self.traced and not self.fork_kind and not self.groups:
            raise ChildProcessError
        return None

    def _wait(self) -> tuple[int, int] | None:
        """The next event of a tracee; None once none is left to wait for, or once the
        program has run on for long enough after the last stop (``_run_on_over``),
        also where a process is held stopped then (``_tend_held``)."""
        while True:
            if self._tend_held() or self._run_on_over():
                return None
            try:
                event = self._poll()
            except ChildProcessError:
                return None
            if event is not None:
                return event
            if self._deadline_at and time.monotonic() > self._deadline_at + KILL_WAIT:
                # The deadline's SIGKILL should have ended every process by now; one still
                # held in a stop nothing reported again (its exit stop, a process that has
                # begun exiting taking no more signals) waits for no event: the clean-up
                # (_kill_all) lets each go and reaps it, within its own bound.
                return None
            self._tell_waiting()
            signal.sigtimedwait([signal.SIGCHLD], WAKE)

    def _loop(self) -> None:
        # Until no process is left, a new one whose first stop has not been seen yet
        # (``fork_kind``) included: its parent may have ended before that stop came.
        while self.traced or self.fork_kind:
            event = self._wait()
            if event is None:
                # Still running after the last stop (not where nothing is left to wait
                # for: the program ended of its own accord).
                if self._run_on_over() and self.outcome is not None:
                    self.outcome.ended_after_last_stop = True
                return
            tid, status = event
            if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                self._ended(tid, status)
                continue
            if tid not in self.traced:
                self._new_tid(tid, status)
                continue
            try:
                if tid in self.steps:
                    self._stepped(tid, status)
                else:
                    self._stopped(tid, status)
            except ProcessLookupError:  # killed at its stop (the deadline): its end comes next
                continue
            except OSError as exc:
                tgid = self.traced.get(tid, tid)
                if exc.errno != errno.EIO or not memory_refused(tgid):
                    raise
                # Its breakpoints can be neither stepped over nor taken out, and let go
                # it would die of the next one (SIGTRAP): the run ends here.
                self.outcome.cut_short = (
                    f"was ended by roads explain once process {tgid} had made itself not "
                    "dumpable (prctl PR_SET_DUMPABLE 0, or new user or group ids), which "
                    "keeps its memory, and the breakpoints of the function stops there, from "
                    "a tracer without CAP_SYS_PTRACE (as root: --no-sandbox)")
                self._kill_all()
                return
            if self._run_on_over() and self.outcome is not None:
                self.outcome.ended_after_last_stop = True
                self._kill_all()
                return
        # The last process of the run was killed while held stopped, with no exit stop
        # seen first (which gives _wait a turn to tell it): told here.
        self._tend_held()

    def _ended(self, tid: int, status: int, killed: bool = False) -> None:
        tgid = self.traced.pop(tid, tid)
        if (tid == tgid and os.WIFSIGNALED(status) and self.outcome is not None
                and tgid in self.outcome.processes and tgid not in self.exit_taken
                and not (killed or self._ending or self._timed_out.is_set())
                and self.outcome.processes[tgid].status is None and self._exit_asked):
            self.outcome.exits_unseen.append(tgid)
        self._forget_step(tid)
        held = self.held.pop(tid, None)
        if held is not None:  # killed while held stopped: _tend_held tells it
            self.held_ended.setdefault(held, status)
        self.exiting.discard(tid)
        if tid == tgid:
            self.exit_taken.discard(tgid)
            self.in_execve.pop(tgid, None)
        # A new one that ended before its first stop was seen (the kernel makes no exit
        # stop for a thread with SIGKILL pending of its own): what its parent's event,
        # or its stop seen before that event, noted of it goes with it, or a process
        # given its pid later would be taken for it (a copy for a shadow, say).
        self.fork_kind.pop(tid, None)
        self.lost_events.pop(tid, None)  # its exit stop was not seen: the new one stays unknown
        self._unmade(tid)
        self.shares_memory.pop(tid, None)
        self.pending.pop(tid, None)
        if tid == tgid:
            self.signals.drop(tid, leader=tid == self.main or tid in self.groups)
            self._leave_memory(tid)
        if tid == tgid and self.outcome and tid in self.outcome.processes:
            ending = self.outcome.processes[tid]
            if ending.status is None:
                ending.status = status
                # Reaped by the final clean-up, or after the deadline's SIGKILL, it may
                # have ended on its own first: of a SIGKILL of the program's, its exit
                # event seen before ours was sent (or of another end).
                ending.killed_by_us = (killed or self._timed_out.is_set()) \
                    and not ending.exiting_before \
                    and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
                if tid == self.main:
                    self._main_ended_at = time.monotonic()
            self._data_known.clear()

    def _tell_waiting(self) -> None:
        """Said once, ``WAITING_TOLD`` after the program's own process ended, where
        ``--at exit`` still waits for others of the run (a daemon's child, a child that
        outlives its parent): the run went on silent until they ended or the deadline
        passed, which a learner took for a hang."""
        if (self._told_waiting or self._main_ended_at is None or not self._exit_asked
                or self._ending or self._timed_out.is_set()
                or time.monotonic() < self._main_ended_at + WAITING_TOLD):
            return
        self._told_waiting = True
        others = sorted(set(self.traced.values()) - {self.main})
        if others:
            self.progress(f"the program (pid {self.main}) has ended; --at exit waits for the "
                          f"run's other process{'es' if len(others) > 1 else ''} "
                          f"({', '.join(map(str, others))}) to end too, until the deadline "
                          f"({self.deadline:g} s, --deadline)")

    def _new_tid(self, tid: int, status: int) -> None:
        """The first stop seen of ``tid`` (``status``), a new thread or process; kept
        for its parent's event when that has not come yet (``pending``), but for a
        thread of a traced process whose first stop is its exit stop."""
        kind = self.fork_kind.pop(tid, None)
        if kind is None and status >> 16 == pt.PTRACE_EVENT_EXIT:
            info = _status_of(tid)
            tgid = tid if info is None or info.Tgid is None else info.Tgid
            if tgid != tid and self.traced.get(tgid) == tgid:
                # Killed before it ran, by its process's exit_group or another thread's
                # execve, which kill the thread that made it too: that one's event never
                # comes. Held for it, this thread would hold the process's end (whose
                # threads the deadline's SIGKILL no longer reaches) or the execve (which
                # waits until each thread has ended) for ever. Taken now, as a thread.
                self.pending.pop(tid, None)
                self.traced[tid] = tgid
                self._first_stop(tid, status)
                return
        if kind is None:
            self.pending[tid] = status  # its parent's event comes next
            return
        # Taken as it is: a CLONE_VM child's memory, kept for it (``_collect``), is
        # shared below, or collected for a thread (whose process holds it).
        made = self.made_by.pop(tid)
        shared = self.shares_memory.pop(tid, None)
        self.shadows.pop(tid, None)  # a pid used again: not the shadow that ended
        self._leave_memory(tid)  # nor its memory
        info = _status_of(tid)
        tgid = tid if info is None or info.Tgid is None else info.Tgid
        if kind == pt.PTRACE_EVENT_CLONE and tgid != tid:
            self.traced[tid] = tgid
            self._collect(made.memory)
            self._first_stop(tid, status)
            return
        if self.follow_fork:
            self.traced[tid] = tid
            if shared is None:
                # A breakpoint taken out of the parent while the child's copy was made
                # (a thread forked during another's stop) may still be in the copy: its
                # trap there is ours, as in the parent (``removed``, copied).
                self._new_memory(tid, made)
                self._int3s_in_copy(tid, made)
            else:
                self._share_memory(tid, made)
            self.outcome.processes[tid] = Ending(tid, made.parent)
            self._first_stop(tid, status)
            return
        if shared is not None:  # not followed, but its parent's int3 bytes are in its memory too
            self._share_memory(tid, made)
            self._shadow(tid, shared)
            return
        # Not followed, with a copy of the memory: its copies of the breakpoints out,
        # those taken out of the parent too (one taken out while the copy was made, a
        # thread forking during another's stop, may still be in it), then let go.
        for addr in made.breakpoints | made.removed:
            try:
                self._put_byte(tid, addr, made.table[addr][0])
            except (OSError, KeyError):
                pass
        try:
            pt.call(pt.PTRACE_DETACH, tid, 0, 0)
        except OSError:
            pass
        self.signals.drop(tid)  # let go: its parent reaps it

    def _int3s_in_copy(self, tid: int, made: _Made) -> None:
        """The int3 put in a followed child's copy of its maker's memory wherever the
        copy holds the original byte: the copy was made while a thread of the maker was
        stepping over that breakpoint (the fork itself, or another thread's step under
        way then), whose int3 went back in the maker alone."""
        for addr in made.breakpoints:
            try:
                if self._byte_at(tid, addr) == made.table[addr][0]:
                    self._put_byte(tid, addr, INT3)
            except (OSError, KeyError):  # unmapped in the copy
                pass

    def _first_stop(self, tid: int, status: int) -> None:
        """Resume ``tid``, traced from its first stop on: a thread killed before it ran
        (another's exit_group) makes its exit event its first stop, which counts towards
        its process's exit (``exiting``) as any thread's."""
        if status >> 16 == pt.PTRACE_EVENT_EXIT:
            try:
                self._stopped(tid, status)
            except ProcessLookupError:  # killed at its stop: its end comes next
                pass
            return
        self._resume(tid)

    def _made(self, tgid: int, flags: int) -> _Made:
        """What a fork, vfork or clone event of process ``tgid`` with clone ``flags``
        says of the new one: its memory is the copy made before this event, the
        breakpoints in it those in the maker's now; CLONE_PARENT makes a sibling of the
        maker, CLONE_VM shares the maker's memory."""
        memory = self._mem(tgid)
        return _Made(
            _ppid(tgid) if flags & CLONE_PARENT else tgid,
            frozenset(memory.holding), frozenset(memory.removed),
            {addr: (memory.table[addr][0], list(memory.table[addr][1]))
             for addr in memory.holding | memory.removed if addr in memory.table},
            self.memory.get(tgid) if flags & CLONE_VM else None)

    def _announce(self, child: int, event: int, tgid: int, made: _Made, flags: int) -> None:
        """Process ``tgid``'s ``event`` made ``child`` (``made``): its first stop, seen
        before or after, is taken as that event's (``_new_tid``)."""
        self.fork_kind[child] = event
        self.signals.add(child)
        self.made_by[child] = made
        if flags & CLONE_VM:
            self.shares_memory[child] = tgid

    def _unannounced_children(self, tid: int, tgid: int,
                              lost: tuple[int, _Made] | None) -> None:
        """At the exit stop of thread ``tid`` of ``tgid``, the process it made in a call
        whose event never came: the kernel reports no event of a maker with a SIGKILL
        pending by then, and the new pid of one killed at its event stop cannot be read
        (``lost``, kept by ``_stopped``). Its first stop would wait for that event, held
        until the run ends. Only of a thread that died in clone, fork, vfork or clone3
        (or with a lost event): the call's return value is still in its rax (a SIGKILL
        is taken before the return to the program), the new pid as the thread's own pid
        namespace numbers it. The kernel hands a thread's children on only after this
        stop, so the new one is found among them, if this tracer thread traces it and
        knows nothing of it yet, and taken as made by this process (as ``lost`` says,
        when there is one), sharing its memory if kcmp finds it does. The same file
        lists the CLONE_PARENT children of the thread's children, whose own events are
        still to come: none of them is the pid in rax. A CLONE_PARENT child of the
        thread's own (its flags are still in its registers too) is its parent's child,
        looked for among the children of that process's threads. A new thread is never
        there: it dies with its maker, and is taken at its own exit stop (``_new_tid``)."""
        try:
            if lost is None and _call_of(tid)[0] not in MAKING:
                return
            regs = pt.get_regs(tid)
        except OSError:
            return
        made = signed(regs.rax)
        # An error: no process was made. A call that the kernel set up to be made again
        # (ERESTARTNOINTR, a signal with no handler) holds its own number again, should
        # the SIGKILL come just after: no pid either.
        if made <= 0 or made == signed(regs.orig_rax):
            return
        try:
            flags = _clone_flags(tid)
        except OSError:
            flags = 0
        me = threading.get_native_id()
        parent = _ppid(tgid) if flags & CLONE_PARENT else tgid
        depth = len(_namespace_pids(tid))
        new = [pid for pid in _children(of=parent)
               if pid not in self.traced and pid not in self.fork_kind
               and pid not in self.shadows
               and (status := _status_of(pid)) is not None and status.TracerPid == me
               and _namespace_pids(pid)[depth - 1:depth] == [made]]
        if len(new) != 1:
            return
        child = new[0]
        if lost is not None:
            event, record = lost
            record = record._replace(parent=parent)
        else:  # as the memory is now: its breakpoints at the call are not known
            event, record = pt.PTRACE_EVENT_FORK, self._made(tgid, flags & CLONE_PARENT)
        same = pt.same_memory(child, tid)
        if same is None:
            same = self._in_memory_of(child, tgid)
        self._announce(child, event, tgid,
                       record._replace(memory=self.memory.get(tgid) if same else None),
                       CLONE_VM if same else 0)
        if child in self.pending:
            self._new_tid(child, self.pending.pop(child))

    def _stopped(self, tid: int, status: int) -> None:
        if tid in self.shadows:
            self._shadow_stopped(tid, status)
            return
        sig = os.WSTOPSIG(status)
        event = status >> 16
        tgid = self.traced[tid]
        if tid in self.to_handler:
            self.to_handler.discard(tid)
            if event == 0 and sig == signal.SIGTRAP and self._restart_told(tid):
                return
        if event in (pt.PTRACE_EVENT_FORK, pt.PTRACE_EVENT_VFORK, pt.PTRACE_EVENT_CLONE):
            try:
                child = pt.event_msg(tid)
                if pt.held_at_exit(tid):
                    # Killed since the event was reported, and held at its exit stop
                    # when asked: the message read may be its exit status, not the new
                    # pid. The event is lost, as one the kernel refuses (ESRCH).
                    raise ProcessLookupError(tid)
            except ProcessLookupError:
                # Killed at this stop: its end comes next, its exit stop first, where
                # the new one is looked for among its children (``_unannounced_children``).
                self.lost_events[tid] = (event, self._made(tgid, 0))
                raise
            try:
                flags = _clone_flags(tid)
            except ProcessLookupError:
                # Killed at this stop (another thread's exit_group, say): its end comes
                # next, and the new one lives on, to be traced all the same. Its call
                # cannot be read: the new one shares the memory (CLONE_VM) if it has the
                # one that the maker's sharers still run in.
                flags = CLONE_VM if self._in_memory_of(child, tgid) else 0
            if child not in self.traced and child not in self.fork_kind:
                # (Else taken already at an exit stop, ``_unannounced_children``.)
                self._announce(child, event, tgid, self._made(tgid, flags), flags)
            try:
                self._resume(tid)
            except ProcessLookupError:
                pass
            if child in self.pending:
                self._new_tid(child, self.pending.pop(child))
            return
        if event == pt.PTRACE_EVENT_EXEC:
            self._execed(tgid)
            # A new image: the breakpoints went with the old memory, which a process
            # sharing it may keep.
            self._new_memory(tgid)
            # A thread other than the main one that runs execve takes the main one's id:
            # the exit event the old main thread made, killed, is not this process's.
            self.exiting.discard(tgid)
            self.exit_taken.discard(tgid)
            self.in_execve.pop(tgid, None)  # it has run: a later one is looked for anew
            if self.outcome and tgid in self.outcome.processes:
                self.outcome.processes[tgid].exiting_before = False
            for other in [t for t in self.traced if self.traced[t] == tgid]:
                self._forget_step(other)
            self._resume(tid)
            return
        if event == pt.PTRACE_EVENT_EXIT:
            # Before it counts as exiting: kcmp may compare with it.
            self._unannounced_children(tid, tgid, self.lost_events.pop(tid, None))
            # The process exits with the last of its threads to exit, its memory still
            # mapped: a main thread that ends alone (pthread_exit) is not its exit, and
            # the stop is then read through the thread that exits last. Not when the
            # deadline killed it: that end is ours, not the program's exit.
            self.exiting.add(tid)
            held = self.held.pop(tid, None)
            if held is not None:  # killed while held stopped: its status, for _tend_held
                self.held_ended.setdefault(held, pt.event_msg(tid))
            # A thread that called exit(2), or that seccomp killed, may end alone, the
            # others running on (_ends_alone); any other end (exit_group, a fatal signal,
            # killed as its group exits) is the process's, this thread held with the
            # memory still mapped.
            alone = _ends_alone(tid)
            last = tgid not in self.exit_taken and (not alone or all(
                t in self.exiting for t in self._threads(tgid)))
            if last and self._execve_elsewhere(tgid, tid):
                last = False  # killed by another thread's execve: the process runs on
            if last:
                self.exit_taken.add(tgid)  # once: a thread seen only now comes too late
                ending = self.outcome.processes.get(tgid) if self.outcome else None
                if ending is not None and not (self._ending or self._timed_out.is_set()):
                    ending.exiting_before = True
            for spec in self.stops:
                if spec.kind == "exit" and last and not self._timed_out.is_set():
                    self._hit(tid, spec, ())
            self._resume(tid)
            return
        if event == pt.PTRACE_EVENT_STOP:
            self._resume(tid)
            return
        if sig == signal.SIGTRAP | 0x80:
            self._syscall_stop(tid)
            return
        if sig == signal.SIGTRAP:
            regs = pt.get_regs(tid)
            addr = regs.rip - 1
            if addr in self._table(tgid) and addr in self._mem(tgid).holding:
                self._breakpoint(tid, tgid, addr, regs)
                return
            if self._stale_trap(tid, tgid, addr):
                # A followed child's copy may still hold an int3 its parent lost between
                # the copy and its fork event: taken out here too, or it traps again.
                if self._byte_at(tid, addr) == INT3:
                    self._put_byte(tid, addr, self._table(tgid)[addr][0])
                regs.rip = addr  # the instruction the int3 stood for, whole again: run it
                pt.set_regs(tid, regs)
                self._resume(tid)
                return
            self._resume(tid, sig)
            return
        self._deliver(tid, tgid, sig)

    def _execed(self, tgid: int) -> None:
        """Process ``tgid`` runs another program now (its PTRACE_EVENT_EXEC): the function
        stops not reached yet are not looked for in it (its image holds none of their
        breakpoints, and their names may not even be its own), said now and kept for the
        page (``Outcome.execed``)."""
        waiting = [s for s in self.stops if s.kind == "func" and s.label not in self.done
                   and s.label not in self.refused and s.label not in self.outcome.execed]
        if not waiting:
            return
        try:
            exe = os.readlink(f"/proc/{tgid}/exe")
        except OSError:
            exe = "another program"
        why = (f"process {tgid} ran {exe} (execve) before reaching it, and function stops "
               "are not set in a program started by execve")
        for spec in waiting:
            self.outcome.execed[spec.label] = why
            self.progress(f"--at {spec.label}: {why}")

    def _deliver(self, tid: int, tgid: int, sig: int) -> None:
        """Resume ``tid``, held for signal ``sig`` (in its delivery-stop, or in the
        group-stop of its process), with it: at a stop of ``_stopped``, or one that cut
        a step over a breakpoint short (``_step_over``), the signal then due first. A
        stop signal is told apart there: a delay's SIGSTOP is taken, not delivered; the
        program's is delivered, and the group-stop it makes held (``_group_stop``). A
        fault's signal that will kill the process makes a stop first (``_fault_stop``)."""
        if sig in FAULTS:
            self._fault_stop(tid, sig)
        if sig in STOP_SIGNALS:
            try:
                info = pt.signal_info(tid)
            except ProcessLookupError:
                raise
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._group_stop(tid, tgid)  # no signal to deliver: the stop it made
                return
            if sig == signal.SIGSTOP and info.si_pid == os.getpid():
                # A delay's (``_delay``), never the program's: taken, not delivered.
                for spec in self._delays_waiting(tgid):
                    self._hit(tid, spec, ())
                self._resume(tid)
                return
            self.stopping[tgid] = (sig, info)
        if sig and tid in self.restarting:
            # Its handler, if it has one, decides whether the system call cut short at a
            # breakpoint runs again: given by a single step, the signal stops the thread
            # at the handler's first instruction, where its frame tells (_restart_told).
            if self._lost_exit(tid):
                return
            self.to_handler.add(tid)
            try:
                pt.call(pt.PTRACE_SINGLESTEP, tid, 0, sig)
            except ProcessLookupError:
                pass
            return
        self._resume(tid, sig)

    def _fault_stop(self, tid: int, sig: int) -> None:
        """The stop at a fault that will kill ``tid``'s process, taken in its
        signal-delivery-stop for ``sig``, before the caller delivers it: a signal the
        kernel sent for the thread's own instruction, whose disposition is the default
        (``siginfo.kills``: the kernel made it so for one blocked or ignored). Not in a
        run being ended (the deadline's, roads explain's), nor for a process that handles
        the signal: its handler runs, and it may live on. The stop records the pc, the
        sp and the fault's address (si_addr, where it is the data's), drawn on the map.

        A signal sent is no fault, and makes no stop: one whose si_code is a process's
        (0 or less: kill, raise, sigqueue), or one that comes as the thread returns from
        a system call (its orig_rax a call's number, where the kernel's entry for an
        exception, a fault's, sets it to -1), whatever its si_code says: a process may
        send itself any (rt_sigqueueinfo), si_addr included. Who sent one that kills is
        kept for how the process ended (``Ending.sent``)."""
        if self._ending or self._timed_out.is_set():
            return
        try:
            data = pt.siginfo_bytes(tid)
        except ProcessLookupError:
            raise
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # held in a group-stop: no signal to deliver
                raise
            return
        fault = parse_fault(data)
        if fault.si_signo != sig:
            return
        status = _status_of(tid)
        if status is None:
            return  # gone: its end comes next
        fatal = kills(status, sig)
        regs = pt.get_regs(tid)
        call = signed(regs.orig_rax)
        if fault.si_code <= 0 or call != -1:
            if fatal:
                self._sent(tid, sig, parse_siginfo(data), call, fault, regs.rip)
            return
        earlier = self._handled.pop(tid, None)
        # The kernel's SIGSEGV (force_sigsegv, SI_KERNEL) for a handler it could not run,
        # no room for the handler's frame on the stack: the thread is still at the
        # instruction of the earlier fault, with the same stack pointer. For a SIGSEGV it
        # comes with the default disposition; for SIGILL, SIGBUS or SIGFPE it is sent as
        # it is, and may be handled, and fail, in turn.
        again = (earlier is not None and fault.si_code == SI_KERNEL and sig == signal.SIGSEGV
                 and earlier[1:] == (regs.rip, regs.rsp))
        if not fatal:
            self._handled[tid] = earlier if again else (fault, regs.rip, regs.rsp)
            return
        if again:
            # The fault that killed is the earlier one, whose handler could not run.
            first = signal.Signals(earlier[0].si_signo).name
            crash = replace(Crash.of(first, earlier[0].si_code, earlier[0].si_addr, regs.rip),
                            signal="SIGSEGV", frame_failed=True,
                            handled="" if first == "SIGSEGV" else first)
        else:
            crash = Crash.of(signal.Signals(sig).name, fault.si_code, fault.si_addr, regs.rip)
        crash = replace(crash, stack_limit=_stack_limit(tid))
        addresses = [("pc", regs.rip), ("sp", regs.rsp)]
        if crash.addr is not None:
            addresses.append(("si_addr", crash.addr))  # figures.regions.FAULT_ADDRESS
        self._hit(tid, StopSpec(crash.signal, "crash", name=crash.signal), tuple(addresses),
                  crash=crash)

    def _sent(self, tid: int, sig: int, info: SigInfo, call: int, fault: Fault,
              pc: int) -> None:
        """Keep who sent ``sig``, a fault's signal that will kill ``tid``'s process with
        no fault of its instruction (``_fault_stop``), for how the process ended:
        ``info`` its siginfo, ``call`` the number of the system call the thread returns
        from (-1 at none), ``fault`` the siginfo read as a fault's, ``pc`` the thread's."""
        tgid = self.traced.get(tid, tid)
        ending = self.outcome.processes.get(tgid) if self.outcome else None
        if ending is None:
            return
        names = {number: name for name, number in _numbered().items()}
        claimed = Crash.of(signal.Signals(sig).name, fault.si_code, fault.si_addr, pc).fault()
        ending.sent_signal = sig
        ending.sent = sent_words(tgid, signal.Signals(sig).name, info,
                                 names.get(call, f"number {call}"), claimed)

    # A stop signal (SIGSTOP, SIGTSTP, ...) the program sends itself, or one of its
    # processes another, is delivered, as under a shell: the process stops (a
    # group-stop: each thread reports it), its parent is told. With PTRACE_TRACEME a
    # tracer cannot keep a group-stop but by leaving its threads held (PTRACE_LISTEN
    # needs PTRACE_SEIZE), and nothing at all would wake a process stopped so: there is
    # no terminal here, no job control and no fg. So the threads are held, as strace
    # holds them, for CONTINUE_AFTER seconds, in which a process of the run may send it
    # SIGCONT (pending, seen in /proc), and then roads explain sends SIGCONT itself, as
    # a shell's fg would, and says so (gdb stops and tells, and lets it run on when
    # told to continue).

    def _delays_waiting(self, tgid: int) -> list[StopSpec]:
        """The delay stops whose SIGSTOP was sent to process ``tgid`` and not yet taken."""
        if tgid != self.main:
            return []
        return [s for s in self.stops if s.label in self._delay_sent and s.label not in self.done]

    def _group_stop(self, tid: int, tgid: int) -> None:
        """``tid`` reports the group-stop of its process: held, unless no stop signal of
        the program's was delivered to it (a thread's report that came after its process
        was continued)."""
        if tgid not in self.stopping:
            self._resume(tid)
            return
        self.held[tid] = tgid
        if tgid not in self.held_since:
            self.held_since[tgid] = time.monotonic()
            sig, info = self.stopping[tgid]
            stopped = stop_words(tgid, signal.Signals(sig).name, info.si_pid, info.si_code)
            self.progress(f"{stopped}: held stopped, as job control keeps it, until a process "
                          f"of the run continues it, {CONTINUE_AFTER:g} s at most")

    def _tend_held(self) -> bool:
        """Continue each process held in a group-stop that a process of the run has sent
        SIGCONT, or none has for CONTINUE_AFTER seconds (roads explain sends it then).
        A delay stop that comes due meanwhile is taken there, in the held process (its
        SIGSTOP, pending, would be undone by SIGCONT). Whether that was the last stop."""
        now = time.monotonic()
        for tgid, since in list(self.held_since.items()):
            tids = [t for t, g in self.held.items() if g == tgid]
            if not tids:  # ended while stopped (SIGKILL wakes it): told, nothing to continue
                del self.held_since[tgid]
                sig, info = self.stopping.pop(tgid)
                status = self.held_ended.pop(tgid, None)
                ended = ("killed by roads explain at the deadline (--deadline)"
                         if self._timed_out.is_set() else describe_status(status))
                self._told(SelfStop(tgid, signal.Signals(sig).name, info.si_pid, False,
                                    CONTINUE_AFTER, info.si_code, ended))
                continue
            for spec in self._delays_waiting(tgid):
                self._hit(tids[0], spec, ())
            if self._run_on_over():
                return True
            by_others = any(_pending(t) & SIGCONT_BIT for t in tids)
            if not by_others and now - since < CONTINUE_AFTER:
                continue
            if not by_others:
                self.signals.kill(tgid, signal.SIGCONT)
            sig, info = self.stopping.pop(tgid)
            del self.held_since[tgid]
            self._told(SelfStop(tgid, signal.Signals(sig).name, info.si_pid, not by_others,
                                CONTINUE_AFTER, info.si_code))
            for t in tids:
                del self.held[t]
                self._resume(t)  # SIGCONT is delivered next (its handler runs)
        return False

    def _told(self, stop: SelfStop) -> None:
        """How a process held stopped went on, or ended: on the page and said now."""
        self.outcome.stopped.append(stop)
        self.progress(stop.words())

    # A child that shares the memory of a traced process (vfork, posix_spawn's
    # clone(CLONE_VM | CLONE_VFORK)) holds the int3 bytes of its breakpoints: let go, it
    # would die of the first one it runs into (SIGTRAP, with no tracer to take it), and
    # taking them out while it runs would hide the stops of the parent's other threads.
    # Not followed, it is traced as a shadow until its exec or exit: carried past each
    # breakpoint as a thread of its parent is, with no hit counted and no stop taken.

    def _shadow(self, tid: int, maker: int) -> None:
        self.traced[tid] = tid
        self.shadows[tid] = maker
        try:
            pt.call(pt.PTRACE_SETOPTIONS, tid, 0, SHADOW_OPTIONS)
            pt.call(pt.PTRACE_CONT, tid, 0, 0)
        except ProcessLookupError:  # killed already: its end comes next
            pass

    def _shadow_stopped(self, tid: int, status: int) -> None:
        event = status >> 16
        if event in (pt.PTRACE_EVENT_EXEC, pt.PTRACE_EVENT_EXIT):
            # A memory of its own (exec) or none (exit): no breakpoint of ours is left
            # in its way.
            self._leave_memory(tid)
            self.shadows.pop(tid, None)
            self.traced.pop(tid, None)
            self._forget_step(tid)
            self.signals.drop(tid, leader=tid in self.groups)
            try:
                pt.call(pt.PTRACE_DETACH, tid, 0, 0)
            except ProcessLookupError:
                pass
            return
        sig = os.WSTOPSIG(status)
        if event == 0 and sig == signal.SIGTRAP:
            regs = pt.get_regs(tid)
            addr = regs.rip - 1
            if addr in self._table(tid) and pt.signal_code(tid) == SI_KERNEL:
                regs.rip = addr
                pt.set_regs(tid, regs)
                sig = 0
                # The int3 still there, not taken out since: stepped over it.
                if self._byte_at(tid, addr) == INT3 and not self._step_over(tid, regs, addr):
                    return
        pt.call(pt.PTRACE_CONT, tid, 0, sig)

    def _back_in_memory(self, step: _Step) -> None:
        """The int3 of ``step`` put back in the memory its thread left, by an execve run
        by the step's instruction or by another thread's, or by its end (the original
        byte in it for the step), for the processes that still have that memory (a
        vfork parent, followed or not; a CLONE_VM child): not where its books no longer
        hold that breakpoint, nor where the byte there is no longer the original one,
        nor where no process has that memory any more. Written through the step's own
        /proc/TID/mem (``_Step.mem``), bound to that memory: not through a process's
        that may have run another program since, its event not yet seen, nor by
        PTRACE_POKEDATA, which takes a stopped thread (the execve has released a vfork
        parent, which may be running again)."""
        memory = self.memories.get(step.key) if step.mem >= 0 else None
        entry = memory.table.get(step.addr) if memory is not None else None
        if entry is None or step.addr not in memory.holding:
            return
        try:
            byte = os.pread(step.mem, 1, step.addr)
        except OSError:  # EIO: unmapped there since
            return
        if not byte or byte == bytes([INT3]):  # b"": no process has it any more
            return
        if byte != bytes([entry[0]]):
            memory.holding.discard(step.addr)  # not ours to write there
            return
        try:
            os.pwrite(step.mem, bytes([INT3]), step.addr)
        except OSError as exc:
            # Refused where the kernel lets /proc/PID/mem write read-only code only for
            # a tracer of a thread that still has the memory (proc_mem.force_override=
            # ptrace): said, and the run goes on (this may be its end being tidied up).
            memory.holding.discard(step.addr)
            self.progress(f"the breakpoint at {step.addr:#x} could not be put back in the "
                          f"memory a process left ({exc.strerror}): a call made there by a "
                          "process that still has it is not counted")

    def _syscall_stop(self, tid: int) -> None:
        try:
            info = pt.syscall_info(tid)
        except ProcessLookupError:
            raise
        except OSError as exc:
            raise ExplainError("cannot tell a system call's entry from its return here "
                               f"(PTRACE_GET_SYSCALL_INFO, Linux 5.3 or later): {exc.strerror}") from None
        if info.op == pt.PTRACE_SYSCALL_INFO_EXIT and info.arch != pt.AUDIT_ARCH_X86_64:
            # Made by int 0x80: its number is of i386's table (4 is write there, stat
            # here), and no --at syscall:NAME, named from x86-64's, counts it.
            tgid = self.traced.get(tid, tid)
            if tgid not in self.compat_told:
                self.compat_told.add(tgid)
                self.progress(f"process {tgid} made a system call "
                              "through int 0x80, the 32-bit entry, whose numbers are "
                              "i386's: --at syscall:NAME counts x86-64 calls only")
        elif info.op == pt.PTRACE_SYSCALL_INFO_EXIT:
            regs = pt.get_regs(tid)
            number = regs.orig_rax
            if tid in self.cut_by_delay:
                cut = self.cut_by_delay.pop(tid)
                number = cut if number == RESTART_SYSCALL else number
            if -signed(regs.rax) in RESTART \
                    and self._delays_waiting(self.traced.get(tid, tid)) \
                    and _pending(tid) == SIGSTOP_BIT:
                # Cut short by a delay's SIGSTOP alone, which roads explain takes: the
                # program never sees it, and the kernel runs the call on, the same
                # number, or restart_syscall. Its return comes later.
                self.cut_by_delay[tid] = number
                self._resume(tid)
                return
            for spec in self.stops:
                if spec.kind == "syscall" and spec.number == number and spec.label not in self.done:
                    self.hits[spec.label] += 1
                    if self.hits[spec.label] == spec.count:
                        returned = Returned(spec.name, signed(regs.rax))
                        # An address the call returned is drawn where it points; any
                        # result is told in words (Returned.words).
                        where = returned.address
                        extra = (("result", where),) if where is not None else ()
                        self._hit(tid, spec, (("pc", regs.rip), ("sp", regs.rsp), *extra),
                                  returned)
        self._resume(tid)

    def _breakpoint(self, tid: int, tgid: int, addr: int, regs: pt.Regs) -> None:
        regs.rip = addr
        pt.set_regs(tid, regs)
        whats = self._table(tgid)[addr][1]
        # Back from the signal that cut its step here short, or at its system call run
        # again: counted already.
        again = (addr, regs.rsp) in (self.interrupted.get(tid), self.restarting.get(tid))
        if again:
            self.interrupted.pop(tid, None)
            self.restarting.pop(tid, None)
        pending = [] if again else list(whats)
        while pending:
            what = pending.pop(0)
            if what == ENTRY:
                whats.remove(what)
                if not self.stops_set:  # the loader's report was not seen (_at_exec)
                    self._drop(tid, tgid, self.startup_at, STARTUP)
                    known = len(whats)
                    self.stops_set = True
                    self._lookup(tid, tgid)
                    # A function stop at the entry point itself (_start) is this call.
                    pending += whats[known:]
            elif what == STARTUP:
                if self._libraries_ready(tid):
                    whats.remove(what)
                    known = len(whats)
                    self.stops_set = True
                    self._lookup(tid, tgid)
                    # A stop at _dl_debug_state itself counts this call; the libraries
                    # the program opens later are told of by the calls after it.
                    pending += [w for w in whats[known:] if isinstance(w, StopSpec)]
            elif what == LOADED:  # the loader has mapped or unmapped libraries
                # Kept to the end: a library closed (dlclose) takes its breakpoints
                # with it, in this process or a followed one, and any opened again
                # comes back without them.
                self._unmapped(tid, tgid)
                if self._pending_later():
                    self._lookup(tid, tgid, later=True)
            elif what == "libc_start_main":
                whats.remove(what)
                for spec in self.stops:
                    if spec.kind == "func" and spec.name == "main":
                        self._insert(tid, tgid, regs.rdi, spec)
            elif isinstance(what, StopSpec) and what.label not in self.done \
                    and what.label not in self.refused:
                self.hits[what.label] += 1
                if self.hits[what.label] == what.count:
                    self._hit(tid, what, (("pc", addr), ("sp", regs.rsp)))
                    whats.remove(what)
            elif isinstance(what, StopSpec):  # made already, or refused, in another library
                whats.remove(what)
        if not whats:
            self._remove_here(tid, tgid, addr)
            self._resume(tid)
            return
        if self._step_over(tid, regs, addr):
            self._resume(tid)

    def _step_over(self, tid: int, regs: pt.Regs, addr: int) -> bool:
        """Carry ``tid``, held at the breakpoint at ``addr``, past its instruction, the
        breakpoint kept: True where that was done here (an instruction carried out
        without running it, ``_emulate``), and the caller resumes the thread; False
        where a single step is under way (or the thread, held at its exit stop, is left
        to the loop): its trap comes to the loop like any event, and ``_stepped``
        finishes the step and resumes the thread.

        The step is not waited for here. Its instruction may block as long as the
        program likes (a read of a pipe that another of its processes writes), and
        meanwhile the run's other events are taken as ever: a child's first stop, which
        holds that child until it is taken, or another thread's exit stop, which an
        execve the step runs waits for.

        A signal due to the thread (one sent while it was held at the breakpoint, or a
        fault of the instruction itself) is taken before the instruction runs: the step
        stops for it instead, the thread still at ``addr``. It is passed on (its handler
        runs, or it is ignored, or it stops or ends the process), and the thread comes
        back to the int3 with the stack it has now: that trap is the same call, not
        another (``interrupted``, read by ``_breakpoint``), as gdb's step-resume
        breakpoint takes it. (A handler that leaves by siglongjmp, to a frame that then
        calls the function again with that same stack, would have that call missed.) So
        too where the instruction is a system call that a signal cut short: the kernel
        runs it again, setting the thread back onto the int3 (``restarting``), unless
        the signal's handler makes it fail, EINTR (``_restart_told``)."""
        if self._lost_exit(tid):  # a single step would let it go from its exit stop
            return False
        word = self._code_at(tid, addr)
        if self._emulate(tid, regs, addr, word):
            return True
        # The original byte back, one instruction, int3 again. (Another thread passing
        # meanwhile is not seen: hence _emulate, first.)
        self._put_byte(tid, addr, self._table(tid)[addr][0])
        mem = -1
        if word & 0xFFFF in (SYSCALL, INT_0X80, SYSENTER):
            try:
                mem = os.open(f"/proc/{tid}/mem", os.O_RDWR | os.O_CLOEXEC)
            except OSError:
                pass  # its memory cannot be reached: nothing is put back in it
        try:
            pt.call(pt.PTRACE_SINGLESTEP, tid, 0, 0)
        except BaseException:
            if mem >= 0:
                os.close(mem)
            raise
        self.steps[tid] = _Step(addr, regs.rsp, word, mem,
                                self.memory.get(self._owner(tid)) if mem >= 0 else None)
        return False

    def _stepped(self, tid: int, status: int) -> None:
        """The stop that ends ``tid``'s step over a breakpoint (``_step_over``): the int3
        put back, where the breakpoint is still wanted, and the thread resumed, with the
        signal the step stopped for, if any."""
        step = self.steps.pop(tid)
        try:
            self._step_done(tid, status, step)
        except ProcessLookupError:
            # Killed meanwhile (its int3 not yet back): the memory it leaves keeps it.
            self._back_in_memory(step)
            raise
        finally:
            step.close()

    def _step_done(self, tid: int, status: int, step: _Step) -> None:
        addr = step.addr
        event = status >> 16
        # Unless the breakpoint was taken out meanwhile (its last stop made by another
        # thread, its library closed), which the step no longer holds up.
        kept = addr in self._mem(tid).holding
        # After an execve (the step's, or another thread's that took this one's id) the
        # memory is the new program's: the int3 is not put back there. The old memory,
        # where a vfork parent has it still, keeps the breakpoint (_back_in_memory).
        # Elsewhere it is put back at once, even while another thread steps over it
        # (both had trapped there before the first step began): that one, stopped by it
        # before it ran the instruction, steps again (below), and no thread passes the
        # breakpoint unseen for longer than one step.
        if event != pt.PTRACE_EVENT_EXEC:
            if kept:
                self._put_byte(tid, addr, INT3)
        else:
            self._back_in_memory(step)
        if event:
            # An event of its own came first (its PTRACE_EVENT_EXIT, another thread's
            # exit_group killing it; a clone the stepped instruction made): a stop like
            # any other, handled and resumed there.
            self._stopped(tid, status)
            return
        sig = os.WSTOPSIG(status)
        now = pt.get_regs(tid)
        if sig == signal.SIGTRAP and now.rip == addr + 1 and pt.signal_code(tid) == SI_KERNEL:
            # The int3 itself, put back by another thread's step at the same address
            # before this one's instruction ran (above): the step again, as the step
            # it was.
            now.rip = addr
            pt.set_regs(tid, now)
            if self._step_over(tid, now, addr):
                self._resume_stepped(tid, 0)
            return
        # Where the breakpoint is still there: a trap at it comes back to this call.
        if step.word & 0xFFFF == SYSCALL and tid not in self.shadows and kept:
            # -ERESTARTSYS and the like (record.RESTART): the kernel runs the call again,
            # rip set back onto it, unless a handler of the signal makes it fail.
            if now.rip == addr + 2 and -signed(now.rax) in RESTART:
                self.restarting[tid] = (addr, step.rsp)  # cut short by a signal due
        # The step's own trap is the kernel's (si_code > 0: TRAP_TRACE, or TRAP_BRKPT
        # after a syscall instruction); a SIGTRAP a process sent (kill, raise: SI_USER,
        # SI_TKILL) is the program's, due like any other signal.
        if sig == signal.SIGTRAP and pt.signal_code(tid) > 0:
            sig = 0
        elif now.rip == addr and kept:
            self.interrupted[tid] = (addr, step.rsp)
        self._resume_stepped(tid, sig)

    def _resume_stepped(self, tid: int, sig: int) -> None:
        """Resume ``tid`` after its step over a breakpoint, with ``sig`` (0: none): a
        shadow as shadows are, any other thread as at any stop (``_deliver``)."""
        if tid in self.shadows:
            pt.call(pt.PTRACE_CONT, tid, 0, sig)
        else:
            self._deliver(tid, self.traced[tid], sig)

    def _restart_told(self, tid: int) -> bool:
        """Whether ``tid``'s SIGTRAP is the stop of a signal given by a single step
        (``_deliver``), handled here: at the first instruction of its handler, whose
        frame holds where the thread goes back to, the system call cut short at a
        breakpoint (``restarting``) run again or not; or the step's own trap, where the
        signal had no handler and the call ran again with the breakpoint taken out
        since. An int3 (the call run again onto the breakpoint) and a SIGTRAP the
        program sent are not: they are handled as any SIGTRAP."""
        code = pt.signal_code(tid)
        if code <= 0 or code == SI_KERNEL:
            return False
        regs = pt.get_regs(tid)
        cut = self.restarting.pop(tid, None)
        if cut is not None and regs.rdx == regs.rsp + 8:  # a handler's first instruction
            back = (pt.peek(tid, regs.rdx + UC_RIP), pt.peek(tid, regs.rdx + UC_RSP))
            if back == cut:  # run again once the handler returns: the same call
                self.interrupted[tid] = cut
        self._resume(tid)
        return True

    def _forget_step(self, tid: int) -> None:
        """``tid`` ended, ran a new program, or is let go: no trap of it comes back to
        a step over a breakpoint."""
        step = self.steps.pop(tid, None)
        if step is not None and step.mem >= 0:
            # Its instruction may have run execve (a thread other than the main one, whose
            # id went to the main one's, or one that another's execve killed), or the
            # thread ended in it: the memory left keeps the breakpoint.
            try:
                self._back_in_memory(step)
            finally:
                step.close()
        self.interrupted.pop(tid, None)
        self.restarting.pop(tid, None)
        self.to_handler.discard(tid)

    def _emulate(self, tid: int, regs: pt.Regs, addr: int, word: int) -> bool:
        """Carry out the instruction under the breakpoint here, when it is one that
        functions commonly begin with (``emulate.carry_out``: endbr64, a push, a mov,
        test, xor, sub or cmp of registers...), so that the breakpoint stays in place for
        the other threads; False for any other instruction, and where the processor
        might do something else: an instruction that runs on into the next page (which
        may not be there to run), a push that its store would fault on or grow the
        stack for."""
        done = emulate.carry_out(word, addr, lambda name: getattr(regs, name),
                                 lambda at, size: self._data(tid, addr, at, size))
        if done is None or (done.after - 1) >> 12 != addr >> 12:
            return False
        if done.pushed is not None and not pt.store(tid, *done.pushed):
            return False
        for name, value in done.registers.items():
            setattr(regs, name, value)
        regs.rip = done.next_rip
        pt.set_regs(tid, regs)
        return True

    def _data(self, tid: int, instruction: int, at: int, size: int) -> int | None:
        """The ``size`` bytes at ``at`` that the instruction at ``instruction`` reads (a
        little-endian number), as the processor would read them (where a breakpoint of
        ours lies, the original byte), when they lie in the data of the object whose
        code the instruction is: a readable mapping of the same file, or the anonymous
        one right after that file's last (its bss). None anywhere else (a page the
        processor may not read, memory that a userfaultfd or another process serves,
        which a read from here could wait for), and where the process may not read them
        now: the instruction is then stepped over. Whether they lie there is judged
        once for the instruction in this memory (its operand's address is fixed
        relative to it), until breakpoints come or go (``_data_known``)."""
        key = (self.memory.get(self._owner(tid)), instruction)
        known = self._data_known.get(key)
        if known is None:
            known = self._data_known[key] = self._in_own_data(tid, instruction, at, size)
        if not known:
            return None
        # As the thread's own load would: a page made unreadable since it was judged
        # (mprotect) is not read, and the instruction, stepped, faults.
        data = pt.load(tid, at, size)
        if data is None:
            return None
        table = self._table(tid)
        return int.from_bytes(bytes(table[at + k][0] if at + k in table
                                    else b for k, b in enumerate(data)), "little")

    @staticmethod
    def _in_own_data(tid: int, instruction: int, at: int, size: int = 1) -> bool:
        """Whether the ``size`` bytes at ``at`` lie in one readable mapping of the file
        whose code holds ``instruction``, or in the anonymous mapping right after that
        file's last."""
        try:
            maps = Proc().maps(tid)
        except (RoadsError, OSError):
            return False
        code = next((m for m in maps if m.start <= instruction < m.end), None)
        data = next((m for m in maps if m.start <= at < m.end), None)
        if code is None or data is None or not code.inode or "r" not in data.perms \
                or at + size > data.end:
            return False
        if (data.dev, data.inode) == (code.dev, code.inode):
            return True
        below = next((m for m in maps if m.end == data.start), None)
        return not (data.inode or data.pathname) and below is not None \
            and (below.dev, below.inode) == (code.dev, code.inode)

    def _execve_elsewhere(self, tgid: int, tid: int) -> bool:
        """Whether a thread of process ``tgid`` other than ``tid`` is in execve (its
        /proc/PID/syscall). Then ``tid``'s end, unless it called exit(2), is that of a
        thread the execve killed: before the new program starts, the kernel ends every
        other thread of the process (``de_thread``, fs/exec.c), the main one too, whose id
        the new program takes. That is not the process's exit: it either runs the new
        program (PTRACE_EVENT_EXEC) or, should the execve be killed with it (another
        thread's exit_group, a fatal signal), exits with the thread in execve, whose own
        exit stop then is the process's. Each thread killed comes here: the one found
        in execve before is asked first (``in_execve``), so that the threads are looked
        over once, not once for each. A thread still running (one that has only just
        been killed, say) is asked again until it blocks, for at most EXECVE_LOOK."""
        tasks = Proc().tasks(tgid)
        found = self.in_execve.get(tgid)
        if found is not None and found != tid and found not in self.exiting \
                and self._syscall_nr(tasks, found) in EXECVE_CALLS:
            return True
        look_until = time.monotonic() + EXECVE_LOOK
        asking = sorted(self._threads(tgid) - self.exiting - {tid})
        while asking:
            running = []
            for other in asking:
                nr = self._syscall_nr(tasks, other)
                if nr in EXECVE_CALLS:
                    self.in_execve[tgid] = other
                    return True
                if nr is None:
                    running.append(other)
            if not running or time.monotonic() >= look_until:
                break
            asking = running
            time.sleep(0.0002)
        return False

    def _waiting_in(self, tgid: int) -> list[str]:
        """The system calls the threads of process ``tgid`` are blocked in, by name, once
        each in thread order (``pause``, ``futex``); empty where one of them runs or is
        outside any call: a program that waits, which a later deadline may not help."""
        tasks = Proc().tasks(tgid)
        names = {number: name for name, number in _numbered().items()}
        found: list[str] = []
        for tid in sorted(self._threads(tgid)):
            if _held_by_tracer(tasks, tid):
                # In a stop of ours (a clone or exit event, a breakpoint, a system call's
                # stop): /proc names the call it stopped in, but it waits for roads
                # explain, not for the call; it would have run on.
                return []
            nr = self._syscall_nr(tasks, tid)
            if nr is None or nr < 0:
                return []
            name = names.get(nr, f"number {nr}")
            if name not in found:
                found.append(name)
        return found

    @staticmethod
    def _syscall_nr(tasks: Proc, tid: int) -> int | None:
        """The system call thread ``tid`` is in (/proc/PID/syscall, under ``tasks``):
        None while it runs, -1 outside any call or when it is gone or not readable."""
        try:
            return read_syscall(tasks, tid).nr
        except RoadsError:
            return -1

    def sharing_memory(self, pid: int, tid: int | None = None) -> tuple[int, ...]:
        """The run's other processes that share the address space of process ``pid``
        now, held at a stop that its thread ``tid`` (None: ``pid``) reported (kcmp(2)):
        made by clone(2) with CLONE_VM, as vfork(2) and glibc's posix_spawn(3) make
        theirs, until the child runs execve or exits; those followed
        (``outcome.processes``) and those let go that share their maker's memory
        (``shadows``), not ended. Each is compared through a thread of it that runs: a
        main thread that has ended (pthread_exit) has no memory left to compare."""
        known = [p for p, ending in (self.outcome.processes.items() if self.outcome else ())
                 if ending.status is None and p != pid]
        others = [*(p for p in self.shadows if p != pid), *known]
        return tuple(sorted({p for p in others if self._same_memory_as(tid or pid, p)}))

    def _threads(self, tgid: int) -> set[int]:
        """The threads of process ``tgid`` not ended yet: those traced and those the
        kernel lists (a thread just made, whose first stop is not seen yet), but for any
        already gone or on its way out (``Proc.exited``)."""
        tasks = Proc().tasks(tgid)
        try:
            listed = {int(t) for t in os.listdir(tasks.root) if t.isdigit()}
        except OSError:
            listed = set()
        return {t for t in listed | {t for t, g in self.traced.items() if g == tgid}
                if not tasks.exited(t)}

    def _hit(self, tid: int, spec: StopSpec, addresses: tuple,
             returned: Returned | None = None, crash: Crash | None = None) -> None:
        tgid = self.traced.get(tid, tid)
        if spec.kind not in ("exit", "crash"):
            self.done.add(spec.label)
        said = f": {returned.name} {returned.words()}" if returned else ""
        if spec in self.later:  # several libraries opened may define it: which one
            said = f" in {_file_at(tid, dict(addresses)['pc'])}"
        if crash is not None:
            said = (f": {crash.fault()}, by the instruction at {crash.pc:#x}"
                    f"{'; ' + crash.frame_words() if crash.frame_failed else ''}; the signal "
                    "is delivered once the stop is read, and kills it")
        hit = Hit(tgid, _ppid(tgid), spec.label, addresses, tid, returned, crash)
        thread = f", thread {hit.thread}" if hit.thread else ""
        role = self._role(tgid)
        self.progress(f"stopped at {spec.label} ({role + ', ' if role else ''}pid {tgid}"
                      f"{thread}){said}")
        self.on_stop(hit)
        if crash is None:  # a crash is no stop of --at
            self.outcome.reached.append(spec.label)

    def _role(self, tgid: int) -> str:
        """Process ``tgid``'s role among the processes followed so far ("the child"), as
        the page names it (``record.generation``); "" while the program is the only one."""
        processes = self.outcome.processes
        if len(processes) < 2:
            return ""
        return "the " + generation(tgid, {pid: p.ppid for pid, p in processes.items()
                                          if pid != self.outcome.pid})


def _file_at(tid: int, addr: int) -> str:
    """The name of the file that thread ``tid``'s process maps at ``addr`` (less its
    folder), or what its maps say is there instead ('?' where they cannot be read).
    Read through the thread: once the main thread has ended (pthread_exit) the others
    running on, /proc/PID/maps of the process is empty, the thread's own is not."""
    try:
        maps = Proc().maps(tid)
    except RoadsError:
        return "?"
    area = next((m for m in maps if m.start <= addr < m.end), None)
    if area is None:
        return "?"
    return os.path.basename(area.pathname) or "an anonymous mapping"


def _entry_point(pid: int) -> int:
    """Where process ``pid`` began to run its program: AT_ENTRY of its auxiliary vector,
    the ELF header's e_entry where the program was loaded."""
    return auxv_dict(Proc().auxv(pid))["AT_ENTRY"]


def _capabilities_note(path: str, message: bytes) -> str:
    """Why an execve refused a program whose file carries capabilities (setcap, the
    xattr security.capability) with the effective bit: the kernel will not start such
    a program without every capability the file names (``bprm_caps_from_vfs_caps`` in
    security/commoncap.c: "insufficient to execute correctly"), and the sandbox's
    processes can be given none (the launcher empties their bounding set). "" for
    another failure or file."""
    if b"PermissionError" not in message:
        return ""
    try:
        data = os.getxattr(path, "security.capability")
    except OSError:
        return ""
    if len(data) < 4 or not int.from_bytes(data[:4], "little") & VFS_CAP_FLAGS_EFFECTIVE:
        return ""
    return ("; its file carries capabilities that it asks for at once (getcap shows them, "
            "ending in =ep), and the kernel starts such a program only with every one of them, "
            "which the sandbox cannot give (its processes may hold none): run it with "
            "--no-sandbox, or explain a copy of it without them")


def _read_until_closed(fd: int, limit: float) -> bytes | None:
    """What comes through the pipe ``fd`` until its write end is closed, or None if it
    is still open at ``limit`` (time.monotonic())."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    data = b""
    while True:
        left = limit - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            return None
        chunk = os.read(fd, 512)
        if not chunk:
            return data
        data += chunk


def _end_started(pid: int) -> None:
    """Kill and reap the child ``pid``, forked but not yet the program (``Tracer._spawn``):
    nothing of the run but it exists yet. Waited for KILL_WAIT s at most after SIGKILL,
    which a process sleeping where only a file system's answer wakes it may not heed."""
    os.kill(pid, signal.SIGKILL)
    if _waited(pid, time.monotonic() + KILL_WAIT) is None:
        raise ExplainError(f"process {pid}, forked to run the program, could not be "
                           f"ended within {KILL_WAIT:g} s of SIGKILL")


def _waited(pid: int, limit: float) -> tuple[int, int] | None:
    """The next wait status of the child ``pid`` (waitpid's pid and status), or None if
    none came by ``limit`` (time.monotonic()). Polled, the pause doubling as at the end
    of a run (``Tracer._kill_all``), for a thread in which SIGCHLD is not blocked."""
    pause = KILL_PAUSES[0]
    while True:
        got, status = os.waitpid(pid, pt.WALL | os.WNOHANG)
        if got:
            return got, status
        now = time.monotonic()
        if now > limit:
            return None
        time.sleep(min(pause, limit - now))
        pause = min(2 * pause, KILL_PAUSES[1])


def _stop(timers: list[threading.Timer]) -> None:
    """The timers cancelled, and those that fired ended (the pidfds they signal through
    are closed next)."""
    for t in timers:
        t.cancel()
    for t in timers:
        if t.ident is not None:
            t.join()


def _ends_alone(tid: int) -> bool:
    """Whether thread ``tid``, held at its exit event, may end alone, the other threads of
    its process running on (the caller tells whether it is the last). It called exit(2)
    (pthread_exit), or seccomp killed it: the kernel gives such a thread the mode
    SECCOMP_MODE_DEAD before it exits (kernel/seccomp.c: __seccomp_filter,
    __secure_computing_strict). A strict thread's forbidden call, and a filter's
    SECCOMP_RET_KILL_THREAD while another thread lives, end it alone (do_exit(SIGKILL),
    do_exit(SIGSYS)); SECCOMP_RET_KILL_PROCESS, and KILL_THREAD in the last thread left,
    force a SIGSYS on it that no handler takes and that ends the process
    (do_group_exit). /proc tells them apart by the task's flags: a fatal signal's end
    goes through get_signal, which sets PF_SIGNALED, and ends the process (or, where
    another thread runs execve, this one alone: ``_execve_elsewhere`` tells that after);
    do_exit called straight does not. The other threads' exit events cannot be waited
    for instead: a thread the group's SIGKILL wakes from a stop the tracer has seen but
    not yet let go may pass its exit stop unseen (``Tracer._lost_exit``), and where a
    core dump has begun (SIGSYS dumps core) the others wait in do_exit until it is
    written, before their exit events."""
    if _signaled(tid) is not False:  # or gone (killed at its stop: its end comes next)
        return False
    if _call_of(tid)[0] == SYS_EXIT:
        return True
    try:
        return read_seccomp_mode(Proc(), tid) == SECCOMP_MODE_DEAD
    except RoadsError:
        return False


def _signaled(tid: int) -> bool | None:
    """Whether a fatal signal is ending thread ``tid``: get_signal sets PF_SIGNALED in its
    flags (/proc/TID/stat) before do_group_exit, which ends its process, or, where
    another thread runs execve, this thread alone (de_thread: ``_execve_elsewhere``);
    exit(2) and seccomp's kills of one thread call do_exit straight. None where its
    flags cannot be read (gone)."""
    try:
        return bool(Proc().stat(tid).flags & PF_SIGNALED.value)
    except RoadsError:
        return None


def _clone_flags(tid: int) -> int:
    """The clone(2) flags of the call that made a process or thread, read from ``tid``,
    held in its PTRACE_EVENT_FORK, _VFORK or _CLONE stop: clone's first argument, the
    first field of clone3's struct clone_args; vfork is clone's CLONE_VM | CLONE_VFORK,
    fork shares nothing."""
    number, first = _call_of(tid)
    if number == SYS_CLONE:
        return first
    if number == SYS_CLONE3:
        return pt.peek(tid, first)
    return CLONE_VM if number == SYS_VFORK else 0


def _call_of(tid: int) -> tuple[int, int]:
    """The system call thread ``tid`` is held in (at an event stop: a fork's, an exit's)
    by its x86-64 number, and its first argument. One made through int 0x80 has its
    number from i386's table: those this tracer reads (``FROM_I386``) are given their
    x86-64 number, any other -1 (i386's vfork, 190, is fsetxattr on x86-64)."""
    regs = pt.get_regs(tid)
    try:
        compat = pt.syscall_info(tid).arch == pt.AUDIT_ARCH_I386
    except ProcessLookupError:
        raise
    except OSError:  # before Linux 5.3: no 32-bit call told apart
        compat = False
    if compat:
        return FROM_I386.get(regs.orig_rax & 0xFFFFFFFF, -1), regs.rbx & 0xFFFFFFFF
    return regs.orig_rax, regs.rdi


def _sigchld_heard() -> bool:
    """Have SIGCHLD sent, as the waits need: a process started with it ignored (which an
    exec keeps) neither gets one nor keeps its ended children for a wait. True if it
    was ignored and is heard now (only the main thread may say so: elsewhere the waits
    wake every ``WAKE`` seconds)."""
    if signal.getsignal(signal.SIGCHLD) != signal.SIG_IGN:
        return False
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    return True


YAMA_SCOPE = Path("/proc/sys/kernel/yama/ptrace_scope")
YAMA_SCOPES = {  # Documentation/admin-guide/LSM/Yama.rst
    "1": "only a process's ancestors may trace it (or sudo)",
    "2": "only a tracer with CAP_SYS_PTRACE may (sudo)",
    "3": "no process may be traced at all",
}


@dataclass(frozen=True)
class TraceAccess:
    """What /proc shows of this process and of a process it would trace, as the kernel's
    check of an attach reads them (``refusals``)."""

    uid: int  # this process's real uid and gid: an attach compares these (REALCREDS)
    gid: int
    cap_eff: int  # its capabilities (CapEff:, CapPrm:)
    cap_prm: int
    uids: tuple[int, ...]  # the process's real, effective and saved uids (Uid:, less fsuid)
    gids: tuple[int, ...]  # and gids (Gid:)
    their_cap_prm: int
    dumpable: bool | None  # None where /proc does not tell
    ancestor: bool  # this process is the process or one of its ancestors (PPid:)
    yama: str | None  # Yama's ptrace_scope; None without Yama


def refusals(access: TraceAccess) -> list[str]:
    """The checks of an attach (kernel/ptrace.c, __ptrace_may_access, for
    PTRACE_MODE_ATTACH_REALCREDS, then the security modules) that ``access`` fails, in
    words. The kernel asks, in turn: this process's real uid is each of the process's
    real, effective and saved uids, and its real gid each of its gids; the process is
    dumpable; it holds no capability this one does not (commoncap); and Yama's scope:
    1, this process is an ancestor of it (or named by it with PR_SET_PTRACER, which /proc
    does not show), 2, CAP_SYS_PTRACE, 3, never. CAP_SYS_PTRACE (effective) passes all
    but Yama's 3. The first of the kernel's own checks that fails is named, and Yama's
    scope besides when it refuses too."""
    privileged = bool(access.cap_eff >> CAP_SYS_PTRACE & 1)
    reasons = []
    if access.yama == "3" or (access.yama == "2" and not privileged) or (
            access.yama == "1" and not privileged and not access.ancestor):
        reasons.append(f"{YAMA_SCOPE} is {access.yama}: {YAMA_SCOPES[access.yama]}")
    if privileged:
        return reasons
    others = [words for words in (_other_ids("user", "uid", access.uids, access.uid),
                                  _other_ids("group", "gid", access.gids, access.gid)) if words]
    if others:
        reasons += others
    elif access.dumpable is False:
        reasons.append("it is not dumpable (a set-user-ID or set-group-ID program, one that "
                       "changed its ids, or one that called prctl PR_SET_DUMPABLE 0): only a "
                       "tracer with CAP_SYS_PTRACE may trace it (sudo)")
    elif access.their_cap_prm & ~access.cap_prm:
        reasons.append("it holds privileges (capabilities) that this process lacks")
    return reasons


def _other_ids(kind: str, name: str, theirs: tuple[int, ...], mine: int) -> str | None:
    """Words for ids of a process (real, effective, saved) that are not all ``mine``, or
    None when they are (or /proc did not show them)."""
    if not theirs or set(theirs) == {mine}:
        return None
    if len(set(theirs)) == 1:
        return f"it runs as another {kind} ({name} {theirs[0]})"
    return (f"its {name}s (real, effective, saved: {', '.join(map(str, theirs))}) are not all "
            f"{mine}, this process's real {name}")


def _ids(ids: tuple[int, int, int, int] | None) -> tuple[int, ...]:
    """The real, effective and saved ids of a Uid: or Gid: line of /proc/PID/status (the
    fourth, the file system's, no attach compares); none where it was not read."""
    return ids[:3] if ids else ()


def _status_owner(pid: int) -> int | None:
    """The owner of /proc/PID/status: the process's effective uid, or, while it is not
    dumpable, root (of its memory's user namespace; fs/proc/base.c, task_dump_owner)."""
    try:
        return os.stat(f"/proc/{pid}/status").st_uid
    except OSError:
        return None


def _is_ancestor(me: int, pid: int) -> bool:
    """Whether process ``me`` is ``pid`` or one of its ancestors, by the PPid: chain
    (Yama's task_is_descendant)."""
    seen = set()
    while pid > 0 and pid not in seen:
        if pid == me:
            return True
        seen.add(pid)
        pid = _ppid(pid)
    return False


def _why_not_traced(pid: int) -> str:
    """Why PTRACE_SEIZE of ``pid`` was refused, as far as this machine tells
    (``refusals``), or, when /proc shows no check it fails, the kernel's refusal as such
    (another security module, a process not dumpable where /proc cannot tell, one of
    another user namespace): no cause is named that this machine does not show."""
    theirs, mine = _status_of(pid), _status_of(os.getpid())
    try:
        yama: str | None = YAMA_SCOPE.read_text().strip()
    except OSError:
        yama = None
    uids = _ids(theirs.Uid if theirs else None)
    owner = _status_owner(pid)
    # Owned by root while not dumpable: told apart only from a process not run as root.
    dumpable = None if owner is None or len(uids) < 2 or uids[1] == 0 else owner == uids[1]
    reasons = refusals(TraceAccess(
        uid=mine.Uid[0] if mine and mine.Uid else os.getuid(),
        gid=mine.Gid[0] if mine and mine.Gid else os.getgid(),
        cap_eff=(mine and mine.CapEff) or 0,
        cap_prm=(mine and mine.CapPrm) or 0, uids=uids, gids=_ids(theirs.Gid if theirs else None),
        their_cap_prm=(theirs and theirs.CapPrm) or 0, dumpable=dumpable,
        ancestor=_is_ancestor(os.getpid(), pid), yama=yama))
    if not reasons:
        reasons.append("the kernel refused it (a security module's rule, a program made "
                       "not dumpable such as a set-user-ID one, or a process beyond this "
                       "one's reach)")
    return "; ".join(reasons)


PF_KTHREAD = 0x00200000  # linux/sched.h: the task is a kernel thread


def kernel_thread(pid: int) -> bool:
    """Whether process ``pid`` is a kernel thread (PF_KTHREAD among the flags of
    /proc/PID/stat): one ptrace refuses always (kernel/ptrace.c, ptrace_attach)."""
    try:
        return bool(Proc().stat(pid).flags & PF_KTHREAD)
    except RoadsError:  # gone, or its stat not readable
        return False


def seize_and_read(pid: int, on_stop: Callable[[Hit], None], label: str = "now",
                   deadline: float = 30.0) -> None:
    """Stop a running process (PTRACE_SEIZE, PTRACE_INTERRUPT: no signal its shell could
    see), hand it to ``on_stop``, and let it go on (PTRACE_DETACH).

    The stop comes once the process leaves the kernel, or sleeps where a signal wakes
    it: at once, mostly, but not while it sleeps where only SIGKILL does (state D: a
    vfork's parent until its child execs or exits, a read of a file system that does
    not answer). It is waited for ``deadline`` seconds at most (--deadline). A process
    that has not stopped cannot be let go by PTRACE_DETACH, which needs a stopped
    tracee, and would stop later, held by no one who knows of it; but the kernel lets
    go a thread's tracees when that thread ends (exit_ptrace). So the process is
    seized, waited for and read in a thread of its own, whose end lets it go in every
    case; this one waits for that end."""
    failed: list[BaseException] = []
    cancel = threading.Event()  # set when this thread is interrupted (Ctrl-C)

    def seize() -> None:
        try:
            _seize_and_read(pid, on_stop, label, deadline, cancel)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            failed.append(exc)

    tracer = threading.Thread(target=seize, name=f"roads explain --pid {pid}")
    tracer.start()
    try:
        tracer.join()
    except BaseException:
        cancel.set()
        tracer.join()
        raise
    finally:
        _let_go(pid, tracer.native_id)
    if failed:
        raise failed[0]


def _let_go(pid: int, tracer: int | None) -> None:
    """Wait until process ``pid`` is traced no more by the thread ``tracer`` (TracerPid:
    names the tracing thread, not its process), which has returned and ends a moment
    later, its tracees let go as it does."""
    limit = time.monotonic() + KILL_WAIT
    pause = KILL_PAUSES[0]
    while True:
        status = _status_of(pid)
        if status is None or status.TracerPid != tracer:
            return
        if time.monotonic() > limit:
            raise ExplainError(f"process {pid} is still traced by this process {KILL_WAIT:g} s "
                               "after the thread that traced it returned")
        time.sleep(pause)
        pause = min(2 * pause, KILL_PAUSES[1])


def _seize_and_read(pid: int, on_stop: Callable[[Hit], None], label: str, deadline: float,
                    cancel: threading.Event) -> None:
    """``seize_and_read``'s work, in the thread that traces ``pid``."""
    try:
        pt.call(pt.PTRACE_SEIZE, pid, 0, 0)
    except ProcessLookupError:
        raise ExplainError(f"no process {pid}") from None
    except PermissionError:
        status = _status_of(pid)
        if status is not None and status.TracerPid:
            raise ExplainError(f"may not trace process {pid}: process {status.TracerPid} (a "
                               "debugger?) traces it already") from None
        if status is not None and status.State.startswith("Z"):
            raise ExplainError(f"process {pid} has ended (a zombie, not yet reaped by its "
                               "parent): it has no memory left to read") from None
        if kernel_thread(pid):
            name = "?" if status is None else status.Name
            raise ExplainError(f"process {pid} ({name}) is a kernel thread: it runs in the "
                               "kernel alone, with no user address space to read, and "
                               "none may trace it") from None
        raise ExplainError(f"may not trace process {pid}: {_why_not_traced(pid)}") from None
    try:
        pt.call(pt.PTRACE_INTERRUPT, pid, 0, 0)
        _interrupted(pid, deadline, cancel)
        regs = pt.get_regs(pid)
        ppid = _ppid(pid)
        on_stop(Hit(pid, ppid, label, (("pc", regs.rip), ("sp", regs.rsp))))
    except ChildProcessError:
        raise ExplainError(f"process {pid} vanished while it was read") from None
    finally:
        try:
            pt.call(pt.PTRACE_DETACH, pid, 0, 0)
        except OSError:  # not stopped: let go as this thread ends (seize_and_read)
            pass


def _interrupted(pid: int, deadline: float, cancel: threading.Event) -> None:
    """Wait, ``deadline`` seconds at most, for the stop PTRACE_INTERRUPT asked of the
    seized process ``pid``; a signal that comes first is let through. Polled, the pause
    doubling as at the end of a run (``Tracer._kill_all``): this thread is not the one
    SIGCHLD is blocked in."""
    limit = time.monotonic() + deadline
    pause = KILL_PAUSES[0]
    while True:
        got, status = os.waitpid(pid, pt.WALL | os.WNOHANG)
        if got:
            if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                raise ExplainError(f"process {pid} ended before it could be read")
            if status >> 16 == pt.PTRACE_EVENT_STOP:
                return
            # A signal arrived first: let it through and wait for the interrupt.
            pt.call(pt.PTRACE_CONT, pid, 0, os.WSTOPSIG(status))
            pause = KILL_PAUSES[0]
            continue
        now = time.monotonic()
        if cancel.is_set():
            raise ExplainError(f"process {pid}: interrupted before it stopped")
        if now > limit:
            now_status = _status_of(pid)
            state = now_status.State if now_status else "not read"
            why = (f"it sleeps in the kernel where no signal wakes it (State: {state}), as a "
                   "vfork's parent does until its child execs or exits, or a read of a file "
                   "system that does not answer" if state.startswith("D")
                   else f"State: {state}")
            raise ExplainError(f"process {pid} did not stop within {deadline:g} s (--deadline) "
                               f"of being asked to (PTRACE_INTERRUPT): {why}; let go unread")
        cancel.wait(min(pause, limit - now))
        pause = min(2 * pause, KILL_PAUSES[1])
