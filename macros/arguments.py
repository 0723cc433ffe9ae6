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
from collections.abc import Iterator

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
        if hint is None or admits(hint, value):
            continue
        if _undefined(value):
            undefined = getattr(value, "_undefined_name", None)
            what = f"{undefined!r} is not defined" if undefined else "the value is not defined"
            raise ConfigError(f"{function.__name__}(): {name}: {what}")
        # A filter's result (select, map) or a range is not yet a list: |list makes one.
        hint_more = " (add |list to make it one)" if (
            list in map(_outer, _alternatives(hint)) and isinstance(value, (Iterator, range))
        ) else ""
        raise ConfigError(f"{function.__name__}(): {name} must be {describe(hint)}, "
                          f"got {_shown(value)}{hint_more}")


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


def _outer(kind: object) -> object:
    return typing.get_origin(kind) or kind


def admits(hint: object, value: object) -> bool:
    """Whether ``value`` is of the type ``hint`` (its outer type only: a list's items
    are the macro's to check). True for a type this module does not know."""
    for kind in map(_outer, _alternatives(hint)):
        if kind is typing.Any or kind not in _WORDS:
            return True
        if kind is type(None):
            if value is None:
                return True
        elif kind is list:  # Jinja writes (a, b) as a tuple
            if isinstance(value, (list, tuple)):
                return True
        elif kind is int or kind is float:  # true is not a number here; 3 is a float's
            if isinstance(value, (int, kind)) and not isinstance(value, bool):
                return True
        elif isinstance(value, kind):
            return True
    return False


def describe(hint: object) -> str:
    """``hint`` as an author reads it: "text in quotes or none"."""
    return " or ".join(_WORDS.get(k, str(k)) for k in map(_outer, _alternatives(hint)))


def _undefined(value: object) -> bool:
    return type(value).__name__.endswith("Undefined")  # jinja2's Undefined and its kinds


def _shown(value: object) -> str:
    """The value as a template writes it (true, none, 'text'), shortened."""
    if value is True or value is False or value is None:
        return str(value).lower()
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
