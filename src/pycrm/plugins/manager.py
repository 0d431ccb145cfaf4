"""One plugin manager per CRM: built-ins, entry-point plugins and plugins passed in."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy

from pycrm.errors import PluginError
from pycrm.plugins import hookspecs

__all__ = ["DEFAULT_PLUGINS", "PluginInfo", "make_plugin_manager"]

#: Built-in plugins, registered through the very hooks third parties use.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "pycrm.plugins.default_storage",
    "pycrm.plugins.default_currencies",
    "pycrm.plugins.default_pipelines",
)


class PluginInfo:
    """A loaded plugin: its name, where it came from, and the hooks it implements.

    ``source`` is ``"built-in"``, ``"passed to CRM"`` or ``"entry point <module> from
    <distribution> <version>"``.
    """

    def __init__(self, name: str, source: str, hooks: list[str]) -> None:
        self.name, self.source, self.hooks = name, source, hooks

    def __repr__(self) -> str:
        return f"PluginInfo(name={self.name!r}, source={self.source!r}, hooks={self.hooks!r})"


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as error:
        raise PluginError(f"plugin {name!r} cannot be registered: {error}", plugin=name) from error


def _plugin_name(plugin: object) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return getattr(plugin, "name", None) or type(plugin).__qualname__


def make_plugin_manager(
    extra: Iterable[object] = (),
    *,
    disabled: Iterable[str] = (),
    load_entry_points: bool = True,
) -> tuple[pluggy.PluginManager, list[PluginInfo]]:
    """Build a plugin manager: built-ins, then entry points, then ``extra`` plugins."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    skip = set(disabled)
    infos: list[PluginInfo] = []

    def add(plugin: object, name: str, source: str) -> None:
        if name in skip:
            return
        _register(pm, plugin, name)
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        infos.append(PluginInfo(name, source, hooks))

    for module_name in DEFAULT_PLUGINS:
        add(importlib.import_module(module_name), module_name, "built-in")
    if load_entry_points:
        for ep in entry_points(group=hookspecs.PROJECT):
            if ep.name in skip:
                continue
            try:
                plugin: Any = ep.load()
            except Exception as error:
                raise PluginError(
                    f"plugin {ep.name!r} ({ep.value}) failed to load: {error}", plugin=ep.name
                ) from error
            dist = f" from {ep.dist.name} {ep.dist.version}" if ep.dist else ""
            add(plugin, ep.name, f"entry point {ep.value}{dist}")
    for plugin in extra:
        add(plugin, _plugin_name(plugin), "passed to CRM")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as error:
        name = pm.get_name(error.plugin) or _plugin_name(error.plugin)
        raise PluginError(
            f"plugin {name!r} implements a hook pycrm does not have: {error}", plugin=name
        ) from error
    return pm, infos
