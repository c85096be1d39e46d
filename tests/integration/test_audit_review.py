"""The auditor's review: the emergency-access queue with final, sealed verdicts, and the anomaly report."""
from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from service.runtime import SWEDEN
from tests.integration.test_documents import created
from tests.integration.test_guardians import personal_number

REASON = "Medvetslös patient, akut behov av uppgifter om medicinering"
COMMENT = "Akut läge styrkt i journalen; åtkomsten var nödvändig"
QUEUE = "/v1/audit/emergency-reviews"
ANOMALIES = "/v1/audit/anomalies"


@pytest.fixture
def settings(settings):
    """Low anomaly thresholds: more than 2 clients read, 3 denials, more than 2 relations opened in a day."""
    return dataclasses.replace(settings, anomaly_clients_per_day=2, anomaly_denials_per_day=3,
                               anomaly_relations_per_day=2)


@pytest.fixture
def auditor(tokens):
    return tokens.auth(sub="auditor-1", roles=["auditor"])


@pytest.fixture
async def emergency(api, client):
    """A clinician in Skåne opens emergency access to a client's Mini-Maria record (VGR) and reads it twice."""
    await api.unit("malmo-iof", organisation="malmo-stad", domain="social")
    await api.unit("malmo-beroendecentrum", organisation="region-skane", domain="health")
    await api.unit("alingsas-mini-maria", organisation="vgr", domain="health")
    iof = api.staff("malmo-iof", sub="hsa-iof")
    clinician = api.staff("malmo-beroendecentrum", sub="hsa-clinician")
    minimaria = api.staff("alingsas-mini-maria", sub="hsa-minimaria")
    client_id = (await api.register(iof))["id"]
    for headers in (iof, clinician, minimaria):
        await api.relation(headers, client_id)
    note = await created(client, minimaria, client_id, category="journal_note", title="Mini-Maria")
    grant = await open_grant(client, clinician, client_id)
    for _ in range(2):
        assert (await client.get(f"/v1/documents/{note['id']}/content", headers=clinician)).status == 200
    return {"client_id": client_id, "clinician": clinician, "iof": iof, "grant": grant}


async def open_grant(client, headers, client_id, reason=REASON) -> dict:
    response = await client.post(f"/v1/clients/{client_id}/emergency-access", headers=headers, json={"reason": reason})
    assert response.status == 201, await response.text()
    return await response.json()


async def review(client, headers, grant_id, verdict="justified", comment=COMMENT):
    return await client.post(f"{QUEUE}/{grant_id}", headers=headers, json={"verdict": verdict, "comment": comment})


async def events(db, action, *, actor=None):
    sql = ("SELECT actor_sub, decision, reason_codes, client_id FROM audit_events WHERE action = $1"
           " AND ($2::text IS NULL OR actor_sub = $2) ORDER BY seq")
    return [(e["actor_sub"], e["decision"], list(e["reason_codes"]), e["client_id"]) for e in await db.fetch(sql, action, actor)]


# --- the emergency-access queue

async def test_the_queue_shows_what_an_auditor_needs_to_judge(client, emergency, auditor, db):
    grant = emergency["grant"]
    response = await client.get(QUEUE, headers=auditor)
    assert response.status == 200, await response.text()
    page = await response.json()
    assert page["next_cursor"] is None
    assert page["items"] == [{
        "id": grant["id"], "kind": "emergency_access", "client_id": emergency["client_id"], "unit": "malmo-beroendecentrum",
        "organisation": "region-skane", "domain": "health", "sub": "hsa-clinician", "reason": REASON,
        "opened_at": page["items"][0]["opened_at"], "expires_at": page["items"][0]["expires_at"],
        "accesses": 2, "review": None,
    }]
    item = page["items"][0]
    assert datetime.fromisoformat(item["opened_at"]) == datetime.fromisoformat(grant["opened_at"])
    assert datetime.fromisoformat(item["expires_at"]) == datetime.fromisoformat(grant["expires_at"])
    # The listing is itself an event, allowed, naming no client.
    assert await events(db, "audit.read") == [("auditor-1", "allow", [], None)]


