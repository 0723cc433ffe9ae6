"""Single captured values for prose, so that no page types an address or a size by hand.

A value is named by a short path, resolved against one selected checkpoint:

====================================  ==================================================
path                                  value (default format)
====================================  ==================================================
``exit_code``, ``signal``             how the run's first process ended (int)
``status``, ``stdout``, ``stderr``    the run's status words and output (text)
``pid``, ``ppid``, ``personality``    the selected process (int; personality hex)
``exe``                               its executable as maps names it (text)
``address:NAME``                      a pointer the sample recorded (hex)
``address:NAME.FIELD``                ``page``, ``offset`` (in the page), ``pml5``
                                      (none with 4-level paging), ``pml4``, ``pdpt``,
                                      ``pd``, ``pt`` (indices), ``region``
``symbol:NAME``                       the executable's symbol at run time (hex)
``region:SELECTOR.FIELD``             a region; SELECTOR is a pathname (``[heap]``), a
                                      file name (``libc.so.6``), ``@NAME`` (the region
                                      holding address or symbol NAME), with ``#N`` to
                                      pick the N-th of several matches (from 0). FIELD
                                      is ``start``, ``end`` (hex), ``size`` (the
                                      default; human), ``perms``, ``pathname``,
                                      ``kind``, ``offset`` (hex) or an smaps counter
                                      such as ``Rss`` (bytes; human)
``gap:LOWER..HIGHER``                  the bytes of address space between two regions,
                                      from the end of LOWER to the start of HIGHER,
                                      each a region SELECTOR as above; where several
                                      match, the highest of LOWER's, the lowest of
                                      HIGHER's (human)
``count:regions``                     regions in maps (int); also ``count:addresses``,
                                      ``count:loads`` and ``count:sections`` (of the
                                      ELF file), ``count:pages:RANGE``,
                                      ``count:present:RANGE``
``total:FIELD``                       ``size`` or an smaps counter summed over all
                                      regions (human)
``page:RANGE#N.FIELD``                page N of a pagemap range: ``vaddr``, ``pfn``
                                      (hex), ``present``, ``exclusive`` (int 0/1)
``auxv:AT_NAME``                      an auxiliary vector entry (hex); the strings
                                      (``AT_EXECFN``, ``AT_PLATFORM``) as text
``status:FIELD``                      a ``/proc/PID/status`` field; ``Vm*``, ``Rss*``
                                      and ``Huge*`` in bytes (human)
``provenance:KEY``                    ``kernel``, ``glibc``, ``gcc``, ``arch``, ``os``,
                                      ``page_size`` (human), ``thp``,
                                      ``randomize_va_space``; ``paging_levels`` (4 or
                                      5, probed), ``vsyscall`` (``xonly``, ``emulate``
                                      or ``none``), ``mmap_min_addr``,
                                      ``overcommit_memory``, ``stack_rlimit`` (soft
                                      RLIMIT_STACK, bytes; ``none`` when unlimited),
                                      ``cmdline_stack_guard_gap`` (the boot parameter,
                                      pages; ``none`` when not given);
                                      ``overcommit_ratio`` (percent),
                                      ``overcommit_kbytes``, ``swap_total`` and
                                      ``swap_free`` (bytes, human), ``swap_areas``,
                                      ``swappiness``; numbers as int
``elf:FIELD``                         ELF header ``e_*``/``ei_*`` fields, ``interp``,
                                      ``is_pie``, ``is_static``; ``elf:section:NAME.sh_*``
                                      and ``elf:segment:N.p_*`` (N counts PT_LOADs)
====================================  ==================================================

Formats: ``hex``, ``int``, ``human`` (binary units) and ``text``. Every error is a
ConfigError naming the sample, the checkpoint and the path, and listing what there is.
``lookup`` picks the checkpoint: without one, a pointer's value comes from the first
checkpoint that had recorded it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from .. import document
from ..errors import ConfigError
from ..figures.pageview import paging_levels_of, split_address
from ..figures.regions import KINDS, memory_map
from ..figures.select import Region, Selection, checkpoint_names, decoded, select
from ..units import Value

_REGION_FIELDS = ("start", "end", "size", "perms", "offset", "pathname", "kind")
_ADDRESS_FIELDS = ("page", "offset", "pml5", "pml4", "pdpt", "pd", "pt", "region")
_PAGE_FIELDS = ("vaddr", "pfn", "present", "exclusive", "file_or_shared", "swapped", "soft_dirty")
_PROVENANCE_KEYS = ("kernel", "glibc", "gcc", "arch", "os", "page_size", "thp",
                    "randomize_va_space", "paging_levels", "vsyscall", "mmap_min_addr",
                    "overcommit_memory", "stack_rlimit", "cmdline_stack_guard_gap",
                    "overcommit_ratio", "overcommit_kbytes", "swap_total", "swap_free",
                    "swap_areas", "swappiness")
_PROVENANCE_BYTES = ("page_size", "swap_total", "swap_free")
_RUN_FIELDS = ("exit_code", "signal", "status", "stdout", "stderr")
_PROCESS_FIELDS = ("pid", "ppid", "personality", "exe")


def value(selection: Selection, path: str, fmt: str | None = None) -> str:
    """The value at ``path`` in the selected checkpoint, as text."""
    resolved = resolve(selection, path)
    try:
        return resolved.format(fmt)
    except ValueError as exc:
        raise _error(selection, path, str(exc)) from None


def lookup(doc: document.Capture | Mapping[str, Any], path: str, *, variant: str | None = None,
           run: int = 0, checkpoint: str | None = None, pid: str | int | None = None,
           fmt: str | None = None) -> str:
    """The value at ``path`` in a capture (typed, or loaded JSON: decoded first), as
    text: what the ``value`` macro prints.

    Without ``checkpoint``, an address (``address:``, ``page:``, ``region:@``) is taken
    from the first checkpoint at which the sample had recorded it, since a sample
    records its pointers as it goes; anything else from the run's first checkpoint.
    """
    capture = decoded(doc)
    chosen = select(capture, variant=variant, run=run, checkpoint=checkpoint, pid=pid)
    if checkpoint is None:
        name = _recorded_name(path)
        if name is not None and not _records(chosen, name):
            # A name no checkpoint records may be a recorded one and a misspelt field
            # (address:copy.pmd): read it where that one is, for the error to say so.
            base = _index(name.rpartition(".")[0])[0]
            for wanted in (name, base) if base else (name,):
                later = _first_recording(capture, chosen, wanted, variant, run, pid)
                if later is not None:
                    chosen = later
                    break
    return value(chosen, path, fmt)


def _first_recording(capture: document.Capture, chosen: Selection, name: str,
                     variant: str | None, run: int, pid: str | int | None) -> Selection | None:
    """The first checkpoint of the chosen run at which ``name`` was recorded."""
    for c in checkpoint_names(chosen.run_record):
        later = select(capture, variant=variant, run=run, checkpoint=c, pid=pid)
        if _records(later, name):
            return later
    return None


def _recorded_name(path: str) -> str | None:
    """The pointer or range name a path needs, if it needs one."""
    head, _, rest = path.partition(":")
    if head == "address":
        return _field(rest, _ADDRESS_FIELDS)[0]
    if head == "page":
        return _index(_field(rest, _PAGE_FIELDS)[0])[0]
    if head == "region" and rest.startswith("@"):
        return _index(_field(rest, lambda f: f in _REGION_FIELDS or f[:1].isupper())[0])[0][1:]
    return None


def _records(selection: Selection, name: str) -> bool:
    snap = selection.snapshot
    return any(a.name == name for a in snap.addresses) or any(r.name == name for r in snap.pagemap)


def resolve(selection: Selection, path: str) -> Value:
    """The typed value at ``path``; ConfigError naming what is there when it is not."""
    if not isinstance(path, str) or not path:
        raise _error(selection, str(path), "empty path")
    head, sep, rest = path.partition(":")
    if not sep:
        if head in _RUN_FIELDS:
            v = getattr(selection.run_record, head)
            return Value(v, "int" if head in ("exit_code", "signal") else "text")
        if head in _PROCESS_FIELDS:
            v = getattr(selection.checkpoint_record, head)
            return Value(v, "hex" if head == "personality" else
                         ("text" if head == "exe" else "int"))
        raise _error(selection, path, "unknown value; a plain name is one of "
                     + ", ".join(_RUN_FIELDS + _PROCESS_FIELDS)
                     + "; or a prefix: " + ", ".join(f"{p}:" for p in _RESOLVERS))
    resolver = _RESOLVERS.get(head)
    if resolver is None:
        raise _error(selection, path, f"unknown prefix {head + ':'!r}; prefixes: "
                     + ", ".join(f"{p}:" for p in _RESOLVERS))
    return resolver(selection, path, rest)


def _error(selection: Selection, path: str, message: str) -> ConfigError:
    return ConfigError(f"value {path!r} at {selection.describe()}: {message}",
                       sample=selection.sample)


def _field(rest: str, fields: tuple[str, ...] | Callable[[str], bool]) -> tuple[str, str | None]:
    """``(subject, field)``: the part after the last dot is a field only if it is one."""
    subject, dot, last = rest.rpartition(".")
    known = fields(last) if callable(fields) else last in fields
    if dot and known:
        return subject, last
    return rest, None


def _misspelt_field(selection: Selection, path: str, subject: str,
                    find: Callable[[str], object], fields: str) -> None:
    """Raise an error that names the field when ``subject``, which names nothing, is
    something ``find`` finds, a dot and a word that is not a field. A name may hold
    dots (``libc.so.6``), so ``_field`` keeps an unknown word in the subject and the
    whole was looked for first: without this, the error would say that no such name
    exists and list the very name the author wrote."""
    base, dot, word = subject.rpartition(".")
    if not (dot and base and word):
        return
    try:
        find(base)
    except ConfigError:
        return
    raise _error(selection, path, f"{base!r} is there, but it has no field {word!r}; "
                 f"fields: {fields}")


def _index(subject: str) -> tuple[str, int | None]:
    """``libc.so.6#2`` -> ``("libc.so.6", 2)``."""
    base, hash_, number = subject.rpartition("#")
    if hash_ and number.isdigit():
        return base, int(number)
    return subject, None


