"""Moving opportunities through their pipeline: move, win, lose, reopen, stale deals.

Every move is checked against the pipeline's rules and the plugins' vetoes
(``pycrm_check_transition``) before anything is written; then the opportunity, a
:class:`pycrm.StageTransition` row and the audit trail are written in the same unit of
work, and an event (``opportunity.stage_changed``, ``.won``, ``.lost``, ``.reopened``) is
emitted after the commit. A plain ``update`` may not change the stage, the pipeline or the
lost reason, so these rules cannot be bypassed.
"""

from __future__ import annotations

import builtins
import copy
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pycrm.core.audit import ChangeAction
from pycrm.core.events import Event
from pycrm.core.ids import new_id
from pycrm.core.opportunities import Opportunity, OpportunityStatus
from pycrm.core.org import User
from pycrm.core.pipeline import Pipeline, Stage, StageTransition, epoch_ms
from pycrm.core.pipeline import missing_fields as _missing
from pycrm.errors import NotFound, RuleViolation, ValidationError
from pycrm.schemas import Timestamp, checked_call
from pycrm.services.auditing import audited
from pycrm.services.base import RecordService, _as_id, _check_version
from pycrm.storage.base import StaleRule

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["OpportunityFlow"]

#: Fields only the pipeline actions may change, and the action to use instead.
_GUARDED = {"stage": "move()", "pipeline": "move()", "lost_reason": "lose()"}


