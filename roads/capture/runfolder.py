"""What of the folder ``roads run`` runs a program in stays read-only for the program.

The program may write every file below the folder it runs in, and a file there that
runs outside the sandbox afterwards would let it escape: run from a checkout, a program
renamed a script over ``.cache/roads/launcher-*``, which the next ``roads run`` executed
as the user. So what runs outside later is kept read-only inside the run, however deep
it lies (the launcher's ``--read-only``): roads' own code, the Python that runs it, the
launcher's folder, and the user's home folder, whose files a shell, a desktop session
and ssh read and run, dot-files that do not exist yet included (a new
``~/.bash_profile`` is read before ``~/.profile``), as are programs installed in it
(``~/bin``, ``~/miniconda3``). No list of such names could be whole, so the home folder
is kept whole, and a run from it may write nothing; a folder of one's own below it
(``~/runs``) is the program's, but one inside a dot-folder (``~/.config/x``) or ``~/bin``
is not. So is what runs outside later by other ways, wherever it lies: the files and
folders the environment names that programs load or run (``VARIABLES``: PATH,
LD_LIBRARY_PATH, LD_PRELOAD, PYTHONPATH, BASH_ENV, GIT_CONFIG_GLOBAL, the XDG base
directories, ZDOTDIR...; where one is not there yet, the folder it would be made in),
and those Python imports from. A folder run from that lies inside one of those paths is
read-only whole. So is the folder holding a link that one of those paths passes through
as written (``links_to``): pointed elsewhere, it would make the path the program's. A
relative path there (PATH's ".", LD_LIBRARY_PATH's empty entry) names whichever folder
a program runs from, this one or one the program makes in it: the folder run from is
read-only whole. No list of variables could be whole either (every program reads its
own): any other variable's absolute paths to what is there below the folder run from are
kept too (``named_below``: NODE_OPTIONS' --require, EDITOR, HISTFILE), but not its
relative paths nor the names of what is not there yet, which cannot be told from its
words. So are files there with other names (hard links, st_nlink > 1: uv's venvs link
theirs to ~/.cache/uv), whose other names may lie outside: a write through one is a
write there (``survey``).

A repository in the folder run from or in any folder below it (``.git``, ``.hg``)
names commands in its configuration (core.fsmonitor, hooks) that git runs there and in
every folder below, as a shell prompt does at each command once the user goes there: one
that is there is kept (``repositories``, ``survey``); one the program makes is renamed
aside after the run, before the shell runs git (``renamed_made``), and so is what it
makes of a repository's own layout (``BARE``: HEAD, objects, refs), with which git takes
a folder itself for a repository, inside a .git it made too. So is a file that names a
toolchain by its path, which a tool finds there or in a folder above and runs without
asking (``TOOLCHAINS``: rustup's rust-toolchain.toml, asdf's .tool-versions). Tools that
ask first are left to ask: direnv's ``.envrc`` runs only once allowed (``direnv
allow``), again after any change; mise's path: versions need ``mise trust``. pyenv's
``.python-version`` names a version installed in its own folder (a path, which would name
one of the program's, it refuses since 2.3.3).

``python -m roads.cli`` (and ``-c``) puts the folder it starts in first on ``sys.path``,
before its own library: a program run from there could leave a module there (``roads/``,
``argparse.py``) that the next ``python -m roads.cli`` started there imports. That folder
is read-only whole (``started_in``); the ``roads`` command does not import from it (its
first entry is its own folder), nor does ``python -P``.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

MAX_KEPT = 64  # the most the launcher keeps read-only (also in launcher.c)
HOME = "your home folder, whose files your shell, your desktop and ssh run outside the sandbox"
OWN_FOLDER = ("run it from a folder of your own, such as a new one in your home folder "
              "(mkdir ~/runs && cd ~/runs)")


@dataclass(frozen=True)
class Guarded:
    """A path that runs outside the sandbox afterwards, and what it is, for a message."""

    path: Path  # links resolved
    what: str
    there: bool = True  # False: the folder it would be made in stands for it
    remedy: str = OWN_FOLDER  # how to let a program write there, where this keeps it whole


@dataclass(frozen=True)
class Variable:
    """An environment variable naming files or folders that programs load or run: the
    user's own later programs, outside the sandbox, read it as roads did."""

    name: str
    what: str  # what one of its paths is, for a message
    between: str = ""  # the characters between its paths; "" for one path
    # Whether a relative path (an empty entry of a list too) names a file or folder of
    # whichever folder a program runs from, as PATH's "." and LD_LIBRARY_PATH's "" do.
    relative: bool = True
    names: bool = False  # an entry without "/" is a name looked up elsewhere (LD_PRELOAD's)


