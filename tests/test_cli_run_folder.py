"""roads run's folder: the program may write every file below the folder it runs in,
but what lies there and runs outside the sandbox afterwards stays read-only for it
(roads.capture.runfolder): roads' own code, its Python, the launcher's folder, the home folder.
Run from a checkout, a program renamed a script over .cache/roads/launcher-*, which the
next roads run executed outside the sandbox, as the user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from roads.capture.runfolder import (HOME, MAX_KEPT, Guarded, Kept, guarded, home_folder,
                                     kept_read_only, links_to)
from tests.cli_support import DEADLINE, REPO


# Long enough for a short program to end of itself on a loaded machine: by default roads
# run stops it after half a second and prints its map, and the tests read how it ended
# (a test failed so while browser tests ran beside it).
AFTER = ("--after", "20")


def roads_from(src: Path, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``roads args`` run from ``cwd`` with the code in ``src``, as a user runs it."""
    return subprocess.run([sys.executable, "-P", "-m", "roads.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env={**env, "PYTHONPATH": str(src)},
                          timeout=DEADLINE)


@pytest.fixture(scope="module")
def xdg(tmp_path_factory) -> Path:
    """A user's cache folder (XDG_CACHE_HOME), for tests that do not look in it: the
    launcher is built there once for the module."""
    return tmp_path_factory.mktemp("xdg")


def tree(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every entry below ``folder``: its mode, and a file's bytes or a link's target."""
    found = {}
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = Path(root, name)
            info = path.lstat()
            body = (os.readlink(path).encode() if path.is_symlink()
                    else path.read_bytes() if path.is_file() else b"")
            found[str(path.relative_to(folder))] = (info.st_mode, body)
    return found


# Against each path kept read-only (PROTECTED, below the folder run from) every way to
# change what runs outside later: write, rename over, unlink, create, rename the path
# and the folder holding it, then make a new one at its name. Then a file of its own.
ATTACK = r"""
for p in "$@"; do
  echo planted >> "$p/target"
  printf '#!/bin/sh\necho ran outside > "$PWD/escaped"\n' > new && chmod +x new
  mv -f new "$p/target"
  for f in "$p"/launcher-*; do [ -e "$f" ] && cp "$p/target" "$f" ; mv -f new "$f"; done
  rm -f "$p/target"
  touch "$p/.bash_profile"
  mkdir "$p/bin"
  mv "$p" "$p.moved"
  mv "$(dirname "$p")" "$(dirname "$p").moved"
  mkdir -p "$p" && cp new "$p/target"
done
mkdir -p mine/deeper && echo written > mine/deeper/file && echo written > file
"""


@pytest.mark.usefixtures("no_leftovers")
def test_what_runs_outside_stays_read_only_below_the_folder_run_from(tmp_path):
    here = tmp_path / "run"
    src, home, cache = here / "src", here / "users" / "me", here / "xdg"
    shutil.copytree(REPO / "roads", src / "roads", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", src / "pyproject.toml")
    (home / ".ssh").mkdir(parents=True)
    for name in (".bashrc", ".profile", ".ssh/authorized_keys"):
        (home / name).write_text("mine\n")
    for p in (src, home):
        (p / "target").write_text("mine\n")
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(cache)}
    (cache / "roads").mkdir(parents=True)
    (cache / "roads" / "target").write_text("mine\n")
    protected = [src, home, cache / "roads"]
    first = roads_from(src, "run", *AFTER, "--", "true", cwd=here, env=env)  # builds the launcher
    assert first.returncode == 1 and "ended (exit status 0)" in first.stderr, first.stderr
    assert list((cache / "roads").glob("launcher-*"))
    before = {p: tree(p) for p in protected}
    for _ in range(2):  # the second run would start a launcher the first one planted
        done = roads_from(src, "run", "--after", "20", "--", "sh", "-c", ATTACK, "sh",
                          *map(str, protected), cwd=here, env=env)
        assert "ended (exit status 0)" in done.stderr, done.stderr
        assert "Read-only file system" in done.stderr
        assert "read-only for the program" not in done.stderr  # the folder itself is not
        assert {p: tree(p) for p in protected} == before
        assert not (here / "escaped").exists()
        assert not list(here.glob("**/*.moved"))
    assert (here / "file").read_text() == (here / "mine/deeper/file").read_text() == "written\n"


@pytest.mark.usefixtures("no_leftovers")
def test_a_run_from_the_home_folder_may_write_nothing_there(tmp_path):
    home = tmp_path / "me"
    home.mkdir()
    (home / ".profile").write_text("mine\n")
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    done = roads_from(REPO, "run", *AFTER, "--", "sh", "-c",
                      "echo x >> .profile; touch .bash_profile; mkdir bin; echo x > file; "
                      "mkdir -p runs/a; true", cwd=home, env=env)
    assert done.returncode == 1 and "ended (exit status 0)" in done.stderr, done.stderr
    assert sorted(p.name for p in home.iterdir()) == [".profile"]
    assert (home / ".profile").read_text() == "mine\n"
    assert done.stderr.endswith(
        f"roads: note: {home} was read-only for the program, which could write no file "
        f"there: it is {HOME}; to let a program write files, run it from a folder of your "
        "own, such as a new one in your home folder (mkdir ~/runs && cd ~/runs)\n")
    # A folder of one's own in it is the program's.
    (home / "runs").mkdir()
    done = roads_from(REPO, "run", *AFTER, "--", "sh", "-c", "echo x > file", cwd=home / "runs",
                      env=env)
    assert "read-only" not in done.stderr, done.stderr
    assert (home / "runs" / "file").read_text() == "x\n"


# Paths as they would resolve, for the policy alone.
H = Path("/home/me")
CODE = Guarded(Path("/home/me/src/site"), "code")
PY = Guarded(Path("/home/me/runs/.venv"), "python")
LAUNCHERS = Guarded(Path("/home/me/.cache/roads"), "launchers")


@pytest.mark.parametrize("here, kept", [
    (H, [Kept(H, Guarded(H, HOME))]),  # whole: nothing below it needs naming
    (H / "runs", [Kept(PY.path, PY)]),  # a folder of one's own; its venv kept
    (H / "runs" / "a", []),
    (H / "src", [Kept(CODE.path, CODE)]),
    (H / "src" / "site" / "tests", [Kept(H / "src" / "site" / "tests", CODE)]),  # inside
    (H / ".config" / "x", [Kept(H / ".config" / "x", Guarded(H / ".config",
                                                           f".config in {HOME}"))]),
    (H / "bin", [Kept(H / "bin", Guarded(H / "bin", f"bin in {HOME}"))]),
    (Path("/home"), [Kept(H, Guarded(H, HOME))]),  # the rest inside it
])
def test_what_is_kept_read_only(here, kept):
    assert list(kept_read_only(here, Guarded(H, HOME), [CODE, PY, LAUNCHERS])) == kept


def test_roads_source_tree_is_its_code(tmp_path):
    (tmp_path / "roads").mkdir()
    assert guarded(tmp_path / "roads", [], tmp_path, [], {})[0].path == tmp_path / "roads"
    (tmp_path / "pyproject.toml").write_text("")  # its tests and tools run too
    assert guarded(tmp_path / "roads", [], tmp_path, [], {})[0].path == tmp_path


def test_the_folders_the_environment_runs_from_are_guarded(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "lib").mkdir()
    environ = {"PATH": f"{tmp_path / 'bin'}:relative:{tmp_path / 'new' / 'bin'}",
               "XDG_CONFIG_HOME": str(tmp_path / "lib"), "ZDOTDIR": ""}
    found = guarded(tmp_path / "roads", [], tmp_path / "lib", [str(tmp_path / "lib"), "x"],
                    environ)
    assert [g.path for g in found[2:]] == [
        tmp_path / "lib",  # sys.path's
        tmp_path / "bin",
        tmp_path,  # where new/bin, on PATH and not there yet, could be made
        tmp_path / "lib"]  # XDG_CONFIG_HOME's
    assert found[4].what == (f"the folder {tmp_path / 'new' / 'bin'} would be made in, a "
                             "folder on your PATH, whose programs run outside the sandbox")


def test_a_home_folder_not_there_yet_is_kept_only_where_it_would_be_made(tmp_path):
    home = home_folder(tmp_path / "users" / "me")
    assert (home.path, home.there) == (tmp_path, False)
    assert kept_read_only(tmp_path, home, []) == (Kept(tmp_path, home),)
    (tmp_path / "other").mkdir()  # beside where it would be made: not the program's to make
    assert kept_read_only(tmp_path / "other", home, []) == ()


def test_more_paths_than_the_launcher_keeps_keep_the_folder_whole():
    many = [Guarded(H / "runs" / str(n), "mine") for n in range(MAX_KEPT + 1)]
    assert [k.path for k in kept_read_only(H / "runs", Guarded(H, HOME), many)] == [H / "runs"]
    assert len(kept_read_only(H / "runs", Guarded(H, HOME), many[:-1])) == MAX_KEPT


# Makes its folder look like a checkout of the project (mkdocs.yml and samples/) and
# puts a script at the name of each launcher in the user's cache folder ($1) in its
# .cache/roads: roads explain, run next from there, took the folder for a checkout and
# started that script outside the sandbox, as the user.
PLANT = r"""
touch mkdocs.yml && mkdir -p samples .cache/roads
for f in "$1"/launcher-*; do
  printf '#!/bin/sh\necho ran outside > "%s/escaped"\nexit 1\n' "$PWD" > ".cache/roads/${f##*/}"
  chmod +x ".cache/roads/${f##*/}"
done
"""


@pytest.mark.usefixtures("no_leftovers")
def test_a_run_cannot_plant_a_checkout_whose_launcher_the_next_command_starts(tmp_path):
    here, cache, home = tmp_path / "run", tmp_path / "xdg", tmp_path / "home"
    here.mkdir()
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(cache)}
    done = roads_from(REPO, "run", *AFTER, "--", "sh", "-c", PLANT, "sh", str(cache / "roads"),
                      cwd=here, env=env)
    assert "ended (exit status 0)" in done.stderr, done.stderr
    assert list((here / ".cache" / "roads").glob("launcher-*"))  # planted
    roads_from(REPO, "explain", "--at", "exit", "--out", str(tmp_path / "page.html"), "--",
               "/bin/true", cwd=here, env=env)
    assert not (here / "escaped").exists()


def test_set_id_bits_are_cleared_never_through_a_link_put_in_a_files_place(tmp_path,
                                                                          monkeypatch):
    """Another run still going in the same folder may swap a set-id file for a link
    between the walk's lstat and its chmod: os.chmod followed the link, and gave the
    file it named (/etc/shadow, run as root) the set-id file's mode, 0777 say."""
    import stat

    from roads.capture import runner

    folder, victim = tmp_path / "run", tmp_path / "victim"
    folder.mkdir()
    victim.write_text("mine\n")
    victim.chmod(0o600)
    for name in ("swapped", "kept"):
        (folder / name).write_text("")
        (folder / name).chmod(0o4777)
    walk = runner.walk_folder

    def swapping(path):
        for fd, name, info, left in walk(path):
            if name == "swapped":
                (folder / "link").symlink_to(victim)
                os.replace(folder / "link", folder / "swapped")
            yield fd, name, info, left

    monkeypatch.setattr(runner, "walk_folder", swapping)
    runner.strip_set_id_bits(folder)
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "kept").stat().st_mode) == 0o777


