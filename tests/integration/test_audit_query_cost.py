"""Every audit query reads what its page holds, at 10⁶ events as at ten (#13).

Before, a page of GET /v1/audit/events joined the chain before its ORDER BY seq LIMIT, and the plans
PostgreSQL chose at 10⁶ events merged or hashed the whole of audit_chain, the custom plans of a prepared
statement's first executions (a new connection, every restart) among them; the client's access-log extract
read every event of the client to keep its reads. Counted, not timed: the rows each plan's scans of
audit_events and audit_chain read (EXPLAIN ANALYZE EXECUTE of the statement as asyncpg prepares it, under
the custom and under the generic plan), for each kind of filter, each kind of reader, a first page and a
later one, the extract and the first batch of the NDJSON stream.

The log is built by bulk SQL (tests/audit_bulk.py, as bench/audit_growth.py builds its), around a world made
through the API: the client has an event in every hundred, by both zones, on its documents and its consent,
reads, writes and denials; the rest are other clients' events in eight zones. The chain's rows are there for
every event (their hashes are not checked here: tests/unit and test_audit_chain).
"""
from __future__ import annotations

import os
import re
import uuid
from collections.abc import Awaitable, Callable

import pytest

from policies.audit import EventFilter, LogScope
from service.store import audit_events as events_store
from tests.audit_bulk import bulk_load
from tests.integration.test_audit_scope import HEALTH, SOCIAL, world  # noqa: F401 (world: the fixture)
from tests.plans import Prepared, rows_dropped, rows_read

EVENTS = 1_000_000
LIMIT = 51  # a page of 50 and the one that tells whether more follow
BATCH = 2000  # the stream's pages (events_store.stream)
SCOPES = {"whole log": LogScope(whole=True), "social zone": LogScope(zone=SOCIAL),
          "municipality": LogScope(organisations=frozenset({SOCIAL.organisation}))}


def _filters(client_id: uuid.UUID, since, until) -> dict[str, EventFilter]:
    return {"none": EventFilter(), "client_id": EventFilter(client_id=client_id),
            "client_id, denials": EventFilter(client_id=client_id, decision="deny"),
            "actor": EventFilter(actor="hsa-iof"), "action": EventFilter(action="document.read_content"),
            "time range": EventFilter(since=since, until=until), "flagged": EventFilter(flagged=True)}


async def _first_batch(conn, filters: EventFilter, scope: LogScope) -> None:
    """The stream's first batch: its first page is read before its first event is handed on."""
    stream = events_store.stream(conn, filters, scope=scope, batch=BATCH)
    async for _ in stream:
        break
    await stream.aclose()


