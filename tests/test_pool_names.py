"""``roads capture brk brk``: a sample named twice is captured once, and reported once.

The samples are real (a scratch project's manifest); the capture itself is a stand-in
that records its calls, so that nothing is compiled or run."""

from __future__ import annotations

import threading
import time

import pytest

from roads import cli
from roads.capture.capturer import Capturer, Outcome
from roads.capture.pool import capture_many

MAIN = '#include "roads.h"\nint main(void) { ROADS_CHECKPOINT("here"); return 0; }\n'


@pytest.fixture
def captured(monkeypatch) -> list[str]:
    """The samples Capturer.capture_one was asked for, in order; each takes a moment, so
    that two captures of one sample at once would overlap."""
    calls: list[str] = []
    lock = threading.Lock()

    def capture_one(self, name, *, refresh=False, cancel=None, together=None):
        with lock:
            calls.append(name)
        time.sleep(0.05)
        return Outcome(name, "captured", 0.05)

    monkeypatch.setattr(Capturer, "capture_one", capture_one)
    monkeypatch.setattr(Capturer, "found_fresh", lambda self, name: None)
    return calls


@pytest.fixture
def project(scratch):
    for name in ("brk", "mmap"):
        scratch.add(name, MAIN)
    return scratch.project()


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("refresh", [False, True])
def test_a_sample_named_twice_is_captured_once(project, captured, jobs, refresh):
    shown: list[str] = []
    outcomes = capture_many(project.capturer, ["brk", "mmap", "brk"], jobs=jobs,
                            refresh=refresh, progress=lambda o: shown.append(o.sample))
    assert sorted(captured) == ["brk", "mmap"]
    assert [o.sample for o in outcomes] == ["brk", "mmap"]  # in the order named
    assert sorted(shown) == ["brk", "mmap"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_one_sample_named_twice(project, captured, jobs):
    outcomes = capture_many(project.capturer, ["brk", "brk"], jobs=jobs)
    assert captured == ["brk"]
    assert [o.sample for o in outcomes] == ["brk"]


def test_the_command_line_counts_each_sample_once(project, captured, capsys):
    status = cli.main(["--root", str(project.root), "capture", "-j", "2", "mmap", "brk", "mmap"])
    err = capsys.readouterr().err
    assert status == 0, err
    assert sorted(captured) == ["brk", "mmap"]
    shown = [line for line in err.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in shown] == ["[1/2", "[2/2"], err
    assert sorted(line.split("] ")[1].split(":")[0] for line in shown) == ["brk", "mmap"], err
    assert err.splitlines()[-1] == "2 captured, 0 unchanged, 0 fresh, 0 failed", err


def test_a_fresh_sample_named_twice_is_reported_once(project, captured, monkeypatch):
    monkeypatch.setattr(Capturer, "found_fresh",
                        lambda self, name: Outcome(name, "fresh") if name == "mmap" else None)
    shown: list[str] = []
    outcomes = capture_many(project.capturer, ["mmap", "brk", "mmap", "brk"], jobs=2,
                            progress=lambda o: shown.append(o.sample))
    assert captured == ["brk"]
    assert [(o.sample, o.action) for o in outcomes] == [("mmap", "fresh"), ("brk", "captured")]
    assert sorted(shown) == ["brk", "mmap"]