def test_a_link_on_the_way_to_a_guarded_path_keeps_the_folder_holding_it(tmp_path):
    """PATH names runs/current/bin, runs/current a link to opt: resolved, opt/bin lies
    outside the folder run from, but the link lies in it, and pointed at a folder of the
    program's own it made the next ls outside the program's."""
    runs, opt = tmp_path / "runs", tmp_path / "opt"
    (opt / "bin").mkdir(parents=True)
    (runs / "sub").mkdir(parents=True)
    (runs / "current").symlink_to(opt)
    (runs / "sub" / "next").symlink_to("../current")  # a link to a link
    home = Guarded(tmp_path / "home", HOME)
    found = guarded(tmp_path / "roads", [], tmp_path / "lib", [],
                    {"PATH": f"{runs / 'current' / 'bin'}"})
    assert Guarded(runs, f"the folder holding {runs / 'current'}, a link on the way to a "
                   "folder on your PATH, whose programs run outside the sandbox",
                   there=False) in found
    assert [k.path for k in kept_read_only(runs, home, found)] == [runs]  # whole
    assert kept_read_only(tmp_path / "other", home, found) == ()  # (made by the test)
    found = links_to(Guarded(runs / "sub" / "next" / "bin", "x"))
    assert [g.path for g in found] == [runs / "sub", runs]
    assert [k.path for k in kept_read_only(runs / "sub", home, found)] == [runs / "sub"]


