"""Every public entry point of the services, called with arbitrary and adversarial arguments
against a small world of records, on every backend:

(a) every exception it raises is a :class:`pycrm.CRMError`, and
(b) a call that raised changed nothing: the tenant's stored state (every record of every
    kind, deleted ones included, and the number of audit records) is the same afterwards.

The entry points are found on the service classes, so a new method is fuzzed as soon as it
exists; a parameter of a type no strategy covers fails
``test_every_entry_point_has_a_strategy``. Each call runs inside a unit of work that then
commits, so a failing call must leave nothing behind in its savepoint either.

``PYCRM_FUZZ_EXAMPLES`` sets the examples per entry point on the memory backend and SQLite
(default 40, so that the everyday run stays short; CI runs 300, see ``.ci/run``;
``PYCRM_FUZZ_EXAMPLES=1000`` for a long local run); PostgreSQL runs half as many.
Arguments are mostly plausible (ids of the world's records, valid words and amounts, with
the edge cases of their type), and in about half the calls one argument (or one field) is
junk.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import functools
import hashlib
import inspect
import io
import json
import os
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
import typing_extensions
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import pycrm
from pycrm.core.introspect import unwrap
from pycrm.services.catalogue import Services
from pycrm.services.reports import Reports
from pycrm.storage.memory import MemoryBackend
from pycrm.storage.sqlalchemy.tables import changes as changes_table
from pycrm.storage.sqlalchemy.tables import metadata
from pycrm.testing import make_world

EXAMPLES = int(os.environ.get("PYCRM_FUZZ_EXAMPLES", "40"))
#: A call on PostgreSQL costs about twice as much (each is several round trips to the
#: server): half the examples keep its run about as long as the others'.
POSTGRES_SHARE = 2
BACKENDS = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)

# -- the entry points --------------------------------------------------------------------------


def _service_classes() -> dict[str, type]:
    services = Services(lambda **_: None)  # type: ignore[arg-type,return-value]
    found = {n: type(v) for n, v in vars(services).items() if not n.startswith("_")}
    return {**found, "reports": Reports}


SERVICE_CLASSES = _service_classes()
ENTRY_POINTS = [
    (service, name)
    for service, cls in sorted(SERVICE_CLASSES.items())
    for name, _ in inspect.getmembers(cls, inspect.isfunction)
    if not name.startswith("_")
]

#: Calls that only read: after one succeeds, the stored state is known to be unchanged
#: (were it changed, the next failing call's comparison would catch it).
READS = frozenset(
    {"get", "list", "stream", "count", "subtotals", "history", "transitions", "stale", "due"}
    | {name for name, _ in inspect.getmembers(Reports, inspect.isfunction)}
)

# -- values ------------------------------------------------------------------------------------
#
# Each parameter gets *plausible* values of its type (often valid, with edge cases of the
# type: huge numbers, edge dates, NUL and surrogates in text, ids of no record) so calls get
# past the first check; in about half the calls one parameter (or field) gets *junk* instead.

NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "😀",
    "' OR 1=1 --",
    "%",
    "_",
    "\\",
    "null",
    "NaN",
    "-1",
    "1e400",
    "9" * 30,
    "2026-13-45",
    "Ω\u0301",
]
#: 10**4000 rather than more: hypothesis prints failing examples, and Python refuses to
#: print integers of more than 4300 digits.
HUGE_INTS = [0, -1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1, 10**30, -(10**30), 10**4000]
SPECIAL_DECIMALS = [
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    Decimal("1E+999999"),
    Decimal("1E-999999"),
    Decimal("0E-1000"),
    Decimal("-0"),
    Decimal("1" * 40),
    Decimal("0.1234567890123456"),
]
EDGE_DATES = [dt.date.min, dt.date.max, dt.date(1970, 1, 1), dt.date(2026, 2, 28)]
OFFSETS = [dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(dt.timedelta(hours=-12))]
EDGE_TIMES = [
    dt.datetime.min,
    dt.datetime.max,
    dt.datetime.min.replace(tzinfo=OFFSETS[1]),
    dt.datetime.max.replace(tzinfo=OFFSETS[2]),
    START,
]
ODD_MONEY = [
    "-5.00 CNY",
    "0.00 CNY",
    "1.005 CNY",
    "1E+30 CNY",
    "92233720368547758.07 CNY",
    "5 JPY",
    "1.00 USD",
    "1.00 XXX",
    "1.00 cny",
    "1.00CNY",
    {"amount": Decimal("NaN"), "currency": "CNY"},
    {"amount": 1.5, "currency": "CNY"},
    {"amount": "1.00"},
]


def _define_fields(crm: pycrm.CRM) -> None:
    define = crm.fields.define
    define("customer", "tier", "integer", label="Tier", minimum=0, maximum=10**12)
    define("customer", "score", "decimal", label="Score")
    define("customer", "segment", "text", label="Segment", pattern=r"[a-z ]+")
    define("customer", "seen", "datetime", label="Seen")
    define("customer", "since", "date", label="Since")
    define("customer", "budget", "money", label="Budget")
    define("customer", "tags", "multi_choice", label="Tags", choices=["a", "b"])
    define("customer", "partner", "reference", label="Partner", target="customer")
    define("customer", "vip", "boolean", label="VIP")
    define("order", "tier", "integer", label="Tier")
    define("opportunity", "score", "decimal", label="Score")


_SAMPLE = pycrm.CRM.connect("memory://", load_entry_points=False)
_define_fields(_SAMPLE)
_DEFINITIONS = list(_SAMPLE.fields)
_PIPELINES = list(_SAMPLE.pipelines.values())
VOCABULARY = sorted(
    {
        *(p.key for p in _PIPELINES),
        *(s.key for p in _PIPELINES for s in p.stages),
        *(r for p in _PIPELINES for r in p.lost_reasons),
        *("owner", "department", "pipeline", "stage", "forecast", "customer"),
        *("percent", "amount", "equal", "monthly", "quarterly"),
        *("today", "week", "month", "overdue", "quarter", "year"),
        *("name", "-name", "level", "amount", "total", "status", "CNY", "USD"),
        *("北京联成", "acme", "a", "b"),
    }
)


@attrs.define
class World:
    """The records fuzzed calls may name: the current test's. Strategies are built once
    and read the current world as they draw, so hypothesis prepares each of them once."""

    ids: dict[str, list[uuid.UUID]] = attrs.field(factory=dict)
    cursors: list[str] = attrs.field(factory=lambda: ["e30="])

    def of(self, kind: str | None) -> list[uuid.UUID]:
        """Ids of records of ``kind`` (of any kind if None or there are none)."""
        found = self.ids.get(kind or "", [])
        return found or [i for ids in self.ids.values() for i in ids] or [uuid.UUID(int=1)]


WORLD = World()


def _one_of(values: Callable[[], list[Any]]) -> st.SearchStrategy[Any]:
    return st.integers(0, 999).map(lambda i: (found := values())[i % len(found)])


class _Pick:
    """The ``i``-th of some strategies (with a short repr: hypothesis shows it in reports,
    and would otherwise compile a lambda's source to describe it on every draw)."""

    def __init__(self, choices: list[st.SearchStrategy[Any]]) -> None:
        self.choices = choices

    def __call__(self, i: int) -> st.SearchStrategy[Any]:
        return self.choices[i]

    def __repr__(self) -> str:
        return f"pick from {len(self.choices)}"


def _weighed(usual: st.SearchStrategy[Any], times: int, *odd: st.SearchStrategy[Any]) -> Any:
    """``usual`` ``times`` times as often as each of ``odd``. (``st.one_of`` cannot weigh:
    it merges repeated and nested alternatives into one list and picks evenly from that.)"""
    choices = [usual] * times + list(odd)
    return st.sampled_from(range(len(choices))).flatmap(_Pick(choices))


def _mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> Any:
    """``usual`` nine times in ten, else ``odd``."""
    return _weighed(usual, 9, odd)


#: Text longer than any field takes (made when drawn: it would fill every strategy's repr).
LONG_TEXT = st.sampled_from([("x", 501), ("长", 20_001), ("x", 100_000)]).map(
    lambda made: made[0] * made[1]
)
NASTY = st.one_of(
    st.sampled_from(NASTY_TEXT),
    LONG_TEXT,
    st.text(st.characters(exclude_categories=()), max_size=12),
)
#: Decimals of any size and precision (cheaper to draw than ``st.decimals()``).
DECIMALS = st.one_of(
    st.sampled_from(SPECIAL_DECIMALS),
    st.tuples(st.integers(-(10**20), 10**20), st.integers(-30, 30)).map(
        lambda pair: Decimal(pair[0]).scaleb(pair[1])
    ),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_INTS),
    st.floats(),
    DECIMALS,
    NASTY,
    st.binary(max_size=8),
    st.dates(),
    st.sampled_from(EDGE_DATES),
    st.datetimes(timezones=st.sampled_from([None, *OFFSETS])),
    st.sampled_from(EDGE_TIMES),
    st.uuids(),
    st.just(object()),
)
_NESTED = st.one_of(
    st.lists(SCALARS, max_size=3),
    st.tuples(SCALARS, SCALARS),
    st.dictionaries(NASTY, SCALARS, max_size=3),
)
#: Wrong types, huge numbers, NaN, surrogates, NUL, edge dates and times, nested junk.
JUNK = st.one_of(
    SCALARS,
    SCALARS,
    _NESTED,
    st.lists(_NESTED, max_size=2),
    st.dictionaries(NASTY, _NESTED, max_size=2),
)
WORDS = _mostly(st.sampled_from(VOCABULARY), NASTY)


