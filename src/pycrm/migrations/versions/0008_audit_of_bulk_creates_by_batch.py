"""audit of bulk creates by batch: one row per batch, one index row per record

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pycrm.storage.sqlalchemy.types
from pycrm.migrations.naming import label, table

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        table("change_batches"),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("at", pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("records", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "id", name=label("pk_change_batches")),
    )
    if op.get_context().dialect.name == "postgresql":
        # Written once in big pieces, read a record at a time: not worth compressing.
        quoted = op.get_context().dialect.identifier_preparer.quote(table("change_batches"))
        op.execute(f"ALTER TABLE {quoted} ALTER COLUMN records SET STORAGE EXTERNAL")
    op.create_table(
        table("change_batch_records"),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant", "entity", "record_id", "batch_id", name=label("pk_change_batch_records")
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table(table("change_batch_records"))
    op.drop_table(table("change_batches"))
