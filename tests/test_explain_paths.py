"""roads explain and what a stop says of the program: the name of the program running
there after an execve, the path it was run from in the sandbox (/run/build, not the
samples' /build), ``--at _start`` of a stripped program (its ELF entry point) and ``--at
main`` of a stripped static one (refused with the stops it may take), the wait of a step
over a breakpoint, which has a deadline like every other wait; a program that renames
itself (prctl), which has run no execve; and a sandboxed page's process ids."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from roads.errors import ExplainError
from roads.explain import session as session_mod
from roads.explain import trace as trace_mod
from roads.explain.record import session_from_json, session_json
from roads.capture.elf import read_elf
from roads.explain.page import (ExecutedSelection, ExplainSelection, LibrarySelection, _executed,
                                render_page, selections)
from roads.figures.provenance import caption, compiler_flags
from roads.figures.regions import memory_map
from roads.explain.trace import Tracer, parse_stop
from tests.explain_support import page_facts
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.dot]


@pytest.fixture(autouse=True)
def gcc():
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")


def _build(folder: Path, name: str, source: str) -> Path:
    (folder / f"{name}.c").write_text(source)
    subprocess.run(["gcc", "-O0", "-g", "-o", str(folder / name),
                    str(folder / f"{name}.c")], check=True, timeout=60)
    return folder / name


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


GETPID = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("%d\n", (int)getpid()); return 0; }
"""


@pytest.mark.parametrize("sandbox", [True, False])
def test_a_sandboxed_page_says_its_pids_are_the_sandboxs(root, tmp_path, monkeypatch,
                                                        no_leftovers, sandbox):
    """A page made in the sandbox named the program 'pid 3' and read its tables 'from
    /proc/3/smaps', and said nowhere that these are the numbers of the sandbox's own pid
    namespace: a reader's /proc/3 is another process, or none. The page says so, with
    the pid the program itself saw; a run outside the sandbox has this machine's pids,
    and no such line."""
    monkeypatch.chdir(tmp_path)
    _build(tmp_path, "getpid", GETPID)
    options = () if sandbox else ("--no-sandbox",)
    assert explain(root, *options, "--at", "exit", "--out", "p.html", "--save", "p.json",
                   "--", "./getpid") == 0
    data, run = _saved_run(tmp_path / "p.json")
    pid = int(run["stdout"])
    assert run["pid"] == pid
    facts = page_facts((tmp_path / "p.html").read_text())
    if sandbox:
        assert facts["Process ids"] == (
            f"those of the sandbox's own pid namespace, as the program sees them (its "
            f"getpid() is {pid}); on this machine pid {pid}, and /proc/{pid}, name another "
            "process or none")
        assert data["own_pids"] is True
    else:
        assert "Process ids" not in facts and "own_pids" not in data


# ---------------------------------------------------------------------------- execve

EXECS = r"""
#include <unistd.h>
int main(int argc, char **argv) { (void)argc; execv(argv[1], argv + 1); return 127; }
"""

NAPS = r"""
#include <unistd.h>
int main(void) { usleep(1000); return 0; }
"""


@pytest.mark.parametrize("wheres", [["main", "exit"], ["exit"]])
def test_a_stop_after_an_execve_is_titled_with_the_program_running_there(tmp_path, wheres,
                                                                         no_leftovers):
    """``first`` execs ``second``: the exit stop is second's, and its figures said
    "The address space of first, stop 'exit'", as if the first program still ran;
    with no stop before the execve, the page also drew first's ELF file against
    second's regions. Each stop is titled with the program it ran, as /proc/PID/exe
    named it then; the stops before the execve keep the name given on the command line."""
    first = _build(tmp_path, "first", EXECS)
    second = _build(tmp_path, "second", NAPS)
    session = session_mod.explain_program([str(first), str(second)], wheres)
    run = session.capture.variants["default"].runs[0]
    assert [c.exe for c in run.checkpoints][-1] == str(second)
    assert session.exe == str(first)  # the program started, whose ELF file the page reads
    sels = selections(session)
    names = {s.checkpoint_name: s.sample for s in sels}
    assert names["exit"] == "second"
    if "main" in names:
        assert names["main"] == "first"
    assert [s.exe_matches_elf for s in sels] == [s.checkpoint_name == "main" for s in sels]
    page = render_page(session)
    assert "The address space of second, stop &#x27;exit&#x27;" in page
    assert "The address space of first, stop &#x27;exit&#x27;" not in page
    assert f"exit (second, pid {run.pid})" in page  # the stop's heading names it too
    if "main" in names:
        assert "The address space of first, stop &#x27;main&#x27;" in page
        assert f"main (pid {run.pid})" in page
        # Still one run's stops: the diff tells the execve (lineage), not two programs' runs.
        assert "execve replaced the address space" in page
    else:  # without the files (read_elf), first's ELF record is refused for second's stop
        assert "not the program&#x27;s own executable" in page


