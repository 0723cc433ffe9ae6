"""Files kept in a cache folder: written whole, made once, and the ones nobody used for a
month thrown away.

The page cache and the figure cache keep one file per entry under their key, and a key
changes whenever anything that made the entry does (a page's text, a capture, the
code): old entries are never looked up again, and without pruning a folder grows with
every edit. An entry's modification time says when it was last used: written when made,
touched when found (at most once a day, so that a warm build writes almost nothing).
``prune`` removes the entries unused for ``UNUSED`` seconds; a build calls it at its end,
at most once every ``EVERY`` seconds (a stamp file in the folder), so pruning costs a
build one ``stat`` on other days. Nothing here knows what an entry holds.

Entries lie flat in their folder, and the locks of all the entries of a folder are
byte ranges of one file: on a fresh clone a build keeps hundreds of entries, and a
file system can take up to a millisecond to make a file or a folder (this project's
machine kind, at times), so none is made that an entry does not need.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import stat
import struct
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

DAY = 24 * 3600
UNUSED = 30 * DAY  # an entry not used for this long is removed
EVERY = DAY  # a folder is scanned at most this often
STAMP = ".pruned"
LOCKS = ".locks"  # the file whose byte ranges lock a folder's entries (``locked``)
# A file modified less than RACY_NS before its stats are read may be written again in
# the same tick of the kernel's file clock (a few milliseconds where the file system
# stamps files coarsely), keeping its size and its modification time: until then its
# stats vouch for nothing, and what is kept of it must not be trusted on its stats
# alone (``racy``). A file system that stamps whole seconds (FAT's two, some network
# file systems') is given COARSE_RACY_NS.
RACY_NS = 100_000_000
COARSE_RACY_NS = 2_000_000_000
# A file stamped more than FUTURE_NS ahead of the reader's clock was stamped by another
# clock (a network file system's, an archive's, this machine's before it was set back):
# a save here would stamp it with this clock's time, moving it back, so its stats do
# vouch for its bytes. Without this bound such a file would count as just saved for as
# long as the clock is behind, and be read and hashed again at every look. (The bound
# is far above any pause between taking the moment of a read and the stat after it.)
FUTURE_NS = 10_000_000_000


# The checkout this code runs from, where it runs from one (``roads run`` keeps it
# read-only: capture.runfolder), else None.
OWN_CHECKOUT = (Path(__file__).resolve().parent.parent
                if (Path(__file__).resolve().parent.parent / "pyproject.toml").is_file()
                else None)


def tools_folder(root: Path, root_named: bool, environ: Mapping[str, str]) -> Path:
    """Where a command of the user's (``roads explain``, ``roads run``) keeps the sandbox's
    launcher and a run's fresh folder: the project's ``.cache/roads``, as a build does,
    when ``--root`` named the project (``root_named``) or ``root`` is the checkout this
    code runs from (``OWN_CHECKOUT``, with ``mkdocs.yml`` and ``samples/``); else the
    user's cache folder, ``$XDG_CACHE_HOME/roads`` (an absolute one) or
    ``~/.cache/roads``, so that a run from any other folder writes nothing there. Not
    any folder holding ``mkdocs.yml`` and ``samples/``: a program ``roads run`` ran made
    them in its folder, with a script at the launcher's name in its ``.cache/roads``,
    which the next ``roads explain`` started there ran outside the sandbox."""
    own = (OWN_CHECKOUT is not None and root.resolve() == OWN_CHECKOUT
           and (root / "mkdocs.yml").is_file() and (root / "samples").is_dir())
    if root_named or own:
        return root.resolve() / ".cache" / "roads"
    return user_tools_folder(environ)


def user_tools_folder(environ: Mapping[str, str]) -> Path:
    """The user's own folder for the sandbox's launcher (``tools_folder`` outside a
    project): ``$XDG_CACHE_HOME/roads`` (an absolute one) or ``~/.cache/roads``."""
    base = environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG specification ignores a relative one
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "roads"


def racy(mtime_ns: int, read_at: int | None = None) -> bool:
    """Whether a file last modified at ``mtime_ns`` was modified too recently for its
    stats to vouch for the bytes read from ``read_at`` on (``time.time_ns()`` taken
    before its stats and bytes were read; now by default): within ``RACY_NS``, or within
    ``COARSE_RACY_NS`` for a stamp of a whole second (as a coarse clock makes them).

    The moment must be the one before the read, not a later one: a save during a slow
    read or check, in the same tick, would keep the stats a later moment vouches for.
    A stamp more than ``FUTURE_NS`` ahead of the moment is another clock's: not racy."""
    at = time.time_ns() if read_at is None else read_at
    window = COARSE_RACY_NS if mtime_ns % 1_000_000_000 == 0 else RACY_NS
    return at - window <= mtime_ns <= at + FUTURE_NS