def _list(name: str, what: str, relative: bool = True) -> Variable:
    return Variable(name, what, os.pathsep, relative)


def _folder(name: str, relative: bool = True) -> Variable:
    return Variable(name, f"{name}'s folder, whose files programs read and run outside the "
                    "sandbox", relative=relative)


def _file(name: str, what: str) -> Variable:
    return Variable(name, f"the file {name} names, {what} outside the sandbox")


# The variables naming what programs load or run (no list of them could be whole: those
# of every program; any other variable's absolute paths below the folder run from are
# kept too, ``named_below``). The XDG base directories are a home folder's dot-folders
# moved elsewhere (their relative paths are void, by their specification); zsh reads its
# start-up files from ZDOTDIR.
VARIABLES = (
    _list("PATH", "a folder on your PATH, whose programs run outside the sandbox"),
    _list("LD_LIBRARY_PATH", "a folder on LD_LIBRARY_PATH, whose libraries programs load "
          "outside the sandbox"),
    Variable("LD_PRELOAD", "a library LD_PRELOAD names, which every program you start loads "
             "outside the sandbox", " " + os.pathsep, names=True),
    Variable("LD_AUDIT", "a library LD_AUDIT names, which every program you start loads "
             "outside the sandbox", os.pathsep, names=True),
    _list("PYTHONPATH", "a folder on PYTHONPATH, whose modules Python imports outside the "
          "sandbox"),
    _folder("PYTHONUSERBASE"),
    _file("PYTHONSTARTUP", "which an interactive Python runs"),
    _file("BASH_ENV", "which bash runs before each script"),
    _file("ENV", "which sh runs as it starts"),
    *(_file(name, "a configuration of git's, whose commands (core.fsmonitor, core.pager) git "
            "runs") for name in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG")),
    _list("GIT_EXEC_PATH", "GIT_EXEC_PATH's folder, whose programs git runs outside the "
          "sandbox", relative=False),
    _folder("GIT_TEMPLATE_DIR", relative=False),
    *(_list(name, f"a folder on {name}, whose modules programs load outside the sandbox")
      for name in ("PERL5LIB", "PERLLIB", "RUBYLIB", "NODE_PATH")),
    *(_folder(name, relative=False) for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME",
                                                 "XDG_STATE_HOME", "XDG_CACHE_HOME")),
    *(_list(name, f"a folder on {name}, whose files programs read and run outside the "
            "sandbox", relative=False) for name in ("XDG_CONFIG_DIRS", "XDG_DATA_DIRS")),
    _folder("ZDOTDIR"),
)


def named(variable: Variable, value: str) -> list[str]:
    """The paths ``value``, ``variable``'s, names: a list's empty entries as "" (the
    folder a program runs from, where ``relative``), but no name looked up elsewhere."""
    if not value:
        return []
    entries = re.split(f"[{re.escape(variable.between)}]", value) if variable.between else [value]
    return [e for e in entries if "/" in e or not variable.names]


def relative_entry(variable: Variable, entry: str, here: Path) -> Guarded:
    """``here``, the folder run from, named by ``variable``'s relative ``entry``: where
    the user goes on from it (or from a folder the program makes in it), a program finds
    there what the program left, so all of it stays read-only."""
    label = (f'relative entry "{entry}"' if entry
             else 'empty entry (a leading, trailing or doubled ":")')
    return Guarded(here, f"the folder you are in, which {variable.name}'s {label} names, as "
                   f"it names any folder you run a program from: {variable.what}",
                   remedy=f"take that entry out of {variable.name} (a relative entry names "
                   "whichever folder a program runs from)")


