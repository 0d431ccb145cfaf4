"""pycrm's plugin system: hook specifications, the manager and the built-in plugins."""

from pycrm.plugins.hookspecs import hookimpl, hookspec

__all__ = ["hookimpl", "hookspec"]
