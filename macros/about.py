"""Macros for the pages about the site itself."""

from __future__ import annotations


from mkdocs.utils.meta import get_data

from roads.claims import load_claims, render_claims

from .project import project


def claims() -> str:
    """Every claim the series makes about a capture, by page, with the test checking it."""
    root = project().root
    titles = {}
    for path in sorted((root / "docs").rglob("*.md")):
        _, meta = get_data(path.read_text(encoding="utf-8"))
        titles[path.relative_to(root).as_posix()] = str(meta.get("title", path.stem))
    return render_claims(load_claims(root / "tests" / "claims.toml"), titles)


MACROS: tuple = (claims,)
