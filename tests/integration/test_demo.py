"""`python -m service demo`: the scenario loads through the domain functions, audited, and only once."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from service.demo import FOLLOWUP_PERSONS

ROOT = Path(__file__).resolve().parents[2]


def _demo(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", "demo"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


async def test_demo_loads_a_two_zone_scenario_once(database_url, signing_keys, tmp_path, db):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRYGGA_", "DATABASE_URL"))}
    env.update(DATABASE_URL=database_url, BRYGGA_KEYRING=str(signing_keys.keyring_path),
               BRYGGA_JWKS=str(signing_keys.jwks_path), BRYGGA_DATA_DIR=str(tmp_path), BRYGGA_LOG_LEVEL="WARNING")
    first = _demo(env)
    assert first.returncode == 0, first.stderr
    assert "4 units, 3 clients, 5 documents, 1 consents created" in first.stdout
    counts = {table: await db.fetchval(f"SELECT count(*) FROM {table}")
              for table in ("units", "clients", "relations", "documents", "consents", "audit_events",
                            "followup_records")}
    # A year of follow-up (issue 17) for FOLLOWUP_PERSONS more clients, so the indicator page shows numbers.
    assert counts["followup_records"] > 400 and "follow-up records of" in first.stdout
    assert counts["units"] == 4 and counts["clients"] == 3 + FOLLOWUP_PERSONS and counts["documents"] == 5 and counts["consents"] == 1
    zones = {(r["organisation"], r["domain"]) for r in await db.fetch("SELECT organisation, domain FROM units")}
    assert {d for _, d in zones} == {"social", "health"} and len(zones) == 4
    actions = {r["action"] for r in await db.fetch("SELECT DISTINCT action FROM audit_events")}
    assert {"client.register", "relation.open", "document.create", "consent.grant"} <= actions
    second = _demo(env)
    assert second.returncode == 0 and "0 units, 0 clients, 0 documents, 0 consents created" in second.stdout
    for table in ("units", "clients", "relations", "documents", "consents", "followup_records"):
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == counts[table], table