async def test_a_verdict_is_recorded_once_sealed_and_audited(client, emergency, auditor, db):
    grant_id, client_id = emergency["grant"]["id"], emergency["client_id"]
    response = await review(client, auditor, grant_id, verdict="unjustified")
    assert response.status == 201, await response.text()
    verdict = await response.json()
    assert {k: v for k, v in verdict.items() if k != "reviewed_at"} == {
        "grant_id": grant_id, "verdict": "unjustified", "comment": COMMENT, "reviewed_by": "auditor-1"}
    assert datetime.fromisoformat(verdict["reviewed_at"]).tzinfo is not None

    second = await review(client, auditor, grant_id, verdict="justified", comment="Ändrar mig")
    assert (second.status, (await second.json())["code"]) == (409, "already_reviewed")

    # One row, the first verdict; the comment only sealed.
    rows = await db.fetch("SELECT r::text AS text, verdict, comment_sealed FROM emergency_reviews r")
    assert [row["verdict"] for row in rows] == ["unjustified"]
    assert COMMENT.encode() not in bytes(rows[0]["comment_sealed"]) and "Akut läge" not in rows[0]["text"]
    assert COMMENT.encode().hex() not in rows[0]["text"]
    assert await db.fetchval("SELECT count(*) FROM emergency_reviews WHERE reviewed_by_name = 'Name of auditor-1'") == 1

    # Both attempts are events naming the grant's client; the second a denial saying why.
    assert await events(db, "emergency.review") == [
        ("auditor-1", "allow", [], uuid.UUID(client_id)),
        ("auditor-1", "deny", ["already_reviewed"], uuid.UUID(client_id)),
    ]

    # The queue moves it from open to reviewed, with the opened comment.
    assert (await (await client.get(QUEUE, headers=auditor)).json())["items"] == []
    reviewed = (await (await client.get(f"{QUEUE}?status=reviewed", headers=auditor)).json())["items"]
    everything = (await (await client.get(f"{QUEUE}?status=all", headers=auditor)).json())["items"]
    assert reviewed == everything and len(reviewed) == 1
    assert reviewed[0]["review"] == {k: v for k, v in verdict.items() if k != "grant_id"}


async def test_an_unknown_grant_is_not_found_and_audited(client, emergency, auditor, db):
    response = await review(client, auditor, uuid.uuid4())
    assert (response.status, (await response.json())["code"]) == (404, "not_found")
    assert (await client.post(f"{QUEUE}/not-a-uuid", headers=auditor, json={"verdict": "justified", "comment": "x"})).status == 404
    assert await events(db, "emergency.review") == [("auditor-1", "deny", ["unknown_grant"], None)]
    assert await db.fetchval("SELECT count(*) FROM emergency_reviews") == 0


async def test_no_one_reviews_their_own_emergency_access(client, emergency, tokens, db):
    """A clinician who is also an auditor (one sub, both roles) may not judge the access they opened."""
    both = tokens.auth(sub="hsa-clinician", roles=["auditor"])
    response = await review(client, both, emergency["grant"]["id"])
    assert (response.status, (await response.json())["code"]) == (403, "own_emergency")
    assert await events(db, "emergency.review") == [
        ("hsa-clinician", "deny", ["own_emergency"], uuid.UUID(emergency["client_id"]))]
    assert await db.fetchval("SELECT count(*) FROM emergency_reviews") == 0


@pytest.mark.parametrize("who", ["staff", "unit_manager", "admin"])
async def test_only_auditors_review_and_every_refusal_is_an_event(client, emergency, tokens, db, who):
    headers = (tokens.auth(sub="admin-9", roles=["admin"]) if who == "admin"
               else tokens.auth(sub="hsa-clinician", roles=[who], unit="malmo-beroendecentrum"))
    sub = "admin-9" if who == "admin" else "hsa-clinician"
    grant_id = emergency["grant"]["id"]
    for response in (await client.get(QUEUE, headers=headers), await client.get(ANOMALIES, headers=headers),
                     await review(client, headers, grant_id)):
        assert (response.status, (await response.json())["code"]) == (403, "forbidden_role")
    assert await events(db, "audit.read", actor=sub) == [(sub, "deny", ["forbidden_role"], None)] * 2
    # Refused by role before the grant is looked at: the event names no client. (It named the grant's client
    # before the role gate came first; a staff member's zone's auditors then learnt whose the grant was.)
    assert await events(db, "emergency.review") == [(sub, "deny", ["forbidden_role"], None)]
    assert await db.fetchval("SELECT count(*) FROM emergency_reviews") == 0


