"""Opportunities (deals): creating them in a pipeline, moving them through its stages,
stale deals.

Every move is decided by the opportunity itself (:meth:`pycrm.Opportunity.move_to`,
``win``, ``lose``, ``reopen``): the pipeline's rules, then the plugins' vetoes
(``pycrm_check_transition``), before anything is written; then the opportunity, a
:class:`pycrm.StageTransition` and the audit trail are written in the same unit of work,
and the event the opportunity returned (``opportunity.stage_changed``, ``.won``,
``.lost``, ``.reopened``) is emitted after the commit. A plain ``update`` may not change
the stage, the pipeline or the lost reason, so these rules cannot be bypassed.
"""

from __future__ import annotations

import builtins
import copy
import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Unpack

from pydantic import Field

from pycrm.core.access import Action
from pycrm.core.audit import ChangeAction
from pycrm.core.events import OpportunityTransition
from pycrm.core.ids import new_id
from pycrm.core.opportunities import Opportunity, OpportunityStatus, TransitionCheck
from pycrm.core.pipeline import Stage, StageTransition
from pycrm.errors import RuleViolation, ValidationError
from pycrm.schemas import OpportunityFields, Timestamp, checked_call
from pycrm.services.auditing import audited
from pycrm.services.base import RecordService, _as_id, _check_version
from pycrm.services.lookups import active_user, manager_of
from pycrm.storage.base import AllOf, AnyOf, Condition, Filter, Op, Query, Scope

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["OpportunityService"]

#: Fields only the pipeline actions may change, and the action to use instead.
_GUARDED = {"stage": "move()", "pipeline": "move()", "lost_reason": "lose()"}


