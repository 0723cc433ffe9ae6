"""roads explain --at FUNC for a function in a library the program opens with dlopen.

A function stop is looked up at the program's entry point, in the program and the
libraries loaded with it. One found in none of them was refused, even in a program that
loads plugins (Python's extension modules, say). Now, in a program that calls dlopen,
it is looked for again each time the loader has mapped more libraries: the loader calls
_dl_debug_state then, where a debugger learns of them, and roads explain keeps a
breakpoint there until every such stop is found. A name found in no library opened is
said at the end; in a program that does not call dlopen, it is refused at once, as before.

A library closed with dlclose is unmapped with its breakpoints, and opened again it is
mapped anew without them: the tracer learns of it (the loader calls _dl_debug_state at
dlclose too) and looks the function up again, so that every call counts and nothing of
the old library's is written over what the program maps there next. Each followed
process (--follow-fork) looks in the library it opens itself; each file is read once
however many libraries are opened; a -static program that calls dlopen is refused for
what it is. Of the libraries one dlopen maps, every one that defines the name gets the
stop, and the line that tells of it names the library, also once the main thread has
ended; an ifunc found in one is refused as one named at the start is, the stops reached
kept; a stop still awaited when the deadline passes, or when roads explain ends the
run, is not said to be in no library. A small library opened later is drawn with its
own regions, not its neighbours'.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

import roads.explain.trace as trace
from roads.explain.trace import Hit, Tracer, parse_stop
from tests.explain_support import build
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.gcc]

PLUGIN = "int plugin_work(int x) { return x * 7; }\n"
# Opens the library named by its argument, calls plugin_work twice, checks the sum.
HOST = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    int (*work)(int) = (int (*)(int))dlsym(lib, "plugin_work");
    int sum = work(3) + work(4);
    dlclose(lib);
    return sum == 49 ? 0 : 2;
}
"""
PLAIN = "int main(void) { return 0; }\n"


def _built(folder: Path) -> tuple[Path, Path]:
    (folder / "plug.c").write_text(PLUGIN)
    (folder / "host.c").write_text(HOST)
    plugin, host = folder / "libplug.so", folder / "host"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(plugin), str(folder / "plug.c")],
                   check=True, timeout=60)
    subprocess.run(["gcc", "-o", str(host), str(folder / "host.c")], check=True, timeout=60)
    return host, plugin


def _mapped_from(pid_maps: list[str], address: int) -> str:
    for line in pid_maps:
        span, *rest = line.split()
        start, end = (int(x, 16) for x in span.split("-"))
        if start <= address < end:
            return rest[-1] if len(rest) >= 5 else ""
    return ""


def _library(folder: Path, name: str, source: str) -> Path:
    (folder / f"{name}.c").write_text(source)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(folder / f"lib{name}.so"),
                    str(folder / f"{name}.c")], check=True, timeout=60)
    return folder / f"lib{name}.so"


def _file_at(pid: int, address: int) -> str:
    """The file mapped at ``address`` in process ``pid`` ('' for none)."""
    return _mapped_from(Path(f"/proc/{pid}/maps").read_text().splitlines(), address)


def _plugin(folder: Path) -> Path:
    return _library(folder, "plug", PLUGIN)


def _run(argv: list[str], *stops: str, follow_fork: bool = False):
    hits: list[Hit] = []
    said: list[str] = []
    outcome = Tracer([str(a) for a in argv], [parse_stop(s) for s in stops],
                     on_stop=hits.append, progress=said.append, deadline=20,
                     follow_fork=follow_fork).run()
    return outcome, hits, said


def _exit_code(outcome, pid: int) -> int | None:
    status = outcome.processes[pid].status
    return os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None


def test_a_function_of_a_library_opened_with_dlopen_is_stopped_at(gcc, tmp_path, no_leftovers):
    host, plugin = _built(tmp_path)
    hits: list[Hit] = []
    seen: list[str] = []

    def on_stop(hit: Hit) -> None:
        hits.append(hit)
        if hit.label == "plugin_work:2":  # where the stop is: the library's own code
            maps = Path(f"/proc/{hit.pid}/maps").read_text().splitlines()
            seen.append(_mapped_from(maps, dict(hit.addresses)["pc"]))

    said: list[str] = []
    outcome = Tracer([str(host), str(plugin)], [parse_stop("plugin_work:2"), parse_stop("exit")],
                     on_stop=on_stop, progress=said.append, deadline=20).run()
    assert [h.label for h in hits] == ["plugin_work:2", "exit"]
    assert seen == [str(plugin)]
    ended = outcome.processes[outcome.pid].status
    assert os.WIFEXITED(ended) and os.WEXITSTATUS(ended) == 0  # both calls returned 7x
    assert outcome.unfound == []
    assert any("calls dlopen" in line for line in said), said


def test_a_name_in_no_library_opened_is_said_at_the_end(root, gcc, tmp_path, capsys,
                                                       monkeypatch, no_leftovers):
    host, plugin = _built(tmp_path)
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "host.html"
    assert explain(root, "--at", "main", "--at", "nosuch", "--out", str(page), "--",
                   str(host), str(plugin)) == 3  # a page of what was reached
    err = capsys.readouterr().err
    assert "no function 'nosuch' was found in any library the program opened" in err
    assert "before reaching nosuch" in err and page.exists()


