"""Clients: a blind index for lookup, the sealed number and name, the birth date."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from uuid import UUID

import asyncpg

_insert_client_sql = """
INSERT INTO clients (id, personal_number_index, personal_number_sealed, name_sealed, birth_date, created_by_unit)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT ON CONSTRAINT clients_personal_number_unique DO NOTHING
RETURNING id
"""
_id_by_index_sql = "SELECT id FROM clients WHERE personal_number_index = $1"
_get_client_sql = "SELECT id, birth_date, name_sealed FROM clients WHERE id = $1"


async def insert(
    conn: asyncpg.Connection,
    *,
    client_id: UUID,
    personal_number_index: bytes,
    personal_number_sealed: bytes,
    name_sealed: bytes,
    birth_date: date,
    unit: str | None,
) -> bool:
    """Insert a client; False when one with the same blind index exists."""
    inserted = await conn.fetchval(
        _insert_client_sql, client_id, personal_number_index, personal_number_sealed, name_sealed, birth_date, unit
    )
    return inserted is not None


async def id_by_index(conn: asyncpg.Connection, personal_number_index: bytes) -> UUID | None:
    """The id of the client with this blind index, or None."""
    found: UUID | None = await conn.fetchval(_id_by_index_sql, personal_number_index)
    return found


# Whether units of these organisations know the client: a relation (ended or not), or an event of theirs naming
# the client (the client indexes by actor organisation, migrations 0016/0030).
_known_to_sql = """
SELECT EXISTS (SELECT 1 FROM relations r JOIN units u ON u.id = r.unit_id
               WHERE r.client_id = $1 AND u.organisation = ANY($2::text[]))
    OR EXISTS (SELECT 1 FROM audit_events e WHERE e.client_id = $1 AND e.actor_organisation = ANY($2::text[]))
"""


async def known_to(conn: asyncpg.Connection, client_id: UUID, organisations: Sequence[str]) -> bool:
    """Whether a unit of `organisations` has or had a relation with the client, or acted on their record."""
    return bool(await conn.fetchval(_known_to_sql, client_id, list(organisations)))


async def get(conn: asyncpg.Connection, client_id: UUID) -> asyncpg.Record | None:
    """id, birth_date and the sealed name, or None."""
    return await conn.fetchrow(_get_client_sql, client_id)



# A unit's clients ("Mina klienter"): those with an active relation of the unit, newest relation first, keyset-paged
# on (started_at, client id) descending (relations_unit serves the unit's rows).
_of_unit_sql = """
SELECT c.id, c.birth_date, c.name_sealed, r.kind, r.started_at
FROM relations r JOIN clients c ON c.id = r.client_id
WHERE r.unit_id = $1 AND r.ended_at IS NULL AND (r.started_at, r.client_id) < ($2, $3)
ORDER BY r.started_at DESC, r.client_id DESC
LIMIT $4
"""


async def of_unit(conn: asyncpg.Connection, unit: str, *, before: tuple[datetime, UUID], limit: int) -> list[asyncpg.Record]:
    """The unit's clients with an active relation, before `before` (newest relation first)."""
    rows: list[asyncpg.Record] = await conn.fetch(_of_unit_sql, unit, *before, limit)
    return rows
