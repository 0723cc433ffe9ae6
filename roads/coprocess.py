"""Programs kept running to answer one request after another (Graphviz's ``dot``).

``roads.command.run`` starts a program for each request. For ``dot`` that is most of
the cost: starting it (its plugins, fontconfig, pango) takes about 8 ms here, laying
out one of the site's figures 1 to 3 ms. ``dot`` reads graph after graph from its
input and writes each one's drawing as soon as it is laid out, so ``ask`` keeps one
running per command line (and build of the program) in each process, and sends it
one request at a time; the caller says when an answer is complete.

Every wait has a deadline, after which the program's whole group is killed and reaped
(``CommandTimeout``). A program that stops answering (``dot`` quits at a syntax
error) is reaped, and ``ask`` returns None. A forked process leaves its parent's
programs alone and starts its own; they are ended, and reaped, when it exits
(``close_all``; a worker that leaves with ``os._exit`` calls it first). A program
kept running keeps the working folder and environment it was started with.

Requests go through ``roads.command`` for everything else: finding the program, the
ledger of time spent in programs, killing a group. This module is apart from it
because ``command.py`` is part of the capture engine's digest, which this does not
change.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import selectors
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import command
from .errors import CommandTimeout, ToolMissing

GRACE = 5.0  # seconds a program is given to exit once its input is closed


@dataclass(frozen=True)
class Answer:
    """What a program kept running wrote for one request (text, UTF-8)."""

    stdout: str
    stderr: str  # all it wrote there since the request was sent


class _Running:
    """One program kept running, with its own lock (one request at a time)."""

    def __init__(self, argv: tuple[str, ...]) -> None:
        self.argv = argv
        self.lock = threading.Lock()
        try:
            self.proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         bufsize=0, start_new_session=True)
        except FileNotFoundError:  # gone since it was looked up
            raise ToolMissing(f"{argv[0]} not found; {command.install_hint(argv[0])}",
                              command=list(argv)) from None
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            os.set_blocking(stream.fileno(), False)

    def exchange(self, data: bytes, done: Callable[[bytearray], bool],
                 timeout: float) -> tuple[bytes, bytes] | None:
        """Write all of ``data``, read until ``done(output)``; the output and what the
        program wrote on stderr meanwhile, or None if it closed its output first.
        ``done`` is handed the output read so far itself, not a copy (a drawing comes
        in dozens of pieces, and copying all of it at each made the wait quadratic),
        and asked again only once more has come. CommandTimeout past ``timeout``
        seconds."""
        deadline = time.monotonic() + timeout
        out, err = bytearray(), bytearray()
        pending = memoryview(data)
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            selector.register(self.proc.stderr, selectors.EVENT_READ)
            if pending:
                selector.register(self.proc.stdin, selectors.EVENT_WRITE)
            answered = False
            while pending or not answered:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CommandTimeout(
                        f"{os.path.basename(self.argv[0])} did not answer within {timeout:g} s "
                        "and was killed", command=list(self.argv),
                        output=bytes(err or out).decode("utf-8", "replace")[-2000:])
                for key, _ in selector.select(left):
                    stream = key.fileobj
                    if stream is self.proc.stdin:
                        try:
                            written = os.write(stream.fileno(), pending)
                        except BrokenPipeError:
                            return None
                        pending = pending[written:]
                        if not pending:
                            selector.unregister(stream)
                        continue
                    chunk = os.read(stream.fileno(), 1 << 16)
                    if not chunk:
                        if stream is self.proc.stdout:
                            return None
                        selector.unregister(stream)  # stderr closed: keep reading stdout
                    elif stream is self.proc.stdout:
                        out.extend(chunk)
                        answered = done(out)
                    else:
                        err.extend(chunk)
        # What it wrote on stderr before its answer is in the pipe by now.
        with contextlib.suppress(BlockingIOError, OSError):
            while chunk := os.read(self.proc.stderr.fileno(), 1 << 16):
                err.extend(chunk)
        return bytes(out), bytes(err)

    def close(self) -> None:
        """Close its input, give it ``GRACE`` seconds to exit, kill its group if not."""
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=GRACE)
        except subprocess.TimeoutExpired:
            command.kill_group(self.proc.pid)
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()

    def kill(self) -> None:
        command.kill_group(self.proc.pid)
        self.proc.wait()
        self.close()


_running: dict[tuple[str, ...], _Running] = {}
_registry = threading.Lock()
_owner = os.getpid()


def ask(argv: list[str] | tuple[str, ...], data: str, *, done: Callable[[bytearray], bool],
        timeout: float = 60.0) -> Answer | None:
    """``data`` sent to the program ``argv`` this process keeps running, and its answer:
    what it writes until ``done(what it wrote)`` holds (undecodable bytes replaced), and
    what it wrote on stderr meanwhile; None when the program quit instead of answering.
    ToolMissing when it is not installed; CommandTimeout (the program killed) past
    ``timeout`` seconds."""
    # The program as it is now on PATH: another PATH, or a new build of it installed
    # meanwhile, gets a program of its own.
    identity = command.tool_identity(argv[0])
    if identity == "missing":
        command.which(argv[0])  # ToolMissing, saying what to install
    key = (identity, *argv)
    started = time.perf_counter()
    try:
        with _registry:
            running = _running.get(key)
            if running is None:
                running = _running[key] = _Running(tuple(argv))
        with running.lock:
            try:
                answer = running.exchange(data.encode("utf-8"), done, timeout)
            except BaseException:  # the timeout, Ctrl-C: the program may be mid-answer
                _forget(key, running)
                running.kill()
                raise
            if answer is None:
                _forget(key, running)
                running.close()
                return None
            return Answer(*(part.decode("utf-8", "replace") for part in answer))
    finally:
        command.charge(os.path.basename(argv[0]), time.perf_counter() - started)


def _forget(key: tuple[str, ...], running: _Running) -> None:
    with _registry:
        if _running.get(key) is running:
            del _running[key]


def close_all() -> None:
    """End this process's programs (at its exit): each gets its input closed, then is
    reaped, or killed after ``GRACE`` seconds."""
    if os.getpid() != _owner:
        return
    with _registry:
        running = list(_running.values())
        _running.clear()
    for program in running:
        program.close()


def _after_fork_in_child() -> None:
    """A forked process does not share its parent's programs: it closes its copies of
    their pipes (so that the parent's closing its input ends them) and starts its own."""
    global _owner
    _owner = os.getpid()
    global _registry
    _registry = threading.Lock()  # a lock the parent held at the fork stays held here
    for program in _running.values():
        for stream in (program.proc.stdin, program.proc.stdout, program.proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()  # unbuffered: closes this process's copy of the pipe only
        program.proc.returncode = 0  # not this process's child: Popen's finalizer leaves it
    _running.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(close_all)
