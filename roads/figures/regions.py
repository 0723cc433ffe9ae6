"""What each region of an address space is, and which region each pointer lands in.

``classify`` gives every line of ``maps`` exactly one kind (``KINDS``): the pieces of
the executable (from its ELF program headers, the load bias and ``PT_GNU_RELRO``),
the pieces of each shared library (from permissions, offsets and ``VmFlags``), the
heap, the stacks, guard pages, malloc arenas, the kernel's vDSO, vvar and vsyscall
pages, anonymous and file mappings. ``find_pointers`` places recorded addresses and
the executable's interesting symbols; ``bands`` cuts the whole 64-bit space into
regions and the gaps between them, including the non-canonical hole and the kernel
half, where the capture's paging mode (``canonical_for``) puts them. ``memory_map``
does all three for a ``Selection``.

Pure: records in, records out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from msgspec import UNSET

from ..constants import (ADDRESS_BITS, HEAP_MAX_SIZE, MAP_WINDOW_BITS, MMAP_GAP_MAX_DENOMINATOR,
                         MMAP_GAP_MAX_NUMERATOR, PAGE_SIZE, SIGN_BIT_4LEVEL, SIGN_BIT_5LEVEL, STACK_GUARD_GAP_PAGES, USER_BITS)
from ..document import Elf, Provenance
from ..elfspec import PF_W, PF_X
from .elflink import link_segments, load_bias
from .filenames import file_name, file_path, program_path
from ..errors import RoadsError
from ..units import human_size
from .perrecord import PerRecord
from .select import Address, Region, Selection

ADDRESS_END = 1 << ADDRESS_BITS.value


@dataclass(frozen=True)
class Canonical:
    """The halves of the 64-bit space under one paging mode of x86-64.

    User space is the lower ``2**user_bits`` bytes; the kernel's half is the same
    size at the top (the sign-extended copy); in between, addresses are
    non-canonical and any access faults with #GP. The top user page is never mapped
    (TASK_SIZE_MAX is the end minus a page), so user space as maps can show it ends
    at ``task_size``. arch/x86/include/asm/page_64_types.h (__VIRTUAL_MASK_SHIFT,
    TASK_SIZE_MAX) and Documentation/arch/x86/x86_64/mm.rst.
    """

    paging_levels: int
    user_bits: int  # 47 with 4-level paging, 56 with 5-level

    @property
    def user_end(self) -> int:
        return 1 << self.user_bits

    @property
    def task_size(self) -> int:
        return self.user_end - PAGE_SIZE.value

    @property
    def kernel_start(self) -> int:
        return ADDRESS_END - self.user_end

    @property
    def hole_size(self) -> int:
        return self.kernel_start - self.user_end

    @property
    def sign_bits(self) -> int:
        """Top bits that must all be equal in a canonical address (17, or 8)."""
        return 64 - self.user_bits


PAGING = {4: Canonical(4, USER_BITS[4]), 5: Canonical(5, USER_BITS[5])}


def canonical_for(provenance: Provenance | None) -> Canonical:
    """The address-space halves of the machine a capture was made on: from its
    provenance's ``paging_levels``, 4-level when the capture does not say (captures
    made before it was recorded, other architectures)."""
    levels = provenance.paging_levels if provenance is not None else None
    return PAGING.get(levels, PAGING[4]) if isinstance(levels, int) else PAGING[4]


# The 4-level values, for callers that know they have a 4-level capture; figures use
# the MemoryMap's own ``canonical``.
USER_END = PAGING[4].user_end
TASK_SIZE = PAGING[4].task_size
KERNEL_START = PAGING[4].kernel_start

# glibc's HEAP_MAX_SIZE on 64-bit (2 * DEFAULT_MMAP_THRESHOLD_MAX): each non-main
# arena reserves this much, aligned to it, and makes only the used part rw-p.
ARENA_SIZE = HEAP_MAX_SIZE.value
_ARENA_TEXT = HEAP_MAX_SIZE.format()
# The largest PROT_NONE region still taken for a thread stack's guard (pthread's
# default guard is one page; pthread_attr_setguardsize can ask for more).
MAX_GUARD = 1 << 20
# Smallest rw-p region above a guard that counts as a thread stack (PTHREAD_STACK_MIN
# is 16 KiB; glibc's default is RLIMIT_STACK, 8 MiB).
MIN_THREAD_STACK = 16 << 10

# Recorded address names that say what memory they point into.
_THREAD_NAME = re.compile(r"thread", re.I)
_TLS_NAME = re.compile(r"(^|[^a-z])(tls|tcb|thread[-_ ]?local|__thread)([^a-z]|$)", re.I)
_SHARED_OBJECT = re.compile(r"\.so(\.[0-9.]+)?$")


@dataclass(frozen=True)
class Kind:
    """One kind of region: a stable name (used in CSS classes), a label, a sentence."""

    name: str
    label: str
    about: str


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("text", "program code", "the executable's machine code (its R E PT_LOAD)"),
        Kind("rodata", "program read-only data",
             "the executable's headers, constants and string literals (read-only PT_LOADs)"),
        Kind("relro", "program RELRO",
             "the part of the executable's data that PT_GNU_RELRO makes read-only after relocation"),
        Kind("data", "program data", "the executable's initialised global variables (.data)"),
        Kind("bss", "program bss", "the executable's zero-initialised globals past its file pages"),
        Kind("heap", "heap", "[heap]: the main arena of malloc, grown with brk"),
        Kind("arena", "malloc arena",
             f"a thread arena of malloc: a {_ARENA_TEXT}-aligned reservation, rw-p where used"),
        Kind("mmap", "anonymous mapping", "memory from mmap with no file behind it"),
        Kind("tls", "thread-local storage", "a thread's TLS block and thread control block"),
        Kind("thread-stack", "thread stack", "a thread's stack, allocated by pthread_create"),
        Kind("guard", "guard page", "no access: a fault here catches a stack overflow"),
        Kind("reserved", "reserved, no access", "address space mapped PROT_NONE"),
        Kind("stack", "main stack", "[stack]: the main thread's stack, argv, envp and auxv"),
        Kind("lib-text", "library code", "a shared library's machine code"),
        Kind("lib-rodata", "library read-only data", "a shared library's headers and constants"),
        Kind("lib-relro", "library RELRO",
             "a shared library's GOT and relocated pointers, read-only after relocation"),
        Kind("lib-data", "library data", "a shared library's writable globals"),
        Kind("lib-bss", "library bss", "a shared library's zero-initialised globals"),
        Kind("file", "file mapping", "a file mapped with mmap"),
        Kind("vvar", "vvar", "kernel data the vDSO reads (clock values), read-only"),
        Kind("vdso", "vDSO", "code the kernel maps into every process for fast system calls"),
        Kind("vsyscall", "vsyscall", "the legacy fixed-address system call page, in the kernel half"),
        Kind("other", "other", "a region of a kind this site does not tell apart"),
    )
}

# Bands of the whole 64-bit space that are not regions.
GAP_KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("unmapped", "unmapped", "user space with nothing mapped: an access is SIGSEGV"),
        Kind("hole", "non-canonical hole",
             "addresses whose top bits are not all copies of the highest bit the page tables "
             f"translate (bit {SIGN_BIT_4LEVEL.value} with 4-level paging, "
             f"{SIGN_BIT_5LEVEL.value} with 5-level): any access faults before translation, "
             "a general-protection fault (SIGSEGV) or, through %rsp or %rbp, a "
             "stack-segment fault (SIGBUS)"),
        Kind("kernel", "kernel space", "the kernel's half: no access from user mode"),
    )
}

_PSEUDO = {
    "[heap]": "heap",
    "[stack]": "stack",
    "[vdso]": "vdso",
    "[vvar]": "vvar",
    "[vvar_vclock]": "vvar",
    "[vsyscall]": "vsyscall",
}

# The kinds of the executable's pieces, and their shared-library counterparts.
_PIECES = ("text", "rodata", "relro", "data", "bss")
_LIB = {piece: f"lib-{piece}" for piece in _PIECES}


@dataclass(frozen=True)
class Classified:
    """A region with its kind, what it belongs to and why it was called so."""

    region: Region
    kind: str
    owner: str  # "layout", "libc.so.6", "" for anonymous memory and kernel pages
    why: str
    # Memory mapped MAP_GROWSDOWN that a fault in the hole under it can grow (``_grows_down``).
    can_grow_down: bool = False

    @property
    def label(self) -> str:
        return KINDS[self.kind].label

    @property
    def guard(self) -> bool:
        """No permission at all: touching it faults (guard pages, reservations)."""
        return self.region.perms[:3] == "---"

    @property
    def writable_and_executable(self) -> bool:
        """W+X: code that can be rewritten, which hardened systems forbid."""
        return self.region.writable and self.region.executable


@dataclass(frozen=True)
class Pointer:
    """A named address: recorded by the sample, a symbol of the executable, or both."""

    name: str
    address: int
    source: str  # "recorded", "symbol", or "recorded, symbol"
    region: int | None  # index of the region holding it; None when no region does
    symbol: str | None = None  # the ELF symbol at exactly this address, if any


@dataclass(frozen=True)
class Band:
    """A stretch of the 64-bit address space: a region or the gap between two."""

    start: int
    end: int
    kind: str  # a region kind, or "unmapped", "hole", "kernel"
    region: Classified | None = None
    below_stack: bool = False  # an unmapped gap that ends where [stack] starts
    # An unmapped gap that ends where memory mapped MAP_GROWSDOWN starts, which can grow.
    below_grows_down: bool = False
    # The last page of the lower half: canonical, but past the end of user space
    # (TASK_SIZE_MAX is a page below the half's end, arch/x86/include/asm/page_64_types.h).
    past_user_space: bool = False

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def about(self) -> str:
        """What the band is, for a tooltip: the gap under the main stack is not like
        the others, since an access there grows the stack instead of faulting."""
        if self.past_user_space:
            return ("canonical, but past the end of user space (TASK_SIZE_MAX, a page below "
                    "the half's end): the kernel never maps it; an access is SIGSEGV")
        if self.below_stack:
            return ("user space with nothing mapped, under the main stack: an access here, "
                    "within the stack's size limit (RLIMIT_STACK) and clear of the mapping "
                    "below by the guard gap (when that mapping may be accessed), grows "
                    "[stack] down to it; anywhere else, SIGSEGV")
        if self.below_grows_down:
            return ("user space with nothing mapped, under memory mapped MAP_GROWSDOWN: an "
                    "access here, within the stack's size limit (RLIMIT_STACK) and clear of "
                    "the mapping below by the guard gap (when that mapping may be accessed and "
                    "does not grow down), grows that memory down to it; anywhere else, SIGSEGV")
        return (KINDS.get(self.kind) or GAP_KINDS[self.kind]).about

    @property
    def label(self) -> str:
        return (KINDS.get(self.kind) or GAP_KINDS[self.kind]).label


@dataclass(frozen=True)
class MemoryMap:
    """A selected snapshot, analysed: every region classified, every pointer placed."""

    selection: Selection
    regions: tuple[Classified, ...]
    pointers: tuple[Pointer, ...]
    bias: int | None  # the executable's load bias, when its ELF file was linked
    canonical: Canonical = PAGING[4]  # the halves, from the capture's paging levels

    def pointers_in(self, index: int) -> tuple[Pointer, ...]:
        """The pointers into region ``index``, lowest address first."""
        return tuple(p for p in self.pointers if p.region == index)

    @property
    def stray(self) -> tuple[Pointer, ...]:
        """Recorded values that point into no region (sizes, NULL, probes), but those
        drawn in their gap (``pointers_in_gap``)."""
        return tuple(p for p in self.pointers if p.region is None and p.name not in IN_GAP)

    def pointers_in_gap(self, band: Band) -> tuple[Pointer, ...]:
        """The recorded addresses in no region that the figures draw in the gap ``band``
        that holds them (``IN_GAP``): a fault's, whose gap is the point of it, and the
        stopped thread's pc and sp, which a crash can leave in one. Other values in no
        region are listed apart (``stray``): sizes and NULL are no places."""
        return tuple(p for p in self.pointers if p.region is None and p.name in IN_GAP
                     and band.region is None and band.start <= p.address < band.end)

    @property
    def mapped(self) -> int:
        """Bytes of user space covered by regions (vsyscall, in the kernel half, excluded)."""
        return sum(c.region.size for c in self.regions if c.region.end <= self.canonical.user_end)

    def bands(self) -> tuple[Band, ...]:
        return bands(self.regions, self.canonical)


# --------------------------------------------------------------------------- classify


def classify(
    regions: Sequence[Region],
    *,
    elf: Elf | None = None,
    exe: str = "",
    addresses: Sequence[Address] = (),
    spans: Mapping[str, int] | None = None,
    threads: int | None = None,
) -> tuple[tuple[Classified, ...], int | None]:
    """Give each region one kind; also the executable's load bias, if it was found.

    ``elf`` and ``exe`` (the executable's path as ``maps`` shows it) let the
    executable's pieces be named from its program headers; without them, or when
    they do not match the regions, the executable is read like a library.
    ``addresses`` (recorded pointers) can name what a region is: an address named
    like a thread's local variable marks a thread stack, one named ``tls`` a TLS
    block. ``spans`` (``Selection.library_spans``) say how far the loader maps a
    library from its first page: anonymous memory right after its data pages is its
    bss only within them (without, it is taken to be). ``threads`` (the ``Threads``
    line of ``/proc/PID/status``): a process of one thread has no thread stack to
    recognise by its shape alone.
    """
    kinds: dict[int, tuple[str, str, str]] = {}
    bias = None
    if elf is not None and exe:
        try:
            bias = _classify_executable(regions, elf, exe, kinds)
        except RoadsError:
            bias = None  # not this executable's regions (after execve of another, say)

    for k, r in enumerate(regions):
        if k in kinds:
            continue
        if r.pathname in _PSEUDO:
            kinds[k] = (_PSEUDO[r.pathname], "", f"the kernel names it {r.pathname}")
        elif r.pathname.startswith("[stack:"):
            kinds[k] = ("thread-stack", "", "older kernels name thread stacks [stack:TID]")

    # One file each: a file named "x (deleted)" is not "x", unlinked.
    by_file: dict[tuple[str, bool], list[int]] = {}
    for k, r in enumerate(regions):
        if k not in kinds and not r.anonymous and not r.pseudo:
            by_file.setdefault((r.pathname, r.deleted), []).append(k)
    program = program_path(exe, regions) if exe else ""
    for members in by_file.values():
        if bias is not None and file_path(regions[members[0]]) == program:
            # The loader's mappings of the executable are named already; what is
            # left was mapped again by the program itself, as a plain file.
            for k in members:
                kinds[k] = ("file", file_name(regions[k]), "the executable's file, mapped again with mmap")
            continue
        _classify_file(regions, members, program, kinds, spans or {})

    _classify_anonymous(regions, addresses, kinds, spans or {}, threads)
    result = tuple(
        Classified(r, *kinds.get(k, ("other", "", "no rule matched")))
        for k, r in enumerate(regions)
    )
    return result, bias


def _classify_executable(
    regions: Sequence[Region], elf: Elf, exe: str, kinds: dict[int, tuple[str, str, str]]
) -> int:
    """Name the executable's regions from the PT_LOAD segments they came from."""
    bias = load_bias(elf, regions, exe)
    owner = program_path(exe, regions).rsplit("/", 1)[-1]
    for link in link_segments(elf, regions, exe, bias):
        seg = elf.segments[link.index]
        number = elf.loads.index(seg)
        where = f"PT_LOAD #{number} ({seg.flags.strip() or '---'})"
        for k in link.regions:
            r = regions[k]
            if r.pathname == "[heap]":
                continue  # the bss pages merged into the brk heap; the kernel's name wins
            if r.anonymous:
                kinds[k] = ("bss", owner, f"{where}: p_memsz past p_filesz, anonymous pages")
            elif seg.p_flags & PF_X:
                kinds[k] = ("text", owner, where)
            elif seg.p_flags & PF_W:
                in_relro = link.relro is not None and link.relro[0] <= r.start and r.end <= link.relro[1]
                if in_relro and not r.writable:
                    kinds[k] = ("relro", owner, f"{where}: inside PT_GNU_RELRO, made read-only")
                elif not r.writable and link.relro_applied:
                    kinds[k] = ("relro", owner, f"{where}: made read-only after relocation")
                elif not r.writable:
                    continue  # the whole file, mapped read-only while ld.so loads it
                else:
                    kinds[k] = ("data", owner, where)
            else:
                kinds[k] = ("rodata", owner, where)
    return bias


def _classify_file(
    regions: Sequence[Region],
    members: list[int],
    program: str,
    kinds: dict[int, tuple[str, str, str]],
    spans: Mapping[str, int] | None = None,
) -> None:
    """Name the regions of one mapped file (``program``: the path of the executable, or
    ""): an ELF object's pieces, or a plain file. ``spans`` (``classify``'s) tell the
    loader's reservation of a library it is loading (``RESERVED_BY_LOADER``)."""
    path = file_path(regions[members[0]])
    owner = file_name(regions[members[0]])
    is_exe = bool(program) and path == program
    # Whether the file is ELF, where the capture read it (``Region.elf``): a file mapped
    # executable is code of an ELF object unless the capture found it is not.
    read = {regions[k].elf for k in members if regions[k].elf is not UNSET}
    if read == {False} and not is_exe:
        for k in members:
            r = regions[k]
            kinds[k] = ("file", owner, "mapped executable from a file that is no ELF object: "
                                       "its first bytes are not ELF's magic number") \
                if r.executable else _plain_file(r, path)
        return
    is_object = is_exe or any(regions[k].executable for k in members) or bool(
        _SHARED_OBJECT.search(path)
    )
    if not is_object:
        for k in members:
            kinds[k] = _plain_file(regions[k], path)
        return
    names = _PIECES if is_exe else tuple(_LIB[p] for p in _PIECES)
    text, rodata, relro, data, _ = names
    last_text = max((k for k in members if regions[k].executable), default=None)
    after_text_readonly = 0
    for k in sorted(members, key=lambda k: regions[k].start):
        r = regions[k]
        if r.shared:
            kinds[k] = ("file", owner, "mapped shared (MAP_SHARED)")
        elif r.perms[:3] == "---":
            kinds[k] = ("reserved", owner, "PROT_NONE padding between an object's segments")
        elif r.executable:
            kinds[k] = (text, owner, "executable pages of an ELF object")
        elif r.writable:
            kinds[k] = (data, owner, "writable, private pages of an ELF object")
        elif (not is_exe and r.offset == 0 and (spans or {}).get(path) == r.size
              and last_text is None):
            kinds[k] = (rodata, owner, RESERVED_BY_LOADER)
        elif "ac" in r.vmflags:
            # VM_ACCOUNT stays on when mprotect drops write permission: these pages
            # were mapped writable and made read-only later, which is what RELRO does.
            kinds[k] = (relro, owner, "read-only now but mapped writable (VmFlags ac): RELRO")
        elif not r.vmflags and last_text is not None and r.start > regions[last_text].start:
            # No VmFlags recorded: after the code, the first read-only piece is
            # rodata and any further one, right below the data, is RELRO.
            after_text_readonly += 1
            if after_text_readonly > 1 and _next_is_writable(regions, members, r):
                kinds[k] = (relro, owner, "read-only, right below the data pages: RELRO")
            else:
                kinds[k] = (rodata, owner, "read-only pages of an ELF object")
        else:
            kinds[k] = (rodata, owner, "read-only pages of an ELF object")


# A library's one region, read-only from its file's start, as long as all the loader maps
# of it (its span, bss included) and no code yet: ld.so reserves the whole span at once,
# mapped with its first segment's permissions, then maps each other segment over it in
# its place (elf/dl-map-segments.h, _dl_map_segments: MAP_FIXED). A stop at ld.so's mmap
# of a library (--at syscall:mmap:N) sees it so; it was said to be all headers and
# constants (a learner's libc, 1928 KiB of it).
RESERVED_BY_LOADER = ("so far the loader's reservation of the whole library: mapped at "
                      "once from its file's start, with its first segment's permissions, "
                      "it keeps the headers and constants once the loader has mapped each "
                      "other segment over it, in its place")


# The names the kernel gives the shmem files behind shared memory no program opened:
# shared anonymous memory (mm/shmem.c, shmem_zero_setup: "dev/zero", also for /dev/zero
# mapped MAP_SHARED) and a System V segment (ipc/shm.c, newseg: "SYSV%08x", its key).
# Both are unlinked from the kernel's own mount, so maps shows them " (deleted)".
# /dev/zero mapped private keeps its own name in maps, but the kernel makes the mapping
# anonymous memory (drivers/char/mem.c, mmap_zero: vma_set_anonymous), whose pages its
# smaps counts as Anonymous.
_ZERO_DEVICE = "/dev/zero"
# A memfd (mm/memfd.c, memfd_create: "memfd:" and the name the program gave) is a file
# made on the kernel's own mount, never linked into any folder.
_MEMFD = re.compile(r"/memfd:(.*)")
_SYSV_SEGMENT = re.compile(r"/SYSV([0-9a-f]{8})")
# Where glibc's shm_open makes a POSIX shared memory object: a file of this folder, a
# tmpfs (sysdeps/unix/sysv/linux/shm-directory.h: SHMDIR; shm_open("/name") opens
# /dev/shm/name).
_SHM_FOLDER = "/dev/shm/"
# glibc's sem_open keeps a named semaphore there as sem.NAME (sysdeps/pthread/sem_open.c),
# made as sem.XXXXXX, mapped, then linked under its name and the first name unlinked.
_SEMAPHORE = "sem."


def _plain_file(r: Region, path: str) -> tuple[str, str, str]:
    """The kind of a region of a file that is no ELF object: a file mapped with mmap,
    shared or private, or the kernel's own file behind shared memory, which a figure
    would otherwise call a file the program mapped (MAP_SHARED | MAP_ANONYMOUS was
    "/dev/zero (deleted): a file mapped with mmap", shmat's segment "/SYSV00000000"), and
    /dev/zero mapped private, which is anonymous memory under the device's name."""
    if r.deleted and r.shared and path == _ZERO_DEVICE:
        return ("mmap", file_name(r), "shared anonymous memory (MAP_SHARED | MAP_ANONYMOUS, or /dev/zero "
                            "mapped shared): the kernel backs it with a file of its own, which "
                            "maps names /dev/zero (deleted), and a child forked later shares "
                            "its pages")
    if path == _ZERO_DEVICE and not r.deleted and not r.shared:
        return ("mmap", file_name(r), "private anonymous memory: /dev/zero mapped private, "
                            "which the kernel makes anonymous memory as it does "
                            "MAP_PRIVATE | MAP_ANONYMOUS; maps still names the device")
    memfd = _MEMFD.fullmatch(path) if r.deleted else None
    if memfd:
        return ("file", file_name(r), f"a memfd (memfd_create, named '{memfd.group(1)}'): a file "
                                      "that lives in memory and in no folder, which maps names "
                                      "memfd: and its name, "
                                      + ("mapped shared" if r.shared else "mapped private"))
    sysv = _SYSV_SEGMENT.fullmatch(path) if r.deleted and r.shared else None
    if sysv:
        return ("file", file_name(r), f"a System V shared memory segment (shmget, attached "
                                      f"with shmat), key 0x{sysv.group(1)}: maps names it "
                                      "SYSV and its key")
    name = path[len(_SHM_FOLDER):]
    if path.startswith(_SHM_FOLDER) and "/" not in name:
        how = "mapped shared (MAP_SHARED)" if r.shared else "mapped private"
        if name.startswith(_SEMAPHORE):
            return ("file", file_name(r), "a file of /dev/shm named sem.: where glibc's "
                                          "sem_open keeps a named semaphore (it makes the "
                                          "file under a name of its own, then links it as "
                                          f"sem. and the semaphore's name), {how}")
        return ("file", file_name(r), "a file of /dev/shm, the folder where glibc's "
                                      f"shm_open makes POSIX shared memory objects, {how}")
    return ("file", file_name(r), "mapped shared (MAP_SHARED)" if r.shared
            else "a file mapped with mmap")


def _next_is_writable(regions: Sequence[Region], members: list[int], r: Region) -> bool:
    return any(regions[k].start == r.end and regions[k].writable for k in members)


def _classify_anonymous(
    regions: Sequence[Region], addresses: Sequence[Address], kinds: dict[int, tuple[str, str, str]],
    spans: Mapping[str, int], threads: int | None = None,
) -> None:
    """Arenas, thread stacks with their guards, TLS, bss of libraries, plain mmaps.

    A thread stack is told by its shape (rw-p memory right above a small PROT_NONE
    guard) only where the process runs more than one thread (``threads``; unknown:
    taken to): a single-threaded program that made a hole with mprotect in memory of
    its own has the same shape, and was told it held a thread's stack. A recorded
    address that names a thread's variable marks one whatever the count (a stack of
    an ended thread that glibc keeps for the next)."""
    anonymous = [k for k, r in enumerate(regions) if k not in kinds and r.anonymous]
    by_start = {r.start: k for k, r in enumerate(regions)}
    by_end = {r.end: k for k, r in enumerate(regions)}

    # Memory mapped MAP_GROWSDOWN is no thread stack (glibc maps those without the flag),
    # arena or bss, whatever its shape: it is told by its flag (``_grows_down``).
    for k in anonymous:
        if "gd" in regions[k].vmflags and regions[k].perms[:3] != "---":
            kinds[k] = ("mmap", "", "anonymous memory from mmap")

    for k in anonymous:
        r = regions[k]
        if k in kinds:
            continue
        # A thread arena: rw-p from an ARENA_SIZE boundary, the rest of the reservation ---p.
        if r.start % ARENA_SIZE == 0 and r.perms == "rw-p" and r.size <= ARENA_SIZE:
            rest = by_start.get(r.end)
            if r.size == ARENA_SIZE or (
                rest is not None and rest in anonymous and regions[rest].perms == "---p"
                and regions[rest].end - r.start == ARENA_SIZE
            ):
                kinds[k] = ("arena", "", f"rw-p from a {_ARENA_TEXT} boundary: a malloc arena's used part")
                if rest is not None and r.size < ARENA_SIZE:
                    kinds[rest] = ("arena", "", f"the unused rest of a malloc arena's {_ARENA_TEXT}, ---p")

    for k in anonymous if threads is None or threads > 1 else ():
        r = regions[k]
        if k in kinds or r.perms != "---p" or r.size > MAX_GUARD:
            continue
        above = by_start.get(r.end)
        if above is not None and above in anonymous and above not in kinds \
                and regions[above].perms == "rw-p" and regions[above].size >= MIN_THREAD_STACK:
            kinds[k] = ("guard", "", "no access, right below a thread stack")
            kinds[above] = ("thread-stack", "", "rw-p right above a PROT_NONE guard page")

    for a in addresses:
        k = _holder(regions, a.value)
        if k is None or k not in anonymous or k in kinds or regions[k].perms != "rw-p":
            continue
        if _TLS_NAME.search(a.name):
            others = [b for b in addresses if b.value in regions[k] and not _TLS_NAME.search(b.name)]
            if others:
                continue  # merged with a neighbour that holds something else: not all TLS
            kinds[k] = ("tls", "", f"holds the recorded thread-local address {a.name!r}")
        elif _THREAD_NAME.search(a.name):
            kinds[k] = ("thread-stack", "", f"holds the recorded thread address {a.name!r}")
            below = by_end.get(regions[k].start)
            if below is not None and below in anonymous and below not in kinds \
                    and regions[below].perms == "---p" and regions[below].size <= MAX_GUARD:
                kinds[below] = ("guard", "", "no access, right below a thread stack")

    for k in anonymous:
        r = regions[k]
        if k in kinds:
            continue
        below = by_end.get(r.start)
        if below is not None and r.perms == "rw-p" and regions[below].perms == "rw-p" \
                and below in kinds and kinds[below][0] in ("data", "lib-data") \
                and _within_span(regions, below, r, spans):
            piece, owner, _ = kinds[below]
            kinds[k] = ("bss" if piece == "data" else "lib-bss", owner,
                        f"anonymous, right after {owner}'s data pages: its bss")
        elif r.perms[:3] == "---":
            kinds[k] = ("reserved", "", "PROT_NONE: reserved address space")
        elif any(a.name == STOPPED_SP and a.value in r for a in addresses):
            kinds[k] = ("mmap", "", "anonymous memory from mmap that holds the stack the "
                                    "stopped thread runs on (its stack pointer, sp, points "
                                    "into it), which the program or its C library mapped (a "
                                    "clone or posix_spawn child's, a coroutine's, a signal "
                                    "stack); the kernel may have merged other anonymous "
                                    "memory mapped next to it into this region")
        else:
            kinds[k] = ("mmap", "", "anonymous memory from mmap")


# The name roads explain records the stopped thread's stack pointer under, beside "pc"
# (``roads.explain.trace``: a function or system-call stop's addresses).
STOPPED_SP = "sp"
# The name roads explain records a fault's address under (si_addr), beside "pc" and
# "sp", at the stop a crash makes (``roads.explain.trace.Tracer._fault_stop``): an
# address in no region, most often, drawn in its gap (``MemoryMap.pointers_in_gap``).
FAULT_ADDRESS = "si_addr"
# The names of the recorded addresses drawn in the gap that holds them, where they lie in
# no region: the fault's, and the stopped thread's pc and sp, places a crash may leave
# unmapped (a recursion's sp past [stack], beside the fault's address; a call through a
# pointer to nothing, its pc). No sample records these names: its values in no region
# (sizes, NULL, probes) are listed apart.
IN_GAP = frozenset({FAULT_ADDRESS, STOPPED_SP, "pc"})


def _within_span(regions: Sequence[Region], data: int, r: Region,
                 spans: Mapping[str, int]) -> bool:
    """Whether ``r`` starts within what the loader maps of the file whose data pages are
    ``regions[data]``, from the first page it maps of it (offset 0, the highest below
    them: a file mapped twice); True where its span is not known. A library whose
    zero-filled data fit in its last file page has no bss pages, and the anonymous
    memory the loader put it below is another's."""
    path = regions[data].pathname
    span = spans.get(path)
    if span is None:
        return True
    firsts = [q.start for q in regions
              if q.pathname == path and q.offset == 0 and q.start <= regions[data].start]
    return bool(firsts) and r.start < max(firsts) + span


def _holder(regions: Sequence[Region], address: int) -> int | None:
    for k, r in enumerate(regions):
        if r.start <= address < r.end:
            return k
    return None


# --------------------------------------------------------------------------- pointers


PROTOCOL_PREFIX = "roads_"  # the names samples/roads.h gives its functions and variables


def interesting_symbols(elf: Elf, recorded: Sequence[str] = ()) -> list[str]:
    """The symbols of ``elf`` worth an arrow: ``main``, the program's own global
    variables (for a dynamically linked program; a static one holds libc's too
    many), and any symbol named like a recorded address. Not the variables of
    samples/roads.h (``roads_``): the protocol's, not the program's; nor a name no C or
    C++ source can give, with a dot in it: the compiler's own, as the
    ``DW.ref.__gxx_personality_v0`` that g++ puts in a program's data."""
    wanted = {"main", *recorded}
    names = []
    for s in elf.symbols:
        if s.type == "STT_TLS" or s.name in names:
            continue
        own_global = (
            not elf.is_static
            and s.type == "STT_OBJECT"
            and s.bind in ("STB_GLOBAL", "STB_WEAK")
            and not s.name.startswith(("_", PROTOCOL_PREFIX))
            and "@" not in s.name  # a library's variable copied in (environ@GLIBC_2.2.5)
            and "." not in s.name  # the compiler's: DW.ref.__gxx_personality_v0
            and s.section in (".data", ".bss", ".rodata", ".data.rel.ro")
        )
        if s.name in wanted or own_global:
            names.append(s.name)
    return names


# The symbols of each executable by value and by name, made once for each record
# (``_symbol_index``): a static executable holds libc's symbols too, some 1,900, and a
# time-lapse places pointers at every step.
SYMBOLS_KEPT = 64


def _index_symbols(elf: Elf) -> tuple[dict[int, list[str]], dict[str, list]]:
    """The names of ``elf``'s symbols by value (link-time address), and its symbols by
    name, each in table order; thread-local storage left out (its values are offsets)."""
    at: dict[int, list[str]] = {}
    named: dict[str, list] = {}
    for s in elf.symbols:
        if s.type != "STT_TLS":
            at.setdefault(s.st_value, []).append(s.name)
            named.setdefault(s.name, []).append(s)
    return at, named


_symbol_index = PerRecord(_index_symbols, SYMBOLS_KEPT)


def find_pointers(
    regions: Sequence[Region],
    addresses: Sequence[Address],
    *,
    elf: Elf | None = None,
    bias: int | None = None,
    symbols: Sequence[str] | None = None,
) -> tuple[Pointer, ...]:
    """Recorded addresses and the executable's symbols, each with the region holding it.

    ``symbols`` names the symbols to place (default: ``interesting_symbols``); they
    need ``elf`` and its load ``bias``. A symbol at the very address of a recorded
    pointer is folded into it. Sorted by address, then name.
    """
    at, named = _symbol_index(elf) if elf is not None and bias is not None else ({}, {})
    out: list[Pointer] = []
    seen: set[int] = set()
    for a in addresses:
        names = at.get(a.value - bias, []) if bias is not None else []
        symbol = a.name if a.name in names else (names[0] if names else None)
        source = "recorded, symbol" if symbol else "recorded"
        out.append(Pointer(a.name, a.value, source, _holder(regions, a.value), symbol))
        seen.add(a.value)
    if elf is not None and bias is not None:
        chosen = interesting_symbols(elf, [a.name for a in addresses]) if symbols is None else symbols
        for name in chosen:
            matches = named.get(name, [])
            if len(matches) > 1:
                matches = [s for s in matches if s.bind != "STB_LOCAL"] or matches[:1]
            for s in matches[:1]:
                address = s.st_value + bias
                if address in seen:
                    continue
                seen.add(address)
                out.append(Pointer(name, address, "symbol", _holder(regions, address), name))
    return tuple(sorted(out, key=lambda p: (p.address, p.name)))


# --------------------------------------------------------------------------- bands


def bands(regions: Sequence[Classified], canonical: Canonical = PAGING[4]) -> tuple[Band, ...]:
    """The whole 64-bit space, lowest first: every region, and every gap between them
    as "unmapped" (user space), "hole" (non-canonical) or "kernel", the halves cut
    where ``canonical`` (the capture's paging mode) puts them."""
    out: list[Band] = []
    cursor = 0
    for c in sorted(regions, key=lambda c: c.region.start):
        gaps = _gaps(cursor, c.region.start, canonical)
        if c.region.pathname == "[stack]" and gaps and gaps[-1].kind == "unmapped" \
                and gaps[-1].end == c.region.start:
            gaps[-1] = Band(gaps[-1].start, gaps[-1].end, "unmapped", below_stack=True)
        elif c.can_grow_down and gaps and gaps[-1].kind == "unmapped" \
                and gaps[-1].end == c.region.start:
            gaps[-1] = Band(gaps[-1].start, gaps[-1].end, "unmapped", below_grows_down=True)
        out.extend(gaps)
        out.append(Band(c.region.start, c.region.end, c.kind, c))
        cursor = max(cursor, c.region.end)
    out.extend(_gaps(cursor, ADDRESS_END, canonical))
    return tuple(out)


def _gaps(lo: int, hi: int, canonical: Canonical) -> list[Band]:
    """Gap bands covering [lo, hi), cut at the edges of the canonical halves."""
    out = []
    user_end, kernel_start = canonical.user_end, canonical.kernel_start
    for start, end, kind in ((0, user_end, "unmapped"), (user_end, kernel_start, "hole"),
                             (kernel_start, ADDRESS_END, "kernel")):
        a, b = max(lo, start), min(hi, end)
        if a < b and kind == "unmapped" and b == user_end:
            # The half's last page lies past the end of user space: a band of its own.
            last = user_end - PAGE_SIZE.value
            if a < last:
                out.append(Band(a, last, kind))
            out.append(Band(max(a, last), b, kind, past_user_space=True))
        elif a < b:
            out.append(Band(a, b, kind))
    return out


# --------------------------------------------------------------------------- together


def memory_map(selection: Selection, *, symbols: Sequence[str] | None = None) -> MemoryMap:
    """Classify the selected snapshot's regions and place its pointers."""
    snap = selection.snapshot
    elf = selection.elf if selection.exe_matches_elf else None
    threads = snap.status.get("Threads")
    classified, bias = classify(snap.regions, elf=elf, exe=snap.exe, addresses=snap.addresses,
                                spans=selection.library_spans,
                                threads=threads if isinstance(threads, int) else None)
    classified = _grows_down(classified, selection.provenance_record)
    pointers = find_pointers(snap.regions, snap.addresses, elf=elf, bias=bias, symbols=symbols)
    return MemoryMap(selection, classified, pointers, bias, canonical_for(selection.provenance_record))


def largest_stack_gap_base() -> int:
    """Where the top-down layout starts its mmap area when it leaves the largest gap it
    ever leaves under the stack (an unlimited stack size, randomisation off): mmap_base
    in arch/x86/mm/mmap.c, the default 47-bit window less (task_size / 6) * 5, rounded up
    to a page. With randomisation the area starts lower still."""
    page = PAGE_SIZE.value
    task_size = (1 << MAP_WINDOW_BITS.value) - page
    gap = task_size // MMAP_GAP_MAX_DENOMINATOR.value * MMAP_GAP_MAX_NUMERATOR.value
    return -(-(task_size - gap) // page) * page


def _stack_guard_gap(provenance: Provenance | None) -> int:
    """The kernel's stack guard gap in bytes: the boot parameter ``stack_guard_gap=``
    (in pages) where the capture's machine gives it, else the kernel's default."""
    given = provenance.cmdline_stack_guard_gap if provenance is not None else None
    pages = given if isinstance(given, int) else STACK_GUARD_GAP_PAGES.value
    return pages * PAGE_SIZE.value


def _grows_down(classified: tuple[Classified, ...], provenance: Provenance | None
                ) -> tuple[Classified, ...]:
    """Anonymous memory mapped MAP_GROWSDOWN (VmFlags ``gd``) other than the main stack
    told as such: a fault in the hole under it (a read or a write: the program's own, the
    kernel's copying for a system call, a write through /proc/PID/mem or ptrace, whose
    __access_remote_vm grows it; not process_vm_writev's, whose get_user_pages no longer
    grows a stack since 6.5) extends it down to the faulting page, as the main
    stack grows, unless that would leave less than the stack guard gap above an
    accessible mapping right below that does not grow down itself, or its size would
    pass RLIMIT_STACK (mm/vma.c, expand_downwards and acct_stack_growth), among other
    limits. Where no hole lies under it, or the mapping below is that close already, it
    cannot grow at all, and is said so (a learner's mapping had been put a few pages
    above the C library's bss)."""
    gap = _stack_guard_gap(provenance)
    out = []
    for c in classified:
        r = c.region
        if c.kind != "mmap" or not r.anonymous or "gd" not in r.vmflags:
            out.append(c)
            continue
        why = (f"anonymous memory mapped MAP_GROWSDOWN (VmFlags gd): a fault in the hole under "
               f"it extends it down to that page, as the main stack grows, as long as the stack "
               f"guard gap ({human_size(gap)}) is left free above the mapping below it (unless "
               f"that one has no access or grows down too) and its size stays within "
               f"RLIMIT_STACK, among other limits")
        below = max((q.region for q in classified if q.region.end <= r.start),
                    key=lambda q: q.end, default=None)
        free = r.start - below.end if below is not None else None
        stuck = True
        if free == 0:
            why += "; no hole lies under it (the mapping below ends where it starts), so it cannot grow"
        elif below is not None and below.perms[:3] != "---" and "gd" not in below.vmflags \
                and r.start - PAGE_SIZE.value - below.end < gap:
            why += f"; the mapping below ends {human_size(free)} under it, so it cannot grow"
        else:
            stuck = False
        out.append(Classified(r, c.kind, c.owner, why, can_grow_down=not stuck))
    return tuple(out)
