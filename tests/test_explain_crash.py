"""roads explain and a program that crashes: a fault that kills (SIGSEGV, SIGBUS, SIGILL,
SIGFPE sent by the kernel for the thread's own instruction, with no handler to run)
makes a stop of its own, taken before the signal is delivered, whose page says what the
fault was and where: its si_code by name, the address in its region or gap, the
faulting instruction and its function. A learner's `roads explain --at exit ./crash`,
writing to (int *)0x10, got a page that said only "was killed by SIGSEGV". The program
dies as it would untraced; one that handles the signal itself gets no such stop."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
from pathlib import Path

import pytest

from roads.explain.page import render_page
from roads.errors import ExplainError
from roads.explain.record import load_session, session_from_json
from roads.explain.siginfo import parse_fault
from roads.explain.trace import Hit, Tracer, parse_stop
from tests.explain_support import build, page_facts, page_text, saved_session, stop_names
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.dot, pytest.mark.gcc]

# The learner's program: a write through a pointer 16 bytes past NULL.
NEAR_NULL = r"""
#include <stdio.h>
int main(void) {
    puts("before");
    fflush(stdout);
    *(volatile int *)0x10 = 1;
    return 0;
}
"""

# A write into a string literal, which the program's read-only data holds.
READ_ONLY = r"""
int main(void) {
    char *text = "hello";
    text[0] = 'H';
    return 0;
}
"""

# A file mapping two pages long over a file of 100 bytes: its second page lies past the
# file's end, where a read raises SIGBUS (BUS_ADRERR). The file is a memfd: the sandbox
# has no folder of the learner's to write it in.
PAST_THE_END = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
int main(void) {
    int fd = memfd_create("short", 0);
    if (fd < 0 || ftruncate(fd, 100) != 0)
        return 2;
    volatile char *p = mmap(0, 8192, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return 3;
    printf("%p\n", (void *)(p + 4096));
    fflush(stdout);
    return p[4096];
}
"""

# Its own SIGSEGV handler, which makes the page it faulted on writable: the write is
# made again and succeeds. Then the handler is dropped (SIG_DFL), and a write to 0x10
# kills it.
HANDLED = r"""
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
static char *page;
static void on_segv(int sig) {
    (void)sig;
    write(1, "handled\n", 8);
    mprotect(page, 4096, PROT_READ | PROT_WRITE);
}
int main(void) {
    page = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    signal(SIGSEGV, on_segv);
    page[0] = 7;
    printf("page[0]=%d\n", page[0]);
    fflush(stdout);
    signal(SIGSEGV, SIG_DFL);
    *(volatile int *)0x10 = 1;
    return 0;
}
"""

# The fault in a second thread, the main one waiting for it.
IN_A_THREAD = r"""
#include <pthread.h>
#include <stdio.h>
static void *worker(void *arg) {
    (void)arg;
    *(volatile int *)0x10 = 1;
    return NULL;
}
int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    pthread_join(t, NULL);
    puts("not reached");
    return 0;
}
"""


def _run(root: Path, folder: Path, name: str, *args: str, at: str = "exit",
         argv: tuple[str, ...] = ()) -> tuple[int, str]:
    """``roads explain --at AT ARGS ./NAME ARGV`` run from ``folder``, saving its session
    (NAME.json): its status, and the page."""
    status = explain(root, "--at", at, "--out", f"{name}.html", "--save", f"{name}.json",
                     *args, "--", f"./{name}", *argv)
    return status, (folder / f"{name}.html").read_text()


def _untraced(program: Path) -> int:
    """The wait status of ``program`` run as it is, no core written (RLIMIT_CORE 0,
    inherited by the traced runs of the same test too)."""
    done = subprocess.run([str(program)], capture_output=True, timeout=30)
    return done.returncode


@pytest.fixture
def no_cores():
    """No core file from the crashes (the program's folder is the test's)."""
    before = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, before[1]))
    yield
    resource.setrlimit(resource.RLIMIT_CORE, before)


