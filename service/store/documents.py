"""Documents: metadata rows with the wrapped data key; segments live in the BlobStore."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from policies.candidates import Candidates
from policies.model import Zone

from .facts import DOCUMENT_COLUMNS
from .retention import FILE_LOCK


class IdempotencyKeyTaken(Exception):
    """Another document of the unit already carries this Idempotency-Key."""


_document_columns = DOCUMENT_COLUMNS
# A new entry takes the client's file lock shared (store.retention.FILE_LOCK): a culling of the client's files
# waits for it to commit and then sees it, or the entry waits until the culling has committed.
_insert_document_sql = f"""
WITH file_open AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared({FILE_LOCK}, hashtext($2::uuid::text)))
INSERT INTO documents (id, client_id, unit_id, organisation, domain, category, title_sealed, content_type, size,
                       content_mac, kek_version, dek_wrapped, stream_header, segment_count, idempotency_key, created_by,
                       epoch)
SELECT $1::uuid, $2::uuid, $3::text, $4::text, $5::text, $6::text, $7::bytea, $8::text, $9::bigint, $10::bytea,
       $11::integer, $12::bytea, $13::bytea, $14::integer, $15::text, $16::text, $17::text
FROM file_open
RETURNING created_at
"""
_by_idempotency_key_sql = "SELECT d.id FROM documents d WHERE d.unit_id = $1 AND d.idempotency_key = $2"
# Besides the range: a clinic system's own uploads only.
_uploader = "AND ($11::text IS NULL OR (d.created_by = $11 AND d.unit_id = $10))"
# The candidates' ranges (policies/candidates.py Candidates.ranges) as a table: (organisation, domain, category),
# the category NULL for every one; the zones of the emergency domains are whole (from units: a document's zone is
# its unit's, and units are never deleted). A whole zone's open documents are read as a range of
# documents_client_zone_open, a zone's category's as a range of documents_client_zone_category, and blocked
# documents only the caller's unit's (PDL 4:4), as a range of documents_client_unit_blocked; each in list order,
# so rows of zones, categories and blocks that nothing opens are never read. Each range is ordered by its index's
# whole key, its equalities written as `= ANY` of one, so that only its own index yields that order and no plan
# walks a wider range (all the client's documents) and filters. Documents disclosed to the caller's unit (OSL
# 25:12, 26:9) are read by id ($12..$14: id and zone), but for those a range above already reads. While a lifting
# of the client's blocks runs for the caller ($15), the blocked documents of other units in the ranges' zones are
# read too, a zone's over documents_client_zone_blocked, a zone's category's over documents_client_zone_category_blocked.
def _ranges_cte(organisations: str, domains: str, categories: str, emergency_domains: str) -> str:
    """The candidates' ranges as the CTE `ranges` (organisation, domain, category), from the parameters named."""
    return f"""WITH given (organisation, domain, category) AS (
    SELECT * FROM unnest({organisations}::text[], {domains}::text[], {categories}::text[])
    UNION
    SELECT DISTINCT u.organisation, u.domain, NULL::text FROM units u WHERE u.domain = ANY({emergency_domains}::text[])
), ranges AS (
    SELECT * FROM given r
    WHERE r.category IS NULL OR NOT EXISTS (SELECT 1 FROM given w WHERE w.category IS NULL
                                            AND (w.organisation, w.domain) = (r.organisation, r.domain))
)"""


