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
is not. A folder that lies inside one of those paths is read-only whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

HOME = "your home folder, whose files your shell, your desktop and ssh run outside the sandbox"


@dataclass(frozen=True)
class Guarded:
    """A path that runs outside the sandbox afterwards, and what it is, for a message."""

    path: Path  # links resolved
    what: str


def guarded(code: Path, pythons: Iterable[Path], launchers: Path) -> list[Guarded]:
    """What runs outside the sandbox after a run (the home folder apart: ``kept_read_only``
    takes it): roads' own code (``code``, its package folder; the source tree holding it,
    where it is one, whose tests and tools run too), the Python that runs roads
    (``pythons``: its prefixes), the launcher's folder (``launchers``). Links resolved."""
    if (code.parent / "pyproject.toml").is_file():
        code = code.parent
    found = [Guarded(code.resolve(), "roads' own code, which runs outside the sandbox")]
    found += [Guarded(p.resolve(), "the Python that runs roads outside the sandbox")
              for p in pythons]
    found.append(Guarded(launchers.resolve(), "the folder of roads' sandbox launcher, which "
                         "runs outside it"))
    return found


@dataclass(frozen=True)
class Kept:
    """A path kept read-only for the program, and the guarded path that makes it so (the
    same path, or one that holds it)."""

    path: Path
    why: Guarded


def kept_read_only(here: Path, home: Path, others: Iterable[Guarded]) -> tuple[Kept, ...]:
    """The paths that stay read-only for a program run in ``here`` (links resolved, as
    ``home`` and ``others``): ``here`` itself where it is or lies in one of ``others``, is
    ``home`` itself, or lies in a dot-folder of ``home`` or in its ``bin``; else those of
    ``others``, and ``home``, that lie below ``here``, none inside another. Empty where
    the program may write all of ``here``."""
    inside = list(others)
    if here == home:
        inside.append(Guarded(home, HOME))
    elif here.is_relative_to(home):
        top = home / here.relative_to(home).parts[0]
        if top.name.startswith(".") or top.name == "bin":
            inside.append(Guarded(top, f"{top.name} in {HOME}"))
    for g in inside:
        if here.is_relative_to(g.path):
            return (Kept(here, g),)
    below = sorted((g for g in [*others, Guarded(home, HOME)] if g.path.is_relative_to(here)),
                   key=lambda g: len(g.path.parts))
    kept: list[Kept] = []
    for g in below:
        if not any(g.path.is_relative_to(k.path) for k in kept):
            kept.append(Kept(g.path, g))
    return tuple(kept)
