"""Write a new alembic revision of pycrm's schema from the difference to the tables.

Usage: python scripts/new-migration.py "message" [rev_id]
"""

import sys
import tempfile

import sqlalchemy as sa
from alembic import command

from pycrm.storage.sqlalchemy import schema

message = sys.argv[1]
rev_id = sys.argv[2] if len(sys.argv) > 2 else None
with tempfile.TemporaryDirectory() as tmp:
    engine = sa.create_engine(f"sqlite:///{tmp}/schema.db")
    schema.upgrade(engine)
    with engine.begin() as conn:
        cfg = schema.alembic_config(conn)
        command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)

# Alembic renders JSONB's text type without its module; tidy the new file for ruff.
import pathlib  # noqa: E402
import subprocess  # noqa: E402

versions = pathlib.Path(schema.__file__).parents[2] / "migrations" / "versions"
newest = max(versions.glob("*.py"), key=lambda p: p.stat().st_mtime)
newest.write_text(newest.read_text().replace("astext_type=Text()", "astext_type=sa.Text()"))
subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "-q", str(newest)], check=False)
subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(newest)], check=False)
