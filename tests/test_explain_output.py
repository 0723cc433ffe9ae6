"""roads explain: what the program wrote, told where the command writes no page."""

from __future__ import annotations

import pytest

from roads.capture.runner import TOOL_ADDRESS_SPACE

from tests.explain_support import page_facts, page_text
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.dot]

# Writes a file in the folder it runs from, which the sandbox keeps read-only.
WRITER = r"""
#include <stdio.h>
int main(void) {
    for (int i = 1; i <= 25; i++)
        printf("line %d\n", i);
    FILE *f = fopen("notes.txt", "w");
    if (!f) {
        perror("notes.txt");
        return 1;
    }
    return 0;
}
"""


def test_a_run_that_ends_before_its_first_stop_says_what_the_program_wrote(
        root, tmp_path, monkeypatch, capsys, no_leftovers):
    """'writer.c exited with status 1 before reaching main:2; nothing was captured' was
    all: the program's own words on why it stopped (perror's, here that the sandbox's
    files are read-only) were lost with the page that was not written. The error now
    ends with the last lines of each stream, and, for a write the sandbox refused, where
    the program may write."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "writer.c").write_text(WRITER)
    assert explain(root, "--at", "main:2", "--", "writer.c") == 1
    err = capsys.readouterr().err
    head = "roads: error: writer.c exited with status 1 before reaching main:2; nothing was captured"
    assert head in err, err
    told = err.split(head, 1)[1]
    assert "\nwriter.c wrote to its stdout (the last 20 of 25 lines):\n  | line 6\n" in told
    assert told.count("  | line ") == 20 and "  | line 25\n" in told
    assert "\nwriter.c wrote to its stderr:\n  | notes.txt: Read-only file system\n" in told
    assert "--no-sandbox runs the program as you" in told
    assert sorted(p.name for p in tmp_path.iterdir()) == ["writer.c"]


# Prints, then reaches its one stop (or crashes there): stdout, a pipe, is not flushed.
PRINTS_FIRST = r"""
#include <stdio.h>
void checkpoint(void) {}
int main(int argc, char **argv) {
    printf("hello from main\n");
    checkpoint();
    if (argc > 1)
        *(volatile int *)0 = 1;
    return 0;
}
"""


@pytest.mark.parametrize("crash", [False, True])
def test_output_left_in_stdios_buffer_is_said_to_be(root, tmp_path, monkeypatch, crash,
                                                    no_leftovers):
    """A program that printed before its last stop, then was ended by roads explain (or
    crashed), got a page that said "It wrote nothing." and no more: its printf had run,
    but waited in the C library's buffer (stdout is a pipe there), which nobody flushed.
    Found by a learner whose printf went missing; roads run said so, roads explain did
    not. The page now says where the output went, and how to see it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prints.c").write_text(PRINTS_FIRST)
    args = ["--at", "checkpoint"] + (["--at", "exit", "--", "prints.c", "crash"] if crash
                                      else ["--", "prints.c"])
    assert explain(root, "--out", "prints.html", *args) == 0
    page = (tmp_path / "prints.html").read_text()
    text = page_text(page)
    assert page_facts(page)["How it ended"] == (
        "was killed by SIGSEGV" if crash else "was ended by roads explain after its last stop")
    assert "It wrote nothing." in text and "hello from main" not in text
    how = "was killed by SIGSEGV" if crash else "was ended by roads explain"
    assert (f"what printf writes waits in the C library's buffer until the buffer is full "
            f"or the program calls exit(), and this program {how}, so what its buffer held "
            "then was never written") in text
    assert ("add --at exit" in text) == (not crash)


def test_a_program_that_exits_gets_no_word_on_its_buffer(root, tmp_path, monkeypatch,
                                                        no_leftovers):
    """Its exit flushed stdout: what it printed is on the page, and no note."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prints.c").write_text(PRINTS_FIRST)
    assert explain(root, "--at", "checkpoint", "--at", "exit", "--out", "prints.html",
                   "--", "prints.c") == 0
    text = page_text((tmp_path / "prints.html").read_text())
    assert "hello from main" in text and "C library's buffer" not in text


# Asks for more address space than the sandbox gives a process, and says it failed.
TOO_BIG = r"""
#include <stdio.h>
#include <stdlib.h>
void never(void) {}
int main(int argc, char **argv) {
    if (argc > 5)
        never();
    if (!malloc(16UL << 30)) {
        perror("malloc(16 GiB)");
        return 1;
    }
    return 0;
}
"""


def test_an_allocation_the_sandbox_refused_is_said_to_be(root, tmp_path, monkeypatch, capsys,
                                                         no_leftovers):
    """A program that dies of an allocation the sandbox's limit on address space refused
    (a program built with -fsanitize=address, whose shadow memory is terabytes, dies so
    before main) got the program's own words alone, "Cannot allocate memory", or ASan's
    "Perhaps you're using ulimit -v": nothing said that the sandbox set the limit, nor
    that --no-sandbox runs it without. Found by a learner's tour (an ASan build)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "toobig.c").write_text(TOO_BIG)
    assert explain(root, "--at", "never", "--", "toobig.c") == 1
    err = capsys.readouterr().err
    assert "toobig.c exited with status 1 before reaching never" in err, err
    assert "  | malloc(16 GiB): Cannot allocate memory\n" in err
    assert (f"(in the sandbox each process has {TOOL_ADDRESS_SPACE >> 30} GiB of address "
            "space in all: an mmap or malloc that would take it past that, or the shadow "
            "memory of a program built with -fsanitize=address, fails there with ENOMEM; --no-sandbox runs the program as you, outside)") in err
