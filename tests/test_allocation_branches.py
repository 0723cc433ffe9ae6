"""Dynamic memory allocation switches its words on the glibc the captures were made
with: how many arenas malloc makes by default changed in glibc 2.44 (its arena_get2
sets the limit to the number of processors, never below M_ARENA_TEST; 2.43's still
multiplies them by NARENAS_FROM_NCORES). The captures come from an older glibc, so the
other branch is rendered from a changed copy of them, as tests/test_files_branches.py
does for its page.
"""

from __future__ import annotations

import pytest

from tests.claims_support import committed, render_words, with_provenance
from tests.conftest import REPO

PAGE = REPO / "docs" / "all-roads-to-memory" / "dynamic-memory-allocation.md"

# What both branches say of 2.44, whatever the captures' glibc.
AFTER = ("In 2.44 the default limit is an arena per processor, but never less than "
         "`M_ARENA_TEST`, and `arena_get2` works it out as soon as there are `M_ARENA_TEST` "
         "arenas rather than one more, so a single processor gets no extra arena.)")


def render(glibc: str | None = None) -> str:
    changes = {"threads": {"glibc": glibc}} if glibc is not None else None
    return " ".join(render_words(PAGE, with_provenance(changes)).split())


def test_as_captured():
    glibc = committed("threads")["provenance"]["glibc"]
    assert [int(part) for part in glibc.split(".")[:2]] < [2, 44]
    text = render()
    assert f"This is how this glibc, {glibc}, and the releases up to 2.43 count." in text
    assert "in glibc up to 2.43" not in text and "is later" not in text
    assert AFTER in text


@pytest.mark.parametrize("glibc", ["2.44", "2.45", "3.0", "2.44.9000"])
def test_a_later_glibc(glibc):
    text = render(glibc)
    assert "on 64-bit systems, in glibc up to 2.43, there are at most" in text
    assert (f"That is how the releases up to 2.43 count; the glibc of this capture, {glibc}, "
            f"is later. {AFTER}") in text
    assert "This is how this glibc" not in text


@pytest.mark.parametrize("glibc", ["2.43", "2.9", "2.36"])
def test_an_earlier_glibc(glibc):
    text = render(glibc)
    assert f"This is how this glibc, {glibc}, and the releases up to 2.43 count. {AFTER}" in text
    assert "in glibc up to 2.43" not in text


def test_the_fastbin_prose_describes_the_captures_glibc():
    """Both allocation pages describe the fastbins as the captures' glibc has them, and
    say that 2.43 removed them (2.42's malloc/malloc.c has fastbinsY, 2.43's has no
    fastbins at all). Captures made with 2.43 or later have none to show, so before
    taking such captures switch the pages' words on the version, as the arena limit's
    are, and move this bound."""
    for page in ("dynamic-memory-allocation.md", "inside-the-c-library.md"):
        source = (REPO / "docs" / "all-roads-to-memory" / page).read_text(encoding="utf-8")
        assert "2.43 removed the fastbins altogether" in " ".join(source.split()), page
    for sample in ("threads", "heapbins", "doublefree", "trim"):
        glibc = committed(sample)["provenance"]["glibc"]
        assert [int(part) for part in glibc.split(".")[:2]] < [2, 43], (sample, glibc)
