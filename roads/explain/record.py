"""What a ``roads explain`` session made (``Session``), and the JSON it is saved as.

Apart from the code that runs a session (``roads.explain.session``: the tracer, the
capture engine, pyelftools), so that drawing a saved session (the site's
``explained()`` figures) loads none of it.
"""

from __future__ import annotations

import errno
import os
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from .. import document
from ..constants import ADDRESS_BITS
from ..errors import ExplainError, json_document
from ..units import human_size
from .mapped import MappedFile
from .siginfo import (DATA_FAULTS, FAULT_SIGNALS, NO_DATA_ADDRESS, OWN_SIGINFO_CALLS, SENT_WITH,
                      SI_KERNEL, SigInfo, code_name, fault_words, sent_by)

VARIANT = "default"
# No sample's build folder to write "/build": paths stay as the machine names them, the
# run's folder (RUN_ROOT, where a program roads explain compiles runs) too
# (snapshot.normalise_path).
NO_BUILD_DIR = None


# The largest error number a system call returns, as -errno (linux/err.h, MAX_ERRNO):
# a result from -MAX_ERRNO to -1 is a failure, whatever the call.
MAX_ERRNO = 4095
# The system calls whose result is an address (drawn where it points), not a number.
ADDRESS_CALLS = frozenset({"mmap", "mremap", "brk", "shmat"})
# Numbers the kernel uses for a call a signal interrupted (include/linux/errno.h): seen
# at the call's return by a tracer, never by the program, whose C library errno module
# does not know them.
RESTART = {512: "ERESTARTSYS", 513: "ERESTARTNOINTR", 514: "ERESTARTNOHAND",
           516: "ERESTART_RESTARTBLOCK"}


@dataclass(frozen=True)
class Returned:
    """What a system call returned at a syscall stop: its ``name`` and ``value``, the
    register's 64 bits read as a signed number (a failure is -errno)."""

    name: str
    value: int

    @property
    def failed(self) -> bool:
        return -MAX_ERRNO <= self.value < 0

    @property
    def address(self) -> int | None:
        """Where the result points, for a call that returns an address and did not fail."""
        return self.value if self.name in ADDRESS_CALLS and not self.failed else None

    def words(self) -> str:
        """``failed: ENOENT (No such file or directory)``, ``returned 3``, ``returned
        0x7ffff7fc1000`` (an address), as strace writes them."""
        if self.failed:
            number = -self.value
            if number in RESTART:
                return (f"failed: {RESTART[number]} (interrupted by a signal; the kernel "
                        "runs the call again, or makes it fail with EINTR)")
            name = errno.errorcode.get(number, f"error {number}")
            return f"failed: {name} ({os.strerror(number)})"
        return f"returned {self.value:#x}" if self.address is not None else f"returned {self.value}"


def signed(register: int) -> int:
    """A 64-bit register's value read as a signed number."""
    return register - (1 << 64) if register >> 63 else register


@dataclass(frozen=True)
class SelfStop:
    """A process of the run stopped by a stop signal (SIGSTOP, SIGTSTP, ...), held
    stopped as job control keeps it, and then continued: by a process of the run
    (SIGCONT), or by roads explain once none had, ``after`` seconds later; or ended
    while held (``ended``), killed."""

    pid: int
    signal: str  # its name: SIGSTOP
    sender: int | None  # the process that sent it (None: no process did; ``code`` says what)
    by_us: bool  # whether roads explain sent the SIGCONT
    after: float  # how long roads explain waits for another process to send it
    code: int | None = None  # its si_code (siginfo.h); None: a session saved before it was kept
    # How it ended while held, as a process's end is said ("killed by SIGKILL"); "" if
    # it was continued.
    ended: str = ""

    def words(self) -> str:
        stopped = stop_words(self.pid, self.signal, self.sender, self.code)
        if self.ended:
            return f"{stopped}; it was {self.ended} while held stopped, before anything continued it"
        if not self.by_us:
            return f"{stopped}; another process of the run continued it (SIGCONT)"
        return (f"{stopped}; nothing of the run continued it within {self.after:g} s, so "
                "roads explain did, with SIGCONT, as a shell's fg would")