def test_a_program_that_does_not_call_dlopen_is_refused_at_once(root, gcc, tmp_path, capsys,
                                                               monkeypatch, no_leftovers):
    (tmp_path / "plain.c").write_text(PLAIN)
    subprocess.run(["gcc", "-o", str(tmp_path / "plain"), str(tmp_path / "plain.c")],
                   check=True, timeout=60)
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--at", "nosuch", "--out", str(tmp_path / "p.html"), "--",
                   str(tmp_path / "plain")) == 1
    err = capsys.readouterr().err
    assert "no function 'nosuch'" in err and "nor does it call dlopen" in err


def test_imports_reads_what_readelf_lists_as_undefined(gcc, tmp_path):
    """``symbols.imports`` against readelf: dlopen is an undefined symbol of the host,
    none of a program that does not call it, and libc, which defines it, imports it not."""
    from roads.explain.symbols import imports

    host, _ = _built(tmp_path)
    (tmp_path / "plain.c").write_text(PLAIN)
    subprocess.run(["gcc", "-o", str(tmp_path / "plain"), str(tmp_path / "plain.c")],
                   check=True, timeout=60)
    libc = next(line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
                if "/libc.so" in line)
    for path in (host, tmp_path / "plain", Path(libc)):
        listed = subprocess.run(["readelf", "--dyn-syms", "-W", str(path)], capture_output=True,
                                text=True, check=True).stdout
        undefined = any(f.split()[6] == "UND" and f.split()[7].split("@")[0] == "dlopen"
                        for f in listed.splitlines() if len(f.split()) >= 8)
        assert imports(path.read_bytes(), str(path), "dlopen") == undefined, path
    assert imports(host.read_bytes(), str(host), "dlopen")


