"""Files whose name maps ends in " (deleted)": unlinked, or named so, in the figures.

maps appends " (deleted)" to the path of a file unlinked since it was mapped, and a
file's own name may end so too; a capture records which (``Region.unlinked``, read by
``Region.deleted``). The figures went by the name: a file really named "x (deleted)"
was labelled "x", and a program of that name was taken for another one (the ELF →
memory figure refused, its stops titled as after an execve). A real program, built by
gcc, maps such files and is captured and explained while it lives. A program rebuilt
while an old copy of it runs ("prog (deleted)" in /proc/PID/exe) keeps its name on
roads explain --pid's page, which says that its file was deleted or replaced.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from roads import document
from roads.capture.elf import read_elf
from roads.capture.proc import Proc
from roads.capture.runner import Stop
from roads.capture.snapshot import snapshot_process
from roads.figures.diagram import build_graph
from roads.figures.regions import memory_map
from roads.figures.select import select
from roads.figures.summary import overview
from roads.figures.table import render_table
from tests.capture_docs import fake_doc
from tests.explain_support import build, page_facts
from tests.test_explain import explain, root  # noqa: F401 - a fixture

pytestmark = [pytest.mark.gcc, pytest.mark.usefixtures("no_leftovers")]

PROC = Proc()

# Maps "kept (deleted)", left in place, and "gone", unlinked once mapped; says so on
# stdout and waits for a signal. Its own file is named "prog (deleted)" and left in
# place too (or unlinked, when the test asks).
SOURCE = r"""
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
    const char *names[] = {"kept (deleted)", "gone"};
    for (int k = 0; k < 2; k++) {
        int fd = open(names[k], O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || ftruncate(fd, 4096) != 0)
            return 1;
        if (mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED)
            return 1;
        close(fd);
    }
    if (unlink("gone") != 0)
        return 1;
    puts("ready");
    fflush(stdout);
    pause();
    return 0;
}
"""

PROGRAM = "prog (deleted)"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The program, built once (named as maps names an unlinked file)."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    folder = tmp_path_factory.mktemp("deleted-names")
    (folder / "maps.c").write_text(SOURCE)
    subprocess.run(["gcc", "-O0", "-o", str(folder / PROGRAM), str(folder / "maps.c")],
                   check=True, timeout=60)
    return folder / PROGRAM


@contextlib.contextmanager
def running(program: Path, cwd: Path, *, unlink_program: bool = False,
            ready: bytes = b"ready\n") -> Iterator[int]:
    """``program`` run in ``cwd`` until the line it prints first begins with ``ready``
    (SOURCE's: once it has mapped its files), its own file unlinked then with
    ``unlink_program``: its pid; always killed and reaped."""
    child = subprocess.Popen([str(program)], cwd=cwd, stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().startswith(ready), "the program ended before it was ready"
        if unlink_program:
            program.unlink()
        yield child.pid
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()


def _copy(program: Path, folder: Path) -> Path:
    folder.mkdir()
    copy = folder / program.name
    shutil.copy2(program, copy)
    return copy


def test_the_figures_name_a_file_by_its_own_name(built: Path, tmp_path: Path) -> None:
    """A file named "kept (deleted)" is labelled so, everywhere a figure names it, and
    its tooltips say it is in place; "gone", unlinked, keeps the words maps gives it
    and is called deleted; the program "prog (deleted)" has its pieces named after it."""
    program = _copy(built, tmp_path / "run")
    with running(program, program.parent) as pid:
        stop = Stop(pid=pid, ppid=os.getpid(), name="mapped", seq=0, addresses=(), ranges=())
        record = snapshot_process(stop, PROC, program.parent)
    doc = fake_doc([], sample=PROGRAM, checkpoints=[
        document.to_builtins(msgspec.convert(record, document.Checkpoint))])
    doc["variants"]["default"]["elf"] = document.to_builtins(read_elf(program))
    sel = select(doc)
    # The capture writes the program's folder /build, as for the samples.
    assert sel.snapshot.exe == f"/build/{PROGRAM}"
    mm = memory_map(sel)

    def of(name: str):
        found = [c for c in mm.regions if c.region.pathname == f"/build/{name}"]
        assert found, f"no region of {name}: {[c.region.pathname for c in mm.regions]}"
        return found

    (kept,) = of("kept (deleted)")
    (gone,) = of("gone (deleted)")
    assert not kept.region.deleted and gone.region.deleted
    assert (kept.kind, kept.owner) == ("file", "kept (deleted)")
    assert (gone.kind, gone.owner) == ("file", "gone")
    mine = of(PROGRAM)
    assert {c.owner for c in mine} == {PROGRAM}
    assert "text" in {c.kind for c in mine}, [(c.kind, c.why) for c in mine]

    # The table: the name as recorded, and a tooltip saying which.
    table = render_table(mm)
    cells = {shown: title for title, shown in
             re.findall(r'<span title="([^"]*)">([^<]*)</span>', table)}
    assert html.unescape(cells["kept (deleted)"]).endswith("not unlinked)")
    assert html.unescape(cells["gone (deleted)"]) == "/build/gone (deleted)"
    # The diagram: the box's name line and its tooltip.
    source = build_graph(mm).source
    box = {label: tooltip for label, tooltip in
           re.findall(r'label="([^"\\]*)\\n[^"]*"[^]]*tooltip="([^"]*)"', source)}
    assert "not unlinked" in box["kept (deleted)"]
    assert "not unlinked" not in box["gone (deleted)"]
    # The words under the figures: the program and the file by their names.
    words = overview(mm)
    assert f"{PROGRAM} " in words and "kept (deleted) " in words, words


@pytest.mark.parametrize("unlink_program", [False, True], ids=["in-place", "unlinked"])
def test_roads_explain_pid_knows_its_program(root, built: Path, tmp_path: Path,
                                             unlink_program: bool) -> None:
    """``roads explain --pid`` of a program named "prog (deleted)", in place or unlinked
    while it runs: the page draws that program's ELF file against its regions and titles
    its stop with no other program's name (it compared /proc/PID/exe without the
    " (deleted)" with the path it read with it, and took the program for another one);
    its figures name the kept file in full and the unlinked one as maps does."""
    program = _copy(built, tmp_path / "run")
    with running(program, program.parent, unlink_program=unlink_program) as pid:
        assert os.readlink(f"/proc/{pid}/exe") == str(program) + (
            " (deleted)" if unlink_program else "")
        assert explain(root, "--pid", str(pid), "--out", str(tmp_path / "p.html")) == 0
    page = (tmp_path / "p.html").read_text()
    assert "No ELF figure for the executable" not in page
    assert "roads-elf-figure" in page
    title = re.search(r'<h2 id="stop-0">(.*?)</h2>', page).group(1)
    assert html.unescape(title) == f"Stop 1: now (pid {pid})", title
    assert re.search(r'<span title="[^"]*kept \(deleted\)[^"]*not unlinked\)">'
                     r'kept \(deleted\)</span>', page)
    assert re.search(r'<span title="[^"]*gone \(deleted\)">gone \(deleted\)</span>', page)


# Says it is ready, then waits for a signal; the number tells two builds apart.
WAITS = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("ready %d\n", BUILD); fflush(stdout); pause(); return 0; }
"""


