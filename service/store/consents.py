"""Consents (history never edited: only confirmed, once, and revoked, once) and emergency grants."""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

# Every consent row carries its client's birth date: a guardian's consent ends at the 18th birthday
# (policies.consents.came_of_age), so its status cannot be told without it.
_consent_columns = """
id, client_id, from_organisation, from_domain, to_organisation, to_domain, to_unit, categories, purposes,
valid_from, valid_until, given_by, form, maturity_assessed, evidence_document_id, note_sealed,
recorded_by, recorded_by_name, recorded_by_unit, recorded_at, revoked_at, revoked_by,
confirmed_at, confirmed_by, confirmed_by_unit, guardian_name_sealed, guardian_personal_number_sealed,
maturity_assessed_by, maturity_assessed_at, maturity_basis_sealed,
(SELECT cl.birth_date FROM clients cl WHERE cl.id = client_id) AS client_birth_date
"""
# Confirmed as it is recorded ($20) when the holding zone records it: the recorder confirms it, at the same instant.
_insert_consent_sql = f"""
INSERT INTO consents (id, client_id, from_organisation, from_domain, to_organisation, to_domain, to_unit, categories,
                      purposes, valid_from, valid_until, given_by, form, maturity_assessed, evidence_document_id,
                      note_sealed, recorded_by, recorded_by_name, recorded_by_unit, recorded_at,
                      confirmed_at, confirmed_by, confirmed_by_unit, guardian_name_sealed,
                      guardian_personal_number_sealed, maturity_assessed_by, maturity_assessed_at,
                      maturity_basis_sealed)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, clock.t,
       CASE WHEN $20::boolean THEN clock.t END, CASE WHEN $20::boolean THEN $17::text END,
       CASE WHEN $20::boolean THEN $19::text END, $21, $22, $23, $24, $25
FROM (SELECT clock_timestamp() AS t) AS clock
RETURNING {_consent_columns}
"""
_get_consent_sql = f"SELECT {_consent_columns} FROM consents WHERE id = $1"
_lock_consent_sql = f"SELECT {_consent_columns} FROM consents WHERE id = $1 FOR UPDATE"
# The instant someone born on `b` turns 18 (policies.consents.coming_of_age): the start of the 18th birthday in
# Swedish time; born 29 February, 1 March (PostgreSQL's date + 18 years gives 28 February: a day is added).
COMING_OF_AGE_SQL = """
(({b} + interval '18 years' + CASE WHEN to_char({b}, 'MM-DD') = '02-29' THEN interval '1 day' ELSE interval '0' END)
 AT TIME ZONE 'Europe/Stockholm')
"""
# policies.consents.status in SQL, at the instant $7, so a list can be filtered by status and still page;
# tests/integration/test_consents.py checks the two agree for every status, came_of_age's boundary too.
# Over the consents of the client $1, whose birth date is read once (an InitPlan).
_adult_sql = COMING_OF_AGE_SQL.format(b="(SELECT cl.birth_date FROM clients cl WHERE cl.id = $1)")
_status_sql = f"""
CASE WHEN revoked_at IS NOT NULL AND revoked_at <= $7 THEN 'revoked'
     WHEN $7 >= valid_until OR (given_by = 'guardian' AND $7 >= {_adult_sql}) THEN 'expired'
     WHEN confirmed_at IS NULL OR confirmed_at > $7 THEN 'awaiting_confirmation'
     WHEN $7 < valid_from THEN 'pending'
     ELSE 'active' END
"""
_client_consents_sql = f"""
SELECT {_consent_columns} FROM consents
WHERE client_id = $1 AND (($2, $3) = (from_organisation, from_domain) OR ($2, $3) = (to_organisation, to_domain))
  AND (recorded_at, id) > ($4, $5)
  AND ($8::text IS NULL OR {_status_sql} = $8::text)
ORDER BY recorded_at, id LIMIT $6
"""
# Every consent of the client, for the client themself (their own view: OSL 12:1), oldest first.
_own_consents_sql = f"""
SELECT {_consent_columns} FROM consents
WHERE client_id = $1 AND (recorded_at, id) > ($2, $3)
ORDER BY recorded_at, id LIMIT $4
"""
_confirm_sql = f"""
UPDATE consents SET confirmed_at = clock_timestamp(), confirmed_by = $2, confirmed_by_unit = $3
WHERE id = $1 AND confirmed_at IS NULL AND revoked_at IS NULL
RETURNING {_consent_columns}
"""
_revoke_sql = f"""
UPDATE consents SET revoked_at = clock_timestamp(), revoked_by = $2, revoke_reason_sealed = $3
WHERE id = $1 AND revoked_at IS NULL
RETURNING {_consent_columns}
"""
# A consent names an active unit: an inactive one (deactivated, or succeeded, whose records are its heir's) reads as
# none, so the answer is the same as for an unknown unit and says nothing of the unit's state (as disclosures).
_unit_zone_sql = "SELECT organisation, domain FROM units WHERE id = $1 AND active"
_insert_grant_sql = """
INSERT INTO emergency_grants (id, client_id, unit_id, sub, domain, reason_sealed, opened_at, expires_at)
SELECT $1, $2, $3, $4, $5, $6, clock.t, clock.t + make_interval(hours => $7)
FROM (SELECT clock_timestamp() AS t) AS clock
RETURNING id, domain, opened_at, expires_at
"""


