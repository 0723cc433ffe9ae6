"""roads explain, after a review of its function stops in libraries opened with dlopen and
of the runs ended at the deadline: each test shows a run that went wrong before its fix."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from roads.explain.trace import Hit, Tracer, parse_stop
from tests.explain_support import build
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.gcc]


def _library(folder: Path, name: str, source: str) -> Path:
    (folder / f"{name}.c").write_text(source)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(folder / f"lib{name}.so"),
                    str(folder / f"{name}.c")], check=True, timeout=60)
    return folder / f"lib{name}.so"


def _file_at(pid: int, address: int) -> str:
    """The file mapped at ``address`` in process ``pid`` ('' for none)."""
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        span, *rest = line.split()
        start, end = (int(x, 16) for x in span.split("-"))
        if start <= address < end:
            return rest[-1] if len(rest) >= 5 else ""
    return ""


# Opens the library named first, which needs the other two (DT_NEEDED): the three are
# mapped by that one dlopen, and told of to a debugger at once. Calls the plugin_work of
# each of the two: the first's, the second's, the first's again.
BOTH = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    void *both = dlopen(argv[1], RTLD_NOW);
    void *a = dlopen(argv[2], RTLD_NOW | RTLD_NOLOAD);  /* loaded with it */
    void *b = dlopen(argv[3], RTLD_NOW | RTLD_NOLOAD);
    if (!both || !a || !b) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    int (*work_a)(int) = (int (*)(int))dlsym(a, "plugin_work");
    int (*work_b)(int) = (int (*)(int))dlsym(b, "plugin_work");
    int sum = work_a(1) + work_b(2) + work_a(3);
    return sum == 7 + 22 + 21 ? 0 : 2;
}
"""


def test_a_function_two_opened_libraries_define_is_stopped_at_in_each(gcc, tmp_path,
                                                                      no_leftovers):
    """Of the libraries one dlopen mapped (those the library opened needs, say), only
    the first in /proc/PID/maps order that defined the name got the breakpoint: the
    calls into the other were not counted, and --at plugin_work:2 was made at the wrong
    call, or never. Each is looked in by a dlsym of its own handle, its own definition
    called: a stop is set in every one that defines the name, and the line that tells
    of the stop names the library it was made in."""
    first = _library(tmp_path, "plugseven", "int plugin_work(int x) { return x * 7; }\n")
    second = _library(tmp_path, "plugeleven", "int plugin_work(int x) { return x * 11; }\n")
    (tmp_path / "plugboth.c").write_text("int plugin_none(void) { return 0; }\n")
    both = tmp_path / "libplugboth.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(both), str(tmp_path / "plugboth.c"),
                    f"-L{tmp_path}", "-Wl,--no-as-needed", "-lplugseven", "-lplugeleven",
                    f"-Wl,-rpath,{tmp_path}"], check=True, timeout=60)
    host = build(tmp_path, "both", BOTH)
    hits: list[Hit] = []
    seen: list[str] = []

    def on_stop(hit: Hit) -> None:
        hits.append(hit)
        if hit.label.startswith("plugin_work"):
            seen.append(_file_at(hit.pid, dict(hit.addresses)["pc"]))

    said: list[str] = []
    outcome = Tracer([str(host), str(both), str(first), str(second)],
                     [parse_stop(w) for w in ("plugin_work:2", "plugin_work:3", "exit")],
                     on_stop=on_stop, progress=said.append, deadline=20).run()
    assert [h.label for h in hits] == ["plugin_work:2", "plugin_work:3", "exit"], said
    assert seen == [str(second), str(first)]
    assert any(line.startswith("stopped at plugin_work:2 (pid ")
               and line.endswith(" in libplugeleven.so") for line in said), said
    ended = outcome.processes[outcome.pid].status
    assert os.WIFEXITED(ended) and os.WEXITSTATUS(ended) == 0


