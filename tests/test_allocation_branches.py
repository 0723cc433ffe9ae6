"""Dynamic memory allocation switches its words on the glibc the captures were made
with: how many arenas malloc makes by default changed in glibc 2.44. The captures come
from an older glibc, so the other branch is rendered from a changed copy of them, as
tests/test_files_branches.py does for its page.
"""

from __future__ import annotations

import pytest

from tests.claims_support import committed, render_words, with_provenance
from tests.conftest import REPO

PAGE = REPO / "docs" / "all-roads-to-memory" / "dynamic-memory-allocation.md"


def render(glibc: str | None = None) -> str:
    changes = {"threads": {"glibc": glibc}} if glibc is not None else None
    return " ".join(render_words(PAGE, with_provenance(changes)).split())


def test_as_captured():
    glibc = committed("threads")["provenance"]["glibc"]
    assert [int(part) for part in glibc.split(".")[:2]] < [2, 44]
    text = render()
    assert f"This is how this glibc, {glibc}, and the releases up to 2.43 count" in text
    assert "in glibc up to 2.43" not in text and "is later" not in text


@pytest.mark.parametrize("glibc", ["2.44", "2.45", "3.0", "2.44.9000"])
def test_a_later_glibc(glibc):
    text = render(glibc)
    assert "on 64-bit systems, in glibc up to 2.43, there are at most" in text
    assert (f"That is how the releases up to 2.43 count; the glibc of this capture, {glibc}, "
            "is later, and from 2.44 on the default limit is an arena per processor") in text
    assert "This is how this glibc" not in text


@pytest.mark.parametrize("glibc", ["2.43", "2.9", "2.36"])
def test_an_earlier_glibc(glibc):
    text = render(glibc)
    assert f"This is how this glibc, {glibc}, and the releases up to 2.43 count" in text
    assert "in glibc up to 2.43" not in text


def test_the_fastbin_prose_describes_the_captures_glibc():
    """Both allocation pages describe the fastbins as the captures' glibc has them, and
    say that glibc's developers removed them since: the patches were reviewed for the
    release after 2.42, and sources disagree on whether 2.43 or a later one holds them.
    Captures made with 2.43 or later must first be checked for fastbins (a heap dump of
    inside-the-c-library shows them): then switch the pages' words on the version, as
    the arena limit's are, and move this bound."""
    for sample in ("threads", "heapbins", "doublefree", "trim"):
        glibc = committed(sample)["provenance"]["glibc"]
        assert [int(part) for part in glibc.split(".")[:2]] < [2, 43], (sample, glibc)
