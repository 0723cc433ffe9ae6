"""An option in a command line (``--at``, ``-O0``) kept on one line where HTML shows it.

A browser may break a line after a hyphen: a phone showed '--' at the end of one line
and 'at' on the next (roads explain's page), and '--' then 'aslr' in the site's prose.
``options_whole`` marks each option of HTML-escaped text with the class
``roads-option``, which the stylesheets keep whole (``white-space: nowrap``): the
figures' provenance lines, roads explain's page, and the site's inline code
(``roads.words.markup.inline_options_whole``).

Pure: text in, text out.
"""

from __future__ import annotations

import re

# An option: one or two hyphens and a letter, at the start or after a space, "(" or ">".
_OPTION = re.compile(r"(?<![^\s(>])(--?[A-Za-z][A-Za-z0-9-]*)")


def options_whole(escaped: str) -> str:
    """``escaped`` (HTML-escaped text) with each option kept on one line."""
    return _OPTION.sub(r'<span class="roads-option">\1</span>', escaped)
