"""Tampered storage is detected through the API: no unauthenticated byte ever leaves."""
from __future__ import annotations

import uuid

import aiohttp
import pytest

from tests import files
from tests.integration.test_documents import created, world  # noqa: F401  (fixture)


async def _flip(db, document_id: uuid.UUID, index: int, offset: int = 100) -> None:
    await db.execute(
        "UPDATE document_segments SET ciphertext = overlay(ciphertext placing "
        "set_byte(substring(ciphertext from $3 for 1), 0, get_byte(substring(ciphertext from $3 for 1), 0) # 1) "
        "from $3 for 1) WHERE document_id = $1 AND index = $2", document_id, index, offset)


async def _integrity_events(db) -> int:
    return await db.fetchval("SELECT count(*) FROM audit_events WHERE 'integrity_error' = ANY(reason_codes)")


async def test_tampered_first_segment_is_a_clean_500(client, world, db):
    document = await created(client, world["iof"], world["client"], files.pdf(100_000))
    await _flip(db, uuid.UUID(document["id"]), 0)
    response = await client.get(f"/v1/documents/{document['id']}/content", headers=world["iof"])
    assert (response.status, (await response.json())["code"]) == (500, "integrity_error")
    assert await _integrity_events(db) == 1


# A segment of the first batch (read with the audit event, decrypted as it is sent), and one of the second batch
# (read from the store after the first went out): either way the stream is cut before the forged segment.
@pytest.mark.parametrize("segments,index", [(5, 2), (20, 17)])
async def test_tampered_later_segment_aborts_after_authentic_bytes_only(client, world, db, segments, index):
    content = files.pdf(segments * 65536)
    document = await created(client, world["iof"], world["client"], content)
    await _flip(db, uuid.UUID(document["id"]), index)
    response = await client.get(f"/v1/documents/{document['id']}/content", headers=world["iof"])
    assert response.status == 200  # headers left with the first authenticated segment
    received = bytearray()
    with pytest.raises(aiohttp.ClientPayloadError):
        async for chunk in response.content.iter_any():
            received += chunk
    assert len(received) <= index * 65536 and bytes(received) == content[: len(received)]
    assert await _integrity_events(db) == 1


@pytest.mark.parametrize("tamper", ["swap", "move", "drop_last", "wrapped_key", "header"])
async def test_storage_tampering_is_refused(client, world, db, tamper):
    first = await created(client, world["iof"], world["client"], files.pdf(3 * 65536))
    second = await created(client, world["iof"], world["client"], files.pdf(3 * 65536))
    a, b = uuid.UUID(first["id"]), uuid.UUID(second["id"])
    if tamper == "swap":  # segments reordered within a document
        await db.execute("UPDATE document_segments s SET ciphertext = o.ciphertext FROM document_segments o "
                         "WHERE s.document_id = $1 AND o.document_id = $1 AND s.index IN (0, 1) AND o.index = 1 - s.index", a)
    elif tamper == "move":  # a segment from another document
        await db.execute("UPDATE document_segments SET ciphertext = (SELECT ciphertext FROM document_segments "
                         "WHERE document_id = $2 AND index = 0) WHERE document_id = $1 AND index = 0", a, b)
    elif tamper == "drop_last":  # truncation, the row count adjusted to match
        await db.execute("DELETE FROM document_segments WHERE document_id = $1 AND index = 2", a)
        await db.execute("UPDATE documents SET segment_count = 2 WHERE id = $1", a)
    elif tamper == "wrapped_key":  # another document's wrapped data key
        await db.execute("UPDATE documents SET dek_wrapped = (SELECT dek_wrapped FROM documents WHERE id = $2) "
                         "WHERE id = $1", a, b)
    elif tamper == "header":
        await db.execute("UPDATE documents SET stream_header = (SELECT stream_header FROM documents WHERE id = $2) "
                         "WHERE id = $1", a, b)
    response = await client.get(f"/v1/documents/{a}/content", headers=world["iof"])
    if response.status == 500:
        assert (await response.json())["code"] == "integrity_error"
    else:  # the first segment was intact: the stream must break before any forged byte
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    intact = await client.get(f"/v1/documents/{b}/content", headers=world["iof"])
    assert intact.status == 200 and len(await intact.read()) == 3 * 65536


async def test_title_copied_onto_another_document_does_not_open(client, world, db):
    first = await created(client, world["iof"], world["client"], title="Första")
    second = await created(client, world["iof"], world["client"], title="Andra")
    await db.execute("UPDATE documents SET title_sealed = (SELECT title_sealed FROM documents WHERE id = $2) WHERE id = $1",
                     uuid.UUID(second["id"]), uuid.UUID(first["id"]))
    response = await client.get(f"/v1/documents/{second['id']}", headers=world["iof"])
    assert (response.status, (await response.json())["code"]) == (500, "integrity_error")
    assert "Första" not in await response.text()
