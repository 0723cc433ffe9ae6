"""The theme's static files listed without walking its hidden folders
(macros/themefiles.py): the site gets exactly the files MkDocs' own listing gives, for
the project's theme and for a theme made to try the edges (folders and files whose
names begin with a dot at every depth, a file a later folder shadows, a page that
overrides a theme file, a linked folder); a theme with another loader is listed as
before."""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import pytest
from mkdocs.config import load_config
from mkdocs.structure.files import File, Files

from macros import themefiles

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def installed():
    """The hooks install it when MkDocs loads them; here, whatever loaded first."""
    themefiles.install()


def mkdocs_own(files: Files, env, config) -> None:
    getattr(Files, themefiles._ORIGINAL)(files, env, config)


def listed(add, env, config, docs: list[File] = ()) -> list[tuple[str, str, str, str]]:
    files = Files(list(docs))
    add(files, env, config)
    return [(f.src_uri, f.abs_src_path, f.dest_uri, f.url) for f in files]


def test_the_sites_theme_gives_the_files_mkdocs_gives():
    config = load_config(str(ROOT / "mkdocs.yml"))
    env = config.theme.get_env()
    ours = listed(Files.add_files_from_theme, env, config)
    assert Files.add_files_from_theme is themefiles.add_files_from_theme
    assert ours == listed(mkdocs_own, env, config)
    assert ours, "the theme has static files"
    # What is left out of the walk is what MkDocs' filter drops: Material's icons.
    everything = env.loader.list_templates()
    assert themefiles.visible_templates(env.loader) == [n for n in everything
                                                        if not themefiles.hidden(n)]
    assert any(n.startswith(".icons/") for n in everything)


@pytest.fixture
def edgy_site(tmp_path: Path):
    """A site whose theme (a custom folder over MkDocs' own theme) has hidden folders
    and files at every depth, a linked folder, and files a later folder or a page shadows."""
    theme = tmp_path / "theme"
    for rel in ("css/site.css", "css/.hidden.css", ".top/x.js", ".top.js", "js/.deep/y.js",
                "js/a/.b/c/d.js", "js/Upper.JS", "img/.Icons/i.svg", "img/logo.png",
                "README.md", "notes.readme.txt", "main.html", "helper.py", "locales/fr.js",
                "mkdocs_theme.yml", "404.html", "x.", "dir.with.dots/file.css", "shared.css"):
        path = theme / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    (theme / "linked").symlink_to(theme / "css", target_is_directory=True)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n")
    (docs / "shared.css").write_text("the page's own")
    (tmp_path / "mkdocs.yml").write_text(
        "site_name: edges\ntheme:\n  name: mkdocs\n  custom_dir: theme\n")
    config = load_config(str(tmp_path / "mkdocs.yml"))
    docs_files = [File("shared.css", str(docs), config.site_dir, config.use_directory_urls)]
    return config, docs_files


def test_a_theme_with_hidden_parts_gives_the_files_mkdocs_gives(edgy_site):
    config, docs_files = edgy_site
    env = config.theme.get_env()
    ours = listed(Files.add_files_from_theme, env, config, docs_files)
    assert ours == listed(mkdocs_own, env, config, docs_files)
    names = [src for src, *_ in ours]
    assert "css/site.css" in names and "dir.with.dots/file.css" in names
    assert not any(themefiles.hidden(n) for n in names)
    # The page's own file stays the page's; the linked folder is not walked into.
    assert [p for src, p, *_ in ours if src == "shared.css"] == [
        os.path.join(str(config.docs_dir), "shared.css")]
    assert not any(n.startswith("linked/") for n in names)
    # The walk never enters a hidden folder, and its listing is Jinja's without them.
    everything = env.loader.list_templates()
    assert ".top/x.js" in everything and "js/a/.b/c/d.js" in everything
    assert themefiles.visible_templates(env.loader) == [n for n in everything
                                                        if not themefiles.hidden(n)]


def test_the_walk_skips_hidden_folders(edgy_site, monkeypatch):
    config, _ = edgy_site
    walked: list[str] = []
    real = os.walk

    def walk(top, **kwargs):
        for entry in real(top, **kwargs):
            walked.append(entry[0])
            yield entry

    monkeypatch.setattr(themefiles.os, "walk", walk)
    loader = config.theme.get_env().loader
    themefiles.visible_templates(loader)
    below = [os.path.relpath(folder, top) for folder in walked for top in loader.searchpath
             if folder.startswith(top)]  # (the virtual environment's path has a dot)
    assert len(below) == len(walked) > 3
    assert not any(themefiles.hidden(folder) for folder in below if folder != ".")


def test_another_loader_is_listed_as_before(edgy_site):
    config, docs_files = edgy_site
    env = config.theme.get_env()
    other = env.overlay(loader=jinja2.ChoiceLoader([env.loader]))
    ours = listed(Files.add_files_from_theme, other, config, docs_files)
    assert ours == listed(mkdocs_own, other, config, docs_files)
    assert ours == listed(mkdocs_own, env, config, docs_files)


@pytest.mark.parametrize("name, hidden", [
    (".icons/a.svg", True), ("a/.b/c", True), (".x", True), ("a/b/.c", True),
    ("a.b/c", False), ("x.", False), ("a/b.c", False), ("readme.md", False)])
def test_hidden_is_mkdocs_dot_patterns(name, hidden):
    import fnmatch

    assert themefiles.hidden(name) is hidden
    assert hidden == any(fnmatch.fnmatch(name.lower(), p) for p in (".*", "*/.*"))


@pytest.mark.parametrize("followlinks", [False, True])
def test_odd_names_and_linked_folders_give_jinjas_listing_less_the_hidden(tmp_path, followlinks):
    root = tmp_path / "theme"
    for rel in ("a b/c d.css", "ü./x.js", "[.]/y.css", "star*/z.css", "..b/w.css", "x/..y",
                " lead/space.css", "Mixed/.Case/q.js", "nl\nname/n.css", "back\\slash.css",
                "deep/er/still/f.png", ".dot/inner/g.css"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    (root / "to-hidden").symlink_to(root / ".dot", target_is_directory=True)
    (root / ".hidden-link").symlink_to(root / "deep", target_is_directory=True)
    (root / "broken").symlink_to(root / "nowhere")
    loader = jinja2.FileSystemLoader([str(root) + "/", str(tmp_path / "missing")],
                                     followlinks=followlinks)
    everything = loader.list_templates()
    assert themefiles.visible_templates(loader) == [n for n in everything
                                                    if not themefiles.hidden(n)]
    assert ("to-hidden/inner/g.css" in everything) is followlinks
