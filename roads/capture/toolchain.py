"""Facts about this machine that can change a capture: compiler, kernel, libc, THP, ASLR,
paging levels, the vsyscall page, low-address and overcommit policy, the swap state, the
stack limit.

Read once per process and kept; each reader is a small function so the CLI, the
capture and the staleness check ask the same questions the same way. The parsing
is in ``proc`` (text in, values out); the reads are here.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import os
import platform
import re
import resource
import shutil
from collections.abc import Mapping
from pathlib import Path

from .. import command
from ..errors import CaptureError, ToolMissing
from . import dpkgcache
from .proc import (PAGING_PROBE_HINT, VSYSCALL_MODES, cmdline_stack_guard_gap,
                   paging_levels_from_probe, parse_kernel_cmdline, parse_sysctl_int,
                   parse_vsyscall_mode)


@functools.cache
def gcc_version() -> str:
    """gcc's identity, e.g. ``gcc (Debian 12.2.0-14+deb12u1) 12.2.0``; ToolMissing without gcc."""
    done = command.run(["gcc", "--version"], timeout=30)
    return done.stdout.splitlines()[0].strip()


def gcc_version_or_none() -> str | None:
    """gcc's identity, or None on a machine without gcc (frozen builds)."""
    try:
        return gcc_version()
    except ToolMissing:
        return None


# The Debian packages whose exact versions shape a binary: the compiler driver, the C
# library the samples link and run against, and the linker (binutils). Recorded as
# ``package=version`` (what ``apt-get install`` takes to get that exact build back).
PACKAGE_KEYS = ("package_gcc", "package_libc", "package_binutils")


def _dpkg_owner(path: str) -> str | None:
    """The Debian package that installed ``path`` (``gcc-12``), None without dpkg or
    when no package owns it. dpkg lists files by the path they were unpacked to, which
    on a merged-/usr system may be the ``/lib`` alias of a ``/usr/lib`` file."""
    candidates = [path]
    if path.startswith("/usr/"):
        candidates.append(path[len("/usr"):])
    for candidate in candidates:
        try:
            done = command.run(["dpkg-query", "-S", candidate], timeout=30, check=False)
        except ToolMissing:
            return None
        if done.returncode != 0:
            continue
        for line in done.stdout.splitlines():
            owner, sep, _ = line.partition(": ")
            if sep and not owner.startswith("diversion by") and "," not in owner:
                return owner.strip()
    return None


def _dpkg_version(package: str) -> str | None:
    """``package=version`` of an installed Debian package (arch qualifier dropped)."""
    try:
        done = command.run(["dpkg-query", "-W", "-f", "${Version}", package],
                           timeout=30, check=False)
    except ToolMissing:
        return None
    version = done.stdout.strip()
    if done.returncode != 0 or not version:
        return None
    return f"{package.split(':')[0]}={version}"


def _dpkg_answer(path: str) -> tuple[str | None, str | None]:
    """The package that owns ``path`` as dpkg names it (``libc6:amd64``) and its
    ``package=version``; (None, None) when none does or without dpkg."""
    owner = _dpkg_owner(path)
    return owner, None if owner is None else _dpkg_version(owner)


def _package_of(path: str | None, cache: Path | None = None) -> str | None:
    """``package=version`` of the package that owns ``path`` (its links resolved); with
    ``cache``, dpkg's answer is kept there for later processes (``dpkgcache``)."""
    if path is None:
        return None
    real = os.path.realpath(path)
    if cache is None:
        return _dpkg_answer(real)[1]
    return dpkgcache.remembered(cache, real, _dpkg_answer)


def _loaded_libc() -> str | None:
    """The file of the C library this process runs with (the samples' too)."""
    for line in (_read("/proc/self/maps") or "").splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and re.fullmatch(r"libc[.-].*so.*", Path(fields[5]).name):
            return fields[5]
    return None


