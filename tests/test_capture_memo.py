"""What the capture engine remembers to go faster (issue 14) is keyed by what it was made
from: a changed input always means doing the work again.

Real files only: a scratch sample captured with gcc for the fresh stamps kept on disk,
a committed capture for the comparison of a refresh, this process's smaps and text
built from it for the smaps blocks, real files and links for the manifest's paths.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from roads import document
from roads.capture import capturer as capturer_module
from roads.capture import freeze
from roads.capture.capturer import Capturer, Outcome
from roads.cachedir import COARSE_RACY_NS, FUTURE_NS, RACY_NS, racy
from roads.capture.freshness import Checker
from roads.capture.marks import ValidMarks
from roads.capture.proc import _parse_smaps, parse_smaps
from roads.capture.samples import read_manifest
from roads.capture.sampleset import SampleSet
from roads.capture.snapshot import region_record
from roads.capture.store import Store
from roads.errors import CaptureError, CompileError, ConfigError
from tests.conftest import REPO, just_saved, same_tick_rewrite, saved_an_hour_ago


def _age(root: Path, seconds: float = 60) -> None:
    """Move every file under ``root`` back in time, as files are when a later build
    looks at them (a file just written is too recent for a kept stamp to vouch for)."""
    then = time.time() - seconds
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


@pytest.mark.gcc
def test_a_kept_fresh_stamp_serves_a_new_project_until_an_input_moves(scratch) -> None:
    scratch.add("kept", """\
        #include "roads.h"
        int main(void) { ROADS_CHECKPOINT("here"); return 0; }
        """, 'checkpoints = ["here"]')
    assert scratch.project().capture_one("kept").action == "captured"
    _age(scratch.root)
    memo = scratch.root / ".cache" / "roads" / "fresh" / "kept.json"

    # A file written just now is not vouched for: no stamp is kept for it.
    just_saved(scratch.root / "snapshots" / "kept.json")
    assert scratch.project().freshness("kept").state == "fresh"
    assert not memo.exists()
    _age(scratch.root)

    assert scratch.project().freshness("kept").state == "fresh"
    assert memo.is_file()
    project = scratch.project()
    assert project.checker.still_fresh("kept")
    assert project.store._versions == {}  # the capture itself was not read
    assert project.capture_one("kept").action == "fresh"

    def judged_again() -> bool:
        fresh = scratch.project()
        return not fresh.checker.still_fresh("kept")

    # The engine that judged, or the compiler it asked (not asked in frozen mode).
    other = scratch.project()
    other.checker.engine = "another engine"
    assert not other.checker.still_fresh("kept")
    assert not scratch.project(mode="frozen").checker.still_fresh("kept")
    assert scratch.project().checker.still_fresh("kept")

    # The sample's source, saved again: stale, and no stamp vouches for it any more.
    source = scratch.samples / "kept.c"
    source.write_text(source.read_text().replace("return 0;", "return 0; "))
    assert judged_again()
    assert scratch.project().freshness("kept").state == "stale"

    # Back as it was (its digest is the recorded one): fresh again, kept again.
    source.write_text(source.read_text().replace("return 0; ", "return 0;"))
    _age(scratch.root)
    assert scratch.project().freshness("kept").state == "fresh"
    assert scratch.project().checker.still_fresh("kept")

    # The manifest entry, changed: the stamp holds the entry, and the file's stats.
    manifest = scratch.samples / "samples.toml"
    saved = manifest.read_text()
    manifest.write_text(saved.replace('["here"]', '["here"]\ntimeout = 9'))
    assert judged_again()
    manifest.write_text(saved)
    _age(scratch.root)
    assert judged_again()  # the same text, but the file moved: judged once more
    assert scratch.project().freshness("kept").state == "fresh"
    assert scratch.project().checker.still_fresh("kept")

    # The capture file itself replaced, or a header it lists gone.
    capture = scratch.root / "snapshots" / "kept.json"
    capture.write_bytes(capture.read_bytes())
    os.utime(capture, (time.time() - 30, time.time() - 30))
    assert judged_again()
    assert scratch.project().freshness("kept").state == "fresh"
    header = scratch.samples / "roads.h"
    shutil.move(header, scratch.root / "roads.h")
    assert judged_again()
    shutil.move(scratch.root / "roads.h", header)

    # A stamp that does not parse is no stamp.
    memo.write_text("{")
    assert judged_again()


def test_a_stamp_is_kept_only_for_files_older_than_the_racy_window(tmp_path: Path) -> None:
    """The rule in isolation: a file stamped less than RACY_NS ago is not vouched for."""
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "samples.toml").write_text('[one]\ncheckpoints = ["x"]\n')
    (samples / "one.c").write_text("int main(void) { return 0; }\n")
    store = Store(tmp_path / "snapshots", ValidMarks(tmp_path / "cache"))
    checker = Checker(SampleSet(samples), store, consult_gcc=False, memo=tmp_path / "fresh")
    sample = checker.samples.sample("one")
    now = time.time_ns()
    fresh_file = (str(samples / "one.c"), now, 10, 1)
    old_file = (str(samples / "one.c"), now - 2 * RACY_NS, 10, 1)
    checker._memo_keep("one", (fresh_file, sample))
    assert not (tmp_path / "fresh" / "one.json").exists()
    checker._memo_keep("one", (old_file, sample))
    assert (tmp_path / "fresh" / "one.json").exists()


def test_a_stamp_of_a_whole_second_is_racy_for_longer() -> None:
    """A file system that stamps whole seconds (a coarse clock) can keep a file's stamp
    through a second save a second later: such a stamp is not vouched for until
    COARSE_RACY_NS has passed, a finer one after RACY_NS."""
    now = time.time_ns()
    fine = now - 3 * RACY_NS // 2
    fine += 1 if fine % 10**9 == 0 else 0
    assert racy(now, read_at=now) and not racy(fine, read_at=now)
    whole = (now - COARSE_RACY_NS // 2) // 10**9 * 10**9
    assert now - whole > RACY_NS and racy(whole, read_at=now)
    assert not racy((now - COARSE_RACY_NS) // 10**9 * 10**9 - 10**9, read_at=now)
    # A stamp ahead of the clock is recent, unless it is so far ahead that another clock
    # made it (a save here would move it back): it vouches then.
    assert racy(now + FUTURE_NS // 2, read_at=now) and not racy(now + 2 * FUTURE_NS, read_at=now)
    # Judged by when a read began, a stamp is recent however long ago that was.
    assert racy(fine, read_at=fine + RACY_NS // 2) and not racy(fine, read_at=fine + RACY_NS + 1)


def test_a_capture_saved_again_within_one_tick_is_read_again(tmp_path: Path) -> None:
    """The store keeps a capture read by its stats; one read while they could not vouch
    for its bytes is compared by digest at each read until they can (a same-size save
    within one tick of a coarse file clock leaves its stats as they were)."""
    doc = json.loads((REPO / "snapshots" / "brk.json").read_text(encoding="utf-8"))
    store, path = _store_with(tmp_path, doc)
    just_saved(path)  # recent for the whole test, however slowly it runs
    first = store.read("brk")
    _save_again_keeping_stats(path)
    assert store.read("brk") != first
    assert '"exit_code": 7' in json.dumps(store.read("brk"))


def test_a_capture_is_judged_recent_by_when_its_read_began(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether a capture's stats vouch for its bytes is judged by the moment its read
    began, not after its check: a check slower than RACY_NS (a busy machine) must not
    let a save in the same tick, during the check, go unseen."""
    doc = json.loads((REPO / "snapshots" / "brk.json").read_text(encoding="utf-8"))
    store, path = _store_with(tmp_path, doc)
    now = time.time_ns()
    os.utime(path, ns=(now, now + (1 if now % 10**9 == 0 else 0)))
    late = [0]
    real_ns, real_check = time.time_ns, store.marks.check
    monkeypatch.setattr(time, "time_ns", lambda: real_ns() + late[0])

    def slow_check(*args: object) -> object:  # the clock moves on while the capture is checked
        typed = real_check(*args)
        late[0] += 2 * COARSE_RACY_NS
        return typed

    monkeypatch.setattr(store.marks, "check", slow_check)
    first = store.read("brk")
    _save_again_keeping_stats(path)
    assert store.read("brk") != first


