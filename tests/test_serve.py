"""An author's loop: mkdocs serve survives a broken sample and shows its error on the
page; build --strict fails on it with the page, the sample and the line."""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from html import unescape
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
    # Not an author's ROADS_CACHE either: each site its own cache, in its own folder.
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "SITE_URL", "ROADS_CACHE")}
    env.update(ROADS_ROOT=str(root), ROADS_MODE="auto", NO_MKDOCS_2_WARNING="1")
    env.update(extra)
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
    with Server(root) as server:
        server.shows(lambda t: "roads-map" in t and "block" in t)

        # The author breaks the sample: the page says so, the server stays up.
        (root / "samples" / "demo.c").write_text(GOOD.replace("return 0;", "return oops;"))
        broken = server.shows(lambda t: "could not be made" in t)
        assert "docs/index.md:8" in broken
        assert "sample &#x27;demo&#x27;" in broken or "sample 'demo'" in broken
        assert "samples/demo.c:7" in broken and "oops" in broken

        # Fixed again: only that sample is re-captured, and the figure is back, drawn
        # from the new capture (not the figure cache's copy of the old one).
        (root / "samples" / "demo.c").write_text(GOOD.replace('"block"', '"renamed-block"'))
        server.shows(lambda t: "roads-map" in t and "could not be made" not in t
                     and "renamed-block" in t)
    assert "docs/index.md:8: sample 'demo'" in server.output
    # Stopped as an author stops it, the server took its copy of the site with it
    # (killed with SIGTERM, each server used to leave a mkdocs_* folder in /tmp).
    assert server.left_behind() == []


def test_a_server_started_from_a_background_job_still_stops_on_ctrl_c(tmp_path):
    """A shell starts a background job (`./dev test &`) with SIGINT ignored: the server
    started from it still takes Ctrl-C, stops at once and removes its copy of the site
    (it used to ignore it, wait 20 s for SIGKILL and leave the copy)."""
    root = make_site(tmp_path / "site")
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background job has it
    try:
        with Server(root) as server:
            server.shows(lambda t: "roads-map" in t)
            stopping = time.monotonic()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - stopping < 15
    assert server.left_behind() == []


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


def test_a_macro_argument_of_the_wrong_type_is_located_in_words(tmp_path):
    """A number where text goes, a list where a sample's name goes, a string where true
    or false goes: each the page's error at its line, in words (they were "internal
    error: AttributeError", and ``table='no'`` was read as true)."""
    root = make_site(tmp_path / "site")
    calls = ["{{ value('demo', 42) }}", "{{ memory_map(['demo']) }}",
             "{{ address_space('demo', 'here', table='no') }}"]
    (root / "docs" / "index.md").write_text(PAGE + "".join(f"\n{c}\n" for c in calls))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    text = done.stdout + done.stderr
    first = PAGE.count("\n") + 2
    assert f"docs/index.md:{first}: value(): what must be text in quotes, got 42" in text
    assert (f"docs/index.md:{first + 2}: memory_map(): sample must be text in quotes, "
            "got ['demo']") in text
    assert (f"docs/index.md:{first + 4}: address_space(): table must be true or false, "
            "unquoted, got 'no'") in text
    assert "internal error" not in text and "Traceback" not in text
    html = (root / "site" / "index.html").read_text()
    # Two figures' boxes where they go; value()'s on top of the page (it is inline).
    assert html.count("This figure could not be made") == 2
    assert html.count("This page has an error") == 1


