"""Access decisions per second, pure and with their facts loaded from PostgreSQL.

    .venv/bin/python bench/decisions.py [--quick]

A world of 10,000 consents over 1,000 clients (10 each, toward several zones)
is stored in an embedded PostgreSQL. Measured in one run:
  1. decide() alone, facts in memory: a typical client (10 consents) and a worst
     case (all 10,000 consents in one client's facts);
  2. facts loaded in one round trip (service/store/facts.py) + decide(), against a
     bare `SELECT 1` round trip on the same connection as the baseline.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policies.decide import DocumentFacts, Facts, Request, decide
from policies.model import Consent, Principal, Role, Zone
from policies.roles import Permission
from service.database import migrate, with_database
from service.embedded import EmbeddedPostgres
from service.store import facts as facts_store

ZONES = [Zone(org, domain) for org in ("malmo-stad", "region-skane", "alingsas-kommun", "vgr") for domain in ("social", "health")]
CATEGORIES = ["journal_note", "assessment", "screening", "treatment_plan", "sip", "decision", "referral", "consent_form", "other"]
PURPOSES = ["care", "case_handling", "coordination", "followup"]
NOW = datetime.now(UTC)
CALLER = Principal("hsa-1", "Bench", frozenset({Role.STAFF}), "unit-region-skane-health", Zone("region-skane", "health"))
DOCUMENT = DocumentFacts(unit="unit-malmo-stad-social", zone=Zone("malmo-stad", "social"), category="assessment",
                         blocked=False, created_by="x")


def random_consent(rng: random.Random, index: int) -> Consent:
    source, target = rng.sample(ZONES, 2)
    start = NOW + timedelta(days=rng.randint(-400, 30))
    return Consent(id=f"{index:08d}", from_zone=source, to_zone=target, to_unit=None,
                   categories=frozenset(rng.sample(CATEGORIES, rng.randint(1, 4))),
                   purposes=frozenset(rng.sample(PURPOSES, rng.randint(1, 3))),
                   valid_from=start, valid_until=start + timedelta(days=rng.randint(1, 700)),
                   revoked_at=NOW - timedelta(days=1) if rng.random() < 0.2 else None,
                   confirmed_at=start)  # recorded (or confirmed) by the holding zone


def rate(function, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(200):
            function()
        count += 200
    return count / elapsed


async def load_world(dsn: str, consents: list[Consent]) -> uuid.UUID:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        for zone in ZONES:
            await conn.execute("INSERT INTO units (id, name, organisation, domain) VALUES ($1, $1, $2, $3)",
                               f"unit-{zone.organisation}-{zone.domain}", zone.organisation, zone.domain)
        clients = [uuid.uuid4() for _ in range(1000)]
        await conn.executemany("INSERT INTO clients (id, personal_number_index, personal_number_sealed, name_sealed, birth_date)"
                               " VALUES ($1, $2, '\\x00', '\\x00', '1980-01-01')",
                               [(c, c.bytes) for c in clients])
        await conn.executemany(
            "INSERT INTO consents (id, client_id, from_organisation, from_domain, to_organisation, to_domain, categories,"
            " purposes, valid_from, valid_until, given_by, form, maturity_assessed, recorded_by, recorded_by_unit,"
            " confirmed_at, confirmed_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'client', 'verbal', false, 'bench', 'unit-malmo-stad-social',"
            " $11, 'bench')",
            [(uuid.uuid4(), clients[i % 1000], c.from_zone.organisation, c.from_zone.domain, c.to_zone.organisation,
              c.to_zone.domain, sorted(c.categories), sorted(c.purposes), c.valid_from, c.valid_until, c.confirmed_at)
             for i, c in enumerate(consents)])
        await conn.execute("INSERT INTO relations (id, client_id, unit_id, started_by) VALUES ($1, $2, $3, 'bench')",
                           uuid.uuid4(), clients[0], CALLER.unit)
        await conn.execute("ANALYZE")
        return clients[0]
    finally:
        await conn.close()


async def round_trips(dsn: str, client_id: uuid.UUID, seconds: float) -> tuple[float, float]:
    conn = await asyncpg.connect(dsn)
    try:
        async def measure(step) -> float:
            count, started = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - started) < seconds:
                await step()
                count += 1
            return count / elapsed

        async def bare() -> None:
            await conn.fetchval("SELECT 1")

        async def decision() -> None:
            facts = await facts_store.for_client(conn, client_id, principal=CALLER)
            decide(Request(CALLER, Permission.DOCUMENT_READ_CONTENT), Facts(
                facts.client_exists, facts.caller_relation_active, DOCUMENT, facts.now, facts.consents, facts.emergency_grants))

        await measure(bare)  # warm up both
        await measure(decision)
        return await measure(bare), await measure(decision)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    seconds = 0.5 if parser.parse_args().quick else 2.0
    rng = random.Random(7)
    consents = [random_consent(rng, i) for i in range(10_000)]
    request = Request(CALLER, Permission.DOCUMENT_READ_CONTENT, "care")
    typical = Facts(True, True, DOCUMENT, NOW, tuple(consents[:10]))
    worst = Facts(True, True, DOCUMENT, NOW, tuple(consents))
    pure_typical = rate(lambda: decide(request, typical), seconds)
    pure_worst = rate(lambda: decide(request, worst), seconds)

    directory = Path(tempfile.mkdtemp(prefix="brygga-bench-"))
    server = EmbeddedPostgres(directory / "pg")
    try:
        dsn = server.start()
        client_id = asyncio.run(load_world(with_database(dsn, "postgres"), consents))
        bare, loaded = asyncio.run(round_trips(with_database(dsn, "postgres"), client_id, seconds))
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)

    print("Brygga decision benchmark (world: 10,000 consents over 1,000 clients)")
    print(f"decide(), 10 consents in the facts        {pure_typical:12,.0f} /s  ({1e6 / pure_typical:7.1f} µs each)")
    print(f"decide(), all 10,000 consents in the facts {pure_worst:11,.0f} /s  ({1e6 / pure_worst:7.1f} µs each)")
    print(f"baseline: SELECT 1 round trip              {bare:12,.0f} /s")
    print(f"facts in one round trip + decide()         {loaded:12,.0f} /s  (ratio to baseline {loaded / bare:.2f})")


if __name__ == "__main__":
    main()
