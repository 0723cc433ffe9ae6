"""The offline edition (mkdocs-offline.yml, ./dev offline) opened from disk, as a reader
who downloaded it would: file:// URLs, no server, no network. It navigates by its next
links, searches, and the figures' scripts (zoom, time-lapse, glossary terms) run without
a console error.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO

SHIM = REPO / "node_modules" / "iframe-worker" / "shim" / "index.js"


def _plugins(path) -> list:
    # mkdocs.yml uses !ENV and !relative tags; only the plugins list matters here.
    loader = type("Loader", (yaml.SafeLoader,), {})
    loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)["plugins"]


def test_offline_config_repeats_the_sites_plugins():
    """INHERIT replaces lists: the offline config repeats mkdocs.yml's plugins, and must
    keep doing so when a plugin is added there."""
    main, offline = _plugins(REPO / "mkdocs.yml"), _plugins(REPO / "mkdocs-offline.yml")
    assert offline[:-1] == main and offline[-1] == "offline", (main, offline)


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """The offline edition, built frozen once for this module."""
    if not SHIM.is_file():
        pytest.skip("node_modules/ lacks iframe-worker: npm ci (./dev test does)")
    out = tmp_path_factory.mktemp("offline")
    env = {**os.environ, "ROADS_MODE": "frozen", "ROADS_ROOT": str(REPO),
           "ROADS_CACHE": str(tmp_path_factory.mktemp("offline-cache")), "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                           "mkdocs-offline.yml", "--site-dir", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, f"offline build failed:\n{done.stdout}\n{done.stderr}"
    return out


@pytest.mark.slow
def test_offline_edition_ships_what_it_needs(offline):
    index = (offline / "index.html").read_text(encoding="utf-8")
    assert 'src="javascripts/iframe-worker/shim.js"' in index
    assert "unpkg.com" not in index and "navigation.instant" not in index
    assert 'rel="alternate"' not in index  # Material would fetch sitemap.xml for it
    assert (offline / "javascripts" / "iframe-worker" / "shim.js").read_bytes() == SHIM.read_bytes()
    assert (offline / "search" / "search_index.js").is_file()
    assert (offline / "print.html").is_file()


@pytest.mark.browser
@pytest.mark.slow
def test_offline_edition_from_disk_navigates_searches_and_runs_the_figures(offline, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    # Nothing may leave the disk: any other request is recorded and refused.
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                  else (requests.append(route.request.url), route.abort()))
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    page.goto((offline / "index.html").as_uri())
    page.wait_for_load_state("load")

    # Next, by the footer's link: a file, not a folder (directory URLs would list it).
    following = page.locator("a.md-footer__link--next")
    target = following.get_attribute("href")
    assert target.endswith(".html"), target
    following.click()
    page.wait_for_load_state("load")
    assert page.url == (offline / target).as_uri()
    assert page.locator("article h1").count() == 1

    # The figures' scripts ran: the time-lapse became a stepper, a figure opens full
    # screen, glossary terms take the keyboard's focus.
    page.goto((offline / "hello-world.html").as_uri())
    page.wait_for_load_state("load")
    if page.locator(".roads-timelapse").count():
        assert page.locator(".roads-timelapse--live").count() >= 1
    assert page.locator("article abbr[tabindex]").count() >= 1
    opener = page.locator(".roads-zoom-open").first
    opener.scroll_into_view_if_needed()
    opener.click()
    page.wait_for_selector("dialog[open]", timeout=5000)
    page.keyboard.press("Escape")

    # Search, through the shim: a word of the series gives results.
    page.locator("label.md-search__icon, .md-search__input").first.click()
    page.locator("input.md-search__input").press_sequentially("heap")
    page.wait_for_selector(".md-search-result__item", timeout=15000)
    assert page.locator(".md-search-result__item").count() >= 1
    first = page.locator(".md-search-result__link").first.get_attribute("href")
    assert ".html" in first, first

    context.close()
    assert not errors, errors
    assert not requests, requests
