"""A capture made alone compiles its variants at once; its binaries are written back."""

from __future__ import annotations

import os
import threading
import time

import pytest

from roads import command
from roads.capture import build, snapshot
from roads.errors import CompileError

TWO = '#include "roads.h"\nint main(void) { ROADS_CHECKPOINT("here"); return 0; }\n'
VARIANTS = '[two.variants]\nplain = []\nstatic = ["-static"]\n'


@pytest.fixture
def timed_compiles(monkeypatch):
    """compile_variant as the engine's, with when each began and ended and on which thread."""
    spans: dict[str, tuple[float, float, str]] = {}
    real = build.compile_variant

    def compile_variant(sample, variant, cache, **kw):
        began = time.monotonic()
        # Long enough that two compiles one after the other cannot overlap; what a
        # compile's thread waits is gcc's time (in its ledger, if it has one).
        pause = 0.6 if variant.name == "static" else 0.3
        time.sleep(pause)
        command.charge("gcc", pause)
        out = real(sample, variant, cache, **kw)
        spans[variant.name] = (began, time.monotonic(), threading.current_thread().name)
        return out

    monkeypatch.setattr(snapshot, "compile_variant", compile_variant)
    return spans


def _overlap(spans) -> bool:
    (a0, a1, _), (b0, b1, _) = spans["plain"], spans["static"]
    return a0 < b1 and b0 < a1


def test_a_capture_made_alone_compiles_its_variants_at_once(scratch, timed_compiles):
    scratch.add("two", TWO, VARIANTS)
    project = scratch.project()
    outcome = project.capture_one("two", together=True)
    assert outcome.action == "captured"
    assert _overlap(timed_compiles), timed_compiles
    assert timed_compiles["static"][2] != threading.current_thread().name
    # Waiting for the second compile is gcc's time, not the engine's.
    assert outcome.timing["gcc"] >= 0.55
    waited = sum(v for k, v in outcome.timing.items() if k != "elf beside the run")
    engine = outcome.seconds - waited  # gcc, the run, dpkg-query: all programs
    assert engine < 0.25, outcome.timing
    doc = project.read("two")
    assert set(doc["variants"]) == {"plain", "static"}
    # Each variant ran and was analysed from its own binary.
    assert doc["variants"]["static"]["elf"]["is_static"] is True
    assert doc["variants"]["plain"]["elf"]["interp"] is not None


def test_captures_made_together_compile_one_variant_after_the_other(scratch, timed_compiles):
    scratch.add("two", TWO, VARIANTS)
    scratch.add("other", TWO)
    project = scratch.project()
    outcomes = project.capture(["two", "other"], jobs=2)
    assert {o.action for o in outcomes} == {"captured"}
    assert not _overlap(timed_compiles), timed_compiles
    # One capture alone, on one worker: one after the other too.
    project.capture(["two"], refresh=True, jobs=1)
    assert not _overlap(timed_compiles), timed_compiles
    # Alone on a pool of two: at once.
    project.capture(["two"], refresh=True, jobs=2)
    assert _overlap(timed_compiles), timed_compiles


def test_a_later_variant_that_fails_to_compile_fails_the_capture_and_leaves_no_gcc(scratch):
    scratch.add("two", TWO + '#ifdef BROKEN\n#error "this variant does not compile"\n#endif\n',
                '[two.variants]\nplain = []\nbroken = ["-DBROKEN"]\n')
    gcc_before = _gcc_children()
    with pytest.raises(CompileError, match="broken") as err:
        scratch.project().capture_one("two", together=True)
    assert err.value.sample == "two"
    assert "this variant does not compile" in err.value.output
    assert _gcc_children() == gcc_before
    assert not [t for t in threading.enumerate() if t.name.startswith("roads-gcc-")]


def _gcc_children() -> set[int]:
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_data_is_written_back_without_fsync(tmp_path, monkeypatch):
    """A regular file is written back by sync_file_range; fsync is the fallback where
    that call cannot (here, a pipe), and neither hangs on a FIFO."""
    path = tmp_path / "binary"
    path.write_bytes(b"\x7fELF" + bytes(1 << 16))
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    build.written_back(path)
    assert synced == []  # sync_file_range did it
    assert build._sync_data(os.open(path, os.O_RDONLY)) is True
    read, write = os.pipe()
    try:
        assert build._sync_data(read) is False
    finally:
        os.close(read)
        os.close(write)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    build.written_back(fifo)  # O_NONBLOCK: no writer needed
    assert len(synced) == 1  # the FIFO: sync_file_range refused it, fsync was tried
