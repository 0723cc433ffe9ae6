"""What the claim-test files share: their entries of tests/claims.toml, the captures,
and the mutations that each claim declares must make its test fail."""

from __future__ import annotations

import copy
import importlib
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from roads.words.claims import Claim

HERE = Path(__file__).resolve().parent
SNAPSHOTS = HERE.parent / "snapshots"

# Captures replaced by mutated copies while the mutation harness runs a claim's test.
_MUTATED: dict[str, dict] = {}


def doc(sample: str) -> dict:
    """The capture of ``sample``: the committed one, or its mutated copy in a harness run."""
    if sample in _MUTATED:
        return _MUTATED[sample]
    return committed(sample)


@cache
def committed(sample: str) -> dict:
    """The committed capture of ``sample`` (do not change it: it is shared)."""
    return json.loads((SNAPSHOTS / f"{sample}.json").read_text())


class MutationError(Exception):
    """A claim's mutation does not fit the capture it names."""


def walk(node, path: list, claim_id: str):
    """The part of a capture that ``path`` leads to (see roads.words.claims)."""
    for step in path:
        if isinstance(step, dict):
            if not isinstance(node, list):
                raise MutationError(f"{claim_id}: {step} picks from a list, found {type(node).__name__}")
            found = [item for item in node if isinstance(item, dict)
                     and all(item.get(k) == v for k, v in step.items())]
            if not found:
                raise MutationError(f"{claim_id}: no item matches {step}{_there(node, step)}")
            node = found[0]
        elif isinstance(node, dict) and isinstance(step, str) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and -len(node) <= step < len(node):
            node = node[step]
        else:
            raise MutationError(f"{claim_id}: no {step!r} in the capture at that point"
                                f"{_there(node)}")
    return node


def _there(node, step: dict | None = None) -> str:
    """What a path could have taken at ``node``, for the error of one that missed: the
    keys of a mapping, the length of a list, or the values (each once) that the fields
    of ``step`` hold in the list's items."""
    if isinstance(node, dict):
        return f" (keys: {', '.join(map(str, node))})"
    if not isinstance(node, list):
        return f" (a {type(node).__name__})"
    if step:
        held = [f"{key} here: " + ", ".join(dict.fromkeys(
                    repr(item[key]) for item in node if isinstance(item, dict) and key in item))
                for key in step]
        return f" ({'; '.join(held)})"
    return f" (a list of {len(node)} item(s))"


def apply_step(document: dict, step: dict, claim_id: str) -> None:
    """Change ``document`` in place by one mutation step."""
    path = list(step.get("path", []))
    if "call" in step:
        module, _, name = step["call"].partition(":")
        function = getattr(importlib.import_module(f"tests.{module}"), name)
        function(walk(document, path, claim_id))
        return
    parent = walk(document, path[:-1], claim_id)
    last = path[-1]
    if isinstance(last, dict):
        items = walk(parent, [], claim_id)
        target = walk(items, [last], claim_id)
        index = next(i for i, item in enumerate(items) if item is target)
        parent, last = items, index
    elif last not in (parent if isinstance(parent, dict) else range(-len(parent), len(parent))):
        if not (("set" in step or "copy" in step) and isinstance(parent, dict)):
            raise MutationError(f"{claim_id}: no {last!r} in the capture at that point"
                                f"{_there(parent)}")
    if "delete" in step:
        del parent[last]
    elif "add" in step:
        parent[last] += step["add"]
    elif "copy" in step:
        parent[last] = copy.deepcopy(walk(document, step["copy"], claim_id))
    else:
        parent[last] = copy.deepcopy(step["set"])


@contextmanager
def mutated(claim: Claim) -> Iterator[None]:
    """While inside, ``doc()`` returns the captures as ``claim.mutate`` changes them."""
    copies: dict[str, dict] = {}
    for step in claim.mutate:
        sample = step["sample"]
        if sample not in copies:
            copies[sample] = copy.deepcopy(committed(sample))
        apply_step(copies[sample], step, claim.id)
    _MUTATED.update(copies)
    try:
        yield
    finally:
        for sample in copies:
            _MUTATED.pop(sample, None)


# Figure macros a page may call: left out of a rendering of its words.
FIGURE_MACROS = ("address_space", "memory_map", "map_diff", "page_view", "page_walk",
                 "elf_to_memory", "sample_code", "provenance", "gdb_session", "timelapse",
                 "stack_top", "page_walk_diagram")


def with_provenance(changes: dict[str, dict] | None) -> dict[str, dict]:
    """Changed copies of the committed captures, by sample: each with the provenance keys
    ``changes`` gives it (a machine fact the captures' machine lacks), for
    ``render_words``."""
    docs = {}
    for sample, keys in (changes or {}).items():
        docs[sample] = copy.deepcopy(committed(sample))
        docs[sample]["provenance"].update(keys)
    return docs


def render_words(page: Path, docs: dict[str, dict]) -> str:
    """A page's text rendered as the site renders it, with the real ``value`` and
    ``const`` and the claims' own texts, reading ``docs`` (changed copies of captures,
    by sample) before the committed captures, its figures left out; whitespace folded.
    For pages that switch their words on a machine fact the captures' machine lacks."""
    import jinja2

    from roads.constants import constant
    from roads.words.claims import load_claims
    from roads.words.values import lookup

    claims = {c.id: c for c in load_claims(HERE / "claims.toml")}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)

    def value(sample, what, variant=None, run=0, checkpoint=None, pid=None, fmt=None):
        return lookup(docs.get(sample) or committed(sample), what, variant=variant, run=run,
                      checkpoint=checkpoint, pid=pid, fmt=fmt)

    def const(name, fmt=None, cite=False):
        return constant(name).format(fmt)

    def claim(claim_id):
        return env.from_string(claims[claim_id].text).render()

    env.globals.update(value=value, const=const, claim=claim,
                       **{name: (lambda *a, **k: "") for name in FIGURE_MACROS})
    body = page.read_text(encoding="utf-8").split("\n---\n", 1)[1]
    return " ".join(env.from_string(body).render().split())


def gcc_option_states(captured: str) -> dict[str, str] | None:
    """``gcc -Q --help=common`` of this machine's gcc, as {option: state}, when that gcc
    is the one a capture records (``captured``: its ``gcc --version`` line); None when
    there is no gcc here or it is another one, whose defaults say nothing of the capture's."""
    try:
        here = subprocess.run(["gcc", "--version"], capture_output=True, text=True,
                              timeout=30).stdout.splitlines()[0]
    except (OSError, IndexError):
        return None
    if here != captured:
        return None
    out = subprocess.run(["gcc", "-Q", "--help=common"], capture_output=True, text=True,
                         timeout=30).stdout
    return {f[0]: f[-1] for f in (line.split() for line in out.splitlines())
            if len(f) >= 2 and f[0].startswith("-f")}