def test_a_broken_sample_read_by_several_calls_is_told_in_full_once(tmp_path):
    """Without --strict (as ``mkdocs serve`` builds), a sample that does not compile
    is told with gcc's output once; each other call that reads it is named by its line.
    Every call of the page still shows its red box, but only the first tells gcc's
    output: each other one names its line and links to that box (the page showed the
    whole message once a call, five times on a page the authoring guide's way)."""
    root = make_site(tmp_path / "site", GOOD.replace("return 0;", "return undeclared;"))
    calls = ["{{ value('demo', 'exit_code') }}", "{{ address_space('demo', 'here') }}"]
    (root / "docs" / "index.md").write_text(PAGE + "".join(f"\n{c}\n" for c in calls))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    text = done.stdout + done.stderr
    assert text.count("undeclared (first use in this function)") == 1, text
    for line in (8, 10, 12):
        assert f"docs/index.md:{line}: sample 'demo': " in text, text
    assert text.count("(as above)") == 2, text
    html = (root / "site" / "index.html").read_text()
    assert html.count("undeclared (first use in this function)") == 1
    body = html[html.index("<h1"):]
    boxes = [unescape(b) for b in
             re.findall(r'<div class="admonition failure"(.*?)</div>', body, re.S)]
    assert len(boxes) == 3, boxes
    for line in (8, 10, 12):  # each box names its own call
        assert sum(f"docs/index.md:{line}: sample 'demo'" in b for b in boxes) == 1, boxes
    (full,) = [b for b in boxes if "undeclared" in b]
    anchor = re.match(r' id="([^"]+)"', full).group(1)
    links = [re.search(r'<a href="#([^"]+)">', b) for b in boxes if b is not full]
    assert [link.group(1) for link in links if link] == [anchor, anchor], boxes


