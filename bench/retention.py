"""Retention (gallring) at size (#15): `retention plan` over 10⁶ documents in 10⁵ files, and `retention run`.

    .venv/bin/python bench/retention.py [--files 100000] [--per-file 10] [--due-percent 5]

One embedded PostgreSQL, migrated, loaded by bulk SQL (said in the output): two units (social, health), FILES
clients each with one file of PER_FILE documents (one segment each) in the social zone, a tenth of them in the
health zone instead; DUE_PERCENT of the social files six years old (due), the rest one to four years old (not
yet), clients born on the 5th, 15th or 25th in their share (kept for research). Every document's key is under
the culling epoch its file belongs under, as uploads and earlier runs leave them (the wrapped keys are random
bytes: the run never opens a key of a file it culls, nor content).

Times, through the domain functions the CLI calls: the plan (median of 3; target under 10 s), then the plan
again with documents ten times larger (the cost must not grow with sizes: ratio printed), then the run (target
at least 2,000 documents a second). Exits 0 whatever the numbers.
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
import asyncpg  # noqa: E402

from crypto import FileKeyProvider  # noqa: E402
from service.database import create_pool, migrate  # noqa: E402
from service.domain import retention  # noqa: E402
from service.embedded import EmbeddedPostgres  # noqa: E402
from service.runtime import KeyRingHolder, Runtime  # noqa: E402
from service.settings import Settings  # noqa: E402

_LOAD = """
INSERT INTO units (id, name, organisation, domain) VALUES ('iof', 'IFO', 'malmo-stad', 'social'),
                                                          ('clinic', 'Clinic', 'region-skane', 'health');
INSERT INTO clients (id, personal_number_index, personal_number_sealed, name_sealed, birth_date)
SELECT md5('c' || i)::uuid, decode(md5('i' || i), 'hex'), '\\x00', '\\x00',
       date '1950-01-01' + (i % 20000)
FROM generate_series(1, $1::int) AS i;
WITH files AS (
    SELECT i, md5('c' || i)::uuid AS client_id,
           CASE WHEN i % 10 = 0 THEN 'clinic' ELSE 'iof' END AS unit,
           CASE WHEN i % 10 <> 0 AND i % 100 < $3::int THEN now() - interval '6 years'
                ELSE now() - interval '1 year' - (i % 1000) * interval '1 day' END AS last
    FROM generate_series(1, $1::int) AS i
)
INSERT INTO documents (id, client_id, unit_id, organisation, domain, category, title_sealed, content_type, size,
                       kek_version, dek_wrapped, stream_header, segment_count, created_at, created_by, epoch)
SELECT md5('d' || f.i || '-' || k)::uuid, f.client_id, f.unit,
       CASE f.unit WHEN 'iof' THEN 'malmo-stad' ELSE 'region-skane' END,
       CASE f.unit WHEN 'iof' THEN 'social' ELSE 'health' END,
       (ARRAY['journal_note', 'assessment', 'decision'])[1 + k % 3], '\\x00', 'application/pdf', $4::bigint,
       1, decode(repeat('ab', 61), 'hex'), '\\x00', 1, f.last - k * interval '1 day', 'bench',
       CASE WHEN f.unit = 'iof' AND extract(day FROM date '1950-01-01' + (f.i % 20000)) NOT IN (5, 15, 25)
            THEN to_char(f.last + interval '5 years'  -- 29 February: 1 March, as policies.retention counts
                         + CASE WHEN to_char(f.last, 'MM-DD') = '02-29' THEN interval '1 day' ELSE interval '0' END,
                         'YYYY-MM') END
FROM files f CROSS JOIN generate_series(0, $2::int - 1) AS k;
INSERT INTO document_segments (document_id, index, ciphertext)
SELECT id, 0, '\\x00' FROM documents;
"""


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="brygga-bench-retention-"))
    server = EmbeddedPostgres(tmp / "data")
    dsn = server.start()
    try:
        conn = await asyncpg.connect(dsn)
        await migrate(conn)
        start = time.perf_counter()
        await conn.execute(_LOAD.replace("$1::int", str(args.files)).replace("$2::int", str(args.per_file))
                           .replace("$3::int", str(args.due_percent)).replace("$4::bigint", "70000"))
        await conn.execute("VACUUM ANALYZE")
        documents = await conn.fetchval("SELECT count(*) FROM documents")
        print(f"loaded by bulk SQL: {documents:,} documents in {args.files:,} files "
              f"({time.perf_counter() - start:.0f} s)")
        ring = tmp / "ring.json"
        FileKeyProvider(ring).init()
        settings = Settings(data_dir=tmp, database_url=dsn, keyring_path=ring)
        async with await create_pool(dsn, min_size=1, max_size=2) as pool:
            rt = Runtime(settings=settings, pool=pool, keys=KeyRingHolder(FileKeyProvider(ring), ring),
                         verifier=None)  # type: ignore[arg-type]  # the run checks no token
            caller = retention.operator()
            times = []
            for _ in range(3):
                start = time.perf_counter()
                plan = await retention.plan(rt, caller)
                times.append(time.perf_counter() - start)
            plan_s = statistics.median(times)
            due = sum(f.documents for f in plan.due)
            print(f"retention plan: {plan_s:.2f} s for {documents:,} documents in {args.files:,} files "
                  f"(median of 3; target < 10 s); due {len(plan.due):,} files, {due:,} documents")
            await conn.execute("UPDATE documents SET size = size * 10")
            await conn.execute("VACUUM ANALYZE documents")
            start = time.perf_counter()
            await retention.plan(rt, caller)
            larger = time.perf_counter() - start
            print(f"retention plan with documents 10x larger: {larger:.2f} s (ratio {larger / plan_s:.2f}: "
                  "the cost grows with files, not sizes)")
            start = time.perf_counter()
            result = await retention.run(rt, batch=500)
            elapsed = time.perf_counter() - start
            culling = max(elapsed - plan_s, 1e-9)
            print(f"retention run: {result.documents:,} documents in {result.files:,} files in {elapsed:.1f} s, "
                  f"{result.documents / elapsed:,.0f} documents/s with its plan, {result.documents / culling:,.0f} "
                  f"without it (target >= 2,000); keys moved {result.moved_keys}")
        await conn.close()
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--per-file", type=int, default=10)
    parser.add_argument("--due-percent", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
