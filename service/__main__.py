"""Command line: `python -m service [serve|migrate|keys|token]` (API.md "Operation")."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from aiohttp import web

from crypto import FileKeyProvider, KeyRingError

from .auth import JwksError
from .database import DatabaseError
from .settings import Settings, SettingsError, load_settings

log = logging.getLogger("brygga")
STARTUP_ERRORS = (SettingsError, KeyRingError, JwksError, DatabaseError, OSError)


def _serve(settings: Settings, _: argparse.Namespace) -> int:
    from .app import create_app

    web.run_app(
        create_app(settings), host=settings.host, port=settings.port, print=None, access_log=None, shutdown_timeout=10
    )
    return 0


def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    from .app import open_database

    async def run() -> None:
        _, embedded = await open_database(settings)
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)

    asyncio.run(run())
    print("migrations are current")
    return 0


def _keys(settings: Settings, args: argparse.Namespace) -> int:
    if settings.keyring_path is None:
        raise SettingsError("BRYGGA_KEYRING: set it to the key-ring file to manage (the development ring manages itself)")
    provider = FileKeyProvider(settings.keyring_path)
    if args.keys_command == "init":
        provider.init()
        print(f"key ring created at {settings.keyring_path} (mode 0600); keep a backup in your key custody")
    return 0


def _token(settings: Settings, args: argparse.Namespace) -> int:
    from .devkeys import ensure_dev_keys, mint_dev_token

    ensure_dev_keys(settings)
    roles = [role.strip() for role in args.roles.split(",") if role.strip()]
    print(mint_dev_token(settings, sub=args.sub, roles=roles, unit=args.unit, name=args.name, minutes=args.minutes))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m service", description="Brygga: documents and consent across the secrecy boundary.")
    commands = root.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the HTTP API (the default)").set_defaults(run=_serve)
    commands.add_parser("migrate", help="apply pending database migrations and exit").set_defaults(run=_migrate)
    keys = commands.add_parser("keys", help="manage the key ring at BRYGGA_KEYRING")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_commands.add_parser("init", help="create a new key ring (refuses to overwrite)")
    keys.set_defaults(run=_keys)
    token = commands.add_parser("token", help="print a development token signed by the development key")
    token.add_argument("--sub", required=True, help="subject, e.g. an HSA-id")
    token.add_argument("--unit", help="unit id (every role but admin and auditor needs one)")
    token.add_argument("--roles", required=True, help="comma-separated: staff,unit_manager,auditor,admin,system")
    token.add_argument("--name", help="display name")
    token.add_argument("--minutes", type=int, default=60, help="lifetime (default 60)")
    token.set_defaults(run=_token)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    run = getattr(args, "run", _serve)
    try:
        settings = load_settings()
        from .logs import configure_logging

        configure_logging(settings.log_level)
        return run(settings, args)
    except STARTUP_ERRORS as exc:
        print(f"brygga: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
