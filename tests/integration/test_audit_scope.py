"""Whose audit log a reader sees (issue #11 items 1, 2; API-1.1 "Side doors closed in v1.1").

A unit manager's client extract covers the reads of records their zone holds and the reads
made by their zone; an auditor sees the events of the organisations their token names
(`organisations`), `["*"]` all of them; without the claim 403 `no_organisation`. Chain
status, checkpoints and public keys stay whole, but chain hashes and checkpoint signatures
are the whole log's auditor's only, as is verifying a held checkpoint (403 `whole_log_only`).
"""
from __future__ import annotations

import dataclasses
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from policies.audit import LogScope, sees, withholds, withholds_reasons
from policies.model import Zone
from service.http.context import RUNTIME
from tests.integration.test_consents import consent_body
from tests.integration.test_documents import created
from tests.integration.test_ui_http import browser, sign_in  # noqa: F401 (browser: the web interface's fixture)
from tests.processes import run_cli, service_env

SOCIAL = Zone("malmo-stad", "social")
HEALTH = Zone("region-skane", "health")
QUEUE = "/v1/audit/emergency-reviews"


@pytest.fixture
def settings(settings):
    """Every finding kind at its lowest threshold, so that any read, denial or relation is one."""
    return dataclasses.replace(settings, anomaly_clients_per_day=0, anomaly_denials_per_day=1,
                               anomaly_relations_per_day=0)


def auditor(tokens, *organisations: str, sub: str = "auditor-1") -> dict[str, str]:
    return tokens.auth(sub=sub, roles=["auditor"], organisations=list(organisations))


@pytest.fixture
async def world(api, client):
    """One client of the municipality's social services and of the region's addiction clinic.

    Each zone reads its own documents; the social unit lets the clinic read its assessment
    (a consent recorded by the holding zone); a social worker tries the clinic's note and an
    id that names nothing (both 404); the clinician opens emergency access.
    """
    await api.unit("malmo-iof", organisation=SOCIAL.organisation, domain=SOCIAL.domain)
    await api.unit("malmo-beroendecentrum", organisation=HEALTH.organisation, domain=HEALTH.domain)
    iof = api.staff("malmo-iof", sub="hsa-iof")
    clinician = api.staff("malmo-beroendecentrum", sub="hsa-clinician")
    person = (await api.register(iof))["id"]
    for headers in (iof, clinician):
        await api.relation(headers, person)
    social = await created(client, iof, person, category="assessment", title="Utredning")
    health = await created(client, clinician, person, category="journal_note", title="Beroendevård")
    for headers, document in ((iof, social), (clinician, health)):
        assert (await client.get(f"/v1/documents/{document['id']}/content", headers=headers)).status == 200
        assert (await client.get(f"/v1/clients/{person}/documents", headers=headers)).status == 200
    consent = await client.post(f"/v1/clients/{person}/consents", headers=iof,
                                json=consent_body(categories=["assessment"], purposes=["care"]))
    assert consent.status == 201, await consent.text()
    assert (await client.get(f"/v1/documents/{social['id']}/content", headers=clinician)).status == 200
    nothing = str(uuid.uuid4())
    for document_id in (health["id"], nothing):
        assert (await client.get(f"/v1/documents/{document_id}", headers=iof)).status == 404
    grant = await client.post(f"/v1/clients/{person}/emergency-access", headers=clinician,
                              json={"reason": "Medvetslös patient, behöver läkemedelslistan"})
    assert grant.status == 201, await grant.text()
    return {"iof": iof, "clinician": clinician, "client": person, "social": social["id"], "health": health["id"],
            "nothing": nothing, "consent": (await consent.json())["id"], "grant": (await grant.json())["id"],
            "social_manager": api.staff("malmo-iof", sub="hsa-chef", roles=["unit_manager"]),
            "health_manager": api.staff("malmo-beroendecentrum", sub="hsa-klinikchef", roles=["unit_manager"])}


async def get_json(client, path, headers, **query):
    response = await client.get(path, headers=headers, params=query)
    assert response.status == 200, await response.text()
    return await response.json()


async def all_events(client, headers, **query) -> list[dict]:
    return (await get_json(client, "/v1/audit/events", headers, limit="500", **query))["items"]


