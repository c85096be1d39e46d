"""Consents and emergency access end to end: nothing crosses a zone without a consent that covers it, right now."""
from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from tests import files
from tests.integration.test_documents import created

SOCIAL_MALMO = {"organisation": "malmo-stad", "domain": "social"}
HEALTH_SKANE = {"organisation": "region-skane", "domain": "health"}


def _iso(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def consent_body(**overrides) -> dict:
    body = {"from": SOCIAL_MALMO, "to": {**HEALTH_SKANE, "unit": None}, "categories": ["sip", "assessment"],
            "purposes": ["care", "coordination"], "valid_from": _iso(-timedelta(minutes=1)),
            "valid_until": _iso(timedelta(days=90)), "given_by": "client", "form": "verbal",
            "maturity_assessed": False, "evidence_document_id": None, "note": "Samtycke vid SIP-möte"}
    body.update(overrides)
    return body


@pytest.fixture
async def clinic(api):
    """Malmö: social services and the region's addiction clinic under one roof; Alingsås and VGR beside."""
    units = {
        "iof": ("malmo-iof", "malmo-stad", "social"),
        "clinician": ("malmo-beroendecentrum", "region-skane", "health"),
        "psychiatry": ("malmo-psykiatri", "region-skane", "health"),
        "alingsas": ("alingsas-ifo", "alingsas-kommun", "social"),
        "minimaria": ("alingsas-mini-maria", "vgr", "health"),
    }
    people = {}
    for role, (unit, organisation, domain) in units.items():
        await api.unit(unit, organisation=organisation, domain=domain)
        people[role] = api.staff(unit, sub=f"hsa-{role}")
    client = (await api.register(people["iof"]))["id"]
    for headers in people.values():
        await api.relation(headers, client)
    return people, client


async def grant(client, headers, client_id, **overrides):
    return await client.post(f"/v1/clients/{client_id}/consents", headers=headers, json=consent_body(**overrides))


async def visible(client, headers, client_id, purpose: str = "care") -> dict[str, str]:
    response = await client.get(f"/v1/clients/{client_id}/documents", headers={**headers, "Brygga-Purpose": purpose})
    assert response.status == 200, await response.text()
    return {d["title"]: d["access_basis"] for d in (await response.json())["items"]}


async def test_a_clinic_day(client, api, clinic, db):
    people, client_id = clinic
    iof, clinician = people["iof"], people["clinician"]
    sip = await created(client, iof, client_id, category="sip", title="SIP")
    assessment = await created(client, iof, client_id, category="assessment", title="Utredning")
    await created(client, iof, client_id, category="journal_note", title="Journal")
    health_note = await created(client, people["minimaria"], client_id, category="journal_note", title="Mini-Maria")

    assert await visible(client, clinician, client_id) == {}  # secrecy between zones by default

    response = await grant(client, iof, client_id)
    assert response.status == 201, await response.text()
    consent = await response.json()
    assert consent["status"] == "active" and consent["recorded_by"] == "hsa-iof" and consent["revoked_at"] is None
    basis = f"consent:{consent['id']}"

    # Exactly the covered categories for the purpose asked; SIP only for coordination.
    assert await visible(client, clinician, client_id, "care") == {"Utredning": basis}
    assert await visible(client, clinician, client_id, "coordination") == {"SIP": basis, "Utredning": basis}
    assert await visible(client, clinician, client_id, "followup") == {}
    content = await client.get(f"/v1/documents/{assessment['id']}/content", headers=clinician)
    assert content.status == 200
    # Another unit of the same recipient zone is covered too; other organisations stay closed.
    assert await visible(client, people["psychiatry"], client_id) == {"Utredning": basis}
    assert await visible(client, people["alingsas"], client_id) == {}
    assert await visible(client, people["minimaria"], client_id) == {"Mini-Maria": "own_zone"}

    # A block wins over the consent outside the owning unit.
    await client.post(f"/v1/documents/{assessment['id']}/block", headers=iof, json={"reason": "klientens begäran"})
    assert await visible(client, clinician, client_id) == {}
    await client.post(f"/v1/documents/{assessment['id']}/unblock", headers=iof, json={"reason": "hävd"})

    # Revocation closes at once.
    revoked = await client.post(f"/v1/consents/{consent['id']}/revoke", headers=iof, json={"reason": "klienten återkallar"})
    body = await revoked.json()
    assert revoked.status == 200 and body["status"] == "revoked" and body["revoked_by"] == "hsa-iof"
    assert await visible(client, clinician, client_id, "coordination") == {}
    again = await client.get(f"/v1/documents/{assessment['id']}/content", headers=clinician)
    assert again.status == 404

    # Emergency opens health records only, flagged.
    emergency = await client.post(f"/v1/clients/{client_id}/emergency-access", headers=clinician,
                                  json={"reason": "Medvetslös patient, akut behov av uppgifter om medicinering"})
    assert emergency.status == 201
    grant_id = (await emergency.json())["id"]
    assert await visible(client, clinician, client_id) == {"Mini-Maria": f"emergency:{grant_id}"}
    assert (await client.get(f"/v1/documents/{health_note['id']}/content", headers=clinician)).status == 200
    assert (await client.get(f"/v1/documents/{sip['id']}/content", headers=clinician)).status == 404

    events = await db.fetch("SELECT action, decision, basis, flagged, reason_codes FROM audit_events "
                            "WHERE actor_sub = 'hsa-clinician' AND action = 'document.read_content' ORDER BY seq")
    assert [(e["decision"], e["basis"], e["flagged"]) for e in events] == [
        ("allow", basis, False),
        ("deny", "none", False),
        ("allow", f"emergency:{grant_id}", True),
        ("deny", "none", False),
    ]
    assert list(events[1]["reason_codes"]) == ["consent_revoked"]
    opened = await db.fetchrow("SELECT flagged, basis FROM audit_events WHERE action = 'emergency.open'")
    assert opened["flagged"] and opened["basis"] == f"emergency:{grant_id}"


async def test_consent_to_one_unit(client, clinic):
    people, client_id = clinic
    await created(client, people["iof"], client_id, category="assessment", title="Utredning")
    response = await grant(client, people["iof"], client_id, to={**HEALTH_SKANE, "unit": "malmo-psykiatri"})
    assert response.status == 201
    assert await visible(client, people["psychiatry"], client_id) != {}
    assert await visible(client, people["clinician"], client_id) == {}
    wrong = await grant(client, people["iof"], client_id, to={**HEALTH_SKANE, "unit": "malmo-iof"})
    assert wrong.status == 422 and (await wrong.json())["errors"][0]["field"] == "to.unit"


async def test_pending_consent_opens_nothing_until_valid_from(client, clinic):
    people, client_id = clinic
    await created(client, people["iof"], client_id, category="assessment", title="Utredning")
    response = await grant(client, people["iof"], client_id, valid_from=_iso(timedelta(days=1)))
    assert (await response.json())["status"] == "pending"
    assert await visible(client, people["clinician"], client_id) == {}


@pytest.mark.parametrize("overrides,code,field", [
    ({"to": {**SOCIAL_MALMO, "unit": None}}, "same_zone", "to"),
    ({"valid_until": _iso(-timedelta(days=1))}, "invalid_period", "valid_until"),
    ({"valid_until": _iso(timedelta(days=800))}, "invalid_period", "valid_until"),
    ({"form": "written"}, "evidence_required", "evidence_document_id"),
    ({"from": {"organisation": "vgr", "domain": "health"}}, "validation_failed", "from"),
    ({"categories": ["gossip"]}, "validation_failed", None),
    ({"purposes": []}, "validation_failed", "purposes"),
    ({"given_by": "neighbour"}, "validation_failed", "given_by"),
])
async def test_recording_rules(client, clinic, db, overrides, code, field):
    people, client_id = clinic
    before = await db.fetchval("SELECT max(seq) FROM audit_events")
    response = await grant(client, people["iof"], client_id, **overrides)
    problem = await response.json()
    assert (response.status, problem["code"]) == (422, code), problem
    if field:
        assert field in [e["field"] for e in problem["errors"]]
    # A refusal by the recording rules is a refused access: one denied event (attack report 5, finding 6); one
    # the body's schema refuses never reached a decision and leaves none.
    events = [(e["action"], e["decision"], list(e["reason_codes"])) for e in await db.fetch(
        "SELECT action, decision, reason_codes FROM audit_events WHERE seq > $1", before)]
    ruled = code != "validation_failed" or field == "from"
    assert events == ([("consent.grant", "deny", ["consent_rules"])] if ruled else [])


async def test_unknown_field_and_bad_json(client, clinic):
    people, client_id = clinic
    response = await client.post(f"/v1/clients/{client_id}/consents", headers=people["iof"], json={**consent_body(), "scope": "all"})
    assert (response.status, (await response.json())["code"]) == (400, "invalid_request")


async def test_written_consent_needs_a_consent_form_of_the_same_client(client, api, clinic):
    people, client_id = clinic
    other = await api.register(people["iof"], "19701072-1236", "Sam Ordning")
    await api.relation(people["iof"], other["id"])
    note = await created(client, people["iof"], client_id, category="journal_note")
    foreign_form = await created(client, people["iof"], other["id"], category="consent_form")
    form = await created(client, people["iof"], client_id, files.pdf(), category="consent_form", title="Signerat samtycke")
    for evidence in (note["id"], foreign_form["id"], str(uuid.uuid4())):
        response = await grant(client, people["iof"], client_id, form="written", evidence_document_id=evidence)
        assert (await response.json())["code"] == "evidence_required"
    response = await grant(client, people["iof"], client_id, form="written", evidence_document_id=form["id"])
    assert response.status == 201 and (await response.json())["evidence_document_id"] == form["id"]


async def test_minor_needs_guardian_or_maturity_assessment(client, api, clinic):
    people, _ = clinic
    minor = (await api.register(people["iof"], "20121212-1212", "Ung Person"))["id"]
    await api.relation(people["iof"], minor)
    response = await grant(client, people["iof"], minor)
    assert (await response.json())["code"] == "minor_requires_guardian_or_maturity"
    guardian = {"name": "Vårdnadshavare Tolvansson", "personal_number": "19121212-1212"}  # named since #14
    assert (await grant(client, people["iof"], minor, given_by="guardian", guardian=guardian)).status == 201
    assert (await grant(client, people["iof"], minor, maturity_assessed=True)).status == 201


async def test_history_read_and_never_edited(client, clinic, db):
    people, client_id = clinic
    first = await (await grant(client, people["iof"], client_id)).json()
    await client.post(f"/v1/consents/{first['id']}/revoke", headers=people["iof"], json={"reason": "återkallat"})
    second = await (await grant(client, people["clinician"], client_id, categories=["*"])).json()
    history = await (await client.get(f"/v1/clients/{client_id}/consents", headers=people["iof"])).json()
    # Recorded by the receiving zone, the second waits for the holding zone (API-1.1; it was active at once in v1).
    assert [(c["id"], c["status"]) for c in history["items"]] == [(first["id"], "revoked"),
                                                                  (second["id"], "awaiting_confirmation")]
    assert (await client.get(f"/v1/clients/{client_id}/consents", headers=people["alingsas"])).status == 200
    assert (await (await client.get(f"/v1/clients/{client_id}/consents", headers=people["alingsas"])).json())["items"] == []
    one = await client.get(f"/v1/consents/{first['id']}", headers=people["clinician"])
    assert one.status == 200 and (await one.json())["note"] == "Samtycke vid SIP-möte"
    assert (await client.get(f"/v1/consents/{first['id']}", headers=people["alingsas"])).status == 404
    again = await client.post(f"/v1/consents/{first['id']}/revoke", headers=people["iof"], json={"reason": "igen"})
    assert (await again.json())["revoked_at"] == (await one.json())["revoked_at"]
    consent_id = uuid.UUID(first["id"])
    for statement in ("UPDATE consents SET categories = '{*}' WHERE id = $1", "DELETE FROM consents WHERE id = $1",
                      "UPDATE consents SET revoked_at = NULL, revoked_by = NULL WHERE id = $1"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.execute(statement, consent_id)


async def test_fhir_r4_consent(client, clinic):
    people, client_id = clinic
    consent = await (await grant(client, people["iof"], client_id, to={**HEALTH_SKANE, "unit": "malmo-psykiatri"})).json()
    response = await client.get(f"/v1/consents/{consent['id']}/fhir", headers=people["iof"])
    assert response.status == 200 and response.content_type == "application/fhir+json"
    resource = await response.json()
    # Required by R4: status (code), scope (CodeableConcept), category (1..*), policy or policyRule (ppc-1).
    assert resource["resourceType"] == "Consent" and resource["id"] == consent["id"]
    assert resource["status"] == "active"
    assert resource["scope"]["coding"][0] == {"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                             "code": "patient-privacy", "display": "Privacy Consent"}
    assert resource["category"][0]["coding"][0]["code"] == "59284-0"
    assert "policyRule" in resource or "policy" in resource
    assert resource["patient"] == {"reference": f"Patient/{client_id}"}
    assert resource["dateTime"].endswith("Z")
    provision = resource["provision"]
    assert provision["type"] == "permit"
    assert provision["period"]["start"] < provision["period"]["end"]
    for actor in provision["actor"]:  # actor.role 1..1, actor.reference 1..1
        assert actor["role"]["coding"][0]["code"] and actor["reference"]
    recipient = next(a for a in provision["actor"] if a["role"]["coding"][0]["code"] == "IRCP")
    assert recipient["reference"]["identifier"]["value"] == "malmo-psykiatri"
    assert {p["code"] for p in provision["purpose"]} == {"TREAT", "COC"}
    assert {c["code"] for c in provision["class"]} == {"sip", "assessment"}
    assert resource["verification"] == [{"verified": True, "verificationDate": resource["verification"][0]["verificationDate"],
                                         "verifiedWith": {"identifier": {"system": "urn:brygga:staff", "value": "hsa-iof"}}}]
    await client.post(f"/v1/consents/{consent['id']}/revoke", headers=people["iof"], json={"reason": "återkallat"})
    revoked = await (await client.get(f"/v1/consents/{consent['id']}/fhir", headers=people["iof"])).json()
    assert revoked["status"] == "inactive" and revoked["provision"]["period"]["end"] < provision["period"]["end"]


async def test_emergency_rules(client, clinic, db):
    people, client_id = clinic
    path = f"/v1/clients/{client_id}/emergency-access"
    short = await client.post(path, headers=people["clinician"], json={"reason": "akut"})
    assert (short.status, (await short.json())["code"]) == (422, "validation_failed")
    social = await client.post(path, headers=people["clinician"], json={"reason": "x" * 25, "domain": "social"})
    assert (social.status, (await social.json())["code"]) == (422, "emergency_not_permitted")
    opened = await client.post(path, headers=people["clinician"], json={"reason": "Akut förgiftning, behöver läkemedelslista"})
    grant = await opened.json()
    lifetime = datetime.fromisoformat(grant["expires_at"]) - datetime.fromisoformat(grant["opened_at"])
    assert opened.status == 201 and lifetime == timedelta(hours=4)
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'emergency.open' AND flagged") == 1
    assert await db.fetchval("SELECT domain FROM emergency_grants WHERE id = $1", uuid.UUID(grant["id"])) == "health"
    # The refused domain is decided in policies/ like every access, and audited as a denial.
    refused = await db.fetch("SELECT decision, reason_codes FROM audit_events WHERE action = 'emergency.open' "
                             "AND decision = 'deny'")
    assert [list(r["reason_codes"]) for r in refused] == [["emergency_domain_not_permitted"]]


async def test_an_emergency_grant_opens_only_the_domain_it_was_opened_for(settings, client, clinic, db):
    """With BRYGGA_EMERGENCY_DOMAINS=health,social a grant for health reads health records, not social ones."""
    people, client_id = clinic
    clinician = people["clinician"]
    social = await created(client, people["iof"], client_id, category="assessment", title="Utredning")
    health = await created(client, people["minimaria"], client_id, category="journal_note", title="Mini-Maria")
    reason = "Medvetslös patient, akut behov av uppgifter om medicinering"
    async with TestClient(TestServer(create_app(dataclasses.replace(settings, emergency_domains=("health", "social"))))) as both:
        opened = await both.post(f"/v1/clients/{client_id}/emergency-access", headers=clinician,
                                 json={"reason": reason, "domain": "health"})
        assert opened.status == 201 and (await opened.json())["domain"] == "health"
        health_grant = (await opened.json())["id"]
        assert await visible(both, clinician, client_id) == {"Mini-Maria": f"emergency:{health_grant}"}
        assert (await both.get(f"/v1/documents/{health['id']}/content", headers=clinician)).status == 200
        assert (await both.get(f"/v1/documents/{social['id']}/content", headers=clinician)).status == 404
        assert (await both.get(f"/v1/documents/{social['id']}", headers=clinician)).status == 404
        denied = await db.fetchrow("SELECT decision, reason_codes FROM audit_events WHERE action = 'document.read_content' "
                                   "AND document_id = $1", uuid.UUID(social["id"]))
        assert (denied["decision"], list(denied["reason_codes"])) == ("deny", ["emergency_domain_not_covered"])
        # A grant opened for social records opens them, on its own basis.
        opened = await both.post(f"/v1/clients/{client_id}/emergency-access", headers=clinician,
                                 json={"reason": reason, "domain": "social"})
        social_grant = (await opened.json())["id"]
        assert (await both.get(f"/v1/documents/{social['id']}/content", headers=clinician)).status == 200
        assert await visible(both, clinician, client_id) == {"Mini-Maria": f"emergency:{health_grant}",
                                                             "Utredning": f"emergency:{social_grant}"}
    stored = await db.fetch("SELECT id::text, domain FROM emergency_grants ORDER BY opened_at")
    assert [(r["id"], r["domain"]) for r in stored] == [(health_grant, "health"), (social_grant, "social")]


@pytest.mark.parametrize("emergency_domains", [("health",), ("health", "social")])
async def test_only_units_of_a_permitted_domain_open_emergency_access(settings, client, clinic, db, emergency_domains):
    """Emergency access is health care's rule: social staff open none by default (403, audited as a denial)."""
    people, client_id = clinic
    await created(client, people["minimaria"], client_id, category="journal_note", title="Mini-Maria")
    body = {"reason": "Klienten medvetslös i väntrummet, behöver veta vad som ordinerats", "domain": "health"}
    async with TestClient(TestServer(create_app(dataclasses.replace(settings, emergency_domains=emergency_domains)))) as app:
        response = await app.post(f"/v1/clients/{client_id}/emergency-access", headers=people["iof"], json=body)
        if "social" in emergency_domains:  # an installation that chose to let social services open it
            assert response.status == 201, await response.text()
            return
        problem = await response.json()
        assert (response.status, problem["code"]) == (403, "emergency_not_permitted"), problem
        # Decided before the client is looked at: an unknown client answers the same.
        unknown = await app.post(f"/v1/clients/{uuid.uuid4()}/emergency-access", headers=people["iof"], json=body)
        assert (unknown.status, (await unknown.json())["code"]) == (403, "emergency_not_permitted")
        assert await visible(app, people["iof"], client_id) == {}
    assert await db.fetchval("SELECT count(*) FROM emergency_grants") == 0
    events = await db.fetch("SELECT decision, basis, flagged, reason_codes, client_id::text FROM audit_events "
                            "WHERE action = 'emergency.open' ORDER BY seq")
    assert [(e["decision"], e["basis"], e["flagged"], list(e["reason_codes"])) for e in events] == [
        ("deny", "none", False, ["emergency_not_permitted"])] * 2
    assert events[0]["client_id"] == client_id


async def test_revocation_is_effective_on_every_replica(settings, tokens, clinic, client):
    """Two service instances on one database: revoke on one, the other refuses the very next read."""
    people, client_id = clinic
    document = await created(client, people["iof"], client_id, category="assessment", title="Utredning")
    consent = await (await grant(client, people["iof"], client_id)).json()
    async with TestClient(TestServer(create_app(settings))) as replica:
        path = f"/v1/documents/{document['id']}/content"
        assert (await replica.get(path, headers=people["clinician"])).status == 200
        revoked = await client.post(f"/v1/consents/{consent['id']}/revoke", headers=people["iof"], json={"reason": "nu"})
        assert revoked.status == 200
        assert (await replica.get(path, headers=people["clinician"])).status == 404


# --- Consents the receiving zone records wait for the holding zone (API-1.1 "Side doors closed")


async def confirm(client, headers, consent_id):
    return await client.post(f"/v1/consents/{consent_id}/confirm", headers=headers)


async def consent_events(db, action: str) -> list[tuple]:
    rows = await db.fetch("SELECT actor_sub, decision, reason_codes, consent_id::text FROM audit_events "
                          "WHERE action = $1 ORDER BY seq", action)
    return [(r["actor_sub"], r["decision"], list(r["reason_codes"]), r["consent_id"]) for r in rows]


async def listed(client, headers, client_id, status: str | None = None) -> list[tuple[str, str]]:
    query = f"?status={status}" if status else ""
    response = await client.get(f"/v1/clients/{client_id}/consents{query}", headers=headers)
    assert response.status == 200, await response.text()
    return [(c["id"], c["status"]) for c in (await response.json())["items"]]


async def test_a_consent_the_receiving_zone_records_opens_nothing_until_the_holding_zone_confirms_it(client, api, clinic, db):
    """The clinic records 'social services may give us their assessments': nothing opens until social services confirm."""
    people, client_id = clinic
    clinician, iof = people["clinician"], people["iof"]
    assessment = await created(client, iof, client_id, category="assessment", title="Utredning")
    response = await grant(client, clinician, client_id)
    recorded = await response.json()
    assert response.status == 201 and recorded["status"] == "awaiting_confirmation"
    assert (recorded["confirmed_at"], recorded["confirmed_by"], recorded["confirmed_by_unit"]) == (None, None, None)
    consent_id = recorded["id"]

    # Nothing opens: not listed, no content, the refusal audited with its reason.
    assert await visible(client, clinician, client_id) == {}
    assert await visible(client, people["psychiatry"], client_id, "coordination") == {}
    assert (await client.get(f"/v1/documents/{assessment['id']}/content", headers=clinician)).status == 404
    refused = await db.fetchval("SELECT reason_codes FROM audit_events WHERE action = 'document.read_content'")
    assert list(refused) == ["consent_unconfirmed"]
    fhir = await (await client.get(f"/v1/consents/{consent_id}/fhir", headers=clinician)).json()
    assert fhir["status"] == "proposed" and fhir["verification"] == [{"verified": False}]  # the receiver's word alone

    # The holding zone sees it waiting; so does the receiving zone; other zones see nothing.
    assert await listed(client, iof, client_id, "awaiting_confirmation") == [(consent_id, "awaiting_confirmation")]
    assert await listed(client, clinician, client_id, "awaiting_confirmation") == [(consent_id, "awaiting_confirmation")]
    assert await listed(client, people["alingsas"], client_id, "awaiting_confirmation") == []

    # Other zones: 404, as if there were none; the receiving zone cannot confirm its own recording (403);
    # a unit of the holding zone without a relation with the client: 404.
    await api.unit("malmo-iof-norr", organisation="malmo-stad", domain="social")
    stranger = api.staff("malmo-iof-norr", sub="hsa-stranger")
    for headers in (people["alingsas"], people["minimaria"], stranger):
        assert (await confirm(client, headers, consent_id)).status == 404
    for headers in (clinician, people["psychiatry"]):
        answer = await confirm(client, headers, consent_id)
        assert (answer.status, (await answer.json())["code"]) == (403, "not_holding_zone")
    unknown = str(uuid.uuid4())
    assert (await confirm(client, iof, unknown)).status == 404
    assert await visible(client, clinician, client_id) == {}

    # Social services confirm: it opens from then on, on the consent's own basis.
    confirmed = await confirm(client, iof, consent_id)
    body = await confirmed.json()
    assert confirmed.status == 200 and body["status"] == "active"
    assert (body["confirmed_by"], body["confirmed_by_unit"]) == ("hsa-iof", "malmo-iof") and body["confirmed_at"]
    assert await visible(client, clinician, client_id) == {"Utredning": f"consent:{consent_id}"}
    assert (await client.get(f"/v1/documents/{assessment['id']}/content", headers=clinician)).status == 200
    assert await listed(client, iof, client_id, "awaiting_confirmation") == []
    assert await listed(client, iof, client_id, "active") == [(consent_id, "active")]
    # Confirming again changes nothing: the first confirmation stands.
    again = await (await confirm(client, iof, consent_id)).json()
    assert again["confirmed_at"] == body["confirmed_at"] and again["status"] == "active"

    assert await consent_events(db, "consent.confirm") == [
        ("hsa-alingsas", "deny", ["not_party"], consent_id),
        ("hsa-minimaria", "deny", ["not_party"], consent_id),
        ("hsa-stranger", "deny", ["no_relation"], consent_id),
        ("hsa-clinician", "deny", ["not_holding_zone"], consent_id),
        ("hsa-psychiatry", "deny", ["not_holding_zone"], consent_id),
        ("hsa-iof", "deny", ["unknown_consent"], unknown),
        ("hsa-iof", "allow", [], consent_id),
        ("hsa-iof", "allow", [], consent_id),
    ]


async def test_a_consent_the_holding_zone_records_is_confirmed_as_it_is_recorded(client, clinic):
    people, client_id = clinic
    recorded = await (await grant(client, people["iof"], client_id)).json()
    assert recorded["status"] == "active"
    assert (recorded["confirmed_by"], recorded["confirmed_by_unit"]) == ("hsa-iof", "malmo-iof")
    assert recorded["confirmed_at"] == recorded["recorded_at"]
    # Recorded by the receiving zone before valid_from: waiting first, then pending once confirmed.
    later = await (await grant(client, people["clinician"], client_id, valid_from=_iso(timedelta(days=1)))).json()
    assert later["status"] == "awaiting_confirmation"
    assert (await (await confirm(client, people["iof"], later["id"])).json())["status"] == "pending"


@pytest.mark.parametrize("ending", ["revoked", "expired"])
async def test_a_revoked_or_expired_awaiting_consent_cannot_be_confirmed(client, clinic, db, ending):
    people, client_id = clinic
    overrides = {"valid_from": _iso(-timedelta(days=3)), "valid_until": _iso(-timedelta(days=1))} if ending == "expired" else {}
    consent = await (await grant(client, people["clinician"], client_id, **overrides)).json()
    if ending == "revoked":  # the receiving zone withdraws it (or the holding zone refuses it) before confirmation
        revoked = await client.post(f"/v1/consents/{consent['id']}/revoke", headers=people["clinician"],
                                    json={"reason": "registrerat av misstag"})
        assert (await revoked.json())["status"] == "revoked"
    response = await confirm(client, people["iof"], consent["id"])
    assert (response.status, (await response.json())["code"]) == (409, f"consent_{ending}")
    assert await db.fetchval("SELECT confirmed_at FROM consents WHERE id = $1", uuid.UUID(consent["id"])) is None
    assert await consent_events(db, "consent.confirm") == [("hsa-iof", "deny", [f"consent_{ending}"], consent["id"])]


async def test_the_status_filter_lists_what_each_consent_shows(client, clinic):
    """The list's status filter (SQL) and each consent's status (policies.consents.status) agree."""
    people, client_id = clinic
    iof, clinician = people["iof"], people["clinician"]
    await grant(client, iof, client_id)  # active
    await grant(client, iof, client_id, valid_from=_iso(timedelta(days=1)))  # pending
    await grant(client, iof, client_id, valid_from=_iso(-timedelta(days=3)), valid_until=_iso(-timedelta(days=1)))
    await grant(client, clinician, client_id)  # awaiting confirmation
    revoked = await (await grant(client, iof, client_id)).json()
    await client.post(f"/v1/consents/{revoked['id']}/revoke", headers=iof, json={"reason": "återkallat"})
    everything = await listed(client, iof, client_id)
    assert sorted(status for _, status in everything) == ["active", "awaiting_confirmation", "expired", "pending", "revoked"]
    for status in ("awaiting_confirmation", "pending", "active", "expired", "revoked"):
        assert await listed(client, iof, client_id, status) == [c for c in everything if c[1] == status], status
    bad = await client.get(f"/v1/clients/{client_id}/consents?status=waiting", headers=iof)
    assert (bad.status, (await bad.json())["code"]) == (422, "validation_failed")


async def test_the_database_lets_one_confirmation_through_and_nothing_else(client, clinic, db):
    people, client_id = clinic
    waiting = uuid.UUID((await (await grant(client, people["clinician"], client_id)).json())["id"])
    confirm_sql = "UPDATE consents SET confirmed_at = clock_timestamp(), confirmed_by = 'x', confirmed_by_unit = 'malmo-iof'"
    for statement in (f"{confirm_sql}, categories = '{{*}}' WHERE id = $1",  # a confirmation that edits besides
                      "UPDATE consents SET confirmed_by = 'x' WHERE id = $1"):  # half a confirmation
        with pytest.raises((asyncpg.InsufficientPrivilegeError, asyncpg.CheckViolationError)):
            await db.execute(statement, waiting)
    await db.execute(f"{confirm_sql} WHERE id = $1", waiting)
    for statement in (f"{confirm_sql} WHERE id = $1",  # a second confirmation
                      "UPDATE consents SET confirmed_at = NULL, confirmed_by = NULL, confirmed_by_unit = NULL WHERE id = $1"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.execute(statement, waiting)
    revoked = uuid.UUID((await (await grant(client, people["clinician"], client_id)).json())["id"])
    await client.post(f"/v1/consents/{revoked}/revoke", headers=people["clinician"], json={"reason": "fel"})
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # a revoked consent is never confirmed
        await db.execute(f"{confirm_sql} WHERE id = $1", revoked)
