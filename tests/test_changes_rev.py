"""``roads changes --rev REV``: the captures of the working tree that differ from REV's,
in a small real git repository (commits after REV, renames, untracked and deleted
captures, names git would quote)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from roads.capture.changes import summarise

ROADS = [sys.executable, "-m", "roads.cli"]


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.org",
                           "-c", "commit.gpgsign=false", *args], cwd=root, capture_output=True,
                          text=True, check=True)
    return done.stdout


def _write(root: Path, name: str, kernel: str) -> None:
    path = root / "snapshots" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"provenance": {"kernel": kernel}, "inputs": {"c": name}}))


def _commit(root: Path, message: str) -> str:
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "--allow-empty", "-m", message)
    return _git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose first commit holds two captures, made on kernel 6.1."""
    root = tmp_path / "project"
    root.mkdir()
    _git(root, "init", "-q")
    _write(root, "brk", "6.1")
    _write(root, "mmap", "6.1")
    _commit(root, "first")
    return root


def changes(root: Path, rev: str) -> list[str]:
    return summarise(root, root / "snapshots", rev)


def test_a_capture_changed_in_a_commit_after_rev_and_clean_now_is_reported(repo):
    rev = _git(repo, "rev-parse", "HEAD").strip()
    _write(repo, "brk", "6.2")
    _commit(repo, "brk on 6.2")
    _commit(repo, "something else")
    assert _git(repo, "status", "--porcelain") == ""
    assert changes(repo, rev) == ["- `brk`: kernel 6.1 → 6.2"]
    assert changes(repo, "HEAD~2") == ["- `brk`: kernel 6.1 → 6.2"]
    assert changes(repo, "HEAD") == []


