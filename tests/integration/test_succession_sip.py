"""A succession moves the SIP plans the unit takes part in (API-1.1 "Corrections and reorganisations", extended):
the successor reads and saves the plan its predecessor held and was responsible for, the plan as it stands names
the successor, and the saved versions keep the units as they were."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.integration.test_consents import SOCIAL_MALMO
from tests.integration.test_sip_plans import plan_body, sip_consent, start, world  # noqa: F401  (the fixture)


async def test_the_successor_takes_the_plans_its_predecessor_held_and_saves_them(client, world, api, db):
    await sip_consent(client, world)
    plan = await (await start(client, world)).json()  # held by iof, responsible iof, beroendecentrum takes part
    path = f"/v1/sip-plans/{plan['id']}"
    await api.unit("iof-nya", **SOCIAL_MALMO)
    heir = api.staff("iof-nya", sub="hsa-iof-nya")

    preview = await (await client.get("/v1/units/iof/succession", headers=api.admin)).json()
    assert preview["sip_plans"] == 1
    response = await client.post("/v1/units/iof/succession", headers=api.admin,
                                 json={"successor": "iof-nya", "effective_at": datetime.now(UTC).isoformat()})
    assert response.status == 200, await response.text()
    assert (await response.json())["sip_plans"] == 1
    assert await db.fetchval("SELECT sip_plans FROM unit_successions WHERE predecessor = 'iof'") == 1

    # The heir (its relation moved with the succession) reads the plan as it stands: its own unit in the old one's
    # place, holding and responsible.
    read = await client.get(path, headers=heir)
    assert read.status == 200, await read.text()
    seen = await read.json()
    assert seen["participants"] == [{"unit": "iof-nya"}, {"unit": "beroendecentrum"}, {"external": "Mamma Eva"}]
    assert (seen["holding_unit"], seen["responsible_unit"]) == ("iof-nya", "iof-nya")
    assert seen["efforts"][0]["provided_by_unit"] == "iof-nya"
    listed = await (await client.get(f"/v1/clients/{world['client']}/sip-plans", headers=heir)).json()
    assert [item["id"] for item in listed["items"]] == [plan["id"]]

    # It saves over it with what it read (the holding unit stays a participant: before, a succeeded holding unit
    # left the plan unsavable), and the other zone's participant still reads it under the consent.
    body = {key: seen[key] for key in plan_body()}
    saved = await client.put(path, headers={**heir, "If-Match": '"1"'}, json=body)
    assert saved.status == 200, await saved.text()
    assert (await client.get(path, headers=world["people"]["beroendecentrum"])).status == 200
    # A save naming the ended unit is refused, naming the field.
    stale = await client.put(path, headers={**heir, "If-Match": '"2"'}, json=plan_body(
        participants=[{"unit": "iof"}, {"unit": "iof-nya"}, {"unit": "beroendecentrum"}, {"external": "Mamma Eva"}]))
    assert stale.status == 422 and "participants.0.unit" in await stale.text()

    # The versions keep the units as they were saved; the log keeps who acted.
    history = await (await client.get(f"{path}/versions", headers=heir)).json()
    assert [(v["saved_by_unit"], v["content"]["responsible_unit"]) for v in history["items"]] == [
        ("iof", "iof"), ("iof-nya", "iof-nya")]
    assert await db.fetchval("SELECT actor_unit FROM audit_events WHERE action = 'sip.create' AND reason_codes[1] = $1",
                             f"sip_plan:{plan['id']}") == "iof"
    row = await db.fetchrow("SELECT unit_id, participant_units, responsible_unit FROM sip_plans WHERE id = $1",
                            uuid.UUID(plan["id"]))
    assert (row["unit_id"], list(row["participant_units"]), row["responsible_unit"]) == (
        "iof-nya", ["iof-nya", "beroendecentrum"], "iof-nya")


async def test_a_successor_that_took_part_already_is_named_once(client, world, api, db):
    """jour takes part with iof; iof is succeeded by jour: the plan names jour once, where iof stood."""
    await sip_consent(client, world)
    body = plan_body(participants=[{"unit": "iof"}, {"unit": "jour"}, {"unit": "beroendecentrum"},
                                   {"external": "Mamma Eva"}])
    plan = await (await start(client, world, body)).json()
    response = await client.post("/v1/units/iof/succession", headers=api.admin,
                                 json={"successor": "jour", "effective_at": datetime.now(UTC).isoformat()})
    assert response.status == 200, await response.text()
    seen = await (await client.get(f"/v1/sip-plans/{plan['id']}", headers=world["people"]["jour"])).json()
    assert seen["participants"] == [{"unit": "jour"}, {"unit": "beroendecentrum"}, {"external": "Mamma Eva"}]
    assert list(await db.fetchval("SELECT participant_units FROM sip_plans")) == ["jour", "beroendecentrum"]
