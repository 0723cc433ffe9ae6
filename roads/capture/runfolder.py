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
is not. So is what runs outside later by other ways, wherever it lies: the folders on
PATH and LD_LIBRARY_PATH, those Python imports from, the XDG base directories, ZDOTDIR
(where one is not there yet, the folder it would be made in). A folder run from that lies
inside one of those paths is read-only whole. So is the folder holding a link
that one of those paths passes through as written (``links_to``): pointed elsewhere, it
would make the path the program's.

Not guarded: ``python -m roads.cli`` (and ``-c``) puts the folder it starts in first on
``sys.path``, where a program run from there could make a ``roads`` package that the next
``python -m roads.cli`` started there would import; the ``roads`` command does not (its
first entry is its own folder), nor does ``python -P``. Keeping that folder read-only
would keep every run from it so.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

MAX_KEPT = 64  # the most the launcher keeps read-only (also in launcher.c)
HOME = "your home folder, whose files your shell, your desktop and ssh run outside the sandbox"


@dataclass(frozen=True)
class Guarded:
    """A path that runs outside the sandbox afterwards, and what it is, for a message."""

    path: Path  # links resolved
    what: str
    there: bool = True  # False: the folder it would be made in stands for it


# Variables naming folders whose files programs read and run outside the sandbox: a
# list of folders, or one folder (the XDG base directories are a home folder's
# dot-folders moved elsewhere; zsh reads its start-up files from ZDOTDIR).
FOLDER_LISTS = {"PATH": "a folder on your PATH, whose programs run outside the sandbox",
                "LD_LIBRARY_PATH": "a folder on LD_LIBRARY_PATH, whose libraries programs "
                                   "load outside the sandbox"}
FOLDERS = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "ZDOTDIR")


def guarded(code: Path, pythons: Iterable[Path], launchers: Path, imports: Iterable[str],
            environ: Mapping[str, str]) -> list[Guarded]:
    """What runs outside the sandbox after a run (the home folder apart: ``kept_read_only``
    takes it): roads' own code (``code``, its package folder; the source tree holding it,
    where it is one, whose tests and tools run too), the Python that runs roads
    (``pythons``: its prefixes), the launcher's folder (``launchers``), the folders that
    Python imports from (``imports``, ``sys.path``: PYTHONPATH's, a .pth file's), and the
    folders ``environ`` names in ``FOLDER_LISTS`` and ``FOLDERS``. Only absolute paths
    count (a relative one names wherever a program runs); links resolved."""
    if (code.parent / "pyproject.toml").is_file():
        code = code.parent
    found = [Guarded(code, "roads' own code, which runs outside the sandbox")]
    found += [Guarded(p, "the Python that runs roads outside the sandbox") for p in pythons]
    found.append(Guarded(launchers, "the folder of roads' sandbox launcher, which runs "
                         "outside it"))
    found += [Guarded(Path(p), "a folder the Python that runs roads imports from outside "
                      "the sandbox") for p in imports]
    for name, what in FOLDER_LISTS.items():
        found += [Guarded(Path(p), what) for p in environ.get(name, "").split(os.pathsep)]
    found += [Guarded(Path(environ.get(name, "")), f"{name}'s folder, whose files programs "
                      "read and run outside the sandbox") for name in FOLDERS]
    found = [g for g in found if g.path.is_absolute()]
    return [there(g) for g in found] + [link for g in found for link in links_to(g)]


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
        if part not in (".", "..") and step.is_symlink() and depth < 40:
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
    if path.exists():
        return Guarded(path, g.what)
    folder = next(p for p in path.parents if p.exists())
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
