/*
 * heapbins: small blocks allocated and freed, to read the allocator's own records
 * in a real heap. Each block is preceded by its chunk's header: the size word,
 * whose low bits are flags (1: the previous chunk is in use). Freed small chunks
 * go to the per-thread cache (tcache), one list per size, the most recently
 * freed first; each free chunk's first word links to the next one. Since glibc
 * 2.32 that link is stored mangled (safe-linking): the pointer XOR the address
 * of the word holding it shifted right by 12 bits, so that a stray write of a
 * plain address does not make a usable link. heapbins.gdb reads the headers,
 * the tcache and the arena's top chunk at the checkpoint "freed", and decodes
 * the links.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "roads.h"

#define COUNT 4

static uintptr_t word(const void *block, int index)
{
    return ((const volatile uintptr_t *)(uintptr_t)block)[index];
}

/* gdb breaks here (heapbins.gdb); the build's checkpoint is inside. */
static void freed(char **a, char **b)
{
    ROADS_CHECKPOINT("freed");
    (void)a;
    (void)b;
}

int main(void)
{
    char *a[COUNT], *b[COUNT];
    for (int i = 0; i < COUNT; i++) {
        a[i] = malloc(24);  /* a chunk of 32 bytes: the smallest there is */
        b[i] = malloc(40);  /* a chunk of 48 bytes */
        if (a[i] == NULL || b[i] == NULL)
            return 1;
        memset(a[i], 'a', 24);
        memset(b[i], 'b', 40);
    }
    ROADS_ADDRESS("a0", a[0]);
    ROADS_ADDRESS("a0-header", word(a[0], -1));
    ROADS_ADDRESS("b0-header", word(b[0], -1));
    ROADS_CHECKPOINT("allocated");

    /* Free a[0], a[1], a[2] in that order, and b[1]: a[3] and the b's stay. */
    for (int i = 0; i < 3; i++)
        free(a[i]);
    free(b[1]);
    for (int i = 0; i < 3; i++) {
        char name[] = "a0-link";
        name[1] = (char)('0' + i);
        ROADS_ADDRESS(name, word(a[i], 0));
    }
    for (int i = 0; i < 4; i++) {
        char name[] = "a0";
        name[1] = (char)('0' + i);
        if (i > 0)
            ROADS_ADDRESS(name, a[i]);
    }
    ROADS_ADDRESS("b1", b[1]);
    ROADS_ADDRESS("b1-link", word(b[1], 0));
    ROADS_ADDRESS("a1-header", word(a[1], -1));
    /* Every chunk in address order, with its size word, for the strip of chunks. */
    for (int i = 0; i < COUNT; i++) {
        char block[] = "chunk-0a", size[] = "size-0a";
        block[6] = size[5] = (char)('0' + i);
        ROADS_ADDRESS(block, a[i]);
        ROADS_ADDRESS(size, word(a[i], -1));
        block[7] = size[6] = 'b';
        ROADS_ADDRESS(block, b[i]);
        ROADS_ADDRESS(size, word(b[i], -1));
    }
    freed(a, b);

    char *again = malloc(24); /* the tcache's head: the block freed last */
    ROADS_ADDRESS("again", again);
    ROADS_CHECKPOINT("reused");
    return again == a[2] ? 0 : 2;
}
