"""Review of roads explain --at FUNC in a library opened with dlopen (test_explain_dlopen).

A library closed with dlclose is unmapped, its breakpoints with it; opened again, it is
mapped anew (at the same address, ASLR off) without them. The tracer must learn of it
(the loader calls _dl_debug_state at dlclose too) and look the function up again: else
the later calls are not counted, and the tracer, believing an int3 still there, writes
the library's old byte over whatever the program maps there next in a child it lets go.
A function found in one process's library must be looked for in another's
(--follow-fork), each opening its own.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import roads.explain.trace as trace
from roads.explain.trace import Hit, Tracer, parse_stop
from tests.explain_support import build

pytestmark = [pytest.mark.gcc]

PLUGIN = "int plugin_work(int x) { return x * 7; }\n"
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


def _plugin(folder: Path) -> Path:
    (folder / "plug.c").write_text(PLUGIN)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(folder / "libplug.so"),
                    str(folder / "plug.c")], check=True, timeout=60)
    return folder / "libplug.so"


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
