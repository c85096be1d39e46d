"""Migration 0013 on a database that already holds data: the kinds old relations get, and what old consents say
of the guardian and the maturity assessment."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from service.database import load_migrations, migrate

NOW = datetime.now(UTC)


async def _before_0013(db) -> uuid.UUID:
    """A fresh schema migrated up to 0012, two units (social, health) and a client."""
    await db.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public; GRANT USAGE ON SCHEMA public TO PUBLIC")
    await migrate(db, [m for m in load_migrations() if m.version <= 12])
    for unit, organisation, domain in (("iof", "malmo-stad", "social"), ("beroende", "region-skane", "health")):
        await db.execute("INSERT INTO units (id, name, organisation, domain) VALUES ($1, $1, $2, $3)", unit, organisation, domain)
    client_id = uuid.uuid4()
    await db.execute("INSERT INTO clients (id, personal_number_index, personal_number_sealed, name_sealed, birth_date) "
                     "VALUES ($1, $2, '\\x00', '\\x00', '2012-12-12')", client_id, client_id.bytes)
    return client_id


async def test_old_relations_get_their_domains_kind(db):
    client_id = await _before_0013(db)
    for unit in ("iof", "beroende"):
        await db.execute("INSERT INTO relations (id, client_id, unit_id, started_by) VALUES ($1, $2, $3, 'someone')",
                         uuid.uuid4(), client_id, unit)
    await migrate(db)
    kinds = {r["unit_id"]: (r["kind"], r["reason_sealed"]) for r in await db.fetch("SELECT * FROM relations")}
    assert kinds == {"iof": ("case", None), "beroende": ("care", None)}
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("UPDATE relations SET kind = 'browsing'")


async def test_old_consents_with_maturity_assessed_count_as_assessed_by_their_recorder_on_the_day(db):
    client_id = await _before_0013(db)
    consents = {}
    for name, given_by, assessed in (("assessed", "client", True), ("guardians", "guardian", False)):
        consents[name] = uuid.uuid4()
        await db.execute(
            "INSERT INTO consents (id, client_id, from_organisation, from_domain, to_organisation, to_domain, categories,"
            " purposes, valid_from, valid_until, given_by, form, maturity_assessed, recorded_by, recorded_by_unit,"
            " recorded_at) VALUES ($1, $2, 'malmo-stad', 'social', 'region-skane', 'health', '{*}', '{care}', $3, $4, $5,"
            " 'verbal', $6, 'hsa-iof', 'iof', $7)", consents[name], client_id, NOW - timedelta(days=1),
            NOW + timedelta(days=30), given_by, assessed, datetime(2026, 6, 30, 22, 30, tzinfo=UTC))
    await migrate(db)
    rows = {r["id"]: r for r in await db.fetch("SELECT * FROM consents")}
    assessed, guardians = rows[consents["assessed"]], rows[consents["guardians"]]
    # 22:30 UTC on 30 June is 1 July in Stockholm.
    assert (assessed["maturity_assessed_by"], str(assessed["maturity_assessed_at"]), assessed["maturity_basis_sealed"]) == (
        "hsa-iof", "2026-07-01", None)
    assert guardians["maturity_assessed_by"] is None and guardians["guardian_name_sealed"] is None
    # The history trigger is back on, and an assessment is all or nothing.
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.execute("UPDATE consents SET maturity_assessed_by = 'x' WHERE id = $1", consents["guardians"])
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "INSERT INTO consents (id, client_id, from_organisation, from_domain, to_organisation, to_domain, categories,"
            " purposes, valid_from, valid_until, given_by, form, maturity_assessed, recorded_by, recorded_by_unit,"
            " guardian_name_sealed, guardian_personal_number_sealed) VALUES ($1, $2, 'malmo-stad', 'social',"
            " 'region-skane', 'health', '{*}', '{care}', $3, $4, 'client', 'verbal', false, 'hsa-iof', 'iof', '\\x01',"
            " '\\x01')", uuid.uuid4(), client_id, NOW, NOW + timedelta(days=1))
