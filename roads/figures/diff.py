"""What changed between two memory maps: regions added, removed, grown, shrunk, moved.

Two snapshots are compared region by region, and regions are matched by what
they are, never by their line in ``maps``: the kernel merges adjacent anonymous
mappings with the same permissions into one line and splits a mapping in two
when part of it changes permissions, so the n-th line of one snapshot need not
be the n-th of the other. Identity is the file (and, for an ELF object, where
its offset 0 lies) for a file mapping, the kernel's name for ``[heap]``,
``[stack]`` and the like, and the kind ``roads.figures.regions`` gives anonymous memory.

Two ways to compare:

``lineage``  two checkpoints of one process, or a parent and its child after
             fork: the address space is the same one, changed in place, so
             matching regions overlap. A match that grows at its low end is
             typically a new mmap merged into its neighbour.
``runs``     two independent runs (ASLR) or variants: nothing overlaps; regions
             pair up by file and file offset, or by kind and order, and a pair
             that starts elsewhere has "moved". For those pairs, and for the
             pointers both runs recorded, ``xor`` says which address bits
             differ: never the low 12 of a region, which starts on a page.
             Moves by one amount share one cause (the mmap base, the
             executable's load address, ...): ``MapDiff.move_groups``.

A region's identity is its process image as well as its mapping: across
``execve`` the kernel throws the address space away and builds a new one, so
between two checkpoints on either side of it nothing is matched, however alike
the two images look (``image_change`` says what shows the execve; the diff is
then ``replaced``). Within one image, a region whose layout did not change can
still have changed inside: its smaps counters (``Counter``) and, where the
sample recorded a range, the pagemap entries of its pages (``PageChange``).

Pure: selections in, records out. ``roads.figures.diffview`` draws them (a table and a
diagram).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .. import constants
from ..errors import ConfigError
from .filenames import file_path
from .regions import KINDS, MemoryMap, memory_map
from .select import Region, Selection, Snapshot
from ..document import Page

PAGE_BITS = constants.PAGE_SHIFT.value
# Order of the change words in tables: the most telling first.
CHANGES = ("added", "removed", "moved", "grown", "shrunk", "split", "merged", "permissions",
           "resident", "frames", "unchanged")
# The smaps counters that say what of a region is in memory, and whose, and what of it
# the kernel may drop without writing it anywhere (LazyFree: given with MADV_FREE and
# clean since), the most telling first (a figure's text alternative names the first
# two that changed); the others (Pss, Referenced, ...) follow from these or from the
# other processes.
COUNTERS = ("Rss", "Anonymous", "LazyFree", "Private_Clean", "Private_Dirty", "Shared_Clean",
            "Shared_Dirty", "Swap")


@dataclass(frozen=True)
class Counter:
    """One smaps counter of a region group that changed, in bytes."""

    name: str
    before: int
    after: int


@dataclass(frozen=True)
class PageChange:
    """One page of a recorded range whose pagemap entry changed: present (bit 63),
    exclusively mapped (bit 56) and the frame (None when not readable)."""

    vaddr: int
    before: Page
    after: Page

    @property
    def new_frame(self) -> bool:
        """Whether the page sits in another frame than before (or got one)."""
        return self.after.present and (not self.before.present or (
            self.before.pfn is not None and self.before.pfn != self.after.pfn))


@dataclass(frozen=True)
class Change:
    """One group of matched regions and how it changed (``what``, words of CHANGES)."""

    what: tuple[str, ...]
    kind: str  # the region kind (roads.figures.regions.KINDS) of the group
    label: str  # what to call it: the file name, [heap], or the kind's label
    before: tuple[Region, ...]
    after: tuple[Region, ...]
    added: tuple[tuple[int, int], ...] = ()  # address ranges mapped only after (lineage)
    removed: tuple[tuple[int, int], ...] = ()  # address ranges mapped only before (lineage)
    pointers_added: tuple[str, ...] = ()  # recorded names inside ``added``
    pointers_removed: tuple[str, ...] = ()  # recorded names inside ``removed``
    xor: int | None = None  # runs: start before XOR start after, for a moved pair
    counters: tuple[Counter, ...] = ()  # smaps counters that changed (resident)
    pages: tuple[PageChange, ...] = ()  # pagemap entries that changed (frames)
    # A move (mremap): how many recorded pages are in the frames they were in before, at
    # the same offset in the region.
    frames_kept: int = 0

    @property
    def size_before(self) -> int:
        return sum(r.size for r in self.before)

    @property
    def size_after(self) -> int:
        return sum(r.size for r in self.after)

    @property
    def changed(self) -> bool:
        return self.what != ("unchanged",)


@dataclass(frozen=True)
class PointerMove:
    """A pointer both runs recorded, and which of its bits differ."""

    name: str
    before: int
    after: int

    @property
    def xor(self) -> int:
        return self.before ^ self.after


@dataclass(frozen=True)
class MoveGroup:
    """Changes that moved by one amount (``delta``, after minus before): one cause."""

    delta: int
    cause: str  # "the mmap base", "the executable's load address", ...
    changes: tuple[Change, ...]

    @property
    def regions(self) -> int:
        return sum(len(c.after) for c in self.changes)


@dataclass(frozen=True)
class MapDiff:
    """All the changes between ``before`` and ``after``, in address order of ``after``."""

    before: MemoryMap
    after: MemoryMap
    mode: str  # "lineage" or "runs"
    changes: tuple[Change, ...]
    pointers: tuple[PointerMove, ...]  # runs: recorded in both
    replaced: str = ""  # lineage across execve: what shows it (image_change); nothing matched
    # Whether the regions' smaps counters and pagemap entries were compared too: only
    # between two stops of one process (``diff_selections``).
    resident: bool = False

    def of(self, word: str) -> tuple[Change, ...]:
        """The changes that include ``word`` ("added", "grown", ...)."""
        return tuple(c for c in self.changes if word in c.what)

    @property
    def move_groups(self) -> tuple[MoveGroup, ...]:
        """The changes whose only change is a move, grouped by how far they moved,
        lowest address first; a group of one is a move of its own."""
        exe = self.before.selection.snapshot.exe
        by_delta: dict[int, list[Change]] = {}
        for c in self.changes:
            if c.what == ("moved",) and c.before and c.after:
                by_delta.setdefault(c.after[0].start - c.before[0].start, []).append(c)
        groups = [MoveGroup(delta, _cause(changes, exe), tuple(changes))
                  for delta, changes in by_delta.items()]
        return tuple(sorted(groups, key=lambda g: g.changes[0].after[0].start))

    @property
    def randomized_bits(self) -> int:
        """Runs: the union of the bits that differ in any moved region's start."""
        mask = 0
        for c in self.changes:
            if c.xor:
                mask |= c.xor
        return mask


