"""roads explain: the program it runs, as a shell would run it (argv[0] as typed, a name
without a slash looked up on PATH alone, the caller's environment), the cache folder it
keeps its launcher in, and the command line it is given (shown quoted; --out and --save
checked before the run)."""

from __future__ import annotations

import html
import json
import os
import subprocess
from pathlib import Path

import pytest

from roads import cli
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.dot]

ARGV = r"""
#include <stdio.h>
int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        printf("[%s]\n", argv[i]);
    return 0;
}
"""


def _saved_run(path: Path) -> tuple[dict, dict]:
    """The saved session at ``path`` and its one run."""
    data = json.loads(path.read_text())
    return data, data["capture"]["variants"]["default"]["runs"][0]


@pytest.fixture
def argv_printer(tmp_path: Path) -> Path:
    """A program that prints its arguments, argv[0] first, and a link to it."""
    (tmp_path / "argv.c").write_text(ARGV)
    subprocess.run(["gcc", "-o", str(tmp_path / "mem"), str(tmp_path / "argv.c")], check=True)
    (tmp_path / "argv.c").unlink()
    (tmp_path / "alias").symlink_to("mem")
    return tmp_path / "mem"


@pytest.mark.parametrize("sandbox", [True, False])
def test_the_program_gets_argv0_as_typed_and_the_command_is_shown_quoted(
        root, argv_printer, monkeypatch, capsys, no_leftovers, sandbox):
    """A link's path, as typed, is the program's argv[0] (it was the file's real path,
    and a multi-call program such as xzcat, a link to xz, did what xz does); the command
    is shown quoted, an argument with a space or an empty one kept (they were joined
    with spaces); the saved record keeps the link's name."""
    folder = argv_printer.parent
    monkeypatch.chdir(folder)
    assert explain(root, *(() if sandbox else ("--no-sandbox",)), "--at", "exit",
                   "--out", "argv.html", "--save", "argv.json", "--",
                   "./alias", "a", "b c", "") == 0
    err = capsys.readouterr().err
    assert "running ./alias a 'b c' ''" in err, err
    data, run = _saved_run(folder / "argv.json")
    assert run["stdout"] == "[./alias]\n[a]\n[b c]\n[]\n"
    assert data["command"] == ["./alias", "a", "b c", ""]
    # The command that makes the page again: the options given, then the program.
    options = "--at exit " if sandbox else "--no-sandbox --at exit "
    assert data["capture"]["title"] == f"roads explain {options}./alias a 'b c' ''"
    assert data["inputs"]["argv"][0] == os.path.relpath(folder / "alias", root)
    page = (folder / "argv.html").read_text()
    assert "<code>" + html.escape("./alias a 'b c' ''") + "</code>" in page


def test_a_multi_call_program_does_what_its_name_says(root, tmp_path, monkeypatch, no_leftovers):
    """xzcat f.xz prints f: xz, run as /usr/bin/xz, refused the file ('already has .xz
    suffix', status 2)."""
    if not Path("/usr/bin/xzcat").is_symlink():
        pytest.skip("no xzcat that is a link to xz")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f").write_text("hello\n")
    subprocess.run(["xz", "-k", "f"], check=True)
    assert explain(root, "--at", "exit", "--out", "xz.html", "--save", "xz.json", "--",
                   "xzcat", "f.xz") == 0
    _, run = _saved_run(tmp_path / "xz.json")
    assert (run["stdout"], run["exit_code"]) == ("hello\n", 0)


def test_a_name_without_a_slash_is_looked_up_on_path_alone(root, argv_printer, monkeypatch,
                                                           capsys):
    """As a shell does: ./mem is not 'mem' (said to be 'not an executable file'), by
    roads explain and roads run alike."""
    monkeypatch.chdir(argv_printer.parent)
    words = "roads: error: mem: not found on PATH; a program in this folder is named ./mem"
    assert explain(root, "--", "mem") == 1
    assert words in capsys.readouterr().err
    assert cli.main(["--root", str(root), "run", "--", "mem"]) == 1
    assert words in capsys.readouterr().err
    assert explain(root, "--", "no-such-program-here") == 1
    assert capsys.readouterr().err == "roads: error: no-such-program-here: not found on PATH\n"


