"""roads explain --at: what each stop is, which thread reached it, and what the command
says of a stop it did not reach or cannot take.

Where roads explain stops, as --at names it, each test a run that went wrong before
its fix: the program's entry point (--at _start, of a -no-pie or a -static program), a
C++ function by the name it has in the source (and a name several functions share,
refused with their symbols), a delay that the deadline comes before (refused before the
run), and a system call that a delay's stop cut short (--at syscall:NAME stops at the
call's own return, not where the delay's signal interrupted it)."""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.explain_support import build, page_text
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.dot]

# Eight threads released together call target() three times each; each then prints its
# id and the address of a variable on its own stack.
RACE = r"""
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
static pthread_barrier_t start;
__attribute__((noinline)) int target(int x) { return x * 2; }
static void *work(void *arg) {
    pthread_barrier_wait(&start);
    int sum = 0;
    for (int i = 0; i < 3; i++)
        sum += target(i);
    int local = sum;
    printf("tid %ld local %p\n", (long)syscall(SYS_gettid), (void *)&local);
    return arg;
}
int main(void) {
    pthread_t t[8];
    pthread_barrier_init(&start, NULL, 8);
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, work, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    return 0;
}
"""


def _region_of(address: int, regions: list[dict]) -> dict:
    return next(r for r in regions if r["start"] <= address < r["end"])


