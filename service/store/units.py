"""Units: teams or clinics, each in exactly one zone."""
from __future__ import annotations

from datetime import datetime

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


# --- reorganisations (migration unit_successions) ------------------------------------------------------------------

_lock_units_sql = f"""
SELECT {_unit_columns}, EXISTS (SELECT 1 FROM unit_successions s WHERE s.predecessor = u.id) AS succeeded
FROM units u WHERE u.id = ANY($1::text[]) ORDER BY u.id FOR UPDATE
"""
# What a succession moves: the documents the unit owns, its active relations, the SIP plans it takes part in, and
# the consents (not revoked) and disclosures naming it, which the successor is honoured under from then on
# (store/facts.py unit_heir).
# Consents and disclosures are counted whether they name the unit or a unit it succeeded (honoured for it now, and
# for its successor next).
_preview_sql = """
WITH named AS (SELECT $1::text AS unit UNION ALL
               SELECT s.predecessor FROM unit_successions s WHERE unit_heir(s.predecessor) = $1)
SELECT (SELECT count(*) FROM documents WHERE unit_id = $1) AS documents,
       (SELECT count(*) FROM relations WHERE unit_id = $1 AND ended_at IS NULL) AS relations,
       (SELECT count(*) FROM consents WHERE to_unit IN (SELECT unit FROM named) AND revoked_at IS NULL) AS consents,
       (SELECT count(*) FROM disclosures WHERE to_unit IN (SELECT unit FROM named)) AS disclosures,
       (SELECT count(*) FROM sip_plans WHERE participant_units @> ARRAY[$1::text]) AS sip_plans
"""
_COUNTED = ("documents", "relations", "consents", "disclosures", "sip_plans")
# Keys only, content never read: the owning unit changes, nothing else (an Idempotency-Key the successor used too is
# dropped from the moved document: it served a retry of the predecessor's system, which is gone).
_move_documents_sql = """
UPDATE documents d SET unit_id = $2,
    idempotency_key = CASE WHEN d.idempotency_key IS NOT NULL AND EXISTS (
        SELECT 1 FROM documents o WHERE o.unit_id = $2 AND o.idempotency_key = d.idempotency_key) THEN NULL
        ELSE d.idempotency_key END
WHERE d.unit_id = $1
"""
# A relation is history (who took part when): the predecessor's active ones end at the instant and the successor's
# begin there, unless it had one of its own with the client already.
_open_relations_sql = """
INSERT INTO relations (id, client_id, unit_id, started_at, started_by, kind)
SELECT gen_random_uuid(), r.client_id, $2, greatest($3, r.started_at), 'succession:' || $1, r.kind
FROM relations r
WHERE r.unit_id = $1 AND r.ended_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM relations s WHERE s.client_id = r.client_id AND s.unit_id = $2 AND s.ended_at IS NULL)
"""
_end_relations_sql = """
UPDATE relations SET ended_at = greatest($3, started_at), ended_by = 'succession:' || $2
WHERE unit_id = $1 AND ended_at IS NULL
"""
# The plans the unit takes part in (the GIN index on participant_units): the successor takes its place among the
# participants (once, where it was one already, the order kept), as the holding unit and as the responsible unit.
# The plan's row only: its versions keep the units as they were saved (sip_history_is_kept), and a read shows the
# latest version's units through unit_heir (service/domain/sip.py).
_move_plans_sql = """
UPDATE sip_plans p SET
    unit_id = CASE WHEN p.unit_id = $1 THEN $2 ELSE p.unit_id END,
    responsible_unit = CASE WHEN p.responsible_unit = $1 THEN $2 ELSE p.responsible_unit END,
    participant_units = ARRAY(SELECT u FROM unnest(array_replace(p.participant_units, $1, $2)) WITH ORDINALITY t (u, n)
                              GROUP BY u ORDER BY min(n))
WHERE p.participant_units @> ARRAY[$1::text]
"""
_record_sql = """
INSERT INTO unit_successions (predecessor, successor, effective_at, recorded_by, documents, relations, consents,
                              disclosures, sip_plans)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""


# The predecessor's blocked documents of clients the successor already has an active relation with: after the move
# the successor owns them, and a block keeps out every unit but the owning one (policies/units.py decide_succession).
_blocked_against_sql = """
SELECT count(*) FROM documents d
WHERE d.unit_id = $1 AND d.blocked
  AND EXISTS (SELECT 1 FROM relations r WHERE r.client_id = d.client_id AND r.unit_id = $2 AND r.ended_at IS NULL)
"""


async def blocked_against(conn: asyncpg.Connection, predecessor: str, successor: str) -> int:
    """How many blocked documents would move to a successor that already knows their client (a count: no names)."""
    return int(await conn.fetchval(_blocked_against_sql, predecessor, successor))


async def lock_pair(conn: asyncpg.Connection, predecessor: str, successor: str) -> dict[str, asyncpg.Record]:
    """Both units, locked in id order (two successions cannot deadlock), by id, each with `succeeded`."""
    rows = await conn.fetch(_lock_units_sql, sorted({predecessor, successor}))
    return {row["id"]: row for row in rows}


async def lock(conn: asyncpg.Connection, unit_id: str) -> asyncpg.Record | None:
    """The unit, locked (as lock_pair: a succession and an activation take turns), with `succeeded`; None."""
    rows = await conn.fetch(_lock_units_sql, [unit_id])
    return rows[0] if rows else None


async def preview(conn: asyncpg.Connection, predecessor: str) -> dict[str, int]:
    """How many documents, active relations, consents, disclosures and SIP plans a succession of the unit moves."""
    row = await conn.fetchrow(_preview_sql, predecessor)
    return {key: int(row[key]) for key in _COUNTED}


async def succeed(conn: asyncpg.Connection, predecessor: str, successor: str, effective_at: datetime, *,
                  by: str) -> dict[str, int]:
    """Move everything to the successor and deactivate the predecessor, in the caller's transaction (the units
    locked by lock_pair): never half moved. Returns what moved (preview's counts)."""
    counts = await preview(conn, predecessor)
    await conn.execute(_move_documents_sql, predecessor, successor)
    await conn.execute(_open_relations_sql, predecessor, successor, effective_at)
    await conn.execute(_end_relations_sql, predecessor, successor, effective_at)
    await conn.execute(_move_plans_sql, predecessor, successor)
    await conn.execute(_set_active_sql, predecessor, False)
    await conn.execute(_record_sql, predecessor, successor, effective_at, by, *(counts[key] for key in _COUNTED))
    return counts