async def extract(client, headers, client_id) -> list[dict]:
    return (await get_json(client, f"/v1/clients/{client_id}/access-log", headers, limit="500"))["items"]


async def record_zones(db, event: dict) -> list[Zone]:
    """The zones of the record an event names, from the database (as the policy defines them)."""
    zones = []
    if event["document_id"]:
        row = await db.fetchrow("SELECT organisation, domain FROM documents WHERE id = $1",
                                uuid.UUID(event["document_id"]))
        zones += [Zone(row["organisation"], row["domain"])] if row else []
    if event["consent_id"]:
        row = await db.fetchrow("SELECT from_organisation, from_domain, to_organisation, to_domain FROM consents "
                                "WHERE id = $1", uuid.UUID(event["consent_id"]))
        zones += [Zone(row["from_organisation"], row["from_domain"]), Zone(row["to_organisation"], row["to_domain"])]
    return zones


def actor_zone(event: dict) -> Zone | None:
    zone = event["actor"]["zone"]
    return Zone(zone["organisation"], zone["domain"]) if zone else None


# --- item 1: the unit manager's extract


async def test_a_social_managers_extract_does_not_show_the_clinics_own_reads(client, world, db):
    """Fails on the old code: the social unit manager saw the clinic read its own note (and its id)."""
    entries = await extract(client, world["social_manager"], world["client"])
    assert {e["actor"]["organisation"] for e in entries if e["document_id"] == world["health"]} == set()
    clinic = [(e["action"], e["document_id"]) for e in entries if e["actor"]["unit"] == "malmo-beroendecentrum"]
    # Of the clinic, only its read of the social assessment (a record the social zone holds) is theirs to know.
    assert clinic == [("document.read_content", world["social"])]
    assert world["health"] not in json.dumps(entries)
    own = {(e["action"], e["document_id"]) for e in entries if e["actor"]["unit"] == "malmo-iof"}
    assert {("document.read_content", world["social"]), ("document.list", None)} <= own
    # The extract itself is audited, naming the client.
    row = await db.fetchrow("SELECT decision, basis, client_id FROM audit_events WHERE actor_sub = 'hsa-chef'")
    assert (row["decision"], row["basis"], str(row["client_id"])) == ("allow", "relation", world["client"])


async def test_the_clinic_managers_extract_is_the_mirror_image(client, world):
    entries = await extract(client, world["health_manager"], world["client"])
    assert {e["actor"]["unit"] for e in entries} == {"malmo-beroendecentrum"}  # the social unit read no health record
    assert {("document.read_content", world["health"]), ("document.read_content", world["social"]),
            ("document.list", None)} <= {(e["action"], e["document_id"]) for e in entries}


async def test_an_extract_matches_the_rule_entry_by_entry(client, world, tokens, db):
    """Each manager's extract is exactly the whole extract filtered by policies.audit.sees for their zone."""
    whole = await extract(client, auditor(tokens, "*"), world["client"])
    events = {e["seq"]: e for e in await all_events(client, auditor(tokens, "*"), client_id=world["client"])}
    for manager, zone in ((world["social_manager"], SOCIAL), (world["health_manager"], HEALTH)):
        expected = [e["seq"] for e in whole
                    if sees(LogScope(zone=zone), actor_zone=actor_zone(events[e["seq"]]),
                            record_zones=await record_zones(db, events[e["seq"]]))]
        assert [e["seq"] for e in await extract(client, manager, world["client"])] == expected
        assert 0 < len(expected) < len(whole)


# --- item 2: auditors by organisation


async def test_a_municipal_auditor_sees_none_of_the_regions_own_work(client, world, tokens):
    """Fails on the old code: an auditor token saw every organisation's events."""
    events = await all_events(client, auditor(tokens, "malmo-stad"))
    by_clinic = [e for e in events if e["actor"]["unit"] == "malmo-beroendecentrum"]
    # The clinician's read of the social assessment (under consent) is the municipality's to see; nothing else.
    assert [(e["action"], e["document_id"]) for e in by_clinic] == [("document.read_content", world["social"])]
    assert world["health"] not in json.dumps([e for e in events if e["actor"]["sub"] != "hsa-iof"])
    assert {e["actor"]["zone"]["organisation"] for e in events if e["actor"]["zone"]} == {"malmo-stad", "region-skane"}


