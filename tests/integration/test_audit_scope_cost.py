"""A scoped reader's view of one client costs what the reader sees, not what other zones keep (#11).

Before, `GET /v1/audit/events?client_id=` for a municipal auditor and a social unit manager's
`GET /v1/clients/{id}/access-log` read every event of the client and judged each: the more the
region's clinic had read the client's health records, the longer the answer took, which told the
municipality that the client is treated there. Now the store reads only index ranges of what the
reader sees (store/audit_events.py `ScopeSql.client_seqs`, migration 0008). Counted, not timed: the
rows every plan node touches (EXPLAIN ANALYZE) are the same with and without thousands of hidden
events, while the whole log's reader, who sees them, touches more.
"""
from __future__ import annotations

import uuid

import pytest

from policies.audit import EventFilter, LogScope
from service.store import audit_events as events_store
from tests.integration.test_audit_scope import HEALTH, SOCIAL, world  # noqa: F401 (world: the fixture)
from tests.plans import Explained, rows_read

HIDDEN = 3000
OTHERS = 20_000


async def _reads(db, client_id: uuid.UUID, scope: LogScope) -> dict[str, tuple[int, list[int]]]:
    """Each client-scoped read of the store: (rows touched, seqs answered)."""
    results = {}
    explained = Explained(db)
    for name, call in (
        ("events", lambda: events_store.page(explained, EventFilter(client_id=client_id), scope=scope,
                                             after=0, limit=100)),
        ("events, denials", lambda: events_store.page(
            explained, EventFilter(client_id=client_id, decision="deny"), scope=scope, after=0,
            limit=100)),
        ("extract", lambda: events_store.extract(explained, client_id, scope=scope, after=0, limit=100)),
    ):
        rows = await call()
        results[name] = (rows_read(explained.plans[-1], "audit_events"), [row["seq"] for row in rows])
    return results


async def _others(db, count: int) -> None:
    """`count` reads of other clients' records: the log of an installation in use, on which the planner
    reads by index, as it would in production (a log of a few pages is scanned whole, whoever reads it)."""
    columns = ("at, actor_sub, actor_name, actor_unit, actor_organisation, actor_domain, actor_roles, action, "
               "basis, reason_codes, purpose, request_id, remote_addr, flagged, decision")
    await db.execute(f"INSERT INTO audit_events ({columns}, client_id, document_id) SELECT {columns}, "
                     f"gen_random_uuid(), gen_random_uuid() FROM audit_events, generate_series(1, $1) "
                     f"WHERE seq = (SELECT max(seq) FROM audit_events WHERE action = 'document.read_content')", count)


async def _probe(db, document_id: str, count: int) -> None:
    """`count` more denied attempts on a document by a zone that does not hold it (withheld from that zone's
    readers: the event still names the document's client)."""
    template = await db.fetchval(
        "SELECT max(e.seq) FROM audit_events e JOIN documents d ON d.id = e.document_id WHERE d.id = $1 "
        "AND e.decision = 'deny' AND (e.actor_organisation, e.actor_domain) <> (d.organisation, d.domain)",
        uuid.UUID(document_id))
    assert template is not None
    columns = ("at, actor_sub, actor_name, actor_unit, actor_organisation, actor_domain, actor_roles, action, "
               "client_id, document_id, consent_id, decision, basis, reason_codes, purpose, request_id, remote_addr, "
               "flagged")
    await db.execute(f"INSERT INTO audit_events ({columns}) SELECT {columns} FROM audit_events, "
                     f"generate_series(1, $2) WHERE seq = $1", template, count)
    await db.execute("ANALYZE audit_events")


async def _hide(db, document_id: str, count: int) -> None:
    """`count` more reads and denials of a document by its own zone, as the service records them."""
    template = await db.fetchval(
        "SELECT max(e.seq) FROM audit_events e JOIN documents d ON d.id = e.document_id WHERE d.id = $1 "
        "AND e.action = 'document.read_content' AND (e.actor_organisation, e.actor_domain) = (d.organisation, d.domain)",
        uuid.UUID(document_id))
    columns = ("at, actor_sub, actor_name, actor_unit, actor_organisation, actor_domain, actor_roles, action, "
               "client_id, document_id, consent_id, basis, reason_codes, purpose, request_id, remote_addr, flagged")
    await db.execute(f"INSERT INTO audit_events ({columns}, decision) SELECT {columns}, "
                     f"CASE WHEN i % 3 = 0 THEN 'deny' ELSE 'allow' END FROM audit_events, generate_series(1, $2) i "
                     f"WHERE seq = $1", template, count)
    await db.execute("ANALYZE audit_events")