@pytest.mark.parametrize("months", [1, 3])
async def test_no_audit_query_reads_the_log_or_the_chain(world, db, months):
    """`months`: the log in one partition, or in three months' (migrations: audit_events by month)."""
    client_id = uuid.UUID(world["client"])
    await bulk_load(db, EVENTS, world, months=months)
    nth = "SELECT {} FROM audit_events ORDER BY seq OFFSET $1 LIMIT 1"
    middle = await db.fetchval(nth.format("seq"), EVENTS // 2)
    since = await db.fetchval(nth.format("at"), EVENTS * 4 // 5)
    until = await db.fetchval(nth.format("at + interval '5 minutes'"), EVENTS * 4 // 5)
    in_range = await db.fetchval("SELECT count(*) FROM audit_events WHERE at >= $1 AND at < $2", since, until)

    cases: dict[str, tuple[Callable[..., Awaitable[object]], int]] = {}  # name: (read on a connection, its page)
    for scope_name, scope in SCOPES.items():
        for filter_name, filters in _filters(client_id, since, until).items():
            for after in (0, middle):
                cases[f"{scope_name}: events, {filter_name}, after {after}"] = (
                    lambda conn, f=filters, s=scope, a=after: events_store.page(conn, f, scope=s, after=a, limit=LIMIT),
                    LIMIT)
            cases[f"{scope_name}: stream's first batch, {filter_name}"] = (
                lambda conn, f=filters, s=scope: _first_batch(conn, f, s), BATCH)
        for after in (0, middle):
            cases[f"{scope_name}: extract, after {after}"] = (
                lambda conn, s=scope, a=after: events_store.extract(conn, client_id, scope=s, after=a, limit=LIMIT),
                LIMIT)

    read = {}
    for generic in (False, True):
        for name, (call, page) in cases.items():
            explained = Prepared(db, generic=generic)
            rows = await call(explained)
            assert len(explained.plans) == 1, name
            plan = explained.plans[0]
            read[name, generic] = (rows_read(plan, "audit_events"), rows_read(plan, "audit_chain"), page,
                                   rows_dropped(plan, "audit_events"))
            if isinstance(rows, list) and "after 0" in name and "denials" not in name and "extract" not in name:
                assert len(rows) == LIMIT, name  # a full page: the bound below is met by reading, not by want

    if os.environ.get("SHOW_READS"):
        for (name, generic), (rows, links, page, dropped) in sorted(read.items(), key=lambda item: -item[1][0]):
            print(f"{rows:>9} {links:>9} {page:>5} {dropped:>9}  {name} ({'generic' if generic else 'custom'})")
    # The chain: one link looked up for each event of the page, under every plan.
    chain = {f"{name} ({'generic' if generic else 'custom'})": links for (name, generic), (_, links, page, _)
             in read.items() if links > page}
    assert not chain, f"pages that read more of audit_chain than their events: {chain}"
    # The events: what the page holds, and what the reader's filters skip on their way, which depends on how
    # dense the filter's events are in what the reader sees, not on the size of the log: at most 60 per event of
    # the page (the sparsest here, one action of six in one zone of eight, is one event in 48), or the events
    # of the time range (read from the index on `at`) and the page.
    events = {f"{name} ({'generic' if generic else 'custom'})": (rows, page) for (name, generic), (rows, _, page, _)
              in read.items() if rows > 60 * page and not ("time range" in name and rows <= in_range + page)}
    assert not events, f"pages that read more of audit_events than what they hold (rows, page): {events}"
    # The extract reads the client's reads only: none of the client's other events is read to be dropped.
    dropped = {f"{name} ({'generic' if generic else 'custom'})": rows for (name, generic), (_, _, _, rows)
               in read.items() if "extract" in name and rows}
    assert not dropped, f"extracts that read events only to drop them: {dropped}"


async def test_the_read_indexes_name_the_read_actions(db):
    """The reads' indexes (migrations/0016) are usable only while their predicate names READ_ACTIONS, as the
    queries write them out (store/audit_events.py READ): a change to one without the other would leave the
    extract to read every event of the client again."""
    definitions = {row["indexname"]: row["indexdef"] for row in await db.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_events' "
        "AND (indexname LIKE '%\\_reads' OR indexname LIKE '%\\_others')")}
    assert len(definitions) == 6
    for name, definition in definitions.items():
        named = set(re.findall(r"'([a-z_]+\.[a-z_]+)'::text", definition))
        assert named == set(events_store.READ_ACTIONS), name


@pytest.mark.parametrize("scope", SCOPES.values(), ids=SCOPES.keys())
async def test_a_stream_is_its_pages(world, db, scope):
    """The stream reads page after page: the same events, in the same order, as paging by hand, across its
    batches' edges."""
    client_id = uuid.UUID(world["client"])
    await bulk_load(db, 5000, world)
    for name, filters in _filters(client_id, None, None).items():
        paged, after = [], 0
        while page := await events_store.page(db, filters, scope=scope, after=after, limit=7):
            paged += [dict(row) for row in page]
            after = page[-1]["seq"]
        async with db.transaction(isolation="repeatable_read", readonly=True):
            streamed = [dict(row) async for row in events_store.stream(db, filters, scope=scope, batch=7)]
        assert streamed == paged, name
        if name in ("none", "client_id"):
            assert len(paged) > 7 * 3, name  # the stream crossed its batches' edges


async def test_a_client_read_is_planned_once_a_connection(world, db):
    """A client's audit page, stream batch and extract run under their generic plan from the first execution:
    planned once on a connection, never again for each request.

    Their statements (the client's ranges, ScopeSql.client_seqs) take PostgreSQL 6-20 ms to plan, several times
    what their plans read; under plan_cache_mode auto every request of a connection's first five planned them
    again, and so did every later one whenever the generic plan's estimated cost came out above the custom
    plans' (the whole log's and a municipality's auditor at 10⁶ events: 16-20 ms a page, 7 ms planned once,
    #13). Counted by PostgreSQL (pg_prepared_statements: executions under a custom plan, each planned anew),
    not timed. The generic plans read what the page holds at 10⁶ events (the test above); the setting is the
    statement's only (a caller's transaction goes on with the session's)."""
    client_id = uuid.UUID(world["client"])
    await bulk_load(db, 5000, world)
    runs = 7  # past the five custom plans PostgreSQL makes before it may choose the generic one
    for scope in SCOPES.values():
        for _ in range(runs):
            await events_store.page(db, EventFilter(client_id=client_id), scope=scope, after=0, limit=LIMIT)
            await events_store.extract(db, client_id, scope=scope, after=0, limit=LIMIT)
            async with db.transaction(isolation="repeatable_read", readonly=True):
                await _first_batch(db, EventFilter(client_id=client_id), scope)
                assert await db.fetchval("SELECT current_setting('plan_cache_mode')") == "auto"
    for _ in range(runs):  # the client's own view of the log (domain/me.py), in the access's transaction
        async with db.transaction():
            await events_store.extract(db, client_id, scope=SCOPES["whole log"], after=0, limit=LIMIT,
                                       every_access=True, but_actor="someone")
            assert await db.fetchval("SELECT current_setting('plan_cache_mode')") == "auto"

    statements = await db.fetch("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements "
                                "WHERE statement LIKE 'SELECT%WITH zone AS MATERIALIZED%' AND NOT from_sql "
                                "AND statement NOT LIKE '%pg_prepared_statements%'")
    # page and stream batch (one statement, two limits' values), extract, for each scope; the client's own view
    assert len(statements) == 2 * len(SCOPES) + 1
    planned_each_time = {row["statement"][-300:]: row["custom_plans"] for row in statements if row["custom_plans"]}
    assert not planned_each_time, f"client reads planned again for an execution: {planned_each_time}"
    assert all(row["generic_plans"] >= runs for row in statements)
