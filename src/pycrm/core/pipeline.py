"""Pipelines (销售流程): ordered stages, the rules for moving between them, and the record
of every move.

A :class:`Pipeline` is configuration, registered by plugins; an opportunity names its
pipeline and its current stage. Won and lost are not stages of the list but terminal
states every pipeline has: :attr:`Pipeline.won` and :attr:`Pipeline.lost` describe them
with the same :class:`Stage` shape, so rules and plugin hooks see one kind of object.
While an opportunity is won or lost, its ``stage`` keeps the last open stage it was in.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any, ClassVar

from attrs import Attribute, evolve, field, frozen

from pycrm.core.messages import N_
from pycrm.errors import ConfigurationError, PluginError, RuleViolation, ValidationError

__all__ = [
    "LOST",
    "WON",
    "ForecastCategory",
    "Pipeline",
    "Pipelines",
    "Stage",
    "StageTransition",
    "epoch_ms",
    "missing_fields",
]

#: Keys of the two terminal states; no stage of a pipeline may use them.
WON = "won"
LOST = "lost"

#: Lost reasons a pipeline offers when it names none of its own.
DEFAULT_LOST_REASONS = ("price", "competitor", "no_budget", "no_decision", "timing", "other")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class ForecastCategory(StrEnum):
    """How sure a forecast counts an opportunity in a stage: the usual four buckets."""

    PIPELINE = "pipeline"
    BEST_CASE = "best_case"
    COMMIT = "commit"
    CLOSED = "closed"


def _percent(_: object, attribute: Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ConfigurationError(f"{attribute.name} must be a whole number from 0 to 100")


def _days(_: object, attribute: Attribute[int | None], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigurationError(f"{attribute.name} must be a whole number of days, at least 1")


def _key(_: object, attribute: Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > 60:
        raise ConfigurationError(f"{attribute.name} must be a non-empty string of <= 60 chars")


def _keys(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@frozen
class Stage:
    """One step of a pipeline, e.g. ``Stage("proposal", probability=40, dwell_days=14)``.

    ``probability`` is the win probability (0-100) a new opportunity in this stage gets;
    ``forecast`` its forecast category; ``dwell_days`` the standard dwell time (标准升迁时间);
    ``stale_days`` how many days without contact make an opportunity here stale (overrides
    the pipeline's); ``requires`` fields that must be filled to enter it (``"amount"``,
    ``"custom.budget"``); ``next`` the stage keys (or ``"won"``/``"lost"``) that may follow
    it, where ``None`` means any later stage, won or lost; ``backward`` whether moving to an
    earlier stage is allowed.
    """

    key: str = field(validator=_key)
    name: str | None = field(default=None, kw_only=True)
    probability: int = field(default=0, kw_only=True, validator=_percent)
    forecast: ForecastCategory = field(
        default=ForecastCategory.PIPELINE, kw_only=True, converter=ForecastCategory
    )
    dwell_days: int | None = field(default=None, kw_only=True, validator=_days)
    stale_days: int | None = field(default=None, kw_only=True, validator=_days)
    requires: tuple[str, ...] = field(default=(), kw_only=True, converter=_names)
    next: tuple[str, ...] | None = field(default=None, kw_only=True, converter=_keys)
    backward: bool = field(default=True, kw_only=True)

    @property
    def title(self) -> str:
        """The display name, or the key when there is none."""
        return self.name or self.key

    @property
    def terminal(self) -> bool:
        """Whether this is ``won`` or ``lost``: no opportunity moves on from it."""
        return self.key in (WON, LOST)


def _stages(value: Iterable[Stage]) -> tuple[Stage, ...]:
    return tuple(value)


#: The numbers of a stage a company may change without registering a pipeline of its own.
TUNABLE = ("probability", "dwell_days", "stale_days")


@frozen
class Pipeline:
    """A sales process: ordered stages plus won and lost, and the reasons a deal is lost.

    ``stale_days``: days without contact after which an open opportunity is stale (a stage
    may set its own).
    """

    key: str = field(validator=_key)
    name: str
    stages: tuple[Stage, ...] = field(converter=_stages)
    lost_reasons: tuple[str, ...] = field(default=DEFAULT_LOST_REASONS, converter=_names)
    stale_days: int | None = field(default=None, validator=_days)

    def __attrs_post_init__(self) -> None:
        keys = [s.key for s in self.stages]
        problems = []
        if not keys:
            problems.append("it has no stages")
        if dupes := sorted({k for k in keys if keys.count(k) > 1}):
            problems.append(f"stage keys repeat: {', '.join(dupes)}")
        if reserved := [k for k in keys if k in (WON, LOST)]:
            problems.append(f"{', '.join(reserved)} name the terminal states, not stages")
        known = {*keys, WON, LOST}
        for stage in self.stages:
            if unknown := [k for k in stage.next or () if k not in known]:
                problems.append(f"stage {stage.key!r} may be followed by unknown {unknown}")
        if not self.lost_reasons or not all(r and r.strip() for r in self.lost_reasons):
            problems.append("lost_reasons must list at least one non-empty reason")
        if problems:
            raise ConfigurationError(f"pipeline {self.key!r} is invalid: {'; '.join(problems)}")

    # -- looking up -----------------------------------------------------------------------
    @property
    def won(self) -> Stage:
        """The terminal state of a won deal (probability 100, forecast ``closed``)."""
        return Stage(WON, name=N_("Won"), probability=100, forecast=ForecastCategory.CLOSED)

    @property
    def lost(self) -> Stage:
        """The terminal state of a lost deal (probability 0, forecast ``closed``)."""
        return Stage(LOST, name=N_("Lost"), probability=0, forecast=ForecastCategory.CLOSED)

    @property
    def first(self) -> Stage:
        """The stage new opportunities start in."""
        return self.stages[0]

    def keys(self) -> list[str]:
        """The open stages' keys, in order."""
        return [s.key for s in self.stages]

    def stage(self, key: str) -> Stage:
        """The stage (or terminal state) with this key; ValidationError naming the choices."""
        for stage in self.stages:
            if stage.key == key:
                return stage
        if key in (WON, LOST):
            return self.won if key == WON else self.lost
        raise ValidationError.single(
            "stage", f"pipeline {self.key!r} has no stage {key!r}; its stages are {self.keys()}"
        )

    def has_stage(self, key: str) -> bool:
        """Whether ``key`` names a stage of this pipeline (won and lost included)."""
        return key in self.keys()

    def rank(self, key: str) -> int:
        """Position of a stage; won ranks after every stage, lost before the first."""
        if key == WON:
            return len(self.stages)
        if key == LOST:
            return -1
        return self.keys().index(key)

    def tuned(self, numbers: Mapping[str, Mapping[str, int | None]]) -> Pipeline:
        """This pipeline with some stages' numbers changed, its key and stages unchanged:
        ``{"proposal": {"probability": 60, "dwell_days": 10, "stale_days": 14}}``.
        Only ``probability``, ``dwell_days`` and ``stale_days`` are tunable this way."""
        unknown = sorted(set(numbers) - set(self.keys()))
        if unknown:
            raise ConfigurationError(
                f"pipeline {self.key!r} has no stage {', '.join(map(repr, unknown))}; "
                f"its stages are {self.keys()}"
            )
        for key, values in numbers.items():
            if extra := sorted(set(values) - set(TUNABLE)):
                raise ConfigurationError(
                    f"stage {key!r} of pipeline {self.key!r}: {', '.join(extra)} cannot be "
                    f"tuned (only {', '.join(TUNABLE)})"
                )
        stages = []
        for stage in self.stages:
            changes: dict[str, Any] = dict(numbers.get(stage.key, {}))
            try:
                stages.append(evolve(stage, **changes))
            except ConfigurationError as error:
                raise ConfigurationError(
                    f"stage {stage.key!r} of pipeline {self.key!r}: {error}"
                ) from None
        return evolve(self, stages=stages)

    # -- rules ----------------------------------------------------------------------------
    def check_move(self, source: Stage, target: Stage) -> None:
        """Refuse (RuleViolation) a move from an open stage that the pipeline does not allow."""
        if target.key == source.key:
            raise RuleViolation(
                f"the opportunity is already in stage {source.key!r}", rule="opportunity.same_stage"
            )
        if source.next is not None:
            if target.key not in source.next:
                raise RuleViolation(
                    f"stage {source.key!r} of pipeline {self.key!r} may only be followed by "
                    f"{list(source.next)}, not {target.key!r}",
                    rule="opportunity.next_stage",
                )
            return
        backward = not target.terminal and self.rank(target.key) < self.rank(source.key)
        if backward and not source.backward:
            raise RuleViolation(
                f"an opportunity cannot move back from stage {source.key!r} to "
                f"{target.key!r} in pipeline {self.key!r}",
                rule="opportunity.no_backward",
            )

    def check_reason(self, reason: str | None) -> None:
        """Refuse a missing lost reason, or one the pipeline does not list."""
        if not reason:
            raise ValidationError.single(
                "reason",
                f"say why the deal was lost: one of {list(self.lost_reasons)} "
                f"(the lost reasons of pipeline {self.key!r})",
            )
        if reason not in self.lost_reasons:
            raise ValidationError.single(
                "reason",
                f"{reason!r} is not a lost reason of pipeline {self.key!r}; "
                f"choose one of {list(self.lost_reasons)}",
            )


