"""The application's own tables: users (linked to pycrm users) and audit notes.

Revision ID: 0001
Revises:
Create Date: 2026-03-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("crm_user_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("crm_user_id", name=op.f("uq_users_crm_user_id")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "audit_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(length=100), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_audit_notes_author_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_notes")),
    )
    op.create_index(op.f("ix_audit_notes_author_id"), "audit_notes", ["author_id"])
    op.create_index(op.f("ix_audit_notes_customer_id"), "audit_notes", ["customer_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_notes_customer_id"), table_name="audit_notes")
    op.drop_index(op.f("ix_audit_notes_author_id"), table_name="audit_notes")
    op.drop_table("audit_notes")
    op.drop_table("users")
