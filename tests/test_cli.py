"""The companion CLI: the demo runs end to end in any locale; migrate upgrades a database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import pycrm
from pycrm.cli import app

runner = CliRunner()


@pytest.mark.parametrize(("locale", "symbol"), [("zh_CN", "¥"), ("ja_JP", "元"), ("en_US", "CN¥")])
def test_demo_builds_a_database_and_prints_a_summary(tmp_path: Path, locale: str, symbol: str):
    db = tmp_path / "demo.db"
    result = runner.invoke(app, ["demo", "--db", str(db), "--customers", "40", "--locale", locale])
    assert result.exit_code == 0, result.output
    assert "Customers per level" in result.output
    assert "Open opportunities per stage" in result.output
    assert "Installments due in" in result.output
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
