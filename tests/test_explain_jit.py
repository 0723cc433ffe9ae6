"""roads explain: code a program makes at run time in a file of its own (a JIT
compiler's memfd, mapped executable) is no library's. Labelled by the mapping alone,
it read "library code (executable pages of an ELF object)"; the capture now reads the
file's first bytes (``Proc.starts_as_elf``) and the figures label it a file mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.explain_support import build, page_text, saved_session
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.dot]

JIT = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
void here(void) {}
int main(void) {
    int fd = memfd_create("jit", 0);
    if (fd < 0 || ftruncate(fd, 4096) != 0)
        return 1;
    unsigned char *w = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    unsigned char ret42[] = {0xb8, 42, 0, 0, 0, 0xc3};  /* mov eax, 42; ret */
    memcpy(w, ret42, sizeof ret42);
    int (*f)(void) = (int (*)(void))mmap(0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    printf("%d\n", f());
    here();
    return 0;
}
"""


@pytest.mark.parametrize("sandbox", [True, False])
def test_code_made_at_run_time_in_a_memfd_is_no_library(root, tmp_path, sandbox):
    """In the sandbox the file is found through the descriptor the program holds (no
    CAP_SYS_ADMIN nor CAP_CHECKPOINT_RESTORE there for /proc/PID/map_files); outside,
    as root, through map_files."""
    program = build(tmp_path, "jit", JIT)
    assert explain(root, *(() if sandbox else ("--no-sandbox",)), "--at", "here",
                   "--out", str(tmp_path / "p.html"), "--save", str(tmp_path / "p.json"),
                   str(program)) == 0
    (stop,) = saved_session(tmp_path / "p.json")["capture"]["variants"]["default"]["runs"][0][
        "checkpoints"]
    memfd = {r["perms"]: r for r in stop["regions"] if r["pathname"] == "/memfd:jit (deleted)"}
    assert set(memfd) == {"rw-s", "r-xp"}
    assert memfd["r-xp"]["elf"] is False and "elf" not in memfd["rw-s"]
    libc = [r for r in stop["regions"] if "/libc.so" in r["pathname"] and "x" in r["perms"]]
    assert [r["elf"] for r in libc] == [True]
    text = page_text((tmp_path / "p.html").read_text())
    assert ("memfd:jit (deleted): file mapping (mapped executable from a file that is no "
            "ELF object: its first bytes are not ELF's magic number)") in text
    assert "memfd:jit (deleted): library code" not in text
    assert "/memfd:jit (deleted), file mapping, 4 KiB, r-xp" in text
