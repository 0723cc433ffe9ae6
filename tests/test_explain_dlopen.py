"""roads explain --at FUNC for a function in a library the program opens with dlopen.

A function stop is looked up at the program's entry point, in the program and the
libraries loaded with it. One found in none of them was refused, even in a program that
loads plugins (Python's extension modules, say). Now, in a program that calls dlopen,
it is looked for again each time the loader has mapped more libraries: the loader calls
_dl_debug_state then, where a debugger learns of them, and roads explain keeps a
breakpoint there until every such stop is found. A name found in no library opened is
said at the end; in a program that does not call dlopen, it is refused at once, as before.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from roads.explain.trace import Hit, Tracer, parse_stop
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
