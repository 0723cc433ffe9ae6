"""smaps' LazyFree line: read by the engine's smaps parser from a live process, and
compared by map_diff (docs/all-roads-to-memory/madvise.md shows both).

The parser keeps every ``kB`` line of a smaps block by its key (``SmapsEntry.kb``), so
LazyFree needs no field of its own; this checks it against the kernel's own text for a
mapping given with MADV_FREE, in another process stopped for the reading, as a
capture reads it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from roads.capture.proc import PAGE_SIZE, Proc, parse_smaps
from roads.figures import diff
from roads.figures.diff import diff_selections
from roads.figures.select import select
from tests.claims_support import committed
from tests.conftest import wait_for

PAGES = 4

# A child that maps PAGES pages, writes them, gives the first two with MADV_FREE
# (twice, on one processor: the second call moves the first call's pages to the
# lazy-free list, see the page), prints the mapping's address and stops itself.
CHILD = f"""
import ctypes, mmap, os, signal
os.sched_setaffinity(0, {{ctypes.CDLL(None).sched_getcpu()}})
m = mmap.mmap(-1, {PAGES} * mmap.PAGESIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
m.write(b"x" * len(m))
for _ in range(2):
    m.madvise(mmap.MADV_FREE, 0, 2 * mmap.PAGESIZE)
address = ctypes.addressof(ctypes.c_char.from_buffer(m))
print(hex(address), flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


@pytest.mark.skipif(not hasattr(__import__("mmap"), "MADV_FREE"), reason="no MADV_FREE here")
def test_smaps_parser_reads_lazyfree_as_the_kernel_prints_it():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        address = int(child.stdout.readline(), 16)
        stat = Path(f"/proc/{child.pid}/stat")
        wait_for(lambda: stat.read_text().rpartition(") ")[2][0] == "T", "the child to stop")
        text = Path(f"/proc/{child.pid}/smaps").read_text()
        ours = [e for e in Proc().smaps(child.pid) if e.maps.start <= address < e.maps.end]
        (area,) = ours
        # The kernel's own line for that area, read without the parser.
        block = text[text.index(f"{area.maps.start:x}-{area.maps.end:x} "):]
        line = next(row for row in block.splitlines() if row.startswith("LazyFree:"))
        assert area.kb["LazyFree"] == int(line.split()[1])
        assert area.bytes("LazyFree") == 2 * PAGE_SIZE
        assert area.bytes("Anonymous") >= PAGES * PAGE_SIZE
        # The same text, parsed without reading /proc again, says the same.
        (again,) = [e for e in parse_smaps(text) if e.maps.start == area.maps.start]
        assert again.kb["LazyFree"] == area.kb["LazyFree"]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()


def test_map_diff_compares_lazyfree():
    assert "LazyFree" in diff.COUNTERS
    doc = committed("madvise")
    changed = diff_selections(select(doc, checkpoint="reread"), select(doc, checkpoint="freed"))
    counters = {c.name: (c.before, c.after) for change in changed.changes for c in change.counters}
    assert counters["LazyFree"] == (0, 2 * PAGE_SIZE)
