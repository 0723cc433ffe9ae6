"""What both claim-test files share: their entries of tests/claims.toml, and the captures."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from roads.claims import load_claims

HERE = Path(__file__).resolve().parent
SNAPSHOTS = HERE.parent / "snapshots"


def claims_of(test_file: str) -> list[tuple[str, str, str]]:
    """(page, claim, test name) of every claim that ``test_file`` checks."""
    return [(c.page, c.text, c.test_name) for c in load_claims(HERE / "claims.toml")
            if c.test_file == Path(test_file).name]


@cache
def doc(sample: str) -> dict:
    """The committed capture of ``sample``."""
    return json.loads((SNAPSHOTS / f"{sample}.json").read_text())
