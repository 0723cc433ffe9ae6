"""A library's file read after the run is the one the stops mapped (``roads.explain.mapped``).

roads explain reads each mapped library's ELF file by its path once the run is over,
to draw it (and its load span at the run's end). With ``--no-sandbox`` the program may
write the folder the library lies in, and rename another file over it after the stop:
the page then drew that other file as the library the process mapped. Real programs,
real libraries, each swapping its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from roads.capture.elf import read_elf
from roads.explain import session as session_mod
from roads.explain.mapped import MappedFile, mapped_files, opened
from roads.explain.page import render_page
from roads.errors import ExplainError

pytestmark = [pytest.mark.gcc, pytest.mark.dot]

LIBA = "int a_value = 1;\nint a(void) { return a_value; }\n"
# Its own section, which no figure of liba.so can show.
LIBB = '__attribute__((section("only_in_b"))) int b_value = 2;\nint b(void) { return b_value; }\n'
PROGRAM = r"""
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
void late(void) {}
static void swap(const char *how) {
    if (strcmp(how, "rename") == 0)
        rename("./libb.so", "./liba.so");
    else {  /* the same file, rewritten in place: one byte more */
        int fd = open("./liba.so", O_WRONLY | O_APPEND);
        if (fd < 0 || write(fd, "x", 1) != 1) perror("liba.so");
    }
}
int main(int argc, char **argv) {
    if (!dlopen("./liba.so", RTLD_NOW)) return 1;
    late();
    swap(argv[1]);  /* between the two stops */
    return 0;
}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "liba.c").write_text(LIBA)
    (tmp_path / "libb.c").write_text(LIBB)
    (tmp_path / "main.c").write_text(PROGRAM)
    for lib in ("liba", "libb"):
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", f"{lib}.so", f"{lib}.c"], cwd=tmp_path,
                       check=True)
    subprocess.run(["gcc", "-O0", "-g", "-o", "main", "main.c", "-ldl"], cwd=tmp_path, check=True)
    return tmp_path


def _explain(folder: Path, how: str, monkeypatch):
    monkeypatch.chdir(folder)
    session = session_mod.explain_program(["./main", how], ["late", "exit"], sandbox=None)
    return session, render_page(session, read_elf=read_elf)


@pytest.mark.parametrize("how, said", [
    ("rename", "was replaced or rewritten after the stops"),
    # Seen at the second stop (exit) already: the file changed between the stops.
    ("append", "is not known to be the one the process mapped"),
])
def test_a_library_swapped_on_disk_is_not_drawn_as_the_one_mapped(folder, how, said,
                                                                 monkeypatch, no_leftovers):
    session, page = _explain(folder, how, monkeypatch)
    library = str(folder / "liba.so")
    assert how == "append" or not (folder / "libb.so").exists()  # the program swapped it
    # (Renamed over before a stop, a library is one maps calls deleted, and drawn as such.)
    assert "only_in_b" not in page
    assert f"No ELF figure: {library}: the file at this path {said}" in page
    assert library not in session.spans  # nor its load span measured in another file
    assert "/usr/lib/x86_64-linux-gnu/libc.so.6" in session.spans  # the others are


def test_a_library_left_in_place_is_drawn(folder, monkeypatch, no_leftovers):
    # A program that stops at late and exits without swapping (argv[1] names no swap).
    (folder / "libb.so").unlink()
    session, page = _explain(folder, "rename", monkeypatch)  # nothing left to rename
    assert f"ELF → memory of <code>{folder / 'liba.so'}</code>" in page
    assert "No ELF figure" not in page
    assert str(folder / "liba.so") in session.spans


def test_with_pid_a_program_replaced_after_the_stop_is_read_as_it_runs(tmp_path, monkeypatch):
    """``--pid``: the program's file is read by its path once the process is let go; one
    renamed over it meanwhile is not taken for it: the process's own is read, through
    /proc/PID/exe."""
    program = tmp_path / "prog"
    shutil.copy("/bin/sleep", program)
    process = subprocess.Popen([str(program), "30"])
    real = session_mod.seize_and_read

    def seize_then_swap(pid, on_stop, **kw):
        def held(hit):
            on_stop(hit)
            shutil.copy("/bin/true", tmp_path / "other")
            os.rename(tmp_path / "other", program)  # after the stop, before the read

        return real(pid, held, **kw)

    monkeypatch.setattr(session_mod, "seize_and_read", seize_then_swap)
    try:
        time.sleep(0.1)  # past its exec
        session = session_mod.explain_pid(process.pid)
        elf = session.capture.variants["default"].elf
        assert elf == read_elf(f"/proc/{process.pid}/exe") != read_elf(program)
    finally:
        process.kill()
        process.wait()


def test_a_file_is_opened_only_while_it_is_the_one_recorded(tmp_path):
    path = tmp_path / "lib.so"
    path.write_bytes(b"one")
    files = {str(path): MappedFile.of(os.stat(path))}
    with opened(str(path), files) as fd:
        assert os.pread(fd, 10, 0) == b"one"
    with opened(str(tmp_path / "lib.so"), {}) as fd:  # nothing recorded: unchecked
        assert os.pread(fd, 10, 0) == b"one"
    (tmp_path / "new").write_bytes(b"two")
    os.rename(tmp_path / "new", path)
    with pytest.raises(ExplainError, match="replaced or rewritten after the stops"):
        with opened(str(path), files):
            pass
    with pytest.raises(ExplainError, match="is not known to be the one the process mapped"):
        with opened(str(path), {str(path): None}):
            pass


def test_what_is_no_regular_file_at_a_mapped_path_is_never_opened(tmp_path):
    """The path is the program's choice: a FIFO, a device or a link another user put
    there was opened (as root, a device's open can act: /dev/watchdog starts its timer)
    before anything was checked. Now only a regular file is opened, a link not followed
    (but /proc's), and a path known not to be the mapped file is not even looked at."""
    real = tmp_path / "lib.so"
    real.write_bytes(b"\x7fELF")
    fifo = tmp_path / "fifo.so"
    os.mkfifo(fifo)
    link = tmp_path / "link.so"
    link.symlink_to(real)
    for path in (fifo, link, Path("/dev/null")):
        with pytest.raises(ExplainError, match="no regular file lies at this path"):
            with opened(str(path), {}):
                pass
    with pytest.raises(ExplainError, match="not known to be the one"):
        with opened(str(tmp_path / "gone.so"), {str(tmp_path / "gone.so"): None}):
            pass
    with opened(str(real), {}) as fd:
        assert os.pread(fd, 4, 0) == b"\x7fELF"
    with opened(f"/proc/{os.getpid()}/exe", {}) as fd:  # the kernel's link: followed
        assert os.pread(fd, 4, 0) == b"\x7fELF"


def test_at_a_stop_the_files_are_those_maps_names(tmp_path):
    """Checked against the inode maps gives each region: this process's own maps."""
    from roads.capture.proc import Proc

    regions = [{"start": e.start, "pathname": e.pathname} for e in Proc().maps(os.getpid())]
    files = mapped_files(os.getpid(), Proc(), regions)
    python = os.path.realpath(f"/proc/{os.getpid()}/exe")
    assert files[python] == MappedFile.of(os.stat(python))
    # A region said to start where maps has another file: not known to be that file.
    libc = next(p for p in files if "libc.so" in p)
    elsewhere = [{"start": r["start"], "pathname": libc} for r in regions
                 if r["pathname"] == python][:1]
    assert mapped_files(os.getpid(), Proc(), elsewhere) == {libc: None}
