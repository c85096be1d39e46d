"""Authentication as API.md "Tokens" says: every refusal is a 401 (or 403 for roles), nothing slips through."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization

UNITS = "/v1/units"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides) -> dict:
    now = int(time.time())
    claims = {"iss": "https://idp.test.brygga", "aud": "brygga", "sub": "admin-1", "roles": ["admin"], "exp": now + 600}
    claims.update(overrides)
    return claims


async def _status(client, token: str | None, path: str = UNITS) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    response = await client.get(path, headers=headers)
    body = await response.json()
    if response.status == 401:
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert response.content_type == "application/problem+json"
    return response.status, body


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
async def test_each_accepted_algorithm_is_accepted(client, tokens, alg):
    status, body = await _status(client, tokens(roles=["admin"], alg=alg))
    assert status == 200, body


async def test_no_token(client):
    status, body = await _status(client, None)
    assert (status, body["code"]) == (401, "invalid_token")


async def test_not_a_bearer_scheme(client, tokens):
    response = await client.get(UNITS, headers={"Authorization": f"Basic {tokens(roles=['admin'])}"})
    assert response.status == 401


async def test_alg_none_is_refused(client):
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "test-ES256"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        status, body = await _status(client, token)
        assert (status, body["code"]) == (401, "invalid_token")


async def test_hs256_signed_with_the_rsa_public_key_is_refused(client, signing_keys):
    """Algorithm confusion: the attacker signs with HMAC using the public key as the secret."""
    public_pem = signing_keys.private["RS256"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "test-RS256"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    signature = _b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    status, body = await _status(client, f"{header}.{payload}.{signature}")
    assert (status, body["code"]) == (401, "invalid_token")


async def test_alg_not_matching_the_key_is_refused(client, signing_keys, tokens):
    # An ES256 signature presented under the RSA key's kid.
    status, _ = await _status(client, tokens(roles=["admin"], alg="ES256", kid="test-RS256"))
    assert status == 401


async def test_expired_beyond_leeway_is_refused_within_leeway_accepted(client, tokens):
    now = int(time.time())
    assert (await _status(client, tokens(roles=["admin"], exp=now - 90)))[0] == 401
    assert (await _status(client, tokens(roles=["admin"], exp=now - 30)))[0] == 200


async def test_not_yet_valid_beyond_leeway_is_refused_within_leeway_accepted(client, tokens):
    now = int(time.time())
    status, body = await _status(client, tokens(roles=["admin"], nbf=now + 120))
    assert (status, body["code"]) == (401, "invalid_token")
    assert (await _status(client, tokens(roles=["admin"], nbf=now + 30)))[0] == 200


async def test_issued_in_the_future_is_refused(client, tokens):
    status, _ = await _status(client, tokens(roles=["admin"], iat=int(time.time()) + 3600))
    assert status == 401


async def test_token_times_must_be_json_numbers(client, tokens):
    """A real signed token with exp, nbf or iat as a numeric string, or a boolean, is refused (PyJWT took them)."""
    now = int(time.time())
    for times in ({"exp": str(now + 600)}, {"exp": True}, {"nbf": str(now)}, {"iat": str(now)}, {"nbf": False},
                  {"iat": True}, {"exp": [now + 600]}):
        status, body = await _status(client, tokens(roles=["admin"], **times))
        assert (status, body["code"]) == (401, "invalid_token"), times
    assert (await _status(client, tokens(roles=["admin"], exp=now + 600.5, nbf=now - 5.25, iat=float(now))))[0] == 200


async def test_wrong_issuer(client, tokens):
    assert (await _status(client, tokens(roles=["admin"], iss="https://evil.example")))[0] == 401


async def test_wrong_audience(client, tokens):
    assert (await _status(client, tokens(roles=["admin"], aud="another-service")))[0] == 401
    assert (await _status(client, tokens(roles=["admin"], aud=["another-service", "brygga"])))[0] == 200


async def test_unknown_kid(client, tokens):
    assert (await _status(client, tokens(roles=["admin"], kid="no-such-key")))[0] == 401


async def test_no_kid(client, signing_keys):
    import jwt

    token = jwt.encode(_claims(), signing_keys.private["ES256"], algorithm="ES256")
    assert (await _status(client, token))[0] == 401


async def test_key_not_in_the_jwks(client, tokens, signing_keys):
    # Signed by a key Brygga never trusted, presented under a trusted kid.
    assert (await _status(client, tokens(roles=["admin"], key=signing_keys.outsider, kid="test-ES256")))[0] == 401


async def test_tampered_payload(client, tokens):
    header, payload, signature = tokens(roles=["staff"], unit="x-unit").split(".")
    forged = _b64(json.dumps(_claims(roles=["admin"])).encode())
    assert (await _status(client, f"{header}.{forged}.{signature}"))[0] == 401


@pytest.mark.parametrize("claim", ["exp", "iss", "aud", "sub", "roles"])
async def test_missing_claims(client, tokens, claim):
    status, body = await _status(client, tokens(**{"roles": ["admin"], claim: None}))
    assert (status, body["code"]) == (401, "invalid_token")


@pytest.mark.parametrize("roles", [[], ["nurse"], "admin", [1]])
async def test_roles_must_be_a_list_with_a_known_role(client, tokens, roles):
    assert (await _status(client, tokens(roles=roles)))[0] == 401


async def test_staff_token_needs_a_unit(client, tokens):
    status, body = await _status(client, tokens(roles=["staff"]))
    assert (status, body["code"]) == (401, "invalid_token")
    assert "unit" in body["detail"]


async def test_unknown_unit(client, tokens):
    status, body = await _status(client, tokens(roles=["staff"], unit="no-such-unit"))
    assert (status, body["code"]) == (401, "unknown_unit")


async def test_inactive_unit_is_refused_at_once(client, api, tokens):
    await api.unit("lerum-mini-maria", organisation="lerums-kommun")
    staff = api.staff("lerum-mini-maria")
    assert (await client.get(UNITS, headers=staff)).status == 200
    response = await client.patch("/v1/units/lerum-mini-maria", headers=api.admin, json={"active": False})
    assert response.status == 200 and (await response.json())["active"] is False
    status, body = await _status(client, staff["Authorization"].split(" ", 1)[1])
    assert (status, body["code"]) == (401, "unknown_unit")


async def _unit_refusals(db) -> list[tuple]:
    rows = await db.fetch("SELECT * FROM audit_events WHERE reason_codes && ARRAY['unit_inactive', 'unknown_unit'] "
                          "ORDER BY seq")
    return [(r["actor_sub"], r["actor_name"], r["actor_unit"], r["actor_organisation"], r["actor_domain"],
             list(r["actor_roles"]), r["action"], r["decision"], list(r["reason_codes"]), r["request_id"]) for r in rows]


async def test_a_token_of_a_deactivated_or_unknown_unit_is_refused_and_the_refusal_audited(client, api, tokens, db,
                                                                                           signing_keys):
    """A verified token whose unit is gone is an access attempt like any other: the auditor sees who, which unit,
    what for and why; a token that does not verify leaves no event (anyone can send garbage)."""
    await api.unit("lerum-mini-maria", organisation="lerums-kommun")
    staff = api.staff("lerum-mini-maria", sub="hsa-lerum-1")
    person = await api.register(staff)
    assert (await client.patch("/v1/units/lerum-mini-maria", headers=api.admin, json={"active": False})).status == 200
    assert await _unit_refusals(db) == []

    response = await client.get(f"/v1/clients/{person['id']}", headers={**staff, "X-Request-Id": "refused-1"})
    assert (response.status, (await response.json())["code"]) == (401, "unknown_unit")
    response = await client.get(UNITS, headers={**staff, "X-Request-Id": "refused-2"})  # no audited action of its own
    assert (response.status, (await response.json())["code"]) == (401, "unknown_unit")
    ghost = tokens.auth(sub="hsa-ghost", unit="no-such-unit", roles=["staff", "unit_manager"])
    response = await client.post("/v1/clients/lookup", headers={**ghost, "X-Request-Id": "refused-3"},
                                 json={"personal_number": "19121212-1212"})
    assert (response.status, (await response.json())["code"]) == (401, "unknown_unit")
    name = "Name of hsa-lerum-1"
    assert await _unit_refusals(db) == [
        ("hsa-lerum-1", name, "lerum-mini-maria", "lerums-kommun", "social", ["staff"], "client.read", "deny",
         ["unit_inactive"], "refused-1"),
        ("hsa-lerum-1", name, "lerum-mini-maria", "lerums-kommun", "social", ["staff"], "auth.unknown_unit", "deny",
         ["unit_inactive"], "refused-2"),
        ("hsa-ghost", "Name of hsa-ghost", "no-such-unit", None, None, ["staff", "unit_manager"], "client.lookup", "deny",
         ["unknown_unit"], "refused-3"),
    ]
    # not verified: signed by a key Brygga does not trust, expired, or not a JWT at all; none is recorded
    for token in (tokens(unit="lerum-mini-maria", key=signing_keys.outsider, kid="test-ES256"),
                  tokens(unit="lerum-mini-maria", exp=int(time.time()) - 3600), "garbage"):
        assert (await _status(client, token, f"/v1/clients/{person['id']}"))[0] == 401
    assert len(await _unit_refusals(db)) == 3
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE decision = 'deny'") == 3


async def test_a_download_with_a_remembered_unit_is_refused_and_audited_once_the_unit_is_deactivated(client, api, db):
    """Downloads check the unit inside their facts query (the unit's zone is remembered): that road audits too."""
    await api.unit("lerum-mini-maria", organisation="lerums-kommun")
    staff = api.staff("lerum-mini-maria", sub="hsa-lerum-1")
    person = await api.register(staff)
    await api.relation(staff, person["id"])
    form = aiohttp.FormData()
    form.add_field("metadata", json.dumps({"category": "journal_note", "title": "Anteckning"}),
                   content_type="application/json")
    form.add_field("file", b"%PDF-1.4 hello", filename="a.pdf", content_type="application/pdf")
    document = await (await client.post(f"/v1/clients/{person['id']}/documents", headers=staff, data=form)).json()
    assert (await client.get(f"/v1/documents/{document['id']}/content", headers=staff)).status == 200
    assert (await client.patch("/v1/units/lerum-mini-maria", headers=api.admin, json={"active": False})).status == 200
    response = await client.get(f"/v1/documents/{document['id']}/content", headers={**staff, "X-Request-Id": "dl-1"})
    assert (response.status, (await response.json())["code"]) == (401, "unknown_unit")
    assert await _unit_refusals(db) == [
        ("hsa-lerum-1", "Name of hsa-lerum-1", "lerum-mini-maria", "lerums-kommun", "social", ["staff"],
         "document.read_content", "deny", ["unit_inactive"], "dl-1")]


async def test_admin_and_auditor_need_no_unit(client, tokens):
    assert (await _status(client, tokens(roles=["auditor"])))[0] == 200
    assert (await _status(client, tokens(roles=["admin", "auditor"])))[0] == 200


async def test_a_valid_token_with_the_wrong_role_is_403(client, api, tokens):
    await api.unit("malmo-iof")
    response = await client.post("/v1/units", headers=api.staff("malmo-iof"),
                                 json={"id": "x-unit", "name": "X", "organisation": "malmo-stad", "domain": "social"})
    body = await response.json()
    assert (response.status, body["code"]) == (403, "forbidden_role")


async def test_garbage_tokens(client):
    for token in ("abc", "a.b.c", "....", "ey.ey.ey", "x" * 5000):
        assert (await _status(client, token))[0] == 401
