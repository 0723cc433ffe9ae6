"""The site's glossary: every defined term with its one-sentence definition, in one file.

``docs/includes/abbreviations.md`` holds one line per term, in the syntax of
Python-Markdown's ``abbr`` extension, with a blank line between two terms::

    *[VMA]: Virtual memory area: the kernel's record of a region, ...

    *[VMAs]: Virtual memory area: the kernel's record of a region, ...

The blank lines make each definition a Markdown block of its own. Without them the
file is one block, which Python-Markdown takes one line at a time, testing every block
processor's pattern against all the lines left after each: a cost that grows with the
square of the number of terms, paid by every page (it was most of a page's conversion).

``pymdownx.snippets`` appends that file to every page (``auto_append`` in mkdocs.yml),
so ``abbr`` wraps every use of a term in the prose in ``<abbr title="definition">``,
which Material's ``content.tooltips`` shows on hover and on tap. The Glossary page
lists the same file through this module, so the tooltips and the list cannot disagree.

The matching rule is ``abbr``'s own: case-sensitive, whole words, the longest term
first, never inside code. A term therefore has to begin and end with a letter or a
digit, and its plural is a term of its own; terms that share a definition word for word
(``frame`` and ``frames``) are forms of one glossary entry.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass

from ..errors import ConfigError

SOURCE = "docs/includes/abbreviations.md"
DEFINITION = re.compile(r"^\*\[(?P<term>[^\]\\]+)\]:[ ]*(?P<definition>.*)$")


@dataclass(frozen=True)
class Term:
    """One line of the abbreviations file."""

    term: str
    definition: str
    line: int


@dataclass(frozen=True)
class Entry:
    """A glossary entry: the forms of a term (singular first) and their definition."""

    forms: tuple[str, ...]
    definition: str

    @property
    def anchor(self) -> str:
        """The entry's id on the Glossary page, e.g. ``term-page-fault``."""
        return "term-" + re.sub(r"[^a-z0-9]+", "-", self.forms[0].lower()).strip("-")


def parse(text: str, where: str = SOURCE) -> tuple[Term, ...]:
    """The terms of an abbreviations file, in file order.

    Every line that is not blank must define a term: anything else would be appended
    to every page as a stray paragraph. Two terms are parted by a blank line (see above).
    """
    terms: list[Term] = []
    seen: dict[str, int] = {}
    blank = True
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            blank = True
            continue
        m = DEFINITION.match(line)
        if m is None:
            raise ConfigError(f"{where}:{number}: not a definition; write *[TERM]: definition")
        if not blank:
            raise ConfigError(f"{where}:{number}: leave a blank line between {terms[-1].term!r} "
                              f"and {m.group('term')!r}: in one block, the definitions make every "
                              "page slow to convert")
        blank = False
        term, definition = m.group("term"), m.group("definition").strip()
        if term != term.strip() or not re.match(r"\w", term) or not re.search(r"\w$", term):
            raise ConfigError(f"{where}:{number}: term {term!r} must begin and end with a "
                              "letter or a digit, or abbr never finds it in the prose")
        if not definition:
            raise ConfigError(f"{where}:{number}: term {term!r} has no definition")
        if term in seen:
            raise ConfigError(f"{where}:{number}: term {term!r} is already defined on "
                              f"line {seen[term]}")
        seen[term] = number
        terms.append(Term(term, definition, number))
    return tuple(terms)


def entries(terms: tuple[Term, ...]) -> tuple[Entry, ...]:
    """The glossary's entries, alphabetical: terms with the same definition are one."""
    grouped: dict[str, list[str]] = {}
    for t in terms:
        grouped.setdefault(t.definition, []).append(t.term)
    found = [Entry(tuple(sorted(forms, key=len)), definition)
             for definition, forms in grouped.items()]
    return tuple(sorted(found, key=lambda e: (e.forms[0].lower(), e.forms[0])))


def pattern(terms: tuple[Term, ...] | list[str]) -> re.Pattern:
    """The regular expression ``abbr`` builds from the terms: whole words, longest first."""
    names = sorted((t.term if isinstance(t, Term) else t for t in terms), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\b")


def occurrences(terms: tuple[Term, ...], prose: str) -> Counter:
    """How often each term would become a tooltip in ``prose`` (text outside code)."""
    if not terms:
        return Counter()
    return Counter(m.group(0) for m in pattern(terms).finditer(prose))


def anchors(found: tuple[Entry, ...]) -> tuple[str, ...]:
    """The ids of the entries' terms in the list (``render_html``), in order: an entry's
    ``anchor``, and for terms that differ from an earlier one only in case (RSS, Rss)
    the same with -2, -3 after it."""
    used: Counter = Counter()
    out = []
    for e in found:
        used[e.anchor] += 1
        out.append(e.anchor if used[e.anchor] == 1 else f"{e.anchor}-{used[e.anchor]}")
    return tuple(out)


def render_html(found: tuple[Entry, ...]) -> str:
    """The glossary as an HTML definition list, one line per entry.

    Finished HTML, which neither Markdown nor ``abbr`` is to change (the site places it
    in the page after Markdown): a term's own name needs no tooltip beside its
    definition. A space stands between a term and its definition:
    a search index that reads the page's text (Material's) would otherwise run the last
    word of the term into the first of the definition ("address spaceAll").
    """
    rows = []
    for e, anchor in zip(found, anchors(found)):
        name = f"<dfn>{html.escape(e.forms[0])}</dfn>"
        others = "".join(f", <dfn>{html.escape(f)}</dfn>" for f in e.forms[1:])
        rows.append(f'<dt id="{anchor}">{name}{others}</dt> <dd>{html.escape(e.definition)}</dd>')
    return '<dl class="roads-glossary">\n' + "\n".join(rows) + "\n</dl>"
