"""roads explain under an unlimited stack size (ulimit -s unlimited): the kernel then
starts the mmap area low in user space, and the page's header says why the libraries
lie there; under a limit, it says nothing of it. Told from the layout, not from the
limit roads explain itself had: a process read with --pid was laid out under its own."""

from __future__ import annotations

import contextlib
import resource
import subprocess
import sys

import pytest

from roads.explain.page import UNLIMITED_STACK
from tests.explain_support import build, page_facts, saved_session
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.dot]

PROGRAM = r"""
#include <stdio.h>
int main(void) { puts("hello"); return 0; }
"""
LIMITED = 8 << 20  # bytes: the usual default soft limit


@contextlib.contextmanager
def stack_limit(soft: int):
    """This process's soft RLIMIT_STACK set to ``soft`` while the block runs (the
    program roads explain starts inherits it)."""
    before = resource.getrlimit(resource.RLIMIT_STACK)
    if before[1] != resource.RLIM_INFINITY and (soft == resource.RLIM_INFINITY or soft > before[1]):
        pytest.skip("the hard stack limit does not allow it")
    resource.setrlimit(resource.RLIMIT_STACK, (soft, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_STACK, before)


def _regions(saved) -> list[dict]:
    (stop,) = saved["capture"]["variants"]["default"]["runs"][0]["checkpoints"]
    return stop["regions"]


@pytest.mark.parametrize("unlimited", [True, False])
def test_an_unlimited_stack_is_named_where_it_moves_the_libraries(root, tmp_path, unlimited):
    program = build(tmp_path, "hello", PROGRAM)
    with stack_limit(resource.RLIM_INFINITY if unlimited else LIMITED):
        assert explain(root, "--out", str(tmp_path / "p.html"), "--save",
                       str(tmp_path / "p.json"), str(program)) == 0
    facts = page_facts((tmp_path / "p.html").read_text())
    regions = _regions(saved_session(tmp_path / "p.json"))
    top = max(r["end"] for r in regions if r["pathname"] == "[stack]")
    libc = min(r["start"] for r in regions if "libc.so" in r["pathname"])
    if unlimited:
        assert facts["Stack size limit"] == UNLIMITED_STACK
        assert libc < top // 2  # low in user space
    else:
        assert "Stack size limit" not in facts
        assert libc > top // 2  # a little below the stack


def test_a_process_read_with_pid_is_told_by_its_own_layout(root, tmp_path, monkeypatch):
    """roads explain run under an unlimited stack reads, with --pid, a process started
    under a limit: the header named an unlimited limit (roads explain's own) for a
    process laid out under 8 MiB (a review found it)."""
    def limited():
        resource.setrlimit(resource.RLIMIT_STACK, (LIMITED, resource.getrlimit(resource.RLIMIT_STACK)[1]))

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                               preexec_fn=limited)
    try:
        monkeypatch.chdir(tmp_path)
        with stack_limit(resource.RLIM_INFINITY):
            assert explain(root, "--pid", str(sleeper.pid), "--out", "p.html") == 0
    finally:
        sleeper.kill()
        sleeper.wait()
    assert "Stack size limit" not in page_facts((tmp_path / "p.html").read_text())