def test_a_function_stop_names_the_thread_that_reached_it(root, tmp_path, monkeypatch, capsys,
                                                          no_leftovers):
    """Several threads call target(): the stop is the thread's that got there first, its
    pc and sp drawn; the progress line, the page's titles and the saved session name
    that thread (they said 'pid 3' alone, the main thread's id, which was waiting in
    pthread_join far from target)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "race.c").write_text(RACE)
    # Run to its exit, which prints the threads' stacks.
    assert explain(root, "--at", "target:5", "--at", "exit", "--out", "race.html", "--save",
                   "race.json", "--", "race.c") == 0
    err = capsys.readouterr().err
    said = re.search(r"stopped at target:5 \(pid (\d+), thread (\d+)\)", err)
    assert said, err
    pid, tid = int(said[1]), int(said[2])
    data = json.loads((tmp_path / "race.json").read_text())
    run = data["capture"]["variants"]["default"]["runs"][0]
    point = next(c for c in run["checkpoints"] if c["name"] == "target:5")
    assert data["threads"] == {str(point["seq"]): tid}
    # The thread named is the one whose stack the stop's sp lies in: that thread's own
    # variable (its address printed by the program) lies in the same region.
    printed = dict(re.findall(r"tid (\d+) local (0x[0-9a-f]+)", run["stdout"]))
    assert len(printed) == 8 and str(pid) not in printed, run["stdout"]
    sp = next(a["value"] for a in point["addresses"] if a["name"] == "sp")
    assert _region_of(sp, point["regions"]) == _region_of(int(printed[str(tid)], 16),
                                                          point["regions"])
    page = (tmp_path / "race.html").read_text()
    assert f"Stop 1: target:5 (pid {pid}, thread {tid})" in page


COUNTED = r"""
#include <unistd.h>
__attribute__((noinline)) int target(int x) { return x + 1; }
int main(void) {
    int sum = getpid() > 0;
    sum += getpid() > 0;
    for (int i = 0; i < 3; i++)
        sum += target(i);
    return sum == 8 ? 0 : 1;
}
"""


def test_a_count_not_reached_says_how_many_calls_there_were(root, tmp_path, monkeypatch,
                                                           capsys, no_leftovers):
    """--at target:5 of a function called 3 times, getpid's fourth return of 2, and
    exit:2, which reads as a process's exit but is the C library's function exit(),
    called once: the command says what exit:2 is before the run, and each stop not
    reached says how many calls the program made (it said only 'before reaching
    exit:2', nothing of the function nor of the count)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "counted.c").write_text(COUNTED)
    assert explain(root, "--at", "main", "--at", "target:5", "--at", "syscall:getpid:4",
                   "--at", "exit:2", "--out", "counted.html", "--", "counted.c") == 3
    err = capsys.readouterr().err
    lines = err.splitlines()
    told = next(k for k, line in enumerate(lines) if "--at exit:2 counts the calls of the C "
                "library's function exit()" in line and "--at exit, without a count" in line)
    assert told < next(k for k, line in enumerate(lines) if "stopped at main" in line), err
    reasons = ("target:5 (target was called 3 times)",
               "syscall:getpid:4 (the system call getpid returned 2 times)",
               "exit:2 (the C library's function exit() was called once)")
    closing = lines[-1]
    assert "exited with status 0 before reaching" in closing, err
    assert all(reason in closing for reason in reasons), closing
    page = (tmp_path / "counted.html").read_text()
    assert all(html.escape(reason) in page for reason in reasons)


@pytest.mark.parametrize("given, words", [
    (["--at", "-1s"], "--at -1s: a delay counts from the program's start, and cannot be "
                      "negative"),
    (["--at=-1s"], "--at -1s: a delay counts from the program's start, and cannot be negative"),
    (["--at", "-200ms"], "--at -200ms: a delay counts from the program's start"),
    (["--at", "1.5"], "--at 1.5: a delay needs its unit, 1.5s or 1.5ms"),
])
def test_a_delay_that_is_no_delay_is_refused_with_its_reason(root, tmp_path, monkeypatch,
                                                             capsys, given, words):
    """--at -1s ended in argparse's 'argument --at: expected one argument', as if none had
    been given (a value beginning with '-' was read as an option), and --at=-1s or a
    delay without its unit in 'give main, FUNC, ...', which said nothing of why."""
    monkeypatch.chdir(tmp_path)
    assert explain(root, *given, "--", "/bin/true") in (1, 2)
    err = capsys.readouterr().err
    assert f"roads: error: {words}" in err, err
    assert "expected one argument" not in err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("where, wrong", [
    ("main@", "no version after its @"),
    ("main@@", "no version after its @"),
    ("malloc@GLIBC_2.2.5@x", "more than one @"),
])
def test_a_version_that_names_none_is_refused(root, tmp_path, monkeypatch, capsys, where, wrong):
    """--at main@ (and main@@) named no version, and was stopped at as main, its page
    titled 'main@'; a@b@c was looked up as one name. Each is refused before the run."""
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--at", where, "--", "/bin/true") == 1
    assert capsys.readouterr().err == (
        f"roads: error: --at {where}: {wrong}: FUNC@VERSION names a version "
        "(memcpy@GLIBC_2.2.5), FUNC@@VERSION the default one\n")
    assert not list(tmp_path.iterdir())


OPERATOR = ("a C++ operator, destructor or template's instance is named by its mangled "
            "symbol, as nm lists it (nm -C names each C++ function at the address of its "
            "symbol)")


@pytest.mark.parametrize("where, words", [
    ("operator new", f"--at 'operator new': {OPERATOR}"),
    ("Sq::operator+", f"--at Sq::operator+: {OPERATOR}"),
    ("Sq::~Sq", f"--at 'Sq::~Sq': {OPERATOR}"),
    ("geo::twice<int>(int)", f"--at 'geo::twice<int>(int)': {OPERATOR}"),
    ("twice<int>", f"--at 'twice<int>': {OPERATOR}; a function template outside any "
                   "namespace or class is found by its name alone (--at twice)"),
    ("geo::Sq::area() const", "--at 'geo::Sq::area() const': a function is named without "
                              "its parameters: --at geo::Sq::area (where several have that "
                              "name, the command lists their symbols to choose from)"),
])
def test_a_cxx_name_written_as_nm_c_writes_it_gets_the_rule(root, tmp_path, monkeypatch,
                                                           capsys, where, words):
    """A C++ function as gdb or nm -C writes it (an operator's name, a destructor's, a
    template's arguments, the parameters) was refused as no stop at all ('give main,
    FUNC, ...'), which said nothing of how to name it (a learner's --at 'operator
    new'). Each is refused before the run with the rule, and the name to give where
    there is one."""
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--at", where, "--", "/bin/true") == 1
    assert capsys.readouterr().err == f"roads: error: {words}\n"
    assert not list(tmp_path.iterdir())


# Identifiers beyond ASCII, which gcc takes as they are (C23 and C++ allow them).
ACCENTED = "int café(int x) { return x + 1; }\nint été(int x) { return 2 * x; }\n" \
           "int main(void) { return café(1) + été(2) - 6; }\n"


def test_a_function_named_with_letters_beyond_ascii_is_a_function(tmp_path, no_leftovers):
    """--at été (a function of that name, which gcc compiles) was refused as no stop at
    all ('give main, FUNC, ...'): a name had to begin with an ASCII letter."""
    from roads.explain.trace import Tracer, parse_stop

    program = build(tmp_path, "accented", ACCENTED)
    assert parse_stop("été").name == "été" and parse_stop("été:2").count == 2
    outcome = Tracer([str(program)], [parse_stop("été"), parse_stop("café")],
                     on_stop=lambda hit: None, deadline=20).run()
    assert sorted(outcome.reached) == ["café", "été"]


def test_a_stop_that_is_none_is_quoted_as_a_shell_reads_it(root, tmp_path, monkeypatch, capsys):
    """An --at holding a byte that is not UTF-8 was shown by Python's repr, '\\udcc3',
    which is neither the byte nor anything to type; it is quoted as the page quotes a
    command line, $'caf\\xc3'."""
    import os

    monkeypatch.chdir(tmp_path)
    assert explain(root, "--at", os.fsdecode(b"caf\xc3"), "--", "/bin/true") == 1
    assert capsys.readouterr().err == (
        "roads: error: --at $'caf\\xc3': give main, FUNC, FUNC:N, syscall:NAME[:N], exit or "
        "a delay such as 0.5s\n")


def test_a_delay_may_begin_with_its_decimal_point(root, tmp_path, monkeypatch, capsys,
                                                  no_leftovers):
    """--at .05s is a delay, as --deadline .5 is a number of seconds (it was refused)."""
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--at", ".05s", "--out", "sleep.html", "--", "/bin/sleep", "1") == 0
    assert "stopped at .05s (pid" in capsys.readouterr().err


CALLS = r"""
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
extern char **environ;
int main(void) {
    struct stat st;
    int fds[2];
    struct timespec pause = {0, 1000};
    int fd = open("/dev/null", O_RDONLY);
    stat("/dev/null", &st);
    pipe(fds);
    nanosleep(&pause, NULL);
    pid_t child;
    char *argv[] = {"true", NULL};
    posix_spawn(&child, "/bin/true", NULL, NULL, argv, environ);
    waitpid(child, NULL, 0);
    return fd < 0;
}
"""


def test_a_system_call_the_c_library_makes_with_another_says_which(root, tmp_path, monkeypatch,
                                                                   capsys, no_leftovers):
    """open(), stat(), pipe() and nanosleep() make openat, newfstatat, pipe2 and
    clock_nanosleep here, and waitpid() wait4: --at syscall:open and the others were
    never reached, with no word of why but for fork, and that word only where no page
    was written; and a program that calls posix_spawn was told that vfork() makes
    clone, which it does not (it makes vfork). Each is said, on the page too, and the
    stop it names is reached."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "calls.c").write_text(CALLS)
    named = {"open": "openat", "stat": "newfstatat", "pipe": "pipe2",
             "nanosleep": "clock_nanosleep"}
    wheres = [a for name in named for a in ("--at", f"syscall:{name}")]
    assert explain(root, "--at", "main", *wheres, "--at", "syscall:vfork", "--at", "exit",
                   "--out", "calls.html", "--", "calls.c") == 3
    closing = capsys.readouterr().err.splitlines()[-1]
    page = page_text((tmp_path / "calls.html").read_text())
    for name, other in named.items():
        words = (f"syscall:{name} (the C library's {name}() makes the {other} system call: "
                 f"--at syscall:{other})")
        assert words in closing and words in page, (words, closing)
    assert "syscall:vfork (the system call" not in closing and "makes the clone" not in closing
    assert explain(root, "--at", "syscall:wait", "--", "calls.c") == 1
    assert capsys.readouterr().err == (
        "roads: error: --at syscall:wait: no system call 'wait' on x86-64; the C library's "
        "wait() makes the wait4 system call: --at syscall:wait4\n")
    # What the words say is so: each stop they name is reached.
    instead = [a for other in [*named.values(), "wait4"] for a in ("--at", f"syscall:{other}")]
    assert explain(root, *instead, "--out", "instead.html", "--", "calls.c") == 0


@pytest.mark.parametrize("first, second", [("main", "main:1"), ("0.3s", "300ms"),
                                           ("syscall:brk", "syscall:brk:1")])
def test_one_stop_written_two_ways_is_refused(root, tmp_path, monkeypatch, capsys, first,
                                              second):
    """--at main --at main:1 made a page of two stops, the same one twice, and a diff of
    nothing between them: 'the same --at twice' compared the words, not the stops."""
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--at", first, "--at", second, "--", "/bin/true") == 1
    assert capsys.readouterr().err == (f"roads: error: --at {first} and --at {second} are the "
                                       "same stop: give it once\n")
    assert not list(tmp_path.iterdir())


HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'


def _checkpoints(saved: Path) -> list[dict]:
    return json.loads(saved.read_text())["capture"]["variants"]["default"]["runs"][0][
        "checkpoints"]


@pytest.mark.gcc
@pytest.mark.parametrize("flags", [(), ("-static",)])
def test_a_stop_at_the_entry_point_is_reached(root, gcc, tmp_path, monkeypatch, no_leftovers,
                                              flags):
    """--at _start stops at the program's first instruction (e_entry, no bias: -no-pie
    or -static). The function stops were set at the entry point itself, after it was
    reached: _start was said never to be reached ('exited with status 0 before
    reaching _start')."""
    program = build(tmp_path, "hello", HELLO, "-no-pie", *flags)
    entry = struct.unpack_from("<Q", program.read_bytes(), 24)[0]  # e_entry
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--no-sandbox", "--at", "_start", "--at", "main", "--out", "p.html",
                   "--save", "p.json", "--", "./hello") == 0
    stops = _checkpoints(tmp_path / "p.json")
    assert [c["name"] for c in stops] == ["_start", "main"]
    assert {a["name"]: a["value"] for a in stops[0]["addresses"]}["pc"] == entry


