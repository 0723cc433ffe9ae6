"""Figure macros: module-level functions that pages call as ``{{ name(...) }}``.

Each one takes plain arguments, asks the engine (``roads``) for the drawing and
returns Markdown or HTML; none holds logic of its own. Register a macro by adding it
to ``MACROS``.
"""

from __future__ import annotations

from pathlib import Path

# The engine (the drawing modules, Graphviz and pyelftools behind them) is imported
# inside the macros: a rebuild whose pages all come from the page cache never loads it.
from roads.errors import ConfigError, printable
from roads.units import unbroken

from . import pagecache
from .pagecache import depends
from .project import document, log, project, svg_cache

# What the macros below import to draw (a test keeps the list whole), and the lexer
# roads.words.source colours C with: ``preload`` imports them in a build about to
# render pages in several processes (``macros.ahead``), so that they are loaded, and
# compiled from source on a fresh clone, once and not in each process.
DRAWING = ("roads.capture.samples", "roads.constants", "roads.explain.page",
           "roads.explain.record", "roads.explain.saved", "roads.figures",
           "roads.figures.diagram", "roads.figures.diff", "roads.figures.diffview",
           "roads.figures.elfmap", "roads.figures.heapview", "roads.figures.hints",
           "roads.figures.pageview",
           "roads.figures.provenance", "roads.figures.regions", "roads.figures.select",
           "roads.figures.stackview", "roads.figures.table", "roads.figures.timelapse",
           "roads.figures.transcript", "roads.figures.walkview", "roads.words",
           "roads.words.markup", "roads.words.source", "roads.words.values",
           "pygments.lexers.c_cpp")


def select(*args, **kwargs):
    from roads.figures.select import select as chosen

    return chosen(*args, **kwargs)


def with_provenance(*args, **kwargs):
    from roads.figures.provenance import with_provenance as captioned

    return captioned(*args, **kwargs)


def caption_html(*args, **kwargs):
    from roads.figures.provenance import caption_html as caption

    return caption(*args, **kwargs)


# --- full screen ---------------------------------------------------------------------


def zoomable(html_out: str) -> str:
    """``html_out`` with each ``<figure>`` that holds an SVG wrapped in the full-screen
    control (``roads.figures.hints.zoomable``: the explain page wraps its own so too)."""
    from roads.figures.hints import zoomable as wrapped

    return wrapped(html_out)


# --- memory map and address space ---------------------------------------------------


def memory_map(sample: str, checkpoint: str | None = None, variant: str | None = None,
               run: int = 0, pid: str | int | None = None) -> str:
    """The memory-map table of one checkpoint of ``sample``, gaps included."""
    from roads.figures.regions import memory_map as analyse
    from roads.figures.table import render_table

    chosen = select(document(sample), variant=variant, run=run, checkpoint=checkpoint, pid=pid)
    return with_provenance(render_table(analyse(chosen)), chosen)


def address_space(sample: str, checkpoint: str | None = None, variant: str | None = None,
                  run: int = 0, pid: str | int | None = None, table: bool = True) -> str:
    """The address-space diagram of one checkpoint of ``sample``; its boxes link to the
    rows of the memory-map table of the same checkpoint. With ``table`` (the default)
    that table follows, folded; pass ``table=False`` when the page shows
    ``memory_map`` of the same checkpoint itself."""
    from roads.figures.diagram import render_diagram
    from roads.figures.regions import memory_map as analyse
    from roads.figures.table import render_table

    chosen = select(document(sample), variant=variant, run=run, checkpoint=checkpoint, pid=pid)
    mm = analyse(chosen)
    figure = zoomable(render_diagram(mm, cache_dir=svg_cache()))
    if table:
        figure += ('\n<details class="roads-map-details"><summary>The same regions as a table'
                   f'</summary>\n{render_table(mm)}\n</details>')
    return with_provenance(figure, chosen)