class OpportunityFlow(RecordService[Opportunity]):
    """The pipeline actions of the opportunity service."""

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
        pipelines = uow.crm.pipelines
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
        uow.tx.add_transitions([_entered(uow, r) for r in records])

    def _refuse_guarded(self, changes: Mapping[str, Any]) -> None:
        if guarded := sorted(set(changes) & set(_GUARDED)):
            use = ", ".join(f"{name}: use {_GUARDED[name]}" for name in guarded)
            raise RuleViolation(
                f"{', '.join(guarded)} cannot be changed by update() ({use}), so the "
                "pipeline's rules always apply",
                rule="use_pipeline_action",
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
        with self._step() as uow:
            record, pipeline = self._open(uow, record_id, version)
            source, target = pipeline.stage(record.stage), pipeline.stage(to)
            if target.terminal:
                raise ValidationError.single(
                    "to", f"{to!r} is not a stage; use win() or lose() to close a deal"
                )
            pipeline.check_move(source, target)
            _check_required(record, target)
            return self._transition(uow, record, source, target, "stage_changed", stage=target.key)

    @checked_call
    def win(self, record_id: uuid.UUID | str, *, version: int | None = None) -> Opportunity:
        """Close an open opportunity as won (probability 100)."""
        with self._step() as uow:
            record, pipeline = self._open(uow, record_id, version)
            source = pipeline.stage(record.stage)
            pipeline.check_move(source, pipeline.won)
            return self._transition(
                uow, record, source, pipeline.won, "won", status=OpportunityStatus.WON
            )

    @checked_call
    def lose(
        self, record_id: uuid.UUID | str, *, reason: str, version: int | None = None
    ) -> Opportunity:
        """Close an open opportunity as lost, for one of the pipeline's lost reasons."""
        with self._step() as uow:
            record, pipeline = self._open(uow, record_id, version)
            pipeline.check_reason(reason)
            source = pipeline.stage(record.stage)
            pipeline.check_move(source, pipeline.lost)
            return self._transition(
                uow,
                record,
                source,
                pipeline.lost,
                "lost",
                status=OpportunityStatus.LOST,
                lost_reason=reason,
            )

    @checked_call
    def reopen(
        self, record_id: uuid.UUID | str, *, to: str | None = None, version: int | None = None
    ) -> Opportunity:
        """Reopen a won or lost opportunity, into stage ``to`` (default: the stage it was
        closed from). Recorded like any move; the stage's required fields must be filled."""
        with self._step() as uow:
            record = self._load(uow, _as_id(record_id))
            _check_version(record, version)
            if record.status is OpportunityStatus.OPEN:
                raise RuleViolation(
                    f"opportunity {record.id} is open; only a won or lost deal can be reopened",
                    rule="not_closed",
                )
            pipeline = uow.crm.pipelines.get_or_error(record.pipeline)
            target = pipeline.stage(to or record.stage)
            if target.terminal:
                raise ValidationError.single("to", "reopen into an open stage of the pipeline")
            _check_required(record, target)
            source = pipeline.won if record.status is OpportunityStatus.WON else pipeline.lost
            return self._transition(
                uow,
                record,
                source,
                target,
                "reopened",
                stage=target.key,
                status=OpportunityStatus.OPEN,
                lost_reason=None,
                closed_at=None,
            )

    @checked_call
    def transitions(self, record_id: uuid.UUID | str) -> builtins.list[StageTransition]:
        """Every stage transition of one opportunity, oldest first (its creation first)."""
        rid = _as_id(record_id)
        with self._step() as uow:
            self._load(uow, rid, include_deleted=True)
            return uow.tx.transitions(uow.tenant, rid)

    # -- contact and stale deals ----------------------------------------------------------
    @checked_call
    def record_contact(self, record_id: uuid.UUID | str, *, at: Timestamp) -> None:
        """Note that someone was in contact about this deal at ``at`` (activities call it);
        ``last_contact_at`` only moves forward. Deleted or missing deals are skipped."""
        with self._step() as uow:
            record = uow.tx.get(Opportunity, uow.tenant, _as_id(record_id))
            if record is None or record.deleted:
                return
            if record.last_contact_at is not None and record.last_contact_at >= at:
                return
            before = audited(record)
            record.last_contact_at = at
            self._save(uow, record, before, ChangeAction.UPDATE)

    @checked_call
    def stale(self, *, pipeline: str | None = None) -> builtins.list[Opportunity]:
        """Open opportunities without contact for the stage's (or pipeline's) ``stale_days``
        (at or beyond exactly that many days), or longer in their stage than its
        ``dwell_days``; from one pipeline or all. Ordered by id."""
        with self._step() as uow:
            return uow.tx.find_stale(uow.tenant, _stale_rules(uow, pipeline))

    @checked_call
    def reassign_stale(
        self, *, to_user: uuid.UUID | str | None = None, pipeline: str | None = None
    ) -> builtins.list[Opportunity]:
        """Give every stale opportunity to ``to_user``, or by default to its owner's manager
        (``User.manager_id``); deals whose owner has no manager keep their owner. Each
        change is audited. Returns the reassigned opportunities."""
        with self._step() as uow:
            target = _active_user(uow, _as_id(to_user)) if to_user is not None else None
            managers: dict[uuid.UUID, uuid.UUID | None] = {}
            done = []
            for record in uow.tx.find_stale(uow.tenant, _stale_rules(uow, pipeline)):
                new_owner = target or _manager(uow, record.owner_id, managers)
                if new_owner is None or new_owner == record.owner_id:
                    continue
                before = audited(record)
                record.owner_id = new_owner
                done.append(self._save(uow, record, before, ChangeAction.UPDATE))
            return done

    # -- shared steps ---------------------------------------------------------------------
    def _open(
        self, uow: UnitOfWork, record_id: uuid.UUID | str, version: int | None
    ) -> tuple[Opportunity, Pipeline]:
        record = self._load(uow, _as_id(record_id))
        _check_version(record, version)
        if record.status is not OpportunityStatus.OPEN:
            raise RuleViolation(
                f"opportunity {record.id} is {record.status.value}: reopen() it first",
                rule="closed",
            )
        return record, uow.crm.pipelines.get_or_error(record.pipeline)

    def _transition(
        self,
        uow: UnitOfWork,
        record: Opportunity,
        source: Stage,
        target: Stage,
        what: str,
        **values: Any,
    ) -> Opportunity:
        _check_vetoes(uow, record, source, target)
        now = uow.now()
        before = audited(record)
        entered = record.stage_entered_at or record.created_at
        for name, value in values.items():
            setattr(record, name, value)
        record.probability = target.probability
        record.stage_entered_at = now
        if target.terminal:
            record.closed_at = now
        saved = self._save(uow, record, before, ChangeAction.UPDATE)
        uow.tx.add_transitions(
            [
                StageTransition(
                    id=new_id(),
                    tenant=uow.tenant,
                    opportunity_id=record.id,
                    pipeline=record.pipeline,
                    from_stage=source.key,
                    to_stage=target.key,
                    user_id=uow.user,
                    owner_id=record.owner_id,
                    at=now,
                    dwell_ms=epoch_ms(now) - epoch_ms(entered),
                )
            ]
        )
        if uow.wants_events:
            uow.emit(
                Event(
                    name=f"opportunity.{what}",
                    entity=Opportunity.kind,
                    record_id=record.id,
                    tenant=uow.tenant,
                    user_id=uow.user,
                    at=now,
                    changes={"stage": (source.key, target.key)},
                )
            )
        return saved


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


def _check_required(record: Opportunity, target: Stage) -> None:
    if missing := _missing(record, target.requires):
        raise RuleViolation(
            f"stage {target.key!r} needs {', '.join(missing)} filled in before an "
            f"opportunity enters it (opportunity {record.id})",
            rule="required_fields",
        )


def _check_vetoes(uow: UnitOfWork, record: Opportunity, source: Stage, target: Stage) -> None:
    answers = uow.crm.call_hook(
        "pycrm_check_transition",
        opportunity=copy.deepcopy(record),
        source=source,
        target=target,
        user=uow.user,
    )
    if vetoes := [str(answer) for _, answer in answers if answer]:
        raise RuleViolation("; ".join(vetoes), rule="plugin_veto")


def _stale_rules(uow: UnitOfWork, only: str | None) -> list[StaleRule]:
    pipelines = uow.crm.pipelines
    chosen = [pipelines.get_or_error(only)] if only is not None else list(pipelines.values())
    now = uow.now()
    rules = []
    for pipeline in chosen:
        for stage in pipeline.stages:
            days = stage.stale_days or pipeline.stale_days
            rules.append(
                StaleRule(
                    pipeline=pipeline.key,
                    stage=stage.key,
                    contact_before=now - dt.timedelta(days=days) if days else None,
                    entered_before=(
                        now - dt.timedelta(days=stage.dwell_days) if stage.dwell_days else None
                    ),
                )
            )
    return rules


def _active_user(uow: UnitOfWork, user_id: uuid.UUID) -> uuid.UUID:
    user = uow.tx.get(User, uow.tenant, user_id)
    if user is None or user.deleted:
        raise NotFound(User.kind, user_id)
    if not user.active:
        raise RuleViolation(f"user {user_id} is deactivated", rule="inactive_user")
    return user_id


def _manager(
    uow: UnitOfWork, owner: uuid.UUID | None, cache: dict[uuid.UUID, uuid.UUID | None]
) -> uuid.UUID | None:
    if owner is None:
        return None
    if owner not in cache:
        user = uow.tx.get(User, uow.tenant, owner)
        cache[owner] = user.manager_id if user is not None else None
    return cache[owner]
