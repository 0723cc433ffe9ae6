"""roads explain (issue 15): the Done-when commands, regions against /proc/PID/maps of
the same stop, the failure cases (a clear error, nothing written, no process left), and
the page in a browser at 390 px and 1280 px in both palettes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from roads import cli
from roads.errors import ExplainError
from roads.explain import session as session_mod
from tests.conftest import wait_for
from tests.explain_support import page_text

pytestmark = [pytest.mark.dot]

FORKY = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    char *small = malloc(64);
    char *big = malloc(1 << 20);
    strcpy(small, "hello");
    memset(big, 1, 1 << 20);
    pid_t child = fork();
    if (child == 0) {
        small[0] = 'H';
        exit(0);
    }
    waitpid(child, NULL, 0);
    printf("%s %d\n", small, big[5]);
    free(big);
    free(small);
    return 0;
}
"""

CRASH = "int main(void) { volatile int *p = 0; return *p; }\n"


def _maps(pid: int) -> list[tuple[int, int, str, int, str]]:
    out = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(None, 5)
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        out.append((lo, hi, parts[1], int(parts[2], 16), parts[5] if len(parts) > 5 else ""))
    return out


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A project root of its own: the launcher is built into its .cache."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    return tmp_path_factory.mktemp("explain-root")


def explain(root: Path, *args: str) -> int:
    return cli.main(["--root", str(root), "explain", *args])


