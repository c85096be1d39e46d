"""Test fixtures: a real PostgreSQL, real keys, real tokens, real HTTP.

One PostgreSQL server per test session (embedded, or the server of DATABASE_URL);
a template database migrated once; each test gets its own database cloned from it.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import settings as hypothesis_settings

from crypto import FileKeyProvider
from service.app import create_app
from service.database import DatabaseError, migrate, with_database
from service.embedded import EmbeddedPostgres
from service.settings import Settings
from tests import hsm
from tests.hsm import SoftHsm
from tests.objectstore import BUCKET, S3Server, moto_server

# Property tests are derandomized unless a test says otherwise: a CI run on a fresh machine draws the worlds a
# developer's run drew, so a failure is the same failure on both (and no example database is left behind).
# BRYGGA_HYPOTHESIS_RANDOM=1 explores new worlds instead and prints the seed to replay one with.
hypothesis_settings.register_profile("brygga", derandomize=True, database=None, deadline=None)
hypothesis_settings.register_profile("explore", derandomize=False, database=None, deadline=None, print_blob=True)
hypothesis_settings.load_profile("explore" if os.environ.get("BRYGGA_HYPOTHESIS_RANDOM") == "1" else "brygga")

ISSUER = "https://idp.test.brygga"
AUDIENCE = "brygga"
TEMPLATE = "brygga_template"


@pytest.fixture(scope="session")
def pg_server_dsn() -> Iterator[str]:
    """A DSN for an administrative database on the test server."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    # Not under pytest's basetemp: another pytest run on the machine prunes old basetemps. On a machine loaded by
    # other workers initdb or pg_ctl's wait now and then gives up: a fresh directory, up to three times.
    for attempt in range(3):
        directory = Path(tempfile.mkdtemp(prefix="brygga-test-pg-"))
        server = EmbeddedPostgres(directory / "data")
        try:
            dsn = server.start()
            break
        except DatabaseError:
            server.stop()
            shutil.rmtree(directory, ignore_errors=True)
            if attempt == 2:
                raise
            time.sleep(2)
    asyncio.run(_throwaway(dsn))
    yield dsn
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


async def _throwaway(dsn: str) -> None:
    """The test server's data is thrown away after the run: no waiting for the disk (a database per test is
    created from the template in a few milliseconds instead of half a second)."""
    conn = await asyncpg.connect(dsn)
    try:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            await conn.execute(f"ALTER SYSTEM SET {setting} = off")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_dsn(pg_server_dsn: str) -> str:
    """A database with every migration applied, to clone per test."""

    async def build() -> None:
        conn = await asyncpg.connect(pg_server_dsn)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
            await conn.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await conn.close()
        conn = await asyncpg.connect(with_database(pg_server_dsn, TEMPLATE))
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(build())
    return with_database(pg_server_dsn, TEMPLATE)


