"""The one ``Project`` a site build shares: every figure macro reads captures through it.

Its root is the folder that holds this package (the site's root, beside
mkdocs.yml) unless ``ROADS_ROOT`` says otherwise; its capture mode comes from
``ROADS_MODE`` (``auto``, ``refresh`` or ``frozen``; default ``auto``). One Project
per (root, mode), so each capture is checked, and made if stale, once per build.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from roads.project import Project

ROOT = Path(__file__).resolve().parent.parent


def project() -> Project:
    """The shared Project for the current ``ROADS_ROOT`` and ``ROADS_MODE``."""
    return _project(os.environ.get("ROADS_ROOT") or str(ROOT), os.environ.get("ROADS_MODE") or "auto")


@functools.lru_cache(maxsize=None)
def _project(root: str, mode: str) -> Project:
    return Project(root, mode=mode)


def svg_cache() -> Path:
    """Where rendered diagrams are kept between builds."""
    return project().cache_dir / "svg"
