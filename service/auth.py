"""JWT verification → Principal (API.md "Tokens").

Brygga verifies, never issues (except development tokens, service/devkeys.py).
The algorithm comes from an allowlist and must match the key the `kid` selects,
so `alg: none`, HS256 signed with a public key (algorithm confusion) and keys
from outside the JWKS are all refused before any signature check.
"""
from __future__ import annotations

import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jwt

from policies.model import ALL_ORGANISATIONS, CLIENT_ROLES, INSTALLATION_ROLES, ORGANISATION_ROLES, Principal, Role, Zone

from .errors import Unauthorized

ACCEPTED_ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
LEEWAY_SECONDS = 60
_REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]
_ORGANISATION_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,63}")  # as units.organisation


class JwksError(ValueError):
    """The JWKS file cannot be used; raised at start-up."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """Verified claims, before the unit is looked up."""

    sub: str
    name: str | None
    roles: frozenset[Role]
    unit: str | None
    exp: int
    not_before: int | None = None  # the later of nbf and iat, when given
    organisations: frozenset[str] | None = None  # an auditor's or analyst's; None when absent or ill-formed
    # A client's personal number as the token's mapped claim carries it (unchecked here: service/http/context.py
    # parses it and keeps only its blind index); None for every other role.
    personal_number: str | None = None

    def __repr__(self) -> str:  # the number must never reach a log line or a traceback
        return f"TokenClaims(roles={sorted(self.roles)}, unit={self.unit!r})"


def load_jwks(path: Path) -> dict[str, jwt.PyJWK]:
    """Keys by kid; raises JwksError when the file is unreadable, has no keys or a key without kid."""
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise JwksError(f"JWKS file {path} cannot be read: {type(exc).__name__}") from None
    return parse_jwks(document, f"JWKS file {path}", strict=True)


def parse_jwks(document: Any, source: str, *, strict: bool) -> dict[str, jwt.PyJWK]:
    """Signing keys by kid from a JWKS document; raises JwksError when it has none usable.

    `strict` (a file the operator wrote): every key must be usable. Not strict (an issuer's published set):
    keys for encryption, without kid or for algorithms Brygga does not accept are left out, since providers
    publish such keys beside their signing keys; a private key is refused either way.
    """
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys:
        raise JwksError(f"{source} has no keys")
    by_kid: dict[str, jwt.PyJWK] = {}
    for entry in keys:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str) or not entry["kid"]:
            if strict:
                raise JwksError(f"{source}: every key needs a kid")
            continue
        if "d" in entry or "k" in entry:
            raise JwksError(f"{source}: key {entry['kid']} is a private or symmetric key; publish only public keys")
        if not strict and entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
            if strict:
                raise JwksError(f"{source}: key {entry['kid']}: {exc}") from None
            continue
        if key.algorithm_name not in ACCEPTED_ALGORITHMS:
            if strict:
                raise JwksError(f"{source}: key {entry['kid']} is for {key.algorithm_name}, not one of {sorted(ACCEPTED_ALGORITHMS)}")
            continue
        by_kid[entry["kid"]] = key
    if not by_kid:
        raise JwksError(f"{source} has no signing key Brygga accepts ({sorted(ACCEPTED_ALGORITHMS)})")
    return by_kid


class KeySource(Protocol):
    """Where a verifier's keys come from: a file read at start (StaticKeys) or an issuer's JWKS (service/oidc.py)."""

    @property
    def keys(self) -> Mapping[str, jwt.PyJWK]: ...

    @property
    def version(self) -> int:
        """Changes whenever `keys` does: the verifier then forgets the tokens it remembered."""
        ...

    async def ensure(self, kid: str | None) -> None:
        """Bring `keys` up to date for a token naming `kid` (None: a remembered token) where the source allows."""
        ...


@dataclass(slots=True)
class StaticKeys:
    """A fixed set (BRYGGA_JWKS, the development JWKS): nothing to fetch."""

    keys: Mapping[str, jwt.PyJWK]
    version: int = 0

    async def ensure(self, kid: str | None) -> None:
        return None


@dataclass(frozen=True, slots=True)
class ClaimMapping:
    """Which claims carry what (API-1.1 "Identity providers"): BRYGGA_CLAIM_SUB / _UNIT / _ROLES /
    _PERSONAL_NUMBER and BRYGGA_ROLE_MAP (IdP group or value → Brygga roles).

    Without a role map the roles claim holds Brygga role names (as tokens always did); with one, only the
    map decides, so an IdP group that happens to be called "admin" grants nothing unless it is mapped.
    """

    sub: str = "sub"
    unit: str = "unit"
    roles: str = "roles"
    personal_number: str = "sub"
    role_map: Mapping[str, tuple[str, ...]] | None = field(default=None)

    def role_names(self, value: Any) -> list[str] | None:
        """The Brygga role names the roles claim's value stands for; None when it is not a string or strings."""
        values = [value] if isinstance(value, str) and self.role_map is not None else value
        if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
            return None
        if self.role_map is None:
            return list(dict.fromkeys(values))
        # Once each: two groups mapping to one role grant it once (a client in two citizen groups is still a client).
        return list(dict.fromkeys(role for item in values for role in self.role_map.get(item, ())))


class TokenVerifier:
    """Verifies bearer tokens against one JWKS, issuer and audience.

    A client sends the same token with every request until it expires, and an
    ECDSA or RSA signature check costs more than the rest of a small request's
    work in Python; so a token that verified is remembered (exact string, LRU,
    `cache_size` entries) and only its time window is checked again. Nothing is
    remembered of a token that failed.
    """

    def __init__(self, keys: Mapping[str, jwt.PyJWK] | KeySource, *, issuer: str, audience: str,
                 cache_size: int = 4096, clock: Callable[[], float] = time.time,
                 personal_number_claim: str = "sub", mapping: ClaimMapping | None = None,
                 web_client_id: str | None = None) -> None:
        self._source: KeySource = StaticKeys(dict(keys)) if isinstance(keys, Mapping) else keys
        self._version = self._source.version
        self._issuer = issuer
        self._audience = audience
        self._cache: OrderedDict[str, TokenClaims] = OrderedDict()
        self._cache_size = cache_size
        self._clock = clock
        self._mapping = mapping or ClaimMapping(personal_number=personal_number_claim)
        self._id_tokens = False
        self._web_client_id = web_client_id  # the web sign-in's client (BRYGGA_OIDC_CLIENT_ID): its tokens are not ours

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def source(self) -> KeySource:
        return self._source

    def for_audience(self, audience: str) -> TokenVerifier:
        """A verifier of the same issuer, keys and claim mapping for another audience (the web sign-in's ID
        tokens, whose audience is the client id), remembering its own tokens."""
        verifier = TokenVerifier(self._source, issuer=self._issuer, audience=audience, cache_size=self._cache_size,
                                 clock=self._clock, mapping=self._mapping)
        verifier._id_tokens = True
        return verifier

    async def verify_current(self, token: str) -> TokenClaims:
        """verify() once the key source had its chance to catch up: an unknown kid may make it fetch the
        issuer's JWKS again (at most every 30 s), and a set past its age is refreshed."""
        kid = None
        if token not in self._cache:
            try:
                kid = jwt.get_unverified_header(token).get("kid")
            except jwt.PyJWTError:
                kid = None
        await self._source.ensure(kid if isinstance(kid, str) else None)
        return self.verify(token)

    def verify(self, token: str) -> TokenClaims:
        """Verify signature, algorithm, iss, aud, exp, nbf (60 s leeway) and claim shapes; raises Unauthorized."""
        if self._source.version != self._version:  # keys changed: a remembered token's key may be gone
            self._cache.clear()
            self._version = self._source.version
        claims = self._cache.get(token)
        if claims is None:
            claims = self._verify(token)
            self._cache[token] = claims
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(token)
        now = self._clock()
        if claims.exp <= now - LEEWAY_SECONDS:  # PyJWT's rule, again for a remembered token
            self._cache.pop(token, None)
            raise Unauthorized("token has expired")
        if claims.not_before is not None and claims.not_before > now + LEEWAY_SECONDS:
            raise Unauthorized("token is not yet valid")
        return claims

    def _verify(self, token: str) -> TokenClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("token is not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in ACCEPTED_ALGORITHMS:
            raise Unauthorized("token algorithm is not accepted")
        kid = header.get("kid")
        key = self._source.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthorized("token key id is unknown")
        if key.algorithm_name != alg:
            raise Unauthorized("token algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("token is not yet valid") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("token issuer is not accepted") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("token audience is not accepted") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"token lacks the {exc.claim} claim") from None
        except jwt.PyJWTError:
            raise Unauthorized("token signature or claims are invalid") from None
        _numeric_dates(claims)
        if self._id_tokens:
            _id_token_party(claims, self._audience)
        else:
            self._not_an_id_token(claims)
        return _claims(claims, self._mapping)

    def _not_an_id_token(self, claims: dict[str, Any]) -> None:
        """An API token is no ID token: refused when it carries `nonce` (every ID token of the web sign-in does,
        OIDC Core §3.1.2.1) or was issued to the web sign-in's client (`azp`). The audience alone cannot tell
        them apart where a provider gives both one audience; an ID token leaked from a browser (its history,
        a log) must never open the API as its user (insider attack 11)."""
        if "nonce" in claims:
            raise Unauthorized("token is an ID token (it carries a nonce), not an access token for the API")
        if self._web_client_id is not None and claims.get("azp") == self._web_client_id:
            raise Unauthorized("token was issued to the web sign-in's client, not to an API caller")


def _id_token_party(claims: dict[str, Any], client_id: str) -> None:
    """OIDC Core §3.1.3.7 (3-5): an ID token for several audiences needs `azp` naming us, and an `azp` present
    must name us whatever the audience (a token issued to another client is that client's, even with us its
    one audience: insider attack 11, finding 6); raises Unauthorized."""
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        raise Unauthorized("token audience is not accepted")


def _numeric_dates(claims: dict[str, Any]) -> None:
    """exp, nbf and iat are JSON numbers (RFC 7519 NumericDate); raises Unauthorized otherwise.

    PyJWT checks them with int(), which also takes "1796096864" and true: a token whose times are strings or
    booleans is not one any identity provider issues, and nbf/iat as strings escaped our own not-before check.
    """
    for name in ("exp", "nbf", "iat"):
        if name in claims and (isinstance(claims[name], bool) or not isinstance(claims[name], (int, float))):
            raise Unauthorized(f"token {name} claim is not a number")


def _claims(claims: dict[str, Any], mapping: ClaimMapping) -> TokenClaims:
    sub, name, unit = claims.get(mapping.sub), claims.get("name"), claims.get(mapping.unit)
    roles = mapping.role_names(claims.get(mapping.roles))
    if sub is None and roles is not None and set(roles) == {Role.CLIENT.value}:
        # A person signing in has no HSA-id (BRYGGA_CLAIM_SUB): the token's own sub, which goes no further
        # (a client is known by their personal number's blind id, client_principal).
        sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip():
        raise Unauthorized(f"token {mapping.sub} claim is empty")
    if name is not None and not isinstance(name, str):
        raise Unauthorized("token name claim is not a string")
    if roles is None:
        raise Unauthorized(f"token lacks the {mapping.roles} claim (an array of strings)")
    known = frozenset(Role(role) for role in roles if role in Role._value2member_map_)
    if not known:
        raise Unauthorized("token carries no Brygga role")
    if unit is not None and (not isinstance(unit, str) or not unit):
        raise Unauthorized("token unit claim is not a unit id")
    personal_number = None
    if known & CLIENT_ROLES:
        # The person themself: no unit and no other role (a staff member signs in as staff, never as both).
        if known != CLIENT_ROLES or unit is not None:
            raise Unauthorized("a client token carries the client role alone and no unit")
        personal_number = claims.get(mapping.personal_number)
        if not isinstance(personal_number, str) or not personal_number.strip():
            raise Unauthorized("a client token lacks the personal number claim")
    elif unit is None and not known <= INSTALLATION_ROLES:
        raise Unauthorized("token lacks the unit claim, which every role but admin, analyst and auditor needs")
    starts = [int(claims[c]) for c in ("nbf", "iat") if isinstance(claims.get(c), (int, float))]
    organisations = _organisations(claims.get("organisations")) if known & ORGANISATION_ROLES else None
    return TokenClaims(sub=sub, name=name, roles=known, unit=unit, exp=int(claims["exp"]),
                       not_before=max(starts) if starts else None, organisations=organisations,
                       personal_number=personal_number)


def _organisations(value: Any) -> frozenset[str] | None:
    """The `organisations` claim: a non-empty list of organisation ids, or exactly `["*"]`.

    Anything else (absent, empty, not a list, not ids, `*` beside ids) counts as absent:
    the token stays valid for what needs no organisation (listing units), and each call
    that reads the log answers 403 `no_organisation` (policies/audit.py) and is audited,
    rather than a 401 that would not say what the token lacks.
    """
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        return None
    if value == [ALL_ORGANISATIONS]:
        return frozenset(value)
    if not all(_ORGANISATION_ID.fullmatch(item) for item in value):
        return None
    return frozenset(value)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header; raises Unauthorized."""
    if not authorization:
        raise Unauthorized("no bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("authorization is not a bearer token")
    return token.strip()


def principal(claims: TokenClaims, zone: Zone | None) -> Principal:
    """The Principal for verified claims and the zone of their (existing, active) unit (not a client's:
    client_principal)."""
    return Principal(sub=claims.sub, name=claims.name, roles=claims.roles, unit=claims.unit, zone=zone,
                     organisations=claims.organisations)


def client_principal(claims: TokenClaims, *, index: bytes, blind_id: str) -> Principal:
    """A client's Principal: `sub` is `client:<blind id>` and no name, so the audit log and the logs never hold
    the personal number (nor the person's name from the token); `index` finds their client record."""
    return Principal(sub=f"client:{blind_id}", name=None, roles=claims.roles, personal_number_index=index)