def test_a_manifest_saved_again_within_one_tick_is_read_again(tmp_path: Path) -> None:
    """The same for the samples' manifest, in the SampleSet that read it: a save that
    keeps its stats while they vouch for nothing yet is still seen."""
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "one.c").write_text("int main(void) { return 0; }\n")
    manifest = samples / "samples.toml"
    manifest.write_text('[one]\ncheckpoints = ["x"]\n')
    just_saved(manifest)
    found = SampleSet(samples)
    assert found.sample("one").checkpoints == ("x",)
    same_tick_rewrite(manifest, '[one]\ncheckpoints = ["y"]\n')
    assert found.sample("one").checkpoints == ("y",)


def _manifest_of(tmp_path: Path, checkpoint: str) -> Path:
    samples = tmp_path / "samples"
    samples.mkdir(exist_ok=True)
    (samples / "one.c").write_text("int main(void) { return 0; }\n")
    manifest = samples / "samples.toml"
    manifest.write_text(f'[one]\ncheckpoints = ["{checkpoint}"]\n')
    return manifest


def test_a_manifest_is_judged_by_when_its_first_read_began(tmp_path: Path,
                                                           frozen_clock) -> None:
    """A SampleSet read its manifest just after it was saved: however long before the
    next look (the clock jumps), a save in the same tick is still seen."""
    manifest = _manifest_of(tmp_path, "x")
    found = SampleSet(manifest.parent)
    assert found.sample("one").checkpoints == ("x",)
    frozen_clock.jump(2 * COARSE_RACY_NS)
    same_tick_rewrite(manifest, manifest.read_text().replace('"x"', '"y"'))
    assert found.sample("one").checkpoints == ("y",)


