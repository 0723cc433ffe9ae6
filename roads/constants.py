"""Named constants for prose: the facts a page states that no capture holds.

Pages print every quantity through a macro. A captured value comes from
``roads.words.values``; a quantity that the running system does not show (a default of
glibc's allocator, a bit of a page-table entry, a split of the x86-64 address) is a
``Constant`` here, with the source that defines it. Where the system can confirm it,
a test does (tests/test_constants.py checks each against a capture, the machine or
the headers); the ``const`` macro prints the value and, with ``cite=True``, names the
source beside it on the page.

Add a constant in the section of the page that first needs it. The engine's own code
reads the platform's facts from here too (the page-table split, the canonical halves),
so a page and a figure cannot disagree about one.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from .errors import ConfigError
from .units import Value


@dataclass(frozen=True)
class Constant:
    """A fact with a name, a value, the format it reads best in and where it is defined."""

    name: str
    value: int | str
    fmt: str  # one of roads.units.FORMATS
    source: str  # "glibc malloc/malloc.c: DEFAULT_MMAP_THRESHOLD_MIN", "Intel SDM vol. 3A, 4.5"

    def format(self, fmt: str | None = None) -> str:
        return Value(self.value, self.fmt).format(fmt)


KIB = 1 << 10
MIB = 1 << 20

_ALL: list[Constant] = []


def define(name: str, value: int | str, fmt: str, source: str) -> Constant:
    constant = Constant(name, value, fmt, source)
    _ALL.append(constant)
    return constant


# --- the x86-64 address and its page tables (Intel SDM vol. 3A, ch. 4; AMD APM vol. 2, 5.3)
PAGE_SHIFT = define("PAGE_SHIFT", 12, "int", "Intel SDM vol. 3A, 4.5: a 4-KByte page, bits 11:0 of the address")
PAGE_SIZE = define("PAGE_SIZE", 1 << 12, "human", "Intel SDM vol. 3A, 4.5: 4-KByte pages")
INDEX_BITS = define("INDEX_BITS", 9, "int", "Intel SDM vol. 3A, 4.5: each paging-structure level is indexed by 9 bits")
TABLE_ENTRIES = define("TABLE_ENTRIES", 512, "int", "Intel SDM vol. 3A, 4.5: 512 entries of 8 bytes per 4-KByte table")
PTE_BYTES = define("PTE_BYTES", 8, "int", "Intel SDM vol. 3A, 4.5: paging-structure entries are 64 bits")
ADDRESS_BITS = define("ADDRESS_BITS", 64, "int", "the width of a pointer on x86-64")
VA_BITS_4LEVEL = define("VA_BITS_4LEVEL", 48, "int", "Intel SDM vol. 3A, 4.5: 4-level paging translates 48-bit linear addresses")
VA_BITS_5LEVEL = define("VA_BITS_5LEVEL", 57, "int", "Intel SDM vol. 3A, 4.5: 5-level paging translates 57-bit linear addresses")
USER_BITS_4LEVEL = define("USER_BITS_4LEVEL", 47, "int", "arch/x86/include/asm/page_64_types.h: TASK_SIZE_MAX is 2^47 minus a page with 4-level paging")
USER_BITS_5LEVEL = define("USER_BITS_5LEVEL", 56, "int", "arch/x86/include/asm/page_64_types.h: 2^56 minus a page with 5-level paging")

# --- /proc/PID/pagemap (Documentation/admin-guide/mm/pagemap.rst)
PAGEMAP_PRESENT_BIT = define("PAGEMAP_PRESENT_BIT", 63, "int", "Documentation/admin-guide/mm/pagemap.rst: bit 63, page present")
PAGEMAP_SWAPPED_BIT = define("PAGEMAP_SWAPPED_BIT", 62, "int", "Documentation/admin-guide/mm/pagemap.rst: bit 62, page swapped")
PAGEMAP_FILE_BIT = define("PAGEMAP_FILE_BIT", 61, "int", "Documentation/admin-guide/mm/pagemap.rst: bit 61, file-page or shared-anon")
PAGEMAP_EXCLUSIVE_BIT = define("PAGEMAP_EXCLUSIVE_BIT", 56, "int", "Documentation/admin-guide/mm/pagemap.rst: bit 56, page exclusively mapped")
PAGEMAP_SOFT_DIRTY_BIT = define("PAGEMAP_SOFT_DIRTY_BIT", 55, "int", "Documentation/admin-guide/mm/pagemap.rst: bit 55, pte is soft-dirty")
PAGEMAP_PFN_BITS = define("PAGEMAP_PFN_BITS", 55, "int", "Documentation/admin-guide/mm/pagemap.rst: bits 0-54, page frame number if present")
PAGEMAP_ENTRY_BYTES = define("PAGEMAP_ENTRY_BYTES", 8, "int", "Documentation/admin-guide/mm/pagemap.rst: one 64-bit value per virtual page")

# --- glibc's allocator (malloc/malloc.c, malloc/arena.c; glibc 2.36)
M_TOP_PAD_DEFAULT = define("M_TOP_PAD_DEFAULT", 128 * KIB, "human", "glibc sysdeps/generic/malloc-machine.h: DEFAULT_TOP_PAD 131072 (malloc/malloc.c's own 0 is only a fallback)")
MMAP_THRESHOLD_DEFAULT = define("MMAP_THRESHOLD_DEFAULT", 128 * KIB, "human", "glibc malloc/malloc.c: DEFAULT_MMAP_THRESHOLD_MIN")
MMAP_THRESHOLD_MAX = define("MMAP_THRESHOLD_MAX", 32 * MIB, "human", "glibc malloc/malloc.c: DEFAULT_MMAP_THRESHOLD_MAX (4 * 1024 * 1024 * sizeof(long))")
HEAP_MAX_SIZE = define("HEAP_MAX_SIZE", 64 * MIB, "human", "glibc malloc/arena.c: HEAP_MAX_SIZE (2 * DEFAULT_MMAP_THRESHOLD_MAX)")
SIZE_SZ = define("SIZE_SZ", 8, "int", "glibc malloc/malloc.c: SIZE_SZ, sizeof(size_t)")
MALLOC_ALIGNMENT = define("MALLOC_ALIGNMENT", 16, "int", "glibc sysdeps/generic/malloc-alignment.h: 2 * SIZE_SZ")
MIN_CHUNK_SIZE = define("MIN_CHUNK_SIZE", 32, "int", "glibc malloc/malloc.c: MIN_CHUNK_SIZE, offsetof(struct malloc_chunk, fd_nextsize)")
CHUNK_FLAG_BITS = define("CHUNK_FLAG_BITS", 3, "int", "glibc malloc/malloc.c: PREV_INUSE, IS_MMAPPED, NON_MAIN_ARENA")

# --- the kernel's defaults that no sysctl shows
STACK_GUARD_GAP_PAGES = define("STACK_GUARD_GAP_PAGES", 256, "int", "mm/mmap.c: stack_guard_gap = 256UL << PAGE_SHIFT (boot parameter stack_guard_gap=)")
THREAD_STACK_UNLIMITED = define("THREAD_STACK_UNLIMITED", 2 * MIB, "human", "glibc sysdeps/nptl/pthread_early_init.h: __pthread_early_init takes ARCH_STACK_DEFAULT_SIZE (sysdeps/x86/nptl/pthreaddef.h) when RLIMIT_STACK is unlimited")
EXIT_STATUS_BITS = define("EXIT_STATUS_BITS", 8, "int", "POSIX wait(): WEXITSTATUS is the low-order 8 bits of the status passed to exit")

# --- page sections: add constants below the marker of the page that needs them.
# --- hello-world, gdb-sessions, hub
# --- virtual-address-space
MAP_WINDOW_BITS = define("MAP_WINDOW_BITS", 47, "int", "arch/x86/include/asm/page_64_types.h: DEFAULT_MAP_WINDOW is 2^47 minus a page and STACK_TOP is TASK_SIZE_LOW, that window, under 4- and 5-level paging alike")
STACK_RANDOM_BYTES = define("STACK_RANDOM_BYTES", 8 * KIB, "human", "arch/x86/kernel/process.c: arch_align_stack lowers the stack pointer by get_random_u32_below(8192)")
STACK_ALIGN = define("STACK_ALIGN", 16, "int", "arch/x86/kernel/process.c: arch_align_stack returns sp & ~0xf")
STACK_RANDOM_RANGE = define("STACK_RANDOM_RANGE", (0x3FFFFF + 1) << 12, "human", "arch/x86/include/asm/elf.h: STACK_RND_MASK is 0x3fffff pages on 64-bit; fs/binfmt_elf.c: randomize_stack_top shifts it by PAGE_SHIFT")
BRK_RANDOM_RANGE = define("BRK_RANDOM_RANGE", 1 << 30, "human", "arch/x86/kernel/process.c: arch_randomize_brk, randomize_page(mm->brk, SZ_1G)")
LAM_U57_LOW_BIT = define("LAM_U57_LOW_BIT", 57, "int", "Intel ISE Programming Reference, Linear Address Masking: LAM_U57 (CR3 bit 61) masks bits 62:57 of a user pointer (bit 63 clear) for data accesses; arch/x86/kernel/process_64.c: prctl_enable_tagged_addr, untag_mask = ~GENMASK(62, 57), LAM_U57_BITS 6")
LAM_U48_LOW_BIT = define("LAM_U48_LOW_BIT", 48, "int", "Intel ISE Programming Reference, Linear Address Masking: LAM_U48 (CR3 bit 62) masks bits 62:48 of a user pointer; Linux never sets it (arch/x86/kernel/process_64.c enables LAM_U57 only)")
LAM_TAG_HIGH_BIT = define("LAM_TAG_HIGH_BIT", 62, "int", "Intel ISE Programming Reference, Linear Address Masking: both user modes mask up to bit 62, bit 63 telling a user pointer (clear) from a supervisor one")
UAI_LOW_BIT = define("UAI_LOW_BIT", 57, "int", "AMD APM vol. 2, 5.10, Upper Address Ignore: with EFER.UAIE (bit 20) set, bits 63:57 of a DS- or ES-based address are left out of the canonical check")
# --- processes
EXIT_STATUS_MASK = define("EXIT_STATUS_MASK", 0xFF, "hex", "kernel/exit.c: exit and exit_group pass (error_code & 0xff) << 8 to do_exit; WEXITSTATUS reads those bits back")
AT_RANDOM_BYTES = define("AT_RANDOM_BYTES", 16, "int", "fs/binfmt_elf.c create_elf_tables: k_rand_bytes[16] copied to the stack; getauxval(3): AT_RANDOM, the address of sixteen random bytes")
# --- mapping-procedure
SIGN_BIT_4LEVEL = define("SIGN_BIT_4LEVEL", 47, "int", "Intel SDM vol. 3A, 3.3.7.1 and 4.5: with 4-level paging an address is canonical when bits 63 through 47 are all equal")
TASK_UNMAPPED_BASE_DIVISOR = define("TASK_UNMAPPED_BASE_DIVISOR", 3, "int", "arch/x86/include/asm/processor.h: __TASK_UNMAPPED_BASE(task_size), PAGE_ALIGN(task_size / 3), where the legacy bottom-up layout starts its mmap area (arch/x86/mm/mmap.c, mmap_legacy_base)")
MMAP_GAP_MAX_NUMERATOR = define("MMAP_GAP_MAX_NUMERATOR", 5, "int", "arch/x86/mm/mmap.c: mmap_base, gap_max = (task_size / 6) * 5, the most room the top-down layout leaves under the stack's top before its mmap area (an unlimited stack size takes it)")
MMAP_GAP_MAX_DENOMINATOR = define("MMAP_GAP_MAX_DENOMINATOR", 6, "int", "arch/x86/mm/mmap.c: mmap_base, gap_max = (task_size / 6) * 5")
SIGN_BIT_5LEVEL = define("SIGN_BIT_5LEVEL", 56, "int", "Intel SDM vol. 3A, 3.3.7.1 and 4.5: with 5-level paging an address is canonical when bits 63 through 56 are all equal")
X86_TRAP_GP = define("X86_TRAP_GP", 13, "int", "arch/x86/include/asm/trapnr.h: X86_TRAP_GP, general protection (Intel SDM vol. 3A, 6.15: interrupt 13)")
X86_TRAP_PF = define("X86_TRAP_PF", 14, "int", "arch/x86/include/asm/trapnr.h: X86_TRAP_PF, page fault (Intel SDM vol. 3A, 6.15: interrupt 14)")
X86_PF_PROT_BIT = define("X86_PF_PROT_BIT", 0, "int", "arch/x86/include/asm/trap_pf.h: X86_PF_PROT = BIT(0), set for a protection fault, clear when no page was found")
X86_PF_WRITE_BIT = define("X86_PF_WRITE_BIT", 1, "int", "arch/x86/include/asm/trap_pf.h: X86_PF_WRITE = BIT(1), set for a write access")
X86_PF_USER_BIT = define("X86_PF_USER_BIT", 2, "int", "arch/x86/include/asm/trap_pf.h: X86_PF_USER = BIT(2), set for an access from user mode")
X86_PF_INSTR_BIT = define("X86_PF_INSTR_BIT", 4, "int", "arch/x86/include/asm/trap_pf.h: X86_PF_INSTR = BIT(4), set for an instruction fetch")
FAULT_AROUND_BYTES = define("FAULT_AROUND_BYTES", 64 * KIB, "human", "mm/memory.c: fault_around_pages = 65536 >> PAGE_SHIFT, shown and set only in debugfs as fault_around_bytes")
# --- dynamic-memory-allocation
SAFE_LINKING_SHIFT = define("SAFE_LINKING_SHIFT", 12, "int", "glibc malloc/malloc.c: PROTECT_PTR, (pos >> 12) ^ ptr, a fixed shift that assumes pages of at least 4096 bytes (since glibc 2.32)")
PREV_INUSE = define("PREV_INUSE", 0x1, "hex", "glibc malloc/malloc.c: PREV_INUSE, the chunk before this one is in use")
IS_MMAPPED = define("IS_MMAPPED", 0x2, "hex", "glibc malloc/malloc.c: IS_MMAPPED, the chunk was obtained with mmap")
NON_MAIN_ARENA = define("NON_MAIN_ARENA", 0x4, "hex", "glibc malloc/malloc.c: NON_MAIN_ARENA, the chunk belongs to a thread's arena")
TRIM_THRESHOLD_DEFAULT = define("TRIM_THRESHOLD_DEFAULT", 128 * KIB, "human", "glibc malloc/malloc.c: DEFAULT_TRIM_THRESHOLD")
TRIM_THRESHOLD_FACTOR = define("TRIM_THRESHOLD_FACTOR", 2, "int", "glibc malloc/malloc.c: __libc_free, on freeing a mapped chunk above the mmap threshold, sets mp_.trim_threshold = 2 * mp_.mmap_threshold")
TCACHE_MAX_BINS = define("TCACHE_MAX_BINS", 64, "int", "glibc malloc/malloc.c: TCACHE_MAX_BINS; tcache_perthread_struct holds a uint16_t count and a tcache_entry pointer for each")
TCACHE_MAX_REQUEST = define("TCACHE_MAX_REQUEST", 1032, "human", "glibc malloc/malloc.c: MAX_TCACHE_SIZE = tidx2usize(TCACHE_MAX_BINS - 1), the largest request the tcache takes by default (63 x 16 + 32 - 8 bytes where long is 64-bit; the tunable glibc.malloc.tcache_max changes it)")
TCACHE_COUNT_BYTES = define("TCACHE_COUNT_BYTES", 2, "int", "glibc malloc/malloc.c: tcache_perthread_struct.counts is uint16_t[TCACHE_MAX_BINS] (since glibc 2.30)")
STACK_CACHE_MAXSIZE = define("STACK_CACHE_MAXSIZE", 40 * MIB, "human", "glibc nptl/nptl-stack.c: __nptl_stack_cache_maxsize, the total size of the stacks kept for reuse (tunable glibc.pthread.stack_cache_size)")
ARENAS_PER_CORE = define("ARENAS_PER_CORE", 8, "int", "glibc malloc/malloc.c: NARENAS_FROM_NCORES, 8 arenas per core where long is 64-bit (applied by arena_get2 in malloc/arena.c)")
# --- files-and-accounting
PTE_PRESENT_BIT = define("PTE_PRESENT_BIT", 0, "int", "arch/x86/include/asm/pgtable_types.h: _PAGE_BIT_PRESENT 0 (Intel SDM vol. 3A, 4.5, the format of a page-table entry that maps a 4-KByte page: P, present)")
PTE_RW_BIT = define("PTE_RW_BIT", 1, "int", "arch/x86/include/asm/pgtable_types.h: _PAGE_BIT_RW 1 (Intel SDM vol. 3A, 4.5, the format of a page-table entry that maps a 4-KByte page: R/W, writes allowed)")
PTE_USER_BIT = define("PTE_USER_BIT", 2, "int", "arch/x86/include/asm/pgtable_types.h: _PAGE_BIT_USER 2 (Intel SDM vol. 3A, 4.5, the format of a page-table entry that maps a 4-KByte page: U/S, user-mode accesses allowed)")
PTE_ACCESSED_BIT = define("PTE_ACCESSED_BIT", 5, "int", "arch/x86/include/asm/pgtable_types.h: _PAGE_BIT_ACCESSED 5 (Intel SDM vol. 3A, 4.5, the format of a page-table entry that maps a 4-KByte page: A, set by the CPU on any access)")
PTE_DIRTY_BIT = define("PTE_DIRTY_BIT", 6, "int", "arch/x86/include/asm/pgtable_types.h: _PAGE_BIT_DIRTY 6 (Intel SDM vol. 3A, 4.5, the format of a page-table entry that maps a 4-KByte page: D, set by the CPU on a write)")
PTE_PSE_BIT = define("PTE_PSE_BIT", 7, "int", "arch/x86/include/asm/pgtable_types.h: _PAGE_BIT_PSE 7 (Intel SDM vol. 3A, table 4-18: PS in a page-directory entry, which then maps a 2-MByte page)")
PTE_NX_BIT = define("PTE_NX_BIT", 63, "int", "arch/x86/include/asm/pgtable_types.h: _PAGE_BIT_NX 63 (Intel SDM vol. 3A, 4.5, the format of a page-table entry that maps a 4-KByte page: XD, execute-disable, when IA32_EFER.NXE is set)")
HPAGE_PMD_SIZE = define("HPAGE_PMD_SIZE", 2 * MIB, "human", "include/linux/huge_mm.h: HPAGE_PMD_SIZE, 1 << HPAGE_PMD_SHIFT (PMD_SHIFT, 21 on x86-64: one page-directory entry maps 2 MiB)")
HPAGE_PMD_SHIFT = define("HPAGE_PMD_SHIFT", 21, "int", "include/linux/huge_mm.h: HPAGE_PMD_SHIFT is PMD_SHIFT, 21 on x86-64 (arch/x86/include/asm/pgtable_64_types.h); Intel SDM vol. 3A, 4.5, figure 4-9: a 2-MByte page, bits 20:0 of the address are its offset")
EXT4_SUPER_MAGIC = define("EXT4_SUPER_MAGIC", 0xEF53, "hex", "include/uapi/linux/magic.h: EXT4_SUPER_MAGIC (also EXT2_ and EXT3_SUPER_MAGIC), statfs(2)'s f_type of an ext2, ext3 or ext4 file system")
TMPFS_MAGIC = define("TMPFS_MAGIC", 0x01021994, "hex", "include/uapi/linux/magic.h: TMPFS_MAGIC, statfs(2)'s f_type of a tmpfs (memory only)")
XFS_SUPER_MAGIC = define("XFS_SUPER_MAGIC", 0x58465342, "hex", "include/uapi/linux/magic.h: XFS_SUPER_MAGIC (\"XFSB\"), statfs(2)'s f_type of an XFS file system")
BTRFS_SUPER_MAGIC = define("BTRFS_SUPER_MAGIC", 0x9123683E, "hex", "include/uapi/linux/magic.h: BTRFS_SUPER_MAGIC, statfs(2)'s f_type of a btrfs file system")
PF_EXITING = define("PF_EXITING", 0x4, "hex", "include/linux/sched.h: PF_EXITING 0x00000004, set in a task's flags (field 9 of /proc/PID/stat) as it starts to exit, before it is a zombie")
PF_SIGNALED = define("PF_SIGNALED", 0x400, "hex", "include/linux/sched.h: PF_SIGNALED 0x00000400, set in a task's flags (field 9 of /proc/PID/stat) when a fatal signal ends it (kernel/signal.c: get_signal, which then calls do_group_exit: the whole process ends, or, where another thread runs execve, this thread alone)")
PF_RANDOMIZE = define("PF_RANDOMIZE", 0x00400000, "hex", "include/linux/sched.h: PF_RANDOMIZE 0x00400000, a task flag that load_elf_binary (fs/binfmt_elf.c) sets when it lays the program out at random, kept until the next execve")
ENOMEM = define("ENOMEM", 12, "int", "include/uapi/asm-generic/errno-base.h: ENOMEM 12, out of memory")
SAMPLE_ADDRESS_SPACE_DEFAULT = define("SAMPLE_ADDRESS_SPACE_DEFAULT", 4 << 30, "human", "samples/README.md: [NAME.limits] address_space, 4294967296 bytes of virtual memory per process by default (RLIMIT_AS)")
SEGV_ACCERR = define("SEGV_ACCERR", 2, "int", "include/uapi/asm-generic/siginfo.h: SEGV_ACCERR 2, invalid permissions for mapped object")
TCB_STACK_GUARD_OFFSET = define("TCB_STACK_GUARD_OFFSET", 0x28, "hex", "glibc sysdeps/x86_64/nptl/tls.h: tcbhead_t.stack_guard, at this offset from the thread pointer (gcc's -fstack-protector reads it as %fs:0x28)")
# --- explore-your-own-program
I386_NR_WRITE = define("I386_NR_WRITE", 4, "int", "arch/x86/entry/syscalls/syscall_32.tbl: 4 i386 write (asm/unistd_32.h __NR_write), the number that syscall_64.tbl gives stat (asm/unistd_64.h __NR_stat)")
# The address space (RLIMIT_AS) each process of a learner's program gets in the sandbox of
# roads run and of roads explain alike: the samples' default, SAMPLE_ADDRESS_SPACE_DEFAULT.
# (gcc and gdb, and roads explain's tracer, run under capture.runner.TOOL_ADDRESS_SPACE.)
PROGRAM_ADDRESS_SPACE = define("PROGRAM_ADDRESS_SPACE", 4 << 30, "human", "roads/cli.py run_limits and roads/explain/command.py explain_limits (roads run --help, roads explain --help): RLIMIT_AS of each process of a program roads run or roads explain runs in the sandbox")

CONSTANTS: dict[str, Constant] = {c.name: c for c in _ALL}


def constant(name: str) -> Constant:
    """The constant called ``name``; a ConfigError listing the known ones otherwise."""
    try:
        return CONSTANTS[name]
    except KeyError:
        raise ConfigError(f"no constant {name!r}; known: {', '.join(sorted(CONSTANTS))}") from None


# --- facts the engine's two halves share (not printed on pages) -------------------------
# The bits of user space by paging levels: 4-level paging translates 48-bit addresses, user
# space below 2^47; 5-level (LA57) 57-bit addresses, user space below 2^56
# (arch/x86/include/asm/page_64_types.h, __VIRTUAL_MASK_SHIFT).
USER_BITS = MappingProxyType({4: USER_BITS_4LEVEL.value, 5: USER_BITS_5LEVEL.value})
# personality(2)'s flag that turns address space randomisation off for a process
# (include/uapi/linux/personality.h).
ADDR_NO_RANDOMIZE = 0x0040000
# The descriptor a sample finds its protocol pipe at (samples/roads.h, ROADS_FD): always
# this one, so that the environment, and with it the stack layout, is the same every run.
CONTROL_FD = 3
