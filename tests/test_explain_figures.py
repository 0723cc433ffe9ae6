"""roads explain's page: at which stop it draws each library's ELF → memory figure."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.dot]

PLUGIN = "int plugin_work(int n) { return n + 1; }\n"

# Maps the first page of its plugin itself (a program reading an ELF header could), then
# opens the plugin with dlopen, which maps it whole.
HOST = r"""
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
__attribute__((noinline)) void piece(void) {}
__attribute__((noinline)) void whole(void) {}
int main(void) {
    int fd = open("./libplug.so", O_RDONLY);
    void *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    if (fd < 0 || page == MAP_FAILED)
        return 1;
    piece();
    void *lib = dlopen("./libplug.so", RTLD_NOW);
    if (!lib)
        return 2;
    whole();
    return 0;
}
"""


def test_a_library_is_drawn_at_the_first_stop_that_maps_it_whole(root, tmp_path, monkeypatch,
                                                                 no_leftovers):
    """At the stop 'piece' the program maps one page of libplug.so, at 'whole' dlopen has
    mapped all of it: the library's figure was drawn at 'piece', the first stop that
    maps the file at all, its code and data segments 'not in maps'. It is drawn at
    'whole', and its heading says so."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plug.c").write_text(PLUGIN)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", "libplug.so", "plug.c"], check=True,
                   timeout=120)
    (tmp_path / "host.c").write_text(HOST)
    assert explain(root, "--at", "piece", "--at", "whole", "--out", "host.html", "--",
                   "host.c") == 0
    page = (tmp_path / "host.html").read_text()
    heading = re.search(r"<summary>ELF → memory of <code>[^<]*/libplug\.so</code>([^<]*)</summary>",
                        page)
    assert heading and heading[1].startswith(", at stop whole (pid "), heading and heading[0]
    figure = page[heading.end():].split("</details>", 1)[0]
    assert "not in maps" not in figure
    assert "r-xp" in figure  # its code, as dlopen mapped it
