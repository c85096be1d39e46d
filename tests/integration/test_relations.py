"""Relations: opened and ended by a unit; listed within the caller's zone."""
from __future__ import annotations

import uuid

import pytest


@pytest.fixture
async def world(api):
    await api.unit("malmo-iof", organisation="malmo-stad", domain="social")
    await api.unit("malmo-socialjour", organisation="malmo-stad", domain="social")
    await api.unit("malmo-beroendecentrum", organisation="region-skane", domain="health")
    staff = api.staff("malmo-iof")
    client = await api.register(staff)
    return staff, client["id"]


async def test_open_is_idempotent_while_active_and_end_closes_access(client, api, world):
    staff, client_id = world
    response = await client.post(f"/v1/clients/{client_id}/relations", headers=staff, json={})
    assert response.status == 201
    relation = await response.json()
    assert relation["unit"] == "malmo-iof" and relation["client_id"] == client_id and relation["ended_at"] is None
    again = await client.post(f"/v1/clients/{client_id}/relations", headers=staff)  # no body at all is {} too
    assert again.status == 200 and (await again.json())["id"] == relation["id"]
    assert (await client.get(f"/v1/clients/{client_id}", headers=staff)).status == 200

    ended = await client.post(f"/v1/clients/{client_id}/relations/{relation['id']}/end", headers=staff, json={})
    body = await ended.json()
    assert ended.status == 200 and body["id"] == relation["id"] and body["ended_at"] >= body["started_at"]
    assert (await client.get(f"/v1/clients/{client_id}", headers=staff)).status == 404
    # Ending again: no active relation any more, so nothing about the client is revealed.
    again = await client.post(f"/v1/clients/{client_id}/relations/{relation['id']}/end", headers=staff)
    assert again.status == 404
    reopened = await client.post(f"/v1/clients/{client_id}/relations", headers=staff)
    assert reopened.status == 201 and (await reopened.json())["id"] != relation["id"]


async def test_open_for_unknown_client(client, world):
    staff, _ = world
    response = await client.post(f"/v1/clients/{uuid.uuid4()}/relations", headers=staff, json={})
    assert (response.status, (await response.json())["code"]) == (404, "not_found")


async def test_body_must_be_empty_object(client, world):
    staff, client_id = world
    response = await client.post(f"/v1/clients/{client_id}/relations", headers=staff, json={"unit": "other"})
    assert (response.status, (await response.json())["code"]) == (400, "invalid_request")


async def test_a_unit_cannot_end_another_units_relation(client, api, world):
    staff, client_id = world
    relation = await api.relation(staff, client_id)
    other = api.staff("malmo-socialjour")
    await api.relation(other, client_id)
    response = await client.post(f"/v1/clients/{client_id}/relations/{relation['id']}/end", headers=other)
    assert response.status == 404
    response = await client.post(f"/v1/clients/{client_id}/relations/{uuid.uuid4()}/end", headers=staff)
    assert response.status == 404
    assert (await client.get(f"/v1/clients/{client_id}", headers=staff)).status == 200


async def test_list_shows_the_callers_zone_only(client, api, world):
    staff, client_id = world
    mine = await api.relation(staff, client_id)
    same_zone = await api.relation(api.staff("malmo-socialjour"), client_id)
    await api.relation(api.staff("malmo-beroendecentrum"), client_id)
    response = await client.get(f"/v1/clients/{client_id}/relations", headers=staff)
    page = await response.json()
    assert response.status == 200 and page["next_cursor"] is None
    assert sorted(r["id"] for r in page["items"]) == sorted([mine["id"], same_zone["id"]])
    first = await (await client.get(f"/v1/clients/{client_id}/relations", headers=staff, params={"limit": "1"})).json()
    second = await (await client.get(f"/v1/clients/{client_id}/relations", headers=staff,
                                     params={"limit": "1", "cursor": first["next_cursor"]})).json()
    assert [first["items"][0]["id"], second["items"][0]["id"]] == [mine["id"], same_zone["id"]]
    assert second["next_cursor"] is None


async def test_list_needs_an_active_relation(client, api, world):
    staff, client_id = world
    await api.relation(api.staff("malmo-socialjour"), client_id)
    response = await client.get(f"/v1/clients/{client_id}/relations", headers=staff)
    assert response.status == 404