# Opens, calls and closes the library three times: mapped anew each time.
REOPEN = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    int sum = 0;
    for (int i = 1; i <= 3; i++) {
        void *lib = dlopen(argv[1], RTLD_NOW);
        if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 1; }
        int (*work)(int) = (int (*)(int))dlsym(lib, "plugin_work");
        sum += work(i);
        dlclose(lib);
    }
    printf("sum %d\n", sum);
    return sum == 42 ? 0 : 2;
}
"""


# Closes the library, maps memory of its own where its code was, fills it, forks: the
# child finds it as the parent left it.
REUSE = r"""
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) return 1;
    unsigned char *work = (unsigned char *)dlsym(lib, "plugin_work");
    ((int (*)(int))work)(1);
    dlclose(lib);
    void *page = (void *)((uintptr_t)work & ~(uintptr_t)4095);
    if (mmap(page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
             -1, 0) != page)
        return 3;
    memset(page, 0x11, 4096);
    pid_t child = fork();
    if (child == 0) _exit(*work == 0x11 ? 0 : 4);
    int status;
    waitpid(child, &status, 0);
    printf("child %d\n", WEXITSTATUS(status));
    return WEXITSTATUS(status);
}
"""


# Forks first; the child and then the parent each open the library and call it once.
FORK_THEN_OPEN = r"""
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    pid_t child = fork();
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) return 1;
    int (*work)(int) = (int (*)(int))dlsym(lib, "plugin_work");
    if (child == 0) _exit(work(2) == 14 ? 0 : 5);
    int status;
    waitpid(child, &status, 0);
    return work(3) == 21 && WIFEXITED(status) ? WEXITSTATUS(status) : 6;
}
"""


def test_the_nth_call_counts_the_calls_into_a_library_opened_again(gcc, tmp_path, no_leftovers):
    plugin = _plugin(tmp_path)
    host = build(tmp_path, "reopen", REOPEN)
    outcome, hits, said = _run([host, plugin], "plugin_work:3", "exit")
    assert [h.label for h in hits] == ["plugin_work:3", "exit"], said
    assert outcome.stdout == "sum 42\n" and _exit_code(outcome, outcome.pid) == 0
    assert outcome.unfound == []


def test_a_closed_library_found_once_is_not_said_never_found(gcc, tmp_path, no_leftovers):
    plugin = _plugin(tmp_path)
    host = build(tmp_path, "reopen", REOPEN)
    outcome, hits, said = _run([host, plugin], "plugin_work:4", "exit")
    assert [h.label for h in hits] == ["exit"]
    assert outcome.unfound == []  # found, and called three times only
    assert not any("was found in" in line for line in said), said


def test_memory_mapped_where_a_closed_library_was_is_left_alone(gcc, tmp_path, no_leftovers):
    plugin = _plugin(tmp_path)
    host = build(tmp_path, "reuse", REUSE)
    outcome, hits, said = _run([host, plugin], "plugin_work:2", "exit")
    assert [h.label for h in hits] == ["exit"]
    assert outcome.stdout == "child 0\n" and _exit_code(outcome, outcome.pid) == 0


def test_each_followed_process_looks_in_the_library_it_opens(gcc, tmp_path, no_leftovers):
    plugin = _plugin(tmp_path)
    host = build(tmp_path, "forkopen", FORK_THEN_OPEN)
    outcome, hits, said = _run([host, plugin], "plugin_work:2", "exit", follow_fork=True)
    assert "plugin_work:2" in [h.label for h in hits], said
    second = next(h for h in hits if h.label == "plugin_work:2")
    assert second.pid == outcome.pid  # the parent's call, after its child's
    assert all(_exit_code(outcome, pid) == 0 for pid in outcome.processes)


# Opens each library named, in turn, and keeps it open.
OPEN_ALL = r"""
#include <dlfcn.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!dlopen(argv[i], RTLD_NOW)) return 1;
    return 0;
}
"""


def test_each_file_is_read_once_however_many_libraries_are_opened(gcc, tmp_path, monkeypatch,
                                                                 no_leftovers):
    """A program that opens many libraries (an interpreter's extension modules) had every
    file it maps read and its symbols parsed again at each: a run of python3 importing
    its extension modules took seconds, growing with the square of their number."""
    plugin = _plugin(tmp_path)
    libraries = []
    for i in range(6):
        libraries.append(tmp_path / f"libplug{i}.so")
        libraries[-1].write_bytes(plugin.read_bytes())
    host = build(tmp_path, "openall", OPEN_ALL)
    parsed: list[str] = []
    real = trace.functions

    def counted(data: bytes, path: str):
        parsed.append(path)
        return real(data, path)

    monkeypatch.setattr(trace, "functions", counted)
    outcome, hits, said = _run([host, *libraries], "nosuch", "exit")
    assert [h.label for h in hits] == ["exit"] and outcome.unfound == ["nosuch"]
    assert _exit_code(outcome, outcome.pid) == 0
    assert all(str(lib) in parsed for lib in libraries)  # each looked in
    twice = sorted({p for p in parsed if parsed.count(p) > 1})
    assert not twice, twice


def test_a_program_linked_static_that_calls_dlopen_is_not_said_not_to(gcc, tmp_path,
                                                                      no_leftovers):
    """A program linked -static calls dlopen all the same (the C library's own, linked
    in, with no .dynsym entry to tell it by): the refusal says what was looked for."""
    plugin = _plugin(tmp_path)
    (tmp_path / "reopen.c").write_text(REOPEN)
    subprocess.run(["gcc", "-static", "-o", str(tmp_path / "reopen"),
                    str(tmp_path / "reopen.c")], check=True, timeout=60, capture_output=True)
    with pytest.raises(trace.ExplainError) as refused:
        _run([tmp_path / "reopen", plugin], "plugin_work")
    assert "nor does it call dlopen" not in refused.value.message
    assert "-static" in refused.value.message


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


PLUG = "int plug(int x) { return 2 * x; }\n"


OPENS = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    void *h = dlopen(argv[1], RTLD_NOW);
    int (*plug)(int) = h ? (int (*)(int))dlsym(h, "plug") : 0;
    printf("%d\n", plug ? plug(21) : -1);
    return 0;
}
"""


@pytest.mark.gcc
def test_a_small_library_opened_later_is_drawn_and_takes_no_neighbours_memory(
        root, gcc, tmp_path, monkeypatch, no_leftovers):
    """A library whose zero-filled data fit in its last file page has no bss pages; the
    loader put a small one opened with dlopen right below an anonymous mapping made
    before (the loader's own), which the page then called the library's bss: anonymous
    memory right after a library's data pages was taken for its bss whatever the
    library's program headers said."""
    (tmp_path / "plug.c").write_text(PLUG)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "libplug.so"),
                    str(tmp_path / "plug.c")], check=True, timeout=60)
    build(tmp_path, "opens", OPENS)
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--no-sandbox", "--at", "main", "--at", "plug", "--out", "p.html",
                   "--save", "p.json", "--", "./opens", "./libplug.so") == 0
    from roads.explain.page import selections
    from roads.explain.record import load_session
    from roads.figures.regions import memory_map

    before, at_plug = (memory_map(s).regions for s in selections(load_session(
        tmp_path / "p.json")))
    data = next(c.region for c in at_plug if c.kind == "lib-data"
                and c.region.pathname.endswith("/libplug.so"))
    after = next(c for c in at_plug if c.region.start == data.end)
    assert after.region.anonymous, after
    assert any(c.region.start == after.region.start for c in before)  # there before it
    assert after.kind == "mmap", (after.kind, after.why)
    libc_bss = [c for c in at_plug if c.kind == "lib-bss"]
    assert [c.owner for c in libc_bss] == ["libc.so.6"], libc_bss
    # Its segments, next to the regions they became, at the stop that first maps it:
    # the page drew the libraries of its first stop alone.
    page = (tmp_path / "p.html").read_text()
    assert (f"<summary>ELF → memory of <code>{tmp_path / 'libplug.so'}</code>, at stop "
            "plug (pid ") in page, re.findall(r"<summary>ELF → memory of.*?</summary>", page)


def test_two_spellings_of_a_function_opened_later_are_one_stop(gcc, tmp_path, no_leftovers):
    """--at plugin_work and --at plugin_work@@V1 name one function of a library the
    program opens with dlopen: found only then, both stops were set, and each call was
    stopped at twice. The second is refused as the same stop, and the run goes on."""
    (tmp_path / "plug.map").write_text("V1 { global: plugin_work; local: *; };\n")
    (tmp_path / "plug.c").write_text(PLUGIN)
    (tmp_path / "host.c").write_text(HOST)
    plugin, host = tmp_path / "libplug.so", tmp_path / "host"
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,--version-script=" + str(tmp_path / "plug.map"),
                    "-o", str(plugin), str(tmp_path / "plug.c")], check=True, timeout=60)
    subprocess.run(["gcc", "-o", str(host), str(tmp_path / "host.c")], check=True, timeout=60)
    outcome, hits, said = _run([host, plugin], "plugin_work", "plugin_work@@V1", "exit")
    assert [h.label for h in hits] == ["plugin_work", "exit"], [h.label for h in hits]
    assert outcome.refused == {"plugin_work@@V1": "--at plugin_work names the same function, "
                                                  "'plugin_work' in libplug.so: the same stop"}
    assert any("--at plugin_work@@V1: --at plugin_work names the same function" in line
               for line in said), said
    assert _exit_code(outcome, outcome.pid) == 0


