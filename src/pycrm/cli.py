"""The companion command line: ``pycrm demo``, ``pycrm generate``, ``pycrm migrate``,
``pycrm config show|export|import``, ``pycrm pools recycle|show``, ``pycrm sweep``,
``pycrm import``, ``pycrm export``, ``pycrm version``.

Needs the ``cli`` extra (typer, rich, Faker): ``pip install "pycrm-embedded[cli]"``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from babel.dates import format_skeleton
from rich.console import Console
from rich.progress import TaskID
from rich.table import Table
from rich.text import Text

import pycrm
from pycrm.core import messages as msg
from pycrm.core.configuration import PICKLIST_FIELDS, TenantConfiguration
from pycrm.crm import CRM
from pycrm.demo import seed_demo
from pycrm.i18n import format_date, format_money, label, stage_title
from pycrm.i18n import translate as _
from pycrm.services.catalogue import Services
from pycrm.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    help="pycrm: an embeddable CRM library — demo and maintenance commands.",
    no_args_is_help=True,
    add_completion=False,
)
config_app = typer.Typer(
    help="A tenant's configuration: show it, export it as JSON, import an export.",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")
pools_app = typer.Typer(
    help="Public customer pools: run the recycle rules (from cron), show the pools.",
    no_args_is_help=True,
)
app.add_typer(pools_app, name="pools")
# Wide enough for the aging table; a wider terminal gets its full width.
console = Console(width=max(Console().width, 130))
#: Where errors go, apart from what a command prints (``config export`` prints JSON).
errors = Console(stderr=True)

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
        console.print(_customers_by_level(boss, locale))
        console.print(_pipeline_by_stage(boss, crm, locale))
        console.print(_due_this_month(boss, crm, locale))
        console.print(_aging(boss, crm, locale))


def _customers_by_level(crm: Services, locale: str) -> Table:
    table = Table(title=_(msg.HEAD_CUSTOMERS_BY_LEVEL, locale))
    table.add_column(_(msg.HEAD_LEVEL, locale))
    table.add_column(_(msg.HEAD_CUSTOMERS, locale), justify="right")
    for group in crm.customers.subtotals(["level"]):
        table.add_row(str(group.key["level"] or "—"), str(group.count))
    return table


def _pipeline_by_stage(crm: Services, app_crm: CRM, locale: str) -> Table:
    report = crm.reports.weighted_pipeline(by=("stage",))
    table = Table(title=_(msg.HEAD_OPEN_BY_STAGE, locale, currency=report.currency))
    table.add_column(_(msg.HEAD_STAGE, locale))
    table.add_column(_(msg.HEAD_DEALS, locale), justify="right")
    table.add_column(_(msg.HEAD_AMOUNT, locale), justify="right")
    table.add_column(_(msg.HEAD_WEIGHTED, locale), justify="right")
    pipeline = app_crm.pipelines.default
    rows = sorted(report.rows, key=lambda r: pipeline.rank(r.stage or ""))
    for row in rows:
        stage = row.stage or ""
        title = stage_title(pipeline.stage(stage), locale) if pipeline.has_stage(stage) else stage
        table.add_row(
            title,
            str(row.count),
            format_money(row.amount, locale),
            format_money(row.weighted, locale),
        )
    table.add_section()
    table.add_row(
        _(msg.HEAD_TOTAL, locale),
        str(report.count),
        format_money(report.total, locale),
        format_money(report.weighted, locale),
    )
    return table


def _due_this_month(crm: Services, app_crm: CRM, locale: str) -> Table:
    today = app_crm.clock.now().date()
    month = format_skeleton("yMMMM", today, locale=locale)
    table = Table(title=_(msg.HEAD_DUE_IN, locale, month=month))
    for heading in (
        msg.HEAD_DUE_ON,
        msg.HEAD_CUSTOMER,
        msg.HEAD_AMOUNT,
        msg.HEAD_AMOUNT_LEFT,
        msg.HEAD_STATE,
    ):
        numeric = heading in (msg.HEAD_AMOUNT, msg.HEAD_AMOUNT_LEFT)
        table.add_column(_(heading, locale), justify="right" if numeric else "left")
    due = crm.receivables.due("month")
    for row in due[:SHOWN_ROWS]:
        table.add_row(
            format_date(row.due_on, locale),
            (row.customer_name or "?")[:24],
            format_money(row.amount, locale),
            format_money(row.left, locale),
            label(row.state, locale),
        )
    if len(due) > SHOWN_ROWS:
        table.caption = _(msg.MORE_ROWS, locale, count=len(due) - SHOWN_ROWS)
    return table


def _aging(crm: Services, app_crm: CRM, locale: str) -> Table:
    report = crm.reports.aging(by="customer")
    day = format_date(report.on, locale)
    table = Table(title=_(msg.HEAD_AGING_IN, locale, day=day, currency=report.currency))
    headings = (
        msg.HEAD_CUSTOMER,
        msg.BUCKET_CURRENT,
        msg.BUCKET_1_30,
        msg.BUCKET_31_60,
        msg.BUCKET_61_90,
        msg.BUCKET_OVER_90,
        msg.HEAD_TOTAL,
    )
    for i, heading in enumerate(headings):
        table.add_column(_(heading, locale), justify="right" if i else "left")
    rows = sorted(report.rows, key=lambda r: r.total.amount, reverse=True)
    for row in rows[:SHOWN_ROWS]:
        cells = [*row.buckets, row.total]
        table.add_row((row.name or "?")[:16], *(format_money(m, locale) for m in cells))
    table.add_section()
    totals = [*report.totals.buckets, report.totals.total]
    table.add_row(_(msg.HEAD_TOTAL, locale), *(format_money(m, locale) for m in totals))
    if len(rows) > SHOWN_ROWS:
        table.caption = _(msg.MORE_ROWS, locale, count=len(rows) - SHOWN_ROWS)
    return table


@app.command()
def generate(
    url: Annotated[str, typer.Argument(help="Database URL: sqlite:///file.db, postgresql://…")],
    tenant: Annotated[str, typer.Option(help="Tenant to fill.")],
    scale: Annotated[
        float, typer.Option(help="Share of the full volume (1.0: 1,000,000 customers).")
    ] = 0.01,
    years: Annotated[int, typer.Option(help="Years of history, ending now.")] = 10,
    reps: Annotated[int, typer.Option(help="Sales reps.")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 7,
) -> None:
    """Fill a tenant with realistic volumes: customers, contacts, deals, activities, orders
    and installments of a sales company over the years (pycrm.volumes)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from pycrm.volumes import generate as generate_volumes

    settings = Settings(auto_migrate=True)
    with (
        CRM.connect(url, settings=settings, load_entry_points=False) as crm,
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar,
    ):
        tasks: dict[str, TaskID] = {}

        def progress(kind: str, done: int, total: int) -> None:
            if kind not in tasks:
                tasks[kind] = bar.add_task(kind, total=total)
            bar.update(tasks[kind], completed=done)

        try:
            report = generate_volumes(
                crm, tenant=tenant, scale=scale, years=years, reps=reps, seed=seed,
                progress=progress,
            )  # fmt: skip
        except (pycrm.ValidationError, pycrm.ConfigurationError) as error:
            console.print(f"[red]{error}[/red]")
            raise typer.Exit(2) from error
    table = Table(title=f"{tenant}: {report.rows:,} rows in {report.seconds:.1f} s")
    table.add_column("kind")
    table.add_column("rows", justify="right")
    for kind, count in report.counts.items():
        table.add_row(kind, f"{count:,}")
    table.add_section()
    table.add_row("rows/s", f"{report.rows_per_second:,.0f}")
    console.print(table)


