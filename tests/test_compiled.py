"""Templates made from text (a page's Markdown, a claim's words) walked, or compiled once
and kept (macros/compiled.py): a text the walk takes is not compiled and renders as
Jinja renders it, an error in it located at its line; for one it does not take, a new
environment, as mkdocs-macros makes for every build, finds the code instead of
compiling; the same template comes out; what Jinja refuses it still refuses; the helper
compiles what the build will ask for, in the plugin's own folder.
(tests/test_pagecache.py builds the real site and compares the bytes.)"""

from __future__ import annotations

import contextlib
import marshal
import types
from pathlib import Path

import jinja2
import pytest

from macros import compiled, themecache

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def compiles(monkeypatch):
    """The sources Jinja compiles from text, in order (from the text, or from the tree
    it parsed of it)."""
    sources: list[str] = []
    parsed: dict[int, str] = {}
    original, parse = jinja2.Environment.compile, jinja2.Environment.parse

    def counting(self, source, name=None, filename=None, *args, **kwargs):
        if name is None:
            sources.append(source if isinstance(source, str) else parsed[id(source)])
        return original(self, source, name, filename, *args, **kwargs)

    def noting(self, source, name=None, filename=None):
        tree = parse(self, source, name, filename)
        parsed[id(tree)] = source
        return tree

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    monkeypatch.setattr(jinja2.Environment, "parse", noting)
    return sources


def env() -> jinja2.Environment:
    """A new environment, as the plugin makes one for every build."""
    return jinja2.Environment(undefined=jinja2.StrictUndefined)


def plugin_at_define_env(monkeypatch, tmp_path):
    """This site's macros plugin after its ``on_config``, and the plugin as it stood
    when it called ``define_env`` (where the helper is forked), seen through a stand-in
    for this package's ``define_env``: the real one would configure a build of the
    checkout and bring its captures up to date."""
    import macros
    from mkdocs.config import load_config

    config = load_config(str(ROOT / "mkdocs.yml"))
    plugin = config.plugins["roads-macros"]
    seen = []
    monkeypatch.setattr(macros, "define_env", lambda env: seen.append(compiled.like(env)))
    monkeypatch.chdir(tmp_path)  # the plugin's git facts are kept under the folder it runs in
    plugin.on_config(config)
    (helpers,) = seen
    return config, plugin, helpers


# A loop: compiled, not walked (macros.interpret).
PAGE = ("# {{ title }}\n{% for i in range(n) %}{% endfor %}"
        "{% if n > 1 %}{{ n }} regions{% else %}one region{% endif %}\n")


def test_a_text_is_compiled_once_and_renders_the_same(tmp_path, compiles):
    first = env()
    compiled.attach(first, tmp_path)
    assert first.from_string(PAGE).render(title="Map", n=3) == "# Map\n3 regions"
    assert compiles == [PAGE]
    again = env()  # the next build
    compiled.attach(again, tmp_path)
    compiled.attach(again, tmp_path)  # once only
    template = again.from_string(PAGE, globals={"title": "Map"})
    assert template.render(n=1) == "# Map\none region"
    assert compiles == [PAGE], "found, not compiled again"
    other = PAGE.replace("regions", "maps")
    assert again.from_string(other).render(title="x", n=2) == "# x\n2 maps"
    assert compiles == [PAGE, other]


def test_what_jinja_refuses_is_refused_and_nothing_is_kept(tmp_path):
    kept = env()
    compiled.attach(kept, tmp_path)
    with pytest.raises(jinja2.TemplateSyntaxError) as ours:
        kept.from_string("{% if x %}never closed")
    with pytest.raises(jinja2.TemplateSyntaxError) as theirs:
        env().from_string("{% if x %}never closed")
    assert (str(ours.value), ours.value.lineno) == (str(theirs.value), theirs.value.lineno)
    assert not list(compiled.folder(tmp_path).rglob("*" + compiled.SUFFIX))


def test_a_damaged_entry_is_compiled_again_and_replaced(tmp_path, compiles):
    compiled.attach(first := env(), tmp_path)
    first.from_string(PAGE)
    (entry,) = compiled.folder(tmp_path).rglob("*" + compiled.SUFFIX)
    entry.write_bytes(entry.read_bytes()[:20])
    compiled.attach(again := env(), tmp_path)
    assert again.from_string(PAGE).render(title="t", n=0) == "# t\none region"
    assert len(compiles) == 2
    assert entry.stat().st_size > 20