def test_a_manifest_read_slowly_is_not_kept_for_the_process(tmp_path: Path, frozen_clock,
                                                            monkeypatch) -> None:
    """The manifests a process keeps for every SampleSet are judged by when their read
    began: one read slowly, just after a save, is not kept on its stats."""
    from roads.capture import sampleset

    monkeypatch.setattr(sampleset, "_READ", {})
    monkeypatch.setattr(sampleset, "read_manifest",
                        frozen_clock.after(sampleset.read_manifest, 2 * COARSE_RACY_NS))
    manifest = _manifest_of(tmp_path, "x")
    assert SampleSet(manifest.parent).sample("one").checkpoints == ("x",)
    same_tick_rewrite(manifest, manifest.read_text().replace('"x"', '"y"'))
    assert SampleSet(manifest.parent).sample("one").checkpoints == ("y",)


@pytest.mark.gcc
def test_a_capture_judged_slowly_just_after_a_save_is_not_remembered(
        scratch, frozen_clock, monkeypatch) -> None:
    """Freshness judged slowly (the clock jumps while the inputs are hashed) of a sample
    saved just before: neither this process nor a later one (the memo on disk) holds it
    fresh by its stats, so a save in the same tick is judged."""
    scratch.add("slow", """\
        #include "roads.h"
        int main(void) { ROADS_CHECKPOINT("here"); return 0; }
        """, 'checkpoints = ["here"]')
    assert scratch.project().capture_one("slow").action == "captured"
    _age(scratch.root)
    source = scratch.samples / "slow.c"
    os.utime(source, ns=(frozen_clock.now, frozen_clock.now + 1))  # saved just now
    monkeypatch.setattr(Checker, "_judge",
                        frozen_clock.after(Checker._judge, 2 * COARSE_RACY_NS))
    project = scratch.project("frozen")
    assert project.freshness("slow").state == "fresh"
    assert not project.checker.still_fresh("slow")
    assert not (scratch.root / ".cache" / "roads" / "fresh" / "slow.json").exists()


def _save_again_keeping_stats(path: Path) -> None:
    """Save ``path`` again with other bytes of the same size, under the same stamp."""
    text = path.read_text(encoding="utf-8")
    assert '"exit_code": 0,' in text
    same_tick_rewrite(path, text.replace('"exit_code": 0,', '"exit_code": 7,', 1))


def _store_with(tmp_path: Path, doc: dict) -> tuple[Store, Path]:
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    path = snapshots / "brk.json"
    path.write_text(freeze.dumps(doc), encoding="utf-8")
    return Store(snapshots, ValidMarks(tmp_path / "cache")), path