@app.command()
def migrate(
    url: Annotated[str, typer.Argument(help="Database URL, e.g. postgresql://…")],
    table_prefix: Annotated[
        str, typer.Option(help="What pycrm's table names start with (Settings.table_prefix).")
    ] = "pycrm_",
    postgresql_schema: Annotated[
        str | None, typer.Option(help="PostgreSQL schema of pycrm's own.")
    ] = None,
) -> None:
    """Bring a database's pycrm schema up to date."""
    settings = Settings(
        auto_migrate=True, table_prefix=table_prefix, postgresql_schema=postgresql_schema
    )
    with CRM(url, settings=settings) as crm:
        console.print(f"{crm.storage.name} schema is up to date")


@app.command("deliver-events")
def deliver_events(
    url: Annotated[str, typer.Argument(help="Database URL, e.g. postgresql://…")],
    tenant: Annotated[list[str], typer.Option(help="Tenant whose pending events to deliver.")],
) -> None:
    """Hand events that a process committed but did not deliver (it stopped) to the
    installed event handlers; safe to run from cron, several at once."""
    with CRM(url) as crm:
        for name in tenant:
            count = crm.deliver_pending_events(tenant=name)
            console.print(f"{name}: {count} events delivered")


Url = Annotated[str, typer.Argument(help="Database URL: sqlite:///file.db, postgresql://…")]
Tenant = Annotated[str, typer.Option(help="The tenant whose configuration to use.")]


