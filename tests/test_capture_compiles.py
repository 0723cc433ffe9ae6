"""A capture made alone compiles its variants at once; its binaries are written back."""

from __future__ import annotations

import mmap
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from roads import command
from roads.capture import build, snapshot
from roads.capture.proc import parse_smaps
from roads.errors import CommandCancelled, CommandTimeout, CompileError

TWO = '#include "roads.h"\nint main(void) { ROADS_CHECKPOINT("here"); return 0; }\n'
VARIANTS = '[two.variants]\nplain = []\nstatic = ["-static"]\n'


# Seconds a compile waits first, the static variant's and any other's: long enough that
# two compiles one after the other cannot overlap (a test may lengthen them).
PAUSE = {"static": 0.6, "plain": 0.3}


@pytest.fixture
def timed_compiles(monkeypatch):
    """compile_variant as the engine's, with when each began and ended and on which thread."""
    spans: dict[str, tuple[float, float, str]] = {}
    real = build.compile_variant

    def compile_variant(sample, variant, cache, **kw):
        began = time.monotonic()
        # What a compile's thread waits is gcc's time (in its ledger, if it has one).
        pause = PAUSE["static" if variant.name == "static" else "plain"]
        time.sleep(pause)
        command.charge("gcc", pause)
        out = real(sample, variant, cache, **kw)
        spans[variant.name] = (began, time.monotonic(), threading.current_thread().name)
        return out

    monkeypatch.setattr(snapshot, "compile_variant", compile_variant)
    return spans


def _overlap(spans) -> bool:
    (a0, a1, _), (b0, b1, _) = spans["plain"], spans["static"]
    return a0 < b1 and b0 < a1


def test_a_capture_made_alone_compiles_its_variants_at_once(scratch, timed_compiles,
                                                           monkeypatch):
    # The main thread compiles plain, then waits for static, whose compile takes longer:
    # time that must be charged to gcc (command.ledger), not counted as the engine's.
    monkeypatch.setitem(PAUSE, "static", 3.0)
    monkeypatch.setitem(PAUSE, "plain", 1.0)
    charges: list[tuple[str, str, float, float]] = []  # thread, what, seconds, when
    real_charge = command.charge

    def charge(what: str, seconds: float) -> None:
        charges.append((threading.current_thread().name, what, seconds, time.monotonic()))
        real_charge(what, seconds)

    monkeypatch.setattr(command, "charge", charge)
    scratch.add("two", TWO, VARIANTS)
    project = scratch.project()
    outcome = project.capture_one("two", together=True)
    assert outcome.action == "captured"
    assert _overlap(timed_compiles), timed_compiles
    assert timed_compiles["static"][2] != threading.current_thread().name
    # After plain's compile, this thread charged gcc once more: the wait for static,
    # from before static's compile ended until after (however late or slow either ran;
    # its length no timing of a busy machine decides).
    plain_done, static_done = timed_compiles["plain"][1], timed_compiles["static"][1]
    me = threading.current_thread().name
    waits = [(seconds, at) for thread, what, seconds, at in charges
             if thread == me and what == "gcc" and at > plain_done]
    assert len(waits) == 1, charges
    (seconds, at), = waits
    assert at - seconds < static_done <= at, (waits, static_done)
    assert outcome.timing["gcc"] >= seconds, outcome.timing
    doc = project.read("two")
    assert set(doc["variants"]) == {"plain", "static"}
    # Each variant ran and was analysed from its own binary.
    assert doc["variants"]["static"]["elf"]["is_static"] is True
    assert doc["variants"]["plain"]["elf"]["interp"] is not None


def test_captures_made_together_compile_one_variant_after_the_other(scratch, timed_compiles):
    scratch.add("two", TWO, VARIANTS)
    scratch.add("other", TWO)
    project = scratch.project()
    outcomes = project.capture(["two", "other"], jobs=2)
    assert {o.action for o in outcomes} == {"captured"}
    assert not _overlap(timed_compiles), timed_compiles
    # One capture alone, on one worker: one after the other too.
    project.capture(["two"], refresh=True, jobs=1)
    assert not _overlap(timed_compiles), timed_compiles
    # Alone on a pool of two: at once.
    project.capture(["two"], refresh=True, jobs=2)
    assert _overlap(timed_compiles), timed_compiles


