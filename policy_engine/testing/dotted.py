"""Dotted paths into JSON data: ``signal.confidence``, ``exposure.symbol_exposures.0.exposure_pct``.

Scenario ``overrides`` and ``remove`` write through them, expectations and ``diff --value`` read
through them. A segment made of digits indexes a list; any other segment is a mapping key.
"""

from __future__ import annotations

import copy
from typing import Any


class PathError(LookupError):
    """The path does not lead anywhere in the data; the message names the segment that failed."""


MISSING_VALUE = object()


def _parts(path: str) -> list[str]:
    parts = path.split(".")
    if not path or any(part == "" for part in parts):
        raise PathError(f"'{path}' is not a dotted path")
    return parts


def _child(container: Any, part: str, path: str) -> Any:
    if isinstance(container, dict):
        if part not in container:
            raise PathError(f"'{path}': no key '{part}'")
        return container[part]
    if isinstance(container, list) and part.isdigit():
        index = int(part)
        if index >= len(container):
            raise PathError(f"'{path}': index {index} is past the end (length {len(container)})")
        return container[index]
    raise PathError(f"'{path}': cannot read '{part}' of {_kind(container)}")


def _kind(value: Any) -> str:
    return "a list" if isinstance(value, list) else "null" if value is None else type(value).__name__


def get_path(data: Any, path: str) -> Any:
    """The value at ``path``; PathError when a segment is missing."""
    for part in _parts(path):
        data = _child(data, part, path)
    return data


def lookup(data: Any, path: str) -> Any:
    """The value at ``path``, or MISSING_VALUE."""
    try:
        return get_path(data, path)
    except PathError:
        return MISSING_VALUE


def set_path(data: Any, path: str, value: Any) -> None:
    """Set the value at ``path`` in place; the last key may be new, its parents must exist."""
    *parents, last = _parts(path)
    target = data
    for part in parents:
        target = _child(target, part, path)
    if isinstance(target, dict):
        target[last] = copy.deepcopy(value)
    elif isinstance(target, list) and last.isdigit() and int(last) < len(target):
        target[int(last)] = copy.deepcopy(value)
    else:
        raise PathError(f"'{path}': cannot set '{last}' in {_kind(target)}")


def remove_path(data: Any, path: str) -> None:
    """Delete the key (or list item) at ``path`` in place."""
    *parents, last = _parts(path)
    target = data
    for part in parents:
        target = _child(target, part, path)
    _child(target, last, path)  # raises when absent
    if isinstance(target, dict):
        del target[last]
    else:
        del target[int(last)]
