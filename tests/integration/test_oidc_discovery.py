"""IssuerKeys against a small HTTP server of the test's own that serves what an identity provider should not:
a discovery document of another issuer, keys that are not signing keys, a private key, an endless body."""
from __future__ import annotations

import json
import logging

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service.oidc import IssuerKeys


def _jwk(key, **extra) -> dict:
    to_jwk = jwt.algorithms.ECAlgorithm.to_jwk if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) \
        else jwt.algorithms.RSAAlgorithm.to_jwk
    return {**json.loads(to_jwk(key)), **extra}


@pytest.fixture
async def idp():
    """Serves `state["discovery"]` (issuer filled in unless given) and `state["jwks"]`."""
    state: dict = {}
    app = web.Application()

    async def discovery(_: web.Request) -> web.Response:
        base = str(server.make_url("")).rstrip("/")
        document = {"issuer": base, "jwks_uri": base + "/jwks", "authorization_endpoint": base + "/auth",
                    "token_endpoint": base + "/token", **state.get("discovery", {})}
        return web.json_response(document)

    async def jwks(_: web.Request) -> web.Response:
        body = state["jwks"]
        return web.Response(body=body if isinstance(body, bytes) else json.dumps(body).encode(),
                            content_type="application/json")

    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_get("/jwks", jwks)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        yield str(server.make_url("")).rstrip("/"), state, http
    await server.close()


async def test_only_signing_keys_brygga_accepts_are_taken(idp):
    issuer, state, http = idp
    signing = ec.generate_private_key(ec.SECP256R1()).public_key()
    state["jwks"] = {"keys": [
        _jwk(signing, kid="sig", alg="ES256", use="sig"),
        _jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), kid="enc", use="enc"),
        _jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(), kid="ps", alg="PS256"),
        _jwk(signing, alg="ES256"),  # no kid
    ], "x5c_padding": "x" * 400_000}  # a large set arrives in many chunks: all of them are read
    keys = IssuerKeys(http, issuer)
    await keys.start()
    assert sorted(keys.keys) == ["sig"]


@pytest.mark.parametrize("case", ["another issuer", "a token endpoint of another scheme", "private key", "too large",
                                  "no keys"])
async def test_what_an_issuer_should_not_serve_is_not_trusted(idp, caplog, case):
    issuer, state, http = idp
    good = {"keys": [_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), kid="good", alg="ES256")]}
    keys = IssuerKeys(http, issuer, refresh_min_seconds=0)
    state["jwks"] = good
    await keys.start()
    assert sorted(keys.keys) == ["good"]
    if case == "another issuer":
        state["discovery"] = {"issuer": "https://evil.example"}
    elif case == "a token endpoint of another scheme":
        state["discovery"] = {"token_endpoint": "ftp://evil.example/token"}
    elif case == "private key":
        state["jwks"] = {"keys": [_jwk(ec.generate_private_key(ec.SECP256R1()), kid="leaked", alg="ES256")]}
    elif case == "too large":
        state["jwks"] = b'{"keys": [' + b" " * (1 << 20) + b"]}"
    else:
        state["jwks"] = {"keys": []}
    with caplog.at_level(logging.WARNING, logger="brygga.oidc"):
        await keys.ensure("unknown-kid")
    assert sorted(keys.keys) == ["good"]  # the last good set, kept
    assert "keeping the last good set" in caplog.text


async def test_without_an_issuer_there_is_no_provider_sign_in(client):
    """The file-JWKS installation (the `client` fixture): no provider pages, the pasted-token form as before."""
    for path in ("/ui/oidc/start", "/ui/oidc/callback?code=x&state=y"):
        assert (await client.get(path, allow_redirects=False)).status == 404
    text = await (await client.get("/ui/sign-in")).text()
    assert 'name="token"' in text and "/ui/oidc/start" not in text


async def test_an_end_session_endpoint_off_the_issuers_scheme_is_not_trusted(idp, caplog):
    """Insider attack 11, finding 6: the sign-out goes to the provider on the issuer's scheme, never elsewhere;
    a document naming another is refused whole, like one with such a token endpoint."""
    issuer, state, http = idp
    state["jwks"] = {"keys": [_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), kid="good", alg="ES256")]}
    keys = IssuerKeys(http, issuer, refresh_min_seconds=0)
    state["discovery"] = {"end_session_endpoint": issuer + "/session/end"}
    await keys.start()
    assert keys.discovery is not None and keys.discovery.end_session_endpoint == issuer + "/session/end"
    state["discovery"] = {"end_session_endpoint": issuer.replace("http://", "ftp://") + "/session/end"}
    with caplog.at_level(logging.WARNING, logger="brygga.oidc"):
        await keys.ensure("unknown-kid")
    assert "lacks end_session_endpoint" in caplog.text
    assert keys.discovery.end_session_endpoint == issuer + "/session/end"  # the last good document, kept
