"""Auditors' review: emergency grants with their verdicts, and the anomaly report's queries.

Days are Swedish calendar days: `(at AT TIME ZONE 'Europe/Stockholm')::date`. Each query
takes the auditor's `LogScope`: a grant is its opening unit's organisation's; the anomaly
counts run over the events the auditor sees (store/audit_events.py `scope_sql`).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from policies.audit import LogScope

from .audit_events import NOT_DENIED_ON_RECORD, NOT_READ, READ, scope_sql

# The accesses made under a grant: events whose basis names it, the opening itself left out. Every such
# event names the grant's client and is allowed, so the count walks that client's events in the two client
# indexes by actor zone, which together hold every allowed event (audit_events_client_reads and _others).
_accesses = "({})".format(" + ".join(f"""
(SELECT count(*) FROM audit_events e
 WHERE e.client_id = g.client_id AND {NOT_DENIED_ON_RECORD} AND {half}
   AND e.basis = 'emergency:' || g.id::text AND e.action <> 'emergency.open')""" for half in (READ, NOT_READ)))
# Reads past a block under an emergency lifting: allowed events of the client with `block_lifted` in their
# reasons, by the lifter (or anyone of the unit, for a unit lifting), while it ran.
_lifting_accesses = "({})".format(" + ".join(f"""
(SELECT count(*) FROM audit_events e
 WHERE e.client_id = l.client_id AND {NOT_DENIED_ON_RECORD} AND {half} AND e.decision = 'allow'
   AND 'block_lifted' = ANY(e.reason_codes) AND e.actor_unit = l.unit_id AND (l.scope = 'unit' OR e.actor_sub = l.sub)
   AND e.at >= l.opened_at AND e.at < least(l.expires_at, coalesce(l.ended_at, l.expires_at)))""" for half in (READ, NOT_READ)))
# The queue: emergency grants and emergency liftings of blocks (kind), one ordering by (opened_at, id).
_queue_sql = f"""
SELECT * FROM (
    SELECT 'emergency_access' AS kind, g.id, g.client_id, g.unit_id, u.organisation, u.domain, g.sub,
           g.reason_sealed, g.opened_at, g.expires_at, {_accesses} AS accesses,
           r.verdict, r.comment_sealed, r.reviewed_by, r.reviewed_at
    FROM emergency_grants g
    JOIN units u ON u.id = g.unit_id
    LEFT JOIN emergency_reviews r ON r.grant_id = g.id
    UNION ALL
    SELECT 'block_lifting', l.id, l.client_id, l.unit_id, l.organisation, l.domain, l.sub,
           l.reason_sealed, l.opened_at, l.expires_at, {_lifting_accesses},
           r.verdict, r.comment_sealed, r.reviewed_by, r.reviewed_at
    FROM block_liftings l
    LEFT JOIN block_lifting_reviews r ON r.lifting_id = l.id
    WHERE l.basis = 'emergency'
) q
WHERE ($1::text = 'all' OR ($1::text = 'reviewed') = (q.verdict IS NOT NULL))
  AND (q.opened_at, q.id) > ($2::timestamptz, $3::uuid)
  AND ($5::boolean OR q.organisation = ANY($6::text[]))
