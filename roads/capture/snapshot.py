"""Capture a sample: compile each variant, run it to its checkpoints, snapshot /proc.

The result is one plain document (dicts, lists, ints, strings) per sample, ready to
be frozen by ``freeze``. What a machine, a checkout or a run would make differ for
no reason is normalised here: the build folder becomes ``/build``, device and inode
numbers are zeroed, pids stay real but ``freeze`` compares them by order of
appearance.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec

from .. import cachedir, command, document
from .build import Build, compile_variant, written_back
from . import elf as elf_reader
from ..errors import CaptureError, CheckpointMissed, CommandTimeout, RoadsError, SampleError
from ..constants import PF_RANDOMIZE
from ..document import Region
from .proc import Proc, SmapsEntry
from .runner import (RUN_ROOT, RunResult, Stop, describe_status, launcher, run_program,
                     tool_prefix)
from .samples import MAX_REGIONS, Sample, Variant

BUILD_ROOT = "/build"
_STATUS_RECORDED = frozenset(document.Status.__struct_fields__)  # the lines a capture keeps
GDB_TIMEOUT = 60.0


def normalise_path(path: str, build_dir: Path | None) -> str:
    """A pathname with the build folder replaced by ``/build``: as the checkout names it,
    or as the run saw it (RUN_ROOT). With no build folder (None: ``roads explain``,
    whose program is no sample), every path as the machine names it."""
    if build_dir is None:
        return path
    for prefix in (str(build_dir) + "/", RUN_ROOT + "/"):
        if path.startswith(prefix):
            return BUILD_ROOT + "/" + path[len(prefix):]
    return path


def region_record(entry: SmapsEntry, build_dir: Path | None) -> Region:
    """One region of smaps as a capture records it: device and inode zeroed, the
    build folder written ``/build``.

    Kept by the block's record (``proc.parse_smaps`` gives the same immutable record
    for a block it has seen) and the folder: a region that did not change between
    checkpoints or runs is made once."""
    key = (id(entry), str(build_dir))
    known = _REGIONS.get(key)
    if known is not None and known[0] is entry:  # the entry held there keeps its id ours
        return known[1]
    region = Region.from_smaps(entry)
    region = msgspec.structs.replace(region, dev="00:00", inode=0,
                                     pathname=normalise_path(region.pathname, build_dir))
    if len(_REGIONS) >= _REGIONS_KEPT:
        _REGIONS.clear()
    _REGIONS[key] = (entry, region)
    return region


_REGIONS: dict[tuple[int, str], tuple[SmapsEntry, Region]] = {}
_REGIONS_KEPT = 4096


def snapshot_process(stop: Stop, proc: Proc, build_dir: Path | None) -> dict:
    """Everything recorded about one stopped process at one checkpoint (``build_dir``:
    the sample's build folder, written ``/build``; None: no sample's, ``normalise_path``)."""
    pid = stop.pid
    entries = proc.smaps(pid)
    if len(entries) > MAX_REGIONS:
        raise SampleError(f"mapped {len(entries)} regions at checkpoint '{stop.name}': a capture "
                          f"holds at most {MAX_REGIONS} regions a checkpoint")
    # Whether a file maps calls deleted was unlinked, and whether a file mapped executable
    # is an ELF object, can be asked only now, while the process lives.
    elf: dict[tuple[str, int], bool | None] = {}
    regions = []
    for e in entries:
        region = region_record(e, build_dir)
        if e.maps.deleted:
            region = msgspec.structs.replace(region, unlinked=proc.unlinked(pid, e.maps))
        if e.maps.perms[2] == "x" and e.maps.inode and e.maps.pathname.startswith("/"):
            file = (e.maps.dev, e.maps.inode)
            if file not in elf:
                elf[file] = proc.starts_as_elf(pid, e.maps)
            if elf[file] is not None:
                region = msgspec.structs.replace(region, elf=elf[file])
        regions.append(region)
    status = proc.status(pid)
    auxv = proc.auxv(pid)
    strings = {}
    for entry in auxv:
        if entry.name in ("AT_EXECFN", "AT_PLATFORM", "AT_BASE_PLATFORM") and entry.a_val:
            try:
                strings[entry.name] = proc.c_string(pid, entry.a_val, 4096)
            except CaptureError:
                pass
    pagemaps = []
    for name, start, length in stop.ranges:
        pages = proc.pagemap(pid, start, start + max(length, 1))
        pagemaps.append(document.PageRange(
            name=name, start=start, length=length,
            pages=[document.Page(vaddr=p.vaddr, present=p.present, swapped=p.swapped,
                                 file_or_shared=p.file_or_shared, exclusive=p.exclusive,
                                 soft_dirty=p.soft_dirty, pfn=p.pfn) for p in pages],
        ))
    checkpoint = document.Checkpoint(
        name=stop.name,
        seq=stop.seq,
        pid=pid,
        ppid=stop.ppid,
        exe=normalise_path(proc.exe(pid), build_dir),
        personality=proc.personality(pid).persona,
        randomized=bool(proc.stat(pid).flags & PF_RANDOMIZE.value),
        regions=regions,
        # The lines a kernel thread or zombie lacks are None in proc's record: absent here;
        # the credential lines proc reads too are not a capture's.
        status=document.Status(**{k: v for k, v in vars(status).items()
                                   if v is not None and k in _STATUS_RECORDED}),
        auxv=[document.AuxvEntry(a_type=a.a_type, name=a.name, a_val=a.a_val) for a in auxv],
        auxv_strings=strings,
        addresses=[document.Address(name=n, value=v) for n, v in stop.addresses],
        pagemap=pagemaps,
    )
    return document.to_builtins(checkpoint)


def run_variant(sample: Sample, variant: Variant, build: Build, cache: Path, proc: Proc,
                cancel: threading.Event | None = None, binary: bytes | None = None) -> list[dict]:
    """Run one compiled variant ``sample.runs`` times; one document per run. ``binary``:
    the bytes the first run started from, which every later run must start from too."""
    runs = []
    for index in range(sample.runs):
        if index and binary is not None:
            still_the_binary(build, binary, sample, f"run {index + 1}")
        snapshots_of: list[dict] = []

        def snapshot(stop: Stop) -> dict:
            doc = snapshot_process(stop, proc, build.binary.parent)
            snapshots_of.append(doc)
            return doc

        result = run_program(
            [f"./{build.binary.name}", *sample.args],
            launcher_path=launcher(cache),
            cwd=build.binary.parent,
            run_at=RUN_ROOT,
            env=dict(sample.env),
            timeout=sample.timeout,
            no_aslr=not sample.aslr,
            max_processes=sample.limits.processes,
            max_output=sample.limits.output,
            address_space=sample.limits.address_space,
            cpu_seconds=sample.limits.cpu,
            privileges=sample.privilege_mask,
            snapshot=snapshot,
            proc=proc,
            label=f"{sample.name} ({variant.name})",
            cancel=cancel,
        )
        check_run(sample, variant, result)
        runs.append(run_doc(sample, result, index))
    return runs


def still_the_binary(build: Build, binary: bytes, sample: Sample, then: str) -> None:
    """SampleError unless the binary holds ``binary`` still: a run may replace its own
    program (its folder is writable), and what runs ``then`` would not be what was
    analysed and captured."""
    try:
        now = elf_reader.read_bytes(build.binary)
    except RoadsError:
        now = None
    if now != binary:
        raise SampleError(f"the program replaced its own binary while it ran; {then} would "
                          "run another program (a sample must leave ./"
                          f"{build.binary.name} as it found it)", sample=sample.name)


def check_run(sample: Sample, variant: Variant, result: RunResult) -> None:
    """SampleError unless the run exited as declared and reached every checkpoint."""
    label = f"{sample.name} ({variant.name})"
    argv = [f"./{sample.name}", *sample.args]
    output = (result.stdout + result.stderr) or None
    main = result.main
    missing = [c for c in sample.checkpoints if c not in result.reached]
    reached = ", ".join(result.reached) or "none"
    if sample.expect_exit is not None and main.exit_code != sample.expect_exit:
        how = main.describe()
        # "was killed by SIGSEGV ...", "ended with exit status 3 ..."
        ended = f"was {how}" if how.startswith("killed") else f"ended with {how}"
        # Which checkpoints it never reached, if it ended early: where to look.
        early = f", never reaching {_checkpoints(missing)}" if missing else ""
        raise SampleError(
            f"{ended}{early}, where exit status {sample.expect_exit} was expected",
            sample=label, command=argv, output=output,
        )
    if missing:
        raise CheckpointMissed(
            f"never reached {_checkpoints(missing)} "
            f"(reached: {reached}; {main.describe()})",
            sample=label, command=argv, output=output, missing=tuple(missing),
            reached=tuple(result.reached),
        )


def _checkpoints(names: list[str]) -> str:
    """"checkpoint 'a'", "checkpoints 'a', 'b'"."""
    return ("checkpoint " if len(names) == 1 else "checkpoints ") + ", ".join(map(repr, names))


def run_doc(sample: Sample, result: RunResult, index: int) -> dict:
    """The frozen form of one run."""
    return {
        "index": index,
        "aslr_requested": sample.aslr,
        "personality": result.personality,
        "aslr_disabled": result.aslr_disabled,
        "pid": result.pid,
        "exit_code": result.main.exit_code,
        "signal": result.main.signal,
        "status": describe_status(result.main.status),
        "containment": result.containment,
        "processes": [
            {"pid": p.pid, "ppid": p.ppid, "exit_code": p.exit_code, "signal": p.signal}
            # In the order the run met them (the first process first): sorting by pid
            # would reorder them when pid numbers wrap around.
            for p in result.processes.values()
            if p.pid == result.pid or p.ppid != 0
        ],
        "stdout": result.stdout,
        "stderr": result.stderr,
        "checkpoints": result.snapshots,
    }


def gdb_transcript(sample: Sample, build: Build, cache: Path) -> dict:
    """Run the sample's gdb script in batch mode against its binary; the transcript."""
    assert sample.gdb is not None
    script = sample.directory / sample.gdb
    # The binary names its sources relative to the repository root (build.py maps the
    # clone's path to "."), so gdb is told where that is to list them.
    argv = ["gdb", "-batch", "-nx", "-q", "-d", str(sample.directory.parent), "-x", str(script),
            f"./{build.binary.name}"]
    try:
        done = command.run(argv, cwd=build.binary.parent, timeout=GDB_TIMEOUT, check=False,
                           merge_stderr=True,
                           # The samples folder (its script, the sources gdb lists) is
                           # shown in the sandbox's private /tmp if it lies there.
                           sandbox=tool_prefix(cache, build.binary.parent, run_at=RUN_ROOT,
                                               show=(str(sample.directory),)),
                           # HOME reaches the program's stack: the same path in every clone.
                           env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "dumb",
                                "LANG": "C", "HOME": RUN_ROOT})
    except CommandTimeout as exc:
        raise SampleError(exc.message, sample=sample.name, command=argv, output=exc.output) from None
    text = done.stdout.replace(str(build.binary.parent) + "/", BUILD_ROOT + "/")
    text = text.replace(RUN_ROOT + "/", BUILD_ROOT + "/")
    if done.returncode != 0:
        raise SampleError(f"gdb script {sample.gdb} failed with status {done.returncode}",
                          sample=sample.name, command=argv, output=text)
    return {"script": sample.gdb, "transcript": text,
            "version": gdb_version(command.tool_identity("gdb"))}


