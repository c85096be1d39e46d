"""Minors and guardians (API-1.1, issue 14): the guardian named and sealed, the maturity assessment recorded, and a
guardian's consent that stops opening anything at the client's 18th birthday (policies/consents.py)."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from policies.model import Consent, Zone
from service.runtime import SWEDEN
from service.store import consents as consents_store
from tests.integration.test_consents import consent_body, listed
from tests.integration.test_documents import created

GUARDIAN_NUMBER = "19121212-1212"  # Tolvan Tolvansson: a valid test number
GUARDIAN = {"name": "Vera Vårdnadshavare", "personal_number": GUARDIAN_NUMBER}
# The number as digits in any spelling a leak could take: whole, without the century, without the separator.
WHOLE_NUMBER = ("191212121212", "1212121212", "19121212-1212", "121212-1212")
BASIS = "Samtal med eleven och skolkurator; förstår vad samtycket innebär."


def personal_number(born: date, serial: str = "238") -> str:
    """A valid personnummer (Luhn digit over YYMMDDNNN) for someone born on `born`."""
    digits = born.strftime("%y%m%d") + serial
    total = sum(sum(divmod(int(d) * (2 - i % 2), 10)) for i, d in enumerate(digits))
    return f"{born:%Y%m%d}-{serial}{(10 - total % 10) % 10}"


def coming_of_age(born: date) -> datetime:
    """The 18th birthday's first instant in Swedish time (written here apart from policies.consents, to check it)."""
    day = date(born.year + 18, born.month, 1) + timedelta(days=born.day - 1)  # 29 February: 1 March
    return datetime(day.year, day.month, day.day, tzinfo=SWEDEN)


def born_turning_18(in_days: int) -> date:
    """The birth date of someone whose 18th birthday is `in_days` from today in Sweden (negative: past)."""
    birthday = datetime.now(SWEDEN).date() + timedelta(days=in_days)
    if (birthday.month, birthday.day) == (2, 29):
        birthday -= timedelta(days=1)
    return birthday.replace(year=birthday.year - 18)


@pytest.fixture
async def zones(api):
    """Malmö's social services and the region's addiction clinic, under one roof."""
    await api.unit("malmo-iof", organisation="malmo-stad", domain="social")
    await api.unit("malmo-beroendecentrum", organisation="region-skane", domain="health")
    return api.staff("malmo-iof", sub="hsa-iof"), api.staff("malmo-beroendecentrum", sub="hsa-clinician")


async def a_client(api, zones, number: str) -> str:
    iof, clinician = zones
    client_id = (await api.register(iof, number, "Ung Person"))["id"]
    for headers in zones:
        await api.relation(headers, client_id)
    return client_id


async def grant(client, headers, client_id, **overrides):
    body = consent_body(categories=["assessment"], purposes=["care"], **overrides)
    return await client.post(f"/v1/clients/{client_id}/consents", headers=headers, json=body)


async def stored_consents(db) -> int:
    return await db.fetchval("SELECT count(*) FROM consents")


async def test_a_guardians_consent_names_the_guardian(client, api, zones, db):
    iof, _ = zones
    minor = await a_client(api, zones, "20121212-1212")
    response = await grant(client, iof, minor, given_by="guardian")
    body = await response.json()
    assert (response.status, body["code"]) == (422, "guardian_required")
    assert [e["field"] for e in body["errors"]] == ["guardian"]
    # Naming a guardian on the client's own consent is refused too: the guardian did not give it.
    response = await grant(client, iof, minor, maturity_assessed=True, guardian=GUARDIAN)
    body = await response.json()
    assert (response.status, body["code"]) == (422, "validation_failed") and body["errors"][0]["field"] == "guardian"
    assert await stored_consents(db) == 0
    response = await grant(client, iof, minor, given_by="guardian", guardian=GUARDIAN)
    assert response.status == 201, await response.text()


@pytest.mark.parametrize("number", ["19121212-1213", "19121312-1212", "1912121212121", "abc"])
async def test_the_guardians_personal_number_is_checked(client, api, zones, db, number):
    iof, _ = zones
    minor = await a_client(api, zones, "20121212-1212")
    response = await grant(client, iof, minor, given_by="guardian", guardian={"name": "Vera", "personal_number": number})
    body = await response.json()
    assert (response.status, body["code"]) == (422, "invalid_personal_number"), body
    assert [e["field"] for e in body["errors"]] == ["guardian.personal_number"]
    assert number not in await response.text()
    assert await stored_consents(db) == 0


