"""gdb sessions switches its words on the captures' provenance: whether the kernel
provides the legacy ``[vsyscall]`` page at all.

The committed captures come from a kernel in ``xonly`` mode, so the ``vsyscall=none``
branch is rendered from a changed copy of them, as the site renders the page (see
tests/test_files_branches.py).
"""

from __future__ import annotations

from tests.claims_support import committed, render_words, with_provenance
from tests.conftest import REPO

PAGE = REPO / "docs" / "gdb-sessions.md"


def render(vsyscall: str | None = None) -> str:
    changes = {"starti": {"vsyscall": vsyscall}} if vsyscall is not None else None
    return render_words(PAGE, with_provenance(changes))


def test_as_captured():
    assert committed("starti")["provenance"]["vsyscall"] != "none"
    text = render()
    assert "`[vdso]` and `[vsyscall]`. No libc" in text


def test_kernel_without_vsyscall():
    text = render("none")
    first_stop = text[text.index("## Stop 1"):text.index("## Stop 2")]
    assert "`[vdso]` and `[vsyscall]`" not in first_stop
    assert "no `[vsyscall]`" in first_stop
