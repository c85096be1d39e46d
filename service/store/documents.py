"""Documents: metadata rows with the wrapped data key; segments live in the BlobStore."""
from __future__ import annotations

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
                ivo_decision_sealed: bytes | None = None) -> bool:
    """Destroy the wrapped data key and MAC, keep the tombstone (with the IVO decision it rests on, if any);
    False if it was shredded already."""
    status: str = await conn.execute(_shred_sql, document_id, by, reason_sealed, ivo_decision_sealed)
    return status == "UPDATE 1"


async def set_blocked(conn: asyncpg.Connection, document_id: UUID, *, blocked: bool, by: str, reason_sealed: bytes | None) -> None:
    """Block or unblock (spärr) the document."""
    await conn.execute(_set_blocked_sql, document_id, blocked, by, reason_sealed)
