"""Command line: `python -m service [serve|migrate|keys|audit|retention|indicators|token|demo]` (API.md "Operation")."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from crypto import FileKeyProvider, KeyRing, KeyRingError

from .auth import JwksError
from .database import DatabaseError
from .settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from crypto.chain import Verdict
    from crypto.pkcs11_provider import Pkcs11KeyProvider

log = logging.getLogger("brygga")
STARTUP_ERRORS = (SettingsError, KeyRingError, JwksError, DatabaseError, OSError)


SHUTDOWN_GRACE = 10.0  # seconds requests in flight get to finish after SIGTERM / SIGINT


def _serve(settings: Settings, _: argparse.Namespace) -> int:
    from .app import create_app

    asyncio.run(_run(create_app(settings), settings))
    return 0


async def _run(app: web.Application, settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully.

    First the listening socket closes (new connections are refused); requests in flight, uploads still
    sending their body included, get SHUTDOWN_GRACE seconds to finish; only then are connections closed
    (aiohttp's own shutdown stops reading request bodies at once, which would strand an upload) and the
    resources released: the pool, the sealer and the embedded database.
    """
    from .http.middleware import IN_FLIGHT

    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    try:
        await runner.setup()  # opens the resources: a failure here is a start-up error, after the cleanup below
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)  # a second signal stops at once
        in_flight = app[IN_FLIGHT]
        log.info("stopping: no new connections; letting requests in flight finish",
                 extra={"in_flight": in_flight.count, "grace_seconds": SHUTDOWN_GRACE})
        await site.stop()
        if not await in_flight.drain(SHUTDOWN_GRACE):
            log.warning("stopping: requests still in flight after the grace period are cut",
                        extra={"in_flight": in_flight.count})
    finally:
        await runner.cleanup()


def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    from .app import database

    async def run() -> None:
        async with database(settings):
            pass

    asyncio.run(run())
    print("migrations are current")
    return 0


def _keys(settings: Settings, args: argparse.Namespace) -> int:
    if args.keys_command == "init":
        if settings.keyring_path is None:
            raise SettingsError("BRYGGA_KEYRING: set it to the path of the key ring to create")
        FileKeyProvider(settings.keyring_path).init()
        print(f"key ring created at {settings.keyring_path} (mode 0600); keep a backup in your key custody")
        return 0
    from .app import key_provider

    provider = key_provider(settings)
    if args.keys_command == "rotate":
        version = provider.rotate()
        print(f"KEK version {version} added and now wraps new data keys; run `keys rewrap` to move existing ones")
        return 0
    return asyncio.run(_keys_with_database(settings, provider, args))


async def _keys_with_database(settings: Settings, provider: FileKeyProvider | Pkcs11KeyProvider, args: argparse.Namespace) -> int:
    from .app import database
    from .database import create_pool
    from .domain import keys

    keyring = provider.load()
    if args.keys_command == "reseal":
        return await _reseal(settings, keyring, args.batch)
    async with database(settings) as dsn, await create_pool(dsn, min_size=1, max_size=2) as pool:
        if args.keys_command == "status":
            for version, (wrapped, sealed) in (await keys.status(pool, keyring)).items():
                mark = "  (newest: wraps and seals new data)" if version == keyring.current_kek_version else ""
                missing = "  (NOT IN THE RING: this data cannot be opened)" if version not in keyring.kek_versions else ""
                empty = (f"  (nothing under it: `keys retire {version}` removes it)"
                         if not wrapped and not sealed and not mark and not missing else "")
                print(f"KEK version {version}: {wrapped} data keys, {sealed} sealed fields{mark}{missing}{empty}")
            for epoch, count, held in await keys.epoch_status(pool, keyring):
                state = "in the ring" if held else ("DESTROYED" if epoch in keyring.destroyed_epochs else "NOT IN THE RING")
                print(f"culling epoch {epoch}: {count} data keys ({state})")
            return 0
        if args.keys_command == "retire":
            try:
                await keys.retire(pool, provider, args.version)
            except keys.RetireRefused as exc:
                print(f"brygga keys retire: refused: {exc}", file=sys.stderr)
                return 2
            print(f"KEK version {args.version} removed from the ring. Nothing it wrapped or sealed opens any more, "
                  "in this database or in any backup of it taken while it was in use")
            return 0
        done, left = await keys.rewrap_all(
            pool, keyring, batch=args.batch,
            progress=lambda n, total: print(f"rewrapped {n}/{total}", flush=True),
        )
        print(f"done: {done} data keys now under KEK version {keyring.current_kek_version}"
              + (f"; {left} were in use, run again" if left else ""))
        return 0 if not left else 3


