"""Follow-up records (migration followup_records): inserted, voided once, an episode closed once; never edited."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

COLUMNS = """
r.id, r.client_id, r.unit_id, r.organisation, r.domain, r.kind, r.on_date, r.end_date, r.detail, r.score,
r.with_unit, r.reopened, r.close_reason, r.episode_id, r.created_at, r.created_by, r.closed_at, r.closed_by,
r.voided_at, r.voided_by, r.void_reason_sealed
"""
_get_sql = f"SELECT {COLUMNS} FROM followup_records r WHERE r.id = $1"
_get_for_update_sql = _get_sql + " FOR UPDATE"
# The units (with the zone each record was made in) holding the client's records of one kind: a skip scan of the
# index followup_records_client_unit, one index step a unit, so its cost does not grow with the records a unit holds
# (a list must not take longer the more records another zone holds: insider attack 10, finding 3).
_holders_sql = """
WITH RECURSIVE holder AS (
  (SELECT r.unit_id, r.organisation, r.domain FROM followup_records r
    WHERE r.client_id = $1 AND r.kind = $2
    ORDER BY r.unit_id, r.organisation, r.domain LIMIT 1)
  UNION ALL
  SELECT next.unit_id, next.organisation, next.domain FROM holder h
  CROSS JOIN LATERAL (
    SELECT r.unit_id, r.organisation, r.domain FROM followup_records r
    WHERE r.client_id = $1 AND r.kind = $2 AND (r.unit_id, r.organisation, r.domain) > (h.unit_id, h.organisation, h.domain)
    ORDER BY r.unit_id, r.organisation, r.domain LIMIT 1) next
)
SELECT unit_id, organisation, domain FROM holder
"""
# The client's records of one kind held by the given (unit, organisation, domain) holders, newest first: at most
# $8 rows of each holder are read (its own index range), never a row of another holder.
_of_client_sql = f"""
SELECT {COLUMNS} FROM unnest($3::text[], $4::text[], $5::text[]) AS h(unit_id, organisation, domain)
CROSS JOIN LATERAL (
  SELECT {COLUMNS} FROM followup_records r
  WHERE r.client_id = $1 AND r.kind = $2 AND r.unit_id = h.unit_id AND r.organisation = h.organisation
    AND r.domain = h.domain AND ($6::timestamptz IS NULL OR (r.created_at, r.id) < ($6, $7))
  ORDER BY r.created_at DESC, r.id DESC
  LIMIT $8) r
ORDER BY r.created_at DESC, r.id DESC
LIMIT $8
"""
# The unit's open episode for the client (at most one is kept open: opening another while one is open is refused),
# and its last closed one: what decides `reopened`. Locked per client and unit so two openings cannot race.
_episodes_sql = """
SELECT
  (SELECT json_build_object('id', e.id, 'opened_on', e.on_date) FROM followup_records e
    WHERE e.client_id = $1 AND e.unit_id = $2 AND e.kind = 'episode' AND e.voided_at IS NULL AND e.closed_at IS NULL
    ORDER BY e.on_date DESC, e.id LIMIT 1) AS open_episode,
  (SELECT max(e.end_date) FROM followup_records e
    WHERE e.client_id = $1 AND e.unit_id = $2 AND e.kind = 'episode' AND e.voided_at IS NULL
      AND e.closed_at IS NOT NULL) AS last_closed_on,
  (SELECT c.personal_number_sealed FROM clients c WHERE c.id = $1) AS personal_number_sealed
