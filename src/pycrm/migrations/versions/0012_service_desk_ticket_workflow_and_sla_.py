"""service desk: ticket workflow and SLA deadlines, ticket moves, activity reminders,
and the alerts the sweep raised

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 06:17:15.950673
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import pycrm.storage.sqlalchemy.types
from pycrm.migrations.naming import label, ref, table
from pycrm.storage.sqlalchemy.types import Uuid

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        table("alerts"),
        sa.Column("id", pycrm.storage.sqlalchemy.types.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("subject_kind", sa.String(), nullable=False),
        sa.Column("subject", pycrm.storage.sqlalchemy.types.Uuid(), nullable=False),
        sa.Column("occasion", sa.String(), nullable=False),
        sa.Column("recipient", pycrm.storage.sqlalchemy.types.Uuid(), nullable=True),
        sa.Column("at", pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("task", pycrm.storage.sqlalchemy.types.Uuid(), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "moment", pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("tenant", "id", name=label("pk_alerts")),
        sa.UniqueConstraint(
            "tenant", "rule", "subject", "occasion", name=label("uq_alerts_rule_subject_occasion")
        ),
    )
    op.create_table(
        table("ticket_moves"),
        sa.Column("id", pycrm.storage.sqlalchemy.types.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("ticket_id", pycrm.storage.sqlalchemy.types.Uuid(), nullable=False),
        sa.Column("from_status", sa.String(), nullable=True),
        sa.Column("to_status", sa.String(), nullable=False),
        sa.Column("moved_by", pycrm.storage.sqlalchemy.types.Uuid(), nullable=False),
        sa.Column("assignee_id", pycrm.storage.sqlalchemy.types.Uuid(), nullable=True),
        sa.Column("at", pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant", "ticket_id"],
            [ref("tickets.tenant"), ref("tickets.id")],
            name=label("fk_ticket_moves_ticket_id"),
        ),
        sa.PrimaryKeyConstraint("tenant", "id", name=label("pk_ticket_moves")),
    )
    with op.batch_alter_table(table("ticket_moves"), schema=None) as batch_op:
        batch_op.create_index(
            label("ix_ticket_moves_assignee_id"), ["tenant", "assignee_id"], unique=False
        )
        batch_op.create_index(
            label("ix_ticket_moves_ticket_id"), ["tenant", "ticket_id"], unique=False
        )

    with op.batch_alter_table(table("activities"), schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "remind_at",
                pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("assigned_by", Uuid(), nullable=True))
        batch_op.create_index(
            label("ix_activities_remind_at"), ["tenant", "remind_at"], unique=False
        )

    with op.batch_alter_table(table("contacts"), schema=None) as batch_op:
        batch_op.add_column(sa.Column("birth_month_day", sa.String(), nullable=True))
        batch_op.create_index(
            label("ix_contacts_birth_month_day"), ["tenant", "birth_month_day"], unique=False
        )
    contacts = sa.table(table("contacts"), sa.column("birthday"), sa.column("birth_month_day"))
    month_day = (
        sa.func.to_char(contacts.c.birthday, "MM-DD")
        if op.get_bind().dialect.name == "postgresql"
        else sa.func.strftime("%m-%d", contacts.c.birthday)
    )
    op.execute(
        contacts.update().where(contacts.c.birthday.is_not(None)).values(birth_month_day=month_day)
    )

    with op.batch_alter_table(table("tickets"), schema=None) as batch_op:
        batch_op.add_column(sa.Column("satisfaction_comment", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "surveyed_at",
                pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("order_id", pycrm.storage.sqlalchemy.types.Uuid(), nullable=True)
        )
        batch_op.add_column(sa.Column("fee_line", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("sla_policy", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "respond_by",
                pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "response_warn_at",
                pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "resolution_warn_at",
                pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "responded_at",
                pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "waiting_since",
                pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "closed_at",
                pycrm.storage.sqlalchemy.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("response_minutes", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("resolution_minutes", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("response_breached", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("resolution_breached", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column("paused_minutes", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.create_index(label("ix_tickets_order_id"), ["tenant", "order_id"], unique=False)
        batch_op.create_foreign_key(
            label("fk_tickets_order_id"), table("orders"), ["tenant", "order_id"], ["tenant", "id"]
        )


def downgrade() -> None:
    with op.batch_alter_table(table("tickets"), schema=None) as batch_op:
        batch_op.drop_constraint(label("fk_tickets_order_id"), type_="foreignkey")
        batch_op.drop_index(label("ix_tickets_order_id"))
        batch_op.drop_column("paused_minutes")
        batch_op.drop_column("resolution_breached")
        batch_op.drop_column("response_breached")
        batch_op.drop_column("resolution_minutes")
        batch_op.drop_column("response_minutes")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("waiting_since")
        batch_op.drop_column("responded_at")
        batch_op.drop_column("resolution_warn_at")
        batch_op.drop_column("response_warn_at")
        batch_op.drop_column("respond_by")
        batch_op.drop_column("sla_policy")
        batch_op.drop_column("fee_line")
        batch_op.drop_column("order_id")
        batch_op.drop_column("surveyed_at")
        batch_op.drop_column("satisfaction_comment")

    with op.batch_alter_table(table("activities"), schema=None) as batch_op:
        batch_op.drop_index(label("ix_activities_remind_at"))
        batch_op.drop_column("assigned_by")
        batch_op.drop_column("remind_at")

    with op.batch_alter_table(table("ticket_moves"), schema=None) as batch_op:
        batch_op.drop_index(label("ix_ticket_moves_ticket_id"))
        batch_op.drop_index(label("ix_ticket_moves_assignee_id"))

    with op.batch_alter_table(table("contacts"), schema=None) as batch_op:
        batch_op.drop_index(label("ix_contacts_birth_month_day"))
        batch_op.drop_column("birth_month_day")

    op.drop_table(table("ticket_moves"))
    op.drop_table(table("alerts"))
