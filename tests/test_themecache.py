"""The theme's templates compiled once and kept (macros/themecache.py): a new
environment, as MkDocs makes for every build, loads their code instead of compiling
them; an edited template or other settings compile afresh; unused code is pruned.
(tests/test_pagecache.py builds the real site twice and compares the bytes.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import jinja2
import pytest

from macros import themecache


@pytest.fixture
def compiled(monkeypatch):
    """The names of the templates compiled from their source, in order."""
    names: list[str] = []
    original = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, *args, **kwargs):
        names.append(name)
        return original(self, source, name, filename, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return names


def theme(folder, **settings) -> jinja2.Environment:
    """A new environment over ``folder``, as MkDocs makes one for every build."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), auto_reload=False,
                              **settings)


def test_a_template_is_compiled_once_and_again_when_it_changes(tmp_path, compiled):
    templates, cache = tmp_path / "templates", tmp_path / "cache"
    templates.mkdir()
    (templates / "base.html").write_text("<h1>{% block title %}{% endblock %}</h1>")
    (templates / "main.html").write_text(
        '{% extends "base.html" %}{% block title %}{{ page }}{% endblock %}')

    first = themecache.attach(theme(templates), cache).get_template("main.html")
    assert first.render(page="One") == "<h1>One</h1>"
    assert sorted(compiled) == ["base.html", "main.html"]
    kept = sorted(p.name for p in themecache.folder(cache).rglob("*" + themecache.SUFFIX))
    assert len(kept) == 2

    compiled.clear()  # the next build: a new environment finds both compiled
    again = themecache.attach(theme(templates), cache).get_template("main.html")
    assert again.render(page="One") == "<h1>One</h1>"
    assert compiled == []

    (templates / "base.html").write_text("<h2>{% block title %}{% endblock %}</h2>")
    edited = themecache.attach(theme(templates), cache).get_template("main.html")
    assert edited.render(page="One") == "<h2>One</h2>"
    assert compiled == ["base.html"]


def test_other_settings_keep_their_code_apart(tmp_path):
    plain, trimmed = theme(tmp_path), theme(tmp_path, trim_blocks=True)
    i18n = theme(tmp_path, extensions=["jinja2.ext.i18n"])
    i18n.install_null_translations()
    newstyle = theme(tmp_path, extensions=["jinja2.ext.i18n"])
    newstyle.install_null_translations(newstyle=True)
    finalized = theme(tmp_path, finalize=lambda value: value)
    envs = (plain, trimmed, i18n, newstyle, finalized)
    assert len({themecache.settings(e) for e in envs}) == len(envs)
    assert themecache.settings(plain) == themecache.settings(theme(tmp_path / "elsewhere"))
    folders = {themecache.attach(e, tmp_path / "cache").bytecode_cache.directory
               for e in (plain, trimmed, i18n)}
    assert len(folders) == 3


def test_code_no_build_used_for_a_month_goes(tmp_path):
    templates, cache = tmp_path / "templates", tmp_path / "cache"
    templates.mkdir()
    for name in ("used.html", "unused.html"):
        (templates / name).write_text(name)
        themecache.attach(theme(templates), cache).get_template(name)
    files = {p.name: p for p in themecache.folder(cache).rglob("*" + themecache.SUFFIX)}
    assert len(files) == 2
    old = time.time() - 40 * 86400
    for path in files.values():
        os.utime(path, (old, old))
    # A build loads one of them: its file is marked as used.
    themecache.attach(theme(templates), cache).get_template("used.html")
    fresh = [p for p in files.values() if p.stat().st_mtime > old + 86400]
    assert len(fresh) == 1
    themecache.prune(cache)
    assert [p for p in files.values() if p.exists()] == fresh


def test_a_cache_that_cannot_be_made_leaves_the_theme_as_it_was(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    env = themecache.attach(theme(tmp_path), blocked)
    assert env.bytecode_cache is None


def test_a_setting_that_is_a_function_is_named_the_same_in_every_process(tmp_path):
    # select_autoescape() is a closure: its repr holds an address, its name does not.
    code = ("import jinja2; from macros import themecache; print(themecache.settings("
            "jinja2.Environment(autoescape=jinja2.select_autoescape())))")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True).stdout for _ in range(2)}
    assert len(digests) == 1


def test_a_damaged_file_is_compiled_again_and_an_unwritable_cache_is_no_error(tmp_path, compiled):
    templates, cache = tmp_path / "templates", tmp_path / "cache"
    templates.mkdir()
    (templates / "main.html").write_text("{{ page }}!")
    themecache.attach(theme(templates), cache).get_template("main.html")
    (kept,) = themecache.folder(cache).rglob("*" + themecache.SUFFIX)
    for damage in (kept.read_bytes()[:15], kept.read_bytes()[:30] + b"garbage!", b""):
        kept.write_bytes(damage)  # cut short after Jinja's magic, or garbage after it
        compiled.clear()
        again = themecache.attach(theme(templates), cache).get_template("main.html")
        assert again.render(page="x") == "x!" and compiled == ["main.html"]
    # The folder vanishes between attach and the write (a full disk fails the same way).
    env = themecache.attach(theme(templates), tmp_path / "gone")
    import shutil

    shutil.rmtree(tmp_path / "gone")
    assert env.get_template("main.html").render(page="y") == "y!"


def test_a_partial_file_a_killed_build_left_is_pruned(tmp_path):
    where = themecache.folder(tmp_path) / "abc"
    where.mkdir(parents=True)
    partial = where / "__jinja2_0123.cachexyz.tmp"
    partial.write_bytes(b"j2")
    old = time.time() - 40 * 86400
    os.utime(partial, (old, old))
    themecache.prune(tmp_path)
    assert not partial.exists()