@pytest.mark.usefixtures("no_leftovers")
def test_a_link_on_path_below_the_folder_run_from_cannot_be_pointed_elsewhere(tmp_path):
    here, opt = tmp_path / "runs", tmp_path / "opt"
    (opt / "bin").mkdir(parents=True)
    here.mkdir()
    (here / "current").symlink_to(opt)
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "xdg"),
           "PATH": f"{here / 'current' / 'bin'}:{os.environ['PATH']}"}
    done = roads_from(REPO, "run", *AFTER, "--", "sh", "-c",
                      "mkdir -p mine/bin; ln -sfn mine current.new; mv -T current.new current",
                      cwd=here, env=env)
    assert "ended (exit status" in done.stderr, done.stderr
    assert os.readlink(here / "current") == str(opt)


NO_NAMESPACES = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"),
    reason="needs root, unshare and setpriv to take the namespaces away")


def without_namespaces(tmp_path: Path, xdg: Path, *args: str,
                       path: str = os.environ["PATH"]) -> subprocess.CompletedProcess:
    """``roads args``, run from tmp_path/run as root of a user namespace of its own,
    without capabilities, where no other namespace may be made (a container, user
    namespaces turned off), with ``path`` for PATH."""
    here = tmp_path / "run"
    here.mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(xdg),
           "PYTHONPATH": str(REPO), "PATH": path}
    return subprocess.run(
        ["unshare", "-U", "-r", "sh", "-c",
         'echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --bounding-set -all '
         '--inh-caps -all "$@"', "sh", sys.executable, "-P", "-m", "roads.cli", *args],
        capture_output=True, text=True, cwd=here, env=env, timeout=DEADLINE)


@pytest.mark.usefixtures("no_leftovers")
@NO_NAMESPACES
def test_no_run_where_the_files_cannot_be_made_read_only(tmp_path, xdg):
    """Where the kernel gives no PID or mount namespace (a container, user namespaces
    turned off), the launcher ran the program anyway, every file as writable as outside:
    the user's start-up files, and the paths roads run keeps read-only."""
    outside = tmp_path / "outside"
    outside.write_text("mine\n")
    done = without_namespaces(tmp_path, xdg, "run", "--", "sh", "-c", f"echo planted >> {outside}")
    assert outside.read_text() == "mine\n", done.stderr
    assert "cannot be made read-only here" in done.stderr, done.stderr
    # The launcher's status 2, read as a wait status, was "killed by SIGINT".
    assert "the launcher could not start the run (exit status 2)" in done.stderr, done.stderr


