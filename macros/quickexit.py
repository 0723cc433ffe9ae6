"""The end of a build's process, without the interpreter's last full garbage collection.

When a build ends, its process holds a great many objects: the captures read as JSON
and as typed documents, every page, the templates and their compiled code. On exit,
CPython runs its cyclic garbage collector over all of them once more before freeing
them: about a tenth of a second after a fresh clone's build here, when a plain build
of the same pages exits in 50 ms all told (the fresh-clone benchmark's stages,
benchmarks/site_bench.py).

``install`` (from the hooks' ``on_startup``, once a process) registers an exit handler
that freezes the collector (``gc.freeze``) as the interpreter starts to exit. Every
exit handler still runs, whenever it was registered, the standard streams are flushed
and the exit status is unchanged. What is given up: objects that only the collector
would free (held in reference cycles, and module globals, which are) are no longer
finalized at exit, so their ``__del__`` or a suspended generator's ``finally`` does
not run, and a file left open in a module's globals is not flushed. CPython does not
promise those at exit anyway. Nothing in this build relies on them: MkDocs, the
plugins and this project close the files they write, logging's exit handler flushes
its handlers, temporary folders are removed by their own exit handler
(``weakref.finalize``), and the workers, helpers and the Graphviz kept running are
ended and reaped by theirs (``macros.ahead``, ``roads.coprocess``).
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