@functools.cache
def package_versions(cache: Path | None = None) -> dict[str, str | None]:
    """The exact Debian builds of gcc, the C library and the linker on this machine,
    each ``package=version`` (``gcc-12=12.2.0-14+deb12u1``): the package that owns the
    ``gcc`` and ``ld`` found on PATH and the loaded libc. None for each one where dpkg is
    absent or owns no such file (another distribution, a compiler built by hand).
    Asked once per process; with ``cache`` (the project's cache folder), dpkg's answers
    are kept there and a later process asks again only what moved (``dpkgcache``)."""
    return {
        "package_binutils": _package_of(shutil.which("ld"), cache),
        "package_gcc": _package_of(shutil.which("gcc"), cache),
        "package_libc": _package_of(_loaded_libc(), cache),
    }


def _read(path: str) -> str | None:
    """The text of a small file of /proc or /sys, stripped; None when it cannot be read.
    Plain ``os`` calls: a capture reads about ten of them (``provenance``)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace").strip()


def thp_mode() -> str | None:
    """The bracketed choice of /sys/kernel/mm/transparent_hugepage/enabled."""
    text = _read("/sys/kernel/mm/transparent_hugepage/enabled")
    match = re.search(r"\[(\w+)\]", text or "")
    return match.group(1) if match else None


def randomize_va_space() -> int | None:
    """/proc/sys/kernel/randomize_va_space: 0 off, 1 partial, 2 full (with brk)."""
    text = _read("/proc/sys/kernel/randomize_va_space")
    return int(text) if text and text.isdigit() else None


def glibc_version() -> str | None:
    """The C library's version as confstr reports it (``2.36``), None if not glibc."""
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return None
    return value.split()[-1] if value.startswith("glibc") else None


def _sysctl(path: str) -> int | None:
    text = _read(path)
    try:
        return None if text is None else parse_sysctl_int(text)
    except CaptureError:
        return None


def mmap_min_addr() -> int | None:
    """/proc/sys/vm/mmap_min_addr: the lowest address an unprivileged mmap may take."""
    return _sysctl("/proc/sys/vm/mmap_min_addr")


def overcommit_memory() -> int | None:
    """/proc/sys/vm/overcommit_memory: 0 heuristic, 1 always, 2 strict accounting."""
    return _sysctl("/proc/sys/vm/overcommit_memory")


def overcommit_ratio() -> int | None:
    """/proc/sys/vm/overcommit_ratio: in mode 2 only, the percentage of physical RAM
    (beside all of swap) that may be committed; unused in modes 0 and 1."""
    return _sysctl("/proc/sys/vm/overcommit_ratio")


def overcommit_kbytes() -> int | None:
    """/proc/sys/vm/overcommit_kbytes: the ratio's counterpart in KiB of RAM; setting one
    makes the other read 0, so 0 here means the ratio is the one in force."""
    return _sysctl("/proc/sys/vm/overcommit_kbytes")


def swappiness() -> int | None:
    """/proc/sys/vm/swappiness: how readily reclaim swaps anonymous pages out rather than
    drop file pages (0 to 200 on recent kernels; default 60). Moot without swap."""
    return _sysctl("/proc/sys/vm/swappiness")


def parse_meminfo_swap(text: str) -> tuple[int | None, int | None]:
    """SwapTotal and SwapFree of /proc/meminfo, in bytes (the file says kB: KiB);
    None for a line that is missing or not ``NAME: N kB``."""
    found: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        words = rest.split()
        if sep and name in ("SwapTotal", "SwapFree") and len(words) == 2 \
                and words[0].isdigit() and words[1] == "kB":
            found[name] = int(words[0]) * 1024
    return found.get("SwapTotal"), found.get("SwapFree")