ORDER BY q.opened_at, q.id
LIMIT $4
"""
_grant_sql = """
SELECT 'emergency_access' AS kind, g.id, g.client_id, g.sub, u.organisation, u.domain
FROM emergency_grants g JOIN units u ON u.id = g.unit_id
WHERE g.id = $1
UNION ALL
SELECT 'block_lifting', l.id, l.client_id, l.sub, l.organisation, l.domain
FROM block_liftings l WHERE l.id = $1 AND l.basis = 'emergency'
"""
# The primary key keeps one verdict per grant; a second (even a concurrent one) inserts nothing.
_insert_review_sql = """
INSERT INTO emergency_reviews (grant_id, verdict, comment_sealed, reviewed_by, reviewed_by_name)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (grant_id) DO NOTHING
RETURNING grant_id, verdict, comment_sealed, reviewed_by, reviewed_at
"""
_insert_lifting_review_sql = """
INSERT INTO block_lifting_reviews (lifting_id, verdict, comment_sealed, reviewed_by, reviewed_by_name)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (lifting_id) DO NOTHING
RETURNING lifting_id AS grant_id, verdict, comment_sealed, reviewed_by, reviewed_at
"""

# One pass over the window's events: per user and Swedish day, the distinct clients read, the denials, and
# the distinct clients a relation was opened to, each with the units the user acted from.
_per_day_sql = """
WITH counted AS (
    SELECT e.actor_sub AS actor, (e.at AT TIME ZONE 'Europe/Stockholm')::date AS day,
           count(DISTINCT e.client_id) FILTER (WHERE e.decision = 'allow' AND e.action = ANY($3::text[])) AS clients_read,
           array_agg(DISTINCT e.actor_unit) FILTER (WHERE e.decision = 'allow' AND e.action = ANY($3::text[])
                                                    AND e.actor_unit IS NOT NULL) AS read_units,
           count(*) FILTER (WHERE e.decision = 'deny') AS denials,
           array_agg(DISTINCT e.actor_unit) FILTER (WHERE e.decision = 'deny' AND e.actor_unit IS NOT NULL) AS denial_units,
           count(DISTINCT e.client_id) FILTER (WHERE e.decision = 'allow' AND e.action = 'relation.open') AS relations_opened,
           array_agg(DISTINCT e.actor_unit) FILTER (WHERE e.decision = 'allow' AND e.action = 'relation.open'
                                                    AND e.actor_unit IS NOT NULL) AS relation_units
    FROM audit_events e {joins}
    WHERE e.at >= $1 AND e.at < $2 AND {seen}
    GROUP BY 1, 2
)
SELECT * FROM (SELECT counted.*, clients_read > $4 AS many_clients_read, denials >= $5 AS repeated_denials,
                      relations_opened > $6 AS many_relations_opened
               FROM counted) judged
WHERE many_clients_read OR repeated_denials OR many_relations_opened
ORDER BY day, actor
"""
# Allowed events in which someone read a client's data, for `many_clients_read`.
CLIENT_READ_ACTIONS = ("client.read", "document.list", "document.read_metadata", "document.read_content", "consent.read")
# What counts as work on a client after opening a relation (`relations_without_activity`): a read, or an upload.
ACTIVITY_ACTIONS = (*CLIENT_READ_ACTIONS, "document.create")

# Relations whose quiet period ($4 after the opening) ran out in [$1, $2) and by $3 (now) with no allowed read or
# upload by the opening unit of that client in it: opened, perhaps, to look rather than to work (a sign of
# browsing). A relation is its unit's organisation's, as its relation.open event is its actor's zone's: the
# auditor sees those of their organisations. With the first such event at any time after (null: none yet).
_activity = """
FROM audit_events e
WHERE e.client_id = r.client_id AND e.actor_unit = r.unit_id AND e.decision = 'allow'
  AND e.action = ANY($5::text[]) AND e.at >= r.started_at
"""
_relations_without_activity_sql = f"""
SELECT r.id, r.client_id, r.unit_id, r.kind, r.started_by, r.started_at,
       (r.started_at AT TIME ZONE 'Europe/Stockholm')::date AS day,
       (SELECT min(e.at) {_activity}) AS first_activity
FROM relations r
JOIN units u ON u.id = r.unit_id
WHERE r.started_at >= $1::timestamptz - $4::interval AND r.started_at < $2::timestamptz - $4::interval
  AND r.started_at <= $3::timestamptz - $4::interval
  AND ($6::boolean OR u.organisation = ANY($7::text[]))
  AND NOT EXISTS (SELECT 1 {_activity} AND e.at < r.started_at + $4::interval)
