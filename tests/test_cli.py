"""The companion CLI: the demo runs end to end in any locale; migrate upgrades a database."""

from __future__ import annotations

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
