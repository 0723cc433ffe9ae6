"""The named constants that pages print (roads.constants), checked where the system can.

Each test holds a constant against something independent: the machine (sysconf,
pagemap of this very process), a committed capture, or arithmetic between constants
that the architecture fixes. Constants from a source the machine cannot show (a
default compiled into glibc) are checked through the capture that shows its effect,
on the page's own claim tests where that is the page's subject.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import re
import struct
from pathlib import Path

import pytest

from roads import constants as c
from tests.claims_support import doc
from tests.conftest import REPO


def test_names_are_unique_and_cited():
    from roads.units import FORMATS

    assert len(c.CONSTANTS) == len(c._ALL)
    assert all(k.source.strip() for k in c._ALL)
    assert all(k.fmt in FORMATS for k in c._ALL)


def test_page_size_is_the_machines_and_the_captures():
    assert c.PAGE_SIZE.value == os.sysconf("SC_PAGE_SIZE") == 1 << c.PAGE_SHIFT.value
    assert doc("brk")["provenance"]["page_size"] == c.PAGE_SIZE.value


def test_a_table_fills_a_page():
    assert c.TABLE_ENTRIES.value * c.PTE_BYTES.value == c.PAGE_SIZE.value
    assert 1 << c.INDEX_BITS.value == c.TABLE_ENTRIES.value
    assert c.VA_BITS_4LEVEL.value == 4 * c.INDEX_BITS.value + c.PAGE_SHIFT.value
    assert c.VA_BITS_5LEVEL.value == 5 * c.INDEX_BITS.value + c.PAGE_SHIFT.value
    assert c.USER_BITS_4LEVEL.value == c.VA_BITS_4LEVEL.value - 1


def test_address_masking_frees_the_bits_paging_leaves():
    """LAM_U57 and UAI start where 5-level paging stops translating, LAM_U48 where 4-level
    paging does; LAM's tag ends just below the top bit, which it keeps."""
    assert c.LAM_U57_LOW_BIT.value == c.UAI_LOW_BIT.value == c.VA_BITS_5LEVEL.value
    assert c.LAM_U48_LOW_BIT.value == c.VA_BITS_4LEVEL.value
    assert c.LAM_TAG_HIGH_BIT.value == c.ADDRESS_BITS.value - 2


