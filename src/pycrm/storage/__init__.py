"""Storage adapters: the protocol (``base``), the in-memory backend and SQLAlchemy."""