def listed(words: Sequence[str]) -> str:
    """``words`` as a sentence lists them: "3", "3 and 7", "3, 7 and 9"."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


# The roles of the processes of a run, by how many forks below the program each is.
GENERATIONS = ("parent", "child", "grandchild")


def generation(pid: int, parents: Mapping[int, int]) -> str:
    """The role of process ``pid`` by how many forks lie between it and the program,
    ``parents`` giving the maker of each process of the run but the program: the
    program is the parent (where it made others), a process it made the child, one
    that child made the grandchild, any further down a descendant."""
    depth = 0
    while pid in parents and depth <= len(GENERATIONS):
        pid, depth = parents[pid], depth + 1
    return GENERATIONS[depth] if depth < len(GENERATIONS) else "descendant"


def stop_words(pid: int, signal: str, sender: int | None, code: int | None) -> str:
    """How process ``pid`` was stopped by ``signal``, its sender named: itself, another
    process, or, where no process sent it, what its si_code ``code`` says did (a timer,
    the kernel: ``siginfo.sent_by``)."""
    if sender == pid:
        return f"process {pid} stopped itself with {signal}"
    if sender == 0:  # what the kernel gives for a sender the receiver's pid namespace lacks
        return (f"process {pid} was stopped by {signal} from a process outside its pid "
                "namespace (the run's sandbox's, or a container's), where that sender has "
                "no id")
    if sender is not None:
        return f"process {pid} was stopped by {signal} from process {sender}"
    if code is None:
        return f"process {pid} was stopped by {signal}"
    return f"process {pid} was stopped by {signal}, sent by {sent_by(code, signal)}"


def sent_words(pid: int, signal: str, info: SigInfo, call: str, claimed: str) -> str:
    """How ``signal``, a fault's signal that killed process ``pid`` where no fault of
    its instruction raised it, was sent, in words that follow "was killed by SIGSEGV":
    who sent it, as its siginfo ``info`` says, and with what. ``call`` is the system
    call the thread was returning from as the signal came ("" at none), and
    ``claimed`` what its si_code and si_addr would say of a fault (``Crash.fault``),
    where its si_code is one of the kernel's (above 0)."""
    if info.si_code > 0:
        if call in OWN_SIGINFO_CALLS:
            return (f", which it sent itself with {call}, writing a siginfo that reads as a "
                    f"fault's ({claimed}): no instruction of it faulted (a process may give "
                    "a signal it sends itself any si_code, which the kernel refuses from "
                    "any other process)")
        # The kernel sends one itself for what it finds wrong in a call: a signal's
        # frame it cannot write at the call's return (force_sigsegv), or read back in
        # rt_sigreturn; or a process may have queued it to itself while it was blocked.
        return (f", which came as it returned from the system call {call}, not at a "
                f"faulting instruction: its siginfo reads as a fault's ({claimed}), but the "
                "kernel sends such a signal for what it finds wrong in a system call (a "
                "signal's frame it cannot write, or read back), and a process may send "
                "one to itself with any si_code (rt_sigqueueinfo)")
    if info.si_pid is None:
        return f", sent by {sent_by(info.si_code, signal)}: no fault of its instruction"
    how = f"with {SENT_WITH.get(info.si_code, f'si_code {info.si_code}')}"
    if info.si_pid == pid:
        return f", which it sent itself {how}, as its siginfo says: no fault of its instruction"
    if info.si_pid == 0:  # a sender the receiver's pid namespace lacks
        who = "a process outside its pid namespace"
    else:
        who = f"process {info.si_pid}" + (f" (user {info.si_uid})" if info.si_uid is not None
                                           else "")
    return f", sent by {who} {how}, as its siginfo says: no fault of its instruction"


# A crash's stack_limit where the process had no limit on its stack's size.
UNLIMITED = "unlimited"
# A crash whose handler the kernel could not run (``Crash.frame_failed``), in words.
FRAME_FAILED = ("its handler could not run: the kernel found no room for its frame on the "
                "stack, and sent SIGSEGV of its own, which kills")