@pytest.mark.parametrize(("scope", "hidden"), [
    (LogScope(zone=SOCIAL), "health"), (LogScope(organisations=frozenset({SOCIAL.organisation})), "health"),
    (LogScope(zone=HEALTH), "social"), (LogScope(organisations=frozenset({HEALTH.organisation})), "social"),
], ids=["social zone", "municipality", "clinic zone", "region"])
async def test_the_other_zones_events_are_not_read(world, db, scope, hidden):
    """From a log where the other zone already has some events of the client to one where it has ten times
    as many: the reader's queries read the same events (the planner has statistics of a busy log both times)."""
    client_id = uuid.UUID(world["client"])
    await _others(db, OTHERS)
    await _hide(db, world[hidden], HIDDEN // 10)
    before = await _reads(db, client_id, scope)
    await _hide(db, world[hidden], HIDDEN)
    assert await _reads(db, client_id, scope) == before
    assert before["events"][1] and before["extract"][1]


@pytest.mark.parametrize("scope", [LogScope(zone=SOCIAL), LogScope(organisations=frozenset({SOCIAL.organisation}))],
                         ids=["social zone", "municipality"])
async def test_the_own_staffs_withheld_probes_are_not_read(world, db, scope):
    """The social worker's denied attempts on the clinic's note name the client, withheld from the social
    zone's readers (they would tell that the note is the client's): a client filter does not read them either,
    so its time does not tell it."""
    client_id = uuid.UUID(world["client"])
    await _others(db, OTHERS)
    await _probe(db, world["health"], HIDDEN // 10)
    before = await _reads(db, client_id, scope)
    await _probe(db, world["health"], HIDDEN)
    assert await _reads(db, client_id, scope) == before


async def test_the_whole_log_reader_touches_what_it_sees(world, db):
    """The measure is not blind: the installation's auditor sees the hidden events, and a page of its client
    filter large enough to hold them reads them (a page of a hundred reads a hundred of each range: #13)."""
    client_id = uuid.UUID(world["client"])
    await _others(db, OTHERS)
    await _hide(db, world["health"], HIDDEN // 10)

    async def reads() -> tuple[int, int]:
        explained = Explained(db)
        rows = await events_store.page(explained, EventFilter(client_id=client_id), scope=LogScope(whole=True),
                                       after=0, limit=2 * HIDDEN)
        return rows_read(explained.plans[-1], "audit_events"), len(rows)

    before = await reads()
    await _hide(db, world["health"], HIDDEN)
    after = await reads()
    assert after[1] > before[1] + HIDDEN // 3
    assert after[0] > before[0] + HIDDEN // 3
    assert after[0] < OTHERS  # by index: not the other clients' events


SCOPES = [LogScope(zone=SOCIAL), LogScope(zone=HEALTH), LogScope(organisations=frozenset({SOCIAL.organisation})),
          LogScope(organisations=frozenset({HEALTH.organisation, SOCIAL.organisation})), LogScope(whole=True)]


async def _paged(read, limit: int) -> list:
    rows, after = [], 0
    while True:
        page = await read(after, limit)
        rows += page
        if len(page) < limit:
            return rows
        after = page[-1]["seq"]


@pytest.mark.parametrize("scope", SCOPES, ids=["social zone", "clinic zone", "municipality", "both", "whole"])
async def test_a_client_filter_pages_through_what_the_scope_shows_of_the_client(world, db, scope):
    """The union of index ranges, cut to each page, is exactly the scope's events of the client, page by
    page in every filter, with the same withheld marks; the extract likewise."""
    client_id = uuid.UUID(world["client"])
    await _hide(db, world["health"], 5)
    await _hide(db, world["social"], 5)
    unfiltered = [r for r in await _paged(lambda after, limit: events_store.page(
        db, EventFilter(), scope=scope, after=after, limit=limit), 1000)]
    for filters in (EventFilter(client_id=client_id),
                    EventFilter(client_id=client_id, decision="deny"),
                    EventFilter(client_id=client_id, action="document.read_content")):
        expected = [dict(r) for r in unfiltered if r["client_id"] == client_id and not r["withheld"]
                    and filters.decision in (None, r["decision"]) and filters.action in (None, r["action"])]
        for limit in (1, 3, 100):
            got = await _paged(lambda after, limit, f=filters: events_store.page(db, f, scope=scope, after=after,
                                                                                 limit=limit), limit)
            assert [dict(r) for r in got] == expected, (filters, limit)
        async with db.transaction():
            assert [dict(r) async for r in events_store.stream(db, filters, scope=scope)] == expected
    reads = {r["seq"] for r in unfiltered if r["client_id"] == client_id and r["decision"] == "allow"
             and r["action"] in events_store.READ_ACTIONS}
    for limit in (1, 4, 100):
        extract = await _paged(lambda after, limit: events_store.extract(db, client_id, scope=scope, after=after,
                                                                          limit=limit), limit)
        assert [r["seq"] for r in extract] == sorted(reads)
    assert reads
