"""Graphviz's quoting of DOT identifiers, with its answers remembered.

The graphviz package quotes every node name, attribute name and attribute value it
writes (``graphviz.quoting.quote``: two regular expressions, a search and, for a
string it quotes, a substitution). Drawing the site's figures asks it about 16,000
times for some 1,600 distinct strings (``box``, ``filled``, the font, the colours, the
widths): under callgrind, 1.2 % of all the instructions of a fresh clone's build. ``install`` puts
in its place the same function with its answers remembered, so that the DOT text is
the same, byte for byte. What the cache would change is left to the function itself:
a string of another type than ``str`` and ``graphviz.nohtml``'s (told apart: the same
text is quoted differently as each), any argument besides the string, and a string
ending in a backslash, whose quoting warns (``DotSyntaxWarning``) at every call.
"""

from __future__ import annotations

import functools

from graphviz import quoting

_original = quoting.quote
# typed: ``nohtml("<b>")`` is text to be quoted, where ``"<b>"`` is an HTML label.
_remembered = functools.lru_cache(maxsize=8192, typed=True)(_original)


def quote(identifier, *args, **kwargs) -> str:
    """``graphviz.quoting.quote``, remembered for the strings it always answers alike."""
    if (args or kwargs or type(identifier) not in (str, quoting.NoHtml)
            or identifier.endswith("\\")):
        return _original(identifier, *args, **kwargs)
    return _remembered(identifier)


def install() -> None:
    """Quote through ``quote`` wherever the graphviz package does: its functions that
    assemble attribute lists and edge ends, and the graphs' own ``_quote``."""
    quoting.quote = quote
    quoting.Quote._quote = staticmethod(quote)