@pytest.mark.parametrize("wheres", [["main", "exit"], ["exit"]])
def test_a_program_run_by_execve_gets_a_figure_of_its_own_file(tmp_path, wheres, no_leftovers):
    """Only the program started had an ELF → memory figure: a stop in a program run by
    execve was drawn without that program's segments, and where no stop was in the
    program started, the page had no ELF figure at all. The second program's file is
    read after the run, as a library's is (the one the stops mapped), and drawn at its
    stop; its stop's regions are named after its segments."""
    first = _build(tmp_path, "first", EXECS)
    second = _build(tmp_path, "second", NAPS)
    session = session_mod.explain_program([str(first), str(second)], wheres)
    page = render_page(session, read_elf=read_elf)
    assert (f"How <code>{second}</code>'s file became regions (the program that its process "
            "runs since an execve), at stop exit (second, pid ") in page
    assert "second: program headers" in page  # the figure's heading: second's PT_LOADs
    assert "No ELF figure" not in page
    if "main" in wheres:
        assert "How the program's file became regions, at stop main (pid " in page
        assert "first: program headers" in page
    else:
        assert (f"No stop is in the program started, <code>{first}</code>, so its file is "
                "not drawn: every stop is in a program that its process runs since an "
                "execve.") in page
        assert "first: program headers" not in page
    sels, refused = _executed(selections(session), read_elf, session.files)
    assert refused == []
    ran = [s for s in sels if s.checkpoint_name == "exit"][0]
    assert isinstance(ran, ExecutedSelection) and ran.program == str(second)
    assert ran.elf == read_elf(str(second))
    # Its regions placed against second's segments: the load bias is known (the stop's
    # diagram and diff have it), where the capture's ELF record, first's, gave none.
    before = [s for s in selections(session) if s.checkpoint_name == "exit"][0]
    assert memory_map(before).bias is None
    mapped = [r for r in ran.regions if r.pathname == str(second)]
    assert memory_map(ran).bias == min(r.start for r in mapped)


def test_a_figure_of_another_file_does_not_name_the_programs_compile_flags(tmp_path,
                                                                           no_leftovers):
    """Under every figure, the machine it was made on and the compile command: that of
    the program started (a .c file the command compiled), which the figures of another
    program its process runs since an execve, or of a library, named as if they were
    that file's."""
    (tmp_path / "first.c").write_text(EXECS)
    second = _build(tmp_path, "second", NAPS)
    session = session_mod.explain_program([str(tmp_path / "first.c"), str(second)],
                                          ["main", "exit"], cache=tmp_path / "cache")
    flags = " ".join(compiler_flags(session.capture.variants["default"].gcc_argv))
    assert flags.startswith("-O")
    sels, _ = _executed(selections(session), read_elf, session.files)
    started = [s for s in sels if s.checkpoint_name == "main"][0]
    ran = [s for s in sels if s.checkpoint_name == "exit"][0]
    assert isinstance(ran, ExecutedSelection)
    libc = LibrarySelection(**{f.name: getattr(started, f.name)
                               for f in dataclasses.fields(ExplainSelection)},
                            library="/usr/lib/x86_64-linux-gnu/libc.so.6")
    assert flags in caption(started)
    for other in (ran, libc, [started, ran]):
        assert flags not in caption(other) and " · gcc " in caption(other)


