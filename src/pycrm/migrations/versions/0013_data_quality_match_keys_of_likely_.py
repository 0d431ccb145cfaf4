"""data quality: match keys of likely duplicates, external ids, merged records, churn warnings

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 06:35:24.563272
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import pycrm.storage.sqlalchemy.types
from pycrm.migrations.naming import label, table

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        table("match_keys"),
        sa.Column("id", pycrm.storage.sqlalchemy.types.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("entity", sa.String(), nullable=False),
        sa.Column("record_id", pycrm.storage.sqlalchemy.types.Uuid(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "id", name=label("pk_match_keys")),
    )
    with op.batch_alter_table(table("match_keys"), schema=None) as batch_op:
        batch_op.create_index(
            label("ix_match_keys_entity_key"), ["tenant", "entity", "key"], unique=False
        )
        batch_op.create_index(
            label("ix_match_keys_record_id"), ["tenant", "record_id"], unique=False
        )

    with op.batch_alter_table(table("contacts"), schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("merged_into", pycrm.storage.sqlalchemy.types.Uuid(), nullable=True)
        )
        batch_op.create_index(
            label("uq_contacts_external_id"),
            ["tenant", "external_id"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    with op.batch_alter_table(table("customers"), schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("merged_into", pycrm.storage.sqlalchemy.types.Uuid(), nullable=True)
        )
        batch_op.add_column(sa.Column("churn_state", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column(
                "churn_reasons",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "churn_flagged_at",
                pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("churn_action", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("churn_until", sa.Date(), nullable=True))
        batch_op.create_index(
            label("uq_customers_external_id"),
            ["tenant", "external_id"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    with op.batch_alter_table(table("leads"), schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("merged_into", pycrm.storage.sqlalchemy.types.Uuid(), nullable=True)
        )
        batch_op.create_index(
            label("uq_leads_external_id"),
            ["tenant", "external_id"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    with op.batch_alter_table(table("opportunities"), schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(), nullable=True))
        batch_op.create_index(
            label("uq_opportunities_external_id"),
            ["tenant", "external_id"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    with op.batch_alter_table(table("products"), schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(), nullable=True))
        batch_op.create_index(
            label("uq_products_external_id"),
            ["tenant", "external_id"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table(table("products"), schema=None) as batch_op:
        batch_op.drop_index(
            label("uq_products_external_id"),
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_column("external_id")

    with op.batch_alter_table(table("opportunities"), schema=None) as batch_op:
        batch_op.drop_index(
            label("uq_opportunities_external_id"),
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_column("external_id")

    with op.batch_alter_table(table("leads"), schema=None) as batch_op:
        batch_op.drop_index(
            label("uq_leads_external_id"),
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_column("merged_into")
        batch_op.drop_column("external_id")

    with op.batch_alter_table(table("customers"), schema=None) as batch_op:
        batch_op.drop_index(
            label("uq_customers_external_id"),
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_column("churn_until")
        batch_op.drop_column("churn_action")
        batch_op.drop_column("churn_flagged_at")
        batch_op.drop_column("churn_reasons")
        batch_op.drop_column("churn_state")
        batch_op.drop_column("merged_into")
        batch_op.drop_column("external_id")

    with op.batch_alter_table(table("contacts"), schema=None) as batch_op:
        batch_op.drop_index(
            label("uq_contacts_external_id"),
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_column("merged_into")
        batch_op.drop_column("external_id")

    with op.batch_alter_table(table("match_keys"), schema=None) as batch_op:
        batch_op.drop_index(label("ix_match_keys_record_id"))
        batch_op.drop_index(label("ix_match_keys_entity_key"))

    op.drop_table(table("match_keys"))