@functools.cache
def ids_of(kind: str | None) -> st.SearchStrategy[Any]:
    """Ids of the world's records of ``kind`` (as UUIDs or text), sometimes of another kind
    or of no record."""
    known = _one_of(lambda: WORLD.of(kind))
    others = st.one_of(_one_of(lambda: WORLD.of(None)), st.uuids())
    return _mostly(st.one_of(known, known.map(str)), others)


IDS = ids_of(None)
#: The kind of record a parameter or field of this name refers to.
_REFERS_TO = {
    "plan_id": "payment_plan",
    "owner_id": "user",
    "manager_id": "user",
    "assignee_id": "user",
    "to_user": "user",
    **{f"{kind}_id": kind for kind in ("order", "customer", "contact", "lead", "product")},
    **{f"{kind}_id": kind for kind in ("opportunity", "ticket", "department", "installment")},
}
INTS = _mostly(st.integers(0, 12), st.one_of(st.integers(), st.sampled_from(HUGE_INTS)))
NUMBERS = _mostly(
    st.one_of(
        st.integers(0, 100),
        st.integers(0, 10**4).map(lambda cents: Decimal(cents).scaleb(-2)),
        st.sampled_from(["1", "0.5", "2.25"]),
    ),
    st.one_of(DECIMALS, st.sampled_from(HUGE_INTS), st.sampled_from(["-1", "abc", "1e9"])),
)
AMOUNTS = _mostly(
    st.integers(1, 10**7).map(lambda cents: pycrm.Money(Decimal(cents).scaleb(-2), "CNY")),
    st.sampled_from(ODD_MONEY),
)
DATES = _mostly(
    st.dates(dt.date(2025, 6, 1), dt.date(2027, 6, 1)),
    st.one_of(st.dates(), st.sampled_from(EDGE_DATES)),
)
TIMES = _mostly(
    st.datetimes(
        dt.datetime(2025, 6, 1), dt.datetime(2027, 6, 1), timezones=st.sampled_from(OFFSETS)
    ),
    st.one_of(st.sampled_from(EDGE_TIMES), st.datetimes()),
)
EMAILS = _mostly(st.sampled_from(["li.lei@example.cn", "a@b.co"]), WORDS)
ANY_VALUE = st.one_of(WORDS, IDS, AMOUNTS, NUMBERS, DATES, TIMES, st.booleans(), JUNK)
CUSTOM_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "tier": INTS,
    "score": NUMBERS,
    "segment": _mostly(st.sampled_from(["smb", "gov", "big deal"]), NASTY),
    "seen": TIMES,
    "since": DATES,
    "budget": AMOUNTS,
    "tags": st.lists(_mostly(st.sampled_from(["a", "b"]), WORDS), max_size=3),
    "partner": IDS,
    "vip": st.booleans(),
}
_PAYLOADS = st.one_of(JUNK, st.fixed_dictionaries({"o": WORDS, "v": st.lists(JUNK, max_size=3)}))
CURSORS = st.one_of(
    _one_of(lambda: WORLD.cursors),
    _PAYLOADS.map(lambda p: base64.urlsafe_b64encode(json.dumps(p, default=str).encode()).decode()),
    NASTY,
)


