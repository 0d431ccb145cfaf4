"""Regression tests: bad input is a typed pycrm error on every backend, decided the same way
everywhere, before anything is written; one small argument cannot ask for unbounded work."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

import pycrm
from pycrm.core.limits import MAX_INT64, MIN_INT64
from pycrm.testing import make_world

BACKENDS = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
DAY_MIN, DAY_MAX = dt.date.min, dt.date.max


@pytest.fixture(params=BACKENDS)
def any_crm(request: pytest.FixtureRequest, clock: pycrm.FixedClock) -> Iterator[pycrm.CRM]:
    url = {"memory": "memory://"}.get(request.param)
    if url is None:
        url = request.getfixturevalue({"sqlite": "sqlite_url"}.get(request.param, "postgres_url"))
    settings = pycrm.Settings(auto_migrate=True)
    crm = pycrm.CRM.connect(url, clock=clock, settings=settings, load_entry_points=False)
    crm.fields.define("customer", "tier", "integer", label="Tier")
    crm.fields.define("customer", "score", "decimal", label="Score")
    crm.fields.define("customer", "segment", "text", label="Segment")
    crm.fields.define("customer", "seen", "datetime", label="Seen")
    yield crm
    crm.close()


@pytest.fixture
def tenant() -> str:
    # A fresh tenant per test lets the PostgreSQL tests share one database.
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def acme(any_crm: pycrm.CRM, tenant: str) -> Any:
    return any_crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)


@pytest.fixture
def world(any_crm: pycrm.CRM, tenant: str) -> dict[str, Any]:
    with any_crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        return make_world(uow)


def refused(call: Callable[[], Any]) -> list[str]:
    """The field paths of the ValidationError ``call`` raises."""
    with pytest.raises(pycrm.ValidationError) as caught:
        call()
    return [path for path, _ in caught.value.errors]


def cursor_of(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode("utf-8", "surrogatepass")).decode()


def audit_count(acme: Any, record: Any, service: str) -> int:
    return len(getattr(acme, service).history(record.id))


# -- 1. forged cursors -----------------------------------------------------------------------

SOME_ID = "01900000-0000-7000-8000-000000000001"
FORGED = [
    ("a list", "[1, 2]", ()),
    ("values as a mapping", '{"o": "", "v": {"a": 1}}', ()),
    ("values as a number", '{"o": "", "v": 5}', ()),
    ("order as a number", '{"o": 5, "v": [1]}', ()),
    ("null", "null", ()),
    ("deep nesting", "[" * 100_000 + "]" * 100_000, ()),
    ("a huge whole number", f'{{"o": "version", "v": [{10**30}, "{SOME_ID}"]}}', ("version",)),
    ("a lone surrogate", f'{{"o": "name", "v": ["\\ud800", "{SOME_ID}"]}}', ("name",)),
    (
        "a naive time",
        f'{{"o": "created_at", "v": ["2026-01-01T00:00:00", "{SOME_ID}"]}}',
        ("created_at",),
    ),
    (
        "a huge decimal",
        f'{{"o": "custom.score", "v": ["1E+999999", "{SOME_ID}"]}}',
        ("custom.score",),
    ),
    (
        "a huge custom integer",
        f'{{"o": "custom.tier", "v": [{2**64}, "{SOME_ID}"]}}',
        ("custom.tier",),
    ),
]


@pytest.mark.parametrize(
    ("payload", "order_by"), [f[1:] for f in FORGED], ids=[f[0] for f in FORGED]
)
def test_a_cursor_the_library_did_not_make_is_refused_as_after(
    acme: Any, payload: str, order_by: tuple[str, ...]
) -> None:
    assert refused(lambda: acme.customers.list(order_by=order_by, after=cursor_of(payload))) == [
        "after"
    ]


@pytest.mark.parametrize("after", ["not base64!", "\ud800", "aGk=", "é"])
def test_text_that_is_no_cursor_at_all_is_refused_as_after(acme: Any, after: str) -> None:
    assert refused(lambda: acme.customers.list(after=after)) == ["after"]


# -- 2. whole numbers beyond 64 bits in filters ------------------------------------------------


@pytest.mark.parametrize(
    ("service", "where"),
    [
        ("opportunities", {"probability": 10**30}),
        ("opportunities", {"probability__in": [1, 10**30]}),
        ("customers", {"version__gt": MIN_INT64 - 1}),
        ("customers", {"custom.tier": 10**30}),
        ("customers", {"custom.tier__lt": -(2**63) - 1}),
        ("customers", {"custom.tier__in": [1, 2**63]}),
    ],
)
def test_whole_numbers_beyond_64_bits_are_refused_in_filters(
    acme: Any, service: str, where: dict[str, Any]
) -> None:
    (key,) = where
    assert refused(lambda: getattr(acme, service).list(where)) == [f"where.{key}"]


def test_whole_numbers_at_the_64_bit_edges_are_filtered_and_ordered_everywhere(acme: Any) -> None:
    for tier in (MIN_INT64, 0, MAX_INT64):
        acme.customers.create(name=f"c{tier}", custom={"tier": tier})
    assert acme.customers.count({"custom.tier__gte": MAX_INT64}) == 1
    assert acme.customers.count({"custom.tier__in": [MIN_INT64, MAX_INT64]}) == 2
    page = acme.customers.list(order_by="-custom.tier", limit=1)
    assert page.items[0].custom["tier"] == MAX_INT64
    rest = acme.customers.list(order_by="-custom.tier", limit=5, after=page.next_cursor)
    assert [c.custom["tier"] for c in rest] == [0, MIN_INT64]


# -- 3. text every backend stores ---------------------------------------------------------------

BAD_TEXT = ["a\x00b", "a\ud800b", "\udfff"]


@pytest.mark.parametrize("text", BAD_TEXT)
@pytest.mark.parametrize(
    ("service", "fields", "path"),
    [
        ("customers", {"industry": "{}"}, "industry"),
        ("customers", {"email": "{}@example.cn"}, "email"),
        ("customers", {"tags": ["ok", "{}"]}, "tags.1"),
        ("customers", {"custom": {"segment": "{}"}}, "custom.segment"),
        ("leads", {"notes": "{}"}, "notes"),
    ],
)
def test_text_with_nul_or_a_lone_surrogate_is_refused_and_nothing_is_written(
    acme: Any, text: str, service: str, fields: dict[str, Any], path: str
) -> None:
    values = json.loads(json.dumps(fields).replace("{}", "@@"))
    values = _fill(values, text)
    assert refused(lambda: getattr(acme, service).create(name="x", **values)) == [path]
    assert getattr(acme, service).count(deleted=None) == 0


def _fill(value: Any, text: str) -> Any:
    if isinstance(value, str):
        return value.replace("@@", text)
    if isinstance(value, list):
        return [_fill(v, text) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, text) for k, v in value.items()}
    return value


@pytest.mark.parametrize("text", BAD_TEXT)
@pytest.mark.parametrize(
    "key", ["name", "name__contains", "name__in", "custom.segment", "custom.segment__contains"]
)
def test_filters_with_nul_or_a_lone_surrogate_are_refused(acme: Any, text: str, key: str) -> None:
    value: Any = [text] if key.endswith("__in") else text
    assert refused(lambda: acme.customers.list({key: value})) == [f"where.{key}"]


def test_a_cancel_reason_with_nul_is_refused(acme: Any, world: dict[str, Any]) -> None:
    order = world["unplanned_orders"][0]
    assert refused(lambda: acme.orders.cancel(order.id, reason="budget\x00cut")) == ["reason"]
    assert acme.orders.get(order.id).status is pycrm.OrderStatus.DRAFT


# -- 4. typed custom values every backend stores -------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("tier", Decimal("sNaN")),
        ("tier", Decimal("NaN")),
        ("tier", Decimal("Infinity")),
        ("tier", Decimal("1E+400")),
        ("tier", 10**5000),
        ("tier", "9" * 5000),
        ("tier", 10**30),
        ("tier", MAX_INT64 + 1),
        ("score", Decimal("1E+400")),
        ("score", Decimal("1E-400")),
        ("score", Decimal("0.1234567890123456")),
        ("score", 10**20),
        ("score", "1" * 16),
        ("seen", dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-5)))),
        ("seen", "0001-01-01T00:00:00+05:00"),
    ],
    ids=lambda v: f"{v.bit_length()} bits" if isinstance(v, int) else str(v)[:20],
)
def test_custom_values_beyond_what_every_backend_stores_are_refused(
    acme: Any, key: str, value: Any
) -> None:
    assert refused(lambda: acme.customers.create(name="x", custom={key: value})) == [
        f"custom.{key}"
    ]
    assert acme.customers.count(deleted=None) == 0


def test_decimals_of_fifteen_digits_compare_exactly_everywhere(acme: Any) -> None:
    scores = ["999999999999999", "99999999999999.8", "0.000000000000001", "-99999999999999.9"]
    for score in scores:
        acme.customers.create(name=score, custom={"score": Decimal(score)})
    ordered = [c.name for c in acme.customers.list(order_by="custom.score")]
    assert ordered == sorted(scores, key=Decimal)
    assert acme.customers.count({"custom.score__gt": Decimal("99999999999999.8")}) == 1
    assert acme.customers.count({"custom.score__lt": Decimal("0.000000000000002")}) == 2


# -- 5. dates at the edges of the calendar --------------------------------------------------------


@pytest.fixture
def edge_plan(acme: Any, world: dict[str, Any]) -> Any:
    order = world["unplanned_orders"][0]
    return acme.payment_plans.plan_for_order(order.id, due_dates=[DAY_MIN, DAY_MAX])


@pytest.mark.parametrize("window", ["today", "week", "month", "overdue"])
@pytest.mark.parametrize("on", [DAY_MIN, DAY_MAX])
def test_due_lists_work_on_the_first_and_last_day(
    acme: Any, edge_plan: Any, window: str, on: dt.date
) -> None:
    due = [row.due_on for row in acme.receivables.due(window, on=on) if row.plan_id == edge_plan.id]
    expected = {
        ("today", DAY_MIN): [DAY_MIN],
        ("week", DAY_MIN): [DAY_MIN],
        ("month", DAY_MIN): [DAY_MIN],
        ("overdue", DAY_MIN): [],
        ("today", DAY_MAX): [DAY_MAX],
        ("week", DAY_MAX): [DAY_MAX],
        ("month", DAY_MAX): [DAY_MAX],
        ("overdue", DAY_MAX): [DAY_MIN],
    }
    assert due == expected[(window, on)]


@pytest.mark.parametrize("ahead", [0, 1, 366])
def test_dunning_works_on_the_first_and_last_day(
    any_crm: pycrm.CRM, tenant: str, edge_plan: Any, ahead: int
) -> None:
    crm = pycrm.CRM(
        any_crm.storage,
        settings=pycrm.Settings(dunning_days_ahead=ahead),
        clock=any_crm.clock,
        load_entry_points=False,
    )
    acme = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
    first = acme.receivables.run_dunning(on=DAY_MIN)
    assert [t.dunning_due_on for t in first] == ([DAY_MIN] if ahead else [])
    last = acme.receivables.run_dunning(on=DAY_MAX)
    edge = sorted(t.dunning_due_on for t in last if t.order_id == edge_plan.order_id)
    assert edge == ([DAY_MAX] if ahead else [DAY_MIN])


@pytest.mark.parametrize(
    "period", [(DAY_MIN, DAY_MAX), (DAY_MAX, DAY_MAX), (DAY_MIN, DAY_MIN)], ids=str
)
def test_pipeline_reports_take_periods_at_the_edges(acme: Any, period: Any) -> None:
    reports = acme.reports
    assert reports.win_rate(period=period).period == period
    assert reports.forecast(period=period).period == period
    assert reports.weighted_pipeline(period=period).period == period
    assert reports.funnel(period=period).period == period
    assert reports.lost_reasons(period=period).period == period
    assert reports.dwell_times(period=period).period == period


def test_a_deal_won_on_the_last_day_counts_in_a_period_ending_then(
    acme: Any, world: dict[str, Any], clock: pycrm.FixedClock
) -> None:
    clock.set(dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC))
    acme.opportunities.win(world["opportunity"].id)
    assert acme.reports.win_rate(period=(dt.date(9999, 12, 31), DAY_MAX)).total.won == 1


def test_receivables_reports_take_the_whole_calendar(acme: Any, edge_plan: Any) -> None:
    report = acme.reports.outstanding(DAY_MIN, DAY_MAX, period="year")
    assert [row.period for row in report.rows] == ["0001", "2026", "9999"]
    assert acme.reports.sales(DAY_MIN, DAY_MAX).rows == []
    assert acme.reports.collected(DAY_MIN, DAY_MAX, period="quarter").rows == []


def test_an_aging_on_a_day_its_buckets_cannot_reach_back_from_names_the_day(
    acme: Any, edge_plan: Any
) -> None:
    assert refused(lambda: acme.reports.aging(on=DAY_MIN)) == ["on"]
    everything = pycrm.Money("3300.00", "CNY")  # the world's plan and the edge plan
    assert acme.reports.aging(on=dt.date(1, 4, 1)).totals.total == everything
    assert acme.reports.aging(on=DAY_MAX).totals.total == everything


# -- 6. __in lists -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["name__in", "id__in", "custom.tier__in", "custom.segment__in"])
def test_in_lists_are_bounded_on_every_backend(acme: Any, key: str) -> None:
    make: dict[str, Callable[[int], Any]] = {
        "name__in": str,
        "id__in": lambda i: uuid.UUID(int=i),
        "custom.tier__in": int,
        "custom.segment__in": lambda i: f"s{i}",
    }
    values = [make[key](i) for i in range(100_000)]
    assert refused(lambda: acme.customers.list({key: values})) == [f"where.{key}"]
    assert acme.customers.count({key: values[:1000]}) == 0  # the bound itself works


@pytest.mark.parametrize("value", [5, None, "abc", {"a": 1}])
def test_a_custom_in_filter_takes_a_list(acme: Any, value: Any) -> None:
    assert refused(lambda: acme.customers.list({"custom.tier__in": value})) == [
        "where.custom.tier__in"
    ]


# -- 7. bounded work from one argument -------------------------------------------------------------


@pytest.fixture
def big_order(acme: Any, world: dict[str, Any]) -> Any:
    line = {"description": "x", "quantity": 1, "unit_price": "100000.00 CNY"}
    return acme.orders.create(customer_id=world["customer"].id, currency="CNY", lines=[line])


@pytest.mark.parametrize(
    ("how", "path"),
    [
        ({"parts": 601}, "parts"),
        ({"parts": 10**6}, "parts"),
        ({"parts": 10**18}, "parts"),
        ({"by": "percent", "percents": ["0.1"] * 1000}, "percents"),
        ({"by": "amount", "amounts": ["100.00 CNY"] * 1000}, "amounts"),
        ({"due_dates": [dt.date(2026, 1, 1)] * 601}, "parts"),
    ],
    ids=["601 parts", "a million parts", "10**18 parts", "percents", "amounts", "due dates"],
)
def test_a_plan_has_at_most_600_installments(
    acme: Any, big_order: Any, how: dict[str, Any], path: str
) -> None:
    with pytest.raises(pycrm.ValidationError) as caught:
        acme.payment_plans.plan_for_order(big_order.id, first_due=dt.date(2026, 1, 1), **how)
    assert caught.value.errors[0][0] == path
    assert "at most 600 installments" in caught.value.errors[0][1]
    assert acme.payment_plans.count() == 1  # the world's own plan


def test_600_installments_are_planned(acme: Any, big_order: Any) -> None:
    plan = acme.payment_plans.plan_for_order(
        big_order.id, parts=600, first_due=dt.date(2026, 1, 31)
    )
    assert len(plan.installments) == 600 and plan.installments[-1].due_on.year == 2075


def test_a_plan_written_by_hand_has_at_most_600_installments(
    acme: Any, world: dict[str, Any]
) -> None:
    order = world["unplanned_orders"][0]
    parts = [{"due_on": dt.date(2026, 1, 1), "amount": "0.01 CNY"}] * 601
    fields = {"order_id": order.id, "customer_id": world["customer"].id, "total": "6.01 CNY"}
    assert refused(lambda: acme.payment_plans.create(**fields, installments=parts)) == [
        "installments"
    ]


@pytest.mark.parametrize("many", [21, 2001])
def test_lists_are_ordered_and_grouped_by_at_most_20_fields(acme: Any, many: int) -> None:
    assert refused(lambda: acme.customers.list(order_by=["name"] * many)) == ["order_by"]
    assert refused(lambda: acme.customers.subtotals(["name"] * many)) == ["by"]
    assert acme.customers.list(order_by=["name", "-level"] * 10).items == []


# -- found by the fuzz suite (tests/unit/test_fuzz_public_api.py) ------------------------------


@pytest.mark.parametrize(
    ("service", "key"),
    [
        ("products", "active__lt"),
        ("products", "active__gte"),
        ("customers", "custom.vip__gt"),
        ("customers", "custom.vip__lte"),
    ],
)
def test_true_and_false_are_not_ordered_in_filters(
    any_crm: pycrm.CRM, acme: Any, service: str, key: str
) -> None:
    # SQL refused these with a raw SQLAlchemy ArgumentError; memory answered them.
    any_crm.fields.define("customer", "vip", "boolean", label="VIP")
    assert refused(lambda: getattr(acme, service).list({key: True})) == [f"where.{key}"]
    assert getattr(acme, service).count({key.partition("__")[0] + "__in": [True]}) == 0


def test_an_order_line_without_a_quantity_is_refused(acme: Any, world: dict[str, Any]) -> None:
    line = {"description": "横幅", "unit_price": "1.00 CNY"}
    customer = world["customer"].id
    assert refused(
        lambda: acme.orders.create(customer_id=customer, currency="CNY", lines=[line])
    ) == ["lines.0.quantity"]
    rows = [{"customer_id": customer, "currency": "CNY", "lines": [{}]}]
    assert refused(lambda: acme.orders.import_many(rows)) == ["0.lines.0.quantity"]


def test_an_installment_without_a_date_or_amount_is_refused(
    acme: Any, world: dict[str, Any]
) -> None:
    plan = world["plan"]
    paths = refused(lambda: acme.payment_plans.update(plan.id, installments=[{}]))
    assert paths == ["installments.0.due_on", "installments.0.amount"]
    assert acme.payment_plans.get(plan.id).installments == plan.installments


def test_a_tenant_with_nul_is_refused(any_crm: pycrm.CRM) -> None:
    assert refused(lambda: any_crm.as_user(pycrm.SYSTEM_USER, tenant="acme\x00")) == ["tenant"]
    assert refused(lambda: any_crm.unit_of_work(tenant="\ud800", user=pycrm.SYSTEM_USER)) == [
        "tenant"
    ]


def test_a_user_right_without_entity_or_action_is_refused(acme: Any) -> None:
    assert refused(lambda: acme.users.create(name="张伟", rights=[{}])) == [
        "rights.0.entity",
        "rights.0.action",
    ]
    rows = [{"name": "张伟", "rights": [{"entity": "customer"}]}]
    assert refused(lambda: acme.users.import_many(rows)) == ["0.rights.0.action"]
    assert acme.users.count() == 0


HUGE = 10**5000  # Python refuses to print it: a message quoting it failed with ValueError


@pytest.mark.parametrize(
    ("call", "path"),
    [
        (lambda a, w: a.customers.get(HUGE), "id"),
        (lambda a, w: a.customers.delete(w["customer"].id, version=HUGE), "version"),
        (lambda a, w: a.customers.delete(w["customer"].id, version=-HUGE), "version"),
        (lambda a, w: a.orders.confirm(w["order"].id, version=Decimal("1E+999999")), "version"),
        (lambda a, w: a.customers.create(name="x", source=HUGE), "source"),
        (lambda a, w: a.customers.create(name="x", custom={"tags": [HUGE]}), "custom.tags"),
        (
            lambda a, w: a.payment_plans.plan_for_order(
                w["unplanned_orders"][0].id, parts=Decimal("1E+999999")
            ),
            "parts",
        ),
    ],
    ids=["get", "delete", "delete negative", "confirm", "enum", "choice", "parts"],
)
def test_whole_numbers_too_long_to_print_are_named_in_errors(
    any_crm: pycrm.CRM, acme: Any, world: dict[str, Any], call: Any, path: str
) -> None:
    any_crm.fields.define("customer", "tags", "multi_choice", label="Tags", choices=["a"])
    assert refused(lambda: call(acme, world)) == [path]


def test_rounding_a_whole_number_too_long_to_print_is_a_validation_error() -> None:
    assert refused(lambda: pycrm.Money.rounded(HUGE, "CNY")) == ["amount"]
