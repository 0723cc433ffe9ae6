"""Pages rendered ahead (macros/ahead.py) and figures drawn once (roads/figures/figcache.py).

Real forked processes, real pipes and locks: a cold build's workers render pages from
the last one down while the build renders from the first, each page once; a worker that
dies leaves its page to the build; a figure two processes want at once is drawn once.
The whole-build test (a cold build rendered ahead gives the bytes of one on one core)
is in tests/test_pagecache.py.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from macros import ahead
from roads.figures.figcache import FigureCache

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(ahead.cores() < 2, reason="one core: no worker is forked")


def pages(count: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(name=f"p{i}", file=SimpleNamespace(src_uri=f"p{i}.md"))
            for i in range(count)]


def rendered(log: Path) -> list[tuple[int, str]]:
    """(pid, page) for every rendering finished, in order."""
    if not log.exists():
        return []
    return [(int(pid), name) for pid, name in
            (line.split() for line in log.read_text().splitlines())]


def renderer(log: Path, die_on: str | None = None, pause: float = 0.02):
    parent = os.getpid()

    def render(page) -> None:
        if page.name == die_on and os.getpid() != parent:
            os._exit(3)  # a worker crashing in the middle of a page
        time.sleep(pause)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{os.getpid()} {page.name}\n".encode())
        finally:
            os.close(fd)

    return render


def build(todo: list, render, log: Path) -> list[str]:
    """What MkDocs does with the pages: each in turn, waiting for a worker that took it;
    a page a worker finished is found (the page cache), any other is rendered here."""
    found = []
    for page in todo:
        ahead.take(page)
        if page.name in {name for _, name in rendered(log)}:
            found.append(page.name)
        else:
            render(page)
    return found


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def in_a_process_of_its_own(scenario: str, tmp_path: Path) -> None:
    """Run ``scenario(tmp_path)`` in a new Python process: a build forks no worker while
    it runs threads, and this test session may (the browser's, a server's)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", f"import sys; from tests.test_ahead import {scenario}; "
         f"{scenario}(__import__('pathlib').Path(sys.argv[1]))", str(tmp_path)],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_workers_render_from_the_end_and_the_build_waits_for_what_they_took(tmp_path):
    in_a_process_of_its_own("workers_render_from_the_end", tmp_path)


def workers_render_from_the_end(tmp_path: Path) -> None:
    log = tmp_path / "rendered"
    todo = pages(max(12, 3 * ahead.cores()))  # more pages than workers: some left to the build
    render = renderer(log)
    try:
        assert ahead.fork(todo, render) == ahead.cores() - 1
        workers = list(ahead._state["workers"].values())
        found = build(todo, render, log)
    finally:
        ahead.finish()
    done = rendered(log)
    # Every page exactly once, the build's from the first, the workers' from the last.
    assert sorted(name for _, name in done) == sorted(p.name for p in todo)
    mine = [name for pid, name in done if pid == os.getpid()]
    theirs = [name for pid, name in done if pid != os.getpid()]
    assert mine and theirs, done
    assert mine == [p.name for p in todo[:len(mine)]]
    assert sorted(theirs, key=lambda n: -int(n[1:])) == [p.name for p in reversed(todo)][:len(theirs)]
    assert sorted(found) == sorted(theirs)  # each waited for, then found, not rendered again
    assert all(gone(pid) for pid in workers), "a worker outlived the build"
    assert ahead._state == {} or not ahead._state.get("workers")


def test_a_page_whose_worker_died_is_rendered_by_the_build(tmp_path):
    in_a_process_of_its_own("dead_worker", tmp_path)


def dead_worker(tmp_path: Path) -> None:
    log = tmp_path / "rendered"
    todo = pages(10)
    render = renderer(log, die_on="p8", pause=0.05)
    started = time.monotonic()
    try:
        assert ahead.fork(todo, render)
        build(todo, render, log)
    finally:
        ahead.finish()
    done = rendered(log)
    assert sorted(name for _, name in done) == sorted(p.name for p in todo)
    assert (os.getpid(), "p8") in done  # the worker died on it: the build rendered it
    assert time.monotonic() - started < ahead.WAIT / 10, "the build waited for a dead worker"
    # A worker that left after the page it died on leaves the rest to the build too.
    assert all(pid == os.getpid() for pid, name in done if int(name[1:]) < 8)