@functools.cache
def gdb_version(identity: str) -> str:
    """The first line of ``gdb --version``, asked once per installed gdb (``identity``:
    ``command.tool_identity``, which changes when gdb on PATH does)."""
    return command.run(["gdb", "--version"], timeout=30).stdout.splitlines()[0]


ELF_CODE = ("capture/elf.py", "elfspec.py", "document.py")  # under roads/


@functools.cache
def _elf_code() -> bytes:
    """What the ELF records depend on besides the file: the code that reads it and
    the versions of the libraries it uses."""
    import elftools

    roads = Path(__file__).parent.parent
    h = hashlib.sha256(f"pyelftools {elftools.__version__} msgspec {msgspec.__version__}"
                       .encode())
    for name in ELF_CODE:
        h.update(name.encode() + b"\0" + (roads / name).read_bytes())
    return h.digest()


def elf_record(binary: Path, cache: Path, data: bytes | None = None) -> dict:
    """The capture's record of the ELF file ``binary`` (``elf.read_elf``, as plain data),
    kept under ``cache/elf`` by the digest of its bytes and of the code that reads them:
    a binary built again identically (reproducible builds) is not analysed again.
    ``data``: its bytes, read already."""
    if data is None:
        data = elf_reader.read_bytes(binary)
    key = hashlib.sha256(_elf_code() + data).hexdigest()
    kept = cache / "elf" / f"{key}.json"
    try:
        return msgspec.json.decode(kept.read_bytes())
    except (OSError, msgspec.DecodeError):
        pass
    encoded = msgspec.json.encode(elf_reader.parse_elf(binary, data))
    with contextlib.suppress(OSError):  # a read-only cache: analysed again next time
        cachedir.keep_bytes(kept, encoded)
    return msgspec.json.decode(encoded)  # as document.to_builtins makes it


