"""One bad manifest entry is an error of that sample (and the pages that use it) only
(issue 9, item 5): the other samples capture, ``roads`` commands work, a build shows
the error on the page that asks for the sample, and ``mkdocs serve`` recovers when
the entry is fixed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from roads.cli import main
from roads.errors import ConfigError
from roads.capture.samples import parse_manifest
from tests.conftest import REPO
from tests.test_serve import Server, env_for, make_site

# Each hostile entry, the line its error must name, and words of the message. The good
# entry before and after each must stay usable.
BAD_ENTRIES = {
    "syntax": ('[bad]\ntimeout = "unterminated\n', 4, "Illegal character '\\n' at the end of "
               "the line: it ends with a string in quotes still open"),
    "table-over-lines": ('[bad]\nenv = { A = "x",\n  B = "y" }\n', 4,
                         "at the end of the line: it ends with a table between braces"),
    "twice": ('[bad]\ntimeout = 3\n[bad]\nruns = 2\n', 5, "twice"),
    "unknown-key": ('[bad]\ntimout = 3\n', 4, "timout: unknown key"),
    "wrong-type": ('[bad]\nruns = "many"\n', 4, "runs: must be an integer"),
    "outside": ('[bad]\nsource = "../evil.c"\n', 4, "outside the samples folder"),
    "not-a-table": ('[[bad]]\ntimeout = 3\n', 3, "must be a table"),
    "name": ('["Bad Name"]\ntimeout = 3\n', 3, "a sample name is"),
    # A name's pattern ended in $, which also matches before a final newline: the
    # sample was captured into 'snapshots/bad<newline>.json' and listed over two lines.
    "name-newline": ('["bad\\n"]\ntimeout = 3\n', 3, "a sample name is"),
    "variant-newline": ('[bad.variants]\n"pie\\n" = []\n', 3, "bad variant name"),
    "env-name-newline": ('[bad]\nenv = { "A\\n" = "x" }\n', 4, "variable name"),
    "limit": ('[bad.limits]\noutput = 99999999999\n', 4, "limits.output: must be an integer from 1 to"),
    "unreachable": ('[bad]\ncheckpoints = ["two words"]\n', 4, "no run could reach it"),
    "nul-arg": ('[bad]\nargs = ["a\\u0000b"]\n', 4, "NUL"),
    "env-name": ('[bad]\nenv = { "A=B" = "x" }\n', 4, "variable name"),
    "nul-source": ('[bad]\nsource = "a\\u0000b.c"\n', 4, "holds a NUL character"),
    "nul-gdb": ('[bad]\ngdb = "a\\u0000b.gdb"\n', 4, "holds a NUL character"),
    "long-source": (f'[bad]\nsource = "{"x" * 5000}.c"\n', 4,
                    "cannot be read as a file: File name too long"),
    "looped-source": ('[bad]\nsource = "loop1"\n', 4, "cannot be read as a file"),
}


def manifest_with(bad: str) -> str:
    return '[first]\nsource = "ok.c"\n' + bad + '[last]\nsource = "ok.c"\n'


@pytest.mark.parametrize("case", sorted(BAD_ENTRIES))
def test_a_bad_entry_is_an_error_of_its_own_only(tmp_path, case):
    text, line, words = BAD_ENTRIES[case]
    for c_file in ("ok.c", "bad.c"):
        (tmp_path / c_file).write_text("int main(void){return 0;}\n")
    (tmp_path / "loop1").symlink_to("loop2")  # a loop of links: they lead nowhere
    (tmp_path / "loop2").symlink_to("loop1")
    manifest = parse_manifest(manifest_with(text), tmp_path, "samples.toml")
    assert sorted(manifest.samples) == ["first", "last"]
    assert len(manifest.broken) == 1
    (name, error), = manifest.broken.items()
    assert error.message.startswith(f"samples.toml:{line}: ")
    assert words in error.message
    assert error.sample == name


def test_a_syntax_error_outside_every_entry_is_the_whole_manifests():
    with pytest.raises(ConfigError, match=r"samples\.toml:1: "):
        parse_manifest('= 3\n[fine]\n', Path("/nonexistent"), "samples.toml")


def test_many_broken_entries_each_stay_theirs(tmp_path):
    (tmp_path / "ok.c").write_text("int main(void){return 0;}\n")
    text = "".join(f'[b{i}]\nsource = "ok.c"\ntimeout = "x\n' for i in range(20))
    manifest = parse_manifest(text + '[ok]\n', tmp_path, "m")
    assert sorted(manifest.samples) == ["ok"]
    assert len(manifest.broken) == 20


def broken_project(scratch):
    scratch.add("fine", "int main(void){return 0;}\n")
    scratch.add("bad", "int main(void){return 0;}\n", 'timeout = "x\n')
    return scratch


@pytest.mark.gcc
def test_capture_and_check_go_on_past_a_broken_entry(scratch, capsys):
    broken_project(scratch)
    root = str(scratch.root)
    assert main(["--root", root, "capture"]) == 1
    err = capsys.readouterr().err
    assert "1 captured, 0 unchanged, 0 fresh, 1 failed" in err
    assert "sample 'bad': " in err and "samples.toml:4: [bad]" in err
    assert (scratch.root / "snapshots" / "fine.json").exists()

    assert main(["--root", root, "capture", "fine"]) == 0
    assert main(["--root", root, "check"]) == 1
    out = capsys.readouterr().out
    assert "fine: fresh" in out and "bad: broken: " in out

    project = scratch.project()
    assert project.load("fine")["sample"] == "fine"
    with pytest.raises(ConfigError, match=r"samples\.toml:4: \[bad\]"):
        project.load("bad")
    assert main(["--root", root, "capture", "nonesuch"]) == 1
    err = capsys.readouterr().err
    assert "no sample 'nonesuch'" in err and "(known: " in err and "fine" in err
    # A misspelt name is met with the likely ones, not the whole list.
    assert main(["--root", root, "capture", "fnie"]) == 1
    err = capsys.readouterr().err
    assert "no sample 'fnie'" in err and "(did you mean fine?)" in err and "known" not in err
    # The manifest named from the project's folder, wherever the command ran.
    assert "no sample 'fnie' in samples/samples.toml (did you mean fine?)" in err, err


def test_a_sample_file_without_an_entry_is_told_to_declare_it(scratch, capsys):
    """A new samples/NAME.c whose entry was forgotten said only "no sample 'NAME'"
    and listed the others, as for a misspelt name: it names the file and the table to add."""
    scratch.add("fine", "int main(void){return 0;}\n")
    (scratch.samples / "newone.c").write_text("int main(void){return 0;}\n")
    assert main(["--root", str(scratch.root), "capture", "newone"]) == 1
    err = capsys.readouterr().err
    assert ("no sample 'newone' in samples/samples.toml (known: fine); samples/newone.c is "
            "there: declare it with a [newone] table (title, checkpoints)") in err, err


def test_an_unreadable_manifest_is_one_clean_error(scratch, capsys):
    (scratch.samples / "samples.toml").write_text("= 3\n[a]\n")
    assert main(["--root", str(scratch.root), "check"]) == 1
    assert "samples.toml:1: " in capsys.readouterr().err
    (scratch.samples / "samples.toml").write_bytes(b"[a]\ntitle = '\xff'\n")
    assert main(["--root", str(scratch.root), "capture"]) == 1
    assert "cannot read the sample manifest" in capsys.readouterr().err


OTHER_PAGE = """\
---
title: Other
weight: 2
---