def guarded(code: Path, pythons: Iterable[Path], launchers: Path, imports: Iterable[str],
            environ: Mapping[str, str], here: Path | None = None) -> list[Guarded]:
    """What runs outside the sandbox after a run (the home folder apart: ``kept_read_only``
    takes it): roads' own code (``code``, its package folder; the source tree holding it,
    where it is one, whose tests and tools run too), the Python that runs roads
    (``pythons``: its prefixes), the launcher's folder (``launchers``), the folders that
    Python imports from (``imports``, ``sys.path``: PYTHONPATH's, a .pth file's), and the
    paths ``environ`` names in ``VARIABLES``. Absolute paths, links resolved; a
    relative one names wherever a program runs: with ``here`` (the folder run from,
    links resolved), that folder whole (``relative_entry``), where the variable reads
    it so."""
    if (code.parent / "pyproject.toml").is_file():
        code = code.parent
    found = [Guarded(code, "roads' own code, which runs outside the sandbox")]
    found += [Guarded(p, "the Python that runs roads outside the sandbox") for p in pythons]
    found.append(Guarded(launchers, "the folder of roads' sandbox launcher, which runs "
                         "outside it"))
    found += [Guarded(Path(p), "a folder the Python that runs roads imports from outside "
                      "the sandbox") for p in imports]
    relative = []
    for variable in VARIABLES:
        for entry in named(variable, environ.get(variable.name, "")):
            if os.path.isabs(entry):
                found.append(Guarded(Path(entry), variable.what))
            elif variable.relative and here is not None:
                relative.append(relative_entry(variable, entry, here))
    found = [g for g in found if g.path.is_absolute()]
    return [there(g) for g in found] + relative + [link for g in found for link in links_to(g)]


# Variables that name no file a program loads (the shell's own bookkeeping, a folder for
# temporary files that every user may write), or are read in ``guarded``.
NOT_LOADED = frozenset({"PWD", "OLDPWD", "_", "HOME", "TMPDIR", "TMP", "TEMP", "TEMPDIR",
                        *(v.name for v in VARIABLES)})


def named_below(here: Path, environ: Mapping[str, str]) -> list[Guarded]:
    """The files and folders below ``here`` (links resolved) that any other variable of
    ``environ`` names by an absolute path (NODE_OPTIONS' --require, HISTFILE, EDITOR,
    KUBECONFIG, JAVA_TOOL_OPTIONS' -javaagent:), where they are there: a program the
    user starts later may load or run what such a variable names. Not ``here`` itself nor
    a folder holding it (a project's own folder, named by a variable that nothing
    loads, would keep every run from it read-only), nor a name not there yet; of the
    links on the way to one (``links_to``), the folders holding them below ``here``."""
    found = []
    for name, value in environ.items():
        if name in NOT_LOADED:
            continue
        for token in re.split(r"[\s:=,;]+", value):
            if not token.startswith("/"):
                continue
            what = f"a path {name} names, which a program you start may load or run outside " \
                   "the sandbox"
            try:  # a name too long, a folder that may not be searched: nothing there for us
                path = _resolved(Path(token))
                found += [Guarded(path, what)] if os.path.exists(path) else []
                found += links_to(Guarded(Path(token), what))
            except (OSError, ValueError):
                continue
    return [g for g in found if g.path != here and g.path.is_relative_to(here)]


# Of the folder run from, the most entries searched for hard links and repositories
# (``survey``), and the most files with other names kept one by one, not by the entry
# holding them.
MAX_SEARCHED = 100_000
MAX_LINKED_FILES = 8

Identity = tuple[int, int]  # a file's device and inode, not following a link


@dataclass(frozen=True)
class Survey:
    """What a walk of the folder run from found before the run (``survey``)."""

    kept: list[Guarded]  # files with other names, repositories below, folders not searched
    # What stood at each name of ``WATCHED`` that the walk passed, for ``renamed_made``
    # after the run.
    before: dict[Path, Identity]


