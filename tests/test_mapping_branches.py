"""The mapping procedure switches its words on the captures' THP mode: the captures come
from a machine in THP madvise mode, so the `always` branch is rendered from a changed
copy of them (as tests/test_files_branches.py does for its page)."""

from __future__ import annotations

from tests.claims_support import committed, render_words, with_provenance
from tests.conftest import REPO

PAGE = REPO / "docs" / "all-roads-to-memory" / "mapping-procedure.md"


def render(thp: str | None = None) -> str:
    return render_words(PAGE, with_provenance({"demand": {"thp": thp}} if thp is not None else None))


def test_a_page_never_touched_names_the_thp_mode():
    text = render()
    assert committed("demand")["provenance"]["thp"] == "madvise"
    assert "has THP in `madvise` mode (the captures record only that" in text
    assert "handed out unasked too); with `always`, one touch" in text
    always = render("always")
    assert "unasked too), so a touch inside an aligned 2 MiB stretch" in always
    assert "with `always`," not in always
