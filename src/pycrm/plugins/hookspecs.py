"""Every hook pycrm calls, documented where it is declared.

Conventions: hooks are prefixed ``pycrm_``; arguments are keyword-only and may be added in
later versions but are never renamed, so an implementation names only the arguments it
uses. ``pycrm_register_*`` hooks return lists that are merged; ``pycrm_make_*`` hooks are
*first result*: the first implementation that returns something other than ``None`` wins,
and plugins registered later are asked first (so a third-party plugin overrides a
built-in). ``pycrm_on_*`` hooks are called after a unit of work commits.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pycrm.core.access import RoleDefinition, SharingRule
    from pycrm.core.configuration import Picklist
    from pycrm.core.events import Event
    from pycrm.core.fields import FieldDefinition
    from pycrm.core.matching import MatchRule
    from pycrm.core.money import ExchangeRates
    from pycrm.core.opportunities import Opportunity
    from pycrm.core.pipeline import Pipeline, Stage
    from pycrm.services.sweep import SweepRule
    from pycrm.settings import Settings
    from pycrm.storage.base import StorageBackend

__all__ = ["PROJECT", "hookimpl", "hookspec"]

#: The pluggy project name: plugins' entry points are registered under it.
PROJECT = "pycrm"
#: Marks the functions of this module as the hook specifications.
hookspec = pluggy.HookspecMarker(PROJECT)
#: Decorate a plugin's functions with this to implement a hook.
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec(firstresult=True)
def pycrm_make_storage(url: str, settings: Settings) -> StorageBackend | None:
    """Build the storage backend for a database URL.

    Called once when a :class:`pycrm.CRM` is connected. ``url`` is the URL given to
    ``CRM.connect`` (e.g. ``"sqlite:///sales.db"``, ``"memory://"``); ``settings`` are the
    CRM's settings. Return a :class:`pycrm.storage.base.StorageBackend` for the URL schemes
    your plugin handles and ``None`` for the others. First result wins; when no plugin
    handles a URL, ``CRM.connect`` raises :class:`pycrm.ConfigurationError`.
    """


@hookspec
def pycrm_register_currencies(settings: Settings) -> list[str]:  # type: ignore[empty-body]
    """Currencies the company trades in, as ISO 4217 codes.

    Called when the CRM is built, with the CRM's ``settings``. Lists from every plugin are
    merged; each code must be one babel knows (:class:`pycrm.PluginError` otherwise). The
    built-in plugin registers a few common currencies, the reporting currency and every
    currency named in ``Settings.exchange_rates``. Amounts in other valid ISO currencies
    are still accepted; this list is what reports and user interfaces offer first.
    """


@hookspec(firstresult=True)
def pycrm_make_exchange_rates(settings: Settings) -> ExchangeRates | None:
    """Provide the exchange-rate source reports convert with.

    Called once when the CRM is built. Return an object with a
    ``rate(base, quote, on) -> Decimal`` method (:class:`pycrm.ExchangeRates`) that raises
    :class:`pycrm.ExchangeRateMissing` for unknown pairs or dates, or ``None`` to leave it
    to other plugins. First result wins; the built-in plugin returns the fixed rates of
    ``Settings.exchange_rates``, so a plugin registered later (e.g. with dated rates from a
    bank feed) takes precedence over it.
    """


@hookspec
def pycrm_register_fields(settings: Settings) -> list[FieldDefinition]:  # type: ignore[empty-body]
    """Custom fields the plugin adds to entities, as :class:`pycrm.FieldDefinition` objects.

    Called once when the CRM is built, with the CRM's ``settings``. Lists from every plugin
    are merged; two plugins defining the same ``(entity, key)`` is a
    :class:`pycrm.PluginError`, and so is returning anything but field definitions. The
    host application can add, change and remove definitions later with
    ``crm.fields.define(...)`` and ``crm.fields.remove(...)``; stored values are never
    touched by either.
    """


@hookspec
def pycrm_on_event(event: Event, crm: Any) -> None:
    """React to something that happened, after the unit of work that did it committed.

    Called once per event and handler, in the order the events happened. ``event`` is a
    frozen :class:`pycrm.Event`: ``event.name`` (``"customer.created"``,
    ``"payment.received"``...), the record's ``entity`` kind and ``record_id``, ``tenant``,
    the acting ``user_id``, the time ``at``, the changed fields as
    ``changes={field: (old, new)}`` (custom fields as ``"custom.<key>"``) and, for domain
    events, their details in ``data``. ``crm`` is the :class:`pycrm.CRM` that emitted it; a
    handler may start its own unit of work on it. Return values are ignored.

    Events of a unit of work that rolled back are never emitted. Events are written in the
    transaction of the change they report (an outbox) and delivered **at least once**: if
    the process stops between its commit and the delivery, ``crm.deliver_pending_events``
    (or ``pycrm deliver-events``) delivers them later, so a handler that must not act twice
    ignores an ``event.id`` it has seen. Each handler is called on its own: one that
    raises does not undo the committed data and does not stop the other handlers or later
    events; the exception is logged (logger ``"pycrm"``) and kept as
    ``(event, error)`` in ``crm.event_errors``. The events pycrm emits are listed in
    ``docs/reacting-to-events.md``.
    """


@hookspec
def pycrm_register_pipelines() -> list[Pipeline]:  # type: ignore[empty-body]
    """Sales pipelines opportunities can move through.

    Called once when the CRM is built. Return a list of :class:`pycrm.Pipeline` objects;
    lists from every plugin are merged into ``crm.pipelines``. Two pipelines with one key
    are refused with :class:`pycrm.PluginError`. The built-in plugin registers ``"b2b"``
    and ``"eight_step"``; ``Settings.default_pipeline`` names the one new opportunities
    go into when none is given (``"b2b"`` when it is registered).
    """


@hookspec
def pycrm_register_picklists() -> list[Picklist]:  # type: ignore[empty-body]
    """Picklists (dictionaries) every tenant starts from, as :class:`pycrm.Picklist` objects.

    Called once when the CRM is built; lists from every plugin are merged into
    ``crm.picklists``, and a later plugin's list of the same name replaces an earlier one's
    (so a plugin can give the built-in ``industry`` list its keys). A tenant changes its
    own copy with ``uow.configuration.set_picklist(...)``. The built-in plugin registers
    the lists of the fields in :data:`pycrm.core.configuration.PICKLIST_FIELDS`: the fixed
    ones (source, customer type and status, contact role, ticket type and channel, activity
    type) with their keys and labels in zh_CN, en_US and ja_JP, ``lost_reason`` (the labels
    of the reasons pipelines offer), and ``industry``, ``customer_level`` and ``region``
    without keys (free text until a tenant gives keys).
    """


@hookspec
def pycrm_check_transition(
    opportunity: Opportunity, source: Stage, target: Stage, user: uuid.UUID
) -> str | None:
    """Veto a move of an opportunity from one stage to another.

    Called by ``move``, ``win``, ``lose`` and ``reopen`` after the pipeline's own rules
    passed and before anything is written. ``opportunity`` is the :class:`pycrm.Opportunity`
    as it is now (do not change it); ``source`` and ``target`` are :class:`pycrm.Stage`
    objects (for won and lost, ``pipeline.won``/``pipeline.lost``, with keys ``"won"`` and
    ``"lost"``; when reopening, ``source`` is the terminal state); ``user`` is the acting
    user's id. Return a string to refuse, written for the person who asked (it becomes the
    message of a :class:`pycrm.RuleViolation` with ``rule="opportunity.plugin_veto"``), or
    ``None`` to allow. Every implementation is called; all refusals are reported together.
    """


@hookspec
def pycrm_register_roles() -> list[RoleDefinition]:  # type: ignore[empty-body]
    """Roles users can hold, as :class:`pycrm.RoleDefinition` objects.

    Called once when the CRM is built. Lists from every plugin are merged into
    ``crm.roles``; two roles with one key are refused with :class:`pycrm.PluginError`. The
    built-in plugin ``pycrm.plugins.default_roles`` registers ``admin``, ``executive``,
    ``sales_director``, ``sales_rep`` (the MyCRM rule), ``order_assistant`` and
    ``service_agent``; disable it to replace them. A user's ``roles`` must name
    registered roles.
    """


@hookspec
def pycrm_register_sharing_rules() -> list[SharingRule]:  # type: ignore[empty-body]
    """Rules that share records automatically, as :class:`pycrm.SharingRule` objects.

    Called once when the CRM is built; lists from every plugin are merged. Each rule's
    condition is data (a query condition that may use :func:`pycrm.current_user`), so it
    runs inside every query. The built-in plugin shares with order assistants the
    customers whose orders they entered.
    """


@hookspec
def pycrm_register_sweep_rules() -> list[SweepRule]:  # type: ignore[empty-body]
    """Time-based rules :meth:`pycrm.CRM.sweep` runs, as :class:`pycrm.SweepRule` objects
    (a ``key`` and ``run(uow, now) -> int``).

    Called once when the CRM is built; lists from every plugin are merged, and rules run
    in that order (the built-in ones first), in one unit of work as
    :data:`pycrm.SYSTEM_USER`, each in a savepoint of its own (a rule that fails is undone
    and reported, the others commit). A rule raises through :func:`pycrm.raise_alerts` after
    :func:`pycrm.fresh_alerts` drops what was raised before, so a second sweep at the
    same time raises nothing new.
    """


@hookspec
def pycrm_register_match_rules() -> list[MatchRule]:  # type: ignore[empty-body]
    """Rules that find likely duplicate customers, contacts or leads, as
    :class:`pycrm.MatchRule` objects (a kind, the fields it reads, a normaliser — built-in
    by name or a function — and whether it warns or blocks).

    Called once when the CRM is built; lists from every plugin are merged, and a key may
    be registered once. The built-in plugin's rules all warn: register a blocking rule
    (``action="block"``) to refuse a save, or disable ``pycrm.plugins.default_matching``
    to replace them. Changing the rules of a stored tenant means recomputing its keys
    (:meth:`pycrm.services.duplicates.DuplicateService.rebuild`).
    """


@hookspec
def pycrm_narrow_scope(user: uuid.UUID, roles: tuple[str, ...], entity: str, action: str) -> Any:
    """Narrow what a user may reach: return a query condition records of ``entity`` must
    also meet for ``action`` (e.g. a territory: ``Filter("region", Op.IN, regions)``), or
    ``None`` to leave it.

    Called when a unit of work first needs the scope of ``action`` on ``entity`` for the
    acting ``user`` (with their ``roles``); not called for ``SYSTEM_USER``. Every returned
    condition must hold. Conditions are data (``pycrm.storage.query``), so they run inside
    the query on every backend.
    """


@hookspec
def pycrm_check_permission(user: uuid.UUID, entity: str, action: str, record: Any) -> str | None:
    """Veto an action on one record the user's rights allow.

    Called before ``action`` (``"create"``, ``"edit"``, ``"delete"``, ``"move"``…) is
    applied to ``record`` (as it would be written) by ``user``; not called for
    ``SYSTEM_USER``. Return a string to refuse, written for the person who asked (it
    becomes a :class:`pycrm.PermissionDenied`), or ``None`` to allow. Every implementation
    is called; all refusals are reported together.
    """


def hook_names() -> list[str]:
    """Names of every declared hook, for documentation and tests."""
    return sorted(name for name in globals() if name.startswith("pycrm_"))


def hook_doc(name: str) -> str:
    func: Any = globals()[name]
    return str(func.__doc__ or "")