CXX = r"""
#include <stdexcept>
namespace shapes { int area(int side) { return side * side; } }
int area(int w, int h) { return w * h; }
int thrower(int n) { if (n > 2) throw std::runtime_error("big"); return n; }
int main() {
    int total = 0;
    for (int i = 0; i < 4; i++)
        try { total += thrower(i); } catch (const std::exception &) {}
    return shapes::area(total) + area(1, 2) > 0 ? 0 : 1;
}
"""


@pytest.fixture
def cxx_program(tmp_path):
    if shutil.which("g++") is None:
        pytest.skip("no g++")
    (tmp_path / "shapes.cpp").write_text(CXX)
    subprocess.run(["g++", "-O0", "-o", str(tmp_path / "shapes"), str(tmp_path / "shapes.cpp")],
                   check=True, timeout=60)
    symbols = subprocess.run(["nm", str(tmp_path / "shapes")], check=True, timeout=30,
                             capture_output=True, text=True).stdout
    return {name: int(value, 16) for value, _, name in
            (line.split() for line in symbols.splitlines() if len(line.split()) == 3)}


@pytest.mark.gcc
@pytest.mark.parametrize("where, symbol", [("thrower:3", "_Z7throweri"),
                                           ("shapes::area", "_ZN6shapes4areaEi")])
