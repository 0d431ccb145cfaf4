"""PostgreSQL: a save's duplicate locks, the lookup of its keys and their storing in one call

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 14:50:00

A blocking duplicate rule takes advisory locks on a new record's keys, then looks the keys
up: two statements, since a statement sees what was committed when it began, and the
lookup must see what a writer committed while this one waited for a lock. A function's
statements each see what was committed when they begin (PL/pgSQL, ``VOLATILE``), so one
call does both (``pycrm.storage.sqlalchemy.matching.lock_find_and_add_keys``). Other
databases need no locks and get nothing.
"""

from collections.abc import Sequence

from alembic import op

from pycrm.migrations.naming import table

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The function's arguments (its signature names it when it is dropped).
ARGUMENTS = "TEXT[], TEXT, TEXT, UUID[], TEXT[], TEXT[]"


def _quoted(name: str) -> str:
    return op.get_context().dialect.identifier_preparer.quote(name)


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    keys = _quoted(table("match_keys"))
    # The locks as the backend's hold_locks takes them: hashed, distinct, in key order (two
    # saves wanting some of the same keys cannot deadlock). The keys looked up are the new
    # ones (the caller sorts out the rules). The search path the tables were made under
    # goes with the function, so it finds them whatever the caller's is.
    op.execute(
        f"""
CREATE FUNCTION {_quoted(table("lock_find_and_add_match_keys"))}(
    locks TEXT[], wanted_tenant TEXT, wanted_entity TEXT,
    added_records UUID[], added_rules TEXT[], added_keys TEXT[]
) RETURNS TABLE (found_record UUID, found_rule TEXT, found_key TEXT)
LANGUAGE plpgsql VOLATILE
SET search_path FROM CURRENT
AS $function$
BEGIN
    PERFORM pg_advisory_xact_lock(held.k)
    FROM (SELECT DISTINCT hashtextextended(n, 0) AS k FROM unnest(locks) AS n ORDER BY k)
        AS held;
    RETURN QUERY
    SELECT m.record_id, m.rule::TEXT, m.key::TEXT
    FROM {keys} AS m
    WHERE m.tenant = wanted_tenant AND m.entity = wanted_entity
        AND m.key = ANY (added_keys);
    INSERT INTO {keys} (tenant, entity, record_id, rule, key)
    SELECT wanted_tenant, wanted_entity, a.record_id, a.rule, a.key
    FROM unnest(added_records, added_rules, added_keys) AS a(record_id, rule, key);
END
$function$
"""
    )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION {_quoted(table('lock_find_and_add_match_keys'))}({ARGUMENTS})")