def timelapse(sample: str, variant: str | None = None, checkpoints: list | None = None,
              run: int = 0, pid: str | int | None = None) -> str:
    """The address space of one process at each of its ``checkpoints`` (default: every
    checkpoint of the run, in order), step by step, each step named by what changed."""
    from roads.figures.select import checkpoint_names
    from roads.figures.timelapse import render_timelapse

    doc = document(sample)
    first = select(doc, variant=variant, run=run, pid=pid)
    names = checkpoints if checkpoints is not None else checkpoint_names(first.run_record)
    chosen = [select(doc, variant=variant, run=run, checkpoint=c, pid=pid) for c in names]
    return with_provenance(zoomable(render_timelapse(chosen, cache_dir=svg_cache())), chosen)


# --- ELF to memory, diffs, pages, gdb, values, provenance ---------------------------


def elf_to_memory(sample: str, variant: str | None = None, checkpoint: str | None = None,
                  run: int = 0, pid: str | int | None = None) -> str:
    """The PT_LOAD segments of ``sample``'s executable beside the regions they became."""
    from roads.figures import elfmap

    chosen = select(document(sample), variant=variant, run=run, checkpoint=checkpoint, pid=pid)
    figure = elfmap.render_elf_figure(elfmap.elf_map(chosen), cache_dir=svg_cache())
    return with_provenance(zoomable(figure), chosen)


def map_diff(sample: str, before: str, after: str | None = None, variant: str | None = None,
             run: int = 0, after_run: int | None = None, after_variant: str | None = None,
             before_pid: str | int | None = None, after_pid: str | int | None = None,
             unchanged: bool = False, resident: bool | None = None) -> str:
    """What changed between two checkpoints (``before``, ``after``; after defaults to
    the same name), two processes (``before_pid``, ``after_pid``) or two runs
    (``run``, ``after_run``) or variants (``after_variant``) of ``sample``."""
    from roads.figures import diff, diffview

    doc = document(sample)
    old = select(doc, variant=variant, run=run, checkpoint=before, pid=before_pid)
    new = select(doc, variant=after_variant or old.variant,
                 run=run if after_run is None else after_run,
                 checkpoint=after or before, pid=after_pid)
    if (new.variant, new.run) == (old.variant, old.run) and \
            new.checkpoint_record is old.checkpoint_record:
        # A slip for map_diff(sample, before, after): the page would say "nothing changed".
        raise ConfigError(f"map_diff({sample!r}, {before!r}) compares checkpoint {before!r} "
                          "with itself: name the other side (after=, after_run=, "
                          "after_variant= or after_pid=)", sample=sample)
    changes = diff.diff_selections(old, new, resident=resident)
    # One HTML figure that reflows on a phone: no SVG, so no full-screen control.
    return with_provenance(diffview.render_diff_figure(changes, unchanged=unchanged), [old, new])


def page_view(sample: str, range_name: str, checkpoint: str | None = None,
              checkpoints: list | None = None, variant: str | None = None, run: int = 0,
              pid: str | int | None = None) -> str:
    """Present and exclusive bits and frames of each page of a ``ROADS_RANGE``, at one
    ``checkpoint`` or side by side at several ``checkpoints`` (names, or [name, pid])."""
    from roads.figures import pageview

    doc = document(sample)
    specs = pageview.checkpoint_specs(checkpoints) if checkpoints is not None else [(checkpoint, pid)]
    chosen = [select(doc, variant=variant, run=run, checkpoint=c, pid=p) for c, p in specs]
    return with_provenance(pageview.render_page_view(chosen, range_name), chosen)


def page_walk(sample: str, address_name: str, checkpoint: str | None = None,
              variant: str | None = None, run: int = 0, pid: str | int | None = None) -> str:
    """The 9/9/9/9/12 split of a recorded address, with its frame when captured."""
    from roads.figures import pageview

    chosen = select(document(sample), variant=variant, run=run, checkpoint=checkpoint, pid=pid)
    return with_provenance(pageview.render_page_walk(chosen, address_name), chosen)