def test_a_capture_checked_as_it_is_read_is_not_decoded_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checking a capture's shape decodes all of it from the file's bytes: the figures
    then read that typed document and never decode it a second time. With a mark from
    an earlier check, it is decoded once, when asked."""
    doc = json.loads((REPO / "snapshots" / "brk.json").read_text(encoding="utf-8"))
    store, path = _store_with(tmp_path, doc)
    decoded = []
    real_decode = document.decode
    monkeypatch.setattr(document, "decode", lambda data: decoded.append(1) or real_decode(data))
    typed = store.document("brk")
    assert decoded == [1]  # the check's decoding, kept
    assert typed == real_decode(path.read_bytes())
    assert store.document("brk") is typed and decoded == [1]

    again = Store(path.parent, ValidMarks(tmp_path / "cache"))  # a later process: marked valid
    assert again.document("brk") == typed
    assert decoded == [1, 1]


def test_a_refresh_compares_a_capture_it_found_valid_without_reading_it(tmp_path: Path) -> None:
    doc = json.loads((REPO / "snapshots" / "brk.json").read_text(encoding="utf-8"))
    store, path = _store_with(tmp_path, doc)
    capturer = Capturer(None, store, None, tmp_path / "cache")  # _write needs no samples
    # Not yet marked valid: compared the long way, and the file's text kept for next time.
    assert capturer._known_stable(path) is None
    assert not capturer._write("brk", copy.deepcopy(doc))
    assert capturer._known_stable(path) == freeze.stable(doc)

    # The same observations: not written, the file untouched.
    before = path.read_bytes()
    assert not capturer._write("brk", copy.deepcopy(doc))
    assert path.read_bytes() == before

    # A counter that must repeat moved: written, and what is written is the new document.
    moved = copy.deepcopy(doc)
    region = moved["variants"]["default"]["runs"][0]["checkpoints"][0]["regions"][0]
    region["kb"]["Rss"] = region["kb"].get("Rss", 0) + 4
    assert capturer._write("brk", moved)
    assert json.loads(path.read_bytes()) == moved

    # A kept text that is not this file's (the file replaced behind our back) is never
    # used: the key is the digest of the file's bytes as they are now.
    path.write_text(freeze.dumps(doc), encoding="utf-8")
    assert not capturer._write("brk", copy.deepcopy(doc))
    assert capturer._write("brk", copy.deepcopy(moved))
    assert json.loads(path.read_bytes()) == moved


def test_a_capture_compared_again_is_hashed_again_only_when_its_stats_move(
        tmp_path: Path, frozen_clock, monkeypatch) -> None:
    """A long-lived process refreshing again (``mkdocs serve``) hashes a capture file once
    its stats can vouch for its bytes; a file just written, or written again (even under
    its old modification time, which moves its change time), is hashed at each look."""
    doc = json.loads((REPO / "snapshots" / "brk.json").read_text(encoding="utf-8"))
    store, path = _store_with(tmp_path, doc)
    capturer = Capturer(None, store, None, tmp_path / "cache")
    assert not capturer._write("brk", copy.deepcopy(doc))  # found valid, its text kept
    hashed: list[int] = []
    real = capturer_module.hashlib.sha256

    def counting(data=b""):
        hashed.append(len(data))
        return real(data)

    monkeypatch.setattr(capturer_module.hashlib, "sha256", counting)
    size = path.stat().st_size
    for _ in range(2):  # saved just now: hashed at each look
        assert capturer._known_stable(path) == freeze.stable(doc)
    assert hashed == [size, size]
    frozen_clock.jump(2 * COARSE_RACY_NS)
    for _ in range(3):
        assert capturer._known_stable(path) == freeze.stable(doc)
    assert hashed == [size] * 3

    # Saved again within the tick, as long as before: the change time tells.
    _save_again_keeping_stats(path)
    assert capturer._known_stable(path) is None  # these bytes were never found valid
    assert len(hashed) == 4

    # A modification time in the future (another machine's clock) is not racy, but the
    # change time the save gave the file now is: not kept, hashed at the next look.
    path.write_text(freeze.dumps(doc), encoding="utf-8")
    ahead = time.time_ns() + 10 * FUTURE_NS
    os.utime(path, ns=(ahead, ahead))
    frozen_clock.now = os.stat(path).st_ctime_ns  # the clock at the save
    assert capturer._known_stable(path) == freeze.stable(doc)
    assert capturer._known_stable(path) == freeze.stable(doc)
    assert len(hashed) == 6


def test_smaps_blocks_parse_as_the_lines_do() -> None:
    text = Path("/proc/self/smaps").read_text()
    assert parse_smaps(text) == _parse_smaps(text) == parse_smaps(text.encode())
    blocks = text.split("\n")
    # A block seen before, with one counter changed: its new value, the others as before.
    row = next(i for i, line in enumerate(blocks) if line.startswith("Rss:"))
    value = int(blocks[row].split()[1])
    blocks[row] = blocks[row].replace(f" {value} kB", f" {value + 4} kB")
    changed = "\n".join(blocks)
    assert parse_smaps(changed) == _parse_smaps(changed)
    assert parse_smaps(changed)[0].kb["Rss"] == parse_smaps(text)[0].kb["Rss"] + 4

    header = "00400000-00401000 r-xp 00000000 00:00 0 "
    for odd in ("", "\n", f"\n\n{header}\nRss: 4 kB\n", f"{header}\nRss: 4 kB",
                f"{header}\nRss: 4 kB\n\n{header}\nRss: 8 kB\n"):
        assert parse_smaps(odd) == _parse_smaps(odd), odd
    for bad in ("Rss: 4 kB\n", f"x\n{header}\n", f"{header}\nbad line\n", "0-1 zz\n",
                f"{header}\nRss: 4 kB\n0-1 zz\n"):
        with pytest.raises(CaptureError) as blocks_error:
            parse_smaps(bad)
        with pytest.raises(CaptureError) as lines_error:
            _parse_smaps(bad)
        assert str(blocks_error.value) == str(lines_error.value), bad


def test_region_records_follow_the_block_and_the_build_folder(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    text = f"00400000-00401000 r-xp 00000000 fe:00 1234 {one}/prog\nRss: 4 kB\n"
    (entry,) = parse_smaps(text)
    assert parse_smaps(text)[0] is entry  # the same block, the same record
    first = region_record(entry, one)
    assert first.pathname == "/build/prog" and first.inode == 0 and first.dev == "00:00"
    assert region_record(entry, one) is first
    assert region_record(entry, two).pathname == f"{one}/prog"  # not that folder's
    (moved,) = parse_smaps(text.replace("Rss: 4", "Rss: 8"))
    assert region_record(moved, one).kb["Rss"] == 8


def test_manifest_paths_resolve_as_before(tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "real.c").write_text("int main(void) { return 0; }\n")
    (samples / "alias.c").symlink_to("real.c")
    (tmp_path / "outside.c").write_text("int main(void) { return 0; }\n")
    (samples / "escape.c").symlink_to(tmp_path / "outside.c")
    (samples / "folder.c").mkdir()
    (samples / "samples.toml").write_text(
        '[plain]\nsource = "real.c"\n[linked]\nsource = "alias.c"\n'
        '[escape]\nsource = "escape.c"\n[folder]\nsource = "folder.c"\n'
        '[missing]\nsource = "nowhere.c"\n[dotted]\nsource = "./real.c"\n')
    manifest = read_manifest(samples)
    assert manifest.samples["plain"].sources == ("real.c",)
    assert manifest.samples["linked"].sources == ("real.c",)  # through the link
    assert manifest.samples["dotted"].sources == ("real.c",)
    assert "outside the samples folder" in manifest.broken["escape"].message
    assert "does not exist" in manifest.broken["folder"].message
    assert "does not exist" in manifest.broken["missing"].message
    assert all(isinstance(e, ConfigError) for e in manifest.broken.values())


def test_captures_found_fresh_take_no_worker_and_keep_their_notes(tmp_path, monkeypatch):
    """A fresh clone's captures are all fresh: judged in the calling thread, one after
    the other (threads would only take turns), with the note of one kept with another
    gcc; only a capture that may need making goes to ``capture_one``."""
    import concurrent.futures

    from roads.capture.project import Project

    for folder in ("samples", "snapshots"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor",
                        lambda *a, **k: pytest.fail("a worker for captures found fresh"))
    project = Project(tmp_path, mode="auto", cache=".cache/roads")
    outcomes = project.capture(jobs=2)
    assert outcomes and {o.action for o in outcomes} == {"fresh"}
    assert [o.sample for o in outcomes] == sorted(o.sample for o in outcomes)

    monkeypatch.setattr(Checker, "gcc", lambda self: "gcc (another) 99.0")
    source = tmp_path / "samples" / "intmain.c"
    source.write_text(source.read_text() + "/* edited */\n")
    asked = []
    monkeypatch.setattr(Capturer, "capture_one", lambda self, name, **kw: asked.append(name)
                        or Outcome(name, "captured"))
    # A cache of its own: the first one's stamps would vouch for them without a word.
    outcomes = {o.sample: o for o in Project(tmp_path, mode="auto",
                                             cache=".cache/other").capture(jobs=2)}
    assert asked == ["intmain"]
    kept = [o for name, o in outcomes.items() if name != "intmain"]
    assert kept and all(o.action == "fresh" and o.reasons for o in kept), kept[0]


@pytest.mark.gcc
def test_a_build_judges_a_capture_again_only_when_its_files_move(scratch, monkeypatch) -> None:
    """Within a build (``Project.begin_build``), a capture brought up to date is not
    judged again for every figure and value while its files keep their stats; a sample
    saved during the build is judged at the next load, as outside a build (a broken
    one fails at once, not the page with the capture of before); the next build judges
    every capture again."""
    scratch.add("once", """\
        #include "roads.h"
        int main(void) { ROADS_CHECKPOINT("here"); return 0; }
        """, 'checkpoints = ["here"]')
    project = scratch.project()
    assert project.capture_one("once").action == "captured"
    source = scratch.samples / "once.c"
    judged = []
    capture_one = Capturer.capture_one
    monkeypatch.setattr(Capturer, "capture_one",
                        lambda self, name, **kw: judged.append(name) or capture_one(self, name, **kw))

    project.load("once")
    project.load("once")
    assert judged == ["once", "once"]  # outside a build: judged at every load

    # A file just written is judged at every load, even in a build (its stats vouch for
    # nothing yet): aged, as a later build finds its files.
    _age(scratch.root)
    project.begin_build()
    judged.clear()
    first = project.load("once")
    assert project.load("once") == first and project.document("once") is not None
    assert judged == ["once"]

    # Saved during the build: judged (and captured) again at the next load.
    source.write_text(source.read_text() + "/* edited */\n")
    again = project.load("once")
    assert judged == ["once", "once"]
    assert again["inputs"]["files"]["once.c"] != first["inputs"]["files"]["once.c"]
    # The capture it wrote is judged once more (it moved while judged), then settled.
    _age(scratch.root)
    project.load("once")
    assert project.load("once")["inputs"] == again["inputs"]
    assert judged == ["once", "once", "once"]

    # Saved broken during the build: the next load fails, it does not show the capture.
    source.write_text("int main(void) { return }\n")
    with pytest.raises(CompileError):
        project.load("once")
    with pytest.raises(CompileError):
        project.load("once")

    source.write_text('#include "roads.h"\nint main(void) { ROADS_CHECKPOINT("here"); return 0; }\n')
    project.load("once")
    _age(scratch.root)
    project.begin_build()  # the next build: judged again, once
    judged.clear()
    for _ in range(3):
        project.load("once")
    assert judged == ["once"]


@pytest.mark.gcc
def test_a_sample_saved_twice_within_one_tick_is_judged_again(scratch) -> None:
    """What a Project found of a sample saved just now is not remembered by its stats:
    saved again within one tick of the file clock, same size and same stats, it is judged
    again, in a build (``Project.load``'s settled captures) and by the checker
    (``still_fresh``), in auto mode (captured again) and in frozen mode (stale)."""
    scratch.add("tick", """\
        #include "roads.h"
        int main(void) { ROADS_CHECKPOINT("here"); return 0; }
        """, 'checkpoints = ["here"]')
    assert scratch.project().capture_one("tick").action == "captured"
    _age(scratch.root)
    source = scratch.samples / "tick.c"
    text = source.read_text()
    just_saved(source)

    frozen = scratch.project("frozen")
    frozen.begin_build()
    frozen.load("tick")
    assert frozen.freshness("tick").state == "fresh"
    assert not frozen.checker.still_fresh("tick")  # found fresh, but too recent to remember
    auto = scratch.project()
    auto.begin_build()
    first = auto.load("tick")

    same_tick_rewrite(source, text.replace(") { ROADS", ")  {ROADS"))
    assert not frozen.checker.still_fresh("tick")
    assert frozen.freshness("tick").state == "stale"
    again = auto.load("tick")
    assert again["inputs"]["files"]["tick.c"] != first["inputs"]["files"]["tick.c"]


def _site_build(root: Path, monkeypatch) -> None:
    """The site's settings for a frozen build of copies of this checkout's samples and
    captures in ``root``, no build begun yet (``macros.project``)."""
    from macros import project as site

    for folder in ("samples", "snapshots"):
        shutil.copytree(REPO / folder, root / folder)
    monkeypatch.setattr(site, "_current", site.Settings(mode="frozen", root=str(root),
                                                        cache=str(root / "cache")))
    monkeypatch.setattr(site, "_builds", 0)
    monkeypatch.setattr(site, "_begun", {})


def test_each_build_the_site_begins_judges_its_captures_anew(tmp_path, monkeypatch) -> None:
    """``prefetch`` (the macros' define_env, once per build and per rebuild of ``mkdocs
    serve``) begins a build for the shared Project, in frozen mode too: what one build
    settled, the next judges again. Outside any build, nothing is settled."""
    from macros import project as site

    _site_build(tmp_path, monkeypatch)
    assert site.project()._settled is None
    site.prefetch()
    shared = site.project()
    assert shared._settled == {}
    shared.load("intmain")
    assert set(site.project()._settled) == {"intmain"}  # the same build
    site.prefetch()
    assert site.project() is shared and shared._settled == {}


def test_a_frozen_build_warns_of_a_stale_capture_once_and_the_next_build_again(
        tmp_path, caplog) -> None:
    """Under ``mkdocs serve`` every rebuild is a build of its own: a stale capture it
    reads is warned about in each (a page that warned is not kept), once in each."""
    import logging

    from roads.capture.project import Project

    for folder in ("samples", "snapshots"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    source = tmp_path / "samples" / "intmain.c"
    source.write_text(source.read_text() + "/* edited */\n")
    project = Project(tmp_path, mode="frozen", cache=".cache/roads")
    with caplog.at_level(logging.WARNING, logger="roads"):
        for _ in range(2):
            project.begin_build()
            project.load("intmain")
            project.load("intmain")
    stale = [r for r in caplog.records if "capture of 'intmain' is stale" in r.getMessage()]
    assert len(stale) == 2


def test_a_capture_a_page_records_as_read_is_not_hashed_a_second_time(tmp_path,
                                                                      monkeypatch) -> None:
    """The store hashed a capture's bytes as it read them (the digest keys its figures):
    a page records the capture as read with that digest (``pagecache.learn``), without
    reading and hashing the file again; the sample's files it records are hashed."""
    import hashlib

    from macros import pagecache
    from macros import project as site
    from roads.words.rendercache import FileStates

    _site_build(tmp_path, monkeypatch)
    capture = tmp_path / "snapshots" / "intmain.json"
    saved_an_hour_ago(capture)  # its stats vouch for its bytes
    site.prefetch()
    monkeypatch.setattr(pagecache, "_FILES", FileStates())  # nothing known from other tests
    hashed = []
    real = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest",
                        lambda f, *a, **k: hashed.append(f.name) or real(f, *a, **k))
    with pagecache.recording() as read:
        site.document("intmain")
    assert str(capture) in read.read and str(capture) not in hashed
    assert str(tmp_path / "samples" / "intmain.c") in hashed
    recorded = read.read[str(capture)]
    assert recorded.sha256 == hashlib.sha256(capture.read_bytes()).hexdigest()
    assert recorded == FileStates().state(capture)  # as a reading of the file records it


