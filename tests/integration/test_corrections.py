"""Corrections end to end (API-1.1 "Corrections and reorganisations"; PDL 3:14): a new version, the old one kept,
readable by whoever may read the document, and gone with it when it is shredded."""
from __future__ import annotations

import json
import uuid

import aiohttp

from tests import files
from tests.integration.test_consents import clinic, consent_body  # noqa: F401  (the fixture)
from tests.integration.test_documents import created

REASON = "Fel klient angavs i anteckningen"


def correction_form(content: bytes | None, *, reason: str = REASON, title: str | None = None,
                    content_type: str = "text/plain") -> aiohttp.FormData:
    data = aiohttp.FormData()
    metadata: dict = {"reason": reason}
    if title is not None:
        metadata["title"] = title
    data.add_field("metadata", json.dumps(metadata), content_type="application/json")
    if content is not None:
        data.add_field("file", content, filename="doc.txt", content_type=content_type)
    return data


async def correct(client, headers, document_id, content: bytes | None = b"Ny text\n", **kwargs):
    return await client.post(f"/v1/documents/{document_id}/corrections", headers=headers,
                             data=correction_form(content, **kwargs))


async def content_of(client, headers, path: str) -> tuple[int, bytes]:
    response = await client.get(path, headers=headers)
    return response.status, await response.read()


async def test_a_correction_keeps_both_versions_readable_and_linked(client, clinic, db):
    people, client_id = clinic
    iof = people["iof"]
    document = await created(client, iof, client_id, b"Gammal text\n", content_type="text/plain",
                             category="assessment", title="Utredning")
    response = await correct(client, iof, document["id"], b"Ny text\n", title="Utredning (rättad)")
    assert response.status == 201, await response.text()
    corrected = await response.json()
    assert corrected["id"] == document["id"] and corrected["versions"] == 2
    assert corrected["title"] == "Utredning (rättad)" and corrected["size"] == len(b"Ny text\n")
    # The document reads as its latest version, in the list and alone.
    listed = (await (await client.get(f"/v1/clients/{client_id}/documents", headers=iof)).json())["items"]
    assert [(d["id"], d["title"], d["versions"]) for d in listed] == [(document["id"], "Utredning (rättad)", 2)]
    assert await content_of(client, iof, f"/v1/documents/{document['id']}/content") == (200, b"Ny text\n")
    # The history: oldest first, the old one marked corrected, when, by whom, why, and which replaced it.
    response = await client.get(f"/v1/documents/{document['id']}/versions", headers=iof)
    assert response.status == 200, await response.text()
    old, new = (await response.json())["items"]
    assert (old["number"], old["title"], old["reason"], old["corrected_by"], old["superseded_by"]) == \
        (1, "Utredning", REASON, "hsa-iof", 2)
    assert old["corrected_at"] is not None and old["created_at"] == document["created_at"]
    assert (new["number"], new["title"], new["corrected_at"], new["superseded_by"]) == (2, "Utredning (rättad)", None, None)
    assert await content_of(client, iof, f"/v1/documents/{document['id']}/versions/1/content") == (200, b"Gammal text\n")
    assert await content_of(client, iof, f"/v1/documents/{document['id']}/versions/2/content") == (200, b"Ny text\n")
    assert (await content_of(client, iof, f"/v1/documents/{document['id']}/versions/3/content"))[0] == 404
    # Each read of a version names the version read (its reasons: the log has no column for it), a refusal too.
    reads = await db.fetch("SELECT decision, reason_codes FROM audit_events WHERE action = 'document.read_content' "
                           "AND document_id = $1 ORDER BY seq", uuid.UUID(document["id"]))
    assert [(r["decision"], r["reason_codes"][-1]) for r in reads[-3:]] == [
        ("allow", "version:1"), ("allow", "version:2"), ("deny", "version:3")]
    # Each version under its own data key; the old content's segments untouched where its upload wrote them.
    keys = await db.fetch("SELECT dek_wrapped FROM documents WHERE id = $1 UNION ALL "
                          "SELECT dek_wrapped FROM document_versions WHERE document_id = $1", uuid.UUID(document["id"]))
    assert len({bytes(k["dek_wrapped"]) for k in keys}) == 2
    event = await db.fetchrow("SELECT decision, actor_sub, client_id::text FROM audit_events "
                              "WHERE action = 'document.correct'")
    assert (event["decision"], event["actor_sub"], event["client_id"]) == ("allow", "hsa-iof", client_id)
    # A new title alone: the content as it is, under a key of its own.
    response = await correct(client, iof, document["id"], None, title="Utredning (rättad igen)")
    assert response.status == 201, await response.text()
    assert (await response.json())["versions"] == 3
    assert await content_of(client, iof, f"/v1/documents/{document['id']}/content") == (200, b"Ny text\n")
    # Versions are never edited or deleted, not even by the service's own role.
    try:
        await db.execute("DELETE FROM document_versions")
        raise AssertionError("a version was deleted")
    except Exception as exc:  # noqa: BLE001
        assert "never edited or deleted" in str(exc)