# Child A runs the old build of the victim; the new build is renamed over it once A runs
# it (its /proc/PID/exe names it), and child B runs the new one. "late": A ends after B,
# told to by a SIGUSR1 sent once B is reaped, which A waits for with sigwait (blocked
# before the fork, so that one sent early waits for it): a sleep of A's, however long,
# could end before B's exit under a loaded machine's tracing.
REPLACES = r"""
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    (void)argc;
    int late = strcmp(argv[3], "late") == 0;
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, 0);           /* A inherits it through execve */
    pid_t a = fork();
    if (a == 0) {
        execl(argv[1], argv[1], late ? "-1" : "100", (char *)0);
        _exit(127);
    }
    char link[64], exe[PATH_MAX];
    snprintf(link, sizeof link, "/proc/%d/exe", (int)a);
    for (int i = 0; i < 10000; i++) {          /* until A runs the victim */
        ssize_t n = readlink(link, exe, sizeof exe - 1);
        if (n > 0 && (exe[n] = 0, strcmp(exe, argv[1]) == 0))
            break;
        usleep(1000);
    }
    if (rename(argv[2], argv[1]) != 0)
        return 1;
    if (!late)
        waitpid(a, 0, 0);                      /* A's exit comes first */
    pid_t b = fork();
    if (b == 0) {
        execl(argv[1], argv[1], "0", (char *)0);
        _exit(127);
    }
    waitpid(b, 0, 0);
    if (late) {
        kill(a, SIGUSR1);
        waitpid(a, 0, 0);
    }
    return 0;
}
"""

VICTIM = r"""
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
char big[SIZE];
int main(int argc, char **argv) {
    (void)argc;
    int ms = atoi(argv[1]), sig;
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    if (ms < 0)
        sigwait(&usr1, &sig);                   /* until REPLACES says B has ended */
    else
        usleep(1000 * ms);
    return big[0];
}
"""


@pytest.mark.parametrize("order", ["late", "early"])
def test_a_program_run_from_a_file_deleted_since_gets_no_elf_record(tmp_path, order,
                                                                    no_leftovers):
    """Two children run one path: A the file that was there, unlinked since (a new
    build renamed over it), B the new one. A's stop got the new build's ELF record,
    read once for the path, where B's stop came first (a symbol of the new build was
    drawn in A's memory); where A's came first, B's got none. Each stop is judged on
    its own: A's file was deleted, and is not read; B's is the file at the path."""
    replaces = _build(tmp_path, "replaces", REPLACES)
    victim = _build(tmp_path, "victim", VICTIM.replace("SIZE", "64"))
    newer = _build(tmp_path, "newer", VICTIM.replace("SIZE", "1 << 20"))
    session = session_mod.explain_program([str(replaces), str(victim), str(newer), order],
                                          ["exit"], follow_fork=True, sandbox=None)
    sels, refused = _executed(selections(session), read_elf, session.files)
    ran = {s.snapshot.pid: s for s in sels if s.snapshot.exe.startswith(str(victim))}
    assert len(ran) == 2, [s.snapshot.exe for s in sels]
    old, new = sorted(ran.values(), key=lambda s: s.snapshot.exe != f"{victim} (deleted)")
    assert old.snapshot.exe == f"{victim} (deleted)" and new.snapshot.exe == str(victim)
    pids = [s.snapshot.pid for s in sels]
    assert (pids.index(old.snapshot.pid) < pids.index(new.snapshot.pid)) == (order == "early")
    assert not isinstance(old, ExecutedSelection)
    assert isinstance(new, ExecutedSelection) and new.elf == read_elf(str(victim))
    assert refused == [f"{victim}: its file was deleted while the process ran it, so it "
                       "is not read"]
    page = render_page(session, read_elf=read_elf)
    assert page.count(f"How <code>{victim}</code>'s file became regions") == 1
    assert page.count("its file was deleted while the process ran it") == 1