def _system(url: str, tenant: str) -> tuple[CRM, Services]:
    """The CRM at ``url`` (with the installed plugins, whose defaults every tenant starts
    from) and its services acting as :data:`pycrm.SYSTEM_USER` in ``tenant``."""
    try:
        crm = CRM.connect(url)
        return crm, crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
    except pycrm.CRMError as error:
        _fail(error)


def _fail(error: Exception | str) -> NoReturn:
    errors.print(str(error), style="red", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@config_app.command("show")
def config_show(
    url: Url,
    tenant: Tenant,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarise a tenant's configuration.

    Money, locale, time zone, pipelines with their stages' probabilities, custom fields,
    picklists with their keys, number sequences and the tenant's exchange rates: the
    defaults (settings and installed plugins) merged with the tenant's own changes.
    """
    crm, system = _system(url, tenant)
    with crm:
        try:
            config = system.configuration.current()
        except pycrm.CRMError as error:
            _fail(error)
    summary = _summary(config)
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    console.print(Text(tenant, style="bold"), f"— configuration version {config.version}")
    table = Table(title="Settings", show_header=False)
    for name in ("reporting_currency", "currencies", "locale", "time_zone", "default_pipeline"):
        value = summary[name]
        shown = ", ".join(value) if isinstance(value, list) else str(value or "")
        table.add_row(name.replace("_", " "), Text(shown))
    console.print(table)
    table = Table(title="Pipelines")
    for heading in ("pipeline", "stage", "probability", "forecast", "dwell days"):
        table.add_column(
            heading, justify="right" if heading in ("probability", "dwell days") else "left"
        )
    for pipeline in config.pipelines.values():
        default = " (default)" if pipeline.key == config.pipelines.default.key else ""
        for i, stage in enumerate(pipeline.stages):
            table.add_row(
                Text(f"{pipeline.key}{default}" if i == 0 else ""),
                Text(stage.key),
                f"{stage.probability}%",
                stage.forecast.value,
                "" if stage.dwell_days is None else str(stage.dwell_days),
            )
        table.add_section()
    console.print(table)
    table = Table(title="Custom fields")
    for heading in ("field", "type", "label", "required"):
        table.add_column(heading)
    for item in summary["fields"]:
        table.add_row(
            f"{item['entity']}.{item['key']}",
            item["type"],
            Text(item["label"]),
            "yes" if item["required"] else "",
        )
    if not summary["fields"]:
        table.caption = "none"
    console.print(table)
    table = Table(title="Picklists")
    for heading in ("picklist", "fields", "keys", "retired"):
        table.add_column(heading)
    for name, item in summary["picklists"].items():
        keys = ", ".join(item["keys"]) or "(any text)"
        table.add_row(name, ", ".join(item["fields"]), Text(keys), Text(", ".join(item["retired"])))
    console.print(table)
    table = Table(title="Number sequences")
    table.add_column("sequence")
    table.add_column("pattern")
    for name, pattern in summary["sequences"].items():
        table.add_row(name, Text(pattern))
    console.print(table)
    table = Table(title="Exchange rates of the tenant's own")
    for heading in ("pair", "from", "rate", "note"):
        table.add_column(heading, justify="right" if heading == "rate" else "left")
    for rate in summary["rates"]:
        pair = f"{rate['base']}/{rate['quote']}"
        table.add_row(pair, rate["valid_from"], rate["rate"], Text(rate["note"] or ""))
    if not summary["rates"]:
        table.caption = "none: the defaults apply"
    console.print(table)


def _summary(config: TenantConfiguration) -> dict[str, Any]:
    """What ``config show`` prints, as JSON-ready data."""
    default = config.pipelines.default.key if config.pipelines else None
    return {
        "tenant": config.tenant,
        "version": config.version,
        "reporting_currency": config.reporting_currency,
        "currencies": list(config.currencies),
        "locale": config.locale,
        "time_zone": config.time_zone,
        "default_pipeline": default,
        "pipelines": [
            {
                "key": p.key,
                "name": p.name,
                "stages": [
                    {
                        "key": s.key,
                        "probability": s.probability,
                        "forecast": s.forecast.value,
                        "dwell_days": s.dwell_days,
                    }
                    for s in p.stages
                ],
                "lost_reasons": list(p.lost_reasons),
            }
            for p in config.pipelines.values()
        ],
        "fields": [
            {
                "entity": d.entity,
                "key": d.key,
                "type": d.type.value,
                "label": d.label_for(config.locale),
                "required": d.required,
            }
            for d in config.fields
        ],
        "picklists": {
            name: {
                "fields": [
                    f"{e}.{f}" for (e, f), bound in PICKLIST_FIELDS.items() if bound == name
                ],
                "fixed": picklist.fixed,
                "keys": picklist.keys(),
                "retired": [c.key for c in picklist.choices if not c.active],
            }
            for name, picklist in sorted(config.picklists.items())
        },
        "sequences": {name: s.pattern for name, s in sorted(config.sequences.items())},
        "rates": [r.to_dict() for r in config.rates],
    }


@config_app.command("export")
def config_export(
    url: Url,
    tenant: Tenant,
    output: Annotated[
        Path | None, typer.Option(help="File to write (replaced if it exists); default: stdout.")
    ] = None,
) -> None:
    """Export a tenant's configuration as JSON.

    The document holds what the tenant changed (not the defaults); 'pycrm config import'
    applies it to another tenant or database.
    """
    crm, system = _system(url, tenant)
    with crm:
        try:
            document = system.configuration.export()
        except pycrm.CRMError as error:
            _fail(error)
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    console.print(
        f"{tenant}: {len(document['entries'])} entries and {len(document['rates'])} rates "
        f"written to {output}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@config_app.command("import")
def config_import(
    url: Url,
    tenant: Tenant,
    file: Annotated[
        Path,
        typer.Argument(
            help="A document written by `pycrm config export`.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
) -> None:
    """Apply an exported configuration to a tenant.

    All or nothing: items the document names take its values, others stay as they are.
    Prints how many items changed; a document that is not an export, or that would break
    the tenant's configuration, changes nothing and exits with status 1.
    """
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        _fail(f"{file} is not a JSON document: {error}")
    crm, system = _system(url, tenant)
    with crm:
        try:
            changed = system.configuration.load(document)
        except pycrm.CRMError as error:  # the load rolled back: nothing changed
            _fail(f"{file}: {error}")
    console.print(
        f"{tenant}: {changed} configuration item(s) changed",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@pools_app.command("recycle")
def pools_recycle(
    url: Url,
    tenant: Annotated[list[str], typer.Option(help="A tenant whose pools to recycle.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as JSON.")] = False,
) -> None:
    """Run every pool's recycle rules now: customers their reps let go cold return to
    their pool, and owners of customers due soon get their reminder. Safe from cron and
    with two runs at once; a second run changes nothing."""
    runs = {}
    for name in tenant:
        crm, system = _system(url, name)
        with crm:
            try:
                runs[name] = system.pools.recycle()
            except pycrm.CRMError as error:
                _fail(f"{name}: {error}")
    if as_json:
        typer.echo(json.dumps({k: v.model_dump(mode="json") for k, v in runs.items()}, indent=2))
        return
    for name, run in runs.items():
        moved = ", ".join(f"{pool}: {count}" for pool, count in run.recycled.items()) or "no pool"
        console.print(
            f"{name}: recycled {moved}; {run.reminded} reminder(s)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


@pools_app.command("show")
def pools_show(url: Url, tenant: Tenant) -> None:
    """Each pool's size, and how long its customers have been in it."""
    crm, system = _system(url, tenant)
    with crm:
        try:
            report = system.pools.report()
        except pycrm.CRMError as error:
            _fail(error)
    table = Table(title=f"{tenant}: public pools")
    table.add_column("pool")
    table.add_column("customers", justify="right")
    for band in ("0-7", "8-30", "31-90", "91+"):
        table.add_column(f"{band} days", justify="right")
    table.add_column("oldest (days)", justify="right")
    for size in report.pools:
        ages = [str(size.by_age.get(band, 0)) for band in ("0-7", "8-30", "31-90", "91+")]
        oldest = "—" if size.oldest_days is None else str(size.oldest_days)
        table.add_row(size.pool, str(size.customers), *ages, oldest)
    console.print(table)


@app.command("import")
def import_file(
    url: Url,
    entity: Annotated[str, typer.Argument(help="customer, contact, lead, product or opportunity")],
    file: Annotated[Path, typer.Argument(help="A .csv (UTF-8) or .xlsx file with a header row.")],
    tenant: Tenant,
    mode: Annotated[
        str, typer.Option(help="all: nothing if any row is bad; skip: import the good rows.")
    ] = "all",
    column: Annotated[
        list[str] | None, typer.Option(help="HEADER=FIELD for a column named otherwise.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import records from a file: columns by header (field names or their Chinese,
    English or Japanese names), rows with a known external_id update their record. Every
    bad row is reported with its row number; exits non-zero if any row was bad."""
    columns = dict(_pair(c) for c in column or [])
    if mode not in ("all", "skip"):
        _fail(f"--mode {mode!r}: give all or skip")
    crm, system = _system(url, tenant)
    rows = _count_rows(file)
    with crm:
        report: Any = None
        errors_found: list[tuple[str, str]] = []
        try:
            with _bar(f"importing {file.name}", rows, quiet=as_json) as advance:
                report = system.imports.run(
                    entity,
                    str(file),
                    columns=columns,
                    mode="skip" if mode == "skip" else "all",
                    on_progress=advance,
                )
        except pycrm.ValidationError as error:
            errors_found = error.errors
        except pycrm.CRMError as error:
            _fail(error)
    if as_json:
        data = report.model_dump(mode="json") if report else {"refused": errors_found}
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        _import_summary(entity, report, errors_found)
    if errors_found or (report is not None and not report.ok):
        raise typer.Exit(1)


def _import_summary(entity: str, report: Any, refused: list[tuple[str, str]]) -> None:
    table = Table(title=f"import of {entity} records" + (": refused" if refused else ""))
    table.add_column("row", justify="right")
    table.add_column("column")
    table.add_column("reason")
    listed = refused or [(f"{e.row}.{e.column}", e.reason) for e in report.errors]
    for path, reason in listed[:SHOWN_ROWS]:
        row, _, column = path.partition(".")
        if not row.isdigit():  # about the file, not one of its rows
            row, column = "", path
        table.add_row(row, column, reason)
    if report is not None:
        console.print(
            f"{report.rows:,} rows: {report.created:,} created, {report.updated:,} updated, "
            f"{report.skipped:,} skipped",
            markup=False,
            highlight=False,
        )
    else:
        console.print(f"nothing imported: {len(refused):,} problem(s)", markup=False)
    if listed:
        console.print(table)
        if len(listed) > SHOWN_ROWS:
            console.print(_(msg.MORE_ROWS, "en_US", count=len(listed) - SHOWN_ROWS))


@app.command("export")
def export_file(
    url: Url,
    entity: Annotated[str, typer.Argument(help="customer, contact, lead, opportunity, order…")],
    file: Annotated[Path, typer.Argument(help="Where to write: a .csv or .xlsx file.")],
    tenant: Tenant,
    where: Annotated[
        list[str] | None, typer.Option(help="FIELD=VALUE (or field__op=value) to filter by.")
    ] = None,
    order_by: Annotated[list[str] | None, typer.Option(help="A field, -field descending.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the count as JSON.")] = False,
) -> None:
    """Export a list to a file, streamed (the records the system user may export)."""
    filters = dict(_pair(w) for w in where or [])
    crm, system = _system(url, tenant)
    with crm:
        try:
            with _bar(f"exporting {entity}", None, quiet=as_json) as advance:
                count = system.exports.run(
                    entity, str(file), where=filters, order_by=order_by or (), on_progress=advance
                )
        except pycrm.CRMError as error:
            _fail(error)
    if as_json:
        typer.echo(json.dumps({"entity": entity, "file": str(file), "records": count}))
    else:
        console.print(f"{count:,} {entity} records written to {file}", markup=False)


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        _fail(f"{text!r}: give NAME=VALUE")
    return name.strip(), value


def _count_rows(file: Path) -> int | None:
    """Rows of a CSV file (for the progress bar); None for other files."""
    if file.suffix.lower() != ".csv" or not file.is_file():
        return None
    with file.open("rb") as handle:
        return max(0, sum(1 for _ in handle) - 1)


@contextmanager
def _bar(what: str, total: int | None, *, quiet: bool) -> Iterator[Callable[[int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress

    if quiet:
        yield lambda done: None
        return
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        console=errors,
        transient=True,
    ) as bar:
        task = bar.add_task(what, total=total)
        yield lambda done: bar.update(task, completed=done)


@app.command()
def sweep(
    url: Url,
    tenant: Annotated[list[str], typer.Option(help="A tenant to sweep (repeat for more).")],
    at: Annotated[
        str | None, typer.Option(help="Sweep as of this ISO time with a UTC offset (default now).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as JSON.")] = False,
) -> None:
    """Run every time-based rule now (for cron, e.g. every five minutes): reminders, SLA
    warnings, breaches and escalations, dunning, stale deals, birthdays, care days, pool
    recycling and the plugins' rules. Safe with two runs at once; nothing is raised
    twice. Exits non-zero if a rule failed."""
    when = _moment(at)
    runs = {}
    for name in tenant:
        crm, _ = _system(url, name)
        with crm:
            try:
                runs[name] = crm.sweep(when, tenant=name)
            except pycrm.CRMError as error:
                _fail(f"{name}: {error}")
    if as_json:
        typer.echo(json.dumps({k: v.model_dump(mode="json") for k, v in runs.items()}, indent=2))
    else:
        for name, run in runs.items():
            raised = ", ".join(f"{rule}: {count}" for rule, count in run.raised.items())
            console.print(f"{name}: {raised}", markup=False, highlight=False, soft_wrap=True)
            for rule, why in run.failed.items():
                errors.print(f"{name}: rule {rule} failed: {why}", markup=False, highlight=False)
    if any(run.failed for run in runs.values()):
        raise typer.Exit(1)


def _moment(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        _fail(f"--at {text!r} is not an ISO time")
    if moment.tzinfo is None:
        _fail(f"--at {text!r} has no UTC offset (add +08:00 or Z)")
    return moment


@app.command()
def version() -> None:
    """Print pycrm's version."""
    console.print(pycrm.__version__)


def main() -> None:
    """Run the command line (``pycrm --help``)."""
    app()
