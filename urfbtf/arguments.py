"""Checks of the Python API's arguments, each refusal a `UsageError` that names
the argument, the type it expects and the value it got.

A wrong type would otherwise fail deep inside, in words that name neither:
`convert(model, "urfb", connectivity="0.5")` ended in "'<' not supported
between instances of 'float' and 'str'". The public entry points
(`urfbtf.convert`, `urfbtf.nets.build_net`, the layers, the `Alignment`
callback) check their arguments' types here first, and their values after.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable, Mapping

from urfbtf.errors import UsageError

# A value's repr longer than this (an array of images) is shown by its type.
_LONGEST_REPR = 100


def refuse(argument: str, value, expected: str) -> UsageError:
    """The error for `argument=value`, which should have been `expected`: one
    line, whatever the value (an array is named by its type and shape)."""
    return UsageError(f"{argument}={_shown(value)} is invalid: expected {expected}.")


def _shown(value) -> str:
    kind = type(value).__name__
    text = repr(value)
    if "\n" not in text and len(text) <= _LONGEST_REPR:
        return f"{text} ({kind})"
    shape = getattr(value, "shape", None)
    return f"<{kind} of shape {tuple(shape)}>" if shape is not None else f"<{kind}>"


def check_number(argument: str, value, expected: str = "a number") -> None:
    """A real number (int or float, numpy's too); a bool is not one."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise refuse(argument, value, expected)


def check_integer(
    argument: str, value, expected: str = "an integer", *, optional: bool = False
) -> None:
    """An integer (numpy's too), or None where `optional`; a bool is not one."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise refuse(argument, value, expected)


def check_bool(argument: str, value, expected: str = "True or False") -> None:
    if not isinstance(value, bool):
        raise refuse(argument, value, expected)


def check_str(argument: str, value, expected: str = "a string") -> None:
    if not isinstance(value, str):
        raise refuse(argument, value, expected)


def name_list(argument: str, value, expected: str) -> list[str] | None:
    """`value`, an iterable of strings (not one string, whose letters would be
    taken for names) or None, as a list (a generator is read once, here)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise refuse(argument, value, expected)
    names = list(value)
    if not all(isinstance(name, str) for name in names):
        raise refuse(argument, value, expected)
    return names


def check_mapping(
    argument: str, value, expected: str, *, optional: bool = True
) -> None:
    if value is None and optional:
        return
    if not isinstance(value, Mapping):
        raise refuse(argument, value, expected)


def check_path(argument: str, value, expected: str, *, optional: bool = True) -> None:
    """A path: a string or an `os.PathLike`, or None where `optional`."""
    if value is None and optional:
        return
    if not isinstance(value, (str, os.PathLike)):
        raise refuse(argument, value, expected)
