"""Builds are reproducible: twice in a row gives the same bytes, and a frozen build on a
machine without gcc gives the same pages as a normal one."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.dot]


def build(out: Path, mode: str, path: str | None = None) -> None:
    env = {**os.environ, "ROADS_MODE": mode, "NO_MKDOCS_2_WARNING": "1"}
    env.pop("SITE_URL", None)
    if path is not None:
        env["PATH"] = path
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(out)], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def tree(site: Path) -> dict[str, str]:
    return {str(p.relative_to(site)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(site.rglob("*")) if p.is_file()}


def test_two_builds_in_a_row_are_byte_identical(tmp_path):
    build(tmp_path / "one", "auto")
    build(tmp_path / "two", "auto")
    one, two = tree(tmp_path / "one"), tree(tmp_path / "two")
    assert one.keys() == two.keys()
    differ = [name for name in one if one[name] != two[name]]
    assert differ == []
    assert any(name.endswith(".html") and "svg" in (tmp_path / "one" / name).read_text()
               for name in one if name.endswith(".html")), "no inline SVG was compared"


def test_frozen_build_without_gcc_gives_the_same_pages(tmp_path):
    build(tmp_path / "normal", "auto")
    tools = tmp_path / "bin"  # dot, and nothing else: no gcc, no gdb
    tools.mkdir()
    os.symlink(shutil.which("dot"), tools / "dot")
    build(tmp_path / "frozen", "frozen", path=str(tools))
    assert shutil.which("gcc", path=str(tools)) is None
    normal, frozen = tree(tmp_path / "normal"), tree(tmp_path / "frozen")
    assert normal == frozen