# --------------------------------------------------------------------------- matching


def one_run(before: Selection, after: Selection) -> bool:
    """Whether two selected checkpoints come from one run of one variant of a sample."""
    return (before.sample, before.variant, before.run) == (after.sample, after.variant, after.run)


def diff_selections(before: Selection, after: Selection, *, mode: str | None = None,
                    resident: bool | None = None) -> MapDiff:
    """Compare two selected checkpoints.

    ``mode`` defaults to "lineage" when both come from one run of one variant, else
    "runs". ``resident`` also reports regions whose layout stayed but whose smaps
    counters (``COUNTERS``: "resident") or recorded pagemap entries ("frames")
    changed; by default only when both are the same process (demand paging and
    copy-on-write show there; between a parent and its child every private page
    turns shared, which says nothing about either).
    """
    same_run = one_run(before, after)
    if mode is None:
        mode = "lineage" if same_run else "runs"
    if resident is None:
        resident = same_run and before.snapshot.pid == after.snapshot.pid
    if mode not in ("lineage", "runs"):
        raise ConfigError(f"unknown diff mode {mode!r}; lineage or runs", sample=before.sample)
    return diff_maps(memory_map(before), memory_map(after), mode=mode, resident=resident)


def diff_maps(before: MemoryMap, after: MemoryMap, *, mode: str = "lineage",
              resident: bool = False) -> MapDiff:
    """Match the regions of two classified maps and describe each group's change.

    In lineage mode, when ``image_change`` finds an execve between the two, nothing
    is matched: every region of the old image is removed, every one of the new added.
    """
    b_kinds = [c.kind for c in before.regions]
    a_kinds = [c.kind for c in after.regions]
    b_regions = [c.region for c in before.regions]
    a_regions = [c.region for c in after.regions]
    b_snap, a_snap = before.selection.snapshot, after.selection.snapshot
    replaced = image_change(b_snap, a_snap) if mode == "lineage" else ""
    if replaced:
        edges: set[tuple[int, int]] = set()
    elif mode == "lineage":
        edges = _lineage_edges(b_regions, b_kinds, a_regions, a_kinds)
    else:
        edges = _runs_edges(b_regions, b_kinds, a_regions, a_kinds)
    pages = (_pages(b_snap), _pages(a_snap)) if resident else ({}, {})
    if mode == "lineage" and not replaced:
        edges |= _moved_frames(b_regions, b_kinds, a_regions, a_kinds, edges, pages)

    groups = _components(len(b_regions), len(a_regions), edges)
    b_pointers = {a.name: a.value for a in before.selection.snapshot.addresses}
    a_pointers = {a.name: a.value for a in after.selection.snapshot.addresses}
    changes = []
    for bs, as_ in groups:
        kind = a_kinds[as_[0]] if as_ else b_kinds[bs[0]]
        sample = (a_regions[as_[0]] if as_ else b_regions[bs[0]])
        change = _describe(
            [b_regions[k] for k in bs], [a_regions[k] for k in as_], kind, _label(sample, kind),
            mode, resident, b_pointers, a_pointers, pages,
        )
        changes.append(change)
    changes.sort(key=_order_key)

    moves: list[PointerMove] = []
    if mode == "runs":
        moves = [PointerMove(name, b_pointers[name], a_pointers[name])
                 for name in a_pointers if name in b_pointers]
    return MapDiff(before, after, mode, tuple(changes), tuple(moves), replaced, resident)


