/*
 * aslr: print where each kind of memory landed in this run. Run it twice with
 * address space layout randomization on and the lines differ; run it twice with
 * it off and they match. Randomization moves whole pages, so the last three hex
 * digits of most addresses survive it; the stack is the exception, because the
 * kernel also shifts the initial stack pointer by a random amount below a page.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>

#include "roads.h"

int initialized = 42;

int main(void)
{
    int local = 7;
    char *small = malloc(64);
    char *large = malloc(1 << 20);

    if (small == NULL || large == NULL)
        return 1;

    const struct {
        const char *name;
        const void *where;
    } spots[] = {
        {"code", (const void *)&main},      /* the executable's text */
        {"global", &initialized},           /* the executable's data */
        {"heap", small},                    /* [heap], placed after the executable */
        {"mmap", large},                    /* the mmap area, beside the libraries */
        {"libc", (const void *)&printf},    /* a shared library's text */
        {"vdso", (const void *)getauxval(AT_SYSINFO_EHDR)}, /* the kernel's page of code */
        {"stack", &local},                  /* [stack], near the top of user space */
    };
    const size_t count = sizeof spots / sizeof spots[0];

    for (size_t i = 0; i < count; i++)
        ROADS_ADDRESS(spots[i].name, spots[i].where);
    ROADS_CHECKPOINT("running");

    for (size_t i = 0; i < count; i++)
        printf("%-8s %14p\n", spots[i].name, spots[i].where);

    free(large);
    free(small);
    return 0;
}
