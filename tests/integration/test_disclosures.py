"""Disclosure without consent (OSL 25:12, 26:9; API-1.1 "Disclosure without consent").

The unit holding documents discloses named ones to a unit of the other domain; that unit reads exactly those
(basis `disclosure:<id>`, no relation needed), nothing else; both units list it; every refusal leaves no row and
one denied event; the ground under_18 holds only for a client under 18.
"""
from __future__ import annotations

import uuid

import pytest

from tests import files

SOCIAL = {"organisation": "malmo-stad", "domain": "social"}
HEALTH = {"organisation": "region-skane", "domain": "health"}
NEED = "Behövs för att beroendevården ska kunna planera behandlingen."



@pytest.fixture
async def world(client, api):
    """IFO (social) and a colleague unit, the clinic (health) and a second clinic unit; a minor and an adult."""
    for unit, zone in (("iof", SOCIAL), ("jour", SOCIAL), ("beroendecentrum", HEALTH), ("psykiatri", HEALTH)):
        await api.unit(unit, **zone)
    people = {name: api.staff(name, sub=f"hsa-{name}") for name in ("iof", "jour", "beroendecentrum", "psykiatri")}
    minor = (await api.register(people["iof"], "20121212-1212", "Ung Person"))["id"]
    adult = (await api.register(people["iof"]))["id"]
    docs: dict[str, dict] = {}
    for person, key in ((minor, "minor"), (adult, "adult")):
        for name in ("iof", "jour"):
            await api.relation(people[name], person)
        for name, category in (("iof", "statement"), ("iof", "journal_note"), ("jour", "assessment")):
            response = await client.post(f"/v1/clients/{person}/documents", headers=people[name],
                                         data=files.upload(category, f"{category} {key}"))
            assert response.status == 201, await response.text()
            docs[f"{key}:{name}:{category}"] = await response.json()
    return {"people": people, "minor": minor, "adult": adult, "docs": docs}


async def _disclose(client, headers, person, body):
    return await client.post(f"/v1/clients/{person}/disclosures", headers=headers, json=body)


def _body(document_ids, *, to_unit="beroendecentrum", ground="under_18", need=NEED):
    return {"to_unit": to_unit, "ground": ground, "need": need, "document_ids": document_ids}


async def _counts(db):
    return (await db.fetchval("SELECT count(*) FROM disclosures"),
            await db.fetchval("SELECT count(*) FROM disclosure_documents"))


async def test_the_receiver_reads_exactly_what_was_disclosed(client, world, db):
    people, docs = world["people"], world["docs"]
    statement = docs["minor:iof:statement"]
    response = await _disclose(client, people["iof"], world["minor"], _body([statement["id"]]))
    assert response.status == 201, await response.text()
    disclosure = await response.json()
    assert disclosure["from_unit"] == "iof" and disclosure["to_unit"] == "beroendecentrum"
    assert disclosure["ground"] == "under_18" and disclosure["need"] == NEED
    assert disclosure["document_ids"] == [statement["id"]] and disclosure["decided_by"] == "hsa-iof"
    event = await db.fetchrow("SELECT decision, basis, reason_codes, client_id FROM audit_events"
                              " WHERE action = 'disclosure.create'")
    assert (event["decision"], event["basis"], list(event["reason_codes"])) == (
        "allow", f"disclosure:{disclosure['id']}", ["under_18"])
    assert str(event["client_id"]) == world["minor"]

    clinic = people["beroendecentrum"]  # no relation with the client at all
    metadata = await client.get(f"/v1/documents/{statement['id']}", headers=clinic)
    assert metadata.status == 200
    assert (await metadata.json())["access_basis"] == f"disclosure:{disclosure['id']}"
    content = await client.get(f"/v1/documents/{statement['id']}/content", headers=clinic)
    assert content.status == 200 and len(await content.read()) == statement["size"]
    reads = await db.fetch("SELECT action, basis FROM audit_events WHERE actor_unit = 'beroendecentrum' ORDER BY seq")
    assert [(r["action"], r["basis"]) for r in reads] == [
        ("document.read_metadata", f"disclosure:{disclosure['id']}"),
        ("document.read_content", f"disclosure:{disclosure['id']}")]
    # Nothing else opens: the client's other documents, the client, the list (no relation), another clinic unit.
    for other in (docs["minor:iof:journal_note"], docs["minor:jour:assessment"], docs["adult:iof:statement"]):
        assert (await client.get(f"/v1/documents/{other['id']}", headers=clinic)).status == 404
    assert (await client.get(f"/v1/clients/{world['minor']}", headers=clinic)).status == 404
    assert (await client.get(f"/v1/clients/{world['minor']}/documents", headers=clinic)).status == 404
    assert (await client.get(f"/v1/documents/{statement['id']}", headers=people["psykiatri"])).status == 404
    # A block does not undo it: a handing-over cannot be taken back.
    blocked = await client.post(f"/v1/documents/{statement['id']}/block", headers=people["iof"], json={"reason": "begäran"})
    assert blocked.status == 200
    after = await client.get(f"/v1/documents/{statement['id']}", headers=clinic)
    assert after.status == 200
    assert (await after.json())["blocked"] is False  # the client's block is not the receiver's to learn
    assert (await (await client.get(f"/v1/documents/{statement['id']}", headers=people["iof"])).json())["blocked"]


