"""Built-in pipelines: ``b2b`` and the classic eight-step ``eight_step`` sales process."""

from __future__ import annotations

from pycrm.core.messages import N_
from pycrm.core.pipeline import ForecastCategory, Pipeline, Stage
from pycrm.plugins.hookspecs import hookimpl

B2B = Pipeline(
    key="b2b",
    name=N_("B2B sales"),
    stages=[
        Stage("qualification", name=N_("Qualification"), probability=10, dwell_days=14),
        Stage("needs_analysis", name=N_("Needs analysis"), probability=25, dwell_days=14),
        Stage(
            "proposal",
            name=N_("Proposal"),
            probability=50,
            forecast=ForecastCategory.BEST_CASE,
            dwell_days=21,
            requires=("amount",),
        ),
        Stage(
            "negotiation",
            name=N_("Negotiation"),
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
    name=N_("Eight-step sales process"),
    stages=[
        Stage("find_prospect", name=N_("Find prospect"), probability=5, dwell_days=7),
        Stage("visit", name=N_("Make appointment / visit"), probability=10, dwell_days=7),
        Stage("build_trust", name=N_("Build trust"), probability=20, dwell_days=14),
        Stage("uncover_needs", name=N_("Uncover needs"), probability=30, dwell_days=14),
        Stage(
            "discuss_solution",
            name=N_("Discuss solution"),
            probability=40,
            forecast=ForecastCategory.BEST_CASE,
            dwell_days=14,
        ),
        Stage(
            "propose",
            name=N_("Propose"),
            probability=60,
            forecast=ForecastCategory.BEST_CASE,
            dwell_days=14,
            requires=("amount",),
        ),
        Stage(
            "sign",
            name=N_("Sign"),
            probability=90,
            forecast=ForecastCategory.COMMIT,
            dwell_days=7,
            requires=("amount", "expected_close"),
        ),
        Stage(
            "satisfied",
            name=N_("Customer satisfied"),
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
