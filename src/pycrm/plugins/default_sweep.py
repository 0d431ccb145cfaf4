"""Built-in sweep rules: reminders, SLA warnings, breaches and escalations, dunning, stale
deals, birthdays, care days and the public pools' recycling (see
:mod:`pycrm.services.sweep_rules`). Disable this plugin (``Settings.disabled_plugins``) to
run only your own rules."""

from __future__ import annotations

from typing import Any

from pycrm.plugins.hookspecs import hookimpl


@hookimpl
def pycrm_register_sweep_rules() -> list[Any]:
    from pycrm.services.sweep_rules import BUILT_IN_RULES

    return list(BUILT_IN_RULES)
