/*
 * trim: what free gives back to the kernel, and when. Blocks too large for the
 * tcache (the page gives its largest size) are freed into the arena, where free
 * merges each with its free neighbours: the blocks below become one large free
 * chunk. That chunk is not at the end of the heap, because one small block, the
 * pin, is still in use after it, so the break cannot move down past it: the heap
 * keeps its size and its pages. malloc_trim then hands the free chunk's whole pages back with
 * madvise(MADV_DONTNEED) and trims the small top chunk: the heap keeps nearly
 * all its size but no longer its memory. Once
 * the pin is freed, everything merges into the top chunk, which is now larger than
 * the trim threshold, and free itself moves the break down.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "roads.h"

#define BLOCKS 64
#define SIZE 4000 /* above the tcache's largest size */
#define PIN 2000  /* also above it: freed into the arena and merged */

int main(void)
{
    char *blocks[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc(SIZE);
        if (blocks[i] == NULL)
            return 1;
        memset(blocks[i], 1, SIZE);
    }
    char *pin = malloc(PIN);
    if (pin == NULL)
        return 1;
    memset(pin, 1, PIN);
    ROADS_ADDRESS("first-block", blocks[0]);
    ROADS_ADDRESS("pin", pin);
    ROADS_CHECKPOINT("allocated");

    for (int i = 0; i < BLOCKS; i++)
        free(blocks[i]);
    ROADS_CHECKPOINT("freed-below-pin");

    ROADS_ADDRESS("malloc-trim-returned", (unsigned long)malloc_trim(0));
    ROADS_CHECKPOINT("trimmed");

    free(pin);
    ROADS_CHECKPOINT("pin-freed");
    return 0;
}