def image_change(before: Snapshot, after: Snapshot) -> str:
    """What shows that ``after`` runs another program image
    than ``before``, its own earlier checkpoint or its parent's: "" when nothing does.

    The capture records no image identity of its own yet, so the evidence is what
    execve sets: the executable, the file name it was given (``AT_EXECFN``; a forked
    child inherits it) and, where neither is recorded on both sides, the command name.
    An execve of the same file by the same name goes unseen. The command name alone
    is weak evidence: a program renames itself without any execve (``prctl``'s
    ``PR_SET_NAME``, a write to ``/proc/self/comm``), so it is not taken for one where
    the executable or ``AT_EXECFN`` says the image is the same. (The peaks VmPeak and
    VmHWM are no evidence: the kernel updates them lazily, and VmHWM was seen to fall
    within one image, after a munmap.)
    """
    if before.exe and after.exe and before.exe != after.exe:
        return f"the executable is {after.exe}, no longer {before.exe}"
    b_fn, a_fn = before.auxv_strings.get("AT_EXECFN"), after.auxv_strings.get("AT_EXECFN")
    if b_fn and a_fn and b_fn != a_fn:
        return f"AT_EXECFN, the file name execve was given, is {a_fn}, no longer {b_fn}"
    if (before.exe and after.exe) or (b_fn and a_fn):
        return ""  # the same image by what execve sets; a new command name is a rename
    b_name, a_name = before.status.get("Name"), after.status.get("Name")
    if b_name and a_name and b_name != a_name:
        return f"the command name is {a_name}, no longer {b_name}"
    return ""


