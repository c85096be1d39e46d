"""The tamper-evident audit log: sealing under load, raw sealing throughput, chain verification.

    .venv/bin/python bench/audit.py [--quick]

One embedded PostgreSQL (temp dir) holds two migrated databases; the service's code runs
as the application role (service.database.connect_options), bulk loading as the superuser.

1. Sealing under load (database `audit_load`): 3 client processes × 4 asyncpg connections
   each run `BEGIN; audit.record(client.read by a staff member, allow own_zone); COMMIT`
   as fast as they can for 10 s (3 s with --quick). Rounds alternate: without a sealer
   (the baseline) and with AuditChainSealer.run() (interval 0.2 s) in this process, 3 rounds each.
   Per round: events recorded/s, events sealed/s in the load's window (a lag's worth of events
   less than recorded: the window's first ones are sealed a lag later), the sealer's CPU (this
   process + its PostgreSQL backend, % of one core), sealing lag (audit_chain.sealed_at -
   audit_events.at: p50, p99, max) and, once the clients stop, the time until the running
   sealer has sealed the last event. The backlog of a baseline round is sealed (untimed)
   before the next round. The load saturates the machine (2 cores here), so recorded/s is
   noisy from round to round: the ratio compares the medians of the rounds.
2. Raw sealing (database `audit_bulk`): 1,000,000 varied events (100,000 with --quick) in one
   INSERT ... SELECT FROM generate_series, then VACUUM ANALYZE and CHECKPOINT (untimed), then
   AuditChainSealer.catch_up() timed.
3. Verification of those events: verify_chain() with a worker process for the later half of a log this large
   (service/domain/audit_stretches.py; as `audit verify` runs it, the figure the target is judged by), after VACUUM
   ANALYZE of the chain (as autovacuum would), beside verify_chain() in one process (as GET /v1/audit/verify runs it),
   and against (a) fetching the rows of the walk of values through the same kind
   of cursor (audit_chain.walk, REPEATABLE READ) without hashing, (b) crypto.chain.link chained
   over up to 200,000 pre-fetched event values in memory, and (c) the lines verify_chain hashes
   (audit_chain.walk_lines, COPY) read and made canonical without hashing. verify_chain() runs
   VERIFY_RUNS times (the median counts); its verdict must be ok, the same each time, and have
   checked every event; (b) must reproduce the stored hash. Target: 200,000 events/s.
4. Verification with a signed checkpoint each 10 events (added to those events, signed with the same key): what
   the sealer makes for a service recording an event a second (a checkpoint at least every 10 s while it seals).
   Each checkpoint is an Ed25519 signature to check, so a log of a quiet service costs more per event than part 3's.

--skip-load leaves out part 1 (parts 2 to 4 take about two minutes). Exits 0 whatever the numbers;
stops everything it started.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
from crypto import FileKeyProvider, KeyRing  # noqa: E402
from crypto.chain import (  # noqa: E402
    GENESIS,
    Checkpoint,
    checkpoint_digest,
    checkpoint_message,
    link,
    micros,
    sign_checkpoint,
)
from policies.decision import Basis, allow  # noqa: E402
from policies.model import Principal, Role, Zone  # noqa: E402
from service import audit  # noqa: E402
from service.audit import Action, Caller  # noqa: E402
from service.audit_chain_sealer import SEALER_LOCK, AuditChainSealer  # noqa: E402
from service.database import connect_options, migrate, with_database  # noqa: E402
from service.domain import audit_stretches  # noqa: E402
from service.domain.audit_log import verify_chain  # noqa: E402
from service.embedded import EmbeddedPostgres  # noqa: E402
from service.store import audit_chain as chain_store  # noqa: E402

PROCESSES, CONNECTIONS = 3, 4
SEAL_INTERVAL = 0.2
ROUNDS = 3
LINK_SAMPLE = 200_000
SEALING_TARGET, VERIFY_TARGET = 5_000, 200_000
VERIFY_RUNS = 5  # verify_chain() runs, one after the other: the median counts (this machine is shared)
DENSE_EVERY = 10  # part 4: a signed checkpoint each 10 events, as a service sealing one event a second makes them
DENSE_RUNS = 3


# -- 1. sealing under load -------------------------------------------------------------

def recorder(dsn: str, seconds: float, barrier, results) -> None:
    """A client process: CONNECTIONS connections recording events for `seconds` once all are ready."""
    try:
        results.put(asyncio.run(record_for(dsn, seconds, barrier)))
    except BaseException as exc:  # noqa: BLE001 - report any failure to the main process
        barrier.abort()
        results.put(exc)


async def record_for(dsn: str, seconds: float, barrier) -> tuple[int, float]:
    """(events recorded, seconds taken) over all of this process's connections."""
    conns = [await asyncpg.connect(dsn, **connect_options()) for _ in range(CONNECTIONS)]
    rng = random.Random(os.getpid())
    clients = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(1000)]
    zone = Zone("malmo-stad", "social")
    decision = allow(Basis.OWN_ZONE)

    async def loop(conn: asyncpg.Connection, index: int, deadline: float) -> int:
        principal = Principal(f"hsa-{os.getpid()}-{index}", "Bench Staff", frozenset({Role.STAFF}),
                              "unit-malmo-stad-social", zone)
        count = 0
        while time.perf_counter() < deadline:
            caller = Caller(principal, uuid.uuid4().hex, f"10.0.{index}.{count % 250}")
            async with conn.transaction():
                await audit.record(conn, Action.CLIENT_READ, caller=caller, decision=decision,
                                   client_id=rng.choice(clients))
            count += 1
        return count

    try:
        barrier.wait(60)  # blocks this process's (idle) loop: nothing else runs here yet
        started = time.perf_counter()
        counts = await asyncio.gather(*(loop(c, i, started + seconds) for i, c in enumerate(conns)))
        return sum(counts), time.perf_counter() - started
    finally:
        for conn in conns:
            await conn.close()