def test_a_learned_digest_serves_while_the_file_keeps_its_stats(tmp_path) -> None:
    """``FileStates.learn``: the digest given is the file's while its stats are those
    given; once they move, the file is read and hashed again."""
    import hashlib

    from roads.words.rendercache import FileStates

    path = tmp_path / "f.json"
    path.write_text("one")
    saved_an_hour_ago(path)
    st = path.stat()
    files = FileStates()
    files.learn(path, (st.st_size, st.st_mtime_ns, st.st_ino), "0" * 64)
    assert files.state(path).sha256 == "0" * 64  # taken as given: not read
    path.write_text("two")
    assert files.state(path).sha256 == hashlib.sha256(b"two").hexdigest()


def test_the_store_vouches_for_a_digest_only_under_stats_that_can(tmp_path) -> None:
    """``Store.vouched``: nothing before a capture is read, nor for a capture read just
    after a save (its stats vouch for nothing yet); otherwise its stats and digest."""
    import hashlib

    doc = json.loads((REPO / "snapshots" / "brk.json").read_text(encoding="utf-8"))
    store, path = _store_with(tmp_path, doc)
    saved_an_hour_ago(path)
    assert store.vouched("brk") is None
    store.read("brk")
    st = path.stat()
    assert store.vouched("brk") == ((st.st_size, st.st_mtime_ns, st.st_ino),
                                    hashlib.sha256(path.read_bytes()).hexdigest())
    (tmp_path / "racy").mkdir()
    racy, racy_path = _store_with(tmp_path / "racy", doc)
    just_saved(racy_path)
    racy.read("brk")
    assert racy.vouched("brk") is None


