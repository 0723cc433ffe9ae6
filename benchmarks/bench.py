"""Benchmarks: figures and ratios, measured side by side in one run (not timed tests).

    python benchmarks/bench.py [--only capture|site] [--repeat N]

Each figure is the median of N repetitions on this machine; ratios compare
measurements taken in the same run, so a busy machine slows both sides alike.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from roads import command  # noqa: E402
from roads.capture.build import compile_variant, gcc_argv  # noqa: E402
from roads.capture.project import Project  # noqa: E402
from roads.capture.runner import launcher  # noqa: E402
from roads.cores import usable as usable_cores  # noqa: E402


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


# Every scratch copy of the run, removed when the run ends (``remove_scratch``).
SCRATCH: list[Path] = []
ASIDE = "set-aside"  # where a scratch copy keeps what it no longer needs (``set_aside``)
_ASIDE_NUMBERS = itertools.count()


def scratch_copy(snapshots: bool = False) -> Path:
    """A throwaway copy of samples/ (and, with ``snapshots``, the committed captures) to
    capture into, removed at the end of the run (``remove_scratch``)."""
    root = Path(tempfile.mkdtemp(prefix="roads-bench-"))
    SCRATCH.append(root)
    shutil.copytree(REPO / "samples", root / "samples")
    if snapshots:
        shutil.copytree(REPO / "snapshots", root / "snapshots")
    return root


def set_aside(root: Path, path: Path) -> None:
    """Move ``path`` (a folder or file under ``root``) out of the way instead of deleting
    it, into ``root``'s set-aside folder: what is timed follows no deletion of the
    benchmark's own. ``root`` goes at the end of the run (a scratch copy, or a site
    benchmark's copy).

    Why: on ext4 without a journal (this project's machine kind), the kernel avoids
    handing out an inode freed in the last seconds, or minutes while its block of the
    inode table is unwritten (``recently_deleted`` in fs/ext4/ialloc.c), and each file
    or folder made looks past every such inode of its group before it settles on one.
    A build timed right after ``rm -rf .cache`` paid for the deletion: for the few
    hundred files of a fresh clone's cache, about 0.19 s more system time and 0.17 s
    more wall time (five builds each way, 2026-12-01). A capture makes build folders,
    stamps and records: after the benchmark's own deletions (the builds of the round
    before, the cold sections' caches), the refresh's engine time counted that search
    as well (README, "Benchmarks"). What a round frees itself (gcc's temporary files, a
    capture replaced) is still freed, as in any build or refresh."""
    aside = root / ASIDE
    aside.mkdir(exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.rename(path, aside / str(next(_ASIDE_NUMBERS)))


def remove_scratch() -> None:
    """Remove every scratch copy of the run: at its end, when nothing more is timed."""
    while SCRATCH:
        shutil.rmtree(SCRATCH.pop(), ignore_errors=True)


def row(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<58} {value:>12}  {note}")


def verdict(value: float, target: float, what: str = "ratio", *, digits: int = 2,
            strict: bool = False) -> str:
    """``what value (target ≤ target): met|MISSED``, the form of every target's row (as
    benchmarks/site_bench.py prints them); ``strict`` for a target that is a bound
    not to be reached (``<``)."""
    met = value < target if strict else value <= target
    return (f"{what} {value:.{digits}f} (target {'<' if strict else '≤'} {target:.{digits}f}): "
            f"{'met' if met else 'MISSED'}")


def bench_capture(repeat: int) -> None:
    print("Captures (issue: real captures)")
    root = scratch_copy()
    project = Project(root)
    launcher(project.cache_dir)  # infrastructure, built once per checkout
    names = sorted(project.samples)
    sample = project.sample("brk")

    def bare_gcc():
        # Every variant, one after the other (brk has two since it gained its static
        # variant): the compiles a capture cannot skip.
        out = Path(tempfile.mkdtemp(dir=root))
        for variant in sample.variants:
            argv = gcc_argv(sample, variant, str(out / "a.out"), str(out / "a.d"))
            subprocess.run(argv, cwd=sample.directory.parent, check=True)
        set_aside(root, out)

    def bare_gcc_at_once():
        # The same compiles at once, as a capture made alone runs them (one thread
        # each): what the cores alone give, for reference.
        out = Path(tempfile.mkdtemp(dir=root))

        def one(k: int) -> None:
            argv = gcc_argv(sample, sample.variants[k], str(out / f"a{k}.out"),
                            str(out / f"a{k}.d"))
            subprocess.run(argv, cwd=sample.directory.parent, check=True)

        with ThreadPoolExecutor(max_workers=len(sample.variants)) as pool:
            list(pool.map(one, range(len(sample.variants))))
        set_aside(root, out)

    cold_parts: list[dict[str, float]] = []

    def cold_capture():
        set_aside(root, project.cache_dir / "build")
        set_aside(root, project.snapshot_path("brk"))
        outcome = project.capture_one("brk")
        cold_parts.append({"busy": outcome.seconds, **outcome.timing})

    cold_capture()  # warm the page cache for gcc and the sample's libraries
    cold_parts.clear()
    gcc_t, cold_t = paired(bare_gcc, cold_capture, repeat)
    at_once_t = median_time(bare_gcc_at_once, repeat)
    first = Path(tempfile.mkdtemp(dir=root))
    first_argv = gcc_argv(sample, sample.variants[0], str(first / "a.out"), str(first / "a.d"))
    first_t = median_time(lambda: subprocess.run(first_argv, cwd=sample.directory.parent,
                                                 check=True), repeat)
    set_aside(root, first)

    def part(what: str) -> float:
        return statistics.median(r.get(what, 0.0) for r in cold_parts)

    # The capture compiles brk's variants at once (a capture made alone): the static
    # one on a thread of its own, whose waiting for gcc and few milliseconds of
    # bookkeeping (digests, its stamp) fall within what the capture's thread waited
    # for it, counted as gcc's. So "waiting for gcc" is wall time, not the sum of the
    # compiles, and the engine's own time leaves that thread's bookkeeping out.
    engine_t = statistics.median(r["busy"] - r.get("gcc", 0.0) - r.get("run", 0.0)
                                 for r in cold_parts)
    row(f"bare gcc compile of brk ({len(sample.variants)} variants: "
        f"{', '.join(v.name for v in sample.variants)})", f"{gcc_t * 1000:.1f} ms")
    row("cold capture of brk (compile, run, snapshot, freeze)", f"{cold_t * 1000:.1f} ms",
        verdict(cold_t / gcc_t, 1.30))
    row("  of which waiting for gcc (sandboxed, the variants at once)",
        f"{part('gcc') * 1000:.1f} ms", f"{part('gcc') / gcc_t:.2f} of bare gcc")
    row("  of which inside the sample's own runs", f"{part('run') * 1000:.1f} ms",
        f"{part('run') / gcc_t:.2f} of bare gcc")
    row("  of which the engine's own time (the rest)", f"{engine_t * 1000:.1f} ms",
        f"{engine_t / gcc_t:.2f} of bare gcc")
    row("  (bare gcc, the same compiles at once, one thread each", f"{at_once_t * 1000:.1f} ms",
        f"the capture / this: {cold_t / at_once_t:.2f}, what the cores alone do not give)")
    row(f"  (bare gcc of the {sample.variants[0].name} variant alone, the row's "
        "denominator", f"{first_t * 1000:.1f} ms",
        f"before brk had two variants: ratio {cold_t / first_t:.2f})")

    project.capture(names)
    warm = median_time(lambda: [project.capture_one(n) for n in names], repeat)
    per = warm / len(names)
    row(f"unchanged capture, per sample ({len(names)} samples)", f"{per * 1000:.2f} ms",
        verdict(per * 1000, 5, "ms", strict=True) + " (same process)")
    fresh = median_time(lambda: [Project(root).capture_one(n) for n in names], repeat)
    row("unchanged capture, per sample, new Project each time",
        f"{fresh / len(names) * 1000:.2f} ms",
        verdict(fresh / len(names) * 1000, 5, "ms", strict=True))

    def cold_all(jobs: int):
        def action():
            set_aside(root, project.cache_dir / "build")
            set_aside(root, project.snapshots_dir)
            failed = [o for o in project.capture(names, jobs=jobs) if o.error]
            assert not failed, failed[0].error
        return action

    # As many pairs as the other rows take: with one pair, the verdict moved with
    # whichever run the machine slowed (0.54 to 0.63 in one afternoon).
    serial, parallel = paired(cold_all(1), cold_all(usable_cores()), repeat)
    row("all samples cold, one worker", f"{serial:.2f} s")
    row(f"all samples cold, {usable_cores()} workers", f"{parallel:.2f} s",
        verdict(parallel / serial, 0.60))

    # Beside it, what the machine gives the compiles alone (no run, no gdb, no
    # engine): how much two workers can gain here at all, in the same run.
    variants = [(project.sample(n), v) for n in names for v in project.sample(n).variants]

    def compiles(jobs: int):
        def action():
            set_aside(root, project.cache_dir / "build")
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                list(pool.map(lambda sv: compile_variant(sv[0], sv[1], project.cache_dir),
                              variants))
        return action

    gcc_serial, gcc_parallel = paired(compiles(1), compiles(usable_cores()), repeat)
    row(f"  beside it: gcc alone, the same {len(variants)} variants, one worker",
        f"{gcc_serial:.2f} s")
    row(f"  beside it: gcc alone, {usable_cores()} workers", f"{gcc_parallel:.2f} s",
        f"ratio {gcc_parallel / gcc_serial:.2f} (what the cores give the compiles)")

    # Checking a capture's shape (once per version of its file) against parsing it.
    from roads.capture.validate import problem

    texts = [p.read_text() for p in sorted((REPO / "snapshots").glob("*.json"))]
    docs = [json.loads(t) for t in texts]
    problem(docs[0])  # build the checker
    parse_t, check_t = paired(lambda: [json.loads(t) for t in texts],
                              lambda: [problem(d) for d in docs], repeat)
    row(f"parse every committed capture ({len(texts)})", f"{parse_t * 1000:.1f} ms")
    row("check the shape of every committed capture", f"{check_t * 1000:.1f} ms",
        verdict(check_t / parse_t, 2))
    bench_refresh(repeat)


REFRESH_JOBS = 2


def bench_refresh(repeat: int) -> None:
    """Refresh of every capture: the engine's own time against gcc's (issue 14).

    Every figure below is a sum over jobs of the time each job kept its worker busy, not
    wall time: with two workers at once, wall time would hide half of either side. The
    refresh (``Project.capture(refresh=True)``, binaries moved aside first, so every
    variant is compiled again; the engine's other caches, ELF records and comparison texts under
    ``.cache/roads``, kept as between two refreshes of one checkout) is timed per capture
    by the engine's own ledger (``roads.command.ledger``, ``Outcome.timing``): the time
    spent waiting for gcc, for the sample's own runs (starting them, waiting for their
    output, for each stop and its end, resuming them) and for gdb. The engine's own time
    is the rest of each capture's time (reading /proc, ELF records, comparing, writing,
    bookkeeping), plus the ELF analysis that runs in a thread of its own while the
    sample's run is waited for.
    The other side compiles the same variants of the same samples through a pool of as
    many workers, and nothing else; its gcc time is the same ledger's. The two sides
    alternate (``paired``); each figure is the median of the repetitions.
    """
    print(f"Refresh of every capture ({REFRESH_JOBS} workers)")
    root = scratch_copy(snapshots=True)
    project = Project(root)
    launcher(project.cache_dir)
    names = sorted(project.samples)
    builds = project.cache_dir / "build"
    refreshes: list[dict[str, float]] = []
    compiles: list[float] = []

    def refresh():
        set_aside(root, builds)
        outcomes = project.capture(names, refresh=True, jobs=REFRESH_JOBS)
        failed = [o for o in outcomes if o.error]
        assert not failed, failed[0].error
        sums = {"busy": sum(o.seconds for o in outcomes)}
        for o in outcomes:
            for what, seconds in o.timing.items():
                sums[what] = sums.get(what, 0.0) + seconds
        refreshes.append(sums)

    def compile_only():
        set_aside(root, builds)

        def one(name: str) -> float:
            sample = project.sample(name)
            with command.ledger() as timing:
                for variant in sample.variants:
                    compile_variant(sample, variant, project.cache_dir)
            return timing.get("gcc", 0.0)

        with ThreadPoolExecutor(max_workers=REFRESH_JOBS) as pool:
            compiles.append(sum(pool.map(one, names)))

    refresh()  # the page cache warmed for gcc, the samples and their libraries
    refreshes.clear()
    wall, _ = paired(refresh, compile_only, repeat)

    def median(what: str) -> float:
        return statistics.median(r.get(what, 0.0) for r in refreshes)

    def own(r: dict[str, float]) -> float:
        """The engine's own time in one refresh (see above)."""
        return (r["busy"] - r.get("gcc", 0.0) - r.get("run", 0.0) - r.get("gdb", 0.0)
                + r.get("elf beside the run", 0.0))

    gcc, runs, gdb = median("gcc"), median("run"), median("gdb")
    engine = statistics.median(own(r) for r in refreshes)
    gcc_only = statistics.median(compiles)
    # Each refresh beside the compile run next to it (``paired``): a load that comes
    # and goes on this shared machine moves both, where the medians above may each
    # come from another moment.
    ratios = sorted(own(r) / c for r, c in zip(refreshes, compiles))
    row(f"refresh of every capture ({len(names)} samples), wall", f"{wall:.2f} s")
    row("  Σ over captures: time of the capture (busy time)", f"{median('busy'):.2f} s")
    row("  Σ over captures: inside gcc", f"{gcc:.2f} s")
    row("  Σ over captures: inside the samples' own runs", f"{runs:.2f} s")
    row("  Σ over captures: inside gdb", f"{gdb:.2f} s")
    row("  Σ over captures: engine's own time (busy − gcc − runs − gdb", f"{engine:.2f} s",
        f"+ ELF analysis beside the runs, {median('elf beside the run'):.2f} s)")
    row("gcc, same variants, same pool, compile only (Σ over compiles)", f"{gcc_only:.2f} s")
    row("engine's own time in the refresh / gcc time of the compiles",
        f"{engine / gcc_only:.3f}", verdict(engine / gcc_only, 0.15, digits=3))
    row("  the same, each refresh over the compile beside it (median, range)",
        f"{statistics.median(ratios):.3f}", f"{ratios[0]:.3f} to {ratios[-1]:.3f} over "
        f"{len(ratios)} pairs, for reference")


