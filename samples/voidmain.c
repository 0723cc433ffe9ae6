/*
 * voidmain: main declared to return nothing. C11 gives int main as the
 * portable forms (5.1.2.2.1) and leaves the exit status unspecified when main
 * does not return int (5.1.2.2.3). On x86-64 the status is whatever eax held
 * when main returned: here the result of the last call, the number of
 * characters written, 13 for "hello, world\n". (gcc quietly compiles a printf
 * without conversions as puts, which in glibc returns the same count.)
 * Compare intmain.c, which returns 0 on purpose.
 */
#include <stdio.h>

#include "roads.h"

void main(void)
{
    /* The checkpoint goes first: any call after printf would overwrite eax. */
    ROADS_CHECKPOINT("main");
    printf("hello, world\n");
}
