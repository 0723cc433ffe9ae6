"""Finished HTML that a page's Markdown would only pass through, placed once it has run.

Some macros make a large block of finished HTML that readers search: About's list of
every claim (about 78 KB, 2,100 tags), the Glossary's terms. Left in the page's
Markdown as raw HTML, it is walked tag by tag by two HTML parsers (Python-Markdown's,
which stashes it, and MkDocs', which looks for its ids) and put back exactly as it
was: about half of the Markdown time of About's page. Such a macro returns an
``AfterMarkdown`` instead; its ``guard`` (``macros``) keeps it on the page and leaves
a placeholder, and ``place`` (from the ``on_page_content`` hook) puts the HTML in
where the placeholder stands, once the page is HTML and before the search index and
MkDocs' check of links to anchors read it. The ids the block holds, which MkDocs would
have found in it, come with it (``anchors``) and join the page's.

A figure (``macros.defer_figure``) goes in later still, after the search index read
the page: its labels are not worth searching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from roads.words.markup import unshield

BLOCKS_ATTRIBUTE = "roads_blocks"  # on a page: its blocks, in the order they were made


@dataclass(frozen=True)
class AfterMarkdown:
    """A macro's block of finished HTML, to be placed after Markdown; ``anchors``: the
    ids of its elements (what a link may point at)."""

    html: str
    anchors: tuple[str, ...] = ()

    def __str__(self) -> str:  # where there is no page to keep it on: the HTML itself
        return self.html


# A block's placeholder, and the paragraph Markdown wraps it in when the macro stands
# indented in a block (as ``hooks._FIGURE`` has it for figures).
_PLACEHOLDER = re.compile(r'<(p>\s*<)?div data-roads-block="(\d+)"></div>(?(1)\s*</p>)')


def defer(page, block: AfterMarkdown) -> str:
    """Keep ``block`` on ``page`` and return the placeholder that stands for it."""
    blocks = page.__dict__.setdefault(BLOCKS_ATTRIBUTE, [])
    blocks.append(block)
    return f'\n\n<div data-roads-block="{len(blocks) - 1}"></div>\n\n'


def kept(page) -> list[list]:
    """The page's blocks as the page cache keeps them (JSON)."""
    return [[b.html, list(b.anchors)] for b in page.__dict__.get(BLOCKS_ATTRIBUTE) or ()]


def restore(page, entries: list) -> None:
    """Put back on ``page`` the blocks the page cache kept (``kept``)."""
    if entries:
        page.__dict__[BLOCKS_ATTRIBUTE] = [AfterMarkdown(h, tuple(a)) for h, a in entries]


def forget(page) -> None:
    """The page's blocks are not shown (its template failed: a red box stands instead)."""
    page.__dict__.pop(BLOCKS_ATTRIBUTE, None)


def missing(page_html: str, page) -> int:
    """How many of the page's blocks have no placeholder left in ``page_html`` (Markdown
    took it into a code block or an inline span)."""
    blocks = page.__dict__.get(BLOCKS_ATTRIBUTE) or ()
    return len(blocks) - len(_PLACEHOLDER.findall(page_html)) if blocks else 0


def place(page_html: str, page) -> str:
    """``page_html`` with each block where its placeholder stands (its captured text
    shielded by ``value`` put back, as on the rest of the page), and the blocks' ids
    added to the page's anchors."""
    blocks = page.__dict__.get(BLOCKS_ATTRIBUTE)
    if not blocks:
        return page_html
    if page.present_anchor_ids is not None:
        page.present_anchor_ids = page.present_anchor_ids | {a for b in blocks for a in b.anchors}
    return _PLACEHOLDER.sub(lambda m: unshield(blocks[int(m.group(2))].html), page_html)
