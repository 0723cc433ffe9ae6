"""roads.figures.select: picking a checkpoint of a capture, and the typed records over it."""

from __future__ import annotations

import pytest

from roads.errors import ConfigError
from roads.figures.select import VIEWS_KEPT, Region, Snapshot, decoded, select, variant_names
from roads.figures.perrecord import PerRecord
from tests.capture_docs import KERNEL_PAGES, fake_doc, region, snapshot

def test_defaults_are_the_first_declared_variant_run_and_checkpoint():
    doc = snapshot("layout")
    chosen = select(doc)
    # The document's keys are sorted (nopie, pie, static); the manifest declares pie first.
    assert variant_names(decoded(doc)) == ["pie", "nopie", "static"]
    assert (chosen.sample, chosen.variant, chosen.run) == ("layout", "pie", 0)
    assert chosen.checkpoint_name == "running"
    assert chosen.slug == "layout-pie-running"

def test_regions_are_frozen_records_named_after_proc_5():
    doc = snapshot("layout")
    chosen = select(doc, variant="nopie")
    raw = next(c for c in doc["variants"]["nopie"]["runs"][0]["checkpoints"]
               if c["name"] == chosen.checkpoint_name)["regions"]
    assert [(r.start, r.end, r.perms, r.offset, r.pathname) for r in chosen.regions] == [
        (r["start"], r["end"], r["perms"], r["offset"], r["pathname"]) for r in raw
    ]
    first = chosen.regions[0]
    assert first.size == first.end - first.start
    assert first.rss() == raw[0]["kb"]["Rss"] * 1024
    with pytest.raises(AttributeError):
        first.start = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        first.kb["Rss"] = 1  # type: ignore[index]

@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"variant": "arm"}, ["sample 'layout'", "no variant 'arm'", "pie, nopie, static"]),
        ({"checkpoint": "nowhere"}, ["sample 'layout'", "no checkpoint 'nowhere'", "running"]),
        ({"run": 4}, ["sample 'layout'", "no run 4"]),
    ],
)
def test_mistakes_name_the_sample_and_list_what_is_there(kwargs, words):
    with pytest.raises(ConfigError) as caught:
        select(snapshot("layout"), **kwargs)
    for word in words:
        assert word in str(caught.value)

def test_fork_demo_checkpoints_belong_to_parent_and_child():
    doc = snapshot("forkexec")
    parent = select(doc, checkpoint="before-fork")
    child = select(doc, checkpoint="child-before-exec")
    assert child.snapshot.ppid == parent.snapshot.pid
    assert (parent.role, child.role) == ("parent", "child")
    assert select(doc, checkpoint="after-exec", pid="child").snapshot.pid == child.snapshot.pid

def _forked(name: str = "both") -> dict:
    doc = fake_doc([], sample="fork")
    common = {"exe": "/build/fork", "personality": 0, "addresses": [], "auxv": [],
              "auxv_strings": {}, "status": {}, "pagemap": []}
    doc["variants"]["default"]["runs"][0]["checkpoints"] = [
        {"name": name, "seq": 0, "pid": 100, "ppid": 1, "regions": [region(0x1000, 0x2000)], **common},
        {"name": name, "seq": 1, "pid": 101, "ppid": 100, "regions": [region(0x3000, 0x4000)], **common},
    ]
    return doc

def test_same_checkpoint_in_two_processes_picked_by_role_or_ordinal():
    doc = _forked()
    assert select(doc).snapshot.pid == 100  # the run's first process by default
    assert select(doc, pid="parent").snapshot.pid == 100
    assert select(doc, pid="child").snapshot.pid == 101
    assert select(doc, pid=1).snapshot.pid == 101
    # Two figures of one page must not share row ids.
    assert select(doc, pid="parent").slug != select(doc, pid="child").slug
    with pytest.raises(ConfigError, match="pid is 'parent', 'child' or an ordinal 0 to 1"):
        select(doc, pid=2)

def test_an_orphaned_child_is_still_the_child_of_the_process_that_forked_it():
    # The parent ended before its child's stop, and the child was given to the sandbox's
    # init: its checkpoint's ppid is 1, the run's record of its fork names the parent.
    doc = _forked()
    doc["variants"]["default"]["runs"][0]["checkpoints"][1]["ppid"] = 1
    doc["variants"]["default"]["runs"][0]["processes"] = [
        {"pid": 100, "ppid": 0, "exit_code": 0, "signal": None},
        {"pid": 101, "ppid": 100, "exit_code": 7, "signal": None}]
    child = select(doc, pid="child")
    assert (child.snapshot.pid, child.role) == (101, "child")
    assert (child.snapshot.ppid, child.parent_pid) == (1, 100)
    assert select(doc, pid="parent").parent_pid == 1  # unrecorded: the ppid at its stop
    # A sample's record of its first process names the tool that made the capture.
    doc["variants"]["default"]["runs"][0]["processes"][0]["ppid"] = 4242
    assert select(doc, pid="parent").parent_pid == 1


def test_snapshot_lookups():
    chosen = select(fake_doc(KERNEL_PAGES, {"sp": 0x7FFFFFFFE000}))
    snap = chosen.snapshot
    assert snap.region_at(0x7FFFFFFFE000) == snap.regions[2]
    assert snap.region_at(0x1000) is None
    assert snap.address("sp") == 0x7FFFFFFFE000
    with pytest.raises(ConfigError, match="recorded: sp"):
        snap.address("nothing")
    assert isinstance(snap.regions[0], Region)


def test_a_checkpoint_record_is_viewed_once_and_an_equal_one_apart(monkeypatch):
    from roads.figures import select as select_module

    monkeypatch.setattr(select_module, "_VIEWS", PerRecord(Snapshot._view, VIEWS_KEPT))
    doc = decoded(snapshot("layout"))
    first, again = select(doc), select(doc, checkpoint=select(doc).checkpoint_name)
    assert first is not again  # two selections of one record share its view
    assert first.snapshot is again.snapshot
    # Another record of the same checkpoint (the file decoded again) has a view of its own,
    # equal to the first, so that a capture read anew is never shown through an old view.
    other = select(decoded(snapshot("layout")))
    assert other.checkpoint_record is not first.checkpoint_record
    assert other.snapshot is not first.snapshot
    assert other.snapshot == first.snapshot
    # Bounded: past VIEWS_KEPT the oldest views go, and a record seen again is viewed anew.
    monkeypatch.setattr(select_module, "_VIEWS", PerRecord(Snapshot._view, 2))
    views = [select(doc, variant=v).snapshot for v in ("pie", "nopie", "static")]
    assert len(select_module._VIEWS) == 2
    assert select(doc, variant="pie").snapshot is not views[0]
    assert select(doc, variant="static").snapshot is views[2]