def _cause(changes: Sequence[Change], exe: str) -> str:
    """What one amount of movement comes from, named by what moved."""
    causes = []
    for c in changes:
        path = c.before[0].pathname
        if path == exe:
            cause = "the executable's load address"
        elif path == "[heap]":
            cause = "the heap's start"
        elif path == "[stack]":
            cause = "the stack's top"
        else:
            cause = "the mmap base"
        if cause not in causes:
            causes.append(cause)
    return " and ".join(causes)


def _pages(snapshot: Snapshot) -> dict[int, Page]:
    """The pagemap entries a checkpoint recorded, by virtual address."""
    return {p.vaddr: p for r in snapshot.pagemap for p in r.pages}


def _identity(region: Region, kind: str) -> tuple[str, str]:
    """What a region is, apart from where: the file, the kernel's name, or the kind."""
    if region.pathname.startswith("/"):
        return ("file", file_path(region))
    if region.pathname:
        return ("named", region.pathname)
    return ("anonymous", _family(kind))


def _family(kind: str) -> str:
    """Kinds that one anonymous region can move between as it changes: one family.

    A thread stack and its guard, or an arena's used and reserved parts, are one
    mapping split by permissions; mmap memory becomes "bss" when it lands next to
    a data segment.
    """
    if kind in ("thread-stack", "guard"):
        return "thread-stack"
    if kind in ("mmap", "reserved", "bss", "lib-bss", "tls"):
        return "mmap"
    return kind


def _told_anew(b: Region, bk: str, a: Region, ak: str) -> bool:
    """Whether ``b`` and ``a`` are one anonymous mapping that the two stops tell as two
    kinds: a thread's stack (or its guard) at one, mmap memory at the other, at the very
    same addresses. A thread stack is told only in a process of several threads: the
    same mapping is plain mmap memory in a child that a thread other than main forked,
    whose one thread runs on its copy of that stack (the diff from the thread's stop to
    the child's said "thread stack removed" and "anonymous mapping added" at the same
    addresses, a learner's program showed). Memory mapped anew where a stack was, over
    other addresses, is not the same mapping."""
    return (not b.pathname and not a.pathname and (b.start, b.end) == (a.start, a.end)
            and {_family(bk), _family(ak)} == {"thread-stack", "mmap"})


def _lineage_edges(bs: list[Region], bk: list[str], as_: list[Region], ak: list[str]) -> set[tuple[int, int]]:
    """Same identity and overlapping; for files also the same file base (start - offset)."""
    edges = set()
    for i, b in enumerate(bs):
        for j, a in enumerate(as_):
            if _identity(b, bk[i]) != _identity(a, ak[j]) and not _told_anew(b, bk[i], a, ak[j]):
                continue
            if b.start < a.end and a.start < b.end:
                if b.pathname.startswith("/") and b.start - b.offset != a.start - a.offset:
                    continue
                edges.add((i, j))
    # A file mapping at another place (re-mapped, or loaded anew after execve):
    # pair leftovers of one file by offset.
    matched_b = {i for i, _ in edges}
    matched_a = {j for _, j in edges}
    for i, b in enumerate(bs):
        if i in matched_b or not b.pathname.startswith("/"):
            continue
        for j, a in enumerate(as_):
            if j not in matched_a and _identity(b, bk[i]) == _identity(a, ak[j]) \
                    and a.offset == b.offset:
                edges.add((i, j))
                matched_a.add(j)
                break
    return edges


def _moved_frames(bs: list[Region], bk: list[str], as_: list[Region], ak: list[str],
                  edges: set[tuple[int, int]], pages: tuple[dict[int, Page], dict[int, Page]]
                  ) -> set[tuple[int, int]]:
    """Memory that moved (mremap): a region mapped only before and one mapped only after,
    of one identity, whose recorded pages sit in the same frames at the same offsets, each
    page recorded on both sides and present before, present after in the frame it had,
    mapped by this process alone (``_kept``). Two pages at least: a page freed by munmap
    may be the one the kernel hands to new memory written next (a few times in a hundred,
    tried on this project's machine), two in the same order hardly (never). Without
    recorded frames nothing is matched: the old range unmapped and new memory mapped
    elsewhere look the same."""
    matched_b = {i for i, _ in edges}
    matched_a = {j for _, j in edges}
    moved = set()
    for i, b in enumerate(bs):
        if i in matched_b or b.pathname:
            continue
        for j, a in enumerate(as_):
            if j in matched_a or a.pathname or _identity(b, bk[i]) != _identity(a, ak[j]):
                continue
            present, kept = _followed([b], a.start - b.start, pages)
            if present >= 2 and kept == present:
                moved.add((i, j))
                matched_a.add(j)
                break
    return moved