def explain_apart(root: Path, cwd: Path, args: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    """``roads explain ARGS`` in a process of its own, run from ``cwd`` (a hang cannot
    take the test process with it): how it ended, and how long it took."""
    script = ("import sys\nfrom roads import cli\n"
              f"sys.exit(cli.main(['--root', {str(root)!r}, 'explain', *{args!r}]))\n")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    return done, time.monotonic() - started


@pytest.fixture(scope="module")
def pages(root, tmp_path_factory):
    """The two Done-when pages, made once by the command (in the sandbox)."""
    folder = tmp_path_factory.mktemp("explain")
    (folder / "forky.c").write_text(FORKY)
    cwd = os.getcwd()
    try:
        os.chdir(folder)
        assert explain(root, "--at", "main", "--at", "exit", "--out", "true.html", "--",
                       "/bin/true") == 0
        assert explain(root, "--follow-fork", "--at", "main", "--at", "malloc:2", "--at", "exit",
                       "--out", "forky.html", "--", "forky.c") == 0
    finally:
        os.chdir(cwd)
    return folder


@pytest.fixture(scope="module")
def stops(tmp_path_factory):
    """/bin/true and the forked program traced here (no sandbox: this process reads
    /proc/PID/maps itself at each stop, beside the capture)."""
    folder = tmp_path_factory.mktemp("explain-maps")
    (folder / "forky.c").write_text(FORKY)
    seen: list[tuple[str, int, list, dict]] = []
    real = session_mod._checkpoint

    def checkpoint(hit, seq, proc):
        maps = _maps(hit.pid)
        doc = real(hit, seq, proc)
        seen.append((hit.label, hit.pid, maps, doc))
        return doc

    session_mod._checkpoint = checkpoint
    try:
        session_mod.explain_program(["/bin/true"], ["main", "exit"])
        session_mod.explain_program([str(folder / "forky.c")], ["main", "malloc:2", "exit"],
                                    follow_fork=True)
    finally:
        session_mod._checkpoint = real
    return seen


def test_pages_are_written_and_self_contained(pages):
    folder = pages
    for name in ("true.html", "forky.html"):
        text = (folder / name).read_text()
        assert text.startswith("<!DOCTYPE html>")
        # Nothing fetched: no external stylesheet, script, image or font.
        assert "<link" not in text and "src=" not in text and "@import" not in text
        assert "http://" not in text.replace("http://www.w3.org/", "")
        assert "https://" not in text
    assert not list(folder.glob(".*"))  # no half-written page left (write_atomic's partials are hidden)


def test_pages_speak_of_the_program_and_its_stops(pages):
    """The captions of an explained program said "sample", "checkpoint" and the variant
    "(default)", the site's words for its own demos: a learner's page says "program"
    (or "library") and "stop"."""
    import re

    import lxml.html

    for name, program in (("true.html", "true"), ("forky.html", "forky")):
        root = lxml.html.fromstring((pages / name).read_bytes())
        for style in root.iter("style"):
            style.drop_tree()
        words = re.sub(r"\s+", " ", root.text_content())
        assert "checkpoint" not in words and "(default)" not in words, name
        assert not re.search(r"\bsample\b", words), name
        assert f"program {program}, stop" in words and f"{program}, stop 'main'" in words, name
        assert "library libc.so.6, stop" in words, name


def test_a_librarys_elf_figure_names_its_regions_the_librarys(pages):
    """ELF → memory of libc: its segments and regions are library code and data, not
    "program code" (its regions were read as the program's)."""
    text = (pages / "true.html").read_text()
    start = text.index("ELF → memory of <code>/usr/lib/x86_64-linux-gnu/libc.so.6")
    libc = text[start:text.index("ELF → memory of", start + 1)]
    assert "library code: PT_LOAD" in libc and "library read-only data: PT_LOAD" in libc
    assert "program code" not in libc and "program data" not in libc
    assert "program code: PT_LOAD" in text[:start]  # true's own figure, before it


def test_stops_of_true_and_the_forked_program(stops):
    seen = stops
    labels = [s[0] for s in seen]
    assert labels[:2] == ["main", "exit"]  # /bin/true: stripped, main found all the same
    rest = labels[2:]
    assert rest[:2] == ["main", "malloc:2"] and sorted(rest[2:]) == ["exit", "exit"]
    pids = {s[1] for s in seen[2:] if s[0] == "exit"}
    assert len(pids) == 2  # the parent and the followed child, each at its exit
    # At main the pc is main's first instruction, in the executable's code.
    main = seen[0][3]
    pc = dict((a["name"], a["value"]) for a in main["addresses"])["pc"]
    region = next(r for r in main["regions"] if r["start"] <= pc < r["end"])
    assert region["pathname"] == os.path.realpath("/bin/true") and "x" in region["perms"]


def test_regions_match_proc_maps_of_the_same_stop(stops):
    seen = stops
    for label, pid, maps, doc in seen:
        got = [(r["start"], r["end"], r["perms"], r["offset"], r["pathname"]) for r in doc["regions"]]
        assert got == maps, f"{label} (pid {pid})"


def test_aslr_is_off_and_the_heap_grows(stops):
    seen = stops
    for _, _, _, doc in seen:
        assert doc["personality"] & 0x0040000
    forky = [s for s in seen[2:]]
    heap = {s[0]: [r for r in s[3]["regions"] if r["pathname"] == "[heap]"] for s in forky[:2]}
    assert heap["malloc:2"], "the first malloc made the heap"


def test_failures_are_clear_and_leave_nothing(root, tmp_path, capsys, no_leftovers, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cases = [
        (["--", str(tmp_path / "missing")], "no such program"),
        (["--at", "nosuchfunc", "--", "/bin/true"], "no function 'nosuchfunc'"),
        # One function spelled two ways: known to be one only once resolved.
        (["--at", "malloc", "--at", "malloc@@GLIBC_2.2.5", "--", "/bin/true"],
         "--at malloc and --at malloc@@GLIBC_2.2.5 name one function, 'malloc' in "
         "libc.so.6: the same stop; give it once"),
        (["--at", "strlen", "--", "/bin/true"], "'strlen' in libc.so.6 is an ifunc"),
        (["--at", "malloc:100000", "--", "/bin/true"], "nothing was captured"),
        (["--at", "syscall:kill", "--deadline", "1", "--", "sleep", "5"], "within 1 s"),
        (["--at", "nowhere::", "--", "/bin/true"], "give main"),
        (["--at", "syscall:exit_group", "--", "/bin/true"], "exit_group does not return; stop "
         "at its end with --at exit"),
        # glibc's fork() makes the clone system call: a stop at fork is never reached.
        (["--no-sandbox", "--at", "syscall:fork", "--", "./fork.c"],
         "syscall:fork: the C library's fork() makes the clone system call: --at "
         "syscall:clone)"),
    ]
    (tmp_path / "fork.c").write_text("#include <unistd.h>\n"
                                     "int main(void) { if (fork() == 0) _exit(0); return 0; }\n")
    for args, words in cases:
        started = time.monotonic()
        assert explain(root, *args) == 1, args
        assert words in capsys.readouterr().err, args
        assert time.monotonic() - started < 10
    (tmp_path / "fork.c").unlink()
    assert list(tmp_path.iterdir()) == []


def test_a_program_that_crashes_first_still_gets_its_page(root, tmp_path, capsys, no_leftovers,
                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "crash.c").write_text(CRASH)
    assert explain(root, "--at", "main", "--at", "syscall:kill", "--out", "crash.html", "--",
                   "crash.c") == 3
    assert "was killed by SIGSEGV before reaching syscall:kill" in capsys.readouterr().err
    text = (tmp_path / "crash.html").read_text()
    assert "Not reached" in text and "was killed by SIGSEGV" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crash.c", "crash.html"]


def test_an_out_or_save_that_cannot_be_a_file_is_refused_before_the_run(root, tmp_path, capsys,
                                                                        monkeypatch):
    """--out . or a folder, --save under a file: told at once, nothing run (they were
    tracebacks once the run had ended)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain").write_text("")
    for option, given, words in (("--out", ".", "names a folder"),
                                 ("--out", "folder", "is a folder"),
                                 ("--save", "folder", "is a folder"),
                                 ("--out", "plain/x.html", "plain is not a folder")):
        assert explain(root, option, given, "--", "/no/such/program") == 2
        err = capsys.readouterr().err
        assert f"roads: error: {option} {given}: " in err and words in err, err
        assert "Traceback" not in err


def test_pid_vanished_unreadable_and_read(root, tmp_path, capsys, no_leftovers, monkeypatch):
    monkeypatch.chdir(tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert explain(root, "--pid", str(gone.pid)) == 1
    assert f"no process {gone.pid}" in capsys.readouterr().err
    # Ended, not yet reaped: no memory to read (it was said not to be ours).
    zombie = subprocess.Popen(["true"])
    wait_for(lambda: Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1]
             .split()[0] == "Z", "true to end")
    try:
        assert explain(root, "--pid", str(zombie.pid)) == 1
        assert f"process {zombie.pid} has ended (a zombie" in capsys.readouterr().err
    finally:
        zombie.wait()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert explain(root, "--pid", str(sleeper.pid), "--out", "pid.html") == 0
        # Read and let go: still running, not stopped.
        state = Path(f"/proc/{sleeper.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        assert state in "SR"
        assert "roads explain --pid" in page_text((tmp_path / "pid.html").read_text())
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pid.html"]


AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
CHECKOUT = Path(__file__).resolve().parent.parent


def test_another_users_process_may_not_be_traced(no_leftovers):
    """Run by another user (nobody), ``--pid`` of root's process is refused, and says why."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv (util-linux) to become another user")
    # Which roads that user imports: where it cannot read this checkout, Python goes on
    # to any other it finds (an editable install's), which is not the code under test.
    probe = subprocess.run([*AS_NOBODY, sys.executable, "-c",
                            "import roads.cli; print(roads.cli.__file__)"],
                           capture_output=True, text=True, timeout=60, cwd=CHECKOUT)
    found = Path(probe.stdout.strip()).resolve() if probe.returncode == 0 else None
    if found is None or not found.is_relative_to(CHECKOUT):
        # A checkout or a Python under a folder closed to others (/root, mode 700).
        pytest.skip(f"uid 65534 cannot run {sys.executable} with this checkout's roads: "
                    + (f"it imports {found}" if found else
                       (probe.stderr.strip().splitlines() or ["no reason given"])[-1]))
    out = Path(tempfile.mkdtemp(prefix="roads-nobody-"))  # where that user may write
    out.chmod(0o777)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        done = subprocess.run([*AS_NOBODY, sys.executable, "-m", "roads.cli", "explain", "--pid",
                               str(sleeper.pid), "--out", str(out / "no.html")],
                              capture_output=True, text=True, timeout=60, cwd=CHECKOUT)
        assert done.returncode == 1 and "may not trace" in done.stderr, done.stderr
        state = Path(f"/proc/{sleeper.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        assert state in "SR"
        assert list(out.iterdir()) == []
    finally:
        sleeper.kill()
        sleeper.wait()
        shutil.rmtree(out)


@pytest.mark.browser
@pytest.mark.slow
def test_the_pages_in_a_browser(pages, browser):
    """Every figure there and legible on a phone and a desktop, in both palettes."""
    from tests.browser import DESKTOP, PHONE

    folder = pages
    expected = {"true.html": (2, 1), "forky.html": (4, 3)}  # (stops, diffs)
    backgrounds = set()
    for viewport in (PHONE, DESKTOP):
        context = browser.new_context(viewport=viewport)
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            for name, (stops, diffs) in expected.items():
                page.goto((folder / name).as_uri())
                # The page follows the reader's preference, also when it changes.
                for scheme in ("light", "dark"):
                    page.emulate_media(color_scheme=scheme)
                    want = "slate" if scheme == "dark" else "default"
                    page.wait_for_function(f"document.body.dataset.mdColorScheme === '{want}'",
                                           timeout=5000)
                    found = page.evaluate("""() => ({
                      scheme: document.body.dataset.mdColorScheme,
                      bg: getComputedStyle(document.body).backgroundColor,
                      wide: document.documentElement.scrollWidth,
                      vas: document.querySelectorAll('figure.roads-vas-figure').length,
                      tables: document.querySelectorAll('.roads-map-details table').length,
                      elf: document.querySelectorAll('figure.roads-elf-figure').length,
                      diffs: document.querySelectorAll('#changes ~ figure, #changes ~ * figure').length,
                      prov: document.querySelectorAll('.roads-provenance').length,
                      svgWidth: Math.min(...[...document.querySelectorAll('figure.roads-vas-figure svg')]
                                 .map(s => s.getBoundingClientRect().width).filter(w => w > 0)),
                      smallest: Math.min(...[...document.querySelectorAll('figure.roads-vas-figure svg text')]
                                 .map(t => t.getBoundingClientRect().height).filter(h => h > 0)),
                      elfShown: [...document.querySelectorAll('figure.roads-elf-figure')].some(
                                 f => [...f.children].some(c => c.getBoundingClientRect().height > 50)),
                      options: [...document.querySelectorAll('.roads-explain-facts .roads-option')]
                                 .map(o => o.getClientRects().length),
                    })""")
                    where = f"{name} at {viewport['width']} px, {scheme}"
                    assert found["scheme"] == ("slate" if scheme == "dark" else "default"), where
                    assert found["wide"] <= viewport["width"], where  # nothing sideways
                    assert found["vas"] == stops and found["tables"] == stops, where
                    assert found["elf"] >= 1 and found["elfShown"], where
                    assert found["diffs"] >= diffs, where
                    assert found["prov"] >= stops + 1 + diffs, where
                    # Legible: the diagram shown keeps a readable width (on a phone its
                    # narrow drawing, 351 px wide, at the size it is drawn) and its
                    # smallest text stays at least 8 px high.
                    assert found["svgWidth"] >= min(500, viewport["width"] - 60), where
                    assert found["smallest"] >= 8, where
                    # The command's options (--at, --out) each stay on one line: a phone
                    # broke '--at' after its first hyphen.
                    assert found["options"] and set(found["options"]) == {1}, where
                    backgrounds.add(found["bg"])
            assert not errors
        finally:
            context.close()
    assert len(backgrounds) == 2  # light and dark differ


# The part an element is in (readout.js's partOf): its nearest SVG element with a <title>
# first, and its words.
PART_WORDS = """e => { for (; e && e.nodeType === 1; e = e.parentNode)
  if (e.ownerSVGElement && e.firstElementChild && e.firstElementChild.localName === 'title')
    return e.firstElementChild.textContent.trim(); return null }"""


@pytest.mark.browser
@pytest.mark.slow
def test_the_pages_figures_speak_and_open_full_screen(pages, browser):
    """The page, opened from its file with nothing fetched, runs the site's own scripts
    for its figures (it ran none: its readouts stayed hidden, a box's words reached only
    by a resting pointer): a box of a stop's diagram focused shows its words in the
    figure's readout, the next box the down arrow key reaches its own, the drawing one
    Tab stop; "Open full screen" opens the figure in the dialog, whose line says the box
    Tab focuses there (the one focused last); Escape closes it,
    the focus back on the button. On a phone in the dark palette, on a desktop in the
    light one."""
    from tests.browser import DESKTOP, PHONE

    artifacts = Path(__file__).resolve().parent / "artifacts"
    for viewport, scheme in ((PHONE, "dark"), (DESKTOP, "light")):
        context = browser.new_context(viewport=viewport, color_scheme=scheme)
        try:
            page = context.new_page()
            errors: list[str] = []
            fetched: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: fetched.append(r.url))
            page.goto((pages / "true.html").as_uri())
            figure = page.locator("figure.roads-vas-figure").first
            readout = figure.locator(".roads-readout")
            assert readout.is_visible() and "Tab to the drawing" in readout.inner_text()
            boxes = figure.locator("svg:visible g.node a")
            assert boxes.count() > 5
            boxes.first.focus()
            first = page.evaluate(f"({PART_WORDS})(document.activeElement)")
            assert first and readout.inner_text() == first
            page.keyboard.press("ArrowDown")
            second = page.evaluate(f"({PART_WORDS})(document.activeElement)")
            assert second and second != first and readout.inner_text() == second
            page.keyboard.press("Tab")  # out of the drawing, at once
            assert page.evaluate(f"({PART_WORDS})(document.activeElement)") is None
            button = page.locator(".roads-zoomable:has(figure.roads-vas-figure) .roads-zoom-open").first
            assert button.is_visible()
            button.click()
            dialog = page.locator("dialog.roads-zoom-dialog[open]")
            dialog.wait_for()
            page.keyboard.press("Tab")  # from Close to the drawing: the box focused last
            words = page.evaluate(f"({PART_WORDS})(document.activeElement)")
            assert words == second
            line = dialog.locator(".roads-zoom-readout")
            assert words and line.is_visible() and line.inner_text() == words
            artifacts.mkdir(exist_ok=True)
            page.screenshot(path=str(artifacts / f"explain-full-screen-{viewport['width']}-{scheme}.png"))
            page.keyboard.press("Escape")
            page.wait_for_selector("dialog.roads-zoom-dialog:not([open])", state="attached")
            assert button.evaluate("b => b === document.activeElement")
            figure.locator("svg:visible g.node a").nth(2).focus()
            figure.screenshot(path=str(artifacts / f"explain-readout-{viewport['width']}-{scheme}.png"))
            assert not errors, errors
            assert all(url.startswith(("file:", "data:")) for url in fetched), fetched
        finally:
            context.close()


@pytest.mark.browser
def test_the_worked_example_on_the_site(site, browser):
    """Explore your own program: its figures, drawn from the document roads explain
    saved, on a phone and a desktop in both palettes."""
    from tests.browser import DESKTOP, PHONE, open_page, quiet

    _, base = site
    for viewport, scheme in ((PHONE, "default"), (DESKTOP, "slate")):
        context, page, errors = open_page(browser, base + "explore-your-own-program/",
                                          viewport=viewport, scheme=scheme, idle=False)
        try:
            found = page.evaluate("""() => ({
              wide: document.documentElement.scrollWidth,
              vas: document.querySelectorAll('figure.roads-vas-figure').length,
              elf: document.querySelectorAll('figure.roads-elf-figure').length,
              diffs: document.querySelectorAll('figure.roads-diff-figure').length,
              prov: document.querySelectorAll('.roads-provenance').length,
            })""")
            where = f"{viewport['width']} px, {scheme}"
            assert found["wide"] <= viewport["width"], where
            assert found["vas"] == 1 and found["elf"] == 1, where
            assert found["diffs"] == 2 and found["prov"] == 4, (where, found)
            quiet(page)
            assert not errors, errors
        finally:
            context.close()


def test_explained_refuses_a_document_of_another_sample(tmp_path, monkeypatch):
    from roads.errors import ConfigError
    from roads.explain.record import load_session

    import macros.figures as figures

    doc = Path(__file__).resolve().parent.parent / "docs" / "explained" / "layout.json"
    assert load_session(doc).capture.sample == "layout"
    # Frozen, with a cache of its own: in auto mode a stale saved session (after an edit
    # of roads/explain/) would be captured again into the checkout.
    import macros.project as settings

    monkeypatch.setattr(settings, "_current",
                        settings.Settings(mode="frozen", cache=str(tmp_path / "cache")))
    with pytest.raises(ConfigError, match="saved from 'layout'"):
        figures.explained("starti", "docs/explained/layout.json")


def test_a_saved_session_is_checked_once_a_build_and_again_in_the_next(tmp_path, monkeypatch):
    """A page's explained figures read their saved session once a build, not once for
    each key and drawing; the next build (``mkdocs serve``, after the explained program's
    source was edited: the saved file itself unchanged) checks it again and runs it
    again. Before, the check was kept for as long as the process lived."""
    import roads.explain.record as record
    import roads.explain.saved as saved

    import macros.figures as figures
    import macros.project as settings

    monkeypatch.setattr(settings, "_current",
                        settings.Settings(mode="auto", cache=str(tmp_path / "cache")))
    monkeypatch.setattr(figures, "_checked", {})
    asked, ran, loaded = [], [], []
    stale: list[str] = []
    monkeypatch.setattr(saved, "staleness", lambda path, root: asked.append(path) or list(stale))
    monkeypatch.setattr(saved, "refreshed", lambda path, root, sandbox: ran.append(path))
    real_load = record.load_session
    monkeypatch.setattr(record, "load_session", lambda path: loaded.append(path) or real_load(path))
    document = "docs/explained/layout.json"
    first = figures._saved_session(document)
    assert figures._saved_session(document) is first
    assert figures.explained("layout", document, "diff", before="main", after="free")
    assert (len(asked), len(loaded), ran) == (1, 1, [])

    stale.append("samples/layout.c changed")  # the source edited; the saved file is not
    assert figures._saved_session(document) is first  # the same build: checked already
    figures.begin_build({"repo_url": None, "edit_uri": None})
    figures._saved_session(document)
    assert (len(asked), len(loaded), len(ran)) == (2, 2, 1)


THREADS = r"""
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static void *work(void *arg)
{
    void *block = malloc(100000);
    usleep(50000);
    free(block);
    return arg;
}

int main(void)
{
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, work, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    return 0;
}
"""


def test_threads_a_syscall_and_a_delay(tmp_path, no_leftovers):
    """Each of three threads calls malloc once, at the same time: the third call is
    still seen. brk's return is the top of the break area. A delay stops a sleeping program,
    which is then ended."""
    (tmp_path / "threads.c").write_text(THREADS)
    s = session_mod.explain_program([str(tmp_path / "threads.c")], ["malloc:3"])
    assert s.complete
    s = session_mod.explain_program(["/bin/ls", "/"], ["syscall:brk:2"])
    point = s.capture.variants["default"].runs[0].checkpoints[0]
    result = next(a.value for a in point.addresses if a.name == "result")
    # The break brk returns is the top of [heap], or, before there is one, the end of
    # the executable's last region (ASLR off puts no gap between them).
    heap = [r.end for r in point.regions if r.pathname == "[heap]"]
    assert result in (heap or [r.end for r in point.regions])
    s = session_mod.explain_program(["sleep", "5"], ["0.2s"])
    assert s.complete and s.ending == "was ended by roads explain after its last stop"


CALLS_MEMCPY = r"""
#include <string.h>
int main(int argc, char **argv) {
    char copy[64];
    memcpy(copy, argv[0], strlen(argv[0]) % 32 + 1);  /* a call, not a copy gcc inlines */
    return copy[0] == 0;
}
"""


def test_a_function_is_the_one_a_program_linked_now_calls(tmp_path, no_leftovers):
    """--at FUNC stops where a program's call lands: of a name a library keeps in several
    versions, the default one. It stopped at glibc's memcpy@GLIBC_2.2.5, kept for
    programs linked before 2.14 (the program ended before reaching memcpy), when
    memcpy@@GLIBC_2.14, which programs call, is an ifunc that cannot be named; and a
    static executable's strlen, an ifunc in its .symtab, was 'no function' (and then
    said to be picked by the loader, which a static program has none of)."""
    from tests.test_explain_symbols import CALLS_F, CALLS_STRLEN, build, build_versioned

    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    ifunc = "is an ifunc, a function the loader picks for this processor"
    from tests.test_explain_symbols import this_libc

    from roads.explain.symbols import bound, functions

    libc_memcpy = bound(functions(this_libc().read_bytes(), "libc"), "memcpy")
    if libc_memcpy is None or not libc_memcpy.ifunc:  # a C library built without multi-arch
        pytest.skip("this C library's memcpy is not an ifunc")
    memcpy = build(tmp_path, "memcpy", CALLS_MEMCPY)
    with pytest.raises(ExplainError, match=f"--at memcpy: 'memcpy' in libc.so.6 {ifunc}"):
        session_mod.explain_program([str(memcpy)], ["memcpy"])
    # A static program has no loader: its C library's start-up code runs the resolvers.
    static_ifunc = ifunc.replace("the loader picks", "the C library's start-up code picks")
    static = build(tmp_path, "static", CALLS_STRLEN, "-static")
    with pytest.raises(ExplainError, match=f"--at strlen: 'strlen' in static {static_ifunc}"):
        session_mod.explain_program([str(static)], ["strlen"])

    # A library of our own with f@V1 and f@@V2, two plain functions, and g@V1 alone.
    library = build_versioned(tmp_path)
    calls_f = build(tmp_path, "calls_f", CALLS_F, str(library), "-Wl,-rpath,$ORIGIN")
    s = session_mod.explain_program([str(calls_f)], ["f"])
    assert s.complete, f"{s.ending} before reaching {', '.join(s.missing)}"
    point = s.capture.variants["default"].runs[0].checkpoints[0]
    pc = next(a.value for a in point.addresses if a.name == "pc")
    base = next(r.start for r in point.regions if r.pathname == str(library) and r.offset == 0)
    dynsym = subprocess.run(["readelf", "-W", "--dyn-syms", str(library)], capture_output=True,
                            text=True, check=True, timeout=60).stdout
    default = next(int(line.split()[1], 16) for line in dynsym.splitlines()
                   if line.endswith(" f@@V2"))
    assert pc == base + default
    with pytest.raises(ExplainError, match=r"--at g: libversioned.so keeps only old versions "
                       r"of 'g' \(g@V1\), .* name the version: --at g@V1"):
        session_mod.explain_program([str(calls_f)], ["g"])


EXECS = r"""
#include <unistd.h>
int main(int argc, char **argv) {
    execv(argv[1], argv + 1);
    return 1;
}
"""

REMAPS = r"""
#define _GNU_SOURCE  /* mremap */
#include <sys/mman.h>
int main(void) {
    char *p = mmap(0, 4 << 12, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    p[0] = 1;
    return mremap(p, 4 << 12, 8 << 12, MREMAP_MAYMOVE) == MAP_FAILED;
}
"""


def test_syscall_stops_after_an_exec_are_at_the_calls_return(tmp_path, no_leftovers):
    """execve's exit comes after its PTRACE_EVENT_EXEC stop (ptrace(2)): the tracer took
    it for an entry, and from there on stopped each system call at its entry, before it
    had done anything, and never at execve's own return."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    for name, source in (("execs", EXECS), ("remaps", REMAPS)):
        (tmp_path / f"{name}.c").write_text(source)
        subprocess.run(["gcc", "-O0", "-o", str(tmp_path / name), str(tmp_path / f"{name}.c")],
                       check=True, timeout=60)
    remaps = str(tmp_path / "remaps")
    s = session_mod.explain_program([str(tmp_path / "execs"), remaps],
                                    ["syscall:execve", "syscall:mremap"])
    assert s.complete, f"{s.ending} before reaching {', '.join(s.missing)}"
    execve, mremap = s.capture.variants["default"].runs[0].checkpoints
    assert (execve.name, mremap.name) == ("syscall:execve", "syscall:mremap")
    assert execve.exe == mremap.exe == remaps  # the new image, at execve's return
    # mremap has returned: the eight pages it moved the four to are mapped, there.
    result = next((a.value for a in mremap.addresses if a.name == "result"), None)
    assert result is not None, mremap.addresses
    assert any(r.start == result and r.end - r.start == 8 << 12 for r in mremap.regions)


def test_the_sites_worked_example_is_fresh():
    """The saved session the site draws matches its source, stops and capture code (a
    frozen build would warn, and fail --strict, otherwise)."""
    from roads.explain.saved import staleness

    repo = Path(__file__).resolve().parent.parent
    assert staleness(repo / "docs" / "explained" / "layout.json", repo) == []


def test_a_saved_session_goes_stale_and_is_captured_again(root, tmp_path, monkeypatch,
                                                          no_leftovers):
    """What a build does with the worked example: a changed source makes the saved file
    stale, naming why; captured again, it is fresh and shows the new program."""
    from roads.explain.saved import refreshed, staleness

    project = tmp_path / "project"
    (project / "samples").mkdir(parents=True)
    source = project / "samples" / "tiny.c"
    source.write_text("#include <stdlib.h>\nint main(void) { free(malloc(64)); return 0; }\n")
    saved = project / "saved.json"
    monkeypatch.chdir(project)
    assert cli.main(["--root", str(project), "explain", "--at", "main", "--at", "free",
                     "--out", str(tmp_path / "tiny.html"), "--save", str(saved), "--",
                     "samples/tiny.c"]) == 0
    assert staleness(saved, project) == []
    source.write_text("#include <stdlib.h>\nint main(void) { free(malloc(1 << 20)); return 0; }\n")
    assert staleness(saved, project) == ["samples/tiny.c changed"]
    (project / "elsewhere").mkdir()
    monkeypatch.chdir(project / "elsewhere")  # a build runs it from the project folder
    session = refreshed(saved, project, sandbox=root / ".cache" / "roads")
    assert staleness(saved, project) == []
    assert [c.name for c in session.capture.variants["default"].runs[0].checkpoints] == ["main", "free"]
    assert list((project / "elsewhere").iterdir()) == []


FORKS = r"""
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    if (fork() == 0)
        _exit(0);
    wait(NULL);
    return 0;
}
"""


def test_a_saved_session_is_captured_again_with_its_options(root, tmp_path, monkeypatch,
                                                            no_leftovers):
    """--aslr, --follow-fork, --deadline and --no-sandbox shape what a run captures: the
    saved record keeps them, and a stale session is run again with them (it was run with
    the defaults: ASLR off, the child not followed, in the sandbox, 30 s). A record
    saved before they were kept is run with the defaults; a wrong one is named."""
    import json

    from roads.explain.saved import refreshed, staleness

    project = tmp_path / "project"
    project.mkdir()
    source, saved = project / "forks.c", project / "saved.json"
    source.write_text(FORKS)
    monkeypatch.chdir(project)
    options = {"aslr": True, "follow_fork": True, "deadline": 2.0, "sandbox": False}
    assert cli.main(["--root", str(project), "explain", "--aslr", "--follow-fork", "--deadline",
                     "2", "--no-sandbox", "--at", "exit", "--out", str(tmp_path / "forks.html"),
                     "--save", str(saved), "--", "forks.c"]) == 0
    inputs = json.loads(saved.read_text())["inputs"]
    assert {key: inputs.get(key) for key in options} == options
    cache = root / ".cache" / "roads"

    def captured_again(sandbox=cache) -> tuple:
        assert staleness(saved, project) == ["forks.c changed"]
        session = refreshed(saved, project, sandbox=sandbox)
        assert staleness(saved, project) == []
        run = session.capture.variants["default"].runs[0]
        # In the sandbox the program is built and run in its fresh folder, seen there at
        # /run/build; outside, in a temporary folder of the machine.
        return (run.aslr_disabled, [c.name for c in run.checkpoints],
                session.exe == "/run/build/forks")

    source.write_text(FORKS.replace("return 0;", "return 0; /* changed */"))
    # Saved outside the sandbox: a build, which runs it in the sandbox, refuses, and
    # what the file says never takes a run out of it; the caller may run it outside.
    with pytest.raises(ExplainError, match=r"saved.json: saved with --no-sandbox, and a build "
                                           r"runs a saved command in the sandbox only"):
        refreshed(saved, project, sandbox=cache)
    # ASLR left on, the child followed to its exit as its parent, outside the sandbox.
    assert captured_again(sandbox=None) == (False, ["exit", "exit"], False)
    assert {key: json.loads(saved.read_text())["inputs"][key] for key in options} == options

    # The deadline kept: the program, now slower than it, is killed at it.
    source.write_text(FORKS.replace("if (fork", "sleep(4);\n    if (fork"))
    with pytest.raises(ExplainError, match=r"did not reach exit within 2 s \(--deadline\)"):
        refreshed(saved, project, sandbox=None)

    # Saved before the options were recorded: run with the defaults, as it was made.
    data = json.loads(saved.read_text())
    for key in options:
        del data["inputs"][key]
    saved.write_text(json.dumps(data))
    source.write_text(FORKS)
    assert captured_again() == (True, ["exit"], True)

    data = json.loads(saved.read_text())
    data["inputs"]["aslr"] = "yes"
    saved.write_text(json.dumps(data))
    with pytest.raises(ExplainError, match=r"saved.json: inputs.aslr is 'yes', not true or false"):
        refreshed(saved, project, sandbox=cache)
    assert sorted(p.name for p in project.iterdir()) == ["forks.c", "saved.json"]


TMP_WRITER = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    FILE *f = fopen(argv[1], "w");
    if (f == NULL) { perror(argv[1]); return 1; }
    fputs("written inside\n", f);
    fclose(f);
    return 0;
}
"""


def test_the_sandboxed_program_gets_a_private_tmp_and_compiles_outside_it(monkeypatch):
    """A .c program is compiled into a folder made in the cache, not under /tmp, so that
    where /tmp is a tmpfs its binary still maps clean; the program gets a private /tmp.
    The project lives outside /tmp for this: in /var/tmp, or else in the checkout's
    ignored .cache."""
    import tempfile

    from tests.conftest import REPO

    def outside_tmp(folder: Path) -> bool:
        real = str(folder.resolve())
        return real != "/tmp" and not real.startswith("/tmp/")

    places = [Path("/var/tmp"), REPO / ".cache"]
    place = next((p for p in places if p.is_dir() and os.access(p, os.W_OK) and outside_tmp(p)),
                 None)
    if place is None:
        pytest.skip("no writable folder outside /tmp for the project")
    project = Path(tempfile.mkdtemp(prefix="roads-test-explain-", dir=place))
    cache = project / ".cache" / "roads"
    folders: list[Path] = []
    real = session_mod.compile_c

    def compile_c(source, out_dir, *args):
        folders.append(Path(out_dir))
        return real(source, out_dir, *args)

    monkeypatch.setattr(session_mod, "compile_c", compile_c)
    target = Path("/tmp") / f"roads-private-tmp-{os.getpid()}"
    try:
        (project / "writer.c").write_text(TMP_WRITER)
        monkeypatch.chdir(project)
        session = session_mod.explain_program(["writer.c", str(target)], ["exit"], sandbox=cache)
        assert session.complete, session.ending
        assert "status 0" in session.ending, session.ending  # the write to /tmp worked
        assert folders and folders[0].parent == cache.resolve()
        assert not folders[0].exists()  # removed once the run is captured
        assert not target.exists()  # written to the sandbox's own /tmp, gone with it
    finally:
        shutil.rmtree(project, ignore_errors=True)
        target.unlink(missing_ok=True)


def test_what_the_sandbox_shows_of_tmp(monkeypatch):
    """A checkout cloned under /tmp (its virtualenv there): a private /tmp would hide the
    tracer's own Python from the sandbox, so explain has it shown there; the program and
    its folder too, where they lie in /tmp, and nothing that lies elsewhere."""
    here = str(Path(session_mod.__file__).resolve().parents[2])
    job = {"path": "/usr/bin/true", "cwd": "/home/someone"}
    for key in ("executable", "prefix", "base_prefix", "exec_prefix"):
        monkeypatch.setattr(sys, key, "/usr/bin/python3" if key == "executable" else "/usr")
    assert session_mod._shown(job) == ((here,) if here.startswith("/tmp/") else ())
    monkeypatch.setattr(sys, "executable", "/tmp/clone/.venv/bin/python")
    monkeypatch.setattr(sys, "prefix", "/tmp/clone/.venv")
    shown = session_mod._shown({"path": "/tmp/a.out", "cwd": "/tmp/work"})
    assert {"/tmp/a.out", "/tmp/work", "/tmp/clone/.venv/bin/python", "/tmp/clone/.venv"} \
        <= set(shown)
    assert not any(p == "/usr" or p.startswith("/home") for p in shown)


SAYS = r"""
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    printf("said from %s\n", argv[0]);
    if (argc > 3) {  /* a file beside it in /tmp, and a file of its own there */
        FILE *f = fopen(argv[3], "w");
        printf("beside it: %s; /tmp: %s\n", access(argv[2], F_OK) == 0 ? "seen" : "hidden",
               f != NULL && fputs("x", f) >= 0 ? "writable" : "not writable");
    }
    fflush(stdout);
    if (argc > 1) sleep(20);
    return 0;
}
"""


def written_in_tmp() -> str:
    """A name in /tmp for SAYS to write (its third argument), of this test alone: the
    sandbox's private /tmp keeps it from the machine's, where the test then looks."""
    import uuid

    return f"/tmp/roads-test-written-{uuid.uuid4().hex}"


def program_under_tmp(name: str) -> Path:
    """SAYS compiled into a folder of its own under /tmp (gcc -o /tmp/...)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="roads-test-prog-", dir="/tmp"))
    (folder / "says.c").write_text(SAYS)
    subprocess.run(["gcc", "-o", str(folder / name), str(folder / "says.c")], check=True)
    return folder / name


def test_a_program_under_tmp_is_seen_by_the_sandbox(monkeypatch, outside_tmp, no_leftovers):
    """A program compiled into /tmp and explained from a folder outside it (by its path,
    or by a link from elsewhere): the sandbox shows it alone in its private /tmp (it
    said 'cannot start ...: FileNotFoundError'). From a folder under /tmp, with $TMPDIR
    elsewhere: /tmp stays the machine's, as the page says (the fresh folder went to
    $TMPDIR, and /tmp was private)."""
    import tempfile

    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    project = outside_tmp
    program = program_under_tmp("says")
    try:
        cache = project / ".cache" / "roads"
        (project / "link").symlink_to(program)
        monkeypatch.chdir(project)
        for named in (str(program), "./link"):
            session = session_mod.explain_program([named], ["exit"], sandbox=cache)
            assert session.complete and "status 0" in session.ending, (named, session.ending)
        monkeypatch.chdir(program.parent)
        monkeypatch.setattr(tempfile, "tempdir", str(project))  # $TMPDIR outside /tmp
        session = session_mod.explain_program(["./says"], ["exit"], sandbox=cache)
        assert session.complete and "status 0" in session.ending, session.ending
    finally:
        shutil.rmtree(program.parent, ignore_errors=True)


def test_a_program_under_dev_shm_is_refused_with_its_reason(root, tmp_path, capsys):
    """The sandbox gives /dev/shm an empty tmpfs of its own: a program there could not
    be started, and the error says why rather than 'no such file'."""
    if not os.access("/dev/shm", os.W_OK):
        pytest.skip("no /dev/shm to write")
    program = Path("/dev/shm") / f"roads-test-{os.getpid()}"
    shutil.copy("/bin/true", program)
    try:
        assert explain(root, "--out", str(tmp_path / "x.html"), "--", str(program)) == 1
        assert "lies under /dev/shm" in capsys.readouterr().err
    finally:
        program.unlink(missing_ok=True)


ODD = r"""
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>
int main(void) {
    prctl(PR_SET_NAME, "\xff\xfe odd", 0, 0, 0);
    int fd = open("\xff.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 4096) != 0) return 1;
    if (mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED) return 1;
    return 0;
}
"""


def test_names_and_arguments_in_bytes_that_are_not_utf8(root, tmp_path):
    """A program that renames itself, maps a file and is given an argument in bytes that
    are not UTF-8: the page and the record write each such byte \\xNN (the name was a
    traceback at every stop, the argument one when the page was written)."""
    (tmp_path / "odd.c").write_text(ODD)
    # In a process of its own, with a deadline: a regression may hang (see below).
    done = subprocess.run([sys.executable.encode(), b"-m", b"roads.cli", b"--root", bytes(root),
                           b"explain", b"--no-sandbox", b"--at", b"exit", b"--out", b"odd.html",
                           b"--save", b"odd.json", b"--", b"./odd.c", b"\xfe"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "odd.html").read_text(encoding="utf-8")
    assert "\\xff.bin" in page and "\\xfe" in page
    import json

    saved = json.loads((tmp_path / "odd.json").read_text(encoding="utf-8"))
    assert saved["command"][-1] == "\\xfe"  # as shown
    assert saved["inputs"]["argv"][-1] == "\udcfe"  # the byte itself, to run it again


def test_an_error_at_a_stop_ends_the_run_instead_of_hanging(root, tmp_path):
    """Whatever goes wrong while the program is held at a stop, the run is killed and
    reaped and the error comes out (a tracee held at its exit stop was waited for
    forever)."""
    (tmp_path / "odd.c").write_text(ODD)
    injected = ("import sys\nimport roads.explain.trace as T\n"
                "def broken(pid):\n    raise RuntimeError('injected at a stop')\n"
                "T._status_of = broken\nfrom roads import cli\n"
                f"sys.exit(cli.main(['--root', {str(root)!r}, 'explain', '--no-sandbox', "
                "'--at', 'exit', '--', './odd.c']))\n")
    done = subprocess.run([sys.executable, "-c", injected], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert "injected at a stop" in done.stderr and done.returncode != 0, done.stderr


DAEMON = r"""
#include <unistd.h>

int main(void)
{
    if (fork() != 0)
        return 0;        /* the parent ends at once */
    usleep(300000);      /* the child is still in the run's group while the tracer waits */
    setsid();            /* then leaves it, forks again and ends: a daemon */
    if (fork() != 0)
        _exit(0);
    usleep(300000);
    return 0;
}
"""


@pytest.mark.parametrize("sandbox", [False, True])
def test_a_child_that_leaves_the_group_is_followed_to_its_end(root, tmp_path, sandbox):
    """Followed forks of a program that turns into a daemon (setsid, fork again): the
    tracer waited for the run's process group alone, never woke for the child's events
    and hung past any deadline (with the sandbox, until the launcher's own limit)."""
    (tmp_path / "daemon.c").write_text(DAEMON)
    args = [*([] if sandbox else ["--no-sandbox"]), "--follow-fork", "--at", "main", "--at",
            "exit", "--deadline", "20", "--out", "daemon.html", "--", "./daemon.c"]
    done, seconds = explain_apart(root, tmp_path, args)
    assert done.returncode == 0, done.stderr
    assert seconds < 15, "ran into the deadline"
    assert (tmp_path / "daemon.html").is_file()


def test_a_program_the_deadline_kills_has_not_reached_its_exit(tmp_path, no_leftovers):
    """The deadline's SIGKILL brings the program to its exit stop: that stop is not the
    program's exit, and the page said it was ("stopped at exit", killed by SIGKILL)."""
    with pytest.raises(ExplainError, match=r"did not reach exit within 1 s \(--deadline\)"):
        session_mod.explain_program(["sleep", "30"], ["0.2s", "exit"], deadline=1.0)


DAEMON_FORKING = r"""
#include <unistd.h>

void done(void) {}

int main(void)
{
    if (fork() == 0) {
        setsid();                    /* a daemon, forking children of its own */
        for (int i = 0; i < 2000; i++) {  /* still forking when the run ends */
            if (fork() == 0) {
                pause();
                _exit(0);
            }
            usleep(1000);
        }
        pause();
    }
    usleep(200000);
    done();                          /* the last stop: the run is ended here */
    pause();
    return 0;
}
"""


def test_a_daemons_children_are_ended_with_the_run(tmp_path, no_leftovers):
    """The run ends while a daemon (a followed child in a group of its own) forks: a
    child whose fork the tracer had not heard of yet was in none of its lists and
    outside the run's group, and stayed stopped, traced. The groups tracees make are
    killed and waited for as the run's own."""
    (tmp_path / "forking.c").write_text(DAEMON_FORKING)
    for _ in range(3):
        s = session_mod.explain_program([str(tmp_path / "forking.c")], ["done"],
                                        follow_fork=True)
        assert s.complete
        traced_by_us = [p for p in Path("/proc").iterdir() if p.name.isdigit()
                        and _tracer_of(p) == os.getpid()]
        assert not traced_by_us, traced_by_us


def _tracer_of(proc: Path) -> int | None:
    try:
        for line in (proc / "status").read_text().splitlines():
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def test_a_run_started_with_sigchld_ignored_still_hears_its_stops(tmp_path, no_leftovers,
                                                                   monkeypatch):
    """SIGCHLD ignored (inherited through an exec) sends none: every stop waited out the
    tracer's longest sleep (7.8 s here for what takes 0.6 s), and ended children were
    reaped by the kernel. The run hears it for its time, and the setting is given back."""
    (tmp_path / "ppid.c").write_text(
        "#include <unistd.h>\nint main(void) { for (int i = 0; i < 200; i++) getppid(); "
        "return 0; }\n")
    heard = []
    real = session_mod._checkpoint

    def checkpoint(hit, seq, proc):
        heard.append(signal.getsignal(signal.SIGCHLD))
        return real(hit, seq, proc)

    monkeypatch.setattr(session_mod, "_checkpoint", checkpoint)
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        s = session_mod.explain_program([str(tmp_path / "ppid.c")], ["syscall:getppid:150"])
        assert s.complete
        assert heard == [signal.SIG_DFL]
        assert signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGCHLD, previous)


def test_open_without_a_browser_says_so(root, tmp_path):
    """--open with no browser to run (here the one BROWSER names fails) said nothing."""
    done = subprocess.run([sys.executable, "-m", "roads.cli", "--root", str(root), "explain",
                           "--open", "--no-sandbox", "--at", "main", "--out", "o.html", "--",
                           "/bin/true"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "BROWSER": "false",
                                           "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr
    assert "found no browser to open the page with: open it yourself" in done.stderr
    assert (tmp_path / "o.html").is_file()


def test_a_run_the_system_keeps_out_of_namespaces_says_so(monkeypatch, tmp_path, outside_tmp,
                                                          no_leftovers):
    """Where the system refuses the sandbox its namespaces, the launcher runs the inner
    half without them (its fallback), amid the machine's files: the run says so on the
    error stream. Run here as that fallback runs it, in this process's namespaces; a
    run in the sandbox proper says nothing of the kind."""
    import json

    from roads.explain.session import REFUSED, namespaces, sandboxed_job

    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    # A .c program, compiled into the run's folder and named as the sandbox names it.
    (tmp_path / "says.c").write_text('#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n')
    binary, gcc_argv = session_mod.compile_c(tmp_path / "says.c", tmp_path)
    job = {"path": str(binary), "args": [], "wheres": ["main", "exit"], "aslr": False,
           "follow_fork": False, "deadline": 30.0, "gcc_argv": list(gcc_argv),
           "shown": ["says.c"], "name": "says", "cwd": str(tmp_path)}
    job = {**sandboxed_job(job, tmp_path), "outside": namespaces()}
    assert set(job["outside"]) == {"mnt", "pid"}
    (tmp_path / "job.json").write_text(json.dumps(job))
    done = subprocess.run([sys.executable, "-m", "roads.explain.inner", "job.json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 0, done.stderr
    assert f"roads explain: {REFUSED}" in done.stderr.splitlines()
    result = json.loads((tmp_path / "result.json").read_text())
    assert "error" not in result, result
    lines: list[str] = []
    monkeypatch.chdir(outside_tmp)
    session = session_mod.explain_program(["/bin/true"], ["exit"], sandbox=outside_tmp / "cache",
                                          progress=lines.append)
    assert session.complete, session.ending
    if REFUSED in lines:
        pytest.skip("this system refuses the sandbox its namespaces")
    assert any("in the sandbox" in line for line in lines)


def test_a_source_compiles_to_the_same_program_wherever_it_lies(tmp_path, monkeypatch):
    """roads explain compiles a .c file from its own folder, named "." in the debug
    information: the site's worked example, saved with the program's ELF headers, does
    not depend on where the checkout was cloned."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    source = (Path(__file__).resolve().parent.parent / "samples" / "layout.c").read_bytes()
    built = []
    (tmp_path / "link").symlink_to(tmp_path / "a-folder-with-a-much-longer-name")
    for place in ("a", "a-folder-with-a-much-longer-name/deeper"):
        folder = tmp_path / place
        folder.mkdir(parents=True)
        # $PWD a link's path to the folder gcc runs in: gcc would name the folder by it.
        monkeypatch.setenv("PWD", str(tmp_path / "link" / "deeper") if "deeper" in place
                           else str(folder))
        (folder / "layout.c").write_bytes(source)
        shutil.copy(Path(__file__).resolve().parent.parent / "samples" / "roads.h", folder)
        out = folder / "out"
        out.mkdir()
        binary, shown = session_mod.compile_c(folder / "layout.c", out)
        built.append(binary.read_bytes())
        assert str(tmp_path) not in binary.read_bytes().decode("latin-1")
        assert shown[-3:] == ("layout.c", "-o", "layout")
    assert built[0] == built[1]