def test_a_capture_saved_between_its_stats_and_its_read_is_not_vouched_for(
        tmp_path, monkeypatch) -> None:
    """The store takes a capture's stats, then reads it: a save in between leaves bytes
    those stats do not describe. The stats are taken again from the file read, and the
    digest is then vouched for under none (read again at the next look)."""
    import builtins
    import hashlib

    from roads.capture import store as store_module

    doc = json.loads((REPO / "snapshots" / "brk.json").read_text(encoding="utf-8"))
    store, path = _store_with(tmp_path, doc)
    hour_ago = saved_an_hour_ago(path)
    saved = []

    def saved_then_opened(file, *args, **kwargs):
        if str(file) == str(path) and not saved:  # a save right after the stats
            saved.append(1)
            path.write_text(freeze.dumps({**doc, "title": "Saved meanwhile"}), encoding="utf-8")
            os.utime(path, ns=(hour_ago - 10**9, hour_ago - 10**9))
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(store_module, "open", saved_then_opened, raising=False)
    assert store.read("brk")["title"] == "Saved meanwhile"
    assert store.vouched("brk") is None
    monkeypatch.undo()
    assert store.read("brk")["title"] == "Saved meanwhile"  # read again, under its own stats
    st = path.stat()
    assert store.vouched("brk") == ((st.st_size, st.st_mtime_ns, st.st_ino),
                                    hashlib.sha256(path.read_bytes()).hexdigest())


