"""Development keys: a token-signing key with its JWKS, and a key ring, in the data dir.

Created on first start with BRYGGA_DEV=1 (`python3 dev.py serve` sets it) when
BRYGGA_JWKS / BRYGGA_KEYRING are not set, so a newcomer can mint a token and call
the API at once. Never for production: the signing key sits next to the service
that trusts it. Without BRYGGA_DEV=1 a missing setting stops start-up instead
(Settings.effective_jwks_path / effective_keyring_path).
"""
from __future__ import annotations

import json
import logging
import time
from typing import cast

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from crypto import FileKeyProvider
from crypto.keyring import write_private

from .settings import Settings, SettingsError

log = logging.getLogger("brygga.devkeys")
DEV_KID = "brygga-dev-1"


def ensure_dev_keys(settings: Settings) -> None:
    """Create whichever development key material is needed and missing; log loudly when it does.

    Raises SettingsError naming BRYGGA_JWKS or BRYGGA_KEYRING when one is unset and BRYGGA_DEV is not 1.
    """
    if settings.jwks_path is None and settings.oidc_issuer is None and not settings.effective_jwks_path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        write_private(settings.dev_signing_key_path, pem, replace=False)
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        jwks = {"keys": [{**public, "kid": DEV_KID, "alg": "ES256", "use": "sig"}]}
        write_private(settings.effective_jwks_path, json.dumps(jwks, indent=2).encode(), replace=False)
        log.warning(
            "DEVELOPMENT token-signing key and JWKS created in %s: for development only, "
            "set BRYGGA_JWKS to your identity provider's keys in production", settings.dev_dir
        )
    if settings.keyring_path is None and not settings.effective_keyring_path.exists():
        FileKeyProvider(settings.effective_keyring_path).init()
        log.warning(
            "DEVELOPMENT key ring created at %s: for development only, "
            "create a production ring with `python -m service keys init` and set BRYGGA_KEYRING",
            settings.effective_keyring_path,
        )


def split_organisations(text: str | None) -> list[str] | None:
    """The `organisations` claim from comma-separated text ("malmo-stad,region-skane", or "*"); None when empty."""
    organisations = [part.strip() for part in (text or "").split(",") if part.strip()]
    return organisations or None


def require_dev_tokens(settings: Settings) -> None:
    """Raises unless the service trusts its development key: FileNotFoundError with BRYGGA_JWKS, else SettingsError."""
    if settings.jwks_path is not None:
        raise FileNotFoundError("BRYGGA_JWKS is set: tokens come from your identity provider, not the development key")
    if not settings.dev:
        raise SettingsError("BRYGGA_DEV: development tokens only with BRYGGA_DEV=1; "
                            "otherwise tokens come from your identity provider")


def mint_dev_token(
    settings: Settings, *, sub: str, roles: list[str], unit: str | None = None, name: str | None = None, minutes: int = 60,
    organisations: list[str] | None = None,
) -> str:
    """A token signed by the development key; raises as require_dev_tokens, or FileNotFoundError without the key.

    `organisations`: the claim an auditor's or analyst's token needs (ids, or ["*"]); left out when None.
    """
    require_dev_tokens(settings)
    # The development key is the EC P-256 key ensure_dev_keys made (ES256); the loader is typed for any kind.
    key = cast(ec.EllipticCurvePrivateKey,
               serialization.load_pem_private_key(settings.dev_signing_key_path.read_bytes(), password=None))
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": sub,
        "roles": roles,
        "iat": now,
        "nbf": now,
        "exp": now + minutes * 60,
    }
    if unit:
        claims["unit"] = unit
    if name:
        claims["name"] = name
    if organisations is not None:
        claims["organisations"] = organisations
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": DEV_KID})
