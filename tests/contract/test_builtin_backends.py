"""The storage contract, run against every built-in backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pycrm.storage.memory import MemoryBackend
from pycrm.storage.sqlalchemy import SqlBackend
from pycrm.testing import StorageContract


class TestMemoryBackend(StorageContract):
    @pytest.fixture
    def backend(self) -> MemoryBackend:
        return MemoryBackend()


class TestSQLiteBackend(StorageContract):
    @pytest.fixture
    def backend(self, sqlite_url: str) -> SqlBackend:
        return SqlBackend(sqlite_url)


@pytest.fixture(scope="module")
def shared_backend(postgres_url: str) -> Iterator[SqlBackend]:
    backend = SqlBackend(postgres_url, auto_migrate=True)
    yield backend
    backend.close()


@pytest.mark.postgres
class TestPostgresBackend(StorageContract):
    @pytest.fixture
    def backend(self, shared_backend: SqlBackend) -> SqlBackend:
        return _Unclosable(shared_backend)  # type: ignore[return-value]


class _Unclosable:
    """Shares one backend across tests: the CRM fixture's close() must not dispose it."""

    def __init__(self, inner: SqlBackend) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def close(self) -> None:
        pass
