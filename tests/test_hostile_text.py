"""A page built from hostile captured strings shows them as text and runs no script.

A sample chooses what it prints and where it runs from; the ``value`` macro puts
such text into pages. Here a copy of a real capture is given hostile output and
paths, a mini-site prints them in prose, in code spans, in a table and in a claim-like
sentence, and the built page is checked as HTML and in Chromium.
"""

from __future__ import annotations

import html
import json
import re
import shutil

import pytest

from tests.browser import serve
from tests.conftest import REPO
from tests.test_site import built, make_project

SCRIPT = "<script>window.pwned = 1</script>"
IMAGE = '<img src=x onerror="window.pwned = 2">'
# Control characters a sample may print or name a file with: an escape sequence, a
# carriage return, a right-to-left override (which shows "exe.png" for "\u202egnp.exe").
CONTROLS = "\x1b[31mred\rover\u202egnp.exe"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
PAGE = """---
title: Hostile
weight: 1
---

Printed: {{ value('intmain', 'stdout') }}

In code: `{{ value('intmain', 'stdout') }}`

| what | value |
|---|---|
| exe | {{ value('intmain', 'exe') }} |
| execfn | `{{ value('intmain', 'auxv:AT_EXECFN') }}` |

**{{ value('intmain', 'auxv:AT_EXECFN') }}**

Said: {{ value('intmain', 'stderr') }}

{{ memory_map('intmain') }}

{{ provenance('intmain') }}
"""


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    project = make_project(tmp, docs=None)
    (project / "docs").mkdir()
    (project / "docs" / "index.md").write_text(PAGE)
    shutil.copytree(REPO / "snapshots", project / "snapshots")
    path = project / "snapshots" / "intmain.json"
    doc = json.loads(path.read_text())
    doc["provenance"]["kernel"] += SCRIPT + CONTROLS  # a capture's, as a pull request's
    for run in doc["variants"]["default"]["runs"]:
        run["stdout"] = SCRIPT + "\n"
        run["stderr"] = CONTROLS + "\n"
        for checkpoint in run["checkpoints"]:
            checkpoint["exe"] = "/build/" + IMAGE
            checkpoint["auxv_strings"]["AT_EXECFN"] = "./" + SCRIPT
            named = next(r for r in checkpoint["regions"] if r["pathname"].startswith("/"))
            named["pathname"] += CONTROLS
    path.write_text(json.dumps(doc, indent=1, sort_keys=True))
    (project / "tests").mkdir()
    shutil.copy(REPO / "tests" / "claims.toml", project / "tests" / "claims.toml")
    return built(project, ROADS_ROOT=str(project), ROADS_MODE="frozen")


def test_hostile_strings_are_text_in_the_html(hostile_site):
    out = (hostile_site / "index.html").read_text()
    assert "<script>window.pwned" not in out and "<img src=x" not in out
    assert out.count(html.escape(SCRIPT)) >= 3  # prose, code span, bold, table
    assert html.escape(IMAGE) in out
    assert "\ue000" not in out
    search = (hostile_site / "search" / "search_index.json").read_text()
    assert "\\ue000" not in search and "<script>window" not in search


def test_control_characters_are_shown_as_escapes_not_raw(hostile_site):
    """A sample's escape sequence, carriage return or bidirectional override reached the
    page raw, in a value and in a figure's table (a file's name): a reader saw a name
    reversed, or nothing. They are written as escapes, as roads explain's page writes
    them (errors.printable). The provenance() caption too, which no figure holds (a
    kernel release in a capture edited so reached the page raw)."""
    out = (hostile_site / "index.html").read_text()
    assert sorted({m[0] for m in RAW.finditer(out)}) == []
    assert out.count("\\x1b[31mred\\x0dover\\u202egnp.exe") >= 3  # value, table, caption


@pytest.mark.browser
def test_no_script_runs_in_the_browser(hostile_site, browser):
    server, base = serve(hostile_site)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(base)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.pwned") is None
        assert SCRIPT in page.inner_text("article")
    finally:
        context.close()
        server.shutdown()
        server.server_close()


def test_roads_changes_prints_captured_names_and_values_as_escapes(tmp_path, capsys):
    """``roads changes`` printed what the captures hold (their file names, a provenance
    value) raw to the terminal: a capture added to snapshots/ under a name with an
    escape sequence (a pull request's) or a kernel string with one set the terminal's
    title, cleared it or wrote the clipboard (OSC 52). Each line is one Markdown line:
    a newline in a name is escaped too."""
    import subprocess

    from roads import cli

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org",
                        "-c", "commit.gpgsign=false", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    (snapshots / "brk.json").write_text(json.dumps({"provenance": {"kernel": "6.1"}}))
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "first")
    clipboard = "\x1b]52;c;ZXZpbA==\x07"
    (snapshots / "brk.json").write_text(
        json.dumps({"provenance": {"kernel": "6.2" + clipboard + CONTROLS}}))
    # A carriage return, and a byte that is not UTF-8, in the name: git's listing is
    # read as it came (read as text, the CR became a newline and the file was then
    # not found: "removed or unreadable").
    (snapshots / "\x1b[31mred\u202egnp.exe\nline\rcr\udcff.json").write_text(json.dumps({}))
    assert cli.main(["--root", str(tmp_path), "changes"]) == 0
    out = capsys.readouterr().out
    assert not RAW.findall(out), out
    assert sorted(out.splitlines()) == sorted([
        "- `brk`: kernel 6.1 → 6.2\\x1b]52;c;ZXZpbA==\\x07\\x1b[31mred\\x0dover\\u202egnp.exe",
        "- `\\x1b[31mred\\u202egnp.exe\\x0aline\\x0dcr\\xff`: new capture"])


