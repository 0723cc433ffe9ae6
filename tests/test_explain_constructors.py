"""roads explain's function stops count the calls made before the program's entry point:
those of the libraries' constructors, which the loader runs once it has mapped and
relocated them. Each test shows a call that went uncounted before the stops were set at
the loader's report of its initial load."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from roads.command import run
from roads.explain.symbols import data_object
from roads.explain.trace import Hit, Tracer, parse_stop

pytestmark = [pytest.mark.gcc]

# A library whose constructor calls its own exported marker() once.
LIBRARY = r"""
int marks;
void marker(void) { marks++; }
__attribute__((constructor)) static void setup(void) { marker(); }
"""
# A program that calls the library's marker() twice more: three calls in all.
PROGRAM = r"""
extern int marks;
void marker(void);
int main(void) {
    marker();
    marker();
    return marks == 3 ? 0 : 1;
}
"""


def _caller_file(hit: Hit) -> str:
    """The file that holds the return address of the call stopped at: at a function's
    first instruction, the word at rsp."""
    sp = dict(hit.addresses)["sp"]
    with open(f"/proc/{hit.pid}/mem", "rb") as mem:
        mem.seek(sp)
        back = int.from_bytes(mem.read(8), "little")
    for line in Path(f"/proc/{hit.pid}/maps").read_text().splitlines():
        span, *rest = line.split()
        start, end = (int(x, 16) for x in span.split("-"))
        if start <= back < end:
            return rest[-1] if len(rest) >= 5 else ""
    return ""


def _trace(argv: list[str], stops: tuple[str, ...], env: dict[str, str] | None = None
           ) -> tuple[list[str], list[str], list[str]]:
    """The labels of the stops made, the file each call came from, and what the run said."""
    labels: list[str] = []
    callers: list[str] = []
    said: list[str] = []

    def on_stop(hit: Hit) -> None:
        labels.append(hit.label)
        if hit.label != "exit":
            callers.append(_caller_file(hit))

    outcome = Tracer(argv, [parse_stop(s) for s in stops], on_stop=on_stop,
                     progress=said.append, deadline=20, env={**os.environ, **(env or {})}
                     ).run()
    if "exit" in stops:  # else ended by roads explain after the last stop
        ended = outcome.processes[outcome.pid].status
        assert os.WIFEXITED(ended) and os.WEXITSTATUS(ended) == 0, said
    return labels, callers, said


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """The library whose constructor calls marker(), and the program that calls it twice."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    folder = tmp_path_factory.mktemp("constructors")
    (folder / "ctor.c").write_text(LIBRARY)
    library = folder / "libctor.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(folder / "ctor.c")],
                   check=True, timeout=60)
    (folder / "calls.c").write_text(PROGRAM)
    program = folder / "calls"
    subprocess.run(["gcc", "-o", str(program), str(folder / "calls.c"), f"-L{folder}",
                    "-lctor", f"-Wl,-rpath,{folder}"], check=True, timeout=60)
    return library, program


def test_a_call_from_a_library_constructor_is_counted(built, no_leftovers):
    """The loader runs a library's constructors before the program's entry point, where
    the stops were set: its call of marker() was not counted, --at marker:1 stopped at
    the program's first call and marker:3 was never reached. Now the first is the
    constructor's (its return address in the library) and the third the program's."""
    library, program = built
    labels, callers, said = _trace([str(program)], ("marker:1", "marker:3", "exit"))
    assert labels == ["marker:1", "marker:3", "exit"], said
    assert callers == [str(library), str(program)]


def test_an_audit_module_loaded_first_does_not_set_the_stops_early(built, tmp_path,
                                                                   no_leftovers):
    """An audit module (LD_AUDIT) is loaded before the program's libraries, in a
    namespace of its own, the loader telling a debugger of it while the program's
    r_state says RT_CONSISTENT already: the stops are set only at the RT_CONSISTENT that
    follows the loader's RT_ADD for the program's libraries (else marker, not mapped
    yet, would be looked for too early and said to be in no library)."""
    library, program = built
    (tmp_path / "audit.c").write_text(
        "#define _GNU_SOURCE\n#include <link.h>\n"
        "unsigned int la_version(unsigned int v) { return LAV_CURRENT; }\n")
    audit = tmp_path / "libaudit.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(audit), str(tmp_path / "audit.c")],
                   check=True, timeout=60)
    labels, callers, said = _trace([str(program)], ("marker:1", "marker:3", "exit"),
                                   {"LD_AUDIT": str(audit)})
    assert labels == ["marker:1", "marker:3", "exit"], said
    assert callers == [str(library), str(program)]


def test_the_first_malloc_of_a_cxx_program_is_its_runtime_s(tmp_path, no_leftovers):
    """libstdc++'s constructor allocates the pool it throws exceptions from when memory
    runs out (eh_alloc.cc) with malloc, before the program's entry point: --at malloc:1
    stopped at main's own malloc instead."""
    if shutil.which("g++") is None:
        pytest.skip("no g++")
    (tmp_path / "alloc.cc").write_text(
        "#include <cstdlib>\n"
        "int main() { void *p = std::malloc(24); int *q = new int(7);\n"
        "  int r = *q == 7 && p ? 0 : 1; delete q; std::free(p); return r; }\n")
    program = tmp_path / "alloc"
    subprocess.run(["g++", "-o", str(program), str(tmp_path / "alloc.cc")], check=True,
                   timeout=60)
    labels, callers, said = _trace([str(program)], ("malloc:1",))
    assert labels == ["malloc:1"], said
    assert os.path.basename(callers[0]).startswith("libstdc++.so"), callers


def test_the_loaders_r_debug_is_where_readelf_puts_it():
    """``symbols.data_object`` reads the variable the stops are set by (the loader's
    _r_debug, whose r_state says its libraries are relocated) at the value readelf gives;
    and finds no function's name among the variables."""
    loader = next((Path(line.split(None, 5)[5]) for line in
                   Path("/proc/self/maps").read_text().splitlines()
                   if len(line.split(None, 5)) > 5
                   and re.search(r"/ld-linux-x86-64\.so\.2$", line.split(None, 5)[5])), None)
    if loader is None:
        pytest.skip("this Python maps no ld-linux-x86-64.so.2")
    rows = [line.split() for line in
            run(["readelf", "--dyn-syms", "-W", str(loader)]).stdout.splitlines()]
    value = next(int(f[1], 16) for f in rows
                 if len(f) == 8 and f[3] == "OBJECT" and f[7].startswith("_r_debug@@"))
    data = loader.read_bytes()
    assert data_object(data, str(loader), "_r_debug") == value
    assert data_object(data, str(loader), "_dl_debug_state") is None