def test_a_write_near_null_is_placed_in_the_gap_under_the_program(
        root, tmp_path, monkeypatch, capsys, no_leftovers, no_cores):
    """The learner's case: the page and the command say no mapping at 0x10, SEGV_MAPERR,
    in the gap at the bottom of the address space, under mmap_min_addr; and the
    faulting instruction, in main. Saved, the session keeps the crash and draws it
    again."""
    monkeypatch.chdir(tmp_path)
    program = build(tmp_path, "crash", NEAR_NULL, "-O0", "-g")
    status, page = _run(root, tmp_path, "crash")
    err = capsys.readouterr().err
    assert status == 0, err
    facts = page_facts(page)
    assert facts["How it ended"] == "was killed by SIGSEGV"
    assert facts["Stops"].startswith("SIGSEGV (pid ") and " → exit (pid " in facts["Stops"]
    crash = facts["Crash"]
    assert crash.startswith("SIGSEGV (pid "), crash
    assert ": no mapping at 0x10 (SEGV_MAPERR), in the unmapped gap at the bottom of the " \
           "address space (" in crash, crash
    assert "up to crash at 0x" in crash and "under mmap_min_addr" in crash, crash
    assert "a NULL pointer, or a small offset from one" in crash
    assert "; the faulting instruction at 0x" in crash and "(main+" in crash, crash
    assert "in crash's region 0x" in crash and "(r-xp: program code)" in crash, crash
    text = page_text(page)
    assert "The fault: no mapping at 0x10 (SEGV_MAPERR)" in text
    assert "The faulting instruction: 0x" in text
    assert "let the signal through unchanged" in text
    # The map marks the address in its gap, the pc in main's code.
    labels = [" ".join(t.split()) for t in re.findall(r'roads-pointer">\s*<text[^>]*>([^<]*)</text>',
                                                         page, re.S)]
    assert "si_addr 0x10" in labels and any(t.startswith("pc 0x5555") for t in labels), labels
    told = [line for line in err.splitlines() if "was killed by SIGSEGV" in line]
    assert told and told[0].startswith("roads explain: ./crash (pid ") and \
        "no mapping at 0x10 (SEGV_MAPERR), in the unmapped gap at the bottom" in told[0], err
    assert "stopped at SIGSEGV (pid " in err

    saved = saved_session(tmp_path / "crash.json")
    assert stop_names(saved) == ["SIGSEGV", "exit"]
    run = saved["capture"]["variants"]["default"]["runs"][0]
    assert run["signal"] == signal.SIGSEGV and run["exit_code"] is None
    recorded = saved["crashes"]["0"]
    assert (recorded["signal"], recorded["code"], recorded["addr"]) == ("SIGSEGV", 1, 0x10)
    assert recorded["symbol"].startswith("main+")
    addresses = {a["name"]: a["value"] for a in run["checkpoints"][0]["addresses"]}
    assert addresses["si_addr"] == 0x10 and addresses["pc"] == recorded["pc"]
    # Drawn again from the file alone: the same words.
    again = page_text(render_page(load_session(tmp_path / "crash.json")))
    assert "The fault: no mapping at 0x10 (SEGV_MAPERR), in the unmapped gap" in again
    # A session saved before crashes were kept loads, and draws no crash.
    old = {k: v for k, v in saved.items() if k != "crashes"}
    assert session_from_json(old).crashes == {}
    assert "The fault:" not in page_text(render_page(session_from_json(old)))
    # A saved crash that no fault could leave is refused with its field named (an address
    # outside the address space raised StopIteration as the page placed it).
    for field, value in (("addr", -1), ("addr", 1 << 64), ("pc", True), ("signal", "SIGFOO"),
                         ("signal", 11), ("symbol", 7)):
        bad = {**saved, "crashes": {"0": {**recorded, field: value}}}
        with pytest.raises(ExplainError, match="not a document roads explain saved: a crash's"):
            session_from_json(bad)
    assert _untraced(program) == -signal.SIGSEGV


def test_a_write_to_read_only_data_names_its_region(root, tmp_path, monkeypatch, capsys,
                                                    no_leftovers, no_cores):
    """A write into a string literal: SEGV_ACCERR, in the program's read-only data,
    whose permissions the page names."""
    monkeypatch.chdir(tmp_path)
    build(tmp_path, "literal", READ_ONLY, "-O0", "-g")
    status, page = _run(root, tmp_path, "literal")
    assert status == 0, capsys.readouterr().err
    crash = page_facts(page)["Crash"]
    assert "an access its mapping's permissions forbid at 0x5555" in crash, crash
    assert "(SEGV_ACCERR), in literal's region 0x" in crash, crash
    assert "(r--p: program read-only data)" in crash.split(";")[0], crash
    assert "(main+" in crash, crash