async def test_only_the_owning_unit_corrects_and_with_a_reason(client, api, clinic, db):
    people, client_id = clinic
    document = await created(client, people["iof"], client_id, b"Text\n", content_type="text/plain")
    await api.unit("malmo-iof-2", organisation="malmo-stad", domain="social")
    other = api.staff("malmo-iof-2", sub="hsa-other")
    await api.relation(other, client_id)
    response = await correct(client, other, document["id"])
    assert response.status == 403 and (await response.json())["code"] == "not_owning_unit"
    response = await correct(client, people["iof"], document["id"], reason="kort")
    assert response.status == 422
    response = await correct(client, people["iof"], document["id"], None)  # neither file nor title
    assert response.status == 422
    assert await db.fetchval("SELECT count(*) FROM document_versions") == 0


async def test_a_cross_zone_reader_under_a_consent_sees_the_new_version_and_the_history(client, clinic, db):
    people, client_id = clinic
    iof, clinician = people["iof"], people["clinician"]
    document = await created(client, iof, client_id, b"Gammal\n", content_type="text/plain", category="assessment",
                             title="Utredning")
    assert (await client.post(f"/v1/clients/{client_id}/consents", headers=iof, json=consent_body())).status == 201
    assert (await correct(client, iof, document["id"], b"Ny\n", title="Utredning v2")).status == 201
    listed = (await (await client.get(f"/v1/clients/{client_id}/documents", headers=clinician)).json())["items"]
    assert [(d["title"], d["versions"], d["access_basis"].split(":")[0]) for d in listed] == \
        [("Utredning v2", 2, "consent")]
    response = await client.get(f"/v1/documents/{document['id']}/versions", headers=clinician)
    assert response.status == 200
    assert [v["title"] for v in (await response.json())["items"]] == ["Utredning", "Utredning v2"]
    assert await content_of(client, clinician, f"/v1/documents/{document['id']}/versions/1/content") == (200, b"Gammal\n")
    events = await db.fetch("SELECT action, basis FROM audit_events WHERE actor_sub = 'hsa-clinician' "
                            "AND document_id = $1 ORDER BY seq", uuid.UUID(document["id"]))
    assert [e["action"] for e in events][-2:] == ["document.read_metadata", "document.read_content"]
    assert all(e["basis"].startswith("consent:") for e in events)