async def test_with_a_relation_the_list_shows_the_disclosed_documents_and_no_others(client, api, world):
    people, docs = world["people"], world["docs"]
    statement = docs["minor:iof:statement"]
    response = await _disclose(client, people["iof"], world["minor"], _body([statement["id"]]))
    assert response.status == 201
    clinic = people["beroendecentrum"]
    await api.relation(clinic, world["minor"])
    listed = await client.get(f"/v1/clients/{world['minor']}/documents", headers=clinic)
    assert listed.status == 200
    items = (await listed.json())["items"]
    assert [(d["id"], d["access_basis"].split(":")[0]) for d in items] == [(statement["id"], "disclosure")]


async def test_both_units_list_it_and_no_one_else(client, world):
    people, docs = world["people"], world["docs"]
    made = await _disclose(client, people["iof"], world["minor"], _body([docs["minor:iof:statement"]["id"]]))
    disclosure = await made.json()
    for unit in ("iof", "beroendecentrum"):
        listed = await client.get(f"/v1/clients/{world['minor']}/disclosures", headers=people[unit])
        assert listed.status == 200, unit
        assert [d["id"] for d in (await listed.json())["items"]] == [disclosure["id"]]
    # The colleague unit of the same zone has a relation: it sees the client, but not a disclosure it neither made
    # nor received; the other clinic unit has no relation and received nothing: the client does not exist for it.
    colleague = await client.get(f"/v1/clients/{world['minor']}/disclosures", headers=people["jour"])
    assert colleague.status == 200 and (await colleague.json())["items"] == []
    assert (await client.get(f"/v1/clients/{world['minor']}/disclosures", headers=people["psykiatri"])).status == 404


async def test_newest_first_in_pages(client, world):
    people, docs = world["people"], world["docs"]
    ids = []
    for _ in range(3):
        response = await _disclose(client, people["iof"], world["minor"], _body([docs["minor:iof:statement"]["id"]]))
        ids.append((await response.json())["id"])
    first = await (await client.get(f"/v1/clients/{world['minor']}/disclosures?limit=2", headers=people["iof"])).json()
    assert [d["id"] for d in first["items"]] == ids[::-1][:2] and first["next_cursor"]
    rest = await (await client.get(f"/v1/clients/{world['minor']}/disclosures?limit=2&cursor={first['next_cursor']}",
                                   headers=people["iof"])).json()
    assert [d["id"] for d in rest["items"]] == ids[::-1][2:] and rest["next_cursor"] is None