def keep_text(path: Path, text: str) -> None:
    """Replace the kept file ``path`` with ``text`` (UTF-8): see ``keep_bytes``."""
    keep_bytes(path, text.encode("utf-8"))


def keep_bytes(path: Path, data: bytes) -> None:
    """Replace the kept file ``path`` with ``data``, whole or not at all for a reader (a
    cache's file: not synced to disk, since losing it only means making it again). The
    partial file is this call's own (``partial_file``): threads of one process may keep
    the same entry, and nothing planted beside the entry is written through."""
    try:
        fd, partial = partial_file(path)
    except FileNotFoundError:  # its folder is not there yet (the one case worth a mkdir)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = partial_file(path)
    try:
        with open(fd, "wb") as f:
            f.write(data)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


# A partial file: made here or not at all (never an entry that is there, never through a
# link), closed on exec.
_PARTIAL = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_PARTIAL_TRIES = 100


def partial_file(path: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """A new, empty file beside ``path``, to be written and then renamed over it: its
    descriptor (open for writing) and its name, ``.NAME.<random>SUFFIX``. The name is
    one no one can guess and the file is made with O_EXCL, as ``mkstemp`` makes them: a
    name built from the pid would let whoever can write the folder (a shared cache,
    another user) plant a link there beforehand and have the write go through it to a
    file of their choosing. Unlike mkstemp's 0600 the file gets the bits of any new file
    (0666 less the umask), as the entries of a cache others read need. OSError when the
    folder is missing or not writable."""
    for _ in range(_PARTIAL_TRIES):
        partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")
        try:
            return os.open(partial, _PARTIAL, 0o666), partial
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free name for a partial file beside {path}")


def holds(directory: Path, suffix: str) -> bool:
    """Whether ``directory`` holds an entry ending in ``suffix`` (not when it is missing
    or cannot be read)."""
    try:
        return any(name.endswith(suffix) for name in os.listdir(directory))
    except OSError:
        return False


def used(path: Path, now: float | None = None) -> None:
    """Mark the entry at ``path`` as used now (when its mark is a day old or more)."""
    now = time.time() if now is None else now
    with contextlib.suppress(OSError):
        if now - os.stat(path).st_mtime >= DAY:
            os.utime(path, (now, now))


def prune(directory: Path, suffixes: tuple[str, ...], *, now: float | None = None,
          unused: float = UNUSED, every: float = EVERY) -> int | None:
    """Remove the entries (files ending in ``suffixes``, and the partial or lock files a
    killed process left) of ``directory`` unused for ``unused`` seconds; how many, or
    None when the folder was scanned less than ``every`` seconds ago."""
    now = time.time() if now is None else now
    stamp = directory / STAMP
    try:
        if now - os.stat(stamp).st_mtime < every:
            return None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    removed = 0
    for folder, _, names in os.walk(directory):
        for name in names:
            # Entries, and the hidden partial and lock files of their writers.
            if name in (STAMP, LOCKS) or not (name.endswith(suffixes) or name.startswith(".")):
                continue
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                if now - os.stat(path).st_mtime >= unused:
                    os.unlink(path)
                    removed += 1
    # Folders left empty (an older layout's, or a digest's no build uses) go when
    # nothing changed in them for as long: a folder just made for an entry stays.
    for folder, subfolders, names in os.walk(directory, topdown=False):
        if folder != str(directory) and not subfolders and not names:
            with contextlib.suppress(OSError):
                if now - os.stat(folder).st_mtime >= unused:
                    os.rmdir(folder)
    with contextlib.suppress(OSError):
        directory.mkdir(parents=True, exist_ok=True)
        stamp.touch()
        os.utime(stamp, (now, now))
    return removed


# A folder entered by the walk: not through a link, closed on exec.
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ENTER = stat.S_IRUSR | stat.S_IXUSR  # what its owner needs to list a folder and reach into it


def walk_folder(folder: Path, rights: int = _ENTER) -> Iterator[tuple[int, str, os.stat_result, bool]]:
    """Every entry under ``folder``, a run's (which a program of anyone's may fill), as
    (the descriptor of the folder that holds it, its name, its ``lstat``, ``left``): a
    folder comes before what it holds (``left`` False) and again once the walk has
    left it (``left`` True), so that a caller may change it first and remove it last.
    Links are not followed. Folders are entered by their descriptors, one open at a
    time (the walk climbs back through ``..``, checked to be the folder it came from):
    neither Python's recursion limit, nor PATH_MAX, nor the limit on open files ends
    the walk, however deep the tree (os.walk and shutil.rmtree recurse, up to Python
    3.12, and raise RecursionError some thousand folders down). A folder whose owner
    lacks ``rights`` on it (by default reading and searching it: a mode 0o111 or 0
    would hide what it holds) is given them while it is walked, and its mode put back
    on the way out; one that still cannot be entered is passed over. A descriptor
    given is valid until the next entry is asked for. OSError when ``folder`` itself
    cannot be entered."""
    fd, mode = _enter(None, str(folder), rights)
    # For each folder on the way down: its (device, inode), its name, the names left in
    # it, and its mode to put back (None: left as it was).
    levels: list[tuple[tuple[int, int], str, list[str], int | None]] = [
        (_identity(fd), str(folder), _names(fd), mode)]
    try:
        while True:
            _, _, left, _ = levels[-1]
            if not left:
                if len(levels) == 1:
                    return
                parent = os.open("..", _FOLDER, dir_fd=fd)
                if _identity(parent) != levels[-2][0]:
                    os.close(parent)
                    raise OSError(errno.ESTALE, f"a folder under {folder} was moved "
                                  "while it was walked")
                os.close(fd)
                fd = parent
                _, name, _, mode = levels.pop()
                try:
                    if mode is not None:
                        _chmod_folder(name, mode, fd)
                    yield fd, name, os.stat(name, dir_fd=fd, follow_symlinks=False), True
                except FileNotFoundError:
                    pass
                continue
            name = left.pop()
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            yield fd, name, info, False
            if not stat.S_ISDIR(info.st_mode):
                continue
            try:
                child, mode = _enter(fd, name, rights)
            except OSError:
                continue
            os.close(fd)
            fd = child
            levels.append((_identity(fd), name, _names(fd), mode))
    finally:
        os.close(fd)
        if levels[0][3] is not None:
            with contextlib.suppress(OSError):
                _chmod_folder(str(folder), levels[0][3])


def _identity(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def _names(fd: int) -> list[str]:
    with os.scandir(fd) as entries:
        return [entry.name for entry in entries]


def _enter(fd: int | None, name: str, rights: int) -> tuple[int, int | None]:
    """The descriptor of folder ``name`` (in folder ``fd``), ``rights`` given to its
    owner first where it lacked them, and the mode to put back then (None if it was
    not changed); OSError if it cannot be entered."""
    mode = stat.S_IMODE(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    changed = mode & rights != rights
    if changed:
        _chmod_folder(name, mode | rights, fd)
    try:
        return os.open(name, _FOLDER, dir_fd=fd), mode if changed else None
    except OSError:
        if changed:
            with contextlib.suppress(OSError):
                _chmod_folder(name, mode, fd)
        raise


def _chmod_folder(name: str, mode: int, fd: int | None = None) -> None:
    """Give folder ``name`` (in folder ``fd``) ``mode``, never through a link: os.chmod
    follows one, and a link put in the folder's place between a check and the chmod
    (by a program still writing in a run's folder) would have changed another file's
    mode. Linux has no lchmod; the folder's own descriptor is changed instead."""
    handle = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC,
                     dir_fd=fd)
    try:
        os.chmod(f"/proc/self/fd/{handle}", mode)
    finally:
        os.close(handle)


def remove_folder(folder: Path) -> None:
    """Remove ``folder`` and all it holds, however deep and whatever the modes of its
    folders (``walk_folder``), never through a link; OSError if something is left."""
    for fd, name, info, left in walk_folder(folder, rights=stat.S_IRWXU):
        if left:
            os.rmdir(name, dir_fd=fd)
        elif not stat.S_ISDIR(info.st_mode):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=fd)
    os.rmdir(folder)


# A lock file: made if missing, never truncated, never opened through a link (O_CREAT
# would make the file a dangling link names).
_LOCK_FILE = os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
LOCK_WAIT = 300.0  # seconds to wait for another process making the same entry


# struct flock as fcntl(2) reads it on Linux x86-64: l_type, l_whence, l_start, l_len,
# l_pid (0 for an open file description's lock), padded to 32 bytes.
_FLOCK = struct.Struct("hhqqi4x")


def _byte(name: str) -> int:
    """The byte of the folder's lock file that stands for the entry ``name`` (60 bits of
    its digest: two entries of one folder never share one in practice, and if they did,
    one would only wait for the other)."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:15], 16)


@contextlib.contextmanager
def locked(path: Path):
    """Hold the lock of the entry at ``path`` while it is made, so that two processes
    rendering pages at once (``macros.ahead``) do not both make it: the second waits,
    then finds it. The lock is a byte of the folder's one lock file (``LOCKS``), locked
    for this open file (``F_OFD_SETLK``: threads and processes alike exclude each
    other, and the kernel releases it if the process dies). Where there is no such lock
    (not Linux), a lock file of the entry's own, with ``flock``. Past ``LOCK_WAIT``, or
    when the file system refuses locks, the entry is made without one: the lock only
    spares drawing it twice, and entries are written whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not hasattr(fcntl, "F_OFD_SETLK"):
        with _own_lock_file(path):
            yield
        return
    fd = os.open(path.parent / LOCKS, _LOCK_FILE, 0o600)
    try:
        request = _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, _byte(path.name), 1, 0)
        _take(lambda: fcntl.fcntl(fd, fcntl.F_OFD_SETLK, request))
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def _own_lock_file(path: Path):
    """The lock of the entry at ``path`` as a hidden file beside it, held with ``flock``."""
    lock = path.with_name(f".{path.name}.lock")
    fd = os.open(lock, _LOCK_FILE, 0o600)
    try:
        _take(lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB))
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()  # a process waiting on it finds the entry once it has the lock
        os.close(fd)


