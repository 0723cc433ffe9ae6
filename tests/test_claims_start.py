"""Claims of the home page (docs/index.md, "Start Here"), checked against the captures.

The home page draws the address space of ``layout`` (its PIE build) and says where its
regions lie against the two halves of the 64-bit space: below the non-canonical hole,
but for ``[vsyscall]`` in the kernel's half, when the capture's kernel provides that
page at all (its provenance's ``vsyscall`` mode says).
"""

from __future__ import annotations

from roads.figures.regions import memory_map
from roads.figures.select import select
from tests.claims_support import doc


def test_regions_below_the_hole_but_vsyscall():
    bands = memory_map(select(doc("layout"), variant="pie")).bands()
    holes = [b for b in bands if b.kind == "hole"]
    assert len(holes) == 1, "one non-canonical hole"
    hole = holes[0]
    kernel = [b for b in bands if b.kind == "kernel"]
    assert kernel and all(b.start >= hole.end for b in kernel), "the kernel's half is above it"
    regions = [b for b in bands if b.region is not None]
    assert not [b for b in regions if b.end > hole.start and b.start < hole.end]
    above = [b.region.region.pathname for b in regions if b.start >= hole.end]
    mode = doc("layout")["provenance"]["vsyscall"]
    assert above == ([] if mode == "none" else ["[vsyscall]"])
