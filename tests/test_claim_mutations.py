"""Every claim's test fails on the mutated capture the claim declares.

A claim test that passes whatever the capture says checks nothing. Each entry of
tests/claims.toml names a change to a capture (``mutate``) that would make its
sentence false; here the claim's own test runs against the changed capture and must
fail with an assertion. Caches in the test's module are cleared around each run, so
nothing computed from the real capture leaks into the mutated one, or back.
"""

from __future__ import annotations

import importlib

import pytest
from _pytest.outcomes import Skipped

from roads.words.claims import load_claims
from tests.claims_support import mutated
from tests.conftest import REPO

CLAIMS = load_claims(REPO / "tests" / "claims.toml")


def clear_caches(module) -> None:
    for value in vars(module).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.id for c in CLAIMS])
def test_claim_fails_on_its_mutation(claim):
    assert claim.mutate, f"claim {claim.id!r} declares no mutation (mutate = [...])"
    module = importlib.import_module(f"tests.{claim.test_file.removesuffix('.py')}")
    test = getattr(module, claim.test_name)
    clear_caches(module)
    try:
        test()  # on the real capture it passes (or skips, as the claim test itself does)
    except Skipped as skip:
        pytest.skip(f"the claim test skips on this capture: {skip}")
    except AssertionError:
        # Its own failure, reported where that test runs, says why; here it would be
        # read as a mutation that went unnoticed.
        pytest.fail(f"claim {claim.id!r}: its own test, {claim.test}, fails on the committed "
                    "capture, before any mutation (see that test's failure)", pytrace=False)
    clear_caches(module)
    try:
        with mutated(claim):
            test()
    except AssertionError:
        return
    finally:
        clear_caches(module)
    pytest.fail(f"claim {claim.id!r}: {claim.test} still passes after its mutation "
                f"{list(claim.mutate)}: the test does not check the claim")
