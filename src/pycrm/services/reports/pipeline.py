"""Pipeline analysis: weighted pipeline, forecast, funnel, win rate, lost reasons, dwell.

Each report runs its aggregation in the storage backend (GROUP BY in SQL on the SQL
adapter), grouped by currency; the few per-currency sums are converted here to the
reporting currency with ``crm.exchange_rates`` (a missing rate raises
:class:`pycrm.ExchangeRateMissing`). Results are frozen pydantic models:
``report.model_dump(mode="json")`` is ready for JSON.

Grouping names: ``"owner"`` (the owner's user id), ``"department"`` (the owner's
department), ``"pipeline"``, ``"stage"`` and ``"forecast"`` (the stage's forecast category);
no grouping (``by=()``) is the whole company. A ``period`` is ``(first_day, last_day)``,
both included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from pycrm.core.money import Money, minor_digits
from pycrm.core.opportunities import OpportunityStatus
from pycrm.core.pipeline import WON, ForecastCategory, Pipeline, Stage, StageTransition
from pycrm.errors import ValidationError
from pycrm.schemas import checked_call
from pycrm.services.reports.models import (
    DwellRow,
    DwellTimes,
    Forecast,
    ForecastRow,
    Funnel,
    FunnelStage,
    LostReasonRow,
    LostReasons,
    Period,
    WeightedPipeline,
    WeightedPipelineRow,
    WinRate,
    WinRateRow,
)
from pycrm.storage.base import Filter, Op, Query
from pycrm.storage.capabilities.pipeline import OpportunityTotals, pipeline_queries

if TYPE_CHECKING:
    from pycrm.core.configuration import TenantConfiguration
    from pycrm.services.unit_of_work import Step, UnitOfWork

__all__ = ["PipelineReports"]

#: Grouping names of the reports and the opportunity fields they stand for.
_FIELDS = {
    "owner": ("owner_id",),
    "department": ("department_id",),
    "pipeline": ("pipeline",),
    "stage": ("pipeline", "stage"),
    "forecast": ("pipeline", "stage"),
}
_MS_PER_DAY = Decimal(86_400_000)


class PipelineReports:
    """The pipeline part of ``uow.reports``."""

    _step: Step

    # -- weighted pipeline and forecast ---------------------------------------------------
    @checked_call
    def weighted_pipeline(
        self,
        *,
        by: Sequence[str] = ("owner",),
        period: Period | None = None,
        pipeline: str | None = None,
        on: dt.date | None = None,
    ) -> WeightedPipeline:
        """Open opportunities by group, amount and probability-weighted amount."""
        by = _check_by(by, _FIELDS)
        with self._step(read_only=True) as uow:
            on = on or uow.today()
            money = _Converter(uow.config, on)
            filters = [_eq("status", OpportunityStatus.OPEN), *_close_filters(period)]
            filters += _pipeline_filter(uow, pipeline)
            totals = _totals(uow, filters, _storage_fields(by))
            rows: dict[tuple[Any, ...], list[Any]] = {}
            for item in totals:
                key = _group_key(uow, by, item)
                acc = rows.setdefault(key, [0, money.zero, money.zero])
                acc[0] += item.count
                acc[1] += money.amount(item)
                acc[2] += money.weighted(item)
        result = [
            WeightedPipelineRow(**_group_fields(by, k), count=n, amount=a, weighted=w)
            for k, (n, a, w) in sorted(rows.items(), key=_order)
        ]
        return WeightedPipeline(
            currency=money.currency,
            on=on,
            period=period,
            by=by,
            rows=result,
            count=sum(r.count for r in result),
            total=Money.total((r.amount for r in result), money.currency),
            weighted=Money.total((r.weighted for r in result), money.currency),
        )

    @checked_call
    def forecast(
        self,
        *,
        period: Period,
        by: Sequence[str] = ("owner",),
        pipeline: str | None = None,
        on: dt.date | None = None,
    ) -> Forecast:
        """Won in ``period``, and open deals expected to close in it by forecast category."""
        by = _check_by(by, {k: v for k, v in _FIELDS.items() if k in ("owner", "department")})
        _check_period(period)
        with self._step(read_only=True) as uow:
            on = on or uow.today()
            money = _Converter(uow.config, on)
            chosen = _pipeline_filter(uow, pipeline)
            open_filters = [_eq("status", OpportunityStatus.OPEN), *_close_filters(period)]
            won_filters = [_eq("status", OpportunityStatus.WON), *_closed_at_filters(period)]
            fields = _storage_fields((*by, "forecast"))
            groups: dict[tuple[Any, ...], dict[str, Money]] = {}
            for item in _totals(uow, [*open_filters, *chosen], fields):
                bucket = _bucket(money, groups, _group_key(uow, by, item))
                category = _forecast_of(uow, item.keys[-2], item.keys[-1])
                name = "closed" if category is ForecastCategory.CLOSED else category.value
                bucket[name] += money.amount(item)
                bucket["weighted"] += money.weighted(item)
            for item in _totals(uow, [*won_filters, *chosen], _storage_fields(by)):
                _bucket(money, groups, _group_key(uow, by, item))["closed"] += money.amount(item)
        rows = [_forecast_row(by, k, v) for k, v in sorted(groups.items(), key=_order)]
        total = {
            name: Money.total((getattr(r, _ROW_NAMES[name]) for r in rows), money.currency)
            for name in _BUCKETS
        }
        return Forecast(
            currency=money.currency,
            on=on,
            period=period,
            by=by,
            rows=rows,
            total=_forecast_row((), (), total),
        )

    # -- funnel ---------------------------------------------------------------------------
    @checked_call
    def funnel(
        self,
        *,
        pipeline: str | None = None,
        period: Period | None = None,
        on: dt.date | None = None,
    ) -> Funnel:
        """Count and amount per stage now, how far deals got, and the conversion between
        consecutive stages, for one pipeline (the default one if not named)."""
        with self._step(read_only=True) as uow:
            on = on or uow.today()
            money = _Converter(uow.config, on)
            chosen = _pipeline(uow, pipeline)
            filters = [_eq("pipeline", chosen.key), *_created_filters(period)]
            ranks = {key: i for i, key in enumerate([*chosen.keys(), WON])}
            furthest = pipeline_queries(uow.tx).furthest_stages(uow.scope, _query(filters), ranks)
            now_open = _totals(uow, [*filters, _eq("status", OpportunityStatus.OPEN)], ["stage"])
            counts: dict[str, int] = {}
            amounts: dict[str, Money] = {}
            for item in now_open:
                counts[item.keys[0]] = counts.get(item.keys[0], 0) + item.count
                amounts[item.keys[0]] = amounts.get(item.keys[0], money.zero) + money.amount(item)
        stages = [*chosen.stages, chosen.won]
        reached = [sum(n for r, n in furthest.items() if r >= i) for i in range(len(stages))]
        rows = [
            FunnelStage(
                stage=stage.key,
                name=stage.title,
                probability=stage.probability,
                open_count=counts.get(stage.key, 0),
                open_amount=amounts.get(stage.key, money.zero),
                reached=reached[i],
                conversion=_ratio(reached[i + 1], reached[i]) if i + 1 < len(stages) else None,
            )
            for i, stage in enumerate(stages)
        ]
        return Funnel(
            pipeline=chosen.key, currency=money.currency, on=on, period=period, stages=rows
        )

    # -- win rate and lost reasons --------------------------------------------------------
    @checked_call
    def win_rate(
        self,
        *,
        period: Period,
        by: Sequence[str] = ("owner",),
        pipeline: str | None = None,
    ) -> WinRate:
        """Won and lost deals closed in ``period``, win rate and average sales cycle."""
        by = _check_by(by, {k: v for k, v in _FIELDS.items() if k in ("owner", "department")})
        _check_period(period)
        closed = [OpportunityStatus.WON.value, OpportunityStatus.LOST.value]
        with self._step(read_only=True) as uow:
            filters = [Filter("status", Op.IN, closed), *_closed_at_filters(period)]
            filters += _pipeline_filter(uow, pipeline)
            fields = [*_storage_fields(by), "status"]
            totals = pipeline_queries(uow.tx).opportunity_totals(
                uow.scope, _query(filters), fields, cycle=True
            )
            groups: dict[tuple[Any, ...], list[int]] = {}
            for item in totals:
                acc = groups.setdefault(_group_key(uow, by, item), [0, 0, 0])
                if item.keys[-1] == OpportunityStatus.WON.value:
                    acc[0] += item.count
                    acc[2] += item.cycle_seconds
                else:
                    acc[1] += item.count
        rows = [_win_row(by, k, *v) for k, v in sorted(groups.items(), key=_order)]
        total = [sum(v[i] for v in groups.values()) for i in range(3)]
        return WinRate(period=period, by=by, rows=rows, total=_win_row((), (), *total))

    @checked_call
    def lost_reasons(
        self,
        *,
        period: Period | None = None,
        pipeline: str | None = None,
        on: dt.date | None = None,
    ) -> LostReasons:
        """Deals lost (closed in ``period`` if given) by reason, most frequent first."""
        with self._step(read_only=True) as uow:
            on = on or uow.today()
            money = _Converter(uow.config, on)
            filters = [_eq("status", OpportunityStatus.LOST), *_closed_at_filters(period)]
            filters += _pipeline_filter(uow, pipeline)
            groups: dict[str | None, list[Any]] = {}
            for item in _totals(uow, filters, ["lost_reason"]):
                acc = groups.setdefault(item.keys[0], [0, money.zero])
                acc[0] += item.count
                acc[1] += money.amount(item)
            config = uow.config
        count = sum(n for n, _ in groups.values())
        rows = [
            LostReasonRow(
                reason=reason,
                count=n,
                amount=amount,
                share=_ratio(n, count) or 0,
                label=config.label("opportunity", "lost_reason", reason),
            )
            for reason, (n, amount) in sorted(
                groups.items(), key=lambda kv: (-kv[1][0], kv[0] or "")
            )
        ]
        return LostReasons(currency=money.currency, on=on, period=period, rows=rows, count=count)

    # -- dwell times ----------------------------------------------------------------------
    @checked_call
    def dwell_times(
        self,
        *,
        pipeline: str | None = None,
        by: Sequence[str] = ("stage",),
        period: Period | None = None,
    ) -> DwellTimes:
        """Standard against actual dwell time per stage (``by=("stage", "owner")``: per
        stage and owner), over the stays that ended in ``period`` (all if None), and how
        long the open deals now in each stage have been there so far."""
        by = _check_by(by, {"stage": ("from_stage",), "owner": ("owner_id",)})
        if "stage" not in by:
            by = ("stage", *by)
        _check_period(period)
        owner = ("owner_id",) if "owner" in by else ()
        with self._step(read_only=True) as uow:
            chosen = _pipeline(uow, pipeline)
            stays = [
                _eq("pipeline", chosen.key),
                Filter("from_stage", Op.IS_NULL, False),
                *_range("at", period),
            ]
            ended = uow.tx.group(
                StageTransition, uow.scope, _query(stays), ("from_stage", *owner), "dwell_ms"
            )
            now_in = [_eq("pipeline", chosen.key), _eq("status", OpportunityStatus.OPEN)]
            current = pipeline_queries(uow.tx).open_stays(
                uow.scope, _query(now_in), ("stage", *owner), uow.now()
            )
        done = {g.key: (g.count, Decimal(g.total or 0) / g.count / _MS_PER_DAY) for g in ended}
        going = {o.keys: (o.count, Decimal(o.seconds) / o.count / 86_400) for o in current}
        keys = sorted(set(done) | set(going), key=lambda k: (_rank(chosen, k[0]), str(k[1:])))
        rows = [
            _dwell_row(chosen.stage(key[0]), key, done.get(key), going.get(key))
            for key in keys
            if chosen.has_stage(key[0])  # not stays in won or lost before a reopen
        ]
        return DwellTimes(pipeline=chosen.key, period=period, by=by, rows=rows)


def _dwell_row(
    stage: Stage,
    key: tuple[Any, ...],
    done: tuple[int, Decimal] | None,
    going: tuple[int, Decimal] | None,
) -> DwellRow:
    actual = _days(done[1]) if done else None
    return DwellRow(
        stage=stage.key,
        owner_id=key[1] if len(key) > 1 else None,
        standard_days=stage.dwell_days,
        stays=done[0] if done else 0,
        actual_days=actual,
        over_days=actual - stage.dwell_days if actual is not None and stage.dwell_days else None,
        open_stays=going[0] if going else 0,
        open_days=_days(going[1]) if going else None,
    )


def _days(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


class _Converter:
    """Sums of one currency turned into the reporting currency at the rate of day ``on``."""

    def __init__(self, config: TenantConfiguration, on: dt.date) -> None:
        self.currency = config.reporting_currency
        self.zero = Money.zero(self.currency)
        self._rates, self._on = config.exchange_rates, on

    def _convert(self, amount: Money) -> Money:
        return amount.convert(self.currency, self._rates, self._on)

    def amount(self, item: OpportunityTotals) -> Money:
        if item.currency is None:
            return self.zero
        return self._convert(Money.from_minor(item.amount_units, item.currency))

    def weighted(self, item: OpportunityTotals) -> Money:
        if item.currency is None:
            return self.zero
        exact = Decimal(item.weighted_units).scaleb(-2 - minor_digits(item.currency))
        return self._convert(Money.rounded(exact, item.currency))


def _bucket(
    money: _Converter, groups: dict[tuple[Any, ...], dict[str, Money]], key: tuple[Any, ...]
) -> dict[str, Money]:
    return groups.setdefault(key, {name: money.zero for name in _BUCKETS})


_BUCKETS = ("closed", "commit", "best_case", "pipeline", "weighted")
_ROW_NAMES = {name: "pipeline_amount" if name == "pipeline" else name for name in _BUCKETS}


# -- helpers ------------------------------------------------------------------------------
def _check_by(by: Sequence[str] | str, allowed: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    names = (by,) if isinstance(by, str) else tuple(by)
    if unknown := [n for n in names if n not in allowed]:
        raise ValidationError.single(
            "by", f"cannot group by {unknown}; choose from {sorted(allowed)}"
        )
    return tuple(dict.fromkeys(names))


def _check_period(period: Period | None) -> None:
    if period is not None and period[0] > period[1]:
        raise ValidationError.single("period", "the first day is after the last day")


def _instants(period: Period | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The first instant of a period and the first after it (None: it runs to the end of
    9999-12-31, after which there is no date)."""
    _check_period(period)
    if period is None:
        return None, None
    start = dt.datetime.combine(period[0], dt.time(), dt.UTC)
    if period[1] == dt.date.max:
        return start, None
    return start, dt.datetime.combine(period[1] + dt.timedelta(days=1), dt.time(), dt.UTC)


