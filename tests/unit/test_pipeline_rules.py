"""Pipeline configuration and every transition rule, on the memory backend."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

import pycrm
from pycrm import Money, Pipeline, RuleViolation, Stage, ValidationError
from pycrm.core.pipeline import missing_fields

STRICT = Pipeline(
    key="strict",
    name="Strict",
    stages=[
        Stage("lead", probability=10, next=("visit", "lost")),
        Stage("visit", probability=30, backward=False),
        Stage("quote", probability=60, requires=("amount", "custom.budget_owner")),
        Stage("contract", probability=90, next=("won", "lost")),
    ],
    lost_reasons=("price", "silence"),
)


class StrictPipelines:
    """A plugin registering one extra pipeline."""

    @pycrm.hookimpl
    def pycrm_register_pipelines(self) -> list[Pipeline]:
        return [STRICT]


@pytest.fixture
def strict_crm(clock: pycrm.FixedClock) -> Any:
    crm = pycrm.CRM.connect(
        "memory://", clock=clock, plugins=[StrictPipelines()], load_entry_points=False
    )
    yield crm
    crm.close()


def _deal(uow: pycrm.UnitOfWork, **fields: Any) -> pycrm.Opportunity:
    customer = uow.customers.create(name="联成")
    return uow.opportunities.create(customer_id=customer.id, name="deal", **fields)


# -- configuration ---------------------------------------------------------------------------
def test_builtin_pipelines_are_registered(crm: pycrm.CRM) -> None:
    assert set(crm.pipelines) == {"b2b", "eight_step"}
    assert crm.pipelines.default.key == "b2b"
    assert crm.pipelines["b2b"].keys() == [
        "qualification",
        "needs_analysis",
        "proposal",
        "negotiation",
    ]
    assert len(crm.pipelines["eight_step"].stages) == 8


def test_settings_name_the_default_pipeline(clock: pycrm.FixedClock, admin: uuid.UUID) -> None:
    settings = pycrm.Settings(default_pipeline="eight_step")
    crm = pycrm.CRM.connect("memory://", settings=settings, load_entry_points=False)
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow)
    assert (deal.pipeline, deal.stage, deal.probability) == ("eight_step", "find_prospect", 5)


def test_an_unknown_default_pipeline_is_a_configuration_error() -> None:
    with pytest.raises(pycrm.ConfigurationError, match="nope"):
        pycrm.CRM.connect(
            "memory://",
            settings=pycrm.Settings(default_pipeline="nope"),
            load_entry_points=False,
        )


def test_two_pipelines_with_one_key_are_refused() -> None:
    with pytest.raises(pycrm.PluginError, match="strict"):
        pycrm.CRM.connect(
            "memory://", plugins=[StrictPipelines(), _Named()], load_entry_points=False
        )


class _Named(StrictPipelines):
    name = "second"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Pipeline(key="p", name="P", stages=[]), "no stages"),
        (lambda: Pipeline(key="p", name="P", stages=[Stage("a"), Stage("a")]), "repeat"),
        (lambda: Pipeline(key="p", name="P", stages=[Stage("won")]), "terminal"),
        (lambda: Pipeline(key="p", name="P", stages=[Stage("a", next=("b",))]), "unknown"),
        (lambda: Pipeline(key="p", name="P", stages=[Stage("a")], lost_reasons=()), "lost"),
        (lambda: Stage("a", probability=101), "probability"),
        (lambda: Stage("a", dwell_days=0), "dwell_days"),
        (lambda: Stage(""), "key"),
    ],
)
def test_bad_pipeline_definitions_fail_early(build: Any, message: str) -> None:
    with pytest.raises(pycrm.ConfigurationError, match=message):
        build()


# -- creating ----------------------------------------------------------------------------------
def test_create_defaults_to_the_first_stage_and_its_probability(
    crm: pycrm.CRM, admin: uuid.UUID, clock: pycrm.FixedClock
) -> None:
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow)
        history = uow.opportunities.transitions(deal.id)
    assert (deal.pipeline, deal.stage, deal.probability) == ("b2b", "qualification", 10)
    assert deal.stage_entered_at == clock.now()
    assert [(t.from_stage, t.to_stage, t.dwell_ms) for t in history] == [(None, "qualification", 0)]


def test_create_keeps_a_given_probability(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with crm.unit_of_work(user=admin) as uow:
        assert _deal(uow, stage="proposal", probability=35).probability == 35


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"pipeline": "nope"}, "pipeline"),
        ({"stage": "nope"}, "stage"),
        ({"stage": "won"}, "stage"),
        ({"lost_reason": "price"}, "lost_reason"),
    ],
)
def test_create_refuses_unknown_pipelines_and_stages(
    crm: pycrm.CRM, admin: uuid.UUID, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught, crm.unit_of_work(user=admin) as uow:
        _deal(uow, **fields)
    assert [path for path, _ in caught.value.errors] == [field]
    with crm.unit_of_work(user=admin) as uow:
        assert uow.opportunities.count() == 0


def test_create_many_records_a_transition_per_opportunity(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with crm.unit_of_work(user=admin) as uow:
        customer = uow.customers.create(name="联成")
        deals = uow.opportunities.create_many(
            [{"customer_id": customer.id, "name": f"d{i}", "stage": "proposal"} for i in range(3)]
        )
        assert all(uow.opportunities.transitions(d.id)[0].to_stage == "proposal" for d in deals)
        assert {d.probability for d in deals} == {50}


# -- moving ------------------------------------------------------------------------------------
def test_move_forward_records_the_transition_and_the_dwell_time(
    crm: pycrm.CRM, admin: uuid.UUID, clock: pycrm.FixedClock
) -> None:
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow, amount=Money("100.00", "CNY"))
        clock.advance(days=2, hours=3)
        moved = uow.opportunities.move(deal.id, to="proposal")
        history = uow.opportunities.transitions(deal.id)
        audit = uow.opportunities.history(deal.id)
    assert (moved.stage, moved.probability, moved.stage_entered_at) == (
        "proposal",
        50,
        clock.now(),
    )
    assert moved.version == 2
    last = history[-1]
    assert (last.from_stage, last.to_stage, last.user_id) == ("qualification", "proposal", admin)
    assert last.dwell_ms == (2 * 24 + 3) * 3600 * 1000
    assert audit[-1].action is pycrm.ChangeAction.UPDATE
    assert {f.field for f in audit[-1].fields} >= {"stage", "probability", "stage_entered_at"}


def test_move_back_is_allowed_by_default(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow, amount=Money("100.00", "CNY"))
        uow.opportunities.move(deal.id, to="proposal")
        assert uow.opportunities.move(deal.id, to="qualification").probability == 10


def test_moving_to_the_same_stage_is_refused(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with pytest.raises(RuleViolation) as caught, crm.unit_of_work(user=admin) as uow:
        uow.opportunities.move(_deal(uow).id, to="qualification")
    assert caught.value.rule == "opportunity.same_stage"


def test_required_fields_block_entering_a_stage(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow)
        with pytest.raises(RuleViolation, match="amount") as caught:
            uow.opportunities.move(deal.id, to="proposal")
        assert caught.value.rule == "opportunity.required_fields"
        assert uow.opportunities.get(deal.id).stage == "qualification"
        assert len(uow.opportunities.transitions(deal.id)) == 1
        uow.opportunities.update(deal.id, amount=Money("5.00", "CNY"))
        assert uow.opportunities.move(deal.id, to="proposal").stage == "proposal"


def test_required_custom_fields(strict_crm: pycrm.CRM, admin: uuid.UUID) -> None:
    strict_crm.fields.define("opportunity", "budget_owner", "text", label="Budget owner")
    with strict_crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow, pipeline="strict", amount=Money("5.00", "CNY"))
        uow.opportunities.move(deal.id, to="visit")
        with pytest.raises(RuleViolation, match=r"custom\.budget_owner"):
            uow.opportunities.move(deal.id, to="quote")
        uow.opportunities.update(deal.id, custom={"budget_owner": "CFO"})
        assert uow.opportunities.move(deal.id, to="quote").stage == "quote"


def test_missing_fields_treats_empty_values_as_missing() -> None:
    record = pycrm.Opportunity(tenant="t", customer_id=uuid.uuid4(), name="", custom={"a": []})
    assert missing_fields(record, ("name", "amount", "custom.a", "custom.b")) == [
        "name",
        "amount",
        "custom.a",
        "custom.b",
    ]


def test_a_stage_may_name_the_stages_that_follow(strict_crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with strict_crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow, pipeline="strict")
        with pytest.raises(RuleViolation, match="only be followed") as caught:
            uow.opportunities.move(deal.id, to="contract")
        assert caught.value.rule == "opportunity.next_stage"
        with pytest.raises(RuleViolation, match="only be followed"):
            uow.opportunities.win(deal.id)
        assert uow.opportunities.move(deal.id, to="visit").stage == "visit"


def test_a_stage_may_forbid_moving_back(strict_crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with strict_crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow, pipeline="strict")
        uow.opportunities.move(deal.id, to="visit")
        with pytest.raises(RuleViolation) as caught:
            uow.opportunities.move(deal.id, to="lead")
        assert caught.value.rule == "opportunity.no_backward"


def test_moving_to_an_unknown_stage_or_a_terminal_state(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow)
        with pytest.raises(ValidationError, match="no stage 'nope'"):
            uow.opportunities.move(deal.id, to="nope")
        with pytest.raises(ValidationError, match="win"):
            uow.opportunities.move(deal.id, to="won")


def test_update_cannot_change_stage_pipeline_or_lost_reason(
    crm: pycrm.CRM, admin: uuid.UUID
) -> None:
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow)
        for change in ({"stage": "proposal"}, {"pipeline": "eight_step"}, {"lost_reason": "x"}):
            with pytest.raises(RuleViolation, match="use") as caught:
                uow.opportunities.update(deal.id, **change)
            assert caught.value.rule == "opportunity.use_pipeline_action"
        assert uow.opportunities.get(deal.id).version == 1


def test_a_stale_version_is_refused(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow)
        with pytest.raises(pycrm.ConflictError):
            uow.opportunities.move(deal.id, to="needs_analysis", version=7)


# -- closing and reopening ---------------------------------------------------------------------
def test_win_is_terminal(crm: pycrm.CRM, admin: uuid.UUID, clock: pycrm.FixedClock) -> None:
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow)
        clock.advance(days=1)
        won = uow.opportunities.win(deal.id)
        assert (won.status, won.stage, won.probability, won.closed_at) == (
            pycrm.OpportunityStatus.WON,
            "qualification",
            100,
            clock.now(),
        )
        for act in (
            lambda: uow.opportunities.move(deal.id, to="proposal"),
            lambda: uow.opportunities.win(deal.id),
            lambda: uow.opportunities.lose(deal.id, reason="price"),
        ):
            with pytest.raises(RuleViolation, match="reopen") as caught:
                act()
            assert caught.value.rule == "opportunity.closed"
        last = uow.opportunities.transitions(deal.id)[-1]
    assert (last.from_stage, last.to_stage, last.dwell_ms) == ("qualification", "won", 86_400_000)


def test_lose_needs_a_reason_from_the_pipeline(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow)
        with pytest.raises(ValidationError, match="not a lost reason") as caught:
            uow.opportunities.lose(deal.id, reason="bad luck")
        assert caught.value.errors[0][0] == "reason"
        for missing in (None, ""):
            with pytest.raises(ValidationError) as caught:
                uow.opportunities.lose(deal.id, reason=missing)
            [(field, why)] = caught.value.errors
            assert field == "reason" and why.startswith("say why the deal was lost: one of")
            assert "'price', 'competitor'" in why and "'b2b'" in why
        lost = uow.opportunities.lose(deal.id, reason="competitor")
    assert (lost.status, lost.lost_reason, lost.probability) == ("lost", "competitor", 0)


def test_configured_lost_reasons(strict_crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with strict_crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow, pipeline="strict")
        with pytest.raises(ValidationError, match="silence"):
            uow.opportunities.lose(deal.id, reason="competitor")
        assert uow.opportunities.lose(deal.id, reason="silence").status == "lost"


def test_reopen_is_explicit_and_recorded(
    crm: pycrm.CRM, admin: uuid.UUID, clock: pycrm.FixedClock
) -> None:
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow)
        with pytest.raises(RuleViolation) as caught:
            uow.opportunities.reopen(deal.id)
        assert caught.value.rule == "opportunity.not_closed"
        uow.opportunities.lose(deal.id, reason="price")
        clock.advance(days=3)
        back = uow.opportunities.reopen(deal.id, to="needs_analysis")
        history = uow.opportunities.transitions(deal.id)
    assert (back.status, back.stage, back.probability) == ("open", "needs_analysis", 25)
    assert (back.closed_at, back.lost_reason) == (None, None)
    assert [(t.from_stage, t.to_stage) for t in history] == [
        (None, "qualification"),
        ("qualification", "lost"),
        ("lost", "needs_analysis"),
    ]
    assert history[-1].dwell_ms == 3 * 86_400_000


def test_reopen_defaults_to_the_stage_it_closed_from(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow)
        uow.opportunities.move(deal.id, to="needs_analysis")
        uow.opportunities.win(deal.id)
        assert uow.opportunities.reopen(deal.id).stage == "needs_analysis"


def test_reopen_checks_required_fields(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow)
        uow.opportunities.win(deal.id)
        with pytest.raises(RuleViolation, match="amount"):
            uow.opportunities.reopen(deal.id, to="proposal")


# -- plugin vetoes and events ------------------------------------------------------------------
class Director:
    """Refuses negotiations with a discount above 20%, and losing without a note."""

    @pycrm.hookimpl
    def pycrm_check_transition(
        self, opportunity: pycrm.Opportunity, source: Stage, target: Stage
    ) -> str | None:
        if target.key == "negotiation" and opportunity.custom.get("discount", 0) > 20:
            return "discounts above 20% need a director's approval"
        if target.key == "lost" and "note" not in opportunity.custom:
            return f"write a note before losing a deal in {source.key}"
        return None


def test_a_plugin_veto_is_a_rule_violation_and_writes_nothing(
    clock: pycrm.FixedClock, admin: uuid.UUID
) -> None:
    crm = pycrm.CRM.connect("memory://", clock=clock, plugins=[Director()], load_entry_points=False)
    crm.fields.define("opportunity", "discount", "integer", label="Discount %")
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(
            uow,
            amount=Money("9.00", "CNY"),
            expected_close=dt.date(2026, 3, 1),
            custom={"discount": 25},
        )
    with pytest.raises(RuleViolation, match="director") as caught:
        crm.as_user(admin).opportunities.move(deal.id, to="negotiation")
    assert caught.value.rule == "opportunity.plugin_veto"
    with pytest.raises(RuleViolation, match="losing a deal in qualification"):
        crm.as_user(admin).opportunities.lose(deal.id, reason="price")
    with crm.unit_of_work(user=admin) as uow:
        assert uow.opportunities.get(deal.id).version == 1
        assert len(uow.opportunities.transitions(deal.id)) == 1
        assert len(uow.opportunities.history(deal.id)) == 1


class Recorder:
    def __init__(self) -> None:
        self.events: list[pycrm.Event] = []

    @pycrm.hookimpl
    def pycrm_on_event(self, event: pycrm.Event) -> None:
        self.events.append(event)


def test_transitions_emit_events_after_commit(clock: pycrm.FixedClock, admin: uuid.UUID) -> None:
    recorder = Recorder()
    crm = pycrm.CRM.connect("memory://", clock=clock, plugins=[recorder], load_entry_points=False)
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow)
        uow.opportunities.move(deal.id, to="needs_analysis")
        uow.opportunities.lose(deal.id, reason="price")
        uow.opportunities.reopen(deal.id)
        uow.opportunities.win(deal.id)
        assert recorder.events == []
    skipped = ("opportunity.updated", "opportunity.status_changed")
    flow = [e for e in recorder.events if e.name not in skipped]
    assert [(e.name, e.changes.get("stage")) for e in flow if e.entity == "opportunity"] == [
        ("opportunity.created", (None, "qualification")),
        ("opportunity.stage_changed", ("qualification", "needs_analysis")),
        ("opportunity.lost", ("needs_analysis", "lost")),
        ("opportunity.reopened", ("lost", "needs_analysis")),
        ("opportunity.won", ("needs_analysis", "won")),
    ]


def test_a_rolled_back_move_leaves_no_transition(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow)
    with pytest.raises(RuntimeError), crm.unit_of_work(user=admin) as uow:
        uow.opportunities.move(deal.id, to="needs_analysis")
        raise RuntimeError("host app failed")
    with crm.unit_of_work(user=admin) as uow:
        assert uow.opportunities.get(deal.id).stage == "qualification"
        assert len(uow.opportunities.transitions(deal.id)) == 1


# -- last contact ------------------------------------------------------------------------------
def test_activities_maintain_last_contact(
    crm: pycrm.CRM, admin: uuid.UUID, clock: pycrm.FixedClock
) -> None:
    with crm.unit_of_work(user=admin) as uow:
        deal = _deal(uow)
        assert deal.last_contact_at is None
        clock.advance(days=1)
        task = uow.activities.create(type="task", subject="call back", opportunity_id=deal.id)
        first = clock.now()
        assert uow.opportunities.get(deal.id).last_contact_at == first
        clock.advance(days=2)
        uow.activities.update(task.id, notes="still to do")
        assert uow.opportunities.get(deal.id).last_contact_at == first
        uow.activities.update(task.id, done=True)
        assert uow.opportunities.get(deal.id).last_contact_at == clock.now()
        uow.activities.create(type="call", subject="no deal")
        assert uow.opportunities.get(deal.id).last_contact_at == clock.now()


def test_the_pipeline_hooks_are_declared_and_documented(crm: pycrm.CRM) -> None:
    from pycrm.plugins.hookspecs import hook_doc, hook_names

    for name in ("pycrm_register_pipelines", "pycrm_check_transition"):
        assert name in hook_names()
        assert "Called" in hook_doc(name)
    builtin = {p.name: p.hooks for p in crm.plugins}["pycrm.plugins.default_pipelines"]
    assert builtin == ["pycrm_register_pipelines"]


def test_a_company_tunes_a_built_in_pipelines_numbers_in_its_settings() -> None:
    tuning = {"b2b": {"proposal": {"probability": 60, "dwell_days": 7, "stale_days": 10}}}
    crm = pycrm.CRM.connect(
        "memory://", settings=pycrm.Settings(stages=tuning), load_entry_points=False
    )
    b2b = crm.pipelines["b2b"]
    proposal = b2b.stage("proposal")
    assert (proposal.probability, proposal.dwell_days, proposal.stale_days) == (60, 7, 10)
    assert proposal.requires == ("amount",)  # everything else is the pipeline's own
    assert b2b.keys() == ["qualification", "needs_analysis", "proposal", "negotiation"]
    assert crm.pipelines["eight_step"] == pycrm.CRM.connect("memory://").pipelines["eight_step"]


@pytest.mark.parametrize(
    ("tuning", "says"),
    [
        ({"b2c": {"x": {"probability": 1}}}, "not registered: b2c"),
        ({"b2b": {"propose": {"probability": 1}}}, "has no stage 'propose'"),
        ({"b2b": {"proposal": {"name": 1}}}, "name cannot be tuned"),
        ({"b2b": {"proposal": {"probability": 101}}}, "stage 'proposal' of pipeline 'b2b'"),
        ({"b2b": {"proposal": {"stale_days": 0}}}, "stale_days must be a whole number of days"),
    ],
)
def test_tuning_an_unknown_stage_or_a_bad_number_stops_the_crm(
    tuning: dict[str, Any], says: str
) -> None:
    with pytest.raises(pycrm.ConfigurationError, match=says):
        pycrm.CRM.connect(
            "memory://", settings=pycrm.Settings(stages=tuning), load_entry_points=False
        )