def test_a_read_past_the_end_of_a_mapped_file_is_a_sigbus(root, tmp_path, monkeypatch, capsys,
                                                          no_leftovers, no_cores):
    """SIGBUS, BUS_ADRERR, at the first byte of the mapping's second page (the program
    printed it), which lies in the memfd's own region; the exit stop follows."""
    monkeypatch.chdir(tmp_path)
    build(tmp_path, "short", PAST_THE_END, "-O0", "-g")
    status, page = _run(root, tmp_path, "short")
    assert status == 0, capsys.readouterr().err
    saved = saved_session(tmp_path / "short.json")
    printed = int(saved["capture"]["variants"]["default"]["runs"][0]["stdout"].split()[0], 16)
    facts = page_facts(page)
    assert facts["How it ended"] == "was killed by SIGBUS"
    crash = facts["Crash"]
    assert crash.startswith("SIGBUS (pid "), crash
    assert (f"an access to a mapped page that nothing can back (a page of a mapped file past "
            f"the file's end, say) at {printed:#x} (BUS_ADRERR), in the region 0x") in crash, crash
    assert "(r--s: file mapping) of memfd:short (deleted); the faulting instruction" in crash
    assert (saved["crashes"]["0"]["code"], saved["crashes"]["0"]["addr"]) == (2, printed)
    assert stop_names(saved) == ["SIGBUS", "exit"]


def test_a_fault_the_program_handles_gets_no_crash_stop(root, tmp_path, monkeypatch,
                                                        capsys, no_leftovers, no_cores):
    """Its handler runs, as untraced: the first fault (SEGV_ACCERR on its PROT_NONE page)
    makes no stop, and the program goes on; the one it no longer handles does (0x10,
    SEGV_MAPERR), once. It writes and ends as it does untraced."""
    monkeypatch.chdir(tmp_path)
    program = build(tmp_path, "handled", HANDLED, "-O0")
    status, page = _run(root, tmp_path, "handled")
    err = capsys.readouterr().err
    assert status == 0, err
    saved = saved_session(tmp_path / "handled.json")
    assert stop_names(saved) == ["SIGSEGV", "exit"]
    assert [(c["code"], c["addr"]) for c in saved["crashes"].values()] == [(1, 0x10)]
    run = saved["capture"]["variants"]["default"]["runs"][0]
    untraced = subprocess.run([str(program)], capture_output=True, text=True, timeout=30)
    assert run["stdout"] == untraced.stdout == "handled\npage[0]=7\n"
    assert run["signal"] == -untraced.returncode == signal.SIGSEGV
    assert err.count("stopped at SIGSEGV") == 1, err
    assert page_facts(page)["Crash"].count("no mapping at 0x10 (SEGV_MAPERR)") == 1


def test_a_crash_in_a_second_thread_is_that_threads(root, tmp_path, monkeypatch, capsys,
                                                    no_leftovers, no_cores):
    """The stop is the faulting thread's: its title names the thread, its pc is in
    worker, its sp in the thread's stack."""
    monkeypatch.chdir(tmp_path)
    build(tmp_path, "threaded", IN_A_THREAD, "-O0", "-g", "-pthread")
    status, page = _run(root, tmp_path, "threaded")
    err = capsys.readouterr().err
    assert status == 0, err
    saved = saved_session(tmp_path / "threaded.json")
    assert stop_names(saved) == ["SIGSEGV", "exit"]
    run = saved["capture"]["variants"]["default"]["runs"][0]
    thread = saved["threads"]["0"]
    assert thread != run["pid"]
    crash = page_facts(page)["Crash"]
    assert crash.startswith(f"SIGSEGV (pid {run['pid']}, thread {thread}): no mapping at 0x10 "
                            "(SEGV_MAPERR)"), crash
    assert "(worker+" in crash, crash
    sp = {a["name"]: a["value"] for a in run["checkpoints"][0]["addresses"]}["sp"]
    holding = [r for r in run["checkpoints"][0]["regions"] if r["start"] <= sp < r["end"]]
    assert [r["pathname"] for r in holding] == [""]  # the thread's stack, not [stack]
    assert f"roads explain: ./threaded (pid {run['pid']}, thread {thread}) was killed by " \
           "SIGSEGV: no mapping at 0x10" in err, err
    assert "not reached" not in run["stdout"]


