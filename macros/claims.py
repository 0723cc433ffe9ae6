"""Claim macros: a page's tested sentences, and the list of them all.

A page writes ``{{ claim('id') }}`` where a sentence about a capture goes; the words
come from ``tests/claims.toml``, where the same entry names the test that checks
them. A claim's text may call macros itself (``{{ value('brk', ...) }}``): it is
rendered with the page's own template environment, which ``bind`` hands over.
"""

from __future__ import annotations

import re

import markdown as md
from mkdocs.utils.meta import get_data

from roads.words.claims import Claim, find_claim, load_claims, simple_calls
from roads.errors import ConfigError

from . import interpret
from .placed import AfterMarkdown
from .pagecache import (depends, keep, kept, ours, read_since, reads, recording, sha256_of,
                        warnings)
from .project import log, project

_ENV = None  # the macros plugin's env, set by bind() from define_env


def bind(env) -> None:
    """Remember the plugin's env: claim texts are rendered with its templates (a new
    env each build, so the words rendered in the last one are forgotten)."""
    global _ENV
    _ENV = env
    _WORDS.clear()


# A claim's words rendered once a build: each shows on its page and in the list of
# claims, and compiling a Jinja template costs milliseconds (by claim id and text).
# With the words, the files their macros read: a page that shows words rendered for
# another page depends on those files too (macros.pagecache).
_WORDS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}


_LOADED: dict[str, tuple[str, tuple[Claim, ...]]] = {}


def all_claims() -> tuple[Claim, ...]:
    """The claims of tests/claims.toml, parsed once per version of the file (its digest,
    as the page cache takes it: ``pagecache.sha256_of``): a page calls ``claim()`` for
    each sentence, and the file is large."""
    path = project().root / "tests" / "claims.toml"
    depends(path)
    version = sha256_of(path)
    where = "tests/claims.toml"  # as the project's root names it, as pages are named
    if version is None:
        return load_claims(path, where)  # the error names the file
    cached = _LOADED.get(str(path))
    if cached is None or cached[0] != version:
        cached = (version, load_claims(path, where))
        _LOADED[str(path)] = cached
    return cached[1]


_RENDERING: list[Claim] = []  # the claims whose words are being rendered, innermost last


def rendering() -> Claim | None:
    """The claim whose words are being rendered now, if any: an error of a macro in
    them is located at the claim, not at the page that shows it."""
    return _RENDERING[-1] if _RENDERING else None


_CLAIM = "roads_claim"  # the attribute of an error raised by a claim's words


def rendered_claim(error: BaseException) -> Claim | None:
    """The claim whose words raised ``error`` (the innermost, for words that show
    another claim), if they did."""
    return getattr(error, _CLAIM, None)


def line_of(claim_id: str) -> int | None:
    """The line of the claim's words (its ``text``) in tests/claims.toml: the first
    ``text`` key after ``id = "claim_id"`` within the claim's table; its ``id`` line
    when none is found there."""
    path = project().root / "tests" / "claims.toml"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    wanted = re.compile(rf"^\s*id\s*=\s*[\"']{re.escape(claim_id)}[\"']\s*$")
    at = next((n for n, line in enumerate(lines, start=1) if wanted.match(line)), None)
    if at is None:
        return None
    for n in range(at, len(lines)):  # lines[n] is line n + 1
        line = lines[n].lstrip()
        if line.startswith("["):  # the next table: this claim has no text line after its id
            break
        if re.match(r"text\s*=", line):
            return n + 1
    return at


def preload() -> None:
    """Parse tests/claims.toml now (~15 ms), in a build about to render pages in several
    processes (``macros.ahead``): once, not in each. An error is left to the macros."""
    try:
        all_claims()
    except Exception:  # noqa: BLE001 - claim() and claims() name the file and the line
        log.debug("preload: claims", exc_info=True)


def words(c: Claim) -> str:
    """The claim's text with its macros rendered (Markdown)."""
    if _ENV is None or "{" not in c.text:
        return c.text
    done = _WORDS.get((c.id, c.text))
    if done is not None:
        depends(*done[1])
        return done[0]
    # Kept from an earlier build while every file the words read is unchanged: editing
    # one sample renders again only the claims about it, on About's list too.
    key, found = kept("claim words", [c.id, c.text], _ENV.conf)
    if found is not None:
        _WORDS[(c.id, c.text)] = (found["text"], tuple(found["files"]))
        depends(*found["files"])
        return found["text"]
    before, mark = warnings(), reads()
    _RENDERING.append(c)
    try:
        with recording() as read:
            text = _render(c.text)
    except Exception as exc:
        # A mistake of the words' own template (a bracket left open, a macro that does
        # not exist) reaches the caller's guard once this claim is no longer being
        # rendered: it carries the claim, to be located there (``rendered_claim``).
        exc.__dict__.setdefault(_CLAIM, c)
        raise
    finally:
        _RENDERING.pop()
    if read_since(mark):  # words that read the page or the plugin's variables: this page's
        return text
    if warnings() != before:
        # Words that warned (a macro's error: a note in the sentence, its box on top of
        # the page that rendered them) are rendered again by every page that shows
        # them, so that each gets the box its note points to; nor are they kept.
        return text
    _WORDS[(c.id, c.text)] = (text, tuple(read.read))
    keep(key, {"text": text, "files": list(read.read)}, read)
    return text


