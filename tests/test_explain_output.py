"""roads explain: what the program wrote, told where the command writes no page."""

from __future__ import annotations

import dataclasses
import json

import pytest

from roads.capture.elf import read_elf
from roads.constants import PROGRAM_ADDRESS_SPACE
from roads.document import Run
from roads.explain.page import failed, last_words
from roads.explain.record import session_from_json
from roads.explain.symbols import writes_through_stdio
from tests.explain_support import build, page_facts, page_text
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



def test_a_program_refused_a_write_after_its_stop_is_told_why_on_the_terminal(
        root, tmp_path, monkeypatch, capsys, no_leftovers):
    """The same program, with a page: the command said nothing of how it ended, and the
    page showed perror's "Read-only file system" of a folder the learner may write. The
    last line now says it failed, and where the sandbox lets it write."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "writer.c").write_text(WRITER)
    assert explain(root, "--at", "main", "--out", "w.html", "--", "writer.c") == 0
    err = capsys.readouterr().err
    assert err.endswith(
        "roads explain: writer.c exited with status 1; it was refused a write (Read-only "
        "file system): in the sandbox every file is read-only but a fresh folder, /run/build, "
        "and empty /tmp, /run and /dev/shm of its own: --no-sandbox runs the program as you, "
        "outside\nroads explain: writer.c wrote to its stderr:\n"
        "  | notes.txt: Read-only file system\n"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.html", "writer.c"]

# Prints, then reaches its one stop, and then crashes, or waits for ever (until roads
# explain ends it), or returns: stdout, a pipe, is flushed only by the return.
PRINTS_FIRST = r"""
#include <stdio.h>
#include <unistd.h>
void checkpoint(void) {}
int main(int argc, char **argv) {
    printf("hello from main\n");
    checkpoint();
    if (argc > 1 && argv[1][0] == 'c')
        *(volatile int *)0 = 1;
    if (argc > 1 && argv[1][0] == 'w')
        for (;;)
            pause();
    return 0;
}
"""


@pytest.mark.parametrize("crash", [False, True])
def test_output_left_in_stdios_buffer_is_said_to_be(root, tmp_path, monkeypatch, crash,
                                                    no_leftovers):
    """A program that printed before its last stop, then was ended by roads explain (still
    running after it) or crashed, got a page that said "It wrote nothing." and no more: its printf had run,
    but waited in the C library's buffer (stdout is a pipe there), which nobody flushed.
    Found by a learner whose printf went missing; roads run said so, roads explain did
    not. The page now says where the output went, and how to see it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prints.c").write_text(PRINTS_FIRST)
    args = ["--at", "checkpoint"] + (["--at", "exit", "--", "prints.c", "crash"] if crash
                                      else ["--", "prints.c", "wait"])
    assert explain(root, "--out", "prints.html", *args) == 0
    page = (tmp_path / "prints.html").read_text()
    text = page_text(page)
    assert page_facts(page)["How it ended"] == (
        "was killed by SIGSEGV" if crash else "was ended by roads explain after its last stop")
    assert "It wrote nothing." in text and "hello from main" not in text
    how = "was killed by SIGSEGV" if crash else "was ended by roads explain"
    assert (f"what printf writes waits in the C library's buffer until the buffer is full "
            f"or the program calls exit(), and this program {how}, so what its buffer held "
            "then, if anything, was never written") in text
    assert ("add --at exit" in text) == (not crash)


def test_a_static_programs_buffer_is_said_to_be_what_may_be(root, tmp_path, monkeypatch,
                                                             no_leftovers):
    """Linked static, the program carries glibc's stdio whether it calls it or not: its
    file cannot tell (``Session.stdio`` None), and the page said as a fact that what
    printf writes was left in its buffer, where roads run said it may be. The page now
    says it as what may be."""
    monkeypatch.chdir(tmp_path)
    build(tmp_path, "prints", PRINTS_FIRST, "-static", "-O0", "-g")
    assert explain(root, "--at", "checkpoint", "--out", "prints.html", "--save", "p.json",
                   "--", "./prints", "wait") == 0
    text = page_text((tmp_path / "prints.html").read_text())
    assert "stdio" not in json.loads((tmp_path / "p.json").read_text())  # None: unknown
    assert ("If this program prints with the C library's stdio (printf, puts; its file "
            "cannot tell whether it does), what it printed may be lost: its standard output "
            "is a pipe here") in text


