"""The companion command line: ``pycrm demo``, ``pycrm migrate``, ``pycrm version``.

Needs the ``cli`` extra (typer, rich, Faker): ``pip install "pycrm-embedded[cli]"``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from babel.dates import format_date
from rich.console import Console
from rich.table import Table

import pycrm
from pycrm.core.money import Money
from pycrm.crm import CRM
from pycrm.demo import STAGES, seed_demo
from pycrm.services.catalogue import Services
from pycrm.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    help="pycrm: an embeddable CRM library — demo and maintenance commands.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

#: Rows a listing shows before it says how many more there are.
SHOWN_ROWS = 15


@app.command()
def demo(
    db: Annotated[Path, typer.Option(help="SQLite file to create (replaced if it exists).")] = Path(
        "pycrm-demo.db"
    ),
    locale: Annotated[
        str, typer.Option(help="Locale for money and dates: zh_CN, en_US, ja_JP…")
    ] = "zh_CN",
    customers: Annotated[int, typer.Option(min=10, max=100_000, help="How many customers.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 7,
) -> None:
    """Create an embedded database with a multi-branch sales team and summarise it."""
    settings = Settings(
        reporting_currency="CNY", locale=locale, exchange_rates={"USD/CNY": Decimal("7.10")}
    )
    if db.exists():
        db.unlink()
    with CRM.connect(f"sqlite:///{db}", settings=settings) as crm:
        company = seed_demo(crm, tenant="demo", customers=customers, seed=seed)
        boss = crm.as_user(company.executive, tenant="demo")
        console.print(f"[bold]pycrm demo[/bold] — {db} ({crm.storage.name}), locale {locale}")
        console.print(
            f"{company.counts['customers']} customers, {company.counts['opportunities']} "
            f"opportunities, {company.counts['orders']} orders across {len(company.reps)} reps\n"
        )
        console.print(_customers_by_level(boss))
        console.print(_pipeline_by_stage(boss, crm, locale))
        console.print(_due_this_month(boss, crm, locale))


def _customers_by_level(crm: Services) -> Table:
    table = Table(title="Customers per level")
    table.add_column("level")
    table.add_column("customers", justify="right")
    for group in crm.customers.subtotals(["level"]):
        table.add_row(str(group.key["level"] or "—"), str(group.count))
    return table


def _pipeline_by_stage(crm: Services, app_crm: CRM, locale: str) -> Table:
    table = Table(title=f"Open opportunities per stage ({app_crm.settings.reporting_currency})")
    table.add_column("stage")
    table.add_column("deals", justify="right")
    table.add_column("amount", justify="right")
    order = {stage: i for i, (stage, _) in enumerate(STAGES)}
    today = app_crm.clock.now().date()
    reporting = app_crm.settings.reporting_currency
    per_stage: dict[str, tuple[int, Money]] = {}
    for group in crm.opportunities.subtotals(["stage"], where={"status": "open"}, total="amount"):
        stage = str(group.key["stage"])
        count, amount = per_stage.get(stage, (0, Money.zero(reporting)))
        converted = (
            group.total.convert(reporting, app_crm.exchange_rates, today)
            if group.total is not None
            else Money.zero(reporting)
        )
        per_stage[stage] = (count + group.count, amount + converted)
    for stage in sorted(per_stage, key=lambda s: order.get(s, len(order))):
        count, amount = per_stage[stage]
        table.add_row(stage, str(count), amount.format(locale))
    return table


def _due_this_month(crm: Services, app_crm: CRM, locale: str) -> Table:
    today = app_crm.clock.now().date()
    start = today.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    month = format_date(start, "yyyy MMMM", locale=locale)
    table = Table(title=f"Installments due in {month}")
    for heading in ("due", "customer", "amount", "paid", "state"):
        table.add_column(heading, justify="right" if heading in ("amount", "paid") else "left")
    plans = crm.payment_plans.list(limit=1000)
    names = {
        c.id: c.name
        for c in crm.customers.list(
            {"id__in": sorted({p.customer_id for p in plans}, key=str)}, limit=1000
        )
    }
    rows = [
        (part, plan) for plan in plans for part in plan.installments if start <= part.due_on < end
    ]
    shown = sorted(rows, key=lambda r: r[0].due_on)
    for part, plan in shown[:SHOWN_ROWS]:
        assert part.paid is not None
        table.add_row(
            format_date(part.due_on, "medium", locale=locale),
            names.get(plan.customer_id, "?")[:24],
            part.amount.format(locale),
            part.paid.format(locale),
            part.state(today).value,
        )
    if len(shown) > SHOWN_ROWS:
        table.caption = f"… and {len(shown) - SHOWN_ROWS} more"
    return table


@app.command()
def migrate(url: Annotated[str, typer.Argument(help="Database URL, e.g. postgresql://…")]) -> None:
    """Bring a database's pycrm schema up to date."""
    with CRM(url, settings=Settings(auto_migrate=True)) as crm:
        console.print(f"{crm.storage.name} schema is up to date")


@app.command()
def version() -> None:
    """Print pycrm's version."""
    console.print(pycrm.__version__)


def main() -> None:
    app()