def _identity(path: Path) -> Identity | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def survey(here: Path, kept: Iterable[Path] = (), limit: int = MAX_SEARCHED) -> Survey:
    """One walk of ``here``, the folder run from, before the run. It finds the files
    below that have other names (hard links, st_nlink > 1: uv's venvs link their files
    to ~/.cache/uv, and ``ln`` makes them), whose other names may lie outside: the
    program, writing one, would write the file that those name (a module the user's
    other projects import, a start-up file). Each kept, or where there are more than
    ``MAX_LINKED_FILES``, each entry of ``here`` that holds them (``.venv``). And the
    repositories and toolchain files in the folders below (``repositories_in``): git
    runs what one's configuration names wherever the user goes below it, rustup the
    toolchain one names. Not searched: what lies in
    ``kept`` (kept whole already). A folder that cannot be searched is kept whole; so is
    ``here`` where it holds more than ``limit`` entries, which are not all searched."""
    found: list[Path] = []
    repositories_below: list[Guarded] = []
    before: dict[Path, Identity] = {}
    unsearched: list[Path] = []
    for folder, folders, files, seen in _walked(here, kept, unsearched):
        if seen > limit:
            return Survey([Guarded(here, f"a folder of more than {limit} files and folders, "
                                   "not all searched for files with other names (hard "
                                   "links), which the program would write through them, nor "
                                   "for repositories", remedy="run it from a folder of fewer "
                                   "files")], {})
        names = {*folders, *files}
        for name in names & WATCHED:
            identity = _identity(folder / name)
            if identity is not None:
                before[folder / name] = identity
        if folder != here:
            repositories_below += repositories_in(folder, names)
            # (What a repository holds is kept with it, and git reads no other there.)
            folders[:] = [] if _is_bare(names) else [f for f in folders
                                                     if f not in REPOSITORIES]
        for name in files:
            with contextlib.suppress(OSError):
                info = os.lstat(folder / name)
                if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
                    found.append(folder / name)
    found.sort()
    if len(found) > MAX_LINKED_FILES:
        tops = sorted({here / p.relative_to(here).parts[0] for p in found})
        linked = [Guarded(top, f"a folder holding {sum(p.is_relative_to(top) for p in found)} "
                          "files with other names (hard links), which the program would "
                          "write through them, outside the sandbox") if top not in found
                  else Guarded(top, "a file with other names (hard links), which the "
                               "program would write through them, outside the sandbox")
                  for top in tops]
    else:
        linked = [Guarded(p, "a file with other names (hard links), which the program "
                          "would write through them, outside the sandbox") for p in found]
    if here in unsearched:
        return Survey([Guarded(here, "a folder that could not be searched for files with "
                               "other names (hard links), which the program would write "
                               "through them", remedy="run it from a folder you may list")],
                      {})
    return Survey(linked + repositories_below + [
        Guarded(p, "a folder that could not be searched for files with other names (hard "
                "links) nor for repositories") for p in unsearched], before)


def started_in(here: Path) -> Guarded:
    """``here`` as the folder that ``python -m roads.cli`` (or ``-c``) was started in:
    first on that Python's ``sys.path``, before its own library."""
    return Guarded(here, "the folder python -m roads.cli was started in, which that Python "
                   "imports from before its own library: a module the program put there "
                   "(argparse.py, roads/) would run in the next one started here, outside "
                   "the sandbox", remedy="run the roads command, or python -P -m roads.cli, "
                   "which imports nothing from the folder it starts in")


# Repositories a tool finds in the folder it runs in, or in one above it, and runs the
# commands their configuration names (git's core.fsmonitor, hooks, core.pager;
# Mercurial's hooks): a shell prompt runs git status at each command.
REPOSITORIES = {".git": "git", ".hg": "Mercurial"}
# What makes a folder a git repository itself (a bare one's layout, git's
# is_git_directory): HEAD, and objects and refs, or a commondir file naming a folder that
# holds them. git run there, or in a folder below, finds it without a .git and reads its
# config (core.worktree, core.fsmonitor). Renaming any one of them the program made
# undoes it.
BARE = ("HEAD", "objects", "refs", "commondir")
# Files that name a toolchain by its path, which a tool finds in the folder it runs in or
# in one above it and runs without asking: rustup's ``[toolchain] path`` (its rustc and
# cargo, which a shell prompt such as starship's runs: rustc --version) and asdf's
# ``path:`` versions (its shims: python, node). pyenv's .python-version names only a
# version installed in its own folder (a path it refuses since 2.3.3), mise's path: needs
# ``mise trust``, direnv's .envrc ``direnv allow``.
TOOLCHAINS = {"rust-toolchain.toml": "rustup", "rust-toolchain": "rustup",
              ".tool-versions": "asdf"}
FOUND_UPWARD = {**REPOSITORIES, **TOOLCHAINS}  # what is renamed aside when the program made it
WATCHED = frozenset({*FOUND_UPWARD, *BARE})  # the names ``survey`` notes what stood at


def _is_bare(names: Iterable[str]) -> bool:
    """Whether a folder holding the entries ``names`` has a git repository's own layout
    (``BARE``)."""
    names = set(names)
    return "HEAD" in names and ({"objects", "refs"} <= names or "commondir" in names)


