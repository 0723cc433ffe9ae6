"""No quantity in the prose is typed by hand (About this site promises it).

Every size, count, address, bit position and default on a page comes from a macro;
tests/prose_scan.py says what counts as typed. The claims' own texts are prose too:
the page shows them.
"""

from __future__ import annotations

import pytest

from roads.words.claims import load_claims
from tests.conftest import REPO
from tests.prose_scan import scan

PAGES = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").rglob("*.md"))
# The authoring guide teaches how to write pages and quotes what not to write.
QUOTING = {"docs/about/authoring.md"}


# What to do instead, said under every finding.
REMEDY = ("\nTake the number from a macro instead: a captured one with value(...), a named "
          "constant with const(...) (roads/constants.py); or reword without it (\"a byte\", "
          "not \"one byte\"). The authoring guide, step 8, says which numbers count.")


@pytest.mark.parametrize("page", [p for p in PAGES if p not in QUOTING])
def test_no_typed_quantity_on_page(page):
    findings = scan((REPO / page).read_text(encoding="utf-8"))
    assert not findings, f"{page}: typed quantities:\n" + "\n".join(
        f"{page}:{f}" for f in findings) + REMEDY


def test_no_typed_quantity_in_claims():
    found = [f"{c.id}: {f.kind}: {f.text!r}" for c in load_claims(REPO / "tests" / "claims.toml")
             for f in scan(c.text)]
    assert not found, "claims.toml: typed quantities:\n" + "\n".join(found) + REMEDY


@pytest.mark.parametrize("text, found", [
    ("The heap grew by 132 KiB.", ["132 KiB"]),
    ("It has four PT_LOAD segments.", ["four PT_LOAD segments"]),
    ("It starts at 0x555555554000 here.", ["0x555555554000"]),
    ("Bit 63 says present.", ["Bit 63"]),
    ("User space ends at 2^47, or 2⁴⁷.", ["2^47", "2⁴⁷"]),
    ("a 47-bit space", ["47-bit"]),
    ("modulo 4096", ["4096"]),
    ("Two regions merged.", ["Two regions"]),
    # What a newcomer typed and an earlier scan let through.
    ("It makes its two middle pages read-only.", ["two middle pages"]),
    ("the two read-only pages and three writable pages", ["two read-only pages",
                                                          "three writable pages"]),
    ("sixteen kibibytes, cut into three parts", ["sixteen kibibytes", "three parts"]),
    ("4K of memory", ["4K"]),
    ("The buffer starts at `0x7ffff7fbc000`, `8 KiB` long.", ["0x7ffff7fbc000", "8 KiB"]),
    # And what a reviewer of that scan typed next.
    ("a 4kB page, 4k pages, 64B cache lines, 1.5G of memory", ["4kB", "4k", "64B", "1.5G"]),
    ("`4096 bytes` in `4K` pages", ["4096 bytes", "4K"]),
    ("two of those pages", ["two of those pages"]),
    ("five hundred pages", ["five hundred pages"]),
    # A count the paragraph's lines wrap, which a scan line by line let through.
    ("It then gives two of its\npages back, and one or two `brk(NULL)`\ncalls.",
     ["two of its pages", "two calls"]),
])
def test_scanner_finds_typed_quantities(text, found):
    assert [f.text for f in scan(text)] == found


@pytest.mark.parametrize("text", [
    "A 64-bit little-endian file for x86-64, as C11 5.1.2.2.3 says.",
    "It grew by {{ value('brk', 'heap.grew') }} bytes.",
    "```c\nchar buf[4096];\n```\n",
    "Call `mmap(NULL, 8192, ...)` once.",
    "---\ntitle: x\nweight: 4\n---\nNothing here.",
    "With 5-level paging (LA57) the hole moves.",
    "*[PTE]: page-table entry",
    "Linux 5.9 counted every fault; one you run; three ways and run it.",
    "`int 0x80`, the old way in, and `%fs:0x28`.",
    "Two programs share pages here. Step 3 maps pages. Since Linux 6 kernels merge regions.",
    # Lines that are not one paragraph: list items, headings, a paragraph's end.
    "the layout's parts:\n\n- two\n- pages\n\n## Three\n\nPages come first.\n",
])
def test_scanner_leaves_code_macros_and_names_alone(text):
    assert scan(text) == []
