"""roads run gives a program its argv[0] as typed, as a shell does: a name found on PATH
is run from the file found there, but told the name the user gave (a multi-call program
such as xzcat reads what to do there). It was given the file's path instead. The
launcher's --exec (``run_program(executable=...)``) runs a file under another argv[0];
without it a sample's run is what it always was."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from roads import cli, command
from roads.capture.runner import launcher, run_program
from roads.errors import SampleError
from roads.explain.program import user_program

pytestmark = [pytest.mark.gcc, pytest.mark.usefixtures("no_leftovers")]

# Writes the argv[0] it was given to a file in its folder (the run's, writable), then
# exits by itself: well before --after, so that nothing depends on the kill there.
NAMES = r"""
#include <stdio.h>
int main(int argc, char **argv)
{
    FILE *f = fopen("argv0", "w");
    if (f == NULL)
        return 2;
    fprintf(f, "%s", argc > 0 ? argv[0] : "(none)");
    return fclose(f) == 0 ? 0 : 3;
}
"""


@pytest.fixture
def names(tmp_path) -> Path:
    """The program, compiled into a folder of its own, ``bin``."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (tmp_path / "names.c").write_text(textwrap.dedent(NAMES))
    command.run(["gcc", "-O0", "-o", str(folder / "names"), str(tmp_path / "names.c")],
                timeout=60)
    return folder / "names"


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    """The user's folder, where roads run is started (and the program writes)."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.parametrize("typed", ["names", "alias", "./names", "path"])
def test_roads_run_gives_argv0_as_typed(typed, names, here, tmp_path, monkeypatch, capsys):
    """A bare name found on PATH (``bin`` put first), a link's name on PATH (as xzcat is
    a link to xz), a relative path and an absolute one: each is argv[0] as typed."""
    (names.parent / "alias").symlink_to("names")
    monkeypatch.setenv("PATH", f"{names.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if typed == "./names":
        os.link(names, here / "names")
    elif typed == "path":
        typed = str(names)
    assert cli.main(["--root", str(tmp_path), "run", "--after", "10", "--", typed]) == 1
    err = capsys.readouterr().err
    assert "ended (exit status 0) before 10 s" in err, err
    assert (here / "argv0").read_text() == typed


def test_a_program_on_path_under_tmp_is_seen_by_the_sandbox(names, monkeypatch, capsys,
                                                            outside_tmp):
    """Run from a folder outside /tmp, a program found on PATH under /tmp is kept
    visible in the run's private /tmp by the file's path (--exec's), since argv[0], a
    bare name, no longer leads there."""
    import tempfile

    project = outside_tmp
    # Under /tmp itself, whatever TMPDIR says (pytest's tmp_path follows it).
    under_tmp = Path(tempfile.mkdtemp(prefix="roads-test-prog-", dir="/tmp"))
    shutil.copy2(names, under_tmp / "names")
    try:
        monkeypatch.chdir(project)
        monkeypatch.setenv("PATH", f"{under_tmp}{os.pathsep}{os.environ.get('PATH', '')}")
        assert cli.main(["--root", str(project), "run", "--after", "10", "--", "names"]) == 1
        err = capsys.readouterr().err
        assert "ended (exit status 0) before 10 s" in err, err
        assert (project / "argv0").read_text() == "names"
    finally:
        shutil.rmtree(under_tmp, ignore_errors=True)


def test_a_program_stopped_at_after_has_argv0_as_typed(here, tmp_path):
    """``roads run --after 0.5 -- sleep 3``, as the CLI starts it: the sleep stopped at
    --after shows ``sleep``, not the file's path, in its /proc/PID/cmdline."""
    seen = []
    run_program(["sleep", "3"], executable=user_program("sleep"),
                launcher_path=launcher(tmp_path / "cache"), cwd=here, env=dict(os.environ),
                timeout=5, no_aslr=True, stop_after=0.5,
                snapshot=lambda stop: seen.append(Path(f"/proc/{stop.pid}/cmdline")
                                                  .read_bytes()))
    assert seen == [b"sleep\x003\x00"]


def test_without_executable_argv0_is_the_file_run(names, here, tmp_path):
    """A sample's run (no ``executable``) gives argv[0] the path it was run by, as
    before; with ``executable``, argv[0] may be anything, the file run all the same."""
    cache = tmp_path / "cache"
    os.link(names, here / "names")
    for argv, executable in ((["./names"], None), (["any name"], "./names"),
                             (["names"], str(names))):
        run_program(argv, executable=executable, launcher_path=launcher(cache), cwd=here,
                    env={}, timeout=10, no_aslr=True)
        assert (here / "argv0").read_text() == argv[0]


def test_an_exec_failure_names_the_file_run(here, tmp_path):
    """The file that could not be executed is named, not the argv[0] it was to get."""
    junk = here / "junk"
    junk.write_bytes(b"\x7fELF not really\n")
    junk.chmod(0o755)
    with pytest.raises(SampleError, match=r"could not execute \./junk: Exec format error"):
        run_program(["typed"], executable="./junk", launcher_path=launcher(tmp_path / "cache"),
                    cwd=here, env={}, timeout=10, no_aslr=True)


@pytest.fixture(scope="module")
def built_launcher(tmp_path_factory) -> Path:
    """The launcher, compiled once for this module's tests."""
    return launcher(tmp_path_factory.mktemp("cache"))


SAMPLE_MODE = ["3", "4", "1", "10", "1000000000", "16", "0", "/nonexistent", "10", "-"]
TOOL_MODE = ["--tool", "10", "1000000000", "/nonexistent", "10", "-"]


@pytest.mark.parametrize("words", [
    [*SAMPLE_MODE, "--exec", "--", "x"],  # --exec without its FILE
    [*SAMPLE_MODE, "--exec", "f", "--"],  # no program
    [*SAMPLE_MODE, "--exec", "f", "--exec", "g", "--", "x"],  # twice
    [*SAMPLE_MODE, "--show", "f", "--", "x"],  # tool mode's option
    [*SAMPLE_MODE, "--frob", "f", "--", "x"],
    [*TOOL_MODE, "--exec", "f", "--", "x"],  # sample mode's option
], ids=["exec-without-file", "no-program", "exec-twice", "show-in-sample-mode", "unknown",
        "exec-in-tool-mode"])
def test_the_launcher_refuses_options_out_of_place(built_launcher, words):
    """Each wrong command line gets the usage and status 2, before anything is run."""
    done = subprocess.run([str(built_launcher), *words], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("usage: launcher ")
