"""The worked third-party adapter in examples/sqlite3_adapter passes the whole contract."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pycrm.testing import StorageContract

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sqlite3_adapter"
sys.path.insert(0, str(EXAMPLE))

from sqlite3_backend import Sqlite3Backend  # noqa: E402


class TestSqlite3ExampleBackend(StorageContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Sqlite3Backend:
        return Sqlite3Backend(str(tmp_path / "crm.db"))
