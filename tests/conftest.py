"""Shared fixtures: scratch projects with real samples, a skip where gcc is missing,
copies of the checkout, a guard against stray processes, and one against a session that
writes into the checkout."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEADER = REPO / "samples" / "roads.h"


# --------------------------------------------------------------------- the checkout


def _git(*args: str) -> bytes | None:
    """``git ARGS`` in the checkout (its stdout), or None where that fails (no git, no
    repository: a tarball of the project)."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run([git, "--no-optional-locks", *args], cwd=REPO,
                              capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def checkout_state() -> dict[str, str] | None:
    """Each tracked file that differs from the last commit, with its status and a digest
    of its content; None outside a git checkout. ``git status`` sees any change to a
    clean file; the digests, a further change to one that was already changed."""
    out = _git("status", "--porcelain=v1", "-z", "--untracked-files=no")
    if out is None:
        return None
    state: dict[str, str] = {}
    tokens = iter(out.split(b"\0"))
    for token in tokens:
        if not token:
            continue
        code, name = token[:2].decode(), token[3:].decode(errors="surrogateescape")
        if code[0] in "RC":
            next(tokens, None)  # the path it was renamed or copied from
        try:
            digest = hashlib.sha256((REPO / name).read_bytes()).hexdigest()
        except OSError:
            digest = "unreadable or gone"
        state[name] = f"{code} {digest}"
    return state


def pytest_sessionstart(session) -> None:
    session.config._roads_checkout = checkout_state()


