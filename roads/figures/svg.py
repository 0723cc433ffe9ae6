"""Graphviz figures as inline SVG: running a layout engine (cached), and finishing.

``render`` runs any Graphviz layout over a DOT source once per distinct (layout,
source), keeping the SVG under the cache folder; ``inline`` gives the result the
figure's id, class and accessible texts. ``roads.figures.diagram`` does the same for the
address-space diagram with its pinned ``neato -n`` layout; the other Graphviz
figures (``roads.figures.diffview``, ``roads.figures.elfmap``) are laid out by ``dot``.

Both edit the SVG as an XML tree (lxml keeps the ``svg`` and ``xlink`` namespace
declarations as Graphviz wrote them). This module is imported only by the drawing
modules, so a build whose figures all come from the figure cache never loads lxml.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from pathlib import Path

from lxml import etree

from .. import cachedir, command, coprocess
from ..errors import CommandTimeout, printable

DOT = ("dot",)
# A drawing kept in the cache: the identity of the Graphviz that drew it on the first
# line (a new Graphviz draws again), then the SVG.
KEPT = ".drawn"
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
_SVG = f"{{{SVG_NS}}}"
_XLINK = f"{{{XLINK_NS}}}"
# Graphviz's own output: no entities to expand, no DTD to fetch (it names one by URL).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
# What a kept drawing was tidied with besides Graphviz: this module's code and lxml's
# build (part of every drawing's key: a change to either draws again).
POST = hashlib.sha256(Path(__file__).read_bytes()
                      + f"\0lxml {etree.LXML_VERSION} libxml2 {etree.LIBXML_VERSION}".encode()
                      ).hexdigest()


def _parse(svg: str) -> etree._Element:
    return etree.fromstring(svg.encode("utf-8"), _PARSER)


def _text(root: etree._Element) -> str:
    # No XML declaration: the SVG is inlined into an HTML page.
    return etree.tostring(root, encoding="unicode")


def _drop(element: etree._Element) -> None:
    """Remove ``element`` with its tail (the line break Graphviz writes after it)."""
    element.getparent().remove(element)


def render(source: str, cache_dir: str | os.PathLike[str] | None = None, *,
           layout: tuple[str, ...] = DOT) -> str:
    """SVG text of a DOT ``source`` laid out by ``layout`` (a Graphviz command and its
    options, ``-Tsvg`` added), unless the cache holds it.

    The cache key is the sha256 of the layout command, the source and the code that
    tidies Graphviz's output (this module and lxml: ``POST``); a kept SVG is used only
    if the same Graphviz binary made it (an upgrade draws again), or if no Graphviz is
    installed at all. The kept text is the ``<svg>`` element alone,
    without the XML declaration, the doctype and Graphviz's comments (its version and
    the DOT names), so it is the same on every machine with the same Graphviz.
    ToolMissing (install graphviz) when the command is missing.
    """
    key = "\0".join([*layout, source, POST])
    digest = hashlib.sha256(key.encode()).hexdigest()
    identity = command.tool_identity(layout[0])
    if cache_dir is None:
        return _draw(source, layout, None, identity)
    path = Path(cache_dir) / f"{digest}{KEPT}"
    kept = _kept(path, identity)
    if kept is not None:
        return kept
    with cachedir.locked(path):  # another process may be drawing it
        kept = _kept(path, identity)
        return kept if kept is not None else _draw(source, layout, path, identity)


def _kept(path: Path, identity: str) -> str | None:
    """The SVG kept at ``path``, if drawn by this very Graphviz, or if there is no
    Graphviz here to draw it again."""
    try:
        made_by, _, text = path.read_text(encoding="utf-8").partition("\n")
    except FileNotFoundError:
        if identity == "missing":  # no Graphviz to draw it: one an older layout kept will do
            try:
                return path.with_suffix(".svg").read_text(encoding="utf-8")
            except FileNotFoundError:
                pass
        return None
    if identity == "missing" or made_by == identity:
        cachedir.used(path)
        return text
    return None


# Sent after each graph to a Graphviz kept running: an empty graph, whose drawing says
# that the one before it is complete (all its warnings and errors written by then), and
# that turns a graph left unfinished into a syntax error instead of a wait for more.
# Its name is new for each graph (a source could name its own graph so), and it sets
# the command line's layout engine again, since a graph's ``layout`` attribute stays
# in force for the graphs after it. It also lets whoever records Graphviz's input
# (benchmarks/site_bench.py) split it: ``END_OF_GRAPH`` finds it.
END_OF_GRAPH = re.compile(r"\ngraph roads_end_of_graph_\d+ \{ layout=\w+ \}\n")
_ends = itertools.count()
KEPT_WAIT = 10.0  # seconds for the Graphviz kept running; then one run alone draws it
# Graphviz kept running names the graph's group of every drawing after its first as a
# page of a paged drawing ("page0,1_" before the id); drawn alone, it does not. Any
# other name so marked (a graph's own link) sends the graph to a Graphviz run alone.
_PAGED_GRAPH = re.compile(r'(<g id=")page\d+,\d+_(?=[^"]*" class="graph")')
_PAGED = re.compile(r'id="[^"]*page\d+,\d+_')
# Names Graphviz numbers across all it drew in one run (gradients, the links of a
# table's cells, a graph without a name): such a drawing depends on what came before.
_COUNTED = re.compile(r'id="[lr]_\d+"|id="a_[^"]*_\d+"|<title>%\d+</title>')


def _engine(argv: list[str]) -> str:
    """The layout engine a Graphviz command line asks for (``-Kneato``), dot's by default."""
    return next((a[2:] for a in argv if a.startswith("-K") and len(a) > 2), "dot")


