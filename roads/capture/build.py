"""Compile a sample variant with gcc into the build cache.

Sources are passed relative to the samples folder's parent (the project root), so gcc's
diagnostics read ``samples/layout.c:12:5: error: ...``. The only absolute path left is
the folder gcc runs in, which DWARF records as the compile directory (DW_AT_comp_dir, and
entry 0 of the line table's directories); ``-ffile-prefix-map=ROOT=.`` writes ``.``
there instead, so that clones at any two paths build the same bytes (the debug strings
keep their length, and with them every later section offset and the build id). ``.``
and not the empty string: given an empty compile directory, the assembler writes its
own working directory into the line table. gcc takes that directory from ``$PWD`` when
it names the folder it runs in, through a symbolic link too, so ``$PWD`` is set to the
very path that is mapped.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .. import command
from ..cachedir import keep_text, partial_file, remove_folder
from ..constants import BTRFS_SUPER_MAGIC, EXT4_SUPER_MAGIC, XFS_SUPER_MAGIC
from ..errors import CommandCancelled, CommandFailed, CommandTimeout, CompileError, ConfigError
from .samples import MANIFEST, Sample, Variant, shown

# The sandbox (.runner) and gcc's version (.toolchain) are imported where a compile
# needs them: checking the captures' freshness imports this module for its digests
# alone, and a build that finds every capture fresh (a fresh clone) then never loads
# the runner (8 ms before its first page; a frozen build, not the toolchain either).


@dataclass(frozen=True)
class Build:
    """A compiled variant: where the binary is and what went into it."""

    sample: str
    variant: str
    binary: Path
    argv: tuple[str, ...]  # the gcc command as recorded (no machine-specific paths)
    headers: tuple[str, ...]  # local headers it included, relative to the samples folder
    compiled: bool  # False when an up-to-date binary was reused


def gcc_argv(sample: Sample, variant: Variant, output: str, depfile: str,
             root: str | None = None) -> list[str]:
    """The gcc command for one variant, as run from the samples folder's parent (``root``,
    by default that folder's path: the path mapped to ``.`` in the debug information)."""
    folder = sample.directory.name
    sources = [f"{folder}/{s}" for s in sample.sources]
    root = str(sample.directory.parent) if root is None else root
    return [
        "gcc", *sample.flags, *variant.flags, f"-I{folder}", *sources, *sample.libs,
        "-o", output, "-MMD", "-MF", depfile,
        f"-ffile-prefix-map={root}=.",
    ]


def recorded_argv(sample: Sample, variant: Variant) -> tuple[str, ...]:
    """The gcc command as it is recorded in a capture and shown on the site."""
    folder = sample.directory.name
    return ("gcc", *sample.flags, *variant.flags, f"-I{folder}",
            *(f"{folder}/{s}" for s in sample.sources), *sample.libs, "-o", sample.name)


def parse_depfile(text: str) -> list[str]:
    """The prerequisites of a Makefile rule as gcc -MMD writes it (escaped spaces kept)."""
    body = text.replace("\\\n", " ")
    _, _, deps = body.partition(": ")
    out, word, escaped = [], "", False
    for ch in deps:
        if escaped:
            word += ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch.isspace():
            if word:
                out.append(word)
            word = ""
        else:
            word += ch
    if word:
        out.append(word)
    return out


def build_dir(cache: Path, sample: Sample, variant: Variant) -> Path:
    """Where a variant's binary lives."""
    return cache / "build" / sample.name / variant.name


def source_digest(sample: Sample, variant: Variant, headers: tuple[str, ...]) -> str:
    """Digest of what the binary depends on: sources, headers, flags, gcc."""
    from .toolchain import gcc_version

    h = hashlib.sha256()
    # The whole command (with stand-ins for the paths: the binary does not depend on
    # them), so that a change to how gcc is called rebuilds the binary too.
    h.update(json.dumps([gcc_argv(sample, variant, "OUT", "DEP", "ROOT"),
                         gcc_version()]).encode())
    for rel in (*sample.sources, *headers):
        h.update(rel.encode() + b"\0" + file_digest(sample.directory / rel).encode())
    return h.hexdigest()


def folder_stamp(directory: Path) -> tuple:
    """Stats of the files in ``directory``: a cheap test that none changed meanwhile."""
    out = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        try:
            if entry.is_file():
                st = entry.stat()
                out.append((entry.name, st.st_mtime_ns, st.st_size))
        except OSError:  # a loop of links, a link into a folder we may not read:
            pass  # not a file a sample can use, and nothing to compare
    return tuple(out)


