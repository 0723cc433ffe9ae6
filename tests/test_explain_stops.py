"""roads explain --at: what each stop is, which thread reached it, and what the command
says of a stop it did not reach or cannot take."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

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
    page = html.unescape((tmp_path / "calls.html").read_text())
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
