/*
 * starti: a hello-world to watch the address space being assembled. Under gdb
 * (starti.gdb) it stops at the very first instruction, where only the kernel's
 * work exists: the executable, the dynamic loader, the stack and the vdso; at
 * main, where libc has been mapped and part of the data turned read-only; and
 * on the way out. The checkpoints capture the same moments without gdb, except
 * the first one. Built with -static (starti-static), it runs with no loader.
 */
#include <stdio.h>

#include "roads.h"

int main(void)
{
    ROADS_CHECKPOINT("main");
    printf("hello, world\n"); /* dynamic: stdout's buffer is the heap's first malloc */
    ROADS_CHECKPOINT("before-exit");
    return 0;
}
