"""The claims the pages make about captures, each with the test that checks it.

``tests/claims.toml`` lists them. A page never writes a claim's sentence itself: it
calls ``{{ claim('id') }}``, which puts the tested words on the page, so the two
cannot drift apart. Each claim also declares a mutation of a capture that must make
its test fail (``mutate``), and a harness checks that it does. The claim tests load
their own entries from the file, and the site lists them all, so a reader can see
what is checked and how.

A mutation is a list of steps, each on one sample's capture document::

    {sample = "brk", path = ["variants", "default", "runs", 0, "checkpoints",
                             {name = "main"}, "regions", {pathname = "[heap]"}, "end"],
     add = 4096}

``path`` walks the document: a string is a key, an integer a list index, a table
picks the first list item whose fields equal it. The step then does one of ``set``
(any value), ``add`` (a number), ``copy`` (the value at another path of the same
document: for a value that differs between captures, such as a randomised
address), ``delete = true``, or ``call = "module:function"``
(a function in the ``tests`` package that changes the document in place; ``path`` is
then optional and names the part handed to it).
"""

from __future__ import annotations

import ast
import html
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, FileError, toml_problem


@dataclass(frozen=True)
class Claim:
    """One sentence a page says about a capture, and the test that keeps it true."""

    id: str  # what the page calls: {{ claim('id') }}
    page: str  # docs/... path of the page that makes it
    text: str  # may hold macro calls ({{ value(...) }}), rendered on the page
    test: str  # "test_file.py::test_name"
    mutate: tuple[dict, ...] = ()  # the change to a capture that must fail the test

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
        # "... (at line N, column M)": the line becomes the error's place, as a page's.
        line, problem = toml_problem(text, str(exc))
        claim = _claim_at(text, line) if line else None
        inside = f" in claim {claim!r}" if claim else ""
        raise FileError(f"not TOML{inside}: {problem}", page=where, line=line) from None
    claims = []
    seen: set[str] = set()
    if not isinstance(data.get("claim", []), list):
        raise ConfigError(f"{where}: 'claim' must be a list of tables, each begun by [[claim]]")
    for number, entry in enumerate(data.get("claim", []), start=1):
        strings = {"id", "page", "text", "test"}
        if not isinstance(entry, dict) or not strings <= set(entry) or \
                not set(entry) <= strings | {"mutate"} or \
                not all(isinstance(entry[k], str) for k in strings) or "::" not in entry["test"]:
            raise ConfigError(f"{where}: claim {number} needs id, page, text and test "
                              "(\"file.py::test_name\"), all strings, and may have mutate")
        if not ID.fullmatch(entry["id"]):
            raise ConfigError(f"{where}: claim {number}: id {entry['id']!r} must be lower-case "
                              "words joined by hyphens")
        if entry["id"] in seen:
            raise ConfigError(f"{where}: claim {number}: id {entry['id']!r} is used twice")
        seen.add(entry["id"])
        mutate = entry.get("mutate", [])
        problem = mutation_problem(mutate)
        if problem:
            raise ConfigError(f"{where}: claim {entry['id']!r}: mutate {problem}")
        claims.append(Claim(entry["id"], entry["page"], entry["text"], entry["test"],
                            tuple(mutate)))
    return tuple(claims)


ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_CLAIM_HEADER = re.compile(r"\s*\[\[\s*claim\s*\]\]\s*(?:#.*)?")
_ID_LINE = re.compile(r"""\s*id\s*=\s*(?:"([^"\\]*)"|'([^']*)')""")


def _claim_at(text: str, line: int) -> str | None:
    """The id of the claim whose table holds ``line`` of a claims file that is not
    TOML, as its own line writes it; None before the first claim or without an id."""
    rows = [row.removesuffix("\r") for row in text.split("\n")]
    # The table the line is in: the last header at or before it, a claim's or not.
    start = next((n for n in range(min(line, len(rows)) - 1, -1, -1)
                  if rows[n].lstrip().startswith("[")), None)
    if start is None or not _CLAIM_HEADER.fullmatch(rows[start]):
        return None
    for row in rows[start + 1:]:
        if row.lstrip().startswith("["):  # the next table: this one has no id line
            return None
        found = _ID_LINE.match(row)
        if found:
            return found[1] if found[1] is not None else found[2]
    return None


STEP_ACTIONS = ("set", "add", "copy", "delete", "call")