def _kept_running(argv: list[str], source: str) -> str | None:
    """``source`` drawn by the Graphviz this process keeps running, as it draws it run
    alone; None when that cannot be had so (an error or a warning of Graphviz's error
    kind, other than one drawing, names numbered across drawings or marked as pages).
    CommandTimeout past ``KEPT_WAIT`` seconds."""
    name = f"roads_end_of_graph_{next(_ends)}"
    title = f"<title>{name}</title>".encode()

    def answered(out: bytearray) -> bool:
        return out.endswith(b"</svg>\n") and title in out[out.rfind(b"<?xml"):]

    end = f"\ngraph {name} {{ layout={_engine(argv)} }}\n"
    answer = coprocess.ask(argv, source + end, done=answered, timeout=KEPT_WAIT)
    if answer is None or re.search(r"(?m)^Error", answer.stderr):
        return None
    drawings = answer.stdout.split("<?xml")
    if len(drawings) != 3 or drawings[0].strip():  # the graph's, then the end's
        return None
    svg = _PAGED_GRAPH.sub(r"\1", "<?xml" + drawings[1], count=1)
    return None if _COUNTED.search(svg) or _PAGED.search(svg) else svg


def _draw(source: str, layout: tuple[str, ...], path: Path | None, identity: str) -> str:
    """Lay ``source`` out, and keep the SVG at ``path`` with the Graphviz that made it.

    The Graphviz this process keeps running draws it (``roads.coprocess``: starting one
    costs several times as much as laying out a figure). Whatever it cannot draw as a
    Graphviz run alone would (an error, a graph left unfinished, a drawing that would
    depend on the ones before it), Graphviz run once draws, and its error is raised."""
    argv = [*layout, "-Tsvg"]
    try:
        text = _kept_running(argv, source)
    except CommandTimeout:  # killed; run alone it says why, or takes its own time
        text = None
    if text is None:
        text = command.run(argv, input=source, timeout=60.0).stdout
    root = _parse(text)
    for comment in list(root.iter(etree.Comment)):
        _drop(comment)
    svg = _text(root) + "\n"
    if path is not None:
        cachedir.keep_text(path, f"{identity}\n{svg}")
    return svg


def _empty(group: etree._Element) -> bool:
    return len(group) == 0 and not (group.text or "").strip()


# A node's class that keeps its tooltip though it links nowhere: a part whose words a
# tap shows (readout.js), such as a phone's diagram's numbered pointer.
WORDED = "roads-worded"


def _tooltip(title: etree._Element, linkless: bool = False) -> str | None:
    """The tooltip of the node whose ``title`` this is, if the node links somewhere (or
    ``linkless``, if it has one at all): Graphviz wraps the node's shapes, right after
    its title, in ``<g><a>`` for either."""
    wrapper = title.getnext()
    if wrapper is None or wrapper.tag != f"{_SVG}g" or len(wrapper) == 0:
        return None
    link = wrapper[0]
    if link.tag != f"{_SVG}a" or (link.get(f"{_XLINK}href") is None and not linkless):
        return None
    return link.get(f"{_XLINK}title")


def inline(svg: str, *, fid: str, css_class: str, short: str, long: str) -> str:
    """``svg`` (from ``render``) with an accessible name and description, as text: see
    ``inlined``."""
    return _text(inlined(svg, fid=fid, css_class=css_class, short=short, long=long)).strip() + "\n"


def inlined(svg: str, *, fid: str, css_class: str, short: str, long: str) -> etree._Element:
    """``svg`` (from ``render``) with an accessible name and description, as an XML tree
    (for a caller that edits it further before writing it once).

    The root gets ``css_class``, a scalable size, ``role="img"``, an ``aria-label``
    (``short``) and a ``<desc>`` (``long``) with the id ``{fid}-desc``. Edge titles
    (DOT node names such as ``b3->p3``), invisible edges and the graph's title (the
    DOT graph name) are dropped: none of them means anything to a reader. A node's
    title (its DOT name, which browsers show on hover and screen readers read) becomes
    its tooltip when the node links somewhere with one, or goes; a node left empty (an
    invisible arrow end) goes too.
    """
    # Names of the process's in them (a mapped file's): XML allows no C0 control, and
    # a reader would not see one (``errors.printable``).
    short, long = printable(short, one_line=True), printable(long)
    root = _parse(svg)
    for group in list(root.iter(f"{_SVG}g")):
        kind = (group.get("class") or "").partition(" ")[0]
        if kind not in ("graph", "node", "edge") or len(group) == 0:
            continue
        title = group[0]
        if title.tag != f"{_SVG}title":
            continue
        tooltip = (_tooltip(title, WORDED in (group.get("class") or "").split())
                   if kind == "node" else None)
        if tooltip is None:
            _drop(title)
        else:
            title.text = tooltip
    for group in list(root.iter(f"{_SVG}g")):
        if group.get("class") in ("node", "edge") and _empty(group):
            _drop(group)
    width, height = root.get("width", ""), root.get("height", "")
    if not (width.endswith("pt") and height.endswith("pt")):
        raise ValueError("dot wrote an SVG without a size")
    rest = [(k, v) for k, v in root.attrib.items() if k not in ("width", "height")]
    root.attrib.clear()
    for name, value in [("class", css_class), ("width", width), ("height", height),
                        ("style", "max-width: 100%; height: auto"), ("role", "img"),
                        ("aria-label", short), ("aria-describedby", f"{fid}-desc"), *rest]:
        root.set(name, value)
    title = etree.Element(f"{_SVG}title")
    title.text = short
    desc = etree.Element(f"{_SVG}desc", id=f"{fid}-desc")
    desc.text = long
    title.tail, desc.tail, root.text = "\n", root.text, "\n"
    root.insert(0, title)
    root.insert(1, desc)
    return root