def stack_top(sample: str, checkpoint: str | None = None, variant: str | None = None,
              run: int = 0, pid: str | int | None = None) -> str:
    """The top of the stack drawn: strings, auxv, envp, argv and argc, down to main's frame."""
    from roads.figures import stackview

    chosen = select(document(sample), variant=variant, run=run, checkpoint=checkpoint, pid=pid)
    return with_provenance(stackview.render_stack_top(stackview.stack_top(chosen)), chosen)


def heap_strip(sample: str, checkpoint: str | None = None, variant: str | None = None,
               run: int = 0, pid: str | int | None = None) -> str:
    """The heap drawn as a strip of chunks: headers, sizes and flags, states, tcache links."""
    from roads.figures import heapview

    chosen = select(document(sample), variant=variant, run=run, checkpoint=checkpoint, pid=pid)
    return with_provenance(heapview.render_heap_strip(heapview.heap_strip(chosen)), chosen)


def page_walk_diagram(sample: str, address_name: str, checkpoint: str | None = None,
                      variant: str | None = None, run: int = 0, pid: str | int | None = None) -> str:
    """The walk of a recorded address drawn: CR3, each table's entry, the frame."""
    from roads.figures import walkview

    chosen = select(document(sample), variant=variant, run=run, checkpoint=checkpoint, pid=pid)
    return with_provenance(walkview.render_walk(walkview.walk(chosen, address_name)), chosen)


def explained(sample: str, document: str, figure: str = "diagram", stop: str | None = None,
              before: str | None = None, after: str | None = None) -> str:
    """A figure of what ``roads explain --save`` captured from ``sample``'s own program
    (``document``: the saved file, relative to the project root): the ``diagram`` or
    ``elf`` of a ``stop``, or the ``diff`` from ``before`` to ``after``. The saved file
    is brought up to date first, as the build's mode says (``_saved_session``)."""
    from roads.explain.page import saved_figure

    session = _saved_session(document)
    if session.capture.sample != sample:
        raise ConfigError(f"{document} was saved from {session.capture.sample!r}, not {sample!r}",
                          sample=sample)
    return saved_figure(session, figure, stop=stop, before=before, after=after,
                        cache_dir=svg_cache(), wrap=zoomable)


# Saved sessions checked this build, by path: the stats of the file when checked, the
# files it was made from and the session read (a page's figures of one session read it
# once, not once for each key and each drawing; nothing that draws it changes it).
_checked: dict[str, tuple[tuple[int, int], list[Path], object]] = {}


def _saved_session(document: str):
    """The session saved at ``document``, fresh: a stale one (its source, stops or the
    capture code changed: roads/explain/saved.py) is captured again in auto and refresh
    mode, as a stale sample is; a frozen build draws it as committed and warns (which
    fails --strict), once per build."""
    from roads.explain.saved import refreshed, staleness
    from roads.explain.record import load_session

    from .pagecache import saved_session_inputs
    from .project import current, log

    shared = project()
    root = Path(shared.root)
    path = root / document
    try:
        stat = path.stat()
        seen = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        seen = None
    known = _checked.get(document)
    if known is None or known[0] != seen:
        reasons = staleness(path, root)
        if reasons and current().mode != "frozen":
            log.info("%s is stale (%s): running roads explain again", document, "; ".join(reasons))
            refreshed(path, root, sandbox=Path(shared.cache_dir))
        elif reasons:
            pagecache.warning(log, "%s is stale: %s (run the roads explain command the page "
                              "shows, with --save %s)", document, "; ".join(reasons), document)
        stat = path.stat()
        known = ((stat.st_mtime_ns, stat.st_size), saved_session_inputs(path, root),
                 load_session(path))
        _checked[document] = known
    _, inputs, session = known
    depends(path, *inputs)
    return session


def _explained_digest(sample: str, document: str, *args, **kwargs) -> list[str]:
    """What ``explained`` reads besides the sample's capture: the saved document, made
    fresh first (its digest as the page cache takes it: hashed again when it moves)."""
    from .pagecache import sha256_of

    try:
        _saved_session(document)
    except OSError:
        return ["missing"]
    return [sha256_of(Path(project().root) / document) or "missing"]


explained.cache_inputs = _explained_digest


