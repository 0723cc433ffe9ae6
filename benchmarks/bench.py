"""Benchmarks: figures and ratios, measured side by side in one run (not timed tests).

    python benchmarks/bench.py [--only capture|site] [--repeat N]

Each figure is the median of N repetitions on this machine; ratios compare
measurements taken in the same run, so a busy machine slows both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from roads.capture.build import gcc_argv  # noqa: E402
from roads.capture.project import Project  # noqa: E402
from roads.capture.runner import launcher  # noqa: E402


def median_time(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def paired(first, second, repeat: int) -> tuple[float, float]:
    """Medians of two actions run alternately, so that load on the machine hits both."""
    a, b = [], []
    for _ in range(repeat):
        for action, into in ((first, a), (second, b)):
            started = time.perf_counter()
            action()
            into.append(time.perf_counter() - started)
    return statistics.median(a), statistics.median(b)


def scratch_copy() -> Path:
    """A throwaway copy of samples/ (and nothing else) to capture into."""
    root = Path(tempfile.mkdtemp(prefix="roads-bench-"))
    shutil.copytree(REPO / "samples", root / "samples")
    return root


def row(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<58} {value:>12}  {note}")


def bench_capture(repeat: int) -> None:
    print("Captures (issue: real captures)")
    root = scratch_copy()
    try:
        project = Project(root)
        launcher(project.cache_dir)  # infrastructure, built once per checkout
        names = sorted(project.samples)
        sample = project.sample("brk")
        variant = sample.variants[0]

        def bare_gcc():
            out = Path(tempfile.mkdtemp())
            argv = gcc_argv(sample, variant, str(out / "a.out"), str(out / "a.d"))
            subprocess.run(argv, cwd=sample.directory.parent, check=True)
            shutil.rmtree(out)

        def cold_capture():
            shutil.rmtree(project.cache_dir / "build", ignore_errors=True)
            project.snapshot_path("brk").unlink(missing_ok=True)
            project.capture_one("brk")

        cold_capture()  # warm the page cache for gcc and the sample's libraries
        gcc_t, cold_t = paired(bare_gcc, cold_capture, repeat)
        row("bare gcc compile of brk", f"{gcc_t * 1000:.1f} ms")
        row("cold capture of brk (compile, run, snapshot, freeze)", f"{cold_t * 1000:.1f} ms",
            f"ratio {cold_t / gcc_t:.2f} (target ≤ 1.30)")

        project.capture(names)
        warm = median_time(lambda: [project.capture_one(n) for n in names], repeat)
        per = warm / len(names)
        row(f"unchanged capture, per sample ({len(names)} samples)", f"{per * 1000:.2f} ms",
            "target < 5 ms (same process)")
        fresh = median_time(lambda: [Project(root).capture_one(n) for n in names], repeat)
        row("unchanged capture, per sample, new Project each time",
            f"{fresh / len(names) * 1000:.2f} ms", "target < 5 ms (reads each capture)")

        def cold_all(jobs: int):
            def action():
                shutil.rmtree(project.cache_dir / "build", ignore_errors=True)
                shutil.rmtree(project.snapshots_dir, ignore_errors=True)
                failed = [o for o in project.capture(names, jobs=jobs) if o.error]
                assert not failed, failed[0].error
            return action

        serial, parallel = paired(cold_all(1), cold_all(os.cpu_count() or 1),
                                  max(1, repeat // 2))
        row("all samples cold, one worker", f"{serial:.2f} s")
        row(f"all samples cold, {os.cpu_count()} workers", f"{parallel:.2f} s",
            f"ratio {parallel / serial:.2f} (target ≤ 0.60)")

        # Checking a capture's shape (once per version of its file) against parsing it.
        from roads.capture.validate import problem

        texts = [p.read_text() for p in sorted((REPO / "snapshots").glob("*.json"))]
        docs = [json.loads(t) for t in texts]
        problem(docs[0])  # build the checker
        parse_t, check_t = paired(lambda: [json.loads(t) for t in texts],
                                  lambda: [problem(d) for d in docs], repeat)
        row(f"parse every committed capture ({len(texts)})", f"{parse_t * 1000:.1f} ms")
        row("check the shape of every committed capture", f"{check_t * 1000:.1f} ms",
            f"ratio {check_t / parse_t:.2f} (target ≤ 2)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("capture", "site"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sections", help="site sections, comma-separated: "
                        "warm,cold,mdexec,serve,scale,weight (default: all)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, kernel {os.uname().release}, "
          f"Python {platform.python_version()}")
    if args.only in (None, "capture"):
        bench_capture(args.repeat)
    if args.only in (None, "site"):
        try:
            from benchmarks import site_bench
        except ImportError as exc:
            print(f"site benchmarks unavailable: {exc}")
        else:
            site_bench.run(args.repeat, args.sections.split(",") if args.sections else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
