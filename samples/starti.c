/*
 * starti: a hello-world to watch the address space being assembled. Under gdb
 * (starti.gdb) it stops at the very first instruction, where only the
 * executable, the dynamic loader, the stack and the kernel's vdso exist; at
 * main, where libc has been mapped and part of the data turned read-only; and
 * on the way out. The checkpoints capture the same moments without gdb, except
 * the first one, which no code of ours can reach.
 */
#include <stdio.h>

#include "roads.h"

int main(void)
{
    ROADS_CHECKPOINT("main");
    printf("hello, world\n"); /* the first printf creates the heap for stdout's buffer */
    ROADS_CHECKPOINT("before-exit");
    return 0;
}