def test_a_later_variant_that_fails_to_compile_fails_the_capture_and_leaves_no_gcc(scratch):
    scratch.add("two", TWO + '#ifdef BROKEN\n#error "this variant does not compile"\n#endif\n',
                '[two.variants]\nplain = []\nbroken = ["-DBROKEN"]\n')
    gcc_before = _gcc_children(scratch)
    with pytest.raises(CompileError, match="broken") as err:
        scratch.project().capture_one("two", together=True)
    assert err.value.sample == "two"
    assert "this variant does not compile" in err.value.output
    after = _gcc_children(scratch)
    assert after.keys() == gcc_before.keys(), (gcc_before, after)
    assert not [t for t in threading.enumerate() if t.name.startswith("roads-gcc-")]


# A variant whose gcc waits until it is killed (it includes a FIFO nobody writes),
# beside one that fails at once.
SLOW = '''#include "roads.h"
#ifdef SLOW
#include "never.h"
#endif
#ifdef BROKEN
#error "this variant does not compile"
#endif
int main(void) { ROADS_CHECKPOINT("here"); return 0; }
'''


def _add_slow(scratch, variants: str) -> None:
    scratch.add("two", SLOW, variants)
    os.mkfifo(scratch.samples / "never.h")


def test_a_failure_while_a_later_compile_runs_stops_that_compile(scratch):
    """Variant 0 fails while the later variant's gcc still works: the capture fails at
    once, that gcc is killed (not left to finish), and no half-made file stays."""
    _add_slow(scratch, '[two.variants]\nbroken = ["-DBROKEN"]\nslow = ["-DSLOW"]\n')
    before = _gcc_children(scratch)
    started = time.monotonic()
    with pytest.raises(CompileError, match="broken"):
        scratch.project().capture_one("two", together=True)
    assert time.monotonic() - started < 5.0  # the slow compile would never end
    after = _gcc_children(scratch)
    assert after.keys() == before.keys(), (before, after)
    left = [p.name for p in (scratch.root / ".cache").rglob(".two.*")]
    assert left == [], left


def test_a_compile_stops_when_its_capture_is_cancelled(scratch):
    """The pool's cancel (Ctrl-C) reaches gcc: a compile under way stops within
    command.CANCEL_POLL, leaving nothing half made."""
    _add_slow(scratch, '[two.variants]\nslow = ["-DSLOW"]\n')
    project = scratch.project()
    sample = project.sample("two")
    cancel = threading.Event()
    before = _gcc_children(scratch)
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(CommandCancelled) as err:
        build.compile_variant(sample, sample.variants[0], project.cache_dir, cancel=cancel)
    assert time.monotonic() - started < 5.0
    assert err.value.sample == "two"
    after = _gcc_children(scratch)
    assert after.keys() == before.keys(), (before, after)
    # Neither our half-made files nor gcc's own temporary ones (cc*.s) stay behind.
    left = [p.name for p in project.cache_dir.rglob("*") if p.parent.name == "slow"
            or p.name.startswith(".two.")]
    assert left == [], left


GCC_PROGRAMS = {"gcc", "cc1", "as", "collect2", "ld", "ld.bfd", "ld.gold"}


def _gcc_children(scratch) -> dict[int, str]:
    """This process's descendants that work for the scratch project (its path in their
    command line) or are gcc's programs: pid -> what it runs, for a failure to show.
    (The test worker may have others, started by earlier tests, that come and go.)"""
    import psutil

    found = {}
    for p in psutil.Process().children(recursive=True):
        try:
            argv, name, status = p.cmdline(), p.name(), p.status()
        except psutil.Error:
            continue  # gone already
        if name in GCC_PROGRAMS or any(str(scratch.root) in a for a in argv):
            found[p.pid] = f"{status} {argv}"
    return found


