"""Griffe extension: the API reference reads the Sphinx markup the docstrings are written in.

pycrm's docstrings are prose with reStructuredText literals and Sphinx roles
(``:class:`Money```), and constants are documented by ``#:`` comments. mkdocstrings would
print the roles as they are and drop the comments, so once the package is loaded this
extension rewrites each docstring:

- a role becomes a cross-reference, its name looked up as Python would from where the
  docstring stands (the object, its class, its module, what the module imports). A name
  that exists but is not in the reference stays plain code, and so does a builtin or
  another package's module; any other name becomes a link autorefs cannot resolve, which
  fails ``mkdocs build --strict``;
- the ``#:`` comment above a module or class attribute becomes its docstring;
- a paragraph ending in ``::`` (a literal block follows) ends in ``:``, and a doctest
  block (``>>>`` at the margin) becomes a code block.

Instance attributes that ``__init__`` sets are listed without the expression that computes
them, and so are attributes whose value is longer than ``LONGEST_VALUE``. Undocumented
dunder methods (``__eq__``, ``__add__``…) are left out: they are Python's protocols,
documented by the operators themselves.
"""

from __future__ import annotations

import builtins
import importlib.util
import re
from typing import Any

from griffe import (
    Alias,
    AliasResolutionError,
    Attribute,
    CyclicAliasError,
    Docstring,
    Extension,
    GriffeLoader,
    Module,
    NameResolutionError,
    Object,
)

#: ``:role:`target``` or ``:role:`~target```, the tilde showing only the last name.
ROLE = re.compile(r":(?:class|meth|func|data|mod|attr|exc|obj|const):`(~?)([\w.]+)`")
#: A paragraph's closing ``::`` that announces a literal block: as in reStructuredText,
#: ``text::`` shows ``text:``, and ``text ::`` or ``::`` alone show nothing of it.
LITERAL_MARKER = re.compile(r"(?<=\S)(::)$|[ \t]*::$", re.M)
#: A doctest block: from a ``>>>`` line at the margin to the next blank line.
DOCTEST = re.compile(r"^(>>> .*(?:\n(?!\s*$).*)*)", re.M)
#: Characters of an attribute's value the heading shows; longer values are data tables
#: (``SAMPLES``, ``EVENT_TYPES``), which the docstring describes better.
LONGEST_VALUE = 200


class SphinxMarkup(Extension):
    """Rewrite every docstring of a package once it is loaded (see the module doc)."""

    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        """Rewrite the docstrings of ``pkg`` and of everything defined in it."""
        for obj in _defined_in(pkg):
            if isinstance(obj, Attribute):
                _tidy_attribute(obj)
            if obj.docstring is not None:
                obj.docstring.value = _markdown(obj.docstring.value, obj)
            if obj.is_class:
                for name in [name for name, member in obj.members.items() if _bare_dunder(member)]:
                    obj.del_member(name)


def _markdown(text: str, obj: Object) -> str:
    text = ROLE.sub(lambda match: _reference(match, obj), text)
    text = LITERAL_MARKER.sub(lambda match: ":" if match.group(1) else "", text)
    return DOCTEST.sub(r"```pycon\n\1\n```", text)


def _tidy_attribute(attr: Attribute) -> None:
    if attr.docstring is None and (comment := _comment_above(attr)):
        attr.docstring = Docstring(comment, lineno=attr.lineno, parent=attr)
    if attr.parent is not None and attr.parent.is_class and attr.labels == {"instance-attribute"}:
        attr.value = None  # set in a method such as __init__: the code is not the reference
    if attr.value is not None and len(str(attr.value)) > LONGEST_VALUE:
        attr.value = None


def _bare_dunder(member: Object | Alias) -> bool:
    # ``__init__`` stays: its parameters are the class's signature.
    name = member.name
    special = name.startswith("__") and name.endswith("__") and name != "__init__"
    return special and member.docstring is None


def _defined_in(obj: Object) -> list[Object]:
    found = [obj]
    for member in obj.members.values():
        if not isinstance(member, Alias):
            found += _defined_in(member)
    return found


def _comment_above(obj: Object) -> str:
    try:
        lines = obj.lines_collection[obj.filepath]  # type: ignore[index]
    except (KeyError, TypeError):
        return ""
    if not obj.lineno:
        return ""
    comment: list[str] = []
    index = obj.lineno - 2
    while index >= 0 and lines[index].strip().startswith("#:"):
        comment.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    return "\n".join(comment)


def _reference(match: re.Match[str], obj: Object) -> str:
    short, target = match.group(1), match.group(2)
    title = f"<code>{target.rsplit('.', 1)[-1] if short else target}</code>"
    path = _resolve(target, obj)
    if path is None and not _outside(target, obj):
        # Left to autorefs, which reports it: the docstring names something that is gone.
        return f"[{title}][{target}]"
    return f'<autoref identifier="{path or target}" optional>{title}</autoref>'


def _outside(target: str, obj: Object) -> bool:
    """Whether ``target`` names a builtin or another package's module (``contextvars``),
    which the reference shows as code."""
    first = target.lstrip(".").split(".", 1)[0]
    if target.startswith(".") or first == obj.package.name:
        return False
    return hasattr(builtins, first) or importlib.util.find_spec(first) is not None


def _resolve(target: str, obj: Object) -> str | None:
    """The canonical path of what ``target`` names in the scope of ``obj``, if it exists."""
    module = obj.module
    if target.startswith("."):
        package = module.path if module.is_init_module else module.path.rsplit(".", 1)[0]
        path = package + target
    elif target.split(".", 1)[0] == obj.package.name:
        path = target
    else:
        first, _, rest = target.partition(".")
        try:
            path = obj.resolve(first) + (f".{rest}" if rest else "")
        except NameResolutionError:
            return None
    try:
        return str(obj.modules_collection[path].canonical_path)
    except (KeyError, AliasResolutionError, CyclicAliasError):
        return None