@dataclass
class Round:
    sealer: bool
    recorded: float  # events/s over all clients
    sealed: float = 0.0  # events/s sealed in the load's window
    lags: list[float] = field(default_factory=list)  # seconds, one per event of the round, sorted
    catch_up: float = 0.0  # seconds from the load's end until the last event was sealed
    cpu: float = 0.0  # the sealer's CPU seconds per second of load (this process + its backend)


async def load_round(dsn: str, monitor: asyncpg.Connection, sealer: AuditChainSealer, seconds: float,
                     with_sealer: bool, procs: list) -> Round:
    first = await monitor.fetchval("SELECT coalesce(max(seq), 0) FROM audit_events") + 1
    sealing = asyncio.create_task(sealer.run()) if with_sealer else None
    try:
        result, started, ended = await load(dsn, monitor, seconds, with_sealer, procs)
        if sealing is None:
            await sealer.catch_up()  # the backlog must not burden the next round
            return result
        result.catch_up = await wait_sealed(monitor) - ended
    finally:
        if sealing is not None:
            sealing.cancel()
            await asyncio.gather(sealing, return_exceptions=True)
    result.sealed = await monitor.fetchval(
        "SELECT count(*) FROM audit_chain WHERE sealed_at >= to_timestamp($1) AND sealed_at < to_timestamp($2)",
        started, started + seconds) / seconds
    result.lags = sorted(r[0] for r in await monitor.fetch(
        "SELECT extract(epoch FROM c.sealed_at - e.at)::float8 FROM audit_events e JOIN audit_chain c USING (seq)"
        " WHERE e.seq >= $1", first))
    return result


