"""Alembic environment for pycrm: runs on the connection handed in by pycrm."""

from alembic import context

from pycrm.storage.sqlalchemy.schema import VERSION_TABLE
from pycrm.storage.sqlalchemy.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("pycrm migrations run through crm.migrate() or `pycrm migrate URL`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