def test_the_program_in_the_sandbox_sees_the_callers_environment(root, tmp_path, monkeypatch,
                                                                 no_leftovers):
    """The Python that traces it in the sandbox is given roads on PYTHONPATH, no .pyc
    and no start-up file; the program had them too."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", "/callers/path")
    monkeypatch.setenv("PYTHONSTARTUP", "/callers/startup.py")
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    assert explain(root, "--at", "exit", "--out", "env.html", "--save", "env.json", "--",
                   "env") == 0
    _, run = _saved_run(tmp_path / "env.json")
    python = sorted(line for line in run["stdout"].splitlines() if line.startswith("PYTHON")
                    and not line.startswith("PYTHONUNBUFFERED="))
    assert python == ["PYTHONPATH=/callers/path", "PYTHONSTARTUP=/callers/startup.py"]


def test_the_launcher_is_kept_in_the_users_cache_folder(tmp_path, monkeypatch, capsys,
                                                        no_leftovers):
    """Run from a folder that is no project, even when the run fails, nothing is written
    there: the launcher goes to $XDG_CACHE_HOME/roads (it went to ./.cache/roads)."""
    here, cache = tmp_path / "here", tmp_path / "cache"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    assert cli.main(["explain", "--at", "nosuchfunc", "--", "/bin/true"]) == 1
    assert "no function 'nosuchfunc'" in capsys.readouterr().err
    assert list(here.iterdir()) == []
    assert [p.name.startswith("launcher-") for p in (cache / "roads").iterdir()] == [True]


def test_which_cache_folder(tmp_path):
    """A project's own (named by --root, or a checkout: mkdocs.yml and samples/), else
    the user's; a relative XDG_CACHE_HOME is ignored, as the XDG specification says."""
    from roads.cachedir import tools_folder

    home = {"HOME": str(tmp_path / "home")}
    assert tools_folder(tmp_path, True, home) == tmp_path.resolve() / ".cache" / "roads"
    assert tools_folder(tmp_path, False, {"XDG_CACHE_HOME": "/x/cache"}) == Path("/x/cache/roads")
    (tmp_path / "mkdocs.yml").write_text("")
    (tmp_path / "samples").mkdir()
    assert tools_folder(tmp_path, False, {}) == tmp_path.resolve() / ".cache" / "roads"
    assert tools_folder(tmp_path / "samples", False, {"XDG_CACHE_HOME": "rel"}) == \
        Path(os.path.expanduser("~")) / ".cache" / "roads"


@pytest.mark.parametrize("args, words", [
    (["--out", "x.html", "--save", "./x.html"],
     "--out x.html and --save ./x.html name the same file"),
    (["--save", "/proc/x.json"], "--save /proc/x.json: cannot write in /proc: "),
    (["--out", "nowhere/x.html"], "--out nowhere/x.html: there is no folder nowhere"),
])
def test_out_and_save_are_checked_before_the_run(root, tmp_path, monkeypatch, capsys, args,
                                                 words):
    """Refused before the program runs (the program named here does not exist, which
    the run would say): the page overwritten by the saved session; a folder where no
    file can be made, found after the run and named by a temporary file's path."""
    monkeypatch.chdir(tmp_path)
    assert explain(root, *args, "--", "/no/such/program") == 2
    err = capsys.readouterr().err
    assert f"roads: error: {words}" in err and "no such program" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_save_named_as_the_default_page_is_refused_before_anything_is_written(
        root, tmp_path, monkeypatch, capsys):
    """--save explain-true.html with no --out: the page, named explain-true.html by
    default, was written and then replaced by the saved session's JSON."""
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--no-sandbox", "--save", "explain-true.html", "--", "/bin/true") == 2
    err = capsys.readouterr().err
    assert "the page explain-true.html and --save explain-true.html name the same file" in err
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_not_utf8_is_kept_as_its_bytes(root, tmp_path, monkeypatch, no_leftovers):
    """A byte of the program's output that is not UTF-8 was saved as U+FFFD, the byte
    lost; it is written \\xNN, as roads run writes it."""
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--at", "exit", "--out", "bytes.html", "--save", "bytes.json", "--",
                   "/bin/sh", "-c", r"printf 'caf\351\n'; printf '\377\n' >&2") == 0
    _, run = _saved_run(tmp_path / "bytes.json")
    assert (run["stdout"], run["stderr"]) == ("caf\\xe9\n", "\\xff\n")
