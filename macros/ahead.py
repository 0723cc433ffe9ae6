"""Pages rendered ahead, in forked processes, while MkDocs renders from the first.

MkDocs renders a site's pages one after the other in one process. When the page cache
(``macros.pagecache``) holds them, that costs little; when it does not (a fresh clone,
a change to the drawing code), the macros, the figures and the Markdown of every page
are all to be made, and a machine with several cores would leave all but one idle.

So, before the pages render (``start``, at the end of the ``on_nav`` events), a build
whose page cache was not filled by this code yet forks worker processes, the cores it
may use less one. A worker renders pages from the last one down, exactly as MkDocs
would (``_populate_page``: the same plugins and hooks, in a copy of this build), and
its renderings land in the page cache; it tells the build each page it finished. The
build renders from the first page up. Each page is claimed once, by whoever comes to
it first (a file made with ``O_EXCL``); when the build reaches a page a worker took,
it waits for the worker (``take``: with a deadline, after which it renders the page
itself) and then finds the page in the cache. A page whose rendering logged a
warning is not kept (``pagecache``), so the build renders it again and says so, and
a worker's failure only means the build renders that page itself. A figure two
pages share is drawn once: the figure cache locks it while one process draws it.

Workers write nothing but cache files, print nothing (their output goes to
/dev/null), die with the build (``PR_SET_PDEATHSIG``) and are reaped when the pages
are done (``finish``), the build fails (``abandon``) or its process exits (Ctrl-C:
``atexit``). None is forked while the process runs threads (``mkdocs serve`` after its
first build), in ``refresh`` mode (which looks nothing up), for a ``--dirty`` build,
on one core, or once a build filled the page cache with this code in this
configuration (a mark: after that, a build misses a few pages at most).

After the pages, MkDocs builds each page's HTML (the theme around it) in turn; there a
worker forked at the first page builds from the last page down in the same way, and
brings back the search entries it made (``install``, at the end of this module).

Before that, while the build starts (the plugins' and the engine's imports, the
captures' freshness, the pages' files and navigation: one core's work), a ``helper``
may make what the build needs later, into a cache the build reads then (the pages'
and the theme's compiled templates: ``macros.compiled``, ``macros.themecache``). It
follows the workers' rules, and is ended and reaped before the build renders its
theme (``settle``).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pickle
import select
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time

from roads.cores import usable as cores  # the cores this process may run on

log = logging.getLogger("mkdocs.plugins.roads")
WAIT = 300.0  # seconds the build waits for a page a worker took before rendering it itself
_state: dict = {}  # this build's: the claims folder, the workers, the pages they finished



def worker() -> bool:
    """Whether this process is a worker rendering pages ahead (or a helper)."""
    return bool(_state.get("worker"))


def forkable() -> bool:
    """Whether this process may fork workers or helpers: a second core, no threads
    running (a thread holding a lock at the fork would leave it held in the child), and
    not a worker or a helper itself."""
    return cores() >= 2 and threading.active_count() == 1 and not worker()


def _mark(config):
    """Set once a build filled the page cache with this code's renderings in this
    configuration: later builds miss a few pages at most, and fork no worker."""
    from .pagecache import _config_digest, _pages, code

    return _pages().directory / f".filled-{code()[:24]}-{_config_digest(config)[:24]}"


def _claim(index: int) -> bool:
    """Take page ``index`` for this process; False when another one took it first.
    OSError when the claims are gone (someone removed the folder)."""
    try:
        fd = os.open(os.path.join(_state["claims"], str(index)),
                     os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    try:
        os.write(fd, str(os.getpid()).encode())
    finally:
        os.close(fd)
    return True


def _owner(index: int) -> int | None:
    """The process that took page ``index`` (None while it is still writing its pid)."""
    try:
        with open(os.path.join(_state["claims"], str(index)), "rb") as f:
            return int(f.read() or b"0") or None
    except (OSError, ValueError):
        return None


def start(config, files) -> None:
    """Fork the workers that render this build's pages from the last one down, unless
    the page cache was filled by this code already (or looks nothing up)."""
    from mkdocs.commands.build import _populate_page

    from .project import current

    finish()
    if current().mode == "refresh" or _state.get("dirty") or _mark(config).exists():
        return
    from . import claims, figures

    def preload():
        figures.preload()
        claims.preload()

    pages = [f.page for f in files.documentation_pages() if f.page is not None]
    if fork(pages, lambda page: _populate_page(page, config, files), before=preload):
        log.info("rendering pages ahead in %d worker process(es)", len(_state["workers"]))


def fork(pages: list, render, before=None) -> int:
    """Fork workers that call ``render(page)`` for the ``pages`` nobody took, the last
    first; how many were forked (none on one core, under threads, or in a worker).
    ``before()`` runs first when there will be workers: what it loads, they share."""
    finish()
    usable = cores()
    if len(pages) < 2 or not forkable():
        return 0
    if before is not None:
        before()
    claims = tempfile.mkdtemp(prefix="roads-pages-")
    _state.update(claims=claims, index={id(p): i for i, p in enumerate(pages)}, done=set(),
                  workers={})
    _end_at_exit()
    build = os.getpid()
    for _ in range(usable - 1):
        read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError:  # no more processes or memory: go on with the workers there are
            os.close(read)
            os.close(write)
            break
        if pid == 0:  # the worker
            os.close(read)
            _work(pages, write, render, build)
        os.close(write)
        _state["workers"][read] = pid
    return len(_state["workers"])


def helper(task) -> int | None:
    """Fork a process that runs ``task()`` beside the build and exits: its pid, or None
    where none is forked (one core, threads running, in a worker or a helper). What
    ``task`` makes must go to a cache whose files are written whole: ``settle`` ends
    the helper wherever it is."""
    if not forkable():
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    build = os.getpid()
    try:
        pid = os.fork()
    except OSError:  # no more processes or memory: the build makes it all itself
        return None
    if pid == 0:
        status = 0
        try:
            _become_child(build)
            task()
        except BaseException:  # noqa: BLE001 - the build makes what the helper did not
            status = 1
        _leave(status)
    _state.setdefault("helpers", set()).add(pid)
    _end_at_exit()
    return pid


def settle() -> None:
    """End and reap the helpers: what they finished is in its cache, and the build
    makes the rest itself. A helper that is done is only reaped."""
    if worker():
        return
    for pid in _state.pop("helpers", set()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # a helper not yet reaped keeps its pid
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _work(pages: list, out: int, render, build: int) -> None:
    """In a worker: render every page no other process took, the last first; never returns."""
    status = 0
    try:
        _become_child(build)
        for index in reversed(range(len(pages))):
            if _claim(index):
                render(pages[index])
                os.write(out, struct.pack("=I", index))
    except BaseException:  # noqa: BLE001 - the build renders what is left itself
        status = 1
    _leave(status)


def _become_child(build: int) -> None:
    """In a worker or a helper, first: it forks nothing and reaps nothing, dies with the
    build (exits now if the build is gone already), and prints nothing."""
    _state["worker"] = True
    _die_with_parent()
    if os.getppid() != build:  # the build died before the line above
        os._exit(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def _leave(status: int) -> None:
    """End a worker or a helper: the programs it kept running (``roads.coprocess``)
    are ended and reaped first, as its exit skips ``atexit``."""
    kept = sys.modules.get("roads.coprocess")
    if kept is not None:
        with contextlib.suppress(BaseException):
            kept.close_all()
    os._exit(status)


def _die_with_parent() -> None:
    """SIGKILL this process when the build's process dies (Linux's PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def take(page) -> bool:
    """Before MkDocs renders ``page``: claim it, or wait for the worker that did (its
    rendering is then in the page cache). True when a worker finished it."""
    index = _state.get("index", {}).get(id(page))
    if index is None or worker():
        return False
    try:
        if _claim(index):
            return False
    except OSError:  # the claims are gone: no more rendering ahead, this page is ours
        finish()
        return False
    deadline = time.monotonic() + WAIT
    while index not in _state["done"]:
        owner = _owner(index)
        if owner not in _state["workers"].values() and (owner or not _state["workers"]):
            return False  # its worker died before finishing it: the build renders it
        left = deadline - time.monotonic()
        if left <= 0:
            log.info("a worker rendering pages ahead took more than %.0f s over %s; "
                     "rendering it here", WAIT, page.file.src_uri)
            finish()  # the workers go: none renders a page at the same time as the build
            return False
        ready, _, _ = select.select(list(_state["workers"]), [], [], min(left, 1.0))
        for fd in ready:
            data = os.read(fd, 4096)
            if not data:  # the worker is gone: what it took and did not finish is ours
                os.close(fd)
                os.waitpid(_state["workers"].pop(fd), 0)
                continue
            usable = len(data) - len(data) % 4  # pipe writes of 4 bytes are atomic
            _state["done"].update(i for (i,) in struct.iter_unpack("=I", data[:usable]))
    return True