def pytest_sessionfinish(session, exitstatus) -> None:
    """Fail the run if a tracked file of the checkout changed while it ran: tests build
    frozen or on copies (``copy_checkout``), each with its own cache folder. A checkout
    that had changes before the run is fine; only what the run changed counts."""
    before = getattr(session.config, "_roads_checkout", None)
    if before is None:
        return
    after = checkout_state() or {}
    changed = sorted(name for name in before.keys() | after.keys()
                     if before.get(name) != after.get(name))
    if changed:
        session.config._roads_checkout_changed = changed
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    changed = getattr(config, "_roads_checkout_changed", None)
    if changed:
        terminalreporter.section("the checkout changed", red=True, bold=True)
        terminalreporter.write_line("tracked files of the checkout changed during the test session "
                                    "(a test wrote into it, or they were edited while the run went on: "
                                    "tests must build frozen or on a copy, see copy_checkout "
                                    "in tests/conftest.py):", red=True)
        for name in changed:
            terminalreporter.write_line(f"  {name}", red=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A claim's test that fails says which claim it keeps, where the page says it and
    which captures it reads (a refresh that moved reality fails it with an assertion
    on numbers alone): a section of its report."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        told = claim_told(item.nodeid)
        if told:
            report.sections.append(("the claim this test keeps", told))


def claim_told(nodeid: str) -> str | None:
    """Words about the claim of tests/claims.toml whose test is ``nodeid``, or None."""
    file, _, name = nodeid.rpartition("/")[2].partition("::")
    claim = _claims_by_test().get(f"{file}::{name.partition('[')[0]}")
    if claim is None:
        return None
    page = REPO / claim.page
    line = next((n for n, text in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
                 if f"claim('{claim.id}')" in text or f'claim("{claim.id}")' in text), None)
    samples = sorted({m["sample"] for m in claim.mutate if "sample" in m})
    return (f"claim {claim.id!r}, said on {claim.page}" + (f", line {line}" if line else "")
            + f":\n  {claim.text}\nfrom the captures "
            + ", ".join(f"snapshots/{s}.json" for s in samples)
            + "\nIf a refresh made the captures again (another kernel, glibc or gcc), the "
            "sentence may no longer be true there: change the page's words (and this test), "
            "or the sample.")


@functools.cache
def _claims_by_test() -> dict:
    from roads.words.claims import load_claims

    return {c.test: c for c in load_claims(REPO / "tests" / "claims.toml")}


def copy_checkout(destination: Path) -> Path:
    """A copy of the checkout's files (tracked, and new ones not ignored: what a commit
    would hold) at ``destination``, to build or capture in without touching the checkout.
    Without git, the whole folder but its caches and virtual environment."""
    listed = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if listed is None:
        shutil.copytree(REPO, destination, symlinks=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", ".cache", "site", "__pycache__", ".pytest_cache"))
        return destination
    for name in sorted({n.decode(errors="surrogateescape") for n in listed.split(b"\0") if n}):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return destination


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
        from roads.capture.project import Project

        return Project(self.root, mode=mode)


@pytest.fixture
def scratch(tmp_path: Path) -> ScratchProject:
    return ScratchProject(tmp_path / "project")


@pytest.fixture
def outside_tmp():
    """A fresh folder outside /tmp (in /var/tmp, or else the checkout's ignored .cache),
    removed after the test; the test is skipped where there is none."""
    import tempfile

    for place in (Path("/var/tmp"), REPO / ".cache"):
        real = str(place.resolve()) if place.is_dir() else "/tmp"
        if os.access(place, os.W_OK) and real != "/tmp" and not real.startswith("/tmp/"):
            break
    else:
        pytest.skip("no writable folder outside /tmp")
    project = Path(tempfile.mkdtemp(prefix="roads-test-outside-", dir=place))
    yield project
    shutil.rmtree(project, ignore_errors=True)


@pytest.fixture
def gcc() -> None:
    """For a test that compiles a program of its own: skipped where there is no gcc."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")


# The browser tests' Chromium (and Playwright's driver) share the session: Chromium ends
# renderer and utility processes whenever it likes and reaps them on its own time, seconds
# later at most. Processes under them are the browser's, not the engine's.
_BROWSER = ("chrom", "headless_shell", "node")


def _stat(pid: int | str) -> tuple[str, str, int] | None:
    """Command name, state and parent of a process, from /proc/PID/stat; None if gone."""
    try:  # any process of the machine: its name may be bytes that are not UTF-8
        stat = os.fsdecode(Path(f"/proc/{pid}/stat").read_bytes())
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return stat[stat.index("(") + 1:stat.rindex(")")], fields[0], int(fields[1])


def _ours(pid: int) -> bool:
    """Whether ``pid`` is this test process or descends from it other than through the
    browser (whose processes are the browser's: see _BROWSER)."""
    me = os.getpid()
    for _ in range(64):
        if pid == me:
            return True
        found = _stat(pid) if pid > 1 else None
        if found is None or found[0].startswith(_BROWSER):
            return False
        pid = found[2]
    return False


def _leftovers() -> set[tuple[int, str]]:
    """Our stopped or zombie descendants (state T or Z), by pid and state; the browser's
    processes left out."""
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        stat = _stat(entry.name)
        if stat is not None and stat[1] in ("T", "Z") and _ours(stat[2]):
            found.add((int(entry.name), stat[1]))
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
        stat = _stat(pid)
        parent = _stat(stat[2]) if stat else None
        comm, ppid = (stat[0], stat[2]) if stat else ("?", "?")
        out.append(f"{pid} {comm} ({state}), child of {ppid} {parent[0] if parent else '?'}")
    return "; ".join(out)


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


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition()`` until it holds; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.002)


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


def status_lines(lines: dict[str, str] | None):
    """A /proc/PID/status record (``roads.capture.proc.Status``) made of ``lines`` by the
    real parser, the identity lines it needs filled in; None for None (a status that
    could not be read)."""
    from roads.capture.proc import parse_status

    if lines is None:
        return None
    lines = {"Name": "x", "State": "S (sleeping)", "Pid": "1", "PPid": "0", "Threads": "1",
             **lines}
    return parse_status("".join(f"{key}:\t{value}\n" for key, value in lines.items()))


# --------------------------------------------------------------------------- browser tests


@pytest.fixture(scope="session")
def site_build(tmp_path_factory):
    """The real site as published, built frozen once a run with a cache folder of its
    own (``tests.browser.build_site``): (folder, cache folder). Nothing writes into it:
    the browser tests read it, and tests/test_reproducible.py compares a second build
    with it. Under pytest-xdist the workers share one build, in the run's temporary
    folder (their own folders' parent): the first worker to need it builds it, holding
    a lock that any other waits on, and the others read it (a build keeps every core
    busy: each worker's build of its own was the same work twice, at the same time)."""
    from tests.browser import build_site

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        out = tmp_path_factory.mktemp("site")
        cache = tmp_path_factory.mktemp("site-cache")
        build_site(REPO, out, cache=cache)
        return out, cache
    run = tmp_path_factory.getbasetemp().parent
    out, cache, built = run / "site", run / "site-cache", run / "site.built"
    with open(run / "site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released as the file closes
        if not built.exists():
            for folder in (out, cache):  # what a worker's failed build left
                shutil.rmtree(folder, ignore_errors=True)
            build_site(REPO, out, cache=cache)
            built.touch()
    return out, cache


@pytest.fixture(scope="session")
def site(site_build):
    """The real site (``site_build``), built once for every browser test, served on
    localhost: (folder, base URL)."""
    from tests.browser import serve

    out, _ = site_build
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


def just_saved(path: Path) -> None:
    """Stamp ``path`` as saved just now, and so for the next few seconds however slowly
    the test runs: ahead of the clock by half ``cachedir.FUTURE_NS`` (a file stamped
    further ahead counts as another clock's, not as just saved)."""
    from roads.cachedir import FUTURE_NS

    ahead = time.time_ns() + FUTURE_NS // 2 + 1
    os.utime(path, ns=(ahead, ahead))


def saved_an_hour_ago(path: Path) -> int:
    """Stamp ``path`` as saved an hour ago, long enough for its stats to vouch for its
    bytes (``cachedir.racy``); the modification time given, in nanoseconds."""
    hour_ago = time.time_ns() - 3600 * 10**9
    os.utime(path, ns=(hour_ago, hour_ago))
    return hour_ago


def same_tick_rewrite(path: Path, text: str) -> None:
    """Write ``text`` (as long as the file's bytes) over ``path`` and give it back the
    modification time it had: as a second save within one tick of a coarse file clock
    leaves it (this machine's kernel stamps files finely; others do not)."""
    before = path.stat()
    assert len(text.encode()) == before.st_size
    path.write_text(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == \
        (before.st_size, before.st_mtime_ns, before.st_ino)


class FrozenClock:
    """``time.time_ns`` held still, moved on only by ``jump``: a file written during the
    test is stamped no earlier than the clock, so it counts as just saved
    (``roads.cachedir.racy``) until the clock jumps, in the middle of a read if the
    test says so, as a slow read on a busy machine would let it."""

    def __init__(self) -> None:
        self.now = time.time_ns()

    def __call__(self) -> int:
        return self.now

    def jump(self, ns: int) -> None:
        self.now += ns

    def after(self, function, ns: int):
        """``function``, the clock jumping ``ns`` once it has run (a slow step)."""
        def slow(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            finally:
                self.jump(ns)
        return slow


@pytest.fixture
def frozen_clock(monkeypatch) -> FrozenClock:
    clock = FrozenClock()
    monkeypatch.setattr(time, "time_ns", clock)
    return clock