@pytest.mark.usefixtures("no_leftovers")
@NO_NAMESPACES
def test_roads_explain_runs_nothing_where_the_sandbox_is_refused(tmp_path, xdg):
    """roads explain ran the program there too, without the sandbox, saying so: the
    program could write every file the user may. A build of the site's own samples still
    runs so (saved.refreshed), in a container that has no namespaces to give."""
    outside = tmp_path / "outside"
    outside.write_text("mine\n")
    done = without_namespaces(tmp_path, xdg, "explain", "--at", "exit", "--out",
                              str(tmp_path / "page.html"), "--", "/bin/sh", "-c",
                              f"echo planted >> {outside}")
    assert outside.read_text() == "mine\n", done.stderr
    from roads.explain.session import NOT_RUN

    assert done.returncode == 1 and f"roads: error: {NOT_RUN}" in done.stderr, done.stderr
    assert not (tmp_path / "page.html").exists()


@pytest.mark.usefixtures("no_leftovers")
@NO_NAMESPACES
@pytest.mark.skipif(not shutil.which("gcc"), reason="needs gcc")
def test_roads_explain_compiles_no_source_where_the_sandbox_is_refused(tmp_path, xdg):
    """A .c file was compiled first, gcc run without the sandbox amid the user's files,
    and only then was the run refused: it is refused before gcc runs, as a program is."""
    tools, ran = tmp_path / "bin", tmp_path / "gcc-ran"
    tools.mkdir()
    (tools / "gcc").write_text(f'#!/bin/sh\ncase "$*" in *hello.c*) echo ran >> {ran};; esac\n'
                               f'exec {shutil.which("gcc")} "$@"\n')
    (tools / "gcc").chmod(0o755)
    (tmp_path / "hello.c").write_text("int main(void) { return 0; }\n")
    done = without_namespaces(tmp_path, xdg, "explain", "--out", str(tmp_path / "page.html"),
                              "--", str(tmp_path / "hello.c"),
                              path=f"{tools}:{os.environ['PATH']}")
    from roads.explain.session import NOT_RUN

    assert done.returncode == 1 and f"roads: error: {NOT_RUN}" in done.stderr, done.stderr
    assert not ran.exists()


@pytest.mark.usefixtures("no_leftovers")
def test_a_loop_of_links_on_path_is_no_crash_and_cannot_be_undone(tmp_path):
    """A PATH entry through a loop of links (loop/a to b, b to a) names nothing, but one
    of its links changed would name what the program made: roads run ended in a
    RuntimeError (Path.resolve's on a loop) before the run; now it runs, with the folder
    of the loop kept read-only."""
    here = tmp_path / "runs"
    (here / "loop").mkdir(parents=True)
    (here / "loop" / "a").symlink_to("b")
    (here / "loop" / "b").symlink_to("a")
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "xdg"),
           # Last: execvp takes a loop for an error, not for a folder without the program.
           "PATH": f"{os.environ['PATH']}:{here / 'loop' / 'a' / 'bin'}"}
    done = roads_from(REPO, "run", *AFTER, "--", "sh", "-c",
                      "rm -f loop/a; mkdir -p loop/a/bin; echo written > file", cwd=here, env=env)
    assert "Traceback" not in done.stderr and "ended (exit status" in done.stderr, done.stderr
    assert os.readlink(here / "loop" / "a") == "b"  # the loop stays as it was
    assert (here / "file").read_text() == "written\n"  # the rest of the folder is the program's


# Against the files and folders the environment names below the folder run from, which
# the user's own programs load or run afterwards: write each, replace it, make what is
# not there yet; then a file of the program's own, and a change to the repository there.
ENVIRONMENT_ATTACK = r"""
mkdir mine
for p in "$@"; do echo planted >> "$p"; echo planted > mine/new; mv -f mine/new "$p"; done
echo planted > sh/env; echo planted > perl/Evil.pm
echo '[core] fsmonitor = "echo ran outside > escaped"' >> .git/config
mkdir .git/hooks; echo planted > .hg/hgrc
echo written > file
"""