"""
_lock_sql = "SELECT pg_advisory_xact_lock(hashtextextended('followup:' || $1::uuid::text || ':' || $2::text, 0))"
_insert_sql = f"""
INSERT INTO followup_records AS r (id, client_id, unit_id, organisation, domain, kind, sex, on_date, end_date, detail,
                                   score, with_unit, reopened, episode_id, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
RETURNING {COLUMNS}
"""
_unit_domain_sql = "SELECT domain FROM units WHERE id = $1 AND active"
_void_sql = """
UPDATE followup_records SET voided_at = clock_timestamp(), voided_by = $2, void_reason_sealed = $3
WHERE id = $1 AND voided_at IS NULL
"""
_close_sql = """
UPDATE followup_records SET end_date = $2, close_reason = $3, closed_at = clock_timestamp(), closed_by = $4
WHERE id = $1 AND kind = 'episode' AND closed_at IS NULL AND voided_at IS NULL
"""


async def get(conn: asyncpg.Connection, record_id: UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(_get_for_update_sql if for_update else _get_sql, record_id)
    return row


async def holders(conn: asyncpg.Connection, client_id: UUID, kind: str) -> list[tuple[str, str, str]]:
    """The (unit, organisation, domain) holding the client's records of `kind`, voided ones too (a voided record is
    listed, marked voided)."""
    rows = await conn.fetch(_holders_sql, client_id, kind)
    return [(row["unit_id"], row["organisation"], row["domain"]) for row in rows]


async def of_client(conn: asyncpg.Connection, client_id: UUID, kind: str, *, holders: list[tuple[str, str, str]],
                    before: tuple[datetime, UUID] | None, limit: int) -> list[asyncpg.Record]:
    """The client's records of `kind` held by `holders`, newest first, at most `limit`: rows of other holders are
    never read."""
    at, last = before if before is not None else (None, None)
    units, organisations, domains = ([h[i] for h in holders] for i in range(3))
    rows: list[asyncpg.Record] = await conn.fetch(_of_client_sql, client_id, kind, units, organisations, domains,
                                                  at, last, limit)
    return rows


async def episodes(conn: asyncpg.Connection, client_id: UUID,
                   unit: str) -> tuple[dict[str, Any] | None, date | None, bytes | None]:
    """The unit's open episode for the client (id, opened_on), the date its last closed one closed and the client's
    sealed personal number (a record keeps the sex it states), after taking the client-and-unit lock (recording is
    serialised per client and unit: `reopened` and the one open episode hold). The lock is a statement of its own:
    the read after it must see what a writer that held it committed."""
    await conn.execute(_lock_sql, client_id, unit)
    row = await conn.fetchrow(_episodes_sql, client_id, unit)
    opened = json.loads(row["open_episode"]) if row["open_episode"] is not None else None
    if opened is not None:
        opened = {"id": UUID(opened["id"]), "opened_on": date.fromisoformat(opened["opened_on"])}
    return opened, row["last_closed_on"], row["personal_number_sealed"]


async def unit_domain(conn: asyncpg.Connection, unit: str) -> str | None:
    domain: str | None = await conn.fetchval(_unit_domain_sql, unit)
    return domain


async def insert(conn: asyncpg.Connection, *, record_id: UUID, client_id: UUID, unit: str, organisation: str,
                 domain: str, kind: str, sex: str, on_date: date, end_date: date | None = None,
                 detail: str | None = None, score: int | None = None, with_unit: str | None = None,
                 reopened: bool | None = None, episode_id: UUID | None = None, created_by: str) -> asyncpg.Record:
    """The record inserted, as get() reads it."""
    row: asyncpg.Record = await conn.fetchrow(_insert_sql, record_id, client_id, unit, organisation, domain, kind,
                                              sex, on_date, end_date, detail, score, with_unit, reopened, episode_id,
                                              created_by)
    return row


async def void(conn: asyncpg.Connection, record_id: UUID, *, by: str, reason_sealed: bytes) -> bool:
    return str(await conn.execute(_void_sql, record_id, by, reason_sealed)).endswith(" 1")


async def close(conn: asyncpg.Connection, record_id: UUID, *, closed_on: date, reason: str, by: str) -> bool:
    return str(await conn.execute(_close_sql, record_id, closed_on, reason, by)).endswith(" 1")


# One row a person, unit and month of the year in which the person is counted at the unit (a record dated in the
# month, or an episode or intervention running through it): the numbers the indicators' pieces are made of
# (policies/indicators.py `Month`), summed by the database. Events count in the month they happen; an intervention
# running through several months counts in each, by how far its piece reaches (3: its first month of the year, 2:
# its first of a quarter, 1: the others); the first and latest AUDIT and DUDIT score of the month. Voided records
# count nowhere. $1, $2: the year's first and last day; $3: the year's freeze instant (migration indicator_years):
# the records as they stood then (created before, not voided before; an episode closed after it still open).
_MONTH = "extract(month FROM {0})::int"
_INTERVENTIONS = ",\n".join(
    f"count(*) FILTER (WHERE s.kind = 'intervention' AND s.detail = '{k}' AND s.reach = {r}) "
    f"AS interventions_{k}_{r}" for k in ("medication_assisted", "group", "individual", "other") for r in (1, 2, 3))
_CONTACTS = ",\n".join(f"count(*) FILTER (WHERE s.kind = 'contact' AND s.detail = '{k}') AS contacts_{k}"
                        for k in ("individual", "group", "joint", "phone", "home_visit"))
_SCORES = ",\n".join(
    f"(array_agg(s.score ORDER BY s.on_date {order}, s.created_at {order}) FILTER (WHERE s.kind = 'assessment' "
    f"AND s.detail = '{instrument}'))[1] AS {instrument.lower()}_{which}"
    for instrument in ("AUDIT", "DUDIT") for which, order in (("first", "ASC"), ("latest", "DESC")))
_year_sql = f"""
WITH spans AS (
  SELECT r.client_id, r.unit_id, r.sex, r.kind, r.detail, r.score, r.on_date, e.end_date, r.reopened, r.created_at,
         m.month,
         CASE WHEN m.month = m.first THEN 3 WHEN m.month = greatest(m.first, (m.month - 1) / 3 * 3 + 1) THEN 2
              ELSE 1 END AS reach
  FROM followup_records r
  CROSS JOIN LATERAL (SELECT CASE WHEN r.closed_at >= $3 THEN NULL ELSE r.end_date END AS end_date) e
  CROSS JOIN LATERAL (SELECT CASE WHEN r.on_date < $1 THEN 1 ELSE {_MONTH.format("r.on_date")} END AS first) f
  CROSS JOIN LATERAL (
    SELECT g AS month, f.first FROM generate_series(f.first,
      CASE WHEN r.kind NOT IN ('episode', 'intervention') THEN f.first
           WHEN e.end_date IS NULL OR e.end_date > $2 THEN 12 ELSE {_MONTH.format("e.end_date")} END) g) m
  WHERE r.created_at < $3 AND (r.voided_at IS NULL OR r.voided_at >= $3) AND r.on_date <= $2
    AND (r.on_date >= $1 OR (r.kind IN ('episode', 'intervention') AND (e.end_date IS NULL OR e.end_date >= $1)))
)
SELECT s.client_id, s.unit_id, s.month, min(s.sex) AS sex, c.birth_date,
       count(*) FILTER (WHERE s.kind = 'episode' AND s.on_date >= $1 AND s.reach = 3) AS episodes_new,
       count(*) FILTER (WHERE s.kind = 'episode' AND s.end_date BETWEEN $1 AND $2
                        AND {_MONTH.format("s.end_date")} = s.month) AS episodes_closed,
       count(*) FILTER (WHERE s.kind = 'episode' AND s.on_date >= $1 AND s.reach = 3 AND s.reopened)
         AS episodes_reopened,
       {_CONTACTS},
       {_INTERVENTIONS},
       {_SCORES}
