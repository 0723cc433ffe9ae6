"""The types of a macro's arguments, checked against its annotations before it runs.

A page passes what Jinja makes of its text: ``value('brk', 42)`` hands a number where a
path goes, ``memory_map(['brk'])`` a list where a sample's name goes, and
``address_space('brk', table='no')`` a string where true or false goes (a non-empty
string reads as true). Each is the author's mistake, said in words at the page's line,
not an "internal error" from deep in the engine, nor an argument silently read the
wrong way.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing

from roads.errors import ConfigError

# What an author writes for each type, in the words of a Jinja template.
_WORDS = {
    str: "text in quotes",
    int: "a whole number",
    float: "a number",
    bool: "true or false, unquoted",
    list: "a list in brackets",
    dict: "a mapping in braces",
    type(None): "none",
}


def check(function, bound: inspect.BoundArguments) -> None:
    """ConfigError naming the first argument of ``bound`` whose value its annotation in
    ``function`` does not admit. Annotations this module cannot read admit anything."""
    hints = _hints(function)
    for name, value in bound.arguments.items():
        hint = hints.get(name)
        if hint is not None and not admits(hint, value):
            raise ConfigError(f"{function.__name__}(): {name} must be {describe(hint)}, "
                              f"got {_shown(value)}")


@functools.cache
def _hints(function) -> dict[str, object]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve checks nothing
        return {}


def _alternatives(hint: object) -> tuple[object, ...]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


def admits(hint: object, value: object) -> bool:
    """Whether ``value`` is of the type ``hint`` (its outer type only: a list's items
    are the macro's to check). True for a type this module does not know."""
    for kind in _alternatives(hint):
        kind = typing.get_origin(kind) or kind
        if kind is typing.Any or kind not in _WORDS:
            return True
        if kind is type(None):
            if value is None:
                return True
        elif kind is list:  # Jinja writes (a, b) as a tuple
            if isinstance(value, (list, tuple)):
                return True
        elif kind is int or kind is float:  # true is not a number here
            if isinstance(value, kind) and not isinstance(value, bool):
                return True
        elif isinstance(value, kind):
            return True
    return False


def describe(hint: object) -> str:
    """``hint`` as an author reads it: "text in quotes or none"."""
    return " or ".join(_WORDS.get(typing.get_origin(k) or k, str(k))
                       for k in _alternatives(hint))


def _shown(value: object) -> str:
    """The value as the page wrote it, shortened; Jinja's undefined by its name."""
    if type(value).__name__.endswith("Undefined"):
        name = getattr(value, "_undefined_name", None)
        return f"{name!r}, which is not defined" if name else "an undefined value"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