# --------------------------------------------------------------------------- resolvers


def _address(selection: Selection, path: str, rest: str) -> Value:
    name, field = _field(rest, _ADDRESS_FIELDS)
    try:
        address = _named_address(selection, path, name, symbols=False)
    except ConfigError:
        if field is None:
            _misspelt_field(selection, path, name,
                            lambda base: _named_address(selection, path, base, symbols=False),
                            ", ".join(_ADDRESS_FIELDS))
        raise
    if field is None:
        return Value(address, "hex")
    split = split_address(address, paging_levels_of(selection))
    if field == "page":
        return Value(split.page, "hex")
    if field == "offset":
        return Value(split.offset, "hex")
    if field == "region":
        region = selection.snapshot.region_at(address)
        if region is None:
            raise _error(selection, path, f"{address:#x} is in no region")
        return Value(region.pathname or "anonymous", "text")
    return Value(getattr(split, field), "int")


def _named_address(selection: Selection, path: str, name: str, *, symbols: bool) -> int:
    for a in selection.snapshot.addresses:
        if a.name == name:
            return a.value
    if symbols:
        found = _symbol_address(selection, name)
        if found is not None:
            return found
    known = ", ".join(a.name for a in selection.snapshot.addresses) or "none"
    extra = " or symbol" if symbols else ""
    raise _error(selection, path, f"no recorded address{extra} {name!r} (recorded: {known})")