# Each way a fault's signal reaches a thread, run by the tracer itself: the stops made
# and how the process ended, against the same program run untraced.
FAULTS = {
    # blocked and caught: the kernel unblocks it and sets it back to SIG_DFL, and it kills
    "blocked": r"""
#include <signal.h>
static void on_segv(int sig) { (void)sig; }
int main(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    signal(SIGSEGV, on_segv);
    sigprocmask(SIG_BLOCK, &set, 0);
    *(volatile int *)0x10 = 1;
    return 0;
}
""",
    # ignored: the same
    "ignored": r"""
#include <signal.h>
int main(void) { signal(SIGSEGV, SIG_IGN); *(volatile int *)0x10 = 1; return 0; }
""",
    "trap": "int main(void) { __builtin_trap(); }\n",  # ud2: SIGILL, ILL_ILLOPN
    "divide": r"""
int main(int argc, char **argv) { (void)argv; volatile int zero = argc - 1; return 7 / zero; }
""",
}
EXPECTED = {"blocked": ("SIGSEGV", 1, 0x10), "ignored": ("SIGSEGV", 1, 0x10),
            "trap": ("SIGILL", 2, None), "divide": ("SIGFPE", 1, None)}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_fault_is_told_and_ends_the_process_as_untraced(tmp_path, name, no_leftovers,
                                                              no_cores):
    """A blocked or ignored SIGSEGV kills all the same (the kernel makes it so), and is
    stopped at; SIGILL and SIGFPE carry no data address (their si_addr is the
    instruction's). Every process ends with the wait status it has untraced."""
    program = build(tmp_path, name, FAULTS[name], "-O0", "-g")
    hits: list[Hit] = []
    tracer = Tracer([str(program)], [parse_stop("exit")], on_stop=hits.append, deadline=20)
    outcome = tracer.run()
    crashes = [h for h in hits if h.crash is not None]
    signal_name, code, addr = EXPECTED[name]
    assert [h.label for h in hits] == [signal_name, "exit"]
    crash = crashes[0].crash
    assert (crash.signal, crash.code, crash.addr) == (signal_name, code, addr)
    recorded = dict(crashes[0].addresses)
    assert recorded["pc"] == crash.pc and ("si_addr" in recorded) == (addr is not None)
    assert outcome.reached == ["exit"]  # a crash is no stop of --at
    status = outcome.processes[outcome.pid].status
    assert os.WIFSIGNALED(status)
    assert -os.WTERMSIG(status) == _untraced(program)


