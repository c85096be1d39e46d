"""Documents end to end: streamed encrypted upload, visibility, download, shredding, blocking."""
from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace

import aiohttp
import pytest

from service.http.context import RUNTIME
from tests import files

TITLE = "Bedömning AUDIT/DUDIT vecka 48"


def form(content: bytes, *, content_type: str = "application/pdf", category: str = "assessment",
         title: str = TITLE, metadata: object = None, filename: str = "doc.pdf") -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("metadata", json.dumps(metadata if metadata is not None else {"category": category, "title": title}),
                   content_type="application/json")
    data.add_field("file", content, filename=filename, content_type=content_type)
    return data


@pytest.fixture
async def world(api):
    """Two zones of Malmö and Region Skåne, a client with relations in both."""
    await api.unit("malmo-iof", organisation="malmo-stad", domain="social")
    await api.unit("malmo-socialjour", organisation="malmo-stad", domain="social")
    await api.unit("malmo-beroendecentrum", organisation="region-skane", domain="health")
    iof, jour, health = api.staff("malmo-iof"), api.staff("malmo-socialjour"), api.staff("malmo-beroendecentrum")
    client = await api.register(iof)
    for headers in (iof, jour, health):
        await api.relation(headers, client["id"])
    return {"iof": iof, "jour": jour, "health": health, "client": client["id"]}


async def upload(client, headers, client_id, content: bytes | None = None, **kwargs) -> aiohttp.ClientResponse:
    extra = kwargs.pop("extra_headers", {})
    return await client.post(f"/v1/clients/{client_id}/documents", headers={**headers, **extra},
                             data=form(content if content is not None else files.pdf(), **kwargs))


async def created(client, headers, client_id, content: bytes | None = None, **kwargs) -> dict:
    response = await upload(client, headers, client_id, content, **kwargs)
    assert response.status == 201, await response.text()
    return await response.json()


@pytest.mark.parametrize("make,content_type", [
    (files.pdf, "application/pdf"), (files.png, "image/png"), (files.jpeg, "image/jpeg"),
    (files.text, "text/plain; charset=utf-8"), (files.docx, files.DOCX), (files.odt, files.ODT),
])
async def test_upload_and_download_each_allowed_type(client, world, make, content_type):
    content = make()
    document = await created(client, world["iof"], world["client"], content, content_type=content_type)
    assert document["title"] == TITLE and document["size"] == len(content) and document["status"] == "active"
    assert document["content_type"] == content_type.split(";")[0]
    assert document["zone"] == {"organisation": "malmo-stad", "domain": "social"}
    assert document["access_basis"] == "own_zone" and document["blocked"] is False
    response = await client.get(f"/v1/documents/{document['id']}/content", headers=world["iof"])
    assert response.status == 200 and await response.read() == content
    assert response.headers["Content-Type"].startswith(content_type.split(";")[0])
    assert response.headers["Content-Disposition"] == "attachment"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-Id"]


