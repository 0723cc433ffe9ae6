"""What of MkDocs and its plugins the site layer replaces, in one place.

``macros/`` puts functions of its own in the place of a few that MkDocs, its standard
library or mkdocs-macros-plugin do not offer as a hook (each for speed: see the README's
section on speed). They are the first things an upgrade of MkDocs or of the plugin can
break, so each is named here with the signature this code was written against (the
versions of ``requirements.lock``): an upgrade that changes one fails here, by name,
before any behaviour test, and says which module to look at. Each replacement's
behaviour is tested where it lives (tests/test_ahead.py, tests/test_themefiles.py,
tests/test_pagecache.py for git's answers, tests/test_site.py).
"""

from __future__ import annotations

import importlib
import inspect

import pytest

# (module, attribute path, the parameters it had, our module that replaces or wraps it)
REPLACED = [
    ("mkdocs.commands.build", "_build_page",
     ["page", "config", "doc_files", "nav", "env", "dirty", "excluded"],
     "macros/ahead.py: install, a worker builds the pages' HTML ahead"),
    ("mkdocs.structure.files", "Files.add_files_from_theme", ["self", "env", "config"],
     "macros/themefiles.py: the theme's files listed without its dot folders"),
    ("mkdocs_macros.context", "get_git_info", [],
     "macros/gitinfo.py: git's answers kept between builds"),
    ("logging", "Logger.handle", ["self", "record"],
     "macros/ahead.py: a page worker's log lines handed to the build in the page's turn"),
]


@pytest.mark.parametrize("module, name, parameters, ours", REPLACED,
                         ids=[f"{m}.{n}" for m, n, _, _ in REPLACED])
def test_what_the_site_replaces_still_has_the_shape_it_was_written_for(module, name,
                                                                      parameters, ours):
    target = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part, None)
        assert target is not None, f"{module}.{name} is gone: see {ours}"
    original = getattr(target, "__wrapped__", target)  # ours, installed, wraps it
    found = list(inspect.signature(original).parameters)
    assert found == parameters, (f"{module}.{name} now takes {found}, not {parameters}: "
                                 f"see {ours}")
