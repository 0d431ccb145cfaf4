"""Opportunities (商机): a customer's intent to buy, moving through a pipeline's stages.

An opportunity moves itself: :meth:`Opportunity.move_to`, :meth:`~Opportunity.win`,
:meth:`~Opportunity.lose` and :meth:`~Opportunity.reopen` check the pipeline's rules, change
the stage, status, probability and times together, and return the event that says what
happened (from which the service also records the stage transition).
"""

import datetime as dt
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from attrs import define

from pycrm.core.events import (
    OpportunityLost,
    OpportunityMoved,
    OpportunityReopened,
    OpportunityTransition,
    OpportunityWon,
)
from pycrm.core.money import Money
from pycrm.core.pipeline import Pipeline, Stage, epoch_ms, missing_fields
from pycrm.core.records import Record
from pycrm.errors import RuleViolation, ValidationError

__all__ = ["Opportunity", "OpportunityStatus", "TransitionCheck"]

#: A last check before a move changes anything: called with the opportunity, the stage it
#: leaves and the stage it enters; it raises to refuse (plugins' vetoes come this way).
TransitionCheck = Callable[["Opportunity", Stage, Stage], None]
T = TypeVar("T", bound=OpportunityTransition)


class OpportunityStatus(StrEnum):
    """Open, or closed as won or lost."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


@define(eq=False, kw_only=True)
class Opportunity(Record):
    """A deal. ``probability`` is a whole percentage from 0 to 100.

    ``stage`` is a stage of ``pipeline``; while the deal is won or lost it keeps the last
    open stage. The services set the stage and status through ``move``, ``win``, ``lose``
    and ``reopen``; ``stage_entered_at`` is when it entered its current stage or state.
    """

    kind: ClassVar[str] = "opportunity"

    customer_id: uuid.UUID
    name: str
    pipeline: str = "b2b"
    stage: str = "qualification"
    amount: Money | None = None
    probability: int | None = None
    expected_close: dt.date | None = None
    product_line: str | None = None
    importance: str | None = None
    status: OpportunityStatus = OpportunityStatus.OPEN
    stage_entered_at: dt.datetime | None = None
    last_contact_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    lost_reason: str | None = None
    external_id: str | None = None

    # -- time in the current stage -------------------------------------------------------
    def time_in_stage(self, now: dt.datetime) -> dt.timedelta:
        """How long the deal has been in its current stage (or won or lost) at ``now``."""
        return now - (self.stage_entered_at or self.created_at)

    def over_dwell(self, pipeline: Pipeline, now: dt.datetime) -> dt.timedelta | None:
        """How much longer than its stage's standard dwell time the deal has been there
        (negative: time left); None when the stage has no standard or the deal is closed."""
        if self.status is not OpportunityStatus.OPEN or not pipeline.has_stage(self.stage):
            return None
        days = pipeline.stage(self.stage).dwell_days
        return None if days is None else self.time_in_stage(now) - dt.timedelta(days=days)

    # -- moving through the pipeline ------------------------------------------------------
    def move_to(
        self,
        pipeline: Pipeline,
        to: str,
        *,
        at: dt.datetime,
        by: uuid.UUID,
        check: TransitionCheck | None = None,
    ) -> OpportunityMoved:
        """Move this open deal to open stage ``to`` of ``pipeline``.

        Refused (:class:`RuleViolation`) when the deal is closed, the current stage may
        not be followed by ``to`` or forbids moving back, or a field the stage requires is
        empty; an unknown or terminal stage is a :class:`ValidationError`.
        """
        source, target = self._open_stage(pipeline), pipeline.stage(to)
        if target.terminal:
            raise ValidationError.single(
                "to", f"{to!r} is not a stage; use win() or lose() to close a deal"
            )
        pipeline.check_move(source, target)
        self._check_required(target)
        return self._enter(OpportunityMoved, pipeline, source, target, at, by, check)

    def win(
        self,
        pipeline: Pipeline,
        *,
        at: dt.datetime,
        by: uuid.UUID,
        check: TransitionCheck | None = None,
    ) -> OpportunityWon:
        """Close this open deal as won (probability 100)."""
        source = self._open_stage(pipeline)
        pipeline.check_move(source, pipeline.won)
        event = self._enter(OpportunityWon, pipeline, source, pipeline.won, at, by, check)
        self.status = OpportunityStatus.WON
        return event

    def lose(
        self,
        pipeline: Pipeline,
        reason: str | None,
        *,
        at: dt.datetime,
        by: uuid.UUID,
        check: TransitionCheck | None = None,
    ) -> OpportunityLost:
        """Close this open deal as lost, for one of the pipeline's lost reasons."""
        source = self._open_stage(pipeline)
        pipeline.check_reason(reason)
        pipeline.check_move(source, pipeline.lost)
        assert reason is not None  # check_reason refused an empty one
        event = self._enter(
            OpportunityLost, pipeline, source, pipeline.lost, at, by, check, reason=reason
        )
        self.status, self.lost_reason = OpportunityStatus.LOST, reason
        return event

    def reopen(
        self,
        pipeline: Pipeline,
        to: str | None = None,
        *,
        at: dt.datetime,
        by: uuid.UUID,
        check: TransitionCheck | None = None,
    ) -> OpportunityReopened:
        """Open a won or lost deal again, in stage ``to`` (default: the stage it was closed
        from); the stage's required fields must be filled."""
        if self.status is OpportunityStatus.OPEN:
            raise RuleViolation(
                f"opportunity {self.id} is open; only a won or lost deal can be reopened",
                rule="opportunity.not_closed",
            )
        target = pipeline.stage(to or self.stage)
        if target.terminal:
            raise ValidationError.single("to", "reopen into an open stage of the pipeline")
        self._check_required(target)
        source = pipeline.won if self.status is OpportunityStatus.WON else pipeline.lost
        event = self._enter(OpportunityReopened, pipeline, source, target, at, by, check)
        self.status, self.lost_reason, self.closed_at = OpportunityStatus.OPEN, None, None
        return event

    def _open_stage(self, pipeline: Pipeline) -> Stage:
        if self.status is not OpportunityStatus.OPEN:
            raise RuleViolation(
                f"opportunity {self.id} is {self.status.value}: reopen() it first",
                rule="opportunity.closed",
            )
        return pipeline.stage(self.stage)

    def _check_required(self, target: Stage) -> None:
        if missing := missing_fields(self, target.requires):
            raise RuleViolation(
                f"stage {target.key!r} needs {', '.join(missing)} filled in before an "
                f"opportunity enters it (opportunity {self.id})",
                rule="opportunity.required_fields",
            )

    def _enter(
        self,
        event: type[T],
        pipeline: Pipeline,
        source: Stage,
        target: Stage,
        at: dt.datetime,
        by: uuid.UUID,
        check: TransitionCheck | None,
        **details: Any,
    ) -> T:
        """Leave ``source`` for ``target`` at ``at``; the last check may still refuse."""
        if check is not None:
            check(self, source, target)
        entered = self.stage_entered_at or self.created_at
        if not target.terminal:
            self.stage = target.key
        self.probability = target.probability
        self.stage_entered_at = at
        if target.terminal:
            self.closed_at = at
        return event(
            record_id=self.id,
            tenant=self.tenant,
            user_id=by,
            at=at,
            changes={"stage": (source.key, target.key)},
            pipeline=pipeline.key,
            from_stage=source.key,
            to_stage=target.key,
            dwell_ms=epoch_ms(at) - epoch_ms(entered),
            **details,
        )

    def problems(self) -> list[tuple[str, str]]:
        """Broken invariants: probability 0 to 100, amount not negative, a reason when lost."""
        found: list[tuple[str, str]] = []
        if self.probability is not None and not 0 <= self.probability <= 100:
            found.append(("probability", "must be between 0 and 100"))
        if self.amount is not None and self.amount.is_negative():
            found.append(("amount", "must not be negative"))
        if self.status is OpportunityStatus.LOST and not self.lost_reason:
            found.append(("lost_reason", "a lost opportunity needs a reason"))
        return found