class NoStrategy(Exception):
    """A parameter type the suite cannot draw values for."""


#: Field names whose values have a shape their type does not tell.
_BY_NAME: dict[str, st.SearchStrategy[Any]] = {
    # Files in and out stay in memory: a CSV, sometimes a broken one; a fresh buffer.
    "source": st.sampled_from(
        ["name,phone\nACME,010-6552 9988\n", "name\n\n,\n", "\x00\n", "客户名称\n联成\n"]
    ).map(io.StringIO),
    "target": st.builds(io.StringIO),
    "on_progress": st.none(),
    "email": EMAILS,
    "currency": _mostly(st.sampled_from(["CNY", "CNY", "USD", "JPY"]), WORDS),
}


def plausible(tp: Any, name: str = "", kind: str | None = None) -> st.SearchStrategy[Any]:
    """Values of type ``tp``: mostly valid, sometimes an edge case of the type. ``name``
    and ``kind`` (of the record a call is about) tell which ids fit."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name in ("record_id", "parent_id"):
        return ids_of(kind)
    if name in _REFERS_TO:
        return ids_of(_REFERS_TO[name])
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return ANY_VALUE
    if origin in (typing.Annotated, typing.Required, typing.NotRequired):
        return plausible(args[0], name, kind)
    if origin in (typing.Union, types.UnionType):
        return _union(args, name, kind)
    if origin is typing.Literal:
        return _mostly(st.sampled_from(args), WORDS)
    if typing_extensions.is_typeddict(tp):
        return typed_dicts(tp)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return st.tuples(*(plausible(a) for a in args))
    if origin in (list, Sequence, Iterable) and args:
        return st.lists(plausible(args[0]), max_size=4)
    if origin in (dict, Mapping):
        return st.dictionaries(WORDS, ANY_VALUE, max_size=3)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _mostly(st.sampled_from([m.value for m in tp]), WORDS)
    if tp not in _SIMPLE:
        raise NoStrategy(tp)
    return _SIMPLE[tp]


def _union(args: tuple[Any, ...], name: str, kind: str | None) -> st.SearchStrategy[Any]:
    # ``UUID | str``, ``Money | str``, ``Role | str``: the str is another spelling of the
    # other type, which the values already use; None is the rare case.
    kinds = [a for a in args if a is not type(None)]
    if len(kinds) > 1 and str in kinds:
        kinds.remove(str)
    main = st.one_of(*(plausible(a, name, kind) for a in kinds))
    return _mostly(main, st.none()) if len(kinds) < len(args) else main


_SIMPLE: dict[Any, st.SearchStrategy[Any]] = {
    type(None): st.none(),
    str: WORDS,
    int: INTS,
    bool: st.booleans(),
    Decimal: NUMBERS,
    uuid.UUID: IDS,
    dt.date: DATES,
    dt.datetime: TIMES,
    pycrm.Money: AMOUNTS,
    # Tenant configuration: a picklist key with labels, a small pipeline.
    pycrm.Choice: st.builds(
        pycrm.Choice,
        st.sampled_from(["mfg", "retail", "vip", "华东", "a b"]),
        st.just({"en_US": "Label", "zh_CN": "标签"}),
    ),
    pycrm.Pool: st.builds(
        pycrm.Pool,
        key=st.sampled_from(["east", "west"]),
        name=st.just("Pool"),
        max_customers=st.sampled_from([None, 0, 2]),
        cooldown_days=st.sampled_from([0, 7]),
        recycle=st.just([pycrm.RecycleRule(reason="no_follow_up", days=30)]),
    ),
    pycrm.AssignmentRule: st.uuids().map(
        lambda user: pycrm.AssignmentRule(entity="customer", user=user)
    ),
    # The service desk: calendars, SLA policies, care days.
    pycrm.BusinessCalendar: st.sampled_from(["default", "support"]).map(
        lambda key: pycrm.BusinessCalendar(key=key, time_zone="Asia/Shanghai")
    ),
    pycrm.SlaPolicy: st.sampled_from(["4h", "90m", "2d"]).map(
        lambda target: pycrm.SlaPolicy(key="std", first_response=target, resolution="2d")
    ),
    pycrm.ChurnRules: st.sampled_from([30, 90]).map(
        lambda days: pycrm.ChurnRules(no_order_days=days)
    ),
    pycrm.CareDay: st.sampled_from(["09-25", "2026-02-17"]).map(
        lambda on: pycrm.CareDay(on=on, name="节日")
    ),
    pycrm.Pipeline: st.builds(
        pycrm.Pipeline,
        st.sampled_from(["b2b", "own", "eight_step"]),
        st.just("Pipeline"),
        st.just([pycrm.Stage("qualify", probability=10), pycrm.Stage("propose", probability=50)]),
    ),
}


@functools.cache
def _field_names(fields: type) -> list[str]:
    return sorted(typing.get_type_hints(fields))


@functools.cache
def _field(fields: type, name: str) -> st.SearchStrategy[Any]:
    if name == "custom":
        return _custom_values(fields)
    hints = typing.get_type_hints(fields, include_extras=True)
    return plausible(hints[name], name, _KIND_OF_FIELDS.get(fields))


def _custom_values(fields: type) -> st.SearchStrategy[dict[str, Any]]:
    kind = _KIND_OF_FIELDS.get(fields)
    keys = [d.key for d in _DEFINITIONS if d.entity == kind] or ["tier"]
    values = {key: CUSTOM_VALUES[key] for key in keys}
    return st.fixed_dictionaries({}, optional={**values, "colour": JUNK})


@functools.cache
def typed_dicts(fields: type, required: frozenset[str] = frozenset()) -> st.SearchStrategy[Any]:
    """Some of the fields of a TypedDict (``required`` ones always, but for a case in
    twenty or so); in about half the cases one field, or an unknown one, is junk."""
    values = {name: _field(fields, name) for name in _field_names(fields)}
    given = {name: values[name] for name in required}
    others = {name: v for name, v in values.items() if name not in required}

    def broken(name: str) -> st.SearchStrategy[Any]:
        rest = {n: v for n, v in others.items() if n != name}
        return st.fixed_dictionaries({**given, name: JUNK}, optional=rest)

    return _weighed(
        st.fixed_dictionaries(given, optional=others),
        len(values) + 1,
        st.fixed_dictionaries({}, optional=values),
        *(broken(name) for name in [*values, "nmae"]),
    )


_KIND_OF_FIELDS: dict[type, str] = {}  # filled below from the services


# -- lists: where, order_by, by, total ---------------------------------------------------------


def _filterable(kind: type) -> dict[str, Any]:
    names = {f.name: unwrap(f.type)[0] for f in attrs.fields(kind)}
    types_ = {n: tp for n, tp in names.items() if typing.get_origin(tp) not in (list, dict)}
    custom = {d.path: d.key for d in _DEFINITIONS if d.entity == kind.kind}
    return {**types_, **{path: ("custom", key) for path, key in custom.items()}}


_OPS = ["", "", "__ne", "__lt", "__lte", "__gt", "__gte", "__in", "__is_null"]
_TEXT_OPS = [*_OPS, "__contains", "__contains"]


@st.composite
def _where(draw: Any, kind: type) -> dict[str, Any]:
    """Filters on fields of ``kind`` (custom ones too) with operators that fit them."""
    fields = _filterable(kind)
    where = {}
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(sorted(fields)))
        tp = fields[name]
        text = tp is str or (isinstance(tp, tuple) and tp[1] == "segment")
        op = draw(st.sampled_from(_TEXT_OPS if text else _OPS))
        value = CUSTOM_VALUES[tp[1]] if isinstance(tp, tuple) else plausible(tp, name)
        if op == "__in":
            value = st.lists(value, max_size=4)
        elif op == "__is_null":
            value = st.booleans()
        where[name + op] = draw(_mostly(value, JUNK))
    return where


def _order_by(kind: type) -> st.SearchStrategy[Any]:
    names = sorted(_filterable(kind))
    one = _mostly(st.sampled_from([*names, *("-" + n for n in names)]), WORDS)
    return st.one_of(one, st.lists(one, max_size=3))


def _record_parameter(cls: type, method: str, name: str) -> st.SearchStrategy[Any] | None:
    """Parameters of the record services' own shape (field names of their entity)."""
    kind = getattr(cls, "entity", None)
    if kind is None:
        return None
    fields = sorted(_filterable(kind))
    if name == "where":
        return _mostly(_where(kind), st.none())
    if name == "order_by":
        return _order_by(kind)
    if name == "by" and method == "subtotals":
        return st.lists(_mostly(st.sampled_from(fields), WORDS), max_size=3)
    if name == "total" and method == "subtotals":
        return _mostly(st.sampled_from(["amount", "total", "price", "fee", "name"]), st.none())
    if name == "rows":
        required = frozenset(getattr(cls, "required", ()))
        return st.lists(typed_dicts(cls.fields, required), max_size=3)  # type: ignore[attr-defined]
    return None