def pagemap_entry(address: int) -> int:
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(address // c.PAGE_SIZE.value * c.PAGEMAP_ENTRY_BYTES.value)
        return struct.unpack("<Q", f.read(c.PAGEMAP_ENTRY_BYTES.value))[0]


def test_pagemap_bits_on_this_process():
    """Present after a write, absent before; a private written page is exclusive and
    neither file-backed nor swapped."""
    size = 2 * c.PAGE_SIZE.value
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    view = ctypes.c_char.from_buffer(m)
    base = ctypes.addressof(view)
    untouched = pagemap_entry(base + c.PAGE_SIZE.value)
    m[0] = 1
    written = pagemap_entry(base)
    del view
    m.close()
    bit = lambda e, k: (e >> k.value) & 1  # noqa: E731
    assert bit(untouched, c.PAGEMAP_PRESENT_BIT) == 0
    assert bit(written, c.PAGEMAP_PRESENT_BIT) == 1
    assert bit(written, c.PAGEMAP_EXCLUSIVE_BIT) == 1
    assert bit(written, c.PAGEMAP_SWAPPED_BIT) == 0
    assert bit(written, c.PAGEMAP_FILE_BIT) == 0
    assert written & ((1 << c.PAGEMAP_PFN_BITS.value) - 1) != 0 or os.geteuid() != 0


def test_malloc_defaults_fit_together():
    assert c.MALLOC_ALIGNMENT.value == 2 * c.SIZE_SZ.value
    assert c.MIN_CHUNK_SIZE.value == 4 * c.SIZE_SZ.value
    assert c.HEAP_MAX_SIZE.value == 2 * c.MMAP_THRESHOLD_MAX.value
    assert c.MMAP_THRESHOLD_MAX.value == 4 * 1024 * 1024 * c.SIZE_SZ.value
    assert 1 << c.CHUNK_FLAG_BITS.value <= c.MALLOC_ALIGNMENT.value


def _chunk(request: int) -> int:
    """malloc.c's request2size: the request and a size word, rounded up to the alignment."""
    align = c.MALLOC_ALIGNMENT.value
    return max(-(-(request + c.SIZE_SZ.value) // align) * align, c.MIN_CHUNK_SIZE.value)


def _point(sample: str, checkpoint: str) -> dict:
    run = doc(sample)["variants"]["default"]["runs"][0]
    return next(p for p in run["checkpoints"] if p["name"] == checkpoint)


def _address(point: dict, name: str) -> int:
    return next(a["value"] for a in point["addresses"] if a["name"] == name)


def _heap(point: dict) -> dict:
    return next(r for r in point["regions"] if r["pathname"] == "[heap]")


def test_malloc_pad_and_threshold_against_the_captures():
    """M_TOP_PAD: the first heap (brk) is its first chunk, the pad and a minimal chunk,
    in whole pages. The mmap threshold: the 200 KiB request of `threshold` was mapped,
    so its chunk is at or above it; the first chunk went to brk, so it is below; and
    free raised it to the mapped chunk's size, which it does only from below."""
    page = c.PAGE_SIZE.value
    first = _point("brk", "after-first-malloc")
    heap = _heap(first)
    first_chunk = _address(first, "tcache-header") & ~7
    assert heap["end"] - heap["start"] == -(-(first_chunk + c.M_TOP_PAD_DEFAULT.value
                                               + c.MIN_CHUNK_SIZE.value) // page) * page
    mapped = _point("threshold", "after-200k")
    assert _address(mapped, "chunk-size-200k") & c.IS_MMAPPED.value
    assert first_chunk < c.MMAP_THRESHOLD_DEFAULT.value <= _chunk(_address(mapped, "request-200k"))
    assert c.MMAP_THRESHOLD_DEFAULT.value < _address(mapped, "chunk-size-200k") & ~7
    assert c.MMAP_THRESHOLD_DEFAULT.value <= c.MMAP_THRESHOLD_MAX.value


# A mapped chunk of the size given, freed, then a request whose chunk lies between the
# starting threshold and that size: whether it was mapped says whether free raised the
# threshold. Prints the two size words.
_THRESHOLD_PROBE = r"""
#include <stdio.h>
#include <stdlib.h>
static size_t word(const void *p) { return ((const size_t *)p)[-1]; }
int main(int argc, char **argv)
{
    char *big = malloc(strtoul(argv[1], NULL, 0));
    if (big == NULL)
        return 1;
    size_t first = word(big);
    free(big);
    char *next = malloc(strtoul(argv[2], NULL, 0));
    if (next == NULL)
        return 1;
    printf("%#zx %#zx\n", first, word(next));
    return 0;
}
"""


# Frees a block of argv[1] bytes with a block after it still in use, and prints the
# PREV_INUSE bit of that block's size word: still set when the tcache took the freed
# chunk (it is free only to the tcache), clear when the arena did.
_TCACHE_PROBE = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv)
{
    char *block = malloc(strtoul(argv[1], NULL, 0));
    size_t *after = malloc(16);
    free(block);
    printf("%zu\n", after[-1] & 1);
    return 0;
}
"""


@pytest.mark.gcc
def test_the_tcache_takes_requests_up_to_its_largest_size(tmp_path):
    """TCACHE_MAX_REQUEST is the largest request whose chunk the tcache takes on free:
    its bins' largest chunk size less the size word (inside-the-c-library.md, What free
    gives back; samples/trim.c frees blocks above it)."""
    import subprocess

    largest_chunk = (c.TCACHE_MAX_BINS.value - 1) * c.MALLOC_ALIGNMENT.value \
        + c.MIN_CHUNK_SIZE.value
    assert c.TCACHE_MAX_REQUEST.value == largest_chunk - c.SIZE_SZ.value
    assert _chunk(c.TCACHE_MAX_REQUEST.value) == largest_chunk
    source, program = tmp_path / "tcache.c", tmp_path / "tcache"
    source.write_text(_TCACHE_PROBE)
    subprocess.run(["gcc", "-O0", "-o", str(program), str(source)], check=True, timeout=60)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}

    def kept_by_tcache(request: int) -> bool:
        out = subprocess.run([str(program), str(request)], env=env, capture_output=True,
                             text=True, check=True, timeout=30).stdout
        return out.strip() == "1"

    assert kept_by_tcache(c.TCACHE_MAX_REQUEST.value)
    assert not kept_by_tcache(c.TCACHE_MAX_REQUEST.value + 1)
    trim = (REPO / "samples" / "trim.c").read_text()
    sizes = {name: int(v) for name, v in re.findall(r"#define (SIZE|PIN) (\d+)", trim)}
    assert min(sizes.values()) > c.TCACHE_MAX_REQUEST.value, sizes


@pytest.mark.gcc
def test_a_mapped_chunk_of_the_maximum_leaves_the_threshold(tmp_path):
    """free raises the mmap threshold only for a mapped chunk below MMAP_THRESHOLD_MAX:
    it compares the size word, IS_MMAPPED included, so a chunk of exactly the maximum
    leaves the threshold as it was, and one a page smaller raises it
    (dynamic-memory-allocation.md, "The threshold is therefore not fixed")."""
    import subprocess

    source, program = tmp_path / "probe.c", tmp_path / "probe"
    source.write_text(_THRESHOLD_PROBE)
    subprocess.run(["gcc", "-O0", "-o", str(program), str(source)], check=True, timeout=60)
    # Settings that freeze the threshold (or move it) must not come from the environment.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    overhead = 3 * c.SIZE_SZ.value  # a request this much below a page multiple maps exactly it
    later = 2 * c.MMAP_THRESHOLD_DEFAULT.value  # above the starting threshold
    flags = (1 << c.CHUNK_FLAG_BITS.value) - 1
    for mapped, raised in ((c.MMAP_THRESHOLD_MAX.value, False),
                           (c.MMAP_THRESHOLD_MAX.value - c.PAGE_SIZE.value, True)):
        out = subprocess.run([str(program), str(mapped - overhead), str(later)], env=env,
                             capture_output=True, text=True, check=True, timeout=30).stdout
        first, second = (int(w, 16) for w in out.split())
        assert first == mapped | c.IS_MMAPPED.value, out
        assert first & ~flags == mapped
        assert bool(second & c.IS_MMAPPED.value) is not raised, (hex(mapped), out)



# Sets the mmap threshold with mallopt to argv[1] bytes, then mallocs argv[2] bytes and
# prints mallopt's answer and the block's IS_MMAPPED bit.
_SET_THRESHOLD_PROBE = r"""
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv)
{
    int set = mallopt(M_MMAP_THRESHOLD, (int)strtol(argv[1], NULL, 0));
    size_t *block = malloc(strtoul(argv[2], NULL, 0));
    if (block == NULL)
        return 1;
    printf("%d %zu\n", set, (block[-1] >> 1) & 1);
    return 0;
}
"""


@pytest.mark.gcc
def test_the_threshold_can_be_fixed_above_its_maximum(tmp_path):
    """MMAP_THRESHOLD_MAX bounds only free's raising of the threshold: this glibc takes a
    threshold of twice that from mallopt (older releases refused one above half of
    HEAP_MAX_SIZE), and a request above the maximum but below the threshold then comes
    from the heap (dynamic-memory-allocation.md, "The threshold is therefore not fixed")."""
    import subprocess

    source, program = tmp_path / "probe.c", tmp_path / "probe"
    source.write_text(_SET_THRESHOLD_PROBE)
    subprocess.run(["gcc", "-O0", "-o", str(program), str(source)], check=True, timeout=60)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    threshold = 2 * c.MMAP_THRESHOLD_MAX.value
    assert threshold > c.HEAP_MAX_SIZE.value // 2
    request = c.MMAP_THRESHOLD_MAX.value + c.PAGE_SIZE.value
    out = subprocess.run([str(program), str(threshold), str(request)], env=env,
                         capture_output=True, text=True, check=True, timeout=30).stdout
    assert out.split() == ["1", "0"], out


# THREADS threads, alive together, each malloc a small block; prints how many arenas
# served them: the distinct HEAP_MAX_SIZE-aligned areas their blocks lie in (the main
# arena's [heap] counts as one).
_ARENA_PROBE = r"""
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
static pthread_barrier_t all;
static void *work(void *slot)
{
    *(void **)slot = malloc(16);
    pthread_barrier_wait(&all); /* every block made */
    pthread_barrier_wait(&all); /* counted */
    return NULL;
}
int main(int argc, char **argv)
{
    int n = atoi(argv[1]);
    uintptr_t mask = ~(uintptr_t)(strtoul(argv[2], NULL, 0) - 1);
    pthread_t *threads = calloc(n, sizeof *threads);
    void **blocks = calloc(n, sizeof *blocks);
    uintptr_t *seen = calloc(n, sizeof *seen);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 16);
    pthread_barrier_init(&all, NULL, n + 1);
    for (int i = 0; i < n; i++)
        if (pthread_create(&threads[i], &attr, work, &blocks[i]) != 0)
            return 1;
    pthread_barrier_wait(&all);
    int arenas = 0;
    for (int i = 0; i < n; i++) {
        int known = 0;
        for (int j = 0; j < arenas; j++)
            known |= seen[j] == ((uintptr_t)blocks[i] & mask);
        if (!known)
            seen[arenas++] = (uintptr_t)blocks[i] & mask;
    }
    printf("%d\n", arenas);
    pthread_barrier_wait(&all);
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    return 0;
}
"""


@pytest.mark.gcc
def test_arenas_per_processor_and_arena_max(tmp_path):
    """By default malloc makes arenas for new threads until ARENAS_PER_CORE for each
    online processor exist, the main one included (or M_ARENA_TEST's count and one
    more, where that is more: ARENAS_PER_CORE for a single processor); MALLOC_ARENA_MAX
    puts its own limit in place of that one, above it as well as below
    (dynamic-memory-allocation.md, Threads)."""
    import subprocess

    source, program = tmp_path / "arenas.c", tmp_path / "arenas"
    source.write_text(_ARENA_PROBE)
    subprocess.run(["gcc", "-O0", "-pthread", "-o", str(program), str(source)], check=True,
                   timeout=60)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    online = os.sysconf("SC_NPROCESSORS_ONLN")
    default = max(c.ARENAS_PER_CORE.value * online, c.ARENAS_PER_CORE.value + 1)
    threads = str(default + c.ARENAS_PER_CORE.value)

    def arenas(**extra: str) -> int:
        done = subprocess.run([str(program), threads, str(c.HEAP_MAX_SIZE.value)],
                              env={**env, **extra}, capture_output=True, text=True,
                              check=True, timeout=60)
        return int(done.stdout)

    assert arenas() == default
    assert arenas(MALLOC_ARENA_MAX=str(default + 2)) == default + 2
    assert arenas(MALLOC_ARENA_MAX="1") == 1


def test_chunk_flags_are_the_low_bits():
    flags = (c.PREV_INUSE.value, c.IS_MMAPPED.value, c.NON_MAIN_ARENA.value)
    assert sorted(flags) == [1 << k for k in range(c.CHUNK_FLAG_BITS.value)]


def test_page_table_entry_bits_and_huge_page():
    """The PTE bits against pagemap's own layout (bit 63 is the top of a 64-bit entry) and
    each other; a PMD-mapped huge page is one table's worth of pages, and the hugepage
    capture's huge page spans exactly that many present pages."""
    low = (c.PTE_PRESENT_BIT, c.PTE_RW_BIT, c.PTE_USER_BIT, c.PTE_ACCESSED_BIT,
           c.PTE_DIRTY_BIT, c.PTE_PSE_BIT)
    assert [k.value for k in low] == sorted({k.value for k in low}) and low[-1].value < 8
    assert c.PTE_NX_BIT.value == c.PTE_BYTES.value * 8 - 1 == c.PAGEMAP_PRESENT_BIT.value
    assert c.HPAGE_PMD_SIZE.value == c.TABLE_ENTRIES.value * c.PAGE_SIZE.value
    point = _point("hugepage", "touched")
    huge = next(r for r in point["pagemap"] if r["name"] == "huge")
    assert len(huge["pages"]) * c.PAGE_SIZE.value == c.HPAGE_PMD_SIZE.value
    assert all(p["present"] for p in huge["pages"])


