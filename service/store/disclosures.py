"""Disclosures without consent (OSL 25:12, 26:9): the decision and the documents it lists, never edited."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from policies.model import Zone

from .facts import DOCUMENT_COLUMNS

_insert_sql = """
INSERT INTO disclosures (id, client_id, from_unit, from_organisation, from_domain, to_unit, to_organisation, to_domain,
                         ground, need_sealed, decided_by, decided_by_name)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
RETURNING decided_at
"""
_insert_documents_sql = "INSERT INTO disclosure_documents (disclosure_id, document_id) SELECT $1, unnest($2::uuid[])"
_columns = """
x.id, x.client_id, x.from_unit, x.to_unit, x.ground, x.need_sealed, x.decided_by, x.decided_by_name, x.decided_at,
ARRAY(SELECT dd.document_id FROM disclosure_documents dd WHERE dd.disclosure_id = x.id ORDER BY dd.document_id)
    AS document_ids
"""
# Made by the unit, or made to it: two index ranges (disclosures_from_unit, disclosures_to_unit), newest first;
# $6 false: those made to it only. A unit that succeeded others (migration unit_successions) lists theirs too: their
# documents are its own now, and what was disclosed to them is honoured for it.
_UNIT_AND_PREDECESSORS = "(SELECT $2 UNION ALL SELECT s.predecessor FROM unit_successions s WHERE unit_heir(s.predecessor) = $2)"
_page_of_unit_sql = f"""
SELECT {_columns} FROM disclosures x
WHERE x.id IN (
    (SELECT id FROM disclosures WHERE $6 AND client_id = $1 AND from_unit IN {_UNIT_AND_PREDECESSORS}
       AND ($3::timestamptz IS NULL OR (decided_at, id) < ($3, $4)) ORDER BY decided_at DESC, id DESC LIMIT $5)
    UNION
    (SELECT id FROM disclosures WHERE client_id = $1 AND to_unit IN {_UNIT_AND_PREDECESSORS}
       AND ($3::timestamptz IS NULL OR (decided_at, id) < ($3, $4)) ORDER BY decided_at DESC, id DESC LIMIT $5))
ORDER BY x.decided_at DESC, x.id DESC
LIMIT $5
"""
_unit_zone_sql = "SELECT organisation, domain FROM units WHERE id = $1 AND active"
_documents_sql = f"SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE d.id = ANY($1::uuid[]) AND d.client_id = $2"


async def active_unit_zone(conn: asyncpg.Connection, unit: str) -> Zone | None:
    """The zone of an active unit, None when there is no such active unit."""
    row = await conn.fetchrow(_unit_zone_sql, unit)
    return None if row is None else Zone(row["organisation"], row["domain"])


async def documents_of_client(conn: asyncpg.Connection, client_id: UUID, ids: Sequence[UUID]) -> dict[UUID, asyncpg.Record]:
    """The client's documents among `ids`, by id (another client's read as missing)."""
    return {row["id"]: row for row in await conn.fetch(_documents_sql, list(ids), client_id)}


async def insert(conn: asyncpg.Connection, *, disclosure_id: UUID, client_id: UUID, from_unit: str, from_zone: Zone,
                 to_unit: str, to_zone: Zone, ground: str, need_sealed: bytes, decided_by: str,
                 decided_by_name: str | None, document_ids: Sequence[UUID]) -> datetime:
    """Record the disclosure and the documents it lists; its decided_at."""
    decided_at: datetime = await conn.fetchval(
        _insert_sql, disclosure_id, client_id, from_unit, from_zone.organisation, from_zone.domain, to_unit,
        to_zone.organisation, to_zone.domain, ground, need_sealed, decided_by, decided_by_name)
    await conn.execute(_insert_documents_sql, disclosure_id, list(document_ids))
    return decided_at


async def page_of_unit(conn: asyncpg.Connection, client_id: UUID, unit: str, *,
                       before: tuple[datetime, UUID] | None, limit: int, made: bool = True) -> list[asyncpg.Record]:
    """The client's disclosures the unit made (unless `made` is false) or received, newest first, before the key
    `before` (None: from the newest)."""
    at, ident = before if before is not None else (None, None)
    rows: list[asyncpg.Record] = await conn.fetch(_page_of_unit_sql, client_id, unit, at, ident, limit, made)
    return rows
