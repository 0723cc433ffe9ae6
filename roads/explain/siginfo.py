"""siginfo_t, what the kernel says of a signal it delivers (the kernel's
include/uapi/asm-generic/siginfo.h): who sent it, read from its ``si_code`` and
``si_pid``, and said in words.

Pure: the bytes come from PTRACE_GETSIGINFO (``roads.explain.ptrace``); the words go
to a saved session (``roads.explain.record``), which loads no tracer to draw.
"""

from __future__ import annotations

from dataclasses import dataclass

SIGINFO_SIZE = 128  # sizeof(siginfo_t): SI_MAX_SIZE

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
    ``si_pid``, the sending process, where the code says a process sent it (None
    where it does not: the field holds something else then)."""

    si_code: int
    si_pid: int | None


def parse_siginfo(data: bytes) -> SigInfo:
    """A siginfo_t's bytes (x86-64) as a SigInfo: si_code is the int after si_signo and
    si_errno; si_pid opens the union, after 4 bytes of padding."""
    code = int.from_bytes(data[8:12], "little", signed=True)
    if code not in SENT_BY_A_PROCESS:
        return SigInfo(code, None)
    return SigInfo(code, int.from_bytes(data[16:20], "little", signed=True))


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
