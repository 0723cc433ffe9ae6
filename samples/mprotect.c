/*
 * mprotect: a written buffer whose middle pages are made read-only. /proc/PID/maps
 * gives one set of permissions per line, so the kernel cuts the buffer's line where the
 * change begins and where it ends; given its first permissions back, the buffer is one
 * line again.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "roads.h"

#define PAGES 4

int main(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    /* Room for the buffer and an inaccessible page on each side of it: a mapping placed
     * against another with the same permissions would share its line. */
    char *area = mmap(NULL, (PAGES + 2) * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        return 1;
    char *buffer = mmap(area + page, PAGES * page, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (buffer == MAP_FAILED)
        return 1;
    memset(buffer, 'x', PAGES * page); /* every page written: each has a frame */
    ROADS_ADDRESS("buffer", buffer);
    ROADS_ADDRESS("middle", buffer + page);
    ROADS_ADDRESS("last", buffer + (PAGES - 1) * page);
    ROADS_RANGE("buffer", buffer, PAGES * page);
    ROADS_CHECKPOINT("mapped");

    /* The pages between the first and the last: read-only. */
    if (mprotect(buffer + page, (PAGES - 2) * page, PROT_READ) != 0)
        return 2;
    ROADS_CHECKPOINT("protected");

    /* The same pages: readable and writable again, as the pages around them. */
    if (mprotect(buffer + page, (PAGES - 2) * page, PROT_READ | PROT_WRITE) != 0)
        return 3;
    ROADS_CHECKPOINT("restored");
    return 0;
}
