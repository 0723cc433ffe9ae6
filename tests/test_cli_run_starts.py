"""roads run at the two ends of a start: a first process that cannot be stopped at
--after is said to be, with why, in roads run's words (not a sample's checkpoint); and
a file that the kernel will not start is named for what it is."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from roads.capture.proc import parse_status
from roads.capture.runner import not_stopping
from roads.explain.program import not_executed
from tests.cli_support import own_folder, roads  # noqa: F401 - own_folder is a fixture

# The parent waits in the kernel, where no signal stops it, until its child runs
# execve or exits: here the child sleeps instead (what vfork's children must not do).
VFORK_PARENT = r"""
#include <unistd.h>
int main(void) {
    if (vfork() == 0) { sleep(30); _exit(0); }
    return 0;
}
"""


def compiled(folder: Path, name: str, source: str) -> str:
    (folder / f"{name}.c").write_text(source)
    subprocess.run(["gcc", "-o", folder / name, folder / f"{name}.c"], check=True, timeout=60)
    return f"./{name}"


@pytest.mark.gcc
@pytest.mark.usefixtures("no_leftovers")
def test_a_first_process_that_cannot_stop_is_said_to_sleep_in_the_kernel(own_folder):
    # It said "process N announced checkpoint 'stopped' but never stopped".
    program = compiled(own_folder, "vforked", VFORK_PARENT)
    done = roads("run", "--after", "0.3", "--", program, cwd=own_folder)
    assert (done.returncode, done.stdout) == (1, "")
    first = done.stderr.splitlines()[0]
    assert first.startswith(f"roads: error: {program}: process "), done.stderr
    assert first.endswith(" did not stop within 2 s of being sent SIGSTOP: it sleeps in the "
                          "kernel where no signal reaches it (State: D (disk sleep)), as a "
                          "vfork's parent does until its child runs execve or exits")
    assert "checkpoint" not in done.stderr


def _status(state: str, tracer: int) -> str:
    return (f"Name:\tprog\nState:\t{state}\nTgid:\t7\nPid:\t7\nPPid:\t1\nTracerPid:\t{tracer}\n"
            "Threads:\t1\n")


def test_why_a_process_did_not_stop():
    assert not_stopping(None) == ""
    assert not_stopping(parse_status(_status("R (running)", 0))) == " (State: R (running))"
    # A tracer is handed SIGSTOP first and may go on without it (PTRACE_CONT, 0).
    assert not_stopping(parse_status(_status("S (sleeping)", 12))) == (
        ": process 12 traces it (ptrace), and a tracer is handed each signal first and may "
        "let the process go on without it")


# Files the kernel will not start, each with what roads run says of it. It said "could
# not execute ./x: Exec format error" of a shell script without #! (which a shell runs
# as its own) and of an empty file, and "No such file or directory" of a file that is
# there, whose interpreter or loader is not; each followed by a "command:" line.
NOT_PROGRAMS = {
    "noshebang": (b"echo hi\n",
                  "a text file without a #! line naming its interpreter, which the kernel "
                  "cannot start (a shell runs such a file as a script of its own): name the "
                  "shell, roads run -- sh ./noshebang"),
    "empty": (b"", "an empty file, which the kernel cannot start (a shell runs it as a "
                   "script, empty, that does nothing)"),
    "noise": (bytes(range(1, 256)) * 4,
              "neither a compiled program (ELF) nor a script (#!): the kernel cannot start it"),
    "lostinterp": (b"#!/nonexistent/interp -x\necho hi\n",
                   "a script whose interpreter cannot be run (/nonexistent/interp: no such "
                   "program), named by its first line (#!/nonexistent/interp -x): a shell "
                   "cannot run it either"),
    "bareshebang": (b"#!\necho hi\n",
                    "a script whose first line, #!, names no interpreter: the kernel cannot "
                    "start it"),
}


@pytest.mark.usefixtures("no_leftovers")
@pytest.mark.parametrize("name", NOT_PROGRAMS)
def test_a_file_the_kernel_will_not_start_is_named_for_what_it_is(own_folder, name):
    content, said = NOT_PROGRAMS[name]
    (own_folder / name).write_bytes(content)
    (own_folder / name).chmod(0o755)
    done = roads("run", "--", f"./{name}", cwd=own_folder)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"roads: error: ./{name}: {said}\n"


@pytest.mark.gcc
@pytest.mark.usefixtures("no_leftovers")
def test_a_program_whose_loader_is_missing_names_it(own_folder):
    (own_folder / "loaderless.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-o", own_folder / "loaderless", own_folder / "loaderless.c",
                    "-Wl,--dynamic-linker=/lib64/ld-nowhere.so.2"], check=True, timeout=60)
    done = roads("run", "--", "./loaderless", cwd=own_folder)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "roads: error: ./loaderless: its loader, /lib64/ld-nowhere.so.2, which its ELF header "
        "names (PT_INTERP) for the kernel to start first, is not there: a program built for "
        "another system (a shell says \"required file not found\")\n")


@pytest.mark.usefixtures("no_leftovers")
def test_a_script_whose_interpreter_the_sandbox_hides_is_told_so(own_folder):
    # /dev/shm is the sandbox's own, empty: an interpreter there is on the machine, and
    # a shell outside runs the script; it is not "no such program".
    interpreter = Path(f"/dev/shm/roads-test-sh-{os.getpid()}")
    shutil.copy("/bin/sh", interpreter)
    try:
        (own_folder / "hidden").write_text(f"#!{interpreter}\necho hi\n")
        (own_folder / "hidden").chmod(0o755)
        done = roads("run", "--", "./hidden", cwd=own_folder)
    finally:
        interpreter.unlink()
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"roads: error: ./hidden: a script whose interpreter, {interpreter}, named by its "
        f"first line (#!{interpreter}), is not there in the sandbox, which gives the program "
        "/tmp, /run and /dev/shm of its own: copy it elsewhere\n")


def test_an_interpreter_that_runs_is_not_blamed_for_another_failure(tmp_path):
    # An interpreter that is there and runs, and an execve that failed otherwise (a
    # chain of scripts too deep, say): the system's words, not "cannot be run".
    (tmp_path / "s").write_text("#!/bin/sh\n")
    assert not_executed("./s", str(tmp_path / "s"), errno.ELOOP) == (
        f"./s: could not execute {tmp_path / 's'}: {os.strerror(errno.ELOOP)}")


# The folder roads run lets its program write is the whole tree below the one it runs
# in. Run from a checkout, a program renamed its own file over .cache/roads/launcher-*,
# and the next roads run ran that file outside the sandbox, as the user.
PLANT = r"""
for f in .cache/roads/launcher-*; do
  [ -e "$f" ] || continue
  printf '#!/bin/sh\necho ran outside > escaped\n' > "$f.new" && chmod +x "$f.new" && mv -f "$f.new" "$f"
done
"""


@pytest.mark.usefixtures("no_leftovers")
def test_the_launcher_is_not_kept_where_the_program_may_write(tmp_path):
    # --root names this folder, whose .cache/roads held the launcher: kept in the
    # user's cache folder instead, which the program cannot reach.
    cache = tmp_path / "xdg"
    cache.mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    project = tmp_path / "project"
    project.mkdir()
    for _ in range(2):  # the second run would start the launcher the first one planted
        done = subprocess.run([sys.executable, "-P", "-m", "roads.cli", "--root", str(project),
                               "run", "--", "sh", "-c", PLANT], capture_output=True, text=True,
                              cwd=project, env=env, timeout=120)
        assert done.returncode == 1 and "ended (exit status 0)" in done.stderr, done.stderr
    assert not (project / "escaped").exists()
    assert not (project / ".cache").exists()
    assert list((cache / "roads").glob("launcher-*"))
