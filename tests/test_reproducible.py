"""Builds are reproducible: twice in a row gives the same bytes, and a frozen build on a
machine without gcc gives the same pages as a normal one.

Each build has its own cache folder, so that each draws every figure again (with a
shared one, the second build would read the first's figures and could not see a
drawing that changes from run to run); none writes into the checkout: the frozen
builds only read it, and the normal build (``auto``, which may capture) runs on a copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import PUBLISH, build_site
from tests.conftest import REPO, copy_checkout

pytestmark = [pytest.mark.slow, pytest.mark.dot]


def build(out: Path, mode: str, cache: Path, root: Path = REPO, path: str | None = None) -> None:
    env = {**os.environ, "ROADS_MODE": mode, "ROADS_ROOT": str(root), "ROADS_CACHE": str(cache),
           "NO_MKDOCS_2_WARNING": "1"}
    env.pop("SITE_URL", None)
    if path is not None:
        env["PATH"] = path
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", PUBLISH,
                           "--site-dir", str(out)], cwd=root, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def tree(site: Path) -> dict[str, str]:
    return {str(p.relative_to(site)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(site.rglob("*")) if p.is_file()}


def drawn(cache: Path) -> int:
    """How many figures a build drew (and kept in its cache folder)."""
    return sum(1 for p in (cache / "figures").rglob("*") if p.is_file())


def test_two_builds_in_a_row_are_byte_identical(tmp_path, site_build):
    # The first is the session's build of the site (the browser tests', made once: a
    # build of its own here was the same build again), the second one made now, the same
    # way, with a cache folder of its own.
    first, cache_one = site_build
    build_site(REPO, tmp_path / "two", cache=tmp_path / "cache-two")
    # Both drew every figure: the second read nothing of the first's.
    assert drawn(cache_one) == drawn(tmp_path / "cache-two") > 0
    one, two = tree(first), tree(tmp_path / "two")
    assert one.keys() == two.keys()
    differ = [name for name in one if one[name] != two[name]]
    assert differ == []
    assert any(name.endswith(".html") and "svg" in (first / name).read_text()
               for name in one if name.endswith(".html")), "no inline SVG was compared"


def test_frozen_build_without_gcc_gives_the_same_pages(tmp_path):
    copy = copy_checkout(tmp_path / "copy")
    build(tmp_path / "normal", "auto", tmp_path / "cache-normal", root=copy)
    tools = tmp_path / "bin"  # dot, and nothing else: no gcc, no gdb
    tools.mkdir()
    os.symlink(shutil.which("dot"), tools / "dot")
    build(tmp_path / "frozen", "frozen", tmp_path / "cache-frozen", path=str(tools))
    assert shutil.which("gcc", path=str(tools)) is None
    normal, frozen = tree(tmp_path / "normal"), tree(tmp_path / "frozen")
    assert normal == frozen
