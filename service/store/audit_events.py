"""Reading the audit log: filtered pages, streams, the client's extract. SQL from fixed clauses only.

Every read takes the reader's `LogScope` (policies/audit.py) and turns it into SQL here,
the same rule as `policies.audit.sees` and `withholds`: an event is seen when the reader
covers its actor's zone or a zone of the record it names (a document's zone; a consent's
from and to zones), joined at query time from facts that never change.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from policies.audit import EventFilter, LogScope

_EVENT_COLUMNS = """
    e.seq, e.at, e.actor_sub, e.actor_name, e.actor_unit, e.actor_organisation, e.actor_domain, e.actor_roles,
    e.action, e.client_id, e.document_id, e.consent_id, e.decision, e.basis, e.reason_codes, e.purpose,
    e.request_id, e.remote_addr, e.flagged
"""
# Actions in which someone read the client's data, or handed it over (a disclosure without consent, OSL 25:12 /
# 26:9: API-1.1 says the extract lists it): what the client's extract lists.
READ_ACTIONS = ("client.lookup", "client.read", "relation.list", "document.list", "document.read_metadata",
                "document.read_content", "consent.read", "disclosure.create", "client.list", "client.network",
                "disclosure.list", "followup.list", "followup.read", "sip.list", "sip.read")
# The two halves of the client's (and each record's) events, each with indexes of its own (migrations/0016):
# the allowed reads, what the extract lists, and the rest. Written out alike in the queries and in the
# indexes' predicates (the actions as a constant: a parameter would not prove them), and disjoint: a range
# of one half can only be read from that half's index, whatever the statistics say (#13).
READ = "(e.decision = 'allow' AND e.action = ANY('{" + ",".join(READ_ACTIONS) + "}'::text[]))"
NOT_READ = f"NOT {READ}"
_EXTRACT_COLUMNS = """
    e.seq, e.at, e.actor_name, e.actor_unit, e.actor_organisation, e.actor_domain, e.actor_roles, e.action,
    e.document_id, e.basis, e.purpose, e.flagged, e.decision