def _mapped_dirty(path) -> tuple[int, int]:
    """(Private_Clean, Private_Dirty) in kB of ``path`` mapped private and read whole,
    as a run maps its binary, from this process's smaps."""
    data = path.read_bytes()
    with open(path, "rb") as f:
        view = mmap.mmap(f.fileno(), len(data), flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
    try:
        assert view[::mmap.PAGESIZE] == data[::mmap.PAGESIZE]  # every page faulted in
        mine = [e for e in parse_smaps(Path("/proc/self/smaps").read_text())
                if e.maps.pathname == str(path)]
        assert mine
        return (sum(e.kb["Private_Clean"] for e in mine),
                sum(e.kb["Private_Dirty"] for e in mine))
    finally:
        view.close()


def _fresh_file(folder, name: str):
    path = folder / name
    path.write_bytes(os.urandom(16 * mmap.PAGESIZE))
    return path


@pytest.fixture
def disk_folder(tmp_path):
    """tmp_path, on a file system whose files hold their own pages (not tmpfs, not
    overlayfs): where a written page is dirty until written back."""
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        kind = build.fs_type(fd)
    finally:
        os.close(fd)
    if kind not in build._OWN_PAGES:
        pytest.skip(f"the test folder is on a file system of type {kind!r}, not a disk's")
    return tmp_path


def test_a_written_back_file_maps_clean_and_fsync_is_not_needed(disk_folder, monkeypatch):
    """Just written, a file's pages map dirty (the control); written back, clean, by
    sync_file_range alone on this file system."""
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    control = _fresh_file(disk_folder, "control")
    clean, dirty = _mapped_dirty(control)
    if dirty == 0:  # written back already (a sync elsewhere, writeback under load)
        pytest.skip("the control file was written back before it could be read dirty")
    path = _fresh_file(disk_folder, "binary")
    build.written_back(path)
    clean, dirty = _mapped_dirty(path)
    assert dirty == 0 and clean > 0, (clean, dirty)
    assert synced == []


def test_writing_back_started_early_is_done_later_without_waiting_on_it(disk_folder, monkeypatch):
    """``write_back_soon`` (called when gcc ends) starts the writing and returns: the
    file maps clean soon after, with no ``written_back``; a file written beside it and
    left alone stays dirty meanwhile (the control)."""
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    path = _fresh_file(disk_folder, "binary")
    control = _fresh_file(disk_folder, "control")
    build.write_back_soon(path)
    deadline = time.monotonic() + 10
    while _mapped_dirty(path)[1] and time.monotonic() < deadline:
        time.sleep(0.01)
    clean, dirty = _mapped_dirty(path)
    assert dirty == 0 and clean > 0, (clean, dirty)
    if _mapped_dirty(control)[1] == 0:
        pytest.skip("the control file was written back too (a sync elsewhere, under load)")
    assert synced == []


def test_writing_back_is_not_started_where_sync_file_range_is_not_used(disk_folder, fsyncs,
                                                                       monkeypatch):
    """Elsewhere (``_OWN_PAGES``: overlayfs) ``write_back_soon`` does nothing, not even an
    fsync: ``written_back`` does it all before the run; a FIFO is not waited on."""
    monkeypatch.setattr(build, "_OWN_PAGES", frozenset())
    path = _fresh_file(disk_folder, "binary")
    control = _fresh_file(disk_folder, "control")
    build.write_back_soon(path)
    dirty = _mapped_dirty(path)[1]
    if _mapped_dirty(control)[1] == 0:
        pytest.skip("the control file was written back too (a sync elsewhere, under load)")
    assert dirty > 0
    fifo = disk_folder / "fifo"
    os.mkfifo(fifo)
    build.write_back_soon(fifo)
    build.write_back_soon(disk_folder / "missing")
    assert fsyncs == []


@pytest.fixture
def fsyncs(monkeypatch) -> list[int]:
    """The descriptors os.fsync is called on from now on (each still fsynced)."""
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def test_elsewhere_a_file_is_written_back_by_fsync(disk_folder, fsyncs, monkeypatch):
    """On a file system not known to keep a file's own pages (overlayfs: they are the
    file's underneath, which sync_file_range never reaches), and for what the call
    refuses, fsync does it."""
    synced = fsyncs
    monkeypatch.setattr(build, "_OWN_PAGES", frozenset())
    path = _fresh_file(disk_folder, "binary")
    build.written_back(path)
    assert len(synced) == 1
    clean, dirty = _mapped_dirty(path)
    assert dirty == 0 and clean > 0, (clean, dirty)
    read, write = os.pipe()
    try:
        assert build._sync_data(read) is False
    finally:
        os.close(read)
        os.close(write)


def test_a_fifo_in_the_binarys_place_is_tried_and_refused_without_hanging(disk_folder, fsyncs):
    """A sample may leave a FIFO where its binary goes: on a disk's file system
    sync_file_range refuses it (ESPIPE), fsync is tried (and refused), and nothing
    waits for a writer (O_NONBLOCK)."""
    synced = fsyncs
    fifo = disk_folder / "fifo"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert build.fs_type(fd) in build._OWN_PAGES
        assert build._sync_data(fd) is False
    finally:
        os.close(fd)
    build.written_back(fifo)
    assert len(synced) == 1


def test_input_is_sent_whole_even_with_a_cancel():
    """command.run with input and cancel writes all of the input (communicate, called
    again after a poll, would send no more of it): cancel is not polled then."""
    text = "x" * 1_000_000
    done = command.run(["sh", "-c", "sleep 0.3; wc -c"], input=text, cancel=threading.Event(),
                       timeout=30)
    assert done.stdout.strip() == str(len(text))


def test_each_line_of_stderr_is_handed_on_as_it_comes():
    """command.run's on_line is called with each line of stderr while the command runs
    (roads explain tells its sandboxed tracer's progress so), not once it has ended;
    the result still holds the whole stream, and a timeout still ends the group."""
    started = time.monotonic()
    told: list[tuple[str, float]] = []
    done = command.run(["sh", "-c", "echo one >&2; echo out; sleep 1; echo two >&2"],
                       timeout=30, on_line=lambda line: told.append((line, time.monotonic())))
    assert [line for line, _ in told] == ["one", "two"]
    assert told[1][1] - told[0][1] > 0.5  # "one" came a second before the end
    assert done.stderr == "one\ntwo\n" and done.stdout == "out\n"
    assert time.monotonic() - started < 20
    with pytest.raises(CommandTimeout) as late:
        command.run(["sh", "-c", "echo begun >&2; exec sleep 30"], timeout=0.5,
                    on_line=told.append)
    assert told[-1] == "begun" and "begun" in late.value.output
    with pytest.raises(ValueError):
        command.run(["true"], merge_stderr=True, on_line=told.append)


def test_a_failing_line_handler_does_not_leave_the_command_blocked():
    """An error of on_line (a closed terminal, say) ends the calls but not the reading of
    stderr: the command, writing more than a pipe holds, still ends, and run raises the
    handler's error then, not at its timeout."""

    def fails(line: str) -> None:
        raise OSError("the terminal went away")

    started = time.monotonic()
    with pytest.raises(OSError, match="the terminal went away"):
        command.run(["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' 'x' | fold -w 100 >&2"],
                    timeout=30, on_line=fails)
    assert time.monotonic() - started < 20


def test_real_paths_are_realpaths_each_folder_resolved_once(tmp_path):
    """The headers a compile depends on are told apart by their real paths: each folder
    is resolved once (``build.real_paths``), and each path comes out as
    ``os.path.realpath`` gives it, through links to files and to folders, ``..`` after a
    link, a missing file or folder, a trailing slash."""
    from roads.capture.build import real_paths

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "h.h").write_text("")
    (tmp_path / "lnk").symlink_to(tmp_path / "a" / "b")
    (tmp_path / "a" / "hl.h").symlink_to(tmp_path / "a" / "b" / "h.h")
    (tmp_path / "loop1").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop1")
    paths = [str(tmp_path / p) for p in (
        "lnk/h.h", "a/hl.h", "a/b/../b/h.h", "a/missing.h", "missing/x.h", "lnk/../b/h.h",
        "a/b/h.h/", "a/b/.", "a/b/h.h/x", "loop1", "lnk/./h.h")]
    assert real_paths(paths) == [os.path.realpath(p) for p in paths]
    assert real_paths([str(tmp_path / "lnk/h.h")]) == [str((tmp_path / "a/b/h.h").resolve())]


