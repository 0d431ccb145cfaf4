"""match keys keyed by what they are looked up by: no id of their own, one index by record

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 10:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pycrm.storage.sqlalchemy.types
from pycrm.migrations.naming import label, table

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _quoted(name: str) -> str:
    return op.get_context().dialect.identifier_preparer.quote(name)


def _columns() -> str:
    return ", ".join(_quoted(c) for c in ("tenant", "entity", "record_id", "rule", "key"))


def _keep_rows() -> str:
    """Move the keys aside (once each); the table is made again around them."""
    kept = table("match_keys_kept")
    op.execute(
        f"CREATE TABLE {_quoted(kept)} AS SELECT DISTINCT {_columns()} "
        f"FROM {_quoted(table('match_keys'))}"
    )
    op.drop_table(table("match_keys"))
    return kept


def upgrade() -> None:
    kept = _keep_rows()
    op.create_table(
        table("match_keys"),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("entity", sa.String(), nullable=False),
        sa.Column("record_id", pycrm.storage.sqlalchemy.types.Uuid(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant", "entity", "key", "rule", "record_id", name=label("pk_match_keys")
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(label("ix_match_keys_record_id"), table("match_keys"), ["tenant", "record_id"])
    op.execute(
        f"INSERT INTO {_quoted(table('match_keys'))} ({_columns()}) "
        f"SELECT {_columns()} FROM {_quoted(kept)}"
    )
    op.drop_table(kept)


def downgrade() -> None:
    kept = _keep_rows()
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
    op.create_index(
        label("ix_match_keys_entity_key"), table("match_keys"), ["tenant", "entity", "key"]
    )
    op.create_index(label("ix_match_keys_record_id"), table("match_keys"), ["tenant", "record_id"])
    postgresql = op.get_context().dialect.name == "postgresql"
    new_id = "gen_random_uuid()" if postgresql else "lower(hex(randomblob(16)))"
    op.execute(
        f"INSERT INTO {_quoted(table('match_keys'))} (id, {_columns()}) "
        f"SELECT {new_id}, {_columns()} FROM {_quoted(kept)}"
    )
    op.drop_table(kept)