# A child opens argv[1] and calls plugged; the parent, then, opens argv[2] and does the
# same. "together": the child waits, alive, until the parent is done (two libraries at
# one address in two live processes share one original byte still: not tested here).
TWO_PLUGINS = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static int call(const char *path)
{
    void *lib = dlopen(path, RTLD_NOW);
    int (*plugged)(int) = lib ? (int (*)(int))dlsym(lib, "plugged") : 0;
    return plugged ? plugged(1) : -1;
}
int main(int argc, char **argv)
{
    int together = argc > 3 && strcmp(argv[3], "together") == 0, ready[2], done[2];
    char byte;
    if (pipe(ready) || pipe(done))
        return 1;
    pid_t child = fork();
    if (child == 0) {
        int got = call(argv[1]);
        write(ready[1], "r", 1);
        if (together)
            read(done[0], &byte, 1);
        printf("child %d %d\n", got, call(argv[1]));
        fflush(stdout);
        _exit(0);
    }
    if (!together)
        waitpid(child, 0, 0);
    read(ready[0], &byte, 1);
    int got = call(argv[2]);
    printf("parent %d %d\n", got, call(argv[2]));
    fflush(stdout);
    write(done[1], "d", 1);
    waitpid(child, 0, 0);
    return 0;
}
"""


def test_a_library_where_an_ended_process_had_another_keeps_its_own_code(gcc, tmp_path,
                                                                        no_leftovers):
    """After a fork each process opens a library of its own, which the loader maps at
    the same address (ASLR is off), with plugged at the same offset and other code; the
    child ends first. The tracer kept the child's original byte for the address after
    the child had ended: the parent's breakpoint was put back with it, and the parent
    died of SIGILL. A byte no process may still need is not kept for another."""
    libraries = []
    for name, body in (("first", "x + 1"), ("other", "x ^ 5")):
        # -O2: one instruction, at the same offset in both, of another opcode.
        (tmp_path / f"{name}.c").write_text(f"int plugged(int x) {{ return {body}; }}\n")
        libraries.append(tmp_path / f"lib{name}.so")
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(libraries[-1]),
                        str(tmp_path / f"{name}.c")], check=True, timeout=60)
    first, other = libraries
    offsets = {lib: subprocess.run(["nm", str(lib)], capture_output=True, text=True,
                                   check=True).stdout for lib in (first, other)}
    assert len({re.search(r"(\w+) T plugged", out).group(1) for out in offsets.values()}) == 1
    host = build(tmp_path, "two_plugins", TWO_PLUGINS)
    outcome, hits, said = _run([host, first, other, "after"], "plugged:100", "exit",
                               follow_fork=True)
    assert sorted(outcome.stdout.splitlines()) == ["child 2 2", "parent 4 4"]
    assert all(_exit_code(outcome, pid) == 0 for pid in outcome.processes), outcome.processes
    assert outcome.counted["plugged:100"] == 4


def _same_offset_libraries(folder: Path, bodies: dict[str, str]) -> list[Path]:
    """One library for each name, -O2 so that each function is one instruction, at
    the same offset in each (checked with nm), of another opcode."""
    libraries = []
    for name, source in bodies.items():
        (folder / f"{name}.c").write_text(source)
        libraries.append(folder / f"lib{name}.so")
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(libraries[-1]),
                        str(folder / f"{name}.c")], check=True, timeout=60)
    offsets = {re.search(r"(\w+) T plugged", subprocess.run(
        ["nm", str(lib)], capture_output=True, text=True, check=True).stdout).group(1)
        for lib in libraries}
    assert len(offsets) == 1, offsets
    return libraries


def test_two_live_processes_with_other_code_at_one_address_keep_their_own(gcc, tmp_path,
                                                                           no_leftovers):
    """After a fork each process opens a library of its own, mapped at the same address
    (ASLR is off), plugged at the same offset and other code, and both go on running
    (the child calls again after the parent). The tracer kept one original byte for the
    address, the first process's: the parent's breakpoint was carried past with the
    child's byte in the parent's instruction, and the parent died of SIGILL (the child,
    waiting for it, ran until the deadline). Each memory keeps its own breakpoints."""
    first, other = _same_offset_libraries(tmp_path, {
        "first": "int plugged(int x) { return x + 1; }\n",
        "other": "int plugged(int x) { return x ^ 5; }\n"})
    host = build(tmp_path, "two_plugins", TWO_PLUGINS)
    outcome, hits, said = _run([host, first, other, "together"], "plugged:100", "exit",
                               follow_fork=True)
    assert sorted(outcome.stdout.splitlines()) == ["child 2 2", "parent 4 4"], said
    assert all(_exit_code(outcome, pid) == 0 for pid in outcome.processes), outcome.processes
    assert outcome.counted["plugged:100"] == 4


def test_two_functions_at_one_address_in_two_processes_are_counted_apart(gcc, tmp_path,
                                                                         no_leftovers):
    """As above, the child's library defining foo and the parent's bar, each also named
    plugged, at one address, both beginning with the same byte (lea): a call of either
    was counted for both (foo 4, bar 4), each stop being in the one table of that
    address. Each memory counts its own."""
    first, other = _same_offset_libraries(tmp_path, {
        "first": "int foo(int x) { return x + 1; }\n"
                 "int plugged(int) __attribute__((alias(\"foo\")));\n",
        "other": "int bar(int x) { return x + 3; }\n"
                 "int plugged(int) __attribute__((alias(\"bar\")));\n"})
    host = build(tmp_path, "two_plugins", TWO_PLUGINS)
    outcome, hits, said = _run([host, first, other, "together"], "foo:100", "bar:100", "exit",
                               follow_fork=True)
    assert sorted(outcome.stdout.splitlines()) == ["child 2 2", "parent 4 4"], said
    assert outcome.counted["foo:100"] == 2 and outcome.counted["bar:100"] == 2, outcome.counted


# foo of argv[1] called once, its library then closed; bar of argv[2] called twice, its
# library opened where the first one was (ASLR off).
CLOSE_THEN_OTHER = r"""
#include <dlfcn.h>
#include <stdio.h>
static int call(const char *path, const char *name, int close)
{
    void *lib = dlopen(path, RTLD_NOW);
    int (*f)(int) = lib ? (int (*)(int))dlsym(lib, name) : 0;
    int got = f ? f(1) : -1;
    if (close && lib)
        dlclose(lib);
    return got;
}
int main(int argc, char **argv)
{
    (void)argc;
    int a = call(argv[1], "foo", 1);
    int b = call(argv[2], "bar", 0);
    int c = call(argv[2], "bar", 0);
    printf("%d %d %d\n", a, b, c);
    return 0;
}
"""


def _foo_and_bar(folder: Path) -> tuple[Path, Path]:
    """libfoo.so and libbar.so: foo and bar (also named plugged) at one offset, of
    another opcode each."""
    return tuple(_same_offset_libraries(folder, {
        "foo": "int foo(int x) { return x + 1; }\n"
               "int plugged(int) __attribute__((alias(\"foo\")));\n",
        "bar": "int bar(int x) { return x ^ 5; }\n"
               "int plugged(int) __attribute__((alias(\"bar\")));\n"}))


def test_a_library_opened_where_a_reached_stops_library_was_gets_its_own_byte(
        gcc, tmp_path, no_leftovers):
    """foo:1 is reached, its int3 taken out, its library closed; bar's library is then
    mapped at the same address, bar where foo was. The entry of the breakpoint taken out
    outlived its library (kept for a trap that may still come), and bar's breakpoint was
    carried past with foo's byte: the program died of SIGILL. An entry taken out whose
    code is gone is forgotten with its library."""
    foo, bar = _foo_and_bar(tmp_path)
    host = build(tmp_path, "close_then_other", CLOSE_THEN_OTHER)
    outcome, hits, said = _run([host, foo, bar], "foo:1", "bar:100", "exit")
    assert outcome.stdout.splitlines() == ["2 4 4"], said
    assert _exit_code(outcome, outcome.pid) == 0, outcome.processes
    assert outcome.counted["bar:100"] == 2


def test_a_stop_at_an_address_where_another_closed_library_had_one_is_not_refused(
        gcc, tmp_path, no_leftovers):
    """foo:100 and bar:100, the second found where the first was, in a library opened
    after the first one's was closed: bar was refused as the same function as foo
    ("--at foo:100 names the same function, 'bar'"), and said at the end to be in no
    library. What was placed at an address goes with its library."""
    foo, bar = _foo_and_bar(tmp_path)
    host = build(tmp_path, "close_then_other", CLOSE_THEN_OTHER)
    outcome, hits, said = _run([host, foo, bar], "foo:100", "bar:100", "exit")
    assert outcome.stdout.splitlines() == ["2 4 4"], said
    assert outcome.counted == {"foo:100": 1, "bar:100": 2}, (outcome.counted, said)


# A child made with CLONE_VM and followed; the parent opens argv[1] after the clone,
# which sets the breakpoint at foo in the memory both have, and calls foo once; then
# the child calls it twice.
SHARED_BREAKPOINT_SET_LATER = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static int (*volatile fp)(int);
static int fds[2];
static int child(void *arg)
{
    char byte;
    read(fds[0], &byte, 1);
    printf("child %d %d\n", fp(1), fp(2));
    fflush(stdout);
    _exit(0);
    return arg != 0;
}
int main(int argc, char **argv)
{
    (void)argc;
    if (pipe(fds))
        return 1;
    char *stack = malloc(1 << 20);
    pid_t pid = clone(child, stack + (1 << 20), CLONE_VM | SIGCHLD, 0);
    fp = (int (*)(int))dlsym(dlopen(argv[1], RTLD_NOW), "foo");
    printf("parent %d\n", fp(5));
    fflush(stdout);
    write(fds[1], "g", 1);
    int status;
    waitpid(pid, &status, 0);
    printf("child status %d\n", status);
    return 0;
}
"""


