"""SIP plans (migration sip_plans): the plan's row, its versions and follow-ups, never edited but for the row."""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from uuid import UUID

import asyncpg

from policies.model import Consent, Zone

from .facts import consents_from_json

_PLAN_COLUMNS = """
p.id, p.client_id, p.unit_id, p.organisation, p.domain, p.version, p.participant_units, p.responsible_unit,
p.title_sealed, p.start_date, p.next_follow_up, p.status, p.created_at, p.created_by, p.updated_at, p.closed_at,
p.closed_by
"""
# The plan with its participants' zones (units never change zone), one round trip.
_get_sql = f"""
SELECT {_PLAN_COLUMNS},
       (SELECT json_object_agg(u.id, json_build_array(u.organisation, u.domain)) FROM units u
         WHERE u.id = ANY(p.participant_units)) AS participant_zones
FROM sip_plans p WHERE p.id = $1
"""
_latest_sql = """
SELECT v.version, v.content_sealed, v.saved_at, v.saved_by, v.saved_by_name, v.saved_by_unit
FROM sip_plan_versions v WHERE v.plan_id = $1 AND v.version = $2
"""
_versions_sql = """
SELECT v.version, v.content_sealed, v.saved_at, v.saved_by, v.saved_by_name, v.saved_by_unit
FROM sip_plan_versions v WHERE v.plan_id = $1 AND v.version > $2 ORDER BY v.version LIMIT $3
"""
_follow_ups_sql = """
SELECT f.id, f.held_on, f.summary_sealed, f.next_follow_up, f.recorded_at, f.recorded_by, f.recorded_by_name,
       f.recorded_by_unit
FROM sip_follow_ups f WHERE f.plan_id = $1 ORDER BY f.held_on, f.recorded_at, f.id
"""
# The client's plans the unit takes part in, newest first (the GIN index narrows by unit, the client index orders).
_of_client_sql = f"""
SELECT {_PLAN_COLUMNS}, NULL::json AS participant_zones
FROM sip_plans p
WHERE p.client_id = $1 AND p.participant_units @> ARRAY[$2::text]
  AND ($3::timestamptz IS NULL OR (p.created_at, p.id) < ($3, $4))
ORDER BY p.created_at DESC, p.id DESC
LIMIT $5
"""
# Active plans the unit takes part in whose follow-up date has passed, the oldest date first.
_overdue_sql = f"""
SELECT {_PLAN_COLUMNS}, NULL::json AS participant_zones
FROM sip_plans p
WHERE p.participant_units @> ARRAY[$1::text] AND p.status = 'active' AND p.next_follow_up < $2
ORDER BY p.next_follow_up, p.id
LIMIT $3
"""
# Every consent of the client from a zone (revoked and expired ones too: why a plan is closed, it says).
_consents_from_sql = """
SELECT coalesce(json_agg(json_build_object(
     'id', c.id, 'from_organisation', c.from_organisation, 'from_domain', c.from_domain,
     'to_organisation', c.to_organisation, 'to_domain', c.to_domain, 'to_unit', c.to_unit,
     'categories', c.categories, 'purposes', c.purposes, 'valid_from', c.valid_from,
     'valid_until', c.valid_until, 'revoked_at', c.revoked_at, 'confirmed_at', c.confirmed_at,
     'given_by', c.given_by)), '[]')
FROM consents c WHERE c.client_id = $1 AND c.from_organisation = $2 AND c.from_domain = $3
  AND ('sip' = ANY(c.categories)) AND ('coordination' = ANY(c.purposes))
"""
# Each unit with the unit its records belong to now (migration unit_successions).
_heirs_sql = "SELECT u, unit_heir(u) AS heir FROM unnest($1::text[]) u"
_unit_zones_sql = "SELECT id, organisation, domain FROM units WHERE id = ANY($1::text[]) AND active"
_insert_plan_sql = """
INSERT INTO sip_plans (id, client_id, unit_id, organisation, domain, version, participant_units, responsible_unit,
                       title_sealed, start_date, next_follow_up, created_by)
VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10, $11)
RETURNING created_at
"""
_insert_version_sql = """
INSERT INTO sip_plan_versions (plan_id, version, content_sealed, saved_by, saved_by_name, saved_by_unit)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING saved_at
"""
# A new version only over the one the writer read (If-Match): none when another unit saved first.
_advance_sql = """
UPDATE sip_plans SET version = version + 1, participant_units = $3, responsible_unit = $4, title_sealed = $5,
                     start_date = $6, next_follow_up = $7, updated_at = clock_timestamp()
WHERE id = $1 AND version = $2 AND status = 'active'
RETURNING version
"""
_insert_follow_up_sql = """
INSERT INTO sip_follow_ups (id, plan_id, held_on, summary_sealed, next_follow_up, recorded_by, recorded_by_name,
                            recorded_by_unit)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING recorded_at
"""
_set_follow_up_sql = "UPDATE sip_plans SET next_follow_up = $2, updated_at = clock_timestamp() WHERE id = $1"
_close_sql = """
UPDATE sip_plans SET status = 'closed', closed_at = clock_timestamp(), closed_by = $2, updated_at = clock_timestamp()
WHERE id = $1 AND status = 'active'
"""
_network_sql = """
SELECT u.id AS unit, u.name, u.organisation, u.domain, r.kind, r.started_at AS since
FROM relations r JOIN units u ON u.id = r.unit_id
WHERE r.client_id = $1 AND r.ended_at IS NULL AND (u.organisation, u.domain) IN (SELECT * FROM unnest($2::text[], $3::text[]))
ORDER BY u.domain, u.organisation, u.name, u.id
"""