# A library whose plugin_work is an ifunc, its resolver picking the code called.
IFUNC = r"""
static int work(int x) { return x * 7; }
static int (*pick(void))(int) { return work; }
int plugin_work(int x) __attribute__((ifunc("pick")));
"""
ONE = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    int (*work)(int) = (int (*)(int))dlsym(lib, "plugin_work");
    return work(3) == 21 ? 0 : 2;
}
"""


def test_an_ifunc_in_a_library_opened_later_keeps_the_stops_reached(root, gcc, tmp_path,
                                                                    capsys, monkeypatch,
                                                                    no_leftovers):
    """An ifunc found in a library opened with dlopen ended the run with the error an
    ifunc named at the start gets, and the stop at main, reached already, was lost with
    it: no page. It is refused as that one is, in the same words, and the page shows
    the stops reached."""
    plugin = _library(tmp_path, "plugifunc", IFUNC)
    host = build(tmp_path, "one", ONE)
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "one.html"
    assert explain(root, "--at", "main", "--at", "plugin_work", "--at", "exit",
                   "--out", str(page), "--", str(host), str(plugin)) == 3
    err = capsys.readouterr().err
    assert "--at plugin_work: 'plugin_work' in libplugifunc.so is an ifunc" in err, err
    assert "before reaching plugin_work" in err and page.exists()
    text = page.read_text()
    assert "Stop 2: exit" in text and "is an ifunc" in text


# Waits before it opens the library named: longer than the deadline.
LATE = r"""
#include <dlfcn.h>
#include <unistd.h>
int main(int argc, char **argv) {
    sleep(30);
    return dlopen(argv[1], RTLD_NOW) ? 0 : 1;
}
"""


def test_a_function_awaited_when_the_deadline_passes_is_said_to_be(gcc, tmp_path,
                                                                   no_leftovers):
    """A function stop awaited in a library not yet opened when the deadline passed was
    said to be "found in any library the program opened", as if the program had ended
    without it: the deadline, which ended the run, is named."""
    plugin = _library(tmp_path, "plug", "int plugin_work(int x) { return x * 7; }\n")
    host = build(tmp_path, "late", LATE)
    said: list[str] = []
    outcome = Tracer([str(host), str(plugin)], [parse_stop("main"), parse_stop("plugin_work")],
                     on_stop=lambda hit: None, progress=said.append, deadline=1).run()
    assert outcome.timed_out and outcome.reached == ["main"]
    assert not any("was found in any library" in line for line in said), said
    assert any(line.startswith("--at plugin_work: the deadline passed (1 s, --deadline) "
                               "before") for line in said), said


# Opens the library named, starts a thread that calls its plugin_work a moment later,
# and ends its main thread alone (pthread_exit): the process runs on in that thread.
MAIN_GONE = r"""
#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>
static int (*work)(int);
static void *later(void *unused) { usleep(100000); return (void *)(long)work(3); }
int main(int argc, char **argv) {
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) return 1;
    work = (int (*)(int))dlsym(lib, "plugin_work");
    pthread_t thread;
    if (pthread_create(&thread, 0, later, 0) != 0) return 1;
    pthread_exit(0);
}
"""


def test_the_library_of_a_stop_made_after_the_main_thread_ended_is_named(gcc, tmp_path,
                                                                         no_leftovers):
    """The line for a stop in a library opened with dlopen named the library from
    /proc/PID/maps, which is empty once the main thread has ended (pthread_exit) while
    another runs on: it said "in ?". It is read through the thread held at the stop."""
    plugin = _library(tmp_path, "plug", "int plugin_work(int x) { return x * 7; }\n")
    host = build(tmp_path, "maingone", MAIN_GONE, "-pthread")
    said: list[str] = []
    outcome = Tracer([str(host), str(plugin)], [parse_stop("plugin_work")],
                     on_stop=lambda hit: None, progress=said.append, deadline=20).run()
    assert outcome.reached == ["plugin_work"]
    assert any(line.startswith("stopped at plugin_work (pid ")
               and line.endswith(" in libplug.so") for line in said), said


# Makes itself not dumpable, then calls here, then opens the library named: in the
# sandbox (no CAP_SYS_PTRACE) the run is ended at here, before that dlopen.
UNDUMPABLE_THEN_OPENS = r"""
#include <dlfcn.h>
#include <sys/prctl.h>
void here(void) {}
int main(int argc, char **argv) {
    prctl(PR_SET_DUMPABLE, 0);
    here();
    return dlopen(argv[1], RTLD_NOW) ? 0 : 1;
}
"""


def test_a_function_awaited_when_roads_explain_ends_the_run_is_not_said_missing(
        root, gcc, tmp_path, capsys, monkeypatch, no_leftovers):
    """A run that roads explain ends before the program's end (a process made not
    dumpable: Outcome.cut_short), while a function stop waits for a library the program
    opens with dlopen, said, in its messages and under the page's Not reached, that no
    library the program opened defines the name: the program never had the chance to
    open it."""
    plugin = _library(tmp_path, "plug", "int plugin_work(int x) { return x * 7; }\n")
    (tmp_path / "undumpable.c").write_text(UNDUMPABLE_THEN_OPENS)
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--at", "main", "--at", "here", "--at", "plugin_work",
                   "--out", "p.html", "--", "./undumpable.c", str(plugin)) == 3
    err = capsys.readouterr().err
    assert "made itself not dumpable" in err, err
    assert "was found in any library" not in err, err
    assert "--at plugin_work: roads explain ended the run before the program opened a " \
           "library with a function 'plugin_work'" in err, err
    page = (tmp_path / "p.html").read_text()
    assert "<dt>Not reached</dt><dd>plugin_work</dd>" in page, page
