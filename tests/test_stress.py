"""A capture never hangs (issue 9, item 1).

Two parts: a deterministic test of the exact interleaving that used to hang the
runner (``await_start`` drains the launcher's report pipe in the same select batch
in which the loop was told it was ready), and a stress test that runs many rounds of
cold parallel captures under CPU load in a child process, with a watchdog that dumps
every thread's stack and kills everything instead of waiting forever.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tomllib
from pathlib import Path

import pytest

from roads.capture import runner
from roads.capture.proc import Proc
from roads.cores import usable
from tests.conftest import REPO

# Above the largest pid_max Linux allows (2^22): no real process or group has it, so
# nothing real can be signalled by mistake.
NO_SUCH_PID = (1 << 22) + 4242


class _Child:
    """Just enough of a Popen for _Run: two output pipes and an exit that already happened."""

    def __init__(self) -> None:
        out_r, self.out_w = os.pipe()
        err_r, self.err_w = os.pipe()
        self.stdout = os.fdopen(out_r, "rb", buffering=0)
        self.stderr = os.fdopen(err_r, "rb", buffering=0)
        self.pid = NO_SUCH_PID
        self.returncode = 0

    def poll(self) -> int:
        return 0

    def wait(self, timeout: float | None = None) -> int:
        return 0

    def send_signal(self, sig: int) -> None:
        raise AssertionError("nothing to signal")


class _SampleFirst(selectors.DefaultSelector):
    """A selector that, on its first call, hands back the ready descriptors with the
    sample's pipe before the launcher's (the order that made the loop block), and on
    its second call first closes every writer, so that the run can end."""

    def __init__(self, writers: list[int]) -> None:
        super().__init__()
        self.writers = writers
        self.calls = 0

    def select(self, timeout=None):
        self.calls += 1
        if self.calls == 2:
            for fd in self.writers:
                os.close(fd)
            self.writers.clear()
        events = super().select(timeout)
        return sorted(events, key=lambda e: e[0].data != "sample")


def test_a_drained_report_pipe_does_not_block_the_loop():
    report_r, report_w = os.pipe()
    sample_r, sample_w = os.pipe()
    child = _Child()
    writers = [report_w, sample_w, child.out_w, child.err_w]
    # The sample's first line and the launcher's "S" are both waiting: the sample line
    # makes the loop ask await_start() for the group, which reads the report pipe dry;
    # then the loop comes to the report pipe, which select() had called ready.
    os.write(report_w, f"S {NO_SUCH_PID} 0\n".encode())
    os.write(sample_w, f"I {NO_SUCH_PID} 1 main\n".encode())
    run = runner._Run(child, report_r, sample_r, Proc(), None, "drained", ["./drained"], None)
    selector = _SampleFirst(writers)
    for key in run.selector.get_map().values():
        selector.register(key.fileobj, key.events, key.data)
    run.selector.close()
    run.selector = selector

    errors: list[BaseException] = []

    def loop() -> None:
        try:
            run.loop(time.monotonic() + 30, 1 << 20, 30, None, time.monotonic())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    worker.join(5)
    hung = worker.is_alive()
    if hung:
        # Unblock the stuck read so that the thread ends, then fail.
        for fd in writers:
            os.close(fd)
        writers.clear()
        worker.join(5)
    for fd in writers:
        os.close(fd)
    for fd in (report_r, sample_r):
        os.close(fd)
    child.stdout.close()
    child.stderr.close()
    assert not hung, "the runner blocked reading a report pipe that await_start had drained"
    assert not errors, errors
    assert run.group == NO_SUCH_PID and selector.calls >= 2 and run.open == 0


# --------------------------------------------------------------------------- stress

ROUNDS = 20  # about 1.5 s each on two cores; the old runner hung within a few
MIN_ROUNDS = 3  # a slow or busy machine stops starting rounds after BUDGET seconds
BUDGET = 40.0
ROUND_LIMIT = 20.0  # seconds one round may take before the watchdog calls it a hang
TOTAL_LIMIT = BUDGET + ROUND_LIMIT + 15.0

# One round per fresh cache and snapshots folder: every capture compiles, runs and
# reads /proc from scratch. faulthandler is the in-process watchdog: it prints every
# thread's stack and exits the process if a round takes too long.
CHILD = textwrap.dedent("""\
    import faulthandler, json, os, sys, time
    from roads.capture.project import Project

    root, rounds, limit, jobs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    budget = time.monotonic() + float(sys.argv[5])
    for k in range(rounds):
        if time.monotonic() > budget:
            break
        faulthandler.dump_traceback_later(limit, exit=True)
        started = time.monotonic()
        project = Project(root, snapshots=f"snapshots-{k}", cache=f".cache-{k}", mode="refresh")
        outcomes = project.capture(refresh=True, jobs=jobs)
        failed = [(o.sample, str(o.error)) for o in outcomes if o.action not in ("captured", "unchanged")]
        print(json.dumps({"round": k, "seconds": round(time.monotonic() - started, 2),
                          "samples": len(outcomes), "failed": failed}), flush=True)
        faulthandler.cancel_dump_traceback_later()
""")


def _stress_project(root: Path) -> list[str]:
    """A copy of the project's samples without the gdb ones (gdb is not the runner and
    takes most of a round); their names."""
    shutil.copytree(REPO / "samples", root / "samples")
    manifest = tomllib.loads((root / "samples" / "samples.toml").read_text())
    keep = [name for name, entry in manifest.items() if "gdb" not in entry]
    text = (root / "samples" / "samples.toml").read_text()
    # Drop the gdb samples' tables: each starts at its header and runs to the next one.
    lines, out, skipping = text.splitlines(keepends=True), [], False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            table = stripped.strip("[]").split(".")[0].strip('"')
            skipping = table not in keep
        if not skipping:
            out.append(line)
    (root / "samples" / "samples.toml").write_text("".join(out))
    assert sorted(tomllib.loads("".join(out))) == sorted(keep)
    return keep


def _kill_tree(group: int) -> None:
    """SIGKILL the child's session: the capture process (and with it, through their
    death signal, the launchers, which kill their runs)."""
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.mark.slow
@pytest.mark.gcc
@pytest.mark.usefixtures("no_leftovers")
def test_cold_parallel_captures_under_load_never_hang(tmp_path):
    root = tmp_path / "stress"
    names = _stress_project(root)
    cpus = usable()  # the cores this process may use, not the host's
    # CPU load: one busy process per core, at the build's own priority.
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cpus)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(ROUNDS), str(ROUND_LIMIT), str(2 * cpus),
         str(BUDGET)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=root,
        start_new_session=True,
    )
    try:
        try:
            out, err = child.communicate(timeout=TOTAL_LIMIT)
        except subprocess.TimeoutExpired:
            _kill_tree(child.pid)
            out, err = child.communicate()
            pytest.fail(f"captures did not finish within {TOTAL_LIMIT:g} s; killed\n{out}\n{err[-4000:]}")
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()
        if child.poll() is None:
            _kill_tree(child.pid)
            child.wait()
    assert "Timeout (" not in err, f"a round hung; every thread's stack:\n{err[-6000:]}"
    assert child.returncode == 0, f"status {child.returncode}\n{out}\n{err[-4000:]}"
    rounds = [line for line in out.splitlines() if line.startswith("{")]
    assert MIN_ROUNDS <= len(rounds) <= ROUNDS, out
    for line in rounds:
        done = json.loads(line)
        assert done["samples"] == len(names) and not done["failed"], done
    # Nothing of the repository was written: every capture went to the copy.
    assert not (REPO / "snapshots-0").exists() and not (REPO / ".cache-0").exists()
