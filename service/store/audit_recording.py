"""Recording audit events: the INSERT, under the recording lock the chain's sealer watches.

Every event is inserted here, in the caller's transaction (`insert`), or as its own committed statement
followed by a read in the same round trip (`insert_then`: the hottest path, a content download, gets its
first segments back only once its event is durable).
"""
from __future__ import annotations

import functools
import json

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


# Many events in one statement: each column as an array, the two list columns as JSON arrays (a text[][] must be
# rectangular), inserted in the order given (WITH ORDINALITY), so their sequence numbers follow it.
_REGISTERED = f"registered AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared({RECORDING_LOCK}))"
_INSERT_MANY = """INSERT INTO audit_events (
    actor_sub, actor_name, actor_unit, actor_organisation, actor_domain, actor_roles,
    action, client_id, document_id, consent_id, decision, basis, reason_codes, purpose,
    request_id, remote_addr, flagged
) SELECT e.actor_sub, e.actor_name, e.actor_unit, e.actor_organisation, e.actor_domain,
         ARRAY(SELECT jsonb_array_elements_text(e.actor_roles)), e.action, e.client_id, e.document_id, e.consent_id,
         e.decision, e.basis, ARRAY(SELECT jsonb_array_elements_text(e.reason_codes)), e.purpose, e.request_id,
         e.remote_addr, e.flagged
  FROM registered, unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::text[],
                          $8::uuid[], $9::uuid[], $10::uuid[], $11::text[], $12::text[], $13::jsonb[], $14::text[],
                          $15::text[], $16::text[], $17::boolean[])
       WITH ORDINALITY AS e(actor_sub, actor_name, actor_unit, actor_organisation, actor_domain, actor_roles, action,
                            client_id, document_id, consent_id, decision, basis, reason_codes, purpose, request_id,
                            remote_addr, flagged, n)
  ORDER BY e.n"""
_insert_many_sql = f"WITH {_REGISTERED}\n{_INSERT_MANY}"
# The same as a CTE, for a read that follows in the same statement (insert_many_then).
_insert_many_cte = f"WITH {_REGISTERED},\nevents AS ({_INSERT_MANY}\nRETURNING seq)\n"
_LISTS = (5, 12)  # actor_roles, reason_codes


@functools.lru_cache(maxsize=1024)
def _json_array(items: tuple[str, ...]) -> str:
    """A list column's JSON, made once per distinct list: roles and reason codes come from small fixed sets."""
    return json.dumps(list(items))


def _columns(values: list[EventValues]) -> list[list[object]]:
    """The events as _insert_many_sql's arrays."""
    columns = [list(column) for column in zip(*values, strict=True)]
    for index in _LISTS:
        columns[index] = [_json_array(tuple(item)) for item in columns[index]]
    return columns


async def insert_many_then(conn: asyncpg.Connection, values: list[EventValues], sql: str,
                           args: tuple[object, ...]) -> list[asyncpg.Record]:
    """insert_then() for many events at once (concurrent reads gathered, store.read_batches): the events in one
    INSERT, `sql` after them, one statement and one commit outside a transaction; nothing is returned before
    every event is durable."""
    if conn.is_in_transaction():
        raise RuntimeError("events recorded before a read commit themselves; call it outside a transaction")
    rows: list[asyncpg.Record] = await conn.fetch(_many_then(sql, len(args)), *_columns(values), *args)
    return rows


@functools.lru_cache(maxsize=16)
def _many_then(sql: str, count: int) -> str:
    return _insert_many_cte + sql.format(*(f"${_EVENT_PARAMS + n + 1}" for n in range(count)))


async def insert_many(conn: asyncpg.Connection, values: list[EventValues]) -> None:
    """Insert events in `conn`'s transaction, in order, in one statement (a list's reads across zones, a
    retention batch's culls)."""
    if len(values) == 1:
        await conn.execute(_insert_sql, *values[0])
        return
    await conn.execute(_insert_many_sql, *_columns(values))


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
