"""tests/claims.toml: well formed, about pages that exist, each claim checked by a test."""

from __future__ import annotations

import pytest

from roads.claims import load_claims, parse_claims, render_claims
from roads.errors import ConfigError
from tests.conftest import REPO

CLAIMS = load_claims(REPO / "tests" / "claims.toml")


def test_every_claim_is_about_a_page_that_exists():
    assert CLAIMS
    missing = sorted({c.page for c in CLAIMS if not (REPO / c.page).is_file()})
    assert missing == []


def test_every_claim_names_a_test_file_that_exists():
    assert {c.test_file for c in CLAIMS} <= {p.name for p in (REPO / "tests").glob("test_*.py")}


def test_no_claim_is_made_twice():
    texts = [(c.page, c.text) for c in CLAIMS]
    assert len(texts) == len(set(texts))


def test_a_malformed_entry_is_named():
    with pytest.raises(ConfigError, match="claim 2 needs page, text and test"):
        parse_claims('[[claim]]\npage = "a"\ntext = "b"\ntest = "f.py::t"\n'
                     '[[claim]]\npage = "a"\ntext = "b"\n', "x.toml")


def test_rendering_escapes_and_groups_by_page():
    claims = parse_claims('[[claim]]\npage = "docs/a.md"\ntext = "x < y"\ntest = "t.py::t1"\n'
                          '[[claim]]\npage = "docs/a.md"\ntext = "z"\ntest = "t.py::t2"\n')
    out = render_claims(claims, {"docs/a.md": "Page A"})
    assert "<summary>Page A: 2 claims</summary>" in out and "x &lt; y" in out