# A child that kills itself with SIGSEGV (kill: SI_USER, no fault), then the parent's
# own fault.
KILLED = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t child = fork();
    if (child == 0) {
        kill(getpid(), SIGSEGV);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
        return 5;
    *(volatile int *)0x10 = 1;
    return 0;
}
"""


def test_a_sigsegv_sent_with_kill_is_no_crash(tmp_path, no_leftovers, no_cores):
    """Followed, the child that kill()s itself with SIGSEGV dies of it with no crash
    stop (its si_code, SI_USER, is a process's, not a fault's); its parent's fault after
    is stopped at, once, in the parent."""
    program = build(tmp_path, "killed", KILLED, "-O0", "-g")
    hits: list[Hit] = []
    outcome = Tracer([str(program)], [parse_stop("exit")], on_stop=hits.append,
                     follow_fork=True, deadline=20).run()
    crashes = [h for h in hits if h.crash is not None]
    assert [(h.pid, h.crash.code, h.crash.addr) for h in crashes] == [(outcome.pid, 1, 0x10)]
    assert sorted(h.label for h in hits) == ["SIGSEGV", "exit", "exit"]
    assert -os.WTERMSIG(outcome.processes[outcome.pid].status) == _untraced(program)
    # Who sent the child's is kept for how it ended; the parent's fault was sent by none.
    [child] = [p for p in outcome.processes.values() if p.pid != outcome.pid]
    assert (child.sent_signal, child.sent) == (
        signal.SIGSEGV, ", which it sent itself with kill, as its siginfo says: no fault of "
                        "its instruction")
    assert outcome.processes[outcome.pid].sent == ""


# siginfo_t's layout as glibc's headers give it to gcc.
OFFSETS = r"""
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
int main(void) {
    printf("{\"si_signo\": %zu, \"si_code\": %zu, \"si_addr\": %zu, \"size\": %zu}\n",
           offsetof(siginfo_t, si_signo), offsetof(siginfo_t, si_code),
           offsetof(siginfo_t, si_addr), sizeof(siginfo_t));
    return 0;
}
"""


def test_parse_fault_reads_si_addr_at_offset_16(tmp_path):
    """x86-64's siginfo_t, as gcc lays it out (offsetof): si_signo at 0, si_code at 8,
    si_addr at 16, after 4 bytes of padding."""
    data = bytearray(128)
    data[0:4] = (11).to_bytes(4, "little")
    data[8:12] = (2).to_bytes(4, "little")
    data[16:24] = (0x7FFFF7FF1234).to_bytes(8, "little")
    fault = parse_fault(bytes(data))
    assert (fault.si_signo, fault.si_code, fault.si_addr) == (11, 2, 0x7FFFF7FF1234)
    offsets = build(tmp_path, "offsets", OFFSETS)
    done = subprocess.run([str(offsets)], capture_output=True, text=True, timeout=30)
    assert json.loads(done.stdout) == {"si_signo": 0, "si_code": 8, "si_addr": 16, "size": 128}



# A handler of SIGSEGV, and a recursion that overflows the stack: the kernel cannot write
# the handler's frame on the full stack, and sends SIGSEGV of its own (SI_KERNEL, no
# address), at the same instruction, with the default disposition. That signal kills.
OVERFLOW_HANDLED = r"""
#include <signal.h>
#include <unistd.h>
static void on_segv(int sig) { (void)sig; _exit(3); }
static int deeper(int n) { volatile char buf[256]; buf[0] = (char)n; return deeper(n + 1) + buf[0]; }
int main(void) { signal(SIGSEGV, on_segv); return deeper(0); }
"""


def test_a_handler_with_no_room_on_the_stack_is_told_with_the_overflow(
        root, tmp_path, monkeypatch, capsys, no_leftovers, no_cores):
    """The stop told the kernel's second SIGSEGV as "a general-protection fault, which
    gives no address (an access to a non-canonical address ...)": the fault is the
    overflow's, a write under the stack (SEGV_MAPERR, its address), whose handler could
    not run. Saved and drawn again, the page says so."""
    monkeypatch.chdir(tmp_path)
    program = build(tmp_path, "overflow", OVERFLOW_HANDLED, "-O0", "-g")
    status, page = _run(root, tmp_path, "overflow")
    err = capsys.readouterr().err
    assert status == 0, err
    crash = page_facts(page)["Crash"]
    assert "general-protection" not in crash, crash
    assert ": no mapping at 0x7f" in crash and "(SEGV_MAPERR)" in crash, crash
    assert "its handler could not run: the kernel found no room for its frame" in crash, crash
    assert "could not write the handler's frame" in page_text(page)
    saved = saved_session(tmp_path / "overflow.json")
    recorded = saved["crashes"]["0"]
    assert (recorded["signal"], recorded["code"], recorded["frame_failed"]) == ("SIGSEGV", 1, True)
    again = page_text(render_page(load_session(tmp_path / "overflow.json")))
    assert "could not write the handler's frame" in again
    assert _untraced(program) == -signal.SIGSEGV


PAST_USER_SPACE = r"""
int main(void) {
    *(volatile int *)0x7ffffffff008UL = 1;  /* the last page below the 4-level user end */
    return 0;
}
"""


def test_a_write_to_the_last_page_of_user_space_names_its_stretch(
        root, tmp_path, monkeypatch, capsys, no_leftovers, no_cores):
    """The page just below the end of user space, which nothing may map: the crash said
    'in the unmapped (0x7ffffffff000-...)', a label for a noun."""
    monkeypatch.chdir(tmp_path)
    build(tmp_path, "past", PAST_USER_SPACE, "-O0", "-g")
    status, page = _run(root, tmp_path, "past")
    err = capsys.readouterr().err
    crash = page_facts(page)["Crash"]
    if "4-level" not in page_text(page):
        pytest.skip("the page's stretch lies elsewhere with 5-level paging")
    assert status == 0, err
    assert ": no mapping at 0x7ffffffff008 (SEGV_MAPERR), in the unmapped stretch " \
           "(0x7ffffffff000-0x800000000000)" in crash, crash


OVERFLOW = r"""
int rec(int n) { volatile char buf[4096]; buf[0] = (char)n; return rec(n + 1) + buf[0]; }
int main(void) { return rec(0); }
"""


def test_a_stack_overflow_is_said_to_pass_the_stacks_limit(
        root, tmp_path, monkeypatch, capsys, no_leftovers, no_cores):
    """A recursion with no end: the fault lies in the gap below [stack], which the crash
    gave as a gap between two regions and its size, not as the place where the stack
    met its size limit. It now says how far below the stack's top it is, and that this
    is past RLIMIT_STACK; and the map draws the stack pointer, which ran past [stack]
    too, in that gap beside the fault's address."""
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY:
        pytest.skip("no stack limit here: the stack grows until it meets a mapping")
    monkeypatch.chdir(tmp_path)
    build(tmp_path, "overflow", OVERFLOW, "-O0", "-g")
    status, page = _run(root, tmp_path, "overflow")
    err = capsys.readouterr().err
    assert status == 0, err
    crash = page_facts(page)["Crash"]
    assert "and [stack] (from 0x" in crash, crash
    assert re.search(r"MiB below the top of the stack, farther than its size limit lets it "
                     r"grow \(RLIMIT_STACK, [\d.]+ [KMG]iB\): a stack that ran past its limit",
                     crash), crash
    # The stack pointer ran past [stack] too, into the gap with the fault's address: the
    # page said the map marks it, and listed it only under the table, "outside every
    # region" (a learner's recursion). It is drawn in its gap, as si_addr is.
    stop = page.split('id="stop-0"')[1].split('id="stop-1"')[0]
    labels = [" ".join(t.split()) for t in re.findall(r'roads-pointer">\s*<text[^>]*>([^<]*)</text>',
                                                         stop, re.S)]
    assert any(t.startswith("sp 0x7fff") for t in labels), labels
    assert any(t.startswith("si_addr 0x7fff") for t in labels), labels
    assert "outside every region" not in stop
    # Its sizes keep their number and unit on one line (a phone put "8" at a line's end
    # and "MiB)" on the next): a no-break space between them, in the Crash fact and in
    # the stop's own words.
    crash_html = re.search(r"<dt>Crash</dt><dd>(.*?)</dd>", page).group(1)
    fault_html = re.search(r"<li>The fault: (.*?)</li>", stop).group(1)
    for said in (crash_html, fault_html):
        assert "MiB" in said and not re.search(r"\d (?:[KMGTPE]i)?B\b", said), said