def test_a_breakpoint_one_sharer_of_a_memory_sets_is_the_others_too(gcc, tmp_path,
                                                                    no_leftovers):
    """The int3 at foo, set by the parent in the memory it shares with its followed
    CLONE_VM child after the clone, was the parent's alone in the tracer's books: the
    child's trap there was taken for the program's own SIGTRAP, and it died of it (one
    call counted of three). The int3s held are the memory's."""
    _three_calls_in_a_shared_memory(tmp_path)


def _three_calls_in_a_shared_memory(folder: Path) -> None:
    """SHARED_BREAKPOINT_SET_LATER run with a stop at foo: both processes end well, and
    all three calls are counted."""
    foo, _ = _foo_and_bar(folder)
    host = build(folder, "shared_set_later", SHARED_BREAKPOINT_SET_LATER)
    outcome, hits, said = _run([host, foo], "foo:100", "exit", follow_fork=True)
    assert sorted(outcome.stdout.splitlines()) == ["child 2 3", "child status 0",
                                                   "parent 6"], said
    assert outcome.counted["foo:100"] == 3


def test_a_clone_whose_maker_cannot_be_read_at_its_event_still_shares_its_memory(
        gcc, tmp_path, monkeypatch, no_leftovers):
    """A maker killed at its clone event (another thread's exit_group, say) cannot be
    read: its flags were taken as 0, and a CLONE_VM child was given a copy of the
    breakpoints where it shares the memory of the maker's other sharers. Here the maker
    lives on and its call is made unreadable: the breakpoint the parent sets later was
    the parent's alone, and the child died of SIGTRAP at it. The child's memory is
    compared (kcmp) with the processes that have the maker's."""
    real = trace._clone_flags

    def unreadable(tid: int) -> int:
        real(tid)  # what a live maker would answer, thrown away
        raise ProcessLookupError(tid)

    monkeypatch.setattr(trace, "_clone_flags", unreadable)
    _three_calls_in_a_shared_memory(tmp_path)