def _symbol_address(selection: Selection, name: str) -> int | None:
    elf = selection.elf
    if elf is None or not selection.exe_matches_elf:
        return None
    matches = [s for s in elf.symbols if s.name == name and s.type != "STT_TLS"]
    if len(matches) > 1:
        matches = [s for s in matches if s.bind != "STB_LOCAL"] or matches
    if len(matches) != 1:
        return None
    bias = memory_map(selection).bias
    return None if bias is None else matches[0].st_value + bias


def _symbol(selection: Selection, path: str, rest: str) -> Value:
    elf = selection.elf
    if elf is None or not selection.exe_matches_elf:
        raise _error(selection, path, "no ELF record of the running executable in the capture")
    address = _symbol_address(selection, rest)
    if address is None:
        count = sum(1 for s in elf.symbols if s.name == rest)
        if count == 0:
            near = sorted({s.name for s in elf.symbols if not s.name.startswith("_")})[:20]
            raise _error(selection, path, f"no symbol {rest!r} in {elf.symtab or 'the file'} "
                         f"(some: {', '.join(near)})")
        raise _error(selection, path, f"symbol {rest!r} is ambiguous or has no load bias")
    return Value(address, "hex")


def _region(selection: Selection, path: str, rest: str) -> Value:
    subject, field = _field(rest, lambda f: f in _REGION_FIELDS or (f[:1].isupper()))
    try:
        region = _pick_region(selection, path, subject)
    except ConfigError:
        if field is None:
            _misspelt_field(selection, path, subject,
                            lambda base: _pick_region(selection, path, base),
                            f"{', '.join(_REGION_FIELDS)}, or an smaps counter (Rss, Pss, ...)")
        raise
    field = field or "size"
    if field in ("start", "end", "offset"):
        return Value(getattr(region, field), "hex")
    if field == "size":
        return Value(region.size, "human")
    if field in ("perms", "pathname"):
        return Value(getattr(region, field), "text")
    if field == "kind":
        kind = memory_map(selection).regions[region.index].kind
        return Value(KINDS[kind].label, "text")
    counter = region.counter(field)
    if counter is None:
        known = ", ".join(sorted(region.kb)) or "none"
        raise _error(selection, path, f"no field {field!r}; fields: "
                     f"{', '.join(_REGION_FIELDS)}, or an smaps counter ({known})")
    return Value(counter, "human")


