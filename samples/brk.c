/*
 * brk: the heap does not exist until the first malloc. Before it, the program
 * break (sbrk(0)) sits just past the program's data and [heap] is absent from
 * the maps. The first small malloc asks the kernel to move the break, and
 * malloc takes more than it needs (128 KiB of slack, rounded up to whole
 * pages), so [heap] appears with 132 KiB. Later requests are carved from that
 * slack; when it runs out, the break moves again by about the same amount.
 *
 * No stdio before the first malloc: printf would allocate its buffer with
 * malloc and create the heap before we could look.
 */
#include <stdlib.h>
#include <unistd.h>

#include "roads.h"

#define BLOCK 1024 /* small requests, far below the mmap threshold */

static const char *const growth_names[][2] = {
    {"brk-after-growth-1", "after-growth-1"},
    {"brk-after-growth-2", "after-growth-2"},
};

int main(void)
{
    ROADS_ADDRESS("brk-before", sbrk(0));
    ROADS_CHECKPOINT("before-malloc");

    void **newest = malloc(16);
    if (newest == NULL)
        return 1;
    *newest = NULL;
    void *brk_now = sbrk(0);
    ROADS_ADDRESS("first-malloc", newest);
    ROADS_ADDRESS("brk-after-first-malloc", brk_now);
    ROADS_CHECKPOINT("after-first-malloc");

    /* Allocate 1 KiB blocks, chained through their first word so they can be
       freed, and pause each time the break has moved. */
    for (size_t moves = 0; moves < sizeof growth_names / sizeof growth_names[0];) {
        void **block = malloc(BLOCK);
        if (block == NULL)
            return 1;
        *block = newest;
        newest = block;
        if (sbrk(0) != brk_now) {
            brk_now = sbrk(0);
            ROADS_ADDRESS(growth_names[moves][0], brk_now);
            ROADS_CHECKPOINT(growth_names[moves][1]);
            moves++;
        }
    }

    while (newest != NULL) {
        void **older = *newest;
        free(newest);
        newest = older;
    }
    return 0;
}
