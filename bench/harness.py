"""What the benchmarks that run Brygga as a server share: ports, processes, a signing key and its tokens."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ISSUER, AUDIENCE, UNIT = "https://idp.bench.brygga", "brygga", "bench-unit"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(args: list[str], env: dict, log: Path, cwd: Path = ROOT) -> subprocess.Popen:
    """Start a process in the project's root (or `cwd`: an older revision's tree), its output to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def revision_tree(revision: str, into: Path) -> Path | str:
    """The project's files as they were at `revision` (git archive of this repository's history), extracted under
    `into`, to run an older server beside today's in one run; or why not (no git, a shallow clone), as a string."""
    import io
    import tarfile

    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", revision], capture_output=True,
                                 check=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError) as error:
        reason = getattr(error, "stderr", b"") or b""
        return f"git archive {revision[:12]}: {reason.decode(errors='replace').strip() or error}"
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def stop(procs: list[subprocess.Popen], signum: int = 15, timeout: float = 15) -> None:
    """Signal each process, wait for it, kill it if it does not end in time."""
    for proc in procs:
        proc.send_signal(signum)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def identity(tmp: Path) -> Callable[..., dict]:
    """Write a JWKS (one ES256 key) and a key ring under `tmp`; return bearer(sub, roles, unit=None, **claims)
    -> headers (claims: more of the token's, e.g. an auditor's `organisations`)."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    from crypto import FileKeyProvider

    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    (tmp / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "bench", "alg": "ES256", "use": "sig"}]}))
    FileKeyProvider(tmp / "keyring.json").init()

    def bearer(sub: str, roles: list[str], unit: str | None = None, **extra: object) -> dict:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "name": sub, "roles": roles, "iat": now,
                  "nbf": now - 5, "exp": now + 3 * 3600, **({"unit": unit} if unit else {}), **extra}
        return {"Authorization": "Bearer " + jwt.encode(claims, key, algorithm="ES256", headers={"kid": "bench"})}

    return bearer


def server_env(tmp: Path, dsn: str, port: int, **extra: str) -> dict:
    """The environment of a Brygga server under `tmp` on `port`, with identity(tmp)'s keys."""
    return {**os.environ, "DATABASE_URL": dsn, "BRYGGA_JWKS": str(tmp / "jwks.json"),
            "BRYGGA_KEYRING": str(tmp / "keyring.json"), "BRYGGA_JWT_ISSUER": ISSUER, "BRYGGA_JWT_AUDIENCE": AUDIENCE,
            "BRYGGA_PORT": str(port), "BRYGGA_LOG_LEVEL": "WARNING", "BRYGGA_DATA_DIR": str(tmp / "brygga"), **extra}


async def wait_ready(base: str, proc: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    """Wait (up to `seconds`) until the server at `base` answers /readyz 200; RuntimeError with its log's tail if it
    exits or never does."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for _ in range(int(seconds / 0.2)):
            if proc.poll() is not None:
                break
            try:
                async with session.get(base + "/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{base} is not ready:\n{log.read_text()[-3000:]}")


def pool_size() -> int:
    """Brygga's pool size by default (Settings.db_pool_size): the baselines' pools are the same size."""
    from service.settings import Settings

    return next(int(f.default) for f in dataclasses.fields(Settings) if f.name == "db_pool_size")
