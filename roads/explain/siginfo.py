"""siginfo_t, what the kernel says of a signal it delivers (the kernel's
include/uapi/asm-generic/siginfo.h): who sent it, read from its ``si_code`` and
``si_pid``, and said in words; and, for a fault's signal (SIGSEGV, SIGBUS, SIGILL,
SIGFPE), what the fault was (its ``si_code`` by name) and where (``si_addr``); and
whether a signal delivered now would kill, from a thread's dispositions in
/proc/TID/status.

Pure: the bytes come from PTRACE_GETSIGINFO (``roads.explain.ptrace``); the words go
to a saved session (``roads.explain.record``), which loads no tracer to draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..capture.proc import Status

SIGINFO_SIZE = 128  # sizeof(siginfo_t): SI_MAX_SIZE
# Where x86-64's siginfo_t keeps its fields (offsetof, checked with gcc against glibc's
# and the kernel's headers): si_signo, si_errno and si_code are ints; the union follows
# after 4 bytes of padding, opening with si_pid or, for a fault, si_addr.
SI_SIGNO, SI_CODE, SI_UNION = 0, 8, 16

# The si_code values (asm-generic/siginfo.h). Those above 0 are the kernel's own
# (SI_KERNEL, or a code of the signal's: a fault's, a child's end, SIGPOLL's band);
# those at or below 0 a process may send (SI_FROMUSER), the kernel too for some.
SI_USER = 0  # kill, raise
SI_KERNEL = 0x80
SI_QUEUE = -1  # sigqueue
SI_TIMER = -2  # a POSIX timer's expiry (timer_create)
SI_MESGQ = -3  # a message queue's notice (mq_notify)
SI_ASYNCIO = -4  # the end of an asynchronous I/O (aio_*)
SI_SIGIO = -5  # a queued SIGIO
SI_TKILL = -6  # tkill, tgkill
SI_DETHREAD = -7  # an execve ending the other threads
SI_ASYNCNL = -60  # the end of an asynchronous name lookup (glibc's getaddrinfo_a)

# The codes whose siginfo names the sending process in si_pid: kill, sigqueue, a
# message queue's notice (the process whose message made it), tkill and tgkill. The
# others below 1 carry something else there (SI_TIMER a timer's id, SI_SIGIO and
# SI_ASYNCIO other data).
SENT_BY_A_PROCESS = frozenset({SI_USER, SI_QUEUE, SI_MESGQ, SI_TKILL})

# The system calls that send a signal with each code a process may give, in words.
SENT_WITH = {
    SI_USER: "kill",
    SI_TKILL: "tgkill or tkill (raise() and abort() send so)",
    SI_QUEUE: "sigqueue (rt_sigqueueinfo, whose caller writes si_pid and si_uid itself)",
}

# The system calls with which a process sends a signal with a siginfo_t of its own
# making. To another process the kernel refuses one whose si_code is 0 or more (the
# kernel's codes, and kill's) or SI_TKILL, since Linux 2.6.39; to the caller itself it
# takes any (kernel/signal.c: do_rt_sigqueueinfo, do_rt_tgsigqueueinfo,
# pidfd_send_signal), and so a process can give itself a SIGSEGV whose siginfo reads as
# a fault's, si_addr included.
OWN_SIGINFO_CALLS = frozenset({"rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal"})

# The stop signals a terminal sends its foreground or background jobs (drivers/tty:
# n_tty's Ctrl-Z, a background job's read or write), as the kernel (SI_KERNEL).
TERMINAL_SIGNALS = frozenset({"SIGTSTP", "SIGTTIN", "SIGTTOU"})

# What sent a signal with these codes, in words, where no process did.
SENDERS = {
    SI_TIMER: "a timer of the program (timer_create)",
    SI_ASYNCIO: "the C library, at the end of an asynchronous I/O of the program (aio)",
    SI_ASYNCNL: "the C library, at the end of an asynchronous name lookup of the program "
                "(getaddrinfo_a)",
    SI_SIGIO: "a queued SIGIO (SI_SIGIO)",
    SI_DETHREAD: "the kernel, as an execve ended the process's other threads",
}


@dataclass(frozen=True)
class SigInfo:
    """The fields of a siginfo_t that say who sent the signal: ``si_code``, and
    ``si_pid`` and ``si_uid``, the sending process and its real user id, where the code
    says a process sent it (None where it does not: the fields hold something else
    then). The kernel fills them in for kill, tkill and tgkill; sigqueue's caller
    writes its own (glibc's, its pid and uid)."""

    si_code: int
    si_pid: int | None
    si_uid: int | None = None


def parse_siginfo(data: bytes) -> SigInfo:
    """A siginfo_t's bytes (x86-64) as a SigInfo: si_code is the int after si_signo and
    si_errno; si_pid opens the union, after 4 bytes of padding, and si_uid follows it."""
    code = int.from_bytes(data[SI_CODE:SI_CODE + 4], "little", signed=True)
    if code not in SENT_BY_A_PROCESS:
        return SigInfo(code, None)
    return SigInfo(code, int.from_bytes(data[SI_UNION:SI_UNION + 4], "little", signed=True),
                   int.from_bytes(data[SI_UNION + 4:SI_UNION + 8], "little"))


def sent_by(code: int, signal: str) -> str:
    """What sent ``signal`` (its name: SIGSTOP) with ``code``, its si_code, where no
    process did, in words: "a timer of the program (timer_create)", "the kernel"."""
    if code in SENDERS:
        return SENDERS[code]
    if code > 0:
        if code == SI_KERNEL and signal in TERMINAL_SIGNALS:
            return "the kernel, for its terminal's job control"
        return "the kernel"
    return f"a sender its si_code ({code}) does not name"


# --------------------------------------------------------------------------- faults

# The signals a fault of the thread's own instruction raises (the kernel's
# force_sig_fault, or force_sig for a general-protection fault), and the si_code values
# each may carry (asm-generic/siginfo.h; SEGV_CPERR, x86's shadow stack, is Linux 6.6's):
# the code's name and what it says, in words placed before " at ADDRESS".
FAULT_SIGNALS = ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE")
FAULT_CODES: dict[str, dict[int, tuple[str, str]]] = {
    "SIGSEGV": {1: ("SEGV_MAPERR", "no mapping"),
                2: ("SEGV_ACCERR", "an access its mapping's permissions forbid"),
                3: ("SEGV_BNDERR", "an access outside the bounds an MPX check allowed"),
                4: ("SEGV_PKUERR", "an access its protection key forbids"),
                10: ("SEGV_CPERR", "a control-protection fault (shadow stack)")},
    "SIGBUS": {1: ("BUS_ADRALN", "an access not aligned as the instruction needs (an "
                                 "alignment check the program turned on with the AC flag, "
                                 "or a split lock the kernel forbids), which gives no "
                                 "address"),
               2: ("BUS_ADRERR", "an access to a mapped page that nothing can back (a "
                                 "page of a mapped file past the file's end, say)"),
               3: ("BUS_OBJERR", "a hardware error of the object mapped"),
               4: ("BUS_MCEERR_AR", "a hardware memory error (machine check) in memory "
                                    "the access needed"),
               5: ("BUS_MCEERR_AO", "a hardware memory error (machine check) found in "
                                    "memory of the process")},
    # x86-64 reports any opcode it does not know (ud2, which __builtin_trap() emits,
    # among them) as ILL_ILLOPN, and any division fault, by zero or INT_MIN / -1 whose
    # quotient does not fit, as FPE_INTDIV (arch/x86/kernel/traps.c).
    "SIGILL": {1: ("ILL_ILLOPC", "an illegal opcode"),
               2: ("ILL_ILLOPN", "an instruction the processor does not know (an illegal "
                                 "operand, x86-64 calls it: ud2, which __builtin_trap() "
                                 "emits, is one)"),
               3: ("ILL_ILLADR", "an illegal addressing mode"),
               4: ("ILL_ILLTRP", "an illegal trap"),
               5: ("ILL_PRVOPC", "a privileged opcode"),
               6: ("ILL_PRVREG", "a privileged register"),
               7: ("ILL_COPROC", "a coprocessor error"),
               8: ("ILL_BADSTK", "an internal stack error"),
               9: ("ILL_BADIADDR", "an unimplemented instruction address")},
    "SIGFPE": {1: ("FPE_INTDIV", "an integer division by zero (or one whose quotient does "
                                 "not fit its register: INT_MIN / -1)"),
               2: ("FPE_INTOVF", "an integer overflow"),
               3: ("FPE_FLTDIV", "a floating-point division by zero"),
               4: ("FPE_FLTOVF", "a floating-point overflow"),
               5: ("FPE_FLTUND", "a floating-point underflow"),
               6: ("FPE_FLTRES", "an inexact floating-point result"),
               7: ("FPE_FLTINV", "an invalid floating-point operation"),
               8: ("FPE_FLTSUB", "a subscript out of range"),
               14: ("FPE_FLTUNK", "an undiagnosed floating-point exception"),
               15: ("FPE_CONDTRAP", "a trap on a condition")},
}
# A fault the kernel reports with SI_KERNEL gives no address (si_addr is 0): what makes
# it on x86-64, by signal (exc_general_protection, and exc_stack_segment's SIGBUS).
NO_ADDRESS = {
    "SIGSEGV": ("a general-protection fault, which gives no address (an access to a "
                "non-canonical address, in the hole between the halves, makes one)"),
    "SIGBUS": ("a stack-segment fault, which gives no address (an access through %rsp or "
               "%rbp to a non-canonical address makes one)"),
}
# The faults whose si_addr is the data address the instruction touched; for SIGILL and
# SIGFPE it is the instruction's own, the pc.
DATA_FAULTS = frozenset({"SIGSEGV", "SIGBUS"})
# The data faults whose si_addr x86-64 leaves 0, by signal: an alignment check
# (exc_alignment_check, a split lock too, gives BUS_ADRALN with no address).
NO_DATA_ADDRESS = {"SIGBUS": frozenset({1})}


@dataclass(frozen=True)
class Fault:
    """What a fault's siginfo_t says: the signal (``si_signo``), the fault's kind
    (``si_code``, above 0 where the kernel sent it) and ``si_addr``: the address the
    instruction touched (SIGSEGV, SIGBUS), or the instruction's own (SIGILL, SIGFPE)."""

    si_signo: int
    si_code: int
    si_addr: int


def parse_fault(data: bytes) -> Fault:
    """A siginfo_t's bytes (x86-64) read as a fault's: si_addr, a pointer, opens the
    union."""
    return Fault(int.from_bytes(data[SI_SIGNO:SI_SIGNO + 4], "little", signed=True),
                 int.from_bytes(data[SI_CODE:SI_CODE + 4], "little", signed=True),
                 int.from_bytes(data[SI_UNION:SI_UNION + 8], "little"))


def code_name(signal: str, code: int) -> str:
    """``code``, a fault's si_code, by its name for ``signal``: SEGV_MAPERR, SI_KERNEL;
    "si_code N" for one the table does not know."""
    if code == SI_KERNEL:
        return "SI_KERNEL"
    known = FAULT_CODES.get(signal, {}).get(code)
    return known[0] if known else f"si_code {code}"


def fault_words(signal: str, code: int) -> str:
    """What the fault was, in words that go before " at ADDRESS" ("no mapping"); for
    SI_KERNEL, the whole phrase (``NO_ADDRESS``), or "" where none is known."""
    if code == SI_KERNEL:
        return NO_ADDRESS.get(signal, "")
    known = FAULT_CODES.get(signal, {}).get(code)
    return known[1] if known else ""


# The masks /proc/PID/status gives of a thread's dispositions (fs/proc/array.c,
# render_sigset_t): the signals it ignores and those it catches with a handler.
def kills(status: Status, signo: int) -> bool | None:
    """Whether signal ``signo``, delivered now, kills the thread whose /proc/TID/status
    is ``status``: its disposition is the default (neither SigIgn nor SigCgt holds it),
    which for a fault's signal is to end the process with a core dump. Read at the
    signal's delivery-stop, the masks are those the delivery goes by: the kernel, sending
    a fault's signal that the thread blocked or ignored (force_sig_info_to_task), set its
    handler back to SIG_DFL and unblocked it then, and a signal stays queued while
    blocked (it reaches no delivery-stop). None where the lines are missing."""
    if status.SigIgn is None or status.SigCgt is None:
        return None
    return not (status.SigIgn | status.SigCgt) & 1 << (signo - 1)
