"""The macros module of mkdocs-macros-plugin (``module_name: macros`` in mkdocs.yml).

``define_env`` only registers: each concern's module lists its macros, module-level
functions that call into the engine, in a ``MACROS`` tuple, and its template
variables in a ``VARIABLES`` mapping. Adding a macro is one line in its module's
``MACROS``; adding a module is one line in ``MODULES`` below.

Pitfalls of the plugin worth knowing here:

- An ImportError raised while importing this package is reported by the plugin as
  "could not find custom 'macros' module": run ``python -c 'import macros'`` to see
  the real one.
- Front matter keys become template variables of their page and shadow macros of
  the same name: never name a macro ``title``, ``weight`` or ``timeline``.
"""

from __future__ import annotations

from . import figures

MODULES = (figures,)


def define_env(env) -> None:
    """Register every module's macros and variables with the plugin."""
    for module in MODULES:
        for function in module.MACROS:
            env.macro(function)
        env.variables.update(getattr(module, "VARIABLES", {}))
