/*
 * overflow: a recursion without end, until the stack can grow no further.
 * Each call keeps a buffer in its frame, so the stack grows by pages. The kernel
 * extends the [stack] mapping at each fault below it, up to the soft RLIMIT_STACK;
 * the first access past that limit gets SIGSEGV. A handler cannot run on the
 * stack that has just run out, so it runs on an alternate stack (sigaltstack),
 * records where the fault was and how deep the recursion got, pauses for the
 * capture, and returns: the faulting access is retried with the default action
 * restored (SA_RESETHAND), and the program dies of SIGSEGV. On the way down, the
 * first levels record their frames, and the run pauses once ("frames") to show them.
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

#define FRAMES_SHOWN 4

/* The first levels record their frame: the frame pointer (%rbp, kept at -O0), the
   caller's frame pointer saved at that address, and the return address above it. */
static void record_frame(uintptr_t n, void *fp, void *ret)
{
    char name[] = "frame-0", saved[] = "saved-fp-0", back[] = "return-0";
    name[6] = saved[9] = back[7] = (char)('0' + n);
    ROADS_ADDRESS(name, fp);
    ROADS_ADDRESS(saved, *(void **)fp);
    ROADS_ADDRESS(back, ret);
}

static uintptr_t recurse(uintptr_t n)
{
    volatile char frame[1024];
    memset((char *)frame, (int)n, sizeof frame);
    depth = n;
    if (n < FRAMES_SHOWN) {
        record_frame(n, __builtin_frame_address(0), __builtin_return_address(0));
        if (n == FRAMES_SHOWN - 1)
            ROADS_CHECKPOINT("frames");
    }
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
