"""Many captures at once, on a pool of workers (one per core by default).

The longest samples start first, so that no long one starts last while the other
workers idle; a failure does not stop the others, and Ctrl-C stops the compiles and
runs under way within half a second and never starts the queued ones.
"""

from __future__ import annotations

import logging
import threading
import time

from ..cores import usable as usable_cores
from ..errors import CaptureError, RoadsError
from .capturer import Capturer, Outcome

log = logging.getLogger("roads")


def capture_many(capturer: Capturer, names: list[str] | None = None, *, refresh: bool = False,
                 jobs: int | None = None, progress=None) -> list[Outcome]:
    """Capture several samples concurrently (one worker per core by default).

    Failures do not stop the others; each comes back as an Outcome with its error. A
    name given twice is captured once, with one outcome: twice, a second worker would wait
    for the sample's lock, then capture it again (``refresh``) or find it fresh.
    """
    manifest = capturer.samples.manifest
    names = manifest.names if not names else list(dict.fromkeys(names))  # in the order given
    for name in names:
        if name not in manifest.broken:
            capturer.samples.sample(name)  # an unknown name stops here; a broken entry fails alone
    jobs = jobs or usable_cores()

    cancel = threading.Event()

    def one(name: str, together: bool = False) -> Outcome:
        started = time.perf_counter()
        try:
            outcome = capturer.capture_one(name, refresh=refresh, cancel=cancel,
                                           together=together)
        except RoadsError as exc:
            exc.sample = exc.sample or name
            outcome = Outcome(name, "failed", time.perf_counter() - started, error=exc)
        except Exception as exc:  # a bug of ours: report it with the sample, go on
            log.exception("internal error while capturing %r", name)
            error = CaptureError(f"internal error while capturing: {exc!r}", sample=name)
            outcome = Outcome(name, "failed", time.perf_counter() - started, error=error)
        if progress:
            progress(outcome)
        return outcome

    # A capture made alone compiles its variants at once, on the cores a pool would
    # have used; several made at once each compile one variant after the other.
    if jobs == 1 or len(names) == 1:
        return [one(n, together=jobs > 1) for n in names]
    # Captures found fresh first, in this thread: judging one is Python and small
    # reads, which threads would only take in turns (one lock for the interpreter),
    # and on a fresh clone every capture is. The workers get the rest.
    done: dict[str, Outcome] = {}
    if not refresh:
        for name in names:
            found = None if name in manifest.broken else capturer.found_fresh(name)
            if found is not None:
                done[name] = found
                if progress:
                    progress(found)
    rest = [n for n in names if n not in done]
    if len(rest) <= 1:
        done.update((n, one(n, together=True)) for n in rest)
        return [done[n] for n in names]

    # Longest first (variants, runs, a gdb session), so that no long sample starts
    # last while the other workers idle; results still come back in name order.
    def weight(name: str) -> int:
        s = manifest.samples.get(name)
        return 0 if s is None else len(s.variants) * (s.runs + 1) + (3 if s.gdb else 0)

    from concurrent.futures import ThreadPoolExecutor  # only when there is work for it

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = {n: pool.submit(one, n) for n in sorted(rest, key=weight, reverse=True)}
        return [done[n] if n in done else futures[n].result() for n in names]
    except BaseException:
        # Ctrl-C: runs under way stop within half a second, queued ones never start.
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