def test_a_cpp_function_is_stopped_at_by_the_name_it_has_in_the_source(
        root, cxx_program, tmp_path, monkeypatch, capsys, no_leftovers, where, symbol):
    """A C++ function is known to the linker by its mangled name (_Z7throweri): --at
    thrower said there was 'no function thrower' in a program that has one, and --at
    shapes::area was refused as no name at all. The one function of that name is
    stopped at, at the address nm gives its symbol, and the command says which."""
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--no-sandbox", "--at", where, "--out", "p.html", "--save", "p.json",
                   "--", "./shapes") == 0
    assert f"--at {where}: the C++ function {symbol}" in capsys.readouterr().err
    point, = json.loads((tmp_path / "p.json").read_text())["capture"]["variants"]["default"][
        "runs"][0]["checkpoints"]
    bias = min(r["start"] for r in point["regions"] if r["pathname"].endswith("/shapes"))
    assert point["name"] == where
    assert dict((a["name"], a["value"]) for a in point["addresses"])["pc"] == \
        bias + cxx_program[symbol]


@pytest.mark.gcc
def test_a_cpp_name_of_several_functions_is_refused_with_their_symbols(
        root, cxx_program, tmp_path, monkeypatch, capsys, no_leftovers):
    """Two functions are called area (shapes::area and an overload of its own): the
    command names both, for the learner to choose, and ends the run there. A name it
    cannot read from a symbol (a template's) is said to be named by its symbol."""
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--no-sandbox", "--at", "area", "--", "./shapes") == 1
    err = capsys.readouterr().err
    assert ("--at area: 2 C++ functions in ./shapes are called area: _Z4areaii, "
            "_ZN6shapes4areaEi; name one by its symbol") in err, err
    assert explain(root, "--no-sandbox", "--at", "what", "--", "./shapes") == 1
    assert "C++ functions in libstdc++.so.6" in capsys.readouterr().err
    assert explain(root, "--no-sandbox", "--at", "runtime_error", "--", "./shapes") == 1
    assert ("it is C++, whose functions the linker knows by their mangled names: one of a "
            "template, a constructor or an operator is named so, as nm lists it"
            ) in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shapes", "shapes.cpp"]


