"""What the figures work out of a frozen record, kept by the record's identity.

The capture document's records (``roads.document``) are frozen and decoded once per
version of a capture, so what is worked out of one record (a checkpoint's view, an
executable's symbol index) holds for as long as the record lives. ``PerRecord`` keeps
it with the record itself, so that no id can be reused while its entry stands, and
lets the oldest entries go past a bound. Hashing the record instead would cost as much
as the work saved: an executable's record holds some 1,900 symbols for a static one.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

R = TypeVar("R")
V = TypeVar("V")


class PerRecord(Generic[R, V]):
    """``make(record)`` made once for each record, for the last ``kept`` records."""

    def __init__(self, make: Callable[[R], V], kept: int) -> None:
        self.make = make
        self.kept = kept
        self._made: dict[int, tuple[R, V]] = {}
        self._lock = threading.Lock()

    def __call__(self, record: R) -> V:
        known = self._made.get(id(record))
        if known is not None and known[0] is record:
            return known[1]
        value = self.make(record)
        with self._lock:
            self._made[id(record)] = (record, value)
            while len(self._made) > self.kept:
                del self._made[next(iter(self._made))]
        return value

    def __len__(self) -> int:
        return len(self._made)

    def clear(self) -> None:
        with self._lock:
            self._made.clear()
