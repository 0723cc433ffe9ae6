"""ptrace(2) through ctypes: the few requests ``roads explain`` needs (x86-64 Linux).

Why ptrace and not gdb: a stop must hold the process still while the build reads its
/proc files from outside, then let it go on; with ptrace the process is this Python
process's own tracee, so the stop, the read and the resume are three calls, without a
second program, its start-up time or a protocol to parse, and ``--pid`` needs
PTRACE_SEIZE/PTRACE_INTERRUPT, which gdb does not use (it stops with SIGSTOP).
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
from typing import NamedTuple

from ..constants import ADDR_NO_RANDOMIZE
from .siginfo import SIGINFO_SIZE, SigInfo, parse_siginfo

PTRACE_TRACEME = 0
PTRACE_PEEKDATA = 2
PTRACE_POKEDATA = 5
PTRACE_CONT = 7
PTRACE_SINGLESTEP = 9
PTRACE_GETREGS = 12
PTRACE_SETREGS = 13
PTRACE_DETACH = 17
PTRACE_SYSCALL = 24
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETEVENTMSG = 0x4201
PTRACE_GETSIGINFO = 0x4202
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_GET_SYSCALL_INFO = 0x420E  # Linux 5.3

PTRACE_O_TRACESYSGOOD = 0x01
PTRACE_O_TRACEFORK = 0x02
PTRACE_O_TRACEVFORK = 0x04
PTRACE_O_TRACECLONE = 0x08
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_TRACEEXIT = 0x40
PTRACE_O_EXITKILL = 0x100000

PTRACE_EVENT_FORK = 1
PTRACE_EVENT_VFORK = 2
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXEC = 4
PTRACE_EVENT_EXIT = 6
SIGTRAP = 5  # asm/signal.h; the low byte of an event stop's si_code
PTRACE_EVENT_STOP = 128

# struct ptrace_syscall_info's op (linux/ptrace.h): 1 at a call's entry, 2 at its exit.
PTRACE_SYSCALL_INFO_EXIT = 2
SYSCALL_INFO_SIZE = 88  # sizeof(struct ptrace_syscall_info): the largest of its unions
# Its arch (linux/audit.h): which table the call's number is of. A 64-bit process may
# also enter the kernel by ``int 0x80``, the 32-bit entry, and its number is then of
# i386's table (1 exit, 4 write, 192 mmap2), not x86-64's.
AUDIT_ARCH_X86_64 = 0xC000003E  # EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
AUDIT_ARCH_I386 = 0x40000003  # EM_386 | __AUDIT_ARCH_LE


WALL = 0x40000000  # __WALL: wait for threads and children alike

_libc = ctypes.CDLL(None, use_errno=True)
_ptrace = _libc.ptrace
_ptrace.restype = ctypes.c_long
_ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
_personality = _libc.personality
_personality.restype = ctypes.c_int
_personality.argtypes = [ctypes.c_ulong]
_prctl = _libc.prctl
_prctl.restype = ctypes.c_int
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37  # linux/prctl.h
PR_SET_DUMPABLE = 4  # linux/prctl.h
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
SYS_KCMP, KCMP_VM = 312, 1  # asm/unistd_64.h, linux/kcmp.h


class Regs(ctypes.Structure):
    """``struct user_regs_struct`` of x86-64 (sys/user.h)."""

    _fields_ = [(name, ctypes.c_ulonglong) for name in (
        "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx",
        "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base",
        "gs_base", "ds", "es", "fs", "gs")]


def call(request: int, pid: int, addr: int = 0, data: int | ctypes.c_void_p = 0) -> int:
    """ptrace(request, pid, addr, data); OSError with errno on failure."""
    ctypes.set_errno(0)
    result = _ptrace(request, pid, ctypes.c_void_p(addr), data if isinstance(data, ctypes.c_void_p)
                     else ctypes.c_void_p(data))
    if result == -1:
        err = ctypes.get_errno()
        if err:
            raise OSError(err, os.strerror(err))
    return result


def same_memory(tid: int, other: int) -> bool | None:
    """Whether threads ``tid`` and ``other`` share one address space (one mm) now:
    kcmp(2)'s KCMP_VM, which needs PTRACE_MODE_READ of both. A thread that has ended
    has no mm, and two such compare equal: give it threads that run (a process's main
    thread may have ended, pthread_exit, while others run on). None where it cannot
    tell: a kernel built without kcmp (CONFIG_KCMP), a thread gone or not ours to read."""
    ctypes.set_errno(0)
    result = _syscall(ctypes.c_long(SYS_KCMP), ctypes.c_long(tid), ctypes.c_long(other),
                      ctypes.c_long(KCMP_VM), ctypes.c_long(0), ctypes.c_long(0))
    if result == -1:
        return None
    return result == 0


def traceme() -> None:
    call(PTRACE_TRACEME, 0)


def randomize(on: bool) -> None:
    """Turn ASLR on or off for this process and what it executes (personality(2)'s
    ADDR_NO_RANDOMIZE, cleared or set: a flag inherited from whoever started roads,
    ``setarch -R`` or gdb, is cleared for ``--aslr``); an OSError when the personality
    does not take it (a seccomp filter may refuse the call)."""
    current = _personality(0xFFFFFFFF)
    failed = _personality(current & ~ADDR_NO_RANDOMIZE if on else current | ADDR_NO_RANDOMIZE)
    now = _personality(0xFFFFFFFF)
    if now == -1 or bool(now & ADDR_NO_RANDOMIZE) == on:
        flag = "clear" if on else "take"
        # errno only where a call said it failed; else it is an earlier call's.
        raise OSError((ctypes.get_errno() if -1 in (failed, now) else 0) or errno.EPERM,
                      f"personality(2) did not {flag} ADDR_NO_RANDOMIZE: ASLR cannot be "
                      f"turned {'on' if on else 'off'} here"
                      + ("" if on else " (run with --aslr)"))


def not_dumpable() -> None:
    """Make this process not dumpable (prctl(2), PR_SET_DUMPABLE 0): a process of the
    same user may then no longer open its /proc files (fd/, mem, environ...) nor attach
    to it, short of CAP_SYS_PTRACE (ptrace_may_access in kernel/ptrace.c). A child it
    forks is so too until it runs execve, which makes a program of a readable file
    dumpable again."""
    if _prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_DUMPABLE): {os.strerror(err)}")


def die_with(parent: int) -> None:
    """Ask for SIGKILL when the thread that forked this process ends (prctl(2),
    PR_SET_PDEATHSIG), and exit at once (status 127) where ``parent``, that process, has
    ended already (this one's parent is then another). Kept across execve but for a
    program that gains privileges (set-user-ID, capabilities), and not given to children."""
    if _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG): {os.strerror(err)}")
    if os.getppid() != parent:
        os._exit(127)


def child_subreaper(on: bool | None = None) -> bool:
    """Whether this process adopts its orphaned descendants (prctl(2),
    PR_SET_CHILD_SUBREAPER), as it was before ``on``, when given, set it."""
    flag = ctypes.c_int(0)
    if _prctl(PR_GET_CHILD_SUBREAPER, ctypes.cast(ctypes.pointer(flag), ctypes.c_void_p).value,
              0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    if on is not None and _prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return bool(flag.value)


def peek(pid: int, addr: int) -> int:
    """The 8 bytes at ``addr`` of ``pid``, little-endian."""
    return call(PTRACE_PEEKDATA, pid, addr) & 0xFFFFFFFFFFFFFFFF


def poke(pid: int, addr: int, word: int) -> None:
    call(PTRACE_POKEDATA, pid, addr, ctypes.c_void_p(word & 0xFFFFFFFFFFFFFFFF))


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


# process_vm_readv(2) and process_vm_writev(2), where this C library has them.
_process_vm_readv = getattr(_libc, "process_vm_readv", None)
_process_vm_writev = getattr(_libc, "process_vm_writev", None)
for _call in (_process_vm_readv, _process_vm_writev):
    if _call is not None:
        _call.restype = ctypes.c_ssize_t
        _call.argtypes = [ctypes.c_int, ctypes.POINTER(_IoVec), ctypes.c_ulong,
                          ctypes.POINTER(_IoVec), ctypes.c_ulong, ctypes.c_ulong]


def store(pid: int, addr: int, word: int) -> bool:
    """Write the 8 bytes ``word`` at ``addr`` of ``pid`` as the process's own store
    would: only where its memory is mapped writable there (process_vm_writev(2), which,
    unlike PTRACE_POKEDATA, neither forces its way through a page's protections nor
    grows a stack); False where it is not, or the call is not there (the kernel was
    built without it), nothing written. ``addr`` within one page."""
    if (addr & 0xFFF) > 0x1000 - 8:
        return False  # across two pages: one could be written and not the other
    data = ctypes.c_uint64(word & 0xFFFFFFFFFFFFFFFF)
    local = _IoVec(ctypes.cast(ctypes.pointer(data), ctypes.c_void_p), 8)
    remote = _IoVec(ctypes.c_void_p(addr), 8)
    if _process_vm_writev is None:
        return False
    return _process_vm_writev(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) == 8


def load(pid: int, addr: int, size: int) -> bytes | None:
    """The ``size`` bytes at ``addr`` of ``pid`` as the process's own load would find
    them: only where its memory is mapped readable now (process_vm_readv(2), which,
    unlike PTRACE_PEEKDATA, does not force its way through a page made PROT_NONE);
    None where some are not, or the call is not there."""
    if _process_vm_readv is None:
        return None
    data = ctypes.create_string_buffer(size)
    local = _IoVec(ctypes.cast(data, ctypes.c_void_p), size)
    remote = _IoVec(ctypes.c_void_p(addr), size)
    if _process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) != size:
        return None
    return data.raw


def get_regs(pid: int) -> Regs:
    regs = Regs()
    call(PTRACE_GETREGS, pid, 0, ctypes.cast(ctypes.pointer(regs), ctypes.c_void_p))
    return regs


def set_regs(pid: int, regs: Regs) -> None:
    call(PTRACE_SETREGS, pid, 0, ctypes.cast(ctypes.pointer(regs), ctypes.c_void_p))


def event_msg(pid: int) -> int:
    value = ctypes.c_ulong(0)
    call(PTRACE_GETEVENTMSG, pid, 0, ctypes.cast(ctypes.pointer(value), ctypes.c_void_p))
    return value.value


def signal_info(pid: int) -> SigInfo:
    """Who sent the signal ``pid`` is held in a signal-delivery-stop for: its siginfo's
    si_code, and si_pid where a process sent it. OSError EINVAL: ``pid`` is held in a
    group-stop, not at a signal's delivery (ptrace(2), "Group-stop")."""
    return parse_siginfo(siginfo_bytes(pid))


def siginfo_bytes(pid: int) -> bytes:
    """The siginfo_t of ``pid``'s signal-delivery-stop, as bytes (PTRACE_GETSIGINFO), to
    be read as a fault's (``siginfo.parse_fault``) or a sender's (``parse_siginfo``);
    OSError EINVAL as ``signal_info``."""
    info = (ctypes.c_ubyte * SIGINFO_SIZE)()
    call(PTRACE_GETSIGINFO, pid, 0, ctypes.cast(info, ctypes.c_void_p))
    return bytes(info)


def held_at_exit(pid: int) -> bool | None:
    """Whether ``pid`` is held at its PTRACE_EVENT_EXIT stop now, whatever stop was
    reported of it last: an event stop's siginfo is the kernel's own, with si_code
    (event << 8) | SIGTRAP (kernel/signal.c: ptrace_do_notify), which a signal a program
    queues itself (rt_sigqueueinfo) may carry too. False where it is held in a group-stop
    (no siginfo); None where it is held in no stop at all (ESRCH: running, or gone)."""
    try:
        return signal_info(pid).si_code == (PTRACE_EVENT_EXIT << 8) | SIGTRAP
    except OSError as exc:
        return None if exc.errno == errno.ESRCH else False


def signal_code(pid: int) -> int:
    """``si_code`` of the signal ``pid`` is held in a signal-delivery-stop for."""
    return signal_info(pid).si_code


class SyscallInfo(NamedTuple):
    """The head of ``struct ptrace_syscall_info`` (linux/ptrace.h)."""

    op: int  # PTRACE_SYSCALL_INFO_ENTRY or _EXIT at a syscall stop
    arch: int  # AUDIT_ARCH_X86_64, or AUDIT_ARCH_I386 for a call made by int 0x80


def syscall_info(pid: int) -> SyscallInfo:
    """Whether ``pid``, held in a syscall stop, is entering or leaving the call, as the
    kernel says, and which table its number is of. Counting the stops instead goes
    wrong where entry and exit do not alternate: an execve's exit comes after its
    PTRACE_EVENT_EXEC stop (ptrace(2), "execve(2) under ptrace")."""
    info = (ctypes.c_ubyte * SYSCALL_INFO_SIZE)()
    call(PTRACE_GET_SYSCALL_INFO, pid, SYSCALL_INFO_SIZE, ctypes.cast(info, ctypes.c_void_p))
    # __u8 op, __u8 pad[3], __u32 arch
    return SyscallInfo(info[0], int.from_bytes(bytes(info[4:8]), "little"))
