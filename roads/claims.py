"""The claims the pages make about captures, each with the test that checks it.

``tests/claims.toml`` lists them; the claim tests load their own entries from it (and
check that entries and tests match one to one), and the site lists them all, so a
reader can see what is checked and how.
"""

from __future__ import annotations

import html
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError


@dataclass(frozen=True)
class Claim:
    """One sentence a page says about a capture, and the test that keeps it true."""

    page: str  # docs/... path of the page that makes it
    text: str
    test: str  # "test_file.py::test_name"

    @property
    def test_file(self) -> str:
        return self.test.partition("::")[0]

    @property
    def test_name(self) -> str:
        return self.test.partition("::")[2]


def parse_claims(text: str, where: str = "claims.toml") -> tuple[Claim, ...]:
    """The claims of a claims file's text, in file order."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    claims = []
    for number, entry in enumerate(data.get("claim", []), start=1):
        if not isinstance(entry, dict) or set(entry) != {"page", "text", "test"} or \
                not all(isinstance(v, str) for v in entry.values()) or "::" not in entry["test"]:
            raise ConfigError(f"{where}: claim {number} needs page, text and test "
                              "(\"file.py::test_name\"), all strings")
        claims.append(Claim(entry["page"], entry["text"], entry["test"]))
    return tuple(claims)


def load_claims(path: str | Path) -> tuple[Claim, ...]:
    """The claims of the file at ``path``."""
    path = Path(path)
    return parse_claims(path.read_text(encoding="utf-8"), str(path))


def render_claims(claims: tuple[Claim, ...], titles: dict[str, str]) -> str:
    """An HTML list of the claims, grouped by page (``titles`` maps page path to title)."""
    out = []
    pages = list(dict.fromkeys(c.page for c in claims))
    for page in pages:
        mine = [c for c in claims if c.page == page]
        title = html.escape(titles.get(page, page))
        out.append(f"<details class=\"roads-claims\"><summary>{title}: {len(mine)} "
                   f"claim{'s' if len(mine) != 1 else ''}</summary>\n<ul>")
        for c in mine:
            out.append(f"<li>{html.escape(c.text)} <code>{html.escape(c.test)}</code></li>")
        out.append("</ul></details>")
    return "\n".join(out)
