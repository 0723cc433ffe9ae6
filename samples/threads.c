/*
 * threads: every thread needs a stack of its own, and glibc gives a thread
 * that mallocs an arena of its own so threads do not queue for one lock.
 * A thread stack is an ordinary mapping, sized by the stack limit (ulimit -s,
 * or glibc's default where it is unlimited), with an inaccessible page below
 * it: the guard that turns an overflow into a crash instead of silent
 * corruption. Its bookkeeping and thread-locals sit at the mapping's top.
 * A thread's arena lives in a heap of its own: a reservation of HEAP_MAX_SIZE
 * (glibc's), aligned to that size, of which only the first pages are readable
 * and writable; the rest is reserved as PROT_NONE until the heap grows.
 *
 * A barrier holds both threads alive, each with its arena in use, while main
 * takes the checkpoint.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "roads.h"

#define THREADS 2

static pthread_barrier_t all_ready; /* both threads have allocated */
static pthread_barrier_t captured;  /* main has taken the checkpoint */
/* Threads start one after the other, each once the one before has its arena, so that
   thread 1 always gets the first new arena and every run draws the same picture. */
static pthread_mutex_t turn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_done = PTHREAD_COND_INITIALIZER;
static int allocated;

struct names {
    const char *local;
    const char *block;
};

static const struct names names[THREADS] = {
    {"thread-1-local", "thread-1-malloc"},
    {"thread-2-local", "thread-2-malloc"},
};

static void *worker(void *arg)
{
    const struct names *mine = arg;
    int local = 0;                 /* lives on this thread's own stack */
    char *block = malloc(1000);    /* comes from this thread's own arena */

    if (block == NULL)
        abort();
    memset(block, 1, 1000);
    ROADS_ADDRESS(mine->local, &local);
    ROADS_ADDRESS(mine->block, block);
    pthread_mutex_lock(&turn_lock);
    allocated++;
    pthread_cond_signal(&turn_done);
    pthread_mutex_unlock(&turn_lock);

    pthread_barrier_wait(&all_ready);
    pthread_barrier_wait(&captured); /* stay alive, arena attached, until then */
    free(block);
    return NULL;
}

int main(void)
{
    pthread_t threads[THREADS];
    int local = 0;
    char *block = malloc(1000);    /* main's allocations use the main arena: [heap] */

    if (block == NULL)
        return 1;
    memset(block, 1, 1000);
    ROADS_ADDRESS("main-local", &local);
    ROADS_ADDRESS("main-malloc", block);

    if (pthread_barrier_init(&all_ready, NULL, THREADS + 1) != 0 ||
        pthread_barrier_init(&captured, NULL, THREADS + 1) != 0)
        return 1;
    for (int i = 0; i < THREADS; i++) {
        if (pthread_create(&threads[i], NULL, worker, (void *)&names[i]) != 0)
            return 1;
        pthread_mutex_lock(&turn_lock);
        while (allocated <= i)
            pthread_cond_wait(&turn_done, &turn_lock);
        pthread_mutex_unlock(&turn_lock);
    }

    pthread_barrier_wait(&all_ready);
    /* Both threads exist and wait: SIGSTOP stops all three threads together. */
    ROADS_CHECKPOINT("both-threads");
    pthread_barrier_wait(&captured);

    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    /* Joined threads are gone, but glibc keeps their stacks for reuse and the
       arenas stay mapped for later threads. */
    ROADS_CHECKPOINT("after-join");

    free(block);
    return 0;
}
