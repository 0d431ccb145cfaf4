"""The schema, derived from the entity classes so columns and fields cannot drift apart.

Conventions: every table starts with ``tenant`` and the tenant is part of every primary key,
unique key and foreign key (a record can never point at another tenant's record, and the
schema can be distributed by tenant). Money is two columns, ``<field>_minor`` (BIGINT minor
units) and ``<field>_currency``; lists and dicts are JSON (JSONB on PostgreSQL); child
collections (order lines, installments) are tables of their own.
"""

from __future__ import annotations

import datetime as dt
import functools
import typing
import uuid
from decimal import Decimal
from enum import Enum
from typing import Any

import attrs
import sqlalchemy as sa

from pycrm.core.access import UserRight
from pycrm.core.alerts import Alert
from pycrm.core.configuration import ConfigEntry, ExchangeRateEntry
from pycrm.core.events import OutboxEntry
from pycrm.core.introspect import unwrap
from pycrm.core.kinds import ENTITY_TYPES, REFERENCES
from pycrm.core.matching import MatchKey
from pycrm.core.money import Money
from pycrm.core.orders import OrderLine, ProductPrice
from pycrm.core.payments import Installment
from pycrm.core.pipeline import StageTransition
from pycrm.core.pools import PoolMove
from pycrm.core.tickets import TicketMove
from pycrm.storage.base import UNIQUE_KEYS, UniqueKey
from pycrm.storage.sqlalchemy.types import ExactDecimal, JSONData, UTCDateTime, Uuid

__all__ = [
    "CHILDREN",
    "DEFAULT_PREFIX",
    "FOLDED",
    "TABLE_NAMES",
    "Tables",
    "changes",
    "child_table",
    "metadata",
    "outbox",
    "stage_transitions",
    "table_for",
    "tables_for",
    "tables_of",
]

#: What every pycrm table name starts with unless ``Settings.table_prefix`` says otherwise,
#: so pycrm's ``users`` never meets a host application's ``users``.
DEFAULT_PREFIX = "pycrm_"

TABLE_NAMES: dict[str, str] = {
    "department": "departments",
    "user": "users",
    "customer": "customers",
    "contact": "contacts",
    "lead": "leads",
    "opportunity": "opportunities",
    "product": "products",
    "order": "orders",
    "payment_plan": "payment_plans",
    "payment": "payments",
    "ticket": "tickets",
    "activity": "activities",
    "outbox_entry": "outbox",
    "share": "shares",
    "config_entry": "config_entries",
    "exchange_rate": "exchange_rates",
    "pool_move": "pool_moves",
    "ticket_move": "ticket_moves",
    "alert": "alerts",
    "match_key": "match_keys",
}

#: Child collections: (parent kind, field) -> (table, child class, parent key column, keyed
#: by the child's own id rather than by position).
CHILDREN: dict[tuple[str, str], tuple[str, type[Any], str, bool]] = {
    ("order", "lines"): ("order_lines", OrderLine, "order_id", False),
    ("product", "prices"): ("product_prices", ProductPrice, "product_id", False),
    ("payment_plan", "installments"): ("installments", Installment, "plan_id", True),
    ("user", "rights"): ("user_rights", UserRight, "user_id", False),
}

#: Table a reference column points at (``parent_id`` points at its own table), unprefixed.
_TARGETS: dict[str, str] = {
    **{name: TABLE_NAMES[kind] for name, kind in REFERENCES.items()},
    "installment_id": "installments",
}

#: Text fields people search (``__contains``) that get a folded copy, ``<field>_folded``,
#: written with the record (:func:`pycrm.core.text.fold`): a search then compares stored
#: text instead of folding every row as it runs.
FOLDED: dict[str, tuple[str, ...]] = {
    "customer": ("name",),
    "contact": ("name",),
    "lead": ("name", "company"),
    "opportunity": ("name",),
    "product": ("name",),
}