async def load(dsn: str, monitor: asyncpg.Connection, seconds: float, with_sealer: bool,
               procs: list) -> tuple[Round, float, float]:
    """Run the client processes once: (the round's recorded/s and sealer CPU, time.time() at start and end)."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES + 1), ctx.Queue()
    workers = [ctx.Process(target=recorder, args=(dsn, seconds, barrier, results)) for _ in range(PROCESSES)]
    procs.extend(workers)
    for worker in workers:
        worker.start()
    try:
        await asyncio.to_thread(barrier.wait, 120)
    except threading.BrokenBarrierError:
        raise RuntimeError(f"a client process failed: {results.get(timeout=10)!r}") from None
    started = time.time()
    cpu_before = await sealer_cpu(monitor) if with_sealer else 0.0
    outcomes = [await asyncio.to_thread(results.get, True, seconds + 120) for _ in workers]
    ended = time.time()
    cpu = await sealer_cpu(monitor) - cpu_before if with_sealer else 0.0
    for worker in workers:
        await asyncio.to_thread(worker.join)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise RuntimeError(f"a client process failed: {outcome!r}")
    recorded = sum(count / elapsed for count, elapsed in outcomes)
    return Round(with_sealer, recorded, cpu=cpu / (ended - started)), started, ended


async def wait_sealed(monitor: asyncpg.Connection) -> float:
    """Poll (every 5 ms) until the chain's head is the last event; returns the time.time() then."""
    while not await monitor.fetchval("SELECT coalesce((SELECT max(seq) FROM audit_chain), 0)"
                                     " >= coalesce((SELECT max(seq) FROM audit_events), 0)"):
        await asyncio.sleep(0.005)
    return time.time()