@pytest.mark.parametrize("at_exit", [["--at", "exit"], []])
def test_a_program_that_exits_gets_no_word_on_its_buffer(root, tmp_path, monkeypatch,
                                                        no_leftovers, at_exit):
    """Its exit flushed stdout: what it printed is on the page, and no note; also
    without --at exit, the program running on after its last stop to its own end (it
    was ended at the stop, its output lost)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prints.c").write_text(PRINTS_FIRST)
    assert explain(root, "--at", "checkpoint", *at_exit, "--out", "prints.html",
                   "--", "prints.c") == 0
    page = (tmp_path / "prints.html").read_text()
    text = page_text(page)
    assert "hello from main" in text and "C library's buffer" not in text
    assert page_facts(page)["How it ended"] == "exited with status 0"


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
    assert (f"(in the sandbox each process has {PROGRAM_ADDRESS_SPACE.format()} of address "
            "space in all, as under roads run (roads explain --help): an mmap or malloc that "
            "would take it past that, or the shadow memory of a program built with "
            "-fsanitize=address, fails there with ENOMEM; --no-sandbox runs the program as "
            "you, outside)") in err


# Writes with write(2) alone, never through stdio, then reaches its stop.
WRITES_ALONE = r"""
#include <unistd.h>
void checkpoint(void) {}
int main(void) {
    write(1, "written at once\n", 16);
    checkpoint();
    return 0;
}
"""


def test_a_program_without_stdio_gets_no_word_on_its_buffer(root, tmp_path, monkeypatch,
                                                           no_leftovers):
    """The note on stdio's buffer told a program that never calls printf to call fflush
    after printf, and said its buffer had held output that was never written: it is for
    a program that writes through stdio (or whose file cannot tell), and this one's
    output is all on the page. Found by a learner's tour."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "alone.c").write_text(WRITES_ALONE)
    assert explain(root, "--at", "checkpoint", "--out", "alone.html", "--save", "alone.json",
                   "--", "alone.c") == 0
    text = page_text((tmp_path / "alone.html").read_text())
    assert "written at once" in text and "C library's buffer" not in text
    assert json.loads((tmp_path / "alone.json").read_text())["stdio"] is False


# A program without a C library: _start writes with the write system call, then exits.
NO_C_LIBRARY = r"""
void _start(void) {
    long r;
    __asm__ volatile ("syscall" : "=a"(r) : "a"(1), "D"(1), "S"("x\n"), "d"(2)
                      : "rcx", "r11", "memory");
    __asm__ volatile ("syscall" : : "a"(60), "D"(0));
}
"""

STDIO_PROGRAMS = {
    "printf": ('#include <stdio.h>\nint main(int c, char **v) { printf("%d\\n", c); }\n', [],
               True),
    "puts": ('#include <stdio.h>\nint main(void) { printf("hi\\n"); }\n', [], True),
    "fortified": ('#include <stdio.h>\nint main(int c, char **v) { printf("%d\\n", c); }\n',
                  ["-O2", "-D_FORTIFY_SOURCE=2"], True),
    "malloc_info": ('#include <malloc.h>\n#include <stdio.h>\n'
                    'int main(void) { return malloc_info(0, stdout); }\n', [], True),
    "putw": ('#include <stdio.h>\nint main(void) { return putw(1, stdout); }\n', [], True),
    "write": ('#include <unistd.h>\nint main(void) { write(1, "x", 1); }\n', [], False),
    "libm": ('#include <math.h>\n#include <unistd.h>\nint main(int c, char **v) '
             '{ return (int)sqrt(c) + (int)write(1, "x", 1); }\n', ["-Wl,--no-as-needed", "-lm"], False),
    "system": ('#include <stdlib.h>\nint main(void) { return system("echo hi"); }\n', [], None),
    "dlopen": ('#include <dlfcn.h>\nint main(void) { return !dlopen("libm.so.6", RTLD_NOW); }\n',
               ["-ldl"], None),
    "dlsym": ('#include <dlfcn.h>\nint main(void) { return !dlsym(RTLD_DEFAULT, "puts"); }\n',
              ["-D_GNU_SOURCE"], None),
    "static": ('#include <stdio.h>\nint main(void) { puts("hi"); }\n', ["-static"], None),
    # Linked static, read from its symbol table: glibc's stdio is in every such program
    # (it may), in one made position-independent too (whose .dynsym, for its own
    # relocations, imports nothing: it was said to write nothing through stdio); a
    # stripped one cannot tell; one without a C library (-nostdlib) has no stdio at all.
    "static_write": ('#include <unistd.h>\nint main(void) { write(1, "x", 1); }\n',
                     ["-static"], None),
    "static_pie": ('#include <stdio.h>\nint main(void) { puts("hi"); }\n', ["-static-pie"],
                   None),
    "static_stripped": ('#include <stdio.h>\nint main(void) { puts("hi"); }\n',
                        ["-static", "-s"], None),
    "nostdlib": (NO_C_LIBRARY, ["-nostdlib", "-static"], False),
    "nostdlib_dynamic": (NO_C_LIBRARY, ["-nostdlib"], False),
}


@pytest.mark.parametrize("name", sorted(STDIO_PROGRAMS))
def test_whether_a_program_writes_through_stdio(gcc, tmp_path, name):
    """Read from the program's imports, as gcc built it: printf, the puts gcc makes of a
    printf, _FORTIFY_SOURCE's __printf_chk, stdout handed to a function (malloc_info,
    which an expert re-check found judged False, its output lost); not write(2); unknown
    where another program or library may write (system, dlopen, dlsym). A program linked
    static is read from its symbol table: unknown where that holds a C library's stdio
    or is stripped, no stdio where it holds none (-nostdlib)."""
    source, flags, expected = STDIO_PROGRAMS[name]
    binary = build(tmp_path, name, source, *flags)
    elf = read_elf(binary)
    assert writes_through_stdio(binary.read_bytes(), str(binary), list(elf.needed)) is expected