def mutation_problem(mutate) -> str | None:
    """What is wrong with a claim's ``mutate`` list, or None."""
    if not isinstance(mutate, list):
        return "must be a list of steps"
    for number, step in enumerate(mutate, start=1):
        if not isinstance(step, dict) or not isinstance(step.get("sample"), str):
            return f"step {number} needs a sample"
        actions = [a for a in STEP_ACTIONS if a in step]
        if len(actions) != 1:
            return f"step {number} needs exactly one of {', '.join(STEP_ACTIONS)}"
        extra = set(step) - {"sample", "path", *STEP_ACTIONS}
        if extra:
            return f"step {number} has unknown keys {sorted(extra)}"
        path = step.get("path")
        if path is None and actions[0] != "call":
            return f"step {number} needs a path"
        if path is not None and (not isinstance(path, list) or not all(
                isinstance(p, (str, int, dict)) for p in path)):
            return f"step {number}: path must be a list of keys, indexes and tables"
        if actions[0] == "copy" and (not isinstance(step["copy"], list) or not all(
                isinstance(p, (str, int, dict)) for p in step["copy"])):
            return f"step {number}: copy takes a path"
        if actions[0] == "add" and not isinstance(step["add"], (int, float)):
            return f"step {number}: add takes a number"
        if actions[0] == "delete" and step["delete"] is not True:
            return f"step {number}: delete takes true"
        if actions[0] == "call" and (not isinstance(step["call"], str) or ":" not in step["call"]):
            return f"step {number}: call takes \"module:function\""
    return None


def load_claims(path: str | Path, where: str | None = None) -> tuple[Claim, ...]:
    """The claims of the file at ``path``; its errors name it ``where`` (the path
    itself by default)."""
    path = Path(path)
    return parse_claims(path.read_text(encoding="utf-8"), where or str(path))


def find_claim(claims: tuple[Claim, ...], claim_id: str) -> Claim:
    """The claim called ``claim_id``; a ConfigError naming the nearest ids otherwise."""
    for c in claims:
        if c.id == claim_id:
            return c
    import difflib
    near = difflib.get_close_matches(claim_id, [c.id for c in claims], n=3)
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    raise ConfigError(f"no claim {claim_id!r} in tests/claims.toml{hint}")


def anchor(claim: Claim) -> str:
    """The id of the claim's item in the list of claims (``render_claims``)."""
    return f"claim-{claim.id}"


def render_claims(claims: tuple[Claim, ...], titles: dict[str, str],
                  text=lambda c: html.escape(c.text)) -> str:
    """An HTML list of the claims, grouped by page (``titles`` maps page path to title;
    ``text`` gives a claim's words as HTML, macros rendered)."""
    out = []
    pages = list(dict.fromkeys(c.page for c in claims))
    for page in pages:
        mine = [c for c in claims if c.page == page]
        title = html.escape(titles.get(page, page))
        out.append(f"<details class=\"roads-claims\"><summary>{title}: {len(mine)} "
                   f"claim{'s' if len(mine) != 1 else ''}</summary>\n<ul>")
        for c in mine:
            out.append(f"<li id=\"{anchor(c)}\">{text(c)} <code>{html.escape(c.test)}</code></li>")
        out.append("</ul></details>")
    return "\n".join(out)


# A claim's words are a Jinja template; most only call macros with literal arguments.
_CALL = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\((.*?)\)\s*\}\}", re.S)


def _jinja_literal(node: ast.expr) -> bool:
    """Whether ``node``, an argument as Python reads it, is a literal Jinja reads the same:
    a quoted string without escapes (no prefix such as Python's ``b''``) or a whole
    number written in digits. Anything else (a float, a set, ``.5``, an escape) is left
    to the template."""
    if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
        return False
    if isinstance(node.value, int):
        return node.end_col_offset - node.col_offset == len(str(node.value))  # digits only
    return (isinstance(node.value, str)
            and node.end_col_offset - node.col_offset == len(node.value) + 2  # quotes only
            and "\\" not in node.value)


def simple_calls(text: str) -> list[str | tuple[str, tuple, dict]] | None:
    """``text`` as literal pieces and macro calls ``(name, args, kwargs)`` whose arguments
    are all literals, in order, or None when it holds anything else a template can
    (a block, a comment, an expression, a filter, a variable). Rendering the pieces,
    each call's result as ``str``, gives what Jinja gives, without compiling a template
    (tests/test_claims_file.py compares the two for every claim)."""
    if "{%" in text or "{#" in text or "\r" in text or text.endswith("\n"):
        return None  # Jinja drops a template's last newline, and makes "\r\n" "\n"
    parts: list[str | tuple[str, tuple, dict]] = []
    last = 0
    for match in _CALL.finditer(text):
        parts.append(text[last:match.start()])
        try:
            call = ast.parse(f"f({match.group(2)})", mode="eval").body
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                    and call.func.id == "f"):
                return None  # more than one call: "{{ f(a) * g(b) }}"
            if any(isinstance(a, ast.Starred) for a in call.args) or \
                    any(k.arg is None for k in call.keywords):
                return None
            if not all(_jinja_literal(a) for a in (*call.args, *(k.value for k in call.keywords))):
                return None
            args = tuple(ast.literal_eval(a) for a in call.args)
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        except (SyntaxError, ValueError, TypeError):
            return None
        parts.append((match.group(1), args, kwargs))
        last = match.end()
    parts.append(text[last:])
    if any(isinstance(p, str) and ("{{" in p or "}}" in p) for p in parts):
        return None
    return parts
