/*
 * madvise: a written buffer given back to the kernel in two ways. MADV_DONTNEED takes
 * pages away at once, and the next touch finds zeros; MADV_FREE leaves them where they
 * are until the kernel needs the memory, and a write keeps a page for the program.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "roads.h"

#define PAGES 6

int main(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    /* Run on one processor only: the kernel moves MADV_FREE's pages from the anonymous
     * pages' list to the file pages' in batches kept per processor (see the second
     * MADV_FREE below). */
    cpu_set_t one;
    int cpu = sched_getcpu();
    if (cpu < 0)
        return 1;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0)
        return 1;
    /* The buffer, with an inaccessible page on each side: a line of the map of its own. */
    char *area = mmap(NULL, (PAGES + 2) * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        return 1;
    char *buffer = mmap(area + page, PAGES * page, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (buffer == MAP_FAILED)
        return 1;
    memset(buffer, 'x', PAGES * page); /* every page written: each has a frame */
    ROADS_ADDRESS("buffer", buffer);
    ROADS_ADDRESS("dontneed", buffer + 2 * page);
    ROADS_ADDRESS("free", buffer + 4 * page);
    ROADS_RANGE("buffer", buffer, PAGES * page);
    ROADS_RANGE("dontneed", buffer + 2 * page, 2 * page);
    ROADS_RANGE("free", buffer + 4 * page, 2 * page);
    ROADS_CHECKPOINT("touched");

    /* Pages 2 and 3: not needed any more, taken away now. */
    if (madvise(buffer + 2 * page, 2 * page, MADV_DONTNEED) != 0)
        return 2;
    ROADS_CHECKPOINT("dropped");

    /* Page 2 read again; page 3 written, then read a byte further on. */
    ROADS_ADDRESS("dropped-read", (uintptr_t)(unsigned char)buffer[2 * page]);
    buffer[3 * page] = 'y';
    ROADS_ADDRESS("rewritten-next", (uintptr_t)(unsigned char)buffer[3 * page + 1]);
    ROADS_CHECKPOINT("reread");

    /* Pages 4 and 5: free to be taken when the kernel needs memory. Each MADV_FREE call
     * first empties this processor's batch, so the second one finishes moving the pages
     * the first one batched; smaps counts them as LazyFree from then on. */
    if (madvise(buffer + 4 * page, 2 * page, MADV_FREE) != 0)
        return 3;
    if (madvise(buffer + 4 * page, 2 * page, MADV_FREE) != 0)
        return 3;
    ROADS_CHECKPOINT("freed");

    /* Page 4 only read: still free to take. */
    ROADS_ADDRESS("freed-read", (uintptr_t)(unsigned char)buffer[4 * page]);
    ROADS_CHECKPOINT("peeked");

    /* Page 5 written: the program's again. */
    buffer[5 * page] = 'z';
    ROADS_CHECKPOINT("rewritten");
    return 0;
}