@pytest.mark.parametrize("wheres, then", [
    (["exit"], ": a later --deadline (at most 110 s) helps only if that wait ends by then"),
    (["main", "exit"], "; the stops it reached (main) get no page from a run the deadline "
                       "cuts short: a later --deadline (at most 110 s) helps only if that "
                       "wait ends by then, or leave out the stops it does not reach"),
], ids=["none reached", "main reached"])
def test_a_run_the_deadline_cuts_short_says_what_to_do(root, tmp_path, monkeypatch, capsys,
                                                      no_leftovers, wheres, then):
    """'/bin/sleep did not reach exit within 1 s (--deadline); it was killed' was all: a
    learner whose program reached main before it was killed did not learn that main had
    been reached and that no page is written then, nor what would give one."""
    monkeypatch.chdir(tmp_path)
    at = [word for where in wheres for word in ("--at", where)]
    assert explain(root, *at, "--deadline", "1", "--", "/bin/sleep", "30") == 1
    err = capsys.readouterr().err
    # sleep waits in the kernel, and the error says in which call.
    assert re.search(r"roads: error: /bin/sleep did not reach exit within 1 s \(--deadline\); "
                     r"it was killed while it waited in the system call (clock_)?nanosleep"
                     + re.escape(then), err), err
    # Nor did it say what shows a program that never ends.
    assert ("; a program that runs until it is stopped has no exit to wait for: a delay "
            "stop (--at 1s) shows it as it runs") in err, err
    assert not list(tmp_path.iterdir())


def test_a_program_busy_at_the_deadline_is_not_said_to_wait(root, tmp_path, monkeypatch, capsys,
                                                           no_leftovers):
    """A program that computes (a shell's loop of builtins) is not in any system call when
    the deadline kills it: it is told only to take a later deadline."""
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--at", "exit", "--deadline", "1", "--", "/bin/sh", "-c",
                   "while :; do :; done") == 1
    err = capsys.readouterr().err
    assert ("roads: error: /bin/sh did not reach exit within 1 s (--deadline); it was "
            "killed: give it a later --deadline (at most 110 s)") in err, err