_ELF_POOL: list[ThreadPoolExecutor] = []
_ELF_POOL_LOCK = threading.Lock()


def _elf_pool() -> ThreadPoolExecutor:
    """The threads that read ELF files beside the runs, started once per process (one
    per core, as many as captures run at once by default)."""
    with _ELF_POOL_LOCK:
        if not _ELF_POOL:
            _ELF_POOL.append(ThreadPoolExecutor(max_workers=os.cpu_count() or 1,
                                                thread_name_prefix="roads-elf"))
        return _ELF_POOL[0]


def _timed(action):
    """``action()`` and the seconds it took."""
    started = time.perf_counter()
    return action(), time.perf_counter() - started


class _Either:
    """Set when either event is (``command.run``'s ``cancel`` asks only ``is_set``)."""

    def __init__(self, *events: threading.Event | None) -> None:
        self.events = [e for e in events if e is not None]

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


def _builds(sample: Sample, cache: Path, since: tuple | None, together: bool,
            cancel: threading.Event | None = None) -> Iterator[Build]:
    """The build of each variant of ``sample``, in order, each compiled when asked for
    (run it, then compile the next); with ``together``, the later variants' compiles
    start at once, each on a thread of its own, and this thread waits for them in turn.

    Together, a lone capture's compiles take the cores it would leave idle (``brk``'s
    two variants: the time of one compile, not of two). Waiting for a compile counts as
    gcc's time (``command.ledger``). A failed compile raises when its turn comes, as
    one after the other. Leaving early (an error, Ctrl-C) stops the compiles under way
    (their gcc killed, within ``command.CANCEL_POLL``) and waits for their threads, so
    that no gcc outlives the capture; ``cancel`` (the pool's) stops every compile.
    """
    variants = sample.variants
    if not together or len(variants) < 2:
        for variant in variants:
            yield compile_variant(sample, variant, cache, since=since, cancel=cancel)
        return
    stop = threading.Event()
    either = _Either(stop, cancel)
    with ThreadPoolExecutor(max_workers=len(variants) - 1,
                            thread_name_prefix=f"roads-gcc-{sample.name}") as pool:
        later = [pool.submit(compile_variant, sample, v, cache, since=since, cancel=either)
                 for v in variants[1:]]
        try:
            yield compile_variant(sample, variants[0], cache, since=since, cancel=cancel)
            for future in later:
                started = time.perf_counter()
                try:
                    build = future.result()
                finally:
                    command.charge("gcc", time.perf_counter() - started)
                yield build
        finally:
            stop.set()  # after the last build was taken, nothing is left to stop
            for future in later:
                future.cancel()