async def sealer_cpu(monitor: asyncpg.Connection) -> float:
    """CPU seconds used so far by this process and by the backend of the session holding the sealer lock."""
    while not (pid := await monitor.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted", SEALER_LOCK)):
        await asyncio.sleep(0.01)  # run() has not taken over yet
    backend = psutil.Process(pid).cpu_times()
    return time.process_time() + backend.user + backend.system


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def under_load(server_dsn: str, ring: KeyRing, seconds: float, procs: list) -> list[Round]:
    dsn = await fresh_database(server_dsn, "audit_load")
    sealer = AuditChainSealer(lambda: asyncpg.connect(dsn, **connect_options()), lambda: ring, interval=SEAL_INTERVAL)
    monitor = await asyncpg.connect(dsn)
    try:
        await load_round(dsn, monitor, sealer, 1.0, False, procs)  # warm up: imports, plans, the sealer's lock
        rounds = []
        for index in range(ROUNDS):
            for with_sealer in (False, True):
                rounds.append(await load_round(dsn, monitor, sealer, seconds, with_sealer, procs))
                print(f"  load round {index + 1}, sealer {'on' if with_sealer else 'off'}: "
                      f"{rounds[-1].recorded:,.0f} events/s", file=sys.stderr, flush=True)
        return rounds
    finally:
        await sealer.close()
        await monitor.close()


# -- 2. raw sealing, 3. verification -----------------------------------------------------

# Events as the service writes them, varied: 8 zones, ~1,000 staff, 6 actions, 5% denials,
# consent bases, purposes, a flag now and then; `at` 20 ms apart, increasing with seq.
_bulk_sql = """
INSERT INTO audit_events (at, actor_sub, actor_name, actor_unit, actor_organisation, actor_domain, actor_roles,
                          action, client_id, document_id, consent_id, decision, basis, reason_codes, purpose,
                          request_id, remote_addr, flagged)
SELECT now() - ($1 - i) * interval '20 ms', 'hsa-' || i % 997, 'Staff ' || i % 997,
       'unit-' || org || '-' || domain, org, domain,
       CASE WHEN i % 10 = 0 THEN ARRAY['staff', 'unit_manager'] ELSE ARRAY['staff'] END,
       (ARRAY['client.read', 'document.list', 'document.read_metadata', 'document.read_content',
              'consent.read', 'document.create'])[1 + i % 6],
       md5('client' || i % 50000)::uuid,
       CASE WHEN i % 6 >= 2 AND i % 6 <> 4 THEN md5('document' || i % 200000)::uuid END,
       CASE WHEN i % 6 = 4 THEN md5('consent' || i % 30000)::uuid END,
       CASE WHEN i % 20 = 0 THEN 'deny' ELSE 'allow' END,
       CASE WHEN i % 20 = 0 THEN 'none' WHEN i % 7 = 0 THEN 'consent:' || md5('consent' || i % 30000)::uuid
            ELSE 'own_zone' END,
       CASE WHEN i % 20 = 0 THEN ARRAY['no_consent', 'unit_not_covered'] ELSE ARRAY[]::text[] END,
       (ARRAY['care', 'case_handling', NULL, 'coordination'])[1 + i % 4],
       md5(i::text), '10.' || i % 256 || '.' || i / 256 % 256 || '.' || i % 7, i % 500 = 0
FROM (SELECT i, (ARRAY['malmo-stad', 'region-skane', 'alingsas-kommun', 'vgr'])[1 + i % 4] AS org,
             (ARRAY['social', 'health'])[1 + i / 4 % 2] AS domain
      FROM generate_series(1, $1) AS i) AS g
"""


async def raw_sealing(dsn: str, ring: KeyRing, events: int) -> float:
    """Bulk-load `events`, then seal them all with catch_up(); returns the seconds catch_up took."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(_bulk_sql, events)
        await conn.execute("VACUUM ANALYZE audit_events")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    sealer = AuditChainSealer(lambda: asyncpg.connect(dsn, **connect_options()), lambda: ring, interval=SEAL_INTERVAL)
    try:
        started = time.perf_counter()
        sealed = await sealer.catch_up()
        elapsed = time.perf_counter() - started
    finally:
        await sealer.close()
    if sealed != events:
        raise RuntimeError(f"catch_up sealed {sealed} events, expected {events}")
    return elapsed


@dataclass
class Verification:
    ok: bool
    checked: int
    problem: str | None
    verify: float  # events/s
    fetch: float  # events/s, the walk of values' cursor without hashing
    link: float  # events/s, link() over values in memory
    link_sample: int
    link_matches: bool
    lines: float  # events/s, the lines verify_chain hashes, without hashing
    verify_spread: tuple[float, float]  # events/s, the slowest and the fastest of VERIFY_RUNS
    one_process: float  # events/s, verify_chain() without a worker process (median of VERIFY_RUNS)


async def verification(dsn: str, ring: KeyRing, events: int) -> Verification:
    admin = await asyncpg.connect(dsn)
    await admin.execute("VACUUM ANALYZE audit_chain")
    await admin.close()
    conn = await asyncpg.connect(dsn, **connect_options())
    try:
        fetched, fetch_s = await timed(fetch_walk(conn))
        if fetched != events:
            raise RuntimeError(f"the walk returned {fetched} rows, expected {events}")
        lined, lines_s = await timed(fetch_lines(conn))
        if lined != events:
            raise RuntimeError(f"the lines were {lined}, expected {events}")
        runs = [await timed(verify_chain(conn, ring.audit_public_keys, dsn=dsn)) for _ in range(VERIFY_RUNS)]
        verdict, verify_s = runs[0][0], statistics.median(seconds for _, seconds in runs)
        if any(later != verdict for later, _ in runs):
            raise RuntimeError(f"verify_chain answered differently: {[v for v, _ in runs]}")
        spread = (events / max(seconds for _, seconds in runs), events / min(seconds for _, seconds in runs))
        alone = [await timed(verify_chain(conn, ring.audit_public_keys)) for _ in range(VERIFY_RUNS)]
        if any(later != verdict for later, _ in alone):
            raise RuntimeError(f"verify_chain without a worker answered differently: {[v for v, _ in alone]}")
        one_process = events / statistics.median(seconds for _, seconds in alone)
        sample = min(events, LINK_SAMPLE)
        rows = await conn.fetch(f"SELECT {chain_store.EVENT_VALUES} FROM audit_events e ORDER BY e.seq LIMIT $1", sample)
        values = [tuple(row) for row in rows]
        stored = await conn.fetchval("SELECT hash FROM audit_chain WHERE seq = $1", values[-1][0])
        del rows
        started = time.perf_counter()
        chain_hash = GENESIS
        for value in values:
            chain_hash = link(chain_hash, value)
        link_s = time.perf_counter() - started
    finally:
        await conn.close()
    return Verification(verdict.ok, verdict.checked, verdict.problem, events / verify_s, events / fetch_s,
                        sample / link_s, sample, chain_hash == bytes(stored), events / lines_s, spread, one_process)


async def fetch_walk(conn: asyncpg.Connection) -> int:
    """The verifier's rows through the verifier's cursor, in the same kind of transaction, unhashed."""
    count = 0
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for rows in chain_store.walk(conn):
            count += len(rows)
    return count


async def fetch_lines(conn: asyncpg.Connection) -> int:
    """verify_chain's lines, through its COPY and made canonical as it makes them, unhashed."""
    count = 0

    def take(lines: list[bytes]) -> bool:
        nonlocal count
        count += len(lines)
        return True

    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await chain_store.walk_lines(conn, take, after=0, below=await chain_store.last_seq(conn) + 1)
    return count


@dataclass
class Dense:
    checkpoints: int  # signed checkpoints in the log
    verify: float  # events/s, verify_chain() with a worker (median of DENSE_RUNS)
    one_process: float  # events/s, verify_chain() in one process (median of DENSE_RUNS)
    signature_us: float  # one Ed25519 verification, µs (median of 2,000, timed alone)
    ok: bool


async def dense_verification(dsn: str, ring: KeyRing, events: int) -> Dense:
    """Part 4: the sealer signs a checkpoint at least every 10 s while it seals, so a service recording an event a
    second has one each 10 events, not each 1,000 as the bulk sealing of part 2. Signs (as the superuser, with the
    ring's key, in format 2 as the sealer does) one at every 10th event, then verifies. Checked one by one, as
    format 1 needed, each would be a signature to check: the line prints what they alone would cost."""
    admin = await asyncpg.connect(dsn)
    try:
        # The sealer's checkpoints and one at every 10th event, signed again in seq order as the sealer signs them
        # (format 2: each with the digest of the one before), in place of the sealer's (its triggers off: superuser).
        rows = await admin.fetch("SELECT seq, hash FROM audit_chain WHERE seq % $1 = 0 OR seq IN "
                                 "(SELECT seq FROM audit_checkpoints) ORDER BY seq", DENSE_EVERY)
        at = datetime.now(UTC)
        key_id, key = ring.audit_key_id, ring.audit_signing_key
        records, prev = [], GENESIS
        for row in rows:
            checkpoint = Checkpoint(row["seq"], bytes(row["hash"]), micros(at), key_id,
                                    sign_checkpoint(key, key_id, row["seq"], bytes(row["hash"]), micros(at), prev), prev)
            records.append((checkpoint.seq, checkpoint.hash, at, key_id, checkpoint.signature, prev))
            prev = checkpoint_digest(checkpoint)
        async with admin.transaction():
            await admin.execute("SET LOCAL session_replication_role = replica; DELETE FROM audit_checkpoints")
            await admin.copy_records_to_table("audit_checkpoints", records=records,
                                              columns=("seq", "hash", "at", "key_id", "signature", "prev"))
        count = await admin.fetchval("SELECT count(*) FROM audit_checkpoints")
    finally:
        await admin.close()
    public = ring.audit_public_keys[key_id]
    message = checkpoint_message(key_id, 1, GENESIS, 0)
    signature = key.sign(message)
    times = []
    for _ in range(2000):
        started = time.perf_counter()
        public.verify(signature, message)
        times.append(time.perf_counter() - started)
    conn = await asyncpg.connect(dsn, **connect_options())
    try:
        runs = [await timed(verify_chain(conn, ring.audit_public_keys, dsn=dsn)) for _ in range(DENSE_RUNS)]
        alone = [await timed(verify_chain(conn, ring.audit_public_keys)) for _ in range(DENSE_RUNS)]
    finally:
        await conn.close()
    ok = all(v.ok and v.checked == events for v, _ in runs + alone)
    return Dense(count, events / statistics.median(s for _, s in runs), events / statistics.median(s for _, s in alone),
                 statistics.median(times) * 1e6, ok)


async def timed(awaitable):
    started = time.perf_counter()
    result = await awaitable
    return result, time.perf_counter() - started


# -- the run ---------------------------------------------------------------------------------

async def fresh_database(server_dsn: str, name: str) -> str:
    conn = await asyncpg.connect(server_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    dsn = with_database(server_dsn, name)
    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    await conn.close()
    return dsn


async def bench(quick: bool, tmp: Path, server_dsn: str, procs: list, skip_load: bool = False) -> None:
    seconds, events = (3.0, 100_000) if quick else (10.0, 1_000_000)
    ring = FileKeyProvider(tmp / "keyring.json").init()
    conn = await asyncpg.connect(server_dsn)
    pg_version = (await conn.fetchval("SHOW server_version")).split()[0]
    await conn.close()

    rounds = [] if skip_load else await under_load(server_dsn, ring, seconds, procs)
    bulk_dsn = await fresh_database(server_dsn, "audit_bulk")
    seal_s = await raw_sealing(bulk_dsn, ring, events)
    print(f"  sealed {events:,} events in {seal_s:.1f} s", file=sys.stderr, flush=True)
    check = await verification(bulk_dsn, ring, events)
    dense = await dense_verification(bulk_dsn, ring, events)

    print(f"\nBrygga audit benchmark ({os.cpu_count()} cores, embedded PostgreSQL {pg_version})"
          + (" --quick" if quick else ""))
    if rounds:
        report_load(rounds, seconds)
    else:
        print("1. sealing under load: left out (--skip-load)")
    sealing = events / seal_s
    print(f"2. raw sealing: AuditChainSealer.catch_up() over {events:,} bulk-inserted events: {seal_s:.1f} s"
          f" → {sealing:,.0f} events/s")
    print(f"3. verification of those {events:,} sealed events:")
    print(f"   {'baseline (a): the same walk cursor, no hashing':<58}{check.fetch:>10,.0f} events/s")
    print(f"   {f'baseline (b): link() over {check.link_sample:,} values in memory':<58}{check.link:>10,.0f} events/s"
          f"  (reproduces the stored hash: {'yes' if check.link_matches else 'NO'})")
    print(f"   {'baseline (c): the lines verify_chain hashes (COPY), unhashed':<58}{check.lines:>10,.0f} events/s")
    print(f"   {f'verify_chain() with a worker, median of {VERIFY_RUNS} runs':<58}{check.verify:>10,.0f} events/s"
          f"  ({check.verify_spread[0]:,.0f}–{check.verify_spread[1]:,.0f}; ratio to (a) {check.verify / check.fetch:.2f},"
          f" to (b) {check.verify / check.link:.2f}, to (c) {check.verify / check.lines:.2f})")
    print(f"   {f'verify_chain() in one process (the API), median of {VERIFY_RUNS}':<58}{check.one_process:>10,.0f} events/s"
          f"  (the worker's gain: {check.verify / check.one_process:.2f}x"
          + (")" if events >= audit_stretches.WORKER_FROM else f"; under {audit_stretches.WORKER_FROM:,} events, no worker either)"))
    print(f"   audit verify's verify_chain() against the target of {VERIFY_TARGET:,} events/s: {check.verify:,.0f}"
          f" ({check.verify / VERIFY_TARGET:.2f} of it) → {met(check.verify >= VERIFY_TARGET)}")
    print(f"   verdict: ok={check.ok}, checked={check.checked:,} of {events:,}"
          + (f", problem={check.problem}" if check.problem else ""))
    print(f"4. verification with a signed checkpoint each {DENSE_EVERY} events ({dense.checkpoints:,} checkpoints;"
          f" a service sealing an event a second signs one each 10 s):")
    print(f"   {f'verify_chain() with a worker, median of {DENSE_RUNS}':<58}{dense.verify:>10,.0f} events/s")
    print(f"   {f'verify_chain() in one process, median of {DENSE_RUNS}':<58}{dense.one_process:>10,.0f} events/s")
    print(f"   one Ed25519 verification {dense.signature_us:.0f} µs: checked one by one (format 1) the signatures alone "
          f"{dense.checkpoints * dense.signature_us / 1e6:.1f} s of CPU, format 2 proves a run of them by one;"
          f" verdicts ok and whole: {'yes' if dense.ok else 'NO'}")
    print("targets:")
    print(f"  raw sealing ≥ {SEALING_TARGET:,} events/s: {sealing:,.0f} → {met(sealing >= SEALING_TARGET)}")
    print(f"  verification ≥ {VERIFY_TARGET:,} events/s (audit verify): {check.verify:,.0f} → {met(check.verify >= VERIFY_TARGET)}")
    print(f"  verification ok and checked every event: ok={check.ok}, {check.checked:,}/{events:,}"
          f" → {met(check.ok and check.checked == events and check.link_matches)}")


def report_load(rounds: list[Round], seconds: float) -> None:
    print(f"1. sealing under load: {PROCESSES} processes × {CONNECTIONS} connections, "
          f"BEGIN; audit.record(client.read); COMMIT for {seconds:.0f} s per round; sealer interval {SEAL_INTERVAL} s")
    print(f"   {'round':<7}{'sealer':<8}{'recorded/s':>11}{'sealed/s':>10}{'sealer CPU':>11}"
          f"{'lag p50':>9}{'p99':>8}{'max':>8}{'catch-up':>10}")
    for index, r in enumerate(rounds):
        line = f"   {index // 2 + 1:<7}{'on' if r.sealer else 'off':<8}{r.recorded:>11,.0f}"
        if r.sealer:
            line += (f"{r.sealed:>10,.0f}{r.cpu:>11.1%}{ms(percentile(r.lags, 0.5)):>9}"
                     f"{ms(percentile(r.lags, 0.99)):>8}{ms(r.lags[-1]):>8}{r.catch_up:>9.2f}s")
        print(line)
    base = statistics.median(r.recorded for r in rounds if not r.sealer)
    ours = statistics.median(r.recorded for r in rounds if r.sealer)
    cpu = statistics.median(r.cpu for r in rounds if r.sealer)
    lags = sorted(lag for r in rounds if r.sealer for lag in r.lags)
    print(f"   recorded/s with the sealer running vs without (median of {ROUNDS} rounds each): {ours:,.0f} vs"
          f" {base:,.0f} → ratio {ours / base:.2f}; the sealer's CPU: {cpu:.1%} of one core")
    print(f"   lag over all {len(lags):,} events of the sealer rounds: p50 {ms(percentile(lags, 0.5))},"
          f" p99 {ms(percentile(lags, 0.99))}, max {ms(lags[-1])}; catch-up after the load ≤"
          f" {max(r.catch_up for r in rounds if r.sealer):.2f} s")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms"


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s load rounds, 100,000 events to seal and verify")
    parser.add_argument("--skip-load", action="store_true", help="leave out part 1, sealing under load")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="brygga-bench-"))
    procs: list[multiprocessing.Process] = []
    postgres = EmbeddedPostgres(tmp / "postgres")
    try:
        server_dsn = postgres.start()
        asyncio.run(bench(args.quick, tmp, server_dsn, procs, args.skip_load))
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(15)
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