def test_other_settings_keep_their_code_apart(tmp_path, compiles):
    text = "{% for i in [x] %}{{ i }}{% endfor %}"
    compiled.attach(plain := env(), tmp_path)
    plain.from_string(text).render(x=1)
    compiled.attach(other := jinja2.Environment(variable_start_string="[[",
                                                variable_end_string="]]"), tmp_path)
    assert other.from_string(text).render(x=1) == "{{ i }}"
    assert len(compiles) == 2
    assert len(list(compiled.folder(tmp_path).iterdir())) == 2


def test_the_helper_compiles_in_the_folder_of_the_plugins_own_environment(monkeypatch, tmp_path):
    """The plugin makes its environment after define_env, where the helper is forked:
    ``like`` must compile into the same folder, or the build would find nothing."""
    _, plugin, helpers = plugin_at_define_env(monkeypatch, tmp_path)
    assert themecache.settings(helpers) == themecache.settings(plugin.env)


def test_the_helper_compiles_each_page_as_mkdocs_reads_it(tmp_path, monkeypatch):
    from mkdocs.structure.files import get_files
    from mkdocs.structure.pages import Page

    config, plugin, helpers = plugin_at_define_env(monkeypatch, tmp_path)
    found = set(compiled.texts(ROOT))
    pages = [f for f in get_files(config).documentation_pages()]
    assert pages
    for file in pages:
        page = Page(None, file, config)
        page.read_source(config)
        assert page.markdown in found, file.src_uri
    # What the helper does: compile those the build will not walk; the build then
    # compiles none of them, and some are walked.
    compiled.compile_unwalked(helpers, found, compiled._where(helpers, tmp_path / "cache"))
    compiled.attach(plugin.env, tmp_path / "cache")
    original = jinja2.Environment.compile
    walked = 0
    try:
        jinja2.Environment.compile = lambda *a, **k: pytest.fail("compiled again")
        for source in found:  # each compiled one found kept
            walked += isinstance(plugin.env.from_string(source), compiled._Template)
    finally:
        jinja2.Environment.compile = original
    assert 0 < walked < len(found)


def test_a_filter_that_asks_for_the_context_compiles_into_its_own_folder(tmp_path):
    """Jinja writes what a filter asks to be passed into the compiled call: the same text
    with the filter changed must not find the old code."""
    text = "{{ x | shout }}"
    plain = env()
    plain.filters["shout"] = lambda value: f"{value}!"
    compiled.attach(plain, tmp_path)
    assert plain.from_string(text).render(x="a") == "a!"
    context = env()
    context.filters["shout"] = jinja2.pass_context(lambda ctx, value: f"{value}{ctx['mark']}")
    compiled.attach(context, tmp_path)
    assert context.from_string(text).render(x="a", mark="?") == "a?"


def _both(first: jinja2.Environment, second: jinja2.Environment, text: str, tmp_path, **values):
    """``text`` rendered by ``second`` after ``first`` kept its code, and by Jinja alone."""
    compiled.attach(first, tmp_path)
    with contextlib.suppress(Exception):
        first.from_string(text).render(**values)
    compiled.attach(second, tmp_path)
    ours = _outcome(lambda: second.from_string(text).render(**values))
    second.__class__ = second.__class__.__mro__[2]  # the environment's own class again
    return ours, _outcome(lambda: second.from_string(text).render(**values))


def _outcome(render):
    try:
        return render()
    except Exception as error:  # noqa: BLE001 - the error is the outcome compared
        return type(error).__name__


def test_a_strict_environment_is_not_given_the_code_of_a_lenient_one(tmp_path):
    # Jinja works "abc".nosuch out while compiling: the class of undefined is in the code.
    ours, jinjas = _both(jinja2.Environment(), jinja2.Environment(undefined=jinja2.StrictUndefined),
                         'x{{ "abc".nosuch }}y', tmp_path)
    assert ours == jinjas == "UndefinedError"


def test_an_edited_filter_does_not_find_the_code_of_the_old_one(tmp_path):
    # Jinja calls a filter on a constant while compiling, and writes the result in.
    old, new = jinja2.Environment(), jinja2.Environment()
    old.filters["ver"] = lambda s: s + "v1"
    new.filters["ver"] = lambda s: s + "v2"
    assert _both(old, new, "{{ 'x' | ver }}", tmp_path) == ("xv2", "xv2")


def test_other_autoescape_rules_keep_their_code_apart(tmp_path):
    ours, jinjas = _both(
        jinja2.Environment(autoescape=jinja2.select_autoescape(default_for_string=True)),
        jinja2.Environment(autoescape=jinja2.select_autoescape(default_for_string=False)),
        "{{ '<b>' }}", tmp_path)
    assert ours == jinjas == "<b>"


