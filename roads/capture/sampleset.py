"""The samples of a project: its manifest, re-read whenever the file changes on disk.

A long-running server (``mkdocs serve``) keeps one of these: an edited
``samples/samples.toml`` is read again on the next question, and a broken entry is
the error of its own sample only (``sample`` raises it), so every other sample works.
"""

from __future__ import annotations

import copy
from pathlib import Path

from ..errors import ConfigError
from .samples import MANIFEST, Manifest, Sample, read_manifest


class SampleSet:
    """The manifest of ``directory`` (the samples folder), read once per version of the file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._manifest: tuple[int, Manifest] | None = None  # (mtime, what it said)

    @property
    def path(self) -> Path:
        return self.directory / MANIFEST

    @property
    def manifest(self) -> Manifest:
        """The manifest as the file says now; ConfigError only when no entry of it can be
        read."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            raise ConfigError(f"{self.path}: no sample manifest") from None
        if self._manifest is None or self._manifest[0] != mtime:
            self._manifest = (mtime, read_manifest(self.directory))
        return self._manifest[1]

    def sample(self, name: str) -> Sample:
        """One sample by name; its entry's ConfigError when that is broken, or one
        listing the known samples."""
        manifest = self.manifest
        if name in manifest.samples:
            return manifest.samples[name]
        if name in manifest.broken:
            raise copy.copy(manifest.broken[name])  # each raise carries its own page
        known = ", ".join(manifest.names) or "none"
        raise ConfigError(f"no sample {name!r} in {self.path} (known: {known})", sample=name)
