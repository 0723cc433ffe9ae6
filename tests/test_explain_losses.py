"""What roads explain lost, found by a learner's tour: the stops read before one that
cannot be read (too many regions, a program made not dumpable, which the message says
it made itself), and what a syscall stop says of the call's result: a failure, and the
program break that brk returns."""

from __future__ import annotations

import pytest

from tests.explain_support import build, saved_session, stop_names
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
    saved = saved_session(tmp_path / "p.json")
    assert stop_names(saved) == ["main"]
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
    saved = saved_session(tmp_path / "p.json")
    assert stop_names(saved) == ["main"]
    assert [u["label"] for u in saved["unread"]] == ["here"]
    assert saved["missing"] == ["exit"]
    assert "not dumpable" in saved["ending"] and "CAP_SYS_PTRACE" in saved["ending"]
    page = (tmp_path / "p.html").read_text()
    assert "<dt>Not read</dt><dd>here (pid" in page and "<dt>Not reached</dt><dd>exit" in page


UNDUMPABLE_THEN_LATER = r"""
#include <stdio.h>
#include <sys/prctl.h>
void later(void) { puts("later"); }
int main(void) {
    prctl(PR_SET_DUMPABLE, 0);
    later();
    return 0;
}
"""


@pytest.mark.gcc
def test_a_program_that_makes_itself_undumpable_is_said_to(root, gcc, tmp_path, monkeypatch,
                                                          capsys, no_leftovers):
    """A stop after prctl(PR_SET_DUMPABLE, 0), in the sandbox (no CAP_SYS_PTRACE): the
    message says what the program did and what to do; it said that reading
    /proc/PID/smaps 'needs ptrace access to process 3, which root has only with
    CAP_SYS_PTRACE', of a process roads explain was tracing. The stop before it (main)
    still gets its page, status 3 (tests/test_explain_losses.py)."""
    build(tmp_path, "secret", UNDUMPABLE_THEN_LATER)
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--at", "main", "--at", "later", "--", "./secret") == 3
    err = capsys.readouterr().err
    assert "the stop later (pid" in err and "--at later: /proc keeps process " in err, err
    assert "made itself not dumpable (prctl PR_SET_DUMPABLE 0)" in err, err
    assert "Stop before it does" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["explain-secret.html", "secret",
                                                          "secret.c"]


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
    saved = saved_session(tmp_path / "p.json")
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


# Grows its heap by 100000 bytes with sbrk, a break that is no page boundary.
GROWS = r"""
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char *start = sbrk(0);
    if (sbrk(100000) == (void *)-1) return 1;
    printf("%lx %lx\n", (unsigned long)(uintptr_t)start, (unsigned long)(uintptr_t)sbrk(0));
    return 0;
}
"""


def test_a_brk_stop_says_its_result_is_where_the_heap_ends(gcc, tmp_path, no_leftovers):
    """brk returns the program break, the heap's end: no byte of the heap, and the page
    listed it among the 'Recorded addresses outside every region' with no word of why,
    as if it pointed nowhere, while its [heap] region runs on to the next page boundary.
    The page says what it is, at the stop of the call that sbrk(100000) made."""
    from roads.explain.page import render_page
    from roads.explain.session import explain_program

    program = build(tmp_path, "grows", GROWS)
    # The C library's calls come first, and how many there are is its own affair.
    session = explain_program([str(program)], [f"syscall:brk:{n}" for n in range(1, 9)])
    start, end = (int(x, 16) for x in
                  session.capture.variants["default"].runs[0].stdout.split())
    assert end - start == 100000 and end % 4096  # the break is no page boundary
    assert [r.value for r in session.returned.values()].count(end) == 1, session.returned
    page = render_page(session)
    assert (f"<p>The system call <code>brk</code> returned {end:#x}: the program break, where "
            "the heap ends (the kernel maps the heap's pages up to the page boundary at "
            "or above it).</p>") in page


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
