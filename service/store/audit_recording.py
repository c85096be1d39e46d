"""Recording audit events: the INSERT, under the recording lock the chain's sealer watches.

Every event is inserted here, in the caller's transaction (`insert`), or as its own committed statement
followed by a read in the same round trip (`insert_then`: the hottest path, a content download, gets its
first segments back only once its event is durable).
"""
from __future__ import annotations

import functools
import json
from uuid import UUID

import asyncpg

from .audit_chain import RECORDING_LOCK

# An event's column values, in the INSERT's order (service/audit.py event_values builds them).
EventValues = tuple[object, ...]

_EVENT_CTE = f"""
WITH registered AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared({RECORDING_LOCK})),
event AS (INSERT INTO audit_events (
    actor_sub, actor_name, actor_unit, actor_organisation, actor_domain, actor_roles,
    action, client_id, document_id, consent_id, decision, basis, reason_codes, purpose,
    request_id, remote_addr, flagged
) SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text[], $7::text, $8::uuid, $9::uuid, $10::uuid,
         $11::text, $12::text, $13::text[], $14::text, $15::text, $16::text, $17::boolean
  FROM registered
RETURNING seq)
"""
_EVENT_PARAMS = 17
_insert_sql = _EVENT_CTE + "SELECT seq FROM event"


async def insert(conn: asyncpg.Connection, values: EventValues) -> int:
    """Insert one event in `conn`'s transaction (or as its own); its sequence number."""
    seq: int = await conn.fetchval(_insert_sql, *values)
    return seq


# Many events in one statement: the events as one JSON array of their values, taken apart by PostgreSQL and
# inserted in the order given (WITH ORDINALITY), so their sequence numbers follow it. Not a parameter an event
# column as arrays: asyncpg checks every element of an array against collections.abc (ABCMeta.__instancecheck__,
# twice a text), which was 7.5 % of a content read's instructions (issue #21); json.dumps writes them in C.
_REGISTERED = f"registered AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared({RECORDING_LOCK}))"
_INSERT_MANY = """INSERT INTO audit_events (
    actor_sub, actor_name, actor_unit, actor_organisation, actor_domain, actor_roles,
    action, client_id, document_id, consent_id, decision, basis, reason_codes, purpose,
    request_id, remote_addr, flagged
) SELECT j.e->>0, j.e->>1, j.e->>2, j.e->>3, j.e->>4, ARRAY(SELECT jsonb_array_elements_text(j.e->5)), j.e->>6,
         (j.e->>7)::uuid, (j.e->>8)::uuid, (j.e->>9)::uuid, j.e->>10, j.e->>11,
         ARRAY(SELECT jsonb_array_elements_text(j.e->12)), j.e->>13, j.e->>14, j.e->>15, (j.e->>16)::boolean
  FROM registered, jsonb_array_elements($1::jsonb) WITH ORDINALITY AS j(e, n)
  ORDER BY j.n"""
_insert_many_sql = f"WITH {_REGISTERED}\n{_INSERT_MANY}"
# The same as a CTE, for a read that follows in the same statement (insert_many_then).
_insert_many_cte = f"WITH {_REGISTERED},\nevents AS ({_INSERT_MANY}\nRETURNING seq)\n"


def json_id(value: object) -> str | None:
    """An id for a JSON parameter: a UUID as its 32 hex digits (PostgreSQL's uuid reads them; str() of a UUID costs
    four times as much), text as it is (PostgreSQL's uuid input checks it, as asyncpg's did), None as null."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, UUID):
        return value.hex
    raise TypeError(f"an audit event's id of type {type(value).__name__} has no JSON form here")


def events_json(values: list[EventValues]) -> str:
    """The events as _insert_many_sql's parameter: a JSON array of each event's values in column order (ids as hex
    text, the two list columns as arrays). Raises TypeError for a value JSON has no form of."""
    if any(len(v) != _EVENT_PARAMS for v in values):  # a value more or less must not slip in as a null
        raise TypeError(f"an audit event has {_EVENT_PARAMS} values")
    return json.dumps([(*v[:7], json_id(v[7]), json_id(v[8]), json_id(v[9]), *v[10:]) for v in values])


async def insert_many_then(conn: asyncpg.Connection, values: list[EventValues], sql: str,
                           args: tuple[object, ...]) -> list[asyncpg.Record]:
    """insert_then() for many events at once (concurrent reads gathered, store.read_batches): the events in one
    INSERT, `sql` after them, one statement and one commit outside a transaction; nothing is returned before
    every event is durable."""
    if conn.is_in_transaction():
        raise RuntimeError("events recorded before a read commit themselves; call it outside a transaction")
    rows: list[asyncpg.Record] = await conn.fetch(_many_then(sql, len(args)), events_json(values), *args)
    return rows


@functools.lru_cache(maxsize=16)
def _many_then(sql: str, count: int) -> str:
    return _insert_many_cte + sql.format(*(f"${n + 2}" for n in range(count)))  # $1: the events


async def insert_many(conn: asyncpg.Connection, values: list[EventValues]) -> None:
    """Insert events in `conn`'s transaction, in order, in one statement (a list's reads across zones, a
    retention batch's culls)."""
    if len(values) == 1:
        await conn.execute(_insert_sql, *values[0])
        return
    await conn.execute(_insert_many_sql, events_json(values))


async def insert_then(conn: asyncpg.Connection, values: EventValues, sql: str,
                      args: tuple[object, ...]) -> list[asyncpg.Record]:
    """Insert the event and run `sql` (placeholders `{0}`, `{1}`, … for `args`) in one statement, outside a
    transaction: PostgreSQL runs the data-modifying CTE to completion, and asyncpg returns the rows only once
    the statement's implicit transaction has committed, so nothing read here leaves before its event is durable.
    Raises RuntimeError inside a transaction, where the event would not be committed yet."""
    if conn.is_in_transaction():
        raise RuntimeError("an event recorded before a read commits itself; call it outside a transaction")
    rows: list[asyncpg.Record] = await conn.fetch(_then(sql, len(args)), *values, *args)
    return rows


@functools.lru_cache(maxsize=64)
def _then(sql: str, count: int) -> str:
    """The event CTE followed by `sql`, its `{n}` placeholders numbered after the event's parameters (made once)."""
    return _EVENT_CTE + sql.format(*(f"${_EVENT_PARAMS + n + 1}" for n in range(count)))