def test_a_delay_the_deadline_comes_before_is_refused_before_the_run(root, tmp_path,
                                                                      monkeypatch, capsys):
    """--at 40s with the default --deadline (30 s, counted from the command's start,
    the delay from the program's) can never be reached: the learner waited for the
    deadline, then was told the program 'did not reach 40s within 30 s'."""
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--no-sandbox", "--at", "main", "--at", "3s", "--deadline", "2",
                   "--", "/bin/sleep", "5") == 1
    err = capsys.readouterr().err
    assert ("roads: error: --at 3s comes after the deadline, 2 s from the command's start "
            "(--deadline): give a later --deadline, at most 110 s") in err, err
    assert "running" not in err, err


WAITS = r"""
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    struct timespec child_sleeps = {0, 600000000}, parent_sleeps = {1, 200000000};
    pid_t child = fork();
    if (child == 0) {
        nanosleep(&child_sleeps, 0);
        _exit(0);
    }
    pid_t waited = waitpid(child, 0, 0);
    int slept = nanosleep(&parent_sleeps, 0);
    printf("%d %d\n", waited == child, slept);
    return 0;
}
"""


@pytest.mark.gcc
def test_a_delay_stop_is_no_return_of_the_call_it_cuts_short(root, gcc, tmp_path, monkeypatch,
                                                             capsys, no_leftovers):
    """A delay stop's SIGSTOP, which roads explain takes and the program never sees,
    cuts a blocking call short: the tracer sees it leave with -ERESTARTSYS (wait4) or
    -ERESTART_RESTARTBLOCK (clock_nanosleep), and the kernel runs it on, the latter as
    restart_syscall. That was counted as the call's return: --at syscall:wait4 stopped
    at the delay's moment, 'failed: ERESTARTSYS (interrupted by a signal ...)', where
    the program's call returned its child's pid, later."""
    build(tmp_path, "waits", WAITS)
    monkeypatch.chdir(tmp_path)
    # The stops come 0.5 s or more apart from the calls' returns (the wait's at 0.6 s,
    # the sleep's at 1.8 s), so that a loaded machine's slow reading of one stop does not
    # bring the next delay's moment before the return it should follow.
    assert explain(root, "--no-sandbox", "--at", "0.1s", "--at", "syscall:wait4", "--at",
                   "1.2s", "--at", "syscall:clock_nanosleep", "--out", "p.html", "--save",
                   "p.json", "--", "./waits") == 0
    saved = json.loads((tmp_path / "p.json").read_text())
    run = saved["capture"]["variants"]["default"]["runs"][0]
    child = next(p["pid"] for p in run["processes"] if p["pid"] != run["pid"]) \
        if len(run["processes"]) > 1 else None
    assert saved["returned"]["syscall:clock_nanosleep"]["value"] == 0, saved["returned"]
    assert saved["returned"]["syscall:wait4"]["value"] > 0, saved["returned"]
    assert child is None or saved["returned"]["syscall:wait4"]["value"] == child
    order = [c["name"] for c in sorted(run["checkpoints"], key=lambda c: c["seq"])]
    assert order == ["0.1s", "syscall:wait4", "1.2s", "syscall:clock_nanosleep"], order
    assert "ERESTART" not in capsys.readouterr().err


# Built -O2 -g: square(), static, is inlined and has no symbol; helper(), global, is
# inlined into main and keeps a copy of its own, which nothing calls.
OPTIMISED = r"""
#include <stdio.h>
static int square(int x) { return x * x; }
int helper(int x) { return x + 1; }
int main(int argc, char **argv) {
    int s = 0;
    for (int i = 0; i < argc + 3; i++)
        s += square(i) + helper(i);
    printf("%d\n", s);
    return 0;
}
"""


