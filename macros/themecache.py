"""The theme's templates compiled once, their code kept in the cache folder.

MkDocs makes a new Jinja environment for its theme on every build, so every build,
each rebuild of ``mkdocs serve`` included, parses and compiles Material's templates
again: 39 of them for this site, a third of a warm rebuild. Jinja can keep a
template's compiled code (a bytecode cache: found by the template's name and file,
used only while its source is the same). ``attach`` gives the theme's environment one
in the build's cache folder, in a folder named after everything else that shapes the
code Jinja writes (its version, Python's, the environment's extensions and syntax), so
that an edited template or another setting compiles afresh.

A build with nothing kept (a fresh clone) compiles them as before, after its pages.
Compiling them ahead in the worker that renders pages ahead (``macros.ahead``) was
tried: the worker's pages then came later, by as much as the build's last step gained.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
from pathlib import Path

import jinja2

from roads import cachedir

FOLDER = "theme"  # under the build's cache folder
SUFFIX = ".cache"  # FileSystemBytecodeCache's file names: __jinja2_<key>.cache


class _Kept(jinja2.FileSystemBytecodeCache):
    """Jinja's cache of compiled templates in a folder, whose files a build that uses
    them marks as used (``roads.cachedir.prune`` removes those no build used)."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        super().load_bytecode(bucket)
        if bucket.code is not None:
            cachedir.used(Path(self.directory) / (self.pattern % bucket.key))


def settings(env: jinja2.Environment) -> str:
    """A digest of what, besides a template's source, shapes its compiled code."""
    shape = (jinja2.__version__, sys.version_info[:2], sorted(env.extensions),
             repr(env.autoescape), env.block_start_string, env.block_end_string,
             env.variable_start_string, env.variable_end_string, env.comment_start_string,
             env.comment_end_string, env.line_statement_prefix, env.line_comment_prefix,
             env.trim_blocks, env.lstrip_blocks, env.newline_sequence,
             env.keep_trailing_newline, env.optimized, env.is_async)
    return hashlib.sha256(repr(shape).encode()).hexdigest()


def folder(cache: Path) -> Path:
    """Where the compiled templates are kept, under the build's cache folder."""
    return cache / FOLDER


def attach(env: jinja2.Environment, cache: Path) -> jinja2.Environment:
    """``env`` with its compiled templates kept under ``cache`` (the build's folder)."""
    where = folder(cache) / settings(env)[:24]
    with contextlib.suppress(OSError):
        where.mkdir(parents=True, exist_ok=True)
        env.bytecode_cache = _Kept(str(where))
    return env


def prune(cache: Path) -> None:
    """Compiled templates no build used for a month go (a scan at most once a day)."""
    cachedir.prune(folder(cache), (SUFFIX,))
