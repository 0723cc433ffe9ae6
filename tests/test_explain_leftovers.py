"""roads explain: what a run leaves behind. A daemon's orphan, whose parent the tracer
did not follow, is ended with the run, in the sandbox and out of it (it hung the
sandboxed run until the launcher's limit, and outside the sandbox it ran on under
init); and a program's output beyond what is kept is read and dropped, not stored
(300 MiB filled the sandbox's /tmp and made the program fail)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roads.explain import session as session_mod
from roads.explain.trace import MAX_OUTPUT

pytestmark = [pytest.mark.gcc]

# The parent is traced, its child is not (no --follow-fork): the child leaves the run's
# group, forks a grandchild that waits for ever, and exits, orphaning it.
DAEMON = r"""
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    if (fork() == 0) {
        setsid();
        if (fork() == 0)
            for (;;)
                pause();
        _exit(0);
    }
    usleep(300000);
    puts("parent done");
    return 0;
}
"""

# More output than the sandbox's /tmp holds (256 MiB), then a line on stderr.
LOUD = r"""
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


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A project root of its own: the launcher is built into its .cache."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    return tmp_path_factory.mktemp("explain-leftovers-root")


@pytest.mark.parametrize("sandbox", [False, True])
def test_an_unfollowed_daemons_orphan_is_ended_with_the_run(root, tmp_path, sandbox,
                                                            no_leftovers):
    (tmp_path / "daemon.c").write_text(DAEMON)
    # Built here, not by the command (a .c file is built in a folder of its own), so
    # that no_leftovers sees a process of it still running.
    subprocess.run(["gcc", "-O0", "-o", str(tmp_path / "daemon"), str(tmp_path / "daemon.c")],
                   check=True)
    args = [*([] if sandbox else ["--no-sandbox"]), "--at", "main", "--at", "exit",
            "--deadline", "20", "--out", "daemon.html", "--", "./daemon"]
    script = ("import sys\nfrom roads import cli\n"
              f"sys.exit(cli.main(['--root', {str(root)!r}, 'explain', *{args!r}]))\n")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 15, "ran into the deadline"
    page = (tmp_path / "daemon.html").read_text()
    assert "parent done" in page
    # no_leftovers: the grandchild (its program lies in tmp_path) is not running any more


def test_output_beyond_what_is_kept_is_dropped_not_stored(root, tmp_path, no_leftovers):
    (tmp_path / "loud.c").write_text(LOUD)
    s = session_mod.explain_program([str(tmp_path / "loud.c")], ["exit"], deadline=60,
                                    sandbox=root / ".cache" / "roads")
    assert s.complete
    run = s.capture.variants["default"].runs[0]
    assert run.exit_code == 0, run.stderr
    assert run.stdout == "x" * MAX_OUTPUT
    assert run.stderr == "all written\n"
