"""Database roles: migrations as the owner, the service as the application role, clear words when rights lack."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from service.database import with_database, with_user
from tests.conftest import Api

ROOT = Path(__file__).resolve().parents[2]


async def _superuser(pg_server_dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(pg_server_dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_a_login_that_cannot_create_roles_is_told_how_to_migrate(pg_server_dsn, template_dsn, tmp_path):
    name = f"weak_{uuid.uuid4().hex[:8]}"
    await _superuser(pg_server_dsn, f"CREATE ROLE {name} LOGIN", f"CREATE DATABASE {name} OWNER {name}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRYGGA_", "DATABASE_URL"))}
    env.update(DATABASE_URL=with_user(with_database(pg_server_dsn, name), name), BRYGGA_DATA_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "service", "migrate"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "0004_audit_chain.sql" in result.stderr and "BRYGGA_MIGRATION_DATABASE_URL" in result.stderr
    assert f"'{name}'" in result.stderr and "Traceback" not in result.stderr


async def test_the_service_runs_on_a_login_that_only_has_the_application_role(
        pg_server_dsn, database_url, settings, tokens, db):
    name = f"svc_{uuid.uuid4().hex[:8]}"
    await _superuser(pg_server_dsn, f"CREATE ROLE {name} LOGIN IN ROLE brygga_app")
    login = with_user(database_url, name)
    async with TestClient(TestServer(create_app(replace(settings, database_url=login)))) as client:
        api = Api(client, tokens)
        await api.unit("iof-norr")
        headers = api.staff("iof-norr")
        person = await api.register(headers)
        assert (await client.get("/readyz")).status == 200
        response = await client.get(f"/v1/clients/{person['id']}", headers=headers)
        assert response.status == 404  # no relation yet: decided, audited, answered
    rows = await db.fetch("SELECT action FROM audit_events ORDER BY seq")
    assert [r["action"] for r in rows] == ["client.register", "client.read"]
    conn = await asyncpg.connect(login)
    try:
        assert await conn.fetchval("SELECT current_user") == name
        assert await conn.fetchval("SELECT has_table_privilege('audit_events', 'UPDATE')") is False
        assert await conn.fetchval("SELECT has_table_privilege('audit_events', 'INSERT')") is True
    finally:
        await conn.close()
