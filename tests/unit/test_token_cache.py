"""The verifier's memory of verified tokens: it saves the signature check, never the time checks."""
from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.auth import LEEWAY_SECONDS, TokenVerifier, load_jwks
from service.errors import Unauthorized

ISSUER, AUDIENCE = "https://idp.test", "brygga"
NOW = int(time.time())  # PyJWT checks the first verification against the real clock: set anew for each test


@pytest.fixture(autouse=True)
def _now() -> None:
    """Each test's NOW is its own start: read once at import, a long suite run left these tokens expired."""
    global NOW
    NOW = int(time.time())


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def signing(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "ES256"}]}))
    return key, load_jwks(path)


def token(key, **claims) -> str:
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "anna", "roles": ["staff"], "unit": "u1",
            "iat": NOW, "exp": NOW + 600, **claims}
    return jwt.encode(body, key, algorithm="ES256", headers={"kid": "k1"})


def verifier(keys, clock, **kw) -> TokenVerifier:
    return TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, clock=clock, **kw)


def test_a_remembered_token_is_refused_once_it_expires(signing):
    key, keys = signing
    clock = Clock()
    v = verifier(keys, clock)
    t = token(key)
    assert v.verify(t).sub == "anna"
    assert t in v._cache
    clock.now = NOW + 600 + LEEWAY_SECONDS - 1
    assert v.verify(t).sub == "anna"  # still inside the leeway
    clock.now = NOW + 600 + LEEWAY_SECONDS
    with pytest.raises(Unauthorized, match="expired"):
        v.verify(t)
    assert t not in v._cache


def test_a_remembered_token_is_refused_before_its_nbf(signing):
    key, keys = signing
    clock = Clock()
    v = verifier(keys, clock)
    t = token(key, nbf=NOW + 30)
    assert v.verify(t).not_before == NOW + 30  # inside the leeway
    clock.now = NOW - 31  # clocks may step back (NTP): the remembered token is re-checked
    with pytest.raises(Unauthorized, match="not yet valid"):
        v.verify(t)


def test_a_token_that_failed_is_not_remembered_and_a_tampered_copy_is_checked(signing):
    key, keys = signing
    v = verifier(keys, Clock(), cache_size=8)
    good = token(key)
    assert v.verify(good).sub == "anna"  # remembered
    header, payload, signature = good.split(".")
    forged_payload = jwt.utils.base64url_encode(json.dumps(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "roles": ["admin"], "exp": NOW + 600}).encode()).decode()
    forged = ".".join((header, forged_payload, signature))  # the remembered signature on other claims
    with pytest.raises(Unauthorized):
        v.verify(forged)
    assert forged not in v._cache and list(v._cache) == [good]


def test_the_memory_is_bounded_least_recently_used_first(signing):
    key, keys = signing
    v = verifier(keys, Clock(), cache_size=3)
    tokens = [token(key, sub=f"user-{n}") for n in range(4)]
    for t in tokens[:3]:
        v.verify(t)
    v.verify(tokens[0])  # now the most recently used
    v.verify(tokens[3])
    assert list(v._cache) == [tokens[2], tokens[0], tokens[3]]