def _names(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


def repositories(here: Path) -> list[Guarded]:
    """The repositories in ``here``, the folder run from (``REPOSITORIES``), kept as they
    are: a ``.git`` folder, or a ``.git`` file with the folder it names ("gitdir: PATH",
    a worktree's, a submodule's); or ``here`` itself, where it has a repository's layout
    (``BARE``). One the program makes is not there yet, nor kept (``renamed_made``);
    those in the folders below are ``survey``'s."""
    return repositories_in(here, _names(here), "the folder run from")


def repositories_in(folder: Path, names: Iterable[str], which: str = "a folder below the "
                    "folder run from") -> list[Guarded]:
    """The repositories and toolchain files (``FOUND_UPWARD``) in ``folder``, whose
    entries are ``names``, kept as they are (``repositories``)."""
    if _is_bare(names):
        return [Guarded(folder, f"a git repository itself ({which}: HEAD, objects, refs), "
                        "whose configuration names commands git runs outside the sandbox (a "
                        "shell prompt runs git at each command)")]
    found = []
    for name, tool in FOUND_UPWARD.items():
        if name not in names:
            continue
        path = folder / name
        what = (f"the {tool} repository of {which}, whose configuration names commands "
                f"{tool} runs outside the sandbox (a shell prompt runs {tool} at each "
                "command)") if name in REPOSITORIES else (
                f"the {tool} toolchain file of {which}, whose toolchain path names programs "
                f"{tool} runs outside the sandbox (a shell prompt may run them: rustc "
                "--version)")
        found.append(Guarded(path, what))
        if path.is_file():
            with contextlib.suppress(OSError, UnicodeDecodeError):
                line = path.read_text().split("\n", 1)[0]
                if line.startswith("gitdir: "):
                    found.append(Guarded(path.parent / line.removeprefix("gitdir: "), what))
    return [there(g) for g in found if there(g).there]


@dataclass(frozen=True)
class Renamed:
    """What ``renamed_made`` did after the run."""

    # Each repository the program made (a .git, or what made a folder one: HEAD...) and
    # the name it was renamed to, in the order renamed: what lies in one first.
    moved: list[tuple[Path, Path]]
    # The folders the walk could not search (one the program left unreadable), or
    # ``here`` where it held too many entries to search them all.
    unsearched: list[Path]
    failed: list[tuple[Path, OSError]]  # what could not be renamed, and why


def _walked(here: Path, kept: Iterable[Path], unsearched: list[Path]
            ) -> Iterator[tuple[Path, list[str], list[str], int]]:
    """``os.walk`` of ``here`` top down, not into ``kept``: each folder, its folders (the
    caller may prune them further), its files, and how many entries were seen so far,
    this folder's included; each folder that cannot be listed added to ``unsearched``."""
    skipped = {Path(p) for p in kept}
    seen = 0
    for root, folders, files in os.walk(here, onerror=lambda e: unsearched.append(
            Path(e.filename))):
        folder = Path(root)
        folders[:] = [f for f in folders if folder / f not in skipped]
        seen += len(folders) + len(files)
        yield folder, folders, files, seen


def renamed_made(here: Path, before: Mapping[Path, Identity], kept: Iterable[Path] = (),
                 limit: int = 2 * MAX_SEARCHED) -> Renamed:
    """The repositories the program made in ``here`` or in any folder below (or put in
    the place of one there ``before``, ``survey``'s), and what it made of ``BARE``'s
    where they make a folder a repository itself, each renamed aside (``.git.from-run``,
    then ``.git.from-run-2``...) before the user's shell runs git there. A repository's
    own layout inside one it made is renamed too: git run in ``.git.from-run`` would take
    it for one. Not searched: what lies in ``kept`` (read-only in the run, as it was), nor
    more than ``limit`` entries (the program made them: ``here`` is named unsearched).
    The run is over, its processes gone: nothing of it can make one again."""
    made: list[Path] = []
    unsearched: list[Path] = []
    for folder, folders, files, seen in _walked(here, kept, unsearched):
        if seen > limit:
            unsearched.append(here)
            break
        names = {*folders, *files}
        new = sorted(name for name in names & WATCHED
                     if _identity(folder / name) != before.get(folder / name))
        made += [folder / name for name in new
                 if name in FOUND_UPWARD or (name in BARE and _is_bare(names))]
    moved, failed = [], []
    for path in sorted(made, key=lambda p: (-len(p.parts), p)):  # what lies in one first
        n, aside = 1, path.with_name(f"{path.name}.from-run")
        while os.path.lexists(aside):
            n += 1
            aside = path.with_name(f"{path.name}.from-run-{n}")
        try:
            os.rename(path, aside)
        except OSError as exc:
            failed.append((path, exc))
        else:
            moved.append((path, aside))
    return Renamed(moved, unsearched, failed)


def links_to(g: Guarded, depth: int = 0) -> list[Guarded]:
    """The folders holding the links that ``g.path`` (absolute, as written: as PATH or
    sys.path name it) passes through, each standing for it where it lies at or below the
    run's folder (``there`` False): resolved, ``g`` is kept read-only where it really
    lies, but a program that may write the folder holding a link on the way could point
    the link at a folder of its own (PATH's ~/runs/current/bin, ~/runs/current a link
    to ~/opt: its next ``ls`` outside was the program's)."""
    found: list[Guarded] = []
    seen = Path("/")  # the path so far, links resolved
    for part in g.path.parts[1:]:
        step = seen.parent if part == ".." else seen if part == "." else seen / part
        if part not in (".", "..") and os.path.islink(step) and depth < 40:
            found.append(Guarded(seen, f"the folder holding {step}, a link on the way to "
                                 f"{g.what}", there=False))
            # The link's own target may pass through links elsewhere.
            target = seen / os.readlink(step)
            found += links_to(Guarded(target, g.what), depth + 1)
            step = _resolved(step)
        seen = step
    return found


def home_folder(path: Path) -> Guarded:
    """The user's home folder at ``path`` (``~``), for ``kept_read_only``."""
    return there(Guarded(path, HOME))


def _resolved(path: Path) -> Path:
    """``path`` with its links resolved as far as they lead: a loop of links is left as
    written from there on (``Path.resolve`` raises RuntimeError on one in Python 3.11),
    so that what it would name once a link of it changed is guarded by the folder it
    would be made in (``there``)."""
    return Path(os.path.realpath(path))


def there(g: Guarded) -> Guarded:
    """``g`` with its path's links resolved; where it is not there, the nearest folder
    that is, which a program could make it in."""
    path = _resolved(g.path)
    # (os.path's tests: False for a name too long or a folder that may not be searched,
    # where Path's raise in Python 3.11.)
    if os.path.exists(path):
        return Guarded(path, g.what)
    folder = next(p for p in path.parents if os.path.exists(p))
    return Guarded(folder, f"the folder {path} would be made in, {g.what}", there=False)


@dataclass(frozen=True)
class Kept:
    """A path kept read-only for the program, and the guarded path that makes it so (the
    same path, or one that holds it)."""

    path: Path
    why: Guarded


def kept_read_only(here: Path, home: Guarded, others: Iterable[Guarded]) -> tuple[Kept, ...]:
    """The paths that stay read-only for a program run in ``here`` (links resolved, as
    in ``home``, the user's home folder (``home_folder``), and ``others``): ``here``
    itself where it is ``home``, lies in a dot-folder of it or in its ``bin``, or is or
    lies in one of ``others``; else ``home`` and those of ``others`` that lie below
    ``here``, none inside another. Empty where the program may write all of ``here``."""
    inside = []
    if home.there and here == home.path:
        inside.append(home)
    elif home.there and here.is_relative_to(home.path):
        top = home.path / here.relative_to(home.path).parts[0]
        if top.name.startswith(".") or top.name == "bin":
            inside.append(Guarded(top, f"{top.name} in {HOME}"))
    for g in [*inside, *others]:
        # (A path not there yet is the program's to make only where it lies below here.)
        if g.there and here.is_relative_to(g.path):
            return (Kept(here, g),)
    below = sorted((g for g in [*others, home] if g.path.is_relative_to(here)),
                   key=lambda g: len(g.path.parts))
    kept: list[Kept] = []
    for g in below:
        if not any(g.path.is_relative_to(k.path) for k in kept):
            kept.append(Kept(g.path, g))
    if len(kept) > MAX_KEPT:  # more than the launcher takes: all of it
        return (Kept(here, Guarded(here, f"a folder that holds more than {MAX_KEPT} of "
                                   "those that run outside the sandbox")),)
    return tuple(kept)
