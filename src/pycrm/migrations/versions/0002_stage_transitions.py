"""stage transitions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 01:35:27.670300
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pycrm.storage.sqlalchemy.types
from pycrm.migrations.naming import label, ref, table

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        table("stage_transitions"),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("opportunity_id", sa.Uuid(), nullable=False),
        sa.Column("pipeline", sa.String(), nullable=False),
        sa.Column("from_stage", sa.String(), nullable=True),
        sa.Column("to_stage", sa.String(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("at", pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dwell_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant", "opportunity_id"],
            [ref("opportunities.tenant"), ref("opportunities.id")],
            name=label("fk_stage_transitions_opportunity_id"),
        ),
        sa.PrimaryKeyConstraint("tenant", "id", name=label("pk_stage_transitions")),
    )
    with op.batch_alter_table(table("stage_transitions"), schema=None) as batch_op:
        batch_op.create_index(
            label("ix_stage_transitions_opportunity_id"), ["tenant", "opportunity_id"], unique=False
        )
        batch_op.create_index(
            label("ix_stage_transitions_pipeline_at"), ["tenant", "pipeline", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table(table("stage_transitions"), schema=None) as batch_op:
        batch_op.drop_index(label("ix_stage_transitions_pipeline_at"))
        batch_op.drop_index(label("ix_stage_transitions_opportunity_id"))

    op.drop_table(table("stage_transitions"))
