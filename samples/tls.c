/*
 * tls: thread-local variables. A __thread variable has one copy per thread, kept
 * in the thread's TLS block, just below its thread control block (TCB), where
 * the thread pointer %fs points. The main thread's block is in an anonymous
 * region the dynamic loader allocates before main; a thread made by
 * pthread_create has its block at the top of its own stack mapping. The TCB also
 * holds the stack protector's canary, at %fs:0x28: built with
 * -fstack-protector-strong, a function with an array copies it into its frame.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "roads.h"

static __thread long counter = 1;   /* .tdata: initialised, copied into each block */
static __thread char scratch[64];   /* .tbss: zeroed in each block */

static uintptr_t thread_pointer(void)
{
    uintptr_t tp;
    __asm__("mov %%fs:0, %0" : "=r"(tp)); /* the TCB's first word points at itself */
    return tp;
}

static uintptr_t canary_low_byte(void)
{
    uintptr_t canary;
    __asm__("mov %%fs:0x28, %0" : "=r"(canary));
    return canary & 0xff; /* the rest is random: not recorded */
}

static pthread_barrier_t ready, done;

static void *worker(void *arg)
{
    (void)arg;
    char buffer[32]; /* an array: -fstack-protector-strong guards this frame */
    memset(buffer, 0, sizeof buffer);
    counter += 41;
    scratch[0] = buffer[0];
    ROADS_ADDRESS("worker-counter", &counter);
    ROADS_ADDRESS("worker-scratch", scratch);
    ROADS_ADDRESS("worker-tp", thread_pointer());
    ROADS_ADDRESS("worker-local", buffer);
    ROADS_ADDRESS("worker-counter-value", (uintptr_t)counter);
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&done);
    return NULL;
}

int main(void)
{
    ROADS_ADDRESS("main-counter", &counter);
    ROADS_ADDRESS("main-scratch", scratch);
    ROADS_ADDRESS("main-tp", thread_pointer());
    ROADS_ADDRESS("canary-low-byte", canary_low_byte());
    pthread_barrier_init(&ready, NULL, 2);
    pthread_barrier_init(&done, NULL, 2);
    pthread_t thread;
    if (pthread_create(&thread, NULL, worker, NULL) != 0)
        return 1;
    pthread_barrier_wait(&ready);
    ROADS_ADDRESS("main-counter-value", (uintptr_t)counter);
    ROADS_CHECKPOINT("both-threads");
    pthread_barrier_wait(&done);
    pthread_join(thread, NULL);
    return 0;
}
