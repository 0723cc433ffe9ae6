/*
 * brk: in a dynamically linked program the heap does not exist until the first
 * malloc. Before it, the program break (sbrk(0)) sits just past the program's
 * data and [heap] is absent from the maps. The first malloc sets up malloc's
 * per-thread cache (a chunk of its own), finds no room, and asks the kernel to
 * move the break by that chunk plus M_TOP_PAD (128 KiB by default) plus a
 * minimal chunk, rounded up to whole pages. Later requests are carved from that
 * slack; when it runs out, the break moves again by about the same amount.
 *
 * Built -static, the same program finds [heap] already there at main: the C
 * library put its thread-local storage and thread control block there with brk
 * (the thread pointer, %fs, points into it) and malloc'ed before main.
 *
 * No stdio before the first malloc: printf would allocate its buffer with
 * malloc and create the heap before we could look.
 */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "roads.h"

#define FIRST 24   /* the first request: fits a minimal chunk, see below */
#define BLOCK 1024 /* small requests, far below the mmap threshold */

static const char *const growth_names[][2] = {
    {"brk-after-growth-1", "after-growth-1"},
    {"brk-after-growth-2", "after-growth-2"},
};

/* The size word malloc keeps just before the block it returns (the chunk's
   header), read at an address computed as a number. */
static size_t header(const void *block)
{
    return *(const size_t *)((uintptr_t)block - sizeof(size_t));
}

int main(void)
{
    void *brk_before = sbrk(0);
    ROADS_ADDRESS("brk-before", brk_before);
    ROADS_ADDRESS("tcb", __builtin_thread_pointer()); /* the thread pointer, %fs: the TCB */
    ROADS_ADDRESS("first-request", (uintptr_t)FIRST);
    ROADS_ADDRESS("block-request", (uintptr_t)BLOCK);
    ROADS_CHECKPOINT("before-malloc");

    void **newest = malloc(FIRST);
    if (newest == NULL)
        return 1;
    *newest = NULL;
    void *brk_now = sbrk(0);
    ROADS_ADDRESS("first-malloc", newest);
    ROADS_ADDRESS("first-malloc-header", header(newest));
    /* When this malloc created the heap, its first chunk is malloc's own cache
       (tcache), set up on first use; its size word is the heap's second word. */
    if ((uintptr_t)newest > (uintptr_t)brk_before)
        ROADS_ADDRESS("tcache-header", *(const size_t *)((uintptr_t)brk_before + sizeof(size_t)));
    ROADS_ADDRESS("brk-after-first-malloc", brk_now);
    ROADS_CHECKPOINT("after-first-malloc");

    /* Allocate 1 KiB blocks, chained through their first word so they can be
       freed, and pause each time the break has moved. */
    for (size_t moves = 0; moves < sizeof growth_names / sizeof growth_names[0];) {
        void **block = malloc(BLOCK);
        if (block == NULL)
            return 1;
        if (*newest == NULL) /* the first 1 KiB block: its chunk follows the first one's */
            ROADS_ADDRESS("first-block", block);
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