def test_a_page_with_an_error_built_quietly_is_not_kept(tmp_path):
    """``mkdocs build -q`` drops warnings before any handler sees them: the page cache
    did not count the page's error and kept the page, red box and all, so that the
    next build showed the box without a word."""
    root = make_site(tmp_path / "site")
    (root / "docs" / "index.md").write_text(PAGE + "\n{{ value('demo', 42) }}\n")
    for quiet in (["-q"], []):
        done = subprocess.run([sys.executable, "-m", "mkdocs", "build", *quiet], cwd=root,
                              env=env_for(root), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert "value(): what must be text in quotes, got 42" in done.stderr, done.stderr


def test_a_broken_sample_read_by_many_calls_names_the_rest_in_one_line(tmp_path):
    """Past its first few calls, each told "(as above)", a broken sample's further calls
    are named in one line when the build ends, as a one-line error's are."""
    root = make_site(tmp_path / "site", GOOD.replace("return 0;", "return undeclared;"))
    first = PAGE.count("\n") + 2
    (root / "docs" / "index.md").write_text(PAGE + "\n{{ value('demo', 'exit_code') }}\n" * 9)
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    text = done.stdout + done.stderr
    assert text.count("undeclared (first use in this function)") == 1, text
    assert text.count("(as above)") == 5, text
    # The page's own figure and the nine values: the first told, five "(as above)".
    places = ", ".join(f"docs/index.md:{first + 2 * k}" for k in (5, 6, 7, 8))
    assert f"the same error at 4 more places ({places}): gcc could not compile" in text, text


def test_an_error_of_one_line_met_again_is_told_once_with_its_other_places(tmp_path):
    """Nothing follows its first line, so '(as above)' would leave nothing out: it is
    told in full once, and the other places that met it are named in one line when the
    build ends. A broken manifest, met by every call of every page, gave a newcomer 336
    lines of the same error."""
    root = make_site(tmp_path / "site")
    first = PAGE.count("\n") + 2
    (root / "docs" / "index.md").write_text(PAGE + "\n{{ value('demo', 42) }}\n" * 9)
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    told = [line for line in done.stderr.splitlines()
            if "value(): what must be text in quotes, got 42" in line]
    assert len(told) == 2, done.stderr
    assert f"docs/index.md:{first}: value(): what must be text in quotes, got 42" in told[0]
    places = ", ".join(f"docs/index.md:{first + 2 * k}" for k in range(1, 6))
    assert (f"the same error at 8 more places ({places} and 3 more): value(): what must be "
            "text in quotes, got 42") in told[1], told
    assert "(as above)" not in done.stderr
    # The page still shows a box for each call.
    assert (root / "site" / "index.html").read_text().count("This page has an error") == 9


def test_an_error_of_words_in_a_sentence_or_in_code_is_a_note_there_and_a_box_on_top(tmp_path):
    """value() inside `code` (as the authoring guide writes it) and claim-like words
    inside a sentence: a failing one was replaced by a red box, which showed as raw
    HTML inside the code and split the sentence. Now a note stands where the words go,
    and the box on top of the page."""
    root = make_site(tmp_path / "site")
    (root / "docs" / "index.md").write_text(
        PAGE + "\nThe block is at `{{ value('demo', 'address:nosuch') }}` in memory, and "
        "{{ const('NO_SUCH_CONSTANT') }} is not a constant.\n")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    html = (root / "site" / "index.html").read_text()
    assert "&lt;div" not in html, "the box's HTML shown as text"
    body = html[html.index("<h1"):]
    assert body.count("This page has an error") == 2
    paragraph = re.search(r"<p>The block is at (.*?) is not a constant.</p>", body, re.S)
    assert paragraph, "the sentence was split"
    assert paragraph.group(1).count("see the error on top of this page") == 2
    assert body.index("This page has an error") < body.index("The block is at")


def test_source_line_of_a_name_not_written_in_quotes_says_so(tmp_path):
    """A checkpoint whose name the sample passes in a variable is not found by
    source_line(), which reads the source: the message says what it looks for."""
    root = make_site(tmp_path / "site")
    (root / "docs" / "index.md").write_text(PAGE + "\nLine {{ source_line('demo', 'there') }}.\n")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    assert ("source_line(): none of the sample's files calls ROADS_CHECKPOINT(\"there\") "
            "with the name written in quotes (names it calls ROADS_CHECKPOINT with: here)"
            ) in done.stderr, done.stderr


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
    with Server(root) as server:
        server.shows(lambda t: "The first words." in t)
        claims.write_text(entry.format("The second words."))
        server.shows(lambda t: "The second words." in t)


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGHUP"])
def test_a_server_stopped_by_kill_or_a_closed_terminal_removes_its_copy(tmp_path, stop):
    """Stopped by ``kill`` (SIGTERM, as a process manager stops it) or by its terminal
    closing (SIGHUP), the server stops as on Ctrl-C and removes its copy of the site
    (MkDocs removed it on Ctrl-C only: each such stop left a mkdocs_* folder)."""
    root = make_site(tmp_path / "site")
    with Server(root) as server:
        server.shows(lambda t: "roads-map" in t)
        os.kill(server.process.pid, getattr(signal, stop))
        server.process.wait(timeout=20)
        assert server.left_behind() == []


# -- issue 9, item 3: the server survives every error, shows it at its line, recovers --

@contextlib.contextmanager
def ctrl_c_for_children():
    """Children started meanwhile get Ctrl-C (SIGINT) as a terminal gives it. A shell
    starts a background job (`./dev test &`) with SIGINT ignored, which children inherit
    through fork and exec, and Python then installs no Ctrl-C handler: the server would
    ignore the SIGINT that stops it. Only the main thread may change it (the tests')."""
    if (signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
            or threading.current_thread() is not threading.main_thread()):
        yield
        return
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class Server:
    """``mkdocs serve`` on a mini-site, in its own process group; ``prefix`` runs it
    through another command (``unshare``), ``env`` adds to its environment.

    Its temporary files go to a folder of the test's (``tmp``: MkDocs serves from a
    copy of the site it makes there), and it is stopped as an author stops it, with
    Ctrl-C (SIGINT), so that MkDocs removes that copy; killed only past a deadline."""

    def __init__(self, root: Path, prefix: tuple[str, ...] = (), **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.tmp = root.parent / f"serve-tmp-{self.port}"
        self.tmp.mkdir()
        with ctrl_c_for_children():
            self.process = subprocess.Popen(
                [*prefix, sys.executable, "-m", "mkdocs", "serve", "-a",
                 f"127.0.0.1:{self.port}"],
                cwd=root, env=env_for(root, TMPDIR=str(self.tmp), **env),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, process_group=0)
        self.output = ""

    def shows(self, predicate, seconds: float = 60) -> str:
        text = wait_for(self.url, predicate, seconds)
        assert self.process.poll() is None, "the server exited"
        return text

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Ctrl-C, as an author stops it; SIGKILL if it has not ended within 20 s. Its
        process group is its own (``process_group=0``), so the group's id stays taken
        while any member lives, and whatever of it outlives the server is killed too."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.output, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.output = ""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.output += self.process.communicate()[0]

    def left_behind(self) -> list[str]:
        """What the server left in its temporary folder."""
        return sorted(p.name for p in self.tmp.iterdir())


def figure_shown(text: str) -> bool:
    return "roads-map" in text and "could not be" not in text and "has an error" not in text


def broken_page(text: str) -> bool:
    return "This page could not be rendered" in text


# Template errors, each at line 12 of the file (the front matter counted) and how the
# page and the log name it.
TEMPLATE_ERRORS = {
    "syntax": ("{{ memory_map('demo', 'here' }}", "TemplateSyntaxError: unexpected"),
    "unknown macro": ("{{ memroy_map('demo', 'here') }}",
                      "UndefinedError: 'memroy_map' is undefined (no macro or variable of "
                      "that name; did you mean 'memory_map'?)"),
    "unknown variable": ("{{ nothing_here }}", "'nothing_here' is undefined"),
    "unclosed block": ("{% if true %}", "TemplateSyntaxError: Unexpected end of template"),
    "not callable": ("{{ memory_map('demo', 'here')() }}", "not callable"),
}


def with_error(snippet: str) -> str:
    """The page with ``snippet`` at line 12 (line 8 holds the figure)."""
    return PAGE + f"\nMore prose.\n\n{snippet}\n"


def test_serve_survives_each_template_error_shows_its_line_and_recovers(tmp_path):
    root = make_site(tmp_path / "site")
    page = root / "docs" / "index.md"
    with Server(root) as server:
        server.shows(figure_shown)
        for snippet, said in TEMPLATE_ERRORS.values():
            page.write_text(with_error(snippet))
            text = server.shows(lambda t, s=snippet: broken_page(t) and html.escape(s, quote=True)
                                .replace("{", "&#123;").replace("}", "&#125;") in t)
            assert "docs/index.md:12: " in text and html.escape(said) in text, text[:2000]
            page.write_text(PAGE)
            server.shows(figure_shown)
    assert "Traceback" not in server.output
    assert "docs/index.md:12: TemplateSyntaxError" in server.output
    # The plugin's own copy of the message (the box's HTML) is not logged again.
    assert "data-roads-error" not in server.output


def test_serve_starts_on_a_broken_page(tmp_path):
    """The first build fails on the page too: the server still starts, and serves the
    page once it is fixed."""
    root = make_site(tmp_path / "site")
    page = root / "docs" / "index.md"
    page.write_text(with_error("{{ memory_map('demo', 'here' }}"))
    with Server(root) as server:
        server.shows(broken_page)
        page.write_text(PAGE)
        server.shows(figure_shown)


@pytest.mark.parametrize("case", sorted(TEMPLATE_ERRORS))
def test_strict_build_fails_on_a_template_error_with_one_message(tmp_path, case):
    snippet, said = TEMPLATE_ERRORS[case]
    root = make_site(tmp_path / "site")
    (root / "docs" / "index.md").write_text(with_error(snippet))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    text = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"ERROR   -  docs/index.md:12: " in text and said in text, text
    assert f"  | {snippet}" in text
    assert "Traceback" not in text and text.count("ERROR") == 1, text


def test_a_plain_build_shows_a_template_error_on_its_page(tmp_path):
    root = make_site(tmp_path / "site")
    (root / "docs" / "index.md").write_text(with_error("{{ nothing_here }}"))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "WARNING -  docs/index.md:12: UndefinedError" in done.stderr
    page = (root / "site" / "index.html").read_text()
    assert broken_page(page) and "docs/index.md:12" in page
    assert "Macro Rendering Error" not in page  # the plugin's traceback page


def test_a_macro_error_is_located_at_its_own_call(tmp_path):
    """Two calls of one macro with the same leading arguments: the error names the line
    of the call that failed, read from the template, not the first look-alike."""
    root = make_site(tmp_path / "site")
    (root / "docs" / "index.md").write_text(
        with_error("{{ memory_map('demo', 'here', varient='x') }}"))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    assert done.returncode != 0
    assert ("docs/index.md:12: memory_map(): got an unexpected keyword argument 'varient'"
            in done.stdout + done.stderr)


def test_a_claim_with_broken_words_is_an_error_of_its_call(tmp_path):
    root = make_site(tmp_path / "site")
    (root / "tests").mkdir()
    (root / "tests" / "claims.toml").write_text(
        '[[claim]]\nid = "words"\npage = "docs/index.md"\n'
        "text = \"Broken {{ value('demo', }}\"\ntest = \"test_x.py::test_x\"\n")
    (root / "docs" / "index.md").write_text(with_error("{{ claim('words') }}"))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    # Located at the claim's words, and the page that shows them.
    assert ("tests/claims.toml (claim 'words', shown on docs/index.md:12):4: its words: "
            "TemplateSyntaxError") in done.stderr


def test_a_claims_file_that_is_not_toml_is_told_once_at_its_own_line(tmp_path):
    """A newcomer's mutation step on a line of its own made tests/claims.toml invalid
    TOML: every claim() call of every page logged it again, with the calling page's
    place in front (448 warnings over two rebuilds). The file's own line is the place to
    fix: told there, once a build; each call's box says the same."""
    root = make_site(tmp_path / "site")
    (root / "tests").mkdir()
    (root / "tests" / "claims.toml").write_text(
        '[[claim]]\nid = "words"\npage = "docs/index.md"\ntext = "Words."\n'
        'test = "test_x.py::test_x"\nmutate = [{sample = "demo",\n  copy = 1}]\n')
    (root / "docs" / "index.md").write_text(
        with_error("{{ claim('words') }}") + "\n{{ claim('words') }}\n{{ claim('other') }}\n")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    told = [line for line in done.stderr.splitlines() if "not TOML" in line]
    assert len(told) == 1, done.stderr
    # The line tomllib names, 6, ends with the table left open: said so, with the claim.
    assert ("tests/claims.toml:6: not TOML in claim 'words': Invalid initial character for a "
            "key part at the end of the line: it ends with a table between braces, {...}, "
            "still open (close it on this line)") in told[0], told
    assert "docs/index.md" not in told[0] and str(root) not in told[0]


def _shape_broken(path: Path, how: str) -> None:
    import json

    doc = json.loads(path.read_text())
    if how == "directory":
        path.unlink()
        path.mkdir()
        return
    checkpoint = doc["variants"]["default"]["runs"][0]["checkpoints"][0]
    if how == "wrong type":
        checkpoint["regions"][0]["start"] = "0x1000"
    else:  # a list where a table belongs
        doc["variants"] = list(doc["variants"].values())
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("how", ["wrong type", "list for table", "directory"])
def test_serve_repairs_a_broken_capture_in_auto_mode(tmp_path, how):
    root = make_site(tmp_path / "site")
    capture = root / "snapshots" / "demo.json"
    page = root / "docs" / "index.md"
    with Server(root) as server:
        server.shows(figure_shown)
        _shape_broken(capture, how)
        page.write_text(PAGE + "\nSaved again.\n")
        server.shows(lambda t: figure_shown(t) and "Saved again." in t)
        assert capture.is_file()
    assert "Traceback" not in server.output


@pytest.mark.parametrize("how", ["wrong type", "list for table", "directory"])
def test_serve_names_a_broken_capture_in_frozen_mode_and_recovers(tmp_path, how):
    root = make_site(tmp_path / "site")
    done = subprocess.run([sys.executable, "-m", "roads.cli", "capture"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    capture = root / "snapshots" / "demo.json"
    good = capture.read_text()
    with Server(root, ROADS_MODE="frozen") as server:
        server.shows(figure_shown)
        _shape_broken(capture, how)
        text = server.shows(lambda t: "could not be made" in t)
        assert "snapshots/demo.json" in text and "docs/index.md:8" in text
        if how == "wrong type":
            assert "regions[0].start: expected an integer" in text
        if capture.is_dir():
            capture.rmdir()
            time.sleep(1)  # the watcher misses a file made at once where a folder was
            # ... and on a busy machine, one made before its next look (it polls every
            # half second): saved again, a later save is seen, until the page recovers.
            for _ in range(5):
                capture.write_text(good)
                try:
                    server.shows(figure_shown, seconds=10)
                    break
                except AssertionError:
                    continue
        capture.write_text(good)
        server.shows(figure_shown)
    assert "Traceback" not in server.output


def test_serve_survives_a_read_only_snapshots_folder(tmp_path):
    """Captures that cannot be written are an error on the page, tried again at the next
    rebuild: once the folder is writable, the figure comes."""
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no mount namespaces here (unshare -m)")
    root = make_site(tmp_path / "site")
    snapshots = root / "snapshots"
    snapshots.mkdir()
    prefix = ("unshare", "-m", "--propagation", "private", "sh", "-c",
              f'mount --bind -o ro "{snapshots}" "{snapshots}" && exec "$@"', "sh")
    page = root / "docs" / "index.md"
    with Server(root, prefix=prefix) as server:
        text = server.shows(lambda t: "could not be made" in t)
        assert "snapshots/demo.json: cannot write the capture: Read-only file system" in text
        assert "docs/index.md:8" in text
        remount = subprocess.run(["nsenter", "-t", str(server.process.pid), "-m", "mount",
                                  "-o", "remount,bind,rw", str(snapshots)],
                                 capture_output=True, text=True)
        assert remount.returncode == 0, remount.stderr
        page.write_text(PAGE + "\nSaved again.\n")
        server.shows(lambda t: figure_shown(t) and "Saved again." in t)
    assert (snapshots / "demo.json").is_file()
    assert "Traceback" not in server.output


FRONT_MATTER_ERRORS = {
    "not YAML": (PAGE.replace("weight: 1", "weight: [1"), "docs/index.md:4: front matter: not valid YAML"),
    "wrong type": (PAGE.replace("weight: 1", "weight: one"), "docs/index.md:3: front matter: 'weight'"),
}


def test_serve_survives_a_page_error_outside_the_template(tmp_path):
    """Front matter that cannot be used, a figure swallowed by a code block: the page
    says so in a red box, the server stays up (also when it starts on such a page), and
    the page comes back when fixed."""
    root = make_site(tmp_path / "site")
    page = root / "docs" / "index.md"
    page.write_text(FRONT_MATTER_ERRORS["not YAML"][0])
    with Server(root) as server:
        text = server.shows(lambda t: "This page has an error" in t)
        assert html.escape(FRONT_MATTER_ERRORS["not YAML"][1]) in text
        page.write_text(PAGE)
        server.shows(figure_shown)
        for broken, said in FRONT_MATTER_ERRORS.values():
            page.write_text(broken)
            text = server.shows(lambda t: "This page has an error" in t)
            assert html.escape(said) in text
            page.write_text(PAGE)
            server.shows(figure_shown)
        page.write_text(PAGE.replace("{{ memory_map('demo', 'here') }}",
                                     "```text\n{{ memory_map('demo', 'here') }}\n```"))
        text = server.shows(lambda t: "This page has an error" in t)
        assert "docs/index.md: 1 of 1 figures could not be placed" in text
        page.write_text(PAGE)
        server.shows(figure_shown)
    assert "Traceback" not in server.output


@pytest.mark.parametrize("case", sorted(FRONT_MATTER_ERRORS))
def test_strict_build_fails_on_unusable_front_matter(tmp_path, case):
    broken, said = FRONT_MATTER_ERRORS[case]
    root = make_site(tmp_path / "site")
    (root / "docs" / "index.md").write_text(broken)
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    assert done.returncode != 0
    assert said in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_serve_survives_a_broken_manifest_and_recovers(tmp_path):
    root = make_site(tmp_path / "site")
    manifest = root / "samples" / "samples.toml"
    good = manifest.read_text()
    with Server(root) as server:
        server.shows(figure_shown)
        for broken in ('[demo\ncheckpoints = ["here"]\n',        # not TOML at all
                       '[demo]\ncheckpoints = "here"\n',          # a wrong type
                       '[demo]\ncheckpoints = ["here"]\nrunz = 2\n'):  # an unknown key
            manifest.write_text(broken)
            text = server.shows(lambda t: "could not be made" in t)
            assert "docs/index.md:8" in text and "samples.toml" in text
            manifest.write_text(good)
            server.shows(figure_shown)
    assert "Traceback" not in server.output


def test_a_macro_bug_is_a_located_box_not_a_crash(tmp_path, monkeypatch):
    """An exception the engine did not raise on purpose (a bug) is located like any
    error: a red box at the page's line, the build going on."""
    from macros import guard
    from tests.test_macros import _Env, _Page

    monkeypatch.delenv("CI", raising=False)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("---\ntitle: A\n---\n\n{{ value('demo', 'exit_code') }}\n")

    def value(sample, what):
        return {}["missing"]

    env = _Env(docs)
    env.page = _Page(docs / "a.md")
    box = guard(value, env)("demo", "exit_code")
    assert "docs/a.md:5: value(): internal error: KeyError(&#x27;missing&#x27;)" in box
    env.conf["strict"] = True
    with pytest.raises(SystemExit):
        guard(value, env)("demo", "exit_code")


@pytest.mark.parametrize(("source", "markdown", "lines"), [
    ("---\ntitle: A\n---\n\nbody\n", "body\n", 4),     # MkDocs drops the blank lines too
    ("---\ntitle: A\n---\nbody\n", "body\n", 3),
    ("body\n", "body\n", 0),
    ("---\ntitle: A\n---\n\n\nbody\n", "changed by a plugin\n", 5),
])
def test_front_matter_lines(source, markdown, lines):
    from macros import front_matter_lines

    assert front_matter_lines(source, markdown) == lines


@pytest.mark.parametrize("strict", [True, False])
def test_a_build_on_a_wrongly_shaped_capture_names_it(tmp_path, strict):
    """Frozen: an invalid capture is an error naming the file and the key, no traceback;
    strict fails with it, a plain build shows it on the page."""
    root = make_site(tmp_path / "site")
    done = subprocess.run([sys.executable, "-m", "roads.cli", "capture"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    _shape_broken(root / "snapshots" / "demo.json", "list for table")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", *(["--strict"] * strict)],
                          cwd=root, env=env_for(root, ROADS_MODE="frozen"),
                          capture_output=True, text=True)
    text = done.stdout + done.stderr
    assert (done.returncode != 0) == strict
    assert "docs/index.md:8: sample 'demo': " in text
    assert re.search(r"snapshots/demo.json: invalid capture: line \d+, variants: expected a table, "
                     "found a list", text), text[-2000:]
    assert "Traceback" not in text


def test_a_title_with_a_template_error_keeps_the_page_and_its_figures(tmp_path):
    root = make_site(tmp_path / "site")
    (root / "docs" / "index.md").write_text(PAGE.replace("title: Demo", "title: Demo {{ nope }}"))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root,
                          env=env_for(root), capture_output=True, text=True)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "'nope' is undefined" in done.stderr
    assert 'class="roads-map"' in (root / "site" / "index.html").read_text()
