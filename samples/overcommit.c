/*
 * overcommit: malloc promises memory that does not exist yet. A gibibyte is asked for
 * and granted at once, as an untouched mapping; only the pages written later take RAM.
 * Then a request as large as the run's address-space limit (RLIMIT_AS, set by the
 * sandbox) is refused: malloc returns NULL with errno ENOMEM, because the kernel would
 * not grow the address space past the limit, whatever RAM is free. Run by hand,
 * without a limit, the sample sets the sandbox's default one itself.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "roads.h"

#define PROMISED (1UL << 30)
#define TOUCHED (64UL << 20)

int main(void)
{
    struct rlimit as;
    if (getrlimit(RLIMIT_AS, &as) != 0)
        return 1;
    if (as.rlim_cur == RLIM_INFINITY) { /* run by hand: set the sandbox's default limit */
        as.rlim_cur = 4UL << 30;
        if (setrlimit(RLIMIT_AS, &as) != 0)
            return 1;
    }
    ROADS_ADDRESS("rlimit-as", (uintptr_t)as.rlim_cur);

    char *promised = malloc(PROMISED); /* above the mmap threshold: a mapping of its own */
    if (promised == NULL)
        return 1;
    ROADS_ADDRESS("promised", promised);
    ROADS_ADDRESS("promised-bytes", (uintptr_t)PROMISED);
    ROADS_CHECKPOINT("promised");

    for (size_t i = 0; i < TOUCHED; i += 4096)
        promised[i] = 1; /* one byte a page: each write is a page fault and a frame */
    ROADS_ADDRESS("touched-bytes", (uintptr_t)TOUCHED);
    ROADS_CHECKPOINT("touched");

    errno = 0;
    char *refused = malloc(as.rlim_cur); /* more than the limit leaves */
    ROADS_ADDRESS("refused-pointer", refused);
    ROADS_ADDRESS("refused-errno", (uintptr_t)errno);
    ROADS_CHECKPOINT("refused");
    free(refused);
    free(promised);
    return 0;
}