def test_a_sample_saved_while_a_page_reads_its_capture_is_judged_before_the_page_is_kept(
        tmp_path, monkeypatch, caplog) -> None:
    """A page records the files of a capture after loading it; a sample saved between
    the two is judged again before the page goes on (``macros.project.document``): in
    frozen mode the page warns that the capture is stale, and so is not kept, instead
    of being kept beside the new file without a word."""
    import logging

    from roads.capture.project import Project

    from macros import pagecache
    from macros import project as site

    _site_build(tmp_path, monkeypatch)
    site.prefetch()
    source = tmp_path / "samples" / "intmain.c"
    loaded = Project.document

    def saved_right_after(self, name):
        found = loaded(self, name)
        if not source.read_text().endswith("/* saved */\n"):
            source.write_text(source.read_text() + "/* saved */\n")
        return found

    monkeypatch.setattr(Project, "document", saved_right_after)
    with caplog.at_level(logging.WARNING, logger="mkdocs.plugins.roads"), \
            pagecache.recording() as read:
        site.document("intmain")
    assert str(source) in read.read
    assert "capture of 'intmain' is stale: samples/intmain.c changed" in caplog.text


def test_a_capture_saved_while_a_page_takes_its_figure_gives_the_figure_of_the_new_one(
        tmp_path, monkeypatch) -> None:
    """The same for a figure (``macros.project.figure``): its key is taken again once
    the page has recorded its files, and a capture saved in between is drawn anew."""
    from macros import pagecache
    from macros import project as site

    _site_build(tmp_path, monkeypatch)
    site.prefetch()
    capture = tmp_path / "snapshots" / "intmain.json"
    known = pagecache.figure_files

    def saved_right_after(key):
        if '"[vdsx]"' not in capture.read_text():
            capture.write_text(capture.read_text().replace('"[vdso]"', '"[vdsx]"'))
        return known(key)

    monkeypatch.setattr(pagecache, "figure_files", saved_right_after)

    def make() -> str:  # a figure showing what it was drawn from
        site.document("intmain")
        return site.project().content_digest("intmain")

    with pagecache.recording():
        shown = site.figure("probe", ("intmain",), {}, make)
    assert shown == site.project().content_digest("intmain")
    assert '"[vdsx]"' in capture.read_text()
