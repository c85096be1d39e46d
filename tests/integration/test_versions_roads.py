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
