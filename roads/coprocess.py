"""Programs kept running to answer one request after another (Graphviz's ``dot``).

``roads.command.run`` starts a program for each request. For ``dot`` that is most of
the cost: starting it (its plugins, fontconfig, pango) takes about 8 ms here, laying
out one of the site's figures 1 to 3 ms. ``dot`` reads graph after graph from its
input and writes each one's drawing as soon as it is laid out, so ``ask`` keeps one
running per command line (and build of the program) in each process and sends it one graph at a time.

Every wait has a deadline, after which the program's whole group is killed and reaped
(``CommandTimeout``). A program that stops answering (``dot`` quits at a syntax
error, and would number the error's line from the start of everything it was sent)
is reaped, and ``ask`` returns None: the caller runs the request once with
``roads.command.run``, for the exact error. A forked process leaves its parent's
programs alone and starts its own; they are ended, and reaped, when it exits
(``close_all``; a worker that leaves with ``os._exit`` calls it first).

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

from . import command
from .errors import CommandTimeout

GRACE = 5.0  # seconds a program is given to exit once its input is closed


class _Running:
    """One program kept running, with its own lock (one request at a time)."""

    def __init__(self, argv: tuple[str, ...]) -> None:
        self.argv = argv
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0, start_new_session=True)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            os.set_blocking(stream.fileno(), False)

    def exchange(self, data: bytes, end: bytes, timeout: float) -> bytes | None:
        """Write ``data``, read until the output ends with ``end``; None if the program
        closed its output first. CommandTimeout past ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        out = bytearray()
        pending = memoryview(data)
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            selector.register(self.proc.stderr, selectors.EVENT_READ)
            if pending:
                selector.register(self.proc.stdin, selectors.EVENT_WRITE)
            while not out.endswith(end):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CommandTimeout(
                        f"{os.path.basename(self.argv[0])} did not answer within {timeout:g} s "
                        "and was killed", command=list(self.argv), output=bytes(out).decode(
                            "utf-8", "replace")[-2000:])
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
                        out += chunk
                    # What it writes on stderr (warnings) is read and let go, as ``run``
                    # does on success; an error ends the answer, and the caller asks again.
        return bytes(out)

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


def ask(argv: list[str] | tuple[str, ...], data: str, *, end: str,
        timeout: float = 60.0) -> str | None:
    """``data`` sent to the program ``argv`` this process keeps running, and its answer,
    up to and with ``end`` (text, UTF-8; undecodable bytes replaced); None when the
    program quit instead of answering. ToolMissing when it is not installed;
    CommandTimeout (the program killed) past ``timeout`` seconds."""
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
                answer = running.exchange(data.encode("utf-8"), end.encode("utf-8"), timeout)
            except BaseException:  # the timeout, Ctrl-C: the program may be mid-answer
                _forget(key, running)
                running.kill()
                raise
            if answer is None:
                _forget(key, running)
                running.close()
                return None
            return answer.decode("utf-8", "replace")
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