def gdb_session(sample: str, variant: str | None = None, language: str = "text",
                stops: bool = False) -> str:
    """The transcript of the sample's gdb script, as a code block whose long lines wrap
    under themselves (a figure of finished HTML: it may stand in an admonition). With
    ``stops=True``, split where gdb stopped the program, each stop headed by what stopped
    it and followed by what changed in the map since the previous ``info proc mappings``."""
    from roads.figures import transcript

    chosen = select(document(sample), variant=variant)
    script = transcript.gdb_of(chosen).script
    render = transcript.render_gdb_stops if stops else transcript.render_gdb_session
    return with_provenance(render(chosen, language), chosen,
                           subject=f"gdb -batch -x {script}",
                           aslr="ASLR off (gdb turns it off for the programs it starts)")


def value(sample: str, what: str, variant: str | None = None, run: int = 0,
          checkpoint: str | None = None, pid: str | int | None = None, fmt: str | None = None) -> str:
    """One captured number, address or word, for prose (path language: roads.words.values).

    Text that could be markup comes back shielded (roads.words.markup): the page shows it
    as text, and the hooks put it back once the page is HTML."""
    from roads.words.markup import shield

    from roads.words import values

    return shield(unbroken(values.lookup(document(sample), what, variant=variant, run=run,
                                         checkpoint=checkpoint, pid=pid, fmt=fmt)))


def const(name: str, fmt: str | None = None, cite: bool = False) -> str:
    """A named constant of the platform (roads.constants); with ``cite``, its source,
    quoted as it is written (no glossary tooltip nor emphasis inside it)."""
    from roads.constants import constant

    c = constant(name)
    try:
        text = unbroken(c.format(fmt))
    except ValueError as exc:
        raise ConfigError(f"const({name!r}): {exc}") from None
    if not cite:
        return text
    from roads.words.markup import verbatim

    return f'{text}<span class="roads-cite"> (source: {verbatim(c.source)})</span>'


def provenance(sample: str, variant: str | None = None, run: int = 0,
               checkpoint: str | None = None, pid: str | int | None = None,
               checkpoints: list | None = None) -> str:
    """The one-line provenance caption of one checkpoint of ``sample``, on its own, or
    of several (``checkpoints``: names) for a table that spans them."""
    doc = document(sample)
    names = checkpoints if checkpoints is not None else [checkpoint]
    chosen = [select(doc, variant=variant, run=run, checkpoint=c, pid=pid) for c in names]
    # A caption on its own is no figure (``defer_figure`` writes a figure's control
    # characters as escapes): a capture's kernel or gcc, say, reached the page raw.
    return printable(caption_html(chosen if len(chosen) > 1 else chosen[0]))


# The build's repo_url and edit_uri, from which roads.words.source.repository_files
# makes where the repository shows its files (None: a site that names no repository).
_repository: list[str | None] = [None, None]


def begin_build(conf) -> None:
    """A build begins (``define_env`` calls this): take its repository from MkDocs'
    config, and forget the saved sessions the build before checked (under ``mkdocs
    serve``, an edit of an explained program's source leaves its saved file as it was,
    and the new build must find that file stale and run the program again)."""
    _repository[:] = [conf.get("repo_url"), conf.get("edit_uri")]
    _checked.clear()


def _repository_files() -> str | None:
    from roads.words.source import repository_files

    return repository_files(*_repository)


def sample_code(sample: str, variant: str | None = None, open: bool | None = None) -> str:
    """The sample's source (its ``ROADS_*`` lines highlighted), its compile commands as
    captured, and a run-it-yourself box; ``variant`` shows one variant's command only,
    ``open`` unfolds or folds the source (default: unfolded when short)."""
    from roads.words.source import render_sample_code, shown_files

    shared = project()
    doc = document(sample)
    files = {}
    for rel in shown_files(doc):
        path = (shared.samples_dir / rel).resolve()
        depends(path)
        if not path.is_relative_to(shared.samples_dir.resolve()):
            raise ConfigError(f"{rel!r} is outside the samples folder; refused", sample=sample)
        try:
            files[rel] = path.read_bytes()
        except FileNotFoundError:
            files[rel] = None
    return render_sample_code(doc, files, variant=variant, open=open, repository=_repository_files())


