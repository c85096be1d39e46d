"""Clients: registration, lookup and reading, with personal numbers kept out of storage, URLs and errors."""
from __future__ import annotations

import uuid

import pytest

PN = "19121212-1212"
PN_10 = "121212+1212"  # the same person in the 10-digit form (born 1912: 100 or older, so "+")
NAME = "Tolvan Tolvansson"


@pytest.fixture
async def staff(api):
    await api.unit("malmo-iof")
    return api.staff("malmo-iof")


async def test_register_then_again_returns_the_same_client(client, api, staff):
    response = await client.post("/v1/clients", headers=staff, json={"personal_number": PN, "name": NAME})
    assert response.status == 201
    created = await response.json()
    assert created == {"id": created["id"], "birth_date": "1912-12-12", "is_minor": False}
    for number in (PN, PN_10, "191212121212", " 19121212+1212 "):
        again = await client.post("/v1/clients", headers=staff, json={"personal_number": number, "name": "Another Name"})
        assert again.status == 200, number
        assert (await again.json())["id"] == created["id"]


async def test_minor_and_samordningsnummer(client, api, staff):
    minor = await api.register(staff, "20121212-1212", "Ung Person")
    assert minor["birth_date"] == "2012-12-12" and minor["is_minor"] is True
    coordination = await api.register(staff, "19701072-1236", "Sam Ordning")
    assert coordination["birth_date"] == "1970-10-12" and coordination["is_minor"] is False


@pytest.mark.parametrize("number", ["19121212-1213", "1912121212", "19121312-1212", "abc", "19121212 1212", "٢٠١٢١٢١٢١٢١٢"])
async def test_invalid_personal_number_is_422_without_echo(client, staff, number):
    response = await client.post("/v1/clients", headers=staff, json={"personal_number": number, "name": NAME})
    text = await response.text()
    body = await response.json()
    assert (response.status, body["code"]) == (422, "invalid_personal_number")
    assert body["errors"][0]["field"] == "personal_number"
    assert number.strip() not in text and "1212" not in text


async def test_type_errors_never_echo_the_input(client, staff):
    response = await client.post("/v1/clients", headers=staff, json={"personal_number": 191212121212, "name": NAME})
    text = await response.text()
    assert response.status == 422 and "191212121212" not in text


async def test_lookup(client, api, staff):
    created = await api.register(staff)
    response = await client.post("/v1/clients/lookup", headers=staff, json={"personal_number": "121212+1212"})
    assert (response.status, await response.json()) == (200, {"id": created["id"]})
    missing = await client.post("/v1/clients/lookup", headers=staff, json={"personal_number": "19701072-1236"})
    assert (missing.status, (await missing.json())["code"]) == (404, "not_found")


async def test_read_needs_an_active_relation(client, api, staff):
    created = await api.register(staff)
    path = f"/v1/clients/{created['id']}"
    response = await client.get(path, headers=staff)
    assert (response.status, (await response.json())["code"]) == (404, "not_found")
    await api.relation(staff, created["id"])
    response = await client.get(path, headers=staff)
    # API-1.1 "Blocks": a reader with a relation is told whether blocked information exists elsewhere.
    assert (response.status, await response.json()) == (200, {**created, "name": NAME, "blocked_elsewhere": False})


async def test_unknown_and_malformed_ids_read_as_not_found(client, staff):
    for path in (f"/v1/clients/{uuid.uuid4()}", "/v1/clients/not-a-uuid", f"/v1/clients/{uuid.uuid4()}/relations"):
        response = await client.get(path, headers=staff)
        assert (response.status, (await response.json())["code"]) == (404, "not_found"), path


async def test_roles(client, api, staff, tokens):
    created = await api.register(staff)
    system = api.staff("malmo-iof", sub="clinic-system", roles=["system"])
    # A clinic system may register, look up and open a relation...
    assert (await client.post("/v1/clients", headers=system, json={"personal_number": PN, "name": NAME})).status == 200
    assert (await client.post("/v1/clients/lookup", headers=system, json={"personal_number": PN})).status == 200
    await api.relation(system, created["id"])
    # ...but never reads the client; auditors and admins get 403 before anything else.
    for headers in (system, tokens.auth(roles=["auditor"]), tokens.auth(roles=["admin"])):
        response = await client.get(f"/v1/clients/{created['id']}", headers=headers)
        assert (response.status, (await response.json())["code"]) == (403, "forbidden_role")
    for headers in (tokens.auth(roles=["auditor"]), tokens.auth(roles=["admin"])):
        response = await client.post("/v1/clients", headers=headers, json={"personal_number": PN, "name": NAME})
        assert response.status == 403


async def test_nothing_personal_is_stored_in_plaintext(client, api, staff, db):
    created = await api.register(staff, PN, NAME)
    await api.relation(staff, created["id"])
    await client.get(f"/v1/clients/{created['id']}", headers=staff)
    markers = [b"191212121212", b"19121212", b"1212-1212", b"Tolvan", NAME.encode()]
    tables = [row["tablename"] for row in await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert {"clients", "audit_events", "relations"} <= set(tables)
    for table in tables:
        dump = await db.fetchval(f"SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM {table} t")
        raw = await db.fetch(f"SELECT * FROM {table}")
        blob = dump.encode() + b"".join(bytes(v) for row in raw for v in row.values() if isinstance(v, bytes | bytearray))
        for marker in markers:
            assert marker not in blob, (table, marker)


async def test_sealed_fields_are_bound_to_their_record(client, api, staff, db):
    """A name ciphertext copied onto another client does not open: the read fails instead of leaking."""
    first = await api.register(staff, PN, NAME)
    second = await api.register(staff, "19701072-1236", "Sam Ordning")
    await api.relation(staff, second["id"])
    await db.execute("UPDATE clients SET name_sealed = (SELECT name_sealed FROM clients WHERE id = $1) WHERE id = $2",
                     uuid.UUID(first["id"]), uuid.UUID(second["id"]))
    response = await client.get(f"/v1/clients/{second['id']}", headers=staff)
    assert (response.status, (await response.json())["code"]) == (500, "integrity_error")
    assert "Tolvan" not in await response.text()
