"""The end of a build's process, without the interpreter's last full garbage collection.

When a build ends, its process holds a great many objects: the captures read as JSON
and as typed documents, every page, the templates and their compiled code. On exit,
CPython runs its cyclic garbage collector over all of them once more before freeing
them: about a tenth of a second after a fresh clone's build here, when a plain build
of the same pages exits in 50 ms all told (the fresh-clone benchmark's stages,
benchmarks/site_bench.py).

``install`` (from the hooks' ``on_startup``, once a process) registers an exit handler
that freezes the collector (``gc.freeze``) as the interpreter starts to exit. Every
exit handler still runs, whenever it was registered, and the exit status is unchanged;
objects are still freed as their reference counts drop. Only garbage held in reference
cycles at exit is left to the end of the process, as CPython's documentation already
allows: it does not promise to call ``__del__`` for objects alive at exit.
"""

from __future__ import annotations

import atexit
import gc

_installed = False


def install() -> None:
    """Freeze the garbage collector when the interpreter exits (once a process)."""
    global _installed
    if not _installed:
        _installed = True
        atexit.register(_freeze)


def _freeze() -> None:
    gc.disable()
    gc.freeze()
