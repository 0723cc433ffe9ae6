"""The shape of a capture as the figures read it: which keys hold which types.

A capture can be valid JSON of the right schema version and still be wrong: a hand
edit, a bad merge or another tool can leave a string where an address belongs or a
list where a table belongs. Read as it is, such a document would pass for fresh and
crash the figure that reads it; checked here when it is read, it counts as missing
(``roads.project``): re-made in ``auto`` mode, an error naming the file and the key in
``frozen`` mode.

Only what the figure code reads (``roads.select``, ``roads.elf``, ``roads.values``,
``roads.provenance``) is declared; other keys may hold anything. The typed capture
document will take this check over; until then the schema below is the list to keep
in step with those readers. No library: the schema is small, and its checker must cost
little (a capture is checked once per version of its file).

A schema is a type (``int`` never accepts a bool), a tuple of alternatives, a list
holding the schema of every item, a ``Table`` (any string keys, one schema for the
values) or a ``Record`` (named keys; a name ending in ``?`` may be absent; a closed
record accepts no other key, for records built with ``Class(**fields)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NULL = type(None)


@dataclass(frozen=True)
class Table:
    """A JSON object with any keys, every value of schema ``values``."""

    values: Any


@dataclass(frozen=True)
class Record:
    """A JSON object with the keys of ``fields`` (``name?``: optional)."""

    fields: dict
    closed: bool = False


REGION = Record({
    "start": int, "end": int, "perms": str, "offset": int, "dev?": str, "inode?": int,
    "pathname?": str, "kb?": Table(int), "vmflags?": [str], "thp_eligible?": (bool, NULL),
})
PAGE = Record({"vaddr": int, "present": bool, "swapped": bool, "file_or_shared": bool,
               "exclusive": bool, "soft_dirty": bool, "pfn": (int, NULL)}, closed=True)
CHECKPOINT = Record({
    "name": str, "seq?": int, "pid": int, "ppid?": int, "exe?": str, "personality?": int,
    "regions": [REGION],
    "addresses?": [Record({"name": str, "value": int})],
    "auxv?": [Record({"a_type": int, "name": str, "a_val": int})],
    "auxv_strings?": Table(str),
    "status?": Table((int, str)),
    "pagemap?": [Record({"name": str, "start": int, "length": int, "pages": [PAGE]})],
})
RUN = Record({
    "checkpoints": [CHECKPOINT], "pid?": int, "personality?": int,
    "aslr_requested?": bool, "aslr_disabled?": bool, "exit_code?": (int, NULL),
    "signal?": (int, NULL), "status?": str, "stdout?": str, "stderr?": str,
    "processes?": [Record({"pid": int, "ppid": int, "exit_code": (int, NULL),
                           "signal": (int, NULL)})],
})
ELF = Record({
    "header": Record({"ei_class": str, "ei_data": str, "ei_osabi": str, "e_type": str,
                      "e_machine": str, "e_entry": int, "e_phoff": int, "e_shoff": int,
                      "e_flags": int, "e_ehsize": int, "e_phentsize": int, "e_phnum": int,
                      "e_shentsize": int, "e_shnum": int, "e_shstrndx": int}, closed=True),
    "sections": [Record({"name": str, "sh_type": str, "sh_flags": int, "sh_addr": int,
                         "sh_offset": int, "sh_size": int, "sh_link": int, "sh_info": int,
                         "sh_addralign": int, "sh_entsize": int}, closed=True)],
    "segments": [Record({"p_type": str, "p_flags": int, "p_offset": int, "p_vaddr": int,
                         "p_paddr": int, "p_filesz": int, "p_memsz": int, "p_align": int,
                         "sections": [str]}, closed=True)],
    "symbols": [Record({"name": str, "st_value": int, "st_size": int, "type": str,
                        "bind": str, "section": str}, closed=True)],
    "symtab": str, "interp": (str, NULL), "needed": [str], "is_pie": bool, "is_static": bool,
}, closed=True)
VARIANT = Record({"runs": [RUN], "elf?": (ELF, NULL), "gcc_argv?": [str],
                  "gdb?": Record({"script": str, "transcript": str})})
# What the code beside a figure (roads.source) shows of the sample's manifest entry.
MANIFEST = Record({"sources?": [str], "gdb?": (str, NULL), "args?": [str], "env?": [[str]],
                   "aslr?": bool, "variants?": [Record({"name": str})]})
CAPTURE = Record({
    "schema": int, "sample": str, "title?": str, "digest?": str, "headers?": [str],
    "inputs": Record({"files?": Table(str), "manifest": MANIFEST}),
    "provenance": Table((str, int, float, bool, NULL)),
    "variants": Table(VARIANT),
})


def problem(doc: object, schema: Any = CAPTURE) -> str | None:
    """The first place where ``doc`` departs from ``schema``, as ``path: what``; None if
    it does not."""
    # A quick yes or no first (a capture holds some 10,000 values); the walk that
    # names the place only for a document that fails.
    if _compiled(schema)(doc):
        return None
    try:
        _check(doc, schema, "")
    except _Invalid as exc:
        return str(exc)
    return "invalid"  # not reached: the two walks agree


_CHECKERS: dict[int, Any] = {}


def _compiled(schema: Any):
    """A function telling whether a value fits ``schema``, built once per schema."""
    checker = _CHECKERS.get(id(schema))
    if checker is None:
        checker = _CHECKERS[id(schema)] = _compile(schema)
    return checker


def _compile(schema: Any):
    if isinstance(schema, type):
        if schema is float:
            return lambda node: type(node) is float or type(node) is int
        return lambda node: type(node) is schema
    if isinstance(schema, tuple):
        alternatives = [_compile(a) for a in schema]
        return lambda node: any(ok(node) for ok in alternatives)
    if isinstance(schema, list):
        item = schema[0]
        if isinstance(item, type) and item is not float:
            return lambda node: type(node) is list and all(type(x) is item for x in node)
        each = _compile(item)
        return lambda node: type(node) is list and all(map(each, node))
    if isinstance(schema, Table):
        values = schema.values
        if isinstance(values, type) and values is not float:
            return lambda node: (type(node) is dict
                                 and all(type(x) is values for x in node.values()))
        each = _compile(values)
        return lambda node: type(node) is dict and all(map(each, node.values()))
    required = [(name, _compile(field)) for name, field in schema.fields.items()
                if not name.endswith("?")]
    optional = [(name[:-1], _compile(field)) for name, field in schema.fields.items()
                if name.endswith("?")]
    keys = {name.rstrip("?") for name in schema.fields}
    closed = schema.closed

    def record(node) -> bool:
        if type(node) is not dict:
            return False
        for name, ok in required:
            if name not in node or not ok(node[name]):
                return False
        for name, ok in optional:
            if name in node and not ok(node[name]):
                return False
        return not closed or node.keys() <= keys

    return record


class _Invalid(Exception):
    pass


_NAMES = {int: "an integer", str: "a string", bool: "true or false", float: "a number",
          NULL: "null", list: "a list", dict: "a table"}


def _check(node: object, schema: Any, path: str) -> None:
    if isinstance(schema, type):
        # bool is an int to Python, never to a capture.
        if type(node) is not schema and not (schema is float and type(node) is int):
            _fail(path, _NAMES.get(schema, schema.__name__), node)
    elif isinstance(schema, tuple):
        for alternative in schema:
            try:
                _check(node, alternative, path)
                return
            except _Invalid:
                if not isinstance(alternative, type) and _kind(node) is _kind(alternative):
                    raise  # the right kind of container, wrong inside: say where
        _fail(path, " or ".join(_describe(a) for a in schema), node)
    elif isinstance(schema, list):
        if type(node) is not list:
            _fail(path, "a list", node)
        for index, item in enumerate(node):
            _check(item, schema[0], f"{path}[{index}]")
    elif isinstance(schema, Table):
        if type(node) is not dict:
            _fail(path, "a table", node)
        for key, value in node.items():
            _check(value, schema.values, _join(path, key))
    else:
        if type(node) is not dict:
            _fail(path, "a table", node)
        for name, field in schema.fields.items():
            key = name.rstrip("?")
            if key in node:
                _check(node[key], field, _join(path, key))
            elif not name.endswith("?"):
                raise _Invalid(f"{_join(path, key)}: missing")
        if schema.closed:
            extra = sorted(set(node) - {name.rstrip("?") for name in schema.fields})
            if extra:
                raise _Invalid(f"{_join(path, extra[0])}: unexpected key")


def _kind(value: Any) -> type | None:
    if isinstance(value, (Record, Table, dict)):
        return dict
    if isinstance(value, list):
        return list
    return None


def _describe(schema: Any) -> str:
    if isinstance(schema, type):
        return _NAMES.get(schema, schema.__name__)
    return "a list" if isinstance(schema, list) else "a table"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _fail(path: str, expected: str, found: object) -> None:
    shown = repr(found)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    kind = _NAMES.get(type(found), type(found).__name__)
    raise _Invalid(f"{path or 'the document'}: expected {expected}, found {kind} {shown}")