def missing_fields(record: Any, names: Sequence[str]) -> list[str]:
    """Which of ``names`` are empty on a record (``custom.x`` names a custom field)."""
    missing = []
    for name in names:
        if name.startswith("custom."):
            value = record.custom.get(name.removeprefix("custom."))
        else:
            value = getattr(record, name, None)
        if value is None or value == "" or value == [] or value == {}:
            missing.append(name)
    return missing


class Pipelines(Mapping[str, Pipeline]):
    """Every pipeline of a CRM by key, and the default one new opportunities go into."""

    def __init__(self, pipelines: Iterable[Pipeline], default: str | None = None) -> None:
        self._items: dict[str, Pipeline] = {}
        for pipeline in pipelines:
            if pipeline.key in self._items:
                raise PluginError(f"two plugins register pipeline {pipeline.key!r}")
            self._items[pipeline.key] = pipeline
        if default is None:
            default = "b2b" if "b2b" in self._items else min(self._items, default=None)
        if default is not None and default not in self._items:
            raise ConfigurationError(
                f"the default pipeline {default!r} is not registered; "
                f"registered pipelines: {sorted(self._items)}"
            )
        self._default = default

    @property
    def default(self) -> Pipeline:
        """The pipeline new opportunities go into when none is named."""
        if self._default is None:
            raise ConfigurationError("no pipeline is registered (pycrm_register_pipelines)")
        return self._items[self._default]

    def get_or_error(self, key: str) -> Pipeline:
        """The pipeline with this key; ValidationError naming the registered ones."""
        try:
            return self._items[key]
        except KeyError:
            raise ValidationError.single(
                "pipeline", f"no pipeline {key!r}; registered pipelines: {sorted(self._items)}"
            ) from None

    def __getitem__(self, key: str) -> Pipeline:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Pipelines({sorted(self._items)}, default={self._default!r})"


def epoch_ms(when: dt.datetime) -> int:
    """Whole milliseconds since 1970 (floored), computed without floating point."""
    return (when - _EPOCH) // dt.timedelta(milliseconds=1)


@frozen(kw_only=True)
class StageTransition:
    """One move of an opportunity: from a stage (None when created) to another, by whom.

    ``from_stage``/``to_stage`` are stage keys or ``"won"``/``"lost"``; ``owner_id`` is the
    opportunity's owner at the time; ``dwell_ms`` is how long it stayed in ``from_stage``,
    as the difference of the two instants in whole milliseconds since 1970, so the stays of
    one opportunity add up exactly to its age.

    Transitions are stored like records (kind ``"stage_transition"``) but only ever added:
    they have no version and are never changed or deleted.
    """

    kind: ClassVar[str] = "stage_transition"

    id: uuid.UUID
    tenant: str
    opportunity_id: uuid.UUID
    pipeline: str
    from_stage: str | None
    to_stage: str
    user_id: uuid.UUID
    owner_id: uuid.UUID | None
    at: dt.datetime
    dwell_ms: int = 0