_client_documents_sql = f"""
{_ranges_cte("$6", "$7", "$8", "$9")}
SELECT page.* FROM (
    SELECT z.* FROM ranges r CROSS JOIN LATERAL (
        SELECT {_document_columns} FROM documents d
        WHERE d.client_id = $1 AND d.organisation = ANY(ARRAY[r.organisation]) AND d.domain = ANY(ARRAY[r.domain])
          AND NOT d.blocked AND ($2::text IS NULL OR d.category = $2) AND (d.created_at, d.id) > ($3, $4) {_uploader}
        ORDER BY d.organisation, d.domain, d.created_at, d.id
        LIMIT $5
    ) z WHERE r.category IS NULL
    UNION ALL
    SELECT z.* FROM ranges r CROSS JOIN LATERAL (
        SELECT {_document_columns} FROM documents d
        WHERE d.client_id = $1 AND d.organisation = ANY(ARRAY[r.organisation]) AND d.domain = ANY(ARRAY[r.domain])
          AND d.category = ANY(ARRAY[r.category]) AND NOT d.blocked AND ($2::text IS NULL OR d.category = $2)
          AND (d.created_at, d.id) > ($3, $4) {_uploader}
        ORDER BY d.organisation, d.domain, d.category, d.created_at, d.id
        LIMIT $5
    ) z WHERE r.category IS NOT NULL
    UNION ALL
    SELECT * FROM (
        SELECT {_document_columns} FROM documents d
        WHERE d.client_id = $1 AND d.unit_id = ANY(ARRAY[$10::text]) AND d.blocked
          AND ($2::text IS NULL OR d.category = $2) AND (d.created_at, d.id) > ($3, $4) {_uploader}
          AND EXISTS (SELECT 1 FROM ranges r WHERE (r.organisation, r.domain) = (d.organisation, d.domain)
                                               AND (r.category IS NULL OR r.category = d.category))
        ORDER BY d.unit_id, d.created_at, d.id
        LIMIT $5
    ) own_blocked
    UNION ALL
    SELECT z.* FROM ranges r CROSS JOIN LATERAL (
        SELECT {_document_columns} FROM documents d
        WHERE $15 AND d.client_id = $1 AND d.organisation = ANY(ARRAY[r.organisation])
          AND d.domain = ANY(ARRAY[r.domain]) AND d.blocked AND d.unit_id <> $10
          AND ($2::text IS NULL OR d.category = $2) AND (d.created_at, d.id) > ($3, $4) {_uploader}
        ORDER BY d.organisation, d.domain, d.created_at, d.id
        LIMIT $5
    ) z WHERE r.category IS NULL
    UNION ALL
    SELECT z.* FROM ranges r CROSS JOIN LATERAL (
        SELECT {_document_columns} FROM documents d
        WHERE $15 AND d.client_id = $1 AND d.organisation = ANY(ARRAY[r.organisation])
          AND d.domain = ANY(ARRAY[r.domain]) AND d.category = ANY(ARRAY[r.category]) AND d.blocked
          AND d.unit_id <> $10 AND ($2::text IS NULL OR d.category = $2) AND (d.created_at, d.id) > ($3, $4) {_uploader}
        ORDER BY d.organisation, d.domain, d.category, d.created_at, d.id
        LIMIT $5
    ) z WHERE r.category IS NOT NULL
    UNION ALL
    SELECT * FROM (
        SELECT {_document_columns} FROM documents d
        JOIN unnest($12::uuid[], $13::text[], $14::text[]) AS s (id, organisation, domain)
          ON d.id = s.id AND d.organisation = s.organisation AND d.domain = s.domain
        WHERE d.client_id = $1 AND ($2::text IS NULL OR d.category = $2) AND (d.created_at, d.id) > ($3, $4)
          AND NOT ((NOT d.blocked OR d.unit_id = $10 OR $15)
                   AND EXISTS (SELECT 1 FROM ranges r WHERE (r.organisation, r.domain) = (d.organisation, d.domain)
                                                        AND (r.category IS NULL OR r.category = d.category)))
        ORDER BY d.created_at, d.id
        LIMIT $5
    ) disclosed
) page
ORDER BY page.created_at, page.id
LIMIT $5
"""
# Whether blocked documents of other units lie in the caller's ranges: what it would see but for a block (PDL 4:4,
# "that blocked information exists"), less what was disclosed to it ($7), which it sees blocked or not.
_blocked_elsewhere_sql = f"""
{_ranges_cte("$2", "$3", "$4", "$5")}
SELECT EXISTS (
    SELECT 1 FROM ranges r CROSS JOIN LATERAL (
        SELECT 1 FROM documents d
        WHERE d.client_id = $1 AND d.organisation = ANY(ARRAY[r.organisation]) AND d.domain = ANY(ARRAY[r.domain])
          AND d.blocked AND d.unit_id <> $6 AND NOT d.id = ANY($7::uuid[])
        ORDER BY d.organisation, d.domain, d.created_at, d.id
        LIMIT 1
    ) z WHERE r.category IS NULL
) OR EXISTS (
    SELECT 1 FROM ranges r CROSS JOIN LATERAL (
        SELECT 1 FROM documents d
        WHERE d.client_id = $1 AND d.organisation = ANY(ARRAY[r.organisation]) AND d.domain = ANY(ARRAY[r.domain])
          AND d.category = ANY(ARRAY[r.category]) AND d.blocked AND d.unit_id <> $6 AND NOT d.id = ANY($7::uuid[])
        ORDER BY d.organisation, d.domain, d.category, d.created_at, d.id  -- only its own index yields this order
        LIMIT 1
    ) z WHERE r.category IS NOT NULL
)
"""
_shred_sql = """
UPDATE documents SET status = 'shredded', dek_wrapped = NULL, stream_header = NULL, content_mac = NULL,
                     shredded_at = now(), shredded_by = $2, shred_reason_sealed = $3, ivo_decision_sealed = $4
WHERE id = $1 AND status = 'active'
RETURNING coalesce(content_id, id)
"""
# Every version of the documents goes with them (API-1.1 "Corrections": culling and shredding take every version
# together): keys, headers and MACs destroyed, the rows kept as the history's tombstones; their content ids returned
# for their segments.
_shred_versions_sql = """
UPDATE document_versions SET status = 'shredded', dek_wrapped = NULL, stream_header = NULL, content_mac = NULL,
                             shredded_at = now()
WHERE document_id = ANY($1::uuid[]) AND status = 'active'
RETURNING content_id
"""
_lock_sql = f"SELECT {_document_columns} FROM documents d WHERE d.id = $1 FOR UPDATE"
# A correction is a new entry in the client's file: it takes the file lock shared like an upload (FILE_LOCK).
_file_lock_sql = f"SELECT pg_advisory_xact_lock_shared({FILE_LOCK}, hashtext($1::uuid::text))"
_insert_version_sql = """
INSERT INTO document_versions (id, document_id, number, content_id, title_sealed, content_type, size, content_mac,
                               kek_version, dek_wrapped, stream_header, segment_count, epoch, created_at, created_by,
                               corrected_by, corrected_by_unit, reason_sealed, superseded_by)
SELECT $1::uuid, d.id, d.version_count, coalesce(d.content_id, d.id), $2::bytea, d.content_type, d.size, d.content_mac,
       $3::integer, $4::bytea, d.stream_header, d.segment_count, $5::text, coalesce(d.version_at, d.created_at),
       coalesce(d.version_by, d.created_by), $6::text, $7::text, $8::bytea, $9::uuid
FROM documents d WHERE d.id = $10 AND d.status = 'active'
"""
_replace_content_sql = f"""
UPDATE documents AS d SET content_id = $2, version_count = d.version_count + 1, version_at = clock_timestamp(),
    version_by = $3, title_sealed = $4, content_type = $5, size = $6, content_mac = $7, kek_version = $8,
    dek_wrapped = $9, stream_header = $10, segment_count = $11, epoch = $12
WHERE d.id = $1 AND d.status = 'active'
RETURNING {_document_columns}
"""
# The superseded versions' keys with what they are bound to (keys only: content is never read).
VERSION_KEY_COLUMNS = """
v.id, v.content_id, d.client_id, d.organisation, d.domain, v.kek_version, v.dek_wrapped, v.epoch
"""
_version_keys_sql = f"""
SELECT {VERSION_KEY_COLUMNS} FROM document_versions v JOIN documents d ON d.id = v.document_id
WHERE v.document_id = $1 AND v.dek_wrapped IS NOT NULL ORDER BY v.number FOR UPDATE OF v
"""
_set_version_keys_sql = """
UPDATE document_versions v SET kek_version = u.kek_version, dek_wrapped = u.wrapped, epoch = u.epoch
FROM unnest($1::uuid[], $2::integer[], $3::bytea[], $4::text[]) AS u(id, kek_version, wrapped, epoch)
WHERE v.id = u.id AND v.dek_wrapped IS NOT NULL
"""
_versions_sql = """
SELECT v.id, v.document_id, v.number, v.content_id, v.title_sealed, v.content_type, v.size, v.status, v.kek_version,
       v.dek_wrapped, v.stream_header, v.segment_count, v.epoch, v.created_at, v.created_by, v.corrected_at,
       v.corrected_by, v.reason_sealed, v.superseded_by, d.client_id, d.organisation, d.domain
FROM document_versions v JOIN documents d ON d.id = v.document_id
WHERE v.document_id = $1
ORDER BY v.number
"""
_set_blocked_sql = """
UPDATE documents SET blocked = $2, blocked_at = CASE WHEN $2 THEN now() END, blocked_by = CASE WHEN $2 THEN $3 END,
                     block_reason_sealed = $4
WHERE id = $1
"""