@pytest.mark.usefixtures("no_leftovers")
def test_what_the_environment_names_below_the_folder_run_from_stays_read_only(tmp_path, xdg):
    """LD_PRELOAD, BASH_ENV, GIT_CONFIG_GLOBAL and their like named files in the folder
    run from, which the program rewrote: the user's next program (any, for LD_PRELOAD)
    ran what it wrote, outside the sandbox. So did git, run there by a shell prompt, with
    the core.fsmonitor the program put in the folder's .git/config."""
    here = tmp_path / "runs"
    for folder in ("lib", "sh", "perl", "node", ".git", ".hg"):
        (here / folder).mkdir(parents=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(here / "lib" / "preload.so"), "-x", "c",
                    "-"], input="int roads_test;\n", text=True, check=True)
    files = ["gitconfig", "pystartup", "node/hook.js", "history", ".git/config"]
    for name in files:
        (here / name).write_text("mine\n")
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(xdg),
           "LD_PRELOAD": str(here / "lib" / "preload.so"),
           "BASH_ENV": str(here / "sh" / "env"),  # not there yet: its folder is kept
           "GIT_CONFIG_GLOBAL": str(here / "gitconfig"), "PYTHONSTARTUP": str(here / "pystartup"),
           "PERL5LIB": str(here / "perl"), "HISTFILE": str(here / "history"),
           "NODE_OPTIONS": f"--require={here / 'node' / 'hook.js'} --max-old-space-size=64"}
    before = tree(here)
    done = roads_from(REPO, "run", *AFTER, "--", "sh", "-c", ENVIRONMENT_ATTACK, "sh",
                      *(str(here / name) for name in [*files, "lib/preload.so", "perl"]),
                      cwd=here, env=env)
    assert "ended (exit status 0)" in done.stderr, done.stderr
    assert "read-only for the program" not in done.stderr  # the folder itself is not
    assert (here / "file").read_text() == "written\n"
    assert tree(here) == {**before, **{k: v for k, v in tree(here).items()
                                       if k in ("file", "mine", "mine/new")}}


# A repository of the program's own in the folder run from, whose configuration runs a
# command: git status, run there by a shell prompt after the run, ran it as the user.
MAKE_REPOSITORY = r"""
git init -q . && git config core.fsmonitor 'echo ran outside > "$PWD/escaped"; false'
mkdir -p .hg && printf '[hooks]\npre-status = echo ran outside > escaped\n' > .hg/hgrc
"""


@pytest.mark.usefixtures("no_leftovers")
@pytest.mark.skipif(not shutil.which("git"), reason="needs git")
def test_a_repository_the_program_makes_where_it_runs_is_renamed_aside(tmp_path, xdg):
    here = tmp_path / "runs"
    here.mkdir()
    (here / ".git.from-run").mkdir()  # a name taken: the next one is used
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(xdg)}
    done = roads_from(REPO, "run", *AFTER, "--", "sh", "-c", MAKE_REPOSITORY, cwd=here, env=env)
    assert "ended (exit status 0)" in done.stderr, done.stderr
    assert sorted(p.name for p in here.iterdir()) == [".git.from-run", ".git.from-run-2",
                                                      ".hg.from-run"]
    assert (f"roads: warning: the program made {here / '.git'}, where git or Mercurial, run "
            "in that folder or one below it (a shell prompt runs git at each command), would "
            "run the commands its configuration names (core.fsmonitor, hooks): it was renamed "
            ".git.from-run-2 (and in it HEAD, objects, refs, each renamed NAME.from-run: git, "
            "run in it, would take it for a repository); look at it before you give it its "
            "name back\n") in done.stderr
    subprocess.run(["git", "status"], cwd=here, capture_output=True,
                   env={**env, "GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert not (here / "escaped").exists()


@pytest.mark.usefixtures("no_leftovers")
def test_a_relative_entry_of_path_or_ld_library_path_keeps_the_folder_whole(tmp_path, xdg):
    """A trailing ':' (export LD_LIBRARY_PATH=/opt/lib:$LD_LIBRARY_PATH, unset before)
    names the folder a program runs from: a libc.so.6 the program left there was loaded
    by every program the user started there next, outside the sandbox."""
    here = tmp_path / "runs"
    here.mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(xdg),
           "LD_LIBRARY_PATH": f"{tmp_path / 'opt'}:"}
    done = roads_from(REPO, "run", *AFTER, "--", "sh", "-c",
                      "cp /bin/true libc.so.6; mkdir bin; true", cwd=here, env=env)
    assert "ended (exit status 0)" in done.stderr, done.stderr
    assert list(here.iterdir()) == []
    assert done.stderr.endswith(
        f"roads: note: {here} was read-only for the program, which could write no file "
        "there: it is the folder you are in, which LD_LIBRARY_PATH's empty entry (a leading, "
        "trailing or doubled \":\") names, as it names any folder you run a program from: a "
        "folder on LD_LIBRARY_PATH, whose libraries programs load outside the sandbox; to "
        "let a program write files, take that entry out of LD_LIBRARY_PATH (a relative entry "
        "names whichever folder a program runs from)\n")


@pytest.mark.usefixtures("no_leftovers")
def test_a_run_by_python_m_keeps_the_folder_it_started_in_whole(tmp_path, xdg):
    """python -m roads.cli imports from the folder it starts in before its own library:
    an argparse.py the program left there ran in the next python -m roads.cli there."""
    here = tmp_path / "runs"
    here.mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(xdg),
           "PYTHONPATH": str(REPO)}
    plant = "echo 'open(\"escaped\", \"w\")' > argparse.py; true"
    for _ in range(2):  # the second would import what the first planted
        done = subprocess.run([sys.executable, "-m", "roads.cli", "run", *AFTER, "--", "sh", "-c",
                               plant], capture_output=True, text=True, cwd=here, env=env,
                              timeout=DEADLINE)
        assert "ended (exit status 0)" in done.stderr, done.stderr
    assert list(here.iterdir()) == []
    assert ("it is the folder python -m roads.cli was started in, which that Python imports "
            "from before its own library") in done.stderr
    assert done.stderr.endswith("; to let a program write files, run the roads command, or "
                                "python -P -m roads.cli, which imports nothing from the "
                                "folder it starts in\n")