def _render(text: str) -> str:
    """The words as the page's template environment renders them; words that only call
    macros with literal arguments are rendered by calling them (``simple_calls``), and
    most others by walking their parsed template (``interpret``), not compiling it."""
    parts = simple_calls(text)
    # Only our macros are called so: the plugin's (now(), context()) are looked up by a
    # template, which notes them (macros.pagecache: such words are not kept).
    if parts is None or any(not isinstance(p, str) and not _ours(p[0]) for p in parts):
        walked = interpret.render(_ENV.env, text, _macro)
        if walked is not None:
            return walked
        return _ENV.env.from_string(text).render(**_ENV.variables)
    return "".join(p if isinstance(p, str) else str(_ENV.macros[p[0]](*p[1], **p[2]))
                   for p in parts)


def _ours(name: str) -> bool:
    """Whether words may call the macro ``name`` without a template: one of our macros
    (not one of the plugin's, which the template's context notes as read), and not
    hidden by a variable of the same name (which the template would read instead)."""
    return ours(name) and name not in _ENV.variables


def _macro(name: str):
    """One of our macros, for words walked by ``interpret`` (``_ours``); KeyError for any
    other name, which leaves the words to Jinja."""
    if not _ours(name):
        raise KeyError(name)
    return _ENV.macros[name]


def claim(claim_id: str) -> str:
    """The words of claim ``claim_id``, which must belong to the calling page."""
    c = find_claim(all_claims(), claim_id)
    page = getattr(_ENV, "page", None) if _ENV is not None else None
    if page is not None:
        here = f"docs/{page.file.src_uri}"
        if here != c.page:
            raise ConfigError(f"claim {claim_id!r} belongs to {c.page}, not to {here}")
    return words(c)


_INLINE: list[md.Markdown] = []  # one converter, reset for each line (making one costs ms)
# Lines converted, by their text (a pure function: kept for the life of the process, so
# that under ``mkdocs serve`` About's list converts only the words that changed).
_INLINE_DONE: dict[str, str] = {}


def inline_html(text: str) -> str:
    """One line of Markdown as inline HTML."""
    done = _INLINE_DONE.get(text)
    if done is not None:
        return done
    if not _INLINE:
        _INLINE.append(md.Markdown(extensions=["attr_list"]))
    out = _INLINE[0].reset().convert(text)
    done = _INLINE_DONE[text] = re.sub(r"^<p>(.*)</p>$", r"\1", out, flags=re.S)
    if len(_INLINE_DONE) > 4096:  # words edited many times in one session
        _INLINE_DONE.pop(next(iter(_INLINE_DONE)))
    return done


def claims() -> AfterMarkdown:
    """Every claim the series makes about a capture, by page, with the test checking it
    (placed in the page after its Markdown: ``macros.placed``)."""
    from roads.words.claims import anchor, render_claims

    root = project().root
    titles = {}
    for path in sorted((root / "docs").rglob("*.md")):
        depends(path)
        _, meta = get_data(path.read_text(encoding="utf-8"))
        titles[path.relative_to(root).as_posix()] = str(meta.get("title", path.stem))
    every = all_claims()
    # A claim's page not written yet is named by its path: recorded as read (missing),
    # its title shows once it is written.
    depends(*(root / c.page for c in every))
    return AfterMarkdown(render_claims(every, titles, text=_listed_words),
                         tuple(anchor(c) for c in every))


def _listed_words(c: Claim) -> str:
    """The claim's words as About's list shows them, or, where they fail, a note that
    points at the error on top of the page: one claim's mistake leaves the others."""
    try:
        return inline_html(words(c))
    except Exception as error:  # noqa: BLE001 - told as the claim's, like claim()'s
        from macros import failed

        return failed("claims", (), error, _ENV, inline=True)


MACROS: tuple = (claim, claims)
INLINE: tuple = (claim,)  # a sentence of its page (see macros.figures.INLINE)