def test_no_worker_is_forked_under_threads_inside_a_worker_or_for_one_page(tmp_path):
    import threading

    called = []
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert ahead.fork(pages(4), renderer(tmp_path / "log"), before=lambda: called.append(1)) == 0
    finally:
        stop.set()
        thread.join()
    assert ahead.fork(pages(1), renderer(tmp_path / "log"), before=lambda: called.append(1)) == 0
    ahead._state["worker"] = True
    try:
        assert ahead.fork(pages(4), renderer(tmp_path / "log"), before=lambda: called.append(1)) == 0
    finally:
        ahead._state.pop("worker")
    assert not (tmp_path / "log").exists()
    assert called == [], "what is loaded for workers is not loaded when there are none"


def test_what_the_build_loads_before_forking_the_workers_have(tmp_path):
    in_a_process_of_its_own("loaded_before_forking", tmp_path)


def loaded_before_forking(tmp_path: Path) -> None:
    loaded = []
    log, seen = tmp_path / "rendered", tmp_path / "seen"
    draw = renderer(log)

    def render(page) -> None:
        with open(seen, "a") as f:
            f.write(f"{len(loaded)}\n")
        draw(page)

    todo = pages(8)
    try:
        assert ahead.fork(todo, render, before=lambda: loaded.append(os.getpid())) >= 1
        build(todo, render, log)
    finally:
        ahead.finish()
    assert loaded == [os.getpid()], "called once, in the build, before forking"
    assert any(pid != os.getpid() for pid, _ in rendered(log)), "a worker rendered a page"
    assert set(seen.read_text().split()) == {"1"}, "every process had it loaded"


def test_a_build_forks_its_workers_after_preloading_the_figures_and_the_claims(tmp_path,
                                                                             monkeypatch):
    """``ahead.start`` (the build's ``on_nav``) hands ``fork`` every page, and, to run
    before forking, the preloads of the figure code and of the claims: what the
    workers would otherwise each load again."""
    from macros import claims, figures, project

    forked, loaded = {}, []
    monkeypatch.setattr(ahead, "fork", lambda todo, render, before=None: forked.update(
        todo=todo, before=before) or 0)
    monkeypatch.setattr(ahead, "_mark", lambda config: tmp_path / "never-filled")
    monkeypatch.setattr(project, "current", lambda: SimpleNamespace(mode="auto"))
    monkeypatch.setattr(figures, "preload", lambda: loaded.append("figures"))
    monkeypatch.setattr(claims, "preload", lambda: loaded.append("claims"))
    todo = pages(3)
    files = SimpleNamespace(documentation_pages=lambda: [SimpleNamespace(page=p) for p in todo])
    ahead.start(config=None, files=files)
    assert forked["todo"] == todo and loaded == []
    forked["before"]()
    assert loaded == ["figures", "claims"]


def test_preload_leaves_a_module_that_cannot_be_imported_to_its_macro(monkeypatch):
    import sys

    from macros import figures

    monkeypatch.setattr(figures, "DRAWING", ("roads.figures.no_such_module", "roads.figures.table"))
    figures.preload()  # no error here: the macro that imports it names its page and line
    assert "roads.figures.table" in sys.modules


def _want_figure(directory: str, log: str, start: multiprocessing.synchronize.Event,
                 out: multiprocessing.Queue) -> None:
    def make() -> str:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(0.3)
        return "<svg>drawn once</svg>"

    cache = FigureCache(Path(directory), "code")
    start.wait(10)
    out.put(cache.get_key("k" * 64, make))