def test_a_launcher_that_refuses_the_run_is_told_by_its_exit_status(tmp_path):
    """The launcher's refusal (exit status 2: what must stay read-only cannot be kept so)
    was read as a wait status, and roads run said it "could not start the run (killed by
    SIGINT)"."""
    from roads.capture.runner import run_program
    from roads.errors import SampleError

    refusing = tmp_path / "launcher"
    refusing.write_text("#!/bin/sh\necho 'launcher: no run' >&2\nexit 2\n")
    refusing.chmod(0o755)
    with pytest.raises(SampleError) as raised:
        run_program(["true"], launcher_path=refusing, cwd=tmp_path, env=dict(os.environ),
                    timeout=10, no_aslr=True)
    assert raised.value.message == "the launcher could not start the run (exit status 2)"
    assert raised.value.output == "launcher: no run\n"


def test_relative_entries_stand_for_the_folder_run_from_and_names_for_nothing(tmp_path):
    environ = {"PATH": "/usr/bin::bin", "LD_PRELOAD": "libc.so.6 ./x.so", "BASH_ENV": "rc",
               "XDG_DATA_DIRS": "share"}  # void, by the XDG specification
    found = guarded(tmp_path / "roads", [], tmp_path, [], environ, here=tmp_path)
    relative = [g.what.split("'s ", 1)[1].split(" names, ")[0] for g in found
                if g.remedy.startswith("take that entry out")]
    assert relative == ['empty entry (a leading, trailing or doubled ":")', 'relative entry "bin"',
                        'relative entry "./x.so"', 'relative entry "rc"']
    assert all(g.path == tmp_path for g in found if g.remedy.startswith("take that entry out"))
    assert kept_read_only(tmp_path, Guarded(tmp_path / "home", HOME), found)[0].path == tmp_path


def test_any_variable_naming_a_path_below_the_folder_run_from_keeps_that_path(tmp_path):
    from roads.capture.runfolder import named_below

    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "vim").write_text("")
    environ = {"EDITOR": f"{tmp_path / 'bin' / 'vim'} -u NONE", "PWD": str(tmp_path / "bin"),
               "PROJECT": str(tmp_path), "LATER": str(tmp_path / "not-there"),
               "TMPDIR": str(tmp_path / "bin"), "ELSEWHERE": "/usr/bin"}
    what = "a path EDITOR names, which a program you start may load or run outside the sandbox"
    assert named_below(tmp_path, environ) == [Guarded(tmp_path / "bin" / "vim", what)]
    # A link on the way: the folder holding it, pointed elsewhere, would make it the program's.
    (tmp_path / "bin" / "vi").symlink_to("/bin/true")
    (tmp_path / "ed").symlink_to("/bin/true")  # in the folder itself: only it whole would keep it
    found = named_below(tmp_path, {"EDITOR": f"{tmp_path / 'bin' / 'vi'}:{tmp_path / 'ed'}"})
    assert [(g.path, g.there) for g in found] == [(tmp_path / "bin", False)]


def test_a_repository_in_the_folder_run_from_is_kept_with_the_folder_its_gitfile_names(tmp_path):
    from roads.capture.runfolder import repositories

    assert repositories(tmp_path) == []
    (tmp_path / "work.git").mkdir()
    (tmp_path / ".git").write_text("gitdir: work.git\n")  # a worktree's, a submodule's
    (tmp_path / ".hg").mkdir()
    assert [g.path for g in repositories(tmp_path)] == [tmp_path / ".git", tmp_path / "work.git",
                                                       tmp_path / ".hg"]


@pytest.mark.usefixtures("no_leftovers")
def test_a_file_with_another_name_outside_is_not_written_through(tmp_path, xdg):
    """A hard link in the folder run from to a file outside it (uv's venvs link their
    files to ~/.cache/uv; ln makes one): the program, writing it, wrote the file outside,
    which the user's other projects import."""
    here, outside = tmp_path / "runs", tmp_path / "cache"
    (here / ".venv").mkdir(parents=True)
    outside.mkdir()
    for n in range(10):  # more than are kept one by one: their entry, .venv, is kept
        (outside / f"m{n}.py").write_text("mine\n")
        os.link(outside / f"m{n}.py", here / ".venv" / f"m{n}.py")
    (outside / "rc").write_text("mine\n")
    os.link(outside / "rc", here / "rc")
    (here / "data").mkdir()  # beside them, the program's
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(xdg)}
    before = tree(outside)
    done = roads_from(REPO, "run", *AFTER, "--", "sh", "-c",
                      "echo planted >> rc; chmod 777 rc; echo planted >> .venv/m3.py; "
                      "echo planted > .venv/new.py; echo written > data/file", cwd=here, env=env)
    assert "ended (exit status 0)" in done.stderr, done.stderr
    assert tree(outside) == before
    assert (here / "data" / "file").read_text() == "written\n"
    assert not (here / ".venv" / "new.py").exists()