class OpportunityService(RecordService[Opportunity]):
    """Opportunities (deals), and moving them through their pipeline."""

    entity = Opportunity
    fields = OpportunityFields
    required = ("customer_id", "name")

    def create(self, **fields: Unpack[OpportunityFields]) -> Opportunity:
        """Create an opportunity; see :class:`pycrm.schemas.OpportunityFields` for the fields."""
        return self._create(fields)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[OpportunityFields],
    ) -> Opportunity:
        """Change some fields; pass ``version`` to refuse if someone changed it since.

        The stage, pipeline and lost reason change only through :meth:`move`,
        :meth:`win`, :meth:`lose` and :meth:`reopen` (RuleViolation otherwise).
        """
        self._refuse_guarded(changes)
        return self._update(record_id, version, changes)

    # -- creating -------------------------------------------------------------------------
    def _build(
        self, uow: UnitOfWork, clean: Mapping[str, Any], record_id: uuid.UUID, now: dt.datetime
    ) -> Opportunity:
        """Fill the pipeline, stage and probability from the pipeline, and check them."""
        values = dict(clean)
        if values.get("lost_reason") is not None:
            raise ValidationError.single(
                "lost_reason", "a new opportunity is open; lose() records the reason"
            )
        pipelines = uow.config.pipelines
        pipeline = (
            pipelines.get_or_error(values["pipeline"])
            if "pipeline" in values
            else pipelines.default
        )
        values["pipeline"] = pipeline.key
        stage = pipeline.stage(values.setdefault("stage", pipeline.first.key))
        if stage.terminal:
            raise ValidationError.single("stage", "a new opportunity starts in an open stage")
        if values.get("probability") is None:
            values["probability"] = stage.probability
        record = super()._build(uow, values, record_id, now)
        record.stage_entered_at = record.created_at
        return record

    def _after_insert(self, uow: UnitOfWork, records: Sequence[Opportunity]) -> None:
        uow.tx.insert([_entered(uow, r) for r in records])

    def _refuse_guarded(self, changes: Mapping[str, Any]) -> None:
        if guarded := sorted(set(changes) & set(_GUARDED)):
            use = ", ".join(f"{name}: use {_GUARDED[name]}" for name in guarded)
            raise RuleViolation(
                f"{', '.join(guarded)} cannot be changed by update() ({use}), so the "
                "pipeline's rules always apply",
                rule="opportunity.use_pipeline_action",
            )

    # -- moving ---------------------------------------------------------------------------
    @checked_call
    def move(
        self, record_id: uuid.UUID | str, *, to: str, version: int | None = None
    ) -> Opportunity:
        """Move an open opportunity to stage ``to`` of its pipeline.

        Refused with :class:`RuleViolation` when the opportunity is closed, the current
        stage may not be followed by ``to`` (or forbids moving back), a field the stage
        requires is empty, or a plugin vetoes it; an unknown stage is a ValidationError.
        """
        return self._transition(
            record_id, version, lambda deal, pipeline, **how: deal.move_to(pipeline, to, **how)
        )

    @checked_call
    def win(self, record_id: uuid.UUID | str, *, version: int | None = None) -> Opportunity:
        """Close an open opportunity as won (probability 100)."""
        return self._transition(
            record_id, version, lambda deal, pipeline, **how: deal.win(pipeline, **how)
        )

    @checked_call
    def lose(
        self, record_id: uuid.UUID | str, *, reason: str | None = None, version: int | None = None
    ) -> Opportunity:
        """Close an open opportunity as lost, for one of the pipeline's lost reasons
        (``crm.pipelines[key].lost_reasons``); without one it is a ValidationError that
        lists them."""

        def retired(uow: UnitOfWork) -> None:
            # A reason the tenant retired from its lost_reason picklist is refused too.
            found = uow.config.picklist_problems("opportunity", {"lost_reason": reason})
            if found:
                raise ValidationError([("reason", why) for _, why in found], entity="opportunity")

        return self._transition(
            record_id,
            version,
            lambda deal, pipeline, **how: deal.lose(pipeline, reason, **how),
            first=retired,
        )

    @checked_call
    def reopen(
        self, record_id: uuid.UUID | str, *, to: str | None = None, version: int | None = None
    ) -> Opportunity:
        """Reopen a won or lost opportunity, into stage ``to`` (default: the stage it was
        closed from). Recorded like any move; the stage's required fields must be filled."""
        return self._transition(
            record_id, version, lambda deal, pipeline, **how: deal.reopen(pipeline, to, **how)
        )

    @checked_call
    def transitions(self, record_id: uuid.UUID | str) -> builtins.list[StageTransition]:
        """Every stage transition of one opportunity, oldest first (its creation first)."""
        rid = _as_id(record_id)
        with self._step(read_only=True) as uow:
            self._load(uow, rid, include_deleted=True)
            query = Query(filters=(Filter("opportunity_id", Op.EQ, rid),), order=_BY_TIME)
            return uow.tx.find(StageTransition, uow.everything, query)  # of a visible deal

    # -- contact and stale deals ----------------------------------------------------------
    @checked_call
    def record_contact(self, record_id: uuid.UUID | str, *, at: Timestamp) -> None:
        """Note that someone was in contact about this deal at ``at`` (activities call it);
        ``last_contact_at`` only moves forward. Deleted or missing deals are skipped."""
        with self._step() as uow:
            record = uow.tx.get(Opportunity, uow.everything, _as_id(record_id))
            if record is None or record.deleted:
                return
            if record.last_contact_at is not None and record.last_contact_at >= at:
                return
            before = audited(record)
            record.last_contact_at = at
            self._save(uow, record, before, ChangeAction.UPDATE)

    @checked_call
    def stale(
        self,
        *,
        pipeline: str | None = None,
        days: Annotated[int, Field(ge=1, le=36_500)] | None = None,
    ) -> builtins.list[Opportunity]:
        """Open opportunities without contact for the stage's (or pipeline's) ``stale_days``
        (at or beyond exactly that many days), or longer in their stage than its
        ``dwell_days``; from one pipeline or all. Ordered by id.

        With ``days``, the threshold is the caller's instead: open opportunities without
        contact for at least ``days`` days, whatever their stage."""
        with self._step(read_only=True) as uow:
            if days is not None:
                return _quiet(uow, pipeline, uow.scope, days)
            return _stale(uow, pipeline, uow.scope)

    @checked_call
    def reassign_stale(
        self, *, to_user: uuid.UUID | str | None = None, pipeline: str | None = None
    ) -> builtins.list[Opportunity]:
        """Give every stale opportunity to ``to_user``, or by default to its owner's manager
        (``User.manager_id``); deals whose owner has no manager keep their owner. Each
        change is audited. Only deals the acting user may transfer are reassigned.
        Returns the reassigned opportunities."""
        with self._step() as uow:
            target = active_user(uow, _as_id(to_user)) if to_user is not None else None
            managers: dict[uuid.UUID, uuid.UUID | None] = {}
            done = []
            for record in _stale(uow, pipeline, uow.access.scope(Action.TRANSFER)):
                new_owner = target or manager_of(uow, record.owner_id, managers)
                if new_owner is None or new_owner == record.owner_id:
                    continue
                before = audited(record)
                record.owner_id = new_owner
                done.append(self._save(uow, record, before, ChangeAction.UPDATE))
            return done

    # -- shared steps ---------------------------------------------------------------------
    def _transition(
        self,
        record_id: uuid.UUID | str,
        version: int | None,
        change: _Change,
        *,
        first: Callable[[UnitOfWork], None] | None = None,
    ) -> Opportunity:
        with self._step() as uow:
            record = self._load(uow, _as_id(record_id), for_update=True)
            _check_version(record, version)
            uow.access.require(Opportunity.kind, Action.MOVE, record)
            if first is not None:
                first(uow)
            pipeline = uow.config.pipelines.get_or_error(record.pipeline)
            before = audited(record)
            event = change(record, pipeline, at=uow.now(), by=uow.user, check=_vetoes(uow))
            saved = self._save(uow, record, before, ChangeAction.UPDATE)
            uow.tx.insert([_transition_of(event, record)])
            if uow.wants_events:
                uow.emit(event)
            return saved


