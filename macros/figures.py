"""Figure macros: module-level functions that pages call as ``{{ name(...) }}``.

Each one takes plain arguments, asks the engine (``roads``) for the drawing and
returns Markdown or HTML; none holds logic of its own. Register a macro by adding it
to ``MACROS``.
"""

from __future__ import annotations

MACROS: tuple = ()
