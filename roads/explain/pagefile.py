"""Where a page of ``roads explain`` (or a saved session) is written: at a path walked a
folder at a time, each link on the way followed only as the kernel's
protected_symlinks would, replaced at once by a rename in the folder found; or into
one of this process's own descriptors (/dev/stdout) where it stands.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import sys
from pathlib import Path


class Refused(OSError):
    """What ``write_page`` will not write through or into, by its own rule (another
    user's link in a shared folder, something that is no file of yours), as against
    what the system refuses (a folder missing, no permission)."""


def write_page(text: str, out: Path, *, named: bool = True) -> None:
    """Write the page (or a saved session) at ``out``, so that a reader, or a failure,
    never sees half of it: into a file of a name no one can guess, made in the folder
    the path leads to, then renamed over ``out``; through a link, the link kept.

    What is there and is no file (/dev/null, a FIFO) is written to as it is, only when
    ``named`` (given by --out or --save, not the default name) and yours or root's; one
    of this process's own descriptors (/dev/stdout, /dev/stderr, /dev/fd/N) is written
    to where it stands, as a shell's redirection left it (appended to a file opened for
    that, into a pipe whose reader going ends the command as SIGPIPE does). The path is
    walked once, a folder at a time, each link on the way followed only as the kernel's
    protected_symlinks would (``_walk``); the folder found is the one written in."""
    own = own_descriptor(str(out))
    if own is not None:
        _write_descriptor(own, text)
        return
    folder, name = _walk(str(out))
    try:
        is_file, mode = _judged(folder, name, str(out), named)
        if is_file:
            _replace(folder, name, text, mode)
            return
        fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC,
                     dir_fd=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    finally:
        os.close(folder)


def refused(out: str, named: bool = True) -> str | None:
    """Why ``write_page`` would refuse ``out`` as things stand (a link another user
    made on the way, something that is no file of yours: ``Refused``), or None: asked
    before a run, so that it is not lost to a refusal at its end. What the system would
    refuse (a folder missing, a file on the way) is left to the caller to name."""
    if own_descriptor(out) is not None:
        return None
    try:
        folder, name = _walk(out)
    except Refused as exc:
        return exc.strerror
    except OSError:  # a folder missing, a file on the way: the caller's words say it
        return None
    try:
        _judged(folder, name, out, named)
    except Refused as exc:
        return exc.strerror
    except OSError:
        return None
    finally:
        os.close(folder)
    return None


def _judged(folder: int, name: str, out: str, named: bool) -> tuple[bool, int | None]:
    """What lies at ``name`` in ``folder``: (True, the mode to keep or None) for a file,
    or nothing, to be replaced; (False, None) for what is written into as it is; OSError
    for what is not written at all."""
    try:
        st = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return True, None
    if stat.S_ISDIR(st.st_mode):
        raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), out)
    if stat.S_ISREG(st.st_mode):
        # A file of yours keeps its permissions; another user's (one planted in a folder
        # others may write to) gives none of its own to your page.
        return True, (stat.S_IMODE(st.st_mode) & 0o777 if st.st_uid == os.geteuid() else None)
    if stat.S_ISLNK(st.st_mode):  # made there since the walk
        raise Refused(errno.ELOOP, "a link was made there meanwhile: not followed", out)
    if not named:
        raise Refused(errno.EEXIST, "something that is no file is there (a FIFO, a device): "
                      "name the page with --out", out)
    if st.st_uid not in (os.geteuid(), 0):
        raise Refused(errno.EACCES, f"no file, and another user's (uid {st.st_uid}): not "
                      "written to", out)
    return False, None


# A path that names one of this process's open descriptors: its number, or the name.
_DESCRIPTOR = re.compile(r"/dev/(stdout|stderr|fd/(\d+))|/proc/(self|thread-self|\d+)/fd/(\d+)")


def own_descriptor(path: str) -> int | None:
    """The number of this process's open descriptor ``path`` names (/dev/stdout,
    /dev/stderr, /dev/fd/N, /proc/self/fd/N, /proc/thread-self/fd/N, /proc/PID/fd/N
    of this process, spelled with ``.`` or ``..`` as a path may be), or None: opening
    such a path opens the file again, at its start (a file a shell opened with >> lost
    what it held), and a pipe's name is no path to write a file beside."""
    match = _DESCRIPTOR.fullmatch(os.path.normpath(path)) if path.startswith("/") else None
    if match is None or (match[3] and match[3].isdigit() and int(match[3]) != os.getpid()):
        return None
    number = 1 if match[1] == "stdout" else 2 if match[1] == "stderr" else int(
        match[2] or match[4])
    try:
        os.fstat(number)
    except (OSError, OverflowError, ValueError):
        return None
    return number