# -- calls -------------------------------------------------------------------------------------


@attrs.frozen
class Call:
    """One entry point and the strategy of its arguments: plausible ones, except in about
    half the calls one parameter that gets junk."""

    service: str
    method: str
    arguments: st.SearchStrategy[tuple[list[Any], dict[str, Any]]]


def _arguments(
    positional: list[tuple[str, st.SearchStrategy[Any]]],
    keywords: dict[str, st.SearchStrategy[Any]],
    required: set[str],
    extra: st.SearchStrategy[dict[str, Any]] | None,
) -> st.SearchStrategy[tuple[list[Any], dict[str, Any]]]:
    def broken(name: str | None) -> st.SearchStrategy[tuple[list[Any], dict[str, Any]]]:
        args = st.tuples(*(JUNK if n == name else s for n, s in positional))
        given = {n: JUNK if n == name else s for n, s in keywords.items() if n in required}
        if name in keywords:
            given[name] = JUNK
        rest = {n: s for n, s in keywords.items() if n not in given}
        kwargs = st.fixed_dictionaries(given, optional=rest)
        more = st.just({}) if extra is None else extra
        return st.tuples(args, kwargs, more).map(
            lambda drawn: (list(drawn[0]), {**drawn[1], **drawn[2]})
        )

    names = [name for name, _ in positional] + list(keywords)
    return _weighed(broken(None), len(names) + 1, *(broken(name) for name in names))