def file_creation_us(count: int = 200) -> float:
    """Microseconds to make an empty file in a new folder of the temporary directory,
    the median of ``count``. The folder is removed with the scratch copies at the end
    (nothing is deleted meanwhile). On this machine kind's file system a file costs
    some 20 µs, ten times as much for minutes after thousands were deleted nearby."""
    folder = Path(tempfile.mkdtemp(prefix="roads-bench-files-"))
    SCRATCH.append(folder)
    times = []
    for i in range(count):
        started = time.perf_counter()
        os.close(os.open(folder / str(i), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


# Making a file in a calm temporary directory takes about 20 µs on this machine kind;
# at most this long, the run counts it as calm (``settle``).
CALM_US = 40.0
SETTLE_SECONDS = 60.0


def settle() -> str:
    """Write every dirty buffer back (``sync``), then wait, at most ``SETTLE_SECONDS``,
    until making a file costs what it costs on a calm file system (``CALM_US``); what
    was found, for the run's first lines. After a mass deletion (a test suite's end
    removes its last run's 30,000 files) the kernel looks past the freed inodes for
    five minutes while their blocks of the inode table are unwritten, and for seconds
    to a minute once they are (``set_aside``): a run begun then measured the file
    system's state as much as the code (the refresh's ratio most: 0.162 to 0.200 with
    the benchmark's own deletions, 0.136 to 0.153 without, 2026-12-05)."""
    first = file_creation_us()
    os.sync()
    started = time.perf_counter()
    now = file_creation_us()
    while now > CALM_US and time.perf_counter() - started < SETTLE_SECONDS:
        time.sleep(10)
        now = file_creation_us()
    waited = time.perf_counter() - started
    verdict = "calm" if now <= CALM_US else f"not calm after {SETTLE_SECONDS:.0f} s"
    return (f"{first:.0f} µs to make a file in {tempfile.gettempdir()} at the start; "
            f"after sync and {waited:.0f} s, {now:.0f} µs ({verdict}: about 20 when nothing "
            "was deleted nearby in the last minutes)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("capture", "site"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sections", help="site sections, comma-separated: "
                        "warm,cold,fresh,work,mdexec,serve,scale,weight (default: all)")
    args = parser.parse_args()
    site_bench = None
    if args.only in (None, "site"):
        try:
            from benchmarks import site_bench
        except ImportError as exc:
            print(f"site benchmarks unavailable: {exc}")
    sections = args.sections.split(",") if args.sections else None
    if sections and site_bench is not None:  # before the capture sections' minutes
        unknown = [s for s in sections if s not in site_bench.SECTIONS]
        if unknown:
            parser.error(f"unknown section {', '.join(unknown)}; the sections: "
                         f"{','.join(site_bench.SECTIONS)}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores ({usable_cores()} usable), "
          f"kernel {os.uname().release}, Python {platform.python_version()}")
    try:
        print(f"file system: {settle()}", flush=True)
        if args.only in (None, "capture"):
            bench_capture(args.repeat)
        if site_bench is not None:
            site_bench.run(args.repeat, sections)
    finally:
        remove_scratch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
