"""organisation versions: one counter per tenant, raised by every change of who may see what

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pycrm.migrations.naming import label, table

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        table("org_versions"),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", name=label("pk_org_versions")),
    )


def downgrade() -> None:
    op.drop_table(table("org_versions"))
