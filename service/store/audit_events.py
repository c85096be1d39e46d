"""Reading the audit log: filtered pages, streams, the client's extract. SQL from fixed clauses only."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

_EVENT_COLUMNS = """
    e.seq, e.at, e.actor_sub, e.actor_name, e.actor_unit, e.actor_organisation, e.actor_domain, e.actor_roles,
    e.action, e.client_id, e.document_id, e.consent_id, e.decision, e.basis, e.reason_codes, e.purpose,
    e.request_id, e.remote_addr, e.flagged, c.prev_seq, c.prev_hash, c.hash
"""
# Actions in which someone read the client's data: what the client's extract lists.
READ_ACTIONS = ("client.lookup", "client.read", "relation.list", "document.list", "document.read_metadata",
                "document.read_content", "consent.read")
_extract_sql = """
SELECT e.seq, e.at, e.actor_name, e.actor_unit, e.actor_organisation, e.action, e.document_id, e.basis,
       e.purpose, e.flagged
FROM audit_events e
WHERE e.client_id = $1 AND e.decision = 'allow' AND e.action = ANY($2::text[]) AND e.seq > $3
ORDER BY e.seq
LIMIT $4
"""


@dataclass(frozen=True, slots=True)
class EventFilter:
    """The contract's filters; None means any."""

    client_id: UUID | None = None
    actor: str | None = None
    unit: str | None = None
    action: str | None = None
    decision: str | None = None
    flagged: bool | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self, first_param: int) -> tuple[str, list]:
        """A WHERE clause over `e` and its parameters, numbered from `first_param`."""
        clauses, params = [], []
        for column, op, value in (
            ("e.client_id", "=", self.client_id), ("e.actor_sub", "=", self.actor), ("e.actor_unit", "=", self.unit),
            ("e.action", "=", self.action), ("e.decision", "=", self.decision), ("e.flagged", "=", self.flagged),
            ("e.at", ">=", self.since), ("e.at", "<", self.until),
        ):
            if value is not None:
                params.append(value)
                clauses.append(f"{column} {op} ${first_param + len(params) - 1}")
        return (" AND ".join(clauses) or "true"), params


def _select(where: str) -> str:
    return f"SELECT {_EVENT_COLUMNS} FROM audit_events e LEFT JOIN audit_chain c ON c.seq = e.seq WHERE {where}"


async def page(conn: asyncpg.Connection, filters: EventFilter, *, after: int, limit: int) -> list[asyncpg.Record]:
    """Events matching `filters` with seq greater than `after`, oldest first."""
    where, params = filters.where(3)
    return await conn.fetch(_select(f"e.seq > $1 AND {where}") + " ORDER BY e.seq LIMIT $2", after, limit, *params)


def stream(conn: asyncpg.Connection, filters: EventFilter, prefetch: int = 2000):
    """A cursor over every matching event, oldest first (inside a transaction)."""
    where, params = filters.where(1)
    return conn.cursor(_select(where) + " ORDER BY e.seq", *params, prefetch=prefetch)


async def extract(conn: asyncpg.Connection, client_id: UUID, *, after: int, limit: int) -> list[asyncpg.Record]:
    """The allowed reads of the client's data after seq `after`, oldest first."""
    return await conn.fetch(_extract_sql, client_id, list(READ_ACTIONS), after, limit)
