"""Reading the audit log: filtered pages, streams, the client's extract. SQL from fixed clauses only.

Every read takes the reader's `LogScope` (policies/audit.py) and turns it into SQL here,
the same rule as `policies.audit.sees` and `withholds`: an event is seen when the reader
covers its actor's zone or a zone of the record it names (a document's zone; a consent's
from and to zones), joined at query time from facts that never change.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from policies.audit import LogScope

_EVENT_COLUMNS = """
    e.seq, e.at, e.actor_sub, e.actor_name, e.actor_unit, e.actor_organisation, e.actor_domain, e.actor_roles,
    e.action, e.client_id, e.document_id, e.consent_id, e.decision, e.basis, e.reason_codes, e.purpose,
    e.request_id, e.remote_addr, e.flagged, c.prev_seq, c.prev_hash, c.hash
"""
# Actions in which someone read the client's data: what the client's extract lists.
READ_ACTIONS = ("client.lookup", "client.read", "relation.list", "document.list", "document.read_metadata",
                "document.read_content", "consent.read")
_EXTRACT_COLUMNS = """
    e.seq, e.at, e.actor_name, e.actor_unit, e.actor_organisation, e.action, e.document_id, e.basis, e.purpose,
    e.flagged
"""
# The zones of the record an event names, for a scoped reader: documents and consents keep their zones for ever.
_RECORD_JOINS = """
LEFT JOIN documents d ON d.id = e.document_id
LEFT JOIN consents k ON k.id = e.consent_id
"""


@dataclass(frozen=True, slots=True)
class ScopeSql:
    """A LogScope as SQL over `e` (+ _RECORD_JOINS): joins, the seen condition, the withheld expressions
    (`withheld`: client id and reason codes, policies.audit.withholds; `reasons_withheld`: reason codes,
    policies.audit.withholds_reasons)."""

    joins: str
    seen: str
    withheld: str
    reasons_withheld: str
    params: list


def scope_sql(scope: LogScope, first_param: int) -> ScopeSql:
    """The scope's SQL, its parameters numbered from `first_param`; no joins for the whole log."""
    if scope.whole:
        return ScopeSql("", "true", "false", "false", [])
    if scope.zone is not None:
        org, dom = f"${first_param}::text", f"${first_param + 1}::text"
        params = [scope.zone.organisation, scope.zone.domain]

        def covers(organisation: str, domain: str) -> str:
            return f"({organisation} = {org} AND {domain} = {dom})"
    else:
        orgs = f"${first_param}::text[]"
        params = [sorted(scope.organisations)]

        def covers(organisation: str, domain: str) -> str:
            return f"{organisation} = ANY({orgs})"
    record = (f"coalesce({covers('d.organisation', 'd.domain')} OR {covers('k.from_organisation', 'k.from_domain')}"
              f" OR {covers('k.to_organisation', 'k.to_domain')}, false)")
    actor = f"coalesce({covers('e.actor_organisation', 'e.actor_domain')}, false)"
    seen = f"({actor} OR {record})"
    withheld = f"(e.decision = 'deny' AND (e.document_id IS NOT NULL OR e.consent_id IS NOT NULL) AND NOT {record})"
    reasons_withheld = f"(e.decision = 'deny' AND (NOT {actor} OR {withheld}))"
    return ScopeSql(_RECORD_JOINS, seen, withheld, reasons_withheld, params)


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

    def where(self, first_param: int, *, withheld: str = "false") -> tuple[str, list]:
        """A WHERE clause over `e` and its parameters, numbered from `first_param`.

        `withheld`: the scope's expression for events whose client id the reader may not see;
        they never match a client filter (else the filter would name the client they withhold).
        """
        clauses, params = [], []
        if self.client_id is not None and withheld != "false":
            clauses.append(f"NOT {withheld}")
        for column, op, value in (
            ("e.client_id", "=", self.client_id), ("e.actor_sub", "=", self.actor), ("e.actor_unit", "=", self.unit),
            ("e.action", "=", self.action), ("e.decision", "=", self.decision), ("e.flagged", "=", self.flagged),
            ("e.at", ">=", self.since), ("e.at", "<", self.until),
        ):
            if value is not None:
                params.append(value)
                clauses.append(f"{column} {op} ${first_param + len(params) - 1}")
        return (" AND ".join(clauses) or "true"), params


def _select(scope: ScopeSql, where: str) -> str:
    return (f"SELECT {_EVENT_COLUMNS}, {scope.withheld} AS withheld, {scope.reasons_withheld} AS reasons_withheld "
            f"FROM audit_events e "
            f"LEFT JOIN audit_chain c ON c.seq = e.seq {scope.joins} WHERE {scope.seen} AND {where}")


async def page(conn: asyncpg.Connection, filters: EventFilter, *, scope: LogScope, after: int,
               limit: int) -> list[asyncpg.Record]:
    """Events in `scope` matching `filters` with seq greater than `after`, oldest first; `withheld` marks
    those whose client id and reason codes the reader may not see, `reasons_withheld` those whose reason codes."""
    scoped = scope_sql(scope, 3)
    where, params = filters.where(3 + len(scoped.params), withheld=scoped.withheld)
    return await conn.fetch(_select(scoped, f"e.seq > $1 AND {where}") + " ORDER BY e.seq LIMIT $2", after, limit,
                            *scoped.params, *params)


def stream(conn: asyncpg.Connection, filters: EventFilter, *, scope: LogScope, prefetch: int = 2000):
    """A cursor over every event in `scope` matching `filters`, oldest first (inside a transaction)."""
    scoped = scope_sql(scope, 1)
    where, params = filters.where(1 + len(scoped.params), withheld=scoped.withheld)
    return conn.cursor(_select(scoped, where) + " ORDER BY e.seq", *scoped.params, *params, prefetch=prefetch)


async def extract(conn: asyncpg.Connection, client_id: UUID, *, scope: LogScope, after: int,
                  limit: int) -> list[asyncpg.Record]:
    """The allowed reads of the client's data in `scope` after seq `after`, oldest first (none is withheld:
    withholding concerns denials only)."""
    scoped = scope_sql(scope, 5)
    sql = (f"SELECT {_EXTRACT_COLUMNS} FROM audit_events e {scoped.joins} "
           f"WHERE e.client_id = $1 AND e.decision = 'allow' AND e.action = ANY($2::text[]) AND e.seq > $3 "
           f"AND {scoped.seen} ORDER BY e.seq LIMIT $4")
    return await conn.fetch(sql, client_id, list(READ_ACTIONS), after, limit, *scoped.params)
