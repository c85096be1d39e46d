"""Every page costs the same at any size (#13): each case small and large, in one run, ratios of medians.

    .venv/bin/python bench/growth.py [--requests 40]

One embedded PostgreSQL (temp dir), one Brygga server (`python -m service serve`, its own process) on real
HTTP. Two units of Malmö's social services and the region's clinic share four clients (each with a relation to
both, and to a third unit of another region that no consent names):

    client  documents (social services')      consents from social services to the clinic
    A       10 (uploaded through the API)       10 (1 in force, 9 revoked or expired)
    B       10 + 9,990 (bulk SQL)               10 (the same)
    C       10 (uploaded through the API)       1,000 (1 in force, 999 revoked or expired; bulk SQL)
    D       10 + 9,990 (bulk SQL)               1,000 (the same)

The bulk rows are written by SQL (said in the output): documents with titles sealed by the service's own key
ring (a list opens each), consents as the service stores them. Each case sends `--requests` requests, small
and large interleaved, one at a time, and reports the medians and their ratio. Target: every ratio ≤ 2.
Exits 0 whatever the numbers; stops everything it started.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

from bench.harness import free_port, identity, server_env, spawn, stop, wait_ready  # noqa: E402
from bench.read_path import SIZE  # noqa: E402

SOCIAL = {"organisation": "malmo-stad", "domain": "social"}
HEALTH = {"organisation": "region-skane", "domain": "health"}
ELSEWHERE = {"organisation": "region-halland", "domain": "health"}
BULK_DOCUMENTS, BULK_CONSENTS = 9_990, 990
CATEGORIES = ("journal_note", "assessment", "screening", "treatment_plan", "decision", "referral", "other")


def _pdf(size: int, seed: int) -> bytes:
    body = (b"%PDF-1.4\n" + bytes([seed % 256]) * size)[: size - 6]
    return body + b"\n%%EOF"


async def _setup(base: str, tmp: Path, dsn: str, bearer) -> dict:
    """Units, clients, relations, uploads and consents through the API; the bulk rows by SQL."""
    import aiohttp
    import asyncpg

    from crypto import FileKeyProvider
    from crypto.fields import FieldSealer

    admin = bearer("admin-1", ["admin"])
    iof, clinic, halland = (bearer("hsa-iof", ["staff"], "iof"), bearer("hsa-clinic", ["staff"], "clinic"),
                            bearer("hsa-halland", ["staff"], "halland"))
    async with aiohttp.ClientSession(base_url=base) as http:
        async def post(path: str, headers: dict, **kwargs) -> dict:
            async with http.post(path, headers=headers, **kwargs) as response:
                if response.status not in (200, 201):
                    raise RuntimeError(f"POST {path}: {response.status} {await response.text()}")
                return await response.json()

        for unit, zone in (("iof", SOCIAL), ("clinic", HEALTH), ("halland", ELSEWHERE)):
            await post("/v1/units", admin, json={"id": unit, "name": unit, **zone})
        clients, downloads = {}, {}
        for n, name in enumerate("ABCD"):
            person = (await post("/v1/clients", iof, json={"personal_number": _personal_number(n),
                                                            "name": f"Client {name}"}))["id"]
            clients[name] = person
            for headers in (iof, clinic, halland):
                await post(f"/v1/clients/{person}/relations", headers, json={})
            for i in range(10):
                form = aiohttp.FormData()
                form.add_field("metadata", json.dumps({"category": "assessment", "title": f"Utredning {i}"}),
                               content_type="application/json")
                form.add_field("file", _pdf(SIZE if i == 0 else 2000, i), filename="a.pdf", content_type="application/pdf")
                document = await post(f"/v1/clients/{person}/documents", iof, data=form)
                if i == 0:
                    downloads[name] = document["id"]
            now = time.time()
            for i in range(10):  # the one in force last: the others a history of revoked and expired ones
                period = {"valid_from": _iso(now - 86400), "valid_until": _iso(now + 30 * 86400)}
                consent = await post(f"/v1/clients/{person}/consents", iof, json={
                    "from": SOCIAL, "to": {**HEALTH, "unit": None}, "categories": ["assessment"], "purposes": ["care"],
                    **period, "given_by": "client", "form": "verbal", "maturity_assessed": False,
                    "evidence_document_id": None})
                if i < 9:
                    await post(f"/v1/consents/{consent['id']}/revoke", iof, json={"reason": "bench"})

    sealer = FieldSealer(FileKeyProvider(tmp / "keyring.json").load())
    conn = await asyncpg.connect(dsn)
    try:
        template = await conn.fetchrow("SELECT * FROM documents WHERE client_id = $1 LIMIT 1", uuid.UUID(clients["A"]))
        for name in "BD":
            rows = []
            for i in range(BULK_DOCUMENTS):
                ident = uuid.uuid4()
                title = sealer.seal(f"Anteckning {i}", record="document", record_id=str(ident), field="title")
                rows.append((ident, uuid.UUID(clients[name]), CATEGORIES[i % len(CATEGORIES)], title))
            await conn.executemany(
                "INSERT INTO documents (id, client_id, unit_id, organisation, domain, category, title_sealed,"
                " content_type, size, kek_version, dek_wrapped, stream_header, segment_count, created_at, created_by)"
                " VALUES ($1, $2, 'iof', 'malmo-stad', 'social', $3, $4, 'application/pdf', 2000, $5, $6, $7, 1,"
                " now() - random() * interval '700 days', 'hsa-iof')",
                [(*row, template["kek_version"], template["dek_wrapped"], template["stream_header"]) for row in rows])
        for name in "CD":
            await conn.execute(
                "INSERT INTO consents (id, client_id, from_organisation, from_domain, to_organisation, to_domain,"
                " categories, purposes, valid_from, valid_until, given_by, form, maturity_assessed, recorded_by,"
                " recorded_by_unit, recorded_at, confirmed_at, confirmed_by, confirmed_by_unit, revoked_at, revoked_by)"
                " SELECT gen_random_uuid(), $1, 'malmo-stad', 'social', 'region-skane', 'health', '{assessment}',"
                " '{care}', now() - (i + 40) * interval '1 day', now() - (i + 10) * interval '1 day' + "
                " CASE WHEN i % 2 = 0 THEN interval '400 days' ELSE interval '0' END, 'client', 'verbal', false,"
                " 'hsa-iof', 'iof', now() - (i + 40) * interval '1 day', now() - (i + 40) * interval '1 day',"
                " 'hsa-iof', 'iof', CASE WHEN i % 2 = 0 THEN now() - i * interval '1 hour' END,"
                " CASE WHEN i % 2 = 0 THEN 'hsa-iof' END FROM generate_series(1, $2) i",
                uuid.UUID(clients[name]), BULK_CONSENTS)
        await conn.execute("VACUUM ANALYZE documents")
        await conn.execute("VACUUM ANALYZE consents")
    finally:
        await conn.close()
    return {"clients": clients, "downloads": downloads, "iof": iof, "clinic": clinic, "halland": halland}


def _personal_number(n: int) -> str:
    """A valid personal number of someone born 1980-01-0n (Luhn check digit, as policies/personal_number.py checks)."""
    from policies.personal_number import _luhn_check_digit
    digits = f"8001{n + 1:02d}{123 + n:03d}"
    return f"1980010{n + 1}-{123 + n:03d}{_luhn_check_digit(digits)}"


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(epoch, UTC).isoformat()


async def _cases(base: str, world: dict, requests: int) -> list[tuple[str, float, float | None]]:
    import aiohttp

    c, d = world["clients"], world["downloads"]
    care, followup = {"Brygga-Purpose": "care"}, {"Brygga-Purpose": "followup"}
    cases = [
        ("own-zone document page (50 items), 10 vs 10,000 documents",
         world["iof"], f"/v1/clients/{c['A']}/documents?limit=50", f"/v1/clients/{c['B']}/documents?limit=50", {}),
        ("other-zone unit with a relation, nothing visible, 10 vs 10,000 documents",
         world["halland"], f"/v1/clients/{c['A']}/documents?limit=50", f"/v1/clients/{c['B']}/documents?limit=50", {}),
        ("listing through a consent, 10 vs 1,000 consents",
         world["clinic"], f"/v1/clients/{c['A']}/documents?limit=50", f"/v1/clients/{c['C']}/documents?limit=50", care),
        ("same listing for a purpose the consent does not cover",
         world["clinic"], f"/v1/clients/{c['A']}/documents?limit=50", f"/v1/clients/{c['C']}/documents?limit=50",
         followup),
        ("64 KiB download through a consent, 10 vs 1,000 consents",
         world["clinic"], f"/v1/documents/{d['A']}/content", f"/v1/documents/{d['C']}/content", care),
        ("10,000 documents and 1,000 consents, purpose not covered (vs 10 and 10)",
         world["clinic"], f"/v1/clients/{c['A']}/documents?limit=50", f"/v1/clients/{c['D']}/documents?limit=50",
         followup),
    ]
    results = []
    async with aiohttp.ClientSession(base_url=base) as http:
        async def timed(path: str, headers: dict) -> float:
            started = time.perf_counter()
            async with http.get(path, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"GET {path}: {response.status}")
            return time.perf_counter() - started

        for label, who, small, large, extra in cases:
            headers = {**who, **extra}
            for _ in range(3):  # warm: prepared statements, caches
                await timed(small, headers)
                await timed(large, headers)
            smalls, larges = [], []
            for _ in range(requests):
                smalls.append(await timed(small, headers))
                larges.append(await timed(large, headers))
            results.append((label, statistics.median(smalls), statistics.median(larges)))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    from service.database import migrate, with_database
    from service.embedded import EmbeddedPostgres

    tmp = Path(tempfile.mkdtemp(prefix="brygga-growth-"))
    postgres = EmbeddedPostgres(tmp / "postgres")
    procs = []
    try:
        server_dsn = postgres.start()

        async def prepare() -> str:
            import asyncpg
            conn = await asyncpg.connect(server_dsn)
            await conn.execute("CREATE DATABASE growth")
            await conn.close()
            dsn = with_database(server_dsn, "growth")
            conn = await asyncpg.connect(dsn)
            await migrate(conn)
            await conn.close()
            return dsn

        dsn = asyncio.run(prepare())
        bearer = identity(tmp)
        port = free_port()
        procs.append(spawn([sys.executable, "-m", "service", "serve"], server_env(tmp, dsn, port), tmp / "brygga.log"))
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_ready(base, procs[0], tmp / "brygga.log"))
        started = time.perf_counter()
        world = asyncio.run(_setup(base, tmp, dsn, bearer))
        print(f"set up in {time.perf_counter() - started:.0f} s: 40 uploads and 40 consents through the API; "
              f"{2 * BULK_DOCUMENTS:,} documents and {2 * BULK_CONSENTS:,} consents by bulk SQL")
        results = asyncio.run(_cases(base, world, args.requests))
    finally:
        stop(procs)
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nMedians of {args.requests} requests each, small and large interleaved, one at a time (target: ratio ≤ 2)")
    print(f"{'case':<78} {'small':>9} {'large':>9} {'ratio':>6}")
    for label, small, large in results:
        ratio = large / small
        print(f"{label:<78} {small * 1e3:7.1f}ms {large * 1e3:7.1f}ms {ratio:6.2f}{'' if ratio <= 2 else '  NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