async def test_a_denied_attempt_on_the_other_zones_record_names_no_client_and_no_reason(client, world, tokens, db):
    """The social auditor sees their staff member try the clinic's note, but not what the server found there:
    the note's client and why it was refused; an attempt on an id that names nothing looks the same."""
    events = await all_events(client, auditor(tokens, "malmo-stad"))
    tries = {e["document_id"]: e for e in events if e["actor"]["sub"] == "hsa-iof" and e["decision"] == "deny"}
    health, nothing = tries[world["health"]], tries[world["nothing"]]
    for event in (health, nothing):
        assert (event["client_id"], event["reason_codes"], event["basis"]) == (None, [], "none")
        assert event["action"] == "document.read_metadata"
    assert {k for k in health if health[k] != nothing[k]} <= {"seq", "at", "document_id", "request_id", "prev_seq"}
    # The clinic's auditor holds the note: they see the attempt's client, but not why the social worker was
    # refused (the social side's facts: withholds_reasons); the whole log's auditor sees it whole.
    [regional] = [e for e in await all_events(client, auditor(tokens, "region-skane"), actor="hsa-iof")
                  if e["document_id"] == world["health"]]
    assert (regional["client_id"], regional["reason_codes"]) == (world["client"], [])
    [whole] = [e for e in await all_events(client, auditor(tokens, "*"), actor="hsa-iof")
               if e["document_id"] == world["health"]]
    assert whole["client_id"] == world["client"] and whole["reason_codes"] not in ([], ["unknown_document"])
    # The stored event is whole, as it was chained.
    stored = await db.fetchrow("SELECT client_id, reason_codes FROM audit_events WHERE seq = $1", health["seq"])
    assert str(stored["client_id"]) == world["client"] and stored["reason_codes"] == whole["reason_codes"]


async def test_the_other_zones_denied_attempt_on_your_record_shows_the_client_but_not_why(client, world, tokens, db):
    """Fails on the old code: the municipal auditor saw why the clinician was refused the social note
    (`category_not_covered`: the clinic has an active care relation with the client, a health-side fact)."""
    note = await created(client, world["iof"], world["client"], category="journal_note", title="Journalanteckning")
    refused = await client.get(f"/v1/documents/{note['id']}", headers=world["clinician"])
    assert refused.status == 404
    stored = await db.fetchrow("SELECT seq, client_id, reason_codes FROM audit_events WHERE document_id = $1 "
                               "AND actor_sub = 'hsa-clinician'", uuid.UUID(note["id"]))
    assert stored["reason_codes"] and str(stored["client_id"]) == world["client"]
    [municipal] = [e for e in await all_events(client, auditor(tokens, "malmo-stad"), decision="deny")
                   if e["seq"] == stored["seq"]]
    assert (municipal["decision"], municipal["client_id"], municipal["reason_codes"]) == ("deny", world["client"], [])
    # The clinic's auditor sees their staff member's attempt on a record not theirs as before: no client, no
    # reasons (withholds); the whole log's auditor sees it whole.
    [regional] = [e for e in await all_events(client, auditor(tokens, "region-skane"), decision="deny")
                  if e["seq"] == stored["seq"]]
    assert (regional["client_id"], regional["reason_codes"]) == (None, [])
    [whole] = [e for e in await all_events(client, auditor(tokens, "*"), decision="deny") if e["seq"] == stored["seq"]]
    assert (whole["client_id"], whole["reason_codes"]) == (world["client"], list(stored["reason_codes"]))
    # The NDJSON export withholds the same.
    export = await client.get("/v1/audit/events", headers={**auditor(tokens, "malmo-stad"), "Accept": "application/x-ndjson"},
                              params={"decision": "deny"})
    [line] = [e for e in map(json.loads, (await export.text()).splitlines()) if e["seq"] == stored["seq"]]
    assert (line["client_id"], line["reason_codes"]) == (world["client"], [])
    # Reading the log is itself audited.
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'audit.read' AND actor_sub = 'auditor-1' "
                             "AND decision = 'allow'") >= 4


