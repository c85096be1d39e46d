"""The command line as a newcomer uses it: serve on the embedded database, mint a token, call the API, stop."""
from __future__ import annotations

import dataclasses
import json
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jwt
import psutil
import pytest

from tests.processes import free_port as _free_port
from tests.processes import gone as _gone
from tests.processes import run_cli as _cli
from tests.processes import service_env as _env

ROOT = Path(__file__).resolve().parents[2]


def _call(method: str, url: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, method=method, headers=headers, data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_serve_embedded_token_curl_and_clean_stop(tmp_path):
    port = _free_port()
    env = _env(tmp_path / "var", BRYGGA_PORT=str(port), BRYGGA_DEV="1")
    server = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _call("GET", f"{base}/readyz")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "service did not become ready"
            time.sleep(0.2)
        dev = tmp_path / "var" / "dev"
        for name in ("jwks.json", "keyring.json", "jwt-signing-key.pem"):
            assert stat.S_IMODE((dev / name).stat().st_mode) == 0o600, name

        admin = _cli("token", "--sub", "admin-1", "--roles", "admin", env=env).stdout.strip()
        unit = {"id": "malmo-iof", "name": "IFO", "organisation": "malmo-stad", "domain": "social"}
        assert _call("POST", f"{base}/v1/units", admin, unit)[0] == 201
        staff = _cli("token", "--sub", "hsa-1", "--unit", "malmo-iof", "--roles", "staff", "--name", "Sara", env=env).stdout.strip()
        claims = jwt.decode(staff, options={"verify_signature": False})
        assert (claims["unit"], claims["roles"], claims["iss"], claims["aud"]) == ("malmo-iof", ["staff"], "brygga-dev", "brygga")
        status, created = _call("POST", f"{base}/v1/clients", staff, {"personal_number": "19121212-1212", "name": "Tolvan"})
        assert status == 201
        assert _call("POST", f"{base}/v1/clients/{created['id']}/relations", staff, {})[0] == 201
        assert _call("GET", f"{base}/v1/clients/{created['id']}", staff)[1]["name"] == "Tolvan"
        postmaster = int((tmp_path / "var" / "postgres" / "postmaster.pid").read_text().split()[0])
        assert psutil.pid_exists(postmaster)
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert _gone(postmaster, seconds=5), "embedded PostgreSQL still running after shutdown"
    assert not (tmp_path / "var" / "postgres" / "postmaster.pid").exists()
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any("DEVELOPMENT" in entry["message"] for entry in logs)
    assert "19121212" not in stderr and "Tolvan" not in stderr


def test_bad_setting_names_the_variable(tmp_path):
    result = _cli("serve", env=_env(tmp_path, BRYGGA_PORT="eighty"))
    assert result.returncode == 1
    assert result.stderr.startswith("brygga: BRYGGA_PORT:")


def test_without_brygga_dev_there_are_no_development_keys_and_no_start(tmp_path):
    """The Docker image listens on 0.0.0.0: a missing BRYGGA_JWKS must stop it, not make a key anyone can sign with."""
    env = _env(tmp_path / "var", BRYGGA_PORT=str(_free_port()))
    result = _cli("serve", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("brygga: BRYGGA_JWKS: "), result.stderr
    assert "BRYGGA_DEV=1" in result.stderr and "Traceback" not in result.stderr
    minted = _cli("token", "--sub", "admin-1", "--roles", "admin", env=env)
    assert minted.returncode == 1 and minted.stdout == ""
    assert minted.stderr.startswith("brygga: BRYGGA_DEV: "), minted.stderr
    assert _cli("keys", "rotate", env=env).stderr.startswith("brygga: BRYGGA_KEYRING: ")
    assert not (tmp_path / "var" / "dev").exists()


def test_keys_init_creates_a_private_ring_once(tmp_path):
    ring = tmp_path / "ring.json"
    env = _env(tmp_path, BRYGGA_KEYRING=str(ring))
    assert _cli("keys", "init", env=env).returncode == 0
    assert stat.S_IMODE(ring.stat().st_mode) == 0o600
    before = ring.read_bytes()
    again = _cli("keys", "init", env=env)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert ring.read_bytes() == before


def test_a_world_readable_key_ring_stops_start_up(tmp_path):
    ring = tmp_path / "ring.json"
    env = _env(tmp_path, BRYGGA_KEYRING=str(ring), BRYGGA_DEV="1")  # development JWKS, the configured ring
    _cli("keys", "init", env=env)
    ring.chmod(0o644)
    result = _cli("serve", env={**env, "BRYGGA_PORT": str(_free_port())})
    assert result.returncode == 1 and "must be 0600" in result.stderr



async def test_a_start_that_fails_after_the_database_stops_the_embedded_server(tmp_path, settings, monkeypatch):
    """One cleanup context per resource: when the pool cannot be made after the embedded server started (a
    failure injected where asyncpg would raise), serving stops with that error and the server is stopped again."""
    from service import app as app_module
    from service.__main__ import _run
    from service.database import DatabaseError

    async def refused(*args, **kwargs):
        raise DatabaseError("cannot act as the application role (injected)")

    monkeypatch.setattr(app_module, "create_pool", refused)
    embedded_settings = dataclasses.replace(settings, database_url=None, data_dir=tmp_path / "data")
    with pytest.raises(DatabaseError, match="injected"):
        await _run(app_module.create_app(embedded_settings), embedded_settings)
    pid_file = tmp_path / "data" / "postgres" / "postmaster.pid"
    assert (tmp_path / "data" / "postgres").is_dir(), "the embedded server was started"
    assert not pid_file.exists(), "the embedded server was left running"
