/*
 * stacktop: what the kernel leaves at the top of the stack before the first
 * instruction runs. From low to high addresses: argc, the argv pointers, a
 * NULL, the envp pointers, a NULL, the auxiliary vector (type/value pairs that
 * end with AT_NULL), then, higher up, the strings the pointers point to.
 * getauxval() reads the same vector that /proc/PID/auxv shows.
 */
#include <elf.h>
#include <stdio.h>
#include <sys/auxv.h>

#include "roads.h"

int main(int argc, char **argv, char **envp)
{
    int local = 0;

    /* The auxiliary vector starts right after the NULL that ends envp. */
    char **after_env = envp;
    while (*after_env != NULL)
        after_env++;
    const Elf64_auxv_t *auxv = (const Elf64_auxv_t *)(after_env + 1);

    ROADS_ADDRESS("local", &local);                   /* main's frame, far below */
    ROADS_ADDRESS("argv", argv);                      /* the array of pointers */
    ROADS_ADDRESS("argv-0-string", argv[0]);
    ROADS_ADDRESS("argv-last-string", argv[argc - 1]);
    ROADS_ADDRESS("envp", envp);
    if (envp[0] != NULL)
        ROADS_ADDRESS("envp-0-string", envp[0]);
    ROADS_ADDRESS("auxv", auxv);

    /* A few entries of the vector, each what the kernel told the loader. */
    ROADS_ADDRESS("at-phdr", getauxval(AT_PHDR));     /* our program headers, in memory */
    ROADS_ADDRESS("at-entry", getauxval(AT_ENTRY));   /* our _start */
    ROADS_ADDRESS("at-base", getauxval(AT_BASE));     /* where ld.so was loaded */
    ROADS_ADDRESS("at-random", getauxval(AT_RANDOM)); /* 16 random bytes on the stack */
    ROADS_ADDRESS("at-execfn", getauxval(AT_EXECFN)); /* the path given to execve */
    ROADS_ADDRESS("at-platform", getauxval(AT_PLATFORM)); /* the string "x86_64" */
    ROADS_ADDRESS("at-sysinfo-ehdr", getauxval(AT_SYSINFO_EHDR)); /* the vdso */

    ROADS_CHECKPOINT("main");

    /* After the checkpoint, so that stdio's buffer does not change the map it
       saw: the word right below argv[0] is the count the kernel stored. */
    printf("word below argv: %ld, argc: %d\n", ((const long *)argv)[-1], argc);
    return 0;
}