async def _reseal(settings: Settings, keyring: KeyRing, batch: int) -> int:
    """`keys reseal`, as the owner role: only it may take the maintenance path through the history triggers."""
    from .app import database
    from .database import OWNER_ROLE, connect_options
    from .domain import keys

    async with database(settings, owner=True) as dsn:
        try:
            conn = await asyncpg.connect(dsn, **connect_options(OWNER_ROLE))
        except (asyncpg.InsufficientPrivilegeError, asyncpg.InvalidParameterValueError) as exc:
            print(f"brygga keys reseal: the login cannot act as {OWNER_ROLE} ({exc}); reseal runs as the database "
                  "owner: set BRYGGA_MIGRATION_DATABASE_URL to the owner's login", file=sys.stderr)
            return 2
        try:
            result = await keys.reseal_all(conn, keyring, batch=batch,
                                           progress=lambda n, total: print(f"resealed {n}/{total}", flush=True))
        finally:
            await conn.close()
    print(f"done: {result.done} fields now sealed under KEK version {keyring.current_kek_version}"
          + (f"; {result.left} were in use, run again" if result.left else ""))
    for where in result.unopened:
        print(f"did not open (left as it is, under its old version): {where}", file=sys.stderr)
    return 0 if not result.left and not result.unopened else 3


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    import json

    if args.audit_command == "archive":
        return _audit_archive(settings, args)

    from .audit_file import ExportError, load_checkpoint, load_public_keys, verify_file

    try:
        held = load_checkpoint(json.loads(Path(args.checkpoint).read_text())) if getattr(args, "checkpoint", None) else None
        keys = load_public_keys(json.loads(Path(args.public_key).read_text())) if getattr(args, "public_key", None) else None
        if args.audit_command == "verify" and args.file:
            verdict, keys_from_file = verify_file(args.file, keys, held=held, progress=ProgressLine("verifying"))
            if keys_from_file:
                print("note: checkpoint signatures checked against the keys inside the export; "
                      "pass --public-key (GET /v1/audit/public-key) to check them against keys you trust")
            return _report(verdict)
    except (OSError, ValueError, ExportError) as exc:
        print(f"brygga audit: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_audit_online(settings, args, held, keys))


class ProgressLine:
    """Called with a count now and then (each 50,000 events or so), prints `{what}: N events (R a second)` on standard
    error at most each `every` seconds: a verification of a large log takes minutes, and a silent one looks hung."""

    def __init__(self, what: str, *, every: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._what, self._every, self._clock = what, every, clock
        self._started = self._printed = clock()

    def __call__(self, count: int) -> None:
        now = self._clock()
        if now - self._printed >= self._every:
            self._printed = now
            print(f"{self._what}: {count:,} events ({count / (now - self._started):,.0f} a second)", file=sys.stderr,
                  flush=True)


def _report(verdict: Verdict) -> int:
    if verdict.start_seq:
        print(f"from the archive anchor at seq {verdict.start_seq} (the events up to it are in the archive's file; "
              "verify it with `audit verify --file`)")
    if verdict.ok:
        print(f"intact: {verdict.checked} sealed events, head seq {verdict.head_seq} hash {verdict.head_hash.hex()}")
        return 0
    print(f"NOT intact: first bad seq {verdict.first_bad_seq}: {verdict.problem} "
          f"({verdict.checked} events verified before it)")
    return 1


async def _audit_online(settings: Settings, args: argparse.Namespace, held: tuple[int, bytes] | None,
                        keys: Mapping[str, Ed25519PublicKey] | None) -> int:
    """verify or export against the database, as an operator: the read is itself audited."""
    import getpass
    import uuid

    from policies.audit import decide_operator_read
    from policies.model import Principal, Role

    from . import audit
    from .app import database, key_provider
    from .audit_file import export
    from .database import connect_options
    from .domain.access import access_on, decided
    from .domain.audit_log import verify_chain

    keyring = key_provider(settings).load()
    async with database(settings) as dsn:
        conn = await asyncpg.connect(dsn, **connect_options())
        try:
            operator = audit.Caller(Principal(sub=f"cli:{getpass.getuser()}", name=None, roles=frozenset({Role.AUDITOR})),
                                    request_id=f"cli-{uuid.uuid4()}", remote_addr=None)
            async with access_on(conn, operator, audit.Action.AUDIT_READ, decided(decide_operator_read())):
                pass  # the read is recorded before it is made: an export is long, and runs in its own transaction
            if args.audit_command == "export":
                if args.out:
                    with open(args.out, "wb") as out:  # noqa: ASYNC230 - a command line's one file, nothing else waits
                        count = await export(conn, out, keyring.audit_public_keys)
                    print(f"exported {count} events to {args.out}", file=sys.stderr)
                else:
                    count = await export(conn, sys.stdout.buffer, keyring.audit_public_keys)
                return 0
            # A large log's later half in a worker process (audit_stretches.py): one process is bound by its Python
            # (#13); the worker gains what the host's cores allow (1.0-1.36x here: bench/audit.py).
            return _report(await verify_chain(conn, keys or keyring.audit_public_keys, held=held, dsn=dsn,
                                              progress=ProgressLine("verifying")))
        finally:
            await conn.close()


def _indicators(settings: Settings, args: argparse.Namespace) -> int:
    """indicators build --year Y: freeze the year (if no read has) and make and store its suppressed tables, as the
    service's background making does (issue 17); nothing to do when they are stored already."""
    from datetime import UTC, datetime

    from . import indicator_schedule
    from .app import database, open_keys
    from .database import create_pool
    from .runtime import Runtime
    from .store.blobs import open_blob_store

    if not 1900 <= args.year < datetime.now(UTC).year:
        print(f"brygga indicators: --year {args.year}: only a year that has ended", file=sys.stderr)
        return 2

    async def run() -> int:
        keys, verifier = open_keys(settings)
        async with (database(settings) as dsn, await create_pool(dsn, min_size=1, max_size=3) as pool,
                    open_blob_store(settings.blobs) as blobs):
            rt = Runtime(settings=settings, pool=pool, keys=keys, verifier=verifier, blobs=blobs)
            made = await indicator_schedule.build_locked(rt, [args.year])
            if made is None:
                print("brygga indicators: a replica is making indicator tables; nothing was done", file=sys.stderr)
                return 1
            print(f"indicator tables of {args.year} " + ("made and stored" if made else "were stored already"))
            return 0

    return asyncio.run(run())


def _retention(settings: Settings, args: argparse.Namespace) -> int:
    """retention plan / run (API-1.1 "Retention"): the plan changes nothing; the run culls what is due, as
    system:retention, a batch per transaction, progress on standard error."""
    import json
    from datetime import UTC, date, datetime

    from .app import database, open_keys
    from .database import create_pool
    from .domain import retention
    from .runtime import Runtime
    from .store.blobs import open_blob_store

    today = datetime.now(UTC).date()
    try:
        on = date.fromisoformat(args.at) if args.at else today
    except ValueError:
        print(f"brygga retention: --at {args.at!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    if args.retention_command == "run" and on > today:
        print(f"brygga retention: --at {on} is in the future; a run culls only what is due by today", file=sys.stderr)
        return 2
    if args.retention_command == "run" and not 1 <= args.batch <= 10_000:
        print("brygga retention: --batch must be 1-10000", file=sys.stderr)
        return 2

    def progress(done: int, total: int) -> None:
        print(f"\rculled {done}/{total} documents", end="", file=sys.stderr, flush=True)

    async def run() -> int:
        keys, verifier = open_keys(settings)
        async with (database(settings) as dsn, await create_pool(dsn, min_size=1, max_size=2) as pool,
                    open_blob_store(settings.blobs) as blobs):
            rt = Runtime(settings=settings, pool=pool, keys=keys, verifier=verifier, blobs=blobs)
            if args.retention_command == "plan":
                caller = retention.operator()
                the_plan = await retention.plan(rt, caller, on=on)
                if args.json:
                    print(json.dumps(the_plan.as_json(), indent=2))
                else:
                    print(retention.plan_text(the_plan))
                return 0
            try:
                result = await retention.run(rt, on=on, batch=args.batch, progress=progress)
            except retention.RunUnderWay:
                print("brygga retention: another retention run is under way (a replica's schedule or another "
                      "command); nothing was done", file=sys.stderr)
                return 1
            print(file=sys.stderr)
            print(f"culled {result.documents} documents in {result.files} files"
                  + (f"; {result.skipped_files} files got a new entry and were kept" if result.skipped_files else ""))
            if result.moved_keys:
                print(f"moved {result.moved_keys} data keys of files not due to their files' culling epochs")
            for epoch in result.destroyed_epochs:
                print(f"destroyed culling epoch {epoch}: no database backup opens what was culled under it")
            return 0

    return asyncio.run(run())


def _audit_archive(settings: Settings, args: argparse.Namespace) -> int:
    """`audit archive --before DATE --out FILE` (service/audit_archive.py): refused (2) before anything changes."""
    from datetime import UTC, datetime

    from .audit_archive import ArchiveRefused, cutoff

    now = datetime.now(UTC)
    try:
        before = cutoff(args.before, now=now, keep_years=settings.audit_keep_years)
        out = Path(args.out).resolve()
        if not out.parent.is_dir():
            raise ArchiveRefused("--out", f"{out.parent} is not a directory")
    except ArchiveRefused as exc:
        print(f"brygga audit archive: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_audit_archive_online(settings, before, out, now))


async def _audit_archive_online(settings: Settings, before: datetime, out: Path, now: datetime) -> int:
    import getpass
    import uuid

    from policies.audit import decide_operator_read
    from policies.model import Principal, Role

    from . import audit
    from .app import database, key_provider
    from .audit_archive import ArchiveRefused, archive
    from .database import connect_options
    from .domain.access import access_on, decided

    keyring = key_provider(settings).load()
    async with database(settings, owner=True) as dsn:
        try:
            conn = await asyncpg.connect(dsn, **{**connect_options(role="brygga_owner"), "command_timeout": None})
        except (asyncpg.InsufficientPrivilegeError, asyncpg.InvalidParameterValueError) as exc:
            print(f"brygga audit archive: the database login must be a member of brygga_owner (as for migrations: "
                  f"BRYGGA_MIGRATION_DATABASE_URL): {exc}", file=sys.stderr)
            return 2
        try:
            operator = audit.Caller(Principal(sub=f"cli:{getpass.getuser()}", name=None, roles=frozenset({Role.AUDITOR})),
                                    request_id=f"cli-{uuid.uuid4()}", remote_addr=None)
            async with access_on(conn, operator, audit.Action.AUDIT_ARCHIVE, decided(decide_operator_read())):
                pass  # recorded before the archive: one event of this month, which stays
            try:
                done = await archive(conn, keyring, before=before, out=out, keep_years=settings.audit_keep_years,
                                     now=now, progress=lambda line: print(line, file=sys.stderr, flush=True))
            except ArchiveRefused as exc:
                print(f"brygga audit archive: {exc}", file=sys.stderr)
                return 2
        finally:
            await conn.close()
    if done is None:
        print(f"nothing to archive: no month before {before.date()} is in the database")
    elif done.already:
        print(f"already archived: {done.events} events up to seq {done.anchor_seq}; its links are gone now")
    else:
        print(f"archived {done.events} events (months {', '.join(done.partitions)}) to {out}; the chain goes on from "
              f"the anchor at seq {done.anchor_seq} hash {done.anchor_hash.hex()}")
    return 0


def _demo(settings: Settings, _: argparse.Namespace) -> int:
    """Load the demo scenario (service/demo.py) into the database, through the domain functions."""
    from .app import database, open_keys
    from .database import create_pool
    from .demo import load
    from .runtime import Runtime
    from .store.blobs import open_blob_store

    async def run() -> None:
        keys, verifier = open_keys(settings)
        async with (database(settings) as dsn, await create_pool(dsn, min_size=1, max_size=2) as pool,
                    open_blob_store(settings.blobs) as blobs):
            await load(Runtime(settings=settings, pool=pool, keys=keys, verifier=verifier, blobs=blobs))

    asyncio.run(run())
    print("sign in at /ui/ as e.g. unit malmo-iof (social services) or malmo-beroendecentrum (the clinic), role staff")
    return 0


def _token(settings: Settings, args: argparse.Namespace) -> int:
    from .devkeys import ensure_dev_keys, mint_dev_token, require_dev_tokens, split_organisations

    require_dev_tokens(settings)  # before ensure_dev_keys, whose error would name a key file, not BRYGGA_DEV
    roles = [role.strip() for role in args.roles.split(",") if role.strip()]
    organisations = split_organisations(args.organisations)
    if organisations is None and {"auditor", "analyst"} & set(roles):
        print("an auditor's or analyst's token must name the organisations it audits: --organisations "
              "malmo-stad,region-skane (or --organisations '*' for the installation's own security officer)",
              file=sys.stderr)
        return 2
    ensure_dev_keys(settings)
    print(mint_dev_token(settings, sub=args.sub, roles=roles, unit=args.unit, name=args.name, minutes=args.minutes,
                         organisations=organisations))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m service", description="Brygga: documents and consent across the secrecy boundary.")
    commands = root.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the HTTP API (the default)").set_defaults(run=_serve)
    commands.add_parser("migrate", help="apply pending database migrations and exit").set_defaults(run=_migrate)
    keys = commands.add_parser("keys", help="manage the key ring (BRYGGA_KEYRING, or with BRYGGA_DEV=1 the development ring)")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_commands.add_parser("init", help="create a new key ring at BRYGGA_KEYRING (refuses to overwrite)")
    keys_commands.add_parser("rotate", help="add a new KEK version, which wraps every new data key")
    rewrap_parser = keys_commands.add_parser("rewrap", help="re-wrap existing data keys under the newest KEK (online, resumable)")
    rewrap_parser.add_argument("--batch", type=int, default=500, help="data keys per transaction (default 500)")
    reseal_parser = keys_commands.add_parser(
        "reseal", help="seal names, titles, reasons and notes again under the newest KEK (online, resumable; as the owner)")
    reseal_parser.add_argument("--batch", type=int, default=500, help="rows per transaction (default 500)")
    keys_commands.add_parser("status", help="KEK versions, how many data keys each wraps and fields it sealed")
    retire_parser = keys_commands.add_parser(
        "retire", help="remove a KEK version nothing needs any more from the ring (refused while anything does)")
    retire_parser.add_argument("version", type=int, help="the KEK version to remove")
    keys.set_defaults(run=_keys)
    audit_parser = commands.add_parser("audit", help="verify or export the audit log")
    audit_commands = audit_parser.add_subparsers(dest="audit_command", required=True)
    verify_parser = audit_commands.add_parser(
        "verify", help="check the hash chain and signed checkpoints; exit 0 intact, 1 with the first bad seq")
    verify_parser.add_argument("--file", help="an export (NDJSON) to verify offline, without the database")
    verify_parser.add_argument("--checkpoint", help="a checkpoint you kept (JSON with seq and hash): finds a cut tail")
    verify_parser.add_argument("--public-key", help="the keys you trust (the body of GET /v1/audit/public-key)")
    archive_parser = audit_commands.add_parser(
        "archive", help="move whole months older than BRYGGA_AUDIT_KEEP_YEARS (default 5) to a verifiable NDJSON file")
    archive_parser.add_argument("--before", required=True, help="the first of a month (YYYY-MM-DD, UTC): the months "
                                                                "before it are archived")
    archive_parser.add_argument("--out", required=True, help="the file to write (replaced whole, never in part)")
    export_parser = audit_commands.add_parser("export", help="write the whole log as NDJSON, from one snapshot")
    export_parser.add_argument("--out", help="file to write (default: standard output)")
    audit_parser.set_defaults(run=_audit)
    retention_parser = commands.add_parser("retention", help="retention (gallring): plan what is due, or cull it")
    retention_commands = retention_parser.add_subparsers(dest="retention_command", required=True)
    plan_parser = retention_commands.add_parser("plan", help="what is due, by zone and category, with exemptions (changes nothing)")
    plan_parser.add_argument("--at", help="the day to plan for, YYYY-MM-DD (default today)")
    plan_parser.add_argument("--json", action="store_true", help="the report as JSON (as GET /v1/retention/plan)")
    run_parser = retention_commands.add_parser("run", help="cull what is due (resumable, a batch per transaction)")
    run_parser.add_argument("--at", help="cull what was due by this day, YYYY-MM-DD, not after today (default today)")
    run_parser.add_argument("--batch", type=int, default=500, help="documents per transaction (default 500)")
    retention_parser.set_defaults(run=_retention)
    indicators_parser = commands.add_parser("indicators", help="indicator tables (issue 17)")
    indicators_commands = indicators_parser.add_subparsers(dest="indicators_command", required=True)
    build_parser = indicators_commands.add_parser(
        "build", help="freeze a year that has ended and make and store its suppressed tables ahead of the first read")
    build_parser.add_argument("--year", type=int, required=True, help="the year, YYYY (one that has ended)")
    indicators_parser.set_defaults(run=_indicators)
    commands.add_parser("demo", help="load a realistic two-zone scenario (Malmö, Alingsås); safe to run again").set_defaults(
        run=_demo)
    token = commands.add_parser("token", help="print a development token signed by the development key (BRYGGA_DEV=1)")
    token.add_argument("--sub", required=True, help="subject, e.g. an HSA-id")
    token.add_argument("--unit", help="unit id (every role but admin, analyst and auditor needs one)")
    token.add_argument("--roles", required=True, help="comma-separated: staff,unit_manager,auditor,analyst,admin,system")
    token.add_argument("--organisations", help="comma-separated organisation ids an auditor or analyst audits "
                                               "(required for them; '*' only for the installation's security officer)")
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
        print(f"brygga: {_startup_message(exc)}", file=sys.stderr)
        return 1


def _startup_message(exc: Exception) -> str:
    """One line: for a file-system error the path and what is wrong with it (read-only, full, not a directory)."""
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        path = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        hint = ""
        data_dir = os.environ.get("BRYGGA_DATA_DIR", "./var")
        with contextlib.suppress(ValueError, OSError):
            if Path(path).resolve().is_relative_to(Path(data_dir).resolve()):
                hint = f" (in the data dir, BRYGGA_DATA_DIR={data_dir})"
        return f"cannot use {path}: {exc.strerror}{hint}"
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
