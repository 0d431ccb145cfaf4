"""Logins to try the API with: ``python -m pycrm_fastapi_example.seed [DATABASE_URL]``.

Creates, in tenant ``acme``, a sales director and two sales reps reporting to them (each a
row of the application's ``users`` table linked to a pycrm user) and prints the ``X-User``
header of each.
"""

from __future__ import annotations

import asyncio
import sys

from pycrm_fastapi_example.db import Host, open_host, register_user
from pycrm_fastapi_example.models import User
from pycrm_fastapi_example.settings import database_url

__all__ = ["TENANT", "seed"]

TENANT = "acme"


def seed(host: Host, tenant: str = TENANT) -> dict[str, User]:
    """A director and two reps reporting to them, by short name."""
    director = register_user(
        host,
        tenant=tenant,
        email="director@example.com",
        display_name="北京总监",
        roles=["sales_director"],
    )
    wang = register_user(
        host, tenant=tenant, email="wang@example.com", display_name="王芳", manager=director
    )
    li = register_user(
        host, tenant=tenant, email="li@example.com", display_name="李雷", manager=director
    )
    return {"director": director, "wang": wang, "li": li}


def main(argv: list[str]) -> None:
    host = open_host(argv[0] if argv else database_url())
    try:
        for name, user in seed(host).items():
            print(f"{name}: -H 'X-User: {user.id}' -H 'X-Tenant: {TENANT}'")
    finally:
        asyncio.run(host.aclose())


if __name__ == "__main__":
    main(sys.argv[1:])