@pytest.mark.parametrize("size", [2, 65535, 65536, 65537, 3 * 65536 + 17])
async def test_sizes_across_segment_boundaries(client, world, db, size):
    content = (b"abcd\n" * (size // 5 + 1))[:size]
    document = await created(client, world["iof"], world["client"], content, content_type="text/plain")
    segments = await db.fetchval("SELECT count(*) FROM document_segments WHERE document_id = $1", uuid.UUID(document["id"]))
    assert segments == max(1, -(-size // 65536))
    response = await client.get(f"/v1/documents/{document['id']}/content", headers=world["iof"])
    assert await response.read() == content


async def test_refused_uploads_leave_nothing(client, world, db):
    cases = [
        (b"", "application/pdf", 400, "empty_file"),
        (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "text/html", 415, "unsupported_media_type"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml", 415, "unsupported_media_type"),
        (b"#!/bin/sh\nrm -rf /\n", "text/plain", 415, "unsupported_media_type"),
        (b"\x7fELF\x02\x01\x01" + bytes(100), "application/octet-stream", 415, "unsupported_media_type"),
        (files.pdf(), "image/png", 415, "content_type_mismatch"),
        (files.pdf(), "", 415, "content_type_mismatch"),
        (b"", "text/html", 400, "empty_file"),  # empty is checked before sniffing
    ]
    for content, declared, status, code in cases:
        response = await upload(client, world["iof"], world["client"], content, content_type=declared or "application/octet-stream")
        body = await response.json()
        assert (response.status, body["code"]) == (status, code), (declared, body)
    assert await db.fetchval("SELECT count(*) FROM documents") == 0
    assert await db.fetchval("SELECT count(*) FROM document_segments") == 0


async def test_metadata_errors(client, world):
    cases = [
        ({"category": "gossip", "title": "x"}, 422, "validation_failed"),
        ({"category": "assessment"}, 422, "validation_failed"),
        ({"category": "assessment", "title": "x", "extra": 1}, 400, "invalid_request"),
        ({"category": "assessment", "title": ""}, 422, "validation_failed"),
    ]
    for metadata, status, code in cases:
        response = await upload(client, world["iof"], world["client"], metadata=metadata)
        assert (response.status, (await response.json())["code"]) == (status, code), metadata


async def test_parts_out_of_order_or_missing(client, world, db):
    data = aiohttp.FormData()
    data.add_field("file", files.pdf(), filename="a.pdf", content_type="application/pdf")
    data.add_field("metadata", json.dumps({"category": "assessment", "title": "x"}), content_type="application/json")
    response = await client.post(f"/v1/clients/{world['client']}/documents", headers=world["iof"], data=data)
    assert (response.status, (await response.json())["code"]) == (400, "invalid_request")
    only_metadata = aiohttp.FormData()
    only_metadata.add_field("metadata", json.dumps({"category": "assessment", "title": "x"}), content_type="application/json")
    response = await client.post(f"/v1/clients/{world['client']}/documents", headers=world["iof"], data=only_metadata)
    assert (response.status, (await response.json())["code"]) == (400, "invalid_request")
    response = await client.post(f"/v1/clients/{world['client']}/documents", headers=world["iof"], json={"category": "x"})
    assert (response.status, (await response.json())["code"]) == (415, "unsupported_media_type")
    assert await db.fetchval("SELECT count(*) FROM documents") == 0


async def test_too_large_is_refused_while_streaming(client, world, db, settings):
    rt = client.server.app[RUNTIME]
    rt.settings = replace(settings, max_document_bytes=300_000)
    response = await upload(client, world["iof"], world["client"], files.pdf(299_000))
    assert response.status == 201
    response = await upload(client, world["iof"], world["client"], files.pdf(2_000_000))
    assert (response.status, (await response.json())["code"]) == (413, "too_large")
    assert await db.fetchval("SELECT count(*) FROM documents") == 1
    assert await db.fetchval("SELECT count(*) FROM document_segments") == 5


async def test_idempotency_key(client, world, db):
    content = files.pdf(5000)
    first = await created(client, world["iof"], world["client"], content, extra_headers={"Idempotency-Key": "upload-42"})
    retry = await upload(client, world["iof"], world["client"], content, extra_headers={"Idempotency-Key": "upload-42"})
    assert retry.status == 200 and (await retry.json())["id"] == first["id"]
    other = await upload(client, world["iof"], world["client"], files.pdf(5000), extra_headers={"Idempotency-Key": "upload-42"})
    assert (other.status, (await other.json())["code"]) == (409, "idempotency_conflict")
    bad = await upload(client, world["iof"], world["client"], content, extra_headers={"Idempotency-Key": "x" * 129})
    assert (bad.status, (await bad.json())["code"]) == (400, "invalid_request")
    assert await db.fetchval("SELECT count(*) FROM documents") == 1


async def test_concurrent_uploads_with_one_key_store_one_document(client, world, db):
    content = files.pdf(200_000)
    responses = await asyncio.gather(*[
        upload(client, world["iof"], world["client"], content, extra_headers={"Idempotency-Key": "same"}) for _ in range(4)
    ])
    statuses = sorted(r.status for r in responses)
    assert statuses.count(201) == 1 and set(statuses) <= {200, 201, 409}
    assert await db.fetchval("SELECT count(*) FROM documents") == 1


async def test_cancelled_upload_leaves_nothing(client, world, db):
    """The client goes away mid-upload: the transaction rolls back, nothing is visible or stored."""
    observed = []

    async def slow_body():
        head = b"--b\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n"
        head += json.dumps({"category": "assessment", "title": "x"}).encode()
        head += b"\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
        yield head + files.pdf(300_000)
        await asyncio.sleep(0.3)
        # The server is mid-upload: segments written inside a transaction nobody else can see.
        observed.append(await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'"))
        observed.append(await db.fetchval("SELECT count(*) FROM document_segments"))
        raise ConnectionResetError("client went away")

    with pytest.raises((ConnectionResetError, aiohttp.ClientError)):
        await client.post(f"/v1/clients/{world['client']}/documents", data=slow_body(),
                          headers={**world["iof"], "Content-Type": "multipart/form-data; boundary=b"})
    assert observed == [1, 0]  # mid-upload: one open transaction, nothing visible outside it
    await asyncio.sleep(0.5)
    assert await db.fetchval("SELECT count(*) FROM documents") == 0
    assert await db.fetchval("SELECT count(*) FROM document_segments") == 0


async def test_visibility_own_zone_only(client, world):
    document = await created(client, world["iof"], world["client"])
    same_zone = await client.get(f"/v1/documents/{document['id']}", headers=world["jour"])
    assert same_zone.status == 200 and (await same_zone.json())["access_basis"] == "own_zone"
    for path in (f"/v1/documents/{document['id']}", f"/v1/documents/{document['id']}/content"):
        response = await client.get(path, headers=world["health"])
        assert (response.status, (await response.json())["code"]) == (404, "not_found")
    listing = await (await client.get(f"/v1/clients/{world['client']}/documents", headers=world["health"])).json()
    assert listing == {"items": [], "next_cursor": None}
    missing = await client.get(f"/v1/documents/{uuid.uuid4()}", headers=world["health"])
    assert (missing.status, (await missing.json())["code"]) == (404, "not_found")


async def test_no_relation_no_documents(client, api, world):
    await api.unit("malmo-ekonomi", organisation="malmo-stad", domain="social")
    stranger = api.staff("malmo-ekonomi")
    document = await created(client, world["iof"], world["client"])
    for path in (f"/v1/documents/{document['id']}", f"/v1/clients/{world['client']}/documents"):
        assert (await client.get(path, headers=stranger)).status == 404
    assert (await upload(client, stranger, world["client"])).status == 404


async def test_list_filters_and_paginates(client, world):
    made = [await created(client, world["iof"], world["client"], category=c) for c in ("assessment", "sip", "assessment", "sip", "sip")]
    await created(client, world["health"], world["client"], category="sip")  # other zone: never listed
    seen, cursor = [], None
    while True:
        params = {"limit": "2", "category": "sip", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get(f"/v1/clients/{world['client']}/documents", headers=world["iof"], params=params)).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [d["id"] for d in made if d["category"] == "sip"]
    for category in ("gossip", ""):  # the document's enum: an empty value is no category either
        bad = await client.get(f"/v1/clients/{world['client']}/documents", headers=world["iof"], params={"category": category})
        assert bad.status == 422 and (await bad.json())["errors"][0]["field"] == "category"


async def test_roles_on_documents(client, api, world, tokens):
    system = api.staff("malmo-iof", sub="clinic-system", roles=["system"])
    own = await created(client, system, world["client"])
    assert own["access_basis"] == "uploader"
    staff_doc = await created(client, world["iof"], world["client"])
    assert (await client.get(f"/v1/documents/{own['id']}", headers=system)).status == 200
    assert (await client.get(f"/v1/documents/{staff_doc['id']}", headers=system)).status == 404
    listing = await (await client.get(f"/v1/clients/{world['client']}/documents", headers=system)).json()
    assert [d["id"] for d in listing["items"]] == [own["id"]]
    for headers in (system, tokens.auth(roles=["auditor"]), tokens.auth(roles=["admin"])):
        response = await client.get(f"/v1/documents/{own['id']}/content", headers=headers)
        assert (response.status, (await response.json())["code"]) == (403, "forbidden_role")


async def test_purpose_header(client, world, db):
    document = await created(client, world["iof"], world["client"])
    response = await client.get(f"/v1/documents/{document['id']}/content", headers={**world["iof"], "Brygga-Purpose": "coordination"})
    assert response.status == 200
    assert await db.fetchval("SELECT purpose FROM audit_events WHERE action = 'document.read_content'") == "coordination"
    bad = await client.get(f"/v1/documents/{document['id']}/content", headers={**world["iof"], "Brygga-Purpose": "curiosity"})
    assert bad.status == 422


async def test_shredding(client, api, world, db):
    document = await created(client, world["iof"], world["client"])
    doc_id = uuid.UUID(document["id"])
    manager = api.staff("malmo-iof", sub="manager-1", roles=["unit_manager"])
    other_manager = api.staff("malmo-socialjour", sub="manager-2", roles=["unit_manager"])
    response = await client.delete(f"/v1/documents/{doc_id}", headers=world["iof"], json={"reason": "wrong client"})
    assert (response.status, (await response.json())["code"]) == (403, "forbidden_role")
    response = await client.delete(f"/v1/documents/{doc_id}", headers=other_manager, json={"reason": "wrong client"})
    assert (response.status, (await response.json())["code"]) == (403, "not_owning_unit")
    response = await client.delete(f"/v1/documents/{doc_id}", headers=manager, json={})
    assert response.status == 422
    assert (await client.delete(f"/v1/documents/{doc_id}", headers=manager, json={"reason": "wrong client"})).status == 204
    row = await db.fetchrow("SELECT * FROM documents WHERE id = $1", doc_id)
    assert row["status"] == "shredded" and row["dek_wrapped"] is None and row["stream_header"] is None
    assert await db.fetchval("SELECT count(*) FROM document_segments WHERE document_id = $1", doc_id) == 0
    content = await client.get(f"/v1/documents/{doc_id}/content", headers=world["iof"])
    assert (content.status, (await content.json())["code"]) == (410, "shredded")
    tombstone = await (await client.get(f"/v1/documents/{doc_id}", headers=world["iof"])).json()
    assert tombstone["status"] == "shredded" and tombstone["title"] == TITLE
    # Invisible documents stay 404 even when shredded.
    assert (await client.get(f"/v1/documents/{doc_id}/content", headers=world["health"])).status == 404


async def test_blocking(client, world):
    document = await created(client, world["iof"], world["client"])
    path = f"/v1/documents/{document['id']}"
    response = await client.post(f"{path}/block", headers=world["jour"], json={"reason": "client asked"})
    assert (response.status, (await response.json())["code"]) == (403, "not_owning_unit")
    response = await client.post(f"{path}/block", headers=world["iof"], json={"reason": "client asked"})
    assert response.status == 200 and (await response.json())["blocked"] is True
    assert (await client.get(path, headers=world["iof"])).status == 200
    assert (await client.get(path, headers=world["jour"])).status == 404
    listing = await (await client.get(f"/v1/clients/{world['client']}/documents", headers=world["jour"])).json()
    assert listing["items"] == []
    response = await client.post(f"{path}/unblock", headers=world["iof"], json={"reason": "client withdrew the block"})
    assert (await response.json())["blocked"] is False
    assert (await client.get(path, headers=world["jour"])).status == 200


async def test_every_document_access_is_audited(client, world, db):
    document = await created(client, world["iof"], world["client"])
    doc_id = uuid.UUID(document["id"])
    await client.get(f"/v1/documents/{doc_id}", headers=world["iof"])
    await client.get(f"/v1/documents/{doc_id}/content", headers=world["iof"])
    await client.get(f"/v1/documents/{doc_id}/content", headers=world["health"])
    await client.get(f"/v1/clients/{world['client']}/documents", headers=world["jour"])
    rows = await db.fetch("SELECT action, decision, reason_codes, basis, document_id FROM audit_events "
                          "WHERE action LIKE 'document.%' ORDER BY seq")
    assert [(r["action"], r["decision"], list(r["reason_codes"])) for r in rows] == [
        ("document.create", "allow", []),
        ("document.read_metadata", "allow", []),
        ("document.read_content", "allow", []),
        ("document.read_content", "deny", ["no_consent"]),
        ("document.list", "allow", []),
    ]
    assert all(r["document_id"] == doc_id for r in rows[:4])


async def test_no_plaintext_at_rest(client, world, db):
    marker = b"PLAINTEXT-MARKER-7f3a"
    await created(client, world["iof"], world["client"], files.pdf(150_000, marker=marker), title="Titel-MARKER-91c2")
    await created(client, world["iof"], world["client"], files.text("Hemlig anteckning MARKER-55e1\n" * 100),
                  content_type="text/plain")
    markers = [marker, b"MARKER-91c2", b"MARKER-55e1", b"Tolvan", b"19121212", b"121212"]
    tables = [r["tablename"] for r in await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert {"documents", "document_segments", "clients", "audit_events"} <= set(tables)
    for table in tables:
        rows = await db.fetch(f"SELECT * FROM {table}")
        blob = b"\n".join(
            bytes(value) if isinstance(value, bytes | bytearray) else str(value).encode()
            for row in rows for value in row.values()
        )
        for needle in markers:
            assert needle not in blob, (table, needle)


async def test_abandoned_downloads_give_their_connections_back(client, world):
    """A client that hangs up mid-download must not keep a pool connection (the pool holds 10)."""
    content = (b"0123456789abcdef\n" * 60_000)[:12 * 65536 + 5]
    document = await created(client, world["iof"], world["client"], content, content_type="text/plain")
    pool = client.server.app[RUNTIME].pool
    for _ in range(pool.get_max_size() + 3):
        response = await client.get(f"/v1/documents/{document['id']}/content", headers=world["iof"])
        assert response.status == 200
        assert len(await response.content.readexactly(1000)) == 1000
        response.close()  # hang up with most of the document unsent
    for _ in range(100):
        if pool.get_idle_size() == pool.get_size():
            break
        await asyncio.sleep(0.05)
    assert pool.get_idle_size() == pool.get_size()
    response = await client.get(f"/v1/documents/{document['id']}/content", headers=world["iof"])
    assert await response.read() == content


async def test_a_deactivated_unit_is_shut_out_of_content_at_once_though_its_zone_is_remembered(client, api, world, db):
    """The download checks the unit inside its facts query (no round trip of its own): still at once."""
    document = await created(client, world["iof"], world["client"])
    path = f"/v1/documents/{document['id']}/content"
    assert (await client.get(path, headers=world["iof"])).status == 200  # the zone is now remembered
    assert (await client.patch("/v1/units/malmo-iof", headers=api.admin, json={"active": False})).status == 200
    refused = await client.get(path, headers=world["iof"])
    assert refused.status == 401 and (await refused.json())["code"] == "unknown_unit"
    unknown = await client.get(f"/v1/documents/{uuid.uuid4()}/content", headers=world["iof"])
    assert unknown.status == 401  # an unknown document does not skip the check
    assert (await client.patch("/v1/units/malmo-iof", headers=api.admin, json={"active": True})).status == 200
    assert (await client.get(path, headers=world["iof"])).status == 200