def source_line(sample: str, name: str, call: str = "ROADS_CHECKPOINT", file: str | None = None
                ) -> str:
    """The number of the line on which the sample's source calls ``call`` (a checkpoint
    by default) with ``name``, as its box under ``sample_code`` numbers it: for prose
    that refers to a line. ``file``: which of its C files (default: the one that has it)."""
    from roads.words.source import call_line, call_names

    shared = project()
    sources = document(sample).inputs.manifest.sources
    found = []
    names: list[str] = []
    for rel in ([file] if file else sources):
        if rel not in sources:
            raise ConfigError(f"{rel!r} is not a C file of the sample ({', '.join(sources)})",
                              sample=sample)
        depends(shared.samples_dir / rel)
        text = (shared.samples_dir / rel).read_text(encoding="utf-8")
        line = call_line(text, call, name)
        if line is not None:
            found.append(line)
        names += call_names(text, call)
    if len(found) != 1:
        where = "none" if not found else "more than one"
        # Only a call that writes the name as a string is found, not one given a variable.
        how = " with the name written in quotes" if not found else ""
        # A misspelt name: the names that are there, as other errors list them.
        there = f" (names it calls {call} with: {', '.join(dict.fromkeys(names)) or 'none'})" \
            if not found else ""
        raise ConfigError(f"source_line(): {where} of the sample's files calls {call}(\"{name}\")"
                          f"{how}{there}", sample=sample)
    return str(found[0])


def manifest_lines(plus: int = 0) -> str:
    """How many lines ``samples/samples.toml`` has now, ``plus`` more: for prose that
    names the line an entry added at its end will take (the authoring guide's step 7).
    The sum is the macro's, so that an error, which is words, never meets arithmetic."""
    from roads.capture.samples import MANIFEST

    path = project().samples_dir / MANIFEST
    depends(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the sample manifest: {exc}") from None
    return str(len(text.splitlines()) + plus)


def _shown_files_digest(sample: str, *args, **kwargs) -> list[str]:
    """What ``sample_code`` reads besides the capture: the files it shows, by digest,
    and the repository it links them to."""
    import hashlib

    from roads.words.source import shown_files

    shared = project()
    out = []
    for rel in shown_files(shared.document(sample)):
        try:
            out.append(hashlib.sha256((shared.samples_dir / rel).read_bytes()).hexdigest())
        except OSError:
            out.append("missing")
    return [*out, _repository_files() or ""]


sample_code.cache_inputs = _shown_files_digest


def preload() -> None:
    """Import every module the figures are drawn with (``DRAWING``). One that cannot be
    imported (a drawing module being edited) is left to the macros that use it, whose
    error names the page and the line."""
    import importlib

    for name in DRAWING:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - reported by the macro that imports it
            log.debug("preload: %s", name, exc_info=True)
    try:  # Pygments compiles a lexer's rules when the first one is made (ms): once, here
        from pygments.lexers.c_cpp import CLexer

        CLexer()
    except Exception:  # noqa: BLE001 - sample_code, which needs it, reports it
        log.debug("preload: CLexer", exc_info=True)


MACROS: tuple = (memory_map, address_space, timelapse, elf_to_memory, map_diff, page_view, page_walk,
                 gdb_session, value, const, provenance, sample_code, stack_top, page_walk_diagram,
                 source_line, manifest_lines, explained, heap_strip)
# Words inside a sentence, or inside `code`: an error shows as a note there and as a box
# on top of the page (``guard``), never as a box in the sentence.
INLINE: tuple = (value, const, source_line, manifest_lines)
# Block figures of finished HTML: they skip Markdown and the search index (see guard).
FIGURES: tuple = (memory_map, address_space, timelapse, elf_to_memory, map_diff, page_view, page_walk,
                  gdb_session, sample_code, stack_top, page_walk_diagram, explained, heap_strip)
