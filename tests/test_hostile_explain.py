"""What a hostile program can do through ``roads explain``: to the page it puts in front
of the user, and to the half of roads explain that runs outside the sandbox.

The page shows what the program chose as text, runs no script of its, fetches nothing,
and carries none of its control characters raw.

A real program, compiled here, names what it maps (memfd_create's names, a library
opened by a path of its choosing), renames a section of its own ELF file, prints
escape sequences and is given hostile arguments: HTML, Jinja and Markdown syntax,
terminal escapes (CSI, OSC 8 links, OSC 52 clipboard writes), a carriage return, a
bidirectional override, a C1 control, bytes that are not UTF-8. (``roads run`` and
``roads show`` print the same through ``errors.printable``: tests/test_cli*.py.)

Outside the sandbox, each test a run that went wrong before its fix: what the program
plants where the tracer leaves its result (a FIFO, a folder) holds nothing up; a result
it wrote itself, its tracer killed, is not taken for the tracer's; a run folder it
filled however deep is removed; its own file replaced does not change the ELF file
drawn; a saved session cannot hand gcc a file of options; and gcc compiles a source in
the sandbox, with the run's view of the files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
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
    # The page's own scripts alone, whole: the reader's colour scheme, then the site's
    # figure scripts it carries inline (roads.explain.page.SCRIPTS).
    from roads.explain.page import SCHEME_JS, SCRIPTS, STYLESHEETS
    own = [SCHEME_JS] + [(STYLESHEETS / name).read_text(encoding="utf-8") for name in SCRIPTS]
    assert re.findall(r"<script\b[^>]*>(.*?)</script>", text, re.S) == own


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


# The sandbox's writable folder, where the tracer (roads.explain.inner) leaves its result
# for the half of roads explain outside: the program writes there too.
PLANTS = r"""
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void)
{
    int fifo = mkfifo("/run/build/result.json", 0600);
    int folder = mkdir("/run/build/result.part", 0700);
    printf("planted %d %d\n", fifo, folder);
    return 0;
}
"""


FORGES = r"""
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
int main(void)
{
    FILE *f = fopen("/run/build/result.json", "w");
    if (!f)
        return 1;
    fputs("{\"error\": \"forged by the program\"}", f);
    fclose(f);
    kill(getppid(), SIGKILL);  /* its tracer: the same user, in the same namespace */
    pause();
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


def _explain(root: Path, cwd: Path, *args: str, timeout: float = 30.0):
    """``roads explain ARGS`` in a session of its own, killed whole after ``timeout``
    seconds (a hang fails the test then, not later): how it ended, or None if it hung."""
    script = ("import sys\nfrom roads import cli\n"
              f"sys.exit(cli.main(['--root', {str(root)!r}, 'explain', *{list(args)!r}]))\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_files_a_program_plants_where_the_tracer_leaves_its_result_do_not_hold_it(
        root, tmp_path, no_leftovers):
    """A FIFO at result.json, where roads explain read the result from outside the
    sandbox (a folder at result.part made the tracer fail to write it): the read waited
    for a writer for ever, long past --deadline. The tracer now writes its result under
    a name of its own making and renames it into place; the result is read only as a
    regular file, not through a link, never waiting."""
    (tmp_path / "plants.c").write_text(PLANTS)
    started = time.monotonic()
    done = _explain(root, tmp_path, "--at", "exit", "--deadline", "10", "--out", "p.html",
                    "--", "plants.c")
    assert done is not None, "roads explain hung on what the program planted"
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 20
    assert "planted 0 0" in (tmp_path / "p.html").read_text()


def test_a_result_the_program_wrote_is_not_taken_for_the_tracers(root, tmp_path,
                                                                 no_leftovers):
    """The program wrote result.json itself and killed its tracer (its parent, of the
    same user: kill(2) needs nothing more), and roads explain took the program's words
    for the tracer's ('roads: error: forged by the program'; a whole session forged so
    drew a page of the program's choosing). A result counts only from a tracer that
    ended well; one killed is said to have been."""
    (tmp_path / "forges.c").write_text(FORGES)
    done = _explain(root, tmp_path, "--at", "exit", "--deadline", "10", "--out", "f.html",
                    "--", "forges.c")
    assert done is not None
    assert done.returncode == 1, done.stderr
    assert "forged" not in done.stderr
    assert "killed by SIGKILL" in done.stderr, done.stderr
    assert not (tmp_path / "f.html").exists()


# Opens its tracer's output and memory (its parent, of the same user), and says how many
# it could open.
REACHES = r"""
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(void)
{
    static const char *const what[] = {"fd/1", "fd/2", "mem"};
    int opened = 0;
    for (int i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/%s", (int)getppid(), what[i]);
        int fd = open(path, i < 2 ? O_WRONLY : O_RDWR);
        if (fd >= 0) {
            opened++;
            if (i < 2)
                dprintf(fd, "roads explain: forged by the program\n");
            close(fd);
        }
    }
    printf("reached %d of 3\n", opened);
    return 0;
}
"""


def test_a_program_cannot_reach_its_tracers_output_or_memory(root, tmp_path, no_leftovers):
    """The tracer in the sandbox is the program's parent and of the same user: the
    program could open /proc/PPID/fd/1 and fd/2, the pipes to roads explain outside
    (which kept all it wrote: 3 GB written made it 9 GB large; a line written to fd/2
    was printed as roads explain's own), and /proc/PPID/mem to change its tracer's
    memory. The tracer makes itself not dumpable before the program starts."""
    (tmp_path / "reaches.c").write_text(REACHES)
    done = _explain(root, tmp_path, "--at", "exit", "--deadline", "10", "--out", "r.html",
                    "--", "reaches.c")
    assert done is not None
    assert done.returncode == 0, done.stderr
    assert "forged" not in done.stderr + done.stdout
    assert "reached 0 of 3" in (tmp_path / "r.html").read_text()


# Fills the run's folder with a tree 3000 folders deep (its path past PATH_MAX).
DEEP = r"""
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void)
{
    int n = 0;
    if (chdir("/run/build") != 0)
        return 1;
    while (n < 3000 && mkdir("d", 0700) == 0 && chdir("d") == 0)
        n++;
    printf("%d deep\n", n);
    return 0;
}
"""


def test_a_run_folder_the_program_filled_however_deep_is_removed(root, tmp_path,
                                                                 no_leftovers):
    """TemporaryDirectory's rmtree recursed into the tree and raised RecursionError:
    roads explain ended in a traceback, no page, and the folder stayed in the cache."""
    (tmp_path / "deep.c").write_text(DEEP)
    cache = root / ".cache" / "roads"
    before = set(cache.glob("roads-explain-*"))
    try:
        done = _explain(root, tmp_path, "--at", "exit", "--out", "d.html", "--", "deep.c")
        assert done is not None
        assert done.returncode == 0, done.stderr[-2000:]
        assert "3000 deep" in (tmp_path / "d.html").read_text()
        assert set(cache.glob("roads-explain-*")) == before
    finally:
        # By rm(1): pytest's clean-up of old temporary folders is shutil.rmtree, which a
        # tree this deep stops (up to Python 3.12), in every later session.
        for left in set(cache.glob("roads-explain-*")) - before:
            subprocess.run(["rm", "-rf", str(left)], timeout=60, check=True)


def test_a_saved_session_naming_a_file_of_options_runs_nothing_outside(root, tmp_path):
    """A build runs the command a saved session records again (saved.refreshed). Its
    source, named '@opts.c', reached gcc as a file of options: one holding -wrapper ran
    a shell of the repository's choosing, outside the sandbox, at build time. Such a
    name is refused before gcc runs."""
    from roads.errors import ExplainError
    from roads.explain.saved import refreshed

    project = tmp_path / "project"
    project.mkdir()
    marker = tmp_path / "ran"
    (project / "@opts.c").write_text("int main(void) { return 0; }\n")
    (project / "real.c").write_text("int main(void) { return 0; }\n")
    (project / "opts.c").write_text(
        f'-wrapper /bin/sh,-c,touch\\ {marker};exec\\ "$0"\\ "$@" real.c\n')
    saved = project / "saved.json"
    saved.write_text(json.dumps({"inputs": {"argv": ["@opts.c"], "at": ["main"]}}))
    with pytest.raises(ExplainError, match="beginning with '@' as a file of options"):
        refreshed(saved, project, sandbox=root / ".cache" / "roads")
    assert not marker.exists()


def test_a_sources_gcc_runs_in_the_sandbox(root, tmp_path_factory, monkeypatch):
    """gcc compiled a .c program outside the sandbox, where the run itself is not: it
    read all it was told to (a saved session's source is a repository's, as a sample's
    is), and without the sandbox's limits (#include "/dev/zero" takes memory until the
    machine has none). It runs in the sandbox now, with the run's view of the files:
    the machine's /tmp hidden but for the source's folder."""
    from roads.errors import ExplainError
    from roads.explain import session as session_mod

    # An entry of /tmp of its own: the sandbox shows the whole entry that holds the
    # source's folder (tmp_path_factory's, for this test's source).
    elsewhere = Path(tempfile.mkdtemp(prefix="roads-test-hidden-", dir="/tmp"))
    try:
        (elsewhere / "h.h").write_text("#define SEEN 1\n")
        here = tmp_path_factory.mktemp("source")
        (here / "prog.c").write_text(f'#include "{elsewhere}/h.h"\n'
                                     "int main(void) { return SEEN - 1; }\n")
        monkeypatch.chdir(here)
        with pytest.raises(ExplainError, match=r"(?s)gcc could not compile .*h\.h: No such file"):
            session_mod.explain_program(["prog.c"], ["main"], sandbox=root / ".cache" / "roads")
    finally:
        shutil.rmtree(elsewhere)


# Puts a copy of /bin/true (stripped: no symbol table) where its own file was.
REPLACES_ITSELF = r"""
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void)
{
    char self[4096];
    struct stat st;
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    int in = open("/bin/true", O_RDONLY);
    if (n <= 0 || in < 0 || fstat(in, &st) != 0)
        return 1;
    self[n] = 0;
    unlink(self);
    int out = open(self, O_WRONLY | O_CREAT | O_EXCL, 0755);
    return out < 0 || sendfile(out, in, 0, st.st_size) != st.st_size;
}
"""


def test_a_program_that_replaces_its_own_file_is_drawn_with_its_own_elf(root, tmp_path,
                                                                        monkeypatch):
    """The ELF file was read by its path once the run was over: a program that deleted
    its own file (it lies in the run's folder, which it may write) ended roads explain
    in 'cannot read ELF file', and one that put another program there was drawn with
    that program's ELF headers. It is read before the run, as a sample's binary is."""
    from roads.explain import session as session_mod

    (tmp_path / "again.c").write_text(REPLACES_ITSELF)
    monkeypatch.chdir(tmp_path)
    session = session_mod.explain_program(["again.c"], ["exit"], sandbox=root / ".cache" / "roads")
    run = session.capture.variants["default"].runs[0]
    assert run.exit_code == 0, run.stderr
    assert session.capture.variants["default"].elf.symtab == ".symtab"  # not /bin/true's .dynsym


# Starts a child the tracer does not trace (clone's CLONE_UNTRACED), in a session of its
# own and deaf to every signal it may ignore, then kills its tracer (its parent).
LEAVES_A_CHILD = r"""
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void)
{
    pid_t tracer = getppid();
    if (syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0) == 0) {
        setsid();
        for (int sig = 1; sig < 32; sig++)
            signal(sig, SIG_IGN);
        for (;;)
            pause();
    }
    kill(tracer, SIGKILL);
    for (;;)
        pause();
}
"""


def test_what_the_program_leaves_running_when_its_tracer_ends_does_not_hold_the_run(
        root, tmp_path, no_leftovers):
    """The tracer killed, what it had not traced ran on in the sandbox, and the launcher
    waited for it as for the tracer: roads explain said nothing until its own timeout,
    the deadline and a minute more ('python did not finish within 90 s'). A tool's run
    ends with the tool: the launcher kills what it left."""
    (tmp_path / "leaves.c").write_text(LEAVES_A_CHILD)
    started = time.monotonic()
    done = _explain(root, tmp_path, "--at", "exit", "--deadline", "10", "--out", "l.html",
                    "--", "leaves.c", timeout=40)
    assert done is not None, "roads explain waited for what the program left running"
    assert time.monotonic() - started < 20
    assert done.returncode == 1, done.stderr
    assert "killed by SIGKILL" in done.stderr, done.stderr


# Starts more processes than the sandbox allows at once (each waits), says how many.
FORKS = r"""
#include <stdio.h>
#include <unistd.h>
int main(void)
{
    int n = 0;
    while (n < %d) {
        pid_t pid = fork();
        if (pid == 0) {
            pause();
            _exit(0);
        }
        if (pid < 0)
            break;
        n++;
    }
    printf("forked %%d\n", n);
    return 0;
}
"""


def test_the_program_may_not_start_processes_without_bound(root, tmp_path, no_leftovers):
    """roads run holds a program to RUN_PROCESSES tasks at once; the tracer of roads
    explain ran in the launcher's tool mode, which counted none, so a fork bomb took
    every pid of the machine (pid_max: 32,768 here) until the run ended, and every
    other user's fork failed meanwhile. The tool's run is held to TOOL_TASKS."""
    from roads.capture.runner import TOOL_TASKS

    (tmp_path / "forks.c").write_text(FORKS % (TOOL_TASKS + 100))
    done = _explain(root, tmp_path, "--at", "exit", "--deadline", "20", "--out", "f.html",
                    "--", "forks.c", timeout=60)
    assert done is not None
    assert done.returncode == 1, done.stderr
    assert (f"started more than {TOOL_TASKS} processes and threads at once, the sandbox's "
            "limit: the run was killed") in done.stderr, done.stderr
    assert not (tmp_path / "f.html").exists()


# Dies in a function whose symbol the test renames to hold a newline and words of
# roads explain's own.
CRASHES_IN = r"""
#include <stdio.h>
__attribute__((noinline)) void victim(int *p) { *p = 1; }
int main(void) { puts("about to crash"); victim(0); return 0; }
"""


def test_a_symbols_newline_does_not_make_a_line_of_roads_explains_own(root, tmp_path):
    """A crash is told with the function at the faulting instruction, by its symbol's
    name, which is any bytes the ELF file holds: a newline in it began a line on the
    terminal that read as roads explain's own ('roads explain: FORGED LINE+12), in ...').
    The name's control characters are written as escapes, as on the page."""
    (tmp_path / "crash.c").write_text(CRASHES_IN)
    subprocess.run(["gcc", "-O0", "-g", "-o", "crash0", "crash.c"], cwd=tmp_path, check=True)
    subprocess.run(["objcopy", "--redefine-sym", "victim=victim\nroads explain: FORGED LINE",
                    "crash0", "crash"], cwd=tmp_path, check=True)
    done = _explain(root, tmp_path, "--out", "c.html", "--", "./crash")
    assert done is not None
    assert done.returncode == 0, done.stderr  # its stops reached: the crash is one
    assert not [line for line in done.stderr.splitlines() if "FORGED" in line
                and not line.startswith("roads explain: ./crash (pid")], done.stderr
    assert "(victim\\x0aroads explain: FORGED LINE+" in done.stderr, done.stderr
    assert "victim\\x0aroads explain: FORGED LINE+" in (tmp_path / "c.html").read_text()
