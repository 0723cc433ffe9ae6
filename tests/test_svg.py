"""roads.figures.svg: Graphviz's SVG finished as an XML tree (titles, accessible names, namespaces)."""

from __future__ import annotations

import pytest
from lxml import etree

from roads.figures import svg

NS = {"s": "http://www.w3.org/2000/svg", "x": "http://www.w3.org/1999/xlink"}

# The shape of `dot -Tsvg` output (Graphviz 2.43), trimmed to one case of each kind of group.
DOT_SVG = """<svg width="62pt" height="188pt"
 viewBox="0.00 0.00 62.00 188.00" xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">
<g id="f&#45;graph" class="graph" transform="scale(1 1)">
<title>f&#45;name</title>
<g id="f&#45;b0" class="node roads&#45;region">
<title>b0</title>
<g id="a_f&#45;b0"><a xlink:href="#row&#45;0" xlink:title="0x1000&#45;0x2000 r&#45;&#45;p &amp; &#39;x&#39;">
<polygon fill="#fff" points="0,0 1,1"/>
<text x="1" y="2">libc.so.6&#160;·</text>
</a>
</g>
</g>
<g id="f&#45;b1" class="node">
<title>b1</title>
<g id="a_f&#45;b1"><a xlink:title="tooltip without a link">
<polygon fill="#fff" points="0,0 1,1"/>
</a>
</g>
</g>
<g id="f&#45;t0" class="node">
<title>t0</title>
</g>
<g id="f&#45;e0" class="edge roads&#45;arrow">
<title>p0:w&#45;&gt;t0</title>
<path d="M0,0C1,1"/>
</g>
<g id="f&#45;e1" class="edge">
<title>b0&#45;&gt;b1</title>
</g>
</g>
</svg>
"""


def finished(short: str = "Address space", long: str = "From the top: one region.") -> str:
    return svg.inline(DOT_SVG, fid="f", css_class="roads-vas", short=short, long=long)


def test_namespaces_are_declared_once_on_the_root_and_no_xml_declaration():
    out = finished()
    assert out.startswith('<svg xmlns="http://www.w3.org/2000/svg" '
                          'xmlns:xlink="http://www.w3.org/1999/xlink" ') and out.endswith("</svg>\n")
    assert out.count("xmlns") == 2 and "<?xml" not in out and "ns0:" not in out
    assert "&#45;" not in out and 'xlink:href="#row-0"' in out


def test_the_root_is_named_described_and_scalable():
    root = etree.fromstring(finished(short="A <b> & 'c'", long='x "y" & z').encode())
    assert root.get("class") == "roads-vas" and root.get("role") == "img"
    assert (root.get("width"), root.get("height")) == ("62pt", "188pt")
    assert root.get("viewBox") == "0.00 0.00 62.00 188.00"
    assert root.get("style") == "max-width: 100%; height: auto"
    assert root.get("aria-label") == "A <b> & 'c'" and root.get("aria-describedby") == "f-desc"
    title, desc = root[0], root[1]
    assert title.tag == f"{{{NS['s']}}}title" and title.text == "A <b> & 'c'"
    assert desc.get("id") == "f-desc" and desc.text == 'x "y" & z'


def test_dot_names_go_and_a_linked_node_keeps_its_tooltip_as_title():
    root = etree.fromstring(finished().encode())
    titles = [t.text for t in root.xpath("//s:g/s:title", namespaces=NS)]
    assert titles == ["0x1000-0x2000 r--p & 'x'"]  # only the linked node's tooltip
    assert root.xpath("//s:g[@id='f-b1']/s:g/s:a/@x:title", namespaces=NS) == ["tooltip without a link"]
    assert root.xpath("//s:text/text()", namespaces=NS) == ["libc.so.6\xa0·"]


def test_empty_nodes_and_invisible_edges_are_dropped_but_drawn_edges_stay():
    out = finished()
    root = etree.fromstring(out.encode())
    ids = root.xpath("//s:g/@id", namespaces=NS)
    assert ids == ["f-graph", "f-b0", "a_f-b0", "f-b1", "a_f-b1", "f-e0"]
    assert "\n\n" not in out  # removing a group takes its line with it: one HTML block


def test_a_sizeless_svg_is_refused():
    with pytest.raises(ValueError, match="without a size"):
        svg.inline(DOT_SVG.replace('width="62pt" ', ""), fid="f", css_class="c", short="s", long="l")


@pytest.mark.dot
def test_render_keeps_the_svg_element_alone(tmp_path):
    out = svg.render('digraph g { a [URL="#a", tooltip="t"]; a -> b }', tmp_path)
    assert out.startswith("<svg ") and out.endswith("</svg>\n")
    assert "<!--" not in out and "<!DOCTYPE" not in out and "<?xml" not in out
    assert svg.render('digraph g { a [URL="#a", tooltip="t"]; a -> b }', tmp_path) == out


@pytest.mark.dot
def test_a_drawing_is_kept_with_the_graphviz_that_made_it(tmp_path, monkeypatch):
    """One file a drawing: the Graphviz's identity on its first line, then the SVG; a
    drawing another Graphviz made is drawn again, unless no Graphviz is here at all."""
    source = 'digraph g { a -> b }'
    out = svg.render(source, tmp_path)
    [kept] = tmp_path.glob(f"*{svg.KEPT}")
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [kept.name]
    from roads import command
    identity = command.tool_identity("dot")
    assert kept.read_text() == f"{identity}\n{out}"
    kept.write_text(f"{identity}\n<svg>kept</svg>\n")
    assert svg.render(source, tmp_path) == "<svg>kept</svg>\n"
    kept.write_text("another graphviz\n<svg>kept</svg>\n")
    assert svg.render(source, tmp_path) == out  # drawn again, and kept
    assert kept.read_text() == f"{identity}\n{out}"
    kept.write_text("another graphviz\n<svg>kept</svg>\n")
    monkeypatch.setattr(command, "tool_identity", lambda name: "missing")
    assert svg.render(source, tmp_path) == "<svg>kept</svg>\n"
    # Without Graphviz, a drawing kept by the older layout (an .svg alone) is used too.
    kept.rename(kept.with_suffix(".svg"))
    kept.with_suffix(".svg").write_text("<svg>older</svg>\n")
    assert svg.render(source, tmp_path) == "<svg>older</svg>\n"


