"""The ``pycrm`` command's entry point.

With the ``cli`` extra installed it runs the full command line (:mod:`pycrm.cli`). Without
it, the maintenance commands a deployment needs still work — ``pycrm migrate URL`` and
``pycrm version`` — and every other command says which extra to install, instead of
failing on a missing import.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]

#: What ``pip install`` needs for the full command line.
CLI_EXTRA = "pip install 'pycrm-embedded[cli]'"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pycrm`` with ``argv`` (the process's arguments when ``None``)."""
    try:
        import rich  # noqa: F401
        import typer  # noqa: F401
    except ImportError:
        return _plain(list(sys.argv[1:] if argv is None else argv))
    from pycrm.cli import app

    app(args=None if argv is None else list(argv))
    return 0


def _plain(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pycrm",
        description=f"pycrm maintenance commands (the full command line needs: {CLI_EXTRA})",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    migrate = commands.add_parser("migrate", help="bring a database's pycrm schema up to date")
    migrate.add_argument("url", help="database URL, e.g. postgresql://…")
    migrate.add_argument("--table-prefix", default=None, help="Settings.table_prefix")
    migrate.add_argument("--postgresql-schema", default=None, help="Settings.postgresql_schema")
    commands.add_parser("version", help="print pycrm's version")
    if argv and argv[0] not in ("migrate", "version", "-h", "--help"):
        print(f"pycrm {argv[0]} needs the cli extra: {CLI_EXTRA}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if args.command == "version":
        import pycrm

        print(pycrm.__version__)
        return 0
    if args.command == "migrate":
        return _migrate(args.url, args.table_prefix, args.postgresql_schema)
    parser.print_help()
    return 2


def _migrate(url: str, prefix: str | None, schema: str | None) -> int:
    from pycrm.crm import CRM
    from pycrm.errors import CRMError
    from pycrm.settings import Settings

    options: dict[str, str] = {}
    if prefix is not None:
        options["table_prefix"] = prefix
    if schema is not None:
        options["postgresql_schema"] = schema
    try:
        with CRM(url, settings=Settings(auto_migrate=True, **options)) as crm:
            print(f"{crm.storage.name} schema is up to date")
    except CRMError as error:
        print(f"pycrm migrate: {error}", file=sys.stderr)
        return 1
    return 0
