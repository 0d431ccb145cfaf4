"""Reading entity classes' field types (shared by validation, views and storage)."""

import types
import typing
from typing import Any

import attrs

__all__ = ["child_types", "unwrap"]


def unwrap(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (it, False)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False


_CHILDREN: dict[type[Any], dict[str, type[Any]]] = {}


def child_types(cls: type[Any]) -> dict[str, type[Any]]:
    """Fields holding lists of attrs objects (order lines, installments) and their class."""
    if cls in _CHILDREN:
        return _CHILDREN[cls]
    found = {}
    for field in attrs.fields(cls):
        if typing.get_origin(field.type) is list:
            (item,) = typing.get_args(field.type)
            if attrs.has(item):
                found[field.name] = item
    _CHILDREN[cls] = found
    return found
