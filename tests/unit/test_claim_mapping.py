"""Claim mapping (API-1.1 "Identity providers"): which claim is the user, the unit and the roles, and an
IdP group → Brygga role map; on real signed tokens, verified by the real verifier."""
from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.auth import ClaimMapping, TokenVerifier
from service.errors import Unauthorized

ISSUER, AUDIENCE = "https://idp.example.se", "brygga"
KEY = ec.generate_private_key(ec.SECP256R1())
MAPPING = ClaimMapping(sub="hsa_id", unit="unit_hsa_id", roles="groups", personal_number="personal_number",
                       role_map={"g-staff": ("staff",), "g-chefer": ("staff", "unit_manager"), "g-invanare": ("client",),
                                 "g-invanare-2": ("client",)})


def verifier(mapping: ClaimMapping = MAPPING) -> TokenVerifier:
    return TokenVerifier({"k1": jwt.PyJWK({**jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True),
                                           "kid": "k1", "alg": "ES256"})},
                         issuer=ISSUER, audience=AUDIENCE, mapping=mapping)


def token(**claims: object) -> str:
    now = int(time.time())
    return jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "idp-pairwise-1", "exp": now + 600, **claims}, KEY,
                      algorithm="ES256", headers={"kid": "k1"})


def test_the_hsa_id_is_the_user_the_unit_claim_the_unit_and_groups_map_to_roles() -> None:
    claims = verifier().verify(token(hsa_id="SE2321000016-ABCD", unit_hsa_id="malmo-iof",
                                     groups=["g-chefer", "unrelated", "g-staff"]))
    assert (claims.sub, claims.unit, sorted(claims.roles)) == ("SE2321000016-ABCD", "malmo-iof", ["staff", "unit_manager"])
    single = verifier().verify(token(hsa_id="SE2321000016-ABCD", unit_hsa_id="malmo-iof", groups="g-staff"))
    assert sorted(single.roles) == ["staff"]  # a provider that sends one group as a string


def test_with_a_role_map_only_mapped_groups_count() -> None:
    """A group that happens to carry a role's name grants nothing unless the map says so."""
    with pytest.raises(Unauthorized, match="no Brygga role"):
        verifier().verify(token(hsa_id="SE2321000016-ABCD", groups=["admin", "auditor"]))
    with pytest.raises(Unauthorized, match="hsa_id claim is empty"):
        verifier().verify(token(groups=["g-staff"], unit_hsa_id="malmo-iof"))  # its own sub is not the HSA-id


def test_without_a_map_the_roles_claim_names_roles_as_before() -> None:
    claims = verifier(ClaimMapping()).verify(token(roles=["admin"]))
    assert (claims.sub, sorted(claims.roles)) == ("idp-pairwise-1", ["admin"])


def test_a_client_is_known_by_the_personal_number_claim_without_an_hsa_id() -> None:
    claims = verifier().verify(token(groups=["g-invanare"], personal_number="19121212-1212"))
    assert (sorted(claims.roles), claims.personal_number, claims.unit) == (["client"], "19121212-1212", None)
    with pytest.raises(Unauthorized, match="personal number"):
        verifier().verify(token(groups=["g-invanare"], sub="19121212-1212"))  # the number only where the map says


WEB_CLIENT = "brygga-web"


def api_verifier() -> TokenVerifier:
    """The API's verifier of an installation whose web sign-in is the client WEB_CLIENT."""
    return TokenVerifier({"k1": jwt.PyJWK({**jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True),
                                           "kid": "k1", "alg": "ES256"})},
                         issuer=ISSUER, audience=AUDIENCE, mapping=ClaimMapping(), web_client_id=WEB_CLIENT)


def test_the_api_refuses_an_id_token_whatever_its_audience() -> None:
    """Insider attack 11, finding 1: an ID token whose audience happens to be the API's (one value for both, or
    a provider that puts both in `aud`) opens no API call: it carries the sign-in's nonce, or names the web
    client as its authorized party. Access tokens (no nonce, another azp or none) are accepted as before."""
    staff = {"roles": ["staff"], "unit": "malmo-iof"}
    with pytest.raises(Unauthorized, match="ID token"):
        api_verifier().verify(token(nonce="n" * 43, **staff))
    with pytest.raises(Unauthorized, match="web sign-in"):
        api_verifier().verify(token(azp=WEB_CLIENT, aud=[AUDIENCE, WEB_CLIENT], **staff))
    assert api_verifier().verify(token(azp="an-api-caller", **staff)).sub == "idp-pairwise-1"
    assert api_verifier().verify(token(**staff)).sub == "idp-pairwise-1"
    # The sign-in's own verifier takes ID tokens (nonce and all) for the client id.
    sign_in = api_verifier().for_audience(WEB_CLIENT)
    assert sign_in.verify(token(aud=WEB_CLIENT, nonce="n" * 43, azp=WEB_CLIENT, **staff)).unit == "malmo-iof"


def test_a_client_in_two_groups_mapping_to_client_is_a_client() -> None:
    """Insider attack 11, finding 4: two citizen groups, both mapped to `client`, and no HSA-id: still the person
    themself (known by the personal number), not a token refused for lacking the HSA-id."""
    claims = verifier().verify(token(groups=["g-invanare", "g-invanare-2"], personal_number="19121212-1212"))
    assert (sorted(claims.roles), claims.personal_number, claims.unit) == (["client"], "19121212-1212", None)
    assert MAPPING.role_names(["g-invanare", "g-invanare-2", "g-staff"]) == ["client", "staff"]
    with pytest.raises(Unauthorized, match="client role alone"):  # client beside staff stays refused
        verifier().verify(token(hsa_id="SE2321000016-ABCD", groups=["g-invanare", "g-staff"],
                                personal_number="19121212-1212"))


def test_an_id_token_authorized_for_another_client_is_refused() -> None:
    """Insider attack 11, finding 6 (OIDC Core §3.1.3.7): an ID token whose one audience is ours but whose `azp`
    names another client was issued to that client; several audiences need `azp` naming us."""
    sign_in = api_verifier().for_audience(WEB_CLIENT)
    staff = {"roles": ["staff"], "unit": "malmo-iof", "nonce": "n" * 43}
    with pytest.raises(Unauthorized, match="audience"):
        sign_in.verify(token(aud=WEB_CLIENT, azp="another-client", **staff))
    with pytest.raises(Unauthorized, match="audience"):
        sign_in.verify(token(aud=[WEB_CLIENT, "another-client"], **staff))
    assert sign_in.verify(token(aud=WEB_CLIENT, **staff)).unit == "malmo-iof"  # one audience, no azp
    assert sign_in.verify(token(aud=[WEB_CLIENT, "another-client"], azp=WEB_CLIENT, **staff)).unit == "malmo-iof"