def test_a_program_run_by_execve_replaced_since_is_not_drawn(tmp_path, no_leftovers):
    """The file at the second program's path after the run is not the one its stop
    mapped (rebuilt, renamed over): not read, and the page says why."""
    first = _build(tmp_path, "first", EXECS)
    second = _build(tmp_path, "second", NAPS)
    session = session_mod.explain_program([str(first), str(second)], ["main", "exit"])
    other = _build(tmp_path, "other", NAPS.replace("1000", "2000"))
    other.rename(second)
    page = render_page(session, read_elf=read_elf)
    assert (f"No ELF figure: {second}: the file at this path was replaced or rewritten after "
            "the stops") in page
    assert "second: program headers" not in page and "runs since an execve), at" not in page
    assert "first: program headers" in page


# Renames a new build (argv[2]) over its own path (argv[1]), then runs it in a child.
SELF_UPDATES = r"""
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    (void)argc;
    if (rename(argv[2], argv[1]) != 0)
        return 1;
    pid_t child = fork();
    if (child == 0) {
        execl(argv[1], argv[1], "0", (char *)0);
        _exit(127);
    }
    waitpid(child, 0, 0);
    return 0;
}
"""


def test_a_new_build_renamed_over_the_programs_own_path_is_not_drawn_as_it(tmp_path,
                                                                         no_leftovers):
    """The program renames a new build over its own path and runs it in a child. The
    child's stop names the program's path, and was taken for the program started: its
    regions were drawn against the ELF record read before the run, the old build's.
    Each stop is told by the file its process runs (stat of /proc/PID/exe at the stop):
    the child's is the new build, read after the run and drawn as a program run by
    execve; the parent's, the old build, unlinked since, keeps the program's record."""
    program = _build(tmp_path, "updates", SELF_UPDATES)
    newer = _build(tmp_path, "newer", VICTIM.replace("SIZE", "1 << 20"))
    session = session_mod.explain_program([str(program), str(program), str(newer)], ["exit"],
                                          follow_fork=True, sandbox=None)
    sels = selections(session)
    by_exe = {s.snapshot.exe: s for s in sels}
    assert set(by_exe) == {str(program), f"{program} (deleted)"}, [s.snapshot.exe for s in sels]
    child, parent = by_exe[str(program)], by_exe[f"{program} (deleted)"]
    assert child.snapshot.pid != session.capture.variants["default"].runs[0].pid
    assert parent.exe_matches_elf and not child.exe_matches_elf
    assert session_from_json(session_json(session)).other_file \
        == session.other_file == {child.checkpoint_record.seq}
    ran, refused = _executed(sels, read_elf, session.files)
    assert refused == []
    drawn = {s.snapshot.exe: s for s in ran}
    assert isinstance(drawn[str(program)], ExecutedSelection)
    assert drawn[str(program)].elf == read_elf(str(program))  # the new build, at the path now
    assert drawn[str(program)].elf != session.capture.variants["default"].elf
    assert not isinstance(drawn[f"{program} (deleted)"], ExecutedSelection)
    page = render_page(session, read_elf=read_elf)
    assert f"How <code>{program}</code>'s file became regions (the program that its process " \
        "runs since an execve)" in page


# Deletes its own file (argv[2]) and copies a new build (argv[1]) to its path, then runs it.
REBUILDS = r"""
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc > 3)
        return 0;
    execl("/bin/sh", "sh", "-c", "rm -f \"$0\" && cp \"$1\" \"$0\" && exec \"$0\" 1 2 3",
          argv[2], argv[1], (char *)0);
    return 127;
}
"""


def test_a_new_build_made_where_the_program_was_deleted_is_not_taken_for_it(tmp_path,
                                                                            no_leftovers):
    """The program's file is deleted and a new build copied to its path, then run: on
    ext4 the new file takes the inode number the deleted one freed, and the stop in it
    was taken for the program started (same device and inode). The program's file is
    held open until the run is over, so that no new file takes its number."""
    program = _build(tmp_path, "rebuilds", REBUILDS)
    newer = _build(tmp_path, "newer", VICTIM.replace("SIZE", "1 << 20"))
    session = session_mod.explain_program([str(program), str(newer), str(program)], ["exit"],
                                          sandbox=None)
    [stop] = selections(session)
    assert stop.snapshot.exe == str(program)
    assert not stop.exe_matches_elf and session.other_file == {stop.checkpoint_record.seq}
    [ran], refused = _executed([stop], read_elf, session.files)
    assert refused == [] and isinstance(ran, ExecutedSelection)
    assert ran.elf == read_elf(str(program)) != session.capture.variants["default"].elf


