/*
 * lazybind: one libc function called twice, to watch the dynamic linker find it.
 * The call goes through a stub in the program's .plt, which jumps to the address
 * stored in the function's slot of the global offset table. Linked as usual
 * (lazy binding), the slot first sends the call back into the stub, on to the
 * loader's resolver, which looks puts up and writes its address into the slot:
 * the second call goes straight to libc. Linked with -Wl,-z,now (the variant
 * "now"), the loader fills every slot before main and then makes them read-only
 * (full RELRO). lazybind.gdb reads the slot before and after the first call.
 */
#include <stdio.h>

#include "roads.h"

int main(void)
{
    ROADS_CHECKPOINT("before-first-call");
    puts("first call");
    ROADS_CHECKPOINT("after-first-call");
    puts("second call");
    return 0;
}
