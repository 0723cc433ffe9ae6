/*
 * roads.h: the sample protocol of All Roads To Memory.
 *
 * Three calls let a sample talk to the build that captures it:
 *
 *   ROADS_CHECKPOINT("name");            pause here; the build snapshots this process
 *   ROADS_ADDRESS("name", pointer);      remember a pointer worth pointing at in a figure
 *   ROADS_RANGE("name", pointer, bytes); ask for per-page pagemap bits of a range at
 *                                        every later checkpoint of this process
 *
 * Under the build, the environment variable ROADS_FD names a pipe. A constructor says
 * "new image" when the program starts (and again after an execve), so that the build
 * forgets what the process recorded before. Each call writes
 * one line to it with a single write(2) (atomic for pipes below PIPE_BUF bytes, so
 * forked children never interleave), and a checkpoint then stops the process with
 * SIGSTOP; the build reads /proc while it is stopped and sends SIGCONT. The threads of
 * a process take turns: one line and its stop at a time (roads_turn).
 *
 * Compiled by hand, without ROADS_FD, every call does nothing and the program runs
 * as usual.
 *
 * Nothing here uses stdio or malloc: a sample that watches its heap being born must
 * not have the protocol create the heap for it.
 */
#ifndef ROADS_H
#define ROADS_H

#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h> /* SYS_gettid, SYS_write */
#include <unistd.h>

static int roads_fd(void)
{
    const char *s = getenv("ROADS_FD");
    int fd = 0;
    if (s == NULL || *s == '\0')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++)
        fd = fd * 10 + (*s - '0');
    return *s == '\0' ? fd : -1;
}

static size_t roads_put_str(char *out, size_t at, size_t cap, const char *s)
{
    /* Names are single tokens on the wire: blanks and control bytes become '_'; every
     * other byte, UTF-8 included, passes unchanged (compared as unsigned: a plain char
     * is signed on x86-64). The build takes names of at most 64 bytes of printable
     * text (samples/README.md); a longer one arrives cut here and is refused there. */
    for (; *s != '\0' && at + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        out[at++] = (c <= ' ' || c == 0x7f) ? '_' : (char)c;
    }
    return at;
}

static size_t roads_put_num(char *out, size_t at, size_t cap, uintptr_t v, int base)
{
    char digits[2 * sizeof(uintptr_t) * 4];
    int n = 0;
    if (base == 16 && at + 2 < cap) {
        out[at++] = '0';
        out[at++] = 'x';
    }
    do {
        digits[n++] = "0123456789abcdef"[v % (uintptr_t)base];
        v /= (uintptr_t)base;
    } while (v != 0);
    while (n > 0 && at + 1 < cap)
        out[at++] = digits[--n];
    return at;
}

/* The pid that last wrote a line from this image. After fork(2) the child still holds
 * its parent's value: that names the parent even when the parent has already exited
 * and getppid() would name whoever adopted the child. Weak, as the turn below: one
 * variable for the image, however many of its files include this header. */
__attribute__((weak)) pid_t roads_last_pid;

/* Whose turn it is to send: 0, or the pid (high half) and thread id (low half) of the
 * thread sending. Two threads stopping at once would fail: the SIGCONT that ends one
 * thread's stop also discards the SIGSTOP another raised meanwhile (POSIX, "Signal
 * Generation and Delivery"; prepare_signal in the kernel's kernel/signal.c), and that
 * thread would run on past its checkpoint. A turn held under another pid was held,
 * when this process was forked, by a thread that the child does not have: the child
 * takes it. A thread that already holds it (a signal handler that sends while the
 * thread it interrupted was sending) goes on without waiting. Not for a vfork(2)
 * child, which shares its parent's memory until it execs: it must not call these. */
__attribute__((weak)) uint64_t roads_turn_word;

/* System calls made directly on x86-64: the write then is no point at which a thread
 * can be cancelled holding the turn (the C library's write is one), and gettid needs no
 * declaration that a sample built with -std=c11 lacks (glibc declares gettid only for
 * _GNU_SOURCE, syscall only for _DEFAULT_SOURCE). */
#if defined(__x86_64__)
static long roads_syscall3(long number, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"(number), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}
#define ROADS_GETTID() ((uint32_t)roads_syscall3(SYS_gettid, 0, 0, 0))
#define ROADS_WRITE(fd, buf, n) roads_syscall3(SYS_write, (fd), (long)(buf), (long)(n))
#else
#define ROADS_GETTID() ((uint32_t)syscall(SYS_gettid))
#define ROADS_WRITE(fd, buf, n) write((fd), (buf), (n))
#endif

static int roads_turn(pid_t me)
{
    uint64_t mine = ((uint64_t)(uint32_t)me << 32) | ROADS_GETTID();
    for (;;) {
        uint64_t seen = 0;
        if (__atomic_compare_exchange_n(&roads_turn_word, &seen, mine, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return 1;
        if (seen == mine)
            return 0; /* already this thread's turn: it is not given back here */
        if ((pid_t)(seen >> 32) != me &&
            __atomic_compare_exchange_n(&roads_turn_word, &seen, mine, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return 1;
        sched_yield();
    }
}

/* Give the turn back, if it is still this thread's. */
static void roads_turn_done(pid_t me)
{
    uint64_t mine = ((uint64_t)(uint32_t)me << 32) | ROADS_GETTID();
    __atomic_compare_exchange_n(&roads_turn_word, &mine, 0, 0, __ATOMIC_RELEASE,
                                __ATOMIC_RELAXED);
}

/* One line: "<kind> <pid> <ppid> <name>[ <hex> [<len>]]\n". */
static void roads_send(char kind, const char *name, const void *p, size_t len, int has_p,
                       int has_len)
{
    char line[512];
    size_t at = 0;
    int fd = roads_fd();
    pid_t me = getpid();
    pid_t parent;
    int taken;
    if (fd < 0)
        return;
    taken = roads_turn(me);
    parent = (roads_last_pid != 0 && roads_last_pid != me) ? roads_last_pid : getppid();
    roads_last_pid = me;
    line[at++] = kind;
    line[at++] = ' ';
    at = roads_put_num(line, at, sizeof line, (uintptr_t)me, 10);
    line[at++] = ' ';
    at = roads_put_num(line, at, sizeof line, (uintptr_t)parent, 10);
    line[at++] = ' ';
    at = roads_put_str(line, at, sizeof line - 64, name);
    if (has_p) {
        line[at++] = ' ';
        at = roads_put_num(line, at, sizeof line, (uintptr_t)p, 16);
    }
    if (has_len) {
        line[at++] = ' ';
        at = roads_put_num(line, at, sizeof line, (uintptr_t)len, 10);
    }
    line[at++] = '\n';
    if (ROADS_WRITE(fd, line, at) == (long)at && kind == 'C')
        raise(SIGSTOP);
    if (taken)
        roads_turn_done(me);
}

/* Runs before main in every image that includes this header: at start and after execve. */
__attribute__((constructor)) static void roads_image_started(void)
{
    roads_send('I', "image", NULL, 0, 0, 0);
}

#define ROADS_CHECKPOINT(name) roads_send('C', (name), NULL, 0, 0, 0)
#define ROADS_ADDRESS(name, pointer) roads_send('A', (name), (const void *)(pointer), 0, 1, 0)
#define ROADS_RANGE(name, pointer, bytes) \
    roads_send('R', (name), (const void *)(pointer), (size_t)(bytes), 1, 1)

#endif /* ROADS_H */
