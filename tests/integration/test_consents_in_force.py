"""A decision reads the consents in force, not the client's consent history (#13).

Before, every consent toward the caller's zone, revoked and expired ones included, was loaded, parsed and
checked for every decision: a read cost in proportion to the client's consent history. Now the facts carry
the consents policies.consents.in_force admits (store/facts.py says it in SQL over a partial index), and the
whole history is read only when a decision denies on the consent test, for the reasons the audit event names.
Checked here: the SQL selects what the pure rule selects; the rows the facts query reads do not grow with the
history (counted in the executed plan, not timed); a refusal still names why the old consents do not open.
"""
from __future__ import annotations

import json
import uuid

import aiohttp
import pytest

from policies.consents import in_force
from policies.model import Principal, Role, Zone
from service.store import facts as facts_store
from tests import files
from tests.plans import rows_read

SOCIAL = {"organisation": "malmo-stad", "domain": "social"}
HEALTH = {"organisation": "region-skane", "domain": "health"}
CLINIC = Principal(sub="hsa-clinic", name=None, roles=frozenset({Role.STAFF}), unit="beroendecentrum",
                   zone=Zone("region-skane", "health"))


@pytest.fixture
async def world(client, api):
    """A client of Malmö's social services and the region's clinic; one assessment held by social services."""
    await api.unit("iof", **SOCIAL)
    await api.unit("beroendecentrum", **HEALTH)
    iof, clinic = api.staff("iof", sub="hsa-iof"), api.staff("beroendecentrum", sub="hsa-clinic")
    person = (await api.register(iof))["id"]
    await api.relation(iof, person)
    await api.relation(clinic, person)
    data = aiohttp.FormData()
    data.add_field("metadata", json.dumps({"category": "assessment", "title": "Utredning"}),
                   content_type="application/json")
    data.add_field("file", files.pdf(1500), filename="a.pdf", content_type="application/pdf")
    response = await client.post(f"/v1/clients/{person}/documents", headers=iof, data=data)
    assert response.status == 201, await response.text()
    return {"client": uuid.UUID(person), "document": (await response.json())["id"], "clinic": clinic}


async def _consents(db, client_id: uuid.UUID, states: list[str], *, categories: tuple[str, ...] = ("assessment",)) -> list[uuid.UUID]:
    """Consents from social services to the clinic in `states` (active, revoked, expired, pending, unconfirmed),
    written directly: a history of years cannot be recorded through the API in a test."""
    ids = []
    for state in states:
        ident = uuid.uuid4()
        start, end = {"expired": (-40, -10), "pending": (10, 40)}.get(state, (-1, 30))
        await db.execute(
            "INSERT INTO consents (id, client_id, from_organisation, from_domain, to_organisation, to_domain, categories,"
            " purposes, valid_from, valid_until, given_by, form, maturity_assessed, recorded_by, recorded_by_unit,"
            " confirmed_at, confirmed_by, confirmed_by_unit, revoked_at, revoked_by)"
            " VALUES ($1, $2, 'malmo-stad', 'social', 'region-skane', 'health', $3::text[], '{care}',"
            " now() + make_interval(days => $4), now() + make_interval(days => $5), 'client', 'verbal', false, 'hsa-iof', 'iof',"
            " CASE WHEN $6 THEN NULL ELSE now() - interval '2 days' END, CASE WHEN $6 THEN NULL ELSE 'hsa-iof' END,"
            " CASE WHEN $6 THEN NULL ELSE 'iof' END,"
            " CASE WHEN $7 THEN now() - interval '1 hour' END, CASE WHEN $7 THEN 'hsa-iof' END)",
            ident, client_id, list(categories), start, end, state == "unconfirmed", state == "revoked")
        ids.append(ident)
    return ids


async def test_the_facts_carry_exactly_the_consents_the_pure_rule_holds_in_force(world, db):
    await _consents(db, world["client"], ["active", "revoked", "expired", "pending", "unconfirmed", "active"])
    facts = await facts_store.for_client(db, world["client"], principal=CLINIC)
    history = await facts_store.with_consent_history(db, world["client"], facts, principal=CLINIC)
    assert len(history.consents) == 6
    assert facts.now is not None and history.now == facts.now
    want = {c.id for c in history.consents if in_force(c, now=facts.now)}
    assert len(want) == 3  # the two active ones and the one awaiting confirmation (it is in force, unconfirmed)
    assert {c.id for c in facts.consents} == want


async def _consent_rows_read(db, document_id: str) -> int:
    row = await db.fetchrow("EXPLAIN (ANALYZE, FORMAT JSON) " + facts_store._document_facts_sql,
                            uuid.UUID(document_id), CLINIC.unit, "region-skane", "health", CLINIC.sub)
    return rows_read(json.loads(row[0])[0]["Plan"], "consents")


async def _others(db, count: int) -> None:
    """`count` clients of the installation with an active consent each: the table a clinic's decisions read in."""
    await db.execute(
        "INSERT INTO clients (id, personal_number_index, personal_number_sealed, name_sealed, birth_date)"
        " SELECT gen_random_uuid(), sha256(i::text::bytea), '\\x00', '\\x00', date '1980-01-01'"
        " FROM generate_series(1, $1) i", count)
    await db.execute(
        "INSERT INTO consents (id, client_id, from_organisation, from_domain, to_organisation, to_domain, categories,"
        " purposes, valid_from, valid_until, given_by, form, maturity_assessed, recorded_by, recorded_by_unit,"
        " confirmed_at, confirmed_by, confirmed_by_unit)"
        " SELECT gen_random_uuid(), id, 'malmo-stad', 'social', 'region-skane', 'health', '{*}', '{care}',"
        " now() - interval '1 day', now() + interval '30 days', 'client', 'verbal', false, 'hsa-iof', 'iof',"
        " now() - interval '1 day', 'hsa-iof', 'iof' FROM clients WHERE birth_date = date '1980-01-01'")


async def test_a_decision_reads_as_many_consents_whatever_the_history(world, db, client):
    await _others(db, 3000)
    await _consents(db, world["client"], ["active"])
    await _consents(db, world["client"], ["revoked", "expired"] * 50)
    await db.execute("ANALYZE consents")
    short = await _consent_rows_read(db, world["document"])
    await _consents(db, world["client"], ["revoked", "expired"] * 500)
    await db.execute("ANALYZE consents")
    long = await _consent_rows_read(db, world["document"])
    assert short == long == 1, (short, long)  # the one consent in force, and nothing of the history
    # And the read still crosses under it.
    response = await client.get(f"/v1/documents/{world['document']}", headers=world["clinic"])
    assert response.status == 200
    assert (await response.json())["access_basis"].startswith("consent:")


async def test_a_refusal_still_names_why_the_old_consents_do_not_open(world, db, client):
    await _consents(db, world["client"], ["revoked", "expired", "pending"])
    await _consents(db, world["client"], ["active"], categories=("decision",))  # in force, another category
    response = await client.get(f"/v1/documents/{world['document']}", headers=world["clinic"])
    assert response.status == 404
    event = await db.fetchrow("SELECT decision, reason_codes FROM audit_events WHERE action = 'document.read_metadata'"
                              " AND actor_sub = 'hsa-clinic' ORDER BY seq DESC LIMIT 1")
    assert event["decision"] == "deny"
    assert sorted(event["reason_codes"]) == ["category_not_covered", "consent_expired", "consent_pending",
                                             "consent_revoked"]
