"""An example host application: a FastAPI service with its own tables, its own alembic
history and its own logins, embedding pycrm in the same database.

``create_app(database_url)`` builds the application; ``pycrm_fastapi_example.main:app``
is one for ``uvicorn``.
"""

from __future__ import annotations

from pycrm_fastapi_example.app import create_app
from pycrm_fastapi_example.db import Host, open_host, register_user

__all__ = ["Host", "create_app", "open_host", "register_user"]