# The same recursion, after the program lowered its own stack limit (setrlimit): the
# kernel grows the stack against the limit it holds now, the process's.
OWN_LIMIT = r"""
#include <sys/resource.h>
int rec(int n) { volatile char buf[4096]; buf[0] = (char)n; return rec(n + 1) + buf[0]; }
int main(void) {
    struct rlimit r;
    getrlimit(RLIMIT_STACK, &r);
    r.rlim_cur = 2 << 20;
    setrlimit(RLIMIT_STACK, &r);
    return rec(0);
}
"""


def test_a_stack_overflow_goes_by_the_processs_own_limit(
        root, tmp_path, monkeypatch, capsys, no_leftovers, no_cores):
    """A program that lowered its RLIMIT_STACK before it overflowed: the crash went by
    the command's own limit, which the stack had not reached, and said nothing of it. It
    is read from the process's /proc/TID/limits at the stop, and saved with the crash."""
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    if soft != resource.RLIM_INFINITY and soft <= 2 << 20:
        pytest.skip("the command's own stack limit is no larger than the program's")
    monkeypatch.chdir(tmp_path)
    build(tmp_path, "lowered", OWN_LIMIT, "-O0", "-g")
    status, page = _run(root, tmp_path, "lowered")
    err = capsys.readouterr().err
    assert status == 0, err
    crash = page_facts(page)["Crash"]
    assert re.search(r"[\d.]+ MiB below the top of the stack, farther than its size limit "
                     r"lets it grow \(RLIMIT_STACK, 2 MiB\)", crash), crash
    saved = json.loads((tmp_path / "lowered.json").read_text())
    assert [c.get("stack_limit") for c in saved["crashes"].values()] == [2 << 20]
    again = session_from_json(saved)
    assert [c.stack_limit for c in again.crashes.values()] == [2 << 20]


# A SIGILL whose handler the kernel cannot run: the stack pointer points nowhere, so the
# handler's frame cannot be written, and the kernel sends SIGSEGV in its place
# (force_sigsegv: SI_KERNEL, no address), which kills.
ILL_NO_STACK = r"""
#include <signal.h>
#include <unistd.h>
static void on_ill(int sig) { (void)sig; _exit(3); }
int main(void) {
    signal(SIGILL, on_ill);
    __asm__ volatile("xor %%esp, %%esp\n\tud2" ::: "memory");
    return 0;
}
"""


def test_a_sigill_handler_that_cannot_run_is_told_as_the_sigill(
        root, tmp_path, monkeypatch, capsys, no_leftovers, no_cores):
    """Only a SIGSEGV's handler was followed: the kernel's SIGSEGV for a SIGILL handler it
    could not run was told as "a general-protection fault, which gives no address". The
    fault is the ud2's (ILL_ILLOPN), whose handler could not run; saved and drawn again,
    the page says so."""
    monkeypatch.chdir(tmp_path)
    program = build(tmp_path, "illstack", ILL_NO_STACK, "-O0", "-g")
    status, page = _run(root, tmp_path, "illstack")
    err = capsys.readouterr().err
    assert status == 0, err
    crash = page_facts(page)["Crash"]
    assert "general-protection" not in crash, crash
    assert "(ILL_ILLOPN)" in crash and "its handler of SIGILL could not run" in crash, crash
    recorded = saved_session(tmp_path / "illstack.json")["crashes"]["0"]
    assert (recorded["signal"], recorded["handled"], recorded["code"]) == ("SIGSEGV", "SIGILL", 2)
    again = page_text(render_page(load_session(tmp_path / "illstack.json")))
    assert "The kernel sent SIGILL for a fault" in again and "SIGSEGV in its place" in again
    assert _untraced(program) == -signal.SIGSEGV