def test_a_program_recompiled_while_it_runs_keeps_its_name(root, gcc, tmp_path, capsys,
                                                           monkeypatch, no_leftovers):
    """The learner's case: ``prog`` recompiled while the old one runs. ``--pid`` names
    the program "prog" (the " (deleted)" the kernel appends taken off as the capture's
    regions record it, ``figures.filenames.program_path``), says its file was deleted
    or replaced since it started, and still draws the old program's own ELF file."""
    monkeypatch.chdir(tmp_path)
    program = build(tmp_path, "prog", WAITS, "-DBUILD=1")
    with running(program, program.parent, ready=b"ready") as pid:
        build(tmp_path, "prog", WAITS, "-DBUILD=2")  # the linker unlinks the old file
        assert os.readlink(f"/proc/{pid}/exe") == f"{program} (deleted)"
        assert explain(root, "--pid", str(pid)) == 0  # the default page: explain-NAME.html
    out = capsys.readouterr().out.strip()
    assert out == "explain-prog.html", out
    page = (tmp_path / out).read_text()
    assert "deleted-" not in page and "-deleted" not in page
    assert "vas-prog-default-now-desc" in page  # the figures' ids
    text = html.unescape(page)
    assert "prog's PT_LOAD segments" in text  # the ELF figure's caption
    assert "prog, stop 'now'" in text  # the diagram's
    assert "No ELF figure for the executable" not in page and "roads-elf-figure" in page
    assert page_facts(page)["Program"] == (f"{program}: its file was deleted or replaced "
                                           "since the process started")


