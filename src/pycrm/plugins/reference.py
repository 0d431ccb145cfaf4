"""The hook reference (docs/hooks.md), generated from the hook specifications.

``python scripts/hook-reference.py`` rewrites the page; a test fails when the page and
the specifications differ, so the reference cannot drift from the code.
"""

from __future__ import annotations

import inspect
import re

from pycrm.plugins import hookspecs

__all__ = ["render"]

_HEADER = """\
# Hook reference

<!-- Generated from src/pycrm/plugins/hookspecs.py by scripts/hook-reference.py: edit the
hook docstrings there, then run the script. A test fails when this page is out of date. -->

Every extension point of pycrm is a [pluggy](https://pluggy.readthedocs.io) hook. Write a
function with the hook's name, decorate it with `@pycrm.hookimpl`, and name only the
arguments you use (arguments may be added in later versions, never renamed). Hand the
plugin (a module, a class instance or any object) to `pycrm.CRM(..., plugins=[...])`, or
ship it in a package with an entry point in the `pycrm` group; see
[writing-a-plugin.md](writing-a-plugin.md).

{conventions}

| hook | results |
|---|---|
{table}
"""


def _kind(name: str) -> str:
    spec = getattr(getattr(hookspecs, name), f"{hookspecs.PROJECT}_spec", {}) or {}
    if spec.get("firstresult"):
        return "first non-`None` result wins"
    if name.startswith("pycrm_on_"):
        return "called after commit; results ignored"
    return "lists from every plugin are merged"


def _section(name: str) -> str:
    func = getattr(hookspecs, name)
    signature = inspect.signature(func)
    params = ", ".join(signature.parameters)
    returns = signature.return_annotation
    doc = _markdown(inspect.cleandoc(hookspecs.hook_doc(name)))
    return (
        f"## {name}\n\n"
        f"```\n{name}({params}) -> {returns}\n```\n\n"
        f"*Results:* {_kind(name)}.\n\n{doc}\n"
    )


def _markdown(text: str) -> str:
    """Docstring markup as Markdown: ``:class:`x``` and double backquotes become `x`."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def render() -> str:
    """The whole Markdown page."""
    names = hookspecs.hook_names()
    conventions = _markdown(inspect.cleandoc(hookspecs.__doc__ or "").split("\n\n", 1)[-1])
    table = "\n".join(f"| [`{n}`](#{n}) | {_kind(n)} |" for n in names)
    head = _HEADER.format(conventions=conventions, table=table)
    return head + "\n" + "\n".join(_section(n) for n in names)
