"""Wrapped data keys and sealed fields by KEK version: what `keys status` counts and `keys rewrap` moves."""
from __future__ import annotations

from uuid import UUID

import asyncpg

_count_by_version_sql = """
SELECT kek_version, count(*) AS keys FROM documents WHERE dek_wrapped IS NOT NULL GROUP BY kek_version ORDER BY kek_version
"""
# Every sealed column (crypto/fields.py): byte 0 is the format, bytes 1..4 the KEK version that sealed it (big-endian).
# tests/integration/test_keys_cli.py checks this list against the schema's `*_sealed` columns.
SEALED_COLUMNS = (
    ("clients", "personal_number_sealed"), ("clients", "name_sealed"),
    ("documents", "title_sealed"), ("documents", "block_reason_sealed"), ("documents", "shred_reason_sealed"),
    ("consents", "note_sealed"), ("consents", "revoke_reason_sealed"), ("consents", "guardian_name_sealed"),
    ("consents", "guardian_personal_number_sealed"), ("consents", "maturity_basis_sealed"),
    ("relations", "reason_sealed"), ("disclosures", "need_sealed"), ("block_liftings", "reason_sealed"),
    ("block_lifting_reviews", "comment_sealed"),
    ("sip_plans", "title_sealed"), ("sip_plan_versions", "content_sealed"), ("sip_follow_ups", "summary_sealed"),
    ("emergency_grants", "reason_sealed"), ("emergency_reviews", "comment_sealed"),
    ("ui_sessions", "token_sealed"),  # live a token's lifetime at most (a session whose seal no longer opens is over)
)
_sealed_version = "(get_byte({0}, 1)::bigint << 24) + (get_byte({0}, 2) << 16) + (get_byte({0}, 3) << 8) + get_byte({0}, 4)"
_count_sealed_sql = "SELECT version, sum(fields)::bigint AS fields FROM (" + " UNION ALL ".join(
    f"SELECT {_sealed_version.format(column)} AS version, count(*) AS fields FROM {table} "
    f"WHERE {column} IS NOT NULL GROUP BY 1" for table, column in SEALED_COLUMNS
) + ") per_column GROUP BY version ORDER BY version"
_count_older_sql = "SELECT count(*) FROM documents WHERE dek_wrapped IS NOT NULL AND kek_version < $1"
# Rows being shredded or rewrapped elsewhere are skipped, not waited for: the job stays online.
_lock_older_sql = """
SELECT id, client_id, organisation, domain, kek_version, dek_wrapped, epoch FROM documents
WHERE dek_wrapped IS NOT NULL AND kek_version < $1
ORDER BY id LIMIT $2
FOR UPDATE SKIP LOCKED
"""
_set_wrapped_sql = "UPDATE documents SET kek_version = $2, dek_wrapped = $3 WHERE id = $1"


async def count_by_version(conn: asyncpg.Connection) -> dict[int, int]:
    """How many live data keys each KEK version wraps."""
    return {row["kek_version"]: row["keys"] for row in await conn.fetch(_count_by_version_sql)}


async def count_sealed_by_version(conn: asyncpg.Connection) -> dict[int, int]:
    """How many sealed fields each KEK version's field key sealed (they stay with it: `keys rewrap` moves data keys)."""
    return {row["version"]: row["fields"] for row in await conn.fetch(_count_sealed_sql)}


async def count_older(conn: asyncpg.Connection, version: int) -> int:
    count: int = await conn.fetchval(_count_older_sql, version)
    return count


async def lock_older(conn: asyncpg.Connection, version: int, *, limit: int) -> list[asyncpg.Record]:
    """Up to `limit` documents whose key is wrapped by an older version, locked for this transaction."""
    rows: list[asyncpg.Record] = await conn.fetch(_lock_older_sql, version, limit)
    return rows


async def set_wrapped(conn: asyncpg.Connection, rows: list[tuple[UUID, int, bytes]]) -> None:
    await conn.executemany(_set_wrapped_sql, rows)