def test_a_name_that_ends_so_is_the_file_s_own() -> None:
    """A file named "data.so (deleted)" in place is a file named so, not a shared object
    unlinked: the name is read whole; one unlinked is read without the words maps added."""
    from roads.figures.regions import classify

    def mapped(path: str, unlinked: bool) -> document.Region:
        return document.Region(start=0x7F0000000000, end=0x7F0000001000, perms="r--p",
                               offset=0, pathname=path, unlinked=unlinked)

    (kept,), _ = classify([mapped("/d/data.so (deleted)", False)])
    (gone,), _ = classify([mapped("/d/libz.so.1 (deleted)", True)])
    assert (kept.kind, kept.owner) == ("file", "data.so (deleted)")
    assert (gone.kind, gone.owner) == ("lib-rodata", "libz.so.1")


# ---------------------------------------------------------------------------
# roads explain reads /proc through the engine's readers


def test_roads_explain_finds_main_in_a_program_whose_path_holds_a_carriage_return(
        root, tmp_path: Path) -> None:
    """maps ends a line with "\\n" alone (a "\\n" in a name is written \\012): a "\\r"
    in a file's path is part of its name. roads explain's own reader of maps split lines
    on "\\r" too, and --at main of a program in such a folder ended in a ValueError at
    the entry point; it reads maps through the engine's Proc.maps now."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    folder = tmp_path / "a\rb"
    folder.mkdir()
    (tmp_path / "m.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-O0", "-o", str(folder / "prog"), str(tmp_path / "m.c")],
                   check=True, timeout=60)
    assert explain(root, "--at", "main", "--out", str(tmp_path / "p.html"), "--",
                   str(folder / "prog")) == 0
    page = (tmp_path / "p.html").read_text()
    assert '<h2 id="stop-0">Stop 1: main (pid' in page


def test_the_children_of_the_tracer_by_their_stat_where_the_kernel_lists_none(
        tmp_path: Path) -> None:
    """Where the kernel keeps no children files (CONFIG_PROC_CHILDREN), the tracer's
    children are the processes whose stat names it as their parent: read with the
    engine's parser (Proc.stat), which takes a command name holding ") " and digits.
    Here a /proc of real stat lines, this process's own and two others'."""
    from roads.explain.trace import _children

    me = os.getpid()
    real = Path(f"/proc/{me}/stat").read_text()
    (tmp_path / str(me) / "task" / str(me)).mkdir(parents=True)
    (tmp_path / str(me) / "stat").write_text(real)

    def process(pid: int, comm: str, ppid: int) -> None:
        (tmp_path / str(pid)).mkdir()
        fields = real[real.rindex(")") + 2:].split()
        fields[1] = str(ppid)  # field (4), after the state
        (tmp_path / str(pid) / "stat").write_text(f"{pid} ({comm}) {' '.join(fields)}\n")

    process(4000001, f"x) S {me} y", 1)  # names this process in its comm only
    process(4000002, "child (of) me", me)
    (tmp_path / "self").mkdir()  # not a pid
    assert _children(Proc(tmp_path)) == [4000002]
    # And this kernel's /proc, children files or not: a real child of this process.
    child = subprocess.Popen(["sleep", "60"])
    try:
        assert child.pid in _children()
    finally:
        child.kill()
        child.wait(timeout=10)
