"""One plugin manager per CRM: built-ins, entry-point plugins and plugins passed in.

Hooks are called through pluggy (``pm.hook.pycrm_x(...)``), so everything pluggy documents
works: ``firstresult``, ``tryfirst``/``trylast``, ``wrapper=True`` and old-style
``hookwrapper=True`` implementations. So that a failure still names its plugin, each
implementation is wrapped when it is registered: an exception other than a
:class:`pycrm.CRMError` becomes a :class:`pycrm.PluginError` naming the plugin and the hook,
and what a ``pycrm_register_*`` hook returns is remembered with the plugin that returned
it (:meth:`Plugins.origin`).
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable, Generator, Iterable
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy

from pycrm.errors import CRMError, PluginError
from pycrm.plugins import hookspecs

__all__ = ["DEFAULT_PLUGINS", "PluginInfo", "Plugins", "make_plugin_manager"]

log = logging.getLogger("pycrm")

#: Called with the event and the error when an event handler fails.
OnHandlerError = Callable[[Any, BaseException], None]

#: Built-in plugins, registered through the very hooks third parties use.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "pycrm.plugins.default_storage",
    "pycrm.plugins.default_currencies",
    "pycrm.plugins.default_pipelines",
    "pycrm.plugins.default_roles",
    "pycrm.plugins.default_picklists",
    "pycrm.plugins.default_sweep",
    "pycrm.plugins.default_matching",
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


class Plugins:
    """The plugin manager of one CRM, the loaded plugins, and where registered items came
    from."""

    def __init__(self, pm: pluggy.PluginManager, on_handler_error: OnHandlerError) -> None:
        self.pm = pm
        self.infos: list[PluginInfo] = []
        self._origins: dict[int, str] = {}
        self._on_handler_error = on_handler_error

    def origin(self, result: object) -> str | None:
        """The plugin whose ``pycrm_register_*`` hook returned ``result`` (None if none did),
        asked while the hook's results are at hand."""
        return self._origins.get(id(result))

    def register(self, plugin: object, name: str) -> None:
        """Register one plugin and wrap its hook implementations (see the module doc)."""
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as error:
            # pluggy's own text names the plugin by its repr; say it with our name.
            why = " ".join(str(error).split("\n")[1:]) or "it is not a valid plugin"
            raise PluginError(
                f"plugin {name!r} cannot be registered: {why}", plugin=name
            ) from error
        for caller in self.pm.get_hookcallers(plugin) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin:
                    # pluggy calls impl.function with the arguments it names; the wrapper
                    # keeps them (functools.wraps) and only adds the plugin's name to errors.
                    impl.function = self._wrapped(impl, caller.name)  # type: ignore[misc]

    def _wrapped(self, impl: Any, hook: str) -> Callable[..., Any]:
        function, plugin = impl.function, impl.plugin_name
        if impl.wrapper or impl.hookwrapper:
            return _named_wrapper(function, plugin, hook)
        if hook == "pycrm_on_event":
            return _isolated(function, plugin, impl.argnames, self._on_handler_error)
        origins = self._origins if hook.startswith("pycrm_register_") else None
        return _named(function, plugin, hook, origins)


def _failure(error: Exception, plugin: str, hook: str) -> PluginError:
    return PluginError(f"plugin {plugin!r} failed in {hook}: {error}", plugin=plugin)


def _named(
    function: Callable[..., Any], plugin: str, hook: str, origins: dict[int, str] | None
) -> Callable[..., Any]:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            result = function(*args, **kwargs)
        except CRMError:
            raise
        except Exception as error:
            raise _failure(error, plugin, hook) from error
        if origins is not None and result is not None:
            # Looked up while the result is alive, right after the hook call.
            origins[id(result)] = plugin
        return result

    return call


def _named_wrapper(
    function: Callable[..., Any], plugin: str, hook: str
) -> Callable[..., Generator[Any, Any, Any]]:
    """A wrapper implementation whose own failures name its plugin; what the wrapped call
    raises passes through it untouched, as pluggy hands it over."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        inner = function(*args, **kwargs)
        try:
            first = next(inner)
        except StopIteration:
            return None  # pluggy reports a wrapper that did not yield
        except CRMError:
            raise
        except Exception as error:
            raise _failure(error, plugin, hook) from error
        try:
            sent = yield first
        except BaseException as raised:
            try:
                inner.throw(raised)
            except StopIteration as stop:
                return stop.value
            except BaseException as error:
                if error is raised or isinstance(error, CRMError):
                    raise
                if isinstance(error, Exception):
                    raise _failure(error, plugin, hook) from error
                raise
            raise RuntimeError(f"wrapper of plugin {plugin!r} in {hook} yielded twice") from None
        try:
            inner.send(sent)
        except StopIteration as stop:
            return stop.value
        except CRMError:
            raise
        except Exception as error:
            raise _failure(error, plugin, hook) from error
        raise RuntimeError(f"wrapper of plugin {plugin!r} in {hook} yielded twice")

    return call


def _isolated(
    function: Callable[..., Any],
    plugin: str,
    argnames: tuple[str, ...],
    report: OnHandlerError,
) -> Callable[..., Any]:
    """An event handler that never stops the others: its error is logged and reported."""
    position = argnames.index("event") if "event" in argnames else None

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> None:
        try:
            function(*args, **kwargs)
        except Exception as error:  # a handler must never undo a commit or stop the rest
            event = args[position] if position is not None else kwargs.get("event")
            log.exception(
                "event handler of plugin %r failed for %s %s",
                plugin,
                getattr(event, "name", "?"),
                getattr(event, "record_id", "?"),
            )
            report(event, error)

    return call


def _plugin_name(plugin: object) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return getattr(plugin, "name", None) or type(plugin).__name__


def make_plugin_manager(
    extra: Iterable[object] = (),
    *,
    disabled: Iterable[str] = (),
    load_entry_points: bool = True,
    on_handler_error: OnHandlerError = lambda event, error: None,
) -> Plugins:
    """Build a plugin manager: built-ins, then entry points, then ``extra`` plugins.

    ``on_handler_error(event, error)`` is told about every event handler that fails.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    plugins = Plugins(pm, on_handler_error)
    skip = set(disabled)

    def add(plugin: object, name: str, source: str) -> None:
        if name in skip:
            return
        plugins.register(plugin, name)
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        plugins.infos.append(PluginInfo(name, source, hooks))

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
        unknown = sorted(
            caller.name for caller in pm.get_hookcallers(error.plugin) or [] if caller.spec is None
        )
        raise PluginError(
            f"plugin {name!r} implements {', '.join(unknown)}, which is not a pycrm hook "
            "(a misspelling? see docs/hooks.md for every hook)",
            plugin=name,
        ) from error
    return plugins