def test_a_program_linked_with_a_library_of_its_own_may_write_through_it(gcc, tmp_path):
    """Its library may call printf where the program does not: not told from the file."""
    build(tmp_path, "libsays.so", '#include <stdio.h>\nvoid says(void) { puts("hi"); }\n',
          "-shared", "-fPIC")
    binary = build(tmp_path, "caller", "void says(void);\nint main(void) { says(); }\n",
                   f"-L{tmp_path}", "-Wl,--no-as-needed", "-lsays")
    assert writes_through_stdio(binary.read_bytes(), str(binary),
                                list(read_elf(binary).needed)) is None


# Writes into a pipe whose reading end it has closed: a shell's program dies of SIGPIPE.
BROKEN_PIPE = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) {
    int ends[2];
    if (pipe(ends) != 0)
        return 2;
    close(ends[0]);
    if (write(ends[1], "x", 1) < 0)
        perror("write");
    return 1;
}
"""


@pytest.mark.parametrize("sandboxed", [True, False])
def test_a_write_to_a_broken_pipe_kills_as_under_a_shell(root, tmp_path, monkeypatch,
                                                          no_leftovers, sandboxed):
    """Python ignores SIGPIPE and SIGXFSZ for itself, and the program inherited both
    ignored across its execve: its write to a pipe with no reader failed with EPIPE, and
    it exited with status 1, where started by a shell it dies of SIGPIPE. They are set
    back to their default before the program starts."""
    monkeypatch.chdir(tmp_path)
    build(tmp_path, "broken", BROKEN_PIPE, "-O0", "-g")
    args = [] if sandboxed else ["--no-sandbox"]
    assert explain(root, *args, "--at", "exit", "--out", "broken.html", "--", "./broken") == 0
    page = (tmp_path / "broken.html").read_text()
    assert page_facts(page)["How it ended"] == "was killed by SIGPIPE"
    assert "Broken pipe" not in page_text(page)


# Writes five lines to stderr, then aborts (a), fails (f) or ends well (no argument).
COMPLAINS = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    for (int i = 1; i <= 4; i++)
        fprintf(stderr, "warning %d\n", i);
    fprintf(stderr, "giving up: %s\n", argc > 1 ? argv[1] : "no");
    if (argc > 1 && argv[1][0] == 'a')
        abort();
    return argc > 1 ? 3 : 0;
}
"""


@pytest.mark.parametrize("how", ["abort", ""])
def test_a_failed_programs_stderr_is_shown_beside_how_it_ended(root, tmp_path, monkeypatch,
                                                               capsys, how, no_leftovers):
    """A program that died saying why on its stderr (a C++ exception not caught:
    "terminate called after throwing an instance of 'std::out_of_range'") had its words
    behind a closed toggle at the page's foot, under "How it ended: was killed by
    SIGABRT", and not on the terminal at all. Where it failed (a signal, a status other
    than 0) the page quotes its last lines beside how it ended and shows its stderr
    open, and the command quotes them after its line on the end; a clean end keeps the
    toggle closed and quotes nothing."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "complains.c").write_text(COMPLAINS)
    args = [how] if how else []
    assert explain(root, "--out", "c.html", "--save", "c.json", "--", "complains.c", *args) == 0
    err = capsys.readouterr().err
    page = (tmp_path / "c.html").read_text()
    facts = page_facts(page)
    quoted = ("roads explain: complains.c wrote to its stderr (the last 3 of 5 lines):\n"
              f"  | warning 3\n  | warning 4\n  | giving up: {how}\n")
    if not how:
        assert facts["How it ended"] == "exited with status 0"
        assert "Last on stderr" not in facts
        assert '<details id="output-stderr"><summary>What it wrote to stderr' in page
        assert "wrote to its stderr" not in err, err
        return
    ending = "was killed by SIGABRT" if how == "abort" else "exited with status 3"
    assert facts["How it ended"] == ending
    assert facts["Last on stderr"] == (f"warning 3\nwarning 4\ngiving up: {how}the last 3 of "
                                       "the 5 lines it wrote there, all of them under Output")
    assert '<details id="output-stderr" open><summary>What it wrote to stderr' in page
    assert err.endswith(f"roads explain: complains.c {ending}\n" + quoted), err
    # Cut short, the lines kept are not its last: none are quoted as if they were.
    session = session_from_json(json.loads((tmp_path / "c.json").read_text()))
    assert last_words(session) == (f"warning 3\nwarning 4\ngiving up: {how}", 5)
    assert last_words(dataclasses.replace(session, cut={"stderr": 1 << 20})) is None


@pytest.mark.parametrize(("exit_code", "signal", "failed_"), [
    (3, None, True), (None, 6, True), (0, None, False),
    (None, None, False),  # ended by roads explain after its last stop: no failure of its own
])
def test_a_program_failed_where_a_signal_or_a_status_other_than_0_ended_it(exit_code, signal,
                                                                           failed_):
    assert failed(Run(checkpoints=(), exit_code=exit_code, signal=signal)) is failed_