def test_huge_page_shift_is_one_level_of_index_above_a_page():
    """A page-directory entry with PS set maps what its page table would have: the low
    PAGE_SHIFT + INDEX_BITS bits are the offset; the machine's kernel says the same size
    where it shows it (transparent_hugepage/hpage_pmd_size)."""
    from roads.figures.pageview import LEVELS_BY_PAGING

    shift = c.HPAGE_PMD_SHIFT.value
    assert shift == c.PAGE_SHIFT.value + c.INDEX_BITS.value
    assert 1 << shift == c.HPAGE_PMD_SIZE.value
    assert dict(LEVELS_BY_PAGING[4])["PD"] == shift  # the PD index starts where the offset ends
    sysfs = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"
    if os.path.exists(sysfs):
        with open(sysfs) as f:
            assert int(f.read()) == c.HPAGE_PMD_SIZE.value


def test_segv_accerr_against_the_probe():
    """The probe prints the name signal.h gives a write to a read-only page's code, and
    nx records the number for an execution of a mapped data page: the same case."""
    line = next(l for l in doc("probe")["variants"]["default"]["runs"][0]["stdout"].splitlines()
                if l.startswith("probe=code "))
    assert "si_code=SEGV_ACCERR" in line
    assert _address(_point("nx", "data-called"), "data-si_code") == c.SEGV_ACCERR.value


