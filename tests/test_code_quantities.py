"""Quantities typed into the words the engine writes.

The figures' captions, tooltips and notes, the values' words and the command's messages
reach readers as prose does, so the rule of the pages holds for them too: a size, a
bit position, an address or a power of two comes from ``roads/constants.py`` (a named
constant with its source) or from the capture, not from a number typed into a string.
Every string literal of the engine and the macros is scanned but docstrings, and but
``roads/constants.py``, whose strings cite the constants' sources. Counts of things
("two runs" of a diff) are not scanned here: they are the code's structure, not
measurements.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.prose_scan import PATTERNS, ALLOWED

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for d in ("roads", "macros") for p in (ROOT / d).rglob("*.py")
                 if p != ROOT / "roads" / "constants.py")
KINDS = ("a size with a unit letter", "a hex number", "a bit position", "a power of two")
# A number with a unit of size or of bits ("64 MiB", "3 low bits", "8 bytes").
SIZE = re.compile(r"(?<![\w.\-])\d+(?:[.,]\d+)*(?:\s|-|&nbsp;|\u00a0)+(?:(?:low|high|top|more|random)\s+)?"
                  r"(?:[KMGTPE]iB|[kKMGT]B|bytes|bits)\b")
# Strings that are no prose: formats, patterns, markup and colours.
NOT_PROSE = re.compile(r"^[\s\W\d]*$|\\[dswb(]|^#[0-9a-fA-F]{3,8}$")
# Fixed facts of the format, each with its reason.
ALLOWED_HERE = {
    # The pagemap PFN's bits begin at bit 0; the upper bound comes from the constant.
    "pagemap bits 0-",
    # "1 byte" is the singular of a size computed in the code, not a quantity.
    "1 byte",
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) \
                and node.body and isinstance(node.body[0], ast.Expr) \
                and isinstance(node.body[0].value, ast.Constant):
            found.add(id(node.body[0].value))
    return found


def typed_quantities(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in docs:
            continue
        text = node.value
        if NOT_PROSE.search(text):
            continue
        for allowed in ALLOWED_HERE:
            text = text.replace(allowed, " " * len(allowed))
        cleaned = ALLOWED.sub(lambda m: " " * len(m.group(0)), text)
        hits = [m.group(0) for kind in KINDS for m in PATTERNS[kind].finditer(cleaned)]
        hits += [m.group(0) for m in SIZE.finditer(cleaned)]
        found += [f"{path.relative_to(ROOT)}:{node.lineno}: {hit!r} in {text!r}" for hit in hits]
    return found


def test_no_quantity_typed_into_the_engine_s_words():
    found = [f for path in SOURCES for f in typed_quantities(path)]
    assert not found, ("typed quantities in the engine's strings (take them from "
                       "roads/constants.py):\n" + "\n".join(found))
