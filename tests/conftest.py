"""Shared fixtures: scratch projects with real samples, and a guard against stray processes."""

from __future__ import annotations

import os
import shutil
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEADER = REPO / "samples" / "roads.h"


class ScratchProject:
    """A throwaway project folder: ``samples/`` with roads.h, a manifest and C files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.samples = root / "samples"
        self.samples.mkdir(parents=True)
        shutil.copy(HEADER, self.samples / "roads.h")
        self.manifest = ""

    def add(self, name: str, source: str, manifest: str = "") -> None:
        """Add sample ``name`` with C ``source`` and manifest lines for its table."""
        (self.samples / f"{name}.c").write_text(textwrap.dedent(source))
        self.manifest += f"[{name}]\n{textwrap.dedent(manifest)}\n"
        (self.samples / "samples.toml").write_text(self.manifest)

    def project(self, mode: str = "auto"):
        from roads.project import Project

        return Project(self.root, mode=mode)


@pytest.fixture
def scratch(tmp_path: Path) -> ScratchProject:
    return ScratchProject(tmp_path / "project")


def _leftovers() -> set[tuple[int, str]]:
    """Our stopped or zombie descendants (state T or Z), by pid and state."""
    found = set()
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        state, ppid = fields[0], int(fields[1])
        if state in ("T", "Z") and (ppid == me or _descends(ppid, me)):
            found.add((int(entry.name), state))
    return found


def left_behind(before: set[tuple[int, str]], grace: float = 1.0) -> set[tuple[int, str]]:
    """Our stopped or zombie descendants not in ``before`` that are still there after
    ``grace`` seconds. A process that ends while a test runs is a zombie for the moment its
    own parent takes to reap it (the session's Chromium ends renderers at any time): only
    what outlasts that was left behind."""
    after = _leftovers() - before
    deadline = time.monotonic() + grace
    while after and time.monotonic() < deadline:
        time.sleep(0.05)
        after &= _leftovers()
    return after


def _describe(found: set[tuple[int, str]]) -> str:
    """Each leftover with its command name and its parent's, so a failure says what was left."""
    out = []
    for pid, state in sorted(found):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            comm, ppid = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()[1]
            pstat = Path(f"/proc/{ppid}/stat").read_text()
            parent = pstat[pstat.index("(") + 1:pstat.rindex(")")]
        except (OSError, ValueError):
            comm, ppid, parent = "?", "?", "?"
        out.append(f"{pid} {comm} ({state}), child of {ppid} {parent}")
    return "; ".join(out)


def _descends(pid: int, ancestor: int) -> bool:
    for _ in range(64):
        if pid <= 1:
            return False
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat[stat.rindex(")") + 2:].split()[1])
    return False


def _running_from(base: Path) -> set[int]:
    """Live processes whose program lies under ``base``: samples built by a test."""
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                exe = os.readlink(Path(entry.path, "exe"))
            except OSError:
                continue
            if exe.startswith(str(base)):
                found.add(int(entry.name))
    return found


@pytest.fixture
def no_leftovers(tmp_path_factory):
    """Fail the test if it leaves any process of ours stopped or unreaped, or any sample
    it built still running (also one that escaped with setsid and was adopted by init)."""
    base = tmp_path_factory.getbasetemp()
    before = _leftovers()
    running_before = _running_from(base)
    yield
    after = left_behind(before)
    assert not after, f"processes left stopped or unreaped: {_describe(after)}"
    for _ in range(20):  # SIGKILLed processes take a moment to vanish from /proc
        running = _running_from(base) - running_before
        if not running:
            break
        time.sleep(0.05)
    assert not running, f"sample processes still running: {sorted(running)}"


def group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid``."""
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


# --------------------------------------------------------------------------- browser tests


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The real site, built frozen once for every browser test, served on localhost:
    (folder, base URL)."""
    from tests.browser import build_site, serve

    out = tmp_path_factory.mktemp("site")
    build_site(REPO, out)
    server, base = serve(out)
    yield out, base
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    """Chromium driven by Playwright, shared by the browser tests."""
    from tests.browser import CHROMIUM_ARGS, chromium_path

    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium: apt-get install chromium (./dev test does)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()
