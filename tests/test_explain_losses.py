"""What roads explain lost, found by a learner's tour: the stops read before one that
cannot be read (too many regions, a program made not dumpable), a system call's failure
at a syscall stop, and a program's stop of itself (SIGSTOP)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = pytest.mark.gcc

# More regions than a stop is read with (MAX_REGIONS): every other page of one mapping
# made writable, each page a region of its own.
MANY = r"""
#include <sys/mman.h>
void here(void) {}
int main(void) {
    enum { PAGES = 2400 };
    char *p = mmap(0, 4096L * PAGES, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < PAGES; i += 2)
        mprotect(p + 4096L * i, 4096, PROT_READ | PROT_WRITE);
    here();
    return 0;
}
"""

UNDUMPABLE = r"""
#include <sys/prctl.h>
void here(void) {}
int main(void) {
    prctl(PR_SET_DUMPABLE, 0);
    here();
    return 0;
}
"""


def _saved(path: Path) -> dict:
    return json.loads(path.read_text())


def _stops(saved: dict) -> list[str]:
    return [c["name"] for c in saved["capture"]["variants"]["default"]["runs"][0]["checkpoints"]]


def test_a_stop_with_too_many_regions_keeps_the_stops_before_it(root, gcc, tmp_path, capsys,
                                                                 monkeypatch, no_leftovers):
    """A stop where the program maps more regions than a stop is read with was an error
    that threw away the stop read before it, and no page was written: now the page shows
    main, says which stops could not be read and why, and the status is 3 (the page lacks
    stops asked for), as for a run that ends before its last stop."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "many.c").write_text(MANY)
    assert explain(root, "--no-sandbox", "--at", "main", "--at", "here", "--at", "exit",
                   "--out", "p.html", "--save", "p.json", "--", "./many.c") == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "the stop here (pid" in err and "could not be read" in err
    assert "memory regions mapped here, more than the 1024" in err and "Stop earlier" in err
    saved = _saved(tmp_path / "p.json")
    assert _stops(saved) == ["main"]
    assert [u["label"] for u in saved["unread"]] == ["here", "exit"]
    assert saved["missing"] == [] and saved["complete"]
    page = (tmp_path / "p.html").read_text()
    assert "<dt>Not read</dt><dd>here (pid" in page and "Stop earlier" in page


