/*
 * threshold: where malloc gets a block depends on its size, on what is free,
 * and on a dividing line that moves. malloc first looks for a free chunk that
 * fits, then at the free space at the top of the heap; only when neither serves
 * does it look at the mmap threshold (DEFAULT_MMAP_THRESHOLD at first): at or above it the
 * block gets a mapping of its own, below it the heap grows. Freeing such a
 * mapped block raises the threshold to that block's size, on the guess that the
 * program will ask for that size again, so a second 200 KiB request is served
 * from the heap instead. And a request above even the raised threshold is served
 * from the heap when a free chunk there is large enough: the threshold is never
 * consulted.
 *
 * Every block is preceded by a header word holding its size, which is how free
 * knows how much to release. The low bits of the size are flags: 1 means the
 * previous chunk is in use, 2 that this chunk was obtained with mmap.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roads.h"

#define KIB 1024
#define SMALL (100 * KIB) /* below the threshold: from [heap] */
#define LARGE (200 * KIB) /* above it at first: a mapping of its own */
#define ABOVE (256 * KIB) /* above even the raised threshold */

/* The size word malloc keeps just before the block it returns. Its address is
   computed as a number: the compiler rightly treats it as outside the block. */
static size_t header(const void *block)
{
    return *(const size_t *)((uintptr_t)block - sizeof(size_t));
}

int main(void)
{
    char *small = malloc(SMALL);
    if (small == NULL)
        return 1;
    memset(small, 1, SMALL);
    ROADS_ADDRESS("block-100k", small);
    ROADS_ADDRESS("chunk-size-100k", header(small));
    ROADS_CHECKPOINT("after-100k");

    /* The sizes asked for, recorded for the page (numbers, not pointers). */
    ROADS_ADDRESS("request-100k", (uintptr_t)SMALL);
    ROADS_ADDRESS("request-200k", (uintptr_t)LARGE);
    ROADS_ADDRESS("request-256k", (uintptr_t)ABOVE);

    char *big = malloc(LARGE);
    if (big == NULL)
        return 1;
    memset(big, 1, LARGE);
    uintptr_t big_at = (uintptr_t)big;  /* kept as a number: big is freed below */
    size_t big_header = header(big);
    ROADS_ADDRESS("block-200k", big);   /* ends in ...010: a page start plus the header */
    ROADS_ADDRESS("chunk-size-200k", big_header);
    ROADS_CHECKPOINT("after-200k");

    free(big);                          /* unmapped at once; the threshold goes up */
    ROADS_CHECKPOINT("after-free");

    char *again = malloc(LARGE);
    if (again == NULL)
        return 1;
    memset(again, 1, LARGE);
    size_t again_header = header(again);
    ROADS_ADDRESS("block-200k-again", again);
    ROADS_ADDRESS("chunk-size-200k-again", again_header);
    ROADS_CHECKPOINT("after-200k-again");

    /* A small block after the second one keeps the freed chunks below from
       merging into the free space at the top of the heap. Freed, the 100 KiB
       and 200 KiB chunks, neighbours in memory, merge into one free chunk. */
    char *guard = malloc(16);
    if (guard == NULL)
        return 1;
    uintptr_t small_at = (uintptr_t)small, again_at = (uintptr_t)again;
    size_t small_header = header(small);
    free(small);
    free(again);
    ROADS_CHECKPOINT("after-frees");

    char *above = malloc(ABOVE);        /* above the threshold, yet from [heap] */
    if (above == NULL)
        return 1;
    memset(above, 1, ABOVE);
    ROADS_ADDRESS("block-256k", above);
    ROADS_ADDRESS("chunk-size-256k", header(above));
    ROADS_CHECKPOINT("after-256k");

    /* stdio only now, so its buffer does not disturb the heap above. */
    printf("100 KiB block        %#lx  header %#zx\n", (unsigned long)small_at, small_header);
    printf("200 KiB block        %#lx  header %#zx\n", (unsigned long)big_at, big_header);
    printf("200 KiB after free   %#lx  header %#zx\n", (unsigned long)again_at, again_header);
    printf("256 KiB after frees  %#lx  header %#zx\n", (unsigned long)(uintptr_t)above, header(above));

    free(above);
    free(guard);
    return 0;
}
