/*
 * intmain: the same hello-world as voidmain.c, declared the way C defines it.
 * Returning 0 puts 0 in eax before the epilogue, so the exit status is 0 no
 * matter what printf returned.
 */
#include <stdio.h>

#include "roads.h"

int main(void)
{
    ROADS_CHECKPOINT("main");
    printf("hello, world\n");
    return 0;
}
