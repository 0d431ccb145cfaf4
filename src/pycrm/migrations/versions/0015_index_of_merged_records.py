"""an index of merged records by survivor, in id order (a record's history reads them)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 14:40:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from pycrm.migrations.naming import label, table

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables whose records can be merged into another.
MERGED = ("customers", "contacts", "leads")


def _only_merged() -> dict[str, Any]:
    merged = sa.text("merged_into IS NOT NULL")
    return {"sqlite_where": merged, "postgresql_where": merged}


def upgrade() -> None:
    for base in MERGED:
        op.create_index(
            label(f"ix_{base}_merged_into"),
            table(base),
            ["tenant", "merged_into", "id"],
            **_only_merged(),
        )


def downgrade() -> None:
    for base in MERGED:
        op.drop_index(label(f"ix_{base}_merged_into"), table_name=table(base), **_only_merged())
