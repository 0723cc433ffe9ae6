"""An author's loop: mkdocs serve survives a broken sample and shows its error on the
page; build --strict fails on it with the page, the sample and the line."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import HEADER, REPO

pytestmark = [pytest.mark.gcc, pytest.mark.slow, pytest.mark.usefixtures("no_leftovers")]

GOOD = """\
#include <stdlib.h>
#include "roads.h"
int main(void) {
    char *p = malloc(32);
    ROADS_ADDRESS("block", p);
    ROADS_CHECKPOINT("here");
    return 0;
}
"""
PAGE = """\
---
title: Demo
weight: 1
---

Some prose.

{{ memory_map('demo', 'here') }}
"""


def make_site(root: Path, source: str = GOOD) -> Path:
    (root / "samples").mkdir(parents=True)
    (root / "docs").mkdir()
    shutil.copy(HEADER, root / "samples" / "roads.h")
    (root / "samples" / "demo.c").write_text(source)
    (root / "samples" / "samples.toml").write_text('[demo]\ncheckpoints = ["here"]\n')
    (root / "docs" / "index.md").write_text(PAGE)
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    (root / "macros").symlink_to(REPO / "macros", target_is_directory=True)
    return root


def env_for(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "SITE_URL")}
    env.update(ROADS_ROOT=str(root), ROADS_MODE="auto", NO_MKDOCS_2_WARNING="1", **extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.read().decode()
    except OSError:
        return None


def wait_for(url: str, predicate, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    text = None
    while time.monotonic() < deadline:
        text = fetch(url)
        if text is not None and predicate(text):
            return text
        time.sleep(0.25)
    raise AssertionError(f"{url} never showed what was expected; last: {(text or '')[:500]}")


def test_serve_shows_a_broken_sample_on_the_page_and_stays_up(tmp_path):
    root = make_site(tmp_path / "site")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mkdocs", "serve", "-a", f"127.0.0.1:{port}"],
        cwd=root, env=env_for(root), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, process_group=0)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(url, lambda t: "roads-map" in t and "block" in t)

        # The author breaks the sample: the page says so, the server stays up.
        (root / "samples" / "demo.c").write_text(GOOD.replace("return 0;", "return oops;"))
        broken = wait_for(url, lambda t: "could not be made" in t)
        assert "docs/index.md:8" in broken
        assert "sample &#x27;demo&#x27;" in broken or "sample 'demo'" in broken
        assert "samples/demo.c:7" in broken and "oops" in broken
        assert server.poll() is None

        # Fixed again: only that sample is re-captured, and the figure is back, drawn
        # from the new capture (not the figure cache's copy of the old one).
        (root / "samples" / "demo.c").write_text(GOOD.replace('"block"', '"renamed-block"'))
        wait_for(url, lambda t: "roads-map" in t and "could not be made" not in t
                 and "renamed-block" in t)
        assert server.poll() is None
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            out, _ = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            out, _ = server.communicate()
    assert "docs/index.md:8: sample 'demo'" in out


def test_strict_build_fails_on_a_broken_sample_naming_page_sample_and_line(tmp_path):
    root = make_site(tmp_path / "site", GOOD.replace("return 0;", "return oops;"))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert "docs/index.md:8: sample 'demo'" in text
    assert "samples/demo.c:7" in text and "error:" in text


def test_ci_build_fails_even_without_strict(tmp_path):
    root = make_site(tmp_path / "site", GOOD.replace('ROADS_CHECKPOINT("here");', ""))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root,
                          env=env_for(root, CI="true"), capture_output=True, text=True)
    assert done.returncode != 0
    assert "never reached checkpoint 'here'" in done.stdout + done.stderr


def test_figures_reach_the_page_but_not_the_search_index(tmp_path):
    root = make_site(tmp_path / "site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    html = (root / "site" / "index.html").read_text()
    assert "data-roads-figure" not in html, "a placeholder was left in the page"
    assert 'class="roads-map"' in html and "[heap]" in html
    index = (root / "site" / "search" / "search_index.json").read_text()
    assert "Some prose" in index and "[heap]" not in index


def test_a_misspelt_macro_argument_is_located(tmp_path):
    root = make_site(tmp_path / "site")
    (root / "docs" / "index.md").write_text(PAGE.replace("'here')", "'here', varient='x')"))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert "docs/index.md:8: memory_map(): got an unexpected keyword argument 'varient'" in text
    assert "Traceback" not in text


def test_a_figure_inside_a_code_block_is_an_error_not_a_silent_gap(tmp_path):
    root = make_site(tmp_path / "site")
    fenced = "```text\n{{ memory_map('demo', 'here') }}\n```"
    (root / "docs" / "index.md").write_text(PAGE.replace("{{ memory_map('demo', 'here') }}",
                                                         fenced))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    assert done.returncode != 0
    assert "docs/index.md: 1 of 1 figures could not be placed" in done.stdout + done.stderr


def test_serve_shows_a_claims_new_words(tmp_path):
    """A claim's words live in tests/claims.toml: editing them refreshes the page."""
    root = make_site(tmp_path / "site")
    (root / "tests").mkdir()
    claims = root / "tests" / "claims.toml"
    entry = ('[[claim]]\nid = "words"\npage = "docs/index.md"\ntext = "{}"\n'
             'test = "test_x.py::test_x"\n')
    claims.write_text(entry.format("The first words."))
    (root / "docs" / "index.md").write_text(PAGE + "\n{{ claim('words') }}\n")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mkdocs", "serve", "-a", f"127.0.0.1:{port}"],
        cwd=root, env=env_for(root), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, process_group=0)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(url, lambda t: "The first words." in t)
        claims.write_text(entry.format("The second words."))
        wait_for(url, lambda t: "The second words." in t)
        assert server.poll() is None
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.communicate()
