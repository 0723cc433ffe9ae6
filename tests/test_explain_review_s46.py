"""roads explain, reviewed as an attacker would use it: what a traced program can do to
the half of roads explain that runs outside the sandbox. Each test shows a run that
went wrong before its fix."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.test_explain import root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.gcc]

# The sandbox's writable folder, where the tracer (roads.explain.inner) leaves its result
# for the half of roads explain outside: the program writes there too.
PLANTS = r"""
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void)
{
    int fifo = mkfifo("/run/build/result.json", 0600);
    int folder = mkdir("/run/build/result.part", 0700);
    printf("planted %d %d\n", fifo, folder);
    return 0;
}
"""

FORGES = r"""
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
int main(void)
{
    FILE *f = fopen("/run/build/result.json", "w");
    if (!f)
        return 1;
    fputs("{\"error\": \"forged by the program\"}", f);
    fclose(f);
    kill(getppid(), SIGKILL);  /* its tracer: the same user, in the same namespace */
    pause();
    return 0;
}
"""


def _explain(root: Path, cwd: Path, *args: str, timeout: float = 30.0):
    """``roads explain ARGS`` in a session of its own, killed whole after ``timeout``
    seconds (a hang fails the test then, not later): how it ended, or None if it hung."""
    script = ("import sys\nfrom roads import cli\n"
              f"sys.exit(cli.main(['--root', {str(root)!r}, 'explain', *{list(args)!r}]))\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_files_a_program_plants_where_the_tracer_leaves_its_result_do_not_hold_it(
        root, tmp_path, no_leftovers):
    """A FIFO at result.json, where roads explain read the result from outside the
    sandbox (a folder at result.part made the tracer fail to write it): the read waited
    for a writer for ever, long past --deadline. The tracer now writes its result under
    a name of its own making and renames it into place; the result is read only as a
    regular file, not through a link, never waiting."""
    (tmp_path / "plants.c").write_text(PLANTS)
    started = time.monotonic()
    done = _explain(root, tmp_path, "--at", "exit", "--deadline", "10", "--out", "p.html",
                    "--", "plants.c")
    assert done is not None, "roads explain hung on what the program planted"
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 20
    assert "planted 0 0" in (tmp_path / "p.html").read_text()


def test_a_result_the_program_wrote_is_not_taken_for_the_tracers(root, tmp_path,
                                                                 no_leftovers):
    """The program wrote result.json itself and killed its tracer (its parent, of the
    same user: kill(2) needs nothing more), and roads explain took the program's words
    for the tracer's ('roads: error: forged by the program'; a whole session forged so
    drew a page of the program's choosing). A result counts only from a tracer that
    ended well; one killed is said to have been."""
    (tmp_path / "forges.c").write_text(FORGES)
    done = _explain(root, tmp_path, "--at", "exit", "--deadline", "10", "--out", "f.html",
                    "--", "forges.c")
    assert done is not None
    assert done.returncode == 1, done.stderr
    assert "forged" not in done.stderr
    assert "killed by SIGKILL" in done.stderr, done.stderr
    assert not (tmp_path / "f.html").exists()


# Fills the run's folder with a tree 3000 folders deep (its path past PATH_MAX).
DEEP = r"""
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void)
{
    int n = 0;
    if (chdir("/run/build") != 0)
        return 1;
    while (n < 3000 && mkdir("d", 0700) == 0 && chdir("d") == 0)
        n++;
    printf("%d deep\n", n);
    return 0;
}
"""


def test_a_run_folder_the_program_filled_however_deep_is_removed(root, tmp_path,
                                                                 no_leftovers):
    """TemporaryDirectory's rmtree recursed into the tree and raised RecursionError:
    roads explain ended in a traceback, no page, and the folder stayed in the cache."""
    (tmp_path / "deep.c").write_text(DEEP)
    cache = root / ".cache" / "roads"
    before = set(cache.glob("roads-explain-*"))
    try:
        done = _explain(root, tmp_path, "--at", "exit", "--out", "d.html", "--", "deep.c")
        assert done is not None
        assert done.returncode == 0, done.stderr[-2000:]
        assert "3000 deep" in (tmp_path / "d.html").read_text()
        assert set(cache.glob("roads-explain-*")) == before
    finally:
        # By rm(1): pytest's clean-up of old temporary folders is shutil.rmtree, which a
        # tree this deep stops (up to Python 3.12), in every later session.
        for left in set(cache.glob("roads-explain-*")) - before:
            subprocess.run(["rm", "-rf", str(left)], timeout=60, check=True)


def test_a_saved_session_naming_a_file_of_options_runs_nothing_outside(root, tmp_path):
    """A build runs the command a saved session records again (saved.refreshed). Its
    source, named '@opts.c', reached gcc as a file of options: one holding -wrapper ran
    a shell of the repository's choosing, outside the sandbox, at build time. Such a
    name is refused before gcc runs."""
    from roads.errors import ExplainError
    from roads.explain.saved import refreshed

    project = tmp_path / "project"
    project.mkdir()
    marker = tmp_path / "ran"
    (project / "@opts.c").write_text("int main(void) { return 0; }\n")
    (project / "real.c").write_text("int main(void) { return 0; }\n")
    (project / "opts.c").write_text(
        f'-wrapper /bin/sh,-c,touch\\ {marker};exec\\ "$0"\\ "$@" real.c\n')
    saved = project / "saved.json"
    saved.write_text(json.dumps({"inputs": {"argv": ["@opts.c"], "at": ["main"]}}))
    with pytest.raises(ExplainError, match="beginning with '@' as a file of options"):
        refreshed(saved, project, sandbox=root / ".cache" / "roads")
    assert not marker.exists()


def test_a_sources_gcc_runs_in_the_sandbox(root, tmp_path_factory, monkeypatch):
    """gcc compiled a .c program outside the sandbox, where the run itself is not: it
    read all it was told to (a saved session's source is a repository's, as a sample's
    is), and without the sandbox's limits (#include "/dev/zero" takes memory until the
    machine has none). It runs in the sandbox now, with the run's view of the files:
    the machine's /tmp hidden but for the source's folder."""
    from roads.errors import ExplainError
    from roads.explain import session as session_mod

    # An entry of /tmp of its own: the sandbox shows the whole entry that holds the
    # source's folder (tmp_path_factory's, for this test's source).
    elsewhere = Path(tempfile.mkdtemp(prefix="roads-test-hidden-", dir="/tmp"))
    try:
        (elsewhere / "h.h").write_text("#define SEEN 1\n")
        here = tmp_path_factory.mktemp("source")
        (here / "prog.c").write_text(f'#include "{elsewhere}/h.h"\n'
                                     "int main(void) { return SEEN - 1; }\n")
        monkeypatch.chdir(here)
        with pytest.raises(ExplainError, match=r"(?s)gcc could not compile .*h\.h: No such file"):
            session_mod.explain_program(["prog.c"], ["main"], sandbox=root / ".cache" / "roads")
    finally:
        shutil.rmtree(elsewhere)


# Puts a copy of /bin/true (stripped: no symbol table) where its own file was.
REPLACES_ITSELF = r"""
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void)
{
    char self[4096];
    struct stat st;
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    int in = open("/bin/true", O_RDONLY);
    if (n <= 0 || in < 0 || fstat(in, &st) != 0)
        return 1;
    self[n] = 0;
    unlink(self);
    int out = open(self, O_WRONLY | O_CREAT | O_EXCL, 0755);
    return out < 0 || sendfile(out, in, 0, st.st_size) != st.st_size;
}
"""


def test_a_program_that_replaces_its_own_file_is_drawn_with_its_own_elf(root, tmp_path,
                                                                        monkeypatch):
    """The ELF file was read by its path once the run was over: a program that deleted
    its own file (it lies in the run's folder, which it may write) ended roads explain
    in 'cannot read ELF file', and one that put another program there was drawn with
    that program's ELF headers. It is read before the run, as a sample's binary is."""
    from roads.explain import session as session_mod

    (tmp_path / "again.c").write_text(REPLACES_ITSELF)
    monkeypatch.chdir(tmp_path)
    session = session_mod.explain_program(["again.c"], ["exit"], sandbox=root / ".cache" / "roads")
    run = session.capture.variants["default"].runs[0]
    assert run.exit_code == 0, run.stderr
    assert session.capture.variants["default"].elf.symtab == ".symtab"  # not /bin/true's .dynsym