def test_a_program_made_not_dumpable_keeps_the_stops_before(root, gcc, tmp_path, capsys,
                                                            monkeypatch, no_leftovers):
    """In the sandbox (no CAP_SYS_PTRACE), a program that calls prctl(PR_SET_DUMPABLE, 0)
    keeps its memory from the tracer: the stop after it cannot be read, and ptrace refuses
    the breakpoints too (EIO), so the run ends there. The stop before is kept and drawn;
    the page and the messages say which stop was not read, why, and how the run ended."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "undumpable.c").write_text(UNDUMPABLE)
    assert explain(root, "--at", "main", "--at", "here", "--at", "exit", "--out", "p.html",
                   "--save", "p.json", "--", "./undumpable.c") == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Input/output error" not in err
    assert "the stop here (pid" in err and "made itself not dumpable (prctl PR_SET_DUMPABLE 0)" in err
    assert "before reaching exit: the page shows the stops it reached" in err
    saved = _saved(tmp_path / "p.json")
    assert _stops(saved) == ["main"]
    assert [u["label"] for u in saved["unread"]] == ["here"]
    assert saved["missing"] == ["exit"]
    assert "not dumpable" in saved["ending"] and "CAP_SYS_PTRACE" in saved["ending"]
    page = (tmp_path / "p.html").read_text()
    assert "<dt>Not read</dt><dd>here (pid" in page and "<dt>Not reached</dt><dd>exit" in page


# Calls the C library's start-up makes none of, so that each stop is the program's own:
# chdir fails (ENOENT), the first mremap asks for more than the address-space limit the
# program set itself (ENOMEM), the second moves a page (an address), dup returns a
# descriptor (a number).
CALLS = r"""
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
int main(void) {
    struct rlimit limit = {1UL << 30, 1UL << 30};
    char *p = mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (setrlimit(RLIMIT_AS, &limit) != 0) return 1;
    if (chdir("/nonexistent/folder") == 0) return 1;
    if (mremap(p, 4096, 2UL << 30, MREMAP_MAYMOVE) != MAP_FAILED) return 1;
    if (mremap(p, 4096, 8192, MREMAP_MAYMOVE) == MAP_FAILED) return 1;
    return dup(1) < 0;
}
"""


def test_a_syscall_stop_says_what_the_call_returned(root, gcc, tmp_path, capsys, monkeypatch,
                                                    no_leftovers):
    """A syscall stop showed the call's result only when it looked like an address (as a
    pointer in the diagram): a call that failed showed no sign of it, and a number was
    not shown at all. Now the page and the progress line say it failed, with the
    error's name and text, or what it returned; an address is still drawn where it
    points."""
    import errno

    monkeypatch.chdir(tmp_path)
    (tmp_path / "calls.c").write_text(CALLS)
    assert explain(root, "--at", "syscall:chdir", "--at", "syscall:mremap",
                   "--at", "syscall:mremap:2", "--at", "syscall:dup", "--out", "p.html",
                   "--save", "p.json", "--", "./calls.c") == 0
    err = capsys.readouterr().err
    assert "stopped at syscall:chdir (pid" in err
    assert "chdir failed: ENOENT (No such file or directory)" in err
    saved = _saved(tmp_path / "p.json")
    returned = saved["returned"]
    assert returned["syscall:chdir"] == {"name": "chdir", "value": -errno.ENOENT}
    assert returned["syscall:mremap"] == {"name": "mremap", "value": -errno.ENOMEM}
    moved = returned["syscall:mremap:2"]["value"]
    assert moved > 0 and returned["syscall:dup"]["value"] >= 3
    page = (tmp_path / "p.html").read_text()
    assert ("<p>The system call <code>chdir</code> failed: ENOENT (No such file or "
            "directory).</p>") in page
    assert ("<p>The system call <code>mremap</code> failed: ENOMEM (Cannot allocate "
            "memory).</p>") in page
    assert f"<p>The system call <code>mremap</code> returned {moved:#x}.</p>" in page
    dup = returned["syscall:dup"]["value"]
    assert f"<p>The system call <code>dup</code> returned {dup}.</p>" in page
    points = {c["name"]: {a["name"]: a["value"] for a in c["addresses"]}
              for c in saved["capture"]["variants"]["default"]["runs"][0]["checkpoints"]}
    assert points["syscall:mremap:2"]["result"] == moved  # drawn where it points
    assert "result" not in points["syscall:chdir"] and "result" not in points["syscall:dup"]


def test_a_result_in_words():
    """Failures are -1 to -MAX_ERRNO whatever the call; the numbers the kernel keeps for
    an interrupted call have no name in errno, and are said for what they are."""
    import errno

    from roads.explain.record import Returned, signed

    assert signed((1 << 64) - errno.ENOENT) == -errno.ENOENT
    assert Returned("openat", -errno.ENOENT).words() == \
        "failed: ENOENT (No such file or directory)"
    assert Returned("read", -512).words().startswith("failed: ERESTARTSYS (interrupted by a signal")
    assert Returned("read", 4096).words() == "returned 4096"  # a number, not an address
    assert Returned("read", 4096).address is None
    assert Returned("mmap", 0x7FFFF7FC1000).words() == "returned 0x7ffff7fc1000"
    assert Returned("lseek", -5000).words() == "returned -5000"  # below -MAX_ERRNO


# Stops itself, and says whether its SIGCONT handler ran and how long it stayed stopped.
SELF_STOP = r"""
#include <signal.h>
#include <stdio.h>
#include <time.h>
static volatile sig_atomic_t continued;
static void on_cont(int sig) { (void)sig; continued = 1; }
int main(void) {
    struct timespec a, b;
    signal(SIGCONT, on_cont);
    clock_gettime(CLOCK_MONOTONIC, &a);
    raise(SIGSTOP);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("continued=%d stopped_ms=%ld\n", continued,
           (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000);
    return 0;
}
"""

# A parent that waits for its child to stop itself, then continues it, as a shell does.
PARENT_CONTINUES = r"""
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
static volatile sig_atomic_t continued;
static void on_cont(int sig) { (void)sig; continued = 1; }
int main(void) {
    pid_t child = fork();
    if (child == 0) {
        signal(SIGCONT, on_cont);
        raise(SIGSTOP);
        printf("child continued=%d\n", continued);
        return 0;
    }
    int status;
    waitpid(child, &status, WUNTRACED);
    printf("parent saw stopped=%d\n", WIFSTOPPED(status));
    fflush(stdout);
    kill(child, SIGCONT);
    waitpid(child, &status, 0);
    return 0;
}
"""

STOPS_THEN_SLEEPS = r"""
#include <signal.h>
#include <unistd.h>
int main(void) { raise(SIGSTOP); sleep(5); return 0; }
"""


def test_a_program_that_stops_itself_is_stopped_then_continued(root, gcc, tmp_path, capsys,
                                                               monkeypatch, no_leftovers):
    """raise(SIGSTOP) was resumed at once, as if nothing had happened (the tracer restarted
    the group-stop, which PTRACE_TRACEME cannot keep): the program did not stop and its
    SIGCONT handler never ran. Now it stops; nothing of the run continues it, so roads
    explain does with SIGCONT after CONTINUE_AFTER (as a shell's fg would), and the page
    and the messages say so."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "selfstop.c").write_text(SELF_STOP)
    assert explain(root, "--at", "main", "--at", "exit", "--out", "p.html", "--save", "p.json",
                   "--", "./selfstop.c") == 0
    err = capsys.readouterr().err
    saved = _saved(tmp_path / "p.json")
    out = saved["capture"]["variants"]["default"]["runs"][0]["stdout"]
    assert out.startswith("continued=1 "), out
    from roads.explain.trace import CONTINUE_AFTER

    assert int(out.split("stopped_ms=")[1]) >= CONTINUE_AFTER * 1000 * 0.9, out
    pid = saved["capture"]["variants"]["default"]["runs"][0]["pid"]
    assert saved["stopped"] == [{"pid": pid, "signal": "SIGSTOP", "sender": pid, "by_us": True,
                                 "after": CONTINUE_AFTER, "code": -6, "ended": ""}]  # SI_TKILL: raise
    said = (f"process {pid} stopped itself with SIGSTOP; nothing of the run continued it "
            f"within {CONTINUE_AFTER:g} s, so roads explain did, with SIGCONT")
    assert said in err
    assert f"<dt>Stopped by a signal</dt><dd>{said}" in (tmp_path / "p.html").read_text()
    assert "exit" in _stops(saved)


def test_a_child_stopped_is_continued_by_its_parent(root, gcc, tmp_path, capsys, monkeypatch,
                                                    no_leftovers):
    """Followed, a child that stops itself stays stopped until its parent, told of the
    stop by waitpid(WUNTRACED), sends SIGCONT: roads explain does not continue it first.
    The child went on at once, before its parent had sent anything."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "parent.c").write_text(PARENT_CONTINUES)
    assert explain(root, "--no-sandbox", "--follow-fork", "--at", "main", "--at", "exit",
                   "--out", "p.html", "--save", "p.json", "--", "./parent.c") == 0
    capsys.readouterr()
    saved = _saved(tmp_path / "p.json")
    out = saved["capture"]["variants"]["default"]["runs"][0]["stdout"]
    assert out == "parent saw stopped=1\nchild continued=1\n", out
    [stopped] = saved["stopped"]
    assert stopped["by_us"] is False and stopped["sender"] == stopped["pid"]
    assert "another process of the run continued it (SIGCONT)" in (tmp_path / "p.html").read_text()


def test_a_delay_comes_due_while_the_program_is_stopped(root, gcc, tmp_path, capsys,
                                                        monkeypatch, no_leftovers):
    """A delay whose time comes while the program is held stopped is taken there (its
    SIGSTOP, pending, would be undone by the SIGCONT that continues the program), and
    the run ends after it, its last stop."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sleeps.c").write_text(STOPS_THEN_SLEEPS)
    assert explain(root, "--no-sandbox", "--at", "0.3s", "--out", "p.html", "--save", "p.json",
                   "--", "./sleeps.c") == 0
    capsys.readouterr()
    saved = _saved(tmp_path / "p.json")
    assert _stops(saved) == ["0.3s"]
    assert saved["ending"] == "was ended by roads explain after its last stop"


# Stops itself with a POSIX timer's SIGSTOP (si_code SI_TIMER), then prints a line.
TIMER_STOP = r"""
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGSTOP};
    timer_t t;
    if (timer_create(CLOCK_MONOTONIC, &ev, &t) != 0) return 1;
    struct itimerspec when = {.it_value = {.tv_nsec = 50 * 1000 * 1000}};
    timer_settime(t, 0, &when, NULL);
    usleep(300 * 1000);
    puts("done");
    return 0;
}
"""


def test_a_timers_stop_signal_names_no_sender(root, gcc, tmp_path, capsys, monkeypatch,
                                              no_leftovers):
    """A SIGSTOP a POSIX timer sends (SI_TIMER) holds the timer's id where a kill's holds
    the sender's: it was read as one ("stopped by SIGSTOP from process 0")."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "timerstop.c").write_text(TIMER_STOP)
    assert explain(root, "--at", "exit", "--out", "p.html", "--save", "p.json",
                   "--", "./timerstop.c") == 0
    err = capsys.readouterr().err
    [stopped] = _saved(tmp_path / "p.json")["stopped"]
    assert stopped["signal"] == "SIGSTOP" and stopped["sender"] is None and stopped["by_us"]
    assert "stopped by SIGSTOP, sent by a timer of the program" in err
    assert "from process" not in err