@functools.cache
def plan_call(service: str, method: str) -> Call:
    """How to call ``uow.<service>.<method>`` with fuzzed arguments; NoStrategy if a
    parameter has a type no strategy covers."""
    cls = SERVICE_CLASSES[service]
    function = inspect.unwrap(getattr(cls, method))
    hints = typing.get_type_hints(function, include_extras=True)
    positional, keywords, required = [], {}, set()
    extra = None
    for p in list(inspect.signature(function).parameters.values())[1:]:
        strategy = _parameter(cls, method, p.name, hints.get(p.name, Any))
        if p.kind is p.VAR_KEYWORD:
            extra = strategy
        elif p.kind is p.POSITIONAL_ONLY:
            positional.append((p.name, strategy))
        else:
            keywords[p.name] = strategy
            if p.default is p.empty:
                required.add(p.name)
    return Call(service, method, _arguments(positional, keywords, required, extra))


def _parameter(cls: type, method: str, name: str, tp: Any) -> st.SearchStrategy[Any]:
    if name == "after":
        return CURSORS
    if (special := _record_parameter(cls, method, name)) is not None:
        return special
    if typing_extensions.get_origin(tp) in (typing_extensions.Unpack, typing.Unpack):
        (fields,) = typing.get_args(tp)
        creating = method.startswith("create")
        return typed_dicts(
            fields, frozenset(getattr(cls, "required", ())) if creating else frozenset()
        )
    entity = getattr(cls, "entity", None)
    return plausible(tp, name, entity.kind if entity is not None else None)