@pytest.mark.parametrize("body,status", [
    ({"verdict": "maybe", "comment": COMMENT}, 422),
    ({"verdict": "justified", "comment": ""}, 422),
    ({"verdict": "justified", "comment": "   "}, 422),
    ({"verdict": "justified", "comment": "x" * 2001}, 422),
    ({"verdict": "justified"}, 422),
    ({"verdict": "justified", "comment": COMMENT, "grade": 3}, 400),
])
async def test_a_verdict_body_is_validated(client, emergency, auditor, db, body, status):
    response = await client.post(f"{QUEUE}/{emergency['grant']['id']}", headers=auditor, json=body)
    assert response.status == status, await response.text()
    assert await db.fetchval("SELECT count(*) FROM emergency_reviews") == 0


async def test_a_comment_of_2000_characters_is_accepted(client, emergency, auditor):
    response = await review(client, auditor, emergency["grant"]["id"], comment="å" * 2000)
    assert response.status == 201 and (await response.json())["comment"] == "å" * 2000


async def test_the_queue_pages_oldest_first(client, emergency, auditor):
    later = [await open_grant(client, emergency["clinician"], emergency["client_id"]) for _ in range(2)]
    expected = [emergency["grant"]["id"], *(grant["id"] for grant in later)]
    first = await (await client.get(f"{QUEUE}?limit=2", headers=auditor)).json()
    assert [item["id"] for item in first["items"]] == expected[:2] and first["next_cursor"]
    second = await (await client.get(f"{QUEUE}?limit=2&cursor={first['next_cursor']}", headers=auditor)).json()
    assert [item["id"] for item in second["items"]] == expected[2:] and second["next_cursor"] is None
    assert [item["accesses"] for item in (*first["items"], *second["items"])] == [2, 0, 0]


@pytest.mark.parametrize("query,field", [("status=closed", "status"), ("cursor=bm9wZQ", "cursor"), ("limit=0", "limit"),
                                         ("cursor=WyJ4IiwieSJd", "cursor")])