def capture_sample(sample: Sample, cache: Path, proc: Proc | None = None,
                   cancel: threading.Event | None = None, since: tuple | None = None,
                   together: bool = False) -> dict:
    """Compile, run and snapshot every variant of ``sample``; the capture document body.
    ``since``: the samples folder's stamp taken before (``compile_variant``);
    ``together``: compile the variants at once (``_builds``)."""
    proc = proc or Proc()
    with contextlib.closing(_builds(sample, cache, since, together, cancel)) as builds:
        return _capture_variants(sample, cache, proc, cancel, builds)


def _capture_variants(sample: Sample, cache: Path, proc: Proc,
                      cancel: threading.Event | None, builds: Iterator[Build]) -> dict:
    variants = {}
    headers: set[str] = set()
    for variant, build in zip(sample.variants, builds):
        headers.update(build.headers)
        # The ELF analysis needs no process: it runs while the sample's run mostly waits,
        # on a thread kept for it (starting one per variant costs more than most
        # analyses, which come from the cache). Of the bytes read before the run: the
        # run may replace its own binary (unlink argv[0], write another file there).
        binary = build.binary
        written_back(binary)  # its pages mapped clean, whenever gcc wrote it
        try:
            data = elf_reader.read_bytes(binary)
        except RoadsError as exc:
            exc.sample = exc.sample or sample.name
            raise
        elf = _elf_pool().submit(_timed, lambda: elf_record(binary, cache, data))
        try:
            runs = run_variant(sample, variant, build, cache, proc, cancel, binary=data)
        except BaseException:
            elf.cancel()
            raise
        waiting = time.perf_counter()
        try:
            elf_doc, seconds = elf.result()
        except RoadsError as exc:
            exc.sample = exc.sample or sample.name
            raise
        # Our work, though done while the run was waited for (command.ledger): the part
        # of it that this thread did not wait for here.
        command.charge("elf beside the run",
                       max(0.0, seconds - (time.perf_counter() - waiting)))
        doc = {"gcc_argv": list(build.argv), "elf": elf_doc, "runs": runs}
        if sample.gdb:
            still_the_binary(build, data, sample, "its gdb script")
            doc["gdb"] = gdb_transcript(sample, build, cache)
        variants[variant.name] = doc
    return {"variants": variants, "headers": sorted(headers)}