for _cls in SERVICE_CLASSES.values():
    if hasattr(_cls, "fields") and hasattr(_cls, "entity"):
        _KIND_OF_FIELDS[_cls.fields] = _cls.entity.kind


# -- the stored state --------------------------------------------------------------------------


def digest(crm: pycrm.CRM, tenant: str) -> str:
    """What the tenant has stored: every record of every kind (deleted ones, child rows and
    stage transitions too) and the number of audit records. Read straight from the
    backend's tables: through the storage protocol it would cost more than the calls."""
    summary = hashlib.sha256()
    storage = crm.storage
    if isinstance(storage, MemoryBackend):
        for (_, owner), table in sorted(storage._tables.items()):
            if owner == tenant and table:  # a read leaves an empty table behind
                summary.update(repr(sorted(table.items())).encode("utf-8", "surrogatepass"))
        audit = len(storage._changes)  # only this test's tenant writes while it runs
        summary.update(f"audit records: {audit}".encode())
        return summary.hexdigest()
    engine: sa.Engine = storage.engine  # type: ignore[attr-defined]
    cursor = _READERS[engine].cursor()
    named = engine.dialect.name == "postgresql"
    for query in _stored_rows(engine):
        cursor.execute(query, {"tenant": tenant} if named else (tenant,))
        summary.update(repr(cursor.fetchall()).encode("utf-8", "surrogatepass"))
    return summary.hexdigest()


