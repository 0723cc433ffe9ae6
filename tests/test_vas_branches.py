"""The virtual-address-space page says what the machine that made the captures does,
switching its words on the capture's provenance: the paging mode, the vsyscall mode
and ``randomize_va_space``. The captures here come from a 4-level, xonly, fully
randomising machine, so the other branches are rendered from changed copies of them.

The page's Jinja is rendered as the site renders it, with the real ``value`` and
``const`` and the claims' own texts, and the figures left out.
"""

from __future__ import annotations

import pytest

from tests.claims_support import committed, render_words, with_provenance
from tests.conftest import REPO

PAGE = REPO / "docs" / "all-roads-to-memory" / "virtual-address-space.md"


def render(changes: dict[str, dict] | None = None) -> str:
    """The page's text with each sample's provenance keys changed as ``changes`` says."""
    return render_words(PAGE, with_provenance(changes))


def test_four_level_paging_as_captured():
    text = render()
    assert committed("layout")["provenance"]["paging_levels"] == 4
    assert "## 47 bits, not 64" in text
    assert "uses 4-level paging" in text and "did not get it" in text
    assert "with 4-level paging it is also the end of user space" in text
    assert "(128 TiB)" in text
    assert "its top 17 bits are all equal" in text
    assert "which this machine refuses, is canonical there" in text


def test_five_level_paging_branch():
    text = render({"layout": {"paging_levels": 5}})
    assert "## 56 bits, not 64" in text
    assert "uses 5-level paging" in text and "and got it" in text
    assert "canonical and merely unmapped" in text
    assert "even with 5-level paging" in text
    assert "(64 PiB)" in text and "its top 8 bits are all equal" in text
    assert "canonical here, is refused with a general-protection fault" in text
    assert "only to a program that asks for one" in text
    for four_level_words in ("did not get it", "also the end of user space", "(128 TiB)"):
        assert four_level_words not in text


@pytest.mark.parametrize("mode, words", [
    ("xonly", "in `xonly` mode: the line reads `--xp`"),
    ("emulate", "in `emulate` mode: the line reads `r-xp`"),
])
def test_vsyscall_modes(mode, words):
    assert words in render({"layout": {"vsyscall": mode}})


def test_vsyscall_none():
    text = render({"layout": {"vsyscall": "none"}, "aslr": {"vsyscall": "none"}})
    assert "the kernel offers no such page, mode `none`" in text
    assert "the boot parameter `vsyscall=none`" in text
    assert "No region lies above `[stack]`." in text
    assert "So did every region of the map." in text
    assert "the kernel leaves `[vsyscall]` out" not in text
    assert "everything but the kernel's `[vsyscall]` page" not in text


def test_randomize_va_space_one_keeps_the_heap_with_the_executable():
    text = render({"aslr": {"randomize_va_space": 1}})
    assert "The heap moved by exactly as much as the executable" in text
    assert "random gap, of up to" not in text