def test_enomem_and_the_sandbox_limit():
    import errno

    from roads.capture.samples import Limits

    assert errno.ENOMEM == c.ENOMEM.value
    assert Limits().address_space == c.SAMPLE_ADDRESS_SPACE_DEFAULT.value


def test_the_canary_offset_is_where_gcc_reads_it(tmp_path):
    """gcc's stack protector loads the canary at TCB_STACK_GUARD_OFFSET from %fs (the
    sample tls reads it there too)."""
    import subprocess

    source = tmp_path / "guarded.c"
    source.write_text("void fill(char *);\nvoid f(void) { char b[64]; fill(b); }\n")
    asm = subprocess.run(["gcc", "-O0", "-fstack-protector-strong", "-S", "-o", "-", str(source)],
                         capture_output=True, text=True, check=True).stdout
    assert f"%fs:{c.TCB_STACK_GUARD_OFFSET.value}," in asm
    from tests.conftest import REPO

    assert f"%%fs:{c.TCB_STACK_GUARD_OFFSET.value:#x}" in (REPO / "samples" / "tls.c").read_text()


def test_file_system_magic_numbers_are_the_installed_kernel_headers():
    """statfs(2)'s f_type values (the build's write-back, the sample filemap's claim)
    as the kernel's uapi header installed here defines them (gcc's preprocessor reads
    linux/magic.h, which every C toolchain on Linux carries)."""
    import subprocess

    names = ("EXT4_SUPER_MAGIC", "TMPFS_MAGIC", "XFS_SUPER_MAGIC", "BTRFS_SUPER_MAGIC")
    macros = subprocess.run(["gcc", "-E", "-dM", "-include", "linux/magic.h", "-x", "c",
                             "/dev/null"], capture_output=True, text=True, check=True).stdout
    defined = {}
    for line in macros.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "#define" and parts[1] in names:
            defined[parts[1]] = int(parts[2], 16)
    assert defined == {name: getattr(c, name).value for name in names}


