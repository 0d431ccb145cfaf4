"""tenant configuration: configuration entries, dated exchange rates, number sequences and
a configuration version per tenant

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import pycrm.storage.sqlalchemy.types
from pycrm.migrations.naming import label, table

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _stamps() -> list[sa.Column]:  # type: ignore[type-arg]
    when = pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True)
    return [
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        table("config_entries"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("section", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", JSON, nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("tenant", "id", name=label("pk_config_entries")),
        sa.UniqueConstraint(
            "tenant", "section", "key", name=label("uq_config_entries_section_key")
        ),
    )
    op.create_table(
        table("exchange_rates"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("base", sa.String(), nullable=False),
        sa.Column("quote", sa.String(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("rate", pycrm.storage.sqlalchemy.types.ExactDecimal(length=64), nullable=False),
        sa.Column("note", sa.String(), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("tenant", "id", name=label("pk_exchange_rates")),
        sa.UniqueConstraint(
            "tenant",
            "base",
            "quote",
            "valid_from",
            name=label("uq_exchange_rates_base_quote_valid_from"),
        ),
    )
    op.create_table(
        table("number_sequences"),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("sequence", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "sequence", "period", name=label("pk_number_sequences")),
    )
    with op.batch_alter_table(table("org_versions"), schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("configuration", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table(table("org_versions"), schema=None) as batch_op:
        batch_op.drop_column("configuration")
    op.drop_table(table("number_sequences"))
    op.drop_table(table("exchange_rates"))
    op.drop_table(table("config_entries"))
