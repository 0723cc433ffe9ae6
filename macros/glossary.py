"""The glossary macro: every term the site defines, from the file its tooltips come from."""

from __future__ import annotations

from roads.errors import ConfigError
from roads.words.glossary import SOURCE, anchors, entries, parse, render_html

from .pagecache import depends
from .placed import AfterMarkdown
from .project import project


def glossary() -> AfterMarkdown:
    """Every term of ``docs/includes/abbreviations.md`` with its definition, as HTML
    (placed in the page after its Markdown: ``macros.placed``)."""
    path = project().root / SOURCE
    depends(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{SOURCE}: cannot read the glossary: {exc.strerror}") from None
    found = entries(parse(text))
    return AfterMarkdown(render_html(found), anchors(found))


MACROS: tuple = (glossary,)