def real_paths(paths: list[str]) -> list[str]:
    """``os.path.realpath`` of each of ``paths``, each folder among them resolved once:
    a file that is not a link lies where its folder's real path says. A compile's
    dependencies are some eighty headers in a handful of folders, and resolving each
    whole (``Path.resolve``: an lstat per component, and a stat) took 3 ms a compile."""
    folders: dict[str, str] = {}
    out = []
    for path in paths:
        head, name = os.path.split(path)
        try:
            linked = stat.S_ISLNK(os.lstat(path).st_mode)
        except OSError:  # missing, or a folder on the way that is not one: realpath says
            linked = True
        if linked or name in ("", ".", ".."):
            out.append(os.path.realpath(path))
            continue
        real = folders.get(head)
        if real is None:
            real = folders[head] = os.path.realpath(head)
        out.append(os.path.join(real, name))
    return out


def file_digest(path: Path) -> str:
    """sha256 of a regular file, or 'missing' (also for anything else in its place).

    The binary lies in a folder the sample may write: it can leave a FIFO (a read
    would wait forever), a symlink to /dev/zero (a read would never end) or a folder
    where its binary was. Only a regular file, not followed through a link, is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return "missing"
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink: not the binary gcc wrote
            return "missing"
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "missing"
        h = hashlib.sha256()
        with os.fdopen(fd, "rb", closefd=False) as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    finally:
        os.close(fd)


def written_back(path: Path) -> None:
    """Have the kernel write the file ``path`` to disk now (nothing to do if it has).

    Until a binary gcc wrote is written back, smaps counts every page a run maps from
    it as dirty (the program's own code as Private_Dirty): a capture would depend on
    when writeback last ran. Written back, the run maps them clean, as an installed
    program's (under a millisecond a binary here). A file system that cannot (tmpfs:
    memory only) leaves the capture as it comes.

    Only the file's data need be written. On a file system whose files hold their own
    pages (``_OWN_PAGES``), ``sync_file_range`` writes them and waits, and no more;
    ``fsync`` also writes the inode and flushes the disk's cache (0.6 against 1 ms a
    binary here while another capture compiles). Elsewhere, or when the call fails,
    ``fsync``: on overlayfs, say, a file's pages are those of the file underneath,
    which ``sync_file_range`` returns without writing and ``fsync`` reaches."""
    _write_back(path, _SYNC_FILE_RANGE_ALL, or_fsync=True)


def write_back_soon(path: Path) -> None:
    """Have the kernel start writing the file ``path`` to disk, without waiting: what
    ``written_back`` waits for later is then done or under way. A binary is written
    back before its run; started when gcc ends, the writing goes on while the variant
    before it runs (a refresh spent 20 ms of its 400 waiting on it, 36 binaries). Only
    where ``written_back`` would use ``sync_file_range``; elsewhere nothing is done."""
    _write_back(path, _SYNC_FILE_RANGE_WRITE, or_fsync=False)


def _write_back(path: Path, flags: int, or_fsync: bool) -> None:
    """``sync_file_range`` with ``flags`` on the file ``path`` (not through a link, not
    waiting on a FIFO); with ``or_fsync``, ``fsync`` where that is not done."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            if not _sync_data(fd, flags) and or_fsync:
                os.fsync(fd)
        finally:
            os.close(fd)


# statfs(2)'s f_type of the file systems whose files keep their own page cache, where
# sync_file_range(2) writes what fsync would (include/uapi/linux/magic.h).
_OWN_PAGES = frozenset({
    EXT4_SUPER_MAGIC.value,  # ext2, ext3, ext4
    XFS_SUPER_MAGIC.value,
    BTRFS_SUPER_MAGIC.value,
})
# sync_file_range(2)'s flags: wait for writes under way, start the rest, wait for them.
_SYNC_FILE_RANGE_WRITE = 2
_SYNC_FILE_RANGE_ALL = 1 | _SYNC_FILE_RANGE_WRITE | 4  # WAIT_BEFORE | WRITE | WAIT_AFTER


@functools.cache
def _libc():
    """The C library's ``fstatfs`` and ``sync_file_range`` (ctypes), or None without them."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fstatfs, sync_file_range = libc.fstatfs, libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fstatfs.argtypes = [ctypes.c_int, ctypes.c_void_p]
    sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return fstatfs, sync_file_range


def _sync_data(fd: int, flags: int = _SYNC_FILE_RANGE_ALL) -> bool:
    """Write every dirty page of the file ``fd`` to disk and wait (with ``flags``: only
    start writing them), with ``sync_file_range``, on a file system in ``_OWN_PAGES``;
    False where it is not done (another file system, no such call, a call refused)."""
    libc = _libc()
    if libc is None or fs_type(fd) not in _OWN_PAGES:
        return False
    return libc[1](fd, 0, 0, flags) == 0


def fs_type(fd: int) -> int | None:
    """statfs(2)'s ``f_type`` of the file system holding the file ``fd`` (None if unknown)."""
    import ctypes

    libc = _libc()
    # struct statfs is 120 bytes on x86-64 and begins with f_type, a long (__fsword_t).
    buf = ctypes.create_string_buffer(256)
    if libc is None or libc[0](fd, buf) != 0:
        return None
    return ctypes.c_long.from_buffer(buf).value