async def test_bad_queue_queries_are_refused(client, auditor, query, field):
    response = await client.get(f"{QUEUE}?{query}", headers=auditor)
    body = await response.json()
    assert (response.status, body["code"]) == (422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == [field]


# --- the anomaly report

DAY = date(2025, 1, 14)  # winter: Stockholm is UTC+1
SINCE, UNTIL = "2025-01-10T00:00:00Z", "2025-01-20T00:00:00Z"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


async def insert_event(db, *, actor, action, at, client_id=None, decision="allow", unit="malmo-iof"):
    """An event on a past day, written as the superuser (the service only ever stamps the present)."""
    await db.execute(
        "INSERT INTO audit_events (at, actor_sub, actor_unit, actor_roles, action, client_id, decision, basis, reason_codes)"
        " VALUES ($1, $2, $3, '{staff}', $4, $5, $6, $7, $8)",
        at, actor, unit, action, client_id, decision, "own_zone" if decision == "allow" else "none",
        [] if decision == "allow" else ["no_relation"])


async def report(client, headers, query=f"since={SINCE}&until={UNTIL}") -> dict:
    response = await client.get(f"{ANOMALIES}?{query}", headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


def by_kind(body: dict, kind: str) -> list[dict]:
    return [finding for finding in body["findings"] if finding["kind"] == kind]


async def test_many_clients_read_in_a_day(client, auditor, db):
    clients = [uuid.uuid4() for _ in range(4)]
    actions = ["client.read", "document.list", "document.read_metadata", "document.read_content", "consent.read"]
    # Above: three distinct clients read by one user, one of them many times, through every read action.
    for n, action in enumerate(actions):
        await insert_event(db, actor="hsa-many", action=action, at=at(DAY, 9, n), client_id=clients[n % 3])
    # At the threshold: two distinct clients, however often.
    for n in range(6):
        await insert_event(db, actor="hsa-two", action="document.read_content", at=at(DAY, 9, n), client_id=clients[n % 2])
    # Denied reads, writes and other days do not count.
    await insert_event(db, actor="hsa-two", action="client.read", at=at(DAY, 10), client_id=clients[2], decision="deny")
    await insert_event(db, actor="hsa-two", action="document.create", at=at(DAY, 10), client_id=clients[3])
    await insert_event(db, actor="hsa-two", action="client.read", at=at(DAY + timedelta(days=1), 10), client_id=clients[3])
    body = await report(client, auditor)
    assert body["since"] == "2025-01-10T00:00:00Z" and body["until"] == "2025-01-20T00:00:00Z"
    findings = by_kind(body, "many_clients_read")
    assert [(f["actor"], f["unit"], f["day"], f["count"], f["threshold"]) for f in findings] == [
        ("hsa-many", "malmo-iof", "2025-01-14", 3, 2)]
    assert "3 distinct clients" in findings[0]["detail"]
    assert by_kind(body, "repeated_denials") == [] and by_kind(body, "many_relations_opened") == []
    assert await events(db, "audit.read") == [("auditor-1", "allow", [], None)]


async def test_days_are_swedish_days(client, auditor, db):
    clients = [uuid.uuid4() for _ in range(3)]
    # 23:30 UTC on the 14th is 00:30 on the 15th in Stockholm: two reads on the 14th, one on the 15th.
    for client_id, when in zip(clients, (at(DAY, 12), at(DAY, 22, 30), at(DAY, 23, 30)), strict=True):
        await insert_event(db, actor="hsa-evening", action="client.read", at=when, client_id=client_id)
    # 23:10 and 23:20 UTC on the 15th and 10:00 UTC on the 16th: three reads on the 16th in Stockholm.
    day = DAY + timedelta(days=1)
    for client_id, when in zip(clients, (at(day, 23, 10), at(day, 23, 20), at(day + timedelta(days=1), 10)), strict=True):
        await insert_event(db, actor="hsa-night", action="client.read", at=when, client_id=client_id)
    findings = by_kind(await report(client, auditor), "many_clients_read")
    assert [(f["actor"], f["day"]) for f in findings] == [("hsa-night", "2025-01-16")]


async def test_repeated_denials(client, auditor, db):
    for n in range(3):
        await insert_event(db, actor="hsa-prober", action="document.read_content", at=at(DAY, 8, n),
                           client_id=uuid.uuid4(), decision="deny")
    for n in range(2):
        await insert_event(db, actor="hsa-typo", action="client.read", at=at(DAY, 8, n), decision="deny")
    # Denials spread over two days stay below the threshold on each.
    for when in (at(DAY, 20), at(DAY, 22), at(DAY, 23, 30)):
        await insert_event(db, actor="hsa-late", action="client.read", at=when, decision="deny")
    findings = by_kind(await report(client, auditor), "repeated_denials")
    assert [(f["actor"], f["unit"], f["day"], f["count"], f["threshold"]) for f in findings] == [
        ("hsa-prober", "malmo-iof", "2025-01-14", 3, 3)]


async def test_many_relations_opened(client, auditor, db):
    clients = [uuid.uuid4() for _ in range(3)]
    for n, client_id in enumerate(clients):
        await insert_event(db, actor="hsa-opener", action="relation.open", at=at(DAY, 10, n), client_id=client_id)
    # Two distinct clients (one twice) and a refused third stay at the threshold.
    for n, client_id in enumerate((clients[0], clients[0], clients[1])):
        await insert_event(db, actor="hsa-careful", action="relation.open", at=at(DAY, 10, n), client_id=client_id)
    await insert_event(db, actor="hsa-careful", action="relation.open", at=at(DAY, 11), client_id=clients[2], decision="deny")
    body = await report(client, auditor)
    findings = by_kind(body, "many_relations_opened")
    assert [(f["actor"], f["unit"], f["day"], f["count"], f["threshold"]) for f in findings] == [
        ("hsa-opener", "malmo-iof", "2025-01-14", 3, 2)]
    assert by_kind(body, "many_clients_read") == []


async def test_a_user_acting_from_several_units_is_named_once_per_day(client, auditor, db):
    for n, unit in enumerate(("malmo-iof", "malmo-iof", "lund-iof")):
        await insert_event(db, actor="hsa-roamer", action="client.read", at=at(DAY, 9, n), client_id=uuid.uuid4(), unit=unit)
    [finding] = by_kind(await report(client, auditor), "many_clients_read")
    assert finding["unit"] is None and "lund-iof, malmo-iof" in finding["detail"] and finding["count"] == 3


async def test_emergency_access_without_a_verdict_after_24_hours(client, emergency, auditor, db):
    grant_id = emergency["grant"]["id"]
    overdue, reviewed = [await open_grant(client, emergency["clinician"], emergency["client_id"]) for _ in range(2)]
    opened = datetime.now(UTC) - timedelta(hours=30)
    for grant in (overdue, reviewed):
        await db.execute("UPDATE emergency_grants SET opened_at = $2::timestamptz, "
                         "expires_at = $2::timestamptz + interval '4 hours' WHERE id = $1",
                         uuid.UUID(grant["id"]), opened)
    assert (await review(client, auditor, reviewed["id"])).status == 201
    body = await report(client, auditor, "")
    findings = by_kind(body, "emergency_unreviewed")
    # The fresh grant (emergency["grant"]) is not due yet; the reviewed one has its verdict.
    assert [(f["actor"], f["unit"], f["threshold"]) for f in findings] == [("hsa-clinician", "malmo-beroendecentrum", 24)]
    [finding] = findings
    assert overdue["id"] in finding["detail"] and grant_id not in finding["detail"]
    assert finding["count"] in (29, 30) and finding["day"] == opened.astimezone(SWEDEN).date().isoformat()


async def test_the_default_window_is_the_last_seven_days(client, auditor, db):
    now = datetime.now(UTC)
    for age, actor in ((timedelta(days=8), "hsa-old"), (timedelta(days=6), "hsa-recent")):
        for _n in range(3):
            await insert_event(db, actor=actor, action="client.read", at=now - age, client_id=uuid.uuid4())
    body = await report(client, auditor, "")
    since, until = datetime.fromisoformat(body["since"]), datetime.fromisoformat(body["until"])
    assert until - since == timedelta(days=7) and abs(until - datetime.now(UTC)) < timedelta(seconds=30)
    assert [f["actor"] for f in by_kind(body, "many_clients_read")] == ["hsa-recent"]
    # Only `until` given: the seven days before it.
    older = await report(client, auditor, f"until={(now - timedelta(days=7)).isoformat().replace('+00:00', 'Z')}")
    assert [f["actor"] for f in by_kind(older, "many_clients_read")] == ["hsa-old"]


async def test_a_window_of_366_days_is_the_longest(client, auditor):
    body = await report(client, auditor, "since=2024-01-01T00:00:00Z&until=2025-01-01T00:00:00Z")
    assert body["findings"] == []


@pytest.mark.parametrize("query,field", [
    ("since=yesterday", "since"),
    ("until=2025-01-14", "until"),  # a date is not an instant
    ("since=2025-01-14T10:00:00", "since"),  # nor is a time without offset
    (f"since={UNTIL}&until={SINCE}", "until"),
    (f"since={SINCE}&until={SINCE}", "until"),
    ("since=2024-01-01T00:00:00Z&until=2025-01-01T00:00:01Z", "since"),
])
async def test_bad_windows_are_refused(client, auditor, db, query, field):
    response = await client.get(f"{ANOMALIES}?{query}", headers=auditor)
    body = await response.json()
    assert (response.status, body["code"]) == (422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == [field]


async def test_real_traffic_is_counted(client, api, auditor, db):
    """End to end: denials the service itself recorded today surface in today's report."""
    await api.unit("malmo-iof", organisation="malmo-stad", domain="social")
    await api.unit("lund-iof", organisation="lunds-kommun", domain="social")
    client_id = (await api.register(api.staff("malmo-iof")))["id"]
    outsider = api.staff("lund-iof", sub="hsa-outsider")
    for _ in range(3):
        assert (await client.get(f"/v1/clients/{client_id}", headers=outsider)).status == 404
    [finding] = by_kind(await report(client, auditor, ""), "repeated_denials")
    today = datetime.now(UTC).astimezone(SWEDEN).date().isoformat()
    assert (finding["actor"], finding["unit"], finding["count"], finding["day"]) == ("hsa-outsider", "lund-iof", 3, today)



# --- relations opened and left untouched (issue 14)

async def insert_relation(db, *, client_id, unit, by, started_at, kind="case") -> uuid.UUID:
    """A relation opened in the past, written as the superuser (the service stamps the present)."""
    relation_id = uuid.uuid4()
    await db.execute("INSERT INTO relations (id, client_id, unit_id, started_by, started_at, kind)"
                     " VALUES ($1, $2, $3, $4, $5, $6)", relation_id, client_id, unit, by, started_at, kind)
    return relation_id


@pytest.fixture
async def quiet_relations(api, client, db):
    """Relations of Malmö's and Lund's social services, opened 10 to 30 days ago, some followed by work."""
    await api.unit("malmo-iof", organisation="malmo-stad", domain="social")
    await api.unit("lund-iof", organisation="lunds-kommun", domain="social")
    malmo = api.staff("malmo-iof", sub="hsa-browser")
    clients = [uuid.UUID((await api.register(malmo, personal_number(date(1980 + n, 1, 1))))["id"]) for n in range(5)]
    now = datetime.now(UTC)
    days = lambda n: now - timedelta(days=n)  # noqa: E731
    # Opened through the API, then 20 days back: nothing read or uploaded by the unit since.
    opened = await client.post(f"/v1/clients/{clients[0]}/relations", headers=malmo, json={"kind": "referral"})
    untouched = uuid.UUID((await opened.json())["id"])
    await db.execute("UPDATE relations SET started_at = $2 WHERE id = $1", untouched, days(20))
    # Read three days after: work.
    await insert_relation(db, client_id=clients[1], unit="malmo-iof", by="hsa-worker", started_at=days(20))
    await insert_event(db, actor="hsa-worker", action="client.read", at=days(17), client_id=clients[1])
    # Only another unit's read, the unit's own denied read, and its upload after 15 days: still untouched in 14.
    late = await insert_relation(db, client_id=clients[2], unit="malmo-iof", by="hsa-late", started_at=days(20))
    await insert_event(db, actor="hsa-lund", action="document.read_content", at=days(19), client_id=clients[2],
                       unit="lund-iof")
    await insert_event(db, actor="hsa-late", action="client.read", at=days(18), client_id=clients[2], decision="deny")
    await insert_event(db, actor="hsa-late", action="document.create", at=days(5), client_id=clients[2])
    # An upload the next day: work.
    await insert_relation(db, client_id=clients[3], unit="malmo-iof", by="hsa-uploader", started_at=days(20))
    await insert_event(db, actor="hsa-uploader", action="document.create", at=days(19), client_id=clients[3])
    # Ten days old: its 14 days have not run out.
    await insert_relation(db, client_id=clients[4], unit="malmo-iof", by="hsa-recent", started_at=days(10))
    # Thirty days old: its 14 days ran out 16 days ago, before the default window.
    old = await insert_relation(db, client_id=clients[4], unit="lund-iof", by="hsa-old", started_at=days(30))
    return {"clients": clients, "untouched": untouched, "late": late, "old": old}


async def test_relations_without_activity_within_14_days(client, auditor, quiet_relations):
    clients = quiet_relations["clients"]
    findings = by_kind(await report(client, auditor, ""), "relations_without_activity")
    assert [(f["actor"], f["unit"], f["client_id"], f["count"], f["threshold"]) for f in findings] == [
        ("hsa-browser", "malmo-iof", str(clients[0]), 20, 14), ("hsa-late", "malmo-iof", str(clients[2]), 15, 14)]
    browsing = findings[0]
    assert str(quiet_relations["untouched"]) in browsing["detail"] and "referral" in browsing["detail"]
    assert browsing["day"] == (datetime.now(UTC) - timedelta(days=20)).astimezone(SWEDEN).date().isoformat()
    # Reported in the window in which its 14 days ran out: the thirty-day-old one in a window 40 to 10 days ago.
    now = datetime.now(UTC)
    query = (f"since={(now - timedelta(days=40)).isoformat().replace('+00:00', 'Z')}"
             f"&until={(now - timedelta(days=10)).isoformat().replace('+00:00', 'Z')}")
    older = by_kind(await report(client, auditor, query), "relations_without_activity")
    assert [(f["actor"], f["unit"], f["client_id"]) for f in older] == [("hsa-old", "lund-iof", str(clients[4]))]


async def test_an_auditor_sees_the_relations_of_their_organisations_only(client, tokens, quiet_relations):
    now = datetime.now(UTC)
    query = (f"since={(now - timedelta(days=40)).isoformat().replace('+00:00', 'Z')}"
             f"&until={now.isoformat().replace('+00:00', 'Z')}")

    async def actors(*organisations):
        headers = tokens.auth(sub="auditor-2", roles=["auditor"], organisations=list(organisations))
        return [f["actor"] for f in by_kind(await report(client, headers, query), "relations_without_activity")]

    assert await actors("lunds-kommun") == ["hsa-old"]
    assert await actors("malmo-stad") == ["hsa-browser", "hsa-late"]
    assert await actors("region-skane") == []
    assert sorted(await actors("*")) == ["hsa-browser", "hsa-late", "hsa-old"]