def test_a_command_ended_as_it_starts_is_killed_and_reaped(monkeypatch, no_leftovers):
    """A signal that ends roads (its handler raises: Ctrl-C, SIGTERM, SIGHUP) taken as the
    command's fork returns, inside Popen: the exception lost the child, left running (a
    sandbox's launcher, gcc). It is raised once run holds the child, which it ends and
    reaps first. The signal is sent from there (SIGTERM to this process), as if it came
    then, and taken by roads' own handlers."""
    from roads import cli

    started: list[int] = []
    real = subprocess.Popen._execute_child

    def execute_child(popen, *args, **kwargs):
        real(popen, *args, **kwargs)
        started.append(popen.pid)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(subprocess.Popen, "_execute_child", execute_child)
    try:
        with pytest.raises(cli.Ended), cli._ended_as_interrupted():
            command.run(["sleep", "60"], timeout=60)
    finally:
        left = []
        for pid in started:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # reaped
                continue
            left.append(pid)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert len(started) == 1
    assert not left, f"the command was left unreaped: {left}"


@pytest.mark.parametrize("how", ["cancelled", "interrupted"])
def test_a_command_ended_early_waits_for_what_is_left_of_its_group(how):
    """A command ended early (cancelled, past its timeout, or interrupted: Ctrl-C) is
    killed with its group, and was waited for alone: its children, gcc's cc1 say, killed
    with it and adopted by init as it ended, could still be exiting when run returned
    (one that had touched much memory, half a gigabyte here, takes tens of milliseconds
    to give it back). run returns once the group is gone."""
    script = ("import sys, time; b = b'x' * (1 << 29); "
              "print('touched', file=sys.stderr, flush=True); time.sleep(60)")
    marker = f"roads-test-group-{os.getpid()}"
    pidfds: list[int] = []
    cancel = threading.Event()

    class Interrupted(Exception):
        pass

    def touched(line: str) -> None:
        if line != "touched":
            return
        for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
            try:
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if args[0] == os.fsencode(sys.executable) and marker.encode() in args:
                    pidfds.append(os.pidfd_open(pid))  # the child, not its shell
            except OSError:
                continue
        if how == "cancelled":
            cancel.set()
        else:
            os.kill(os.getpid(), signal.SIGUSR1)  # its handler runs in the main thread, in run

    def interrupt(signum, frame):
        raise Interrupted

    before = signal.signal(signal.SIGUSR1, interrupt)
    try:
        # The child in the background, its shell waiting for it: both of one group.
        with pytest.raises(CommandCancelled if how == "cancelled" else Interrupted):
            command.run(["sh", "-c", '"$0" -c "$1" "$2" & wait', sys.executable, script,
                         marker], timeout=60, on_line=touched, cancel=cancel)
        left = []
        for fd in pidfds:
            try:
                signal.pidfd_send_signal(fd, 0)
                left.append(fd)
            except ProcessLookupError:  # reaped: not even a zombie
                pass
    finally:
        signal.signal(signal.SIGUSR1, before)
        for fd in pidfds:
            os.close(fd)
    assert len(pidfds) == 1
    assert not left, "a process of the command's group was still there as run returned"


@pytest.mark.parametrize("relay", [False, True])
def test_a_timeout_ends_the_run_though_a_descendant_keeps_the_pipes(relay, monkeypatch):
    """A command whose time ran out is killed with its group, and its pipes were then
    read to their end without a deadline: a descendant in a session of its own (out of
    the group) keeps them open, and run waited for it (here 30 s). They are read for
    command.KILLED_READ seconds at most."""
    marker = f"sleep 30.{os.getpid()}{int(relay)}"
    monkeypatch.setattr(command, "KILLED_READ", 0.5)
    started = time.monotonic()
    try:
        with pytest.raises(CommandTimeout):
            command.run(["sh", "-c", f"echo begun >&2; setsid {marker} & exec sleep 60"],
                        timeout=0.5, on_line=(lambda line: None) if relay else None)
        assert time.monotonic() - started < 0.5 + 2 * command.KILLED_READ + 3
    finally:
        subprocess.run(["pkill", "-f", f"^{marker}$"], check=False)