Prose.

{{ memory_map('other') }}
"""


def site_with_a_broken_entry(root: Path) -> Path:
    make_site(root)
    (root / "samples" / "other.c").write_text("int main(void){return 0;}\n")
    (root / "samples" / "samples.toml").write_text(
        '[demo]\ncheckpoints = ["here"]\n\n[other]\ntimeout = "never closed\n')
    (root / "docs" / "other.md").write_text(OTHER_PAGE)
    return root


@pytest.mark.gcc
@pytest.mark.slow
def test_build_shows_the_broken_entry_on_its_page_only(tmp_path):
    root = site_with_a_broken_entry(tmp_path / "site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root,
                          env=env_for(root), capture_output=True, text=True, timeout=300)
    text = done.stdout + done.stderr
    assert done.returncode == 0, text
    assert "Traceback" not in text
    assert "docs/other.md:8: sample 'other': " in text and "samples.toml:5: [other]" in text
    # Named from the project's folder, as the build's other errors name their files.
    assert "docs/other.md:8: sample 'other': samples/samples.toml:5: [other]" in text, text
    good = (root / "site" / "index.html").read_text()
    assert "roads-map" in good and "could not be made" not in good
    bad = (root / "site" / "other" / "index.html").read_text()
    assert "could not be made" in bad and "samples.toml:5" in bad

    strict = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=root,
                            env=env_for(root), capture_output=True, text=True, timeout=300)
    text = strict.stdout + strict.stderr
    assert strict.returncode != 0 and "Traceback" not in text
    assert "docs/other.md:8: sample 'other': " in text


@pytest.mark.gcc
@pytest.mark.slow
@pytest.mark.usefixtures("no_leftovers")
def test_serve_shows_a_broken_entry_and_recovers(tmp_path):
    root = make_site(tmp_path / "site")
    manifest = root / "samples" / "samples.toml"
    with Server(root) as server:
        server.shows(lambda t: "roads-map" in t and "block" in t)
        manifest.write_text('[demo]\ncheckpoints = ["here"\n')
        broken = server.shows(lambda t: "could not be made" in t)
        assert "samples.toml:2" in broken
        manifest.write_text('[demo]\ncheckpoints = ["here"]\ntimeout = 5\n')
        server.shows(lambda t: "roads-map" in t and "could not be made" not in t)


def test_the_real_manifest_has_no_broken_entry():
    from roads.capture.samples import read_manifest

    assert read_manifest(REPO / "samples").broken == {}


def test_a_hostile_entry_name_is_located_and_shown_escaped(scratch, capsys):
    (scratch.samples / "samples.toml").write_text('["evil\\u001b[31m"]\ntimeout = 3\n')
    assert main(["--root", str(scratch.root), "check"]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "evil\\x1b[31m: broken: " in out and "samples.toml:1: " in out


@pytest.mark.slow
def test_a_manifest_no_entry_of_which_can_be_read_is_shown_on_every_page(tmp_path):
    root = make_site(tmp_path / "site")
    (root / "samples" / "samples.toml").write_text("= 3\n[demo]\n")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root,
                          env=env_for(root), capture_output=True, text=True, timeout=300)
    text = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in text
    assert "docs/index.md:8: " in text and "samples.toml:1: " in text
    assert "could not be made" in (root / "site" / "index.html").read_text()