def _eq(name: str, value: Any) -> Filter:
    return Filter(name, Op.EQ, value.value if isinstance(value, OpportunityStatus) else value)


def _close_filters(period: Period | None) -> list[Filter]:
    _check_period(period)
    if period is None:
        return []
    return [
        Filter("expected_close", Op.GTE, period[0]),
        Filter("expected_close", Op.LTE, period[1]),
    ]


def _range(name: str, period: Period | None) -> list[Filter]:
    since, until = _instants(period)
    found = [] if since is None else [Filter(name, Op.GTE, since)]
    return found if until is None else [*found, Filter(name, Op.LT, until)]


def _closed_at_filters(period: Period | None) -> list[Filter]:
    return _range("closed_at", period)


def _created_filters(period: Period | None) -> list[Filter]:
    return _range("created_at", period)


def _pipeline(uow: UnitOfWork, key: str | None) -> Pipeline:
    pipelines = uow.config.pipelines
    return pipelines.get_or_error(key) if key is not None else pipelines.default


def _pipeline_filter(uow: UnitOfWork, key: str | None) -> list[Filter]:
    return [] if key is None else [_eq("pipeline", _pipeline(uow, key).key)]


def _query(filters: Iterable[Filter]) -> Query:
    return Query(filters=tuple(filters))