async def test_a_client_filter_does_not_name_the_withheld_client(client, world, tokens):
    for_client = await all_events(client, auditor(tokens, "malmo-stad"), client_id=world["client"])
    assert world["health"] not in {e["document_id"] for e in for_client}
    assert {e["client_id"] for e in for_client} == {world["client"]}


async def test_every_scope_is_the_whole_log_filtered_by_the_rule(client, world, tokens, db):
    """Events of each scope are exactly the whole log's events that policies.audit.sees lets it see, with
    client id and reasons withheld exactly where policies.audit.withholds says, and no hashes."""
    await client.server.app[RUNTIME].chain_sealer.catch_up()
    whole = await all_events(client, auditor(tokens, "*"))
    assert {e["actor"]["zone"]["organisation"] for e in whole if e["actor"]["zone"]} == {"malmo-stad", "region-skane"}
    assert any(e["hash"] for e in whole)
    for organisations in (["malmo-stad"], ["region-skane"], ["malmo-stad", "region-skane"], ["vgr"]):
        scope = LogScope(organisations=frozenset(organisations))
        seen = {e["seq"]: e for e in await all_events(client, auditor(tokens, *organisations, sub="auditor-2"))}
        expected = {}
        for event in whole:
            zones = await record_zones(db, event)
            if sees(scope, actor_zone=actor_zone(event), record_zones=zones):
                facts = dict(allowed=event["decision"] == "allow",
                             names_record=bool(event["document_id"] or event["consent_id"]), record_zones=zones)
                expected[event["seq"]] = (withholds(scope, **facts),
                                          withholds_reasons(scope, actor_zone=actor_zone(event), **facts))
        assert set(seen) == set(expected), organisations
        for seq, (withheld, reasons_withheld) in expected.items():
            event, original = seen[seq], next(e for e in whole if e["seq"] == seq)
            assert event["hash"] is None and event["prev_hash"] is None
            hidden = ({"hash", "prev_hash"} | ({"client_id"} if withheld else set())
                      | ({"reason_codes"} if reasons_withheld else set()))
            assert {k: v for k, v in event.items() if k not in hidden} == \
                   {k: v for k, v in original.items() if k not in hidden}
            if withheld:
                assert event["client_id"] is None
            if reasons_withheld:
                assert event["reason_codes"] == []


async def test_the_ndjson_export_is_scoped_the_same(client, world, tokens):
    headers = {**auditor(tokens, "malmo-stad"), "Accept": "application/x-ndjson"}
    response = await client.get("/v1/audit/events", headers=headers)
    assert response.status == 200 and response.content_type == "application/x-ndjson"
    lines = [json.loads(line) for line in (await response.text()).splitlines()]
    page = await all_events(client, auditor(tokens, "malmo-stad"))
    assert [e["seq"] for e in lines] == [e["seq"] for e in page]
    assert world["health"] not in {e["document_id"] for e in lines if e["actor"]["sub"] != "hsa-iof"}
    assert not [e for e in lines if e["actor"]["unit"] == "malmo-beroendecentrum" and e["document_id"] != world["social"]]
    everything = await client.get("/v1/audit/events", headers={**auditor(tokens, "*"), "Accept": "application/x-ndjson"})
    assert len((await everything.text()).splitlines()) > len(lines) + 5


async def test_an_auditors_extract_covers_their_organisations(client, world, tokens):
    municipal = await extract(client, auditor(tokens, "malmo-stad"), world["client"])
    assert [(e["action"], e["document_id"]) for e in municipal if e["actor"]["organisation"] == "region-skane"] == \
           [("document.read_content", world["social"])]
    regional = await extract(client, auditor(tokens, "region-skane"), world["client"])
    assert {e["actor"]["organisation"] for e in regional} == {"region-skane"}
    everyone = await extract(client, auditor(tokens, "*"), world["client"])
    assert len(everyone) > max(len(municipal), len(regional))
    assert {e["actor"]["organisation"] for e in everyone} == {"malmo-stad", "region-skane"}