def participant_zones(row: asyncpg.Record) -> dict[str, Zone]:
    """A plan row's participating units with their zones (as _get_sql loads them)."""
    raw = row["participant_zones"]
    return {unit: Zone(*zone) for unit, zone in (json.loads(raw) if raw else {}).items()}


async def heirs(conn: asyncpg.Connection, units: Sequence[str]) -> dict[str, str]:
    """The units among `units` that were succeeded, each with the unit that holds its records now."""
    rows = await conn.fetch(_heirs_sql, list(units))
    return {row["u"]: row["heir"] for row in rows if row["heir"] != row["u"]}


async def get(conn: asyncpg.Connection, plan_id: UUID) -> asyncpg.Record | None:
    """The plan's row with its participants' zones, or None."""
    return await conn.fetchrow(_get_sql, plan_id)


async def latest(conn: asyncpg.Connection, plan_id: UUID, version: int) -> asyncpg.Record:
    """The plan's version `version` (its latest, as the plan's row says)."""
    row: asyncpg.Record = await conn.fetchrow(_latest_sql, plan_id, version)
    return row


async def versions(conn: asyncpg.Connection, plan_id: UUID, *, after: int, limit: int) -> list[asyncpg.Record]:
    """The plan's versions after `after`, oldest first."""
    rows: list[asyncpg.Record] = await conn.fetch(_versions_sql, plan_id, after, limit)
    return rows


async def follow_ups(conn: asyncpg.Connection, plan_id: UUID) -> list[asyncpg.Record]:
    """The plan's follow-ups in the order they were held."""
    rows: list[asyncpg.Record] = await conn.fetch(_follow_ups_sql, plan_id)
    return rows


async def of_client(conn: asyncpg.Connection, client_id: UUID, unit: str, *, before: tuple[datetime, UUID] | None,
                    limit: int) -> list[asyncpg.Record]:
    """The client's plans `unit` takes part in, newest first, before the key `before`."""
    at, ident = before if before is not None else (None, None)
    rows: list[asyncpg.Record] = await conn.fetch(_of_client_sql, client_id, unit, at, ident, limit)
    return rows


async def overdue(conn: asyncpg.Connection, unit: str, *, today: date, limit: int) -> list[asyncpg.Record]:
    """Active plans `unit` takes part in whose next follow-up is before `today`."""
    rows: list[asyncpg.Record] = await conn.fetch(_overdue_sql, unit, today, limit)
    return rows


async def consents_from(conn: asyncpg.Connection, client_id: UUID, zone: Zone) -> tuple[Consent, ...]:
    """The client's consents naming `sip` for `coordination` from `zone`, whatever their status."""
    return consents_from_json(await conn.fetchval(_consents_from_sql, client_id, zone.organisation, zone.domain))


async def unit_zones(conn: asyncpg.Connection, units: Sequence[str]) -> dict[str, Zone]:
    """The zones of those of `units` that exist and are active."""
    return {row["id"]: Zone(row["organisation"], row["domain"]) for row in await conn.fetch(_unit_zones_sql, list(units))}


async def insert(conn: asyncpg.Connection, *, plan_id: UUID, client_id: UUID, unit: str, zone: Zone,
                 participant_units: Sequence[str], responsible_unit: str, title_sealed: bytes, start_date: date,
                 next_follow_up: date | None, created_by: str) -> datetime:
    """Insert the plan's row (version 1); its created_at."""
    created_at: datetime = await conn.fetchval(
        _insert_plan_sql, plan_id, client_id, unit, zone.organisation, zone.domain, list(participant_units),
        responsible_unit, title_sealed, start_date, next_follow_up, created_by)
    return created_at


async def insert_version(conn: asyncpg.Connection, *, plan_id: UUID, version: int, content_sealed: bytes, by: str,
                         by_name: str | None, unit: str) -> datetime:
    """Record a version's content; its saved_at."""
    saved_at: datetime = await conn.fetchval(_insert_version_sql, plan_id, version, content_sealed, by, by_name, unit)
    return saved_at


async def advance(conn: asyncpg.Connection, plan_id: UUID, *, over: int, participant_units: Sequence[str],
                  responsible_unit: str, title_sealed: bytes, start_date: date, next_follow_up: date | None) -> int | None:
    """Move the plan's row to the next version if its version is still `over`: the new number, else None."""
    version: int | None = await conn.fetchval(_advance_sql, plan_id, over, list(participant_units), responsible_unit,
                                              title_sealed, start_date, next_follow_up)
    return version


async def insert_follow_up(conn: asyncpg.Connection, *, follow_up_id: UUID, plan_id: UUID, held_on: date,
                           summary_sealed: bytes, next_follow_up: date | None, by: str, by_name: str | None,
                           unit: str) -> datetime:
    """Record a follow-up (and the plan's next follow-up date, when it names one); its recorded_at."""
    recorded_at: datetime = await conn.fetchval(_insert_follow_up_sql, follow_up_id, plan_id, held_on, summary_sealed,
                                                next_follow_up, by, by_name, unit)
    if next_follow_up is not None:
        await conn.execute(_set_follow_up_sql, plan_id, next_follow_up)
    return recorded_at


async def close(conn: asyncpg.Connection, plan_id: UUID, *, by: str) -> None:
    """Close an active plan (a closed one stays as it was)."""
    await conn.execute(_close_sql, plan_id, by)


async def network(conn: asyncpg.Connection, client_id: UUID, zones: Sequence[Zone]) -> list[asyncpg.Record]:
    """The units of `zones` with an active relation with the client, with its kind and since when."""
    rows: list[asyncpg.Record] = await conn.fetch(
        _network_sql, client_id, [zone.organisation for zone in zones], [zone.domain for zone in zones])
    return rows