def _pick_region(selection: Selection, path: str, subject: str) -> Region:
    subject, number = _index(subject)
    found = _matching_regions(selection, path, subject)
    if number is None and len(found) > 1:
        listing = "; ".join(f"#{k} {r.start:#x}-{r.end:#x} {r.perms}" for k, r in enumerate(found))
        raise _error(selection, path, f"{len(found)} regions match {subject!r}; "
                     f"add #N to pick one: {listing}")
    number = number or 0
    if number >= len(found):
        raise _error(selection, path, f"only {len(found)} region(s) match {subject!r}")
    return found[number]


def _matching_regions(selection: Selection, path: str, subject: str) -> list[Region]:
    """The regions a SELECTOR without ``#N`` names, in address order; never empty."""
    regions = selection.snapshot.regions
    if subject.startswith("@"):
        address = _named_address(selection, path, subject[1:], symbols=True)
        found = [r for r in regions if address in r]
        if not found:
            raise _error(selection, path, f"{subject[1:]} = {address:#x} is in no region")
    else:
        found = [r for r in regions if r.pathname == subject] or \
                [r for r in regions if r.pathname.startswith("/") and r.filename == subject]
    if not found:
        names = ", ".join(dict.fromkeys(r.filename or "(anonymous)" for r in regions))
        raise _error(selection, path, f"no region {subject!r}; regions: {names}; "
                     "or @NAME for the region holding a recorded address or symbol")
    return found


def _gap(selection: Selection, path: str, rest: str) -> Value:
    lower, dots, higher = rest.partition("..")
    if not (dots and lower and higher):
        raise _error(selection, path, "gap: is followed by LOWER..HIGHER, two region "
                     "selectors (gap:overflow..[stack])")
    below = _picked_or_all(selection, path, lower)
    above = _picked_or_all(selection, path, higher)
    end, start = max(r.end for r in below), min(r.start for r in above)
    if start < end:
        raise _error(selection, path, f"{higher!r} ({start:#x}) does not lie above "
                     f"{lower!r} (which ends at {end:#x})")
    return Value(start - end, "human")


def _picked_or_all(selection: Selection, path: str, subject: str) -> list[Region]:
    """The region ``subject`` picks with ``#N``, or every region it names."""
    if _index(subject)[1] is not None:
        return [_pick_region(selection, path, subject)]
    return _matching_regions(selection, path, subject)


def _count(selection: Selection, path: str, rest: str) -> Value:
    what, _, name = rest.partition(":")
    snap = selection.snapshot
    if what == "regions" and not name:
        return Value(len(snap.regions), "int")
    if what == "addresses" and not name:
        return Value(len(snap.addresses), "int")
    if what in ("loads", "sections") and not name:
        elf = selection.elf
        if elf is None:
            raise _error(selection, path, "the capture holds no ELF record for this variant")
        return Value(len(elf.loads) if what == "loads" else len(elf.sections), "int")
    if what in ("pages", "present") and name:
        ranges = [r for r in snap.pagemap if r.name == name]
        if not ranges:
            known = ", ".join(dict.fromkeys(r.name for r in snap.pagemap)) or "none"
            raise _error(selection, path, f"no pagemap range {name!r} (ranges: {known})")
        pages = ranges[0].pages
        return Value(len(pages) if what == "pages" else sum(p.present for p in pages), "int")
    raise _error(selection, path, "count: is followed by regions, addresses, loads, "
                 "sections, pages:RANGE or present:RANGE")


def _total(selection: Selection, path: str, rest: str) -> Value:
    regions = selection.snapshot.regions
    if rest == "size":
        return Value(sum(r.size for r in regions), "human")
    if regions and all(rest in r.kb for r in regions):
        return Value(sum(r.counter(rest) or 0 for r in regions), "human")
    known = sorted(set().union(*(r.kb for r in regions))) if regions else []
    raise _error(selection, path, f"total: is followed by size or an smaps counter "
                 f"({', '.join(known) or 'none recorded'})")


def _page(selection: Selection, path: str, rest: str) -> Value:
    subject, field = _field(rest, _PAGE_FIELDS)
    try:
        page = _page_at(selection, path, subject)
    except ConfigError:
        if field is None:
            _misspelt_field(selection, path, subject,
                            lambda base: _page_at(selection, path, base), ", ".join(_PAGE_FIELDS))
        raise
    field = field or "pfn"
    v = getattr(page, field)
    return Value(v, "hex" if field in ("vaddr", "pfn") else "int")


