"""Opening a client with many SIP plans costs about what opening a client with one does (issue 16).

A client page reads the client, its documents, its plans (the list: each plan's latest row, never its versions)
and its network. This measures those four API calls for a client with one plan of one version and for a client
with 50 plans of 20 versions each, alternating, as a unit of the holding zone and as a participating unit of
the other zone (whose every listed plan is a read under the consent, audited), and prints the ratio of the
medians against the target (2x). The app runs in this process on an embedded PostgreSQL, over real HTTP.

    python -m bench.sip [--plans 50] [--versions 20] [--rounds 60]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import AUDIENCE, ISSUER, identity  # noqa: E402
from service.app import create_app  # noqa: E402
from service.database import migrate, with_database  # noqa: E402
from service.embedded import EmbeddedPostgres  # noqa: E402
from service.settings import Settings  # noqa: E402

TARGET = 2.0


def _plan(i: int, version: int) -> dict:
    return {"title": f"SIP {i} version {version}", "start_date": date.today().isoformat(),
            "participants": [{"unit": "iof"}, {"unit": "bc"}, {"external": "Mamma Eva"}], "responsible_unit": "iof",
            "efforts": [{"text": f"Insats {k} av version {version}", "provided_by_unit": "iof" if k % 2 else "bc",
                         "due": (date.today() + timedelta(days=30)).isoformat()} for k in range(4)]
            + [{"text": "Stöd vid återfall", "provided_by_external": "Mamma Eva"}],
            "next_follow_up": (date.today() + timedelta(days=60)).isoformat()}


async def _seed(http: aiohttp.ClientSession, base: str, staff: dict, *, number: str, plans: int, versions: int) -> str:
    social, clinic = staff["iof"], staff["bc"]
    async with http.post(f"{base}/v1/clients", headers=social, json={"personal_number": number, "name": "N"}) as r:
        client = (await r.json())["id"]
    for headers in (social, clinic):
        async with http.post(f"{base}/v1/clients/{client}/relations", headers=headers, json={}) as r:
            assert r.status in (200, 201)
    now = datetime.now(UTC)
    async with http.post(f"{base}/v1/clients/{client}/consents", headers=social, json={
            "from": {"organisation": "malmo-stad", "domain": "social"},
            "to": {"organisation": "region-skane", "domain": "health", "unit": None}, "categories": ["sip"],
            "purposes": ["coordination"], "valid_until": (now + timedelta(days=90)).isoformat(), "given_by": "client",
            "form": "verbal"}) as r:
        assert r.status == 201, await r.text()
    for i in range(plans):
        async with http.post(f"{base}/v1/clients/{client}/sip-plans", headers=social, json=_plan(i, 1)) as r:
            assert r.status == 201, await r.text()
            plan = (await r.json())["id"]
        for version in range(2, versions + 1):
            writer = clinic if version % 2 else social
            async with http.put(f"{base}/v1/sip-plans/{plan}", json=_plan(i, version),
                                headers={**writer, "If-Match": str(version - 1)}) as r:
                assert r.status == 200, await r.text()
    return client


async def _open(http: aiohttp.ClientSession, base: str, headers: dict, client: str) -> float:
    """Open the client as its page does: the client, documents, plans, network; seconds."""
    started = time.perf_counter()
    for path in ("", "/documents", "/sip-plans", "/network"):
        async with http.get(f"{base}/v1/clients/{client}{path}", headers=headers) as r:
            assert r.status == 200, (path, r.status, await r.text())
            await r.read()
    return time.perf_counter() - started


async def main(plans: int, versions: int, rounds: int) -> int:
    with tempfile.TemporaryDirectory(prefix="brygga-bench-sip-") as tmp_name:
        tmp = Path(tmp_name)
        server = EmbeddedPostgres(tmp / "pg")
        dsn = server.start()
        try:
            conn = await asyncpg.connect(dsn)
            await conn.execute("CREATE DATABASE bench")
            await conn.close()
            conn = await asyncpg.connect(with_database(dsn, "bench"))
            await migrate(conn)
            await conn.close()
            bearer = identity(tmp)
            settings = Settings(data_dir=tmp / "var", database_url=with_database(dsn, "bench"),
                                jwks_path=tmp / "jwks.json", keyring_path=tmp / "keyring.json", jwt_issuer=ISSUER,
                                jwt_audience=AUDIENCE, audit_seal_interval=0)
            app = TestServer(create_app(settings), host="127.0.0.1")
            await app.start_server()
            base = str(app.make_url("")).rstrip("/")
            admin = bearer("admin", ["admin"])
            staff = {"iof": bearer("anna", ["staff"], unit="iof"), "bc": bearer("bertil", ["staff"], unit="bc")}
            try:
                async with aiohttp.ClientSession() as http:
                    for unit, org, domain in (("iof", "malmo-stad", "social"), ("bc", "region-skane", "health")):
                        async with http.post(f"{base}/v1/units", headers=admin, json={
                                "id": unit, "name": unit, "organisation": org, "domain": domain}) as r:
                            assert r.status == 201
                    seeded = time.perf_counter()
                    one = await _seed(http, base, staff, number="19121212-1212", plans=1, versions=1)
                    many = await _seed(http, base, staff, number="19900101-0017", plans=plans, versions=versions)
                    print(f"seeded {plans} plans x {versions} versions in {time.perf_counter() - seeded:.1f} s")
                    failed = False
                    for who in ("iof", "bc"):
                        times: dict[str, list[float]] = {"one": [], "many": []}
                        for _ in range(5):  # warm up
                            await _open(http, base, staff[who], one)
                            await _open(http, base, staff[who], many)
                        for _ in range(rounds):
                            times["one"].append(await _open(http, base, staff[who], one))
                            times["many"].append(await _open(http, base, staff[who], many))
                        a, b = statistics.median(times["one"]), statistics.median(times["many"])
                        ratio = b / a
                        zone = "holding zone (social)" if who == "iof" else "other zone, under the consent (health)"
                        verdict = "ok" if ratio <= TARGET else "OVER"
                        print(f"{zone}: one plan {a * 1000:.1f} ms, {plans} plans x {versions} versions "
                              f"{b * 1000:.1f} ms: ratio {ratio:.2f} (target <= {TARGET}) {verdict}")
                        failed |= ratio > TARGET
            finally:
                await app.close()
        finally:
            server.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=50)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.plans, args.versions, args.rounds)))