@dataclass(frozen=True)
class Crash:
    """A fault that killed a process of the run, as the stop taken at its signal's
    delivery recorded it (``trace.Tracer._fault_stop``): the signal's name (SIGSEGV),
    its si_code (``code``: SEGV_MAPERR's 1, SI_KERNEL), the address the faulting
    instruction touched (``addr``, si_addr: None for SIGILL and SIGFPE, whose si_addr is
    the instruction's own, and where the kernel gives none), the instruction's address
    (``pc``), and the function of its file that holds it, as ``main+16`` ("" where no
    symbol of the file covers it, or none was looked for)."""

    signal: str
    code: int
    addr: int | None
    pc: int
    symbol: str = ""
    # Whether the program had a handler of the fault that the kernel could not run (no
    # room on the stack for its frame: a stack overflow), and so sent SIGSEGV of its
    # own (SI_KERNEL) at the same instruction, with the default disposition, which
    # killed: the fault told is the first one, that the handler was for.
    frame_failed: bool = False
    # The soft RLIMIT_STACK of the crashed process as its /proc/TID/limits gave it at
    # the stop, in bytes: the limit the kernel grew its stack against
    # (acct_stack_growth), which the program may have set itself (setrlimit) or
    # inherited from whoever started it (--pid). UNLIMITED where it had none; None
    # where it was not read (a session saved before it was): the page then goes by
    # the limit of the command that captured it.
    stack_limit: int | str | None = None
    # Where ``frame_failed``: the signal of the fault whose handler could not run, where
    # it is not the SIGSEGV that killed (SIGILL, SIGBUS, SIGFPE: the kernel then sent
    # SIGSEGV in its place, force_sigsegv); "" otherwise. ``code`` and ``addr`` are its.
    handled: str = ""

    @property
    def fault_signal(self) -> str:
        """The signal of the fault told: the one that killed, or, where its handler
        could not run, the one that handler was for."""
        return self.handled or self.signal

    def frame_words(self) -> str:
        """Where ``frame_failed``: that the handler could not run, in words."""
        if not self.handled:
            return FRAME_FAILED
        return (f"its handler of {self.handled} could not run: the kernel found no room "
                "for its frame on the stack, and sent SIGSEGV of its own, which kills")

    @classmethod
    def of(cls, signal: str, code: int, si_addr: int, pc: int) -> Crash:
        """The crash a fault's siginfo (``signal``, ``code``, ``si_addr``) and the pc
        at its delivery-stop tell: an address kept only where it is the data's."""
        data = (signal in DATA_FAULTS and code != SI_KERNEL
                and code not in NO_DATA_ADDRESS.get(signal, ()))
        return cls(signal, code, si_addr if data else None, pc)

    def fault(self) -> str:
        """What the fault was and where, in words: "no mapping at 0x10 (SEGV_MAPERR)",
        "an integer division by zero (FPE_INTDIV)"."""
        signal = self.fault_signal
        words, name = fault_words(signal, self.code), code_name(signal, self.code)
        if self.code == SI_KERNEL:
            return f"{words} ({name})" if words else f"sent by the kernel ({name})"
        at = f" at {self.addr:#x}" if self.addr is not None else ""
        return f"{words}{at} ({name})" if words else f"a fault{at} ({name})"

    def instruction(self) -> str:
        """The faulting instruction's place: "0x555555555139 (main+16)"."""
        return f"{self.pc:#x}" + (f" ({self.symbol})" if self.symbol else "")


@dataclass(frozen=True)
class UnreadStop:
    """A stop the run reached whose memory could not be read: its ``--at``, the process
    held there, and why, in words that say what the user could do."""

    label: str
    pid: int
    reason: str


