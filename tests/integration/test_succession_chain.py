"""A succeeded unit stays succeeded (insider attack 9, finding 1): it is never activated again, a consent never
names it (nor any inactive unit), and successions form chains without cycles, so a consent given to a unit opens
for the unit that holds its records and for no other."""
from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from tests.integration.test_consents import clinic, consent_body  # noqa: F401  (the fixture)

OLD, NEW, THIRD = "malmo-beroendecentrum", "beroende-nya", "beroende-tredje"


def _now() -> str:
    return datetime.now(UTC).isoformat()


async def _succeed(client, api, predecessor: str, successor: str):
    return await client.post(f"/v1/units/{predecessor}/succession", headers=api.admin,
                             json={"successor": successor, "effective_at": _now()})


async def test_a_succeeded_unit_is_not_activated_again(client, api, clinic, db):
    await api.unit(NEW, organisation="region-skane", domain="health")
    assert (await _succeed(client, api, OLD, NEW)).status == 200
    response = await client.patch(f"/v1/units/{OLD}", headers=api.admin, json={"active": True})
    assert response.status == 409 and (await response.json())["code"] == "conflict"
    assert await db.fetchval("SELECT active FROM units WHERE id = $1", OLD) is False
    # Deactivating it again is harmless and allowed; an unsucceeded unit is reactivated as before.
    assert (await client.patch(f"/v1/units/{OLD}", headers=api.admin, json={"active": False})).status == 200
    assert (await client.patch("/v1/units/malmo-psykiatri", headers=api.admin, json={"active": False})).status == 200
    assert (await client.patch("/v1/units/malmo-psykiatri", headers=api.admin, json={"active": True})).status == 200
    # The last line: the database refuses it too, whatever the application does.
    with pytest.raises(asyncpg.IntegrityConstraintViolationError):
        await db.execute("UPDATE units SET active = true WHERE id = $1", OLD)


async def test_a_consent_never_names_an_inactive_unit(client, api, clinic):
    people, client_id = clinic
    await api.unit(NEW, organisation="region-skane", domain="health")
    assert (await _succeed(client, api, OLD, NEW)).status == 200
    to = {"organisation": "region-skane", "domain": "health"}
    named_old = await client.post(f"/v1/clients/{client_id}/consents", headers=people["iof"],
                                  json=consent_body(to={**to, "unit": OLD}))
    unknown = await client.post(f"/v1/clients/{client_id}/consents", headers=people["iof"],
                                json=consent_body(to={**to, "unit": "ingen-sadan-enhet"}))
    assert named_old.status == unknown.status == 422
    old_body, unknown_body = await named_old.json(), await unknown.json()
    assert old_body["code"] == unknown_body["code"] and old_body["errors"] == unknown_body["errors"]
    assert old_body["errors"][0]["field"] == "to.unit"
    # The heir is named instead, and that is accepted.
    named_new = await client.post(f"/v1/clients/{client_id}/consents", headers=people["iof"],
                                  json=consent_body(to={**to, "unit": NEW}))
    assert named_new.status == 201, await named_new.text()


async def test_successions_form_no_cycle_and_never_into_a_succeeded_unit(client, api, clinic, db):
    await api.unit(NEW, organisation="region-skane", domain="health")
    await api.unit(THIRD, organisation="region-skane", domain="health")
    assert (await _succeed(client, api, OLD, NEW)).status == 200
    # Into the succeeded unit (its records are NEW's): refused, and so is the cycle back.
    into_old = await _succeed(client, api, THIRD, OLD)
    assert into_old.status == 409 and (await into_old.json())["code"] == "conflict"
    back = await _succeed(client, api, NEW, OLD)
    assert back.status == 409
    assert await db.fetchval("SELECT count(*) FROM unit_successions") == 1
    # The database's last line, were the units active: successor succeeded itself, or a cycle.
    await db.execute("ALTER TABLE units DISABLE TRIGGER units_succeeded_stay_inactive")
    await db.execute("UPDATE units SET active = true WHERE id = $1", OLD)
    await db.execute("ALTER TABLE units ENABLE TRIGGER units_succeeded_stay_inactive")
    for predecessor, successor in ((THIRD, OLD), (NEW, OLD)):
        with pytest.raises(asyncpg.IntegrityConstraintViolationError):
            await db.execute("INSERT INTO unit_successions (predecessor, successor, effective_at, recorded_by, "
                             "documents, relations, consents, disclosures) VALUES ($1, $2, now(), 't', 0, 0, 0, 0)",
                             predecessor, successor)
    assert await db.fetchval("SELECT unit_heir($1)", OLD) == NEW
