"""The samples of a project: its manifest, re-read whenever the file changes on disk.

A long-running server (``mkdocs serve``) keeps one of these: an edited
``samples/samples.toml`` is read again on the next question, and a broken entry is
the error of its own sample only (``sample`` raises it), so every other sample works.
"""

from __future__ import annotations

import copy
import difflib
import os
import time
from pathlib import Path

from ..cachedir import racy
from ..errors import ConfigError
from .samples import MANIFEST, Manifest, Sample, read_manifest, shown

# A manifest file modified less than RACY_NS before it was read may be modified again
# with the same stats (roads.cachedir): not kept then.
# Manifests already read in this process, by folder: the manifest file's stats and what
# the folder held (each entry's name and kind), and what was read. A ``SampleSet`` made
# anew (a new Project) reads the manifest again only when one of those moved.
_READ: dict[str, tuple[tuple, Manifest]] = {}


class SampleSet:
    """The manifest of ``directory`` (the samples folder), read once per version of the file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # The manifest file's stats, what it said, and when the read began.
        self._manifest: tuple[tuple[int, int, int], Manifest, int] | None = None

    @property
    def path(self) -> Path:
        return self.directory / MANIFEST

    @property
    def manifest(self) -> Manifest:
        """The manifest as the file says now; ConfigError only when no entry of it can be
        read."""
        read_at = time.time_ns()  # before the stats: what ``racy`` judges by
        try:
            st = self.path.stat()
        except (FileNotFoundError, NotADirectoryError):  # --root a file, say
            raise ConfigError(f"{self.path}: no sample manifest: is this the project's "
                              "folder? (roads --root FOLDER COMMAND names another)") from None
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read the sample manifest: "
                              f"{exc.strerror or exc}") from None
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        known = self._manifest
        if known is None or known[0] != key or racy(st.st_mtime_ns, known[2]):
            self._manifest = known = (key, self._read(st, read_at), read_at)
        return known[1]

    def _read(self, st: os.stat_result, read_at: int) -> Manifest:
        """The manifest, parsed again unless this process read it under the same stats
        of the file and the same listing of the folder.

        What reading it checks besides its text is that each source and gdb script
        named is a file inside the folder. A manifest is kept only when that is a
        question of the listing alone: every entry usable, every such path a plain
        name, and no symbolic link in the folder (a link's target could move while its
        entry does not).
        """
        key = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev, _listing(self.directory))
        known = _READ.get(str(self.directory))
        if known is not None and known[0] == key and key[-1] is not None:
            return known[1]
        manifest = read_manifest(self.directory)
        if (key[-1] is not None and not manifest.broken
                and not racy(st.st_mtime_ns, read_at)
                and all("/" not in path for sample in manifest.samples.values()
                        for path in (*sample.sources, *([sample.gdb] if sample.gdb else [])))):
            _READ[str(self.directory)] = (key, manifest)
        return manifest

    def sample(self, name: str) -> Sample:
        """One sample by name; its entry's ConfigError when that is broken, or one
        listing the known samples."""
        manifest = self.manifest
        if name in manifest.samples:
            return manifest.samples[name]
        if name in manifest.broken:
            raise copy.copy(manifest.broken[name])  # each raise carries its own page
        # A new sample's file whose entry was forgotten: say what to add.
        source = self.directory / f"{name}.c"
        todo = (f"; {shown(source)} is there: declare it with a [{name}] table (title, "
                "checkpoints)") if source.is_file() else ""
        near = difflib.get_close_matches(name, list(manifest.names), n=3)
        if near:  # a misspelt name: the likely ones, not the whole list
            raise ConfigError(f"no sample {name!r} in {shown(self.path)} (did you mean "
                              f"{', '.join(near)}?){todo}", sample=name)
        known = ", ".join(manifest.names) or "none"
        raise ConfigError(f"no sample {name!r} in {shown(self.path)} (known: {known}){todo}",
                          sample=name)


def _listing(directory: Path) -> tuple | None:
    """Each entry of ``directory`` by name and kind (file, folder, other), from the
    folder alone (no stat of the entries); None when it holds a symbolic link or
    cannot be listed."""
    out = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_symlink():
                    return None
                kind = "f" if entry.is_file() else "d" if entry.is_dir() else "o"
                out.append((entry.name, kind))
    except OSError:
        return None
    return tuple(sorted(out))