async def insert(conn: asyncpg.Connection, **values: object) -> asyncpg.Record:
    """Record a consent; `values` are the columns of _insert_consent_sql by name, and `confirmed`:
    whether the recording confirms it (the recorder and the recording's instant), or it waits."""
    order = ("id", "client_id", "from_organisation", "from_domain", "to_organisation", "to_domain", "to_unit",
             "categories", "purposes", "valid_from", "valid_until", "given_by", "form", "maturity_assessed",
             "evidence_document_id", "note_sealed", "recorded_by", "recorded_by_name", "recorded_by_unit", "confirmed",
             "guardian_name_sealed", "guardian_personal_number_sealed", "maturity_assessed_by", "maturity_assessed_at",
             "maturity_basis_sealed")
    return await conn.fetchrow(_insert_consent_sql, *(values[name] for name in order))


async def get(conn: asyncpg.Connection, consent_id: UUID, *, lock: bool = False) -> asyncpg.Record | None:
    """The consent, or None; `lock`: held until the transaction ends, so no revocation slips in between."""
    return await conn.fetchrow(_lock_consent_sql if lock else _get_consent_sql, consent_id)


async def page_for_zone(conn: asyncpg.Connection, client_id: UUID, *, organisation: str, domain: str,
                        after: tuple[datetime, UUID], limit: int, now: datetime,
                        status: str | None = None) -> list[asyncpg.Record]:
    """The client's consents from or to one zone, oldest first, revoked and expired included;
    `status`: only those with that status at `now`."""
    rows: list[asyncpg.Record] = await conn.fetch(_client_consents_sql, client_id, organisation, domain, *after, limit,
                                                  now, status)
    return rows


async def page_for_client(conn: asyncpg.Connection, client_id: UUID, *, after: tuple[datetime, UUID],
                          limit: int) -> list[asyncpg.Record]:
    """All the client's consents, from and to every zone, oldest first, after `after` (the client's own view)."""
    rows: list[asyncpg.Record] = await conn.fetch(_own_consents_sql, client_id, *after, limit)
    return rows


async def confirm(conn: asyncpg.Connection, consent_id: UUID, *, by: str, unit: str) -> asyncpg.Record | None:
    """Confirm now; None when it was confirmed before (its first confirmation stands) or is revoked."""
    return await conn.fetchrow(_confirm_sql, consent_id, by, unit)


async def revoke(conn: asyncpg.Connection, consent_id: UUID, *, by: str, reason_sealed: bytes) -> asyncpg.Record | None:
    """Revoke now; None when it was revoked before (its first revocation stands)."""
    return await conn.fetchrow(_revoke_sql, consent_id, by, reason_sealed)


async def unit_zone(conn: asyncpg.Connection, unit_id: str) -> asyncpg.Record | None:
    """The zone of an active unit; None when there is no such active unit."""
    return await conn.fetchrow(_unit_zone_sql, unit_id)


async def insert_grant(conn: asyncpg.Connection, *, grant_id: UUID, client_id: UUID, unit: str, sub: str, domain: str,
                       reason_sealed: bytes, hours: int) -> asyncpg.Record:
    """Open an emergency grant to the client's records of `domain` that expires `hours` from now (database clock)."""
    return await conn.fetchrow(_insert_grant_sql, grant_id, client_id, unit, sub, domain, reason_sealed, hours)


_active_grant_sql = """
SELECT id, expires_at FROM emergency_grants
WHERE client_id = $1 AND unit_id = $2 AND sub = $3 AND expires_at > clock_timestamp()
ORDER BY expires_at DESC LIMIT 1
"""


async def active_grant(conn: asyncpg.Connection, client_id: UUID, *, unit: str, sub: str) -> asyncpg.Record | None:
    """The caller's own emergency grant on the client that is still running, or None."""
    return await conn.fetchrow(_active_grant_sql, client_id, unit, sub)
