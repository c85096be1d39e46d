"""The client's own view: the client by the blind index of their number, released documents, their log."""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from .facts import DOCUMENT_COLUMNS

_RELEASE_COLUMNS = "r.released_at, r.visible_from, r.client_id AS release_client_id"
# A correction after a delayed release holds the document back for the release's delay (document_release_holds): to
# the client's decision (store.me.document) visible_from is the later of the release's and the hold's; lists leave
# a held document out and keep their order (and cursor) by the release's visible_from.
_HELD_RELEASE_COLUMNS = ("r.released_at, greatest(r.visible_from, (SELECT h.visible_from FROM "
                         "document_release_holds h WHERE h.document_id = r.document_id)) AS visible_from, "
                         "r.client_id AS release_client_id")
_NOT_HELD = ("NOT EXISTS (SELECT 1 FROM document_release_holds h WHERE h.document_id = r.document_id "
             "AND h.visible_from > clock_timestamp())")
_self_sql = """
SELECT cl.id, cl.birth_date, cl.name_sealed, clock_timestamp() AS now
FROM (SELECT 1) one LEFT JOIN clients cl ON cl.personal_number_index = $1
"""
_document_sql = f"""
SELECT {DOCUMENT_COLUMNS}, {_HELD_RELEASE_COLUMNS}, u.name AS unit_name, clock_timestamp() AS now
FROM documents d LEFT JOIN document_releases r ON r.document_id = d.id JOIN units u ON u.id = d.unit_id
WHERE d.id = $1
"""
# Only released documents visible now are ever read: what is not released is not touched, so neither the list
# nor its count nor its time tells of it (the index on (client_id, visible_from) finds exactly these).
_released_page_sql = f"""
SELECT {DOCUMENT_COLUMNS}, {_RELEASE_COLUMNS}, u.name AS unit_name
FROM document_releases r JOIN documents d ON d.id = r.document_id JOIN units u ON u.id = d.unit_id
WHERE r.client_id = $1 AND r.visible_from <= clock_timestamp() AND {_NOT_HELD}
  AND (r.visible_from, r.document_id) > ($2, $3)
ORDER BY r.visible_from, r.document_id LIMIT $4
"""
_release_sql = """
INSERT INTO document_releases (document_id, client_id, released_by, released_by_unit, visible_from)
VALUES ($1, $2, $3, $4, greatest(coalesce($5, clock_timestamp()), clock_timestamp()))
ON CONFLICT (document_id) DO NOTHING
"""
_get_release_sql = "SELECT released_at, visible_from, released_by_unit FROM document_releases WHERE document_id = $1"
_units_sql = "SELECT id, name FROM units WHERE id = ANY($1::text[])"
# The zones there are (of active units), each with its units' names: what a consent may name, in words.
_zones_sql = """
SELECT organisation, domain, string_agg(name, ', ' ORDER BY name) AS names
FROM units WHERE active GROUP BY organisation, domain ORDER BY organisation, domain
"""
# Of these documents, the titles of those released to the client and visible now; the others are not read.
_released_titles_sql = f"""
SELECT d.id, d.title_sealed FROM document_releases r JOIN documents d ON d.id = r.document_id
WHERE r.document_id = ANY($1::uuid[]) AND r.client_id = $2 AND r.visible_from <= clock_timestamp() AND {_NOT_HELD}
"""
# A correction of a document released with a delay: held back from now for that delay (a later hold stands).
_hold_sql = """
INSERT INTO document_release_holds (document_id, visible_from)
SELECT r.document_id, clock_timestamp() + (r.visible_from - r.released_at) FROM document_releases r
WHERE r.document_id = $1 AND r.visible_from > r.released_at
ON CONFLICT (document_id) DO UPDATE SET visible_from = greatest(document_release_holds.visible_from,
                                                                EXCLUDED.visible_from)
"""


async def hold_after_correction(conn: asyncpg.Connection, document_id: UUID) -> None:
    """A correction of a released document: apply the release's delay again from now (none: nothing held)."""
    await conn.execute(_hold_sql, document_id)


async def own(conn: asyncpg.Connection, personal_number_index: bytes) -> asyncpg.Record:
    """id, birth_date and sealed name of the client with this blind index (both None when never registered), and now."""
    row: asyncpg.Record = await conn.fetchrow(_self_sql, personal_number_index)
    return row


async def document(conn: asyncpg.Connection, document_id: UUID) -> asyncpg.Record | None:
    """The document row (the facts' columns), its release (null columns when none), its unit's name, and now."""
    return await conn.fetchrow(_document_sql, document_id)


async def released_page(conn: asyncpg.Connection, client_id: UUID, *, after: tuple[datetime, UUID],
                        limit: int) -> list[asyncpg.Record]:
    """The client's released documents visible now, in the order they became visible, after `after`."""
    rows: list[asyncpg.Record] = await conn.fetch(_released_page_sql, client_id, *after, limit)
    return rows


async def release(conn: asyncpg.Connection, document_id: UUID, client_id: UUID, *, by: str, unit: str,
                  visible_from: datetime | None) -> asyncpg.Record:
    """Release the document (a second release changes nothing) and return the release that stands."""
    await conn.execute(_release_sql, document_id, client_id, by, unit, visible_from)
    row: asyncpg.Record = await conn.fetchrow(_get_release_sql, document_id)
    return row


async def unit_names(conn: asyncpg.Connection, unit_ids: list[str]) -> dict[str, str]:
    """The names of these units by id (units are never deleted)."""
    return {row["id"]: row["name"] for row in await conn.fetch(_units_sql, unit_ids)}


async def released_titles(conn: asyncpg.Connection, document_ids: list[UUID], client_id: UUID) -> dict[UUID, bytes]:
    """The sealed titles of those of `document_ids` released to the client and visible now."""
    return {row["id"]: row["title_sealed"] for row in await conn.fetch(_released_titles_sql, document_ids, client_id)}


async def zones(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """organisation, domain and the names of its active units, of every zone with one."""
    rows: list[asyncpg.Record] = await conn.fetch(_zones_sql)
    return rows
