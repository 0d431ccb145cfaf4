"""Built-in pipelines: ``b2b`` and the classic eight-step ``eight_step`` sales process."""

from __future__ import annotations

from pycrm.core.pipeline import ForecastCategory, Pipeline, Stage
from pycrm.plugins.hookspecs import hookimpl

B2B = Pipeline(
    key="b2b",
    name="B2B sales",
    stages=[
        Stage("qualification", name="Qualification", probability=10, dwell_days=14),
        Stage("needs_analysis", name="Needs analysis", probability=25, dwell_days=14),
        Stage(
            "proposal",
            name="Proposal",
            probability=50,
            forecast=ForecastCategory.BEST_CASE,
            dwell_days=21,
            requires=("amount",),
        ),
        Stage(
            "negotiation",
            name="Negotiation",
            probability=75,
            forecast=ForecastCategory.COMMIT,
            dwell_days=14,
            requires=("amount", "expected_close"),
        ),
    ],
    stale_days=30,
)

#: The eight steps of the classic process: find prospect → visit → build trust → uncover
#: needs → discuss solution → propose → sign → customer satisfied, then won.
EIGHT_STEP = Pipeline(
    key="eight_step",
    name="Eight-step sales process",
    stages=[
        Stage("find_prospect", name="Find prospect", probability=5, dwell_days=7),
        Stage("visit", name="Make appointment / visit", probability=10, dwell_days=7),
        Stage("build_trust", name="Build trust", probability=20, dwell_days=14),
        Stage("uncover_needs", name="Uncover needs", probability=30, dwell_days=14),
        Stage(
            "discuss_solution",
            name="Discuss solution",
            probability=40,
            forecast=ForecastCategory.BEST_CASE,
            dwell_days=14,
        ),
        Stage(
            "propose",
            name="Propose",
            probability=60,
            forecast=ForecastCategory.BEST_CASE,
            dwell_days=14,
            requires=("amount",),
        ),
        Stage(
            "sign",
            name="Sign",
            probability=90,
            forecast=ForecastCategory.COMMIT,
            dwell_days=7,
            requires=("amount", "expected_close"),
        ),
        Stage(
            "satisfied",
            name="Customer satisfied",
            probability=95,
            forecast=ForecastCategory.COMMIT,
            dwell_days=30,
        ),
    ],
    stale_days=30,
)


@hookimpl(trylast=True)
def pycrm_register_pipelines() -> list[Pipeline]:
    return [B2B, EIGHT_STEP]
