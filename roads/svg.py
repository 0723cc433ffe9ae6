"""Graphviz figures as inline SVG: running a layout engine (cached), and finishing.

``render`` runs any Graphviz layout over a DOT source once per distinct (layout,
source), keeping the SVG under the cache folder; ``inline`` gives the result the
figure's id, class and accessible texts. ``roads.diagram`` does the same for the
address-space diagram with its pinned ``neato -n`` layout; the other Graphviz
figures (``roads.diff``, ``roads.elfmap``) are laid out by ``dot``.
"""

from __future__ import annotations

import hashlib
import os
import re
from html import escape
from pathlib import Path

from . import command

DOT = ("dot",)
_COMMENT = re.compile(r"<!--.*?-->\n?", re.S)
_PROLOGUE = re.compile(r"\A.*?(?=<svg\b)", re.S)
_SIZE = re.compile(r'<svg width="([0-9.]+)pt" height="([0-9.]+)pt"')
_EDGE_TITLE = re.compile(r'(<g id="[^"]*" class="edge[^"]*">)\n<title>[^<]*</title>')
_EMPTY_EDGE = re.compile(r'<g id="[^"]*" class="edge">\n</g>\n')
_GRAPH_TITLE = re.compile(r'(<g id="[^"]*" class="graph"[^>]*>)\n<title>[^<]*</title>')
# A node's <title> is its DOT name ("b3", "hl"), which browsers show on hover and
# screen readers read: a node with a tooltip gets the tooltip as its title, any other
# node none; a node left empty (an invisible arrow end) is dropped.
_NODE_TITLE = re.compile(
    r'(<g id="[^"]*" class="node[^"]*">)\n<title>[^<]*</title>\n'
    r'(?:(<g id="[^"]*"><a xlink:href="[^"]*" xlink:title="([^"]*)">))?'
)
_EMPTY_NODE = re.compile(r'<g id="[^"]*" class="node">\n</g>\n')


def _node_title(match: re.Match) -> str:
    group, link, tooltip = match.groups()
    if link is None:
        return group + "\n"
    return f"{group}\n<title>{tooltip}</title>\n{link}"


def render(source: str, cache_dir: str | os.PathLike[str] | None = None, *,
           layout: tuple[str, ...] = DOT) -> str:
    """SVG text of a DOT ``source`` laid out by ``layout`` (a Graphviz command and its
    options, ``-Tsvg`` added), unless the cache holds it.

    The cache key is the sha256 of the layout command and the source; a kept SVG is
    used only if the same Graphviz binary made it (an upgrade draws again), or if no
    Graphviz is installed at all. The kept text
    has Graphviz's version comments stripped, so it is the same on every machine with
    the same Graphviz. ToolMissing (install graphviz) when the command is missing.
    """
    key = "\0".join([*layout, source])
    digest = hashlib.sha256(key.encode()).hexdigest()
    path = Path(cache_dir) / f"{digest}.svg" if cache_dir is not None else None
    identity = command.tool_identity(layout[0])
    if path is not None and path.exists():
        made_by = path.with_suffix(".made-by")
        # Drawn by this very Graphviz, or there is no Graphviz here to draw it again.
        if identity == "missing" or (made_by.exists() and made_by.read_text() == identity):
            return path.read_text(encoding="utf-8")
    done = command.run([*layout, "-Tsvg"], input=source, timeout=60.0)
    svg = _PROLOGUE.sub("", _COMMENT.sub("", done.stdout))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        for target, text in ((path, svg), (path.with_suffix(".made-by"), identity)):
            partial = target.with_name(f".{target.name}.{os.getpid()}")
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, target)
    return svg


def inline(svg: str, *, fid: str, css_class: str, short: str, long: str) -> str:
    """``svg`` (from ``roads.diagram.render_svg``) with an accessible name and description.

    The root gets ``css_class``, a scalable size, ``role="img"``, an ``aria-label``
    (``short``) and a ``<desc>`` (``long``) with the id ``{fid}-desc``. Edge titles
    (DOT node names such as ``b3->p3``), invisible edges and the graph's title (the
    DOT graph name) are dropped: none of them means anything to a reader. A node's
    title becomes its tooltip, when it has one, or goes.
    """
    svg = svg.replace("&#45;", "-")
    svg = _EDGE_TITLE.sub(r"\1", svg)
    svg = _EMPTY_EDGE.sub("", svg)
    svg = _GRAPH_TITLE.sub(r"\1", svg)
    svg = _NODE_TITLE.sub(_node_title, svg)
    svg = _EMPTY_NODE.sub("", svg)
    match = _SIZE.search(svg)
    if match is None:
        raise ValueError("dot wrote an SVG without a size")
    svg = _SIZE.sub(
        f'<svg class="{escape(css_class, quote=True)}" width="{match.group(1)}pt" '
        f'height="{match.group(2)}pt" style="max-width: 100%; height: auto" role="img" '
        f'aria-label="{escape(short, quote=True)}" aria-describedby="{fid}-desc"',
        svg, count=1,
    )
    head_end = svg.index(">", svg.index("<svg")) + 1
    svg = (svg[:head_end] + f"\n<title>{escape(short)}</title>"
           f'\n<desc id="{fid}-desc">{escape(long)}</desc>' + svg[head_end:])
    return svg.strip() + "\n"
