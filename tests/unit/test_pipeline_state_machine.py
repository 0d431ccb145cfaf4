"""Random transitions keep the pipeline's invariants (hypothesis state machine, memory)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

import pycrm
from pycrm import Money
from pycrm.core.pipeline import LOST, WON, epoch_ms

ADMIN = pycrm.SYSTEM_USER
STAGE_KEYS = sorted(
    {
        "qualification",
        "needs_analysis",
        "proposal",
        "negotiation",
        "find_prospect",
        "visit",
        "sign",
        "satisfied",
        "nope",
    }
)
REFUSED = (pycrm.RuleViolation, pycrm.ValidationError)


class PipelineMachine(RuleBasedStateMachine):
    deals = Bundle("deals")

    @initialize()
    def start(self) -> None:
        self.clock = pycrm.FixedClock(dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC))
        self.crm = pycrm.CRM.connect("memory://", clock=self.clock, load_entry_points=False)
        self.service = self.crm.as_user(ADMIN).opportunities
        self.customer = self.crm.as_user(ADMIN).customers.create(name="联成").id
        #: What each deal's status must be: changed only by a successful action.
        self.expected: dict[uuid.UUID, str] = {}

    @rule(
        target=deals,
        pipeline=st.sampled_from(["b2b", "eight_step"]),
        amount=st.none() | st.integers(1, 10**9).map(lambda n: Money.from_minor(n, "CNY")),
    )
    def create(self, pipeline: str, amount: Money | None) -> uuid.UUID:
        deal = self.service.create(
            customer_id=self.customer,
            name="deal",
            pipeline=pipeline,
            amount=amount,
            expected_close=dt.date(2026, 6, 30),
        )
        self.expected[deal.id] = "open"
        return deal.id

    @rule(minutes=st.integers(0, 60 * 24 * 40), microseconds=st.integers(0, 999_999))
    def wait(self, minutes: int, microseconds: int) -> None:
        self.clock.advance(minutes=minutes, microseconds=microseconds)

    @rule(deal=deals, to=st.sampled_from(STAGE_KEYS))
    def move(self, deal: uuid.UUID, to: str) -> None:
        try:
            self.service.move(deal, to=to)
        except REFUSED:
            return
        assert self.expected[deal] == "open", "a closed deal moved"

    @rule(deal=deals)
    def win(self, deal: uuid.UUID) -> None:
        try:
            self.service.win(deal)
        except REFUSED:
            return
        assert self.expected[deal] == "open"
        self.expected[deal] = "won"

    @rule(deal=deals, reason=st.sampled_from(["price", "timing", "bad luck"]))
    def lose(self, deal: uuid.UUID, reason: str) -> None:
        try:
            self.service.lose(deal, reason=reason)
        except REFUSED:
            return
        assert self.expected[deal] == "open"
        self.expected[deal] = "lost"

    @rule(deal=deals, to=st.none() | st.sampled_from(STAGE_KEYS))
    def reopen(self, deal: uuid.UUID, to: str | None) -> None:
        try:
            self.service.reopen(deal, to=to)
        except REFUSED:
            return
        assert self.expected[deal] in ("won", "lost")
        self.expected[deal] = "open"

    @invariant()
    def deals_keep_their_invariants(self) -> None:
        if not hasattr(self, "expected"):
            return
        now = self.clock.now()
        for deal_id, status in self.expected.items():
            deal = self.service.get(deal_id)
            pipeline = self.crm.pipelines[deal.pipeline]
            # Never an unknown stage; closed deals keep the last open stage.
            assert pipeline.has_stage(deal.stage)
            # Terminal stays terminal unless reopened.
            assert deal.status == status
            assert (deal.closed_at is None) == (status == "open")
            assert (deal.lost_reason is not None) == (status == "lost")
            history = self.service.transitions(deal_id)
            # The transitions chain up and end where the deal is.
            assert history[0].from_stage is None
            for before, after in itertools.pairwise(history):
                assert after.from_stage == before.to_stage
            current = {"won": WON, "lost": LOST}.get(status, deal.stage)
            assert history[-1].to_stage == current
            # Dwell times add up exactly to the deal's age.
            in_current = epoch_ms(now) - epoch_ms(deal.stage_entered_at or deal.created_at)
            age = epoch_ms(now) - epoch_ms(deal.created_at)
            assert sum(t.dwell_ms for t in history) + in_current == age


PipelineMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPipelineMachine = PipelineMachine.TestCase
