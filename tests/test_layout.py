"""The tree shows the architecture, and the imports keep to it: the capture half and the
figure half share the document and a few shared modules, and neither reaches into the
other (LAYOUT: capture writes documents, figures and words read them)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROADS = Path(__file__).resolve().parent.parent / "roads"
SHARED = {"document", "units", "errors", "command", "constants", "elfspec", "cachedir",
          "coprocess", "cores", "escapes", "argtypes", "interrupts"}
# What each part may import from roads (besides itself and the shared modules). explain
# (roads explain) composes the two halves, as the command line does; neither imports it.
ALLOWED = {"capture": set(), "figures": set(), "words": {"figures"}, "shared": set(),
           "explain": {"capture", "figures"}}


def _part(path: Path) -> str:
    rel = path.relative_to(ROADS).parts
    return rel[0] if len(rel) == 2 else ("shared" if path.stem in SHARED or path.stem == "__init__" else "top")


def _imported_parts(path: Path, roads: Path = ROADS) -> set[str]:
    """The parts of roads (capture, figures, words, shared) that a module imports."""
    tree = ast.parse(path.read_text(), str(path))
    package = path.relative_to(roads.parent).with_suffix("").parts[:-1]  # e.g. (roads, capture)
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)])
                if node.module:  # from .x import y, from ..x import y
                    names = [".".join(base + node.module.split("."))]
                else:  # from . import x, y: each name is a module
                    names = [".".join(base + [a.name]) for a in node.names]
            elif node.module:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] != "roads" or len(parts) < 2:
                continue
            found.add(parts[1] if parts[1] in ("capture", "figures", "words", "explain")
                      else "shared")
    return found


MODULES = sorted(p for p in ROADS.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROADS)))
def test_each_part_imports_only_what_it_may(path: Path) -> None:
    part = _part(path)
    if part == "top":  # roads/cli.py: the command line drives the capture half
        return
    imported = _imported_parts(path) - {part, "shared"}
    assert imported <= ALLOWED[part], f"{path.relative_to(ROADS)} ({part}) imports {sorted(imported)}"


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The check above can fail: a figure module importing the capture half is caught."""
    probe = tmp_path / "roads" / "figures" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("from ..capture.proc import Proc\nfrom roads.capture import runner\n"
                     "from .. import document\nfrom .select import Region\n")
    assert _imported_parts(probe, tmp_path / "roads") == {"capture", "shared", "figures"}


def test_the_halves_are_folders() -> None:
    assert {p.name for p in ROADS.iterdir() if p.is_dir() and p.name != "__pycache__"} == \
        {"capture", "figures", "words", "explain"}
    assert {p.stem for p in ROADS.glob("*.py")} == SHARED | {"__init__", "cli"}


# What the site's layer uses and the engine must not: MkDocs and what it renders with.
SITE_ONLY = {"mkdocs", "material", "mkdocs_macros", "jinja2", "markdown", "pymdownx", "macros"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROADS)))
def test_the_engine_imports_nothing_of_the_site(path: Path) -> None:
    """The engine serves the command line as much as the site, and must outlive MkDocs
    and Material: nothing of roads imports them, nor macros/, at its top or in a
    function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
    assert not found & SITE_ONLY, sorted(found & SITE_ONLY)


def test_an_install_holds_every_package_and_what_roads_explain_reads() -> None:
    """pyproject.toml finds the packages rather than list them (a list left roads.explain
    out of every install but an editable one), and the stylesheets and scripts the
    explain page embeds lie in its package (linked from docs/stylesheets/ and
    docs/javascripts/: a wheel copies them)."""
    import tomllib

    from setuptools import find_packages

    from roads.explain import page

    config = tomllib.loads((ROADS.parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set(find_packages(str(ROADS.parent), **config["packages"]["find"]))
    packages = {".".join(p.relative_to(ROADS.parent).parts[:-1])
                for top in ("roads", "macros") for p in (ROADS.parent / top).rglob("__init__.py")}
    assert packages and found == packages, sorted(found ^ packages)
    assert page.STYLESHEETS.is_relative_to(ROADS / "explain")
    globs = config["package-data"]["roads.explain"]
    for name in (*page.SHEETS, *page.SCRIPTS):
        sheet = page.STYLESHEETS / name
        assert sheet.is_file(), sheet
        assert any(sheet.relative_to(ROADS / "explain").match(g) for g in globs), sheet


def test_the_readme_names_every_module_of_the_engine() -> None:
    """The README's layout is where a maintainer looks for a module's concern: every
    module of roads (and the C launcher) is named there (nine were not)."""
    readme = (ROADS.parent / "README.md").read_text(encoding="utf-8")
    files = [p for p in [*MODULES, *ROADS.rglob("*.c")] if p.name != "__init__.py"]
    missing = sorted(str(p.relative_to(ROADS)) for p in files if f"`{p.name}`" not in readme)
    assert not missing, missing
