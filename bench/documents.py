"""Document upload/download throughput and memory of Brygga against a plain aiohttp + asyncpg baseline.

    .venv/bin/python bench/documents.py [--quick]

One embedded PostgreSQL (temp dir) holds two databases: `brygga_bench` (migrated) for
Brygga, run as `python -m service serve`, and `baseline_bench` for bench/baseline_server.py
(same multipart request and 64 KiB rows in one transaction, but no auth, crypto, policy or
audit). Both are separate processes on 127.0.0.1 with the same client code. Measured:

- per size (64 KiB, 1 MiB, 40 MiB): N sequential uploads, then one download of each, in
  MiB/s of plaintext; baseline and Brygga alternate twice and the best of 2 counts;
- raw AES-256-GCM (cryptography) over 256 MiB in 64 KiB blocks in this process;
- server RSS (psutil, sampled every 5 ms) before and at peak during one 40 MiB upload.

--quick divides N by 4. Exits 0 whatever the numbers; stops everything it started.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import jwt
import psutil
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
from crypto import FileKeyProvider  # noqa: E402
from service.database import EmbeddedPostgres, migrate, with_database  # noqa: E402

MiB = 1024 * 1024
# N per size: enough that even the (fast) download phase of the baseline takes over a second.
SIZES = ((64 * 1024, "64 KiB", 1600), (MiB, "1 MiB", 400), (40 * MiB, "40 MiB", 12))
ISSUER, AUDIENCE, UNIT = "https://idp.bench.brygga", "brygga", "bench-unit"
METADATA = json.dumps({"category": "other", "title": "Benchmark document"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pdf(size: int) -> bytes:
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\n"
    return head + os.urandom(size - len(head) - 6) + b"\n%%EOF"


@dataclass
class Target:
    """A server under test, as the client sees it."""

    name: str
    proc: subprocess.Popen
    base: str
    upload_path: str
    download_path: str  # with {id}
    session: aiohttp.ClientSession
    headers: dict

    async def upload(self, body: bytes) -> str:
        form = aiohttp.FormData()
        form.add_field("metadata", METADATA, content_type="application/json")
        form.add_field("file", body, filename="bench.pdf", content_type="application/pdf")
        async with self.session.post(self.base + self.upload_path, data=form, headers=self.headers) as r:
            if r.status not in (200, 201):
                raise RuntimeError(f"{self.name} upload: {r.status} {await r.text()}")
            return (await r.json())["id"]

    async def download(self, document_id: str, size: int) -> None:
        got = 0
        async with self.session.get(self.base + self.download_path.format(id=document_id), headers=self.headers) as r:
            if r.status != 200:
                raise RuntimeError(f"{self.name} download: {r.status} {await r.text()}")
            async for chunk in r.content.iter_chunked(MiB):
                got += len(chunk)
        if got != size:
            raise RuntimeError(f"{self.name} download: {got} bytes, expected {size}")


def spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


async def wait_ready(session: aiohttp.ClientSession, proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            async with session.get(url) as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready after 60 s:\n{log.read_text()[-3000:]}")


def aes_ceiling(total: int = 256 * MiB, block: int = 64 * 1024) -> tuple[float, float]:
    aead, data, keep = AESGCM(AESGCM.generate_key(bit_length=256)), os.urandom(block), []
    started = time.perf_counter()
    for n in range(total // block):
        nonce = os.urandom(12)
        sealed = aead.encrypt(nonce, data, None)
        if n < 64:
            keep.append((nonce, sealed))
    encrypt = total / MiB / (time.perf_counter() - started)
    started = time.perf_counter()
    for n in range(total // block):
        aead.decrypt(*keep[n % 64], None)
    return encrypt, total / MiB / (time.perf_counter() - started)


async def rss_during_upload(target: Target, body: bytes) -> tuple[float, float]:
    """(RSS before, peak RSS during) one upload, in MiB."""
    process, stop = psutil.Process(target.proc.pid), threading.Event()
    before = peak = process.memory_info().rss

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, process.memory_info().rss)
            stop.wait(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        await target.upload(body)
    finally:
        stop.set()
        sampler.join()
    return before / MiB, peak / MiB


async def round_trip(target: Target, body: bytes, count: int, server_dsn: str) -> tuple[float, float]:
    """(upload MiB/s, download MiB/s) for `count` sequential uploads, then a download of each."""
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute("CHECKPOINT")  # start each phase with no dirty buffers of the previous one
    finally:
        await conn.close()
    started = time.perf_counter()
    ids = [await target.upload(body) for _ in range(count)]
    upload = time.perf_counter() - started
    started = time.perf_counter()
    for document_id in ids:
        await target.download(document_id, len(body))
    download = time.perf_counter() - started
    volume = count * len(body) / MiB
    return volume / upload, volume / download


async def bench(quick: bool, tmp: Path, server_dsn: str, procs: list[subprocess.Popen]) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        pg_version = (await conn.fetchval("SHOW server_version")).split()[0]
        for name in ("brygga_bench", "baseline_bench"):
            await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    conn = await asyncpg.connect(with_database(server_dsn, "brygga_bench"))
    try:
        await migrate(conn)
    finally:
        await conn.close()

    signing_key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(signing_key.public_key()))
    (tmp / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "bench", "alg": "ES256", "use": "sig"}]}))
    FileKeyProvider(tmp / "keyring.json").init()

    def bearer(sub: str, roles: list[str], unit: str | None = None) -> dict:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "name": sub, "roles": roles, "iat": now, "nbf": now - 5,
                  "exp": now + 3 * 3600, **({"unit": unit} if unit else {})}
        return {"Authorization": "Bearer " + jwt.encode(claims, signing_key, algorithm="ES256", headers={"kid": "bench"})}

    aes = aes_ceiling()  # before the servers start: nothing else runs
    brygga_port, baseline_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": with_database(server_dsn, "brygga_bench"), "BRYGGA_JWKS": str(tmp / "jwks.json"),
           "BRYGGA_KEYRING": str(tmp / "keyring.json"), "BRYGGA_JWT_ISSUER": ISSUER, "BRYGGA_JWT_AUDIENCE": AUDIENCE,
           "BRYGGA_PORT": str(brygga_port), "BRYGGA_LOG_LEVEL": "WARNING", "BRYGGA_DATA_DIR": str(tmp / "brygga"),
           "BRYGGA_MAX_DOCUMENT_BYTES": str(64 * MiB)}
    procs.append(spawn([sys.executable, "-m", "service", "serve"], env, tmp / "brygga.log"))
    procs.append(spawn([sys.executable, str(ROOT / "bench" / "baseline_server.py"),
                        with_database(server_dsn, "baseline_bench"), str(baseline_port)], dict(os.environ), tmp / "baseline.log"))
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as s_brygga, aiohttp.ClientSession(timeout=timeout) as s_baseline:
        brygga_url, baseline_url = f"http://127.0.0.1:{brygga_port}", f"http://127.0.0.1:{baseline_port}"
        await wait_ready(s_brygga, procs[0], brygga_url + "/readyz", tmp / "brygga.log")
        await wait_ready(s_baseline, procs[1], baseline_url + "/readyz", tmp / "baseline.log")

        admin, staff = bearer("admin-1", ["admin"]), bearer("bench-staff", ["staff"], UNIT)
        unit = {"id": UNIT, "name": "Bench unit", "organisation": "malmo-stad", "domain": "social"}
        async with s_brygga.post(brygga_url + "/v1/units", json=unit, headers=admin) as r:
            assert r.status in (200, 201), await r.text()
        async with s_brygga.post(brygga_url + "/v1/clients", json={"personal_number": "19121212-1212", "name": "Bench"},
                                 headers=staff) as r:
            assert r.status in (200, 201), await r.text()
            client_id = (await r.json())["id"]
        async with s_brygga.post(f"{brygga_url}/v1/clients/{client_id}/relations", json={}, headers=staff) as r:
            assert r.status in (200, 201), await r.text()

        brygga = Target("brygga", procs[0], brygga_url, f"/v1/clients/{client_id}/documents",
                        "/v1/documents/{id}/content", s_brygga, staff)
        baseline = Target("baseline", procs[1], baseline_url, "/upload", "/download/{id}", s_baseline, {})
        bodies = {size: pdf(size) for size, _, _ in SIZES}
        for target in (baseline, brygga):  # warm up: imports, pools, libmagic, prepared statements
            await round_trip(target, bodies[MiB], 2, server_dsn)
        rss = {t.name: await rss_during_upload(t, bodies[40 * MiB]) for t in (baseline, brygga)}

        results = {}
        for size, label, count in SIZES:
            count = max(1, count // 4) if quick else count
            runs: dict[str, list[tuple[float, float]]] = {"baseline": [], "brygga": []}
            for _ in range(2):
                for target in (baseline, brygga):
                    runs[target.name].append(await round_trip(target, bodies[size], count, server_dsn))
            results[label] = {name: (max(r[0] for r in rs), max(r[1] for r in rs)) for name, rs in runs.items()}
            print(f"  measured {label} × {count}", file=sys.stderr, flush=True)

    print(f"\nBrygga documents benchmark ({os.cpu_count()} cores, loopback, embedded PostgreSQL {pg_version})"
          + (" --quick" if quick else ""))
    print(f"{'size':<9}{'op':<10}{'baseline MiB/s':>15}{'brygga MiB/s':>15}{'ratio':>8}")
    ratios = {}
    for _, label, _ in SIZES:
        for i, op in enumerate(("upload", "download")):
            base, ours = results[label]["baseline"][i], results[label]["brygga"][i]
            ratios[label, op] = ours / base
            print(f"{label:<9}{op:<10}{base:>15.1f}{ours:>15.1f}{ours / base:>8.2f}")
    print(f"AES-256-GCM raw (cryptography, 64 KiB blocks): encrypt {aes[0]:.0f} MiB/s, decrypt {aes[1]:.0f} MiB/s")
    (b_before, b_peak), (o_before, o_peak) = rss["baseline"], rss["brygga"]
    growth = o_peak - o_before
    print(f"40 MiB upload RSS: brygga {o_before:.0f} → peak {o_peak:.0f} MiB (+{growth:.0f} MiB); "
          f"baseline {b_before:.0f} → peak {b_peak:.0f} MiB (+{b_peak - b_before:.0f} MiB)")
    met = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    print("targets:")
    for op in ("upload", "download"):
        print(f"  1 MiB {op} ≥ 0.70 of baseline: {ratios['1 MiB', op]:.2f} → {met(ratios['1 MiB', op] >= 0.70)}")
    print(f"  40 MiB upload RSS growth < 64 MiB: +{growth:.0f} MiB → {met(growth < 64)}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the documents per measurement")
    quick = parser.parse_args().quick
    tmp = Path(tempfile.mkdtemp(prefix="brygga-bench-"))
    procs: list[subprocess.Popen] = []
    postgres = EmbeddedPostgres(tmp / "postgres")
    try:
        server_dsn = postgres.start()
        asyncio.run(bench(quick, tmp, server_dsn, procs))
    finally:
        for proc in procs:
            stop(proc)
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
