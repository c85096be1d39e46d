"""A real OpenID provider for the tests: `oidc-provider` (npm, pinned in tests/oidc/package.json) on Node.

`python3 dev.py test` installs it (`npm ci` in tests/oidc) where Node and npm exist; elsewhere the tests that
need it skip with SKIP_REASON. The provider runs as its own process on a port of its own, with private
signing keys the test chooses; restarting it with another set is a key rotation at the provider.
"""
from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

HERE = Path(__file__).resolve().parent / "oidc"
NODE = shutil.which("node")
RESOURCE = "urn:brygga:api"
WEB_CLIENT, WEB_SECRET = "brygga-web", "brygga-web-secret-for-tests-only"


def _skip_reason() -> str | None:
    if NODE is None:
        return "Node is not installed: the tests' OpenID provider (npm oidc-provider) runs on it"
    if not (HERE / "node_modules" / "oidc-provider" / "package.json").is_file():
        return "oidc-provider is not installed in tests/oidc (python3 dev.py test runs npm ci there)"
    return None


SKIP_REASON = _skip_reason()


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def signing_key(kid: str) -> dict[str, Any]:
    """A fresh private ES256 JWK (the provider signs with it and publishes its public half)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key)), "kid": kid, "alg": "ES256", "use": "sig"}


def public(key: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in key.items() if name != "d"}


@dataclass
class Provider:
    """One provider process; `start()`, `restart(keys)`, `stop()`. Its issuer is http://127.0.0.1:<port>."""

    directory: Path
    audience: str
    keys: list[dict[str, Any]]
    clients: list[dict[str, Any]] = field(default_factory=list)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    async def start(self) -> None:
        config = self.directory / f"provider-{self.port}.json"
        config.write_text(json.dumps({
            "issuer": self.issuer, "port": self.port, "jwks": {"keys": self.keys}, "clients": self.clients,
            "accounts": self.accounts, "resource": RESOURCE, "audience": self.audience}))
        assert NODE is not None
        self.process = await asyncio.create_subprocess_exec(
            NODE, str(HERE / "provider.mjs"), str(config), cwd=HERE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        assert self.process.stdout is not None
        seen = []
        async with asyncio.timeout(30):
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    raise RuntimeError("the OpenID provider stopped: " + b"".join(seen).decode(errors="replace"))
                seen.append(line)
                if line.strip() == b"listening":
                    break
        asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """Keep reading its output (the provider logs warnings) so a full pipe never blocks it."""
        process = self.process
        assert process is not None and process.stdout is not None
        while await process.stdout.readline():
            pass

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        self.process = None

    async def restart(self, keys: list[dict[str, Any]]) -> None:
        """Stop, then serve again on the same port with `keys` (the first signs): a rotation at the provider."""
        await self.stop()
        self.keys = keys
        await self.start()

    async def access_token(self, client_id: str, secret: str) -> str:
        """A JWT access token for Brygga's audience by the client-credentials grant (the client's brygga_claims in it)."""
        async with aiohttp.ClientSession() as http, http.post(
                self.token_endpoint, headers={"Authorization": basic(client_id, secret)},
                data={"grant_type": "client_credentials", "resource": RESOURCE, "scope": "api"}) as response:
            body = await response.json()
            assert response.status == 200, body
            return body["access_token"]


def api_client(client_id: str, claims: dict[str, Any]) -> dict[str, Any]:
    """A client-credentials client whose access tokens carry `claims` (an API caller: roles/groups, unit, HSA-id)."""
    return {"client_id": client_id, "client_secret": f"{client_id}-secret", "grant_types": ["client_credentials"],
            "response_types": [], "redirect_uris": [], "brygga_claims": claims,
            "id_token_signed_response_alg": "ES256"}


def web_client(origin: str) -> dict[str, Any]:
    """Brygga's web sign-in at `origin`: a confidential client, authorization code with PKCE, back to the sign-in
    page after signing out at the provider."""
    return {"client_id": WEB_CLIENT, "client_secret": WEB_SECRET, "grant_types": ["authorization_code"],
            "response_types": ["code"], "redirect_uris": [f"{origin}/ui/oidc/callback"],
            "post_logout_redirect_uris": [f"{origin}/ui/sign-in"], "id_token_signed_response_alg": "ES256"}
