"""Denied attempts leave their audit event too (DESIGN.md invariant 2): block, unblock, revoke from outside.

A denial that writes nothing is invisible to the auditor who must find repeated
attempts (HSLF-FS 2016:40 4:9): each test here reads the events the attempt left.
"""
from __future__ import annotations

import uuid

from tests.integration.test_consents import clinic, grant  # noqa: F401 (fixture)
from tests.integration.test_documents import created, world  # noqa: F401 (fixture)


async def _events(db, action: str) -> list[tuple[str, str, list[str], str | None]]:
    rows = await db.fetch("SELECT decision, actor_sub, reason_codes, actor_unit FROM audit_events "
                          "WHERE action = $1 ORDER BY seq", action)
    return [(r["decision"], r["actor_sub"], list(r["reason_codes"]), r["actor_unit"]) for r in rows]


async def test_a_refused_block_and_unblock_are_each_recorded_with_their_reason(client, api, world, db):
    document = await created(client, world["iof"], world["client"])
    path = f"/v1/documents/{document['id']}"
    assert (await client.post(f"{path}/block", headers=world["jour"], json={"reason": "klienten bad"})).status == 403
    system = api.staff("malmo-iof", sub="system-1", roles=["system"])
    assert (await client.post(f"{path}/block", headers=system, json={"reason": "klienten bad"})).status == 403
    assert (await client.post(f"{path}/unblock", headers=world["jour"], json={"reason": "klienten bad"})).status == 403
    unknown = await client.post(f"/v1/documents/{uuid.uuid4()}/block", headers=world["iof"], json={"reason": "x"})
    assert unknown.status == 404
    assert await _events(db, "document.block") == [
        ("deny", "staff-of-malmo-socialjour", ["not_owning_unit"], "malmo-socialjour"),
        ("deny", "system-1", ["forbidden_role"], "malmo-iof"),
        ("deny", "staff-of-malmo-iof", ["unknown_document"], "malmo-iof"),
    ]
    assert await _events(db, "document.unblock") == [
        ("deny", "staff-of-malmo-socialjour", ["not_owning_unit"], "malmo-socialjour"),
    ]
    assert (await db.fetchval("SELECT blocked FROM documents WHERE id = $1", uuid.UUID(document["id"]))) is False


async def test_a_zone_that_is_no_party_to_a_consent_cannot_revoke_it_and_the_attempt_is_recorded(client, clinic, db):
    people, client_id = clinic
    consent = await (await grant(client, people["iof"], client_id)).json()
    # Alingsås social services has a relation with the client but is neither the from nor the to zone.
    refused = await client.post(f"/v1/consents/{consent['id']}/revoke", headers=people["alingsas"],
                                json={"reason": "försök utifrån"})
    assert refused.status == 404 and (await refused.json())["code"] == "not_found"
    assert (await db.fetchval("SELECT revoked_at FROM consents WHERE id = $1", uuid.UUID(consent["id"]))) is None
    assert await _events(db, "consent.revoke") == [("deny", "hsa-alingsas", ["not_party"], "alingsas-ifo")]
    still = await client.get(f"/v1/consents/{consent['id']}", headers=people["iof"])
    assert (await still.json())["status"] == "active"