#: Columns besides the foreign keys that lists filter on often.
_INDEXED: dict[str, tuple[tuple[str, ...], ...]] = {
    "customer": (("name",), ("level",), ("status",), ("type",), ("industry",), ("pool",)),
    "contact": (("name",), ("birth_month_day",)),
    "lead": (("status",),),
    "opportunity": (("pipeline", "stage"), ("status",), ("expected_close",)),
    "order": (("status",), ("signed_on",)),
    "payment": (("received_on",),),
    "ticket": (("status",), ("due_at",)),
    "activity": (("due_at",), ("done",), ("remind_at",)),
    "user": (("email",), ("manager_path",)),
    "department": (("path",),),
    "installments": (("due_on",),),
    # Pending deliveries, oldest first.
    "outbox_entry": (("delivered_at", "created_at"),),
}


def _scalar_type(tp: Any) -> sa.types.TypeEngine[Any]:
    if isinstance(tp, type) and issubclass(tp, Enum):
        return sa.String(40)
    simple: dict[Any, sa.types.TypeEngine[Any]] = {
        uuid.UUID: Uuid(),
        str: sa.String(),
        bool: sa.Boolean(),
        int: sa.BigInteger(),
        Decimal: ExactDecimal(),
        dt.datetime: UTCDateTime(),
        dt.date: sa.Date(),
    }
    if tp in simple:
        return simple[tp]
    if typing.get_origin(tp) in (list, dict):
        return JSONData
    raise TypeError(f"no column type for {tp!r}")


def field_columns(field: attrs.Attribute[Any]) -> list[sa.Column[Any]]:
    """The column(s) one attrs field is stored in."""
    tp, nullable = unwrap(field.type)
    if tp is Money:
        return [
            sa.Column(f"{field.name}_minor", sa.BigInteger(), nullable=nullable),
            sa.Column(f"{field.name}_currency", sa.String(3), nullable=nullable),
        ]
    return [sa.Column(field.name, _scalar_type(tp), nullable=nullable)]


def is_child_field(kind: str, name: str) -> bool:
    return (kind, name) in CHILDREN


#: Paths of the organisation trees, looked up by prefix (``LIKE 'p%'`` on PostgreSQL needs
#: the pattern operator class whatever the database's collation).
_PATHS = frozenset({"manager_path", "path"})