def _write_descriptor(fd: int, text: str) -> None:
    """``text`` written to open descriptor ``fd`` where it stands, all of it: what
    Python's stream for it holds first (its stdout or stderr), then the bytes, a write
    at a time (a pipe whose reader leaves mid-way takes part of one: the stream's own
    write took that for done, and a cut page ended with status 0). BrokenPipeError
    when its reader has gone: the command then ends as SIGPIPE ends it (``cli``)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if stream is not None and stream.fileno() == fd:
                stream.flush()
    data = memoryview(text.encode("utf-8"))
    while data:
        data = data[os.write(fd, data):]


def _walk(out: str) -> tuple[int, str]:
    """The folder ``out`` leads to, open (``O_PATH``), and the name in it, the path
    walked a folder at a time from / or the current folder, as the kernel walks it:
    ``..`` from the folder reached, each link read and walked on in its folder, every
    link on the way (not only the last) followed only as protected_symlinks
    (fs/namei.c, may_follow_link) would: in a sticky folder anyone may write to, only a
    link of yours or of the folder's owner. A link of /proc (a process's cwd, root or
    fd) is the kernel's own: opened, as the kernel follows it, never read as text (its
    text names where the folder was, maybe another mount namespace's, or a deleted
    one's). OSError otherwise: a folder missing, a link another user made there, too
    many links, another process's descriptor."""
    parts = out.split("/")
    folder = os.open("/" if out.startswith("/") else ".",
                     os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    proc = _proc_device()
    links = 0
    try:
        while True:
            while parts and parts[0] in ("", "."):
                parts.pop(0)
            if not parts:  # the path ends in a folder
                raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), out)
            part = parts.pop(0)
            last = not any(p not in ("", ".") for p in parts)
            if part == "..":
                folder = _enter(folder, "..")
                continue
            try:
                st = os.stat(part, dir_fd=folder, follow_symlinks=False)
            except FileNotFoundError:
                if last:
                    return folder, part
                raise FileNotFoundError(errno.ENOENT, "no such folder on the way", out) from None
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > 40:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), out)
                here = os.fstat(folder)
                if here.st_dev == proc:
                    if last:
                        raise Refused(errno.EACCES, "names an open file of another process: "
                                      "not written", out)
                    folder = _enter(folder, part, follow=True)
                    continue
                if (here.st_mode & stat.S_ISVTX and here.st_mode & stat.S_IWOTH
                        and st.st_uid not in (os.geteuid(), here.st_uid)):
                    raise Refused(errno.EACCES, f"a link another user (uid {st.st_uid}) made "
                                  "in a shared folder, on the way: not followed; name "
                                  "another file with --out", out)
                target = os.readlink(part, dir_fd=folder)
                if target.startswith("/"):
                    folder = _enter(folder, "/")
                parts = target.split("/") + parts
                continue
            if last:
                return folder, part
            folder = _enter(folder, part)
    except BaseException:
        os.close(folder)
        raise


def _proc_device() -> int | None:
    try:
        return os.stat("/proc").st_dev
    except OSError:
        return None


def _enter(folder: int, name: str, follow: bool = False) -> int:
    """The folder ``name`` in ``folder`` (or / for "/"), open, in the place of
    ``folder``, which is closed once the new one is open (left open on an error, for
    the caller to close). Not through a link, but a /proc link with ``follow``: the
    walk follows the others itself."""
    flags = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
    if name == "/":
        entered = os.open("/", flags)
    else:
        nofollow = 0 if name == ".." or follow else os.O_NOFOLLOW
        entered = os.open(name, flags | nofollow, dir_fd=folder)
    os.close(folder)
    return entered


def _replace(folder: int, name: str, text: str, mode: int | None) -> None:
    """``name`` in ``folder`` replaced by ``text`` at once: a file of an unguessable
    name made there with O_EXCL (nothing another user planted is written through),
    readable by its owner alone until it is whole (another user who opened it meanwhile
    kept a descriptor that read the page a file of 0600 was to hold), then given
    ``mode`` or, where None, the mode of a new file, and renamed."""
    for _ in range(100):
        partial = f".roads-page.{secrets.token_hex(8)}.tmp"  # short: any name fits beside
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600, dir_fd=folder)
            break
        except FileExistsError:
            continue
    else:
        raise OSError(errno.EEXIST, "no name left for the page's partial file", name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), _new_file_mode() if mode is None else mode)
        os.rename(partial, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial, dir_fd=folder)
        raise


def _new_file_mode() -> int:
    """0666 less this process's umask: the mode a new file gets (``freeze._umask`` reads
    the umask without setting it, which would race a thread making a file)."""
    from ..capture.freeze import _umask

    return 0o666 & ~_umask()
