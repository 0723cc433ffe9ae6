"""roads explain: the program it runs, as a shell would run it (argv[0] as typed, a name
without a slash looked up on PATH alone and as the shell looks it up, the caller's
environment, a script said to be one, with the command that runs it), the program's
input (empty, said to be when the command's own is not) and output (kept as its bytes;
beyond what a run keeps, read and dropped, and said so on the page), the cache folder
it keeps its launcher in, and the command line it is given (shown quoted; --out and
--save checked before the run, a page written into a device or through a link that
--out names)."""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from roads import cli
from roads.errors import ExplainError
from roads.explain import session as session_mod
from roads.explain.command import file_problem
from roads.explain.program import not_runnable, user_program
from roads.explain.pagefile import write_page
from roads.explain.record import session_from_json
from roads.explain.trace import MAX_OUTPUT
from tests.conftest import wait_for
from tests.explain_support import build, page_facts, page_text
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.dot]

ROOT = Path(__file__).resolve().parents[1]

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
    with spaces); the saved record keeps the link's name, and the page and the record
    name it from the project folder, as a build that makes the session again does."""
    folder = argv_printer.parent
    monkeypatch.chdir(folder)
    assert explain(root, *(() if sandbox else ("--no-sandbox",)), "--at", "exit",
                   "--out", "argv.html", "--save", "argv.json", "--",
                   "./alias", "a", "b c", "") == 0
    err = capsys.readouterr().err
    assert "running ./alias a 'b c' ''" in err, err  # what runs
    alias = os.path.relpath(folder / "alias", root)
    data, run = _saved_run(folder / "argv.json")
    assert run["stdout"] == "[./alias]\n[a]\n[b c]\n[]\n"
    assert data["command"] == [alias, "a", "b c", ""]
    # The command that makes the page again: the options given, then the program.
    options = "--at exit " if sandbox else "--no-sandbox --at exit "
    assert data["capture"]["title"] == f"roads explain {options}{alias} a 'b c' ''"
    assert data["inputs"]["argv"][0] == alias
    page = (folder / "argv.html").read_text()
    assert "<code>" + html.escape(f"{alias} a 'b c' ''") + "</code>" in page


@pytest.mark.parametrize("sandbox", [True, False])
def test_a_command_line_with_a_newline_or_a_byte_not_utf8_is_shown_as_bash_reads_it(
        root, argv_printer, monkeypatch, capsys, no_leftovers, sandbox):
    """The page's command, said to make the page again, and its heading quoted each
    argument with shlex: a newline stood raw inside quotes, which the page drew as a
    space, and a byte that was not UTF-8 was written '\\xff', which a shell gives back
    as four characters. Such an argument is written $'...' with escapes, and bash,
    reading the page's command line, gives the program's very arguments back."""
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    folder = argv_printer.parent
    monkeypatch.chdir(folder)
    odd = [b"new\nline", b"\xff\xfe", b"it's \\xff", b"\x1b[31m", b"plain"]
    args = [os.fsdecode(a) for a in odd]
    assert explain(root, *(() if sandbox else ("--no-sandbox",)), "--at", "exit",
                   "--out", "argv.html", "--", "./mem", *args) == 0
    # A word a terminal shows whole keeps shlex's quotes, its backslash as typed.
    typed = "./mem $'new\\nline' $'\\xff\\xfe' 'it'\"'\"'s \\xff' $'\\x1b[31m' plain"
    assert f"running {typed}" in capsys.readouterr().err
    facts = page_facts((folder / "argv.html").read_text())
    options = ["--at", "exit"] if sandbox else ["--no-sandbox", "--at", "exit"]
    assert facts["Command"] == f"roads explain {' '.join(options)} {typed}"
    read_back = subprocess.run(["bash", "-c", "printf '%s\\0' " + facts["Command"]],
                               capture_output=True, check=True).stdout
    assert read_back.split(b"\0")[:-1] == [b"roads", b"explain", *map(os.fsencode, options),
                                            b"./mem", *odd]
    assert f"The memory of {typed}" in page_text((folder / "argv.html").read_text())


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


@pytest.mark.parametrize("path", ["/usr/bin:/bin", "/usr/bin::/bin", "/usr/bin:", ":/usr/bin",
                                  "", "/usr/bin:."],
                         ids=["plain", "empty-between", "trailing", "leading", "set-empty", "dot"])
def test_a_name_is_looked_up_on_path_as_the_shell_does(tmp_path, monkeypatch, path):
    """The shell is the oracle: ``sh -c 'command -v NAME'`` (dash, bash alike). An empty
    entry of PATH is the current folder, for a shell as for execvp; PATH set but empty
    is one such entry, where roads found nothing (shutil.which's choice)."""
    program = tmp_path / "here-only"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", path)
    shell = subprocess.run(["/bin/sh", "-c", "command -v here-only"], capture_output=True,
                           text=True, timeout=30)
    said = shell.stdout.strip() or None
    found = user_program("here-only")
    where = [os.path.realpath(p) if p else None for p in (found, said)]
    assert where[0] == where[1], (found, said)
    assert where[1] in (None, os.path.realpath(program))
    assert (user_program("sh") is None) == ("/bin" not in path.split(":") and
                                            "/usr/bin" not in path.split(":"))


def test_a_script_is_named_one_with_the_command_that_runs_it(root, tmp_path, monkeypatch,
                                                               capsys):
    """A script named as the program (a tool's shim on PATH, ldd) is said to be one, with
    the command that names its interpreter; the message spoke of an ELF file with no
    \\x7fELF magic."""
    (tmp_path / "bin").mkdir()
    script = tmp_path / "bin" / "tool"
    script.write_text("#!/usr/bin/env sh\necho hi\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    assert explain(root, "--", "tool", "-x", "a b") == 1
    err = capsys.readouterr().err
    assert (f"roads: error: tool ({script}) is a script, run by /usr/bin/env sh, not a "
            "compiled program") in err, err
    # The line works as given: the script's arguments follow it, quoted (it said
    # "followed by the script's arguments", to be typed again).
    assert err.endswith(f"roads explain -- sh {script} -x 'a b'\n"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


@pytest.mark.parametrize("line, missing", [
    ("#!/nonexistent/interp", "/nonexistent/interp: no such program"),
    ("#!/usr/bin/env roads-no-such-interpreter", "roads-no-such-interpreter: not found on PATH"),
])
def test_a_script_whose_interpreter_is_missing_is_said_to_be_one(root, tmp_path, monkeypatch,
                                                                 capsys, line, missing):
    """A script whose #! line names an interpreter that is not there cannot be run by a
    shell either ('bad interpreter'): the message said to run that interpreter, with a
    command line that fails in its turn."""
    script = tmp_path / "job.sh"
    script.write_text(f"{line}\necho hi\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--", "./job.sh") == 1
    err = capsys.readouterr().err
    assert f"roads: error: ./job.sh is a script whose interpreter cannot be run ({missing})" \
        in err, err
    assert "roads explain --" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.sh"]


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
    # Beside it, where dpkg is, dpkg's answers about the toolchain (roads.capture.dpkgcache).
    kept = [p.name for p in (cache / "roads").iterdir() if p.name != "dpkg"]
    assert [name.startswith("launcher-") for name in kept] == [True]


def test_which_cache_folder(tmp_path):
    """A project's own (named by --root, or the checkout the code runs from), else
    the user's; a relative XDG_CACHE_HOME is ignored, as the XDG specification says."""
    from roads.cachedir import tools_folder

    home = {"HOME": str(tmp_path / "home")}
    assert tools_folder(tmp_path, True, home) == tmp_path.resolve() / ".cache" / "roads"
    assert tools_folder(tmp_path, False, {"XDG_CACHE_HOME": "/x/cache"}) == Path("/x/cache/roads")
    (tmp_path / "mkdocs.yml").write_text("")
    (tmp_path / "samples").mkdir()
    # Not any folder that holds them (a program roads run ran may make them): this
    # checkout, the one the code runs from.
    assert tools_folder(tmp_path, False, {"XDG_CACHE_HOME": "/x/cache"}) == \
        Path("/x/cache/roads")
    repo = Path(__file__).resolve().parent.parent
    assert tools_folder(repo, False, {}) == repo / ".cache" / "roads"
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


def test_a_page_written_to_a_device_leaves_the_device_in_place(tmp_path):
    """--out naming /dev/null (here through a link, which a test may make without
    touching /dev) writes into it: the page was written beside it and renamed over it,
    and as root `roads explain --out /dev/full` put a regular file in /dev's place."""
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    write_page("<p>page</p>", link)
    assert link.is_symlink() and os.readlink(link) == "/dev/null"
    assert Path("/dev/null").is_char_device()
    assert file_problem(str(link)) is None


def test_a_page_written_through_a_link_replaces_its_target_and_keeps_the_link(tmp_path):
    """A link named by --out stays a link; the file it names gets the page."""
    (tmp_path / "pages").mkdir()
    target = tmp_path / "pages" / "real.html"
    target.write_text("old")
    link = tmp_path / "page.html"
    link.symlink_to(target)
    write_page("<p>new</p>", link)
    assert link.is_symlink()
    assert target.read_text() == "<p>new</p>"
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == ["real.html"]


@pytest.mark.skipif(os.geteuid() != 0, reason="gives a file to another user: root only")
def test_a_page_is_not_written_through_what_another_user_planted(tmp_path):
    """In a folder anyone may write to (/tmp), another user planted a link at the page's
    default name: root's file it named was replaced by the page. A FIFO made the command
    wait for ever (or handed the page to its reader). Now such a link is followed only
    as the kernel's protected_symlinks would, and what is no file is written to only
    when named and yours."""
    import pwd

    other = pwd.getpwnam("nobody").pw_uid
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    precious = tmp_path / "precious"
    precious.write_text("mine")
    planted = shared / "explain-hello.html"
    planted.symlink_to(precious)
    os.lchown(planted, other, other)
    for named in (False, True):
        with pytest.raises(OSError, match="a link another user .* made in a shared folder"):
            write_page("<p>page</p>", planted, named=named)
    assert precious.read_text() == "mine"
    planted.unlink()
    planted.symlink_to(precious)  # one of your own: followed, as ever
    write_page("<p>page</p>", planted, named=False)
    assert precious.read_text() == "<p>page</p>"

    fifo = shared / "explain-fifo.html"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="no file is there"):  # the default name: at once
        write_page("<p>page</p>", fifo, named=False)
    os.chown(fifo, other, other)
    with pytest.raises(OSError, match="another user's"):  # named, but not yours
        write_page("<p>page</p>", fifo, named=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="gives files to another user: root only")
def test_every_link_on_the_way_to_the_page_is_checked(tmp_path, monkeypatch):
    """Only the last part of the path was checked: another user's link as a folder on
    the way (/tmp/evil/x.html), or the path reached through /proc/self/cwd, led the page
    into root's folder. Every link on the way is now followed only as protected_symlinks
    would; another user's file at the name gives the page none of its permissions."""
    import pwd

    other = pwd.getpwnam("nobody").pw_uid
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    mine = tmp_path / "mine"
    mine.mkdir()
    evil = shared / "evil"
    evil.symlink_to(mine)
    os.lchown(evil, other, other)
    with pytest.raises(OSError, match="a link another user .* on the way"):
        write_page("<p>page</p>", evil / "x.html")
    assert list(mine.iterdir()) == []
    # --out and --save are judged so before the run, not refused at its end.
    assert "a link another user" in file_problem(str(evil / "x.html"))
    victim = mine / "victim.html"
    victim.write_text("mine")
    planted = shared / "explain-t.html"
    planted.symlink_to(victim)
    os.lchown(planted, other, other)
    monkeypatch.chdir(shared)
    for path in ("explain-t.html", "/proc/self/cwd/explain-t.html", "../shared/./explain-t.html"):
        with pytest.raises(OSError, match="a link another user"):
            write_page("<p>page</p>", Path(path))
    assert victim.read_text() == "mine"
    planted.unlink()
    planted.write_text("theirs")  # a regular file of theirs, open to all
    os.chown(planted, other, other)
    planted.chmod(0o666)
    write_page("<p>page</p>", Path("explain-t.html"), named=False)
    st = os.stat(planted)
    assert (st.st_uid, planted.read_text()) == (0, "<p>page</p>")
    assert stat.S_IMODE(st.st_mode) & 0o022 == 0, oct(st.st_mode)  # not theirs to write


def test_a_page_to_stdout_is_written_where_the_shell_left_it(tmp_path):
    """--out /dev/stdout opened the file again: a file a shell opened with >> lost what
    it held, and a pipe that had another owner was refused after the whole run; now this
    process's own descriptor is written to where it stands."""
    assert _pages_appended(tmp_path, ("/dev/stdout", "/dev/fd/1")) == (
        "FIRST\n<p>/dev/stdout</p><p>/dev/fd/1</p>")


def _pages_appended(tmp_path: Path, paths: tuple[str, ...]) -> str:
    """What a file holding FIRST holds once a process whose stdout appends to it (>>)
    wrote a page at each of ``paths`` (its f-strings' {os.getpid()} filled there)."""
    log = tmp_path / "log.txt"
    log.write_text("FIRST\n")
    script = ("import os\nfrom pathlib import Path\nfrom roads.explain.pagefile import write_page\n"
              f"for p in ({', '.join('f' + repr(p) for p in paths)},):\n"
              "    write_page('<p>' + p + '</p>', Path(p))\n")
    with open(log, "a") as appended:
        subprocess.run([sys.executable, "-c", script], stdout=appended, check=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    return log.read_text()


def test_a_page_to_a_pipe_whose_reader_is_gone_ends_as_sigpipe_ends_a_program(root, tmp_path):
    """roads explain --out /dev/stdout | true said 'cannot write /dev/stdout: Broken pipe'
    and exited with 1; it ends by SIGPIPE, as the command's other output does, and names
    no page after the page."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run([sys.executable, "-m", "roads.cli", "--root", str(root), "explain",
                               "--at", "exit", "--out", "/dev/stdout", "--", "/bin/true"],
                              stdout=writer, stderr=subprocess.PIPE, text=True, timeout=120,
                              cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(writer)
    assert done.returncode == -signal.SIGPIPE, done.stderr
    assert "Traceback" not in done.stderr and "cannot write" not in done.stderr


def test_a_link_of_proc_is_followed_as_the_kernel_follows_it(tmp_path):
    """/proc/PID/cwd was read as text and walked again: a process whose folder was
    removed had its link read '/x/gone (deleted)', where another user's link of that
    name led root's page into root's folder. The kernel's own link is opened instead:
    a folder removed takes no page."""
    gone = tmp_path / "gone"
    victim = tmp_path / "victim"
    victim.mkdir()

    def removed(pid: int) -> None:
        gone.rmdir()
        (tmp_path / "gone (deleted)").symlink_to(victim)
        with pytest.raises(FileNotFoundError):
            write_page("<p>page</p>", Path(f"/proc/{pid}/cwd/x.html"))
        assert list(victim.iterdir()) == []

    def there(pid: int) -> None:
        write_page("<p>page</p>", Path(f"/proc/{pid}/cwd/x.html"))
        assert (tmp_path / "here" / "x.html").read_text() == "<p>page</p>"

    for folder, check in ((gone, removed), (tmp_path / "here", there)):
        folder.mkdir()
        with subprocess.Popen(["sleep", "60"], cwd=folder) as sleeper:
            try:
                wait_for(lambda: os.readlink(f"/proc/{sleeper.pid}/cwd") == str(folder),
                         "its cwd")
                check(sleeper.pid)
            finally:
                sleeper.kill()


def test_a_page_is_readable_by_its_owner_alone_until_it_is_whole(tmp_path, monkeypatch):
    """The partial file was made 0644 and narrowed to the old file's 0600 only once
    written: another user who opened it meanwhile read the page. It is made 0600 and
    given its mode once whole; and a name as long as a folder takes still fits beside
    its partial file (the partial's name had the page's in it)."""
    from roads.explain import pagefile

    seen = []
    real = os.fsync
    monkeypatch.setattr(pagefile.os, "fsync", lambda fd: (seen.append(
        stat.S_IMODE(os.fstat(fd).st_mode)), real(fd))[1])
    page = tmp_path / ("p" * 250)
    write_page("<p>page</p>", page)
    assert seen == [0o600] and page.read_text() == "<p>page</p>"
    assert stat.S_IMODE(page.stat().st_mode) == 0o666 & ~_umask()
    assert [p.name for p in tmp_path.iterdir()] == [page.name]


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def test_a_page_names_its_own_descriptor_however_spelled(tmp_path):
    """/proc/thread-self/fd/1, /proc/PID/fd/1 and /dev/../dev/stdout name stdout too:
    a file opened with >> lost what it held through them (replaced by a rename); a
    descriptor number past any was a traceback. A path into a folder that turns out to
    be a file is that error, not 'Bad file descriptor' (a descriptor closed twice)."""
    text = _pages_appended(tmp_path, ("/proc/thread-self/fd/1", "/proc/{os.getpid()}/fd/1",
                                      "/dev/../dev/stdout"))
    assert text.startswith("FIRST\n<p>/proc/thread-self/fd/1</p><p>/proc/"), text
    assert text.endswith("<p>/dev/../dev/stdout</p>"), text
    with pytest.raises(OSError) as caught:
        write_page("x", Path("/dev/fd/99999999999999999999"))
    assert not isinstance(caught.value, OverflowError)
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        write_page("x", tmp_path / "file" / "x.html")


def test_a_pipe_whose_reader_leaves_mid_page_ends_the_command_as_sigpipe(root, tmp_path):
    """| head -c 100: the reader left while the page was being written, the stream
    took a part of one write for all of it, and the command ended with 0, the page cut.
    With --save to stdout, the saved session is all that stdout holds (the page's name
    followed it, breaking the JSON)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "roads.cli", "--root", str(root), "explain", "--at", "exit"]
    with subprocess.Popen([*command, "--out", "/dev/stdout", "--", "/bin/true"], cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert len(proc.stdout.read(100)) == 100
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGPIPE, err
    done = subprocess.run([*command, "--out", "p.html", "--save", "/dev/stdout", "--", "/bin/true"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    # A program outside the project is recorded by its absolute path (it was
    # '../../../../bin/true', true of the project's place alone).
    assert json.loads(done.stdout)["inputs"]["argv"] == ["/bin/true"]


def test_output_that_is_not_utf8_is_kept_as_its_bytes(root, tmp_path, monkeypatch, no_leftovers):
    """A byte of the program's output that is not UTF-8 was saved as U+FFFD, the byte
    lost; it is written \\xNN, as roads run writes it."""
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--at", "exit", "--out", "bytes.html", "--save", "bytes.json", "--",
                   "/bin/sh", "-c", r"printf 'caf\351\n'; printf '\377\n' >&2") == 0
    _, run = _saved_run(tmp_path / "bytes.json")
    assert (run["stdout"], run["stderr"]) == ("caf\\xe9\n", "\\xff\n")


def test_input_piped_to_the_command_is_said_not_to_reach_the_program(root, tmp_path):
    """The program's standard input is empty (/dev/null). A learner who piped lines to
    roads explain for a program that reads them saw it read nothing, and nothing said
    why; the command says so where its own input is a pipe or a file, and not where it
    is empty already."""
    for given, told in ((b"one\ntwo\n", True), (None, False)):
        done = subprocess.run(
            [sys.executable, "-m", "roads.cli", "--root", str(root), "explain", "--no-sandbox",
             "--at", "exit", "--out", str(tmp_path / "p.html"), "--", "/bin/cat"],
            input=given, stdin=None if given else subprocess.DEVNULL, capture_output=True,
            timeout=60, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr
        note = ("roads explain: the program's standard input is empty (/dev/null): what "
                "comes to roads explain's own is not passed on")
        assert (note.encode() in done.stderr) is told, done.stderr


LOUD = r"""
#include <stdio.h>
int main(void) {
    for (int i = 0; i < 20000; i++)
        fputs("0123456789\n", stdout);  /* 220000 bytes */
    fputs("a few words\n", stderr);
    return 0;
}
"""


@pytest.mark.gcc
def test_output_cut_short_is_said_to_be(root, gcc, tmp_path, monkeypatch, no_leftovers):
    """A program that writes more than the run keeps: the page says how much it wrote and
    that the rest was dropped (it showed the first 64 KiB, cut mid-line, as if that
    were all), and the saved session records it; a stream kept whole says nothing."""
    build(tmp_path, "loud", LOUD)
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--no-sandbox", "--at", "exit", "--out", "p.html", "--save", "p.json",
                   "--", "./loud") == 0
    saved = json.loads((tmp_path / "p.json").read_text())
    assert saved["cut"] == {"stdout": 220000}
    page = (tmp_path / "p.html").read_text()
    assert ("What it wrote to stdout (the beginning of the 214.8\u00a0KiB it wrote; the rest was "
            "read and dropped)</summary>") in page
    assert "What it wrote to stderr</summary>" in page
    assert session_from_json(saved).cut == {"stdout": 220000}


# More output than the sandbox's /tmp holds (256 MiB), then a line on stderr.
FLOOD = r"""
#include <stdio.h>
#include <string.h>

int main(void)
{
    static char block[1 << 20];
    memset(block, 'x', sizeof block);
    for (int i = 0; i < 300; i++)
        if (fwrite(block, 1, sizeof block, stdout) != sizeof block) {
            perror("fwrite");
            return 1;
        }
    fflush(stdout);
    fputs("all written\n", stderr);
    return 0;
}
"""


@pytest.mark.gcc
def test_output_beyond_what_is_kept_is_dropped_not_stored(root, tmp_path, no_leftovers):
    (tmp_path / "loud.c").write_text(FLOOD)
    s = session_mod.explain_program([str(tmp_path / "loud.c")], ["exit"], deadline=60,
                                    sandbox=root / ".cache" / "roads")
    assert s.complete
    run = s.capture.variants["default"].runs[0]
    assert run.exit_code == 0, run.stderr
    assert run.stdout == "x" * MAX_OUTPUT
    assert run.stderr == "all written\n"


def test_a_program_that_is_not_there_is_told_why(root, tmp_path, monkeypatch, capsys):
    """A link that leads round in a loop, a link to nothing and a path through a file
    were each said to be "no such program"; the command says which it is."""
    monkeypatch.chdir(tmp_path)
    os.symlink("loop-b", "loop-a")
    os.symlink("loop-a", "loop-b")
    os.symlink("/no/such/target", "dangling")
    Path("plain").write_text("")
    cases = {
        "./loop-a": "a symbolic link that leads round in a loop (too many levels of links)",
        # The loop is on the way: the name itself is no link.
        "./loop-a/x": "a path that goes through a symbolic link that leads round in a loop "
                      "(too many levels of links)",
        "./dangling": "a symbolic link to /no/such/target, which is not there",
        "./plain/x": "a part of the path that should be a folder is a file",
        "./absent": "no such program",
    }
    for name, words in cases.items():
        assert not_runnable(name) == f"{name}: {words}"
    assert explain(root, "--", "./loop-a") == 1
    assert "roads: error: ./loop-a: a symbolic link that leads round in a loop" in \
        capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling", "loop-a", "loop-b", "plain"]


def test_a_long_command_is_shortened_in_the_heading_and_kept_whole_folded(root, tmp_path):
    """A 100 KB argument made a heading (and a browser tab's title) of many screens;
    they show the command's start and its length, and the Command fact keeps the
    whole command, which makes the page again, under a fold."""
    from roads.explain.page import HEADING_MAX

    long = "a" * 100_000
    assert explain(root, "--at", "exit", "--out", str(tmp_path / "p.html"), "--",
                   "/bin/true", long) == 0
    page = (tmp_path / "p.html").read_text()
    heading = page_text(re.search(r"<h1>(.*?)</h1>", page).group(1))
    typed = f"/bin/true {long}"
    assert heading == f"The memory of {typed[:HEADING_MAX - 1]}… ({len(typed)} characters)"
    title = html.unescape(re.search(r"<title>(.*?)</title>", page).group(1))
    assert title == f"roads explain: {typed[:HEADING_MAX - 1]}… ({len(typed)} characters)"
    command = re.search(r"<dt>Command</dt><dd>(.*?)</dd>", page).group(1)
    assert command.startswith("<details><summary>") and page_text(command).endswith(
        f"roads explain --at exit /bin/true {long}")
    assert page.count(long) == 1


def test_a_program_whose_file_asks_for_capabilities_is_told_why_it_cannot_start(
        root, tmp_path, capsys, outside_tmp):
    """A copy of a program given cap_net_raw+ep (setcap) did not start in the sandbox,
    with "PermissionError: [Errno 1] Operation not permitted" alone: the kernel starts
    a file that asks for its capabilities at once only with all of them, and the
    sandbox can give none. One whose capabilities are only permitted (+p) starts."""
    if shutil.which("setcap") is None or os.geteuid() != 0:
        pytest.skip("setcap, and root to run it, are needed")
    # Not under /tmp: as the sandbox shows a program there, the kernel honours none of
    # its file's capabilities, and it starts (the checkout itself may lie in /tmp).
    folder = outside_tmp
    program = build(folder, "caps", "int main(void) { return 0; }\n")
    plain = folder / "plain"
    shutil.copy(program, plain)
    try:
        subprocess.run(["setcap", "cap_net_raw+ep", str(program)], check=True, timeout=30,
                       capture_output=True)
        subprocess.run(["setcap", "cap_net_raw+p", str(plain)], check=True, timeout=30,
                       capture_output=True)
    except subprocess.CalledProcessError as exc:  # a file system without xattrs
        pytest.skip(f"setcap failed here: {exc.stderr!r}")
    assert explain(root, "--at", "exit", "--out", str(tmp_path / "p.html"), str(program)) == 1
    err = capsys.readouterr().err
    assert "its file carries capabilities that it asks for at once (getcap shows them, ending " \
           "in =ep), and the kernel starts such a program only with every one of them, which " \
           "the sandbox cannot give" in err, err
    assert explain(root, "--at", "exit", "--out", str(tmp_path / "q.html"), str(plain)) == 0


SLEEPER = "#include <unistd.h>\nint main(void) { sleep(60); return 0; }\n"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_command_ended_by_sigterm_or_sighup_cleans_up_as_ctrl_c_does(root, tmp_path, signum):
    """A closed terminal or a kill ends roads explain as Ctrl-C does: its program gone,
    its run folder removed, a line on stderr, and then the process ends by the signal,
    as a program that signal killed (the folder was left, and Python's default gave no
    word; then it exited with 128 + the signal's number)."""
    build(tmp_path, "sleeper", SLEEPER)
    runs = root / ".cache" / "roads"
    proc = subprocess.Popen([sys.executable, "-m", "roads.cli", "--root", str(root), "explain",
                             "--at", "exit", "--out", "p.html", "--", "./sleeper"],
                            cwd=tmp_path, text=True,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 30
        while not any(runs.glob("roads-explain-*/job.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(runs.glob("roads-explain-*")), "the run never began"
        time.sleep(0.3)  # the program runs
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signum, err
    assert f"roads: ended by {signal.Signals(signum).name}" in err and "Traceback" not in err
    assert not list(runs.glob("roads-explain-*"))
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit()
                and _exe_of(p) == str(tmp_path / "sleeper")]


# A program that touches much memory (argv[1] bytes), then waits; with a second argument,
# it forks first, and its child touches as much. Killed, each takes a while to exit: its
# pages are freed as it does (tens of milliseconds for each GiB here).
TOUCHER = r"""#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    size_t size = strtoul(argv[1], NULL, 10);
    char *p;
    if (argc > 2 && fork() < 0) return 1;
    p = malloc(size);
    if (p == NULL) return 1;
    memset(p, 1, size);
    sleep(60);
    return 0;
}
"""


@pytest.mark.parametrize("signum, options, processes", [
    (signal.SIGTERM, [], 1),
    (signal.SIGINT, ["--follow-fork"], 2),
    (signal.SIGHUP, ["--no-sandbox", "--follow-fork"], 2),
    (signal.SIGTERM, ["--no-sandbox"], 2),
])
def test_an_ended_command_returns_once_its_program_is_gone(root, tmp_path, signum, options,
                                                           processes):
    """roads explain, ended, exits only once its program, and a child of it, followed or
    not, has been reaped: not while one, killed, still exits (a quarter of the sandbox's
    address space touched takes its time to give back), nor while it is a zombie. In
    the sandbox the program was killed with the launcher, which roads explain waited
    for, but not for the namespace's init and the processes it was still taking down:
    the program was seen in /proc after roads explain had exited (a test failed once so
    under load; here each time)."""
    from roads.constants import PROGRAM_ADDRESS_SPACE

    size = PROGRAM_ADDRESS_SPACE.value // 4
    program = build(tmp_path, "toucher", TOUCHER)
    forked = ["forked"] if processes > 1 else []
    # The longest deadline: on a loaded machine touching the memory took the default's
    # time, and the program was killed at its deadline before the signal was sent.
    proc = subprocess.Popen([sys.executable, "-m", "roads.cli", "--root", str(root), "explain",
                             "--at", "exit", "--deadline", "110", "--out", "p.html", *options,
                             "--", "./toucher", str(size), *forked],
                            cwd=tmp_path, text=True,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            # A test worker may ignore SIGINT, and a command started with
                            # it ignored keeps it so (as under nohup): the terminal's own.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    pidfds: dict[int, int] = {}
    try:
        def touched() -> bool:
            # Each process of the program, once its memory is all touched (its resident
            # anonymous pages); a pidfd of each, to tell it from a later one of its pid.
            for p in Path("/proc").iterdir():
                if p.name.isdigit() and int(p.name) not in pidfds and _exe_of(p) == str(program):
                    try:
                        rss = re.search(r"^RssAnon:\s+(\d+) kB", (p / "status").read_text(), re.M)
                        if rss and int(rss.group(1)) * 1024 >= size:
                            pidfds[int(p.name)] = os.pidfd_open(int(p.name))
                    except OSError:
                        continue
            return len(pidfds) == processes or proc.poll() is not None

        wait_for(touched, "the program to touch its memory", timeout=60)
        assert len(pidfds) == processes, proc.communicate(timeout=30)[1]
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        # At once: signalled through its pidfd, a process reaped is not there (ESRCH);
        # one that runs, exits or waits as a zombie is.
        left = {}
        for pid, fd in pidfds.items():
            try:
                signal.pidfd_send_signal(fd, 0)
                left[pid] = Path(f"/proc/{pid}/stat").read_text(errors="replace")
            except (ProcessLookupError, FileNotFoundError):
                pass
    finally:
        proc.kill()
        proc.wait()
        for fd in pidfds.values():
            os.close(fd)
    assert proc.returncode == -signum, err
    assert f"roads: {'interrupted' if signum == signal.SIGINT else 'ended by'}" in err, err
    assert not left, f"still there as roads explain exited: {left}"
    assert not list((root / ".cache" / "roads").glob("roads-explain-*"))


def _exe_of(proc_dir: Path) -> str | None:
    try:
        return os.readlink(proc_dir / "exe")
    except OSError:
        return None


def test_the_run_folders_killed_runs_left_are_removed_by_a_later_run(tmp_path):
    """SIGKILL leaves a run no time to remove its folder: a later run removes it, once
    its lock file beside it is a minute old and locked by no one. Nothing else: a run
    that goes on (however old its folder looks: stopped for hours, or a program that
    set its folder's times back), a folder of the user's own named alike, a link, a
    folder with a file system mounted in it."""
    import fcntl

    def run_folder(name: str, lock: bool = True, age: float = 120.0) -> Path:
        folder = tmp_path / name
        (folder / "deep").mkdir(parents=True)
        (folder / "deep" / "job.json").write_text("{}")
        if lock:
            lock_file = tmp_path / (name + session_mod.LOCK_SUFFIX)
            lock_file.write_text("")
            os.utime(lock_file, (time.time() - age,) * 2)
        return folder

    run_folder("roads-explain-dead0001")
    live = run_folder("roads-explain-live0001")
    run_folder("roads-explain-young001", age=1.0)  # made and not locked yet, maybe
    run_folder("roads-explain-nolock01", lock=False)
    run_folder("roads-explain-mywork", lock=True)  # not a name mkdtemp gives
    (tmp_path / "roads-explain-link0001").symlink_to(live)
    (tmp_path / ("roads-explain-link0001" + session_mod.LOCK_SUFFIX)).write_text("")
    held = os.open(tmp_path / ("roads-explain-live0001" + session_mod.LOCK_SUFFIX), os.O_RDWR)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert session_mod._remove_left(tmp_path) == 1
    finally:
        os.close(held)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        "roads-explain-link0001", "roads-explain-live0001", "roads-explain-mywork",
        "roads-explain-nolock01", "roads-explain-young001"]
    assert not (tmp_path / "roads-explain-dead0001.lock").exists()
    # Its run over, the live one's folder goes too.
    assert session_mod._remove_left(tmp_path) == 1 and not live.exists()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="mounts a folder: root, in a mount namespace of its own")
def test_a_left_folder_with_a_mount_inside_is_left(tmp_path):
    """What is mounted in a folder a run left is not the run's: the folder stays (its
    removal would go through the mount)."""
    left = tmp_path / "roads-explain-mounted1"
    (left / "mnt").mkdir(parents=True)
    (tmp_path / "roads-explain-mounted1.lock").write_text("")
    os.utime(tmp_path / "roads-explain-mounted1.lock", (time.time() - 120,) * 2)
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep").write_text("mine")
    script = ("import sys; from pathlib import Path; from roads.explain import session; "
              f"sys.exit(session._remove_left(Path({str(tmp_path)!r})))")
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                           f"mount --bind {other} {left / 'mnt'} && exec {sys.executable} -c "
                           f"{shlex.quote(script)}"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    if "mount" in done.stderr and done.returncode not in (0, 1):
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr  # none removed
    assert (other / "keep").read_text() == "mine" and left.is_dir()


@pytest.mark.skipif(os.geteuid() != 0, reason="gives a file to another user: root only")
def test_a_lock_file_another_user_planted_vouches_for_nothing(tmp_path):
    """In a folder others may write to (TMPDIR=/tmp), another user made an old lock file
    beside a folder of yours named as a run folder is: the folder was removed. A lock
    file counts only as a run makes it: yours, a regular file, one link."""
    import pwd

    other = pwd.getpwnam("nobody").pw_uid
    mine = tmp_path / "roads-explain-victim01"
    mine.mkdir()
    (mine / "data").write_text("precious")
    planted = tmp_path / ("roads-explain-victim01" + session_mod.LOCK_SUFFIX)
    planted.write_text("")
    os.chown(planted, other, other)
    os.utime(planted, (time.time() - 7200,) * 2)
    assert session_mod._remove_left(tmp_path) == 0
    assert (mine / "data").read_text() == "precious"


def test_a_lock_file_made_first_by_another_process_is_not_a_traceback(tmp_path, monkeypatch):
    """One who watches a shared folder can make a new run folder's lock file first: the
    run ended in a FileExistsError traceback. Another folder is tried; if every name is
    taken so, the error says so."""
    made = []
    real = tempfile.mkdtemp

    def watched(*args, **kwargs):
        folder = real(*args, **kwargs)
        made.append(folder)
        if len(made) <= 2:  # the first two taken at once
            Path(f"{folder}{session_mod.LOCK_SUFFIX}").write_text("")
        return folder

    monkeypatch.setattr(session_mod.tempfile, "mkdtemp", watched)
    with session_mod._run_folder(tmp_path) as folder:
        assert str(folder) == made[2]
    made.clear()
    monkeypatch.setattr(session_mod.tempfile, "mkdtemp", lambda *a, **k: (
        made.append(f := real(*a, **k)), Path(f"{f}{session_mod.LOCK_SUFFIX}").write_text(""),
        f)[2])
    with pytest.raises(ExplainError, match="another process made each name first"):
        with session_mod._run_folder(tmp_path):
            pass
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # no folder left behind


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="mounts a folder: root, in a mount namespace of its own")
def test_a_run_folder_with_a_mount_inside_is_left_at_the_runs_end(tmp_path):
    """A program run outside the sandbox (as root) bound a folder of the machine's into
    its run folder: the run's own cleanup deleted the files there through the mount."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep").write_text("mine")
    script = (
        "import subprocess, sys\nfrom pathlib import Path\n"
        "from roads.errors import ExplainError\nfrom roads.explain import session\n"
        "told = []\n"
        f"with session._run_folder(Path({str(tmp_path)!r}), told.append) as folder:\n"
        "    (folder / 'mnt').mkdir()\n"
        f"    subprocess.run(['mount', '--bind', {str(other)!r}, str(folder / 'mnt')], check=True)\n"
        "print(told[0])\n"
        "try:\n"
        f"    with session._run_folder(Path({str(tmp_path)!r})) as folder:\n"
        "        (folder / 'mnt').mkdir()\n"
        f"        subprocess.run(['mount', '--bind', {str(other)!r}, str(folder / 'mnt')], check=True)\n"
        "except ExplainError as exc:\n"
        "    print(exc.message)\n"
        "    sys.exit(3)\n")
    done = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, "-c",
                           script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    if "mount" in done.stderr and done.returncode not in (0, 3):
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    assert done.returncode == 3, done.stdout + done.stderr
    # Told as the run's progress where there is one to tell (the page is still made),
    # an error where there is none.
    assert done.stdout.count("has a file system mounted in it") == 2, done.stdout
    assert (other / "keep").read_text() == "mine"


def test_a_run_holds_the_lock_beside_its_folder_and_leaves_nothing(tmp_path):
    import fcntl

    with session_mod._run_folder(tmp_path) as folder:
        lock = Path(f"{folder}{session_mod.LOCK_SUFFIX}")
        fd = os.open(lock, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        (folder / "made").write_text("x")
    assert list(tmp_path.iterdir()) == []


def test_a_source_in_another_folder_is_named_as_typed(root, tmp_path, monkeypatch):
    """The page's command makes the page again where it was typed: a C source named
    with its folder keeps it (the page named 'stops.c' alone, another file or none)."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "stops.c").write_text("int main(void) { return 0; }\n")
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--at", "main", "--out", "p.html", "--", "sub/stops.c") == 0
    facts = page_facts((tmp_path / "p.html").read_text())
    assert facts["Command"].startswith("roads explain --at main sub/stops.c"), facts["Command"]


def test_a_saved_session_names_its_program_from_the_project_as_a_build_does(root, tmp_path,
                                                                             monkeypatch):
    """--save records the program from the project folder, and the page and the record
    name it so, as a build that makes the session again does (they named it as typed:
    the clone's absolute path, in a file a frozen build keeps showing)."""
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "saved.c").write_text("int main(void) { return 0; }\n")
    monkeypatch.chdir(root / "sub")
    saved = tmp_path / "saved.json"
    assert explain(root, "--at", "main", "--out", str(tmp_path / "p.html"), "--save",
                   str(saved), "--", str(root / "sub" / "saved.c")) == 0
    record = json.loads(saved.read_text())
    assert record["inputs"]["argv"] == ["sub/saved.c"]
    assert record["typed"] == "sub/saved.c" and str(root) not in saved.read_text()
    facts = page_facts((tmp_path / "p.html").read_text())
    assert facts["Command"].endswith("--at main sub/saved.c"), facts["Command"]


def _dirty_kib(path: Path) -> int:
    """The kibibytes of ``path``'s pages that smaps counts as dirty where this process
    maps all of it (a file just written, not yet written back, maps dirty)."""
    import mmap as mmap_mod

    with open(path, "rb") as f, mmap_mod.mmap(f.fileno(), 0, prot=mmap_mod.PROT_READ) as view:
        view.read()  # every page read in
        start = None
        with open(f"/proc/{os.getpid()}/smaps") as smaps:
            dirty = 0
            for line in smaps:
                head = line.split()
                if re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", head[0]):
                    start = head[-1] == str(path)
                elif start and head[0] in ("Private_Dirty:", "Shared_Dirty:"):
                    dirty += int(head[1])
            return dirty


@pytest.mark.parametrize("sandbox", [True, False])
@pytest.mark.parametrize("via_link", [False, True], ids=["named", "named-through-a-link"])
def test_a_program_just_built_maps_clean(tmp_path, root, no_leftovers, sandbox, via_link):
    """A program the learner has just built (gcc -o prog, then roads explain ./prog) was
    run before the kernel wrote it back to disk: smaps counted the pages it mapped from
    its file, its read-only data included, as Private_Dirty, which the page's "what
    changed" showed as read-only memory made dirty (a .c program, compiled by the
    command, was written back first, as the samples' binaries are). It is written back
    before the run now: the program's read-only regions map clean. (The code region that
    holds the main breakpoint has a private copy of that page, dirty: not checked.)"""
    from roads.capture import build as build_mod

    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        if build_mod.fs_type(fd) not in build_mod._OWN_PAGES:
            pytest.skip("on this file system a written page stays dirty (tmpfs) or is not "
                        "the file's own (overlayfs)")
    finally:
        os.close(fd)
    control = build(tmp_path, "control", ARGV, "-O0")
    if _dirty_kib(control) == 0:
        pytest.skip("the control program was written back before it could be read dirty")
    program = build(tmp_path, "fresh", ARGV, "-O0")
    if via_link:  # the file written back is the one the link leads to
        (tmp_path / "link").symlink_to(program)
        program = tmp_path / "link"
    session = session_mod.explain_program(
        [str(program)], ["main"], sandbox=root / ".cache" / "roads" if sandbox else None)
    (stop,) = session.capture.variants["default"].runs[0].checkpoints
    read_only = [r for r in stop.regions if r.pathname.endswith("/fresh") and r.perms == "r--p"
                 and r.offset == 0]
    assert read_only, [(r.pathname, r.perms, r.offset) for r in stop.regions]
    assert all(r.kb["Private_Dirty"] == 0 and r.kb["Private_Clean"] > 0 for r in read_only), \
        [(hex(r.start), r.kb["Private_Dirty"], r.kb["Private_Clean"]) for r in read_only]


OPENS = r"""
#include <stdio.h>
void work(void) {}
int main(int argc, char **argv) {
    if (!fopen(argv[1], "r")) {
        perror(argv[1]);
        return 1;
    }
    work();
    return 0;
}
"""


def test_a_file_in_tmp_named_by_an_argument_is_said_to_be_hidden_by_the_sandbox(
        root, tmp_path, monkeypatch, no_leftovers):
    """A learner's program given a file kept in /tmp (roads explain ./prog /tmp/x/data)
    failed in the sandbox, whose /tmp is a private one that shows only the program and
    the folder the command runs from: the error ended with the program's own words,
    "No such file or directory", for a file the learner can see, and did not say why.
    It says so now, with the ways out; a file that is there gets no such words."""
    from tests.conftest import REPO

    if str(REPO.resolve()).startswith("/tmp/"):
        pytest.skip("the checkout lies in /tmp, which the sandbox shows")
    program = build(tmp_path, "opens", OPENS, "-O0", "-g")  # in /tmp: shown
    hidden = Path(tempfile.mkdtemp(prefix="roads-hidden-", dir="/tmp"))
    try:
        data = hidden / "data.txt"
        data.write_text("here\n")
        monkeypatch.chdir(REPO)  # a folder outside /tmp
        with pytest.raises(ExplainError) as refused:
            session_mod.explain_program([str(program), str(data)], ["work"],
                                        sandbox=root / ".cache" / "roads")
        told = refused.value.message
        assert "No such file or directory" in told, told
        assert (f"(in the sandbox /tmp is a private one, which shows only the program and "
                f"the folder you run the command from: {data}, which an argument names, is "
                "not there; keep the file in your folder, or use --no-sandbox)") in told, told
        session = session_mod.explain_program([str(program), str(data)], ["work"])
        assert session.complete  # outside the sandbox, the file is there
        with pytest.raises(ExplainError) as elsewhere:  # a file missing everywhere
            session_mod.explain_program([str(program), str(hidden / "none")], ["work"],
                                        sandbox=root / ".cache" / "roads")
        assert "private one" not in elsewhere.value.message
    finally:
        shutil.rmtree(hidden, ignore_errors=True)


def test_a_dash_for_out_or_save_is_the_standard_output(root, tmp_path):
    """--out - wrote a file named '-' where the command ran; it is the standard output,
    as for most commands, and no file is left."""
    done = subprocess.run([sys.executable, "-m", "roads.cli", "--root", str(root), "explain",
                           "--at", "exit", "--out", "-", "--", "/bin/true"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("<!DOCTYPE html>") and done.stdout.rstrip().endswith("</html>")
    assert list(tmp_path.iterdir()) == []
    both = subprocess.run([sys.executable, "-m", "roads.cli", "--root", str(root), "explain",
                           "--out", "-", "--save", "-", "--", "/bin/true"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert both.returncode == 2 and "--out - and --save - both name the standard output" in \
        both.stderr, both.stderr
