/*
 * probe: touch addresses that must fail and report how each one failed. A
 * SIGSEGV handler records what the kernel says about the fault (si_code,
 * si_addr) and the trap number and error code the kernel saved in the signal
 * context (for a user access to a kernel address the kernel sets the
 * protection bit itself, whatever the CPU reported), then jumps back with
 * siglongjmp so the next probe can run.
 *
 * Trap 14 is a page fault: the address was canonical and the page tables had
 * no usable entry for it. Trap 13 is a general-protection fault: a
 * non-canonical address never reaches the page tables at all, and the kernel
 * reports it as SI_KERNEL with si_addr 0, since the CPU does not say which
 * address was at fault.
 */
#define _GNU_SOURCE /* REG_TRAPNO and REG_ERR in ucontext.h */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "roads.h"

static sigjmp_buf back;
static volatile sig_atomic_t faulted;
static volatile int fault_code;
static volatile uintptr_t fault_addr;
static volatile long fault_trapno;
static volatile long fault_err;

static void on_segv(int sig, siginfo_t *info, void *context)
{
    const ucontext_t *uc = context;
    (void)sig;
    faulted = 1;
    fault_code = info->si_code;
    fault_addr = (uintptr_t)info->si_addr;
    fault_trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
    fault_err = uc->uc_mcontext.gregs[REG_ERR];
    siglongjmp(back, 1); /* returning would retry the faulting instruction */
}

static const char *code_name(int code)
{
    switch (code) {
    case SEGV_MAPERR: return "SEGV_MAPERR"; /* nothing mapped there */
    case SEGV_ACCERR: return "SEGV_ACCERR"; /* mapped, but not for this access */
    case SI_KERNEL: return "SI_KERNEL";     /* sent by the kernel, no page fault */
    default: return "other";
    }
}

struct probe {
    const char *name;
    uintptr_t address;
    int write; /* 0 reads one byte, 1 writes one */
};

static void run_probe(const struct probe *p)
{
    char key[64];
    volatile char *where = (volatile char *)p->address;

    faulted = 0;
    if (sigsetjmp(back, 1) == 0) {
        if (p->write)
            *where = 0;
        else
            (void)*where;
    }

    /* Recorded as addresses so figures can point at them: name-si_addr etc. */
    snprintf(key, sizeof key, "probe-%s-si_addr", p->name);
    ROADS_ADDRESS(key, fault_addr);
    snprintf(key, sizeof key, "probe-%s-si_code", p->name);
    ROADS_ADDRESS(key, (uintptr_t)fault_code);
    snprintf(key, sizeof key, "probe-%s-trapno", p->name);
    ROADS_ADDRESS(key, (uintptr_t)fault_trapno);

    if (!faulted)
        printf("probe=%s access=%s address=0x%lx result=no-fault\n", p->name,
               p->write ? "write" : "read", (unsigned long)p->address);
    else
        printf("probe=%s access=%s address=0x%lx signal=SIGSEGV si_code=%s si_addr=0x%lx"
               " trapno=%ld error_code=0x%lx\n",
               p->name, p->write ? "write" : "read", (unsigned long)p->address,
               code_name(fault_code), (unsigned long)fault_addr, fault_trapno,
               (unsigned long)fault_err);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0)
        return 1;

    /* A page that certainly holds nothing: map one, then unmap it. */
    long page = sysconf(_SC_PAGESIZE);
    void *gone = mmap(NULL, (size_t)page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (gone == MAP_FAILED || munmap(gone, (size_t)page) != 0)
        return 1;

    const struct probe probes[] = {
        {"null", 0, 0},                                  /* page 0 is never mapped */
        {"code", (uintptr_t)&main, 1},                   /* r-x: readable, not writable */
        {"unmapped", (uintptr_t)gone, 0},                /* a hole between regions */
        {"noncanonical", 0x0000800000000000UL, 0},       /* just above user space */
        {"dead", 0xdead000000000000UL, 0},               /* deep in the hole */
        {"kernel", 0xffffffff81000000UL, 0},             /* canonical, kernel half */
        {"vsyscall", 0xffffffffff600000UL, 0},           /* mapped execute-only */
    };

    ROADS_ADDRESS("main", &main);
    ROADS_ADDRESS("unmapped-page", gone);
    ROADS_CHECKPOINT("before-probes");

    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
        run_probe(&probes[i]);
    return 0;
}