def test_an_extension_added_after_attach_is_seen(tmp_path):
    with_loops = jinja2.Environment()
    compiled.attach(with_loops, tmp_path)
    with_loops.add_extension("jinja2.ext.loopcontrols")
    text = "{% for i in [1, 2] %}{{ i }}{% break %}{% endfor %}"
    assert with_loops.from_string(text).render() == "1"
    ours, jinjas = _both(jinja2.Environment(), jinja2.Environment(), text, tmp_path)
    assert ours == jinjas == "TemplateSyntaxError"


def test_an_overlay_compiles_with_its_own_syntax(tmp_path):
    base = jinja2.Environment()
    compiled.attach(base, tmp_path)
    other = base.overlay(variable_start_string="[[", variable_end_string="]]")
    assert other.from_string("[[ x ]] {{ x }}").render(x=1) == "1 {{ x }}"
    assert base.from_string("[[ x ]] {{ x }}").render(x=1) == "[[ x ]] 1"


@pytest.mark.parametrize("kept", [marshal.dumps(42), b"\xe3" + bytes(range(40)), b""])
def test_an_entry_that_is_not_code_is_compiled_again_and_replaced(tmp_path, kept):
    compiled.attach(first := env(), tmp_path)
    first.from_string(PAGE)
    (entry,) = compiled.folder(tmp_path).rglob("*" + compiled.SUFFIX)
    entry.write_bytes(kept)
    compiled.attach(again := env(), tmp_path)
    assert again.from_string(PAGE).render(title="t", n=2) == "# t\n2 regions"
    assert isinstance(marshal.loads(entry.read_bytes()), types.CodeType)


def test_the_helpers_environment_compiles_each_page_as_the_plugins_does(monkeypatch, tmp_path):
    """Byte for byte, for every page and for texts whose code depends on the settings
    (a constant's undefined attribute, a filter in an if): what ``like`` makes at
    define_env and what the plugin makes after it."""
    _, plugin, helpers = plugin_at_define_env(monkeypatch, tmp_path)
    probes = ['{{ "abc".nosuch }}', "{% if 1 %}{{ 'a' | upper }}{{ x | pretty }}{% endif %}"]
    for text in [*compiled.texts(ROOT), *probes]:
        assert helpers.compile(text, raw=True) == plugin.env.compile(text, raw=True)


WALKED = "# {{ title }}\n{% if n > 1 %}{{ n | string }} regions{% else %}one region{% endif %}\n"


def test_a_text_the_walk_takes_is_not_compiled_and_renders_as_jinja(tmp_path, compiles):
    """A page's text is rendered once a build: walked, it is neither written as Python
    nor compiled, nor kept; its names are looked up in the environment's context class,
    as the compiled code's are (the page cache notes them there). Given variables that
    leave a name out, it is Jinja's, which raises as it always did."""
    looked_up: list[str] = []

    class Noting(jinja2.runtime.Context):
        def resolve_or_missing(self, key):
            looked_up.append(key)
            return super().resolve_or_missing(key)

    jinjas = [env().from_string(WALKED).render(title="Map", n=n) for n in (1, 3)]
    compiles.clear()
    ours = env()
    ours.context_class = Noting
    compiled.attach(ours, tmp_path)
    template = ours.from_string(WALKED)
    assert [template.render(title="Map", n=n) for n in (1, 3)] == jinjas
    assert compiles == [] and not list(compiled.folder(tmp_path).rglob("*" + compiled.SUFFIX))
    assert {"title", "n"} <= set(looked_up)
    with pytest.raises(jinja2.UndefinedError, match="'title' is undefined"):
        template.render(n=3)
    assert compiles == [WALKED]
    assert not compiled.WALKING


def test_an_error_in_a_walked_text_is_located_at_its_line_as_in_compiled_code(tmp_path):
    """A macro asking where it was called (a red box's line) and an error raised once a
    macro was called (the page's error) get the template's line from the walk, as they
    get it from Jinja's compiled code; the same call twice is told apart."""
    import macros

    text = "{{ f('a') }}\n\n{{ f('a') }}\n{{ 1 // n }}\n"
    located = {}
    for name, jinjas in (("walked", env()), ("compiled", env())):
        if name == "walked":
            compiled.attach(jinjas, tmp_path)
        lines = located[name] = []
        jinjas.globals["f"] = lambda what: lines.append(macros.template_line(text, text)) or what
        with pytest.raises(ZeroDivisionError) as raised:
            jinjas.from_string(text).render(n=0)
        lines.append(raised.value.__dict__.get(compiled.WALKED_LINE)
                     or macros.template_line(text, text, raised.value.__traceback__))
    assert located["walked"] == located["compiled"] == [1, 3, 4]
    assert not compiled.WALKING
