"""The application for ``uvicorn pycrm_fastapi_example.main:app``.

The database is ``$EXAMPLE_DATABASE_URL`` (default: ``sqlite:///fastapi_example.db`` in
the working directory); nothing is opened until the server starts.
"""

from __future__ import annotations

from pycrm_fastapi_example.app import create_app
from pycrm_fastapi_example.settings import database_url

app = create_app(database_url())