class Tables:
    """pycrm's tables under one naming: every table, index and constraint name starts with
    ``prefix`` (after its ``ix_``/``pk_``/``fk_``/``uq_`` kind), all in ``schema`` when one
    is given (PostgreSQL). Build one with :func:`tables_for`, which shares them."""

    def __init__(self, prefix: str = DEFAULT_PREFIX, schema: str | None = None) -> None:
        self.prefix, self.schema = prefix, schema
        self.metadata = sa.MetaData(schema=schema, info={"pycrm": self})
        self._by_kind: dict[str, sa.Table] = {
            cls.kind: self._entity_table(cls) for cls in ENTITY_TYPES
        }
        self._children: dict[tuple[str, str], sa.Table] = {
            key: self._child_table(key[0], *spec) for key, spec in CHILDREN.items()
        }
        self.changes = self._changes_table()
        self.change_batches, self.change_batch_records = self._change_batch_tables()
        self.stage_transitions = self._transitions_table()
        self._by_kind[StageTransition.kind] = self.stage_transitions
        self.outbox = self._entity_table(OutboxEntry)
        self._by_kind[OutboxEntry.kind] = self.outbox
        # Tenant configuration: stored like records, read whole when it changes.
        for cls in (ConfigEntry, ExchangeRateEntry):
            self._by_kind[cls.kind] = self._entity_table(cls)
        for added in (PoolMove, TicketMove, Alert):
            self._by_kind[added.kind] = self._entity_table(added)
        self._by_kind[MatchKey.kind] = self._match_keys_table()
        #: One counter per tenant, raised by every write that changes who may see what
        #: (users, departments, shares): cached rights are good while it stands still.
        self.org_versions = sa.Table(
            self.name("org_versions"),
            self.metadata,
            sa.Column("tenant", sa.String(), nullable=False),
            sa.Column("version", sa.BigInteger(), nullable=False),
            #: Raised by every change of the tenant's configuration (fields, pipelines,
            #: picklists, rates, settings): a process keeps its copy while it stands still.
            sa.Column("configuration", sa.BigInteger(), nullable=False, server_default="0"),
            sa.PrimaryKeyConstraint("tenant", name=f"pk_{self.name('org_versions')}"),
        )
        #: The last number given per tenant, sequence and period (gap-free numbering).
        self.number_sequences = sa.Table(
            self.name("number_sequences"),
            self.metadata,
            sa.Column("tenant", sa.String(), nullable=False),
            sa.Column("sequence", sa.String(), nullable=False),
            sa.Column("period", sa.String(), nullable=False),
            sa.Column("last", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint(
                "tenant", "sequence", "period", name=f"pk_{self.name('number_sequences')}"
            ),
        )

    def name(self, base: str) -> str:
        """The real name of the table pycrm calls ``base`` (``"users"`` → ``"pycrm_users"``)."""
        return self.prefix + base

    def table(self, kind: str) -> sa.Table:
        """The table records of ``kind`` are stored in."""
        return self._by_kind[kind]

    def child(self, kind: str, name: str) -> sa.Table:
        """The table of the ``name`` child collection of ``kind`` records."""
        return self._children[(kind, name)]

    # -- building -----------------------------------------------------------------------
    def _ref(self, base: str, col: str) -> str:
        table = self.name(base)
        return f"{self.schema}.{table}.{col}" if self.schema else f"{table}.{col}"

    def _foreign_keys(self, table: str, names: list[str]) -> list[sa.ForeignKeyConstraint]:
        fks = []
        for name in names:
            ref = table if name == "parent_id" else _TARGETS.get(name)
            if ref is None:
                continue
            fks.append(
                sa.ForeignKeyConstraint(
                    ["tenant", name],
                    [self._ref(ref, "tenant"), self._ref(ref, "id")],
                    name=f"fk_{self.name(table)}_{name}",
                )
            )
        return fks

    def _indexes(self, table: str, names: list[str], kind: str) -> list[sa.Index]:
        # References are indexed; an external id has its unique index already.
        wanted: list[tuple[str, ...]] = [
            (n,) for n in names if n.endswith("_id") and n not in ("id", "external_id")
        ]
        wanted += list(_INDEXED.get(kind, ()))
        indexes = []
        for cols in dict.fromkeys(wanted):
            patterns = {c: "text_pattern_ops" for c in cols if c in _PATHS}
            options: dict[str, Any] = {"postgresql_ops": patterns} if patterns else {}
            label = f"ix_{self.name(table)}_{'_'.join(cols)}"
            # A searched field's folded copy rides in its index: a search ordered by the
            # field tests each entry there instead of reading every row it passes.
            covered = [f"{c}_folded" for c in cols if c in FOLDED.get(kind, ())]
            indexes.append(sa.Index(label, "tenant", *cols, *covered, **options))
        if "merged_into" in names:
            # A record's history takes in the records merged into it: few rows carry a
            # survivor, so the index holds only those, in the id order reads come in.
            merged = sa.text("merged_into IS NOT NULL")
            label = f"ix_{self.name(table)}_merged_into"
            options = {"sqlite_where": merged, "postgresql_where": merged}
            indexes.append(sa.Index(label, "tenant", "merged_into", "id", **options))
        return indexes

    def _unique(self, table: str, key: UniqueKey) -> sa.UniqueConstraint | sa.Index:
        label = f"uq_{self.name(table)}_{'_'.join(key.fields)}"
        if not key.live_only:
            return sa.UniqueConstraint("tenant", *key.fields, name=label)
        # A partial unique index: soft-deleted rows make room (SQLite and PostgreSQL alike).
        live = sa.text("deleted_at IS NULL")
        return sa.Index(
            label, "tenant", *key.fields, unique=True, sqlite_where=live, postgresql_where=live
        )

    def _entity_table(self, cls: type[Any]) -> sa.Table:
        attrs.resolve_types(cls)  # classes written with postponed annotations
        base = TABLE_NAMES[cls.kind]
        columns: list[sa.Column[Any]] = []
        for field in attrs.fields(cls):
            if not is_child_field(cls.kind, field.name):
                columns += field_columns(field)
        columns += [sa.Column(f"{n}_folded", sa.String()) for n in FOLDED.get(cls.kind, ())]
        col_names = [c.name for c in columns]
        return sa.Table(
            self.name(base),
            self.metadata,
            *columns,
            sa.PrimaryKeyConstraint("tenant", "id", name=f"pk_{self.name(base)}"),
            *self._foreign_keys(base, col_names),
            *self._indexes(base, col_names, cls.kind),
            *(self._unique(base, key) for key in UNIQUE_KEYS.get(cls.kind, ())),
        )

    def _child_table(
        self, parent: str, base: str, cls: type[Any], parent_fk: str, keyed: bool
    ) -> sa.Table:
        columns: list[sa.Column[Any]] = [
            sa.Column("tenant", sa.String(), nullable=False),
            sa.Column(parent_fk, Uuid(), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
        ]
        for field in attrs.fields(cls):
            columns += field_columns(field)
        key = ("tenant", "id") if keyed else ("tenant", parent_fk, "position")
        col_names = [c.name for c in columns]
        parent_table = TABLE_NAMES[parent]
        return sa.Table(
            self.name(base),
            self.metadata,
            *columns,
            sa.PrimaryKeyConstraint(*key, name=f"pk_{self.name(base)}"),
            sa.ForeignKeyConstraint(
                ["tenant", parent_fk],
                [self._ref(parent_table, "tenant"), self._ref(parent_table, "id")],
                name=f"fk_{self.name(base)}_{parent_fk}",
            ),
            *self._foreign_keys(base, [c for c in col_names if c != parent_fk]),
            *self._indexes(base, col_names, base),
        )

    def _changes_table(self) -> sa.Table:
        """The audit trail: one row per write, ``fields`` maps each changed field to
        [old, new]."""
        name = self.name("changes")
        return sa.Table(
            name,
            self.metadata,
            sa.Column("tenant", sa.String(), nullable=False),
            sa.Column("id", Uuid(), nullable=False),
            sa.Column("entity", sa.String(40), nullable=False),
            sa.Column("record_id", Uuid(), nullable=False),
            sa.Column("action", sa.String(16), nullable=False),
            sa.Column("user_id", Uuid(), nullable=False),
            sa.Column("at", UTCDateTime(), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("fields", JSONData, nullable=False),
            sa.PrimaryKeyConstraint("tenant", "id", name=f"pk_{name}"),
            sa.Index(f"ix_{name}_record", "tenant", "entity", "record_id"),
        )

    def _change_batch_tables(self) -> tuple[sa.Table, sa.Table]:
        """The audit trail of bulk creates: one row per batch, holding every record's
        created values (:mod:`pycrm.storage.sqlalchemy.audit`), and one index row per
        record, keyed like the look-ups of one record's changes (no rowid on SQLite: the
        key is the whole row)."""
        batches, records = self.name("change_batches"), self.name("change_batch_records")
        return sa.Table(
            batches,
            self.metadata,
            sa.Column("tenant", sa.String(), nullable=False),
            sa.Column("id", Uuid(), nullable=False),
            sa.Column("entity", sa.String(40), nullable=False),
            sa.Column("action", sa.String(16), nullable=False),
            sa.Column("user_id", Uuid(), nullable=False),
            sa.Column("at", UTCDateTime(), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            # JSON text that pycrm writes and the database's JSON functions read a record
            # at a time: the field names and the values the batch shares, then each
            # record's other values (on PostgreSQL stored as it is, not compressed).
            sa.Column("fields", sa.Text(), nullable=False),
            sa.Column("records", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("tenant", "id", name=f"pk_{batches}"),
        ), sa.Table(
            records,
            self.metadata,
            sa.Column("tenant", sa.String(), nullable=False),
            sa.Column("entity", sa.String(40), nullable=False),
            sa.Column("record_id", Uuid(), nullable=False),
            sa.Column("batch_id", Uuid(), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint(
                "tenant", "entity", "record_id", "batch_id", name=f"pk_{records}"
            ),
            sqlite_with_rowid=False,
        )

    def _match_keys_table(self) -> sa.Table:
        """The likely-duplicate keys of every record: looked up by key, replaced by record.
        Keyed by what it is looked up by (and clustered so on SQLite, without a rowid), with
        one index by record: two B-trees a key, where a table with an id of its own needs
        four, which every bulk create and import writes."""
        name = self.name(TABLE_NAMES[MatchKey.kind])
        return sa.Table(
            name,
            self.metadata,
            sa.Column("tenant", sa.String(), nullable=False),
            sa.Column("entity", sa.String(), nullable=False),
            sa.Column("record_id", Uuid(), nullable=False),
            sa.Column("rule", sa.String(), nullable=False),
            sa.Column("key", sa.String(), nullable=False),
            sa.PrimaryKeyConstraint(
                "tenant", "entity", "key", "rule", "record_id", name=f"pk_{name}"
            ),
            sa.Index(f"ix_{name}_record_id", "tenant", "record_id"),
            sqlite_with_rowid=False,
        )

    def _transitions_table(self) -> sa.Table:
        """Every move of an opportunity between stages (and to/from won and lost), for
        exact dwell times and funnels. ``dwell_ms`` is the time spent in ``from_stage``."""
        name = self.name("stage_transitions")
        return sa.Table(
            name,
            self.metadata,
            sa.Column("tenant", sa.String(), nullable=False),
            sa.Column("id", Uuid(), nullable=False),
            sa.Column("opportunity_id", Uuid(), nullable=False),
            sa.Column("pipeline", sa.String(), nullable=False),
            sa.Column("from_stage", sa.String(), nullable=True),
            sa.Column("to_stage", sa.String(), nullable=False),
            sa.Column("user_id", Uuid(), nullable=False),
            sa.Column("owner_id", Uuid(), nullable=True),
            sa.Column("at", UTCDateTime(), nullable=False),
            sa.Column("dwell_ms", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("tenant", "id", name=f"pk_{name}"),
            sa.ForeignKeyConstraint(
                ["tenant", "opportunity_id"],
                [self._ref("opportunities", "tenant"), self._ref("opportunities", "id")],
                name=f"fk_{name}_opportunity_id",
            ),
            sa.Index(f"ix_{name}_opportunity_id", "tenant", "opportunity_id"),
            sa.Index(f"ix_{name}_pipeline_at", "tenant", "pipeline", "at"),
        )


@functools.cache
def tables_for(prefix: str = DEFAULT_PREFIX, schema: str | None = None) -> Tables:
    """pycrm's tables named with ``prefix`` in ``schema``; one set per naming, shared."""
    return Tables(prefix, schema)


def tables_of(table: sa.FromClause) -> Tables:
    """The set of tables ``table`` (or an alias of one) belongs to: a query on it joins its
    own siblings."""
    while not isinstance(table, sa.Table):
        table = table.element  # type: ignore[attr-defined]
    tables: Tables = table.metadata.info["pycrm"]
    return tables


_DEFAULT = tables_for()

#: The tables under the default naming (``pycrm_`` prefix, no schema): what a database
#: built with default settings holds. A CRM's own are ``crm.storage.tables``.
metadata = _DEFAULT.metadata
changes = _DEFAULT.changes
stage_transitions = _DEFAULT.stage_transitions
outbox = _DEFAULT.outbox
table_for = _DEFAULT.table
child_table = _DEFAULT.child