async def test_the_guardians_number_is_sealed_and_only_its_last_four_digits_are_shown(client, api, zones, db):
    iof, clinician = zones
    minor = await a_client(api, zones, "20121212-1212")
    response = await grant(client, iof, minor, given_by="guardian", guardian=GUARDIAN)
    consent = await response.json()
    assert consent["guardian"] == {"name": "Vera Vårdnadshavare", "personal_number_last4": "1212"}
    texts = [await response.text()]
    for path in (f"/v1/consents/{consent['id']}", f"/v1/clients/{minor}/consents", f"/v1/consents/{consent['id']}/fhir"):
        for headers in (iof, clinician):
            answer = await client.get(path, headers=headers)
            assert answer.status == 200, path
            texts.append(await answer.text())
    assert (await (await client.get(f"/v1/consents/{consent['id']}", headers=clinician)).json())["guardian"] == \
        consent["guardian"]
    for text in texts:
        assert not [number for number in WHOLE_NUMBER if number in text], text
    # At rest: sealed, neither the number nor the name in the clear; nor anywhere in the log.
    row = await db.fetchrow("SELECT * FROM consents WHERE id = $1", uuid.UUID(consent["id"]))
    assert row["guardian_personal_number_sealed"] is not None and row["guardian_name_sealed"] is not None
    stored = str(dict(row)).encode() + row["guardian_personal_number_sealed"] + row["guardian_name_sealed"]
    assert b"1212121212" not in stored and b"Vera" not in stored
    log = " ".join(str(dict(r)) for r in await db.fetch("SELECT * FROM audit_events"))
    assert "Vera" not in log and not [number for number in WHOLE_NUMBER if number in log]
    fhir = await (await client.get(f"/v1/consents/{consent['id']}/fhir", headers=iof)).json()
    assert fhir["contained"][0]["relationship"][0]["coding"][0]["code"] == "GUARD"
    assert fhir["performer"] == [{"reference": "#guardian", "display": "Vera Vårdnadshavare (vårdnadshavare)"}]


async def test_a_maturity_assessment_says_who_when_and_on_what(client, api, zones, db):
    iof, _ = zones
    minor = await a_client(api, zones, "20121212-1212")
    today = datetime.now(SWEDEN).date()
    maturity = {"assessed_by": "Kurator Karin Berg", "assessed_at": (today - timedelta(days=2)).isoformat(), "basis": BASIS}
    response = await grant(client, iof, minor, maturity=maturity)  # the object alone counts as assessed
    consent = await response.json()
    assert response.status == 201, consent
    assert consent["maturity_assessed"] is True and consent["maturity"] == maturity
    sealed = await db.fetchval("SELECT maturity_basis_sealed FROM consents WHERE id = $1", uuid.UUID(consent["id"]))
    assert sealed is not None and b"Samtal" not in sealed
    # v1's flag alone: assessed by the caller, today, on a basis not stated.
    alone = await (await grant(client, iof, minor, maturity_assessed=True)).json()
    assert alone["maturity"] == {"assessed_by": "hsa-iof", "assessed_at": today.isoformat(), "basis": "not stated"}
    assert (await (await grant(client, iof, minor, given_by="guardian", guardian=GUARDIAN)).json())["maturity"] is None


@pytest.mark.parametrize("maturity,field", [
    ({"assessed_by": "Karin", "assessed_at": "2026-01-05", "basis": "För kort grund."}, "maturity.basis"),  # < 20
    ({"assessed_by": "Karin", "assessed_at": "2026-01-05", "basis": "  " + "x" * 18 + "  "}, "maturity.basis"),
    ({"assessed_by": "Karin", "assessed_at": "5 januari", "basis": BASIS}, "maturity.assessed_at"),
    ({"assessed_by": "", "assessed_at": "2026-01-05", "basis": BASIS}, "maturity.assessed_by"),
    ({"assessed_at": "2026-01-05", "basis": BASIS}, "maturity.assessed_by"),
    ({"assessed_by": "Karin", "assessed_at": "2999-01-05", "basis": BASIS}, "maturity.assessed_at"),  # in the future
])
async def test_a_maturity_assessment_is_validated(client, api, zones, db, maturity, field):
    iof, _ = zones
    minor = await a_client(api, zones, "20121212-1212")
    response = await grant(client, iof, minor, maturity=maturity)
    body = await response.json()
    assert (response.status, body["code"]) == (422, "validation_failed"), body
    assert field in [e["field"] for e in body["errors"]]
    assert await stored_consents(db) == 0