@pytest.mark.dot
def test_a_change_to_the_code_that_tidies_drawings_draws_them_again(tmp_path, monkeypatch):
    """What is kept is Graphviz's output as this module tidied it: a change to that code
    (or to lxml) changes the key, so no drawing tidied by the code before is used."""
    source = 'digraph g { a -> b }'
    svg.render(source, tmp_path)
    monkeypatch.setattr(svg, "POST", "another version of the code")
    svg.render(source, tmp_path)
    assert len(list(tmp_path.glob(f"*{svg.KEPT}"))) == 2


def test_graphviz_kept_running_draws_what_it_draws_alone(monkeypatch):
    """Every figure of a capture drawn by the Graphviz the process keeps running (each
    after others) is byte for byte the one Graphviz run alone for it draws."""
    from roads import coprocess
    from roads.figures import elfmap
    from roads.figures.diagram import render_diagram
    from roads.figures.regions import memory_map
    from roads.figures.select import select
    from tests.capture_docs import snapshot

    doc = snapshot("layout")
    figures = [lambda v=v: render_diagram(memory_map(select(doc, variant=v)))
               for v in ("pie", "nopie", "static")]
    figures += [lambda v=v: elfmap.render_elf_figure(elfmap.elf_map(select(doc, variant=v)))
                for v in ("pie", "static")]
    kept = [draw() for draw in figures * 2]
    drawn_alone = []
    monkeypatch.setattr(coprocess, "ask", lambda *args, **kwargs: drawn_alone.append(1))
    alone = [draw() for draw in figures * 2]
    assert drawn_alone, "Graphviz was run alone for each"
    assert kept == alone


def test_a_graph_left_unfinished_fails_at_once_with_graphvizs_own_error(tmp_path):
    import time

    from roads.errors import CommandFailed

    svg.render('digraph first { a -> b }')  # a Graphviz kept running, with a drawing behind it
    started = time.monotonic()
    with pytest.raises(CommandFailed) as failed:
        svg.render("digraph {\n a -> b\n", tmp_path)
    assert time.monotonic() - started < 10, "it waited for the rest of the graph"
    assert "syntax error in line 3" in failed.value.output  # numbered as in the source alone
    assert not list(tmp_path.glob("*" + svg.KEPT))


def test_an_error_graphviz_draws_through_is_raised_and_the_drawing_not_kept(tmp_path):
    from roads.errors import CommandFailed

    # neato -n wants every node's position; Graphviz still writes an SVG, and fails.
    with pytest.raises(CommandFailed) as failed:
        svg.render("digraph { a -> b }", tmp_path, layout=("dot", "-Kneato", "-n"))
    assert "no position" in failed.value.output
    assert not list(tmp_path.glob("*" + svg.KEPT))


def test_a_drawing_whose_names_graphviz_numbers_across_drawings_is_drawn_alone(monkeypatch):
    from roads import command

    gradient = 'digraph g { a [style=filled, fillcolor="red:blue"]; b [label=<<table><tr>' \
               '<td href="#x" title="t">x</td></tr></table>>, shape=plaintext] }'
    svg.render("digraph before { c [style=filled, fillcolor=\"red:green\"] }")  # counts one
    alone = []
    run = command.run
    monkeypatch.setattr(command, "run", lambda *a, **k: alone.append(1) or run(*a, **k))
    drawn = svg.render(gradient)
    assert alone, "drawn by a Graphviz run alone"
    assert 'id="l_0"' in drawn or 'id="r_0"' in drawn  # numbered as it is drawn alone


def _alone(source: str, layout=svg.DOT) -> str:
    """``source`` as ``svg.render`` draws it with a Graphviz run for it alone."""
    from roads import coprocess

    saved = coprocess.ask
    coprocess.ask = lambda *args, **kwargs: None
    try:
        return svg.render(source, layout=layout)
    finally:
        coprocess.ask = saved


@pytest.mark.parametrize("before, graph", [
    # A graph's layout engine stays in force for the graphs after it.
    ('digraph a { layout=circo; x -> y; y -> z; z -> x }', 'digraph b { p -> q; q -> r; p -> r }'),
    # A graph's own link is named as a page's.
    ('digraph a { x -> y }', 'digraph b { URL="#top"; tooltip="t"; p -> q }'),
    # A graph named as the end of a graph is drawn, and the next one is its own.
    ('digraph roads_end_of_graph { ' + " ".join(f"n{i}" for i in range(300)) + ' }',
     'digraph after { m -> n }'),
])
def test_what_a_graph_leaves_behind_does_not_change_the_next(before, graph):
    svg.render(before)
    assert svg.render(graph) == _alone(graph)


def test_a_graph_that_swallows_the_end_is_drawn_alone_after_a_short_wait(monkeypatch):
    import time

    from roads.errors import CommandFailed

    monkeypatch.setattr(svg, "KEPT_WAIT", 0.5)
    started = time.monotonic()
    with pytest.raises(CommandFailed) as failed:  # an unterminated string: the end is in it
        svg.render('digraph g { a [label="open] }')
    assert time.monotonic() - started < 10
    assert "string" in failed.value.output
    assert svg.render("digraph g { a -> b }") == _alone("digraph g { a -> b }")