async def test_anomalies_count_only_the_events_an_auditor_sees(client, world, tokens):
    def kinds(report, actor):
        return {f["kind"] for f in report["findings"] if f["actor"] == actor}

    everything = await get_json(client, "/v1/audit/anomalies", auditor(tokens, "*"))
    assert {"many_clients_read", "many_relations_opened"} <= kinds(everything, "hsa-clinician")
    municipal = await get_json(client, "/v1/audit/anomalies", auditor(tokens, "malmo-stad"))
    # The clinician read one social document: that read they see; the relation the clinic opened is its own.
    assert kinds(municipal, "hsa-clinician") == {"many_clients_read"}
    assert {"repeated_denials", "many_clients_read", "many_relations_opened"} <= kinds(municipal, "hsa-iof")
    regional = await get_json(client, "/v1/audit/anomalies", auditor(tokens, "region-skane"))
    # Of the social worker, the clinic sees only the attempt on its note (a denial), not their own work.
    assert kinds(regional, "hsa-iof") == {"repeated_denials"}


async def test_unreviewed_emergency_access_is_the_opening_organisations(client, world, tokens, db):
    opened = datetime.now(UTC) - timedelta(hours=30)
    await db.execute("UPDATE emergency_grants SET opened_at = $2::timestamptz, "
                     "expires_at = $2::timestamptz + interval '4 hours' WHERE id = $1",
                     uuid.UUID(world["grant"]), opened)
    for organisations, expected in ((["region-skane"], 1), (["malmo-stad"], 0), (["*"], 1)):
        report = await get_json(client, "/v1/audit/anomalies", auditor(tokens, *organisations), since=(
            opened - timedelta(hours=1)).isoformat())
        assert len([f for f in report["findings"] if f["kind"] == "emergency_unreviewed"]) == expected, organisations


async def test_the_emergency_queue_and_verdicts_are_the_opening_organisations(client, world, tokens, db):
    municipal, regional = auditor(tokens, "malmo-stad"), auditor(tokens, "region-skane", sub="auditor-2")
    assert (await get_json(client, QUEUE, municipal, status="all"))["items"] == []
    assert [g["id"] for g in (await get_json(client, QUEUE, regional, status="all"))["items"]] == [world["grant"]]
    assert [g["id"] for g in (await get_json(client, QUEUE, auditor(tokens, "*"), status="all"))["items"]] == \
           [world["grant"]]
    verdict = {"verdict": "justified", "comment": "Akut läge styrkt i journalen"}
    refused = await client.post(f"{QUEUE}/{world['grant']}", headers=municipal, json=verdict)
    assert refused.status == 404 and (await refused.json())["code"] == "not_found"
    unknown = await client.post(f"{QUEUE}/{uuid.uuid4()}", headers=municipal, json=verdict)
    assert (await unknown.json()).keys() == (await refused.json()).keys()
    assert await db.fetchval("SELECT count(*) FROM emergency_reviews") == 0
    row = await db.fetchrow("SELECT decision, reason_codes FROM audit_events WHERE action = 'emergency.review' "
                            "ORDER BY seq LIMIT 1")
    assert (row["decision"], row["reason_codes"]) == ("deny", ["unknown_grant"])
    assert (await client.post(f"{QUEUE}/{world['grant']}", headers=regional, json=verdict)).status == 201