@pytest.mark.parametrize(("case", "status", "code"), [
    ("same_domain", 422, "same_domain"),
    ("adult_under_18", 422, "ground_not_met"),
    ("another_units_document", 403, "not_owning_unit"),
    ("unknown_unit", 404, "not_found"),
    ("unknown_document", 404, "not_found"),
    ("another_clients_document", 404, "not_found"),
    ("shredded", 404, "not_found"),
    ("caller_without_relation", 404, "not_found"),
])
async def test_a_refusal_leaves_no_row_and_one_denied_event(client, world, db, tokens, case, status, code):
    people, docs = world["people"], world["docs"]
    person, headers = world["minor"], people["iof"]
    body = _body([docs["minor:iof:statement"]["id"]])
    if case == "same_domain":
        body["to_unit"] = "jour"
    elif case == "adult_under_18":
        person, body = world["adult"], _body([docs["adult:iof:statement"]["id"]])
    elif case == "another_units_document":
        body["document_ids"].append(docs["minor:jour:assessment"]["id"])
    elif case == "unknown_unit":
        body["to_unit"] = "no-such-unit"
    elif case == "unknown_document":
        body["document_ids"].append(str(uuid.uuid4()))
    elif case == "another_clients_document":
        body["document_ids"].append(docs["adult:iof:journal_note"]["id"])
    elif case == "shredded":
        manager = tokens.auth(sub="chef-iof", roles=["unit_manager"], unit="iof")
        shred = await client.delete(f"/v1/documents/{docs['minor:iof:journal_note']['id']}", headers=manager,
                                    json={"reason": "fel klient"})
        assert shred.status == 204, await shred.text()
        body["document_ids"].append(docs["minor:iof:journal_note"]["id"])
    elif case == "caller_without_relation":
        headers = world["people"]["psykiatri"]
        body["to_unit"] = "iof"
    before = await db.fetchval("SELECT max(seq) FROM audit_events")
    response = await _disclose(client, headers, person, body)
    assert response.status == status, await response.text()
    assert (await response.json())["code"] == code
    assert await _counts(db) == (0, 0)
    events = await db.fetch("SELECT action, decision FROM audit_events WHERE seq > $1", before)
    assert [(e["action"], e["decision"]) for e in events] == [("disclosure.create", "deny")]


@pytest.mark.parametrize("body", [
    {"to_unit": "beroendecentrum", "ground": "under_18", "need": "för kort", "document_ids": []},
    {"to_unit": "beroendecentrum", "ground": "because", "need": NEED, "document_ids": [str(uuid.uuid4())]},
    {"to_unit": "beroendecentrum", "ground": "lpt_lrv", "need": NEED, "document_ids": [str(uuid.uuid4())] * 2},
    {"to_unit": "beroendecentrum", "ground": "lpt_lrv", "need": NEED,
     "document_ids": [str(uuid.uuid4()) for _ in range(51)]},
    {"to_unit": "beroendecentrum", "ground": "lpt_lrv", "need": "            kort            ",
     "document_ids": [str(uuid.uuid4())]},
])
async def test_bad_bodies_are_validation_failed_and_leave_nothing(client, world, db, body):
    response = await _disclose(client, world["people"]["iof"], world["minor"], body)
    assert response.status == 422
    assert (await response.json())["code"] == "validation_failed"
    assert await _counts(db) == (0, 0)


async def test_a_system_may_not_disclose_and_learns_nothing_of_the_body(client, world, tokens, db):
    system = tokens.auth(sub="journal-system", roles=["system"], unit="iof")
    response = await _disclose(client, system, world["minor"], {"nonsense": True})
    assert response.status == 403 and (await response.json())["code"] == "forbidden_role"
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'disclosure.create'"
                             " AND decision = 'deny'") == 1


async def test_disclosures_are_never_edited_or_deleted(client, world, db):
    made = await _disclose(client, world["people"]["iof"], world["minor"],
                           _body([world["docs"]["minor:iof:statement"]["id"]], ground="ongoing_misuse"))
    assert made.status == 201
    import asyncpg
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.execute("UPDATE disclosures SET ground = 'lpt_lrv'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.execute("DELETE FROM disclosure_documents")


async def test_the_clients_extract_lists_the_disclosure(client, world, tokens):
    """API-1.1: the client's access-log extract lists disclosures (a handing-over of the client's data)."""
    people, docs = world["people"], world["docs"]
    made = await _disclose(client, people["iof"], world["minor"], _body([docs["minor:iof:statement"]["id"]]))
    disclosure = await made.json()
    auditor = tokens.auth(sub="granskare", roles=["auditor"], organisations=["malmo-stad"])
    extract = await client.get(f"/v1/clients/{world['minor']}/access-log", headers=auditor)
    assert extract.status == 200, await extract.text()
    entries = [(e["action"], e["basis"]) for e in (await extract.json())["items"]]
    assert ("disclosure.create", f"disclosure:{disclosure['id']}") in entries
