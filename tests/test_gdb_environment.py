"""The "Run it yourself" box of a gdb sample says what gdb does to a program's
environment (roads.words.source._run_box): checked here against gdb itself.

gdb sets LINES and COLUMNS, and starts the program through ``$SHELL``
(startup-with-shell), which may add variables of its own: bash adds SHLVL, and a shell
adds PWD where the environment has none. A reader comparing a gdb run with a plain run
of the same program needs all of them: the environment's size moves the stack.
"""

from __future__ import annotations

import html
import re
import shutil

import pytest

from roads.command import run
from tests.test_source import render

pytestmark = [pytest.mark.gcc, pytest.mark.gdb]

PRINT_ENVIRONMENT = r"""
#include <stdio.h>
extern char **environ;
int main(void) { for (char **e = environ; *e; e++) puts(*e); return 0; }
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    if shutil.which("gdb") is None or shutil.which("gcc") is None:
        pytest.skip("needs gcc and gdb")
    folder = tmp_path_factory.mktemp("gdbenv")
    (folder / "env.c").write_text(PRINT_ENVIRONMENT)
    run(["gcc", "-o", str(folder / "env"), str(folder / "env.c")], timeout=60)
    return folder / "env"


def _names(text: str) -> set[str]:
    return {line.split("=", 1)[0] for line in text.splitlines() if "=" in line}


def _added_by_gdb(program, env: dict[str, str]) -> set[str]:
    """The variables a program started by gdb has and the same program run directly
    with the same environment has not."""
    direct = run([str(program)], env=env, timeout=30).stdout
    under = run(["gdb", "-nx", "-q", "-batch", "-iex", "set debuginfod enabled off",
                 "-ex", "run", str(program)], env=env, timeout=60).stdout
    return _names(under) - _names(direct)


def _box_text() -> str:
    fragment = render("starti")  # a sample with a gdb script
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_the_box_names_what_gdb_itself_adds(program, tmp_path):
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PWD": str(tmp_path)}
    text = _box_text()
    note = text[text.index("gdb turns randomisation off"):]
    for shell in ("/bin/sh", "/bin/bash"):
        if not shutil.which(shell):
            continue
        added = _added_by_gdb(program, {**base, "SHELL": shell})
        assert {"LINES", "COLUMNS"} <= added, (shell, added)
        for name in sorted(added):
            assert name in note, f"gdb (through {shell}) adds {name}; the box does not say so"
    if shutil.which("bash"):
        assert "SHLVL" in _added_by_gdb(program, {**base, "SHELL": "/bin/bash"})
    without_pwd = {k: v for k, v in base.items() if k != "PWD"}
    added = _added_by_gdb(program, {**without_pwd, "SHELL": "/bin/sh"})
    assert "PWD" in added and "PWD" in note
