"""examples/fastapi_app: a FastAPI application embedding pycrm, with its own tables, logins
and alembic history beside pycrm's in one database (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import Script
from pycrm_fastapi_example import Host, create_app
from pycrm_fastapi_example.db import MIGRATIONS, alembic_config
from pycrm_fastapi_example.models import AuditNote, Base, User
from pycrm_fastapi_example.seed import seed

import pycrm

with warnings.catch_warnings():  # newer Starlette would rather have httpx2; httpx works
    warnings.filterwarnings("ignore", message=".*httpx2")
    from fastapi.testclient import TestClient

TENANT = "acme"


@dataclass
class Api:
    client: TestClient
    host: Host
    users: dict[str, User]  # director, and the reps wang and li reporting to them

    def call(self, who: str, method: str, path: str, **options: Any) -> Any:
        headers = {"X-User": str(self.users[who].id), "X-Tenant": TENANT}
        return self.client.request(method, path, headers=headers, **options)

    def customer(self, who: str, name: str) -> str:
        answer = self.call(who, "POST", "/customers", json={"name": name})
        assert answer.status_code == 201, answer.json()
        return str(answer.json()["id"])

    @property
    def system(self) -> Any:
        return self.host.crm.as_user(pycrm.SYSTEM_USER, tenant=TENANT)

    def host_rows(self, table: type[Base]) -> int:
        with self.host.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


@pytest.fixture
def api(fresh_url: str) -> Iterator[Api]:
    app = create_app(fresh_url)
    with TestClient(app) as client:  # runs the lifespan: migrations, then the CRM
        host: Host = app.state.host
        yield Api(client, host, seed(host, TENANT))


def test_the_apps_tables_and_pycrms_live_in_one_database(api: Api) -> None:
    engine = api.host.engine
    assert api.host.crm.storage.engine is engine  # type: ignore[attr-defined]
    names = set(sa.inspect(engine).get_table_names())
    assert {"users", "audit_notes", "alembic_version"} <= names  # the application's
    assert {"pycrm_users", "pycrm_customers", "pycrm_alembic_version"} <= names  # pycrm's
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0001"
        linked = conn.execute(
            sa.select(User.crm_user_id).where(User.email == "wang@example.com")
        ).scalar_one()
    assert api.system.users.get(linked).name == "王芳"
    assert api.host_rows(User) == 3


def test_each_rep_sees_only_their_own_customers(api: Api) -> None:
    wangs, lis = api.customer("wang", "王芳的客户"), api.customer("li", "李雷的客户")

    def names(who: str) -> list[str]:
        answer = api.call(who, "GET", "/customers")
        assert answer.status_code == 200
        return [c["name"] for c in answer.json()["items"]]

    assert names("wang") == ["王芳的客户"] and names("li") == ["李雷的客户"]
    assert sorted(names("director")) == ["李雷的客户", "王芳的客户"]  # their direct reports'

    # A colleague's customer does not exist for a rep, whatever they try.
    for method, options in [("GET", {}), ("PATCH", {"json": {"level": "A"}}), ("DELETE", {})]:
        answer = api.call("wang", method, f"/customers/{lis}", **options)
        assert answer.status_code == 404, (method, answer.json())
        assert answer.json()["code"] == "not_found" and answer.json()["id"] == lis

    mine = api.call("wang", "PATCH", f"/customers/{wangs}", json={"level": "A", "version": 1})
    assert mine.status_code == 200 and (mine.json()["level"], mine.json()["version"]) == ("A", 2)
    stale = api.call("wang", "PATCH", f"/customers/{wangs}", json={"level": "B", "version": 1})
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"

    # The director sees and edits a report's customer, but deleting it is the owner's.
    edited = api.call("director", "PATCH", f"/customers/{lis}", json={"region": "北京"})
    assert edited.status_code == 200 and edited.json()["region"] == "北京"
    refused = api.call("director", "DELETE", f"/customers/{lis}")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert api.call("li", "DELETE", f"/customers/{lis}").status_code == 200
    assert api.call("director", "GET", f"/customers/{lis}").status_code == 404

    # Who is asking is the application's business; which tenant they may act in is pycrm's.
    nobody = api.client.get("/customers", headers={"X-User": "999", "X-Tenant": TENANT})
    assert nobody.status_code == 401 and nobody.json()["code"] == "unauthenticated"
    assert api.client.get("/customers").status_code == 401
    elsewhere = api.client.get(
        "/customers", headers={"X-User": str(api.users["wang"].id), "X-Tenant": "globex"}
    )
    assert elsewhere.status_code == 403 and elsewhere.json()["code"] == "permission_denied"


def test_invalid_input_is_422_with_a_code(api: Api) -> None:
    answer = api.call("wang", "POST", "/customers", json={"name": "", "nmae": "typo"})
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "validation" and body["entity"] == "customer"
    assert {e["field"] for e in body["errors"]} == {"name", "nmae"}
    assert api.system.customers.count() == 0

    customer = api.customer("wang", "甲")
    money = {
        "customer_id": customer,
        "name": "deal",
        "amount": {"amount": "1.001", "currency": "CNY"},
    }
    answer = api.call("wang", "POST", "/opportunities", json=money)
    assert answer.status_code == 422 and answer.json()["code"] == "validation"
    assert [e["field"] for e in answer.json()["errors"]] == ["amount"]

    # What FastAPI itself refuses (a malformed id, a body without a field) looks the same.
    for method, path, options in [
        ("GET", "/customers/not-an-id", {}),
        ("POST", f"/opportunities/{customer}/move", {"json": {"stage": "proposal"}}),
    ]:
        answer = api.call("wang", method, path, **options)
        assert answer.status_code == 422 and answer.json()["code"] == "validation", path


def test_money_travels_as_amount_and_currency_and_deals_move(api: Api) -> None:
    customer = api.customer("wang", "北京联成")
    created = api.call(
        "wang",
        "POST",
        "/opportunities",
        json={
            "customer_id": customer,
            "name": "CRM rollout",
            "amount": {"amount": "250000.00", "currency": "CNY"},
        },
    )
    assert created.status_code == 201
    deal = created.json()
    assert deal["amount"] == {"amount": "250000.00", "currency": "CNY"}
    assert (deal["stage"], deal["probability"]) == ("qualification", 10)

    moved = api.call(
        "wang", "POST", f"/opportunities/{deal['id']}/move", json={"to": "needs_analysis"}
    )
    assert moved.status_code == 200 and moved.json()["stage"] == "needs_analysis"
    refused = api.call(
        "wang", "POST", f"/opportunities/{deal['id']}/move", json={"to": "negotiation"}
    )
    assert refused.status_code == 422  # negotiation needs an expected close date
    assert refused.json()["code"] == "rule.opportunity.required_fields"

    lis = api.customer("li", "上海客户")
    usd = {
        "customer_id": lis,
        "name": "US deal",
        "amount": {"amount": "1000.00", "currency": "USD"},
    }
    assert api.call("li", "POST", "/opportunities", json=usd).status_code == 201

    def report(who: str) -> dict[str, Any]:
        answer = api.call(who, "GET", "/reports/weighted-pipeline", params={"by": "stage"})
        assert answer.status_code == 200, answer.json()
        return dict(answer.json())

    wangs = report("wang")  # only her own deal, in the reporting currency
    assert [(r["stage"], r["amount"], r["weighted"]) for r in wangs["rows"]] == [
        (
            "needs_analysis",
            {"amount": "250000.00", "currency": "CNY"},
            {"amount": "62500.00", "currency": "CNY"},
        )
    ]
    whole = report("director")  # both reports' deals; USD at the settings' 7.10
    assert whole["count"] == 2
    assert whole["total"] == {"amount": "257100.00", "currency": "CNY"}
    assert whole["weighted"] == {"amount": "63210.00", "currency": "CNY"}


def test_the_apps_row_and_pycrms_commit_or_roll_back_together(api: Api) -> None:
    request = {
        "note": "met at the trade fair",
        "customer": {"name": "丙公司", "level": "B"},
        "contacts": [{"name": "张三", "email": "zhang@example.com"}],
    }
    done = api.call("wang", "POST", "/customers/with-note", json=request)
    assert done.status_code == 201, done.json()
    notes = api.call("wang", "GET", "/audit-notes").json()
    assert notes == [
        {"id": notes[0]["id"], "text": request["note"], "customer_id": done.json()["id"]}
    ]
    assert (api.system.customers.count(), api.system.contacts.count()) == (1, 1)

    # pycrm fails after the note and the customer were written: neither is kept.
    bad_contact = {"name": "李四", "email": "not an address"}
    failing = {
        **request,
        "customer": {"name": "丁公司"},
        "contacts": [*request["contacts"], bad_contact],
    }
    answer = api.call("wang", "POST", "/customers/with-note", json=failing)
    assert answer.status_code == 422
    assert answer.json()["code"] == "validation" and answer.json()["entity"] == "contact"
    assert api.host_rows(AuditNote) == 1
    assert (api.system.customers.count(), api.system.contacts.count()) == (1, 1)
    assert api.system.customers.count({"name": "丁公司"}) == 0


def test_the_apps_autogenerate_proposes_nothing_for_pycrms_tables(api: Api, tmp_path: Path) -> None:
    scripts = tmp_path / "migrations"  # the application's own, with a versions dir to write to
    shutil.copytree(MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    with api.host.engine.begin() as conn:
        plain = MigrationContext.configure(conn, opts={"compare_type": True})
        dropped = {
            d[1].name for d in compare_metadata(plain, Base.metadata) if d[0] == "remove_table"
        }
        assert "pycrm_customers" in dropped  # what autogenerate would do without the recipe
        script = command.revision(
            alembic_config(conn, script_location=scripts),
            message="nothing to do",
            autogenerate=True,
            rev_id="0002",
        )
    assert isinstance(script, Script)
    text = Path(script.path).read_text()
    assert "down_revision: str | None = '0001'" in text

    def body(function: str) -> list[str]:
        after = text.split(f"def {function}() -> None:\n", 1)[1]
        lines = [line.strip() for line in after.split("\n\ndef ", 1)[0].splitlines()]
        return [line for line in lines if line and not line.startswith("#")]

    assert body("upgrade") == ["pass"], text
    assert body("downgrade") == ["pass"], text
