"""Both blob stores keep the same promises (service/store/blobs.py, service/store/s3_blobs.py): a representative
subset of the document tests runs against the database's rows and against an S3 bucket on moto's server.

All or nothing, streamed and authenticated downloads, shredding and culling that reach the stored segments; and
for the object store, the sweeper that removes what an upload that never committed left behind, never what a
running one is writing.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from service.http.context import RUNTIME
from service.store.s3_blobs import S3BlobStore
from tests import files
from tests.integration.test_documents import created, upload, world  # noqa: F401  (fixture)
from tests.objectstore import BUCKET

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["postgres", "s3"])
def store(request) -> str:
    """BRYGGA_BLOBS for the test: the database, or a prefix of its own in a bucket of moto's S3 server."""
    return "postgres" if request.param == "postgres" else request.getfixturevalue("s3_blobs")


@pytest.fixture
def settings(settings, store):
    return replace(settings, blobs=store)


async def stored(client, db, s3, document_id) -> int:
    """How many segments of the document the store holds."""
    blobs = client.app[RUNTIME].blobs
    if isinstance(blobs, S3BlobStore):
        return len(s3.keys(f"{blobs.prefix}{document_id}/"))
    return await db.fetchval("SELECT count(*) FROM document_segments WHERE document_id = $1", uuid.UUID(str(document_id)))


async def all_stored(client, db, s3) -> int:
    """How many segments the store holds, of any document (an upload's pending marker is not one)."""
    blobs = client.app[RUNTIME].blobs
    if isinstance(blobs, S3BlobStore):
        return len([key for key in s3.keys(blobs.prefix) if not key.startswith(f"{blobs.prefix}pending/")])
    return await db.fetchval("SELECT count(*) FROM document_segments")


async def sweep(client) -> int:
    """The object store's sweeper with no age limit (the service waits an hour); the database store needs none."""
    rt = client.app[RUNTIME]
    if isinstance(rt.blobs, S3BlobStore):
        return await rt.blobs.sweep(rt.pool, older_than=timedelta(0))
    return 0


@pytest.fixture
def s3(request, store):
    """The S3 server when the test runs against it."""
    return request.getfixturevalue("s3_server") if store != "postgres" else None