def _followed(before: Sequence[Region], delta: int,
              pages: tuple[dict[int, Page], dict[int, Page]]) -> tuple[int, int]:
    """Of the pages recorded present in the regions ``before``: how many, and how many
    sit ``delta`` bytes on afterwards in the frame they had (``_kept``)."""
    b_pages, a_pages = pages
    present = [(page, a_pages.get(v + delta)) for v, page in b_pages.items()
               if page.present and any(b.start <= v < b.end for b in before)]
    return len(present), sum(1 for page, moved in present if _kept(page, moved))


def _kept(before: Page, after: Page | None) -> bool:
    """Whether a page mapped by one process alone before (pagemap's exclusive bit) is
    that very frame after, mapped by it alone still. Not a frame mapped more than once:
    the zero page that memory only read maps, a page KSM merged, one a fork shares, any
    of which two unrelated ranges may hold at the same offsets."""
    return (before.present and before.exclusive and before.pfn is not None
            and after is not None and after.present and after.exclusive
            and after.pfn == before.pfn)


def _runs_edges(bs: list[Region], bk: list[str], as_: list[Region], ak: list[str]) -> set[tuple[int, int]]:
    """One to one: files by (file, offset, order), others by (identity, order)."""
    def keys(regions: list[Region], kinds: list[str]) -> list[tuple]:
        seen: dict[tuple, int] = {}
        out = []
        for r, k in zip(regions, kinds):
            base = _identity(r, k) + ((r.offset,) if r.pathname.startswith("/") else ())
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.append(base + (n,))
        return out

    b_keys = keys(bs, bk)
    a_index = {key: j for j, key in enumerate(keys(as_, ak))}
    return {(i, a_index[key]) for i, key in enumerate(b_keys) if key in a_index}


def _components(nb: int, na: int, edges: set[tuple[int, int]]) -> list[tuple[list[int], list[int]]]:
    """Connected groups of the bipartite match graph, each as (before indexes, after indexes)."""
    parent = list(range(nb + na))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in sorted(edges):
        parent[find(i)] = find(nb + j)
    groups: dict[int, tuple[list[int], list[int]]] = {}
    for x in range(nb + na):
        g = groups.setdefault(find(x), ([], []))
        (g[0] if x < nb else g[1]).append(x if x < nb else x - nb)
    return [(sorted(b), sorted(a)) for b, a in groups.values()]


def _label(region: Region, kind: str) -> str:
    if region.pathname.startswith("/"):
        return region.filename
    return region.pathname or KINDS[kind].label


def _ranges_minus(these: Sequence[Region], those: Sequence[Region]) -> tuple[tuple[int, int], ...]:
    """The address ranges of ``these`` not covered by ``those``, merged, in order."""
    out: list[tuple[int, int]] = []
    cuts = sorted((r.start, r.end) for r in those)
    for r in sorted(these, key=lambda r: r.start):
        pieces = [(r.start, r.end)]
        for lo, hi in cuts:
            pieces = [p for a, b in pieces for p in ((a, min(b, lo)), (max(a, hi), b)) if p[0] < p[1]]
        for a, b in pieces:
            if out and out[-1][1] == a:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
    return tuple(out)


def _inside(pointers: dict[str, int], ranges: Sequence[tuple[int, int]]) -> tuple[str, ...]:
    return tuple(sorted(name for name, v in pointers.items() if any(lo <= v < hi for lo, hi in ranges)))