@pytest.fixture
async def database_url(pg_server_dsn: str, template_dsn: str) -> AsyncIterator[str]:
    """A fresh, migrated database for one test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(pg_server_dsn)
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    finally:
        await conn.close()
    yield with_database(pg_server_dsn, name)
    conn = await asyncpg.connect(pg_server_dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@dataclass
class SigningKeys:
    """Real private keys of each accepted algorithm, their JWKS, and one key the JWKS lacks."""

    directory: Path
    private: dict[str, Any] = field(default_factory=dict)  # alg -> private key
    outsider: Any = None

    @property
    def jwks_path(self) -> Path:
        return self.directory / "jwks.json"

    @property
    def keyring_path(self) -> Path:
        return self.directory / "keyring.json"


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory: pytest.TempPathFactory) -> SigningKeys:
    keys = SigningKeys(tmp_path_factory.mktemp("keys"))
    keys.private = {
        "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    }
    keys.outsider = ec.generate_private_key(ec.SECP256R1())
    to_jwk = {
        "RS256": jwt.algorithms.RSAAlgorithm.to_jwk,
        "ES256": jwt.algorithms.ECAlgorithm.to_jwk,
        "EdDSA": jwt.algorithms.OKPAlgorithm.to_jwk,
    }
    jwks = {"keys": [{**json.loads(to_jwk[alg](key.public_key())), "kid": f"test-{alg}", "alg": alg, "use": "sig"}
                     for alg, key in keys.private.items()]}
    keys.jwks_path.write_text(json.dumps(jwks))
    FileKeyProvider(keys.keyring_path).init()
    return keys


# Roles whose tokens name the organisations they audit (API-1.1 "Side doors closed in v1.1").
ORGANISATION_ROLES = frozenset({"auditor", "analyst"})


@dataclass
class TokenFactory:
    """Mints real signed tokens; every claim can be overridden or removed (value None).

    An auditor's or analyst's token carries `organisations: ["*"]` (the whole installation)
    unless the test names its organisations, or passes `organisations=None` to leave it out.
    """

    keys: SigningKeys

    def __call__(self, *, sub: str = "staff-1", roles: Any = ("staff",), unit: str | None = None,
                 alg: str = "ES256", kid: str | None = None, key: Any = None, headers: dict | None = None,
                 **claims: Any) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "name": f"Name of {sub}",
                                   "roles": list(roles) if isinstance(roles, tuple) else roles, "iat": now, "nbf": now - 5,
                                   "exp": now + 600}
        if unit is not None:
            payload["unit"] = unit
        if isinstance(payload["roles"], list) and ORGANISATION_ROLES & set(map(str, payload["roles"])):
            payload["organisations"] = ["*"]
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        signing_key = key if key is not None else self.keys.private[alg]
        return jwt.encode(payload, signing_key, algorithm=alg, headers={"kid": kid or f"test-{alg}", **(headers or {})})

    def auth(self, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self(**kwargs)}"}


@pytest.fixture(scope="session")
def tokens(signing_keys: SigningKeys) -> TokenFactory:
    return TokenFactory(signing_keys)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, signing_keys: SigningKeys) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        jwks_path=signing_keys.jwks_path,
        keyring_path=signing_keys.keyring_path,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        audit_seal_interval=0,  # tests seal when they choose (runtime.chain_sealer.catch_up()); one test runs it live
    )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server as a real HTTP process, one per test session (skips where moto is not installed)."""
    with moto_server() as server:
        yield server


@pytest.fixture
def s3_blobs(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A BRYGGA_BLOBS value of a prefix of its own in the test bucket, with the standard AWS settings set for it."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return f"s3://{BUCKET}/test-{uuid.uuid4()}"


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    """A SoftHSM2 token for this test process (skips with the reason where SoftHSM2 is not installed)."""
    return hsm.start(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture
def softhsm(softhsm_token: SoftHsm) -> SoftHsm:
    """The token, emptied of keys for this test."""
    softhsm_token.clear()
    return softhsm_token


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    """Real HTTP against a real app on a real database."""
    async with TestClient(TestServer(create_app(settings))) as test_client:
        yield test_client


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test's database, for asserting what was stored."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


class Api:
    """Small factory for test data through the real HTTP API."""

    def __init__(self, client: TestClient, tokens: TokenFactory) -> None:
        self.client = client
        self.tokens = tokens
        self.admin = tokens.auth(sub="admin-1", roles=["admin"])

    async def unit(self, unit_id: str, *, organisation: str = "malmo-stad", domain: str = "social") -> dict:
        response = await self.client.post("/v1/units", headers=self.admin,
                                          json={"id": unit_id, "name": f"Unit {unit_id}", "organisation": organisation, "domain": domain})
        assert response.status in (200, 201), await response.text()
        return await response.json()

    def staff(self, unit: str, *, sub: str | None = None, roles: list[str] | None = None) -> dict[str, str]:
        return self.tokens.auth(sub=sub or f"staff-of-{unit}", unit=unit, roles=roles or ["staff"])

    async def register(self, headers: dict, personal_number: str = "19121212-1212", name: str = "Tolvan Tolvansson") -> dict:
        response = await self.client.post("/v1/clients", headers=headers, json={"personal_number": personal_number, "name": name})
        assert response.status in (200, 201), await response.text()
        return await response.json()

    async def relation(self, headers: dict, client_id: str) -> dict:
        response = await self.client.post(f"/v1/clients/{client_id}/relations", headers=headers, json={})
        assert response.status in (200, 201), await response.text()
        return await response.json()


@pytest.fixture
def api(client: TestClient, tokens: TokenFactory) -> Api:
    return Api(client, tokens)
