/*
 * doublefree: the same block freed twice, which glibc's allocator catches.
 * free puts a small block at the head of its size's list in the per-thread cache
 * (the tcache), and marks it as cached: the block's second word gets a key, a
 * random number the allocator chose at start-up. The second free finds the key,
 * searches the list, finds the block already there and aborts the program with
 * "free(): double free detected in tcache 2" rather than link the block in twice
 * (two later mallocs would then return the same memory). The run ends with SIGABRT.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "roads.h"

int main(void)
{
    char *block = malloc(24);
    if (block == NULL)
        return 1;
    memset(block, 'x', 24);
    ROADS_ADDRESS("block", block);
    ROADS_CHECKPOINT("allocated");

    free(block);
    /* Reading a freed block is a bug too; here it shows what free wrote: the list
       link (mangled, see the allocation page) and the key. Kept as numbers. */
    volatile uintptr_t *words = (volatile uintptr_t *)(uintptr_t)block;
    ROADS_ADDRESS("next-word", words[0]);
    ROADS_ADDRESS("key-is-set", (uintptr_t)(words[1] != 0x7878787878787878u));
    ROADS_CHECKPOINT("freed-once");

    free(block); /* the second free: glibc aborts here */
    ROADS_CHECKPOINT("never-reached");
    return 0;
}
