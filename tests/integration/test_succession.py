"""Reorganisations end to end (API-1.1 "Corrections and reorganisations"): a unit's records move to its successor
of the same zone in one transaction, consents and disclosures naming it are honoured for the successor at the next
request, and the audit log keeps the units as they were."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.integration.test_consents import clinic, consent_body  # noqa: F401  (the fixture)
from tests.integration.test_documents import created


def _now() -> str:
    return datetime.now(UTC).isoformat()


async def test_a_succession_moves_everything_and_a_consent_naming_the_old_unit_opens_for_the_new(client, api, clinic,
                                                                                                  db, tokens):
    people, client_id = clinic
    iof, clinician = people["iof"], people["clinician"]
    await api.unit("malmo-beroende-nya", organisation="region-skane", domain="health")
    heir = api.staff("malmo-beroende-nya", sub="hsa-heir")
    note = await created(client, clinician, client_id, b"Journal\n", content_type="text/plain",
                         category="journal_note", title="Journal")
    assessment = await created(client, iof, client_id, b"Utredning\n", content_type="text/plain",
                               category="assessment", title="Utredning")
    consent = consent_body(to={"organisation": "region-skane", "domain": "health", "unit": "malmo-beroendecentrum"})
    assert (await client.post(f"/v1/clients/{client_id}/consents", headers=iof, json=consent)).status == 201
    # Before: the heir has no relation and reads nothing; the old unit reads under the consent.
    assert (await client.get(f"/v1/documents/{note['id']}", headers=heir)).status == 404
    assert (await client.get(f"/v1/documents/{assessment['id']}", headers=clinician)).status == 200

    preview = await client.get("/v1/units/malmo-beroendecentrum/succession", headers=api.admin)
    assert await preview.json() == {"unit": "malmo-beroendecentrum", "documents": 1, "relations": 1, "consents": 1,
                                    "disclosures": 0, "sip_plans": 0,
                                    "blocked_documents": None}  # null: no successor in view
    response = await client.post("/v1/units/malmo-beroendecentrum/succession", headers=api.admin,
                                 json={"successor": "malmo-beroende-nya", "effective_at": _now()})
    assert response.status == 200, await response.text()
    moved = await response.json()
    assert (moved["documents"], moved["relations"], moved["consents"]) == (1, 1, 1)

    # At the next request: the heir owns the note, has the relation, and the consent naming the old unit opens for it.
    shown = await client.get(f"/v1/documents/{note['id']}", headers=heir)
    assert shown.status == 200 and (await shown.json())["unit"] == "malmo-beroende-nya"
    shown = await client.get(f"/v1/documents/{assessment['id']}", headers=heir)
    assert shown.status == 200 and (await shown.json())["access_basis"].startswith("consent:")
    # The old unit is deactivated: its tokens are refused.
    assert (await client.get(f"/v1/documents/{note['id']}", headers=clinician)).status in (401, 403)
    units = {u["id"]: u["active"] for u in (await (await client.get("/v1/units", headers=api.admin)).json())["items"]}
    assert units["malmo-beroendecentrum"] is False and units["malmo-beroende-nya"] is True
    # The audit log keeps who did what as it was: the upload by the old unit, the succession by the admin.
    upload = await db.fetchrow("SELECT actor_unit FROM audit_events WHERE action = 'document.create' "
                               "AND document_id = $1", uuid.UUID(note["id"]))
    assert upload["actor_unit"] == "malmo-beroendecentrum"
    # The extract too: the accesses before the succession name the old unit, as it was.
    auditor = tokens.auth(sub="granskare", roles=["auditor"], organisations=["region-skane"])
    extract = await client.get(f"/v1/clients/{client_id}/access-log?limit=200", headers=auditor)
    assert extract.status == 200, await extract.text()
    actors = {item["actor"]["unit"] for item in (await extract.json())["items"]}
    assert {"malmo-beroendecentrum", "malmo-beroende-nya"} <= actors
    event = await db.fetchrow("SELECT decision, basis FROM audit_events WHERE action = 'unit.succession'")
    assert (event["decision"], event["basis"]) == ("allow", "succession:malmo-beroendecentrum:malmo-beroende-nya")
    relations = await db.fetch("SELECT unit_id, ended_at IS NULL AS active FROM relations WHERE client_id = $1 "
                               "AND unit_id IN ('malmo-beroendecentrum', 'malmo-beroende-nya') ORDER BY unit_id",
                               uuid.UUID(client_id))
    assert [(r["unit_id"], r["active"]) for r in relations] == [("malmo-beroende-nya", True),
                                                              ("malmo-beroendecentrum", False)]
    # Once: a unit is succeeded once.
    again = await client.post("/v1/units/malmo-beroendecentrum/succession", headers=api.admin,
                              json={"successor": "malmo-beroende-nya", "effective_at": _now()})
    assert again.status == 409


async def test_a_succession_across_zones_is_refused_and_moves_nothing(client, api, clinic, db):
    people, client_id = clinic
    document = await created(client, people["iof"], client_id, b"Text\n", content_type="text/plain")
    for successor in ("malmo-beroendecentrum", "alingsas-ifo"):  # another organisation's, another domain's
        response = await client.post("/v1/units/malmo-iof/succession", headers=api.admin,
                                     json={"successor": successor, "effective_at": _now()})
        assert response.status == 422 and (await response.json())["code"] == "different_zone"
    assert await db.fetchval("SELECT unit_id FROM documents WHERE id = $1", uuid.UUID(document["id"])) == "malmo-iof"
    assert await db.fetchval("SELECT count(*) FROM unit_successions") == 0
    events = await db.fetch("SELECT decision, reason_codes FROM audit_events WHERE action = 'unit.succession'")
    assert [(e["decision"], list(e["reason_codes"])) for e in events] == [("deny", ["different_zone"])] * 2
    # Unknown units, a future instant, a caller who is no admin.
    response = await client.post("/v1/units/no-such-unit/succession", headers=api.admin,
                                 json={"successor": "malmo-iof", "effective_at": _now()})
    assert response.status == 404
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    response = await client.post("/v1/units/malmo-iof/succession", headers=api.admin,
                                 json={"successor": "malmo-iof", "effective_at": future})
    assert response.status == 422
    response = await client.post("/v1/units/malmo-iof/succession", headers=people["iof"],
                                 json={"successor": "malmo-iof", "effective_at": _now()})
    assert response.status == 403


async def test_a_disclosure_to_the_old_unit_opens_for_the_new_and_is_listed_there(client, api, clinic, db):
    people, _ = clinic
    iof, clinician = people["iof"], people["clinician"]
    minor = (await api.register(iof, "20121212-1212", "Ung Person"))["id"]
    await api.relation(iof, minor)
    await api.relation(clinician, minor)
    document = await created(client, iof, minor, b"Utredning\n", content_type="text/plain", category="assessment")
    response = await client.post(f"/v1/clients/{minor}/disclosures", headers=iof, json={
        "to_unit": "malmo-beroendecentrum", "ground": "under_18", "need": "Behövs för att planera vården.",
        "document_ids": [document["id"]]})
    assert response.status == 201, await response.text()
    await api.unit("malmo-beroende-nya", organisation="region-skane", domain="health")
    heir = api.staff("malmo-beroende-nya", sub="hsa-heir")
    assert (await client.get(f"/v1/documents/{document['id']}", headers=heir)).status == 404
    response = await client.post("/v1/units/malmo-beroendecentrum/succession", headers=api.admin,
                                 json={"successor": "malmo-beroende-nya", "effective_at": _now()})
    assert response.status == 200 and (await response.json())["disclosures"] == 1
    shown = await client.get(f"/v1/documents/{document['id']}", headers=heir)
    assert shown.status == 200 and (await shown.json())["access_basis"].startswith("disclosure:")
    listed = await client.get(f"/v1/clients/{minor}/disclosures", headers=heir)
    assert listed.status == 200 and [x["to_unit"] for x in (await listed.json())["items"]] == ["malmo-beroendecentrum"]