# A load of four bytes from an odd address, with the AC flag set: x86-64's alignment
# check, which the kernel reports as SIGBUS (BUS_ADRALN) with no address (si_addr 0).
ALIGNMENT_CHECK = r"""
#include <stdint.h>
static char buf[16];
int main(void) {
    __asm__ volatile("pushf\n\torl $0x40000, (%%rsp)\n\tpopf" ::: "memory", "cc");
    return *(volatile uint32_t *)(buf + 1);
}
"""


def test_an_alignment_check_is_no_null_pointer(
        root, tmp_path, monkeypatch, capsys, no_leftovers, no_cores):
    """The kernel gives an alignment check's SIGBUS no address: its si_addr, 0, was told
    as the address touched, 'at 0x0', and placed under mmap_min_addr as a NULL pointer."""
    monkeypatch.chdir(tmp_path)
    program = build(tmp_path, "aligned", ALIGNMENT_CHECK, "-O0", "-g")
    if _untraced(program) != -signal.SIGBUS:
        pytest.skip("no alignment check here: the load did not fault")
    status, page = _run(root, tmp_path, "aligned")
    err = capsys.readouterr().err
    assert status == 0, err
    crash = page_facts(page)["Crash"]
    assert "which gives no address (BUS_ADRALN)" in crash, crash
    assert "at 0x0" not in crash and "NULL" not in crash, crash
    assert saved_session(tmp_path / "aligned.json")["crashes"]["0"]["addr"] is None


# After the learner's only stop, f, the program goes on to end of its own accord: a write
# near NULL later in main, in an atexit handler, in a destructor (run by exit after the
# atexit handlers), or abort(); or it runs on, waiting for nothing.
AFTER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((noinline)) int f(int x) { return x + 1; }
static void bye(void) { *(volatile int *)0x20 = 1; }
__attribute__((destructor)) static void gone(void) {
    if (getenv("IN_DESTRUCTOR"))
        *(volatile int *)0x30 = 1;
}
int main(int argc, char **argv) {
    (void)argc;
    char how = argv[1][0];
    if (how == 'x')
        atexit(bye);
    printf("f gave %d\n", f(1));
    fflush(stdout);
    if (how == 'm')
        *(volatile int *)0x10 = 1;
    if (how == 'a')
        abort();
    if (how == 'e')
        return 3;
    if (how == 'p')
        for (;;)
            pause();
    return 0;
}
"""
# how -> (argument, the crash's address and function, or the ending where none)
AFTER_CASES = {
    "main": ("m", 0x10, "main+"),
    "atexit": ("x", 0x20, "bye+"),
    "destructor": ("d", 0x30, "gone+"),
    "abort": ("a", "was killed by SIGABRT", None),
    "runs on": ("p", "was ended by roads explain after its last stop", None),
    "fails": ("e", "exited with status 3", None),
}


@pytest.mark.parametrize("case", sorted(AFTER_CASES))
def test_a_crash_after_the_last_stop_is_stopped_at_and_told(root, tmp_path, monkeypatch, capsys,
                                                            no_leftovers, no_cores, case):
    """``roads explain --at f`` of a program that crashes after f has returned: the
    program runs on after its last stop, and the crash makes its stop and is told as
    one before a stop is (the run was ended at f, the page saying only that roads
    explain had ended it), and so is abort()'s SIGABRT. One still running is ended, as
    before; nothing is left stopped or unreaped. An end that is no crash, but for a
    success, is told on the terminal too (it was on the page alone)."""
    monkeypatch.chdir(tmp_path)
    if case == "destructor":
        monkeypatch.setenv("IN_DESTRUCTOR", "1")
    build(tmp_path, "after", AFTER, "-O0", "-g")
    arg, told, function = AFTER_CASES[case]
    status, page = _run(root, tmp_path, "after", at="f", argv=(arg,))
    err = capsys.readouterr().err
    assert status == 0, err
    facts = page_facts(page)
    saved = saved_session(tmp_path / "after.json")
    assert saved["capture"]["variants"]["default"]["runs"][0]["stdout"] == "f gave 2\n"
    if function is None:
        assert stop_names(saved) == ["f"] and "Crash" not in facts, facts
        assert facts["How it ended"] == told
        # The terminal says how it ended too (a success it leaves unsaid: test_explain_named).
        assert f"roads explain: ./after {told}\n" in err, err
        return
    assert stop_names(saved) == ["f", "SIGSEGV"]
    assert facts["How it ended"] == "was killed by SIGSEGV"
    crash = facts["Crash"]
    assert crash.startswith("SIGSEGV (pid "), crash
    assert f": no mapping at {told:#x} (SEGV_MAPERR), in the unmapped gap" in crash, crash
    assert "; the faulting instruction at 0x" in crash and f"({function}" in crash, crash
    assert "stopped at f (pid " in err and "stopped at SIGSEGV (pid " in err, err
    assert f"was killed by SIGSEGV: no mapping at {told:#x} (SEGV_MAPERR)" in err, err


# A SIGSEGV the program sends itself, in each way a process can: no fault of any
# instruction. rt_sigqueueinfo, rt_tgsigqueueinfo and pidfd_send_signal take a siginfo
# of the caller's making, which, sent to itself, may carry a fault's si_code and any
# si_addr (the kernel refuses that only from another process).
SENT = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    (void)argc;
    const char *how = argv[1];
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGSEGV;
    si.si_code = SEGV_MAPERR;
    si.si_addr = (void *)0x10;
    long r = -1;
    if (!strcmp(how, "kill"))
        r = kill(getpid(), SIGSEGV);
    else if (!strcmp(how, "raise"))
        r = raise(SIGSEGV);
    else if (!strcmp(how, "sigqueue"))
        r = sigqueue(getpid(), SIGSEGV, (union sigval){0});
    else if (!strcmp(how, "rt_sigqueueinfo"))
        r = syscall(SYS_rt_sigqueueinfo, getpid(), SIGSEGV, &si);
    else if (!strcmp(how, "rt_tgsigqueueinfo"))
        r = syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGSEGV, &si);
    else if (!strcmp(how, "pidfd_send_signal")) {
        int fd = syscall(SYS_pidfd_open, getpid(), 0);
        r = syscall(SYS_pidfd_send_signal, fd, SIGSEGV, &si, 0);
    }
    printf("%s returned %ld\n", how, r);
    return 0;
}
"""
FORGED = ("which it sent itself with {how}, writing a siginfo that reads as a fault's (no "
          "mapping at 0x10 (SEGV_MAPERR)): no instruction of it faulted (a process may give "
          "a signal it sends itself any si_code, which the kernel refuses from any other "
          "process)")