#: How one pipeline action changes a deal (a call of one of its moving methods).
_Change = Callable[..., OpportunityTransition]
_BY_TIME = (("at", False),)


def _transition_of(event: OpportunityTransition, record: Opportunity) -> StageTransition:
    return StageTransition(
        id=new_id(),
        tenant=event.tenant,
        opportunity_id=event.record_id,
        pipeline=event.pipeline,
        from_stage=event.from_stage,
        to_stage=event.to_stage,
        user_id=event.user_id,
        owner_id=record.owner_id,
        at=event.at,
        dwell_ms=event.dwell_ms,
    )


def _entered(uow: UnitOfWork, record: Opportunity) -> StageTransition:
    return StageTransition(
        id=new_id(),
        tenant=record.tenant,
        opportunity_id=record.id,
        pipeline=record.pipeline,
        from_stage=None,
        to_stage=record.stage,
        user_id=uow.user,
        owner_id=record.owner_id,
        at=record.created_at,
    )


def _vetoes(uow: UnitOfWork) -> TransitionCheck:
    """The plugins' last word on a move (``pycrm_check_transition``): all refusals are
    reported together as one RuleViolation."""

    def check(record: Opportunity, source: Stage, target: Stage) -> None:
        answers = uow.crm.hook.pycrm_check_transition(
            opportunity=copy.deepcopy(record), source=source, target=target, user=uow.user
        )
        if vetoes := [str(answer) for answer in answers if answer]:
            raise RuleViolation("; ".join(vetoes), rule="opportunity.plugin_veto")

    return check


def stale_deals(uow: UnitOfWork, now: dt.datetime) -> builtins.list[Opportunity]:
    """Every stale open deal of the tenant at ``now`` (what the sweep warns owners of)."""
    return _stale(uow, None, uow.everything, now)


def _stale(
    uow: UnitOfWork, only: str | None, scope: Scope, now: dt.datetime | None = None
) -> builtins.list[Opportunity]:
    """Open opportunities without contact for their stage's (or pipeline's) stale days, or
    longer in their stage than its dwell days: one query, ordered by id."""
    pipelines = uow.config.pipelines
    chosen = [pipelines.get_or_error(only)] if only is not None else list(pipelines.values())
    now = now or uow.now()
    rules: builtins.list[Condition] = []
    for pipeline in chosen:
        for stage in pipeline.stages:
            tests: builtins.list[Condition] = []
            if days := stage.stale_days or pipeline.stale_days:
                tests.append(_no_contact_since(now - dt.timedelta(days=days)))
            if stage.dwell_days:
                since = now - dt.timedelta(days=stage.dwell_days)
                tests.append(Filter("stage_entered_at", Op.LT, since))
            if tests:
                place = (Filter("pipeline", Op.EQ, pipeline.key), Filter("stage", Op.EQ, stage.key))
                rules.append(AllOf((*place, AnyOf(tuple(tests)))))
    if not rules:
        return []
    open_deals = Filter("status", Op.EQ, OpportunityStatus.OPEN)
    query = Query(filters=(open_deals, AnyOf(tuple(rules))))
    found: builtins.list[Opportunity] = uow.tx.find(Opportunity, scope, query)
    return found


def _quiet(
    uow: UnitOfWork, only: str | None, scope: Scope, days: int
) -> builtins.list[Opportunity]:
    """Open opportunities without contact for at least ``days`` days, ordered by id."""
    filters: builtins.list[Condition] = [
        Filter("status", Op.EQ, OpportunityStatus.OPEN),
        _no_contact_since(uow.now() - dt.timedelta(days=days)),
    ]
    if only is not None:
        filters.append(Filter("pipeline", Op.EQ, uow.config.pipelines.get_or_error(only).key))
    found: builtins.list[Opportunity] = uow.tx.find(
        Opportunity, scope, Query(filters=tuple(filters))
    )
    return found


def _no_contact_since(moment: dt.datetime) -> Condition:
    """Last contact (its creation time if never contacted) at or before ``moment``."""
    return AnyOf(
        (
            Filter("last_contact_at", Op.LTE, moment),
            AllOf(
                (Filter("last_contact_at", Op.IS_NULL, True), Filter("created_at", Op.LTE, moment))
            ),
        )
    )
