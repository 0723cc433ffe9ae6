"""The glossary macro: every term the site defines, from the file its tooltips come from."""

from __future__ import annotations

from roads.errors import ConfigError
from roads.words.glossary import SOURCE, entries, parse, render_html

from .pagecache import depends
from .project import project


def glossary() -> str:
    """Every term of ``docs/includes/abbreviations.md`` with its definition, as HTML."""
    path = project().root / SOURCE
    depends(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{SOURCE}: cannot read the glossary: {exc.strerror}") from None
    return "\n\n" + render_html(entries(parse(text))) + "\n\n"


MACROS: tuple = (glossary,)
