"""The page cache (macros/pagecache.py, roads/words/rendercache.py): a warm build is
byte-identical to a cold one, and a change to what a page reads renders exactly the
pages that read it again.

The site builds run on a copy of the checkout, frozen, each comparison against a build
whose page cache is empty (its drawn figures kept: those have their own tests).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from macros import project as macros_project
from roads.cachedir import COARSE_RACY_NS
from roads.capture.project import MODES
from roads.capture.treestamp import FreshMark, tree_stamp
from roads.words.rendercache import FileStates, Recorder, RenderCache, digest
from tests.browser import PUBLISH
from tests.conftest import copy_checkout, just_saved, same_tick_rewrite, saved_an_hour_ago
from tests.test_reproducible import build, tree

# -- the cache itself -------------------------------------------------------------------


def test_a_name_recorded_once_is_not_worked_out_again(tmp_path, monkeypatch):
    data = tmp_path / "capture.json"
    data.write_text("{}")
    recorder = Recorder(FileStates())
    recorder.add(data)
    first = recorder.read[str(data)]
    data.write_text('{"moved": 1}')  # a rendering keeps its files as they were first read
    calls = []
    abspath = os.path.abspath
    monkeypatch.setattr(os.path, "abspath", lambda p: calls.append(p) or abspath(p))
    recorder.add(str(data), data)
    assert recorder.read == {str(data): first}
    assert calls == [data]  # the absolute name needs no path work; the Path does
    recorder.add(str(tmp_path / "sub" / ".." / "capture.json"))  # not normalised: worked out
    assert recorder.read == {str(data): first}


def test_a_capture_s_files_are_named_once_per_document_and_project():
    from types import SimpleNamespace

    class Shared:
        samples_dir = Path("/x/samples")
        samples_set = SimpleNamespace(path=Path("/x/samples/samples.toml"))

        def snapshot_path(self, sample):
            return Path(f"/x/snapshots/{sample}.json")

    shared = Shared()
    doc = SimpleNamespace(inputs=SimpleNamespace(files=("s.c", "inc/../h.h")))
    names = macros_project._reads(shared, "s", doc)
    assert names == ("/x/snapshots/s.json", "/x/samples/samples.toml", "/x/samples/s.c",
                     "/x/samples/h.h")
    assert macros_project._reads(shared, "s", doc) is names
    # Another document (the capture made again from other files), another project.
    other = SimpleNamespace(inputs=SimpleNamespace(files=("t.c",)))
    assert macros_project._reads(shared, "s", other)[2:] == ("/x/samples/t.c",)
    elsewhere = Shared()
    elsewhere.samples_dir = Path("/y/samples")
    assert macros_project._reads(elsewhere, "s", other)[2:] == ("/y/samples/t.c",)


def test_an_entry_lives_while_its_files_hold_the_same_bytes(tmp_path):
    data = tmp_path / "capture.json"
    data.write_text('{"brk": 1}')
    cache = RenderCache(tmp_path / "cache")
    recorder = Recorder(FileStates())
    recorder.add(data)
    cache.put("k" * 64, {"markdown": "one"}, recorder.read.values())

    fresh = RenderCache(tmp_path / "cache")  # a new process: read from disk
    assert fresh.get("k" * 64) == {"markdown": "one"}
    # Touched, same bytes (a checkout, an editor saving unchanged): still valid.
    later = time.time() + 5
    os.utime(data, (later, later))
    assert RenderCache(tmp_path / "cache").get("k" * 64) == {"markdown": "one"}
    # Same size, other bytes: gone.
    data.write_text('{"brk": 2}')
    assert RenderCache(tmp_path / "cache").get("k" * 64) is None
    data.write_text('{"brk": 1}')
    assert RenderCache(tmp_path / "cache").get("k" * 64) == {"markdown": "one"}
    data.unlink()
    assert RenderCache(tmp_path / "cache").get("k" * 64) is None


def test_a_damaged_entry_is_a_miss_and_another_key_is_another_entry(tmp_path):
    cache = RenderCache(tmp_path)
    key = digest(["page", "a"])
    assert key != digest(["page", "b"])
    cache.put(key, {"markdown": "x"}, ())
    assert cache.get(digest(["page", "b"])) is None
    path = next(tmp_path.rglob(f"{key}.json"))
    path.write_text(path.read_text()[:20])
    assert cache.get(key) is None


def test_the_macros_know_the_engines_modes():
    assert macros_project.MODES == MODES


def test_the_code_version_moves_with_the_libraries_the_figures_are_made_with(monkeypatch):
    """A figure kept from before an upgrade of Pygments, graphviz, lxml or msgspec is not
    used (the figure and page caches are keyed by ``code()``), and what the figures
    import is all named."""
    import importlib.metadata
    import sys

    from macros import pagecache

    before = pagecache.code.__wrapped__()
    assert "Pygments " in before and "lxml " in before
    real = importlib.metadata.version
    for library, module in pagecache.DRAWING_LIBRARIES.items():
        with monkeypatch.context() as patched:
            patched.setattr(importlib.metadata, "version",
                            lambda name, _l=library: "99.0" if name == _l else real(name))
            if module in sys.modules:  # read from the module, where it is loaded
                patched.setattr(sys.modules[module], "__version__", "99.0")
            assert pagecache.code.__wrapped__() != before, library
    assert pagecache.code.__wrapped__() == before
    # Every third-party library the drawing code imports is one of them (or the
    # standard library's, or ours).
    import ast

    root = Path(pagecache.__file__).resolve().parent.parent
    third = set()
    for path in [*(root / "roads" / "figures").glob("*.py"), root / "roads/words/source.py",
                 root / "roads/explain/page.py", root / "macros/figures.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            third |= {n.split(".")[0] for n in names if n} - set(sys.stdlib_module_names)
    assert third <= {"graphviz", "lxml", "pygments", "msgspec", "roads", "macros"}, third


def test_pruning_names_the_drawings_as_the_engine_keeps_them(monkeypatch):
    """macros.pagecache.prune writes roads.figures.svg.KEPT out (not to load lxml)."""
    from roads import cachedir
    from roads.figures import svg

    from macros import pagecache

    asked = {}
    monkeypatch.setattr(cachedir, "prune", lambda folder, suffixes, **kw: asked.update(
        {Path(folder).name: suffixes}))
    pagecache.prune()
    assert svg.KEPT in asked["svg"]


def test_a_file_saved_again_within_one_tick_of_its_reading_is_not_taken_as_unchanged(tmp_path):
    """A file read less than cachedir.RACY_NS after it was modified is recorded without
    its modification time: the entry compares its bytes. One modified long before is
    taken as unchanged on its stats, as make does."""
    recent, old = tmp_path / "recent.md", tmp_path / "old.md"
    recent.write_text("one")
    just_saved(recent)
    old.write_text("one")
    saved_an_hour_ago(old)
    for path in (recent, old):
        cache = RenderCache(tmp_path / f"cache-{path.stem}")
        recorder = Recorder(FileStates())
        recorder.add(path)
        cache.put("k" * 64, {"markdown": path.read_text()}, recorder.read.values())
        same_tick_rewrite(path, "two")
        found = RenderCache(tmp_path / f"cache-{path.stem}").get("k" * 64)
        assert found == (None if path is recent else {"markdown": "one"})
    # Within one process too: the digest of a racy file is not kept by its stats.
    files = FileStates()
    recent.write_text("abc")
    just_saved(recent)
    first = files.state(recent)
    same_tick_rewrite(recent, "xyz")
    assert files.state(recent).sha256 != first.sha256
    assert not files.unchanged(first)


def test_a_file_read_slowly_is_judged_by_when_its_read_began(tmp_path, frozen_clock,
                                                             monkeypatch):
    """Whether a file's stats vouch for its digest is judged by the moment its read
    began: a digest slower than RACY_NS (a busy machine) does not make a file saved just
    before it trusted on its stats, to miss a save in the same tick."""
    import hashlib

    path = tmp_path / "page.md"
    path.write_text("abc")
    monkeypatch.setattr(hashlib, "file_digest",
                        frozen_clock.after(hashlib.file_digest, 2 * COARSE_RACY_NS))
    files = FileStates()
    first = files.state(path)
    same_tick_rewrite(path, "xyz")
    assert files.state(path).sha256 != first.sha256


def test_the_claims_saved_again_within_one_tick_are_parsed_again(tmp_path, monkeypatch):
    """The claims file is parsed once per version of its stats, and again while they
    cannot vouch for its bytes (under ``mkdocs serve``, two saves within one tick kept
    the first words, and the page cache then kept them beside the new file's digest)."""
    from types import SimpleNamespace

    from macros import claims

    (tmp_path / "tests").mkdir()
    path = tmp_path / "tests" / "claims.toml"
    path.write_text('[[claim]]\nid = "one"\npage = "docs/a.md"\ntext = "First."\n'
                    'test = "t.py::test_one"\n')
    just_saved(path)
    monkeypatch.setattr(claims, "project", lambda: SimpleNamespace(root=tmp_path))
    monkeypatch.setattr(claims, "_LOADED", {})
    assert claims.all_claims()[0].text == "First."
    same_tick_rewrite(path, path.read_text().replace("First.", "Later."))
    assert claims.all_claims()[0].text == "Later."


def test_the_tree_stamp_moves_with_any_sample_or_capture(tmp_path):
    samples, snapshots = tmp_path / "samples", tmp_path / "snapshots"
    samples.mkdir()
    snapshots.mkdir()
    (samples / "brk.c").write_text("int main(void) { return 0; }\n")
    (snapshots / "brk.json").write_text("{}\n")
    first = tree_stamp(samples, snapshots, "auto")
    assert tree_stamp(samples, snapshots, "auto") == first
    assert tree_stamp(samples, snapshots, "refresh") != first
    (samples / "brk.c").write_text("int main(void) { return 1; }\n")
    just_saved(samples / "brk.c")
    second = tree_stamp(samples, snapshots, "auto")
    assert second != first
    (snapshots / "new.json").write_text("{}\n")
    third = tree_stamp(samples, snapshots, "auto")
    assert third != second
    # Saved again within one tick of the file clock, its stats unchanged: the stamp of a
    # file that recent holds its digest, and moves.
    same_tick_rewrite(samples / "brk.c", "int main(void) { return 2; }\n")
    assert tree_stamp(samples, snapshots, "auto") != third
    mark = FreshMark(tmp_path / "cache")
    assert not mark.holds(first)
    mark.set(first)
    assert mark.holds(first) and not mark.holds(second)
    mark.clear()
    assert not mark.holds(first)


# -- whole builds -----------------------------------------------------------------------


def entries(cache: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in (cache / "pages").rglob("*.json")}


def built(out: Path, cache: Path, repo: Path, *prefix: str, config: str | None = PUBLISH,
          strict: bool = True) -> str:
    """A frozen ``mkdocs build --strict -f config`` of ``repo`` (``prefix``: a command to
    run it under; no ``config``: mkdocs.yml, unnamed, as ``mkdocs build`` finds it); its
    log."""
    import subprocess
    import sys

    env = {**os.environ, "ROADS_MODE": "frozen", "ROADS_ROOT": str(repo), "ROADS_CACHE": str(cache),
           "NO_MKDOCS_2_WARNING": "1"}
    env.pop("SITE_URL", None)
    options = (["--strict"] if strict else []) + (["-f", config] if config else [])
    done = subprocess.run([*prefix, sys.executable, "-m", "mkdocs", "build", *options,
                           "--site-dir", str(out)], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def cold_copy(cache: Path, name: str) -> Path:
    """A cache folder with the figures of ``cache`` and an empty page cache."""
    other = cache.parent / name
    shutil.copytree(cache, other)
    shutil.rmtree(other / "pages")
    return other


@pytest.mark.slow
@pytest.mark.dot
def test_warm_builds_are_byte_identical_and_edits_render_what_they_touch(tmp_path):
    from macros.ahead import cores

    repo = copy_checkout(tmp_path / "repo")
    cache = tmp_path / "cache"
    log = built(tmp_path / "cold", cache, repo)
    # On two cores or more the cold build rendered pages ahead, in a worker process
    # (macros/ahead.py); on one core it rendered them all itself: the same bytes, and
    # the same figures drawn (each once: the figure cache locks one being drawn).
    if cores() >= 2 and shutil.which("taskset"):
        assert re.search(r"rendering pages ahead in \d+ worker process", log), log[-2000:]
        alone = tmp_path / "cache-one-core"
        assert "ahead" not in built(tmp_path / "one-core", alone, repo, "taskset", "-c", "0")
        ahead, one = tree(tmp_path / "cold"), tree(tmp_path / "one-core")
        assert ahead.keys() == one.keys() and [n for n in ahead if ahead[n] != one[n]] == []
        drawn = {p.name for p in (cache / "figures").rglob("*.html")}
        shown = {p.name for p in (alone / "figures").rglob("*.html")}
        assert drawn == shown
        # Flat, with one lock file for all: no folder and no lock file an entry.
        assert {p.name for p in (cache / "figures").iterdir()} - drawn <= {".locks", ".pruned"}
    kept = entries(cache)
    assert kept, "the build kept no page"
    # The theme's templates were compiled and kept (macros/themecache.py): the warm
    # build loads their code, compiles none again, and writes the same bytes.
    compiled = {str(p): p.stat().st_mtime_ns for p in (cache / "theme").rglob("*.cache")}
    assert len(compiled) > 10
    build(tmp_path / "warm", "frozen", cache, root=repo)
    assert entries(cache) == kept, "a warm build rendered a page again"
    assert {str(p): p.stat().st_mtime_ns for p in (cache / "theme").rglob("*.cache")} == compiled
    # The pages rendered for the published site serve a build while writing (mkdocs.yml,
    # found unnamed, not strict, no print page) too, and the other way round.
    built(tmp_path / "writing", cache, repo, config=None, strict=False)
    assert entries(cache) == kept, "a build without the editions rendered a page again"
    # Without the editions, print.html says where the series on one page is made.
    left_out = (tmp_path / "writing" / "print.html").read_text(encoding="utf-8")
    assert "mkdocs-publish.yml" in left_out and "roads-print-page" not in left_out
    assert "roads-print-page" in (tmp_path / "cold" / "print.html").read_text(encoding="utf-8")
    cold, warm = tree(tmp_path / "cold"), tree(tmp_path / "warm")
    assert cold.keys() == warm.keys()
    assert [n for n in cold if cold[n] != warm[n]] == []

    # A claim's words, and a value in a capture: the pages that show them change, as a
    # build with an empty page cache shows them, and the others are not rendered again.
    claims = repo / "tests" / "claims.toml"
    text = claims.read_text(encoding="utf-8")
    found = re.search(r'id = "hello-[\w-]+"\npage = "docs/hello-world.md"\ntext = "[^"{]*"', text)
    assert found, "no claim of the hello page to edit"
    claims.write_text(text.replace(found.group(0), found.group(0)[:-1] + ' Edited words."', 1),
                      encoding="utf-8")
    # The run's exit code, which a claim's words show (on its page and in the list of
    # claims on About, which reuses the words rendered for the page).
    capture = repo / "snapshots" / "starti.json"
    data = capture.read_text(encoding="utf-8")
    assert '"exit_code": 0,' in data
    capture.write_text(data.replace('"exit_code": 0,', '"exit_code": 3,'), encoding="utf-8")
    build(tmp_path / "edited", "frozen", cache, root=repo)
    build(tmp_path / "reference", "frozen", cold_copy(cache, "cache-cold"), root=repo)
    edited, reference = tree(tmp_path / "edited"), tree(tmp_path / "reference")
    assert [n for n in edited if edited[n] != reference[n]] == []
    changed = sorted(n for n in edited if n.endswith(".html") and edited[n] != warm[n])
    assert "hello-world/index.html" in changed and "about/index.html" in changed
    assert "Edited words." in (tmp_path / "edited" / "hello-world" / "index.html").read_text()
    # The pages that neither show the claim nor list the claims were not rendered again.
    renewed = {p for p, t in entries(cache).items() if kept.get(p) != t}
    assert 0 < len(renewed) < len(kept) / 2


def test_a_page_rendered_around_a_kept_figure_still_depends_on_its_capture(tmp_path):
    """A page edited, whose figure then comes from the figure cache, records the files
    the figure was drawn from as read, as a page that drew it does: a later change to
    the capture renders the page again (it kept the map of before)."""
    from tests.test_modes import frozen_site, mkdocs_build

    root = frozen_site(tmp_path, "{{ memory_map('intmain') }}")
    page = root / "docs" / "index.md"

    def shown() -> str:
        done = mkdocs_build(root, tmp_path / "site", ROADS_MODE="frozen", ROADS_ROOT=str(root))
        assert done.returncode == 0, done.stderr[-3000:]
        return (tmp_path / "site" / "index.html").read_text(encoding="utf-8")

    assert "[vdso]" in shown()
    page.write_text(page.read_text() + "\nOne more sentence.\n")
    assert "One more sentence." in shown()  # rendered again, its figure from the cache
    capture = root / "snapshots" / "intmain.json"
    capture.write_text(capture.read_text().replace('"[vdso]"', '"[vdsx]"'))
    after = shown()
    assert "[vdsx]" in after and "[vdso]" not in after


def test_what_a_pages_template_reads_besides_macros_renders_it_again(tmp_path):
    """A page kept by the page cache is rendered again when what its template reads
    changes, as a build with an empty cache shows: a file it includes, a file it looked
    for and did not find, the macros plugin's own settings, a claim's page written
    after the claim (on the list of claims); a page that shows the site's name is
    right after a rename (it reads ``config``: rendered at every build); and a page whose
    title holds a macro is never kept (a kept page is not rendered, its title with it)."""
    from tests.test_modes import frozen_site, mkdocs_build

    root = frozen_site(tmp_path, "{% include 'includes/said.md' %}\n\n"
                                 "{% include ['includes/first.md', 'includes/said.md'] %}\n\n"
                                 "{% include 'includes/later.md' ignore missing %}\n\n"
                                 "{{ claims() }}\n")
    (root / "docs" / "named.md").write_text("---\ntitle: Named\n---\n\n"
                                            "Built for {{ config.site_name }}.\n")
    (root / "docs" / "includes").mkdir()
    said = root / "docs" / "includes" / "said.md"
    said.write_text("First words.\n")
    (root / "tests").mkdir()
    (root / "tests" / "claims.toml").write_text(
        '[[claim]]\nid = "later"\npage = "docs/later.md"\ntext = "Said later."\n'
        'test = "test_x.py::test_later"\n')
    (root / "docs" / "titled.md").write_text("---\ntitle: Probe {{ 6 * 7 }}\n---\n\nText.\n")

    def shown(page: str = "index.html") -> str:
        done = mkdocs_build(root, tmp_path / "site", ROADS_MODE="frozen", ROADS_ROOT=str(root))
        assert done.returncode == 0, done.stderr[-3000:]
        return (tmp_path / "site" / page).read_text(encoding="utf-8")

    first = shown()
    assert "First words." in first and "All Roads To Memory" in shown("named/index.html")
    assert "docs/later.md: 1 claim" in first and "Probe 42" in first
    said.write_text("Other words.\n")
    assert "Other words." in shown()
    # Files looked for and not found: made, they render the page again.
    (root / "docs" / "includes" / "later.md").write_text("Written later.\n")
    assert "Written later." in shown()
    (root / "docs" / "includes" / "first.md").write_text("Found first.\n")
    assert "Found first." in shown()
    # ... and kept, all the same (the page of includes reads nothing the cache does not
    # follow), and not rendered again by a build where nothing moved.
    import json

    pages = root / ".cache" / "roads" / "pages"
    before = {p.name: p.stat().st_mtime_ns for p in pages.rglob("*.json")}
    assert any("Found first." in json.loads(p.read_text())["payload"].get("markdown", "")
               for p in pages.rglob("*.json"))
    assert "Found first." in shown()
    assert {p.name: p.stat().st_mtime_ns for p in pages.rglob("*.json")} == before
    config = root / "mkdocs.yml"
    config.write_text(config.read_text().replace("site_name: All Roads To Memory",
                                                 "site_name: Another Name"))
    assert "Built for Another Name." in shown("named/index.html")
    (root / "docs" / "later.md").write_text("---\ntitle: Written Later\n---\n\nSaid later.\n")
    again = shown()
    assert "Written Later: 1 claim" in again and "Probe 42" in again
    assert "Probe {{" not in again
    config.write_text(config.read_text().replace("      on_undefined: strict",
                                                 "      on_undefined: strict\n"
                                                 "      render_by_default: false"))
    assert "{{ claims() }}" in shown()


def test_a_page_whose_template_reads_the_plugins_variables_is_rendered_at_every_build(tmp_path):
    """The page cache cannot follow the macros plugin's variables (``config`` beyond the
    parts in its key, ``page``, ``git``, ``now()``): a page whose template reads one is
    rendered again at every build, and a claim's words that read one are not kept,
    while a page of macros, front matter and ``extra`` only is kept. Before, the first
    page kept its old address, the claim its old title, the words calling now() their
    old time, and of two pages importing one template, the second the old capture."""
    from tests.test_modes import frozen_site, mkdocs_build

    root = frozen_site(tmp_path, "Served at {{ config.dev_addr }}. Exit "
                                 "{{ value('intmain', 'exit_code') }}, mode {{ roads.mode }}.")
    second = root / "docs" / "second.md"
    second.write_text("---\ntitle: Second\n---\n\n{{ claim('probe') }} {{ claim('stamp') }} "
                      "Said on {{ title }}.\n")
    (root / "tests").mkdir()
    (root / "tests" / "claims.toml").write_text(
        '[[claim]]\nid = "probe"\npage = "docs/second.md"\n'
        'text = "Read on {{ page.title }}."\ntest = "test_x.py::test_probe"\n'
        # The plugin's now(), called as our macros are: looked up, so noted, all the same.
        '[[claim]]\nid = "stamp"\npage = "docs/second.md"\n'
        'text = "Stamped in {{ now() }}."\ntest = "test_x.py::test_stamp"\n')
    # A template imported by two pages: each runs its code (Jinja keeps an imported
    # template's module on the template), so both record the capture it reads.
    (root / "docs" / "includes").mkdir()
    (root / "docs" / "includes" / "lib.md").write_text(
        "{% set code = value('intmain', 'exit_code') %}{% macro shown() %}{{ code }}{% endmacro %}")
    for name in ("p", "q"):
        (root / "docs" / f"{name}.md").write_text(
            f"---\ntitle: {name}\n---\n\n{{% from 'includes/lib.md' import shown %}}"
            f"Imported {{{{ shown() }}}} by {name}.\n")
    (root / "docs" / "third.md").write_text(
        "---\ntitle: Third\n---\n\nExit {{ value('intmain', 'exit_code') }} on {{ title }}, "
        "mode {{ roads.mode }} ({{ extra.roads.mode }}){% for i in range(1) %}.{% endfor %}\n")
    cache = root / ".cache" / "roads" / "pages"

    def shown(page: str) -> str:
        done = mkdocs_build(root, tmp_path / "site", ROADS_MODE="frozen", ROADS_ROOT=str(root))
        assert done.returncode == 0, done.stderr[-3000:]
        return (tmp_path / "site" / page).read_text(encoding="utf-8")

    assert "Served at 127.0.0.1:8000. Exit 0, mode auto." in shown("index.html")
    assert "Read on Second. Stamped in " in shown("second/index.html")
    config = root / "mkdocs.yml"
    config.write_text(config.read_text() + "\ndev_addr: 127.0.0.1:8123\n")
    second.write_text(second.read_text().replace("title: Second", "title: Renamed"))
    for name in ("p", "q"):  # rendered again, in one process (no worker once pages are kept)
        page = root / "docs" / f"{name}.md"
        page.write_text(page.read_text().replace(f"by {name}.", f"by page {name}."))
    assert "Served at 127.0.0.1:8123." in shown("index.html")
    assert "Read on Renamed. Stamped in " in shown("second/index.html")
    capture = root / "snapshots" / "intmain.json"
    capture.write_text(capture.read_text().replace('"exit_code": 0,', '"exit_code": 7,'))
    assert "Imported 7 by page p." in shown("p/index.html")
    assert "Imported 7 by page q." in shown("q/index.html")
    # Kept renderings of macros (a page's Markdown, a claim's words; not its HTML, kept
    # under a digest of the Markdown exactly as rendered).
    import json

    entries = [json.loads(p.read_text(encoding="utf-8"))["payload"] for p in cache.rglob("*.json")]
    rendered = [e.get("markdown", e.get("text", "")) for e in entries if "html" not in e]
    assert not any("Read on" in e or "Stamped" in e or "Served at" in e or "Said on" in e
                   for e in rendered)
    # What the macros, the front matter and extra give is followed: such a page is kept.
    assert any("Exit 7 on Third, mode auto (auto)." in e for e in rendered)


def test_git_information_is_asked_again_only_when_the_repository_moves(tmp_path, monkeypatch):
    import subprocess

    from mkdocs_macros.context import get_git_info

    from macros import gitinfo

    def git(*args):
        subprocess.run(["git", "-c", "user.name=A", "-c", "user.email=a@example.org", *args],
                       cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "f").write_text("one\n")
    git("add", "f")
    git("commit", "-q", "-m", "first")
    monkeypatch.chdir(tmp_path)
    asked = []
    original = getattr(get_git_info, "__wrapped__", get_git_info)

    def counting():
        asked.append(1)
        return original()

    cached = gitinfo.cached(counting)
    first = cached()
    assert first == original() and first["status"] and first["message"] == "first"
    assert first["date"] is not None
    gitinfo._memory.clear()  # a new process: from the file
    assert cached() == first and len(asked) == 1
    git("commit", "-q", "--allow-empty", "-m", "second")
    second = cached()
    assert len(asked) == 2 and second["message"] == "second" and second == original()
    git("tag", "v1")
    assert cached()["tag"] == "v1" and len(asked) == 3


def test_git_information_asked_ahead_in_a_thread_is_what_the_plugin_gets(tmp_path, monkeypatch):
    """``install`` asks git while MkDocs loads the configuration, in a thread: the
    plugin's call waits for that answer, git is asked once, and no thread is left."""
    import subprocess
    import threading

    from mkdocs_macros.context import get_git_info

    from macros import gitinfo

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "-c", "user.name=A", "-c", "user.email=a@example.org", "commit", "-q",
                    "--allow-empty", "-m", "ahead"], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    original = getattr(get_git_info, "__wrapped__", get_git_info)
    asked = []

    def counting():
        asked.append(threading.current_thread().name)
        if len(asked) == 1 and failing:
            raise OSError("git went away")
        return original()

    failing = False
    cached = gitinfo.cached(counting)
    cached.ask_ahead()
    cached.ask_ahead()  # asked already: not again
    got = cached()
    assert asked == ["roads-git-info"] and got == original() and got["message"] == "ahead"
    assert not any(t.name == "roads-git-info" for t in threading.enumerate())
    cached.ask_ahead()  # kept now: nothing to ask
    gitinfo._memory.clear()
    cached.ask_ahead()  # kept on disk too
    assert asked == ["roads-git-info"]

    # A question asked for a state that moved on (a commit while MkDocs starts) is
    # waited for and dropped, even when the answer for the new state is kept already.
    gitinfo._memory.clear()
    (tmp_path / ".cache").rename(tmp_path / "kept")
    cached.ask_ahead()
    subprocess.run(["git", "-c", "user.name=A", "-c", "user.email=a@example.org", "commit", "-q",
                    "--allow-empty", "-m", "later"], cwd=tmp_path, check=True)
    gitinfo._memory[gitinfo.stamp(tmp_path)] = {"status": True, "message": "kept"}
    assert cached()["message"] == "kept"
    assert not gitinfo._ahead and not any(t.name == "roads-git-info" for t in threading.enumerate())
    subprocess.run(["git", "reset", "-q", "--soft", "HEAD~1"], cwd=tmp_path, check=True)
    (tmp_path / "kept").rename(tmp_path / ".cache")

    # A question asked ahead that failed is asked again by the plugin's call.
    (tmp_path / ".cache").rename(tmp_path / "gone")
    gitinfo._memory.clear()
    asked.clear()
    failing = True
    cached.ask_ahead()
    assert cached()["message"] == "ahead"
    assert asked == ["roads-git-info", "MainThread"]


def test_install_asks_git_ahead_and_a_git_without_answer_leaves_the_variable_empty(
        tmp_path, monkeypatch, caplog):
    """What ``macros/hooks.py`` does when MkDocs loads it: the plugin's function cached,
    and git asked in a thread. A git that does not answer in ``AHEAD_WAIT`` costs that
    wait once: the variable is empty, with a warning, and nothing is kept."""
    import logging
    import subprocess
    import threading

    from mkdocs_macros import context

    from macros import gitinfo

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    release = threading.Event()

    def hanging():
        release.wait(30)
        return {"status": True, "date": None, "message": "too late"}

    monkeypatch.setattr(context, "get_git_info", hanging)
    monkeypatch.setattr(gitinfo, "AHEAD_WAIT", 0.3)
    gitinfo.install()
    assert context.get_git_info.roads_cached
    asking = [t for t in threading.enumerate() if t.name == "roads-git-info"]
    assert len(asking) == 1
    gitinfo.install()  # MkDocs loads the hooks again for each rebuild of `serve`
    assert [t for t in threading.enumerate() if t.name == "roads-git-info"] == asking
    with caplog.at_level(logging.WARNING, logger="mkdocs.plugins.roads"):
        got = context.get_git_info()
    assert got == {"status": False, "diagnosis": "git gave no answer", "date": None}
    assert "git gave no answer in 0 s" in caplog.text
    release.set()
    asking[0].join(10)
    assert not asking[0].is_alive() and not (tmp_path / ".cache").exists()


def test_git_information_outside_any_repository_is_kept_too(tmp_path, monkeypatch):
    from macros import gitinfo

    monkeypatch.chdir(tmp_path)
    if gitinfo._git_dir(tmp_path) != "none":
        pytest.skip("the temporary folder is inside a git repository")
    asked = []
    cached = gitinfo.cached(lambda: asked.append(1) or {"status": False, "date": None})
    assert cached() == cached() == {"status": False, "date": None}
    assert len(asked) == 1


# -- pruning ------------------------------------------------------------------------------


def test_entries_unused_for_a_month_are_pruned_and_a_used_one_stays(tmp_path):
    from roads import cachedir
    from roads.figures.figcache import FigureCache

    day = cachedir.DAY
    now = time.time()
    cache = RenderCache(tmp_path / "pages")
    for name in ("used", "unused", "recent"):
        cache.put(digest([name]), {"markdown": name}, ())
    old = now - 40 * day
    for name in ("used", "unused"):
        os.utime(cache._path(digest([name])), (old, old))
    os.utime(cache._path(digest(["recent"])), (now - 10 * day, now - 10 * day))
    leftover = cache.directory / "ab" / ".x.json.123.tmp"  # a writer killed mid-write
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_text("{")
    os.utime(leftover, (old, old))
    # Found by a build: marked used (a month-old mark moves to now).
    assert cache.get(digest(["used"])) == {"markdown": "used"}
    assert cache._path(digest(["used"])).stat().st_mtime > now - day
    assert cache.prune() == 2
    assert cache.get(digest(["unused"])) is None and not leftover.exists()
    assert cache.get(digest(["used"])) and cache.get(digest(["recent"]))
    # Scanned at most once a day: a build on the same day only looks at the stamp.
    os.utime(cache._path(digest(["recent"])), (old, old))
    assert cache.prune() is None
    assert cache.prune(now=now + 2 * day) == 1

    figures = FigureCache(tmp_path / "figures", "code")
    figures.get_key("f" * 64, lambda: "<svg/>")
    path = next((tmp_path / "figures").rglob("*.html"))
    os.utime(path, (old, old))
    assert figures.prune() == 1 and not path.exists()
    again = FigureCache(tmp_path / "figures", "code")
    assert again.get_key("f" * 64, lambda: "<svg>made again</svg>") == "<svg>made again</svg>"


def test_a_page_of_a_saved_session_depends_on_the_code_that_captured_it(tmp_path):
    """The worked example's page depended on the saved session and its program's source
    only: with only the capture engine changed (launcher.c, say), a cached page kept the
    stale session, and no build made it again."""
    from macros.pagecache import saved_session_inputs
    from tests.conftest import REPO

    saved = REPO / "docs" / "explained" / "layout.json"
    inputs = {p.resolve() for p in saved_session_inputs(saved, REPO)}
    for name in ("roads/capture/launcher.c", "roads/capture/runner.py", "roads/explain/page.py",
                 "roads/explain/trace.py", "samples/layout.c"):
        assert (REPO / name).resolve() in inputs, name
    assert {p.resolve() for p in saved_session_inputs(tmp_path / "missing.json", REPO)} >= {
        (REPO / "roads/capture/launcher.c").resolve()}