async def test_no_guardians_consent_for_a_client_who_is_18_by_its_start(client, api, zones, db):
    iof, _ = zones
    adult = await a_client(api, zones, personal_number(born_turning_18(-1)))
    response = await grant(client, iof, adult, given_by="guardian", guardian=GUARDIAN)
    body = await response.json()
    assert (response.status, body["code"]) == (422, "client_came_of_age"), body
    assert await stored_consents(db) == 0


async def guardians_consent_and_document(client, api, zones, *, turns_18_in: int) -> tuple[str, dict, dict]:
    """A client whose 18th birthday is `turns_18_in` days from today, an assessment of them held by social services,
    and their guardian's consent (from five days ago) that it may go to the addiction clinic."""
    iof, _ = zones
    client_id = await a_client(api, zones, personal_number(born_turning_18(turns_18_in)))
    document = await created(client, iof, client_id, category="assessment", title="Utredning")
    response = await grant(client, iof, client_id, given_by="guardian", guardian=GUARDIAN,
                           valid_from=(datetime.now(UTC) - timedelta(days=5)).isoformat())
    assert response.status == 201, await response.text()
    return client_id, document, await response.json()


async def test_a_guardians_consent_opens_until_the_18th_birthday(client, api, zones, db):
    _, clinician = zones
    client_id, document, consent = await guardians_consent_and_document(client, api, zones, turns_18_in=3)
    birthday = coming_of_age(born_turning_18(3))
    assert (consent["status"], consent["ended_reason"]) == ("active", None)
    assert datetime.fromisoformat(consent["guardian_until"]) == birthday
    response = await client.get(f"/v1/documents/{document['id']}/content", headers=clinician)
    assert response.status == 200
    fhir = await (await client.get(f"/v1/consents/{consent['id']}/fhir", headers=clinician)).json()
    # The provision ends at the birthday, not at valid_until: a consumer sees it coming.
    assert (fhir["status"], datetime.fromisoformat(fhir["provision"]["period"]["end"])) == ("active", birthday)


async def test_from_the_18th_birthday_a_guardians_consent_has_expired_and_opens_nothing(client, api, zones, db):
    iof, clinician = zones
    client_id, document, consent = await guardians_consent_and_document(client, api, zones, turns_18_in=-2)
    birthday = coming_of_age(born_turning_18(-2))
    assert (consent["status"], consent["ended_reason"]) == ("expired", "came_of_age")
    response = await client.get(f"/v1/documents/{document['id']}/content", headers=clinician)
    assert (response.status, (await response.json())["code"]) == (404, "not_found")
    event = await db.fetchrow("SELECT decision, basis, reason_codes FROM audit_events WHERE action = 'document.read_content'"
                              " AND actor_sub = 'hsa-clinician' ORDER BY seq DESC LIMIT 1")
    assert (event["decision"], event["basis"], list(event["reason_codes"])) == ("deny", "none", ["came_of_age"])
    listing = await (await client.get(f"/v1/clients/{client_id}/documents", headers=clinician)).json()
    assert listing["items"] == []
    # Both zones see it as expired, came of age; the status filter (SQL) agrees with each consent's status.
    for headers in (iof, clinician):
        read = await (await client.get(f"/v1/consents/{consent['id']}", headers=headers)).json()
        assert (read["status"], read["ended_reason"]) == ("expired", "came_of_age")
        assert await listed(client, headers, client_id, "expired") == [(consent["id"], "expired")]
        assert await listed(client, headers, client_id, "active") == []
    fhir = await (await client.get(f"/v1/consents/{consent['id']}/fhir", headers=iof)).json()
    assert fhir["status"] == "inactive"
    assert datetime.fromisoformat(fhir["provision"]["period"]["end"]) == birthday
    assert {"url": "urn:brygga:ended-reason", "valueCode": "came_of_age"} in fhir["extension"]
    # It cannot be confirmed any more either (the holding zone recorded it, so it is; the rule is the status's).