class LockTimeout(TimeoutError):
    """A lock another process held longer than its waiter waits (``held``)."""


class LockCancelled(OSError):
    """A wait for a lock called off (``held``'s ``cancel``): Ctrl-C, a capture ending."""


@contextlib.contextmanager
def held(path: Path, what: str, wait: float = LOCK_WAIT, cancel=None) -> Iterator[None]:
    """An exclusive lock on the file ``path`` while the block runs (a sample's capture:
    two builds never make it at once). The file is made if missing, with its folder,
    and opened as it is: never truncated, never through a link (one planted at its name,
    in a cache others can write, would have truncated its target). The lock is waited
    for ``wait`` seconds at most, then LockTimeout says what waits for whom: a
    ``roads capture`` stopped with Ctrl-Z holds its samples' locks for ever, and
    ``mkdocs serve`` waited without a word. ``cancel`` (a ``threading.Event``): once it
    is set, the wait ends with LockCancelled (a worker waiting there held up Ctrl-C
    until the lock's deadline)."""
    try:
        fd = os.open(path, _LOCK_FILE, 0o666)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, _LOCK_FILE, 0o666)
    try:
        if not _poll(lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB), wait, cancel):
            if cancel is not None and cancel.is_set():
                raise LockCancelled(errno.ECANCELED, f"the wait for {what} was called off",
                                    str(path))
            raise LockTimeout(errno.ETIMEDOUT, f"waited {wait:g} s for {what}, whose lock "
                              "another process holds (a roads capture stopped with "
                              "Ctrl-Z?)", str(path))
        yield
    finally:
        os.close(fd)  # the lock goes with the descriptor


def _take(attempt) -> None:
    """Call ``attempt`` (a lock taken without waiting) until it succeeds, or until
    ``LOCK_WAIT`` seconds passed or the file system refused the lock: then go on."""
    with contextlib.suppress(OSError):  # ENOLCK (NFS without a lock manager), EINVAL...
        _poll(attempt, LOCK_WAIT)


def _poll(attempt, wait: float, cancel=None) -> bool:
    """Call ``attempt`` (a lock taken without waiting) until it succeeds (True), or
    until ``wait`` seconds passed or ``cancel`` is set (False), a little longer between
    tries each time; another error of the lock's is raised."""
    deadline = time.monotonic() + wait
    pause = 0.002
    while True:
        try:
            attempt()
            return True
        except (BlockingIOError, PermissionError):  # EAGAIN or EACCES: held elsewhere
            if (cancel is not None and cancel.is_set()) or time.monotonic() > deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
