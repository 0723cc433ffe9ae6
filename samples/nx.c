/*
 * nx: data is not code. A page mapped PROT_READ|PROT_WRITE holds one x86 instruction
 * (ret, 0xc3); calling it faults before the instruction runs, because the page's
 * entry has the NX bit set. The SIGSEGV handler records the trap number and the error
 * code the CPU pushed, where bit 4 says "instruction fetch". After mprotect makes the
 * page PROT_READ|PROT_EXEC, the same call returns.
 */
#define _GNU_SOURCE /* REG_TRAPNO and REG_ERR in ucontext.h */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "roads.h"

static sigjmp_buf back;
static volatile sig_atomic_t faulted;
static volatile long fault_trapno, fault_err, fault_code;
static volatile uintptr_t fault_addr;

static void on_segv(int sig, siginfo_t *info, void *context)
{
    const ucontext_t *uc = context;
    (void)sig;
    faulted = 1;
    fault_code = info->si_code;
    fault_addr = (uintptr_t)info->si_addr;
    fault_trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
    fault_err = uc->uc_mcontext.gregs[REG_ERR];
    siglongjmp(back, 1);
}

/* Call the byte at code as a function; 1 if it faulted. */
static int try_call(void *code)
{
    faulted = 0;
    if (sigsetjmp(back, 1) == 0)
        ((void (*)(void))code)();
    return faulted;
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

    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *data = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED)
        return 1;
    data[0] = 0xc3; /* ret */
    ROADS_ADDRESS("data", data);
    ROADS_RANGE("data", data, page);

    int first = try_call(data);
    ROADS_ADDRESS("data-faulted", (uintptr_t)first);
    ROADS_ADDRESS("data-si_addr", fault_addr);
    ROADS_ADDRESS("data-si_code", (uintptr_t)fault_code);
    ROADS_ADDRESS("data-trapno", (uintptr_t)fault_trapno);
    ROADS_ADDRESS("data-error_code", (uintptr_t)fault_err);
    ROADS_CHECKPOINT("data-called");

    if (mprotect(data, page, PROT_READ | PROT_EXEC) != 0)
        return 1;
    int second = try_call(data);
    ROADS_ADDRESS("code-faulted", (uintptr_t)second);
    ROADS_CHECKPOINT("code-called");
    return 0;
}
