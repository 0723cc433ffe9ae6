"""roads explain as a learner tried it on ordinary programs of their own: a script whose
interpreter is not there, a program whose child runs a program of its own, a C++
function named as it is written, a small library opened with dlopen."""

from __future__ import annotations

import json
import re

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