FORK_AND_LEAVE = r"""
#include <stdio.h>
#include <unistd.h>
int main(void)
{
    if (fork() == 0)
        _exit(0);
    printf("parent\\n");
    return 0;
}
"""


def test_a_message_read_at_the_exit_stop_is_not_taken_for_a_new_pid(gcc, tmp_path,
                                                                     monkeypatch, no_leftovers):
    """A maker killed between its fork event and the tracer's question is held at its
    exit stop by then, and PTRACE_GETEVENTMSG answers with its exit status: that number
    was taken for the new pid, and a live process of that pid (here a stranger in a
    session of its own) became one of the run's, killed with it at its end. A message
    read while the maker is held at its exit stop is not a new pid."""
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        real_message, real_held = trace.pt.event_msg, trace.pt.held_at_exit
        # The first event's message is the stranger's pid, and its maker is then said
        # to be held at its exit stop, once; every other answer is the kernel's.
        state = {"maker": None, "told": False}

        def exit_status_instead(tid: int) -> int:
            value = real_message(tid)
            if state["maker"] is not None:
                return value
            state["maker"] = tid
            return stranger.pid

        def held(tid: int) -> bool | None:
            if tid == state["maker"] and not state["told"]:
                state["told"] = True
                return True
            return real_held(tid)

        monkeypatch.setattr(trace.pt, "event_msg", exit_status_instead)
        monkeypatch.setattr(trace.pt, "held_at_exit", held)
        host = build(tmp_path, "fork_and_leave", FORK_AND_LEAVE)
        outcome = Tracer([str(host)], [parse_stop("exit")], on_stop=[].append,
                         progress=[].append, deadline=2, follow_fork=True).run()
        assert stranger.pid not in outcome.processes
        assert stranger.poll() is None, "the stranger was ended with the run"
    finally:
        stranger.kill()
        stranger.wait()


FORK_THEN_KILLED = r"""
#include <stdio.h>
#include <unistd.h>
int main(void)
{
    if (fork() == 0) {
        usleep(50000);
        printf("child %d\n", getppid() != 0);
        fflush(stdout);
        _exit(0);
    }
    printf("parent\n");  /* killed at the fork's event stop: never printed */
    return 0;
}
"""


# The same, the fork made by a thread once the main thread has ended (pthread_exit): the
# maker is not the process's main thread, which is gone (its /proc/PID/exe with it).
THREAD_FORKS_THEN_KILLED = r"""
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *work(void *arg)
{
    usleep(50000);
    if (fork() == 0) {
        usleep(50000);
        printf("child %d\n", getppid() != 0);
        fflush(stdout);
        _exit(0);
    }
    printf("thread\n");  /* killed at the fork's event stop: never printed */
    return arg;
}
int main(void)
{
    pthread_t thread;
    pthread_create(&thread, NULL, work, NULL);
    pthread_exit(NULL);
}
"""


# The same, the new process made with CLONE_PARENT: the child of its maker's parent.
CLONE_PARENT_THEN_KILLED = r"""
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static char stack[65536];
static int child(void *arg)
{
    usleep(50000);
    printf("child %d\n", getppid() != 0);
    fflush(stdout);
    _exit(0);
}
int main(void)
{
    clone(child, stack + sizeof stack, CLONE_PARENT | SIGCHLD, NULL);
    printf("parent\n");  /* killed at the clone's event stop: never printed */
    return 0;
}
"""

MAKERS = {"main thread": FORK_THEN_KILLED, "other thread": THREAD_FORKS_THEN_KILLED,
          "clone parent": CLONE_PARENT_THEN_KILLED}


