"""The theme's static files, listed without walking the theme's hidden folders.

At every build MkDocs adds the theme's static files to the site
(``Files.add_files_from_theme``): it lists every file under the theme's folders
(Jinja's ``FileSystemLoader.list_templates``) and keeps the names its filter lets
through. That filter drops every name with a part that begins with a dot (its
patterns ``.*`` and ``*/.*``). Material keeps its icons in such a folder,
``.icons``: about 14,000 of the 14,500 files its folders hold, each walked and matched
against a dozen patterns, to keep 43 files in all. That took 60 to 90 ms of every
build here, fresh, warm or under ``mkdocs serve``, before the first page.

``install`` (from ``macros/hooks.py``, when MkDocs loads the hooks) makes MkDocs list
the theme's files with folders and files whose names begin with a dot left out of
the walk (``visible_templates``). The names that reach MkDocs' own filter are the
same, less those it would drop anyway, so the site gets the same files. Only a
``FileSystemLoader`` (which MkDocs' themes use) is listed this way; a theme with
another loader is listed as before.
"""

from __future__ import annotations

import os

import jinja2
from mkdocs.structure.files import Files

_ORIGINAL = "_roads_unpruned"  # where install keeps MkDocs' own method


def hidden(name: str) -> bool:
    """Whether a template name (``/``-separated) has a part that begins with a dot:
    one that MkDocs' filter of the theme's files drops (``.*``, ``*/.*``)."""
    return name.startswith(".") or "/." in name


def visible_templates(loader: jinja2.FileSystemLoader) -> list[str]:
    """``loader.list_templates()`` less the ``hidden`` names, without walking a hidden
    folder: Jinja's own listing (the same walk, names and order) otherwise."""
    found: set[str] = set()
    for searchpath in loader.searchpath:
        for dirpath, dirnames, filenames in os.walk(searchpath, followlinks=loader.followlinks):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for filename in filenames:
                if filename.startswith("."):
                    continue
                template = (os.path.join(dirpath, filename)[len(searchpath):]
                            .strip(os.path.sep).replace(os.path.sep, "/"))
                if template[:2] == "./":
                    template = template[2:]
                found.add(template)
    return sorted(name for name in found if not hidden(name))


class _Listed:
    """What ``Files.add_files_from_theme`` asks of the theme's environment (its
    ``list_templates``, with the environment's own semantics), over ``names``."""

    def __init__(self, names: list[str]) -> None:
        self.loader = self  # Environment.list_templates reads self.loader.list_templates()
        self._names = names

    def list_templates(self, extensions=None, filter_func=None):
        if extensions is None and filter_func is None:
            return list(self._names)
        return jinja2.Environment.list_templates(self, extensions, filter_func)  # type: ignore[arg-type]


def add_files_from_theme(self: Files, env: jinja2.Environment, config) -> None:
    """MkDocs' ``Files.add_files_from_theme``, its listing without hidden folders."""
    original = getattr(Files, _ORIGINAL)
    if type(env.loader) is not jinja2.FileSystemLoader:
        return original(self, env, config)
    return original(self, _Listed(visible_templates(env.loader)), config)


def install() -> None:
    """Put ``add_files_from_theme`` in MkDocs' place, once a process."""
    if not hasattr(Files, _ORIGINAL):
        setattr(Files, _ORIGINAL, Files.add_files_from_theme)
        Files.add_files_from_theme = add_files_from_theme  # type: ignore[method-assign]
