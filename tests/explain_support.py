"""What the roads explain tests share: a C program built with gcc as the test wrote it,
the facts at the head of a page the command wrote, and the session it saved (--save)."""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path


def build(folder: Path, name: str, source: str, *flags: str) -> Path:
    """``source`` written to ``folder``/NAME.c and compiled by gcc with ``flags`` into
    ``folder``/NAME, which is returned."""
    (folder / f"{name}.c").write_text(source)
    subprocess.run(["gcc", *flags, "-o", str(folder / name), str(folder / f"{name}.c")],
                   check=True, timeout=60)
    return folder / name


def page_text(page: str) -> str:
    """A page's words as a reader sees them: tags (the spans that keep an option on one
    line, say) taken out and entities read, a no-break space (a size's: "8 MiB") read as
    the space it shows."""
    return html.unescape(re.sub(r"<[^>]+>", "", page)).replace("\u00a0", " ")


def page_facts(page: str) -> dict[str, str]:
    """The facts at the head of a page, as text, by their names (a no-break space read
    as a space, as in ``page_text``)."""
    return {name: html.unescape(re.sub(r"<[^>]+>", "", value)).replace("\u00a0", " ")
            for name, value in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page)}


def saved_session(path: Path) -> dict:
    """The session roads explain saved at ``path`` (--save), as JSON."""
    return json.loads(path.read_text())


def stop_names(saved: dict) -> list[str]:
    """The names of the stops a saved session's run holds, in its order."""
    return [c["name"] for c in saved["capture"]["variants"]["default"]["runs"][0]["checkpoints"]]
