"""Document upload/download throughput and memory of Brygga against a plain aiohttp + asyncpg baseline.

    .venv/bin/python bench/documents.py [--quick]

One embedded PostgreSQL (temp dir) holds three databases: `brygga_bench` (migrated) for
Brygga, run as `python -m service serve` with its segments in the database, `brygga_s3_bench`
for a second Brygga with them in an S3 bucket (BRYGGA_BLOBS, on moto's S3 server started here;
left out when moto is not installed), and `baseline_bench` for bench/baseline_server.py
(same multipart request and 64 KiB rows in one transaction, but no auth, crypto, policy or
audit). All are separate processes on 127.0.0.1 driven by the same client code. Measured:

- per size (64 KiB, 1 MiB, 40 MiB): N sequential uploads, then one download of each, in
  MiB/s of plaintext; baseline and Brygga alternate twice and the best of the 2 counts;
- raw AES-256-GCM (cryptography) over 256 MiB in 64 KiB blocks, in this process;
- server RSS (psutil, sampled every 5 ms) before and at its peak during one 40 MiB upload;
- the per-document cost of unwrapping its data key (with a culling epoch: two AES-GCM opens) with the keys in
  the ring file and in an HSM (SoftHSM2 through PKCS#11; left out when it is not installed), in this process.

--quick divides N by 4, --tiny by 100 (a check that everything runs, not a measurement). Exits 0 whatever
the numbers; stops everything it started.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
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
import psutil
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
from bench.harness import ROOT, UNIT, free_port, identity, server_env, spawn, stop  # noqa: E402
from service.database import migrate, with_database  # noqa: E402
from service.embedded import EmbeddedPostgres  # noqa: E402
from tests import objectstore  # noqa: E402

MiB = 1024 * 1024
# N per size: enough that even the baseline's (fast) download phase takes over a second.
SIZES = ((64 * 1024, "64 KiB", 1600), (MiB, "1 MiB", 400), (40 * MiB, "40 MiB", 12))
METADATA = json.dumps({"category": "other", "title": "Benchmark document"})


def pdf(size: int) -> bytes:
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\n"
    return head + os.urandom(size - len(head) - 6) + b"\n%%EOF"


@dataclass
class Target:
    """A server under test: its process, and the client's view of it (identical for both servers)."""

    name: str
    proc: subprocess.Popen
    base: str
    session: aiohttp.ClientSession
    upload_path: str = ""
    download_path: str = ""  # with {id}
    headers: dict | None = None

    async def ready(self, log: Path) -> None:
        for _ in range(300):
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(aiohttp.ClientError):
                async with self.session.get(self.base + "/readyz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} is not ready (exit code {self.proc.poll()}):\n{log.read_text()[-3000:]}")

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