def test_a_shell_that_execs_a_program(root, tmp_path, monkeypatch, no_leftovers):
    """The brief's own case, through the command: ``sh -c 'exec sleep 0'``; its exit
    stop is sleep's."""
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--at", "main", "--at", "exit", "--out", "p.html", "--",
                   "sh", "-c", "exec sleep 0") == 0
    page = (tmp_path / "p.html").read_text()
    assert "The address space of sleep, stop &#x27;exit&#x27;" in page
    assert "The address space of sh, stop &#x27;main&#x27;" in page


RENAMES = r"""
#include <stdio.h>
#include <sys/prctl.h>
int main(void) {
    prctl(PR_SET_NAME, "<script>x</sc", 0, 0, 0);
    puts("renamed");
    return 0;
}
"""


def test_a_program_that_renames_itself_has_run_no_execve(tmp_path, no_leftovers):
    """A program that changes its command name with prctl(PR_SET_NAME) runs the same
    image: the page's diff between main and exit said "Every region of the old image is
    gone and the new image's are new" and "What shows the execve: the command name is
    <script>x</sc, no longer renames", where no execve was made. The regions are
    matched as in any other pair of stops of one image."""
    program = _build(tmp_path, "renames", RENAMES)
    session = session_mod.explain_program([str(program)], ["main", "exit"])
    run = session.capture.variants["default"].runs[0]
    assert [c.status.Name for c in run.checkpoints] == ["renames", "<script>x</sc"]
    page = render_page(session)
    assert "What shows the execve" not in page
    assert "old image" not in page and "none carried over" not in page


# ---------------------------------------------------------------------------- _start

HELLO = r"""
#include <stdio.h>
int twice(int x) { return 2 * x; }
int main(void) { printf("%d\n", twice(21)); return 0; }
"""


def _entry_stop(binary: Path) -> tuple[int, int]:
    """The pc of ``--at _start`` and the entry point the kernel gave (AT_ENTRY)."""
    session = session_mod.explain_program([str(binary)], ["_start"])
    (stop,) = session.capture.variants["default"].runs[0].checkpoints
    pc = {a.name: a.value for a in stop.addresses}["pc"]
    entry = {a.name: a.a_val for a in stop.auxv}["AT_ENTRY"]
    return pc, entry


def test_start_is_the_entry_point_also_of_a_stripped_program(tmp_path, no_leftovers):
    """``--at _start`` was refused for a stripped program ("no function '_start'"),
    though its entry point is in its ELF header. It stops there now, as it does for
    the same program unstripped."""
    binary = _build(tmp_path, "hello", HELLO)
    pc, entry = _entry_stop(binary)
    assert pc == entry
    subprocess.run(["strip", str(binary)], check=True, timeout=60)
    pc, entry = _entry_stop(binary)
    assert pc == entry


def test_main_of_a_stripped_static_program_is_refused_with_the_stops_it_may_take(
        tmp_path, no_leftovers):
    """A stripped program linked -static keeps neither main nor the C library's
    __libc_start_main, by which a stripped dynamic one's main is found: the error said
    so, and not which stops such a program can take."""
    binary = tmp_path / "hello"
    (tmp_path / "hello.c").write_text(HELLO)
    subprocess.run(["gcc", "-static", "-s", "-o", str(binary), str(tmp_path / "hello.c")],
                   check=True, timeout=120)
    with pytest.raises(ExplainError) as refused:
        Tracer([str(binary)], [parse_stop("main")], on_stop=lambda hit: None, deadline=20).run()
    assert refused.value.message == (
        f"{binary}: no symbol main and no __libc_start_main to find it by (a stripped program "
        "with no shared C library): stop at _start, its entry point, or at a system call, a "
        "delay or its exit")
    outcome = Tracer([str(binary)], [parse_stop("_start"), parse_stop("exit")],
                     on_stop=lambda hit: None, deadline=20).run()
    assert outcome.reached == ["_start", "exit"]


