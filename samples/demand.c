/*
 * demand: mmap hands out addresses, not memory. Right after mmap no page of
 * the range is present (pagemap bit 63 clear, Rss 0). Reading a page of
 * anonymous memory maps the kernel's shared zero page: present, but the same
 * frame for every page and still no Rss. Only a write gives a page a frame of
 * its own.
 *
 * Built with -DFILE_BACKED the range is this program's own file instead, made
 * longer than 64 pages by a block of ballast. The file is already in the page
 * cache (it was just written and is running), so one read fault lets the
 * kernel map cached neighbours too ("fault-around": a window of 64 KiB by
 * default, and since Linux 6.18 whole large folios where the page cache holds
 * the file in larger blocks; PMD-sized ones were mapped whole before). Writing to that one page then gives this process a private
 * copy of it, while its neighbours stay shared with the page cache.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "roads.h"

#ifdef FILE_BACKED
#define PAGES 64
#define FIRST 20 /* a page in the middle, so neighbours lie on both sides */
#define COUNT 1
/* Stored in the file, never used: it only makes the file long enough. */
const unsigned char ballast[PAGES * 4096] = {1};
#else
#define PAGES 8
#define FIRST 0
#define COUNT PAGES
#endif

static char *map_range(size_t bytes)
{
#ifdef FILE_BACKED
    int fd = open("/proc/self/exe", O_RDONLY);
    if (fd < 0)
        return MAP_FAILED;
    /* MAP_PRIVATE: writes go to a private copy, never to the file. */
    char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd); /* the mapping keeps its own reference to the file */
    return p;
#else
    return mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
#endif
}

int main(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *range = map_range(PAGES * page);
    volatile char sink = 0;

    if (range == MAP_FAILED)
        return 1;
    ROADS_RANGE("range", range, PAGES * page);
    ROADS_CHECKPOINT("after-mmap");

    for (size_t i = FIRST; i < FIRST + COUNT; i++)
        sink += range[i * page];      /* a read fault per page */
    ROADS_CHECKPOINT("after-reads");

    for (size_t i = FIRST; i < FIRST + COUNT; i++)
        range[i * page] = (char)i;    /* a write fault per page */
    ROADS_CHECKPOINT("after-writes");

    munmap(range, PAGES * page);
    (void)sink;
    return 0;
}