@dataclass(frozen=True, slots=True)
class NewDocument:
    id: UUID
    client_id: UUID
    unit: str
    zone: Zone
    category: str
    title_sealed: bytes
    content_type: str
    size: int
    content_mac: bytes
    kek_version: int
    dek_wrapped: bytes
    stream_header: bytes
    segment_count: int
    idempotency_key: str | None
    created_by: str
    epoch: str | None = None  # the culling epoch its key is wrapped under (crypto.envelope), if any


async def insert(conn: asyncpg.Connection, document: NewDocument) -> datetime:
    """Insert the document row (its segments must already be written in this transaction).

    Raises IdempotencyKeyTaken when the unit used the key before.
    """
    d = document
    try:
        created_at: datetime = await conn.fetchval(
            _insert_document_sql, d.id, d.client_id, d.unit, d.zone.organisation, d.zone.domain, d.category,
            d.title_sealed, d.content_type, d.size, d.content_mac, d.kek_version, d.dek_wrapped, d.stream_header,
            d.segment_count, d.idempotency_key, d.created_by, d.epoch,
        )
        return created_at
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "documents_idempotency":
            raise IdempotencyKeyTaken() from None
        raise


async def id_by_idempotency_key(conn: asyncpg.Connection, *, unit: str, key: str) -> UUID | None:
    """The id of the unit's document created with `key`, or None."""
    found: UUID | None = await conn.fetchval(_by_idempotency_key_sql, unit, key)
    return found


