"""Marks of the captures found well shaped, so that a document is checked once.

Checking a capture's shape (``roads.capture.validate``) means decoding all of it. A
document found valid leaves an empty file named by its digest under the cache, in a
folder named by the digest of the checker itself (``validate.py`` and ``document.py``):
later builds, in new processes too, skip the check for the same bytes, and an edit of
the checker checks everything again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import CaptureError

if TYPE_CHECKING:
    from ..document import Capture

# The files whose code decides what a valid capture is, under roads/.
CHECKER_FILES = ("capture/validate.py", "document.py")


class ValidMarks:
    """The marks under ``cache_dir/valid/CHECKER``."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._folder: Path | None = None  # found on first use: the checker's digest

    @property
    def folder(self) -> Path:
        if self._folder is None:
            roads = Path(__file__).parent.parent
            checker = b"".join((roads / name).read_bytes() for name in CHECKER_FILES)
            self._folder = self.cache_dir / "valid" / hashlib.sha256(checker).hexdigest()[:16]
        return self._folder

    def valid(self, sha: str) -> bool:
        """Whether a document whose bytes have digest ``sha`` was found valid by this
        checker."""
        return (self.folder / sha).exists()

    def check(self, path: Path, name: str, parsed: Callable[[], object], sha: str,
              data: bytes) -> Capture | None:
        """CaptureError naming the key when the capture of ``name`` read from ``path``,
        whose bytes ``data`` have digest ``sha``, is not shaped as the figures read it;
        marked valid otherwise. ``parsed`` gives it as loaded JSON, asked for only to
        name the key. The typed document when it was checked now (decoding it is the
        check), None when a mark vouched for it."""
        mark = self.folder / sha
        if mark.exists():
            return None
        from .validate import checked  # only for a document not seen before

        typed, found = checked(data, parsed)
        if found is not None:
            raise CaptureError(f"{path}: invalid capture: {found}; it counts as missing "
                               f"(run: roads capture {name})", sample=name)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            mark.touch()
        except OSError:
            pass  # a read-only cache: checked again next time, no harm
        return typed
