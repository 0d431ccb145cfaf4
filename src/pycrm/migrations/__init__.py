"""pycrm's alembic migrations (package data; run through ``crm.migrate()``)."""
