"""Group commit for content reads (store/read_batches.py, issue #21): concurrent reads' events in one statement.

The invariant stays: no content leaves before its own event is committed, each read has exactly one event, and
one read's bad event never fails its neighbours.
"""
from __future__ import annotations

import asyncio
import json
import uuid

import aiohttp
import asyncpg
import pytest

from policies.decision import allow
from policies.model import Principal
from service import audit
from service.audit import Action, Caller
from service.http.context import RUNTIME
from service.store.read_batches import ReadBatches
from tests import files


@pytest.fixture
async def world(api):
    await api.unit("malmo-iof", organisation="malmo-stad", domain="social")
    await api.unit("beroendecentrum", organisation="region-skane", domain="health")
    iof, clinic = api.staff("malmo-iof"), api.staff("beroendecentrum")
    client = (await api.register(iof))["id"]
    await api.relation(iof, client)
    await api.relation(clinic, client)
    return {"iof": iof, "clinic": clinic, "client": client}


async def _document(client, headers, client_id, content: bytes) -> str:
    data = aiohttp.FormData()
    data.add_field("metadata", json.dumps({"category": "assessment", "title": "Bedömning"}),
                   content_type="application/json")
    data.add_field("file", content, filename="doc.txt", content_type="text/plain")
    response = await client.post(f"/v1/clients/{client_id}/documents", headers=headers, data=data)
    assert response.status == 201, await response.text()
    return (await response.json())["id"]