@pytest.mark.parametrize("depth", [980, 5000])
def test_a_capture_nested_too_deeply_is_corrupt_not_a_traceback(tmp_path, capsys, depth):
    """JSON nested some thousand levels down, under a key no capture has or as the whole
    file, raised RecursionError from the JSON readers (Python's and msgspec's stop there,
    and no ValueError handler catches it): roads check and roads changes ended in a
    traceback, and a figure of the build in 'internal error: RecursionError'. Such a
    capture is a corrupt one, named with its file."""
    import subprocess

    from roads import cli
    from roads.capture.project import Project
    from roads.errors import CaptureError

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org",
                        "-c", "commit.gpgsign=false", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    shutil.copytree(REPO / "samples", tmp_path / "samples")
    shutil.copytree(REPO / "snapshots", tmp_path / "snapshots")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "first")
    doc = json.loads((REPO / "snapshots" / "brk.json").read_text())
    doc["variants"]["default"]["runs"][0]["extra"] = "NESTED"
    (tmp_path / "snapshots" / "brk.json").write_text(
        json.dumps(doc).replace('"NESTED"', "[" * depth + "]" * depth))
    (tmp_path / "snapshots" / "cow.json").write_text("[" * depth + "]" * depth)
    assert cli.main(["--root", str(tmp_path), "check"]) == 1
    said = capsys.readouterr()
    for name in ("brk", "cow"):
        line, = (row for row in said.out.splitlines() if row.startswith(f"{name}: "))
        assert "nested too deeply" in line, line
    assert cli.main(["--root", str(tmp_path), "changes"]) == 0
    out = capsys.readouterr().out
    assert "- `cow`: removed or unreadable" in out.splitlines(), out
    assert "- `brk`: removed or unreadable" in out.splitlines(), out
    for name in ("brk", "cow"):
        with pytest.raises(CaptureError, match="nested too deeply"):
            Project(tmp_path).store.document(name)


def test_a_saved_session_nested_too_deeply_or_without_its_record_is_told(tmp_path):
    """A saved roads explain session is a repository's file, which the explained() macro
    reads (and a build runs again when stale): one nested too deeply raised
    RecursionError, and one with no record of its command ('{}') KeyError('inputs')
    where the build ran it again, each told as the macro's internal error."""
    from roads.errors import ExplainError
    from roads.explain.record import load_session
    from roads.explain.saved import refreshed, staleness

    deep, empty = tmp_path / "deep.json", tmp_path / "empty.json"
    deep.write_text("[" * 5000 + "]" * 5000)
    empty.write_text("{}")
    assert staleness(deep, tmp_path) == [
        "deep.json cannot be read: its lists and tables are nested too deeply to be read: "
        "line 1 column 1 (char 0)"]
    with pytest.raises(ExplainError, match="nested too deeply"):
        load_session(deep)
    with pytest.raises(ExplainError, match="deep.json: cannot be read: its lists"):
        refreshed(deep, tmp_path, sandbox=None)
    with pytest.raises(ExplainError, match="empty.json: it records no inputs"):
        refreshed(empty, tmp_path, sandbox=None)


def test_a_saved_sessions_source_is_read_only_as_a_regular_file(tmp_path):
    """A saved session names its program's source, whose digest a build compares (in
    every mode) and whose file the page cache follows. Named '/dev/zero', or by a link
    in the repository that leads there (git keeps links), it was read whole: the build
    took memory until there was none. Only a regular file is read (one outside the
    project too: a session saved from another folder names its source so)."""
    import subprocess
    import sys

    (tmp_path / "zero.c").symlink_to("/dev/zero")
    (tmp_path / "real.c").write_text("int main(void) { return 0; }\n")
    for name, program in (("absolute", "/dev/zero"), ("link", "zero.c"),
                          ("outside", "../" * 40 + "dev/zero"), ("real", "real.c")):
        (tmp_path / f"{name}.json").write_text(json.dumps(
            {"inputs": {"argv": [program], "source": "0" * 64, "at": ["main"]}}))
    script = f"""
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
sys.path.insert(0, {str(REPO)!r})
from roads.explain.saved import staleness
from macros.pagecache import saved_session_inputs
root = Path({str(tmp_path)!r})
out = {{}}
for name in ("absolute", "link", "outside", "real"):
    out[name] = [staleness(root / f"{{name}}.json", root),
                 [str(p) for p in saved_session_inputs(root / f"{{name}}.json", root)][:1]]
print(json.dumps(out))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    for name, program in (("absolute", "/dev/zero"), ("link", "zero.c"),
                          ("outside", "../" * 40 + "dev/zero")):
        reasons, inputs = out[name]
        assert reasons == [f"{program} is not a regular file"], reasons
        assert not inputs or "zero" not in inputs[0], inputs
    reasons, inputs = out["real"]
    assert reasons[0] == "real.c changed" and inputs == [str(tmp_path / "real.c")]
