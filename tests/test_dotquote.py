"""Graphviz's quoting remembered (``roads.figures.dotquote``): the same DOT text."""

from __future__ import annotations

import warnings

import graphviz
import pytest
from graphviz import quoting

from roads.figures import dotquote

ODD = ["", "box", "filled,dashed", "node", "Graph", "strict", "-4.2", ".42", "4.", "0x7f",
       "spam spam", 'say "hi"', '\\"', '\\\\"', "a\\lb\\l", "<<b>bold</b>>", "<x>", "<a",
       "·  W+X", "#e9a23b", "roads-kind-heap roads-guard", "r1:w", "s2:mem:e", "\n"]


def test_each_string_is_quoted_as_graphviz_quotes_it_the_first_time_and_after():
    for text in ODD + [graphviz.nohtml(t) for t in ODD]:
        want = dotquote._original(text)
        assert dotquote.quote(text) == want and dotquote.quote(text) == want, repr(text)


def test_text_and_an_html_label_of_the_same_characters_are_told_apart():
    assert dotquote.quote("<b>x</b>") == "<b>x</b>"  # an HTML label: as it is
    assert dotquote.quote(graphviz.nohtml("<b>x</b>")) == '"<b>x</b>"'
    assert dotquote.quote("<b>x</b>") == "<b>x</b>"


def test_a_string_whose_quoting_warns_warns_at_every_call():
    for _ in range(2):
        with pytest.warns(graphviz.exceptions.DotSyntaxWarning):
            dotquote.quote("ends in one \\")


def _graph() -> str:
    g = graphviz.Digraph(name="fig one")
    g.attr("graph", rankdir="LR", label="<<b>title</b>>")
    g.attr("node", fontname="DejaVu Sans", shape="box")
    for k, text in enumerate(ODD[1:]):
        g.node(f"n{k}", label=text, tooltip=graphviz.nohtml(text), style="filled",
               **{"class": "roads-region", "id": f"f-{k}"})
        g.edge(f"n{k}:e", f"n{(k + 1) % 5}:w", label=graphviz.escape(text), color="#555555")
    with g.subgraph(name="cluster side") as side:
        side.attr(rank="same")
        side.node("strict", label="node")
    return g.source


def test_a_graph_reads_the_same_quoted_either_way(monkeypatch):
    dotquote.install()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        remembered = _graph()
        monkeypatch.setattr(quoting, "quote", dotquote._original)
        monkeypatch.setattr(quoting.Quote, "_quote", staticmethod(dotquote._original))
        assert _graph() == remembered


def test_the_figures_quote_through_it():
    import roads.figures.diagram  # noqa: F401 - installs it

    assert quoting.quote is dotquote.quote
    assert graphviz.Digraph._quote is dotquote.quote
