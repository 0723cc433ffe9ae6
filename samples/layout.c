/*
 * layout: one pause in a running program, with the address of one thing from
 * each kind of memory it uses. Built three ways (PIE, -no-pie, -static) so the
 * same source shows where each kind of executable is loaded.
 */
#include <stdlib.h>

#include "roads.h"

int initialized = 42;            /* has a value in the file: lives in .data */
int zeroed;                      /* only its size is in the file: .bss */
const char *greeting = "hello";  /* the literal itself is read-only data, not code */

int main(void)
{
    int local = 7;                   /* a variable of main's stack frame */
    char *small = malloc(64);        /* small requests are carved from [heap] */
    char *large = malloc(1 << 20);   /* 1 MiB is above the mmap threshold: its own mapping */

    if (small == NULL || large == NULL)
        return 1;

    ROADS_ADDRESS("main", &main);
    ROADS_ADDRESS("initialized", &initialized);
    ROADS_ADDRESS("zeroed", &zeroed);
    ROADS_ADDRESS("literal", greeting);
    ROADS_ADDRESS("small-malloc", small);
    ROADS_ADDRESS("large-malloc", large);
    ROADS_ADDRESS("local", &local);
    ROADS_CHECKPOINT("running");

    free(large);
    free(small);
    return 0;
}
