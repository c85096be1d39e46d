"""Wrapped data keys and sealed fields by KEK version: what `keys status` counts, `keys rewrap` and `keys reseal` move."""
from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

# Every live data key: the documents' latest versions' and their superseded versions' (document_versions).
_count_by_version_sql = """
SELECT kek_version, count(*) AS keys FROM (
    SELECT kek_version FROM documents WHERE dek_wrapped IS NOT NULL
    UNION ALL SELECT kek_version FROM document_versions WHERE dek_wrapped IS NOT NULL
) live GROUP BY kek_version ORDER BY kek_version
"""


@dataclass(frozen=True, slots=True)
class SealedColumn:
    """A sealed column and what its seals are bound to (crypto/fields.py): record, the row's key, field.

    `record` and `field` are those the domain module that writes the column seals with; `keys reseal` opens
    and seals again with them, and a wrong pair would not open (the reseal test reads everything back over HTTP).
    """

    table: str
    column: str
    record: str
    field: str
    versioned: bool = False  # the key is `<record id>/<number>` and the field `field` + the number

    def binding(self, key: str) -> tuple[str, str]:
        """(record_id, field) the seal of the row with key `key` is bound to."""
        if not self.versioned:
            return key, self.field
        record_id, number = key.rsplit("/", 1)
        return record_id, f"{self.field}{int(number)}"


# The key each table's seals are bound to (record_id: the key as text; a bytea key as hex), and its smallest value.
_NIL = UUID(int=0)
TABLE_KEYS: dict[str, tuple[str, object]] = {
    "clients": ("id", _NIL), "documents": ("id", _NIL), "consents": ("id", _NIL), "relations": ("id", _NIL),
    "disclosures": ("id", _NIL), "block_liftings": ("id", _NIL), "block_lifting_reviews": ("lifting_id", _NIL),
    "emergency_grants": ("id", _NIL), "emergency_reviews": ("grant_id", _NIL), "ui_sessions": ("id_hash", b""),
    "sip_plans": ("id", _NIL), "sip_plan_versions": ("seal_key", ""), "sip_follow_ups": ("id", _NIL),
    "followup_records": ("id", _NIL), "document_versions": ("id", _NIL),
}
# Every sealed column (crypto/fields.py): byte 0 is the format, bytes 1..4 the KEK version that sealed it (big-endian).
# tests/integration/test_keys_cli.py checks this list against the schema's `*_sealed` columns.
SEALED = (
    SealedColumn("clients", "personal_number_sealed", "client", "personal_number"),
    SealedColumn("clients", "name_sealed", "client", "name"),
    SealedColumn("documents", "title_sealed", "document", "title"),
    SealedColumn("documents", "block_reason_sealed", "document", "block_reason"),
    SealedColumn("documents", "shred_reason_sealed", "document", "shred_reason"),
    SealedColumn("documents", "ivo_decision_sealed", "document", "ivo_decision"),
    # A superseded version's title and the correction's reason are sealed to the version (service/domain/versions.py).
    SealedColumn("document_versions", "title_sealed", "document_version", "title"),
    SealedColumn("document_versions", "reason_sealed", "document_version", "reason"),
    *(SealedColumn("consents", f"{field}_sealed", "consent", field)
      for field in ("note", "revoke_reason", "guardian_name", "guardian_personal_number", "maturity_basis")),
    SealedColumn("relations", "reason_sealed", "relation", "reason"),
    SealedColumn("disclosures", "need_sealed", "disclosure", "need"),
    SealedColumn("block_liftings", "reason_sealed", "block_lifting", "reason"),
    SealedColumn("block_lifting_reviews", "comment_sealed", "emergency_review", "comment"),
    SealedColumn("sip_plans", "title_sealed", "sip_plan", "title"),
    # A version's content is bound to its plan and number (field content/<n>): its key `seal_key` says both.
    SealedColumn("sip_plan_versions", "content_sealed", "sip_plan", "content/", versioned=True),
    SealedColumn("sip_follow_ups", "summary_sealed", "sip_follow_up", "summary"),
    SealedColumn("followup_records", "void_reason_sealed", "followup_record", "void_reason"),
    SealedColumn("emergency_grants", "reason_sealed", "emergency_grant", "reason"),
    SealedColumn("emergency_reviews", "comment_sealed", "emergency_review", "comment"),
    # live a token's lifetime at most (a session whose seal no longer opens is over)
    SealedColumn("ui_sessions", "token_sealed", "ui_session", "token"),
)
SEALED_COLUMNS = tuple((sealed.table, sealed.column) for sealed in SEALED)
_sealed_version = "(get_byte({0}, 1)::bigint << 24) + (get_byte({0}, 2) << 16) + (get_byte({0}, 3) << 8) + get_byte({0}, 4)"
_count_sealed_sql = "SELECT version, sum(fields)::bigint AS fields FROM (" + " UNION ALL ".join(
    f"SELECT {_sealed_version.format(column)} AS version, count(*) AS fields FROM {table} "
    f"WHERE {column} IS NOT NULL GROUP BY 1" for table, column in SEALED_COLUMNS
) + ") per_column GROUP BY version ORDER BY version"
_count_older_sql = """
SELECT (SELECT count(*) FROM documents WHERE dek_wrapped IS NOT NULL AND kek_version < $1)
     + (SELECT count(*) FROM document_versions WHERE dek_wrapped IS NOT NULL AND kek_version < $1)
"""
# Rows being shredded or rewrapped elsewhere are skipped, not waited for: the job stays online. A key is bound to
# its content id (the document's own until a correction; a superseded version's own).
_lock_older_sql = """
SELECT id, coalesce(content_id, id) AS content_id, client_id, organisation, domain, kek_version, dek_wrapped, epoch,
       false AS version
FROM documents
WHERE dek_wrapped IS NOT NULL AND kek_version < $1
ORDER BY id LIMIT $2
FOR UPDATE SKIP LOCKED
"""
_lock_older_versions_sql = """
SELECT v.id, v.content_id, d.client_id, d.organisation, d.domain, v.kek_version, v.dek_wrapped, v.epoch,
       true AS version
FROM document_versions v JOIN documents d ON d.id = v.document_id
WHERE v.dek_wrapped IS NOT NULL AND v.kek_version < $1
ORDER BY v.id LIMIT $2
FOR UPDATE OF v SKIP LOCKED
"""
_set_wrapped_sql = "UPDATE documents SET kek_version = $2, dek_wrapped = $3 WHERE id = $1"
_set_version_wrapped_sql = "UPDATE document_versions SET kek_version = $2, dek_wrapped = $3 WHERE id = $1"


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
    """Up to `limit` documents whose key is wrapped by an older version, locked for this transaction; once none is
    left, up to `limit` superseded versions (`version` true)."""
    rows: list[asyncpg.Record] = await conn.fetch(_lock_older_sql, version, limit)
    if not rows:
        rows = await conn.fetch(_lock_older_versions_sql, version, limit)
    return rows