def test_the_i386_write_is_the_x86_64_stat_in_the_installed_kernel_headers():
    """The number of int 0x80's write (the i386 table) is that of the x86-64 stat, as
    the kernel's uapi headers installed here define them (explore-your-own-program.md)."""
    import subprocess

    def number(header: str, name: str) -> int:
        macros = subprocess.run(["gcc", "-E", "-dM", "-include", header, "-x", "c", "/dev/null"],
                                capture_output=True, text=True, check=True, timeout=60).stdout
        (value,) = [line.split()[2] for line in macros.splitlines()
                    if line.split()[:2] == ["#define", name]]
        return int(value)

    assert number("asm/unistd_32.h", "__NR_write") == c.I386_NR_WRITE.value
    assert number("asm/unistd_64.h", "__NR_stat") == c.I386_NR_WRITE.value


def test_safe_linking_shifts_by_a_pages_offset_bits_here():
    """glibc's fixed shift equals this machine's page shift (the captured links decode
    with it: test_claims_libc), as it does wherever pages are 4 KiB."""
    assert c.SAFE_LINKING_SHIFT.value == c.PAGE_SHIFT.value
    assert 1 << c.SAFE_LINKING_SHIFT.value == os.sysconf("SC_PAGE_SIZE")


def test_the_legacy_layout_starts_at_user_space_over_the_divisor():
    """setarch -L -R: the legacy bottom-up layout, randomisation off, puts the loader at
    __TASK_UNMAPPED_BASE, user space (the default 47-bit window) over the divisor,
    rounded up to a page."""
    maps = _maps_under("-L", "-R", "cat", "/proc/self/maps")
    task_size = (1 << c.USER_BITS_4LEVEL.value) - c.PAGE_SIZE.value
    base = -(-(task_size // c.TASK_UNMAPPED_BASE_DIVISOR.value) // c.PAGE_SIZE.value) * c.PAGE_SIZE.value
    starts = [int(line.split("-")[0], 16) for line in maps.splitlines()
              if line.rstrip().endswith(("ld-linux-x86-64.so.2",))]
    assert starts and min(starts) == base, (hex(base), maps)


def _maps_under(*setarch: str) -> str:
    """What ``setarch SETARCH...`` printed (a program's maps, run under the personality
    and limits it sets); the test is skipped where setarch is missing or refuses."""
    import shutil
    import subprocess

    if shutil.which("setarch") is None:
        pytest.skip("no setarch (util-linux)")
    done = subprocess.run(["setarch", *setarch], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"setarch refused: {done.stderr.strip()}")
    return done.stdout


def test_an_unlimited_stack_starts_the_mmap_area_at_the_largest_gap():
    """ulimit -s unlimited, randomisation off: mmap_base clamps its gap under the stack
    to its maximum, (task_size / 6) * 5 of the default 47-bit window, and the mappings
    the kernel makes at execve (the loader, the vDSO) end right at the base it gives,
    rounded up to a page (roads.figures.regions.largest_stack_gap_base)."""
    from roads.figures.regions import largest_stack_gap_base

    maps = _maps_under("-R", "sh", "-c", "ulimit -s unlimited && exec cat /proc/self/maps")
    ends = [int(line.split()[0].split("-")[1], 16) for line in maps.splitlines()
            if line.rstrip().endswith(("ld-linux-x86-64.so.2", "[vdso]", "[vvar]", "[vvar_vclock]"))]
    task_size = (1 << c.MAP_WINDOW_BITS.value) - c.PAGE_SIZE.value
    gap = task_size // c.MMAP_GAP_MAX_DENOMINATOR.value * c.MMAP_GAP_MAX_NUMERATOR.value
    assert ends and max(ends) == largest_stack_gap_base() == -(-(task_size - gap)
                                                               // c.PAGE_SIZE.value) * c.PAGE_SIZE.value


PERSONALITY_THEN_STAT = r"""
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
/* Clears every personality flag (ADDR_NO_RANDOMIZE among them) unless told not to,
   then prints the flags word, field 9 of /proc/self/stat. */
int main(int argc, char **argv) {
    if (argc < 2) personality(0);
    char line[4096];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f || !fgets(line, sizeof line, f)) return 1;
    char *rest = strrchr(line, ')') + 2;  /* field 3 onwards */
    unsigned long flags = 0;
    sscanf(rest, "%*s %*d %*d %*d %*d %*d %lu", &flags);
    printf("%lu\n", flags);
    return 0;
}
"""


def test_pf_randomize_is_set_by_execve_from_the_personality_of_that_moment(tmp_path):
    """PF_RANDOMIZE is the bit of /proc/PID/stat's flags that execve sets when it lays
    the program out at random, and it keeps until the next execve: a personality(2)
    call after it (which the program here makes) does not change it (``Checkpoint.
    randomized`` relies on both)."""
    import shutil
    import subprocess

    if shutil.which("setarch") is None:
        pytest.skip("setarch (util-linux) is not installed")
    level = int(Path("/proc/sys/kernel/randomize_va_space").read_text())
    program = tmp_path / "flags"
    (tmp_path / "flags.c").write_text(PERSONALITY_THEN_STAT)
    subprocess.run(["gcc", "-o", str(program), str(tmp_path / "flags.c")], check=True, timeout=60)

    def flags(*prefix: str, keep: bool = False) -> int:
        argv = [*prefix, str(program), *(["keep"] if keep else [])]
        return int(subprocess.run(argv, capture_output=True, text=True, check=True,
                                  timeout=30).stdout)

    for keep in (True, False):
        assert not flags("setarch", "-R", keep=keep) & c.PF_RANDOMIZE.value, keep
        assert bool(flags(keep=keep) & c.PF_RANDOMIZE.value) == (level > 0), keep
