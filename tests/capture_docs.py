"""Capture documents for the figure tests: committed snapshots, and small fabricated ones.

The committed captures are real (they are what the site draws), so the tests assert
properties that every honest capture has rather than exact addresses, which move
when a capture is refreshed on another machine.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"


@functools.lru_cache(maxsize=None)
def _read(name: str) -> str:
    return (SNAPSHOTS / f"{name}.json").read_text(encoding="utf-8")


def snapshot(name: str) -> dict:
    """A fresh copy of the committed capture of sample ``name``."""
    return json.loads(_read(name))


def region(start: int, end: int, perms: str = "rw-p", pathname: str = "", offset: int = 0,
           vmflags: tuple[str, ...] = ("rd", "wr", "mr", "mw", "me", "ac"), rss: int = 4) -> dict:
    """One region as a capture stores it."""
    return {"start": start, "end": end, "perms": perms, "offset": offset, "dev": "00:00",
            "inode": 0, "pathname": pathname, "kb": {"Rss": rss, "Pss": rss, "Size": (end - start) // 1024},
            "vmflags": list(vmflags), "thp_eligible": False}


def fake_doc(regions: list[dict], addresses: dict[str, int] | None = None, *,
             sample: str = "fake", checkpoints: list[dict] | None = None) -> dict:
    """A one-variant, one-run capture whose only checkpoint holds ``regions``."""
    if checkpoints is None:
        checkpoints = [{
            "name": "here", "seq": 0, "pid": 100, "ppid": 1, "exe": f"/build/{sample}",
            "personality": 0x40000, "regions": regions,
            "addresses": [{"name": n, "value": v} for n, v in (addresses or {}).items()],
            "auxv": [], "auxv_strings": {}, "status": {}, "pagemap": [],
        }]
    return {
        "schema": 1, "sample": sample, "title": "A fabricated capture",
        "inputs": {"manifest": {"variants": [{"name": "default", "flags": []}]}},
        "provenance": {"kernel": "test"},
        "variants": {"default": {"runs": [{"index": 0, "pid": 100, "checkpoints": checkpoints}]}},
    }


KERNEL_PAGES = [
    region(0x7FFFF7FC2000, 0x7FFFF7FC6000, "r--p", "[vvar]", vmflags=("rd", "mr", "pf", "io", "de", "dd")),
    region(0x7FFFF7FC8000, 0x7FFFF7FCA000, "r-xp", "[vdso]", vmflags=("rd", "ex", "mr", "mw", "me", "de")),
    region(0x7FFFFFFDE000, 0x7FFFFFFFF000, "rw-p", "[stack]"),
    region(0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "--xp", "[vsyscall]", vmflags=("ex",)),
]
