/*
 * hugepage: a transparent huge page, asked for. Where THP is in "madvise" mode, the
 * kernel backs an anonymous region with 2 MiB pages only where the program asked
 * with madvise(MADV_HUGEPAGE), and only for a 2 MiB-aligned, 2 MiB-long part of it.
 * One write then faults in a whole huge page: 512 contiguous frames, mapped by one
 * page-middle-directory entry, the walk ending a level early. A region next to it,
 * not advised, gets a single 4 KiB page for the same one-byte write.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/mman.h>

#include "roads.h"

#define HUGE (2UL << 20)

int main(void)
{
    /* Twice the size, so that an aligned 2 MiB lies inside whatever mmap returns. */
    char *raw = mmap(NULL, 2 * HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *plain = mmap(NULL, HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED || plain == MAP_FAILED)
        return 1;
    char *huge = (char *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
    if (madvise(huge, HUGE, MADV_HUGEPAGE) != 0)
        return 1;
    ROADS_ADDRESS("huge", huge);
    ROADS_ADDRESS("plain", plain);
    ROADS_CHECKPOINT("advised");

    huge[0] = 1;  /* one byte: the fault maps 2 MiB */
    plain[0] = 1; /* one byte: the fault maps 4 KiB */
    ROADS_RANGE("huge", huge, HUGE);
    ROADS_RANGE("plain", plain, 16 * 4096);
    ROADS_CHECKPOINT("touched");
    return 0;
}