FROM spans s JOIN clients c ON c.id = s.client_id
GROUP BY s.client_id, s.unit_id, s.month, c.birth_date
ORDER BY s.client_id, s.unit_id, s.month
"""
_units_sql = "SELECT id, organisation, domain FROM units"
_changes_sql = """
SELECT coalesce(string_agg(unit_id || ':' || year || ':' || changes, ',' ORDER BY unit_id, year), '')
FROM followup_changes WHERE year <= $1
"""


async def changes(conn: asyncpg.Connection, year: int) -> str:
    """How many times each unit's follow-up records dated in the year or before have changed (migration
    followup_changes; a record dated later counts nowhere in the year): read before the records, it names the data a
    year's indicator tables are made from (a change since gives another name)."""
    version: str = await conn.fetchval(_changes_sql, year)
    return version


async def of_year(conn: asyncpg.Connection, start: date, end: date, *, as_of: datetime,
                  timeout: float | None = None) -> list[asyncpg.Record]:
    """Every person, unit and month of the year [start, end] in which the person is counted at the unit, as the
    records stood at `as_of`, ordered by person and unit, then month. `timeout` (seconds): the connection's
    command timeout (30 s) unless given; the year's making ahead gives more (a large year takes longer to read)."""
    rows: list[asyncpg.Record] = await conn.fetch(_year_sql, start, end, as_of, timeout=timeout)
    return rows


