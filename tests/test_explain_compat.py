"""roads explain and what a traced program does beyond a 64-bit program's usual paths:
system calls made through ``int 0x80``, the 32-bit entry, and another program run with
execve. Each test shows a run that went wrong before its fix."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from roads.errors import ExplainError
from roads.explain import session as session_mod
from roads.explain.trace import Hit, Tracer, parse_stop

pytestmark = [pytest.mark.gcc]


def _program(folder: Path, name: str, source: str, *flags: str) -> Path:
    (folder / f"{name}.c").write_text(source)
    subprocess.run(["gcc", "-O0", "-o", str(folder / name), str(folder / f"{name}.c"), *flags],
                   check=True, timeout=60)
    return folder / name


# Two calls through int 0x80, numbered from i386's table: write (4, stat on x86-64) and
# getpid (20, writev on x86-64); then the x86-64 calls stat and writev themselves.
INT80 = r"""
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
static long int80(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}
int main(void) {
    struct stat st;
    struct iovec none = {0, 0};
    int80(4, 1, 0, 1);  /* EFAULT: no buffer at 0 */
    if (int80(20, 0, 0, 0) != getpid()) return 3;  /* no 32-bit entry in this kernel */
    if (syscall(SYS_stat, "/", &st) != 0) return 4;
    return syscall(SYS_writev, 1, &none, 1) == 0 ? 0 : 5;
}
"""


def test_a_call_through_int_0x80_is_not_taken_for_the_x86_64_call_of_its_number(
        gcc, tmp_path, no_leftovers):
    """A call made through int 0x80 has its number from i386's table in orig_rax: the
    tracer took i386's write (4) for stat and its getpid (20) for writev, stopped there,
    and said "stat failed: EFAULT" and "writev returned PID". PTRACE_GET_SYSCALL_INFO
    tells the table (arch); such a call is counted by no stop, and said once."""
    program = _program(tmp_path, "int80", INT80)
    if subprocess.run([str(program)], timeout=30).returncode != 0:
        pytest.skip("this kernel has no 32-bit system call entry (ia32_emulation off)")
    hits: list[Hit] = []
    said: list[str] = []
    tracer = Tracer([str(program)], [parse_stop("syscall:stat"), parse_stop("syscall:writev")],
                    on_stop=hits.append, progress=said.append, deadline=20)
    outcome = tracer.run()
    assert [h.label for h in hits] == ["syscall:stat", "syscall:writev"], said
    stat, writev = (h.returned for h in hits)
    assert (stat.name, stat.value) == ("stat", 0)  # stat of "/", not a 32-bit write
    assert (writev.name, writev.value) == ("writev", 0)  # nothing written, not the pid
    told = [line for line in said if "int 0x80" in line]
    assert len(told) == 1 and str(outcome.pid) in told[0], said


# Runs the program its arguments name; later() only if that execve failed.
EXECS = r"""
#include <stdio.h>
#include <unistd.h>
void later(void) { puts("later"); }
int main(int argc, char **argv) {
    (void)argc;
    execv(argv[1], argv + 1);
    later();
    return 1;
}
"""


def test_a_function_stop_not_reached_before_an_execve_is_said_to_be(gcc, tmp_path,
                                                                    no_leftovers):
    """A process that runs another program loses its function stops' breakpoints with
    its image: --at later, for a function it would have called had the execve failed,
    was said to be not reached, the program having "exited with status 0 before
    reaching later", with no word of the execve. The page's Not reached, and the error
    of a run that reached nothing, say which process ran which program."""
    program = str(_program(tmp_path, "execs", EXECS))
    true = os.path.realpath(shutil.which("true"))
    s = session_mod.explain_program([program, true], ["main", "later"])
    assert s.missing == ["later"]
    why = s.unreached.get("later", "")
    assert "execve" in why and true in why, s.unreached
    with pytest.raises(ExplainError) as caught:
        session_mod.explain_program([program, true], ["later"])
    message = caught.value.message
    assert "(later: process " in message and "execve" in message and true in message, message


# A vfork made through int 0x80 (i386's 190): the child, sharing this memory, exits at
# once through int 0x80 too (i386's exit, 1); the parent calls later().
VFORK80 = r"""
#include <stdio.h>
void later(void) { puts("later"); }
int main(void) {
    long ret;
    __asm__ volatile ("int $0x80\n\t"
                      "test %%eax, %%eax\n\t"
                      "jnz 1f\n\t"
                      "mov $1, %%eax\n\t"
                      "xor %%ebx, %%ebx\n\t"
                      "int $0x80\n"
                      "1:" : "=a"(ret) : "a"(190L) : "rbx", "memory");
    if (ret < 0) return 3;
    later();
    return 0;
}
"""

# A thread that ends alone through int 0x80 (i386's exit, 1), the process going on.
THREAD_EXIT80 = r"""
#include <pthread.h>
#include <stdio.h>
static void *alone(void *arg) {
    __asm__ volatile ("int $0x80" : : "a"(1L), "b"(0L) : "memory");
    return arg;
}
int main(void) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, alone, NULL) != 0) return 3;
    pthread_join(thread, NULL);
    puts("joined");
    return 0;
}
"""


def test_a_vfork_through_int_0x80_keeps_the_parents_breakpoints(gcc, tmp_path,
                                                                no_leftovers):
    """The child of i386's vfork (190) was taken for one with a memory of its own, its
    maker's call read by x86-64's numbers (190 is fsetxattr there): its copies of the
    breakpoints were taken out before it was let go, which, the memory being shared,
    took them out of the parent, and --at later was never reached."""
    program = _program(tmp_path, "vfork80", VFORK80)
    if subprocess.run([str(program)], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("this kernel has no 32-bit system call entry (ia32_emulation off)")
    hits: list[Hit] = []
    Tracer([str(program)], [parse_stop("later")], on_stop=hits.append, deadline=20).run()
    assert [h.label for h in hits] == ["later"]


def test_a_thread_that_ends_through_int_0x80_is_not_its_process_exit(gcc, tmp_path,
                                                                      no_leftovers):
    """A thread that ends alone by i386's exit (1) was taken for its process's exit, its
    call read by x86-64's numbers (exit is 60 there): --at exit was made then, at that
    thread, and not when the process exited."""
    program = _program(tmp_path, "exit80", THREAD_EXIT80, "-pthread")
    if subprocess.run([str(program)], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("this kernel has no 32-bit system call entry (ia32_emulation off)")
    hits: list[Hit] = []
    outcome = Tracer([str(program)], [parse_stop("exit")], on_stop=hits.append,
                     deadline=20).run()
    assert [(h.label, h.tid) for h in hits] == [("exit", outcome.pid)]
    assert outcome.stdout == "joined\n"


# A thread other than the main one runs /bin/true with execve through int 0x80 (i386's
# 11, munmap on x86-64), its path and argv in the low 4 GiB (MAP_32BIT), where the
# 32-bit call's pointers reach.
THREAD_EXECVE80 = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
static void *run(void *arg) {
    char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    unsigned int *argv32 = (unsigned int *)(low + 64);
    long ret;
    strcpy(low, "/bin/true");
    argv32[0] = (unsigned int)(unsigned long)low;
    argv32[1] = 0;
    usleep(1000);
    __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(11L), "b"(low), "c"(argv32), "d"(0L)
                      : "memory");
    printf("execve failed: %ld\n", ret);
    return arg;
}
int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, run, NULL);
    pthread_join(t, NULL);
    return 1;
}
"""


def test_the_main_thread_an_execve_through_int_0x80_kills_is_not_the_process_exit(
        gcc, tmp_path, no_leftovers):
    """The execve of a thread other than the main one ends the main thread first; the
    tracer tells that end from the process's exit by the other thread's
    /proc/TID/syscall, which numbers a call through int 0x80 from i386's table (11) and
    was not read for it: --at exit stopped twice, in the old program and the new."""
    program = _program(tmp_path, "execve80", THREAD_EXECVE80, "-pthread")
    if subprocess.run([str(program)], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("this kernel has no 32-bit system call entry (ia32_emulation off)")
    seen: list[str] = []

    def at(hit: Hit) -> None:
        seen.append(os.readlink(f"/proc/{hit.tid or hit.pid}/exe"))

    outcome = Tracer([str(program)], [parse_stop("exit")], on_stop=at, deadline=20).run()
    assert seen == [str(Path("/bin/true").resolve())], seen
    assert outcome.processes[outcome.pid].status == 0, outcome.processes
