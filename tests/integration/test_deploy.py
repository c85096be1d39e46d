"""The production shape: the compose file, and the roles its init script makes, on a real PostgreSQL."""
from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import asyncpg
import pytest

from service.database import migrate, with_database, with_user

ROOT = Path(__file__).resolve().parents[2]
INIT = ROOT / "deploy" / "initdb" / "10-brygga-roles.sh"


def _init_sql(password: str) -> list[str]:
    """The statements the init script feeds psql, with its password variable bound."""
    text = INIT.read_text()
    body = text.split("<<'SQL'", 1)[1].rsplit("SQL", 1)[0]
    literal = "'" + password.replace("'", "''") + "'"
    return [s.strip().replace(":'service_password'", literal) for s in body.split(";") if s.strip()]


async def test_the_init_script_and_migrations_give_the_service_the_application_role_only(pg_server_dsn, tmp_path):
    name = f"deploy_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_server_dsn)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        create_app_role, create_login = _init_sql("s3cret'pw")
        assert create_app_role == "CREATE ROLE brygga_app NOLOGIN" and "IN ROLE brygga_app" in create_login
        # roles are cluster-wide: another test's migration may have made brygga_app already
        if not await admin.fetchval("SELECT true FROM pg_roles WHERE rolname = 'brygga_app'"):
            await admin.execute(create_app_role)
        await admin.execute(create_login.replace("brygga_service", f"svc_{name}"))
    finally:
        await admin.close()
    owner = await asyncpg.connect(with_database(pg_server_dsn, name))
    try:
        assert "0004_audit_chain.sql" in await migrate(owner)
    finally:
        await owner.close()
    service = await asyncpg.connect(with_user(with_database(pg_server_dsn, name), f"svc_{name}"))
    try:
        assert await service.fetchval("SELECT pg_has_role(current_user, 'brygga_app', 'MEMBER')")
        assert not await service.fetchval("SELECT pg_has_role(current_user, 'brygga_owner', 'MEMBER')")
        assert await service.fetchval("SELECT has_table_privilege('audit_events', 'INSERT')")
        for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
            assert not await service.fetchval("SELECT has_table_privilege('audit_events', $1)", privilege)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await service.execute("CREATE TABLE sneaky (a int)")
    finally:
        await service.close()


def test_compose_runs_migrations_as_the_owner_and_the_service_as_the_application_role():
    compose = (ROOT / "docker-compose.yml").read_text()
    service_url = re.search(r"DATABASE_URL: (\S+)", compose.split("\n  brygga:\n", 1)[1]).group(1)
    assert service_url.startswith("postgresql://brygga_service:")
    assert "service_completed_successfully" in compose and '["python", "-m", "service", "migrate"]' in compose
    assert "./deploy/initdb:/docker-entrypoint-initdb.d:ro" in compose and "./secrets:/run/secrets/brygga:ro" in compose
    assert compose.count("healthcheck:") == 3  # PostgreSQL, MinIO, Brygga


def test_compose_keeps_segments_in_minio_behind_one_port_for_two_replicas():
    """The production shape of issue #19: the bucket made by a one-shot with a user of its own, two replicas on it,
    and a single published port in front of them."""
    import yaml

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    brygga = services["brygga"]
    assert brygga["deploy"]["replicas"] == 2 and "ports" not in brygga
    env = brygga["environment"]
    assert env["BRYGGA_BLOBS"] == "s3://brygga-documents/segments" and env["AWS_ENDPOINT_URL_S3"] == "http://minio:9000"
    assert env["AWS_ACCESS_KEY_ID"] == "brygga"  # its own MinIO user, not the root login
    assert brygga["depends_on"]["minio-setup"]["condition"] == "service_completed_successfully"
    assert "mc mb --ignore-existing local/brygga-documents" in services["minio-setup"]["command"][0]
    assert [name for name, service in services.items() if service.get("ports")] == ["proxy"]
    assert services["proxy"]["ports"] == ["127.0.0.1:8080:8080"]
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server brygga:8080" in nginx and "proxy_request_buffering off" in nginx
    policy = (ROOT / "deploy" / "minio" / "brygga-policy.json").read_text()
    assert "arn:aws:s3:::brygga-documents/*" in policy and '"*"' not in policy


@pytest.mark.skipif(shutil.which("docker") is None or subprocess.run(["docker", "compose", "version"],
                    capture_output=True).returncode != 0, reason="docker's compose client is not on this machine")
def test_docker_compose_accepts_the_file():
    result = subprocess.run(["docker", "compose", "config", "-q"], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin:/usr/local/bin", "POSTGRES_PASSWORD": "x", "BRYGGA_SERVICE_PASSWORD": "y"})
    assert result.returncode == 0, result.stderr


def test_the_image_and_compose_never_turn_on_development_keys():
    """The image listens on 0.0.0.0: development keys there would let anyone reaching the port mint an admin."""
    for name in ("Dockerfile", "docker-compose.yml"):
        text = (ROOT / name).read_text()
        assert not re.search(r"^[^#]*BRYGGA_DEV\b", text, re.MULTILINE), name
    compose = (ROOT / "docker-compose.yml").read_text().split("\n  brygga:\n", 1)[1]
    assert "BRYGGA_JWKS:" in compose and "BRYGGA_KEYRING:" in compose