async def test_the_other_zone_without_a_road_gets_the_404_of_an_unknown_document(client, clinic, db):
    people, client_id = clinic
    iof, clinician = people["iof"], people["clinician"]
    document = await created(client, iof, client_id, b"Gammal\n", content_type="text/plain", category="journal_note")
    assert (await correct(client, iof, document["id"])).status == 201
    unknown = uuid.uuid4()
    for path in ("versions", "versions/1/content", "versions/2/content"):
        hidden = await client.get(f"/v1/documents/{document['id']}/{path}", headers=clinician)
        none = await client.get(f"/v1/documents/{unknown}/{path}", headers=clinician)
        assert hidden.status == none.status == 404
        assert (await hidden.json()).keys() == (await none.json()).keys()
        assert (await hidden.json())["code"] == (await none.json())["code"] == "not_found"
    # Nor may it correct it: the same 404 as for an unknown document, and nothing written.
    hidden, none = await correct(client, clinician, document["id"]), await correct(client, clinician, unknown)
    assert hidden.status == none.status == 404
    assert await db.fetchval("SELECT count(*) FROM document_versions") == 1


async def test_a_shred_removes_every_version(client, api, clinic, db):
    people, client_id = clinic
    iof = people["iof"]
    manager = api.staff("malmo-iof", sub="hsa-manager", roles=["unit_manager"])
    document = await created(client, iof, client_id, files.pdf(), category="journal_note")
    assert (await correct(client, iof, document["id"], b"Ny\n")).status == 201
    assert (await correct(client, iof, document["id"], b"Nyare\n")).status == 201
    document_id = uuid.UUID(document["id"])
    content_ids = [r["content_id"] for r in await db.fetch(
        "SELECT content_id FROM document_versions WHERE document_id = $1 UNION ALL "
        "SELECT content_id FROM documents WHERE id = $1", document_id)]
    assert len(set(content_ids)) == 3
    assert await db.fetchval("SELECT count(*) FROM document_segments WHERE document_id = ANY($1::uuid[])",
                             content_ids) >= 3
    response = await client.delete(f"/v1/documents/{document['id']}", headers=manager, json={"reason": "Begäran"})
    assert response.status == 204, await response.text()
    assert await db.fetchval("SELECT count(*) FROM document_segments WHERE document_id = ANY($1::uuid[])",
                             content_ids) == 0
    assert await db.fetchval("SELECT count(*) FROM document_versions WHERE document_id = $1 AND "
                             "(status <> 'shredded' OR dek_wrapped IS NOT NULL)", document_id) == 0
    for number in (1, 2, 3):
        status, _ = await content_of(client, iof, f"/v1/documents/{document['id']}/versions/{number}/content")
        assert status == 410
    # The history stays, as tombstones: who corrected what, when and why (PDL 3:14).
    items = (await (await client.get(f"/v1/documents/{document['id']}/versions", headers=iof)).json())["items"]
    assert [(v["number"], v["status"]) for v in items] == [(1, "shredded"), (2, "shredded"), (3, "shredded")]
    # A shredded document is corrected no more.
    response = await correct(client, iof, document["id"])
    assert response.status == 410


async def test_a_block_covers_every_version(client, api, clinic, db):
    """The client's block (PDL 4:4) on the document hides its history and old versions outside the owning unit too."""
    people, client_id = clinic
    iof = people["iof"]
    await api.unit("malmo-socialjour", organisation="malmo-stad", domain="social")
    jour = api.staff("malmo-socialjour", sub="hsa-jour")
    await api.relation(jour, client_id)
    document = await created(client, iof, client_id, b"Gammal\n", content_type="text/plain")
    assert (await correct(client, iof, document["id"])).status == 201
    assert (await client.get(f"/v1/documents/{document['id']}/versions", headers=jour)).status == 200
    assert (await client.post(f"/v1/documents/{document['id']}/block", headers=iof,
                              json={"reason": "Klientens begäran"})).status == 200
    for path in ("versions", "versions/1/content", "versions/2/content"):
        assert (await client.get(f"/v1/documents/{document['id']}/{path}", headers=jour)).status == 404
        assert (await client.get(f"/v1/documents/{document['id']}/{path}", headers=iof)).status == 200
    reasons = await db.fetch("SELECT reason_codes FROM audit_events WHERE actor_sub = 'hsa-jour' AND decision = 'deny'")
    assert reasons and all(list(r["reason_codes"]) == ["blocked"] for r in reasons)