# The names gcc gives its temporary files (libiberty's make_temp_file: "cc", six
# random characters, a suffix such as ".s"): gcc removes them when it ends, but a gcc
# killed (a timeout, a capture called off) leaves them in the build folder, where the
# sample runs.
_GCC_TEMPORARY = re.compile(r"cc[A-Za-z0-9]{6}(\.[A-Za-z0-9]+)?")


def _remove_gcc_temporaries(where: Path) -> None:
    """Remove what a gcc ended early left in ``where`` (its TMPDIR)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(where):
            if _GCC_TEMPORARY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def compile_variant(sample: Sample, variant: Variant, cache: Path, timeout: float = 120,
                    since: tuple | None = None, cancel=None) -> Build:
    """Compile (or reuse) the binary of one variant; CompileError carries gcc's diagnostics.

    ``since``: the samples folder's ``folder_stamp`` as the caller took it before (a
    capture, once for all its variants); taken here otherwise. ``cancel``: once set, gcc
    is stopped (``command.run``) and CommandCancelled raised. However the compile
    ends, it leaves no half-written binary or dependency file behind.
    """
    from .runner import tool_prefix

    where = build_dir(cache, sample, variant)
    binary = where / sample.name
    # Beside the folder, not in it: the sample may write its folder (its binary too) while
    # it runs, so the stamp records the binary's digest where the sample cannot reach.
    stamp = where.with_name(f"{where.name}.stamp.json")
    try:
        old = json.loads(stamp.read_text())
        headers = tuple(old["headers"])
        if (old["digest"] == source_digest(sample, variant, headers)
                and old["binary"] == file_digest(binary)):
            return Build(sample.name, variant.name, binary, recorded_argv(sample, variant),
                         headers, compiled=False)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    missing = [s for s, p in zip(sample.sources, sample.source_paths) if not p.exists()]
    if missing:  # said as such, not as gcc's failure to compile (its "No such file")
        raise ConfigError(f"{sample.directory.name}/{missing[0]}: no such file, which "
                          f"{shown(sample.directory / MANIFEST)} names for [{sample.name}]",
                          sample=sample.name)
    where.mkdir(parents=True, exist_ok=True)
    before = folder_stamp(sample.directory) if since is None else since
    # gcc's output and its dependency file go first to files of names no one can guess,
    # made here (the sample writes this folder while it runs: a link it left at a name
    # it could foresee would take gcc's writes, and ours of the dependency file).
    handle, partial = partial_file(binary)
    os.close(handle)
    try:
        handle, depfile = partial_file(binary, ".d")
        os.close(handle)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    argv = gcc_argv(sample, variant, str(partial), str(depfile))
    try:
        # gcc may write only the build folder, its temporary files included.
        command.run(argv, cwd=sample.directory.parent, timeout=timeout,
                    env={**os.environ, "TMPDIR": str(where),
                         "PWD": str(sample.directory.parent)},
                    sandbox=tool_prefix(cache, where), cancel=cancel)
        deps = parse_depfile(depfile.read_text())
    except BaseException as exc:  # a failure, a timeout, Ctrl-C: nothing half made stays
        _remove_gcc_temporaries(where)
        partial.unlink(missing_ok=True)
        depfile.unlink(missing_ok=True)
        if isinstance(exc, CommandCancelled):
            exc.sample = exc.sample or sample.name
        if not isinstance(exc, (CommandFailed, CommandTimeout)):
            raise
        raise CompileError(
            f"gcc could not compile variant {variant.name!r}"
            if isinstance(exc, CommandFailed) else exc.message,
            sample=sample.name, command=list(recorded_argv(sample, variant)),
            output=exc.output,
        ) from None
    depfile.unlink()
    folder = sample.directory
    headers = []
    own = {(folder / src).resolve() for src in sample.sources}
    for real in real_paths([os.path.join(folder.parent, dep.replace("$$", "$")) for dep in deps]):
        path = Path(real)
        if path not in own and path.is_relative_to(folder):
            headers.append(path.relative_to(folder).as_posix())
    headers_t = tuple(sorted(set(headers)))
    if binary.is_dir() and not binary.is_symlink():
        remove_folder(binary)  # a sample left a folder where its binary goes, of any depth
    os.replace(partial, binary)
    write_back_soon(binary)  # waited for before it runs (``written_back``)
    if folder_stamp(sample.directory) != before:
        # A source was saved while gcc read it: which version is in the binary is not
        # known, so leave no stamp and compile again next time.
        stamp.unlink(missing_ok=True)
        return Build(sample.name, variant.name, binary, recorded_argv(sample, variant),
                     tuple(sorted(set(headers))), compiled=True)
    keep_text(stamp, json.dumps({"digest": source_digest(sample, variant, headers_t),
                                 "binary": file_digest(binary), "headers": headers_t}))
    return Build(sample.name, variant.name, binary, recorded_argv(sample, variant), headers_t,
                 compiled=True)
