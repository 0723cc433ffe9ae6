"""roads explain and what a stop says of the program: the name of the program running
there after an execve, the path it was run from in the sandbox (/run/build, not the
samples' /build), ``--at _start`` of a stripped program (its ELF entry point), and the
wait of a step over a breakpoint, which has a deadline like every other wait."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.dot]


@pytest.fixture(autouse=True)
def gcc():
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")


def _saved_run(path: Path) -> tuple[dict, dict]:
    data = json.loads(path.read_text())
    return data, data["capture"]["variants"]["default"]["runs"][0]


# ---------------------------------------------------------------------------- paths

WHERE_AM_I = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char exe[4096], line[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps || !fgets(line, sizeof line, maps))
        return 1;
    printf("%s\n%s", exe, line);
    return 0;
}
"""


@pytest.mark.parametrize("sandbox", [True, False])
def test_the_program_is_named_where_it_ran(root, tmp_path, monkeypatch, no_leftovers, sandbox):
    """In the sandbox a .c program is compiled into a folder seen at /run/build and run
    there, as the program itself tells (its /proc/self/exe and the first line of its
    maps); the page and the saved session said /build/NAME, the name the samples'
    captures give their own build folder. The session, each stop and its regions name
    the program as it was run."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "whereami.c").write_text(WHERE_AM_I)
    options = () if sandbox else ("--no-sandbox",)
    assert explain(root, *options, "--at", "main", "--at", "exit", "--out", "w.html",
                   "--save", "w.json", "--", str(tmp_path / "whereami.c")) == 0
    data, run = _saved_run(tmp_path / "w.json")
    exe, first_line = run["stdout"].splitlines()
    if sandbox:
        assert exe == "/run/build/whereami"
    assert data["exe"] == exe
    for checkpoint in run["checkpoints"]:
        assert checkpoint["exe"] == exe
        own = [r for r in checkpoint["regions"] if "whereami" in r["pathname"]]
        assert own and {r["pathname"] for r in own} == {exe}
    assert first_line.split(None, 5)[5] == exe
    page = (tmp_path / "w.html").read_text()
    assert "whereami&#x27;s PT_LOAD segments" in page  # its ELF drawn against its regions
    assert "/build/whereami" not in page.replace(exe, "")