def _totals(
    uow: UnitOfWork, filters: Sequence[Filter], fields: Sequence[str]
) -> list[OpportunityTotals]:
    return pipeline_queries(uow.tx).opportunity_totals(uow.scope, _query(filters), fields)


def _storage_fields(by: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(f for name in by for f in _FIELDS[name]))


def _group_key(uow: UnitOfWork, by: Sequence[str], item: OpportunityTotals) -> tuple[Any, ...]:
    """The report group of a storage row (whose keys follow :func:`_storage_fields`)."""
    values = dict(zip(_storage_fields(by), item.keys, strict=False))
    key: list[Any] = []
    for name in by:
        if name == "forecast":
            key.append(_forecast_of(uow, values["pipeline"], values["stage"]))
        elif name == "stage":
            key.append(values["stage"])
        else:
            key.append(values[_FIELDS[name][0]])
    return tuple(key)


def _forecast_of(uow: UnitOfWork, pipeline: str, stage: str) -> ForecastCategory:
    found = uow.config.pipelines.get(pipeline)
    if found is None or not found.has_stage(stage):
        return ForecastCategory.PIPELINE  # a retired pipeline or stage: least certain
    return found.stage(stage).forecast


def _group_fields(by: Sequence[str], key: Sequence[Any]) -> dict[str, Any]:
    names = {"owner": "owner_id", "department": "department_id"}
    return {names.get(name, name): value for name, value in zip(by, key, strict=True)}


def _order(item: tuple[tuple[Any, ...], Any]) -> tuple[tuple[bool, str], ...]:
    return tuple((v is not None, str(v)) for v in item[0])


def _rank(pipeline: Pipeline, key: str) -> int:
    return pipeline.rank(key) if pipeline.has_stage(key) else len(pipeline.stages) + 1


def _ratio(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / whole).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def _forecast_row(by: Sequence[str], key: Sequence[Any], sums: dict[str, Money]) -> ForecastRow:
    return ForecastRow(
        **_group_fields(by, key), **{_ROW_NAMES[name]: sums[name] for name in _BUCKETS}
    )


def _win_row(by: Sequence[str], key: Sequence[Any], won: int, lost: int, cycle: int) -> WinRateRow:
    average = None
    if won:
        average = (Decimal(cycle) / won / 86_400).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return WinRateRow(
        **_group_fields(by, key),
        won=won,
        lost=lost,
        win_rate=_ratio(won, won + lost),
        average_cycle_days=average,
    )
