"""public customer pools: the pool a customer is in, since when its owner has it, and
every move in and out of a pool

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pycrm.storage.sqlalchemy.types
from pycrm.migrations.naming import label, ref, table

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    when = pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True)
    with op.batch_alter_table(table("customers"), schema=None) as batch_op:
        batch_op.add_column(sa.Column("pool", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("owned_since", when, nullable=True))
        batch_op.add_column(sa.Column("hot_until", when, nullable=True))
        batch_op.create_index(label("ix_customers_pool"), ["tenant", "pool"], unique=False)
    op.create_table(
        table("pool_moves"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("pool", sa.String(), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("acted_by", sa.Uuid(), nullable=False),
        sa.Column("at", when, nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant", "customer_id"],
            [ref("customers.tenant"), ref("customers.id")],
            name=label("fk_pool_moves_customer_id"),
        ),
        sa.PrimaryKeyConstraint("tenant", "id", name=label("pk_pool_moves")),
    )
    with op.batch_alter_table(table("pool_moves"), schema=None) as batch_op:
        # A customer's moves, and a rep's (claims of a day, cooldowns): every index costs
        # the recycle run, which writes a move per customer.
        for column in ("customer_id", "owner_id"):
            name = label(f"ix_pool_moves_{column}")
            batch_op.create_index(name, ["tenant", column], unique=False)


def downgrade() -> None:
    op.drop_table(table("pool_moves"))
    with op.batch_alter_table(table("customers"), schema=None) as batch_op:
        batch_op.drop_index(label("ix_customers_pool"))
        batch_op.drop_column("hot_until")
        batch_op.drop_column("owned_since")
        batch_op.drop_column("pool")
