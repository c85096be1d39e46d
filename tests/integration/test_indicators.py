"""Indicators (API-1.1 "Follow-up records and indicators") over real HTTP and PostgreSQL.

Who reads which table (analysts for the organisations of their claim, unit managers their own unit), whole ended
periods and the fixed groupings only, sex and age from the personal number, a voided record counting nowhere, CSV,
the audit event; and the attack across the tables an analyst of both principals gets for a period: no difference of
them tells fewer than five persons apart.
"""
from __future__ import annotations

import itertools
from datetime import date

import pytest

from service.http.context import RUNTIME
from service.runtime import Runtime
from tests.integration.test_consents import HEALTH_SKANE, SOCIAL_MALMO

PERIOD = "2025"


def personal_number(n: int, *, female: bool) -> str:
    """A valid number of someone born 1990-01-<n+1> (the second last digit: even for women, odd for men)."""
    digits = f"9001{n + 1:02d}" + f"{n % 10}{n * 3 % 10}{2 if female else 3}"
    total = 0
    for i, ch in enumerate(digits):
        value = int(ch) * (2 if i % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return f"19{digits[:6]}-{digits[6:]}{(10 - total % 10) % 10}"


@pytest.fixture
async def world(client, api, tokens):
    """Seven women followed up at IFO in 2025 (a contact and an AUDIT each), one man at Beroendecentrum."""
    await api.unit("iof", **SOCIAL_MALMO)
    await api.unit("beroendecentrum", **HEALTH_SKANE)
    iof, clinic = api.staff("iof", sub="hsa-iof"), api.staff("beroendecentrum", sub="hsa-bc")
    contacts = []
    for n in range(7):
        person = (await api.register(iof, personal_number(n, female=True), f"Person {n}"))["id"]
        await api.relation(iof, person)
        response = await client.post(f"/v1/clients/{person}/contacts", headers=iof,
                                     json={"on": f"2025-03-{n + 1:02d}", "kind": "individual"})
        assert response.status == 201, await response.text()
        contacts.append((await response.json())["id"])
        response = await client.post(f"/v1/clients/{person}/assessments", headers=iof,
                                     json={"instrument": "AUDIT", "score": 9, "on": f"2025-03-{n + 1:02d}"})
        assert response.status == 201, await response.text()
    man = (await api.register(clinic, personal_number(20, female=False), "Person M"))["id"]
    await api.relation(clinic, man)
    assert (await client.post(f"/v1/clients/{man}/contacts", headers=clinic,
                              json={"on": "2025-05-05", "kind": "phone"})).status == 201
    analyst = tokens.auth(sub="analytiker", roles=["analyst"], organisations=["malmo-stad", "region-skane"])
    manager = api.staff("iof", sub="hsa-chef", roles=["unit_manager"])
    return {"iof": iof, "analyst": analyst, "manager": manager, "contacts": contacts}


async def table(client, headers, status=200, **query) -> dict:
    response = await client.get("/v1/indicators", headers=headers, params={"period": PERIOD, **query})
    assert response.status == status, await response.text()
    return await response.json()


def value(report, measure, sex="all", band="all"):
    (cell,) = [c for c in report["cells"] if (c["measure"], c["sex"], c["age_band"]) == (measure, sex, band)]
    return cell["value"]


async def events(db):
    return [dict(r) for r in await db.fetch("SELECT actor_sub, decision, reason_codes FROM audit_events "
                                            "WHERE action = 'indicators.read' ORDER BY seq")]


async def test_an_organisations_table_by_sex_and_age_with_the_audit_event(client, world, db):
    report = await table(client, world["analyst"], organisation="malmo-stad", group_by="sex,age_band")
    assert value(report, "persons") == 7 and value(report, "persons", "female", "35-49") == 7  # 35 at 2025-12-31
    assert value(report, "persons", "male") == 0
    assert value(report, "contacts_individual") == 7 and value(report, "audit_first_8-15") == 7
    assert report["min_cell"] == 5 and report["scope"]["kind"] == "organisation"
    assert await events(db) == [{"actor_sub": "analytiker", "decision": "allow",
                                 "reason_codes": ["indicators:2025:organisation:malmo-stad"]}]


async def test_no_difference_of_the_periods_tables_tells_fewer_than_five_apart(client, world):
    """The analyst of both principals takes every table of the period: the units', zones', organisations' and the
    joint one. The man at the clinic is one: no table, and no difference of two, may show him."""
    reports = [await table(client, world["analyst"], group_by="sex,age_band", **query) for query in (
        {"unit": "iof"}, {"unit": "beroendecentrum"}, {"organisation": "malmo-stad"},
        {"organisation": "region-skane"}, {"organisation": "malmo-stad", "domain": "social"},
        {"organisation": "region-skane", "domain": "health"}, {"organisation": "malmo-stad,region-skane"})]
    published = [c["value"] for r in reports for c in r["cells"] if c["value"] is not None]
    assert all(v == 0 or v >= 5 for v in published)
    by_cell = {}
    for index, report in enumerate(reports):
        for c in report["cells"]:
            if c["value"] is not None:
                by_cell.setdefault((c["measure"], c["sex"], c["age_band"]), []).append((index, c["value"]))
    for cells in by_cell.values():
        for (_, a), (_, b) in itertools.combinations(cells, 2):
            assert not 0 < abs(a - b) < 5, cells
    assert value(reports[-1], "persons") is None and value(reports[1], "persons") is None


async def test_a_voided_record_counts_nowhere(client, world):
    """A record voided before the year's first read counts nowhere; one voided after it leaves the published tables
    as they were (insider attack 10, finding 2: publication never changes; the contract changed from "a void changes
    the year's tables")."""
    await client.post(f"/v1/contacts/{world['contacts'][0]}/void", headers=world["iof"], json={"reason": "Fel"})
    after = await table(client, world["analyst"], unit="iof")
    assert value(after, "contacts_individual") == 6
    # Contacts are an event count, protected on their own: 7 persons against 6 contacts counts no one.
    assert value(after, "persons") == 7 and value(after, "audit_first_8-15") == 7
    voided = await client.post(f"/v1/contacts/{world['contacts'][1]}/void", headers=world["iof"],
                               json={"reason": "Fel"})
    assert voided.status == 200
    assert value(await table(client, world["analyst"], unit="iof"), "contacts_individual") == 6


async def test_csv_gives_the_same_table(client, world):
    response = await client.get("/v1/indicators", headers={**world["analyst"], "Accept": "text/csv"},
                                params={"period": PERIOD, "unit": "iof"})
    assert response.status == 200 and response.content_type == "text/csv"
    lines = (await response.text()).splitlines()
    assert lines[0] == "period,measure,sex,age_band,value,suppressed"
    assert "2025,persons,all,all,7,false" in lines


async def test_who_reads_which_table(client, world, api, tokens, db):
    assert value(await table(client, world["manager"], unit="iof"), "persons") == 7
    refused = await table(client, world["manager"], 403, unit="beroendecentrum")
    assert refused["code"] == "not_owning_unit"
    assert (await table(client, world["manager"], 403, organisation="malmo-stad"))["code"] == "not_owning_unit"
    malmo_only = tokens.auth(sub="kommunanalytiker", roles=["analyst"], organisations=["malmo-stad"])
    assert (await table(client, malmo_only, 403, organisation="region-skane"))["code"] == "no_organisation"
    assert (await table(client, malmo_only, 403, organisation="malmo-stad,region-skane"))["code"] == "no_organisation"
    unclaimed = tokens.auth(sub="utan", roles=["analyst"], organisations=None)
    assert (await table(client, unclaimed, 403, unit="iof"))["code"] == "no_organisation"
    assert (await table(client, world["iof"], 403, unit="iof"))["code"] == "forbidden_role"
    await table(client, world["analyst"], 404, unit="nowhere")
    decisions = [(e["actor_sub"], e["decision"]) for e in await events(db)]
    assert ("kommunanalytiker", "deny") in decisions and ("hsa-chef", "deny") in decisions


@pytest.mark.parametrize(("query", "field"), [
    ({"period": "2026"}, "period"), ({"period": "2026-12"}, "period"), ({"period": "2025-01-01"}, "period"),
    ({"period": "2025-Q5"}, "period"), ({"group_by": "region"}, "group_by"), ({"group_by": "sex,sex"}, "group_by"),
    ({"domain": "social"}, "domain"), ({"organisation": "a,b,c"}, "organisation"), ({"unit": None}, "unit"),
    ({"from": "2025-01-01"}, "from"),
])
async def test_only_whole_ended_periods_and_the_fixed_groupings(client, world, query, field):
    params = {"period": PERIOD, "unit": "iof", **query}
    params = {k: v for k, v in params.items() if v is not None}
    response = await client.get("/v1/indicators", headers=world["analyst"], params=params)
    assert response.status == 422, await response.text()
    assert field in [e["field"] for e in (await response.json())["errors"]]


async def test_no_difference_of_a_years_nested_periods_tells_fewer_than_five_apart(client, world, api):
    """Two more women with a visit at IFO in April: alone, April's and the second quarter's two were suppressed in
    their own tables, and the year's nine minus the first quarter's seven gave them. The analyst takes every month's,
    quarter's and the year's table of IFO and of the organisation: no coarser period minus its published parts
    leaves 1-4 (persons or visits)."""
    iof = world["iof"]
    for n in (10, 11):
        person = (await api.register(iof, personal_number(n, female=True), f"Person {n}"))["id"]
        await api.relation(iof, person)
        response = await client.post(f"/v1/clients/{person}/contacts", headers=iof,
                                     json={"on": f"2025-04-{n:02d}", "kind": "individual"})
        assert response.status == 201, await response.text()
    months = [f"{PERIOD}-{m:02d}" for m in range(1, 13)]
    quarters = [f"{PERIOD}-Q{q}" for q in range(1, 5)]
    parts = {PERIOD: quarters, **{q: months[3 * i:3 * i + 3] for i, q in enumerate(quarters)}}
    for query in ({"unit": "iof"}, {"organisation": "malmo-stad"}):
        reports = {period: await table(client, world["analyst"], period=period, **query)
                   for period in (*months, *quarters, PERIOD)}
        for measure in ("persons", "contacts_individual"):
            for whole, inside in parts.items():
                total, shown = value(reports[whole], measure), [value(reports[p], measure) for p in inside]
                if total is not None and None in shown:
                    assert not 0 < total - sum(v for v in shown if v is not None) < 5, (query, measure, whole, shown)
        # The year's visits are kept (the two months hide each other); its persons go, since nine persons against
        # seven first AUDITs would tell the two without one (as within any period).
        assert value(reports[PERIOD], "contacts_individual") == 9 and value(reports[PERIOD], "persons") is None
        assert value(reports[f"{PERIOD}-04"], "contacts_individual") is None


async def test_a_years_tables_are_kept_until_a_record_changes(client, world, db):
    """The year's suppressed tables are made once for every period and scope of the year and kept under the year's
    freeze instant (its first read): another period or scope of the year is cut from them, a visit of the next year
    leaves them, and so does a contact voided since (the published tables never change: insider attack 10, finding 2;
    before, a void gave new tables), and a denied caller gets nothing from them."""
    kept = client.server.app[RUNTIME].indicator_tables
    assert value(await table(client, world["analyst"], unit="iof"), "contacts_individual") == 7
    assert len(kept) == 1
    counted = "SELECT changes FROM followup_changes WHERE unit_id = 'iof' AND year = 2025"
    before = await db.fetchval(counted)
    assert value(await table(client, world["analyst"], period="2025-03", organisation="malmo-stad"),
                 "contacts_individual") == 7
    assert len(kept) == 1
    person = await db.fetchval("SELECT client_id FROM followup_records WHERE id = $1", world["contacts"][0])
    response = await client.post(f"/v1/clients/{person}/contacts", headers=world["iof"],
                                 json={"on": "2026-01-05", "kind": "phone"})
    assert response.status == 201, await response.text()  # next year's visit: 2025's tables are kept
    assert value(await table(client, world["analyst"], unit="iof"), "contacts_individual") == 7
    assert len(kept) == 1
    await client.post(f"/v1/contacts/{world['contacts'][0]}/void", headers=world["iof"], json={"reason": "Fel"})
    assert await db.fetchval(counted) == before + 1
    assert value(await table(client, world["analyst"], unit="iof"), "contacts_individual") == 7
    assert len(kept) == 1
    assert (await table(client, world["manager"], 403, unit="beroendecentrum"))["code"] == "not_owning_unit"


async def test_one_statement_of_many_records_counts_each_by_its_year(client, world, db):
    """Migration 0040: the change counter adds a statement's rows by unit and year in one upsert (before, one a row,
    each walking the counter row's versions of the transaction: quadratic for a bulk load). 300 records of two years
    in one INSERT add 100 and 200; voiding the 100 in one UPDATE adds 100 to their year alone."""
    counted = "SELECT year, changes FROM followup_changes WHERE unit_id = 'iof'"
    before = {row["year"]: row["changes"] for row in await db.fetch(counted)}
    await db.execute(
        "INSERT INTO followup_records (id, client_id, unit_id, organisation, domain, kind, sex, on_date, detail, "
        "created_by) SELECT gen_random_uuid(), client_id, unit_id, organisation, domain, kind, sex, "
        "CASE WHEN n % 3 = 0 THEN date '2024-06-01' ELSE date '2025-06-01' END, detail, 'bulk' "
        "FROM followup_records, generate_series(1, 300) n WHERE id = $1", world["contacts"][0])
    inserted = {row["year"]: row["changes"] for row in await db.fetch(counted)}
    assert inserted[2024] - before.get(2024, 0) == 100 and inserted[2025] - before[2025] == 200
    voided = await db.execute(
        "UPDATE followup_records SET voided_at = clock_timestamp(), voided_by = 'bulk', void_reason_sealed = $1 "
        "WHERE created_by = 'bulk' AND on_date = date '2024-06-01'", b"\x00")
    assert voided == "UPDATE 100"
    assert {row["year"]: row["changes"] for row in await db.fetch(counted)} == {**inserted, 2024: inserted[2024] + 100}


async def test_a_month_kept_from_an_earlier_month_gives_no_later_month(client, api, db, monkeypatch):
    """Insider attack 10, finding 2: seven women with a contact at IFO in January 2025, two in March. The manager's
    monthly pull on 2025-02-15 gave January's 7; on 2025-04-02 the first quarter's 9 (January now hidden with March),
    and 9 - 7 - 0 gave March's 2. Now a month or quarter is given only once its year has ended (422
    period_not_closed), and the year's tables, made once from the records as they stood at its first read, do not
    move when a record is dated back into it later."""
    await api.unit("iof", **SOCIAL_MALMO)
    iof = api.staff("iof", sub="hsa-iof")
    people = []
    for n, on in [*((n, f"2025-01-{n + 1:02d}") for n in range(7)), (10, "2025-03-03"), (11, "2025-03-04")]:
        person = (await api.register(iof, personal_number(n, female=True), f"P{n}"))["id"]
        await api.relation(iof, person)
        response = await client.post(f"/v1/clients/{person}/contacts", headers=iof,
                                     json={"on": on, "kind": "individual"})
        assert response.status == 201, await response.text()
        people.append(person)
    manager = api.staff("iof", sub="hsa-chef", roles=["unit_manager"])
    for today in (date(2025, 2, 15), date(2025, 4, 2), date(2025, 12, 31)):
        monkeypatch.setattr(Runtime, "today", lambda self, d=today: d)
        for period in ("2025-01", "2025-Q1"):
            if date.fromisoformat("2025-02-01" if period == "2025-01" else "2025-04-01") > today:
                continue
            refused = await table(client, manager, 422, period=period, unit="iof")
            assert refused["code"] == "period_not_closed" and "year has ended" in refused["detail"], refused
    assert await db.fetchval("SELECT count(*) FROM indicator_years") == 0  # nothing of 2025 given yet
    monkeypatch.setattr(Runtime, "today", lambda self: date(2026, 2, 1))
    seen = {}
    for period in ("2025-01", "2025-02", "2025-03", "2025-Q1", "2025"):
        report = await table(client, manager, period=period, unit="iof")
        seen[period] = (value(report, "persons"), value(report, "contacts_individual"))
    for measure in (0, 1):  # the quarter minus its published months never isolates 1-4 persons
        jan, feb, mar, q1 = (seen[p][measure] for p in ("2025-01", "2025-02", "2025-03", "2025-Q1"))
        assert mar is None or mar == 0 or mar >= 5
        if None not in (q1, jan, feb):
            assert not 0 < q1 - jan - feb < 5, seen
    # A contact dated back into March 2025 after the year was first read changes no published cell.
    late = await client.post(f"/v1/clients/{people[0]}/contacts", headers=iof,
                             json={"on": "2025-03-05", "kind": "individual"})
    assert late.status == 201, await late.text()
    for period in seen:
        report = await table(client, manager, period=period, unit="iof")
        assert (value(report, "persons"), value(report, "contacts_individual")) == seen[period], period
    assert [row["decision"] for row in await db.fetch(
        "SELECT decision FROM audit_events WHERE action = 'indicators.read' ORDER BY seq")] == ["allow"] * 10