async def test_a_scoped_auditor_gets_chain_status_and_checkpoints_without_hashes(client, world, tokens, db):
    """Fails on the old code: a scoped auditor got the head's hash and every checkpoint's hash and signature,
    an oracle over the client ids and reason codes withheld from them. The whole log's auditor keeps them."""
    await client.server.app[RUNTIME].chain_sealer.catch_up()  # seals, and signs the first checkpoint
    scoped, everyone = auditor(tokens, "vgr"), auditor(tokens, "*")
    assert await all_events(client, scoped) == []  # no event of theirs
    assert await get_json(client, "/v1/audit/public-key", scoped) == await get_json(client, "/v1/audit/public-key", everyone)
    whole_verdict = await get_json(client, "/v1/audit/verify", everyone)
    head = await db.fetchrow("SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
    assert whole_verdict["head"] == {"seq": head["seq"], "hash": bytes(head["hash"]).hex()}
    verdict = await get_json(client, "/v1/audit/verify", scoped)
    assert verdict["ok"] and verdict["checked"] == await db.fetchval("SELECT count(*) FROM audit_chain") > 10
    assert verdict == {**whole_verdict, "head": {"seq": whole_verdict["head"]["seq"], "hash": None}}
    for query in ({}, {"latest": "true"}):
        whole_items = (await get_json(client, "/v1/audit/checkpoints", everyone, **query))["items"]
        items = (await get_json(client, "/v1/audit/checkpoints", scoped, **query))["items"]
        assert whole_items and all(c["hash"] and c["signature"] and c["prev"] for c in whole_items)
        assert items == [{**c, "hash": None, "signature": None, "prev": None} for c in whole_items], query
    assert bytes(head["hash"]).hex() not in json.dumps([verdict, items])


async def test_verifying_a_held_checkpoint_is_the_whole_log_auditors_only(client, world, tokens, db):
    """Fails on the old code: any seq with a wrong hash stopped the walk there and answered the chain hash at
    that seq (truncated), for a scoped auditor too. The refusal is audited."""
    await client.server.app[RUNTIME].chain_sealer.catch_up()
    target = await db.fetchrow("SELECT seq, hash FROM audit_chain WHERE seq = (SELECT max(seq) FROM audit_chain) - 3")
    wrong = {"checkpoint_seq": str(target["seq"]), "checkpoint_hash": "0" * 64}
    right = {"checkpoint_seq": str(target["seq"]), "checkpoint_hash": bytes(target["hash"]).hex()}
    scoped = auditor(tokens, "malmo-stad", sub="auditor-scoped")
    for query in (wrong, right):
        response = await client.get("/v1/audit/verify", headers=scoped, params=query)
        problem = await response.json()
        assert (response.status, problem["code"]) == (403, "whole_log_only"), problem
        assert bytes(target["hash"]).hex() not in json.dumps(problem)
    denials = await db.fetch("SELECT action, decision, reason_codes FROM audit_events WHERE actor_sub = 'auditor-scoped'")
    assert [tuple(r) for r in denials] == [("audit.read", "deny", ["whole_log_only"])] * 2
    # The whole log's auditor holds their own values, at any seq (not only a signed checkpoint's): as before.
    everyone = auditor(tokens, "*")
    assert target["seq"] not in {c["seq"] for c in (await get_json(client, "/v1/audit/checkpoints", everyone))["items"]}
    held = await get_json(client, "/v1/audit/verify", everyone, **right)
    assert held["ok"] is True
    truncated = await get_json(client, "/v1/audit/verify", everyone, **wrong)
    assert (truncated["ok"], truncated["problem"]) == (False, "truncated")
    assert truncated["head"] == {"seq": target["seq"], "hash": bytes(target["hash"]).hex()}


BAD_CLAIMS = [None, [], "malmo-stad", ["malmo-stad", 7], ["*", "malmo-stad"], ["Malmö Stad"], {"malmo-stad": True}]
AUDITOR_CALLS = [
    ("GET", "/v1/audit/events"), ("GET", "/v1/audit/verify"), ("GET", "/v1/audit/checkpoints"),
    ("GET", "/v1/audit/public-key"), ("GET", "/v1/audit/anomalies"), ("GET", QUEUE),
]


@pytest.mark.parametrize("claim", BAD_CLAIMS)
async def test_an_auditor_without_organisations_is_refused_everywhere(client, world, tokens, db, claim):
    headers = tokens.auth(sub="auditor-x", roles=["auditor"], organisations=claim)
    calls = [*AUDITOR_CALLS, ("GET", f"/v1/clients/{world['client']}/access-log"),
             ("GET", f"/v1/clients/{uuid.uuid4()}/access-log"), ("POST", f"{QUEUE}/{world['grant']}")]
    for method, path in calls:
        response = await client.request(method, path, headers=headers,
                                        json={"verdict": "justified", "comment": "Akut läge"} if method == "POST" else None)
        assert response.status == 403, (path, await response.text())
        body = await response.json()
        assert response.content_type == "application/problem+json" and body["code"] == "no_organisation", path
    ndjson = await client.get("/v1/audit/events", headers={**headers, "Accept": "application/x-ndjson"})
    assert ndjson.status == 403 and (await ndjson.json())["code"] == "no_organisation"
    rows = await db.fetch("SELECT action, decision, reason_codes, client_id FROM audit_events "
                          "WHERE actor_sub = 'auditor-x' ORDER BY seq")
    assert len(rows) == len(calls) + 1
    assert {(r["decision"], tuple(r["reason_codes"])) for r in rows} == {("deny", ("no_organisation",))}
    assert {r["action"] for r in rows} == {"audit.read", "audit.extract", "emergency.review"}
    # What needs no organisation still works.
    assert (await client.get("/v1/units", headers=headers)).status == 200


async def test_a_unit_manager_who_is_also_an_auditor_without_organisations_keeps_the_units_extract(client, world, tokens):
    both = tokens.auth(sub="hsa-chef", unit="malmo-iof", roles=["unit_manager", "auditor"], organisations=None)
    entries = await extract(client, both, world["client"])
    assert entries and world["health"] not in json.dumps(entries)
    assert (await client.get("/v1/audit/events", headers=both)).status == 403


async def test_the_analyst_is_an_installation_role_with_no_audit_rights_yet(client, world, tokens):
    analyst = tokens.auth(sub="analyst-1", roles=["analyst"], organisations=["malmo-stad"])
    assert (await client.get("/v1/units", headers=analyst)).status == 200  # no unit needed
    for method, path in AUDITOR_CALLS:
        response = await client.request(method, path, headers=analyst)
        assert response.status == 403 and (await response.json())["code"] == "forbidden_role", path
    refused = await client.get(f"/v1/clients/{world['client']}/access-log", headers=analyst)
    assert (await refused.json())["code"] == "forbidden_role"


# --- the web interface calls the same functions


def rows_of(html: str, unit: str) -> int:
    """Rows naming the unit, as the pages name it since #20: by its name ("Unit <id>" here), with its organisation."""
    return len(re.findall(rf"<td>Unit {re.escape(unit)}( \([^<)]*\))?</td>", html))


async def test_the_web_pages_are_scoped_the_same(browser, world, tokens):
    await browser.server.app[RUNTIME].chain_sealer.catch_up()  # seals, and signs a checkpoint
    await sign_in(browser, tokens, sub="astrid", roles=["auditor"], organisations=["malmo-stad"])
    chain = await (await browser.get("/ui/audit/chain")).text()
    assert 'id="chain-status"' in chain and 'id="checkpoint"' in chain
    assert not re.search(r"[0-9a-f]{64}", chain)  # no chain hash (and no signature) for a scoped auditor
    events = await (await browser.get("/ui/audit/events")).text()
    assert rows_of(events, "malmo-beroendecentrum") == 1 and rows_of(events, "malmo-iof") > 3
    assert "Medvetslös" not in await (await browser.get("/ui/audit/emergency-reviews?status=all")).text()
    extract = await (await browser.get(f"/ui/clients/{world['client']}/access-log")).text()
    assert rows_of(extract, "malmo-beroendecentrum") == 1

    await sign_in(browser, tokens, sub="astrid", roles=["auditor"], organisations=["*"])
    assert len(re.findall(r"[0-9a-f]{64}", await (await browser.get("/ui/audit/chain")).text())) == 2
    assert rows_of(await (await browser.get("/ui/audit/events")).text(), "malmo-beroendecentrum") > 3
    assert "Medvetslös" in await (await browser.get("/ui/audit/emergency-reviews?status=all")).text()

    await sign_in(browser, tokens, sub="hsa-chef", unit="malmo-iof", roles=["unit_manager"])
    extract = await (await browser.get(f"/ui/clients/{world['client']}/access-log")).text()
    assert rows_of(extract, "malmo-beroendecentrum") == 1 and rows_of(extract, "malmo-iof") >= 2

    await sign_in(browser, tokens, sub="astrid", roles=["auditor"], organisations=None)
    refused = await browser.get("/ui/audit/events")
    assert refused.status == 403


# --- the development token


def test_the_dev_token_command_needs_organisations_for_an_auditor(tmp_path):
    env = service_env(tmp_path, BRYGGA_DEV="1")
    refused = run_cli("token", "--sub", "astrid", "--roles", "auditor", env=env)
    assert refused.returncode == 2 and refused.stdout == "" and "--organisations" in refused.stderr
    for given, claim in (("malmo-stad, region-skane", ["malmo-stad", "region-skane"]), ("*", ["*"])):
        minted = run_cli("token", "--sub", "astrid", "--roles", "auditor", "--organisations", given, env=env)
        assert minted.returncode == 0, minted.stderr
        assert jwt.decode(minted.stdout.strip(), options={"verify_signature": False})["organisations"] == claim
    staff = run_cli("token", "--sub", "anna", "--unit", "malmo-iof", "--roles", "staff", env=env)
    assert "organisations" not in jwt.decode(staff.stdout.strip(), options={"verify_signature": False})


async def test_the_openapi_document_names_no_organisation_where_it_is_answered(client):
    spec = await (await client.get("/v1/openapi.json")).json()

    def forbidden(path, method="get"):
        return spec["paths"][path][method]["responses"]["403"]["content"]["application/problem+json"]["schema"][
            "allOf"][1]["properties"]["code"]["enum"]

    for path in ("/v1/audit/events", "/v1/audit/checkpoints", "/v1/audit/public-key",
                 "/v1/audit/anomalies", QUEUE, "/v1/clients/{client_id}/access-log"):
        assert forbidden(path) == ["forbidden_role", "no_organisation"], path
    assert sorted(forbidden("/v1/audit/verify")) == ["forbidden_role", "no_organisation", "whole_log_only"]
    assert forbidden(f"{QUEUE}/{{grant_id}}", "post") == ["forbidden_role", "no_organisation"]
    assert forbidden("/v1/units") == ["forbidden_role"]
    assert "organisations" in spec["components"]["securitySchemes"]["bearer"]["description"]
    assert "analyst" in spec["paths"]["/v1/units"]["get"]["description"]


async def test_a_list_that_shows_the_other_zones_documents_is_in_the_holding_zones_log(client, world, tokens, db):
    """The clinic's list shows the social assessment under the consent: the social zone's extract and auditor see
    that read of metadata (one event per such document, under the consent), and the clinic's own note on the
    same list makes no such event."""
    listed = await get_json(client, f"/v1/clients/{world['client']}/documents", world["clinician"])
    assert {d["id"] for d in listed["items"]} == {world["social"], world["health"]}
    rows = await db.fetch("SELECT document_id, basis FROM audit_events WHERE action = 'document.read_metadata' "
                          "AND actor_sub = 'hsa-clinician' ORDER BY seq")
    assert [(str(r["document_id"]), r["basis"]) for r in rows] == [(world["social"], f"consent:{world['consent']}")]
    extract_entries = await extract(client, world["social_manager"], world["client"])
    assert ("malmo-beroendecentrum", "document.read_metadata", world["social"]) in {
        (e["actor"]["unit"], e["action"], e["document_id"]) for e in extract_entries}
    seen = await all_events(client, auditor(tokens, "malmo-stad"), client_id=world["client"])
    assert any(e["action"] == "document.read_metadata" and e["actor"]["unit"] == "malmo-beroendecentrum" for e in seen)


async def test_a_token_without_organisations_is_refused_before_the_query_and_the_path(client, world, tokens, db):
    """API-1.1 "Order of checks": the organisations claim is checked with the role gate, so a bad query or path
    gets the same audited 403 `no_organisation` as a good one (it was 422 or 404, and no event)."""
    bare = tokens.auth(sub="auditor-bare", roles=["auditor"], organisations=None)
    for path, query in (("/v1/audit/events", {"limit": "abc"}), ("/v1/audit/events", {"since": "x"}),
                        ("/v1/audit/anomalies", {"since": "x"}), (QUEUE, {"status": "zz"}),
                        ("/v1/clients/zz/access-log", {}), (f"/v1/clients/{world['client']}/access-log", {})):
        response = await client.get(path, headers=bare, params=query)
        assert (response.status, (await response.json())["code"]) == (403, "no_organisation"), (path, query)
    reasons = [r["reason_codes"] for r in await db.fetch(
        "SELECT reason_codes FROM audit_events WHERE actor_sub = 'auditor-bare' ORDER BY seq")]
    assert reasons == [["no_organisation"]] * 6
