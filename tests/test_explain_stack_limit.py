"""roads explain under an unlimited stack size (ulimit -s unlimited): the kernel then
starts the mmap area low in user space, and the page's header says why the libraries
lie there; under a limit, it says nothing of it."""

from __future__ import annotations

import contextlib
import resource

import pytest

from roads.explain.page import UNLIMITED_STACK
from tests.explain_support import build, page_facts, saved_session
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.dot]

PROGRAM = r"""
#include <stdio.h>
int main(void) { puts("hello"); return 0; }
"""


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


def _libc_start(saved) -> int:
    (stop,) = saved["capture"]["variants"]["default"]["runs"][0]["checkpoints"]
    return min(r["start"] for r in stop["regions"] if "libc.so" in r["pathname"])


def _stack_top(saved) -> int:
    (stop,) = saved["capture"]["variants"]["default"]["runs"][0]["checkpoints"]
    return max(r["end"] for r in stop["regions"] if r["pathname"] == "[stack]")


@pytest.mark.parametrize("unlimited", [True, False])
def test_an_unlimited_stack_is_named_where_it_moves_the_libraries(root, tmp_path, unlimited):
    program = build(tmp_path, "hello", PROGRAM)
    limit = resource.RLIM_INFINITY if unlimited else 8 << 20
    with stack_limit(limit):
        assert explain(root, "--out", str(tmp_path / "p.html"), "--save",
                       str(tmp_path / "p.json"), str(program)) == 0
    facts = page_facts((tmp_path / "p.html").read_text())
    saved = saved_session(tmp_path / "p.json")
    top, libc = _stack_top(saved), _libc_start(saved)
    if unlimited:
        assert facts["Stack size limit"] == UNLIMITED_STACK
        assert libc < top // 2  # low in user space
    else:
        assert "Stack size limit" not in facts
        assert libc > top // 2  # a little below the stack
