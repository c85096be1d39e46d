"""Migration 0005 on a database that already holds v1 data: what existing grants and consents become."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from service.database import load_migrations, migrate

NOW = datetime.now(UTC)


async def _at_0004(db) -> None:
    """A fresh schema migrated up to 0004 (what an installation had before this change)."""
    # As a new database has it: everyone may use the schema public (the owner role's foreign-key checks need it).
    await db.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public; GRANT USAGE ON SCHEMA public TO PUBLIC")
    await migrate(db, [m for m in load_migrations() if m.version <= 4])
    for unit, organisation, domain in (("iof", "malmo-stad", "social"), ("beroende", "region-skane", "health")):
        await db.execute("INSERT INTO units (id, name, organisation, domain) VALUES ($1, $1, $2, $3)", unit, organisation, domain)


async def _client(db) -> uuid.UUID:
    client_id = uuid.uuid4()
    await db.execute("INSERT INTO clients (id, personal_number_index, personal_number_sealed, name_sealed, birth_date) "
                     "VALUES ($1, $2, '\\x00', '\\x00', '1980-01-01')", client_id, client_id.bytes)
    return client_id


async def test_grants_opened_before_0005_open_health_records(db):
    """'health': the domain every earlier grant was asked for by default, not the opener's own domain."""
    await _at_0004(db)
    client_id = await _client(db)
    grants = {}
    for unit in ("iof", "beroende"):
        grants[unit] = uuid.uuid4()
        await db.execute("INSERT INTO emergency_grants (id, client_id, unit_id, sub, reason_sealed, opened_at, expires_at) "
                         "VALUES ($1, $2, $3, 'someone', '\\x00', $4, $5)", grants[unit], client_id, unit, NOW,
                         NOW + timedelta(hours=4))
    await migrate(db)
    stored = {r["id"]: r["domain"] for r in await db.fetch("SELECT id, domain FROM emergency_grants")}
    assert stored == {grants["iof"]: "health", grants["beroende"]: "health"}
    # New grants must say which domain they open: there is no default any more.
    assert await db.fetchval("SELECT column_default FROM information_schema.columns "
                             "WHERE table_name = 'emergency_grants' AND column_name = 'domain'") is None


async def test_consents_recorded_before_0005_count_as_confirmed_at_their_recording(db):
    """Recorded under v1's rules, they stay in force; the ones the receiving zone recorded are marked as such."""
    await _at_0004(db)
    client_id = await _client(db)
    consents = {}
    for name, recorder, revoked in (("holding", "iof", False), ("receiving", "beroende", False), ("revoked", "iof", True)):
        consents[name] = uuid.uuid4()
        await db.execute(
            "INSERT INTO consents (id, client_id, from_organisation, from_domain, to_organisation, to_domain, categories,"
            " purposes, valid_from, valid_until, given_by, form, maturity_assessed, recorded_by, recorded_by_unit)"
            " VALUES ($1, $2, 'malmo-stad', 'social', 'region-skane', 'health', '{*}', '{care}', $3, $4, 'client',"
            " 'verbal', false, $5, $6)", consents[name], client_id, NOW - timedelta(days=1), NOW + timedelta(days=30),
            f"hsa-{recorder}", recorder)
        if revoked:
            await db.execute("UPDATE consents SET revoked_at = clock_timestamp(), revoked_by = 'hsa-iof' WHERE id = $1",
                             consents[name])
    await migrate(db)
    rows = {r["id"]: r for r in await db.fetch(
        "SELECT id, recorded_at, confirmed_at, confirmed_by, confirmed_by_unit FROM consents")}
    assert all(row["confirmed_at"] == row["recorded_at"] for row in rows.values())
    assert [(rows[consents[name]]["confirmed_by"], rows[consents[name]]["confirmed_by_unit"])
            for name in ("holding", "receiving", "revoked")] == [
        ("hsa-iof", "iof"), ("brygga:v1-rules", None), ("hsa-iof", "iof")]
    # The trigger is back on: nothing else changes.
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.execute("UPDATE consents SET categories = '{sip}' WHERE id = $1", consents["holding"])