ORDER BY r.started_at, r.id
"""

_unreviewed_grants_sql = f"""
SELECT * FROM (
    SELECT 'emergency_access' AS kind, g.id, g.sub, g.unit_id, g.opened_at,
           (g.opened_at AT TIME ZONE 'Europe/Stockholm')::date AS day, {_accesses} AS accesses
    FROM emergency_grants g
    JOIN units u ON u.id = g.unit_id
    WHERE g.opened_at >= $1 AND g.opened_at < $2 AND g.opened_at < $3
      AND ($4::boolean OR u.organisation = ANY($5::text[]))
      AND NOT EXISTS (SELECT 1 FROM emergency_reviews r WHERE r.grant_id = g.id)
    UNION ALL
    SELECT 'block_lifting', l.id, l.sub, l.unit_id, l.opened_at,
           (l.opened_at AT TIME ZONE 'Europe/Stockholm')::date, {_lifting_accesses}
    FROM block_liftings l
    WHERE l.basis = 'emergency' AND l.opened_at >= $1 AND l.opened_at < $2 AND l.opened_at < $3
      AND ($4::boolean OR l.organisation = ANY($5::text[]))
      AND NOT EXISTS (SELECT 1 FROM block_lifting_reviews r WHERE r.lifting_id = l.id)
) q
ORDER BY q.opened_at, q.id
"""


def _organisations(scope: LogScope) -> tuple[bool, list[str]]:
    """An auditor's scope as ($whole, $organisations); a zone scope (a unit manager's) covers no grant here."""
    return scope.whole, sorted(scope.organisations)


async def grants_page(conn: asyncpg.Connection, *, scope: LogScope, status: str, after: tuple[datetime, UUID],
                      limit: int) -> list[asyncpg.Record]:
    """Emergency grants and emergency liftings of blocks (`kind`) of the organisations in `scope`, in `status`
    (open, reviewed, all), opened after the key `after`, oldest first, with unit zone, access count and verdict
    (null columns when none)."""
    rows: list[asyncpg.Record] = await conn.fetch(_queue_sql, status, *after, limit, *_organisations(scope))
    return rows


async def grant(conn: asyncpg.Connection, grant_id: UUID) -> asyncpg.Record | None:
    """The emergency grant's or emergency lifting's kind, id, client, the staff member who opened it and their
    unit's zone, or None."""
    return await conn.fetchrow(_grant_sql, grant_id)


async def insert_review(conn: asyncpg.Connection, grant_id: UUID, *, verdict: str, comment_sealed: bytes,
                        reviewed_by: str, reviewed_by_name: str | None) -> asyncpg.Record | None:
    """Record the verdict on a grant; None when it already has one (the first verdict stands)."""
    return await conn.fetchrow(_insert_review_sql, grant_id, verdict, comment_sealed, reviewed_by, reviewed_by_name)


async def insert_lifting_review(conn: asyncpg.Connection, lifting_id: UUID, *, verdict: str, comment_sealed: bytes,
                                reviewed_by: str, reviewed_by_name: str | None) -> asyncpg.Record | None:
    """Record the verdict on an emergency lifting; None when it already has one (the first verdict stands)."""
    return await conn.fetchrow(_insert_lifting_review_sql, lifting_id, verdict, comment_sealed, reviewed_by,
                               reviewed_by_name)


async def per_day_counts(conn: asyncpg.Connection, *, scope: LogScope, since: datetime, until: datetime,
                         clients_per_day: int, denials_per_day: int, relations_per_day: int) -> list[asyncpg.Record]:
    """(actor, day) rows of [since, until), counted over the events in `scope`, with at least one finding,
    named by kind (true or false): more than `clients_per_day` clients read, at least `denials_per_day`
    denials, more than `relations_per_day` clients a relation was opened to; with the counts and the units
    of each."""
    scoped = scope_sql(scope, 7)
    sql = _per_day_sql.format(joins=scoped.joins, seen=scoped.seen)
    rows: list[asyncpg.Record] = await conn.fetch(sql, since, until, list(CLIENT_READ_ACTIONS), clients_per_day,
                                                  denials_per_day, relations_per_day, *scoped.params)
    return rows


async def unreviewed_grants(conn: asyncpg.Connection, *, scope: LogScope, since: datetime, until: datetime,
                            opened_before: datetime) -> list[asyncpg.Record]:
    """Grants of the organisations in `scope` opened in [since, until) and before `opened_before` that have
    no verdict, oldest first."""
    rows: list[asyncpg.Record] = await conn.fetch(_unreviewed_grants_sql, since, until, opened_before, *_organisations(scope))
    return rows


async def relations_without_activity(conn: asyncpg.Connection, *, scope: LogScope, since: datetime, until: datetime,
                                     now: datetime, quiet: timedelta) -> list[asyncpg.Record]:
    """Relations of units of the organisations in `scope` whose first `quiet` ran out in [since, until) and by
    `now` without a read or upload of the client by the unit, oldest first, with the first such event after
    (first_activity, null when none)."""
    rows: list[asyncpg.Record] = await conn.fetch(_relations_without_activity_sql, since, until, now, quiet,
                                                  list(ACTIVITY_ACTIONS), *_organisations(scope))
    return rows