NO_START_FILES = r"""
void _start(void) { __asm__ volatile("mov $60, %eax; mov $7, %edi; syscall"); }
"""


@pytest.mark.parametrize("linked", [["-static"], []])
def test_main_of_a_program_without_the_c_library_start_up_is_refused_truly(
        tmp_path, no_leftovers, linked):
    """A program linked with -nostdlib has no main, though it keeps its symbol table
    (and, linked without -static, a loader): the error called it "a stripped program
    with no shared C library", which it is not. It says why there is no main, and the
    stops it may take."""
    binary = tmp_path / "nostd"
    (tmp_path / "nostd.c").write_text(NO_START_FILES)
    subprocess.run(["gcc", "-O0", "-g", "-nostdlib", *linked, "-o", str(binary),
                    str(tmp_path / "nostd.c")], check=True, timeout=120)
    with pytest.raises(ExplainError) as refused:
        Tracer([str(binary)], [parse_stop("main")], on_stop=lambda hit: None, deadline=20).run()
    assert refused.value.message == (
        f"{binary}: no symbol main and no __libc_start_main to find it by (a program that "
        "does not start with the C library's start-up code, which calls main: one linked "
        "with -nostdlib or -nostartfiles, say): stop at _start, its entry point, or at a "
        "system call, a delay or its exit")
    outcome = Tracer([str(binary)], [parse_stop("_start"), parse_stop("exit")],
                     on_stop=lambda hit: None, deadline=20).run()
    assert outcome.reached == ["_start", "exit"]
    # Given no --at, the learner did not ask for main: the error says it is the default.
    with pytest.raises(ExplainError, match=r"or -nostartfiles, say; main is the stop taken "
                                           r"where no --at is given\): stop at _start"):
        session_mod.explain_program([str(binary)], [], sandbox=None)


def test_a_function_of_a_stripped_program_is_refused_saying_why(tmp_path, no_leftovers):
    """``--at twice`` of a stripped program said only that there is no function 'twice',
    as if it were misspelt: the program has no symbol table to find it by. main is
    still found (by __libc_start_main's first argument)."""
    binary = _build(tmp_path, "hello", HELLO)
    subprocess.run(["strip", str(binary)], check=True, timeout=60)
    with pytest.raises(ExplainError, match=r"--at twice: no function 'twice'.*"
                                           r"stripped: it has no symbol table \(\.symtab\)"):
        session_mod.explain_program([str(binary)], ["twice"])
    assert session_mod.explain_program([str(binary)], ["main"]).complete
    with pytest.raises(ExplainError) as unstripped:  # a program with one: no such words
        session_mod.explain_program([str(_build(tmp_path, "hello2", HELLO))], ["thrice"])
    assert "no symbol table" not in unstripped.value.message


# ---------------------------------------------------------------------------- a blocked step

# nap's first instruction, not one the tracer carries out itself (endbr64, a push), is
# run alone to step over the breakpoint there: a nanosleep system call of 20 s.
# The deadline leaves the start time on a loaded machine (an execve there took over
# half a second once).
SLOW_STEP = r"""
#include <stdio.h>
#include <time.h>
void nap(void);
__asm__(".globl nap\n.type nap, @function\nnap:\n\tsyscall\n\tret\n.size nap, .-nap\n");
int main(void) {
    struct timespec t = {20, 0};
    register long nr __asm__("rax") = 35;  /* SYS_nanosleep */
    __asm__ volatile("xor %%esi, %%esi\n\tcall nap"
                     : "+r"(nr) : "D"(&t) : "rsi", "rcx", "r11", "memory");
    puts("woke");
    return 0;
}
"""


