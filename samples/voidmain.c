/*
 * voidmain: main declared to return nothing. C11 gives int main as the
 * portable forms (5.1.2.2.1) and leaves the exit status unspecified when main
 * does not return int (5.1.2.2.3). On x86-64 the status is whatever eax held
 * when main returned: here the result of the last call, the number of
 * characters written, 13 for "hello, world\n". (gcc quietly compiles a printf
 * with no conversions whose text ends in a newline as a puts of the text
 * without it, which in glibc returns the same count.)
 * The kernel keeps only the low 8 bits of the value passed to exit, so a
 * longer line (the "long" variant) leaves its count modulo 256.
 * Compare intmain.c, which returns 0 on purpose.
 */
#include <stdio.h>

#include "roads.h"

void main(void)
{
    /* The checkpoint goes first: any call after printf would overwrite eax. */
    ROADS_CHECKPOINT("main");
#ifdef WIDTH
    /* The "long" variant: the greeting right-aligned in WIDTH columns and a
     * newline, so printf returns WIDTH + 1, more than an exit status can hold. */
    printf("%*s\n", WIDTH, "hello, world");
#else
    printf("hello, world\n");
#endif
}
