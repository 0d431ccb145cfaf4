"""MkDocs hook: every public name the API reference shows must have a docstring.

mkdocstrings renders an undocumented object as a bare heading and builds without a word,
so a new public function could reach the reference with nothing to say. This hook imports
each object named by a ``::: identifier`` line of the reference pages and logs a warning
(which ``mkdocs build --strict`` turns into a failed build) for every public name under it
that has no docstring: a module's ``__all__`` (or the ``members`` the directive lists), a
class and its public methods and properties, a function. Constants count as documented
by a ``#:`` comment above their assignment or a string literal below it.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import yaml

log = logging.getLogger("mkdocs.hooks.public_docstrings")

#: A ``::: identifier`` line and the indented YAML options below it.
DIRECTIVE = re.compile(r"^::: +([\w.]+) *\n((?:[ \t]+\S.*\n|[ \t]*\n)*)", re.M)


def resolve(identifier: str) -> Any:
    """The object a dotted identifier names: the longest importable module, then attributes."""
    parts = identifier.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(f"cannot import {identifier}")


def directives(markdown: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each identifier of a page with the options given below it."""
    for match in DIRECTIVE.finditer(markdown):
        block = yaml.safe_load(match.group(2)) if match.group(2).strip() else None
        yield match.group(1), dict((block or {}).get("options") or {})


def undocumented(obj: Any, name: str, options: dict[str, Any] | None = None) -> list[str]:
    """Dotted names of the public objects under ``obj`` (itself called ``name``) that have
    no docstring. ``options`` are the directive's: ``members`` lists the names to show,
    ``filters`` (regular expressions, ``!`` to exclude) select them as mkdocstrings does;
    without either a module shows its ``__all__``."""
    options = options or {}
    members = options.get("members")
    filters = options.get("filters")
    rules = filters if isinstance(filters, list) else ["!^_"]
    missing = [] if _own_doc(obj) else [name]
    if inspect.ismodule(obj):
        if isinstance(members, list):
            names = members
        elif isinstance(filters, list):
            names = [n for n in _exported_or_defined(obj) if _keep(n, rules)]
        else:
            names = list(getattr(obj, "__all__", _exported_or_defined(obj)))
        for member in names:
            value = getattr(obj, member)
            if inspect.isclass(value) or inspect.isroutine(value):
                missing += undocumented(value, f"{name}.{member}", {"filters": rules})
            elif not _constant_documented(obj, member):
                missing.append(f"{name}.{member}")
    elif inspect.isclass(obj):
        for member, value in vars(obj).items():
            shown = member in members if isinstance(members, list) else _keep(member, rules)
            public = shown and not member.startswith("_") and _is_method(value)
            if public and not _own_doc(getattr(value, "__func__", value)):
                missing.append(f"{name}.{member}")
    return missing


def _own_doc(obj: Any) -> bool:
    # Only the object's own docstring counts: the reference shows nothing inherited.
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    return bool(doc and doc.strip())


def _is_method(value: Any) -> bool:
    # Routines include classmethods, staticmethods and pytest fixtures.
    return inspect.isroutine(value) or isinstance(value, property)


def _keep(name: str, rules: list[str]) -> bool:
    """Whether mkdocstrings shows a member called ``name`` under these filters."""
    keep = None
    for rule in rules:
        if re.search(rule.removeprefix("!"), name):
            keep = not rule.startswith("!")
    if keep is None:
        # With inclusions only, a name that matches none is left out; otherwise it stays.
        return not rules or any(rule.startswith("!") for rule in rules)
    return keep


def _exported_or_defined(module: ModuleType) -> list[str]:
    """The names in ``__all__`` and those the module's own source defines at top level."""
    names = list(getattr(module, "__all__", []))
    try:
        body = ast.parse(inspect.getsource(module)).body
    except (OSError, TypeError):
        body = []
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        names += sorted(_assigned(node))
    return list(dict.fromkeys(names))


def _constant_documented(module: ModuleType, name: str) -> bool:
    """Whether the assignment of ``name`` in ``module`` (or in the module it is imported
    from) has a ``#:`` comment above it or a string literal below it."""
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return False  # no source to read the comment from
    lines = source.splitlines()
    body = ast.parse(source).body
    for index, node in enumerate(body):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    origin = importlib.import_module(node.module)
                    return _constant_documented(origin, alias.name)
        if name in _assigned(node):
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            after = body[index + 1] if index + 1 < len(body) else None
            literal = (
                isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            )
            return above.startswith("#:") or literal
    return False


def _assigned(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Warn once for each public name under the page's directives that has no docstring."""
    for identifier, options in directives(markdown):
        for missing in undocumented(resolve(identifier), identifier, options):
            log.warning(
                "%s: %s has no docstring (public names in the reference need one)",
                page.file.src_uri,
                missing,
            )
    return markdown
