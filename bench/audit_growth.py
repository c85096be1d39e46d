"""The audit log's client queries from 10⁴ to 10⁶ events, through real HTTP, from the first requests after a
restart (#13).

    .venv/bin/python bench/audit_growth.py [--quick] [--rounds N]

One embedded PostgreSQL holds two databases, built alike but for their size. Each gets a world through the
API of a Brygga server (`python -m service serve`): a social services unit and an addiction clinic, a
client with a relation and a document in each. Then, by bulk SQL (tests/audit_bulk.py, the data of
tests/integration/test_audit_query_cost.py), 10⁴ or 10⁶ events: one in a hundred the client's, by either
unit, on its documents, reads, writes and denials (so the client has 100 or 10,000 events), the rest other
clients' events in eight zones, and a chain row for each; then VACUUM ANALYZE.

Each round starts a server on each database in turn (the sizes alternate, which comes first too) and times,
one request after the other, the first FIRST requests of each case, whose statements run on the pool's new
connections for the first time (the custom plans PostgreSQL makes for a prepared statement's first five
executions), then, after WARM more, LATER requests (the plans it keeps from then on). Cases, a page of 50
each: GET /v1/audit/events?client_id=… by the whole installation's auditor (organisations ["*"]) and by the
municipality's (["malmo-stad"]), and GET /v1/clients/{id}/access-log by the social unit's manager. Prints,
per case, the median over rounds and requests for each size and their ratio. Target: ≤ 2 (#13).

Exits 0 whatever the numbers; stops everything it started.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
from bench.harness import free_port, identity, server_env, spawn, stop, wait_ready  # noqa: E402
from service.database import migrate, with_database  # noqa: E402
from service.embedded import EmbeddedPostgres  # noqa: E402
from tests.audit_bulk import bulk_load  # noqa: E402

SIZES = {"10^4": 10_000, "10^6": 1_000_000}
FIRST, WARM, LATER = 5, 10, 10
TARGET = 2.0
SOCIAL_UNIT, HEALTH_UNIT = "malmo-iof", "malmo-beroendecentrum"


class Server:
    """A Brygga server on one database, started and stopped around a block."""

    def __init__(self, tmp: Path, dsn: str, name: str) -> None:
        self.tmp, self.dsn, self.log = tmp, dsn, tmp / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.base = ""

    async def __aenter__(self) -> str:
        port = free_port()
        env = server_env(self.tmp, self.dsn, port)
        self.proc = spawn([sys.executable, "-m", "service", "serve"], env, self.log)
        self.base = f"http://127.0.0.1:{port}"
        await wait_ready(self.base, self.proc, self.log)
        return self.base

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop([self.proc])


async def make_world(base: str, bearer) -> dict[str, str | None]:
    """Two units in two zones, a client with a relation and a document in each; their ids."""
    admin = bearer("admin-1", ["admin"])
    staff = {unit: bearer(f"staff-of-{unit}", ["staff"], unit) for unit in (SOCIAL_UNIT, HEALTH_UNIT)}
    async with aiohttp.ClientSession() as session:
        async def post(path: str, headers: dict, **kwargs) -> dict:
            async with session.post(base + path, headers=headers, **kwargs) as response:
                if response.status not in (200, 201):
                    raise RuntimeError(f"POST {path}: {response.status} {await response.text()}")
                return await response.json()

        for unit, organisation, domain in ((SOCIAL_UNIT, "malmo-stad", "social"), (HEALTH_UNIT, "region-skane", "health")):
            await post("/v1/units", admin, json={"id": unit, "name": unit, "organisation": organisation, "domain": domain})
        client = (await post("/v1/clients", staff[SOCIAL_UNIT],
                             json={"personal_number": "19121212-1212", "name": "Tolvan Tolvansson"}))["id"]
        documents = {}
        for unit, headers in staff.items():
            await post(f"/v1/clients/{client}/relations", headers, json={})
            form = aiohttp.FormData()
            form.add_field("metadata", json.dumps({"category": "assessment", "title": "Utredning"}),
                           content_type="application/json")
            form.add_field("file", b"plain text", filename="a.txt", content_type="text/plain")
            documents[unit] = (await post(f"/v1/clients/{client}/documents", headers, data=form))["id"]
    return {"client": client, "social": documents[SOCIAL_UNIT], "health": documents[HEALTH_UNIT], "consent": None}


async def build(tmp: Path, server_dsn: str, bearer) -> dict[str, tuple[str, str]]:
    """Both databases: {size: (dsn, client id)}."""
    built = {}
    for size, count in SIZES.items():
        name = f"growth_{count}"
        conn = await asyncpg.connect(server_dsn)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        dsn = with_database(server_dsn, name)
        conn = await asyncpg.connect(dsn)
        await migrate(conn)
        await conn.close()
        async with Server(tmp, dsn, f"world-{count}") as base:
            world = await make_world(base, bearer)
        started = time.perf_counter()
        conn = await asyncpg.connect(dsn)
        try:
            await bulk_load(conn, count, world)
        finally:
            await conn.close()
        print(f"  {size}: {count:,} events loaded in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        built[size] = (dsn, str(world["client"]))
    return built


async def timed_requests(base: str, cases: dict[str, tuple[str, dict]]) -> dict[str, tuple[list[float], list[float]]]:
    """Per case: (the first FIRST requests' seconds, LATER requests' seconds after WARM more), one at a time."""
    results = {}
    async with aiohttp.ClientSession() as session:
        async def get(path: str, headers: dict) -> float:
            started = time.perf_counter()
            async with session.get(base + path, headers=headers) as response:
                body = await response.read()
                if response.status != 200 or not json.loads(body)["items"]:
                    raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
            return time.perf_counter() - started

        for name, (path, headers) in cases.items():
            first = [await get(path, headers) for _ in range(FIRST)]
            for _ in range(WARM):
                await get(path, headers)
            results[name] = (first, [await get(path, headers) for _ in range(LATER)])
    return results


async def bench(tmp: Path, server_dsn: str, rounds: int) -> None:
    bearer = identity(tmp)
    built = await build(tmp, server_dsn, bearer)
    auditors = {"whole log's auditor": bearer("auditor-1", ["auditor"], organisations=["*"]),
                "municipality's auditor": bearer("auditor-2", ["auditor"], organisations=["malmo-stad"])}
    manager = bearer("hsa-chef", ["unit_manager"], SOCIAL_UNIT)
    times: dict[tuple[str, str, str], list[float]] = {}
    for number in range(rounds):
        order = list(built.items()) if number % 2 == 0 else list(reversed(built.items()))
        for size, (dsn, client) in order:
            cases = {f"events?client_id, {who}": (f"/v1/audit/events?client_id={client}", headers)
                     for who, headers in auditors.items()}
            cases["access-log, unit manager"] = (f"/v1/clients/{client}/access-log", manager)
            async with Server(tmp, dsn, f"round-{number}-{size}") as base:
                results = await timed_requests(base, cases)
            for case, (first, later) in results.items():
                times.setdefault((case, size, "first"), []).extend(first)
                times.setdefault((case, size, "later"), []).extend(later)
            print(f"  round {number + 1}, {size}: " + ", ".join(
                f"{case} {statistics.median(first) * 1000:.1f} ms" for case, (first, _) in results.items()),
                file=sys.stderr, flush=True)

    small, large = SIZES
    print(f"\nBrygga audit queries, {small} vs {large} events (real HTTP, a server restarted for each size and round;"
          f" {rounds} rounds; medians in ms)")
    print(f"  {'case':<46}{'requests':<18}{small:>9}{large:>9}{'ratio':>8}")
    worst = 0.0
    for case in dict.fromkeys(key[0] for key in times):
        for when, label in (("first", f"first {FIRST}"), ("later", f"{LATER} after {FIRST + WARM}")):
            a = statistics.median(times[case, small, when])
            b = statistics.median(times[case, large, when])
            worst = max(worst, b / a)
            print(f"  {case:<46}{label:<18}{a * 1000:>9.1f}{b * 1000:>9.1f}{b / a:>8.2f}")
    print("targets:")
    print(f"  every ratio ≤ {TARGET:g}: worst {worst:.2f} → {'met' if worst <= TARGET else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="brygga-bench-"))
    postgres = EmbeddedPostgres(tmp / "postgres")
    try:
        server_dsn = postgres.start()
        asyncio.run(bench(tmp, server_dsn, 3 if args.quick else args.rounds))
    finally:
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