def _describe(before: list[Region], after: list[Region], kind: str, label: str, mode: str,
              resident: bool, b_pointers: dict[str, int], a_pointers: dict[str, int],
              pages: tuple[dict[int, Page], dict[int, Page]] = ({}, {})) -> Change:
    if not before:
        ranges = tuple((r.start, r.end) for r in after)
        return Change(("added",), kind, label, (), tuple(after), added=ranges,
                      pointers_added=_inside(a_pointers, ranges))
    if not after:
        ranges = tuple((r.start, r.end) for r in before)
        return Change(("removed",), kind, label, tuple(before), (), removed=ranges,
                      pointers_removed=_inside(b_pointers, ranges))
    what: list[str] = []
    added = removed = ()
    xor = None
    if len(before) > 1 and len(after) > 1:
        what += ["split", "merged"]
    elif len(after) > 1:
        what.append("split")
    elif len(before) > 1:
        what.append("merged")
    size_b, size_a = sum(r.size for r in before), sum(r.size for r in after)
    overlap = any(b.start < a.end and a.start < b.end for b in before for a in after)
    if mode == "runs" or not overlap:
        if before[0].start != after[0].start:
            what.append("moved")
            xor = before[0].start ^ after[0].start if mode == "runs" else None
    else:
        added = _ranges_minus(after, before)
        removed = _ranges_minus(before, after)
    if size_a > size_b:
        what.append("grown")
    elif size_a < size_b:
        what.append("shrunk")
    elif added or removed:
        what.append("moved")  # the same size somewhere overlapping: mremap, say
    if {r.perms for r in before} != {r.perms for r in after}:
        what.append("permissions")
    counters: tuple[Counter, ...] = ()
    changed_pages: tuple[PageChange, ...] = ()
    if resident:
        counters = tuple(
            Counter(name, sum(r.kb.get(name, 0) for r in before) * 1024,
                    sum(r.kb.get(name, 0) for r in after) * 1024)
            for name in COUNTERS)
        counters = tuple(c for c in counters if c.before != c.after)
        b_pages, a_pages = pages
        changed_pages = tuple(
            PageChange(v, b_pages[v], a_pages[v]) for v in sorted(a_pages)
            if v in b_pages and any(b.start <= v < b.end for b in before)
            and any(a.start <= v < a.end for a in after)
            and (b_pages[v].present, b_pages[v].exclusive, b_pages[v].pfn)
            != (a_pages[v].present, a_pages[v].exclusive, a_pages[v].pfn))
        if not what and counters:
            what.append("resident")
        if not what or what == ["resident"]:
            if changed_pages:
                what.append("frames")
    kept = 0
    if resident and "moved" in what and not overlap:
        _, kept = _followed(before, after[0].start - before[0].start, pages)
    return Change(
        tuple(what) or ("unchanged",), kind, label, tuple(before), tuple(after),
        added=added, removed=removed,
        pointers_added=_inside(a_pointers, added), pointers_removed=_inside(b_pointers, removed),
        xor=xor, counters=counters, pages=changed_pages, frames_kept=kept,
    )


def _order_key(c: Change) -> tuple[int, int]:
    anchor = c.after[0].start if c.after else c.before[0].start
    return (anchor, 0 if c.after else 1)


# --------------------------------------------------------------------------- bits


def bit_ranges(mask: int) -> list[tuple[int, int]]:
    """The set bits of ``mask`` as (low, high) runs, lowest first."""
    runs: list[tuple[int, int]] = []
    bit = 0
    while mask >> bit:
        if (mask >> bit) & 1:
            low = bit
            while (mask >> (bit + 1)) & 1:
                bit += 1
            runs.append((low, bit))
        bit += 1
    return runs


def describe_bits(mask: int) -> str:
    """``bits 12–39 (28 bits)``; ``no bit`` for 0."""
    if not mask:
        return "no bit"
    runs = ", ".join(f"{lo}" if lo == hi else f"{lo}–{hi}" for lo, hi in bit_ranges(mask))
    count = bin(mask).count("1")
    word = "bit" if count == 1 else "bits"
    return f"{word} {runs} ({count} {word})" if count > 1 else f"bit {runs}"
