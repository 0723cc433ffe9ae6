"""The shape of a capture, checked by decoding it into the typed document.

A capture can be valid JSON of the right schema version and still be wrong: a hand
edit, a bad merge or another tool can leave a string where an address belongs or a
list where a table belongs. Read as it is, such a document would pass for fresh and
crash the figure that reads it; checked here when it is read, it counts as missing
(``roads.capture.project``): re-made in ``auto`` mode, an error naming the file and the key in
``frozen`` mode.

The shape is ``roads.document`` (published as ``schema/capture.schema.json``): a
document is valid when msgspec decodes it into ``Capture``. Keys the document does
not declare are accepted, except in the ELF records. The check costs less than
parsing the JSON, and runs once per version of a capture file (``roads.capture.project``
keeps a mark of the digests found valid).
"""

from __future__ import annotations

import json
import re
import typing
from typing import Any, Callable

import msgspec

from .. import document
from ..errors import NESTED

_NAMES = {"int": "an integer", "str": "a string", "bool": "true or false", "float": "a number",
          "object": "a table", "array": "a list", "null": "null"}
_PLACE = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>.*)`)?$", re.S)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")


def problem(doc: object) -> str | None:
    """The first place where ``doc`` departs from the capture document, as
    ``path: what``; None if it does not."""
    try:
        document.from_builtins(doc)
    except msgspec.ValidationError as exc:
        return _describe(doc, str(exc))
    return None


def checked(data: bytes, parsed: Callable[[], object]
            ) -> tuple[document.Capture | None, str | None]:
    """The typed document decoded from the JSON text ``data`` as the figures decode it
    (kept for them), and None; or None and the first place where it departs from the
    capture document, in ``problem``'s words (``parsed`` gives ``data`` as loaded JSON,
    asked for only then). JSON that Python's reader takes and msgspec's does not (an
    escaped lone surrogate, NaN, a number out of range) departs too: the figures could
    not read it."""
    try:
        return document.decode(data), None
    except msgspec.ValidationError as exc:
        doc = parsed()
        found = _describe(doc, str(exc))
        place = _PLACE.match(str(exc))
        line = line_of(data, _resolve(doc, place["path"] or ""))
        return None, (f"line {line}, {found}" if line is not None else found)
    except msgspec.DecodeError as exc:
        return None, f"the document: {str(exc)[:1].lower()}{str(exc)[1:]}"
    except RecursionError:
        return None, f"the document: {NESTED}"


def _describe(doc: object, message: str) -> str:
    """msgspec's message in the words of a capture: keys of tables named (msgspec
    writes ``[...]`` for them), the types as JSON calls them, the value found."""
    place = _PLACE.match(message)
    what, path = place["what"], _resolve(doc, place["path"] or "")
    missing = re.match(r"Object (missing required|contains unknown) field `(.*)`$", what)
    if missing:
        key = _join(path, missing[2])
        return f"{key}: missing" if missing[1].startswith("missing") else f"{key}: unexpected key"
    expected = re.match(r"Expected `(.*)`, got `(.*)`$", what)
    if expected:
        wanted = " or ".join(_NAMES.get(t, t) for t in expected[1].split(" | "))
        found = _NAMES.get(expected[2], expected[2])
        shown = repr(_at(doc, path))
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return f"{path or 'the document'}: expected {wanted}, found {found} {shown}"
    bounded = re.match(r"Expected `(\w+)` (>=|<=|>|<|matching regex) (.*)$", what)
    if bounded:  # a value the kernel or an ELF file cannot give (a negative address)
        wanted = _NAMES.get(bounded[1], bounded[1])
        shown = repr(_at(doc, path))
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return f"{path or 'the document'}: expected {wanted} {bounded[2]} {bounded[3]}, found {shown}"
    return f"{path or 'the document'}: {what[:1].lower()}{what[1:]}"


def _resolve(doc: object, path: str) -> str:
    """``path`` with each ``[...]`` replaced by the key of the table entry that fails."""
    out = ""
    node: Any = doc
    kind: Any = document.Capture
    for match in _STEP.finditer(path):
        name, index = match.groups()
        kind = document.container(kind, node)
        if name is not None:
            out = _join(out, name)
            kind = document.field_types(kind).get(name, Any) if document.is_record(kind) else Any
            node = node.get(name) if isinstance(node, dict) else None
        elif index == "...":
            values = typing.get_args(kind)[1] if typing.get_args(kind) else Any
            key = next((k for k, v in (node or {}).items() if not _fits(v, values)), "?")
            out = _join(out, str(key))
            node, kind = (node or {}).get(key), values
        else:
            out += f"[{index}]"
            kind = typing.get_args(kind)[0] if typing.get_args(kind) else Any
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
    return out


def line_of(data: bytes, path: str) -> int | None:
    """The line of the JSON text ``data`` where the value at ``path`` (``_resolve``'s
    words: keys and ``[index]``) begins, or where the walk to it stopped (a key that is
    missing: the end of the table that lacks it); None where the text is no such JSON.
    A capture is written a record to a line (``freeze.dumps``), so the line names the
    region or the checkpoint."""
    text = data.decode("utf-8", "replace")
    decoder = json.JSONDecoder()

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        return pos

    def next_item(pos: int) -> int:  # past a value and the comma after it
        pos = skip(decoder.raw_decode(text, pos)[1])
        return skip(pos + 1) if text[pos] == "," else pos

    pos = skip(0)
    try:
        for match in _STEP.finditer(path if path.startswith("[") or not path else "." + path):
            name, index = match.groups()
            if name is not None:
                if text[pos] != "{":
                    break
                pos = skip(pos + 1)
                while text[pos] == '"':
                    key, after = json.decoder.scanstring(text, pos + 1)
                    value = skip(skip(after) + 1)  # past the colon
                    if key == name:
                        pos = value
                        break
                    pos = next_item(value)
                else:
                    break  # no such key: the table's end
            else:
                if text[pos] != "[" or index == "...":
                    break
                pos = skip(pos + 1)
                for _ in range(int(index)):
                    pos = next_item(pos)
    except (ValueError, IndexError):
        return None
    return text.count("\n", 0, pos) + 1


def _fits(value: Any, kind: Any) -> bool:
    try:
        msgspec.convert(value, kind)
    except (msgspec.ValidationError, TypeError):
        return False
    return True


def _at(doc: object, path: str) -> Any:
    node: Any = doc
    for match in _STEP.finditer("." + path if path and not path.startswith("[") else path):
        name, index = match.groups()
        if name is not None:
            node = node.get(name) if isinstance(node, dict) else None
        else:
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
    return node


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