@pytest.mark.gcc
def test_a_function_the_compiler_inlined_is_said_to_be(root, gcc, tmp_path, monkeypatch, capsys,
                                                       no_leftovers):
    """A learner's program built with -O2: --at square, a function its source plainly
    has, was "no function 'square' in ./optimised", and --at helper, called four times,
    "exited with status 0 before reaching helper", with no word on why; the compiler had
    inlined both. Where the program's debugging information says so, the command does,
    with the way to stop there: -O0. Found by a learner's tour."""
    monkeypatch.chdir(tmp_path)
    build(tmp_path, "optimised", OPTIMISED, "-O2", "-g")
    assert explain(root, "--at", "square", "--", "./optimised") == 1
    err = capsys.readouterr().err
    assert "no function 'square' in ./optimised" in err
    assert ("./optimised's debugging information names a function 'square' that the "
            "compiler inlined into its callers (gcc -O1 and above, and at -O0 too for a "
            "function marked always_inline)") in err, err
    assert explain(root, "--at", "main", "--at", "helper", "--out", "optimised.html",
                   "--", "./optimised") == 3
    err = capsys.readouterr().err
    reason = ("helper (the compiler inlined its calls into their callers (gcc -O1 and above, "
              "and at -O0 too for a function marked always_inline, as the program's debugging "
              "information says), so the copy of its own that the stop was set on never ran: "
              "compile the program with -O0")
    assert "exited with status 0 before reaching " + reason in err, err
    assert reason in page_text((tmp_path / "optimised.html").read_text())
    # Without debugging information, nothing is said of inlining it cannot see.
    build(tmp_path, "optimised", OPTIMISED, "-O2")
    assert explain(root, "--at", "main", "--at", "helper", "--out", "optimised.html",
                   "--", "./optimised") == 3
    assert "inlined" not in capsys.readouterr().err


FORKS_ONCE = r"""
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, 0, 0);
    return 0;
}
"""


def test_a_count_of_a_call_that_makes_a_process_says_the_child_is_not_counted(
        root, tmp_path, monkeypatch, capsys, no_leftovers):
    """fork returns twice, yet --at syscall:clone:2 of a program that forks once, its
    child followed, was told "the system call clone returned once" (a learner's tour):
    the child's return, 0, makes no stop (a traced child starts without syscall
    tracing), and the words say so."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "forks.c").write_text(FORKS_ONCE)
    assert explain(root, "--follow-fork", "--at", "syscall:clone", "--at", "syscall:clone:2",
                   "--out", "forks.html", "--", "forks.c") == 3
    reason = ("syscall:clone:2 (the system call clone returned once in the caller; each "
              "process or thread such a call makes returns from it too, with 0, but makes no "
              "stop there, and is not counted)")
    assert reason in capsys.readouterr().err.splitlines()[-1]
    assert html.escape(reason) in (tmp_path / "forks.html").read_text()


def test_a_thread_held_in_a_stop_of_the_tracer_is_not_said_to_wait(tmp_path):
    """/proc/PID/syscall names the call a thread is stopped in at a ptrace stop of the
    tracer's (a clone or exit event, a system call's stop) as it names one it waits in:
    a program making threads at the deadline was said to have "waited in the system
    calls pause, clone3, exit", and that a later deadline helps only if that wait ends.
    A thread held so waits for roads explain, not for the call."""
    import os
    import signal
    from roads.explain import ptrace as pt
    from roads.explain.trace import Tracer

    child = os.fork()
    if child == 0:  # traced, stopped, then in pause(): held at its system call's entry
        try:
            pt.call(pt.PTRACE_TRACEME, 0)
            os.kill(os.getpid(), signal.SIGSTOP)
            signal.pause()
        finally:
            os._exit(0)
    try:
        _, status = os.waitpid(child, 0)
        assert os.WIFSTOPPED(status)
        for _ in range(200):  # to the entry of pause (34), past what Python calls first
            pt.call(pt.PTRACE_SYSCALL, child, 0, 0)
            _, status = os.waitpid(child, 0)
            if pt.get_regs(child).orig_rax == 34:
                break
        assert Path(f"/proc/{child}/syscall").read_text().split()[0] == "34"
        tracer = Tracer(["/bin/true"], [], on_stop=lambda hit: None, deadline=5)
        assert tracer._waiting_in(child) == []
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
