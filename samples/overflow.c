/*
 * overflow: a recursion without end, until the stack can grow no further.
 * Each call keeps a buffer in its frame, so the stack grows by pages. The kernel
 * extends the [stack] mapping at each fault below it, up to the soft RLIMIT_STACK;
 * the first access past that limit gets SIGSEGV. A handler cannot run on the
 * stack that has just run out, so it runs on an alternate stack (sigaltstack),
 * records where the fault was and how deep the recursion got, pauses for the
 * capture, and returns: the faulting access is retried with the default action
 * restored (SA_RESETHAND), and the program dies of SIGSEGV.
 */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "roads.h"

static volatile uintptr_t depth;

static void on_segv(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)context;
    int here; /* a variable of the handler: on the alternate stack */
    ROADS_ADDRESS("fault-address", info->si_addr);
    ROADS_ADDRESS("depth", depth);
    ROADS_ADDRESS("handler-local", &here);
    ROADS_CHECKPOINT("overflowed");
    static const char message[] = "overflow: SIGSEGV on the alternate stack\n";
    write(2, message, sizeof message - 1);
}

static uintptr_t recurse(uintptr_t n)
{
    volatile char frame[1024];
    memset((char *)frame, (int)n, sizeof frame);
    depth = n;
    return recurse(n + 1) + frame[n % sizeof frame];
}

int main(void)
{
    static char alternate[64 * 1024];
    stack_t ss = {.ss_sp = alternate, .ss_size = sizeof alternate, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    if (sigaction(SIGSEGV, &sa, NULL) != 0)
        return 1;
    ROADS_ADDRESS("alternate-stack", alternate);
    int top;
    ROADS_ADDRESS("main-local", &top);
    ROADS_CHECKPOINT("start");
    return (int)recurse(0);
}