def test_a_figure_two_processes_want_at_once_is_drawn_once(tmp_path):
    context = multiprocessing.get_context("fork")
    start, out = context.Event(), context.Queue()
    log = tmp_path / "made"
    workers = [context.Process(target=_want_figure, args=(str(tmp_path / "figures"), str(log),
                                                          start, out)) for _ in range(3)]
    for w in workers:
        w.start()
    start.set()
    got = [out.get(timeout=30) for _ in workers]
    for w in workers:
        w.join(10)
    assert got == ["<svg>drawn once</svg>"] * 3
    assert len(log.read_text().splitlines()) == 1
    # The figure, and the folder's one lock file: no file an entry.
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [".locks", "k" * 64 + ".html"]


def test_preload_imports_every_module_the_figure_macros_draw_with():
    """The workers share what the build loaded before forking them (``before``):
    ``macros.figures.DRAWING`` names every engine module a figure macro imports, and
    ``preload`` imports them all."""
    import ast
    import importlib.util
    import subprocess
    import sys

    from macros import figures

    wanted = set()
    for function in ast.walk(ast.parse(Path(figures.__file__).read_text())):
        if not isinstance(function, ast.FunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.startswith("roads"):
                wanted.add(node.module)
                package = importlib.util.find_spec(node.module).submodule_search_locations
                wanted.update(f"{node.module}.{a.name}" for a in node.names
                              if package and importlib.util.find_spec(f"{node.module}.{a.name}"))
    assert wanted <= set(figures.DRAWING), sorted(wanted - set(figures.DRAWING))
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys; from macros import figures; figures.preload(); "
         "print(*sorted(sys.modules), sep='\\n')"],
        cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert set(figures.DRAWING) <= set(loaded)