def aes_ceiling(total: int = 256 * MiB, block: int = 64 * 1024) -> tuple[float, float]:
    """(encrypt, decrypt) MiB/s of AESGCM over `total` bytes in `block`-sized messages, a fresh nonce each."""
    aead, data, sealed = AESGCM(AESGCM.generate_key(bit_length=256)), os.urandom(block), []
    started = time.perf_counter()
    for n in range(total // block):
        nonce = os.urandom(12)
        ciphertext = aead.encrypt(nonce, data, None)
        if n < 64:
            sealed.append((nonce, ciphertext))  # 4 MiB kept to decrypt, round robin
    encrypt = total / MiB / (time.perf_counter() - started)
    started = time.perf_counter()
    for n in range(total // block):
        aead.decrypt(*sealed[n % 64], None)
    return encrypt, total / MiB / (time.perf_counter() - started)


def unwrap_costs(tmp: Path, count: int = 2000) -> tuple[float, float | None]:
    """(file ring, HSM) microseconds to unwrap one document's data key (format 2: epoch key inside the KEK)."""
    import uuid as uuid_module

    from crypto import FileKeyProvider
    from crypto.envelope import DataKey, KeyBinding, unwrap, wrap
    from crypto.pkcs11_provider import Pkcs11KeyProvider
    from tests import hsm

    binding = KeyBinding(document_id=uuid_module.uuid4(), client_id=uuid_module.uuid4(), organisation="o", domain="d")

    def per_document(ring) -> float:
        wrapped = wrap(ring, DataKey.generate(), binding=binding, epoch="2031-12")
        started = time.perf_counter()
        for _ in range(count):
            unwrap(ring, wrapped, binding=binding)
        return (time.perf_counter() - started) / count * 1e6

    file = FileKeyProvider(tmp / "unwrap-ring.json")
    file.init()
    in_file = per_document(file.ensure_epoch("2031-12"))
    if not hsm.available():
        return in_file, None
    token = hsm.start(tmp / "softhsm")
    provider = Pkcs11KeyProvider(file, module=token.module, token_label=token.label, pin=hsm.PIN)
    provider.rotate()
    return in_file, per_document(provider.ensure_epoch("2031-12"))


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
    await conn.execute("CHECKPOINT")  # start each phase without the previous one's dirty buffers
    await conn.close()
    started = time.perf_counter()
    ids = [await target.upload(body) for _ in range(count)]
    upload = time.perf_counter() - started
    started = time.perf_counter()
    for document_id in ids:
        await target.download(document_id, len(body))
    download = time.perf_counter() - started
    return count * len(body) / MiB / upload, count * len(body) / MiB / download


async def _brygga(name: str, tmp: Path, dsn: str, session: aiohttp.ClientSession, procs: list[subprocess.Popen],
                 bearer, **extra: str) -> Target:
    """A Brygga server on a database of its own, ready, with the bench unit, client and relation made."""
    port = free_port()
    env = server_env(tmp, dsn, port, BRYGGA_MAX_DOCUMENT_BYTES=str(64 * MiB), BRYGGA_DATA_DIR=str(tmp / name), **extra)
    procs.append(spawn([sys.executable, "-m", "service", "serve"], env, tmp / f"{name}.log"))
    target = Target(name, procs[-1], f"http://127.0.0.1:{port}", session)
    await target.ready(tmp / f"{name}.log")

    async def post(path: str, body: dict, headers: dict) -> dict:
        async with session.post(target.base + path, json=body, headers=headers) as r:
            if r.status not in (200, 201):
                raise RuntimeError(f"POST {path}: {r.status} {await r.text()}")
            return await r.json()

    admin, target.headers = bearer("admin-1", ["admin"]), bearer("bench-staff", ["staff"], UNIT)
    await post("/v1/units", {"id": UNIT, "name": "Bench unit", "organisation": "malmo-stad", "domain": "social"}, admin)
    client_id = (await post("/v1/clients", {"personal_number": "19121212-1212", "name": "Bench"}, target.headers))["id"]
    await post(f"/v1/clients/{client_id}/relations", {}, target.headers)
    target.upload_path, target.download_path = f"/v1/clients/{client_id}/documents", "/v1/documents/{id}/content"
    return target


async def bench(scale: int, tmp: Path, server_dsn: str, procs: list[subprocess.Popen], s3: objectstore.S3Server | None,
                label: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    pg_version = (await conn.fetchval("SHOW server_version")).split()[0]
    for name in ("brygga_bench", "brygga_s3_bench", "baseline_bench"):
        await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    for name in ("brygga_bench", "brygga_s3_bench"):
        conn = await asyncpg.connect(with_database(server_dsn, name))
        await migrate(conn)
        await conn.close()
    bearer = identity(tmp)

    aes = aes_ceiling(256 * MiB // scale)  # before the servers start, so nothing else runs
    unwraps = unwrap_costs(tmp, max(20, 2000 // scale))
    baseline_port = free_port()
    procs.append(spawn([sys.executable, str(ROOT / "bench" / "baseline_server.py"),
                        with_database(server_dsn, "baseline_bench"), str(baseline_port)], dict(os.environ),
                       tmp / "baseline.log"))
    timeout = aiohttp.ClientTimeout(total=600)
    async with contextlib.AsyncExitStack() as stack:
        sessions = [await stack.enter_async_context(aiohttp.ClientSession(timeout=timeout)) for _ in range(3)]
        baseline = Target("baseline", procs[-1], f"http://127.0.0.1:{baseline_port}", sessions[0], "/upload",
                          "/download/{id}")
        await baseline.ready(tmp / "baseline.log")
        targets = [baseline, await _brygga("brygga", tmp, with_database(server_dsn, "brygga_bench"), sessions[1], procs,
                                           bearer)]
        if s3 is not None:
            targets.append(await _brygga("brygga-s3", tmp, with_database(server_dsn, "brygga_s3_bench"), sessions[2],
                                         procs, bearer, BRYGGA_BLOBS=f"s3://{objectstore.BUCKET}/bench", **s3.env()))

        bodies = {size: pdf(size) for size, _, _ in SIZES}
        for target in targets:  # warm up: imports, pools, libmagic, prepared statements
            await round_trip(target, bodies[MiB], 2, server_dsn)
        rss = [await rss_during_upload(target, bodies[40 * MiB]) for target in targets]
        results = {}
        for size, size_label, count in SIZES:
            count = max(1, count // scale)
            runs = [[await round_trip(target, bodies[size], count, server_dsn) for target in targets]
                    for _ in range(2)]  # baseline, brygga(s), baseline, brygga(s)
            results[size_label] = [[max(run[t][op] for run in runs) for t in range(len(targets))] for op in (0, 1)]
            print(f"  measured {size_label} × {count}", file=sys.stderr, flush=True)

    print(f"\nBrygga documents benchmark ({os.cpu_count()} cores, loopback, embedded PostgreSQL {pg_version})" + label)
    s3_columns = f"{'s3 MiB/s':>12}{'ratio':>8}" if s3 is not None else ""
    print(f"{'size':<9}{'op':<10}{'baseline MiB/s':>15}{'postgres MiB/s':>15}{'ratio':>8}{s3_columns}")
    for _, size_label, _ in SIZES:
        for op, measured in zip(("upload", "download"), results[size_label], strict=True):
            base, ours = measured[0], measured[1]
            line = f"{size_label:<9}{op:<10}{base:>15.1f}{ours:>15.1f}{ours / base:>8.2f}"
            if s3 is not None:
                line += f"{measured[2]:>12.1f}{measured[2] / base:>8.2f}"
            print(line)
    if s3 is None:
        print("S3 blob store: not measured (moto[server] is not installed)")
    else:
        print("S3 blob store: moto's server on loopback (a Python process; MinIO or a real bucket is faster)")
    print(f"AES-256-GCM raw (cryptography, 64 KiB blocks): encrypt {aes[0]:.0f} MiB/s, decrypt {aes[1]:.0f} MiB/s")
    print(f"data key unwrap per document (KEK and culling epoch): key ring file {unwraps[0]:.0f} µs, "
          + (f"HSM (SoftHSM2, PKCS#11) {unwraps[1]:.0f} µs" if unwraps[1] is not None else "HSM not measured "
             "(SoftHSM2 is not installed)"))
    (b_before, b_peak), (o_before, o_peak) = rss[0], rss[1]
    print(f"40 MiB upload RSS: brygga {o_before:.0f} → peak {o_peak:.0f} MiB (+{o_peak - o_before:.0f} MiB); "
          f"baseline {b_before:.0f} → peak {b_peak:.0f} MiB (+{b_peak - b_before:.0f} MiB)"
          + (f"; brygga-s3 +{rss[2][1] - rss[2][0]:.0f} MiB" if s3 is not None else ""))
    results = {key: [[op[0], op[1]] for op in value] for key, value in results.items()}
    print("targets:")
    for op, (base, ours) in zip(("upload", "download"), results["1 MiB"], strict=True):
        print(f"  1 MiB {op} ≥ 0.70 of baseline: {ours / base:.2f} → {'met' if ours / base >= 0.70 else 'NOT met'}")
    growth = o_peak - o_before
    print(f"  40 MiB upload RSS growth < 64 MiB: +{growth:.0f} MiB → {'met' if growth < 64 else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the documents per measurement")
    parser.add_argument("--tiny", action="store_true", help="a hundredth: checks that everything runs")
    args = parser.parse_args()
    scale, label = (100, " --tiny") if args.tiny else (4, " --quick") if args.quick else (1, "")
    tmp = Path(tempfile.mkdtemp(prefix="brygga-bench-"))
    procs: list[subprocess.Popen] = []
    postgres = EmbeddedPostgres(tmp / "postgres")
    try:
        server_dsn = postgres.start()
        with contextlib.ExitStack() as stack:
            s3 = stack.enter_context(objectstore.moto_server()) if objectstore.available() else None
            asyncio.run(bench(scale, tmp, server_dsn, procs, s3, label))
    finally:
        stop(procs)
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
