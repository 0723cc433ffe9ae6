"""Files, accounting and the page table's bits switches its words on the captures'
provenance (the paging mode, the THP mode, the overcommit policy and the swap state) and
on what the sample found its folder on.
The captures come from a 4-level machine in THP madvise mode with the run's folder on
ext4, so the other branches are rendered from changed copies of them.

The page's Jinja is rendered as the site renders it, with the real ``value`` and
``const`` and the claims' own texts, and the figures left out (as tests/test_vas_branches.py
does for the virtual-address-space page).
"""

from __future__ import annotations

import copy

from roads.constants import constant
from tests.claims_support import committed, render_words, with_provenance
from tests.conftest import REPO

PAGE = REPO / "docs" / "all-roads-to-memory" / "files-and-accounting.md"


def render(provenance: dict[str, dict] | None = None, fs_type: int | None = None) -> str:
    docs = with_provenance(provenance)
    if fs_type is not None:
        docs["filemap"] = doc = docs.get("filemap") or copy.deepcopy(committed("filemap"))
        for point in doc["variants"]["default"]["runs"][0]["checkpoints"]:
            for address in point["addresses"]:
                if address["name"] == "folder-fs-type":
                    address["value"] = fs_type
    return render_words(PAGE, docs)


def test_as_captured():
    text = render()
    assert "this one did not. With it:" in text and "LA57* at work" not in text
    assert "with 4-level paging" in text and "could reach higher" not in text
    assert "was not what decided" not in text
    assert "ext4's (or ext2's, ext3's): a file system on a disk" in text
    assert "so the ratio is the one in force" in text and "Only strict accounting reads" in text
    assert "The machine had no swap when the capture was made" in text


def test_other_machines():
    five = render({"filemap": {"paging_levels": 5}, "hugepage": {"paging_levels": 5}})
    assert "That is *LA57* at work" in five and "this one did not" not in five
    assert "with 5-level paging, even though this machine's page tables could reach higher" in five
    always = render({"hugepage": {"thp": "always"}})
    assert "mode is `always`, so the sample's advice was not what decided" in always
    never = render({"hugepage": {"thp": "never"}})
    assert "mode is not `madvise`" in never
    tmpfs = render(fs_type=constant("TMPFS_MAGIC").value)
    assert "tmpfs: memory only" in tmpfs and "a file system on a disk" not in tmpfs


NO_SWAP = {"swap_total": 0, "swap_free": 0, "swap_areas": 0, "swappiness": 60}


def overcommit(**keys) -> str:
    return render({"overcommit": {"overcommit_memory": 0, "overcommit_ratio": 50,
                                  "overcommit_kbytes": 0, **NO_SWAP, **keys}})


def test_overcommit_policy_branches():
    heuristic = overcommit()
    assert "`vm.overcommit_ratio`, 50, and `vm.overcommit_kbytes`, 0: zero" in heuristic
    assert "Under policy 0 the limit is only reported" in heuristic
    assert "Under strict accounting" not in heuristic
    assert "Under policy 1 the limit" in overcommit(overcommit_memory=1)
    strict = overcommit(overcommit_memory=2, overcommit_ratio=80)
    assert "Under strict accounting they set the *commit limit*" in strict
    assert "the swap plus that percentage of the RAM, so the block above" in strict
    assert "Only strict accounting reads" not in strict
    kbytes = overcommit(overcommit_memory=2, overcommit_ratio=0, overcommit_kbytes=1048576)
    assert "not zero, so it replaces the ratio" in kbytes
    assert "the swap plus that many kibibytes of RAM" in kbytes


def test_swap_branches():
    assert "`SwapTotal` in `/proc/meminfo` was 0 B" in overcommit()
    one = overcommit(swap_total=2 << 30, swap_free=1 << 30, swap_areas=1, swappiness=10)
    assert "The machine had swap when the capture was made: 2 GiB of it" in one
    assert "across 1 swap area in `/proc/swaps`, 1 GiB of it free" in one
    assert "(here 10)" in one and "had no swap" not in one
    assert "across 2 swap areas" in overcommit(swap_total=2 << 30, swap_free=0, swap_areas=2)
