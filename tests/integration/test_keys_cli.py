"""keys rotate / rewrap / status against a live service: new KEK versions are picked up, old keys move, content stays."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from service.store.keys import SEALED_COLUMNS
from tests import files
from tests.conftest import Api
from tests.integration.test_documents import created

ROOT = Path(__file__).resolve().parents[2]


def _keys(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", "keys", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
async def own_ring_client(settings, tmp_path, signing_keys):
    ring = tmp_path / "ring.json"
    shutil.copy(signing_keys.keyring_path, ring)
    ring.chmod(0o600)
    app_settings = replace(settings, keyring_path=ring)
    async with TestClient(TestServer(create_app(app_settings))) as client:
        yield client, ring


async def test_rotate_rewrap_status(own_ring_client, tokens, db, database_url, tmp_path):
    client, ring = own_ring_client
    api = Api(client, tokens)
    await api.unit("malmo-iof")
    staff = api.staff("malmo-iof")
    client_id = (await api.register(staff))["id"]
    await api.relation(staff, client_id)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BRYGGA_")},
           "DATABASE_URL": database_url, "BRYGGA_KEYRING": str(ring), "BRYGGA_DATA_DIR": str(tmp_path)}

    old = [await created(client, staff, client_id, files.pdf(70_000)) for _ in range(3)]
    status = _keys("status", env=env)
    assert status.returncode == 0 and "KEK version 1: 3 data keys" in status.stdout

    rotated = _keys("rotate", env=env)
    assert rotated.returncode == 0 and "version 2" in rotated.stdout
    await asyncio.sleep(1.1)  # the service re-reads a changed ring at most once a second
    new = await created(client, staff, client_id, files.pdf(70_000))
    versions = await db.fetch("SELECT id, kek_version FROM documents")
    assert {r["id"]: r["kek_version"] for r in versions}[uuid.UUID(new["id"])] == 2
    segments_before = await db.fetch("SELECT document_id, index, ciphertext FROM document_segments ORDER BY 1, 2")

    rewrapped = _keys("rewrap", "--batch", "2", env=env)
    assert rewrapped.returncode == 0, rewrapped.stderr
    assert "rewrapped 2/3" in rewrapped.stdout and "rewrapped 3/3" in rewrapped.stdout
    assert await db.fetchval("SELECT array_agg(DISTINCT kek_version) FROM documents") == [2]
    assert await db.fetch("SELECT document_id, index, ciphertext FROM document_segments ORDER BY 1, 2") == segments_before
    status = _keys("status", env=env).stdout
    # The data keys moved; the fields sealed under version 1 (the client's name and number, the old titles) did not,
    # and status says so: version 1 must stay in the ring.
    sealed_v1 = 2 + 3  # personal number and name of the one client, the titles of the three old documents
    assert f"KEK version 1: 0 data keys, {sealed_v1} sealed fields" in status
    assert "KEK version 2: 4 data keys, 1 sealed fields  (newest" in status
    assert _keys("rewrap", env=env).stdout.strip().startswith("done: 0")  # resumable: nothing left

    for document in old + [new]:
        response = await client.get(f"/v1/documents/{document['id']}/content", headers=staff)
        assert response.status == 200 and len(await response.read()) == 70_000


async def test_status_counts_every_sealed_column_of_the_schema(db):
    """A new `*_sealed` column must join SEALED_COLUMNS, or status would call a version unused that still seals it."""
    columns = await db.fetch("SELECT table_name, column_name FROM information_schema.columns "
                             "WHERE table_schema = 'public' AND column_name LIKE '%\\_sealed'")
    assert {(r["table_name"], r["column_name"]) for r in columns} == set(SEALED_COLUMNS)
