"""Units: admin creates (idempotently), lists with pagination, deactivates."""
from __future__ import annotations

import uuid

UNIT = {"id": "malmo-beroendecentrum", "name": "Beroendecentrum Malmö", "organisation": "region-skane", "domain": "health"}


async def test_create_then_same_again_then_conflict(client, api):
    first = await client.post("/v1/units", headers=api.admin, json=UNIT)
    assert first.status == 201
    body = await first.json()
    assert {k: body[k] for k in UNIT} == UNIT and body["active"] is True and body["created_at"].endswith("Z")
    again = await client.post("/v1/units", headers=api.admin, json=UNIT)
    assert again.status == 200 and (await again.json())["created_at"] == body["created_at"]
    clash = await client.post("/v1/units", headers=api.admin, json={**UNIT, "domain": "social"})
    problem = await clash.json()
    assert (clash.status, problem["code"]) == (409, "conflict")


async def test_validation(client, api):
    cases = [
        ({**UNIT, "id": "Has Spaces"}, 422, "validation_failed", "id"),
        ({**UNIT, "domain": "police"}, 422, "validation_failed", "domain"),
        ({**UNIT, "name": 12}, 422, "validation_failed", "name"),
        ({k: v for k, v in UNIT.items() if k != "organisation"}, 422, "validation_failed", "organisation"),
        ({**UNIT, "colour": "blue"}, 400, "invalid_request", None),
    ]
    for body, status, code, field in cases:
        response = await client.post("/v1/units", headers=api.admin, json=body)
        problem = await response.json()
        assert (response.status, problem["code"]) == (status, code), (body, problem)
        if field:
            assert field in [error["field"] for error in problem["errors"]]


async def test_configured_extra_domain_is_accepted(client, api, settings):
    from dataclasses import replace

    from service.http.context import RUNTIME

    runtime = client.server.app[RUNTIME]
    runtime.settings = replace(settings, domains=("social", "health", "school"))
    response = await client.post("/v1/units", headers=api.admin, json={**UNIT, "id": "alingsas-elevhalsa", "domain": "school"})
    assert response.status == 201


async def test_list_is_paginated_in_id_order(client, api):
    ids = [f"unit-{n:02d}" for n in range(7)]
    for unit_id in reversed(ids):
        await api.unit(unit_id)
    seen, cursor = [], None
    while True:
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/units", headers=api.admin, params=query)
        page = await response.json()
        assert len(page["items"]) <= 3
        seen += [unit["id"] for unit in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


async def test_list_rejects_bad_paging(client, api):
    for query in ({"limit": "0"}, {"limit": "501"}, {"limit": "ten"}, {"cursor": "not-ours"}):
        response = await client.get("/v1/units", headers=api.admin, params=query)
        assert (response.status, (await response.json())["code"]) == (422, "validation_failed"), query


async def test_patch(client, api):
    await api.unit("alingsas-somo")
    response = await client.patch("/v1/units/alingsas-somo", headers=api.admin, json={"active": False})
    assert (await response.json())["active"] is False
    response = await client.patch("/v1/units/alingsas-somo", headers=api.admin, json={"active": True})
    assert (await response.json())["active"] is True
    missing = await client.patch("/v1/units/no-such-unit", headers=api.admin, json={"active": False})
    assert (missing.status, (await missing.json())["code"]) == (404, "not_found")
    wrong_type = await client.patch("/v1/units/alingsas-somo", headers=api.admin, json={"active": "no"})
    assert wrong_type.status == 422


async def test_only_admin_writes_units(client, api, tokens):
    await api.unit("malmo-iof")
    for headers in (api.staff("malmo-iof"), tokens.auth(roles=["auditor"]), api.staff("malmo-iof", roles=["unit_manager"])):
        response = await client.patch("/v1/units/malmo-iof", headers=headers, json={"active": False})
        assert (response.status, (await response.json())["code"]) == (403, "forbidden_role")


async def test_the_role_gate_comes_before_the_body(client, api, tokens, db):
    """API-1.1 "Order of checks": a caller whose roles may never make the call learns nothing of the body's
    validity (403, not 400/422), and the refusal is audited where the call has an audited action."""
    await api.unit("malmo-iof")
    staff = api.staff("malmo-iof")
    for body in ({"id": "Not An Id"}, {}, "not json"):
        response = await client.post("/v1/units", headers=staff, **({"data": body} if isinstance(body, str) else {"json": body}))
        assert (response.status, (await response.json())["code"]) == (403, "forbidden_role"), body
    auditor = tokens.auth(sub="auditor-1", roles=["auditor"])
    person = str(uuid.uuid4())
    response = await client.post(f"/v1/clients/{person}/consents", headers=auditor, json={"from": "nowhere"})
    assert (response.status, (await response.json())["code"]) == (403, "forbidden_role")
    row = await db.fetchrow("SELECT action, decision, reason_codes, client_id FROM audit_events WHERE actor_sub = 'auditor-1'")
    assert (row["action"], row["decision"], row["reason_codes"], str(row["client_id"])) == \
           ("consent.grant", "deny", ["forbidden_role"], person)
    malformed = await client.post("/v1/clients/not-a-uuid/consents", headers=auditor, json={})
    assert (malformed.status, (await malformed.json())["code"]) == (403, "forbidden_role")  # before path ids too


async def test_a_deactivated_units_token_is_refused_as_such_before_its_roles(client, api, tokens, db):
    """Authentication comes before the role gate on every route, the download's too (whose unit is otherwise
    checked by its own facts query): a deactivated unit's token is 401 `unknown_unit`, audited `unit_inactive`."""
    await api.unit("malmo-tmp")
    system = tokens.auth(sub="journal-system", roles=["system"], unit="malmo-tmp")
    admin = tokens.auth(sub="admin-1", roles=["admin"])
    assert (await client.patch("/v1/units/malmo-tmp", headers=admin, json={"active": False})).status == 200
    document = uuid.uuid4()
    for path in (f"/v1/documents/{document}/content", f"/v1/documents/{document}"):
        response = await client.get(path, headers=system)
        assert (response.status, (await response.json())["code"]) == (401, "unknown_unit"), path
    reasons = [r["reason_codes"] for r in await db.fetch(
        "SELECT reason_codes FROM audit_events WHERE actor_sub = 'journal-system' ORDER BY seq")]
    assert reasons == [["unit_inactive"], ["unit_inactive"]]