async def page_of_client(
    conn: asyncpg.Connection, client_id: UUID, candidates: Candidates, *, category: str | None,
    after: tuple[datetime, UUID], limit: int,
) -> list[asyncpg.Record]:
    """The client's documents after `after` in (created_at, id) order that `candidates` admits, and no others.

    A superset of what the caller may see: the caller's decide() confirms each.
    """
    if candidates.unit is None:
        return []
    ranges = candidates.ranges()
    zones, categories = [zone for zone, _ in ranges], [category for _, category in ranges]
    disclosed = sorted(candidates.disclosed, key=lambda pair: pair[0])
    rows: list[asyncpg.Record] = await conn.fetch(
        _client_documents_sql, client_id, category, *after, limit,
        [zone.organisation for zone in zones], [zone.domain for zone in zones], categories,
        sorted(candidates.emergency_domains), candidates.unit, candidates.uploader,
        [UUID(document_id) for document_id, _ in disclosed], [zone.organisation for _, zone in disclosed],
        [zone.domain for _, zone in disclosed], candidates.lifted,
    )
    return rows


async def blocked_elsewhere(conn: asyncpg.Connection, client_id: UUID, candidates: Candidates) -> bool:
    """Whether documents of the client that `candidates` would admit but for a block lie in other units (none
    while a lifting runs for the caller: then it sees them)."""
    if candidates.unit is None or candidates.lifted:
        return False
    ranges = candidates.ranges()
    found: bool = await conn.fetchval(
        _blocked_elsewhere_sql, client_id, [zone.organisation for zone, _ in ranges], [zone.domain for zone, _ in ranges],
        [category for _, category in ranges], sorted(candidates.emergency_domains), candidates.unit,
        [UUID(document_id) for document_id, _ in candidates.disclosed])
    return found