async def test_concurrent_reads_share_commits_and_each_has_its_own_event(client, world, db):
    rt = client.server.app[RUNTIME]
    contents = [files.text(f"anteckning {n}\n" * (200 + 50 * n)) for n in range(6)]
    ids = [await _document(client, world["iof"], world["client"], content) for content in contents]
    before = (rt.reads.events.batches, rt.reads.facts.batches)
    reads = 60

    async def read(n: int) -> bytes:
        response = await client.get(f"/v1/documents/{ids[n % len(ids)]}/content", headers=world["iof"])
        assert response.status == 200
        return await response.read()

    bodies = await asyncio.gather(*(read(n) for n in range(reads)))
    assert all(body == contents[n % len(ids)] for n, body in enumerate(bodies))  # each read its own document
    assert rt.reads.events.batches - before[0] < reads  # gathered: fewer commits than reads
    assert rt.reads.facts.batches - before[1] < reads  # and fewer facts statements
    rows = await db.fetch("SELECT document_id, count(*) AS n FROM audit_events WHERE action = 'document.read_content' "
                          "GROUP BY document_id")
    assert {str(r["document_id"]): r["n"] for r in rows} == {i: reads // len(ids) for i in ids}
    # The gatherers kept a connection between their batches (a pool of 20) and give it back a second after the last.
    for _ in range(300):  # let go after a second's linger, then given back by a task of its own
        if not rt.reads.connections_kept and rt.pool.get_idle_size() == rt.pool.get_size():
            break
        await asyncio.sleep(0.01)
    assert rt.reads.connections_kept == 0 and rt.pool.get_idle_size() == rt.pool.get_size()


async def test_a_bad_event_fails_only_its_own_read(client, world, db):
    """An event the database refuses (here a decision outside its CHECK) is answered alone; its neighbours in the
    batch get their segments and their committed events."""
    rt = client.server.app[RUNTIME]
    doc = uuid.UUID(await _document(client, world["iof"], world["client"], files.text("innehåll\n" * 100)))
    caller = Caller(Principal(sub="anna", name=None, roles=frozenset()), request_id="r", remote_addr=None)
    good = audit.event_values(Action.DOCUMENT_READ_CONTENT, caller, allow("own_zone"), client_id=None,
                              document_id=doc, purpose=None)
    bad = tuple("maybe" if index == 10 else value for index, value in enumerate(good))  # decision: not allow/deny
    recorder = ReadBatches(rt.pool, rt.blobs)
    outcomes = await asyncio.gather(*(recorder.first_after_event(doc, count=1, event=event)
                                      for event in (good, bad, good, good)), return_exceptions=True)
    assert isinstance(outcomes[1], asyncpg.CheckViolationError)
    assert all(isinstance(o, list) and len(o) == 1 for n, o in enumerate(outcomes) if n != 1)
    assert recorder.events.batches == 1  # all four gathered into one statement; it failed, so each went alone
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE document_id = $1 AND actor_sub = 'anna'", doc) == 3
    await recorder.close()
    await rt.close()
    assert rt.pool.get_idle_size() == rt.pool.get_size()  # every connection a gatherer kept is back


async def test_reads_gathered_with_another_zones_are_each_decided_on_their_own_facts(client, world, db):
    """Facts loaded in one statement for callers of two zones: the owning zone reads, the other zone (a relation,
    no consent) is refused exactly as when it reads alone, and each refusal and read has its event."""
    rt = client.server.app[RUNTIME]
    content = files.text("socialtjänstens anteckning\n" * 300)
    doc = await _document(client, world["iof"], world["client"], content)
    alone = await client.get(f"/v1/documents/{doc}/content", headers=world["clinic"])
    refused = (alone.status, await alone.json())
    before = rt.reads.facts.batches

    async def read(headers) -> tuple[int, bytes]:
        response = await client.get(f"/v1/documents/{doc}/content", headers=headers)
        return response.status, await response.read()

    callers = [world["iof"], world["clinic"]] * 15
    outcomes = await asyncio.gather(*(read(headers) for headers in callers))
    assert rt.reads.facts.batches - before < len(callers)
    for headers, (status, body) in zip(callers, outcomes, strict=True):
        if headers is world["iof"]:
            assert (status, body) == (200, content)
        else:
            assert status == refused[0] and json.loads(body)["code"] == refused[1]["code"]
    rows = await db.fetch("SELECT actor_unit, decision, count(*) AS n FROM audit_events "
                          "WHERE action = 'document.read_content' GROUP BY actor_unit, decision")
    assert {(r["actor_unit"], r["decision"]): r["n"] for r in rows} == {("malmo-iof", "allow"): 15,
                                                                       ("beroendecentrum", "deny"): 16}


async def test_a_batch_of_events_is_recorded_exactly_as_each_alone(db):
    """The JSON a batch of events travels in (store/audit_recording.py events_json) loses and changes nothing:
    every column of events recorded as one batch equals that of the same events recorded one by one (lists of
    any length, quotes, backslashes and non-ASCII text, ids as UUIDs, as text or none, either flag)."""
    from service.store import audit_recording

    ids = [uuid.uuid4() for _ in range(3)]
    events = [
        ("hsa-1", 'Åsa "Ö" Öberg \\ 日本', "malmo-iof", "malmo-stad", "social", ["manager", "staff"],
         "document.read_content", ids[0], ids[1], None, "allow", "own_zone", [], "care", "r", "10.0.0.1", False),
        ("hsa-2", None, None, None, None, [], "consent.read", str(ids[2]), None, ids[0], "deny", "no_relation",
         ["no_relation", 'q"uote', "back\\slash", "ä"], None, "r", None, True),
        ("hsa-3", "tab\there\nnewline", "beroendecentrum", "region-skane", "health", ["staff"], "client.read",
         None, None, None, "allow", "emergency:OSL 25:13", ["emergency"], "emergency", "r", "::1", True),
    ]

    def tagged(tag: str) -> list[tuple]:
        return [(*event[:14], f"{tag}-{n}", *event[15:]) for n, event in enumerate(events)]

    await audit_recording.insert_many(db, tagged("batch"))
    for event in tagged("alone"):
        await audit_recording.insert(db, event)
    columns = ("actor_sub, actor_name, actor_unit, actor_organisation, actor_domain, actor_roles, action, client_id, "
               "document_id, consent_id, decision, basis, reason_codes, purpose, remote_addr, flagged")

    async def recorded(tag: str) -> list[tuple]:
        rows = await db.fetch(f"SELECT {columns} FROM audit_events WHERE request_id LIKE $1 ORDER BY seq", f"{tag}-%")
        return [tuple(row) for row in rows]

    batch = await recorded("batch")
    assert batch == await recorded("alone")
    assert [row[5] for row in batch] == [["manager", "staff"], [], ["staff"]]  # not merely equal: as given
    assert batch[1][7] == ids[2] and batch[1][9] == ids[0] and batch[1][15] is True
    assert [r["request_id"] for r in await db.fetch(
        "SELECT request_id FROM audit_events WHERE request_id LIKE 'batch-%' ORDER BY seq")] == [
        "batch-0", "batch-1", "batch-2"]  # recorded in the order given


async def test_a_value_that_cannot_be_sent_fails_only_its_own_read(client, world, db):
    """A value no statement can carry (a lone surrogate in a token's name: JSON writes it, PostgreSQL refuses it;
    alone, asyncpg cannot encode it and raises a client-side DataError, which is also an InterfaceError) is that
    read's fault: its neighbours in the batch get their segments and their committed events, as with a value
    the database refuses."""
    rt = client.server.app[RUNTIME]
    doc = uuid.UUID(await _document(client, world["iof"], world["client"], files.text("innehåll\n" * 100)))
    caller = Caller(Principal(sub="bertil", name=None, roles=frozenset()), request_id="r", remote_addr=None)
    good = audit.event_values(Action.DOCUMENT_READ_CONTENT, caller, allow("own_zone"), client_id=None,
                              document_id=doc, purpose=None)
    surrogate = tuple("Bertil \udc80" if index == 1 else value for index, value in enumerate(good))
    no_id = tuple(12 if index == 7 else value for index, value in enumerate(good))  # JSON's TypeError, then alone
    for n, bad in enumerate((surrogate, no_id), start=1):
        recorder = ReadBatches(rt.pool, rt.blobs)
        outcomes = await asyncio.gather(*(recorder.first_after_event(doc, count=1, event=event)
                                          for event in (good, bad, good, good)), return_exceptions=True)
        assert isinstance(outcomes[1], asyncpg.PostgresError | ValueError | TypeError), outcomes[1]
        assert all(isinstance(o, list) and len(o) == 1 for i, o in enumerate(outcomes) if i != 1), outcomes
        assert recorder.events.batches == 1
        assert await db.fetchval("SELECT count(*) FROM audit_events WHERE document_id = $1 AND actor_sub = 'bertil'",
                                 doc) == 3 * n
        await recorder.close()
        await rt.close()
        assert rt.pool.get_idle_size() == rt.pool.get_size()


async def test_a_gatherer_keeps_its_connection_and_takes_another_once_it_is_lost(client, db):
    """_Held: consecutive batches share one backend (no pool round per statement); a backend that dies between
    batches (an administrator's pg_terminate_backend, a restart) is dropped before use and the next batch runs
    on a new one without an error; after `uses` batches, after an error and on close() it is back in the pool."""
    from service.store.read_batches import _Held

    rt = client.server.app[RUNTIME]
    await rt.close()  # the app's gatherers keep none now: the counts below are this test's own
    pool = rt.pool
    held = _Held(pool, uses=3, linger=0.5)

    async def backend() -> int:
        async with held() as conn:
            return await conn.fetchval("SELECT pg_backend_pid()")

    try:
        first = await backend()
        assert await backend() == first and held.kept
        assert pool.get_idle_size() == pool.get_size() - 1
        await db.execute("SELECT pg_terminate_backend($1)", first)
        for _ in range(100):  # asyncpg sees the socket close and gives the lost connection back by itself
            await asyncio.sleep(0.02)
            if pool.get_idle_size() == pool.get_size():
                break
        second = await backend()  # no error: the lost one is dropped before use
        assert second != first and held.kept
        assert await backend() == second and held.kept
        assert await backend() == second and not held.kept  # its third batch: given back
        assert pool.get_idle_size() == pool.get_size()
        await backend()
        with pytest.raises(asyncpg.PostgresError):  # a batch's error gives it back too
            async with held() as conn:
                await conn.execute("SELECT 1/0")
        assert not held.kept and pool.get_idle_size() == pool.get_size()
        before = await backend()
        held.idle()  # a run of batches ended; another begins within the linger: the same connection
        await asyncio.sleep(0.05)
        assert await backend() == before and held.kept
        held.idle()
        await asyncio.sleep(0.7)  # none within it (0.5 s): let go, and given back by a task of its own
        assert not held.kept
        for _ in range(200):
            if pool.get_idle_size() == pool.get_size():
                break
            await asyncio.sleep(0.01)
        assert pool.get_idle_size() == pool.get_size()
        assert await backend() and held.kept
    finally:
        await held.close()  # before the pool closes (asyncpg's close waits for every connection)
    assert not held.kept and pool.get_idle_size() == pool.get_size()


async def test_a_gatherer_closed_before_its_batch_began_answers_and_goes_on():
    """close() cancelling a batch task that had not begun yet (its finally never runs): the waiting call ends
    cancelled rather than hanging, and a later call is answered by a new batch."""
    from service.store.read_batches import Gatherer

    async def run(items: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        return [item * 10 for item in items]

    gatherer: Gatherer[int, int] = Gatherer(run)
    first = asyncio.create_task(gatherer(1))
    await asyncio.sleep(0)  # the call is waiting and its batch task made, not yet begun
    await gatherer.close()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(first, 1)
    assert await asyncio.wait_for(gatherer(2), 1) == 20


async def test_a_gatherer_gives_its_connection_back_at_once_when_the_pool_has_none_left(client):
    """After a run of batches a kept connection lingers a second, unless the pool has no connection to hand out:
    then a request waiting for one gets it at once."""
    from service.store.read_batches import _Held

    rt = client.server.app[RUNTIME]
    await rt.close()
    pool = rt.pool
    held = _Held(pool, linger=30)
    taken = []
    try:
        async with held() as conn:
            await conn.fetchval("SELECT 1")
        held.idle()
        assert held.kept  # a pool with room: it lingers (30 s here)
        await held.give_back()
        async with held() as conn:
            await conn.fetchval("SELECT 1")
        while pool.get_size() < pool.get_max_size() or pool.get_idle_size():
            taken.append(await pool.acquire())  # every other connection in use
        waiting = asyncio.ensure_future(pool.acquire(timeout=5))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        held.idle()
        taken.append(await asyncio.wait_for(waiting, 1))  # given back at once, to the request waiting
        assert not held.kept
    finally:
        await held.close()
        for conn in taken:
            await pool.release(conn)
