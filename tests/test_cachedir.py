"""roads.cachedir: the locks of a cache folder's entries, and pruning, on real files and
processes."""

from __future__ import annotations

import os
import signal
import stat
import time

import pytest

from roads import cachedir


def _hold(path, ready_w, release_r) -> None:
    """In a child: hold the lock of ``path`` until told to let go (or killed)."""
    with cachedir.locked(path):
        os.write(ready_w, b"x")
        os.read(release_r, 1)
    os._exit(0)


def _child(path):
    """A process holding the lock of ``path``; its pid and the pipe end that releases it."""
    ready_r, ready_w = os.pipe()
    release_r, release_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _hold(path, ready_w, release_r)
    os.close(ready_w)
    os.close(release_r)
    assert os.read(ready_r, 1) == b"x"
    os.close(ready_r)
    return pid, release_w


def _waited(path, seconds_before_release: float, release) -> float:
    started = time.monotonic()
    if seconds_before_release is not None:
        import threading
        threading.Timer(seconds_before_release, release).start()
    with cachedir.locked(path):
        return time.monotonic() - started


def test_an_entry_another_process_makes_is_waited_for_and_others_are_not(tmp_path):
    entry = tmp_path / "figures" / "a.html"
    pid, release = _child(entry)
    try:
        # Another entry of the same folder: no wait.
        assert _waited(entry.with_name("b.html"), None, None) < 0.2
        # The same entry: the lock is had once the holder lets go.
        assert _waited(entry, 0.4, lambda: os.write(release, b"x")) >= 0.35
    finally:
        os.close(release)
        os.waitpid(pid, 0)
    # One lock file for the folder, and no file an entry.
    assert [p.name for p in entry.parent.iterdir()] == [cachedir.LOCKS]


def test_the_lock_of_a_killed_process_is_released(tmp_path):
    entry = tmp_path / "a.html"
    pid, release = _child(entry)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(release)
    assert _waited(entry, None, None) < 0.2


def _second_waits_for_first(entry, while_held=lambda: None) -> list[str]:
    """Two threads of this process want the lock of ``entry``: the order they had it in."""
    import threading

    inside, order = threading.Event(), []

    def first():
        with cachedir.locked(entry):
            while_held()
            inside.set()
            time.sleep(0.3)
            order.append("first")

    t = threading.Thread(target=first)
    t.start()
    inside.wait(5)
    with cachedir.locked(entry):
        order.append("second")
    t.join()
    return order


def test_threads_of_one_process_exclude_each_other(tmp_path):
    assert _second_waits_for_first(tmp_path / "a.html") == ["first", "second"]


def test_pruning_keeps_the_lock_file_and_removes_folders_long_empty(tmp_path):
    day = cachedir.DAY
    now = time.time()
    old = now - 40 * day
    with cachedir.locked(tmp_path / "a.html"):
        pass
    shard = tmp_path / "ab"  # an older layout's folder, emptied long ago
    shard.mkdir()
    made = tmp_path / "cd"  # a folder just made for an entry
    made.mkdir()
    entry = tmp_path / "ef" / "x.html"
    entry.parent.mkdir()
    entry.write_text("<svg/>")
    for path in (tmp_path / cachedir.LOCKS, shard, entry):
        os.utime(path, (old, old))
    assert cachedir.prune(tmp_path, (".html",), now=now) == 1
    assert not shard.exists() and not entry.exists()
    # The folder the pruning just emptied changed now: it goes a month later.
    assert made.exists() and entry.parent.exists()
    assert (tmp_path / cachedir.LOCKS).exists()
    assert cachedir.prune(tmp_path, (".html",), now=now + 40 * day) == 0
    assert not entry.parent.exists() and not made.exists()
    assert (tmp_path / cachedir.LOCKS).exists()


def test_without_open_file_locks_an_entry_has_a_lock_file_of_its_own(tmp_path, monkeypatch):
    """Not Linux: ``flock`` on a hidden file beside the entry, which goes afterwards."""
    import fcntl

    monkeypatch.delattr(fcntl, "F_OFD_SETLK")
    held = lambda: (tmp_path / ".a.html.lock").exists() or pytest.fail("no lock file")  # noqa: E731
    assert _second_waits_for_first(tmp_path / "a.html", held) == ["first", "second"]
    assert list(tmp_path.iterdir()) == []


def test_a_lock_the_file_system_refuses_is_no_lock(tmp_path, monkeypatch):
    import errno
    import fcntl

    def refuse(*args):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "fcntl", refuse)
    started = time.monotonic()
    with cachedir.locked(tmp_path / "a.html"):
        pass
    assert time.monotonic() - started < 1


