"""Liftings of a client's blocks (PDL 4:4): opened for a time, never edited, ended early at most once."""
from __future__ import annotations

from uuid import UUID

import asyncpg

from policies.model import BlockLifting, Zone

_columns = ("id, client_id, unit_id, organisation, domain, sub, sub_name, basis, scope, form, evidence_document_id,"
            " opened_at, expires_at, ended_at, ended_by")
# Opened and expiring by one reading of the database's clock: exactly `hours` apart (the 168-hour check holds).
_insert_sql = f"""
INSERT INTO block_liftings (id, client_id, unit_id, organisation, domain, sub, sub_name, basis, scope, form,
                            evidence_document_id, reason_sealed, opened_at, expires_at)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, clock.now, clock.now + make_interval(hours => $13)
FROM (SELECT clock_timestamp() AS now) clock
RETURNING {_columns}
"""
_get_sql = f"SELECT {_columns} FROM block_liftings WHERE id = $1"
_end_sql = f"""
UPDATE block_liftings SET ended_at = clock_timestamp(), ended_by = $2
WHERE id = $1 AND ended_at IS NULL AND expires_at > clock_timestamp()
RETURNING {_columns}
"""


async def insert(conn: asyncpg.Connection, *, lifting_id: UUID, client_id: UUID, unit: str, zone: Zone, sub: str,
                 sub_name: str | None, basis: str, scope: str, form: str | None, evidence_document_id: UUID | None,
                 reason_sealed: bytes, hours: int) -> asyncpg.Record:
    """Open the lifting from the database's clock for `hours`; the row."""
    row: asyncpg.Record = await conn.fetchrow(
        _insert_sql, lifting_id, client_id, unit, zone.organisation, zone.domain, sub, sub_name, basis, scope, form,
        evidence_document_id, reason_sealed, hours)
    return row


async def get(conn: asyncpg.Connection, lifting_id: UUID, *, lock: bool = False) -> asyncpg.Record | None:
    """The lifting, or None; `lock` holds it until the transaction ends."""
    return await conn.fetchrow(_get_sql + (" FOR UPDATE" if lock else ""), lifting_id)


async def end(conn: asyncpg.Connection, lifting_id: UUID, *, by: str) -> asyncpg.Record | None:
    """End a running lifting now; the row as it now is (one already over stays as it was)."""
    row = await conn.fetchrow(_end_sql, lifting_id, by)
    return row if row is not None else await get(conn, lifting_id)


def model(row: asyncpg.Record) -> BlockLifting:
    """The policy's view of a lifting row."""
    return BlockLifting(id=str(row["id"]), unit=row["unit_id"], sub=row["sub"], scope=row["scope"], basis=row["basis"],
                        opened_at=row["opened_at"], expires_at=row["expires_at"], ended_at=row["ended_at"])
