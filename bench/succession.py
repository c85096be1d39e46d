"""A reorganisation at size (#22): a unit with 100,000 documents succeeded by another of its zone.

    .venv/bin/python bench/succession.py [--documents 100000] [--per-client 10]

One embedded PostgreSQL, migrated, loaded by bulk SQL (said in the output): two units of one zone, DOCUMENTS
documents of the old unit over DOCUMENTS / PER_CLIENT clients, each client with an active relation to the old unit
and a consent naming it (the wrapped keys and segments are placeholder bytes: a succession reads no key and no
content). Times `units.succession` (the domain function POST /v1/units/{id}/succession calls: the decision, the
moves, the audit event, one transaction) and prints documents a second (target at least 5,000). Exits 0 whatever
the numbers.
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
import asyncpg  # noqa: E402

from crypto import FileKeyProvider  # noqa: E402
from policies.model import Principal, Role  # noqa: E402
from service.audit import Caller  # noqa: E402
from service.database import create_pool, migrate  # noqa: E402
from service.domain import units  # noqa: E402
from service.embedded import EmbeddedPostgres  # noqa: E402
from service.runtime import KeyRingHolder, Runtime  # noqa: E402
from service.settings import Settings  # noqa: E402

_LOAD = """
INSERT INTO units (id, name, organisation, domain) VALUES ('stadsdel-centrum', 'Stadsdel Centrum', 'malmo-stad', 'social'),
                                                          ('omrade-innerstaden', 'Innerstaden', 'malmo-stad', 'social');
INSERT INTO clients (id, personal_number_index, personal_number_sealed, name_sealed, birth_date)
SELECT md5('c' || i)::uuid, decode(md5('i' || i), 'hex'), '\\x00', '\\x00', date '1950-01-01' + (i % 20000)
FROM generate_series(1, $1::int) AS i;
INSERT INTO relations (id, client_id, unit_id, started_by, kind)
SELECT md5('r' || i)::uuid, md5('c' || i)::uuid, 'stadsdel-centrum', 'bench', 'case' FROM generate_series(1, $1::int) AS i;
INSERT INTO consents (id, client_id, from_organisation, from_domain, to_organisation, to_domain, to_unit, categories,
                      purposes, valid_from, valid_until, given_by, form, maturity_assessed, recorded_by, recorded_by_unit, confirmed_at,
                      confirmed_by, confirmed_by_unit)
SELECT md5('k' || i)::uuid, md5('c' || i)::uuid, 'region-skane', 'health', 'malmo-stad', 'social', 'stadsdel-centrum',
       ARRAY['journal_note'], ARRAY['care'], now() - interval '1 day', now() + interval '1 year', 'client', 'verbal', false,
       'bench', 'stadsdel-centrum', now(), 'bench', 'stadsdel-centrum'
FROM generate_series(1, $1::int) AS i;
INSERT INTO documents (id, client_id, unit_id, organisation, domain, category, title_sealed, content_type, size,
                       kek_version, dek_wrapped, stream_header, segment_count, created_at, created_by)
SELECT md5('d' || i || '-' || k)::uuid, md5('c' || i)::uuid, 'stadsdel-centrum', 'malmo-stad', 'social',
       (ARRAY['journal_note', 'assessment', 'decision'])[1 + k % 3], '\\x00', 'application/pdf', 70000,
       1, decode(repeat('ab', 61), 'hex'), '\\x00', 1, now() - k * interval '1 day', 'bench'
FROM generate_series(1, $1::int) AS i CROSS JOIN generate_series(0, $2::int - 1) AS k;
"""


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="brygga-bench-succession-"))
    server = EmbeddedPostgres(tmp / "data")
    dsn = server.start()
    try:
        conn = await asyncpg.connect(dsn)
        await migrate(conn)
        clients = max(1, args.documents // args.per_client)
        start = time.perf_counter()
        await conn.execute(_LOAD.replace("$1::int", str(clients)).replace("$2::int", str(args.per_client)))
        await conn.execute("VACUUM ANALYZE")
        documents = await conn.fetchval("SELECT count(*) FROM documents")
        print(f"loaded by bulk SQL: {documents:,} documents of {clients:,} clients, each with a relation and a "
              f"consent naming the unit ({time.perf_counter() - start:.0f} s)")
        ring = tmp / "ring.json"
        FileKeyProvider(ring).init()
        settings = Settings(data_dir=tmp, database_url=dsn, keyring_path=ring)
        async with await create_pool(dsn, min_size=1, max_size=2) as pool:
            rt = Runtime(settings=settings, pool=pool, keys=KeyRingHolder(FileKeyProvider(ring), ring),
                         verifier=None)  # type: ignore[arg-type]  # the domain function checks no token
            admin = Caller(Principal(sub="bench-admin", name=None, roles=frozenset({Role.ADMIN})),
                           request_id=f"bench-{uuid.uuid4()}", remote_addr=None)
            start = time.perf_counter()
            moved = await units.succession(rt, admin, "stadsdel-centrum", successor="omrade-innerstaden",
                                           effective_at=datetime.now(UTC))
            elapsed = time.perf_counter() - start
        left = await conn.fetchval("SELECT count(*) FROM documents WHERE unit_id = 'stadsdel-centrum'")
        assert left == 0 and moved["documents"] == documents, (left, moved)
        print(f"succession: {moved['documents']:,} documents, {moved['relations']:,} relations, "
              f"{moved['consents']:,} consents in {elapsed:.2f} s, one transaction: "
              f"{moved['documents'] / elapsed:,.0f} documents/s (target >= 5,000); no content read")
        await conn.close()
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--per-client", type=int, default=10)
    asyncio.run(main(parser.parse_args()))