def test_a_step_blocked_past_the_deadline_is_ended_by_it(tmp_path, no_leftovers):
    """The first call of nap is stepped over (the stop is its second call, which never
    comes), and the step blocks in nanosleep: the deadline's kill ends it there, and
    the run says it timed out."""
    binary = _build(tmp_path, "slow_step", SLOW_STEP)
    started = time.monotonic()
    outcome = Tracer([str(binary)], [parse_stop("nap:2")], on_stop=lambda hit: None,
                     deadline=2.0).run()
    assert outcome.timed_out and outcome.reached == []
    assert time.monotonic() - started < 10


def test_a_step_is_waited_for_as_any_event_is_within_the_deadline(tmp_path, monkeypatch,
                                                                    no_leftovers):
    """A step over a breakpoint is not waited for on its own (it had no deadline once,
    then one of its own): its trap comes to the run's loop, whose waits end KILL_WAIT
    after the deadline, even for a process the deadline's SIGKILL cannot end (one in
    uninterruptible sleep). No such process can be made here at will, so the deadline's
    kill is left out (``_time_out`` only notes the deadline) while a real step blocks in
    a real nanosleep of 20 s: the run ends KILL_WAIT after the deadline, timed out, and
    the program is killed and reaped by the clean-up all the same."""
    monkeypatch.setattr(trace_mod, "KILL_WAIT", 0.5)
    monkeypatch.setattr(Tracer, "_time_out", lambda self: self._timed_out.set())
    binary = _build(tmp_path, "slow_step", SLOW_STEP)
    started = time.monotonic()
    outcome = Tracer([str(binary)], [parse_stop("nap:2")], on_stop=lambda hit: None,
                     deadline=2.0).run()
    assert outcome.timed_out and outcome.reached == []
    assert outcome.processes[outcome.pid].killed_by_us
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("path, name", [
    ("/home/me/mémoire", "mémoire"),            # letters of any script are kept
    ("прог", "прог"),
    ("my prog", "my-prog"),                      # a space is not
    ("a\u202eb.c", "a-b.c"),                     # nor a direction mark (category Cf)
    ("\u202e", "program"),                       # nothing left: a name of its own
    ("<b>&x", "b-x"),
])
def test_a_programs_default_name_keeps_its_letters(path, name):
    """The page's default name (explain-NAME.html) and the figures' captions keep a
    program's letters, whatever their script: 'mémoire' was 'm-moire', 'прог' 'program'."""
    assert session_mod.sample_name(path) == name


def test_a_source_with_a_blank_in_its_name_is_quoted_as_it_is_run(tmp_path, no_leftovers):
    """'compiling ./hé llo.c' went unquoted where the next line, 'running './hé llo.c'',
    was quoted: both name the file as a shell would take it."""
    source = tmp_path / "hé llo.c"
    source.write_text("int main(void) { return 0; }\n")
    said: list[str] = []
    session_mod.explain_program([str(source)], ["main"], sandbox=None, progress=said.append)
    quoted = f"'{source}'"
    assert f"compiling {quoted}" in said and f"running {quoted}" in said, said


# Linked with -nostartfiles against the shared C library: its own _start, which calls
# write and _exit of libc.so.6, never __libc_start_main.
OWN_START_WITH_LIBC = r"""
#include <unistd.h>
void _start(void) { write(1, "x\n", 2); _exit(7); }
"""


def test_main_of_a_program_with_its_own_start_and_the_shared_c_library_is_refused(
        tmp_path, no_leftovers):
    """A dynamically linked program with its own _start (-nostartfiles) and no main maps
    the shared C library, whose __libc_start_main it never calls: the stop waited there,
    and the run ended in "exited with status 7 before reaching main". It is refused
    before the run, as the same program linked -nostdlib is."""
    binary = tmp_path / "ownstart"
    (tmp_path / "ownstart.c").write_text(OWN_START_WITH_LIBC)
    subprocess.run(["gcc", "-O0", "-g", "-nostartfiles", "-o", str(binary),
                    str(tmp_path / "ownstart.c")], check=True, timeout=120)
    with pytest.raises(ExplainError) as refused:
        Tracer([str(binary)], [parse_stop("main")], on_stop=lambda hit: None, deadline=20).run()
    assert "no symbol main" in refused.value.message
    assert "one linked with -nostdlib or -nostartfiles, say" in refused.value.message
