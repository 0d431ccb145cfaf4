"""one live payment plan per order, held by a partial unique index

Orders that got two or more live plans before this rule was held by the database keep
their first plan; later duplicates without payments are soft-deleted as of this
migration (restorable by hand). Duplicates that both received money cannot be merged
automatically: the migration stops and names the orders.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 22:40:00
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pycrm.migrations.naming import label, table
from pycrm.storage.sqlalchemy.types import UTCDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")


def _retire_duplicates() -> None:
    conn = op.get_bind()
    plans = sa.table(
        table("payment_plans"),
        sa.column("tenant"),
        sa.column("id"),
        sa.column("order_id"),
        sa.column("created_at"),
        sa.column("deleted_at", UTCDateTime()),
    )
    payments = sa.table(
        table("payments"), sa.column("tenant"), sa.column("plan_id"), sa.column("deleted_at")
    )
    live = plans.c.deleted_at.is_(None)
    rows = conn.execute(
        sa.select(plans.c.tenant, plans.c.order_id, plans.c.id, plans.c.created_at)
        .where(live)
        .order_by(plans.c.tenant, plans.c.order_id, plans.c.created_at, plans.c.id)
    ).all()
    seen: set[tuple[str, object]] = set()
    stuck = []
    for tenant, order_id, plan_id, _ in rows:
        if (tenant, order_id) not in seen:
            seen.add((tenant, order_id))
            continue
        paid = conn.execute(
            sa.select(sa.func.count())
            .select_from(payments)
            .where(
                payments.c.tenant == tenant,
                payments.c.plan_id == plan_id,
                payments.c.deleted_at.is_(None),
            )
        ).scalar_one()
        if paid:
            stuck.append(f"{tenant}/{order_id}")
            continue
        conn.execute(
            plans.update()
            .where(plans.c.tenant == tenant, plans.c.id == plan_id)
            .values(deleted_at=dt.datetime.now(dt.UTC))
        )
    if stuck:
        raise RuntimeError(
            "these orders have several payment plans that all received payments; keep one "
            "plan per order (delete the others) and migrate again: " + ", ".join(stuck)
        )


def upgrade() -> None:
    _retire_duplicates()
    with op.batch_alter_table(table("payment_plans"), schema=None) as batch_op:
        batch_op.create_index(
            label("uq_payment_plans_order_id"),
            ["tenant", "order_id"],
            unique=True,
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        )


def downgrade() -> None:
    with op.batch_alter_table(table("payment_plans"), schema=None) as batch_op:
        batch_op.drop_index(label("uq_payment_plans_order_id"))