def finish() -> None:
    """The pages are done (or the build failed): end and reap the workers, drop the
    claims (a worker leaves all that to the build)."""
    if worker():
        return
    workers = _state.pop("workers", {})
    for fd, pid in workers.items():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.close(fd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    claims = _state.pop("claims", None)
    if claims:
        shutil.rmtree(claims, ignore_errors=True)
    _state.pop("index", None)
    _state.pop("done", None)


def filled(config) -> None:
    """At the end of a build: the page cache holds this code's renderings in this
    configuration (no worker is forked again until one of them changes)."""
    if worker():
        return
    with contextlib.suppress(OSError):
        mark = _mark(config)
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()


def setup(command: str, dirty: bool) -> None:
    """MkDocs' ``on_startup``: a ``--dirty`` build renders only the pages that changed,
    so no worker renders the others ahead."""
    _state["dirty"] = dirty


def _end_at_exit() -> None:
    """Have ``_end`` run at this process's exit (Ctrl-C skips on_build_error), once."""
    if not _state.get("atexit"):
        atexit.register(_end)
        _state["atexit"] = True


def _end() -> None:
    """At the process's exit: nothing forked outlives it, and the claims go."""
    finish()
    settle()


def abandon() -> None:
    """The build is failing: end the workers and the helpers now."""
    html_done()  # the workers, rendering pages or building their HTML
    settle()


# ------------------------------------------------------------ the pages' HTML, ahead
#
# Once every page has rendered, MkDocs builds each page's HTML in turn (``_build_page``:
# the theme's template, the plugins' ``page_context`` and ``post_page`` events, the
# file written), on one core: a fifth of a fresh clone's build and more of a warm one.
# ``install`` wraps that function. After ``on_env`` (``html_next``), at the build's
# first page, a worker is forked as above (``fork``: the cores less one; none under
# threads, in a ``--dirty`` build or on one core) that builds the pages from the last
# one down while the build goes from the first one up, each page claimed once. A page
# a worker built is only brought in: the entries Material's search made of it go into
# the build's search index in the page's turn, so the index is the same, and the page
# gets the content the plugins left it. The lines of ``-v`` the page's building logged
# in the worker (records below INFO, to loggers set up as they were at the fork) go no
# further there: the build hands each to its logger in the page's turn (``_told``),
# where a build on one core would have said it. (A record keeps the worker's process id
# and time.) A page whose building in the worker logged anything else (a warning, which
# a strict build counts and some say once a build; MkDocs' "Page skipped"; a record to
# a logger the page set up for itself, or with a traceback, or that cannot be
# pickled), wrote to the standard output or error, raised a Python warning, failed, or
# was not brought back is built again by the build, which then says what it says; the
# worker stops there. (A build that fails may leave in the site pages the worker built
# beyond the failing one.) No worker is forked (``_parallel``) unless each handler of
# those two events is known to change nothing but the page (Material's search, whose
# entries come back, and our hooks' ``on_post_page``; the print page's and the offline
# plugin's keep MkDocs' order), nor when two pages write the same file (MkDocs writes
# the later one last), nor for pages built by anyone but MkDocs' own loop after
# ``on_env``.

_SEARCH = "material.plugins.search.plugin"
_HOOKS = "macros/hooks.py"  # the module name MkDocs gives the hooks it loads
_OUR_HANDLERS = {"on_post_page"}  # of the hooks: each changes only the page's output


def _search_index(config):
    """The search plugin's index of this build (None: no Material search)."""
    for plugin in config.plugins.values():
        if type(plugin).__module__ == _SEARCH:
            return getattr(plugin, "search_index", None)
    return None


def _themable(config) -> bool:
    """Whether each handler of ``page_context`` and ``post_page`` changes nothing but
    the page's own output (or, for Material's search, its index entries)."""
    for event in ("page_context", "post_page"):
        for handler in config.plugins.events.get(event, ()):
            owner = getattr(handler, "__self__", None)
            known = (type(owner).__module__ == _SEARCH if owner is not None
                     else getattr(handler, "__module__", None) == _HOOKS
                     and getattr(handler, "__name__", None) in _OUR_HANDLERS)
            if not known:
                return False
    return True


def _parallel(config, doc_files) -> bool:
    """Whether these pages' HTML may be built by a worker too (see above)."""
    destinations = {f.abs_dest_path for f in doc_files}
    return len(destinations) == len(doc_files) and _themable(config)


def _entries_path(index: int) -> str:
    return os.path.join(_state["claims"], f"{index}.entries")


class _HandBack(Exception):
    """The page did what the build must see done in its own turn (it printed, warned,
    logged a record the build cannot take as it is): the build builds it again."""


def _setup(logger) -> tuple:
    """What decides where a logger's records go: its level, whether it passes them on,
    whether it is off, its handlers and filters."""
    return (logger.level, logger.propagate, logger.disabled, tuple(map(id, logger.handlers)),
            tuple(map(id, logger.filters)))


def _loggers() -> dict:
    """Every logger there is, root included, by name, with its setup (``_setup``)."""
    found = {name: logger for name, logger in logging.root.manager.loggerDict.items()
             if isinstance(logger, logging.Logger)}
    return {name: _setup(logger) for name, logger in (("", logging.root), *found.items())}


def _listen() -> tuple[list, int]:
    """In a worker, before its first page: every log record a logger is handed from now
    on is kept, in the list, and goes no further here (no filter, no handler of the
    worker's sees it); whatever is written to the process's standard output or error
    goes into a file of the claims folder, whose size tells.

    The build takes a page's records back in the page's turn (``_told``) only when a
    build on one core would have said the same then, whoever said what before: records
    of ``-v`` (below INFO), handed to loggers set up as they were when the worker was
    forked (the logger, and each one it passes records on to). Anything else (a warning,
    which a strict build counts and some say once a build; a logger a page set up for
    itself) is kept as ``None``: the build builds the page again."""
    records: list = []
    forked = _loggers()

    def handle(self, record):
        if self.disabled:
            return
        if record.levelno >= logging.INFO or not _as_forked(self, forked):
            records.append((self.name, None))
        else:
            records.append((self.name, record))

    logging.Logger.handle = handle  # type: ignore[method-assign]
    fd = os.open(os.path.join(_state["claims"], f"said.{os.getpid()}"),
                 os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    return records, fd


# The setup of a logger nobody set up: what the build's own gets when it is first asked
# for (a module imported while a page was built names its logger then).
_UNTOUCHED = (logging.NOTSET, True, False, (), ())


def _as_forked(logger, forked: dict) -> bool:
    """Whether ``logger`` and every logger it passes records on to are set up as they
    were at the fork (``forked``: ``_loggers()`` then; one made since, as if untouched)."""
    while logger is not None:
        name = "" if logger is logging.root else logger.name
        if forked.get(name, _UNTOUCHED) != _setup(logger):
            return False
        if not logger.propagate:
            return True
        logger = logger.parent
    return True


def _portable(records: list) -> list:
    """The records a page's building logged in a worker, as they are (message and
    arguments), for the build to take back: _HandBack for one the build must not take
    (``_listen``), one with a traceback, or one that cannot be pickled."""
    for name, record in records:
        if record is None:
            raise _HandBack(f"a record the build says itself: {name}")
        if record.exc_info or record.exc_text or record.stack_info:
            raise _HandBack(f"a record with a traceback: {name}")
        try:
            pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - anything a record's arguments may hold
            raise _HandBack(f"a record that cannot be taken back: {name}") from None
    return list(records)


def _told(records: list) -> None:
    """In the build, in the page's turn: the records its building logged in a worker
    (``_listen``), handed to their loggers as they would have been here (filters,
    handlers)."""
    for name, record in records:
        logging.getLogger(name).handle(record)  # "root" is the root logger's name
    _state["told"] = _state.get("told", 0) + len(records)


def _builder(original, config, doc_files, nav, env, dirty):
    """What a worker does with each page it claims: MkDocs' own building, then what the
    build needs of it kept for the build (written whole, then renamed): the search
    entries it made, the page's content as the plugins left it and the records its
    building logged (``_listen``)."""
    import warnings

    search = _search_index(config)
    heard: list = []

    def build(page) -> None:
        if not heard:
            heard.append(_listen())
        records, said = heard[0]
        records.clear()
        entries = search.entries if search is not None else []
        before = len(entries)
        with warnings.catch_warnings(record=True) as warned:
            original(page, config, doc_files, nav, env, dirty,
                     excluded=page.file.inclusion.is_excluded())
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        if warned or os.fstat(said).st_size:
            raise _HandBack(page.file.src_uri)
        told = _portable(records)
        path = _entries_path(_state["index"][id(page)])
        with open(f"{path}.part", "wb") as out:
            pickle.dump((entries[before:], page.content, told), out,
                        protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(f"{path}.part", path)

    return build


def _brought(page, config) -> bool:
    """Whether a worker built ``page``: its search entries then join the index in its
    turn, and the page gets the content the plugins left it (Material's search strips
    attributes from it; a draft gets its marker)."""
    if not take(page):
        return False
    try:
        with open(_entries_path(_state["index"][id(page)]), "rb") as kept:
            entries, content, told = pickle.load(kept)
    except Exception:  # noqa: BLE001 - not brought back, however: the build builds it
        return False
    _told(told)
    _state["brought"] = _state.get("brought", 0) + 1
    search = _search_index(config)
    if search is not None:
        search.entries.extend(entries)
    page.content = content
    return True


def html_next() -> None:
    """``on_env``: MkDocs' loop over the pages' HTML comes next."""
    _state["html_next"] = True
    _state.pop("building", None)


def install() -> None:
    """Wrap MkDocs' ``_build_page`` (once a process) so that a worker builds pages ahead."""
    from mkdocs.commands import build as mkdocs_build

    original = mkdocs_build._build_page
    if getattr(original, "roads_ahead", False):
        return

    def _build_page(page, config, doc_files, nav, env, dirty=False, excluded=False):
        if not worker():
            if _state.pop("html_next", False):  # the first page of MkDocs' own loop
                _state["building"] = doc_files
                if not dirty and _parallel(config, doc_files) and fork(
                        [f.page for f in doc_files],
                        _builder(original, config, doc_files, nav, env, dirty)):
                    log.info("building pages' HTML ahead in %d worker process(es)",
                             len(_state["workers"]))
                    _state.update(brought=0, told=0)
            if _state.get("building") is doc_files:
                brought = _brought(page, config)
                if page is doc_files[-1].page:
                    html_done()  # the last page: the worker is done with
                if brought:
                    return None
        return original(page, config, doc_files, nav, env, dirty, excluded)

    _build_page.roads_ahead = True  # type: ignore[attr-defined]
    mkdocs_build._build_page = _build_page


def html_done() -> None:
    """After the last page, ``on_post_build`` and a failed build: the worker that built
    pages' HTML ahead is ended and reaped, and no page of this build is built ahead now."""
    finish()
    _state.pop("html_next", None)
    _state.pop("building", None)
    if "brought" in _state:  # a worker was forked for this build's pages' HTML
        log.debug("%d page(s)' HTML built ahead by the worker, with %d record(s) it logged",
                  _state.pop("brought"), _state.pop("told", 0))