async def shred(conn: asyncpg.Connection, document_id: UUID, *, by: str, reason_sealed: bytes,
                ivo_decision_sealed: bytes | None = None) -> list[UUID]:
    """Destroy the wrapped data keys and MACs of the document and every version of it, keep the tombstones (with
    the IVO decision it rests on, if any); the content ids whose segments are to go ([] if it was shredded already)."""
    content_id = await conn.fetchval(_shred_sql, document_id, by, reason_sealed, ivo_decision_sealed)
    if content_id is None:
        return []
    return [content_id, *await shred_versions(conn, [document_id])]


async def shred_versions(conn: asyncpg.Connection, document_ids: Sequence[UUID]) -> list[UUID]:
    """Crypto-shred every superseded version of these documents; their content ids (for their segments)."""
    return [row["content_id"] for row in await conn.fetch(_shred_versions_sql, list(document_ids))]


async def lock(conn: asyncpg.Connection, document_id: UUID, client_id: UUID) -> asyncpg.Record | None:
    """The document row, locked for a correction, after the client's file lock (shared, like an upload's)."""
    await conn.execute(_file_lock_sql, client_id)
    row: asyncpg.Record | None = await conn.fetchrow(_lock_sql, document_id)
    return row


@dataclass(frozen=True, slots=True)
class NewContent:
    """A version's encrypted content, as _store in domain.documents writes it: under its own content id and key."""

    content_id: UUID
    title_sealed: bytes
    content_type: str
    size: int
    content_mac: bytes
    kek_version: int
    dek_wrapped: bytes
    stream_header: bytes
    segment_count: int
    epoch: str | None


@dataclass(frozen=True, slots=True)
class Superseded:
    """The version a correction replaces, as it is kept: its title sealed to the version, its key (moved to the new
    content's culling epoch), why it was corrected and by whom."""

    id: UUID
    title_sealed: bytes
    kek_version: int
    dek_wrapped: bytes
    epoch: str | None
    reason_sealed: bytes
    corrected_by: str
    corrected_by_unit: str


async def correct(conn: asyncpg.Connection, document_id: UUID, old: Superseded, new: NewContent) -> asyncpg.Record:
    """Keep the latest version as a superseded one and make `new` the latest, in the caller's transaction (the
    document row locked by `lock`); the document row as it is now."""
    await conn.execute(_insert_version_sql, old.id, old.title_sealed, old.kek_version, old.dek_wrapped, old.epoch,
                       old.corrected_by, old.corrected_by_unit, old.reason_sealed, new.content_id, document_id)
    row: asyncpg.Record = await conn.fetchrow(
        _replace_content_sql, document_id, new.content_id, old.corrected_by, new.title_sealed, new.content_type,
        new.size, new.content_mac, new.kek_version, new.dek_wrapped, new.stream_header, new.segment_count, new.epoch)
    return row


async def version_keys(conn: asyncpg.Connection, document_id: UUID) -> list[asyncpg.Record]:
    """The live keys of the document's superseded versions, locked (VERSION_KEY_COLUMNS)."""
    rows: list[asyncpg.Record] = await conn.fetch(_version_keys_sql, document_id)
    return rows


async def set_version_keys(conn: asyncpg.Connection, updates: Sequence[tuple[UUID, int, bytes, str | None]]) -> None:
    """Store versions' re-wrapped keys: (version id, kek_version, wrapped key, epoch)."""
    if updates:
        await conn.execute(_set_version_keys_sql, [u[0] for u in updates], [u[1] for u in updates],
                           [u[2] for u in updates], [u[3] for u in updates])


async def versions(conn: asyncpg.Connection, document_id: UUID) -> list[asyncpg.Record]:
    """The document's superseded versions, oldest first (the latest is the document row itself)."""
    rows: list[asyncpg.Record] = await conn.fetch(_versions_sql, document_id)
    return rows


async def set_blocked(conn: asyncpg.Connection, document_id: UUID, *, blocked: bool, by: str, reason_sealed: bytes | None) -> None:
    """Block or unblock (spärr) the document."""
    await conn.execute(_set_blocked_sql, document_id, blocked, by, reason_sealed)
