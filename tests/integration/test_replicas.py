"""Two replicas as an operator runs them (issue #19): two `python -m service serve` processes on one PostgreSQL,
their documents in one S3 bucket (moto's server). Either serves what the other stored; a revocation through one is
in force through the other at the very next request (no cache between a decision and the database); killing the
one that seals the audit chain lets the other take over within 2 s, and the chain verifies."""
from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp

from crypto import FileKeyProvider
from service.audit_chain_sealer import SEALER_LOCK
from service.domain.audit_log import verify_chain
from service.http.context import RUNTIME
from tests import files
from tests.conftest import AUDIENCE, ISSUER
from tests.integration.test_consents_in_force import _consents
from tests.processes import ROOT, free_port, service_env

SOCIAL = {"organisation": "malmo-stad", "domain": "social"}
HEALTH = {"organisation": "region-skane", "domain": "health"}
_sealer_sql = """
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1
"""


def _named(dsn: str, name: str) -> str:
    """The DSN with an application_name (asyncpg passes it on as a server setting): pg_stat_activity then tells
    which replica a session belongs to."""
    return f"{dsn}{'&' if '?' in dsn else '?'}application_name=replica-{name}"


class Replica:
    def __init__(self, tmp_path: Path, name: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"{name}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "service", "serve"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                            stderr=log, env={**env, "BRYGGA_PORT": str(self.port),
                                                             "BRYGGA_DATA_DIR": str(tmp_path / name),
                                                             "DATABASE_URL": _named(env["DATABASE_URL"], name)})
        self.name = name

    async def ready(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(self.base + "/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise AssertionError(f"replica not ready:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


async def test_two_replicas_share_decisions_documents_and_the_audit_chain(database_url, signing_keys, tokens, s3_blobs,
                                                                         tmp_path, db):
    ring = tmp_path / "ring.json"
    shutil.copy(signing_keys.keyring_path, ring)
    ring.chmod(0o600)
    env = service_env(tmp_path, DATABASE_URL=database_url, BRYGGA_JWKS=str(signing_keys.jwks_path),
                      BRYGGA_KEYRING=str(ring), BRYGGA_JWT_ISSUER=ISSUER, BRYGGA_JWT_AUDIENCE=AUDIENCE,
                      BRYGGA_BLOBS=s3_blobs, BRYGGA_AUDIT_SEAL_INTERVAL="0.1", BRYGGA_LOG_LEVEL="WARNING")
    replicas = [Replica(tmp_path, "a", env), Replica(tmp_path, "b", env)]
    try:
        async with aiohttp.ClientSession() as http:
            for replica in replicas:
                await replica.ready(http)
            a, b = (replica.base for replica in replicas)
            admin = tokens.auth(sub="admin-1", roles=["admin"])
            iof = tokens.auth(sub="hsa-iof", unit="iof", roles=["staff"])
            clinic = tokens.auth(sub="hsa-clinic", unit="beroendecentrum", roles=["staff"])

            async def call(method: str, url: str, headers: dict, **kwargs) -> tuple[int, bytes]:
                async with http.request(method, url, headers=headers, **kwargs) as response:
                    return response.status, await response.read()

            for unit, zone in (("iof", SOCIAL), ("beroendecentrum", HEALTH)):
                status, _ = await call("POST", f"{a}/v1/units", admin, json={"id": unit, "name": unit, **zone})
                assert status == 201
            status, body = await call("POST", f"{a}/v1/clients", iof,
                                      json={"personal_number": "19121212-1212", "name": "Tolvan Tolvansson"})
            assert status == 201
            person = uuid.UUID(__import__("json").loads(body)["id"])
            for headers in (iof, clinic):
                assert (await call("POST", f"{b}/v1/clients/{person}/relations", headers, json={}))[0] == 201
            content = files.pdf(3 * 65536 + 7)
            form = aiohttp.FormData()
            form.add_field("metadata", '{"category": "assessment", "title": "Utredning"}', content_type="application/json")
            form.add_field("file", content, filename="a.pdf", content_type="application/pdf")
            status, body = await call("POST", f"{a}/v1/clients/{person}/documents", iof, data=form)
            assert status == 201, body
            document = __import__("json").loads(body)["id"]
            [consent] = await _consents(db, person, ["active"])

            # Stored through one, read through the other (its segments from the bucket); the consent opens it.
            assert await call("GET", f"{b}/v1/documents/{document}/content", clinic) == (200, content)
            status, _ = await call("POST", f"{a}/v1/consents/{consent}/revoke", iof, json={"reason": "återkallat"})
            assert status == 200
            status, _ = await call("GET", f"{b}/v1/documents/{document}/content", clinic)
            assert status in (403, 404)  # the very next request through the other replica
            assert await db.fetchval(
                "SELECT count(*) FROM audit_events WHERE action = 'document.read_content' AND actor_sub = 'hsa-clinic' "
                "AND decision = 'deny'") == 1

            # The sealer: one replica holds its lock; kill that one.
            deadline = time.monotonic() + 10
            while not (held := await db.fetch(_sealer_sql, SEALER_LOCK)):
                assert time.monotonic() < deadline, "no replica seals the audit chain"
                await asyncio.sleep(0.1)
            sealer = next(r for r in replicas if held[0]["application_name"] == f"replica-{r.name}")
            survivor = next(r for r in replicas if r is not sealer)
            sealer.kill()
            killed_at = time.monotonic()
            status, _ = await call("GET", f"{survivor.base}/v1/documents/{document}", iof)  # a new event to seal
            assert status == 200
            newest = await db.fetchval("SELECT max(seq) FROM audit_events")
            while (await db.fetchval("SELECT coalesce(max(seq), 0) FROM audit_chain")) < newest:
                assert time.monotonic() - killed_at < 2.0, "the other replica did not take over sealing within 2 s"
                await asyncio.sleep(0.05)
            assert [row["application_name"] for row in await db.fetch(_sealer_sql, SEALER_LOCK)] == [
                f"replica-{survivor.name}"]
        verdict = await verify_chain(db, FileKeyProvider(ring).load().audit_public_keys)
        assert verdict.ok and verdict.head_seq == newest, verdict
    finally:
        for replica in replicas:
            replica.kill()


async def test_a_replica_opens_a_document_wrapped_under_an_epoch_another_made_a_moment_ago(settings, tokens, tmp_path):
    """Replica B read the ring before replica A made this month's culling epoch for an upload: B reads the ring again
    at once for that document instead of calling it tampered until its next once-a-second recheck."""
    from dataclasses import replace

    from aiohttp.test_utils import TestClient, TestServer

    from service.app import create_app
    from tests.conftest import Api

    ring = tmp_path / "fresh-ring.json"
    FileKeyProvider(ring).init()  # no culling epoch yet
    shared = replace(settings, keyring_path=ring)
    async with TestClient(TestServer(create_app(shared))) as b, TestClient(TestServer(create_app(shared))) as a:
        assert not b.app[RUNTIME].keyring.epoch_ids
        api = Api(a, tokens)
        await api.unit("iof", **SOCIAL)
        staff = api.staff("iof")
        person = (await api.register(staff))["id"]
        await api.relation(staff, person)
        form = aiohttp.FormData()
        form.add_field("metadata", '{"category": "assessment", "title": "Utredning"}', content_type="application/json")
        content = files.pdf(2000)
        form.add_field("file", content, filename="a.pdf", content_type="application/pdf")
        response = await a.post(f"/v1/clients/{person}/documents", headers=staff, data=form)
        assert response.status == 201
        document = await response.json()
        response = await b.get(f"/v1/documents/{document['id']}/content", headers=staff)
        assert response.status == 200 and await response.read() == content
