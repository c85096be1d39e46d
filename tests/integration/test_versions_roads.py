"""The roads of a document's versions (insider attack 9): a system's uploader road does not read staff's history,
a correction after release waits for the release's delay, and reading an old version says which version."""
from __future__ import annotations

import uuid

from tests.integration.test_consents import clinic  # noqa: F401  (the fixture)
from tests.integration.test_corrections import correct
from tests.integration.test_documents import created


async def test_a_system_does_not_read_the_history_staff_added(client, clinic, tokens, db):
    people, client_id = clinic
    system = tokens.auth(sub="sys-journal", unit="malmo-iof", roles=["system"])
    document = await created(client, system, client_id, b"Fran systemet\n", content_type="text/plain",
                             category="journal_note", title="Sys")
    assert (await correct(client, people["iof"], document["id"], b"Personalens text\n", title="Personalens titel",
                          reason="Intern notering")).status == 201
    # Its own upload's metadata, as before; the history (staff's titles, who corrected, why) no.
    assert (await client.get(f"/v1/documents/{document['id']}", headers=system)).status == 200
    history = await client.get(f"/v1/documents/{document['id']}/versions", headers=system)
    body = await history.json()
    assert history.status == 403 and body["code"] == "forbidden_role", body
    assert "Intern notering" not in await history.text()
    # The same for a document it never uploaded: nothing is learned of which is which.
    unknown = await client.get(f"/v1/documents/{uuid.uuid4()}/versions", headers=system)
    assert unknown.status == 403 and (await unknown.json())["code"] == "forbidden_role"
    event = await db.fetchrow("SELECT decision, reason_codes FROM audit_events WHERE action = 'document.read_metadata'"
                              " AND actor_sub = 'sys-journal' AND document_id = $1 ORDER BY seq DESC LIMIT 1",
                              uuid.UUID(document["id"]))
    assert event["decision"] == "deny" and "forbidden_role" in event["reason_codes"]
    # Staff still read it.
    assert (await client.get(f"/v1/documents/{document['id']}/versions", headers=people["iof"])).status == 200


async def test_a_correction_after_a_delayed_release_waits_for_the_delay(client, clinic, tokens, db):
    """Insider attack 9, finding 4: a result released with a delay, then corrected, reached the client at once."""
    from datetime import UTC, datetime, timedelta

    people, client_id = clinic
    clinician = people["clinician"]
    me = tokens.auth(sub="191212121212", roles=["client"])
    document = await created(client, clinician, client_id, b"Provsvar normalt\n", content_type="text/plain",
                             category="journal_note", title="Provsvar")
    visible_from = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    released = await client.post(f"/v1/documents/{document['id']}/release", headers=clinician,
                                 json={"visible_from": visible_from})
    assert released.status in (200, 201), await released.text()
    # An hour has passed (the release moved back an hour, its delay kept): the client reads it.
    await db.execute("UPDATE document_releases SET released_at = released_at - interval '1 hour', "
                     "visible_from = visible_from - interval '1 hour'")
    path = f"/v1/me/documents/{document['id']}/content"
    assert (await client.get(path, headers=me)).status == 200
    assert (await correct(client, clinician, document["id"], b"Provsvar: samtal med lakare kravs\n",
                          reason="Fel provsvar inskannat")).status == 201
    # Held for the release's delay from the correction: neither the list nor the content shows it meanwhile.
    assert (await client.get(path, headers=me)).status == 404
    listed = await (await client.get("/v1/me/documents", headers=me)).json()
    assert document["id"] not in {item["id"] for item in listed["items"]}
    delay = await db.fetchval("SELECT h.visible_from - r.released_at FROM document_release_holds h "
                              "JOIN document_releases r USING (document_id)")
    assert delay >= timedelta(hours=1)
    await db.execute("UPDATE document_release_holds SET visible_from = now() - interval '1 second'")
    shown = await client.get(path, headers=me)
    assert shown.status == 200 and b"samtal" in await shown.read()