def test_the_templates_a_theme_renders_are_found_by_reading_them(tmp_path):
    folder = tmp_path / "templates"
    (folder / "partials").mkdir(parents=True)
    (folder / "base.html").write_text('{% include "partials/header.html" %}{% block body %}{% endblock %}'
                                      '{% include "partials/" ~ name ~ ".html" ignore missing %}')
    (folder / "main.html").write_text('{% extends "base.html" %}{% import "partials/macros.html" as m %}')
    (folder / "partials" / "header.html").write_text('{% include "partials/gone.html" ignore missing %}')
    (folder / "partials" / "macros.html").write_text("{% macro x() %}{% endmacro %}")
    (folder / "partials" / "unused.html").write_text("never named")
    (folder / "404.html").write_text('{% extends "main.html" %}')
    # Named only at render time (the dynamic include) or missing: left to the build.
    assert themecache.templates(theme(folder), ["404.html", "main.html"]) == [
        "404.html", "base.html", "main.html", "partials/header.html", "partials/macros.html"]


def _site_config(folder, cache):
    """A stand-in for MkDocs' config: a theme whose environment is made anew each time."""
    from types import SimpleNamespace

    return SimpleNamespace(theme=SimpleNamespace(
        get_env=lambda: theme(folder), static_templates={"404.html"}))


def test_a_fresh_build_compiles_the_theme_in_a_helper_while_it_starts(tmp_path):
    # In a new interpreter: no helper is forked under threads, and this session may run
    # some (a browser's, a server's).
    done = subprocess.run(
        [sys.executable, "-c", "import sys, pathlib; from tests.test_themecache import "
         "helper_compiles_the_theme; helper_compiles_the_theme(pathlib.Path(sys.argv[1]))",
         str(tmp_path)], cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def helper_compiles_the_theme(tmp_path) -> None:
    from macros import ahead

    compiled: list[str] = []
    original = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, *args, **kwargs):
        compiled.append(name)
        return original(self, source, name, filename, *args, **kwargs)

    jinja2.Environment.compile = counting
    folder, cache = tmp_path / "templates", tmp_path / "cache"
    folder.mkdir()
    (folder / "base.html").write_text("<b>{% block b %}{% endblock %}</b>")
    (folder / "main.html").write_text('{% extends "base.html" %}{% block b %}{{ x }}{% endblock %}')
    (folder / "404.html").write_text('{% extends "main.html" %}')
    config = _site_config(folder, cache)
    work = themecache.ahead(config, cache)
    assert work is not None
    pid = ahead.helper(work)  # as define_env has it done (macros.compile_ahead)
    if ahead.cores() < 2:
        assert pid is None
        return
    assert pid is not None
    _, status = os.waitpid(pid, 0)  # as if the build had got this far
    ahead._state["helpers"].discard(pid)
    assert os.waitstatus_to_exitcode(status) == 0
    assert compiled == [], "the helper compiled them, not this process"
    kept = list(themecache.folder(cache).rglob("*" + themecache.SUFFIX))
    assert len(kept) == 3
    # The build's own environment, made later, finds all three compiled.
    env = themecache.attach(config.theme.get_env(), cache)
    assert env.get_template("404.html").render(x=1) == "<b>1</b>"
    assert compiled == []
    # Kept already: nothing for a helper.
    assert themecache.ahead(config, cache) is None


def test_the_helper_keeps_the_code_the_build_would_keep_reading_each_template_once(
        tmp_path, monkeypatch):
    """What the helper keeps from the trees it read to find the templates is, byte for
    byte, what the build's ``get_template`` would have kept; no source is parsed twice."""
    folder = tmp_path / "templates"
    (folder / "partials").mkdir(parents=True)
    (folder / "base.html").write_text('{% include "partials/h.html" %}<b>{% block b %}{% endblock %}</b>')
    (folder / "main.html").write_text('{% extends "base.html" %}{% block b %}{{ x | e }}{% endblock %}')
    (folder / "404.html").write_text('{% extends "main.html" %}')
    (folder / "partials" / "h.html").write_text("{% for i in range(2) %}{{ i }}{% endfor %}")
    parsed: list[str] = []
    original = jinja2.Environment._parse

    def counting(self, source, name, filename):
        parsed.append(name)
        return original(self, source, name, filename)

    monkeypatch.setattr(jinja2.Environment, "_parse", counting)
    work = themecache.ahead(_site_config(folder, tmp_path / "ahead"), tmp_path / "ahead")
    work()  # in this process: what the helper does
    assert sorted(parsed) == ["404.html", "base.html", "main.html", "partials/h.html"]
    built = themecache.attach(theme(folder), tmp_path / "built")
    for name in ("404.html", "base.html", "main.html", "partials/h.html"):
        built.get_template(name)

    def kept(where):
        return {p.name: p.read_bytes()
                for p in themecache.folder(where).rglob("*" + themecache.SUFFIX)}

    assert len(kept(tmp_path / "ahead")) == 4
    assert kept(tmp_path / "ahead") == kept(tmp_path / "built")


def test_a_theme_that_cannot_be_loaded_is_left_to_the_build(tmp_path):
    from types import SimpleNamespace

    def broken():
        raise OSError("no such theme folder")

    config = SimpleNamespace(theme=SimpleNamespace(get_env=broken, static_templates=set()))
    assert themecache.ahead(config, tmp_path) is None
    assert not themecache.folder(tmp_path).exists()