def parse_swap_areas(text: str) -> int | None:
    """How many swap areas (files or partitions) are active: the lines of /proc/swaps
    after its header (``Filename Type Size Used Priority``); None without that header."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("Filename"):
        return None
    return len(lines) - 1


def swap_state() -> dict[str, int | None]:
    """The swap there was: SwapTotal and SwapFree (bytes), the active areas, swappiness."""
    meminfo = _read("/proc/meminfo")
    total, free = parse_meminfo_swap(meminfo) if meminfo is not None else (None, None)
    swaps = _read("/proc/swaps")
    return {
        "swap_total": total,
        "swap_free": free,
        "swap_areas": parse_swap_areas(swaps) if swaps is not None else None,
        "swappiness": swappiness(),
    }


@functools.cache
def kernel_cmdline() -> dict[str, str | None]:
    """The kernel's boot parameters (empty when /proc/cmdline cannot be read). Read once
    per process: they are fixed until the next boot, which no process outlives."""
    return parse_kernel_cmdline(_read("/proc/cmdline") or "")


@functools.cache
def vsyscall_mode() -> str | None:
    """``xonly``, ``emulate`` or ``none``: from this process's ``[vsyscall]`` line, or,
    when maps cannot be read, from the ``vsyscall=`` boot parameter; None off x86-64.
    Asked once per process: the boot parameter sets it until the next boot."""
    if platform.machine() != "x86_64":
        return None
    maps = _read("/proc/self/maps")
    if maps is not None:
        try:
            return parse_vsyscall_mode(maps)
        except CaptureError:
            return None
    given = kernel_cmdline().get("vsyscall")
    return given if given in VSYSCALL_MODES else None


def stack_rlimit() -> int | None:
    """The soft RLIMIT_STACK in bytes, None when unlimited.

    The launcher sets only the CPU, address-space and core limits, so every sample
    runs with the stack limit of the build that starts it: this one.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    return None if soft == resource.RLIM_INFINITY else soft


@functools.cache
def paging_levels() -> int | None:
    """4 or 5: how many levels of page tables this kernel uses for user space.

    Probed, once per process: the ``la57`` CPU flag says only that the processor
    could. An anonymous mapping is asked for at ``PAGING_PROBE_HINT`` (above 2^47,
    without MAP_FIXED); the kernel honours such a hint only with 5-level paging and
    otherwise places the mapping below 2^47. None off x86-64 or if mmap fails.
    """
    if platform.machine() != "x86_64":
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long)
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    size = mmap.PAGESIZE
    address = libc.mmap(PAGING_PROBE_HINT, size, 0,  # PROT_NONE: never touched
                        mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if address is None or address == ctypes.c_void_p(-1).value:
        return None
    libc.munmap(address, size)
    return paging_levels_from_probe(address)


@functools.cache
def _boot_facts() -> dict[str, object]:
    """The facts of ``provenance`` that hold until the next boot (the kernel, its boot
    parameters, the page size, the paging levels, the vsyscall page) and the C
    library this process runs with: asked once per process."""
    uname = os.uname()
    return {
        "arch": platform.machine(),
        "cmdline_stack_guard_gap": cmdline_stack_guard_gap(kernel_cmdline()),
        "glibc": glibc_version(),
        "kernel": uname.release,
        "os": uname.sysname,
        "page_size": os.sysconf("SC_PAGE_SIZE"),
        "paging_levels": paging_levels(),
        "vsyscall": vsyscall_mode(),
    }


def provenance(packages: Mapping[str, str | None] | None = None) -> dict[str, object]:
    """Everything recorded with a capture about the machine that made it. What an
    administrator can change while the machine runs (the sysctls, THP, the swap, the
    stack limit) is read at each call; gcc and the packages once per process.
    ``packages``: ``package_versions`` as the caller has it (one asked with a cache
    folder, or in the process that started this one); by default asked here."""
    if packages is None:
        packages = package_versions()
    facts = {
        **_boot_facts(),
        "gcc": gcc_version_or_none(),
        "mmap_min_addr": mmap_min_addr(),
        "overcommit_kbytes": overcommit_kbytes(),
        "overcommit_memory": overcommit_memory(),
        "overcommit_ratio": overcommit_ratio(),
        **{key: packages[key] for key in PACKAGE_KEYS},
        "randomize_va_space": randomize_va_space(),
        "stack_rlimit": stack_rlimit(),
        **swap_state(),
        "thp": thp_mode(),
    }
    return {key: facts[key] for key in sorted(facts)}