def _maker_killed_at_its_first_event(monkeypatch, how: str) -> None:
    """The maker of the first fork event (not a new thread's) is killed with SIGKILL at
    that stop: before the tracer asks for the new pid, asked at once (the kernel
    refuses, ESRCH, while the maker runs to its exit) or once it is held at its exit
    stop (the answer is then its exit status); or the event is not seen at all, as when
    the SIGKILL came before the event stop (the kernel then makes none)."""
    if how == "no event":
        real_stop = trace.Tracer._stopped
        first_stop = [True]

        def no_event(self, tid: int, status: int) -> None:
            if first_stop[0] and status >> 16 == trace.pt.PTRACE_EVENT_FORK:
                first_stop[0] = False
                os.kill(tid, signal.SIGKILL)
                return
            real_stop(self, tid, status)

        monkeypatch.setattr(trace.Tracer, "_stopped", no_event)
        return
    real = trace.pt.event_msg
    first = [True]

    def killed_first(tid: int) -> int:
        at_fork = trace.pt.signal_code(tid) >> 8 == trace.pt.PTRACE_EVENT_FORK
        if first[0] and at_fork:  # not a thread's clone event
            first[0] = False
            os.kill(tid, signal.SIGKILL)
            limit = time.monotonic() + 5
            while (how == "at its exit stop" and not trace.pt.held_at_exit(tid)
                   and time.monotonic() < limit):
                time.sleep(0.001)
        return real(tid)

    monkeypatch.setattr(trace.pt, "event_msg", killed_first)


@pytest.mark.parametrize("maker", list(MAKERS))
@pytest.mark.parametrize("how", ["asked at once", "at its exit stop", "no event"])
def test_the_child_of_a_maker_killed_at_its_fork_event_runs(gcc, tmp_path, monkeypatch,
                                                            no_leftovers, how, maker):
    """A maker killed at its fork gives no new pid (ESRCH, or its exit status at its exit
    stop), or no event at all: the new one's first stop waited for an event that never
    came, held stopped until the run ended (until its deadline, while other processes
    ran on), and was killed with it, never having run. It is found among the maker's
    children at the maker's exit stop (its parent's, made with CLONE_PARENT), followed,
    and runs to its end."""
    _maker_killed_at_its_first_event(monkeypatch, how)
    host = build(tmp_path, "killed_as_it_forks", MAKERS[maker])
    outcome = Tracer([str(host)], [parse_stop("exit")], on_stop=[].append,
                     progress=[].append, deadline=5, follow_fork=True).run()
    assert not outcome.timed_out
    ended = outcome.processes[outcome.pid].status
    assert os.WIFSIGNALED(ended) and os.WTERMSIG(ended) == signal.SIGKILL
    child, = (pid for pid in outcome.processes if pid != outcome.pid)
    # CLONE_PARENT: a sibling of the program, a child of this process's.
    assert outcome.processes[child].ppid == (os.getpid() if maker == "clone parent"
                                             else outcome.pid)
    assert _exit_code(outcome, child) == 0
    assert outcome.stdout.splitlines() == ["child 1"]  # the parent's line never printed


# A child makes its parent's children (CLONE_PARENT) while the parent exits: the
# parent's exit stop lists them among its children before their maker's events came.
GRANDCHILDREN_OF_AN_EXITING_PARENT = r"""
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static char stacks[100][16384];
static int said(void *arg)
{
    printf("made %ld\n", (long)arg);
    fflush(stdout);
    _exit(0);
}
int main(void)
{
    if (fork() == 0) {
        for (long i = 0; i < 100; i++)
            clone(said, stacks[i] + sizeof stacks[i], CLONE_PARENT | SIGCHLD, (void *)i);
        _exit(0);
    }
    usleep(3000);
    _exit(0);
}
"""


def test_an_exit_stop_takes_no_child_whose_event_is_to_come(gcc, tmp_path, monkeypatch,
                                                           no_leftovers):
    """A thread's exit stop takes the children it traces and knows nothing of only when
    it died making one: its children file also lists those its children made with
    CLONE_PARENT, whose events still come. Taken at an exit stop, each was announced
    again by its maker's event, and set up from the wrong process's memory."""
    announced: list[int] = []
    real = trace.Tracer._announce

    def counted(self, child, *args):
        announced.append(child)
        real(self, child, *args)

    monkeypatch.setattr(trace.Tracer, "_announce", counted)
    host = build(tmp_path, "grandchildren", GRANDCHILDREN_OF_AN_EXITING_PARENT)
    outcome = Tracer([str(host)], [parse_stop("exit")], on_stop=[].append,
                     progress=[].append, deadline=10, follow_fork=True).run()
    assert not outcome.timed_out
    assert len(announced) == len(set(announced)) == 101
    assert sorted(outcome.stdout.splitlines()) == sorted(f"made {i}" for i in range(100))


# The child makes a child of its parent's (CLONE_PARENT), then the parent forks again.
CHILD_OF_A_CHILD_THEN_FORK = r"""
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static char stack[16384];
static int made(void *arg)
{
    printf("made by the child\n");
    fflush(stdout);
    _exit(0);
}
int main(void)
{
    if (fork() == 0) {
        clone(made, stack + sizeof stack, CLONE_PARENT | SIGCHLD, NULL);
        _exit(0);
    }
    usleep(200000);  /* the child's clone has made its child by now */
    if (fork() == 0) {
        printf("forked last\n");
        fflush(stdout);
        _exit(0);
    }
    return 0;
}
"""


