"""The site's macros plugin: mkdocs-macros-plugin's own, under the name ``roads-macros``
(an entry point of this project, pyproject.toml), with one of its imports deferred.

mkdocs-macros-plugin imports ``requests`` as it loads (``mkdocs_macros.util``), for the
one helper that fetches a URL, which this site never calls. With it come urllib3, ssl,
``http.cookiejar``, charset_normalizer and idna: 55 to 120 ms of every build's start on
this project's machine kind, when one core works alone and no page can render yet
(issue 14). So, while this module imports the plugin, ``sys.modules`` holds a stand-in
(``_Deferred``) for ``requests``, which the plugin's ``import requests`` binds; the
stand-in leaves ``sys.modules`` as soon as that import is done. Its first name read
imports the real package, and every read is passed on to it. Anything else importing
``requests`` gets the real package as it always would: a stand-in left in
``sys.modules`` would be the parent of ``import requests.exceptions``, which then
loads that submodule a second time, once for the package's own code and once for the
importer, so that an ``except`` clause misses what requests raises. A program that had
imported ``requests`` already keeps it as it is.

Everything else is the plugin's: the settings under ``roads-macros:`` in mkdocs.yml are
those of ``macros:`` (``module_name: macros`` and the rest), and this package's
``define_env`` is its macros module as before.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator


class _Deferred(types.ModuleType):
    """A module that stands for ``name``: a name read imports the real module (which
    takes its own place in ``sys.modules``) and is answered by it."""

    def __getattr__(self, attribute: str):
        return getattr(importlib.import_module(self.__name__), attribute)

    def __dir__(self):
        return dir(importlib.import_module(self.__name__))


@contextlib.contextmanager
def deferred(name: str) -> Iterator[None]:
    """While the block runs, ``import name`` gives a ``_Deferred`` stand-in, unless the
    module is imported already or cannot be found (then ``import`` says so as it would
    have). Only the modules the block imports hold the stand-in: it leaves
    ``sys.modules`` when the block ends."""
    if name in sys.modules or importlib.util.find_spec(name) is None:
        yield
        return
    stand_in = _Deferred(name)
    sys.modules[name] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]


with deferred("requests"):
    from mkdocs_macros.plugin import MacrosPlugin


class RoadsMacros(MacrosPlugin):
    """mkdocs-macros-plugin's ``MacrosPlugin``, imported with ``requests`` deferred."""
