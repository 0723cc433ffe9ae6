/*
 * mremap: a mapping of four written pages grown to eight. The page after it is taken,
 * so it cannot grow where it is: the kernel moves it, and its pages go with it.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "roads.h"

#define PAGES 4

int main(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    /* PAGES pages and one more, reserved; the buffer replaces the first PAGES, and the
     * last stays inaccessible: a neighbour the buffer cannot grow into. */
    char *area = mmap(NULL, (PAGES + 1) * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        return 1;
    char *buffer = mmap(area, PAGES * page, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (buffer == MAP_FAILED)
        return 1;
    for (size_t i = 0; i < PAGES; i++)
        buffer[i * page] = (char)('a' + i); /* each page written: in RAM, with a frame */
    ROADS_ADDRESS("buffer", buffer);
    ROADS_ADDRESS("neighbour", buffer + PAGES * page);
    ROADS_RANGE("buffer", buffer, PAGES * page);
    ROADS_CHECKPOINT("written");

    char *moved = mremap(buffer, PAGES * page, 2 * PAGES * page, MREMAP_MAYMOVE);
    if (moved == MAP_FAILED)
        return 1;
    ROADS_ADDRESS("moved", moved);
    ROADS_RANGE("moved", moved, 2 * PAGES * page);
    ROADS_CHECKPOINT("grown");

    /* What was written before the move is read at the new address. */
    ROADS_ADDRESS("last-byte", (uintptr_t)(unsigned char)moved[(PAGES - 1) * page]);
    ROADS_CHECKPOINT("read");
    return 0;
}
