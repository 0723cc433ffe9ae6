"""The site's macros plugin: mkdocs-macros-plugin's own, under the name ``roads-macros``
(an entry point of this project, pyproject.toml), with one of its imports deferred.

mkdocs-macros-plugin imports ``requests`` as it loads (``mkdocs_macros.util``), for the
one helper that fetches a URL, which this site never calls. With it come urllib3, ssl,
``http.cookiejar``, charset_normalizer and idna: 55 to 120 ms of every build's start on
this project's machine kind, when one core works alone and no page can render yet
(issue 14). So, when this module loads the plugin, ``requests`` is a stand-in module
(``_Deferred``) until something reads one of its names; the first read imports the real
package, which takes its place in ``sys.modules``, and every read after that is
passed on to it. A program that had imported ``requests`` already keeps it as it is.

Everything else is the plugin's: the settings under ``roads-macros:`` in mkdocs.yml are
those of ``macros:`` (``module_name: macros`` and the rest), and this package's
``define_env`` is its macros module as before.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


class _Deferred(types.ModuleType):
    """A module that stands for ``name`` until one of its names is read: then the real
    module is imported (taking its own place in ``sys.modules``) and answers."""

    def __getattr__(self, attribute: str):
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        return getattr(importlib.import_module(name), attribute)

    def __dir__(self):
        return dir(importlib.import_module(self.__name__))


def defer(name: str) -> None:
    """Put a ``_Deferred`` stand-in for the module ``name`` in ``sys.modules``, unless it
    is imported already or cannot be found (then ``import`` says so as it would have)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    stand_in = _Deferred(name)
    # ``import name`` finds it there and checks only its spec: nothing is loaded yet.
    stand_in.__spec__ = spec
    sys.modules[name] = stand_in


defer("requests")

from mkdocs_macros.plugin import MacrosPlugin  # noqa: E402 - after the stand-in, on purpose


class RoadsMacros(MacrosPlugin):
    """mkdocs-macros-plugin's ``MacrosPlugin``, loaded after ``defer("requests")``."""
