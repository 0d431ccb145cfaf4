"""Every key carries the tenant, first: in the code's tables and in every migrated schema.

Every table has a ``tenant`` column, and ``tenant`` is the first column of its primary key,
of each unique constraint and unique index, and of each foreign key on both sides. So no
record can point at another tenant's record, and the schema can be distributed by tenant
(docs/scaling.md). The check runs on the metadata, and on a real database after each
migration in turn, so a migration (a future one included) that forgets the tenant fails
here. Only alembic's version table, pycrm's bookkeeping of its own schema, has no tenant.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from pycrm.storage.sqlalchemy import schema
from pycrm.storage.sqlalchemy.tables import tables_for

TENANT = "tenant"


def _first(columns: list[str] | tuple[str, ...] | None) -> str | None:
    return columns[0] if columns else None


def metadata_violations(metadata: sa.MetaData) -> list[str]:
    """Every way the tables of ``metadata`` break the rule, one line each."""
    found = []
    for table in metadata.sorted_tables:
        name = table.name
        if TENANT not in table.c:
            found.append(f"{name}: no {TENANT} column")
        if _first([c.name for c in table.primary_key.columns]) != TENANT:
            found.append(f"{name}: primary key {[c.name for c in table.primary_key]}")
        for constraint in table.constraints:
            if isinstance(constraint, sa.UniqueConstraint):
                columns = [c.name for c in constraint.columns]
                if _first(columns) != TENANT:
                    found.append(f"{name}: unique {constraint.name} {columns}")
            if isinstance(constraint, sa.ForeignKeyConstraint):
                local = [c.name for c in constraint.columns]
                remote = [element.column.name for element in constraint.elements]
                if _first(local) != TENANT or _first(remote) != TENANT:
                    found.append(f"{name}: foreign key {constraint.name} {local} -> {remote}")
        for index in table.indexes:
            columns = [getattr(e, "name", str(e)) for e in index.expressions]
            if index.unique and _first(columns) != TENANT:
                found.append(f"{name}: unique index {index.name} {columns}")
    return found


def database_violations(conn: sa.Connection, schema_name: str | None = None) -> list[str]:
    """The same check on the schema a database reports (every table but the version
    table)."""
    inspector = sa.inspect(conn)
    kinds = {"schema": schema_name}
    columns = inspector.get_multi_columns(**kinds)
    keys = inspector.get_multi_pk_constraint(**kinds)
    uniques = inspector.get_multi_unique_constraints(**kinds)
    indexes = inspector.get_multi_indexes(**kinds)
    foreign = inspector.get_multi_foreign_keys(**kinds)
    found = []
    for key in sorted(columns, key=lambda k: k[1]):
        name = key[1]
        if name == schema.VERSION_TABLE:
            continue
        if TENANT not in [c["name"] for c in columns[key]]:
            found.append(f"{name}: no {TENANT} column")
        primary: Any = keys[key]
        if _first(primary["constrained_columns"]) != TENANT:
            found.append(f"{name}: primary key {primary['constrained_columns']}")
        for unique in uniques.get(key, []):
            if _first(unique["column_names"]) != TENANT:
                found.append(f"{name}: unique {unique['name']} {unique['column_names']}")
        for index in indexes.get(key, []):
            if index["unique"] and _first(index["column_names"]) != TENANT:
                found.append(f"{name}: unique index {index['name']} {index['column_names']}")
        for fk in foreign.get(key, []):
            local, remote = fk["constrained_columns"], fk["referred_columns"]
            if _first(local) != TENANT or _first(remote) != TENANT:
                found.append(f"{name}: foreign key {fk['name']} {local} -> {remote}")
    return found


@pytest.mark.parametrize(("prefix", "schema_name"), [("pycrm_", None), ("", None), ("crm_", "crm")])
def test_every_key_of_the_tables_starts_with_the_tenant(
    prefix: str, schema_name: str | None
) -> None:
    tables = tables_for(prefix, schema_name)
    assert len(tables.metadata.tables) >= 20
    assert metadata_violations(tables.metadata) == []


def test_every_migration_keeps_the_tenant_first_in_every_key(fresh_url: str) -> None:
    engine = sa.create_engine(fresh_url)
    script = ScriptDirectory.from_config(schema.alembic_config())
    revisions = [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]
    assert len(revisions) >= 7
    try:
        for revision in revisions:
            with engine.begin() as conn:
                command.upgrade(schema.alembic_config(conn), revision)
            with engine.connect() as conn:
                assert database_violations(conn) == [], f"after migration {revision}"
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            reflected = set(inspector.get_table_names()) - {schema.VERSION_TABLE}
            foreign = sum(map(len, inspector.get_multi_foreign_keys().values()))
            unique = sum(map(len, inspector.get_multi_unique_constraints().values()))
            unique += sum(
                i["unique"] and "duplicates_constraint" not in i  # PostgreSQL: a constraint's
                for v in inspector.get_multi_indexes().values()
                for i in v
            )
            assert schema.current_heads(conn) == schema.expected_heads()
        # The last migration's schema is the code's: every table and key of it was checked.
        tables = tables_for().metadata.tables.values()
        assert reflected == {t.name for t in tables}
        assert foreign == sum(len(t.foreign_key_constraints) for t in tables) > 20
        assert unique == sum(
            isinstance(c, sa.UniqueConstraint) for t in tables for c in t.constraints
        ) + sum(i.unique for t in tables for i in t.indexes)
    finally:
        engine.dispose()


def test_the_check_finds_a_key_without_the_tenant(tmp_path: Any) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'bad.db'}")
    careless = sa.MetaData()
    sa.Table(
        "notes",
        careless,
        sa.Column("tenant", sa.String(), primary_key=True),
        sa.Column("id", sa.Integer(), primary_key=True),
    )
    sa.Table(
        "pins",
        careless,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant", sa.String()),
        sa.Column("code", sa.String(), unique=True),
        sa.Column("note_id", sa.Integer()),
        sa.ForeignKeyConstraint(["note_id", "tenant"], ["notes.id", "notes.tenant"]),
    )
    careless.create_all(engine)
    with engine.connect() as conn:
        reflected = database_violations(conn)
    engine.dispose()
    for found in (metadata_violations(careless), reflected):
        kinds = sorted(line.split(" ")[1] for line in found)
        assert kinds == ["foreign", "primary", "unique"], found
        assert all(line.startswith("pins: ") for line in found), found
