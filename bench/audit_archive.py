"""`audit archive` (#15): export events/s and memory, the partition drop, and requests meanwhile.

    .venv/bin/python bench/audit_archive.py [--events N]   (default 1,000,000; 10^7 takes ~10x as long)

One embedded PostgreSQL (temp dir), one migrated database whose log began in March 2019 (its first month's
partition made as the migration would have made it then). N events of March 2019 are loaded by bulk SQL
(INSERT ... SELECT generate_series, as bench/audit.py), the numbering rolled into this month, and all sealed
(AuditChainSealer.catch_up, untimed). Then, while a request loop runs on its own connection as the application
role (each "request": BEGIN; audit.record(client.read); a page of the newest 50 events; COMMIT), measured 5 s
before and throughout: service/audit_archive.archive(--before 2019-04-01) in this process, timed by step: the
export (events/s, the process's RSS sampled every 10 ms: peak over the RSS before), the file's verification, the
drop transaction, the links' deletion. Requests' p50/p99/max before and during. Exits 0 whatever the numbers.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
from audit import _bulk_sql, fresh_database  # noqa: E402

from crypto import FileKeyProvider  # noqa: E402
from policies.decision import Basis, allow  # noqa: E402
from policies.model import Principal, Role, Zone  # noqa: E402
from service import audit  # noqa: E402
from service.audit import Action, Caller  # noqa: E402
from service.audit_archive import archive  # noqa: E402
from service.audit_chain_sealer import AuditChainSealer  # noqa: E402
from service.database import connect_options  # noqa: E402
from service.embedded import EmbeddedPostgres  # noqa: E402

EXPORT_TARGET, DROP_TARGET = 100_000, 1.0


async def install(dsn: str, events: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        month = f"audit_events_{datetime.now(UTC):%Y_%m}"
        await conn.execute(f"DROP TABLE {month}")
        await conn.execute("CREATE TABLE audit_events_2019_03 PARTITION OF audit_events "
                           "FOR VALUES FROM (MINVALUE) TO (68719476736)")
        await conn.execute("ALTER TABLE audit_events_2019_03 OWNER TO brygga_owner")
        await conn.execute("SELECT audit_events_partition_made('audit_events_2019_03')")
        # bench/audit.py's events, moved to March 2019 (20 ms apart: 10^6 events are 5.6 hours)
        await conn.execute(_bulk_sql.replace("now() - ($1 - i) * interval '20 ms'",
                                             "timestamptz '2019-03-02 00:00+00' + i * interval '20 ms'"), events)
        await conn.execute("VACUUM ANALYZE audit_events")
    finally:
        await conn.close()


def requests(dsn: str, stop, results) -> None:
    """A client process, as the service is one beside the archive: requests one after another until `stop` is set;
    puts [(time.time() at start, seconds)] on `results`."""
    async def run() -> list[tuple[float, float]]:
        latencies: list[tuple[float, float]] = []
        conn = await asyncpg.connect(dsn, **{**connect_options(), "command_timeout": None})
        principal = Principal("hsa-bench", "Bench Staff", frozenset({Role.STAFF}), "unit-malmo-stad-social",
                              Zone("malmo-stad", "social"))
        try:
            while not stop.is_set():
                at, started = time.time(), time.perf_counter()
                async with conn.transaction():
                    await audit.record(conn, Action.CLIENT_READ, caller=Caller(principal, uuid.uuid4().hex, "10.0.0.1"),
                                       decision=allow(Basis.OWN_ZONE), client_id=uuid.uuid4())
                    await conn.fetch("SELECT seq, action FROM audit_events ORDER BY seq DESC LIMIT 50")
                latencies.append((at, time.perf_counter() - started))
                await asyncio.sleep(0.005)
        finally:
            await conn.close()
        return latencies

    results.put(asyncio.run(run()))


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return (f"{len(ordered)} requests, p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
            f"max {ordered[-1] * 1000:.1f} ms")


async def bench(server_dsn: str, tmp: Path, events: int) -> None:
    ring = FileKeyProvider(tmp / "keyring.json").init()
    dsn = await fresh_database(server_dsn, "audit_archive")
    await install(dsn, events)
    sealer = AuditChainSealer(lambda: asyncpg.connect(dsn, **connect_options()), lambda: ring)
    try:
        await sealer.catch_up()  # rolls the numbering into this month, seals the load
    finally:
        await sealer.close()
    print(f"  loaded and sealed {events:,} events of March 2019 (bulk SQL)", file=sys.stderr, flush=True)

    context = multiprocessing.get_context("spawn")
    stop, results = context.Event(), context.Queue()
    client = context.Process(target=requests, args=(dsn, stop, results))
    client.start()
    await asyncio.sleep(8)  # the client process starts (imports) and runs 5 s or more before the archive
    before_end = time.time()
    process = psutil.Process()
    rss_before, peak = process.memory_info().rss, 0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    owner = await asyncpg.connect(dsn, **{**connect_options(role="brygga_owner"), "command_timeout": None})
    try:
        done = await archive(owner, ring, before=datetime(2019, 4, 1, tzinfo=UTC), out=tmp / "archive.ndjson",
                             keep_years=5, now=datetime.now(UTC))
        during_end = time.time()
    finally:
        await owner.close()
        sampler.cancel()
        stop.set()
        await asyncio.gather(sampler, return_exceptions=True)
    latencies = await asyncio.to_thread(results.get, True, 60)
    client.join(30)
    assert done is not None and done.events == events, done
    before = [s for t, s in latencies if before_end - 5 <= t < before_end]
    during = [s for t, s in latencies if before_end <= t < during_end]
    rate = done.events / done.export_seconds
    size = (tmp / "archive.ndjson").stat().st_size
    print(f"\nBrygga audit archive benchmark ({psutil.cpu_count()} cores), {events:,} events (bulk SQL)")
    print(f"  export: {done.export_seconds:.1f} s → {rate:,.0f} events/s ({size / 2**20:,.0f} MiB file); RSS "
          f"{rss_before / 2**20:.0f} MiB before, peak {peak / 2**20:.0f} MiB during (+{(peak - rss_before) / 2**20:.0f})")
    print(f"  the file verified from the disk (audit_file.verify_file) before anything was dropped: "
          f"{done.verify_seconds:.1f} s → {done.events / done.verify_seconds:,.0f} events/s")
    print(f"  drop transaction (anchor, {', '.join(done.partitions)} detached): {done.drop_seconds * 1000:.0f} ms")
    print(f"  the detached months dropped after it (files freed, no lock on the log): {done.free_seconds * 1000:.0f} ms")
    print(f"  links before the anchor deleted in batches: {done.links_seconds:.1f} s")
    print(f"  requests (audit.record + a page of 50, own connection): before {summary(before)}")
    print(f"  requests during the archive ({during_end - before_end:.0f} s): {summary(during)}")
    print("targets:")
    print(f"  export ≥ {EXPORT_TARGET:,} events/s: {rate:,.0f} → {'met' if rate >= EXPORT_TARGET else 'NOT met'}")
    print(f"  partition drop < {DROP_TARGET:.0f} s: {done.drop_seconds:.2f} s → "
          f"{'met' if done.drop_seconds < DROP_TARGET else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="brygga-bench-"))
    postgres = EmbeddedPostgres(tmp / "postgres")
    try:
        asyncio.run(bench(postgres.start(), tmp, args.events))
    finally:
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
