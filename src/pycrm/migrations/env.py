"""Alembic environment for pycrm: runs on the connection handed in by pycrm."""

from alembic import context

from pycrm.storage.sqlalchemy.schema import version_table
from pycrm.storage.sqlalchemy.tables import Tables, tables_for

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("pycrm migrations run through crm.migrate() or `pycrm migrate URL`")
tables: Tables = context.config.attributes.get("tables") or tables_for()

saved_path = None
if tables.schema:
    # Migrations name tables without a schema: they land in the CRM's schema through the
    # search path, which is put back afterwards (the transaction may be the host's).
    saved_path = connection.exec_driver_sql("SHOW search_path").scalar_one()
    quoted = connection.dialect.identifier_preparer.quote_schema(tables.schema)
    connection.exec_driver_sql(f"SET LOCAL search_path TO {quoted}")

context.configure(
    connection=connection,
    target_metadata=tables.metadata,
    version_table=version_table(tables),
    version_table_schema=tables.schema,
    render_as_batch=True,
    compare_type=True,
)
try:
    with context.begin_transaction():
        context.run_migrations()
finally:
    if saved_path is not None:
        connection.exec_driver_sql(f"SET LOCAL search_path TO {saved_path}")
