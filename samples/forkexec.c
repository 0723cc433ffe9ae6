/*
 * forkexec: fork copies a process, execve replaces its program. The parent
 * first fills its address space with things a fresh program would not have (a
 * heap and an anonymous mapping), then forks. The child starts with all of it;
 * then it calls execve on this same executable, which keeps the PID but
 * throws the whole address space away and builds a new one from the file. The
 * new image takes the other branch of main (argv[1] is "exec'd") and exits
 * with status 42, which the parent collects with waitpid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "roads.h"

extern char **environ;

#define EXECD_STATUS 42
#define MAPPING_BYTES (256 * 1024)

static int execd_image(void)
{
    /* A new program in an old process: no heap, no extra mapping. */
    ROADS_CHECKPOINT("after-exec");
    return EXECD_STATUS;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec'd") == 0)
        return execd_image();

    char *block = malloc(1000);  /* creates [heap] */
    char *mapping = mmap(NULL, MAPPING_BYTES, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == NULL || mapping == MAP_FAILED)
        return 1;
    memset(mapping, 1, MAPPING_BYTES);
    ROADS_ADDRESS("heap-block", block);
    ROADS_ADDRESS("mapping", mapping);
    ROADS_CHECKPOINT("before-fork");

    pid_t child = fork();
    if (child < 0)
        return 1;
    if (child == 0) {
        /* The child: a copy of the parent, heap and mapping included. */
        ROADS_CHECKPOINT("child-before-exec");
        /* /proc/self/exe is this executable, wherever the build put it. The
           environment passes through, so the new image can still report. */
        char *new_argv[] = {argv[0], "exec'd", NULL};
        execve("/proc/self/exe", new_argv, environ);
        _exit(127); /* only reached if execve failed */
    }

    int status;
    if (waitpid(child, &status, 0) != child)
        return 1;
    ROADS_CHECKPOINT("parent-after-wait");
    /* Printed only now: a buffer filled before fork would be copied too. */
    if (WIFEXITED(status))
        printf("child exited with status %d\n", WEXITSTATUS(status));
    else
        printf("child ended abnormally\n");
    munmap(mapping, MAPPING_BYTES);
    free(block);
    return 0;
}