#: One driver connection per database, outside any transaction (autocommit), that reads
#: what the calls committed: a digest then costs a query or two, no pool or transaction.
_READERS: dict[sa.Engine, Any] = {}


@contextmanager
def _reader(crm: pycrm.CRM) -> Iterator[None]:
    engine = getattr(crm.storage, "engine", None)
    if engine is None:
        yield
        return
    pooled = engine.raw_connection()
    connection = pooled.driver_connection
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        connection.autocommit = True  # SQLite's already is: pycrm issues BEGIN itself
    _READERS[engine] = connection
    try:
        yield
    finally:
        del _READERS[engine]
        if postgres:
            connection.autocommit = False
        pooled.close()


_QUERIES: dict[sa.Engine, list[str]] = {}


def _stored_rows(engine: sa.Engine) -> list[str]:
    """Queries of every row of a tenant in each table that holds tenant data, and of the
    number of audit records (on PostgreSQL all in one, which prints a row as text)."""
    if engine not in _QUERIES:
        mark = "%(tenant)s" if engine.dialect.name == "postgresql" else "?"
        present = set(sa.inspect(engine).get_table_names())
        tables = [
            t
            for t in metadata.sorted_tables
            if t.name in present and "tenant" in t.c and t is not changes_table
        ]
        count = f"SELECT count(*) FROM pycrm_changes WHERE tenant = {mark}"
        if engine.dialect.name == "postgresql":
            rows = [
                f"SELECT '{t.name}', x::text FROM \"{t.name}\" x WHERE x.tenant = {mark}"
                for t in tables
            ]
            union = " UNION ALL ".join([*rows, f"SELECT 'audit', ({count})::text"])
            _QUERIES[engine] = [f"{union} ORDER BY 1, 2"]
        else:
            order = {t.name: ", ".join(c.name for c in t.primary_key) for t in tables}
            rows = [
                f'SELECT * FROM "{t.name}" WHERE tenant = {mark} ORDER BY {order[t.name]}'
                for t in tables
            ]
            _QUERIES[engine] = [*rows, count]
    return _QUERIES[engine]


# -- the world ---------------------------------------------------------------------------------


