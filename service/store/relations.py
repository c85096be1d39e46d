"""Relations: a unit's active case or care relation with a client."""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

_relation_columns = "r.id, r.client_id, r.unit_id, r.kind, r.reason_sealed, r.started_at, r.ended_at"
_returned = "id, client_id, unit_id, kind, reason_sealed, started_at, ended_at"
_insert_relation_sql = f"""
INSERT INTO relations (id, client_id, unit_id, started_by, kind, reason_sealed) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (client_id, unit_id) WHERE ended_at IS NULL DO NOTHING
RETURNING {_returned}
"""
_active_sql = f"SELECT {_relation_columns} FROM relations r WHERE r.client_id = $1 AND r.unit_id = $2 AND r.ended_at IS NULL"
_end_relation_sql = f"""
UPDATE relations SET ended_at = now(), ended_by = $4
WHERE id = $1 AND client_id = $2 AND unit_id = $3 AND ended_at IS NULL
RETURNING {_returned}
"""
_get_of_unit_sql = f"SELECT {_relation_columns} FROM relations r WHERE r.id = $1 AND r.client_id = $2 AND r.unit_id = $3"
_list_in_zone_sql = f"""
SELECT {_relation_columns}
FROM relations r JOIN units u ON u.id = r.unit_id
WHERE r.client_id = $1 AND u.organisation = $2 AND u.domain = $3 AND (r.started_at, r.id) > ($4, $5)
ORDER BY r.started_at, r.id
LIMIT $6
"""


async def open_or_get(conn: asyncpg.Connection, *, relation_id: UUID, client_id: UUID, unit: str, by: str, kind: str,
                      reason_sealed: bytes | None) -> tuple[asyncpg.Record, bool]:
    """The unit's active relation with the client, created (of `kind`, for the sealed reason) if there is none;
    (relation, created). An active one stays as it is."""
    row = await conn.fetchrow(_insert_relation_sql, relation_id, client_id, unit, by, kind, reason_sealed)
    if row is not None:
        return row, True
    return await conn.fetchrow(_active_sql, client_id, unit), False


async def end(conn: asyncpg.Connection, relation_id: UUID, *, client_id: UUID, unit: str, by: str) -> asyncpg.Record | None:
    """End the unit's relation; the relation as it now is (ended earlier stays as it was), or None if not the unit's."""
    row = await conn.fetchrow(_end_relation_sql, relation_id, client_id, unit, by)
    return row if row is not None else await conn.fetchrow(_get_of_unit_sql, relation_id, client_id, unit)


async def page_in_zone(
    conn: asyncpg.Connection, client_id: UUID, *, organisation: str, domain: str, after: tuple[datetime, UUID], limit: int
) -> list[asyncpg.Record]:
    """Relations of the client with units of one zone, oldest first, keyset-paginated."""
    rows: list[asyncpg.Record] = await conn.fetch(_list_in_zone_sql, client_id, organisation, domain, *after, limit)
    return rows
