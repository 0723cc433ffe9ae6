"""The engine's digest covers every file whose code shapes a capture.

A committed capture is stale when the code that made it changed
(``roads.capture.freshness.ENGINE_FILES``, hashed into ``engine_digest``). Every module
of ``roads`` that the capture code imports, directly or not, is either one of those
files or named below with the reason it shapes nothing a capture holds; a new import
fails here until it is one or the other. The constants the capture code reads from
``roads/constants.py`` are hashed by value (``CAPTURE_CONSTANTS``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from roads.capture import freshness

ROADS = Path(__file__).resolve().parent.parent / "roads"
# Where a capture is made: the capturer, which writes it, and what a run does.
ROOTS = ("capture/capturer.py", "capture/snapshot.py")
# Imported by the capture code, and shaping no capture's content.
NOT_SHAPING = {
    "__init__.py": "the package's docstring",
    "capture/__init__.py": "the package's docstring",
    "cachedir.py": "where the caches lie and how their entries are locked",
    "capture/capturer.py": "schedules captures and writes them; the document is "
                           "assembled by freeze.capture_document",
    "capture/freshness.py": "records a capture's inputs, which are compared whole: a "
                            "change to what it records makes every capture stale by itself",
    "capture/marks.py": "remembers which captures were found valid",
    "capture/sampleset.py": "re-reads the manifest when it changes (samples.py parses it)",
    "capture/store.py": "reads captures back",
    "capture/validate.py": "checks a capture's shape",
    "constants.py": "hashed by value, the constants the capture code reads "
                    "(CAPTURE_CONSTANTS): the file also holds the pages' own",
    "cores.py": "how many workers run",
    "errors.py": "the words of errors, which a capture never holds",
    "interrupts.py": "when a signal that ends the command is let through, as a child "
                     "is started: a capture ended so is not written",
    "units.py": "sizes in words, for error messages",
}


def _module_file(module: str) -> Path | None:
    base = ROADS.parent.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(path: Path) -> set[Path]:
    """The files of ``roads`` that ``path`` imports, at its top or inside functions."""
    package = list(path.relative_to(ROADS.parent).with_suffix("").parts[:-1])
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names = [f"{module}.{a.name}" for a in node.names] + [module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "roads" and (file := _module_file(name)) is not None:
                found.add(file)
    return found


def _reached() -> set[str]:
    seen: set[Path] = set()
    todo = [ROADS / root for root in ROOTS]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(_imports(path) - seen)
    return {p.relative_to(ROADS).as_posix() for p in seen}


def test_every_module_the_capture_code_imports_is_hashed_or_said_to_shape_nothing():
    reached = _reached()
    assert "capture/runner.py" in reached and "capture/dpkgcache.py" in reached  # the walk works
    missing = sorted(reached - set(freshness.ENGINE_FILES) - set(NOT_SHAPING))
    assert not missing, (f"{missing}: imported by the capture code, neither in "
                         "freshness.ENGINE_FILES nor in NOT_SHAPING here")
    assert not set(freshness.ENGINE_FILES) & set(NOT_SHAPING)
    stale = sorted(set(NOT_SHAPING) - reached)
    assert not stale, f"{stale}: no longer imported by the capture code"


def test_every_constant_the_capture_code_reads_is_hashed_by_value():
    read: set[str] = set()
    for name in freshness.ENGINE_FILES:
        if not name.endswith(".py"):
            continue
        for node in ast.walk(ast.parse((ROADS / name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("constants"):
                read |= {a.name for a in node.names}
    assert read and read <= set(freshness.CAPTURE_CONSTANTS), sorted(read)


@pytest.mark.parametrize("name", freshness.CAPTURE_CONSTANTS)
def test_a_capture_constants_value_moves_the_engine_digest(monkeypatch, name):
    """A capture constant changed makes every capture stale; its citation does not."""
    from roads import constants

    before = freshness.engine_digest()
    value = getattr(constants, name)
    plain = getattr(value, "value", value)
    changed = ({**value, 99: 99} if hasattr(value, "items")
               else type(plain)(plain + 1))
    monkeypatch.setattr(constants, name, changed)
    monkeypatch.setattr(freshness, "_ENGINE", [None, None])
    assert freshness.engine_digest() != before
    monkeypatch.setattr(constants, name, value)
    monkeypatch.setattr(freshness, "_ENGINE", [None, None])
    assert freshness.engine_digest() == before