def build_world(crm: pycrm.CRM, tenant: str) -> World:
    """One record of each kind (and a lead, a payment, an activity, a won deal, customers
    with custom values), with list cursors to continue from."""
    with crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        made = make_world(uow)
        plan = made["plan"]
        payment = uow.payments.record(plan.id, "100.00 CNY")[0]
        won = uow.opportunities.create(customer_id=made["customer"].id, name="won")
        uow.opportunities.win(won.id)
        more = [
            uow.leads.create(name="赵敏", company="杭州西湖食品"),
            uow.activities.create(type="call", subject="回访"),
            *(uow.customers.create(name=f"客户 {i}", custom={"tier": i}) for i in range(3)),
        ]
        cursors = [
            page.next_cursor
            for order in ("name", "-custom.tier", ["level", "-created_at"])
            if (page := uow.customers.list(order_by=order, limit=1)).next_cursor
        ]
    records = [*made.values(), payment, won, *more]
    ids: dict[str, list[uuid.UUID]] = {"user": [pycrm.SYSTEM_USER]}
    for record in (r for item in records for r in (item if isinstance(item, list) else [item])):
        ids.setdefault(record.kind, []).append(record.id)
    ids["installment"] = [part.id for part in plan.installments]
    return World(ids=ids, cursors=cursors)


@pytest.fixture(autouse=True)
def _files_land_in_a_temporary_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A drawn text is a path to an export or import: relative ones land here, not in the
    project."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_crm(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[pycrm.CRM]:
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'crm.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    options = pycrm.Settings(auto_migrate=True, exchange_rates={"USD/CNY": Decimal("7")})
    clock = pycrm.FixedClock(START)
    crm = pycrm.CRM.connect(url, settings=options, clock=clock, load_entry_points=False)
    _define_fields(crm)
    with _reader(crm):
        yield crm
    crm.close()


# -- the properties ----------------------------------------------------------------------------


def test_every_entry_point_has_a_strategy() -> None:
    missing = []
    for service, method in ENTRY_POINTS:
        try:
            plan_call(service, method)
        except NoStrategy as error:
            missing.append(f"{service}.{method}: no strategy for {error.args[0]!r}")
    assert not missing, "\n".join(missing)
    assert {service for service, _ in ENTRY_POINTS} == set(SERVICE_CLASSES)


@pytest.mark.parametrize(
    ("service", "method"), ENTRY_POINTS, ids=[".".join(e) for e in ENTRY_POINTS]
)
def test_bad_arguments_raise_crm_errors_and_change_nothing(
    fuzz_crm: pycrm.CRM, service: str, method: str
) -> None:
    tenant = f"fuzz-{uuid.uuid4().hex[:12]}"
    world = build_world(fuzz_crm, tenant)
    WORLD.ids, WORLD.cursors = world.ids, world.cursors
    call = plan_call(service, method)
    known: list[str | None] = [digest(fuzz_crm, tenant)]

    share = POSTGRES_SHARE if fuzz_crm.storage.name == "postgresql" else 1
    examples = max(1, EXAMPLES // share)

    @settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(data=st.data())
    def calls(data: st.DataObject) -> None:
        args, kwargs = data.draw(call.arguments, label="arguments")
        before = known[0] or digest(fuzz_crm, tenant)
        if _raised(fuzz_crm, tenant, call, args, kwargs):
            known[0] = digest(fuzz_crm, tenant)
            assert known[0] == before, f"{service}.{method} raised but changed stored data"
        else:
            known[0] = before if method in READS else None

    calls()


def _raised(
    crm: pycrm.CRM, tenant: str, call: Call, args: list[Any], kwargs: dict[str, Any]
) -> bool:
    """Call the entry point inside a unit of work that commits; whether it raised."""
    with crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        entry = getattr(getattr(uow, call.service), call.method)
        try:
            result = entry(*args, **kwargs)
            if isinstance(result, pycrm.Stream):
                list(result)  # a stream reads as it is iterated
        except pycrm.CRMError as error:
            event(f"raised {type(error).__name__}")
            return True
        except Exception as error:
            raise AssertionError(
                f"{call.service}.{call.method} raised {type(error).__name__}, not a pycrm.CRMError"
            ) from error
    event("returned")
    return False
