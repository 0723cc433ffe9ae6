"""The site's macros plugin (macros/plugin.py): mkdocs-macros-plugin's, loaded through
this project's entry point with ``requests`` deferred until something reads it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from mkdocs_macros.plugin import MacrosPlugin

ROOT = Path(__file__).resolve().parent.parent


def run(code: str) -> str:
    """``code`` in a new interpreter at the checkout (a module imported once stays)."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_mkdocs_yml_loads_the_plugin_through_the_entry_point():
    from mkdocs.config import load_config

    from macros.plugin import RoadsMacros

    config = load_config(str(ROOT / "mkdocs.yml"))
    plugin = config.plugins["roads-macros"]
    assert isinstance(plugin, RoadsMacros) and isinstance(plugin, MacrosPlugin)
    assert plugin.config["module_name"] == "macros"
    assert "macros" not in config.plugins


def test_loading_the_plugin_and_its_config_imports_no_requests():
    out = run("""
        import sys
        from mkdocs.config import load_config
        config = load_config("mkdocs.yml")
        import mkdocs_macros.util as util
        print(type(util.requests).__name__, "requests" in sys.modules,
              sorted(m for m in ("urllib3", "requests.adapters", "charset_normalizer", "idna")
                     if m in sys.modules))
    """)
    assert out.split() == ["_Deferred", "False", "[]"], out


def test_the_first_name_read_imports_the_real_requests():
    out = run("""
        import sys
        import macros.plugin
        import mkdocs_macros.util as util
        stand_in = util.requests
        error = stand_in.exceptions.RequestException   # the plugin's except clause
        real = sys.modules["requests"]
        print(type(stand_in).__name__, type(real).__name__, real is not stand_in,
              error is real.exceptions.RequestException, stand_in.get is real.get,
              "adapters" in dir(stand_in), "urllib3" in sys.modules)
    """)
    assert out.split() == ["_Deferred", "module", "True", "True", "True", "True", "True"], out


def test_a_requests_imported_before_is_kept():
    out = run("""
        import sys
        import requests
        import macros.plugin
        print(sys.modules["requests"] is requests, type(requests).__name__)
    """)
    assert out.split() == ["True", "module"], out


def test_a_missing_module_is_left_to_import_to_report():
    out = run("""
        import sys
        from macros.plugin import deferred
        with deferred("no_such_module_of_roads"):
            print("no_such_module_of_roads" in sys.modules)
            try:
                import no_such_module_of_roads
            except ModuleNotFoundError as exc:
                print(exc.name)
    """)
    assert out.split() == ["False", "no_such_module_of_roads"], out



def test_a_submodule_imported_first_is_the_one_requests_uses():
    """``from requests.exceptions import ...`` as the first use of requests after the
    plugin loaded: one copy of the submodule, the one requests' own code raises from,
    so an except clause catches what requests raises."""
    out = run("""
        import sys
        import macros.plugin
        from requests.exceptions import MissingSchema
        import requests
        try:
            requests.Request("GET", "no-scheme").prepare()
        except MissingSchema:
            print("caught", sys.modules["requests.exceptions"].MissingSchema is MissingSchema)
    """)
    assert out.split() == ["caught", "True"], out
