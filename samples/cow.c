/*
 * cow: fork does not copy memory, it shares it. Right after fork, parent and
 * child map the same frames, write-protected, and pagemap no longer calls them
 * "exclusively mapped" (bit 56). When the child writes to one page, the
 * fault gives the child a copy of that page alone: a new frame, exclusive
 * again, while the other pages stay shared.
 *
 * Pipes put the checkpoints in a fixed order. The child waits for the parent
 * before it writes, and stays alive until the parent has been captured, so the
 * parent's view is taken while the copy exists.
 */
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "roads.h"

#define PAGES 4

/* Block until the other side writes one byte to this pipe. */
static int await(int fd)
{
    char token;
    return read(fd, &token, 1) == 1 ? 0 : -1;
}

static int signal_other(int fd)
{
    return write(fd, "x", 1) == 1 ? 0 : -1;
}

int main(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t bytes = PAGES * page;
    int to_child[2], to_parent[2];

    char *buffer = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffer == MAP_FAILED || pipe(to_child) != 0 || pipe(to_parent) != 0)
        return 1;
    memset(buffer, 'p', bytes); /* every page gets a frame of the parent's own */
    ROADS_RANGE("buffer", buffer, bytes);
    ROADS_CHECKPOINT("before-fork");

    pid_t child = fork();
    if (child < 0)
        return 1;

    if (child == 0) {
        ROADS_RANGE("buffer", buffer, bytes); /* the same range, seen from the child */
        if (await(to_child[0]) != 0)
            _exit(1);
        ROADS_CHECKPOINT("child-before-write");
        buffer[0] = 'c'; /* one write: copies page 0 only */
        ROADS_CHECKPOINT("child-after-write");
        if (signal_other(to_parent[1]) != 0 || await(to_child[0]) != 0)
            _exit(1);
        _exit(buffer[page] == 'p' ? 0 : 1); /* page 1 still holds the parent's data */
    }

    ROADS_CHECKPOINT("parent-after-fork");
    if (signal_other(to_child[1]) != 0 || await(to_parent[0]) != 0)
        return 1;
    /* The parent still sees its own data: the child's write went to a copy. */
    ROADS_CHECKPOINT("parent-after-child-write");
    if (signal_other(to_child[1]) != 0)
        return 1;

    int status;
    if (waitpid(child, &status, 0) != child)
        return 1;
    if (buffer[0] != 'p' || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 1;
    munmap(buffer, bytes);
    return 0;
}
