"""Units: teams or clinics, each in exactly one zone."""
from __future__ import annotations

import asyncpg

_unit_columns = "id, name, organisation, domain, active, created_at, updated_at"
_insert_unit_sql = f"""
INSERT INTO units (id, name, organisation, domain) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO NOTHING
RETURNING {_unit_columns}
"""
_get_unit_sql = f"SELECT {_unit_columns} FROM units WHERE id = $1"
_list_units_sql = f"SELECT {_unit_columns} FROM units WHERE id > $1 ORDER BY id LIMIT $2"
_set_active_sql = f"UPDATE units SET active = $2, updated_at = now() WHERE id = $1 RETURNING {_unit_columns}"


async def insert(conn: asyncpg.Connection, *, unit_id: str, name: str, organisation: str, domain: str) -> asyncpg.Record | None:
    """Insert a unit; None when the id is taken."""
    return await conn.fetchrow(_insert_unit_sql, unit_id, name, organisation, domain)


async def get(conn: asyncpg.Connection, unit_id: str) -> asyncpg.Record | None:
    """The unit, or None."""
    return await conn.fetchrow(_get_unit_sql, unit_id)


async def page(conn: asyncpg.Connection, *, after: str, limit: int) -> list[asyncpg.Record]:
    """Units with id greater than `after`, in id order."""
    rows: list[asyncpg.Record] = await conn.fetch(_list_units_sql, after, limit)
    return rows


async def set_active(conn: asyncpg.Connection, unit_id: str, *, active: bool) -> asyncpg.Record | None:
    """Activate or deactivate; None when there is no such unit."""
    return await conn.fetchrow(_set_active_sql, unit_id, active)
