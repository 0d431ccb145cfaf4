"""The fields a unique-key violation is about, from what the database says.

PostgreSQL details the key (``Key (tenant, external_id)=(…) already exists.``), SQLite
names its columns (``UNIQUE constraint failed: pycrm_customers.tenant,
pycrm_customers.external_id``). The tenant is in every key and is not one of the input's
fields; the rest are, so a :class:`~pycrm.ConflictError` can name them (an import then
reports a refused row under the file's column).
"""

from __future__ import annotations

import re

__all__ = ["unique_fields"]

_POSTGRESQL = re.compile(r"Key \(([^)]*)\)=")
_SQLITE = re.compile(r"UNIQUE constraint failed: (.*)$")
#: Key columns that are not input fields.
_NOT_FIELDS = frozenset({"tenant", "id"})


def unique_fields(error: BaseException) -> tuple[str, ...]:
    """The fields of the unique key ``error`` (a driver's error, or SQLAlchemy's wrapping
    one) says is taken; empty when it says none."""
    orig = getattr(error, "orig", None) or error
    detail = getattr(getattr(orig, "diag", None), "message_detail", None) or ""
    found = _POSTGRESQL.search(detail)
    if found is not None:
        columns = [c.strip().strip('"') for c in found.group(1).split(",")]
    else:
        named = _SQLITE.search(str(orig).split("\n")[0])
        if named is None:
            return ()
        columns = [c.strip().rpartition(".")[2] for c in named.group(1).split(",")]
    return tuple(c for c in columns if c and c not in _NOT_FIELDS)
