"""Helpers for the browser tests: a built site served on localhost, and Chromium.

The browser is Debian's Chromium driven by Playwright (no browser download at run
time). Set CHROMIUM to use another binary (google-chrome on a GitHub runner).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

# The configuration of the published site (mkdocs.yml and the print page).
PUBLISH = "mkdocs-publish.yml"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    """The Chromium binary to drive, or None."""
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser",
                      "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


BUILD_DEADLINE = 900  # seconds: a frozen build takes 10 to 60 here, loaded or not


def build_site(repo: Path, out: Path, mode: str = "frozen", *, cache: Path) -> None:
    """``mkdocs build --strict`` of the real site as published (``mkdocs-publish.yml``:
    the print page too) into ``out``, with its own ``cache`` folder (frozen: nothing is
    written into ``repo``)."""
    # No repository: with REPO_URL set, Material's pages ask GitHub's API from the browser,
    # and no browser test may depend on that request.
    env = {k: v for k, v in os.environ.items() if k not in ("REPO_URL", "EDIT_URI")}
    env = {**env, "ROADS_MODE": mode, "ROADS_ROOT": str(repo), "ROADS_CACHE": str(cache),
           "NO_MKDOCS_2_WARNING": "1"}
    try:  # a deadline: under xdist the other worker waits on this build (site_build)
        done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                               "-f", PUBLISH, "--site-dir", str(out)], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=BUILD_DEADLINE)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"mkdocs build of {repo} took over {BUILD_DEADLINE} s, "
                             f"killed:\n{exc.stdout or ''}\n{exc.stderr or ''}") from None
    if done.returncode != 0:
        raise AssertionError(f"mkdocs build failed:\n{done.stdout}\n{done.stderr}")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: D102 - silence per-request lines
        pass


def serve(directory: Path):
    """Serve ``directory`` on 127.0.0.1 (a free port); returns (server, base URL)."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
WIDTHS = {"390": PHONE, "1280": DESKTOP}  # by the names tests give them


def open_page(browser, url: str, *, viewport=DESKTOP, scheme: str | None = None,
              touch: bool = False, idle: bool = True):
    """A new context and page at ``url``, loaded: (context, page, console errors).
    ``scheme`` ("default" or "slate") sets Material's palette; ``touch`` makes the
    context a touch phone. With ``idle``, the network is quiet as well (no request for
    half a second: Playwright's networkidle); without, the page has only fired its load
    event (every script has run, every style applies: what a test measures or presses
    is there), and the caller calls ``quiet(page)`` before it reads the console errors
    (by then the quiet usually came while the caller worked: no half second spent
    waiting)."""
    context = browser.new_context(viewport=viewport, has_touch=touch, is_mobile=touch,
                                  color_scheme="dark" if scheme == "slate" else "light")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    if idle:
        page.wait_for_load_state("networkidle")
    if scheme:
        page.evaluate(f"document.body.setAttribute('data-md-color-scheme', '{scheme}')")
    return context, page, errors


def quiet(page) -> None:
    """Wait until ``page``'s network has been quiet for half a second (Playwright's
    networkidle), as a test of a page opened with ``open_page(..., idle=False)`` does
    before it reads the console errors: what Material asks for after the load event (the
    search index, the sitemap, the favicon) has come, or failed and said so. Playwright
    notes the quiet once it comes: if it came while the test worked, this returns at
    once, and the test spent no half second waiting for it."""
    page.wait_for_load_state("networkidle")