def test_preload_leaves_the_c_lexers_rules_compiled_and_the_claims_parsed():
    """What every process rendering pages needs and would otherwise make on its own: the
    C lexer's rules (Pygments compiles them for the first lexer made) and the claims."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "from pygments.lexers.c_cpp import CLexer; "
         "from macros import claims, figures; before = '_tokens' in CLexer.__dict__; "
         "figures.preload(); claims.preload(); "
         "print(before, '_tokens' in CLexer.__dict__, [len(c) for _, c in claims._LOADED.values()])"],
        cwd=REPO, capture_output=True, text=True, check=True)
    before, after, claims = done.stdout.split(maxsplit=2)
    assert (before, after) == ("False", "True")
    assert claims.strip().strip("[]").isdigit() and int(claims.strip().strip("[]")) > 100, claims


def test_a_helper_runs_beside_the_build_and_is_ended_and_reaped(tmp_path):
    in_a_process_of_its_own("helper_ended_and_reaped", tmp_path)


def helper_ended_and_reaped(tmp_path: Path) -> None:
    done, part = tmp_path / "done", tmp_path / "done.part"
    # Written whole (renamed into place): the file could otherwise be seen before its text.
    pid = ahead.helper(lambda: (part.write_text(str(os.getpid())), os.replace(part, done)))
    assert pid is not None and pid != os.getpid()
    deadline = time.monotonic() + 30
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert done.read_text() == str(pid)
    ahead.settle()
    assert gone(pid), "a finished helper was left unreaped"
    # One that is still at work when the build needs its cache is ended, then reaped.
    slow = ahead.helper(lambda: time.sleep(60))
    started = time.monotonic()
    ahead.settle()
    assert gone(slow) and time.monotonic() - started < 5
    assert "helpers" not in ahead._state
    # And abandon (the build failing) ends them too.
    again = ahead.helper(lambda: time.sleep(60))
    ahead.abandon()
    assert gone(again)


def test_no_helper_under_threads_in_a_worker_or_on_one_core(tmp_path, monkeypatch):
    import threading

    ran = tmp_path / "ran"
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert ahead.helper(ran.touch) is None
    finally:
        stop.set()
        thread.join()
    if threading.active_count() == 1:
        monkeypatch.setattr(ahead, "cores", lambda: 1)
        assert ahead.helper(ran.touch) is None
        monkeypatch.undo()
        ahead._state["worker"] = True
        try:
            assert ahead.helper(ran.touch) is None
        finally:
            ahead._state.pop("worker")
    assert not ran.exists()


def test_a_helper_ends_the_programs_it_kept_running(tmp_path):
    in_a_process_of_its_own("helper_ends_its_programs", tmp_path)


def helper_ends_its_programs(tmp_path: Path) -> None:
    from roads import coprocess

    said = tmp_path / "pid"
    pid = ahead.helper(lambda: said.write_text(coprocess.ask(
        ["sh", "-c", 'while read -r l; do echo "$$"; done'], "x\n",
        done=lambda out: out.endswith(b"\n")).stdout))
    _, status = os.waitpid(pid, 0)  # it exits with os._exit, which skips atexit
    ahead._state["helpers"].discard(pid)
    assert os.waitstatus_to_exitcode(status) == 0
    assert gone(int(said.read_text())), "the helper's program outlived it"


# -- the pages' HTML, built ahead ----------------------------------------------------


def html_scenario(tmp_path: Path, *, warn_on: str | None = None, die_on: str | None = None,
                  say_on: str | None = None, python_warning_on: str | None = None,
                  print_on: str | None = None, aside_on: str | None = None,
                  debug_on: str | None = None, fresh_on: str | None = None,
                  traceback_on: str | None = None, unpicklable_on: str | None = None,
                  known: bool = True, same_file: bool = False,
                  after_on_env: bool = True, told: list | None = None,
                  worker_first: str | None = None) -> tuple[list, list, list]:
    """MkDocs' loop over the pages' HTML (``_build_page`` for each in turn) with the
    wrapper ``ahead.install`` puts in its place, over a stand-in for MkDocs' function
    that logs who built each page and adds two search entries for it: (who built what,
    in order; the search index's entries; the workers forked). ``told`` gets, in order,
    each page's turn in the build ("turn p3") and what the build's own logging handed on
    ("told DEBUG Building page p9"). The ``*_on`` arguments name the page whose building
    in the worker does that (logs a warning, a line of ``-v``...). With ``worker_first``,
    the build starts its first page once a worker has built that one: on a loaded
    machine a worker forked late found the build there first, and a test that the
    worker built it failed for the machine's sake."""
    import logging
    from unittest import mock

    from mkdocs.commands import build as mkdocs_build

    search = SimpleNamespace(entries=[])
    def handler(self, *args, **kwargs):
        return None

    searcher = type("SearchPlugin", (), {"__module__": ahead._SEARCH,
                                         "on_page_context": handler})()
    searcher.search_index = search
    stranger = type("PrintPage", (), {"__module__": "someone.elses.plugin",
                                      "on_post_page": handler})()
    events = {"page_context": [searcher.on_page_context],
              "post_page": [] if known else [stranger.on_post_page]}
    config = SimpleNamespace(plugins=SimpleNamespace(events=events, values=lambda: [searcher]))
    todo = pages(10)
    for page in todo:
        page.file.inclusion = SimpleNamespace(is_excluded=lambda: False)
        page.content = f"<p>{page.name}</p>"
    doc_files = [SimpleNamespace(page=page, abs_dest_path=str(tmp_path / f"{page.name}.html"))
                 for page in todo]
    if same_file:  # p3 and p7 write one file (foo.md and foo/index.md)
        doc_files[7].abs_dest_path = doc_files[3].abs_dest_path
    log = tmp_path / "built"
    parent = os.getpid()

    def mkdocs_own(page, config, doc_files, nav, env, dirty=False, excluded=False):
        here = os.getpid() != parent
        if not here and worker_first and page is todo[0]:
            deadline = time.monotonic() + 30
            while (worker_first, True) not in {(name, pid != parent) for pid, name in rendered(log)}:
                assert time.monotonic() < deadline, f"no worker built {worker_first} in 30 s"
                time.sleep(0.01)
        if here and page.name == die_on:
            os._exit(3)
        if here and page.name == warn_on:
            logging.getLogger("mkdocs.plugins.test").warning("a warning in the worker")
        if here and page.name == say_on:
            logging.getLogger("mkdocs.commands.build").info("Page skipped: empty output")
        if here and page.name == print_on:
            print("a line on the standard output, in the worker")
        if here and page.name == aside_on:  # a logger the page sets up for itself
            aside = logging.getLogger("mkdocs.plugins.aside")
            aside.propagate = False
            aside.addHandler(logging.NullHandler())
            aside.debug("said aside")
        if here and page.name == debug_on:  # a line of -v, its arguments kept
            building.debug("Building page %s", page.name)
        if here and page.name == fresh_on:  # a module's logger named while the page builds
            logging.getLogger("mkdocs.plugins.fresh").debug("first word of %s", page.name)
        if here and page.name == traceback_on:
            try:
                raise ValueError("in the worker")
            except ValueError:
                building.debug("with its traceback", exc_info=True)
        if here and page.name == unpicklable_on:
            building.debug("an argument that cannot be pickled: %s", lambda: None)
        if here and page.name == python_warning_on:
            import warnings

            warnings.warn("a Python warning, in the worker", UserWarning, stacklevel=1)
        time.sleep(0.02)
        search.entries.extend([{"location": page.name, "n": 1}, {"location": page.name, "n": 2}])
        page.content = page.content.replace("<p>", "<p class=built>")  # as Material's search does
        with open(log, "a") as out:
            out.write(f"{os.getpid()} {page.name}\n")

    logging.getLogger("mkdocs").setLevel(logging.DEBUG)  # as mkdocs build -v sets it
    told = told if told is not None else []

    class Told(logging.Handler):
        def emit(self, record):
            told.append(f"told {record.levelname} {record.getMessage()}")

    hearing = Told()
    logging.getLogger("mkdocs").addHandler(hearing)
    building = logging.getLogger("mkdocs.commands.build")
    forked: list = []
    real_fork = ahead.fork

    def fork(*args, **kwargs):
        count = real_fork(*args, **kwargs)
        forked.extend(ahead._state.get("workers", {}).values())
        return count

    with mock.patch.object(mkdocs_build, "_build_page", mkdocs_own), \
            mock.patch.object(ahead, "fork", fork):
        ahead.install()
        if after_on_env:
            ahead.html_next()  # the hooks' on_env: MkDocs' own loop comes next
        try:
            for file in doc_files:  # as mkdocs.commands.build.build does
                told.append(f"turn {file.page.name}")
                mkdocs_build._build_page(file.page, config, doc_files, None, None, False,
                                         excluded=False)
        finally:
            ahead.finish()
            logging.getLogger("mkdocs").removeHandler(hearing)
            logging.getLogger("mkdocs").setLevel(logging.INFO)
    assert [page.content for page in todo] == [f"<p class=built>p{i}</p>" for i in range(10)]
    return rendered(log), search.entries, forked


def test_a_worker_builds_pages_html_from_the_end_and_brings_their_search_entries(tmp_path):
    in_a_process_of_its_own("html_ahead", tmp_path)


def html_ahead(tmp_path: Path) -> None:
    done, entries, forked = html_scenario(tmp_path)
    assert forked, "no worker was forked"
    names = [f"p{i}" for i in range(10)]
    assert sorted(name for _, name in done) == sorted(names)  # each page once
    mine = [name for pid, name in done if pid == os.getpid()]
    theirs = [name for pid, name in done if pid != os.getpid()]
    assert mine and theirs, done
    assert mine == names[:len(mine)] and theirs == names[::-1][:len(theirs)]
    # The search index is the one a build on one core makes: every page's, in its turn.
    assert entries == [{"location": n, "n": k} for n in names for k in (1, 2)]
    assert all(gone(pid) for pid in forked), "a worker outlived the pages"


def test_a_page_whose_building_printed_or_killed_its_worker_is_built_by_the_build(tmp_path):
    in_a_process_of_its_own("html_ahead_troubles", tmp_path)


def html_ahead_troubles(tmp_path: Path) -> None:
    names = [f"p{i}" for i in range(10)]
    expected = [{"location": n, "n": k} for n in names for k in (1, 2)]
    for trouble in ("die_on", "python_warning_on", "print_on", "warn_on", "say_on",
                    "aside_on", "traceback_on", "unpicklable_on"):
        folder = tmp_path / trouble
        folder.mkdir()
        done, entries, forked = html_scenario(folder, worker_first="p9", **{trouble: "p8"})
        assert forked
        # p9 was the worker's; p8 made it print, raise a Python warning, log a warning
        # or an INFO line, a line to a logger it set up for itself, with a traceback or
        # that cannot be pickled (it built it, then left) or die: the build built p8,
        # and every page below it, itself (and said what it says), and the index and
        # the pages' content are whole.
        assert (os.getpid(), "p8") in done, (trouble, done)
        assert [pid == os.getpid() for pid, name in done if name == "p9"] == [False]
        assert all(pid == os.getpid() for pid, name in done if int(name[1:]) < 8)
        assert entries == expected, trouble
        assert all(gone(pid) for pid in forked)


def test_what_a_pages_building_logged_in_a_worker_is_told_in_its_turn(tmp_path):
    in_a_process_of_its_own("html_ahead_told", tmp_path)


def html_ahead_told(tmp_path: Path) -> None:
    names = [f"p{i}" for i in range(10)]
    expected = [{"location": n, "n": k} for n in names for k in (1, 2)]
    said = {"debug_on": "told DEBUG Building page p9",
            "fresh_on": "told DEBUG first word of p9"}  # to a logger made while p9 built
    for trouble, line in said.items():
        folder = tmp_path / trouble
        folder.mkdir()
        told: list = []
        done, entries, forked = html_scenario(folder, told=told, **{trouble: "p9"})
        assert forked
        # The worker built p9 and went on; what p9's building logged there reaches the
        # build's loggers once, in p9's turn, as a build on one core would have logged it.
        assert [pid != os.getpid() for pid, name in done if name in ("p9", "p8")] == [True, True]
        assert told.count(line) == 1, (trouble, told)
        assert told[told.index(line) - 1] == "turn p9", (trouble, told)
        assert [t for t in told if t.startswith("told") and "ahead" not in t] == [line], told
        # Under -v the build says how much the worker did.
        summary = [re.fullmatch(r"told DEBUG (\d+) page\(s\)' HTML built ahead by the worker, "
                                r"with 1 record\(s\) it logged", t) for t in told]
        assert [int(m.group(1)) >= 1 for m in summary if m] == [True], told
        assert entries == expected, trouble
        assert all(gone(pid) for pid in forked)


def test_pages_html_is_built_in_mkdocs_order_when_it_may_not_be_built_ahead(tmp_path):
    in_a_process_of_its_own("html_not_ahead", tmp_path)


def html_not_ahead(tmp_path: Path) -> None:
    in_order = [(os.getpid(), f"p{i}") for i in range(10)]
    expected = [{"location": f"p{i}", "n": k} for i in range(10) for k in (1, 2)]
    # Another plugin handles the page; two pages write one file (MkDocs writes the later
    # last); the pages are built by someone else than MkDocs' loop after on_env.
    for case in ({"known": False}, {"same_file": True}, {"after_on_env": False}):
        folder = tmp_path / next(iter(case))
        folder.mkdir()
        done, entries, forked = html_scenario(folder, **case)
        assert forked == [], case
        assert done == in_order, case
        assert entries == expected, case


def test_the_sites_page_handlers_are_known_and_the_print_pages_are_not():
    from mkdocs.config import load_config

    assert ahead._themable(load_config(str(REPO / "mkdocs.yml")))
    assert not ahead._themable(load_config(str(REPO / "mkdocs-publish.yml")))