def test_the_command_line_reports_it_too(repo):
    _write(repo, "brk", "6.2")
    _commit(repo, "brk on 6.2")
    cli = [*ROADS, "--root", str(repo), "changes"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([*cli, "--rev", "HEAD~1"], capture_output=True, text=True, env=env)
    assert (done.returncode, done.stdout) == (0, "- `brk`: kernel 6.1 → 6.2\n"), done.stderr
    done = subprocess.run(cli, capture_output=True, text=True, env=env)
    assert (done.returncode, done.stdout) == (0, "No capture changed.\n"), done.stderr


def test_a_capture_as_it_was_at_rev_is_not_reported(repo):
    """Changed in a commit after REV, then back in the working tree: nothing differs
    from REV (though it differs from HEAD)."""
    _write(repo, "brk", "6.2")
    _commit(repo, "brk on 6.2")
    _write(repo, "brk", "6.1")
    assert changes(repo, "HEAD~1") == []
    assert changes(repo, "HEAD") == ["- `brk`: kernel 6.2 → 6.1"]


def test_the_working_tree_counts_not_the_index(repo):
    """A change staged, then undone in the working tree: nothing to report; one made
    in the working tree on top of another staged: the working tree's."""
    _write(repo, "brk", "6.2")
    _git(repo, "add", "snapshots/brk.json")
    _write(repo, "brk", "6.1")
    _write(repo, "mmap", "6.2")
    _git(repo, "add", "snapshots/mmap.json")
    _write(repo, "mmap", "6.3")
    assert changes(repo, "HEAD") == ["- `mmap`: kernel 6.1 → 6.3"]


def test_a_renamed_capture_is_one_removed_and_one_new(repo):
    _git(repo, "mv", "snapshots/brk.json", "snapshots/heap.json")
    assert changes(repo, "HEAD") == ["- `brk`: removed or unreadable",
                                     "- `heap`: new capture"]
    _commit(repo, "brk is heap now")
    assert changes(repo, "HEAD~1") == ["- `brk`: removed or unreadable",
                                       "- `heap`: new capture"]


def test_untracked_captures(repo):
    """A new capture not added yet is new; one deleted after REV and put back as it
    was, untracked, differs in nothing."""
    _git(repo, "rm", "-q", "snapshots/mmap.json")
    _commit(repo, "no mmap")
    _write(repo, "mmap", "6.1")
    _write(repo, "more/threads", "6.2")
    assert changes(repo, "HEAD~1") == ["- `threads`: new capture"]
    assert changes(repo, "HEAD") == ["- `mmap`: new capture", "- `threads`: new capture"]


def test_deleted_captures(repo):
    """Deleted in a commit after REV, in the index alone, or in the working tree alone."""
    _write(repo, "gone", "6.1")
    _write(repo, "staged", "6.1")
    _write(repo, "unstaged", "6.1")
    rev = _commit(repo, "three more")
    _git(repo, "rm", "-q", "snapshots/gone.json")
    _commit(repo, "gone")
    _git(repo, "rm", "-q", "snapshots/staged.json")
    (repo / "snapshots" / "unstaged.json").unlink()
    assert changes(repo, rev) == ["- `gone`: removed or unreadable",
                                  "- `staged`: removed or unreadable",
                                  "- `unstaged`: removed or unreadable"]


def test_names_git_would_quote(repo):
    """A space, a non-ASCII letter, a quote: git quotes such paths unless -z."""
    _write(repo, "café", "6.1")
    _write(repo, 'say "hi"', "6.1")
    _commit(repo, "odd names")
    _write(repo, "café", "6.2")
    _write(repo, 'say "hi"', "6.2")
    _write(repo, "a b", "6.2")
    assert changes(repo, "HEAD") == ["- `a b`: new capture",
                                     "- `café`: kernel 6.1 → 6.2",
                                     '- `say "hi"`: kernel 6.1 → 6.2']


def test_a_project_in_a_folder_of_the_repository(tmp_path):
    """git names paths from the repository's top (``git status``, ``REV:path``); the
    captures are read from the project's folder."""
    top = tmp_path / "top"
    (top / "site").mkdir(parents=True)
    _git(top, "init", "-q")
    root = top / "site"
    _write(root, "brk", "6.1")
    _commit(top, "first")
    _write(root, "brk", "6.2")
    _write(root, "mmap", "6.2")
    assert changes(root, "HEAD") == ["- `brk`: kernel 6.1 → 6.2", "- `mmap`: new capture"]


def test_a_content_change_is_named_by_its_fields_not_pids():
    """The refresh pull request said '`demand`: content only' of a capture whose file
    mapping's Rss had moved: its line now names the first fields that differ, a
    checkpoint by its name and a region by its file, permissions and offset, and what
    changes at every run (a pid) is not one of them."""
    import copy

    from roads.capture.changes import describe

    old = json.loads((Path(__file__).parents[1] / "snapshots" / "brk.json").read_text())
    new = copy.deepcopy(old)
    run = new["variants"]["default"]["runs"][0]
    checkpoint = run["checkpoints"][1]
    heap = next(r for r in checkpoint["regions"] if r["pathname"] == "[heap]")
    heap["kb"]["Rss"] += 4

    def other_pids(node):  # another run's pids, as every refresh has, all alike
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("pid", "ppid", "Pid", "PPid") and isinstance(value, int) and value:
                    node[key] = value + 1000
                else:
                    other_pids(value)
        elif isinstance(node, list):
            for value in node:
                other_pids(value)

    other_pids(new)
    line = describe("brk", old, new)
    path = (f"variants.default.runs[0].checkpoints[{checkpoint['name']}]"
            f".regions[[heap] rw-p @0x0].kb.Rss")
    assert line == (f"- `brk`: content only: `{path}` {heap['kb']['Rss'] - 4} → "
                    f"{heap['kb']['Rss']}"), line


def test_a_region_added_is_one_change_not_every_region_after_it():
    """Regions were paired by their places: one anonymous region added before brk's data
    read as brk's data region having lost its file, and 160 more. Named items are
    matched by their names (a region by its file, permissions and offset)."""
    import copy

    from roads.capture.changes import content_changes

    old = json.loads((Path(__file__).parents[1] / "snapshots" / "brk.json").read_text())
    new = copy.deepcopy(old)
    checkpoint = new["variants"]["default"]["runs"][0]["checkpoints"][0]
    added = copy.deepcopy(checkpoint["regions"][-2])
    added.update(pathname="", perms="rw-p", offset=0x123000, start=added["start"] - 0x1000)
    checkpoint["regions"].insert(3, added)
    changes = content_changes(old, new)
    assert len(changes) == 1, changes
    path, before, after = changes[0]
    assert path.endswith(".regions[anonymous rw-p @0x123000]") and (before, after) == ("(none)", "there")
