"""The companion CLI: the demo runs end to end in any locale; migrate upgrades a database;
config shows, exports and imports a tenant's configuration."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import pycrm
from pycrm import console
from pycrm.cli import app
from pycrm.core import messages as msg
from pycrm.i18n import translate

runner = CliRunner()


@pytest.mark.parametrize(("locale", "symbol"), [("zh_CN", "¥"), ("ja_JP", "元"), ("en_US", "CN¥")])
def test_demo_builds_a_database_and_prints_a_summary(tmp_path: Path, locale: str, symbol: str):
    db = tmp_path / "demo.db"
    result = runner.invoke(app, ["demo", "--db", str(db), "--customers", "40", "--locale", locale])
    assert result.exit_code == 0, result.output
    for heading in (msg.HEAD_CUSTOMERS_BY_LEVEL, msg.BUCKET_1_30, msg.HEAD_AMOUNT_LEFT):
        assert translate(heading, locale) in result.output
    assert translate(msg.HEAD_OPEN_BY_STAGE, locale, currency="CNY") in result.output
    assert symbol in result.output
    crm = pycrm.CRM.connect(f"sqlite:///{db}", load_entry_points=False)
    assert crm.as_user(pycrm.SYSTEM_USER, tenant="demo").customers.count() == 40
    crm.close()


def test_demo_is_reproducible_with_a_seed(tmp_path: Path):
    outputs = []
    for name in ("a.db", "b.db"):
        result = runner.invoke(app, ["demo", "--db", str(tmp_path / name), "--customers", "20"])
        outputs.append(result.output.split("\n", 1)[1])
    assert outputs[0] == outputs[1]


def test_migrate_brings_a_database_up_to_date(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    result = runner.invoke(app, ["migrate", url])
    assert result.exit_code == 0 and "up to date" in result.output
    crm = pycrm.CRM.connect(
        url, settings=pycrm.Settings(auto_migrate=False), load_entry_points=False
    )
    crm.close()


def test_version():
    result = runner.invoke(app, ["version"])
    assert result.output.strip() == pycrm.__version__


def test_migrate_takes_the_table_prefix(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    result = runner.invoke(app, ["migrate", url, "--table-prefix", "crm_"])
    assert result.exit_code == 0, result.output
    crm = pycrm.CRM.connect(
        url,
        settings=pycrm.Settings(table_prefix="crm_", auto_migrate=False),
        load_entry_points=False,
    )
    crm.close()


def test_without_the_cli_extra_migrate_and_version_still_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setitem(sys.modules, "typer", None)  # as if the extra were not installed
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    assert console.main(["migrate", url]) == 0
    assert "schema is up to date" in capsys.readouterr().out
    assert console.main(["version"]) == 0
    assert capsys.readouterr().out.strip() == pycrm.__version__
    assert console.main(["demo"]) == 2
    assert "pip install 'pycrm-embedded[cli]'" in capsys.readouterr().err
    assert console.main(["migrate", "nosuch://x"]) == 1
    assert "no storage backend" in capsys.readouterr().err


def test_the_installed_command_runs():
    script = Path(sys.executable).with_name("pycrm")
    done = subprocess.run([str(script), "version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == pycrm.__version__


def test_generate_fills_a_tenant_and_prints_rows_per_kind(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'volumes.db'}"
    args = ["generate", url, "--tenant", "big", "--scale", "0.0002", "--reps", "5"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for kind, rows in (("customer", "200"), ("contact", "600"), ("activity", "2,000")):
        assert any(kind in line and rows in line for line in result.output.splitlines()), kind
    assert "rows/s" in result.output
    crm = pycrm.CRM.connect(url, load_entry_points=False)
    assert crm.as_user(pycrm.SYSTEM_USER, tenant="big").opportunities.count() == 1000
    crm.close()
    bad = runner.invoke(app, ["generate", url, "--tenant", "other", "--scale", "0"])
    assert bad.exit_code == 2 and "scale" in bad.output


def _set_up_acme(url: str) -> None:
    """A tenant that changed a bit of everything."""
    with pycrm.CRM.connect(url, load_entry_points=False) as crm:
        acme = crm.as_user(pycrm.SYSTEM_USER, tenant="acme")
        acme.configuration.set_currencies(["CNY", "USD"])
        acme.configuration.set_reporting_currency("USD")
        acme.configuration.set_picklist(
            "industry",
            [
                {"key": "retail", "labels": {"zh_CN": "零售", "en_US": "Retail", "ja_JP": "小売"}},
                {"key": "energy", "labels": {"zh_CN": "能源", "en_US": "Energy"}},
            ],
        )
        acme.configuration.define_field(
            "customer", "tax_id", "text", label={"zh_CN": "税号", "en_US": "Tax ID"}
        )
        acme.configuration.change_stage("b2b", "proposal", probability=45)
        acme.configuration.set_rate("USD", "CNY", dt.date(2026, 3, 1), "7.25", note="March")
        acme.configuration.set_sequence("order", "ACME-{year}-{number:04d}")


def test_config_export_and_import_clone_a_tenant(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'config.db'}"
    _set_up_acme(url)
    shown = runner.invoke(app, ["config", "show", url, "--tenant", "acme"])
    assert shown.exit_code == 0, shown.output
    for text in ("USD", "45%", "retail, energy", "customer.tax_id", "ACME-{year}-{number:04d}"):
        assert text in shown.output, text
    summary = json.loads(
        runner.invoke(app, ["config", "show", url, "--tenant", "acme", "--json"]).stdout
    )
    assert summary["reporting_currency"] == "USD"
    assert summary["picklists"]["industry"]["keys"] == ["retail", "energy"]
    b2b = next(p for p in summary["pipelines"] if p["key"] == "b2b")
    assert {s["key"]: s["probability"] for s in b2b["stages"]}["proposal"] == 45
    assert summary["rates"] == [
        {"base": "USD", "quote": "CNY", "valid_from": "2026-03-01", "rate": "7.25", "note": "March"}
    ]

    exported = runner.invoke(app, ["config", "export", url, "--tenant", "acme"])
    assert exported.exit_code == 0, exported.output
    document = json.loads(exported.stdout)  # stdout holds the document and nothing else
    assert document["format"] == "pycrm-configuration/1"
    file = tmp_path / "acme.json"
    written = runner.invoke(
        app, ["config", "export", url, "--tenant", "acme", "--output", str(file)]
    )
    assert written.exit_code == 0, written.output
    assert json.loads(file.read_text(encoding="utf-8")) == document

    imported = runner.invoke(app, ["config", "import", url, "--tenant", "branch", str(file)])
    assert imported.exit_code == 0, imported.output
    changed = len(document["entries"]) + len(document["rates"])
    assert f"branch: {changed} configuration item(s) changed" in imported.output

    with pycrm.CRM.connect(url, load_entry_points=False) as crm:
        branch = crm.as_user(pycrm.SYSTEM_USER, tenant="branch")
        config = branch.configuration.current()
        assert config.reporting_currency == "USD" and config.currencies == ("CNY", "USD")
        assert config.picklists["industry"].keys() == ["retail", "energy"]
        assert config.label("customer", "industry", "retail", "ja_JP") == "小売"
        assert config.fields.get("customer", "tax_id") is not None
        assert config.pipelines["b2b"].stage("proposal").probability == 45
        assert config.exchange_rates.rate("USD", "CNY", dt.date(2026, 3, 2)) == 7.25
        customer = branch.customers.create(name="Sun", industry="energy", custom={"tax_id": "1"})
        order = branch.orders.create(customer_id=customer.id, currency="USD")
        assert order.number is not None and order.number.startswith("ACME-")
        with pytest.raises(pycrm.ValidationError):
            branch.customers.create(name="Mine", industry="mining")
        assert branch.configuration.export()["entries"] == document["entries"]
        # the tenant it came from is untouched, and a third tenant still has the defaults
        other = crm.as_user(pycrm.SYSTEM_USER, tenant="other").configuration.current()
        assert other.reporting_currency == "CNY" and other.picklists["industry"].keys() == []


def test_config_import_refuses_a_bad_file_and_changes_nothing(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'config.db'}"
    _set_up_acme(url)
    not_json = tmp_path / "not.json"
    not_json.write_text("industry: retail", encoding="utf-8")
    result = runner.invoke(app, ["config", "import", url, "--tenant", "branch", str(not_json)])
    assert result.exit_code == 1 and "is not a JSON document" in result.output

    not_export = tmp_path / "other.json"
    not_export.write_text(json.dumps({"customers": []}), encoding="utf-8")
    result = runner.invoke(app, ["config", "import", url, "--tenant", "branch", str(not_export)])
    assert result.exit_code == 1 and "not a pycrm configuration export" in result.output

    broken = tmp_path / "broken.json"
    good = {"section": "setting", "key": "locale", "value": {"value": "en_US"}}
    bad = {"section": "field", "key": "planet.size", "value": {"type": "text", "label": "Size"}}
    broken.write_text(
        json.dumps({"format": "pycrm-configuration/1", "entries": [good, bad], "rates": []}),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["config", "import", url, "--tenant", "branch", str(broken)])
    assert result.exit_code == 1, result.output
    assert "entries.1: custom field planet.size: unknown entity kind 'planet'" in result.output
    missing = runner.invoke(app, ["config", "import", url, "--tenant", "branch", "nosuch.json"])
    assert missing.exit_code != 0

    with pycrm.CRM.connect(url, load_entry_points=False) as crm:
        branch = crm.as_user(pycrm.SYSTEM_USER, tenant="branch").configuration
        assert branch.export()["entries"] == []  # all or nothing: the good entry is not kept
        assert branch.current().locale == "zh_CN"


def test_pools_recycle_returns_cold_customers_and_shows_the_pool(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'pools.db'}"
    # Customers handed out long ago (a clock in 2020), checked now by cron.
    past = pycrm.FixedClock(dt.datetime(2020, 1, 6, 9, 0, tzinfo=dt.UTC))
    crm = pycrm.CRM.connect(url, clock=past, load_entry_points=False)
    with crm, crm.unit_of_work(tenant="acme", user=pycrm.SYSTEM_USER) as uow:
        rule = pycrm.RecycleRule(reason="no_follow_up", days=30)
        uow.configuration.set_pool(pycrm.Pool(key="all", name="Everyone", recycle=[rule]))
        rep = uow.users.create(name="Rep")
        cold = uow.customers.create(name="Cold", owner_id=rep.id)
    result = runner.invoke(app, ["pools", "recycle", url, "--tenant", "acme", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["acme"]["recycled"] == {"all": 1}
    again = runner.invoke(app, ["pools", "recycle", url, "--tenant", "acme"])
    assert again.exit_code == 0 and "recycled all: 0" in again.output
    shown = runner.invoke(app, ["pools", "show", url, "--tenant", "acme"])
    assert shown.exit_code == 0 and "all" in shown.output
    with pycrm.CRM.connect(url, load_entry_points=False) as crm:
        back = crm.as_user(pycrm.SYSTEM_USER, tenant="acme").customers.get(cold.id)
    assert (back.owner_id, back.pool) == (None, "all")


def test_sweep_raises_due_reminders_once_and_reports_them(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    at = dt.datetime(2026, 3, 16, 9, 0, tzinfo=dt.UTC)
    settings = pycrm.Settings(auto_migrate=True)
    with (
        pycrm.CRM.connect(url, settings=settings) as crm,
        crm.unit_of_work(tenant="acme", user=pycrm.SYSTEM_USER) as uow,
    ):
        uow.activities.create(type="call", subject="call back", remind_at=at)
    when = at.isoformat()
    result = runner.invoke(app, ["sweep", url, "--tenant", "acme", "--at", when, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["acme"]["raised"]["activity.reminder"] == 1
    again = runner.invoke(app, ["sweep", url, "--tenant", "acme", "--at", when])
    assert again.exit_code == 0 and "activity.reminder: 0" in again.output
    naive = runner.invoke(app, ["sweep", url, "--tenant", "acme", "--at", "2026-03-16T09:00"])
    assert naive.exit_code == 1 and "UTC offset" in naive.output