def test_keep_bytes_makes_its_folders_replaces_whole_and_leaves_no_partial(tmp_path):
    from roads.cachedir import keep_bytes, keep_text

    entry = tmp_path / "a" / "b" / "entry"
    keep_bytes(entry, b"first")  # folders made on the way
    keep_text(entry, "second é")
    assert entry.read_text(encoding="utf-8") == "second é"
    assert sorted(p.name for p in entry.parent.iterdir()) == ["entry"]
    # An entry that cannot be replaced (a folder in its place) fails, as it did, and
    # leaves no partial file behind; nor does a folder that cannot be made.
    (tmp_path / "a" / "dir").mkdir()
    with pytest.raises(IsADirectoryError):
        keep_bytes(tmp_path / "a" / "dir", b"x")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises((NotADirectoryError, FileExistsError)):
        keep_bytes(tmp_path / "file" / "entry", b"x")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b", "dir"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "file"]


def test_a_run_folder_is_removed_through_its_modes_and_never_through_a_link(tmp_path):
    """What a program may leave in its folder: folders its owner may not enter (mode 0,
    or 0o555 with files in it), links to a file and a folder elsewhere. All goes, and
    nothing a link leads to."""
    outside = tmp_path / "outside"
    (outside / "kept").mkdir(parents=True)
    (outside / "file").write_text("x")
    run = tmp_path / "run"
    (run / "locked" / "inner").mkdir(parents=True)
    (run / "locked" / "inner" / "f").write_text("x")
    (run / "readonly").mkdir()
    (run / "readonly" / "f").write_text("x")
    (run / "to-file").symlink_to(outside / "file")
    (run / "to-folder").symlink_to(outside / "kept")
    os.chmod(run / "locked" / "inner", 0)
    os.chmod(run / "locked", 0o111)
    os.chmod(run / "readonly", 0o555)
    seen = sorted(name for _, name, _, left in cachedir.walk_folder(run) if not left)
    assert seen == ["f", "f", "inner", "locked", "readonly", "to-file", "to-folder"]
    assert oct((run / "locked").stat().st_mode & 0o777) == "0o111"  # put back
    cachedir.remove_folder(run)
    assert not run.exists()
    assert (outside / "file").read_text() == "x" and (outside / "kept").is_dir()


def test_a_folders_mode_is_never_changed_through_a_link(tmp_path):
    """The walk gives a folder its owner's rights, then puts its mode back, by name: a
    link put in its place in between (a program still writing in a run's folder) had
    the mode of the file it named changed. Now a link there is an error, its target
    untouched."""
    from roads.cachedir import _chmod_folder

    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(NotADirectoryError):
        _chmod_folder(str(tmp_path / "link"), 0o777)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    _chmod_folder(str(target), 0o750)
    assert stat.S_IMODE(target.stat().st_mode) == 0o750


def test_a_capture_lock_held_elsewhere_is_waited_for_within_a_deadline(tmp_path):
    """A sample's capture lock was waited for without end: a roads capture stopped with
    Ctrl-Z made mkdocs serve wait for ever, without a word. The wait has a deadline, and
    the error names the lock file and what waits; once the lock is free, it is taken."""
    import fcntl

    lock = tmp_path / "locks" / "brk.lock"
    with cachedir.held(lock, "the capture of 'brk'"):
        other = os.open(lock, os.O_RDWR)  # another open file: its own flock
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
        started = time.monotonic()
        with pytest.raises(cachedir.LockTimeout) as caught:
            with cachedir.held(lock, "the capture of 'brk'", wait=0.2):
                pass
        assert 0.2 <= time.monotonic() - started < 5
        assert caught.value.filename == str(lock)
        assert "waited 0.2 s for the capture of 'brk'" in caught.value.strerror
    with cachedir.held(lock, "the capture of 'brk'", wait=0.2):
        pass


def test_a_wait_for_a_capture_lock_ends_when_it_is_called_off(tmp_path):
    """Ctrl-C could not stop a roads capture whose worker waited for a sample another
    process was capturing: the wait looked at nothing but its deadline (300 s), and the
    second Ctrl-C is ignored while a command cleans up. It ends once ``cancel`` is set."""
    import threading

    lock = tmp_path / "locks" / "brk.lock"
    cancel = threading.Event()
    with cachedir.held(lock, "the capture of 'brk'"):
        threading.Timer(0.2, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(cachedir.LockCancelled, match="the wait for the capture of 'brk'"):
            with cachedir.held(lock, "the capture of 'brk'", cancel=cancel):
                pass
        assert time.monotonic() - started < 5
