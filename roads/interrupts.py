"""Where the command's ending must wait a moment: the handlers of the signals that end a
command (``cli.ENDING``: Ctrl-C, SIGTERM, SIGHUP) raise, and Python runs a handler in
the main thread between two steps of its code, also right after a fork returns and
before its caller has kept the child's pid. Raised there, the exception lost the child,
which no clean-up could then end: ``held`` keeps it until the child is known."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_holding = 0  # how deep the main thread is in ``held``
_kept: BaseException | None = None  # the ending taken meanwhile


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Within, an ending (``end``) is kept, and raised as the outermost ``held`` of the
    main thread exits; in another thread, which Python gives no handler's exception,
    nothing is held."""
    global _holding, _kept
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _holding += 1
    try:
        yield
    finally:
        _holding -= 1
        if not _holding and _kept is not None:
            kept, _kept = _kept, None
            raise kept


def end(exc: BaseException) -> None:
    """Raise ``exc``, a signal handler's, now, or as ``held`` exits (the first one kept)."""
    global _kept
    if _holding:
        if _kept is None:
            _kept = exc
        return
    raise exc