def test_a_folder_too_large_to_search_for_hard_links_is_kept_whole(tmp_path):
    from roads.capture.runfolder import survey

    for n in range(3):
        (tmp_path / str(n)).mkdir()
    (tmp_path / "0" / "f").write_text("")
    os.link(tmp_path / "0" / "f", tmp_path / "1" / "g")
    assert [g.path for g in survey(tmp_path).kept] == [tmp_path / "0" / "f", tmp_path / "1" / "g"]
    assert [g.path for g in survey(tmp_path, kept=[tmp_path / "1"]).kept] == [tmp_path / "0" / "f"]
    assert [(g.path, g.remedy) for g in survey(tmp_path, limit=4).kept] == [
        (tmp_path, "run it from a folder of fewer files")]


# The folder run from made a git repository itself, without a .git: git run there takes
# a folder with HEAD, objects and refs for one, and reads its config (core.worktree,
# core.fsmonitor): git status there ran the command as the user.
MAKE_BARE = r"""
mkdir -p objects refs/heads && echo 'ref: refs/heads/main' > HEAD
printf '[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = .\n\tfsmonitor = "echo ran outside > escaped; false"\n' > config
"""


@pytest.mark.usefixtures("no_leftovers")
@pytest.mark.skipif(not shutil.which("git"), reason="needs git")
def test_a_folder_the_program_makes_a_repository_itself_is_undone(tmp_path, xdg):
    here = tmp_path / "runs"
    here.mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(xdg)}
    done = roads_from(REPO, "run", *AFTER, "--", "sh", "-c", MAKE_BARE, cwd=here, env=env)
    assert "ended (exit status 0)" in done.stderr, done.stderr
    assert sorted(p.name for p in here.iterdir()) == ["HEAD.from-run", "config",
                                                      "objects.from-run", "refs.from-run"]
    assert f"the program made {here / 'HEAD'}," in done.stderr
    subprocess.run(["git", "status"], cwd=here, capture_output=True,
                   env={**env, "GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert not (here / "escaped").exists()


# Repositories the program makes in folders below the one run from, whose configuration
# runs a command (ESCAPED, $1) where git runs in them or below: a .git of git init's; a
# folder made a repository itself (MAKE_BARE); one made so by HEAD and a commondir file
# naming a folder with objects, refs and the config (whose config.worktree gives it a
# work tree); and a repository that was there before, whose config it tries to change.
MAKE_BELOW = r"""
mkdir -p a/b && (cd a/b && git init -q && git config core.fsmonitor "echo ran > $1; false")
mkdir -p c && (cd c && sh -c "$MAKE_BARE")
mkdir -p d e/objects e/refs && echo 'ref: refs/heads/main' > d/HEAD && echo ../e > d/commondir
printf '[core]\n\trepositoryformatversion = 1\n\tfsmonitor = "echo ran > %s; false"\n[extensions]\n\tworktreeConfig = true\n' "$1" > e/config
printf '[core]\n\tworktree = ..\n' > d/config.worktree
git -C mine config core.fsmonitor "echo ran > $1; false"
true
"""


@pytest.mark.usefixtures("no_leftovers")
@pytest.mark.skipif(not shutil.which("git"), reason="needs git")
def test_a_repository_the_program_makes_in_a_folder_below_is_renamed_aside(tmp_path, xdg):
    """git finds a repository in the folder it runs in or in any above it: one the program
    made in a folder below was left as it was, and a shell prompt ran its core.fsmonitor
    as soon as the user went there; one that was there could be changed."""
    here, escaped = tmp_path / "runs", tmp_path / "escaped"
    (here / "mine").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=here / "mine", check=True)
    config = (here / "mine" / ".git" / "config").read_text()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(xdg),
           "MAKE_BARE": MAKE_BARE.replace("echo ran outside > escaped", f"echo ran > {escaped}")}
    done = roads_from(REPO, "run", *AFTER, "--", "sh", "-c", MAKE_BELOW, "sh", str(escaped),
                      cwd=here, env=env)
    assert "ended (exit status 0)" in done.stderr, done.stderr
    assert (here / "mine" / ".git" / "config").read_text() == config
    assert sorted(p.name for p in (here / "a" / "b").iterdir()) == [".git.from-run"]
    assert sorted(p.name for p in (here / "d").iterdir()) == [
        "HEAD.from-run", "commondir.from-run", "config.worktree"]
    for made in ("a/b/.git", "c/HEAD", "c/objects", "c/refs", "d/HEAD", "d/commondir"):
        assert f"roads: warning: the program made {here / made}, where git" in done.stderr
    assert str(here / "mine") not in done.stderr
    for folder in ("a", "a/b", "a/b/.git.from-run", "c", "c/objects.from-run", "d", "e"):
        subprocess.run(["git", "status"], cwd=here / folder, capture_output=True,
                       env={**env, "GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert not escaped.exists()


# A toolchain file naming a toolchain of the program's by its path ($1): rustup's rustc,
# run in that folder or below (a shell prompt such as starship's runs rustc --version),
# ran the program's; asdf's python (path:) would too. A .tool-versions that was there is
# the user's, which the program would point elsewhere.
MAKE_TOOLCHAIN = r"""
mkdir -p toolchain/bin sub/deeper
printf '#!/bin/sh\necho ran > %s\necho rustc 9.9.9\n' "$1" > toolchain/bin/rustc
chmod +x toolchain/bin/rustc
printf '[toolchain]\npath = "%s/toolchain"\n' "$PWD" > sub/rust-toolchain.toml
echo "python path:$PWD/toolchain" > sub/.tool-versions
echo "python path:$PWD/toolchain" >> .tool-versions
true
"""


@pytest.mark.usefixtures("no_leftovers")
@pytest.mark.skipif(not shutil.which("rustup"), reason="needs rustup")
def test_a_toolchain_file_the_program_makes_is_renamed_aside(tmp_path, xdg):
    here, escaped = tmp_path / "runs", tmp_path / "escaped"
    here.mkdir()
    (here / ".tool-versions").write_text("python 3.12.1\n")
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(xdg)}
    done = roads_from(REPO, "run", *AFTER, "--", "sh", "-c", MAKE_TOOLCHAIN, "sh", str(escaped),
                      cwd=here, env=env)
    assert "ended (exit status 0)" in done.stderr, done.stderr
    assert (here / ".tool-versions").read_text() == "python 3.12.1\n"
    assert sorted(p.name for p in (here / "sub").iterdir()) == [
        ".tool-versions.from-run", "deeper", "rust-toolchain.toml.from-run"]
    assert (f"roads: warning: the program made {here / 'sub' / 'rust-toolchain.toml'}, where "
            "rustup, run in that folder or one below it (a shell prompt may run it: rustc "
            "--version), would run the toolchain its path names: it was renamed "
            "rust-toolchain.toml.from-run;") in done.stderr
    subprocess.run(["rustc", "--version"], cwd=here / "sub" / "deeper", capture_output=True,
                   env={**os.environ, "PATH": f"{Path(shutil.which('rustup')).parent}:"
                                              f"{os.environ['PATH']}"})
    assert not escaped.exists()


def test_a_walk_for_repositories_made_stops_and_says_so(tmp_path):
    """A program that leaves more files than are searched may hide a repository among
    them: the folder is named as not searched. One that was there before the run is the
    user's, kept read-only in it, and not renamed."""
    from roads.capture.runfolder import renamed_made, survey

    (tmp_path / "mine" / ".git").mkdir(parents=True)
    found = survey(tmp_path)
    assert [g.path for g in found.kept] == [tmp_path / "mine" / ".git"]
    for n in range(5):
        (tmp_path / str(n)).mkdir()
    (tmp_path / "4" / ".git").mkdir()
    done = renamed_made(tmp_path, found.before, limit=3)
    assert done.unsearched == [tmp_path] and (tmp_path / "4" / ".git").is_dir()
    done = renamed_made(tmp_path, found.before)
    assert done.moved == [(tmp_path / "4" / ".git", tmp_path / "4" / ".git.from-run")]
    assert done.unsearched == [] and (tmp_path / "mine" / ".git").is_dir()


def test_names_of_a_repositorys_layout_in_no_repository_are_left_alone(tmp_path):
    from roads.capture.runfolder import renamed_made, repositories, survey

    before = survey(tmp_path).before
    (tmp_path / "refs").mkdir()  # a program's own folder of that name: no HEAD, no objects
    (tmp_path / "HEAD").write_text("not git's\n")
    assert renamed_made(tmp_path, before).moved == [] and repositories(tmp_path) == []
    (tmp_path / "objects").mkdir()  # now git would take the folder for a repository
    assert repositories(tmp_path)[0].path == tmp_path


@pytest.mark.usefixtures("no_leftovers")
def test_a_path_too_long_in_the_environment_is_no_crash(tmp_path, xdg):
    """A variable's path (any variable's, or PATH's) that no system call takes (a name
    too long) named nothing there: roads run ended in an OSError's traceback."""
    here = tmp_path / "runs"
    here.mkdir()
    long = "/" + "a" * 300
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(xdg),
           "SOME_TOOL_FILE": long, "PATH": f"{os.environ['PATH']}:{long}/bin"}
    done = roads_from(REPO, "run", *AFTER, "--", "true", cwd=here, env=env)
    assert "Traceback" not in done.stderr, done.stderr
    assert "ended (exit status 0)" in done.stderr, done.stderr


def test_a_folder_run_from_that_cannot_be_listed_is_kept_whole(tmp_path):
    """(As root every folder can be listed: a folder gone stands for one that cannot be,
    both failing os.walk's first listing.) Its files' other names unknown, none was kept."""
    from roads.capture.runfolder import survey

    here = tmp_path / "gone"
    assert [g.path for g in survey(here).kept] == [here]