@dataclass
class Session:
    """What a session made: the document, the program's real path, and how it ended."""

    capture: document.Capture
    exe: str
    command: list[str]
    ending: str  # how the run ended, in words
    complete: bool  # every stop asked for was reached
    missing: list[str]
    # The bytes written to stdout or stderr, all told, where more than the run keeps.
    cut: dict[str, int] = field(default_factory=dict)
    # Stops reached but not read (``UnreadStop``), in the order they came; the page
    # shows the others.
    unread: list[UnreadStop] = field(default_factory=list)
    # What the system call of each syscall stop returned, by the stop's ``--at``.
    returned: dict[str, Returned] = field(default_factory=dict)
    # Each time a stop signal stopped a process of the run, and how it went on.
    stopped: list[SelfStop] = field(default_factory=list)
    # Why a stop of ``missing`` was not reached, where the run knows, by its --at.
    unreached: dict[str, str] = field(default_factory=dict)
    # How many bytes the loader maps of each ELF file the stops map, from its first page
    # (``symbols.load_span``), by its path as maps names it: anonymous memory past them
    # is not its bss. Empty in a session saved before it was kept.
    spans: dict[str, int] = field(default_factory=dict)
    # The file each path the stops map named while they were held (``mapped``), by its
    # path as maps names it: what is read after the run must be that file. This
    # machine's devices, inodes and times: not saved (``session_json``).
    files: dict[str, MappedFile | None] = field(default_factory=dict)
    # The thread, other than the process's main one, that reached a function or system
    # call stop first (``trace.Hit.thread``), by the stop's ``Checkpoint.seq``: the pc
    # and sp drawn are that thread's. Empty in a session saved before it was kept.
    threads: dict[int, int] = field(default_factory=dict)
    # The program and its arguments as a shell reads them back (``shellwords.join``):
    # ``command`` writes a byte that was not UTF-8 as \\xNN, which quotes cannot give
    # back. Empty in a session saved before it was kept, whose page quotes ``command``.
    typed: str = ""
    # Whether the run's process ids are those of a pid namespace of its own (the
    # sandbox's): its pid 3 is not this machine's, nor its /proc/3.
    own_pids: bool = False
    # The run's other processes that shared the stopped process's address space at the
    # stop (``trace.Tracer.sharing_memory``: clone's CLONE_VM), by the stop's
    # ``Checkpoint.seq``; stops that share it with none are left out. Empty in a session
    # saved before it was kept.
    shared: dict[int, tuple[int, ...]] = field(default_factory=dict)
    # Whether the program writes through C stdio's buffers (``symbols.writes_through_stdio``),
    # whose output a process that never calls exit() loses: None where its file cannot
    # tell, and in a session saved before it was kept.
    stdio: bool | None = None
    # The stops (by ``Checkpoint.seq``) whose process ran another file than the program
    # started, as stat(2) of /proc/PID/exe told at the stop: another program since an
    # execve, or another file at the program's own path (a new build renamed over it,
    # then run), which its path alone does not tell. Empty in a session saved before it
    # was kept, and where the started file could not be identified.
    other_file: frozenset[int] = frozenset()
    # The faults that killed a process of the run, each with the stop taken at its
    # signal's delivery (``Crash``), by that stop's ``Checkpoint.seq``. Empty in a session
    # saved before it was kept.
    crashes: dict[int, Crash] = field(default_factory=dict)
    # The limit on address space (RLIMIT_AS, bytes) each process of the program had, set
    # by roads explain in its sandbox (``constants.PROGRAM_ADDRESS_SPACE``): None where it
    # set none (--no-sandbox, --pid), and in a session saved before it was kept.
    address_space: int | None = None

    def not_reached(self) -> list[str]:
        """Each stop of ``missing``, with why it was not reached where the run knows: as
        the page's Not reached and the command's closing line give them."""
        return [f"{label} ({self.unreached[label]})" if label in self.unreached else label
                for label in self.missing]

    @property
    def whole(self) -> bool:
        """Whether the page shows every stop asked for: each reached and read."""
        return self.complete and not self.unread


def session_json(session: Session, *, files: bool = True) -> dict:
    """A session as plain JSON data (``roads explain --save``; the sandbox's result).
    Without ``files`` the identities of the files mapped are left out (``--save``: they
    hold this machine's inodes and times, and drawing a saved session reads no file of
    its run)."""
    data = {"explain": 1, "capture": document.to_builtins(session.capture), "exe": session.exe,
            "command": session.command, "ending": session.ending,
            "complete": session.complete, "missing": session.missing}
    if session.cut:
        data["cut"] = session.cut
    if session.unread:
        data["unread"] = [{"label": u.label, "pid": u.pid, "reason": u.reason}
                          for u in session.unread]
    if session.returned:
        data["returned"] = {label: {"name": r.name, "value": r.value}
                            for label, r in session.returned.items()}
    if session.stopped:
        data["stopped"] = [{"pid": t.pid, "signal": t.signal, "sender": t.sender,
                            "by_us": t.by_us, "after": t.after, "code": t.code,
                            "ended": t.ended} for t in session.stopped]
    if session.unreached:
        data["unreached"] = session.unreached
    if session.spans:
        data["spans"] = session.spans
    if files and session.files:
        data["files"] = {path: None if seen is None else list(astuple(seen))
                         for path, seen in session.files.items()}
    if session.threads:  # JSON's keys are text
        data["threads"] = {str(seq): tid for seq, tid in session.threads.items()}
    if session.typed:
        data["typed"] = session.typed
    if session.own_pids:
        data["own_pids"] = True
    if session.shared:
        data["shared"] = {str(seq): list(pids) for seq, pids in session.shared.items()}
    if session.stdio is not None:
        data["stdio"] = session.stdio
    if session.other_file:
        data["other_file"] = sorted(session.other_file)
    if session.crashes:
        data["crashes"] = {str(seq): {"signal": c.signal, "code": c.code, "addr": c.addr,
                                      "pc": c.pc, "symbol": c.symbol,
                                      **({"frame_failed": True} if c.frame_failed else {}),
                                      **({"stack_limit": c.stack_limit}
                                         if c.stack_limit is not None else {}),
                                      **({"handled": c.handled} if c.handled else {})}
                           for seq, c in session.crashes.items()}
    if session.address_space is not None:
        data["address_space"] = session.address_space
    return data