# 17 segments: past the first batch (16) that is read with the audit event, so a later batch is read too.
@pytest.mark.parametrize("size", [2, 65536, 65537, 16 * 65536 + 5])
async def test_round_trip_across_segment_and_batch_boundaries(client, world, db, s3, size):
    content = (b"abcd\n" * (size // 5 + 1))[:size]
    document = await created(client, world["iof"], world["client"], content, content_type="text/plain")
    assert await stored(client, db, s3, document["id"]) == max(1, -(-size // 65536))
    response = await client.get(f"/v1/documents/{document['id']}/content", headers=world["iof"])
    assert response.status == 200 and await response.read() == content
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'document.read_content' "
                             "AND document_id = $1 AND decision = 'allow'", uuid.UUID(document["id"])) == 1
    # Nothing of the other zone opens it, whichever store holds it.
    assert (await client.get(f"/v1/documents/{document['id']}/content", headers=world["health"])).status == 404


async def test_an_upload_refused_midway_leaves_nothing_once_swept(client, world, db, s3, settings):
    kept = await created(client, world["iof"], world["client"], files.pdf(70_000))
    client.app[RUNTIME].settings = replace(settings, max_document_bytes=300_000)
    response = await upload(client, world["iof"], world["client"], files.pdf(600_000))
    assert (response.status, (await response.json())["code"]) == (413, "too_large")
    assert await db.fetchval("SELECT count(*) FROM documents") == 1
    await sweep(client)
    assert await all_stored(client, db, s3) == 2  # the committed document's two segments, nothing else
    assert await stored(client, db, s3, kept["id"]) == 2
    response = await client.get(f"/v1/documents/{kept['id']}/content", headers=world["iof"])
    assert response.status == 200 and len(await response.read()) == 70_000


async def test_a_running_upload_is_never_swept_and_an_abandoned_one_is(client, world, db, s3, store):
    if store == "postgres":
        pytest.skip("the database store writes inside the upload's transaction: there is nothing to sweep")
    during: list[int] = []

    async def slow_body():
        head = b"--b\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n"
        head += json.dumps({"category": "assessment", "title": "x"}).encode()
        head += b"\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
        yield head + files.pdf(600_000)
        for _ in range(200):  # the server writes its first batches (a loaded machine may take a while)
            await asyncio.sleep(0.05)
            if await all_stored(client, db, s3) >= 8:
                break
        during.append(await all_stored(client, db, s3))  # its objects, pending: no row names them
        during.append(await sweep(client))  # however old, a running upload's objects are not swept
        during.append(await all_stored(client, db, s3))
        raise ConnectionResetError("client went away")

    with pytest.raises((ConnectionResetError, aiohttp.ClientError)):
        await client.post(f"/v1/clients/{world['client']}/documents", data=slow_body(),
                          headers={**world["iof"], "Content-Type": "multipart/form-data; boundary=b"})
    assert during[0] >= 4 and during[1:] == [0, during[0]]
    for _ in range(300):  # the server notices the client has gone and rolls back
        if not await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND state = 'idle in transaction'"):
            break
        await asyncio.sleep(0.1)
    assert await db.fetchval("SELECT count(*) FROM documents") == 0
    rt = client.app[RUNTIME]
    assert await rt.blobs.sweep(rt.pool) == 0  # younger than an hour: the service's own sweeps leave them yet
    left = await all_stored(client, db, s3)
    assert left >= during[0]  # (more batches may have been written before the server saw the client go)
    assert await sweep(client) == left
    assert await all_stored(client, db, s3) == 0
    assert s3.keys(client.app[RUNTIME].blobs.prefix) == []  # its marker went too


async def test_the_sweeper_lists_only_pending_markers_and_settles_committed_ones(client, world, db, s3, store):
    if store == "postgres":
        pytest.skip("the database store writes inside the upload's transaction: there is nothing to sweep")
    document = await created(client, world["iof"], world["client"], files.pdf(70_000))
    blobs = client.app[RUNTIME].blobs
    assert f"{blobs.prefix}pending/{document['id']}" in s3.keys(blobs.prefix)
    assert await sweep(client) == 0  # committed: only its marker goes
    assert sorted(s3.keys(blobs.prefix)) == [f"{blobs.prefix}{document['id']}/{n:010d}" for n in range(2)]


async def test_shredding_deletes_the_stored_segments(client, api, world, db, s3):
    document = await created(client, world["iof"], world["client"], files.pdf(3 * 65536 + 1))
    other = await created(client, world["iof"], world["client"], files.pdf(2 * 65536 + 1))
    assert await stored(client, db, s3, document["id"]) == 4
    manager = api.staff("malmo-iof", sub="manager-1", roles=["unit_manager"])
    response = await client.delete(f"/v1/documents/{document['id']}", headers=manager, json={"reason": "wrong client"})
    assert response.status == 204
    assert await stored(client, db, s3, document["id"]) == 0
    assert await stored(client, db, s3, other["id"]) == 3
    assert await db.fetchval("SELECT decision FROM audit_events WHERE action = 'document.shred'") == "allow"
    content = await client.get(f"/v1/documents/{document['id']}/content", headers=world["iof"])
    assert (content.status, (await content.json())["code"]) == (410, "shredded")


async def test_a_missing_later_segment_aborts_after_authentic_bytes_only(client, world, db, s3):
    content = files.pdf(20 * 65536)
    document = await created(client, world["iof"], world["client"], content)
    blobs = client.app[RUNTIME].blobs
    if isinstance(blobs, S3BlobStore):
        s3.client().delete_object(Bucket=BUCKET, Key=f"{blobs.prefix}{document['id']}/{17:010d}")
    else:
        await db.execute("DELETE FROM document_segments WHERE document_id = $1 AND index = 17", uuid.UUID(document["id"]))
    response = await client.get(f"/v1/documents/{document['id']}/content", headers=world["iof"])
    assert response.status == 200  # headers left with the first authenticated segment
    received = bytearray()
    with pytest.raises(aiohttp.ClientPayloadError):
        async for chunk in response.content.iter_any():
            received += chunk
    assert len(received) <= 17 * 65536 and bytes(received) == content[: len(received)]
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE 'integrity_error' = ANY(reason_codes)") == 1


async def test_a_changed_first_segment_is_an_integrity_error(client, world, db, s3):
    document = await created(client, world["iof"], world["client"], files.pdf(100_000))
    blobs = client.app[RUNTIME].blobs
    if isinstance(blobs, S3BlobStore):
        s3 = s3.client()
        key = f"{blobs.prefix}{document['id']}/{0:010d}"
        body = bytearray(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        body[100] ^= 1
        s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(body))
    else:
        await db.execute("UPDATE document_segments SET ciphertext = set_byte(ciphertext, 100, get_byte(ciphertext, 100) # 1) "
                         "WHERE document_id = $1 AND index = 0", uuid.UUID(document["id"]))
    response = await client.get(f"/v1/documents/{document['id']}/content", headers=world["iof"])
    assert (response.status, (await response.json())["code"]) == (500, "integrity_error")
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE 'integrity_error' = ANY(reason_codes)") == 1


async def test_object_names_carry_nothing_but_the_document_id(client, world, db, s3, store):
    if store == "postgres":
        pytest.skip("rows, not object names")
    document = await created(client, world["iof"], world["client"], files.pdf(2 * 65536))
    blobs = client.app[RUNTIME].blobs
    assert sorted(s3.keys(blobs.prefix)) == [f"{blobs.prefix}{document['id']}/{n:010d}" for n in range(2)] + [
        f"{blobs.prefix}pending/{document['id']}"]
    body = s3.client().get_object(Bucket=BUCKET, Key=f"{blobs.prefix}{document['id']}/{0:010d}")["Body"].read()
    assert b"%PDF" not in body  # ciphertext only


async def test_retention_run_culls_the_stored_segments(client, api, world, db, s3, settings, database_url):
    """`retention run` (the CLI, its own process) opens the configured store: the culled documents' segments go."""
    ring = settings.data_dir / "own-ring.json"  # the run may destroy culling epochs: not in the session's ring
    shutil.copy(settings.keyring_path, ring)
    ring.chmod(0o600)
    due = [(await created(client, world["iof"], world["client"], files.pdf(70_000)))["id"] for _ in range(2)]
    await db.execute("UPDATE documents SET created_at = $1", datetime.now(UTC) - timedelta(days=365 * 6))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BRYGGA_")},
           "DATABASE_URL": database_url, "BRYGGA_KEYRING": str(ring), "BRYGGA_BLOBS": settings.blobs,
           "BRYGGA_DATA_DIR": str(settings.data_dir), "BRYGGA_JWKS": str(settings.jwks_path)}
    run = subprocess.run([sys.executable, "-m", "service", "retention", "run"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "culled 2 documents" in run.stdout
    assert await db.fetchval("SELECT count(*) FROM documents WHERE status = 'shredded'") == 2
    assert [await stored(client, db, s3, d) for d in due] == [0, 0]
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'document.cull'") == 2


async def test_a_missing_bucket_stops_start_up_with_one_line(s3_server, signing_keys, database_url, tmp_path):
    """The bucket is checked at start-up: a wrong name is an operator's error message, not a traceback, and not a
    failure at the first upload."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("BRYGGA_", "AWS_"))}, **s3_server.env(),
           "DATABASE_URL": database_url, "BRYGGA_KEYRING": str(signing_keys.keyring_path),
           "BRYGGA_BLOBS": "s3://no-such-bucket/x", "BRYGGA_DATA_DIR": str(tmp_path),
           "BRYGGA_JWKS": str(signing_keys.jwks_path), "BRYGGA_PORT": "0"}
    run = subprocess.run([sys.executable, "-m", "service", "serve"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith("brygga: BRYGGA_BLOBS: bucket no-such-bucket cannot be used"), run.stderr


async def test_concurrent_downloads_gathered_into_one_recording_each_get_their_own(client, world, db, s3):
    """Concurrent reads' events are recorded together (store/read_batches.py, BlobStore.firsts_after_events); each
    read still gets its own document's segments, and one with a segment missing fails alone."""
    contents = [files.pdf(70_000 + n) for n in range(8)]
    ids = [(await created(client, world["iof"], world["client"], content))["id"] for content in contents]
    blobs = client.app[RUNTIME].blobs
    if isinstance(blobs, S3BlobStore):
        s3.client().delete_object(Bucket=BUCKET, Key=f"{blobs.prefix}{ids[3]}/{0:010d}")
    else:
        await db.execute("DELETE FROM document_segments WHERE document_id = $1 AND index = 0", uuid.UUID(ids[3]))

    async def read(document_id: str) -> tuple[int, bytes]:
        response = await client.get(f"/v1/documents/{document_id}/content", headers=world["iof"])
        return response.status, await response.read()

    results = await asyncio.gather(*(read(document_id) for document_id in ids))
    assert [status for status, _ in results] == [200, 200, 200, 500, 200, 200, 200, 200]
    assert [body for (status, body) in results if status == 200] == contents[:3] + contents[4:]
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'document.read_content' "
                             "AND decision = 'allow'") == 8
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE 'integrity_error' = ANY(reason_codes)") == 1


async def test_a_corrected_documents_versions_outlive_the_sweeper_and_shred_with_it(client, api, world, db, s3):
    """A correction's new content is stored under its own content id: the sweeper must know it (and the old
    version's) as a document's, however old, and a shred takes every version's objects (#22 with #19)."""
    first = (b"forsta versionen\n" * 5000)[:70_000]
    document = await created(client, world["iof"], world["client"], first, content_type="text/plain")
    form = aiohttp.FormData()
    form.add_field("metadata", '{"reason": "Fel datum i anteckningen"}', content_type="application/json")
    form.add_field("file", b"andra versionen\n" * 10, filename="ny.txt", content_type="text/plain")
    response = await client.post(f"/v1/documents/{document['id']}/corrections", headers=world["iof"], data=form)
    assert response.status == 201, await response.text()
    await sweep(client)
    response = await client.get(f"/v1/documents/{document['id']}/content", headers=world["iof"])
    assert response.status == 200 and await response.read() == b"andra versionen\n" * 10
    response = await client.get(f"/v1/documents/{document['id']}/versions/1/content", headers=world["iof"])
    assert response.status == 200 and await response.read() == first
    manager = api.staff("malmo-iof", sub="manager-1", roles=["unit_manager"])
    response = await client.delete(f"/v1/documents/{document['id']}", headers=manager, json={"reason": "fel klient"})
    assert response.status == 204
    assert await all_stored(client, db, s3) == 0
