"""roads explain as a learner tried it on ordinary programs of their own: a script whose
interpreter is not there, a program whose child runs a program of its own, a C++
function named as it is written, a small library opened with dlopen."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.test_explain import explain, root  # noqa: F401 - root is a fixture
from tests.explain_support import build


GENERATIONS = r"""
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t child = fork();
    if (child == 0) {
        pid_t grandchild = fork();
        if (grandchild == 0)
            return 2;
        waitpid(grandchild, 0, 0);
        return 1;
    }
    waitpid(child, 0, 0);
    return 0;
}
"""


@pytest.mark.gcc
def test_each_process_keeps_one_role_across_its_stops(root, gcc, tmp_path, monkeypatch,
                                                       no_leftovers):
    """With --follow-fork, a child that forks in its turn (system() does, running sh,
    which runs the command) was "the child" at a stop it alone reached and "the parent"
    at the exit all three reached, beside the program itself, "the parent" too. Each
    process is named by its place in the run's tree, at every stop."""
    build(tmp_path, "gens", GENERATIONS)
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--no-sandbox", "--follow-fork", "--at", "fork:2", "--at", "exit",
                   "--out", "p.html", "--save", "p.json", "--", "./gens") == 0
    run = json.loads((tmp_path / "p.json").read_text())["capture"]["variants"]["default"][
        "runs"][0]
    program = run["pid"]
    child = next(p["pid"] for p in run["processes"] if p["ppid"] == program)
    grandchild = next(p["pid"] for p in run["processes"] if p["ppid"] == child)
    page = (tmp_path / "p.html").read_text()
    stops = re.search(r"<dt>Stops</dt><dd>(.*?)</dd>", page)[1]
    assert stops.split(" → ") == [
        f"fork:2 (the child, pid {child})", f"exit (the grandchild, pid {grandchild})",
        f"exit (the child, pid {child})", f"exit (the parent, pid {program})"], stops
    assert "stop &#x27;exit&#x27; in the grandchild" in page  # a figure's caption


TWO_CHILDREN = r"""
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    for (int i = 0; i < 2; i++)
        if (fork() == 0)
            return i;
    while (wait(0) > 0)
        ;
    return 0;
}
"""


@pytest.mark.gcc
def test_two_children_at_one_stop_give_figures_of_their_own_ids(root, gcc, tmp_path,
                                                                 monkeypatch, no_leftovers):
    """Two children reach --at exit, each the child: their figures took one id, made of
    the stop and the role, so the page held each id twice (an arrow's marker, a
    figure's description for a screen reader, found in the other child's figure)."""
    build(tmp_path, "twokids", TWO_CHILDREN)
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--no-sandbox", "--follow-fork", "--at", "exit", "--out", "p.html",
                   "--", "./twokids") == 0
    ids = re.findall(r'\bid="([^"]+)"', (tmp_path / "p.html").read_text())
    twice = sorted({i for i in ids if ids.count(i) > 1})
    assert not twice, twice[:5]


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
    struct timespec t = {0, 300000000};
    pid_t child = fork();
    if (child == 0) {
        nanosleep(&t, 0);
        _exit(0);
    }
    pid_t waited = waitpid(child, 0, 0);
    int slept = nanosleep(&t, 0);
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
    assert explain(root, "--no-sandbox", "--at", "0.1s", "--at", "syscall:wait4", "--at",
                   "0.45s", "--at", "syscall:clock_nanosleep", "--out", "p.html", "--save",
                   "p.json", "--", "./waits") == 0
    saved = json.loads((tmp_path / "p.json").read_text())
    run = saved["capture"]["variants"]["default"]["runs"][0]
    child = next(p["pid"] for p in run["processes"] if p["pid"] != run["pid"]) \
        if len(run["processes"]) > 1 else None
    assert saved["returned"]["syscall:clock_nanosleep"]["value"] == 0, saved["returned"]
    assert saved["returned"]["syscall:wait4"]["value"] > 0, saved["returned"]
    assert child is None or saved["returned"]["syscall:wait4"]["value"] == child
    order = [c["name"] for c in sorted(run["checkpoints"], key=lambda c: c["seq"])]
    assert order == ["0.1s", "syscall:wait4", "0.45s", "syscall:clock_nanosleep"], order
    assert "ERESTART" not in capsys.readouterr().err