"""
# The events of the client indexes by actor zone (audit_events_client_reads, audit_events_client_others): all
# but denials naming a record, which a client's view reads by their record (ScopeSql.client_seqs). Written out
# the same wherever those indexes are to be used.
NOT_DENIED_ON_RECORD = "NOT (e.decision = 'deny' AND (e.document_id IS NOT NULL OR e.consent_id IS NOT NULL))"
# Every zone an actor can have: an actor's zone is its unit's, and units are never deleted nor moved.
_EVERY_ZONE = "SELECT DISTINCT organisation AS org, domain AS dom FROM units"
# The zones of the record an event names, for a scoped reader: documents and consents keep their zones for ever.
_RECORD_JOINS = """
LEFT JOIN documents d ON d.id = e.document_id
LEFT JOIN consents k ON k.id = e.consent_id
"""


@dataclass(frozen=True, slots=True)
class ScopeSql:
    """A LogScope as SQL over `e` (+ _RECORD_JOINS): joins, the seen condition, the withheld expressions
    (`withheld`: client id and reason codes, policies.audit.withholds; `reasons_withheld`: reason codes,
    policies.audit.withholds_reasons); `covers(organisation, domain)` the scope's test of a zone's columns,
    None for the whole log."""

    joins: str
    seen: str
    withheld: str
    reasons_withheld: str
    params: list[object]
    covers: Callable[[str, str], str] | None = None
    zones: str | None = None

    def client_seqs(self, client: str, condition: str, limit: str | None = None, *, reads_only: bool = False) -> str:
        """The seqs of the client's events this scope sees, read only from what it sees.

        Three kinds of index range, cut by `condition` (over `e`) and each to its first
        `limit` by seq: for each zone of the scope, the client's events by its actors, but for denials
        naming a record (audit_events_client_*); for each document of the client in those zones
        (documents_client_zone), the events naming it (audit_events_document_*); for each consent of the
        client from or to them, the events naming it (audit_events_consent_*). Their union is `seen` for
        the client but for withheld events, which no client filter matches: a denial naming a record
        is seen by its record when the record is the scope's, and withheld when not (so no range holds a
        withheld event, and the ranges need not join the records to tell). So the events other
        zones keep of the client are never read, nor the scope's own staff's denials on records it does
        not hold (the client of a record it may not see), and their number cannot be timed (#11). Each
        range is ordered by its whole index key, its equalities written as `= ANY` of one, so that only
        its own index yields that order: no plan walks the log by seq instead. The whole log's reader
        reads the same ranges for every zone there is (_EVERY_ZONE), those of actors without a zone, and
        those of every record of the client: cut to `limit` each, not read whole.

        Each kind is read as its two halves (READ, NOT_READ), each from its own index; `reads_only` (the
        extract, whose `condition` keeps allowed reads) reads the READ halves only, so that it never reads
        the client's other events to drop them (#13).
        """
        def first(order: str) -> str:
            return f" ORDER BY {order} LIMIT {limit}" if limit else ""

        def events_naming(column: str, record: str, half: str) -> str:
            return (f"CROSS JOIN LATERAL (SELECT e.seq FROM audit_events e "
                    f"WHERE e.{column} = ANY(ARRAY[{record}]) AND {half} AND {condition}{first(f'e.{column}, e.seq')}) x")

        ranges = []
        for half in (READ,) if reads_only else (READ, NOT_READ):
            by_actor_where = f"e.client_id = {client} AND {NOT_DENIED_ON_RECORD} AND {half} AND {condition}"
            ranges.append(f"SELECT x.seq FROM zone z CROSS JOIN LATERAL (SELECT e.seq "
                          f"FROM audit_events e WHERE {by_actor_where} "
                          f"AND e.actor_organisation = ANY(ARRAY[z.org]) AND e.actor_domain = ANY(ARRAY[z.dom])"
                          f"{first('e.client_id, e.actor_organisation, e.actor_domain, e.seq')}) x")
            if self.covers is None or self.zones is None:
                # The whole log's reader: also the events of actors without a zone (an actor's zone is its unit's,
                # both columns or neither), and every document and consent of the client.
                ranges.append(f"SELECT e.seq FROM audit_events e WHERE {by_actor_where} "
                              f"AND e.actor_organisation IS NULL AND e.actor_domain IS NULL"
                              f"{first('e.client_id, e.actor_organisation, e.actor_domain, e.seq')}")
                by_document = (f"SELECT x.seq FROM documents dd {events_naming('document_id', 'dd.id', half)} "
                               f"WHERE dd.client_id = {client}")
                consents = "true"
            else:
                by_document = (f"SELECT x.seq FROM zone z JOIN documents dd ON dd.client_id = {client} "
                               f"AND dd.organisation = z.org AND dd.domain = z.dom "
                               f"{events_naming('document_id', 'dd.id', half)}")
                consents = (f"({self.covers('kk.from_organisation', 'kk.from_domain')} "
                            f"OR {self.covers('kk.to_organisation', 'kk.to_domain')})")
            by_consent = (f"SELECT x.seq FROM consents kk {events_naming('consent_id', 'kk.id', half)} "
                          f"WHERE kk.client_id = {client} AND {consents}")
            ranges += [by_document, by_consent]
        # The scope's zones once for all the ranges (planned once, not once a range: #13).
        return (f"WITH zone AS MATERIALIZED ({self.zones or _EVERY_ZONE}) "
                + " UNION ".join(f"({query})" for query in ranges))


def scope_sql(scope: LogScope, first_param: int) -> ScopeSql:
    """The scope's SQL, its parameters numbered from `first_param`; no joins for the whole log."""
    if scope.whole:
        return ScopeSql("", "true", "false", "false", [])
    if scope.zone is not None:
        org, dom = f"${first_param}::text", f"${first_param + 1}::text"
        params: list[object] = [scope.zone.organisation, scope.zone.domain]

        def covers(organisation: str, domain: str) -> str:
            return f"({organisation} = {org} AND {domain} = {dom})"
        zones = f"SELECT {org} AS org, {dom} AS dom"
    else:
        orgs = f"${first_param}::text[]"
        params = [sorted(scope.organisations)]

        def covers(organisation: str, domain: str) -> str:
            return f"{organisation} = ANY({orgs})"
        # An actor's zone is its unit's (auth.principal) and units are never deleted: these are every zone
        # of the organisations an actor or a document can have.
        zones = f"SELECT DISTINCT organisation AS org, domain AS dom FROM units WHERE organisation = ANY({orgs})"
    record = (f"coalesce({covers('d.organisation', 'd.domain')} OR {covers('k.from_organisation', 'k.from_domain')}"
              f" OR {covers('k.to_organisation', 'k.to_domain')}, false)")
    actor = f"coalesce({covers('e.actor_organisation', 'e.actor_domain')}, false)"
    seen = f"({actor} OR {record})"
    withheld = f"(e.decision = 'deny' AND (e.document_id IS NOT NULL OR e.consent_id IS NOT NULL) AND NOT {record})"
    reasons_withheld = f"(e.decision = 'deny' AND (NOT {actor} OR {withheld}))"
    return ScopeSql(_RECORD_JOINS, seen, withheld, reasons_withheld, params, covers, zones)


def _where(filters: EventFilter, first_param: int) -> tuple[str, list[object]]:
    """The filters as a WHERE clause over `e` and its parameters, numbered from `first_param`."""
    clauses: list[str] = []
    params: list[object] = []
    for column, op, value in (
        ("e.client_id", "=", filters.client_id), ("e.actor_sub", "=", filters.actor), ("e.actor_unit", "=", filters.unit),
        ("e.action", "=", filters.action), ("e.decision", "=", filters.decision),
        ("e.at", ">=", filters.since), ("e.at", "<", filters.until),
    ):
        if value is not None:
            params.append(value)
            clauses.append(f"{column} {op} ${first_param + len(params) - 1}")
    if filters.flagged is not None:
        # Written out, not a parameter: a generic plan can then read flagged events from their partial index
        # (audit_events_flagged) instead of walking the log for them.
        clauses.append("e.flagged" if filters.flagged else "NOT e.flagged")
    return (" AND ".join(clauses) or "true"), params


def _select(scope: ScopeSql, where: str, seqs: str | None = None) -> str:
    """Events of `scope` matching `where`; among `seqs` (a query of seqs) when given."""
    return (f"SELECT {_EVENT_COLUMNS}, {scope.withheld} AS withheld, {scope.reasons_withheld} AS reasons_withheld "
            f"FROM audit_events e {scope.joins} "
            f"WHERE {_among(seqs)}{scope.seen} AND {where}")


def _linked(events: str) -> str:
    """`events` (a query of events, ordered by seq and cut to a page) with each one's chain link beside it
    (prev_seq, prev_hash, hash; null until sealed).

    The page is cut first, then each of its events looks up its own link by primary key: a lateral
    subquery that the planner may not flatten (OFFSET 0), so no plan can join the chain by a merge or a
    hash instead, which walks audit_chain from its first row. Joined before the cut, the plans PostgreSQL
    chose for a page at 10⁶ events, the custom ones of a prepared statement's first executions among them,
    read the whole chain (#13).
    """
    return (f"SELECT x.*, c.prev_seq, c.prev_hash, c.hash FROM ({events}) x LEFT JOIN LATERAL "
            f"(SELECT c.prev_seq, c.prev_hash, c.hash FROM audit_chain c WHERE c.seq = x.seq OFFSET 0) c ON true "
            f"ORDER BY x.seq")


def _among(seqs: str | None) -> str:
    """The condition that an event is among `seqs`, fetched by primary key (an array, so that no plan joins
    the whole log to them)."""
    return f"e.seq = ANY(ARRAY({seqs})) AND " if seqs else ""


async def _fetch_generic(conn: asyncpg.Connection, sql: str, *args: object) -> list[asyncpg.Record]:
    """`sql` run under its generic plan: planned once on the connection, never again for each execution.

    The client's ranges (ScopeSql.client_seqs) are eight or more branches, each over partial indexes whose
    predicates name the fifteen READ_ACTIONS on every month's partition: PostgreSQL takes 6-20 ms to plan them,
    ten times what the plan then reads (0.5-2 ms). Left to itself (plan_cache_mode auto) it plans anew for each
    of a prepared statement's first five executions, then keeps planning for every one whenever its estimate of
    the generic plan's cost exceeds the custom plans' average, a near tie that the statistics tip either way:
    at 10⁶ events the whole log's and a municipality's auditor paid the planning on every request, 16-20 ms
    where the generic plan answers in 7 (#13). The generic plan is as good for every client, scope and page:
    each range is read from its own index in its key's order (tests/integration/test_audit_query_cost.py counts
    what the generic plans read at 10⁶ events).

    Set for this statement only (SET LOCAL): in a transaction of the caller's, set back to the default after it
    (the service sets it for no session: database.py), so the statements after it are planned as before, unless
    the statement failed in PostgreSQL, whose transaction can then only roll back, which undoes it; otherwise in a
    transaction of its own, which ends with it.
    """
    if not conn.is_in_transaction():
        async with conn.transaction():
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            own: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return own
    await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
    except asyncpg.PostgresError:
        raise
    except Exception:  # refused before PostgreSQL saw it (a value asyncpg cannot send): the transaction goes on
        await conn.execute("SET LOCAL plan_cache_mode TO DEFAULT")
        raise
    await conn.execute("SET LOCAL plan_cache_mode TO DEFAULT")
    return rows


def _client_param(filters: EventFilter, params: list[object], first_param: int) -> str | None:
    """For a client filter, the client's placeholder (appended to `params`); else None."""
    if filters.client_id is None:
        return None
    params.append(filters.client_id)
    return f"${first_param + len(params) - 1}::uuid"


async def page(conn: asyncpg.Connection, filters: EventFilter, *, scope: LogScope, after: int,
               limit: int) -> list[asyncpg.Record]:
    """Events in `scope` matching `filters` with seq greater than `after`, oldest first; `withheld` marks
    those whose client id and reason codes the reader may not see, `reasons_withheld` those whose reason codes."""
    scoped = scope_sql(scope, 3)
    first = 3 + len(scoped.params)
    where, params = _where(filters, first)
    condition = f"e.seq > $1 AND {where}"
    client = _client_param(filters, params, first)
    seqs = scoped.client_seqs(client, condition, "$2") if client else None
    if client and scoped.withheld != "false":
        # Withheld events never match a client filter (else the filter would name the client they withhold).
        # The client's ranges hold none (ScopeSql.client_seqs): only the events read from them are tested.
        condition = f"NOT {scoped.withheld} AND {condition}"
    sql = _linked(_select(scoped, condition, seqs) + " ORDER BY e.seq LIMIT $2")
    args = (after, limit, *scoped.params, *params)
    # A client's ranges are costly to plan (_fetch_generic); the other filters' statements are not.
    rows: list[asyncpg.Record] = await (_fetch_generic(conn, sql, *args) if seqs else conn.fetch(sql, *args))
    return rows


async def stream(conn: asyncpg.Connection, filters: EventFilter, *, scope: LogScope,
                 batch: int = 2000) -> AsyncIterator[asyncpg.Record]:
    """Every event in `scope` matching `filters`, oldest first, read page by page (`page`, `batch` events at a
    time, by seq): run it inside a REPEATABLE READ transaction, so that every page comes from one snapshot.

    Pages, not one cursor over the whole query: the database plans a cursor for all of its rows, so a stream
    could hash-join the whole chain, or sort every matching event, before its first line; a page's plan reads
    what the page holds (#13), and the stream reads what a client's filter reads (ScopeSql.client_seqs).
    """
    after = 0
    while True:
        rows = await page(conn, filters, scope=scope, after=after, limit=batch)
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        after = rows[-1]["seq"]


# An allowed release of a document to the client whose day has not come (OSL 25:6): not in the client's own log yet
# (insider attack 14, L2). The release's own visible_from decides, so an entry once shown stays.
_RELEASE_NOT_YET_SHOWN = (
    "NOT (e.action = 'document.release' AND e.decision = 'allow' AND EXISTS (SELECT 1 FROM document_releases r "
    "WHERE r.document_id = e.document_id AND r.client_id = e.client_id AND r.visible_from > clock_timestamp()))")


async def extract(conn: asyncpg.Connection, client_id: UUID, *, scope: LogScope, after: int,
                  limit: int, every_access: bool = False, but_actor: str | None = None,
                  as_the_client_sees_it: bool = False) -> list[asyncpg.Record]:
    """The allowed reads of the client's data in `scope` after seq `after`, oldest first (none is withheld:
    withholding concerns denials only); a scoped extract reads only what the scope sees (ScopeSql.client_seqs).

    `every_access`: every event naming the client, allowed or denied, reads or not (the client's own view of
    the whole log: there is nothing to withhold from them, OSL 12:1); `but_actor`: not this actor's events (the
    client's own calls); `as_the_client_sees_it`: without the releases to the client that show only from a later
    day (policies.me.released), cut in the same statement, so a page costs the same whether one is pending."""
    scoped = scope_sql(scope, 4)
    condition = "e.client_id = $1 AND e.seq > $2" if every_access else f"e.client_id = $1 AND {READ} AND e.seq > $2"
    params: list[object] = []
    if but_actor is not None:
        params.append(but_actor)
        condition += f" AND e.actor_sub <> ${4 + len(scoped.params)}::text"
    if as_the_client_sees_it:
        condition += f" AND {_RELEASE_NOT_YET_SHOWN}"
    seqs = scoped.client_seqs("$1::uuid", condition, "$3", reads_only=not every_access)
    sql = (f"SELECT {_EXTRACT_COLUMNS} FROM audit_events e {scoped.joins} "
           f"WHERE {_among(seqs)}{condition} AND {scoped.seen} ORDER BY e.seq LIMIT $3")
    rows: list[asyncpg.Record] = await _fetch_generic(conn, sql, client_id, after, limit, *scoped.params, *params)
    return rows