def session_from_json(data: dict) -> Session:
    """The session ``session_json`` wrote; ExplainError when it is not one."""
    try:
        return Session(document.from_builtins(data["capture"]), data["exe"], list(data["command"]),
                       data["ending"], bool(data["complete"]), list(data["missing"]),
                       {str(k): int(v) for k, v in data.get("cut", {}).items()},
                       [UnreadStop(str(u["label"]), int(u["pid"]), str(u["reason"]))
                        for u in data.get("unread", [])],
                       {str(label): Returned(str(r["name"]), int(r["value"]))
                        for label, r in data.get("returned", {}).items()},
                       [SelfStop(int(t["pid"]), str(t["signal"]),
                                 None if t["sender"] is None else int(t["sender"]),
                                 bool(t["by_us"]), float(t["after"]),
                                 None if t.get("code") is None else int(t["code"]),
                                 str(t.get("ended", "")))
                        for t in data.get("stopped", [])],
                       {str(label): str(why) for label, why in data.get("unreached", {}).items()},
                       {str(path): int(span) for path, span in data.get("spans", {}).items()},
                       {str(path): None if seen is None else MappedFile(*map(int, seen))
                        for path, seen in data.get("files", {}).items()},
                       {int(seq): int(tid) for seq, tid in data.get("threads", {}).items()},
                       str(data.get("typed", "")), bool(data.get("own_pids", False)),
                       {int(seq): tuple(int(p) for p in pids)
                        for seq, pids in data.get("shared", {}).items()},
                       None if data.get("stdio") is None else bool(data["stdio"]),
                       frozenset(int(seq) for seq in data.get("other_file", ())),
                       {int(seq): _crash(c) for seq, c in data.get("crashes", {}).items()},
                       None if data.get("address_space") is None else int(data["address_space"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ExplainError(f"not a document roads explain saved: {exc}") from None


ADDRESS_END = 1 << ADDRESS_BITS.value


def address_space_words(limit: int) -> str:
    """The sandbox's limit on address space, ``limit`` bytes for each process
    (``constants.PROGRAM_ADDRESS_SPACE``, as roads explain --help gives it), and what it
    refuses: for a program whose words show an allocation refused (``refused_memory``),
    in the error that writes no page, on the page and on the terminal."""
    return (f"in the sandbox each process has {human_size(limit)} of address space in all, "
            "as under roads run (roads explain --help): an mmap or malloc that would take it "
            "past that, or the shadow memory of a program built with -fsanitize=address, "
            "fails there with ENOMEM; --no-sandbox runs the program as you, outside")


def _crash(saved: Mapping) -> Crash:
    """A saved crash, checked as the page will use it: a fault's signal, addresses that
    an address space holds (a value outside it left the page's map with no place for
    it), a symbol that is text; ValueError naming the field otherwise."""
    signal, addr, pc = saved["signal"], saved["addr"], saved["pc"]
    if signal not in FAULT_SIGNALS:
        raise ValueError(f"a crash's signal {signal!r} is not one of {', '.join(FAULT_SIGNALS)}")
    for name, value in (("addr", addr), ("pc", pc)):
        if value is None and name == "addr":
            continue
        if type(value) is not int or not 0 <= value < ADDRESS_END:
            raise ValueError(f"a crash's {name} {value!r} is no address")
    symbol = saved.get("symbol") or ""
    if type(saved["code"]) is not int or not isinstance(symbol, str):
        raise ValueError(f"a crash's code {saved['code']!r} or symbol {symbol!r} is malformed")
    limit = saved.get("stack_limit")
    if limit is not None and limit != UNLIMITED and (type(limit) is not int or limit < 0):
        raise ValueError(f"a crash's stack_limit {limit!r} is no size")
    handled = saved.get("handled") or ""
    if handled and handled not in FAULT_SIGNALS:
        raise ValueError(f"a crash's handled signal {handled!r} is not one of "
                         f"{', '.join(FAULT_SIGNALS)}")
    return Crash(signal, saved["code"], addr, pc, symbol, bool(saved.get("frame_failed", False)),
                 limit, handled)


def load_session(path: str | Path) -> Session:
    try:
        return session_from_json(json_document(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ExplainError(f"{path}: {exc}") from None
