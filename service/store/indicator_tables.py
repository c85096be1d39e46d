"""A year's suppressed indicator tables kept in the database (migration indicator_tables; issue 17), so that every
replica and every restart reads them instead of making them again.

The stored form holds only aggregate cells: each published cell's value (zero cells left out: a cell absent is 0)
and the names of the suppressed cells, whose values are not stored at all. No person is named. The scopes are not
stored either: they follow from the units' zones, which are part of the key (policies.indicators.scopes).
"""
from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from policies import indicators as rules
from policies.model import Zone

# The advisory lock the background making holds (one replica at a time makes the tables; service/indicator_schedule).
BUILD_LOCK = 7_264_017


def zones_digest(zones: Mapping[str, tuple[str, str]]) -> bytes:
    """The units' zones as the key names them: SHA-256 of the sorted unit -> (organisation, domain) pairs."""
    canonical = json.dumps(sorted((unit, list(zone)) for unit, zone in zones.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


def encode(tables: rules.Tables) -> bytes:
    """The published cells' values (nonzero ones) and the suppressed cells' names, sorted (the same tables give the
    same bytes), as zlib-compressed JSON. A suppressed cell's value is left out."""
    values = sorted([*cell, value] for cell, value in tables.values.items()
                    if value and cell not in tables.suppressed)
    suppressed = sorted(list(cell) for cell in tables.suppressed)
    text = json.dumps({"values": values, "suppressed": suppressed}, separators=(",", ":"))
    return zlib.compress(text.encode(), 6)


def decode(blob: bytes, zones: Mapping[str, tuple[str, str]], published: tuple[int, ...]) -> rules.Tables:
    """The tables `encode` stored, over the scopes of these zones (the zones of the key they were stored under)."""
    found = json.loads(zlib.decompress(blob))
    values = {(p, s, m, x, b): v for p, s, m, x, b, v in found["values"]}
    suppressed = frozenset((p, s, m, x, b) for p, s, m, x, b in found["suppressed"])
    return rules.Tables(tuple(rules.scopes({u: Zone(*z) for u, z in zones.items()})), values, suppressed,
                        frozenset(published))


_load_sql = """
SELECT cells FROM indicator_tables
WHERE year = $1 AND published = $2::smallint[] AND min_cell = $3 AND frozen_at = $4 AND zones_digest = $5
"""
_exists_sql = """
SELECT EXISTS (SELECT 1 FROM indicator_tables
               WHERE year = $1 AND published = $2::smallint[] AND min_cell = $3 AND frozen_at = $4
                 AND zones_digest = $5)
"""
_save_sql = """
INSERT INTO indicator_tables (year, published, min_cell, frozen_at, zones_digest, cells)
VALUES ($1, $2::smallint[], $3, $4, $5, $6) ON CONFLICT DO NOTHING
"""


def _args(year: int, published: tuple[int, ...], min_cell: int, frozen_at: datetime,
          zones: Mapping[str, tuple[str, str]]) -> tuple[Any, ...]:
    return year, list(published), min_cell, frozen_at, zones_digest(zones)


async def load(conn: asyncpg.Connection, year: int, published: tuple[int, ...], min_cell: int, frozen_at: datetime,
               zones: Mapping[str, tuple[str, str]]) -> bytes | None:
    """The stored tables of exactly this key, or None (none made yet)."""
    blob: bytes | None = await conn.fetchval(_load_sql, *_args(year, published, min_cell, frozen_at, zones))
    return blob


async def exists(conn: asyncpg.Connection, year: int, published: tuple[int, ...], min_cell: int,
                 frozen_at: datetime, zones: Mapping[str, tuple[str, str]]) -> bool:
    return bool(await conn.fetchval(_exists_sql, *_args(year, published, min_cell, frozen_at, zones)))


async def save(conn: asyncpg.Connection, year: int, published: tuple[int, ...], min_cell: int, frozen_at: datetime,
               zones: Mapping[str, tuple[str, str]], blob: bytes) -> bool:
    """Store the tables of this key; False when another replica stored them first (made from the same records by
    the same deterministic suppression: the same cells)."""
    return str(await conn.execute(_save_sql, *_args(year, published, min_cell, frozen_at, zones), blob)).endswith(" 1")


_frozen_years_sql = "SELECT year FROM indicator_years ORDER BY year"


async def frozen_years(conn: asyncpg.Connection) -> list[int]:
    """The years whose freeze instant is set (their tables have been made or read at least once)."""
    return [row["year"] for row in await conn.fetch(_frozen_years_sql)]