def _page_at(selection: Selection, path: str, subject: str) -> document.Page:
    """Page N of the range ``subject`` (``RANGE#N``) names."""
    name, number = _index(subject)
    ranges = [r for r in selection.snapshot.pagemap if r.name == name]
    if not ranges:
        known = ", ".join(dict.fromkeys(r.name for r in selection.snapshot.pagemap)) or "none"
        raise _error(selection, path, f"no pagemap range {name!r} (ranges: {known})")
    pages = ranges[0].pages
    if number is None or number >= len(pages):
        raise _error(selection, path, f"say which page: {name}#N with N from 0 to {len(pages) - 1}")
    return pages[number]


def _auxv(selection: Selection, path: str, rest: str) -> Value:
    snap = selection.snapshot
    if rest in snap.auxv_strings:
        return Value(snap.auxv_strings[rest], "text")
    for a in snap.auxv:
        if a.name == rest:
            return Value(a.a_val, "hex")
    known = ", ".join(a.name for a in snap.auxv) or "none"
    raise _error(selection, path, f"no auxv entry {rest!r} (entries: {known})")


def _status(selection: Selection, path: str, rest: str) -> Value:
    record = selection.checkpoint_record.status
    status = document.present(record) if record is not None else {}
    if rest not in status:
        raise _error(selection, path, f"no status field {rest!r} (fields: {', '.join(sorted(status))})")
    v = status[rest]
    if rest.startswith(("Vm", "Rss", "Huge")) and isinstance(v, int):
        return Value(v * 1024, "human")
    return Value(v, "int" if isinstance(v, int) else "text")


def _provenance(selection: Selection, path: str, rest: str) -> Value:
    prov = document.present(selection.provenance_record)
    if rest not in prov:
        raise _error(selection, path, f"no provenance {rest!r} (keys: {', '.join(sorted(prov))})")
    v = prov[rest]
    if rest in _PROVENANCE_BYTES and isinstance(v, int):
        return Value(v, "human")
    return Value(v, "int" if isinstance(v, int) else "text")


def _elf(selection: Selection, path: str, rest: str) -> Value:
    elf = selection.elf
    if elf is None:
        raise _error(selection, path, "the capture holds no ELF record for this variant")
    kind, sep, more = rest.partition(":")
    if sep and kind == "section":
        name, field = _field(more, lambda f: f.startswith("sh_"))
        section = elf.get_section(name)
        if section is None:
            raise _error(selection, path, f"no section {name!r} "
                         f"(sections: {', '.join(s.name for s in elf.sections if s.name)})")
        return _record_field(selection, path, section, field or "sh_size")
    if sep and kind == "segment":
        number, field = _field(more, lambda f: f.startswith("p_"))
        loads = elf.loads
        if not number.isdigit() or int(number) >= len(loads):
            raise _error(selection, path, f"segment numbers count PT_LOADs: 0 to {len(loads) - 1}")
        return _record_field(selection, path, loads[int(number)], field or "p_vaddr")
    if rest in ("interp", "symtab"):
        return Value(getattr(elf, rest), "text")
    if rest in ("is_pie", "is_static"):
        return Value(getattr(elf, rest), "int")
    if rest.startswith(("e_", "ei_")) and hasattr(elf.header, rest):
        return _record_field(selection, path, elf.header, rest)
    raise _error(selection, path, "elf: is followed by an e_* or ei_* header field, interp, symtab, "
                 "is_pie, is_static, section:NAME.sh_* or segment:N.p_*")


def _record_field(selection: Selection, path: str, record: object, field: str) -> Value:
    if not hasattr(record, field):
        fields = getattr(record, "__struct_fields__", None) or getattr(record, "__dataclass_fields__", {})
        names = [n for n in fields if n != "sections"]
        raise _error(selection, path, f"no field {field!r} (fields: {', '.join(names)})")
    v = getattr(record, field)
    if isinstance(v, str):
        return Value(v, "text")
    if field.endswith(("size", "filesz", "memsz", "align", "entsize", "num")):
        return Value(v, "int" if field.endswith("num") else "hex")
    return Value(v, "hex")


_RESOLVERS: dict[str, Callable[[Selection, str, str], Value]] = {
    "address": _address,
    "symbol": _symbol,
    "region": _region,
    "gap": _gap,
    "count": _count,
    "total": _total,
    "page": _page,
    "auxv": _auxv,
    "status": _status,
    "provenance": _provenance,
    "elf": _elf,
}