async def set_wrapped(conn: asyncpg.Connection, rows: list[tuple[UUID, int, bytes]], *, versions: bool = False) -> None:
    """Store re-wrapped keys (id, kek_version, wrapped) of documents, or of superseded versions."""
    await conn.executemany(_set_version_wrapped_sql if versions else _set_wrapped_sql, rows)


def _older_than(column: str) -> str:
    return f"{_sealed_version.format(column)} < $2"


def _lock_unsealed_sql(table: str) -> str:
    key, _ = TABLE_KEYS[table]
    columns = [sealed.column for sealed in SEALED if sealed.table == table]
    return (f"SELECT {key} AS key, {', '.join(columns)} FROM {table} "
            f"WHERE {key} > $1 AND ({' OR '.join(_older_than(column) for column in columns)}) "
            f"ORDER BY {key} LIMIT $3 FOR UPDATE SKIP LOCKED")


def _reseal_sql(table: str) -> str:
    key, _ = TABLE_KEYS[table]
    columns = [sealed.column for sealed in SEALED if sealed.table == table]
    return f"UPDATE {table} SET {', '.join(f'{c} = ${n}' for n, c in enumerate(columns, 2))} WHERE {key} = $1"


_LOCK_UNSEALED = {table: _lock_unsealed_sql(table) for table in TABLE_KEYS}
_RESEAL = {table: _reseal_sql(table) for table in TABLE_KEYS}


def sealed_columns(table: str) -> list[SealedColumn]:
    return [sealed for sealed in SEALED if sealed.table == table]


async def lock_unsealed(conn: asyncpg.Connection, table: str, version: int, *, after: object,
                        limit: int) -> list[asyncpg.Record]:
    """Up to `limit` rows of `table` after the key `after` with a field sealed by a version older than `version`,
    locked for this transaction; rows in use elsewhere are skipped, not waited for."""
    rows: list[asyncpg.Record] = await conn.fetch(_LOCK_UNSEALED[table], after, version, limit)
    return rows


async def allow_reseal(conn: asyncpg.Connection) -> None:
    """Open the owner's maintenance path through the history triggers for this transaction (migration
    reseal_maintenance): only sealed columns may change, to seals of the same length by a newer version."""
    await conn.execute("SELECT set_config('brygga.reseal', 'on', true)")


async def set_sealed(conn: asyncpg.Connection, table: str, rows: list[tuple[object, ...]]) -> None:
    """Write each row's sealed columns: (key, every sealed column of `table` in SEALED's order)."""
    await conn.executemany(_RESEAL[table], rows)
