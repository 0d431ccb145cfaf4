"""folded copies of searched names (name_folded, company_folded)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pycrm.core.text import fold
from pycrm.migrations.naming import label, table

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The folded columns, by the table pycrm calls it (as tables.FOLDED at this revision).
FOLDED = {
    "customers": ("name",),
    "contacts": ("name",),
    "leads": ("name", "company"),
    "opportunities": ("name",),
    "products": ("name",),
}
#: Indexes of searched names that carry the folded copy too (a search ordered by name
#: tests the index entry instead of reading each row).
COVERED = {"customers": "name", "contacts": "name"}
BATCH = 5000


def upgrade() -> None:
    for base, fields in FOLDED.items():
        with op.batch_alter_table(table(base), schema=None) as batch_op:
            for field in fields:
                batch_op.add_column(sa.Column(f"{field}_folded", sa.String(), nullable=True))
        _fill(base, fields)
        if base in COVERED:
            _index(base, COVERED[base], folded=True)


def _fill(base: str, fields: tuple[str, ...]) -> None:
    """Fold what is stored, a batch at a time in key order (bounded memory)."""
    conn = op.get_bind()
    rows = sa.table(
        table(base),
        sa.column("tenant", sa.String()),
        sa.column("id", sa.Uuid()),
        *(sa.column(f, sa.String()) for f in fields),
        *(sa.column(f"{f}_folded", sa.String()) for f in fields),
    )
    write = (
        rows.update()
        .where(rows.c.tenant == sa.bindparam("t"), rows.c.id == sa.bindparam("i"))
        .values({f"{f}_folded": sa.bindparam(f"f_{f}") for f in fields})
    )
    after: tuple[str, object] | None = None
    while True:
        read = sa.select(rows.c.tenant, rows.c.id, *(rows.c[f] for f in fields))
        if after is not None:
            read = read.where(sa.tuple_(rows.c.tenant, rows.c.id) > after)
        batch = conn.execute(read.order_by(rows.c.tenant, rows.c.id).limit(BATCH)).all()
        if not batch:
            return
        conn.execute(
            write,
            [
                {"t": r[0], "i": r[1]}
                | {
                    f"f_{f}": None if v is None else fold(v)
                    for f, v in zip(fields, r[2:], strict=True)
                }
                for r in batch
            ],
        )
        after = (batch[-1][0], batch[-1][1])


def _index(base: str, field: str, *, folded: bool) -> None:
    name = label(f"ix_{base}_{field}")
    with op.batch_alter_table(table(base), schema=None) as batch_op:
        batch_op.drop_index(name)
        columns = ["tenant", field, f"{field}_folded"] if folded else ["tenant", field]
        batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    for base, field in COVERED.items():
        _index(base, field, folded=False)
    for base, fields in FOLDED.items():
        with op.batch_alter_table(table(base), schema=None) as batch_op:
            for field in fields:
                batch_op.drop_column(f"{field}_folded")