_frozen_sql = "SELECT frozen_at, min_cell, zones::text, seal FROM indicator_years WHERE year = $1"
_freeze_sql = """
INSERT INTO indicator_years (year, frozen_at, min_cell, zones, seal) VALUES ($1, $2, $3, $4::text::jsonb, $5)
ON CONFLICT (year) DO NOTHING
RETURNING frozen_at, min_cell, zones::text, seal
"""
_pin_sql = """
UPDATE indicator_years SET min_cell = $2, zones = $3::text::jsonb, seal = $4 WHERE year = $1 AND min_cell IS NULL
RETURNING frozen_at, min_cell, zones::text, seal
"""


@dataclass(frozen=True, slots=True)
class Frozen:
    """What a year's indicator tables are made from besides its records: the instant they stood at, the threshold
    and the units' zones (unit -> organisation, domain), all as they were when the year was frozen, and the seal
    the service made over them (checked by the caller: domain/indicators.py)."""

    at: datetime
    min_cell: int
    zones: dict[str, tuple[str, str]]
    seal: bytes


def zones_text(zones: Mapping[str, tuple[str, str]]) -> str:
    """The zones as the freeze keeps them (and its seal binds them): JSON, units sorted, no spaces."""
    return json.dumps({unit: list(zone) for unit, zone in sorted(zones.items())}, separators=(",", ":"))


async def read_freeze(conn: asyncpg.Connection, year: int) -> Frozen | bool | None:
    """The year's freeze as kept, without making one: a Frozen (its seal for the caller to check), True for a year
    frozen before its threshold and zones were kept (pinned at its next use), None for a year not frozen."""
    row = await conn.fetchrow(_frozen_sql, year)
    if row is None or row["min_cell"] is None:
        return None if row is None else True
    return _frozen_of(row)


def _frozen_of(row: asyncpg.Record) -> Frozen:
    pinned = {unit: (zone[0], zone[1]) for unit, zone in json.loads(row["zones"]).items()}
    return Frozen(row["frozen_at"], row["min_cell"], pinned, bytes(row["seal"]))


async def frozen(conn: asyncpg.Connection, year: int, *, min_cell: int, zones: Mapping[str, tuple[str, str]],
                 seal: Callable[[datetime, int, str], bytes]) -> Frozen:
    """The year's freeze (migration indicator_years): made by the first read or making of the year once it is due,
    with `min_cell` and `zones` as they are then and `seal(instant, min_cell, zones_text)`, the same ever after and
    on every replica (one publication a year: insider attack 13; a year frozen before they were kept gets today's,
    once). The freeze waits for every write of follow-up records under way to commit (a SHARE lock, held to its own
    commit: writes wait that long, once a year), so every record created, voided or closed before the instant is
    seen by every read of the year."""
    text = zones_text(zones)
    row = await conn.fetchrow(_frozen_sql, year)
    if row is None:
        await conn.execute("LOCK TABLE followup_records IN SHARE MODE")
        instant: datetime = await conn.fetchval("SELECT clock_timestamp()")
        row = (await conn.fetchrow(_freeze_sql, year, instant, min_cell, text, seal(instant, min_cell, text))
               or await conn.fetchrow(_frozen_sql, year))
    if row is not None and row["min_cell"] is None:
        row = (await conn.fetchrow(_pin_sql, year, min_cell, text, seal(row["frozen_at"], min_cell, text))
               or await conn.fetchrow(_frozen_sql, year))
    assert row is not None and row["min_cell"] is not None
    return _frozen_of(row)


async def unit_zones(conn: asyncpg.Connection) -> dict[str, tuple[str, str]]:
    """Every unit (inactive ones too: a past period counts them) with its organisation and domain."""
    return {row["id"]: (row["organisation"], row["domain"]) for row in await conn.fetch(_units_sql)}
