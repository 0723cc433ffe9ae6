/*
 * threshold: where malloc gets a block depends on its size, and the dividing
 * line moves. Requests below the mmap threshold (128 KiB to start with) come
 * from [heap]; larger ones get a mapping of their own. Freeing such a mapped
 * block raises the threshold to that block's size, on the guess that the
 * program will ask for that size again, so a second 200 KiB request is served
 * from the heap instead.
 *
 * Every block is preceded by a header word holding its size, which is how free
 * knows how much to release. The low bits of the size are flags: 1 means the
 * previous block is in use, 2 that this block was obtained with mmap.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roads.h"

#define KIB 1024

/* The size word malloc keeps just before the block it returns. Its address is
   computed as a number: the compiler rightly treats it as outside the block. */
static size_t header(const void *block)
{
    return *(const size_t *)((uintptr_t)block - sizeof(size_t));
}

int main(void)
{
    char *small = malloc(100 * KIB);
    if (small == NULL)
        return 1;
    memset(small, 1, 100 * KIB);
    ROADS_ADDRESS("block-100k", small);
    ROADS_ADDRESS("chunk-size-100k", header(small));
    ROADS_CHECKPOINT("after-100k");

    char *big = malloc(200 * KIB);
    if (big == NULL)
        return 1;
    memset(big, 1, 200 * KIB);
    uintptr_t big_at = (uintptr_t)big;  /* kept as a number: big is freed below */
    size_t big_header = header(big);
    ROADS_ADDRESS("block-200k", big);   /* ends in ...010: a page start plus the header */
    ROADS_ADDRESS("chunk-size-200k", big_header);
    ROADS_CHECKPOINT("after-200k");

    free(big);                          /* unmapped at once; the threshold goes up */
    ROADS_CHECKPOINT("after-free");

    char *again = malloc(200 * KIB);
    if (again == NULL)
        return 1;
    memset(again, 1, 200 * KIB);
    ROADS_ADDRESS("block-200k-again", again);
    ROADS_ADDRESS("chunk-size-200k-again", header(again));
    ROADS_CHECKPOINT("after-200k-again");

    /* stdio only now, so its buffer does not disturb the heap above. */
    printf("100 KiB block        %#lx  header %#zx\n", (unsigned long)(uintptr_t)small, header(small));
    printf("200 KiB block        %#lx  header %#zx\n", (unsigned long)big_at, big_header);
    printf("200 KiB after free   %#lx  header %#zx\n", (unsigned long)(uintptr_t)again, header(again));

    free(again);
    free(small);
    return 0;
}