SENT_ENDINGS = {
    "kill": "which it sent itself with kill, as its siginfo says: no fault of its instruction",
    "raise": "which it sent itself with tgkill or tkill (raise() and abort() send so), as its "
             "siginfo says: no fault of its instruction",
    "sigqueue": "which it sent itself with sigqueue (rt_sigqueueinfo, whose caller writes "
                "si_pid and si_uid itself), as its siginfo says: no fault of its instruction",
    "rt_sigqueueinfo": FORGED.format(how="rt_sigqueueinfo"),
    "rt_tgsigqueueinfo": FORGED.format(how="rt_tgsigqueueinfo"),
    "pidfd_send_signal": FORGED.format(how="pidfd_send_signal"),
}


@pytest.mark.parametrize("how", sorted(SENT_ENDINGS))
def test_a_sigsegv_the_program_sends_itself_is_told_as_sent(root, tmp_path, monkeypatch, capsys,
                                                            no_leftovers, no_cores, how):
    """No crash stop, and no fault told, for a SIGSEGV the program sends itself, also
    one whose siginfo it wrote to read as a fault's (SEGV_MAPERR at 0x10; told before as
    a fault at 0x10 of its syscall() instruction): how it ended says it was sent, with
    what, and by whom. It dies of it as untraced."""
    monkeypatch.chdir(tmp_path)
    program = build(tmp_path, "sent", SENT, "-O0", "-g")
    untraced = subprocess.run([str(program), how], capture_output=True, timeout=30)
    assert untraced.returncode == -signal.SIGSEGV and not untraced.stdout, untraced
    status, page = _run(root, tmp_path, "sent", argv=(how,))
    err = capsys.readouterr().err
    assert status == 0, err
    facts = page_facts(page)
    assert stop_names(saved_session(tmp_path / "sent.json")) == ["exit"]
    assert "Crash" not in facts and "The fault:" not in page_text(page), facts
    assert facts["How it ended"] == f"was killed by SIGSEGV, {SENT_ENDINGS[how]}", facts
    assert "stopped at SIGSEGV" not in err and "faulting instruction" not in err, err
