"""A follow-up record list reads the same rows however many records another zone holds (insider attack 10,
finding 3).

Before, the list read every unit's records newest first and dropped those the caller may not read, page after
page, so its time grew with the other zone's hidden records (79.8 ms with 150 hidden, 14.3 ms with none). Now
the units holding records are found by a skip scan (one step a unit) and decided first, and only the readable
units' records are read (the web page /ui/clients/{id}/followup lists through the same
function). Counted from the executed plans of the request's own queries, not timed.
"""
from __future__ import annotations

import json

import asyncpg
import pytest

from tests.integration.test_consents import HEALTH_SKANE, SOCIAL_MALMO
from tests.integration.test_indicators import personal_number
from tests.plans import rows_read


@pytest.fixture
def counted(monkeypatch):
    """Every query on followup_records, run under EXPLAIN ANALYZE first: the rows its plan read, in order."""
    reads: list[int] = []
    fetch = asyncpg.Connection.fetch

    async def explained(self, sql, *args, **kwargs):
        if "followup_records" in sql and not sql.lstrip().upper().startswith(("INSERT", "UPDATE", "EXPLAIN")):
            row = await self.fetchrow("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args)
            reads.append(rows_read(json.loads(row[0])[0]["Plan"], "followup_records"))
        return await fetch(self, sql, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "fetch", explained)
    return reads


async def test_list_reads_the_same_rows_whatever_the_other_zone_holds(client, api, db, counted):
    await api.unit("iof", **SOCIAL_MALMO)
    await api.unit("beroendecentrum", **HEALTH_SKANE)
    iof, clinic = api.staff("iof", sub="hsa-iof"), api.staff("beroendecentrum", sub="hsa-bc")
    people = []
    for n in range(2):
        person = (await api.register(iof, personal_number(n, female=True), f"P{n}"))["id"]
        await api.relation(iof, person)
        response = await client.post(f"/v1/clients/{person}/contacts", headers=iof,
                                     json={"on": "2025-03-01", "kind": "individual"})
        assert response.status == 201, await response.text()
        await api.relation(clinic, person)
        people.append(person)
    # The clinic records after the IFO's one contact: 1 contact of the second person, 150 of the first.
    for person, hidden in ((people[0], 150), (people[1], 1)):
        for _ in range(hidden):
            response = await client.post(f"/v1/clients/{person}/contacts", headers=clinic,
                                         json={"on": "2025-04-01", "kind": "phone"})
            assert response.status == 201, await response.text()

    reads = {}
    for person in people:
        for limit in ("1", "50"):
            counted.clear()
            response = await client.get(f"/v1/clients/{person}/contacts", headers=iof, params={"limit": limit})
            body = await response.json()
            assert response.status == 200, body
            assert [item["unit"] for item in body["items"]] == ["iof"]
            reads[person, limit] = list(counted)
    for limit in ("1", "50"):
        assert reads[people[0], limit] == reads[people[1], limit], reads
        assert sum(reads[people[0], limit]) <= 6, reads  # the holders' steps and the one readable record

    # Each list is audited as a list of the caller's own zone, allowed; nothing of the clinic's was read.
    rows = await db.fetch("SELECT client_id::text, decision FROM audit_events WHERE action = 'followup.list' "
                          "AND actor_unit = 'iof'")
    assert {(row["client_id"], row["decision"]) for row in rows} == {(p, "allow") for p in people}
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'followup.read'") == 0