async def test_the_status_filter_agrees_with_the_policy_at_the_birthdays_instant(client, api, zones, db):
    """store/consents.py's SQL and policies.consents.status, a microsecond before and at the 18th birthday."""
    from policies.consents import status

    iof, _ = zones
    client_id, _, consent = await guardians_consent_and_document(client, api, zones, turns_18_in=3)
    birthday = coming_of_age(born_turning_18(3))
    row = await consents_store.get(db, uuid.UUID(consent["id"]))
    model = Consent(consent["id"], Zone("malmo-stad", "social"), Zone("region-skane", "health"), None,
                    frozenset(row["categories"]), frozenset(row["purposes"]), row["valid_from"], row["valid_until"],
                    row["revoked_at"], row["confirmed_at"], row["given_by"])
    start = (datetime(1970, 1, 1, tzinfo=UTC), uuid.UUID(int=0))
    for now, expected in ((birthday - timedelta(microseconds=1), "active"), (birthday, "expired"),
                          (birthday + timedelta(days=400), "expired")):
        assert status(model, now=now, birth_date=row["client_birth_date"]) == expected
        for wanted in ("active", "expired"):
            rows = await consents_store.page_for_zone(db, uuid.UUID(client_id), organisation="malmo-stad",
                                                      domain="social", after=start, limit=10, now=now, status=wanted)
            assert [str(r["id"]) for r in rows] == ([consent["id"]] if wanted == expected else []), (now, wanted)


async def test_the_sql_birthday_is_the_policys(db):
    """COMING_OF_AGE_SQL and policies.consents.coming_of_age agree: 29 February, the nights the clocks change."""
    from policies import consents as rules

    births = [date(2008, 2, 29), date(2004, 2, 29), date(2008, 3, 1), date(2007, 2, 28), date(2007, 3, 30),
              date(2007, 3, 31), date(2007, 10, 26), date(2007, 10, 27), date(2006, 12, 31), date(2000, 1, 1),
              date(1990, 7, 15)]
    sql = "SELECT " + consents_store.COMING_OF_AGE_SQL.format(b="$1::date")
    for born in births:
        assert await db.fetchval(sql, born) == rules.coming_of_age(born) == coming_of_age(born), born


async def test_a_guardians_consent_recorded_before_guardians_were_named_ends_at_18_too(client, api, zones, db):
    """The bug of issue 14 itself: a guardian's consent kept opening after the client turned 18. One recorded
    before this change (no guardian named, as v1 allowed) ends at the birthday like any other guardian's."""
    iof, clinician = zones
    client_id = await a_client(api, zones, personal_number(born_turning_18(-2)))
    document = await created(client, iof, client_id, category="assessment", title="Utredning")
    consent_id = uuid.uuid4()
    now = datetime.now(UTC)
    await db.execute(
        "INSERT INTO consents (id, client_id, from_organisation, from_domain, to_organisation, to_domain, categories,"
        " purposes, valid_from, valid_until, given_by, form, maturity_assessed, recorded_by, recorded_by_unit,"
        " recorded_at, confirmed_at, confirmed_by, confirmed_by_unit) VALUES ($1, $2, 'malmo-stad', 'social',"
        " 'region-skane', 'health', '{assessment}', '{care}', $3, $4, 'guardian', 'verbal', false, 'hsa-iof',"
        " 'malmo-iof', $3, $3, 'hsa-iof', 'malmo-iof')",
        consent_id, uuid.UUID(client_id), now - timedelta(days=30), now + timedelta(days=60))
    response = await client.get(f"/v1/documents/{document['id']}/content", headers=clinician)
    assert response.status == 404
    reasons = await db.fetchval("SELECT reason_codes FROM audit_events WHERE action = 'document.read_content' "
                                "ORDER BY seq DESC LIMIT 1")
    assert list(reasons) == ["came_of_age"]
    consent = await (await client.get(f"/v1/consents/{consent_id}", headers=iof)).json()
    assert (consent["status"], consent["ended_reason"], consent["guardian"]) == ("expired", "came_of_age", None)
