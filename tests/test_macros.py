"""The MkDocs side's own logic: where a failing macro call is on its page."""

from __future__ import annotations

import inspect

from macros import call_line

PAGE = """\
---
title: x
---
{{ value('layout', 'exit_code') }}
and {{ value("layout", "count:regions") }}
{{ memory_map('brk', 'before-malloc') }}
"""


def test_call_line_tells_calls_apart_by_their_arguments():
    assert call_line(PAGE, "value", ("layout", "exit_code")) == 4
    assert call_line(PAGE, "value", ("layout", "count:regions")) == 5
    assert call_line(PAGE, "memory_map", ("brk", "before-malloc")) == 6


def test_call_line_falls_back_to_the_first_argument_then_gives_up():
    assert call_line(PAGE, "value", ("layout", "not:on:the:page")) == 4
    assert call_line(PAGE, "page_view", ("cow",)) is None


def test_a_shown_sample_file_is_part_of_the_figure_key(tmp_path, monkeypatch):
    """A frozen build never re-captures: an edited sample must still draw its code box
    anew, so the box's cache key holds the files it shows."""
    import shutil

    from macros import figures
    from macros.project import figure
    from tests.conftest import REPO

    for folder in ("samples", "snapshots"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    monkeypatch.setenv("ROADS_ROOT", str(tmp_path))
    monkeypatch.setenv("ROADS_MODE", "frozen")
    # The figures drawn here, not those of an author's ROADS_CACHE (the guide's other
    # cache folder), which holds this very box already drawn.
    monkeypatch.delenv("ROADS_CACHE", raising=False)
    made = []

    def draw():
        made.append(1)
        return f"<p>{len(made)}</p>"

    key = figures.sample_code.cache_inputs
    assert figure("sample_code", ("intmain",), {}, draw, key) == "<p>1</p>"
    assert figure("sample_code", ("intmain",), {}, draw, key) == "<p>1</p>"  # cached
    source = tmp_path / "samples" / "intmain.c"
    source.write_text(source.read_text() + "/* edited */\n")
    assert figure("sample_code", ("intmain",), {}, draw, key) == "<p>2</p>"


def test_call_line_never_guesses_another_samples_call():
    """A macro call that is not on the page (it sits in a claim's words) has no line
    here, rather than the line of the first call of the same macro."""
    assert call_line(PAGE, "value", ("strcopy", "address:copy")) is None


class _File:
    def __init__(self, path):
        self.src_uri = path.name
        self.abs_src_path = str(path)


class _Page:
    def __init__(self, path):
        self.file = _File(path)
        self.markdown = path.read_text()


class _Env:
    def __init__(self, docs):
        self.conf = {"docs_dir": str(docs), "strict": False}
        self.page = None


def test_one_error_raised_for_two_pages_names_each_page_and_its_line(tmp_path, monkeypatch):
    """A failed capture's error is kept and raised again for each page that asks; the
    red box of each page must name that page and its line, not the first page's."""
    from macros import guard
    from roads.errors import SampleError

    monkeypatch.delenv("CI", raising=False)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("x\n{{ value('broken', 'exit_code') }}\n")
    (docs / "b.md").write_text("x\ny\nz\n{{ value('broken', 'exit_code') }}\n")
    kept = SampleError("could not compile", sample="broken")

    def value(sample, what):
        raise kept

    env = _Env(docs)
    wrapped = guard(value, env)
    env.page = _Page(docs / "a.md")
    first = wrapped("broken", "exit_code")
    env.page = _Page(docs / "b.md")
    second = wrapped("broken", "exit_code")
    assert "docs/a.md:2" in first and "docs/b.md:4" in second
    assert kept.page is None and kept.line is None


def test_a_misspelt_keyword_argument_names_the_one_meant(tmp_path, monkeypatch):
    """``unchnged=True`` said only "got an unexpected keyword argument": the error names
    the argument it most resembles, as a misspelt macro name does, or else lists them."""
    from macros import guard

    monkeypatch.delenv("CI", raising=False)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("x\n{{ map_diff('demo', 'a', 'b', unchnged=True) }}\n")

    def map_diff(sample, before, after=None, unchanged=False):
        return "drawn"

    env = _Env(docs)
    env.page = _Page(docs / "a.md")
    wrapped = guard(map_diff, env)
    box = wrapped("demo", "a", "b", unchnged=True)
    assert ("docs/a.md:2: map_diff(): got an unexpected keyword argument &#x27;unchnged&#x27;"
            " (did you mean &#x27;unchanged&#x27;?)") in box
    box = wrapped("demo", "a", "b", colour=True)
    assert ("unexpected keyword argument &#x27;colour&#x27; (its arguments: sample, before,"
            " after, unchanged)") in box


def test_claims_are_parsed_once_per_version_of_the_file(tmp_path, monkeypatch):
    """claim() is called for every sentence of every page: the claims file is parsed once,
    and again only when it changes (mkdocs serve picks up an edit)."""
    import os
    import types

    from macros import claims as claim_macros

    (tmp_path / "tests").mkdir()
    path = tmp_path / "tests" / "claims.toml"
    entry = ('[[claim]]\nid = "{id}"\npage = "index.md"\ntext = "words"\n'
             'test = "tests/test_x.py::test_y"\nmutate = []\n')
    path.write_text(entry.format(id="first"))
    # Saved a while ago: a file saved within the racy window is parsed again at each call
    # until its stats can vouch for its bytes (tests/test_pagecache.py).
    os.utime(path, ns=(10**18, 10**18))
    monkeypatch.setattr(claim_macros, "project", lambda: types.SimpleNamespace(root=tmp_path))
    parsed = []
    real = claim_macros.load_claims
    monkeypatch.setattr(claim_macros, "load_claims", lambda p, where=None: parsed.append(p) or real(p, where))
    first = claim_macros.all_claims()
    assert claim_macros.all_claims() is first and len(parsed) == 1
    path.write_text(entry.format(id="second") + "\n")
    os.utime(path, ns=(1, 2))  # a different version even within the clock's resolution
    assert [c.id for c in claim_macros.all_claims()] == ["second"] and len(parsed) == 2


def test_a_figure_indented_in_a_block_leaves_no_empty_paragraph():
    """Markdown wraps an indented placeholder in <p>; the figure replaces the whole
    paragraph, so no empty <p> follows it (a figure cannot stand inside a <p>)."""
    import types

    from macros import hooks

    page = types.SimpleNamespace(roads_figures=['<figure class="f">x</figure>'])
    out = hooks.on_post_page('<details><p><div data-roads-figure="0"></div></p></details>'
                             '<div data-roads-figure="0"></div>', page, None)
    assert out == '<details><figure class="f">x</figure></details><figure class="f">x</figure>'


def test_a_diff_of_a_checkpoint_with_itself_is_an_error(monkeypatch):
    """map_diff(sample, before) with nothing to tell the sides apart, a slip for
    (sample, before, after): it drew "nothing changed" without a word."""
    import pytest

    from macros import figures
    from roads.errors import ConfigError
    from tests.conftest import REPO

    monkeypatch.setenv("ROADS_ROOT", str(REPO))
    monkeypatch.setenv("ROADS_MODE", "frozen")
    with pytest.raises(ConfigError, match="compares checkpoint 'before-malloc' with itself"):
        figures.map_diff("brk", "before-malloc")
    assert "region" in figures.map_diff("brk", "before-malloc", "after-first-malloc")


def test_argument_types_as_jinja_hands_them():
    """What a template passes, against the annotations the macros carry."""
    from jinja2 import Environment

    from macros.arguments import admits, describe

    assert admits(str | None, None) and admits(str | None, "x") and not admits(str | None, 3)
    assert admits(int, 0) and not admits(int, True) and not admits(int, "0")
    assert admits(bool, False) and not admits(bool, "no") and not admits(bool, 0)
    assert admits(list | None, ["a"]) and admits(list | None, ("a", "b"))
    assert not admits(list | None, "a")
    assert admits(str | int | None, 7) and admits(str | int | None, "7")
    assert admits(float, 3) and admits(float, 2.5) and not admits(float, False)
    assert admits(object, "anything the module does not know")
    assert describe(str | int | None) == "text in quotes or a whole number or none"
    undefined = Environment().from_string("{{ f(nope) }}")
    seen = []
    undefined.render(f=lambda v: seen.append(v) or "")
    assert not admits(str, seen[0])


def test_a_wrong_argument_names_the_argument_and_the_value():
    import inspect

    import pytest

    from macros.arguments import check
    from roads.errors import ConfigError

    def value(sample: str, what: str, run: int = 0) -> str:
        return ""

    def bound(*args, **kwargs):
        return inspect.signature(value).bind(*args, **kwargs)

    check(value, bound("brk", "size:heap", run=1))
    with pytest.raises(ConfigError, match=r"^value\(\): run must be a whole number, got '1'$"):
        check(value, bound("brk", "size:heap", run="1"))
    with pytest.raises(ConfigError, match=r"^value\(\): run must be a whole number, got true$"):
        check(value, bound("brk", "size:heap", run=True))
    from jinja2 import Environment

    seen = []
    Environment().from_string("{{ f(nope) }}").render(f=lambda v: seen.append(v) or "")
    with pytest.raises(ConfigError, match=r"^value\(\): what: 'nope' is not defined$"):
        check(value, bound("brk", seen[0]))

    def provenance(sample: str, checkpoints: list | None = None) -> str:
        return ""

    picked = Environment().from_string("{{ f(['a', 'b']|select) }}")
    with pytest.raises(ConfigError, match=r"checkpoints must be a list in brackets or none, "
                                          r"got <generator .*> \(add \|list to make it one\)$"):
        picked.render(f=lambda v: check(provenance, inspect.signature(provenance).bind("x", v)))


def test_every_macros_annotations_resolve():
    """An annotation that does not resolve would check nothing (``_hints`` gives {})."""
    import typing

    import macros

    for module in macros.MODULES:
        for function in module.MACROS:
            hints = typing.get_type_hints(function)
            assert set(inspect.signature(function).parameters) <= set(hints), function