# The same through syscall(), whose one syscall instruction both calls run: both new
# processes start at the same address.
CHILD_OF_A_CHILD_THEN_FORK_BY_SYSCALL = r"""
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void)
{
    if (syscall(SYS_fork) == 0) {
        if (syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0) == 0) {
            printf("made by the child\n");
            fflush(stdout);
        }
        _exit(0);
    }
    usleep(200000);  /* the child's clone has made its child by now */
    if (syscall(SYS_fork) == 0) {
        printf("forked last\n");
        fflush(stdout);
        _exit(0);
    }
    return 0;
}
"""


@pytest.mark.parametrize("calls", ["fork and clone", "syscall"])
def test_a_maker_killed_at_its_fork_is_given_its_own_child_only(gcc, tmp_path, monkeypatch,
                                                                no_leftovers, calls):
    """The parent, killed as it forks (its event not seen), has two children it traces
    and knows nothing of at its exit stop: its own, and the one its child made with
    CLONE_PARENT, whose event (held back here) is still to come. Only its own is taken
    there, the pid its call returned; the other is its maker's, announced by its
    maker's event. Through syscall() both start at one address, which told them apart
    before."""
    announced: list[tuple[int, int]] = []
    real_announce, real_stop = trace.Tracer._announce, trace.Tracer._stopped
    held: list[tuple[int, int]] = []
    forks = [0]

    def counted(self, child, event, tgid, *args):
        announced.append((child, tgid))
        real_announce(self, child, event, tgid, *args)

    def stopped(self, tid: int, status: int) -> None:
        event = status >> 16
        if event == trace.pt.PTRACE_EVENT_FORK and tid != self.main and not held:
            held.append((tid, status))  # the child's clone event, handled later
            return
        if event == trace.pt.PTRACE_EVENT_FORK and tid == self.main:
            forks[0] += 1
            if forks[0] == 2:  # the parent's second fork: killed there, its event unseen
                os.kill(tid, signal.SIGKILL)
                return
        real_stop(self, tid, status)
        if event == trace.pt.PTRACE_EVENT_EXIT and tid == self.main and held:
            real_stop(self, *held[0])

    monkeypatch.setattr(trace.Tracer, "_announce", counted)
    monkeypatch.setattr(trace.Tracer, "_stopped", stopped)
    source = (CHILD_OF_A_CHILD_THEN_FORK if calls == "fork and clone"
              else CHILD_OF_A_CHILD_THEN_FORK_BY_SYSCALL)
    host = build(tmp_path, "child_of_a_child", source)
    outcome = Tracer([str(host)], [parse_stop("exit")], on_stop=[].append,
                     progress=[].append, deadline=10, follow_fork=True).run()
    assert not outcome.timed_out
    assert len(held) == 1 and forks[0] == 2
    child = held[0][0]
    makers = dict(announced)
    assert len(announced) == len(makers) == 3  # each announced once
    assert sorted(makers.values()) == sorted([outcome.pid, outcome.pid, child])
    assert sorted(outcome.stdout.splitlines()) == ["forked last", "made by the child"]


# The child shares the parent's memory (CLONE_VM); the parent opens argv[1] and ends;
# then the child opens argv[2] (a lookup again) and calls argv[1]'s plugged twice.
SHARED_AFTER_ITS_MAKER = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static int fds[2];
static void *volatile first;
static char *second;
static pid_t parent;
static int child(void *arg)
{
    char byte;
    read(fds[0], &byte, 1);
    while (getppid() == parent)
        usleep(1000);
    void *more = dlopen(second, RTLD_NOW);
    int (*plugged)(int) = (int (*)(int))dlsym(first, "plugged");
    int one = plugged(1), two = plugged(2);
    printf("child %d %d %d\n", one, two, more != 0);
    fflush(stdout);
    _exit(0);
    return arg != 0;
}
int main(int argc, char **argv)
{
    (void)argc;
    if (pipe(fds))
        return 1;
    second = argv[2];
    parent = getpid();
    char *stack = malloc(1 << 20);
    clone(child, stack + (1 << 20), CLONE_VM | SIGCHLD, 0);
    first = dlopen(argv[1], RTLD_NOW);
    write(fds[1], "g", 1);
    _exit(0);
}
"""


def test_a_process_sharing_the_memory_of_one_that_ended_keeps_its_breakpoints(gcc, tmp_path,
                                                                             no_leftovers):
    """The breakpoint at plugged was set by the parent, in the memory its CLONE_VM child
    shares; the parent ended, and the child's lookup after its own dlopen found the
    entry held by no process, and recorded the int3 there as the original byte: the
    child stepped the int3 again and again until the deadline. Where our int3 is still
    in the memory, the entry is kept."""
    (tmp_path / "first.c").write_text("int plugged(int x) { return x + 1; }\n")
    (tmp_path / "second.c").write_text("int other(int x) { return x * 3; }\n")
    for name in ("first", "second"):
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(tmp_path / f"lib{name}.so"),
                        str(tmp_path / f"{name}.c")], check=True, timeout=60)
    host = build(tmp_path, "shared_after", SHARED_AFTER_ITS_MAKER)
    outcome, hits, said = _run([host, tmp_path / "libfirst.so", tmp_path / "libsecond.so"],
                               "plugged:2", "exit", follow_fork=True)
    assert not outcome.timed_out, said
    assert [h.label for h in hits] == ["exit", "plugged:2", "exit"], said  # parent, child
    assert hits[1].pid != outcome.pid and outcome.stdout == "child 2 3 1\n"
