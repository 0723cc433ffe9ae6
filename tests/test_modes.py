"""How a build reads captures: the mode decided once, another gcc kept as a note, and a
frozen build that fails ``--strict`` on a stale capture.

A different gcc is a real one here: Debian's gcc-11, put first on PATH as ``gcc``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, copy_checkout

SAMPLE = """\
#include "roads.h"
int main(void) { ROADS_CHECKPOINT("here"); return 0; }
"""


def roads(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The ``roads`` command of this checkout on project ``root``."""
    return subprocess.run([sys.executable, "-m", "roads.cli", "--root", str(root), *args],
                          cwd=REPO, env=env or dict(os.environ), capture_output=True, text=True,
                          timeout=600)


def mkdocs_build(root: Path, site: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("SITE_URL", "ROADS_MODE", "ROADS_ROOT", "ROADS_CACHE")}
    # This checkout's engine, also for a project folder elsewhere.
    environ.update({"NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(REPO), **env})
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                           str(root / "mkdocs.yml"), "-d", str(site)], cwd=root, env=environ,
                          capture_output=True, text=True, timeout=900)


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def first_line(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    return done.stdout.splitlines()[0]


@pytest.fixture
def other_gcc(tmp_path) -> dict[str, str]:
    """An environment whose ``gcc`` is Debian's gcc-11, a real different toolchain."""
    gcc11 = shutil.which("gcc-11")
    if gcc11 is None:
        pytest.skip("no gcc-11: apt-get install gcc-11 (./dev test does)")
    tools = tmp_path / "other-gcc"
    tools.mkdir()
    (tools / "gcc").symlink_to(gcc11)
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"}
    assert first_line(["gcc", "--version"], env) != first_line(["gcc", "--version"], dict(os.environ))
    return env


# --- the mode, decided once -----------------------------------------------------------


def test_the_mode_comes_from_mkdocs_yml_and_the_environment_overrides_it():
    from macros.project import ROOT, Settings, settings
    from roads.errors import ConfigError

    assert settings({}, {}) == Settings("auto", str(ROOT), ".cache/roads")
    assert settings({"mode": "frozen"}, {}).mode == "frozen"
    assert settings({"mode": "frozen"}, {"ROADS_MODE": "refresh"}).mode == "refresh"
    assert settings({"mode": "frozen"}, {"ROADS_MODE": ""}).mode == "frozen"  # empty: unset
    chosen = settings({}, {"ROADS_ROOT": "/r", "ROADS_CACHE": "/c"})
    assert (chosen.root, chosen.cache) == ("/r", "/c")
    with pytest.raises(ConfigError, match="ROADS_MODE: unknown capture mode 'later'"):
        settings({}, {"ROADS_MODE": "later"})
    with pytest.raises(ConfigError, match="extra.roads.mode: unknown capture mode 'x'"):
        settings({"mode": "x"}, {})
    with pytest.raises(ConfigError, match="unknown setting.*jobs"):
        settings({"jobs": 3}, {})


def test_the_site_declares_its_mode():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    # mkdocs.yml's own tags (!ENV, !relative) do not matter here.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    config = yaml.load((REPO / "mkdocs.yml").read_text(), Loader)
    assert config["extra"]["roads"]["mode"] == "auto"


def test_no_engine_module_reads_the_environment_for_the_mode():
    for path in [*(REPO / "roads").rglob("*.py"), *(REPO / "macros").rglob("*.py")]:
        if path == REPO / "macros" / "project.py":
            continue
        text = path.read_text()
        for name in ("ROADS_MODE", "ROADS_ROOT", "ROADS_CACHE"):
            assert f'environ.get("{name}"' not in text and f"environ['{name}'" not in text \
                and f'environ["{name}"' not in text, f"{path} reads {name}"


# --- another gcc --------------------------------------------------------------------------


@pytest.mark.gcc
def test_another_gcc_alone_is_a_note_and_rewrites_nothing(scratch, other_gcc):
    scratch.add("tiny", SAMPLE)
    root = scratch.root
    made = roads(root, "capture")
    assert made.returncode == 0, made.stderr
    path = root / "snapshots" / "tiny.json"
    before = path.read_bytes()

    again = roads(root, "capture", env=other_gcc)  # auto: only a changed input re-captures
    assert again.returncode == 0, again.stderr
    assert "tiny: fresh" in again.stderr
    assert path.read_bytes() == before

    check = roads(root, "check", env=other_gcc)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "tiny: note: gcc differs" in check.stdout
    strict = roads(root, "check", "--toolchain", env=other_gcc)
    assert strict.returncode == 1
    assert "tiny: toolchain: gcc differs" in strict.stdout

    # A changed input re-captures, with the gcc at hand; refresh re-captures all.
    (scratch.samples / "tiny.c").write_text(SAMPLE + "/* edited */\n")
    changed = roads(root, "capture", env=other_gcc)
    assert changed.returncode == 0, changed.stderr
    other = first_line(["gcc", "--version"], other_gcc)
    assert json.loads(path.read_text())["inputs"]["gcc"] == other
    refreshed = roads(root, "capture", "--refresh")
    assert refreshed.returncode == 0, refreshed.stderr
    assert json.loads(path.read_text())["inputs"]["gcc"] != other


@pytest.mark.gcc
@pytest.mark.dot
@pytest.mark.slow
def test_an_auto_build_with_another_gcc_leaves_the_captures_alone(tmp_path, other_gcc):
    copy = copy_checkout(tmp_path / "copy")
    stale = roads(copy, "check")
    assert stale.returncode == 0, ("the committed captures must be fresh for this test:\n"
                                   + stale.stdout + stale.stderr)
    before = digests(copy / "snapshots")
    done = mkdocs_build(copy, tmp_path / "site", ROADS_MODE="auto",
                        ROADS_CACHE=str(tmp_path / "cache"), PATH=other_gcc["PATH"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert digests(copy / "snapshots") == before
    assert "kept the capture of" in done.stderr  # the note, at info level

    # Every capture was made with another gcc, and --toolchain names each.
    strict = roads(copy, "check", "--toolchain", env=other_gcc)
    assert strict.returncode == 1
    names = sorted(p.stem for p in (copy / "snapshots").glob("*.json"))
    for name in names:
        assert f"{name}: toolchain: gcc differs" in strict.stdout


# --- a stale capture in frozen mode -------------------------------------------------------


def frozen_site(tmp_path: Path, page: str) -> Path:
    """A project with this checkout's samples and captures (copies), our mkdocs.yml and
    macros, and one page."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    (root / "macros").symlink_to(REPO / "macros", target_is_directory=True)
    for folder in ("samples", "snapshots"):
        shutil.copytree(REPO / folder, root / folder)
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text(f"---\ntitle: Home\n---\n\n{page}\n")
    return root


def test_a_frozen_strict_build_fails_on_a_stale_capture_naming_it(tmp_path):
    root = frozen_site(tmp_path, "It exited with {{ value('intmain', 'exit_code') }}.")
    fresh = mkdocs_build(root, tmp_path / "site", ROADS_MODE="frozen", ROADS_ROOT=str(root))
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    source = root / "samples" / "intmain.c"
    source.write_text(source.read_text() + "/* edited */\n")
    stale = mkdocs_build(root, tmp_path / "site", ROADS_MODE="frozen", ROADS_ROOT=str(root))
    assert stale.returncode != 0
    assert "WARNING -  capture of 'intmain' is stale: samples/intmain.c changed" in stale.stderr
    assert digests(root / "snapshots") == digests(REPO / "snapshots")  # frozen wrote nothing


@pytest.mark.slow
def test_a_stale_capture_fails_every_strict_build_quiet_or_not(tmp_path):
    """The whole site, a sample edited and not captured again: a strict frozen build
    fails naming it, also with -q (MkDocs drops warnings before its strict mode counts
    them: it passed), and so does the next build on the same cache (the pages drawn
    from the stale capture after its first reader had warned were kept, and the next
    build, finding them, read the capture no more and passed without a word)."""
    from tests.conftest import copy_checkout

    root = copy_checkout(tmp_path / "copy")
    source = root / "samples" / "brk.c"
    source.write_text(source.read_text() + "/* edited */\n")
    env = {"ROADS_MODE": "frozen", "ROADS_ROOT": str(root), "ROADS_CACHE": str(tmp_path / "cache")}
    for quiet in (True, False, True):
        environ = {k: v for k, v in os.environ.items() if k not in ("SITE_URL", "CI")}
        environ.update({"NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(root), **env})
        done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                               *(["-q"] if quiet else []), "-d", str(tmp_path / "site")],
                              cwd=root, env=environ, capture_output=True, text=True, timeout=900)
        said = done.stdout + done.stderr  # MkDocs prints its Abort on stdout
        assert done.returncode != 0, (quiet, said[-3000:])
        assert "capture of 'brk' is stale: samples/brk.c changed" in said, said[-3000:]
        if quiet:
            assert "in strict mode, which -q hid" in said, said[-3000:]


def test_a_missing_capture_in_frozen_mode_is_an_error(tmp_path):
    root = frozen_site(tmp_path, "It exited with {{ value('intmain', 'exit_code') }}.")
    (root / "snapshots" / "intmain.json").unlink()
    done = mkdocs_build(root, tmp_path / "site", ROADS_MODE="frozen", ROADS_ROOT=str(root))
    assert done.returncode != 0
    assert "ERROR" in done.stderr and "snapshots/intmain.json: no capture" in done.stderr
