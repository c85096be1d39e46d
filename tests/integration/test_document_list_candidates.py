"""A list reads only the documents the caller's zone, consents and grants can open (#11 item 11).

Before, a list fetched every document of the client and decided each: the more documents other zones
held, the longer it took, which told an insider of another zone that they exist. Now the store selects
the candidates (policies/candidates.py) and decide() confirms each. Two things are checked: the store
returns no row of a zone that nothing opens, however many there are (counted, not timed), and a list
shows exactly what reading each document's metadata allows, for every caller, purpose and category.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from service.http.context import RUNTIME
from service.store import documents as documents_store
from tests import files
from tests.plans import Explained, rows_read

SOCIAL_MALMO = {"organisation": "malmo-stad", "domain": "social"}
SOCIAL_LUND = {"organisation": "lund", "domain": "social"}
HEALTH_SKANE = {"organisation": "region-skane", "domain": "health"}
HEALTH_HALLAND = {"organisation": "region-halland", "domain": "health"}



def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


@pytest.fixture
async def world(client, api):
    """Five units in four zones, one client with a relation everywhere, documents of every kind everywhere."""
    units = {
        "iof": ("malmo-iof", SOCIAL_MALMO), "jour": ("malmo-socialjour", SOCIAL_MALMO),
        "lund": ("lund-iof", SOCIAL_LUND), "clinic": ("malmo-beroendecentrum", HEALTH_SKANE),
        "halland": ("halmstad-psykiatri", HEALTH_HALLAND),
    }
    people = {}
    for name, (unit, zone) in units.items():
        await api.unit(unit, **zone)
        people[name] = api.staff(unit)
    people["system"] = api.staff("malmo-iof", sub="journal-system", roles=["system"])
    person = (await api.register(people["iof"]))["id"]
    for name in units:
        await api.relation(people[name], person)
    documents = []
    for name in ("iof", "jour", "lund", "clinic", "halland", "system"):
        for category in ("assessment", "sip", "journal_note", "decision"):
            response = await client.post(f"/v1/clients/{person}/documents", headers=people[name],
                                          data=files.upload(category, f"{category} of {name}"))
            assert response.status == 201, await response.text()
            documents.append(await response.json())
    by_title = {d["title"]: d for d in documents}
    for title, owner in (("journal_note of iof", "iof"), ("decision of clinic", "clinic")):  # blocked on request
        blocked = await client.post(f"/v1/documents/{by_title[title]['id']}/block", headers=people[owner],
                                    json={"reason": "the client asked"})
        assert blocked.status == 200

    async def consent(holder: str, body: dict) -> dict:
        base = {"valid_from": _iso(-timedelta(minutes=1)), "valid_until": _iso(timedelta(days=30)),
                "given_by": "client", "form": "verbal", "maturity_assessed": False, "evidence_document_id": None}
        response = await client.post(f"/v1/clients/{person}/consents", headers=people[holder], json={**base, **body})
        assert response.status == 201, await response.text()
        return await response.json()

    # Malmö's social services open assessments and SIP to the region's clinic, for care and coordination;
    # Lund opens everything (but SIP) to the clinic for care; a consent Malmö revoked opened decisions.
    await consent("iof", {"from": SOCIAL_MALMO, "to": {**HEALTH_SKANE, "unit": None},
                          "categories": ["assessment", "sip"], "purposes": ["care", "coordination"]})
    await consent("lund", {"from": SOCIAL_LUND, "to": {**HEALTH_SKANE, "unit": "malmo-beroendecentrum"},
                           "categories": ["*"], "purposes": ["care"]})
    revoked = await consent("iof", {"from": SOCIAL_MALMO, "to": {**HEALTH_SKANE, "unit": None},
                                    "categories": ["decision"], "purposes": ["care"]})
    assert (await client.post(f"/v1/consents/{revoked['id']}/revoke", headers=people["iof"],
                              json={"reason": "the client withdrew it"})).status == 200
    # Halland's clinician opens emergency access: health records of every health zone.
    emergency = await client.post(f"/v1/clients/{person}/emergency-access", headers=people["halland"],
                                  json={"reason": "Medvetslös patient, akut behov av uppgifter om medicinering"})
    assert emergency.status == 201, await emergency.text()
    return {"people": people, "client": person, "documents": documents}


async def _listed(client, headers: dict, client_id: str, purpose: str, category: str | None) -> list[str]:
    seen, cursor = [], None
    while True:
        params = {"limit": "3", **({"category": category} if category else {}), **({"cursor": cursor} if cursor else {})}
        response = await client.get(f"/v1/clients/{client_id}/documents", params=params,
                                    headers={**headers, "Brygga-Purpose": purpose})
        assert response.status == 200, await response.text()
        page = await response.json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return seen


async def test_a_list_shows_exactly_what_reading_each_document_allows(client, world):
    people, client_id, documents = world["people"], world["client"], world["documents"]
    shown_somewhere = set()
    for name, headers in people.items():
        for purpose in ("care", "coordination"):
            readable = []
            for document in documents:
                response = await client.get(f"/v1/documents/{document['id']}",
                                            headers={**headers, "Brygga-Purpose": purpose})
                assert response.status in (200, 404), await response.text()
                if response.status == 200:
                    readable.append(document)
            for category in (None, "sip"):
                listed = await _listed(client, headers, client_id, purpose, category)
                want = [d["id"] for d in readable if category in (None, d["category"])]
                assert listed == want, (name, purpose, category)
                shown_somewhere |= set(listed)
    # The world exercises every road: own zone, consent (SIP only for coordination), emergency, block, uploader.
    titles = {d["id"]: d["title"] for d in documents}
    coordination = {titles[i] for i in await _listed(client, people["clinic"], client_id, "coordination", None)}
    assert coordination >= {"assessment of iof", "sip of iof", "assessment of system"}
    assert not coordination & {"decision of iof", "assessment of lund"}  # revoked; Lund's consent is for care only
    care = {titles[i] for i in await _listed(client, people["clinic"], client_id, "care", None)}
    assert care >= {"assessment of iof", "assessment of lund", "decision of lund"}
    assert not care & {"sip of iof", "sip of lund"}  # SIP only by name, for coordination
    halland = {titles[i] for i in await _listed(client, people["halland"], client_id, "care", None)}
    assert halland == {"assessment of halland", "sip of halland", "journal_note of halland", "decision of halland",
                       "assessment of clinic", "sip of clinic", "journal_note of clinic"}  # "decision of clinic" is blocked
    system = {titles[i] for i in await _listed(client, people["system"], client_id, "care", None)}
    assert system == {f"{category} of system" for category in ("assessment", "sip", "journal_note", "decision")}
    assert "journal_note of iof" not in {titles[i] for i in await _listed(client, people["jour"], client_id, "care", None)}


async def test_the_store_reads_no_document_of_a_zone_nothing_opens(client, api, world, db, monkeypatch):
    """200 documents of a zone without consent toward the caller: none of them leaves the database for a list."""
    people, client_id = world["people"], world["client"]
    before = await _listed(client, people["iof"], client_id, "care", None)
    # Copies of one of Halland's documents, each with its own id and title sealed to it (their content is not read).
    halland = await db.fetchval("SELECT id FROM documents WHERE organisation = 'region-halland' LIMIT 1")
    sealer = client.server.app[RUNTIME].field_sealer
    copies = [uuid.uuid4() for _ in range(200)]
    await db.executemany("""
        INSERT INTO documents (id, client_id, unit_id, organisation, domain, category, title_sealed, content_type, size,
                               content_mac, kek_version, dek_wrapped, stream_header, segment_count, created_by, created_at)
        SELECT $2, client_id, unit_id, organisation, domain, category, $3, content_type, size,
               content_mac, kek_version, dek_wrapped, stream_header, segment_count, created_by,
               created_at + $4 * interval '1 millisecond'
        FROM documents WHERE id = $1""",
        [(halland, copy, sealer.seal(f"hidden {n}", record="document", record_id=str(copy), field="title"), n)
         for n, copy in enumerate(copies, 1)])
    fetched = []
    page_of_client = documents_store.page_of_client

    async def counting(*args, **kwargs):
        rows = await page_of_client(*args, **kwargs)
        fetched.extend(rows)
        return rows

    monkeypatch.setattr(documents_store, "page_of_client", counting)
    for name, purpose in (("iof", "care"), ("clinic", "coordination"), ("system", "care")):
        fetched.clear()
        listed = await _listed(client, people[name], client_id, purpose, None)
        assert fetched and not [row for row in fetched if row["organisation"] == "region-halland"], name
        if name == "iof":
            assert listed == before
            # Every row read is one the list shows (pages overlap: each reads ahead of its limit).
            assert {str(row["id"]) for row in fetched} == set(listed)
    # The clinician holds no grant: Halland's 201 documents are not even candidates for it; Halland itself
    # still sees them all.
    fetched.clear()
    assert len(await _listed(client, people["halland"], client_id, "care", None)) == 4 + 200 + 3


async def _copies(db, sealer, template: uuid.UUID, count: int, *, other_clients: int = 0, blocked: bool = False) -> None:
    """`count` copies of a document, each with its own id and title sealed to it; spread over `other_clients`
    new clients when asked (their numbers and names are not read)."""
    clients = [uuid.uuid4() for _ in range(other_clients)]
    await db.executemany("INSERT INTO clients (id, personal_number_index, personal_number_sealed, name_sealed, "
                         "birth_date) VALUES ($1, $2, '\\x00', '\\x00', '1980-01-01')",
                         [(c, c.bytes) for c in clients])
    copies = [uuid.uuid4() for _ in range(count)]
    await db.executemany("""
        INSERT INTO documents (id, client_id, unit_id, organisation, domain, category, title_sealed, content_type, size,
                               content_mac, kek_version, dek_wrapped, stream_header, segment_count, created_by, created_at)
        SELECT $2, coalesce($5, client_id), unit_id, organisation, domain, category,
               $3, content_type, size, content_mac, kek_version, dek_wrapped, stream_header, segment_count, created_by,
               created_at + $4 * interval '1 millisecond'
        FROM documents WHERE id = $1""",
        [(template, copy, sealer.seal(f"copy {n}", record="document", record_id=str(copy), field="title"), n,
          clients[n % len(clients)] if clients else None) for n, copy in enumerate(copies, 1)])
    if blocked:
        await db.execute("UPDATE documents SET blocked = true, blocked_at = now(), blocked_by = 'test' "
                         "WHERE id = ANY($1::uuid[])", copies)
    await db.execute("ANALYZE documents")


async def test_a_list_reads_no_document_of_a_category_its_consent_does_not_name(client, world, db, monkeypatch):
    """The clinic may read Malmö's assessments and SIPs only, and no document blocked for another unit: 300 more
    of Malmö's decisions, of its assessments blocked for its own unit and of Halland's notes are not read at all
    for its list (counted from the executed plan), on a table of many clients."""
    people, client_id = world["people"], world["client"]
    sealer = client.server.app[RUNTIME].field_sealer
    by_title = {d["title"]: uuid.UUID(d["id"]) for d in world["documents"]}
    await _copies(db, sealer, by_title["assessment of clinic"], 3000, other_clients=300)
    reads = []
    page_of_client = documents_store.page_of_client

    async def explained(conn, *args, **kwargs):
        plans = Explained(conn)
        rows = await page_of_client(plans, *args, **kwargs)
        reads.append(rows_read(plans.plans[0], "documents"))
        return rows

    monkeypatch.setattr(documents_store, "page_of_client", explained)

    async def listing() -> tuple[list[str], list[int]]:
        reads.clear()
        listed = {(purpose, category): await _listed(client, people["clinic"], client_id, purpose, category)
                  for purpose in ("care", "coordination") for category in (None, "decision")}
        return listed, list(reads)

    before = await listing()
    await _copies(db, sealer, by_title["decision of iof"], 300)
    await _copies(db, sealer, by_title["assessment of iof"], 300, blocked=True)
    await _copies(db, sealer, by_title["journal_note of halland"], 300)
    assert await listing() == before
    assert any(before[0].values())
