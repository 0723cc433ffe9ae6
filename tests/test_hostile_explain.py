"""What a hostile program puts in front of the user through ``roads explain``: the page
shows it as text, runs no script of its, fetches nothing, and carries none of its
control characters raw.

A real program, compiled here, names what it maps (memfd_create's names, a library
opened by a path of its choosing), renames a section of its own ELF file, prints
escape sequences and is given hostile arguments: HTML, Jinja and Markdown syntax,
terminal escapes (CSI, OSC 8 links, OSC 52 clipboard writes), a carriage return, a
bidirectional override, a C1 control, bytes that are not UTF-8. (``roads run`` and
``roads show`` print the same through ``errors.printable``: tests/test_cli*.py.)
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.dot, pytest.mark.gcc]

# Each becomes the name of a memory area (memfd_create: any bytes but '/' and NUL).
NAMES = (
    r'<svg onload=window.pwned=1>',
    r'\"><img src=x onerror=window.pwned=2>',
    r'{{ 7*7 }}{% raw %}](javascript:window.pwned=3)',
    r'\x1b[31mRED\x1b[2J',
    r'\x1b]8;;http:evil.example\x07link\x1b]8;;\x07',
    r'\x1b]52;c;ZXZpbA==\x07',
    r'a\rOVER',
    r'\xe2\x80\xae" "gnp.exe',  # C's hex escapes run on: the string is split
    r'bad\xff\xfe',
    r'\xc2\x9b" "31mC1',
)
PROGRAM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
static const char *names[] = {%s};
int main(int argc, char **argv) {
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
        int fd = memfd_create(names[i], 0);
        if (fd < 0 || ftruncate(fd, 4096) != 0
            || mmap(0, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
            perror(names[i]);
    }
    if (argc > 1 && !dlopen(argv[1], RTLD_NOW))
        fprintf(stderr, "%%s\n", dlerror());
    printf("\x1b]52;c;ZXZpbA==\x07\x1b[2J<script>window.pwned=5</script>\rOVER\xe2\x80\xae\n");
    return 0;
}
""" % ", ".join(f'"{n}"' for n in NAMES)
LIBRARY = b"\x1b[31m<img src=x onerror=window.pwned=7>\xe2\x80\xae.so"
SECTION = "<img src=x onerror=window.pwned=6>\x1b[1m"
ARGUMENT = b"<script>window.pwned=8</script>\x1b]52;c;ZXZpbA==\x07\r\xff"

# What no page may carry raw: C0 controls but tab and newline, DEL, C1 controls,
# bidirectional embeddings, overrides and isolates (errors.printable's set).
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def hostile_page(root, tmp_path_factory) -> Path:
    """The page ``roads explain --at exit`` wrote of the hostile program (in the sandbox)."""
    folder = tmp_path_factory.mktemp("hostile-explain")
    (folder / "h.c").write_text(PROGRAM)
    subprocess.run(["gcc", "-O0", "-o", "h0", "h.c", "-ldl"], cwd=folder, check=True)
    subprocess.run(["objcopy", f"--rename-section=.rodata={SECTION}", "h0", "h"], cwd=folder,
                   check=True)
    (folder / "lib.c").write_text("int lib_value = 42;\nint lib(void) { return lib_value; }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", "lib.so", "lib.c"], cwd=folder, check=True)
    library = folder / os.fsdecode(LIBRARY)
    (folder / "lib.so").rename(library)
    status = explain(root, "--at", "exit", "--out", str(folder / "page.html"), "--",
                     str(folder / "h"), str(library), os.fsdecode(ARGUMENT))
    assert status == 0
    return folder / "page.html"


def test_the_page_carries_no_raw_control_character(hostile_page):
    """Every name, argument and byte of output is on the page, its control characters
    written as escapes a reader sees (the diagram's labels too: raw, they made
    Graphviz's SVG invalid XML, and roads explain ended in a traceback)."""
    text = hostile_page.read_bytes().decode("utf-8")  # a carriage return kept
    raw = sorted({m[0] for m in RAW.finditer(text)})
    assert not raw, f"raw control characters on the page: {raw!r}"
    for shown in (r"\x1b[31mRED\x1b[2J", r"\x1b]52;c;ZXZpbA==\x07", r"a\x0dOVER",
                  r"\u202egnp.exe", r"bad\xff\xfe", r"\x9b31mC1",
                  r"\x1b]8;;http:evil.example\x07link"):
        assert shown in text, shown
    assert "\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J&lt;script&gt;" in text  # its stdout
    assert "\\x1b[1m" in text  # the section's name, in the ELF figure


def test_the_page_shows_markup_as_text(hostile_page):
    text = hostile_page.read_bytes().decode("utf-8")  # a carriage return kept
    for markup in ("<svg onload", "<img src=x", "<script>window.pwned", '"><img'):
        assert markup not in text, markup
    assert text.count("<script>") == 1  # the page's own: the reader's colour scheme


@pytest.mark.browser
def test_the_page_runs_no_script_of_the_program_and_fetches_nothing(hostile_page, browser):
    context = browser.new_context()
    requests: list[str] = []
    try:
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.goto(hostile_page.as_uri())
        page.wait_for_load_state("load")
        assert page.evaluate("window.pwned") is None
        body = page.text_content("main")
        assert "<svg onload=window.pwned=1>" in body
        assert "<script>window.pwned=8</script>" in body
        fetched = [url for url in requests if not url.startswith(("data:", hostile_page.as_uri()))]
        assert not fetched, fetched
    finally:
        context.close()


STOPPER = r"""
#include <signal.h>
#include <time.h>
#include <unistd.h>
void late(void) {}
int main(void) {
    /* Stop the tracer (its parent) again and again for half a second, then once more
     * for good while the tracer is to make the stop at late. */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do {
        kill(getppid(), SIGSTOP);
        clock_gettime(CLOCK_MONOTONIC, &b);
    } while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 500000000L);
    late();
    kill(getppid(), SIGSTOP);
    return 0;
}
"""


def test_a_program_that_stops_its_tracer_does_not_hold_the_run(root, tmp_path, capsys):
    """SIGSTOP cannot be blocked, and the program may signal its tracer (its parent, of
    the same user): the run then waited for the sandbox's timeout, a minute past the
    deadline. The sandbox continues the tracer; the stop is made and the user told."""
    import time

    (tmp_path / "stopper.c").write_text(STOPPER)
    started = time.monotonic()
    status = explain(root, "--deadline", "20", "--at", "late", "--at", "exit",
                     "--out", str(tmp_path / "page.html"), str(tmp_path / "stopper.c"))
    took = time.monotonic() - started
    err = capsys.readouterr().err
    assert status == 0, err
    assert took < 15, f"{took:.1f} s"
    assert "stopped roads explain's tracer with SIGSTOP; the sandbox continued it" in err
    assert (tmp_path / "page.html").is_file()


def test_the_page_named_on_stdout_is_escaped(root, tmp_path, capsys):
    """The page's name, printed last (for a script to read), was printed raw: a name
    with an escape sequence or a carriage return reached the terminal as one."""
    name = "\x1b[2J\rpage\u202e.html"
    assert explain(root, "--out", str(tmp_path / name), "--", "/bin/true") == 0
    assert (tmp_path / name).is_file()
    assert capsys.readouterr().out == f"{tmp_path}/\\x1b[2J\\x0dpage\\u202e.html\n"
