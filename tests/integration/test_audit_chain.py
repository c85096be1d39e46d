"""The audit hash chain on a real database: sealing, checkpoints, and tampering found at the exact seq.

Tampering is done as the database superuser would: triggers switched off for the
session (session_replication_role = replica), then rows edited, deleted, swapped
or inserted. Verification must name the first bad sequence number and the problem.
"""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
from datetime import UTC, datetime

import asyncpg
import pytest

from crypto.chain import (
    GENESIS,
    ChainVerifier,
    Checkpoint,
    canonical,
    checkpoint_digest,
    link,
    micros,
    sign_checkpoint,
    signature_holds,
)
from policies.decision import allow
from policies.model import Principal, Role, Zone
from service import audit
from service.audit import Action, Caller
from service.domain import audit_stretches
from service.domain.audit_log import verify_chain
from service.http.context import RUNTIME
from service.store import audit_chain as chain_store


@pytest.fixture
def rt(client):
    return client.server.app[RUNTIME]


async def accesses(api, n: int) -> list[int]:
    """n audited reads by staff of one unit; returns the events' seqs in order."""
    await api.unit("iof-norr")
    headers = api.staff("iof-norr")
    client = await api.register(headers)
    await api.relation(headers, client["id"])
    for _ in range(n):
        response = await api.client.get(f"/v1/clients/{client['id']}", headers=headers)
        assert response.status == 200


async def sealed(rt, db) -> list[int]:
    await rt.chain_sealer.catch_up()
    return [row["seq"] for row in await db.fetch("SELECT seq FROM audit_chain ORDER BY seq")]


async def verdict(rt, db, **kw):
    """verify_chain's verdict, which must be the same when the later half of the log is checked in a worker process
    (service/domain/audit_stretches.py): tampering found there as by one walk."""
    alone = await verify_chain(db, rt.keyring.audit_public_keys, **kw)
    assert await in_stretches(rt, db, **kw) == alone
    return alone


def at(low: int):
    """audit_stretches.split_point answering `low`."""
    async def split_point(conn, *, after: int, end: int) -> int:
        return low
    return split_point


async def in_stretches(rt, db, *, split: int | None = None, **kw):
    """verify_chain with a worker process for the events after seq `split` (by default the later half), however
    few, both walking in COPYs of two numbers."""
    if split is None:
        split = await db.fetchval("SELECT seq FROM audit_events ORDER BY seq"
                                  " OFFSET (SELECT count(*) / 2 FROM audit_events) LIMIT 1")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit_stretches, "WORKER_FROM", 0)
        patch.setattr(audit_stretches, "LINES_AT_ONCE", 2)
        patch.setattr(audit_stretches, "split_point", at(split))
        return await verify_chain(db, rt.keyring.audit_public_keys, dsn=rt.settings.database_url, **kw)


async def tamper(db, sql: str, *args) -> None:
    await db.execute("SET session_replication_role = replica")
    try:
        await db.execute(sql, *args)
    finally:
        await db.execute("SET session_replication_role = origin")


async def test_every_committed_event_is_sealed_in_one_unbroken_chain(rt, api, db):
    await accesses(api, 12)
    seqs = await sealed(rt, db)
    events = [row["seq"] for row in await db.fetch("SELECT seq FROM audit_events ORDER BY seq")]
    assert seqs == events and len(seqs) == 14  # register, relation.open, 12 reads
    rows = await db.fetch("SELECT seq, prev_seq, prev_hash, hash FROM audit_chain ORDER BY seq")
    assert rows[0]["prev_seq"] == 0 and bytes(rows[0]["prev_hash"]) == GENESIS
    for before, after in itertools.pairwise(rows):
        assert after["prev_seq"] == before["seq"] and after["prev_hash"] == before["hash"]
    result = await verdict(rt, db)
    assert result.ok and result.checked == len(seqs) and result.head_seq == seqs[-1]
    assert result.head_hash == bytes(rows[-1]["hash"])


async def test_a_checkpoint_is_signed_and_verifies(rt, api, db):
    await accesses(api, 3)
    await sealed(rt, db)
    row = await db.fetchrow("SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
    head = await db.fetchrow("SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
    assert row is not None and row["seq"] == head["seq"] and row["hash"] == head["hash"]
    assert row["key_id"] == rt.keyring.audit_key_id
    assert (await verdict(rt, db)).ok


async def test_a_checkpoint_every_thousand_events(rt, api, db, settings):
    await accesses(api, 2)
    await db.execute("""
        INSERT INTO audit_events (actor_sub, actor_roles, action, decision, basis)
        SELECT 'bulk', '{staff}', 'client.read', 'allow', 'own_zone' FROM generate_series(1, 2500)""")
    await rt.chain_sealer.catch_up()
    first = await db.fetchval("SELECT min(seq) FROM audit_events")
    gaps = [row["n"] for row in await db.fetch(
        "SELECT count(*) AS n FROM audit_chain c, LATERAL (SELECT max(seq) AS p FROM audit_checkpoints WHERE seq < c.seq) k "
        "WHERE c.seq <= (SELECT max(seq) FROM audit_checkpoints) GROUP BY k.p ORDER BY k.p NULLS FIRST")]
    assert all(n <= 1000 for n in gaps), gaps
    checkpoints = [row["seq"] for row in await db.fetch("SELECT seq FROM audit_checkpoints ORDER BY seq")]
    assert checkpoints == [first + 999, first + 1999]  # 2506 events: the rest waits for the next 10 s tick
    assert (await verdict(rt, db)).ok


@pytest.mark.parametrize("column,value", [
    ("actor_sub", "someone-else"), ("decision", "deny"), ("basis", "consent:forged"), ("flagged", True),
    ("at", "2020-01-01T00:00:00Z"), ("reason_codes", ["no_consent"]),
])
async def test_a_modified_event_is_found_at_its_seq(rt, api, db, column, value):
    await accesses(api, 6)
    seqs = await sealed(rt, db)
    target = seqs[4]
    if column == "at":
        await tamper(db, "UPDATE audit_events SET at = $1::text::timestamptz WHERE seq = $2", value, target)
    else:
        await tamper(db, f"UPDATE audit_events SET {column} = $1 WHERE seq = $2", value, target)
    result = await verdict(rt, db)
    assert (result.ok, result.first_bad_seq, result.problem) == (False, target, "modified")


async def test_an_edited_link_is_found(rt, api, db):
    await accesses(api, 5)
    seqs = await sealed(rt, db)
    await tamper(db, "UPDATE audit_chain SET hash = $1 WHERE seq = $2", bytes(32), seqs[3])
    result = await verdict(rt, db)
    assert (result.first_bad_seq, result.problem) == (seqs[3], "modified")


async def test_a_deleted_event_is_found_missing(rt, api, db):
    await accesses(api, 6)
    seqs = await sealed(rt, db)
    await tamper(db, "DELETE FROM audit_events WHERE seq = $1", seqs[3])
    result = await verdict(rt, db)
    assert (result.ok, result.first_bad_seq, result.problem) == (False, seqs[3], "missing")


async def test_an_event_deleted_with_its_link_is_found_missing(rt, api, db):
    await accesses(api, 6)
    seqs = await sealed(rt, db)
    await tamper(db, "DELETE FROM audit_events WHERE seq = $1", seqs[2])
    await tamper(db, "DELETE FROM audit_chain WHERE seq = $1", seqs[2])
    result = await verdict(rt, db)
    assert (result.first_bad_seq, result.problem) == (seqs[2], "missing")


async def test_swapped_events_are_found_reordered(rt, api, db):
    await accesses(api, 6)
    seqs = await sealed(rt, db)
    a, b = seqs[2], seqs[5]
    columns = "at, actor_sub, actor_name, actor_unit, actor_organisation, actor_domain, actor_roles, action, " \
              "client_id, document_id, consent_id, decision, basis, reason_codes, purpose, request_id, remote_addr, flagged"
    await tamper(db, f"""
        UPDATE audit_events t SET ({columns}) = (SELECT {columns} FROM audit_events s WHERE s.seq = CASE t.seq WHEN $1 THEN $2 ELSE $1 END)
        WHERE t.seq IN ($1, $2)""", a, b)
    result = await verdict(rt, db)
    assert (result.ok, result.first_bad_seq, result.problem) == (False, a, "reordered")


async def test_an_inserted_event_is_found(rt, api, db):
    await accesses(api, 5)
    seqs = await sealed(rt, db)
    # a gap in the numbers (a rolled-back transaction) is where a forger would slip an event in
    gap = seqs[2] + 1
    await tamper(db, "DELETE FROM audit_events WHERE seq = $1", gap)
    await tamper(db, "DELETE FROM audit_chain WHERE seq = $1", gap)
    # …the genuine event is gone; the chain skips to its successor: report it missing…
    assert (await verdict(rt, db)).problem == "missing"
    await tamper(db, """INSERT INTO audit_events (seq, actor_sub, actor_roles, action, decision, basis)
                        OVERRIDING SYSTEM VALUE VALUES ($1, 'forger', '{staff}', 'client.read', 'allow', 'own_zone')""", gap)
    result = await verdict(rt, db)
    assert (result.first_bad_seq, result.problem) == (gap, "inserted")


async def test_an_event_rewritten_with_a_matching_link_is_found(rt, api, db):
    """A forger who also writes a self-consistent link is caught by the next genuine link."""
    await accesses(api, 5)
    seqs = await sealed(rt, db)
    prev = await db.fetchrow("SELECT seq, hash FROM audit_chain WHERE seq = $1", seqs[1])
    values = (seqs[2], 0, "forger", None, None, None, None, ["staff"], "client.read", None, None, None,
              "allow", "own_zone", [], None, None, None, False)
    await tamper(db, "DELETE FROM audit_events WHERE seq = $1", seqs[2])
    await tamper(db, "DELETE FROM audit_chain WHERE seq = $1", seqs[2])
    await tamper(db, """INSERT INTO audit_events (seq, at, actor_sub, actor_roles, action, decision, basis)
                        OVERRIDING SYSTEM VALUE VALUES ($1, to_timestamp(0), 'forger', '{staff}', 'client.read', 'allow', 'own_zone')""",
                 seqs[2])
    await tamper(db, "INSERT INTO audit_chain (seq, prev_seq, prev_hash, hash) VALUES ($1, $2, $3, $4)",
                 seqs[2], prev["seq"], prev["hash"], link(bytes(prev["hash"]), values))
    result = await verdict(rt, db)
    assert (result.ok, result.first_bad_seq, result.problem) == (False, seqs[2], "modified")


async def test_a_removed_tail_is_found_by_the_signed_checkpoint(rt, api, db):
    await accesses(api, 5)
    seqs = await sealed(rt, db)
    checkpoint = await db.fetchval("SELECT max(seq) FROM audit_checkpoints")
    assert checkpoint == seqs[-1]
    await tamper(db, "DELETE FROM audit_events WHERE seq >= $1", seqs[-2])
    await tamper(db, "DELETE FROM audit_chain WHERE seq >= $1", seqs[-2])
    result = await verdict(rt, db)
    assert (result.ok, result.first_bad_seq, result.problem) == (False, seqs[-3] + 1, "truncated")


async def test_a_held_checkpoint_finds_a_removed_tail_without_signed_ones(rt, api, db):
    await accesses(api, 5)
    seqs = await sealed(rt, db)
    held = await db.fetchrow("SELECT seq, hash FROM audit_chain WHERE seq = $1", seqs[-1])
    await tamper(db, "DELETE FROM audit_checkpoints")
    assert (await verdict(rt, db, held=(held["seq"], bytes(held["hash"])))).ok
    await tamper(db, "DELETE FROM audit_events WHERE seq = $1", seqs[-1])
    await tamper(db, "DELETE FROM audit_chain WHERE seq = $1", seqs[-1])
    assert (await verdict(rt, db)).ok  # the chain alone cannot see it
    result = await verdict(rt, db, held=(held["seq"], bytes(held["hash"])))
    assert (result.ok, result.problem) == (False, "truncated")


async def test_a_forged_checkpoint_signature_is_found(rt, api, db):
    await accesses(api, 4)
    await sealed(rt, db)
    seq = await db.fetchval("SELECT max(seq) FROM audit_checkpoints")
    await tamper(db, "UPDATE audit_checkpoints SET signature = $1 WHERE seq = $2", bytes(64), seq)
    result = await verdict(rt, db)
    assert (result.ok, result.first_bad_seq, result.problem) == (False, seq, "bad_signature")


async def test_the_application_role_can_only_append_to_the_log(rt, database_url):
    conn = await asyncpg.connect(database_url, server_settings={"role": "brygga_app"})
    try:
        assert await conn.fetchval("SELECT current_user") == "brygga_app"
        for sql in ("UPDATE audit_events SET basis = 'x'", "DELETE FROM audit_events", "TRUNCATE audit_events",
                    "UPDATE audit_chain SET hash = hash", "DELETE FROM audit_checkpoints",
                    "ALTER TABLE audit_events DISABLE TRIGGER USER", "SET session_replication_role = replica"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
    finally:
        await conn.close()


async def test_the_service_pool_acts_as_the_application_role(rt):
    async with rt.pool.acquire() as conn:
        assert await conn.fetchval("SELECT current_user") == "brygga_app"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM audit_events")


async def test_the_owner_may_change_the_log_only_by_the_explicit_maintenance_path(rt, api, db):
    await accesses(api, 1)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.execute("DELETE FROM audit_events")  # even a superuser, with triggers on
    async with db.transaction():
        await db.execute("SET LOCAL brygga.audit_maintenance = 'on'")
        assert await db.execute("UPDATE audit_events SET purpose = purpose WHERE false") == "UPDATE 0"


async def test_the_sealer_never_passes_a_number_still_held_by_a_running_transaction(rt, api, db):
    """Event n is drawn first but commits last: n+1 must wait, or the chain would skip n for good."""
    await accesses(api, 1)
    await sealed(rt, db)
    caller = Caller(Principal(sub="slow", name=None, roles=frozenset({Role.STAFF}), unit="iof-norr",
                              zone=Zone("malmo-stad", "social")), request_id="r-slow", remote_addr=None)
    async with rt.pool.acquire() as slow:
        transaction = slow.transaction()
        await transaction.start()
        n = await audit.record(slow, Action.CLIENT_READ, caller=caller, decision=allow("own_zone"))
        async with rt.pool.acquire() as fast, fast.transaction():
            after = await audit.record(fast, Action.CLIENT_READ, caller=caller, decision=allow("own_zone"))
        assert after == n + 1
        await rt.chain_sealer.catch_up()
        head = await db.fetchval("SELECT max(seq) FROM audit_chain")
        assert head < n  # n+1 is committed, but n may still commit
        await transaction.commit()
    await rt.chain_sealer.catch_up()
    assert await db.fetchval("SELECT max(seq) FROM audit_chain") == n + 1
    assert (await verdict(rt, db)).ok


async def test_a_rolled_back_recording_leaves_a_gap_the_chain_steps_over(rt, api, db):
    await accesses(api, 1)
    caller = Caller(Principal(sub="x", name=None, roles=frozenset({Role.STAFF}), unit="iof-norr",
                              zone=Zone("malmo-stad", "social")), request_id="r", remote_addr=None)
    async with rt.pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                gap = await audit.record(conn, Action.CLIENT_READ, caller=caller, decision=allow("own_zone"))
                raise RuntimeError("the access failed")
    await accesses_more(api)
    seqs = await sealed(rt, db)
    assert gap not in seqs and max(seqs) > gap
    row = await db.fetchrow("SELECT prev_seq FROM audit_chain WHERE seq = (SELECT min(seq) FROM audit_chain WHERE seq > $1)", gap)
    assert row["prev_seq"] == gap - 1
    assert (await verdict(rt, db)).ok


async def accesses_more(api) -> None:
    headers = api.staff("iof-norr")
    response = await api.client.get("/v1/units", headers=headers)
    assert response.status == 200
    client = await api.register(headers, personal_number="19900101-0017", name="Second")
    assert client["id"]


async def test_hundreds_of_concurrent_accesses_one_event_each_all_sealed_live(settings, tokens, db):
    """With the background sealer running, 300 concurrent reads make 300 events in one unbroken chain."""
    from aiohttp.test_utils import TestClient, TestServer

    from service.app import create_app
    from tests.conftest import Api

    live = dataclasses.replace(settings, audit_seal_interval=0.05)
    async with TestClient(TestServer(create_app(live))) as client:
        api = Api(client, tokens)
        await api.unit("iof-norr")
        headers = api.staff("iof-norr")
        registered = await api.register(headers)
        await api.relation(headers, registered["id"])
        before = await db.fetchval("SELECT max(seq) FROM audit_events")

        async def read() -> int:
            response = await client.get(f"/v1/clients/{registered['id']}", headers=headers)
            return response.status

        statuses = await asyncio.gather(*(read() for _ in range(300)))
        assert statuses == [200] * 300
        rows = await db.fetch("SELECT seq, request_id FROM audit_events WHERE seq > $1 AND action = 'client.read'", before)
        assert len(rows) == 300 and len({row["request_id"] for row in rows}) == 300
        last = max(row["seq"] for row in rows)
        for _ in range(100):  # sealed within a second or two, no catch_up called
            if await db.fetchval("SELECT max(seq) FROM audit_chain") == last:
                break
            await asyncio.sleep(0.05)
        assert await db.fetchval("SELECT max(seq) FROM audit_chain") == last
        rt = client.server.app[RUNTIME]
        result = await verify_chain(db, rt.keyring.audit_public_keys)
        assert result.ok and result.head_seq == last
        assert result.checked == await db.fetchval("SELECT count(*) FROM audit_events")


async def test_one_sealer_at_a_time_and_a_new_one_resumes_the_chain_after_a_crash(rt, api, db, database_url):
    from service.audit_chain_sealer import AuditChainSealer
    from service.database import connect_options

    await accesses(api, 3)
    first_seqs = await sealed(rt, db)

    def another() -> AuditChainSealer:
        return AuditChainSealer(lambda: asyncpg.connect(database_url, **connect_options()), lambda: rt.keyring)

    standby = another()
    try:
        assert await standby._take_over() is False  # the app's sealer holds the lock
        with pytest.raises(RuntimeError, match="another sealer"):
            await another().catch_up()
        await rt.chain_sealer.close()  # the sealing replica dies; its session lock goes with it
        await accesses_more(api)
        assert await standby._take_over() is True
        assert await standby.catch_up() >= 1
    finally:
        await standby.close()
    seqs = [row["seq"] for row in await db.fetch("SELECT seq FROM audit_chain ORDER BY seq")]
    assert seqs[:len(first_seqs)] == first_seqs and seqs == [r["seq"] for r in await db.fetch("SELECT seq FROM audit_events ORDER BY seq")]
    assert (await verdict(rt, db)).ok


async def test_each_checkpoint_signs_the_one_before_across_sealers_and_one_changed_is_found(rt, api, db, database_url):
    """Format 2: a sealer's checkpoints each sign the digest of the one before (the first 32 zero bytes), and a
    sealer taking over goes on from the newest in the database; verification proves the run by its last signature,
    so a checkpoint changed in the middle (its time, a microsecond) must still be named at its seq."""
    from service.audit_chain_sealer import AuditChainSealer
    from service.database import connect_options

    def sealer() -> AuditChainSealer:
        return AuditChainSealer(lambda: asyncpg.connect(database_url, **connect_options()), lambda: rt.keyring,
                                checkpoint_events=3)

    await rt.chain_sealer.close()  # the app's sealer steps aside; two of our own seal in turn
    for more in (lambda: accesses(api, 8), lambda: db.execute("""
            INSERT INTO audit_events (actor_sub, actor_roles, action, decision, basis)
            SELECT 'bulk', '{staff}', 'client.read', 'allow', 'own_zone' FROM generate_series(1, 7)""")):
        await more()
        one = sealer()
        try:
            assert await one.catch_up() >= 3
        finally:
            await one.close()
    rows = await db.fetch("SELECT seq, hash, (EXTRACT(EPOCH FROM at) * 1000000)::bigint AS at_us, key_id, signature, "
                          "prev FROM audit_checkpoints ORDER BY seq")
    assert len(rows) >= 4
    prev = GENESIS
    for row in rows:
        assert bytes(row["prev"]) == prev
        checkpoint = Checkpoint(row["seq"], bytes(row["hash"]), row["at_us"], row["key_id"], bytes(row["signature"]),
                                bytes(row["prev"]))
        assert signature_holds(rt.keyring.audit_public_keys, checkpoint)
        prev = checkpoint_digest(checkpoint)
    assert (await verdict(rt, db)).ok
    middle = rows[len(rows) // 2]["seq"]
    await tamper(db, "UPDATE audit_checkpoints SET at = at + interval '1 microsecond' WHERE seq = $1", middle)
    result = await verdict(rt, db)
    assert (result.ok, result.problem, result.first_bad_seq) == (False, "bad_signature", middle)


async def test_a_sealer_taking_over_does_not_vouch_for_a_forged_newest_checkpoint(rt, api, db, database_url):
    """Found in review: a sealer taking over signed the digest of the newest checkpoint in the database unchecked,
    so after a rewrite the database's writer covered with checkpoints of any signature (their prevs chained), the
    next checkpoint vouched for them all and the log verified. It now begins a new run instead: named at the first
    forged one."""
    from service.audit_chain_sealer import AuditChainSealer
    from service.database import connect_options

    def sealer() -> AuditChainSealer:
        return AuditChainSealer(lambda: asyncpg.connect(database_url, **connect_options()), lambda: rt.keyring,
                                checkpoint_events=3)

    await rt.chain_sealer.close()
    await accesses(api, 8)
    one = sealer()
    try:
        await one.catch_up()
    finally:
        await one.close()
    rows = await db.fetch("SELECT seq, hash, (EXTRACT(EPOCH FROM at) * 1000000)::bigint AS at_us, key_id, signature, "
                          "prev FROM audit_checkpoints ORDER BY seq")
    assert len(rows) >= 3
    forged_from = rows[1]["seq"]
    prev = bytes(rows[0]["prev"])
    before = None
    for row in rows:  # from the second on: any signature, each prev the digest of the one before (a whole run)
        checkpoint = Checkpoint(row["seq"], bytes(row["hash"]), row["at_us"], row["key_id"], bytes(row["signature"]), prev)
        if before is not None:
            checkpoint = dataclasses.replace(checkpoint, prev=checkpoint_digest(before), signature=os.urandom(64))
            await tamper(db, "UPDATE audit_checkpoints SET signature = $1, prev = $2 WHERE seq = $3",
                         checkpoint.signature, checkpoint.prev, checkpoint.seq)
        before = checkpoint
    assert (await verdict(rt, db)).first_bad_seq == forged_from
    await db.execute("""
        INSERT INTO audit_events (actor_sub, actor_roles, action, decision, basis)
        SELECT 'bulk', '{staff}', 'client.read', 'allow', 'own_zone' FROM generate_series(1, 7)""")
    taking_over = sealer()
    try:
        assert await taking_over.catch_up() == 7
    finally:
        await taking_over.close()
    newest = await db.fetchrow("SELECT prev FROM audit_checkpoints WHERE seq > $1 ORDER BY seq LIMIT 1", rows[-1]["seq"])
    assert bytes(newest["prev"]) == GENESIS  # a new run, not one vouching for the forged
    result = await verdict(rt, db)
    assert (result.ok, result.problem, result.first_bad_seq) == (False, "bad_signature", forged_from)


async def test_rows_the_application_role_puts_ahead_of_the_sealer_neither_stall_it_nor_hold_off_its_checkpoints(
        rt, api, db, database_url):
    """Found in review: the application role can insert checkpoints. One at the seq of the sealer's next checkpoint
    failed its transaction (sealing stalled, again after each takeover), and one dated far ahead, taken as the
    newest on a takeover, put off the checkpoints each 10 s until that date. Now the sealer's row is left out where
    one stands (verification names that row) and an unchecked row's time is not believed."""
    from service.audit_chain_sealer import AuditChainSealer
    from service.database import connect_options

    def sealer(every: int) -> AuditChainSealer:
        return AuditChainSealer(lambda: asyncpg.connect(database_url, **connect_options()), lambda: rt.keyring,
                                checkpoint_events=every)

    async def as_the_application(seqs: list[int], at: str) -> None:
        async with rt.pool.acquire() as app:  # the application role, as the service's own connections
            for seq in seqs:
                await app.execute("INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES "
                                  f"($1, $2, '{at}', $3, $4)", seq, bytes(32), rt.keyring.audit_key_id, os.urandom(64))

    async def unsealed() -> list[int]:
        return [row["seq"] for row in await db.fetch(
            "SELECT seq FROM audit_events WHERE seq > coalesce((SELECT max(seq) FROM audit_chain), 0) ORDER BY seq")]

    await rt.chain_sealer.close()
    await accesses(api, 4)
    await as_the_application([(await unsealed())[-1] + 10**9], "2100-01-01")  # the newest, dated 2100
    one = sealer(1000)  # only the checkpoints each 10 s: due at once, not in 2100
    try:
        await one.catch_up()
    finally:
        await one.close()
    head = await db.fetchrow("SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
    row = await db.fetchrow("SELECT seq, hash, (EXTRACT(EPOCH FROM at) * 1000000)::bigint AS at_us, key_id, signature, "
                            "prev FROM audit_checkpoints WHERE seq = $1", head["seq"])
    assert row is not None and signature_holds(rt.keyring.audit_public_keys, Checkpoint(
        row["seq"], bytes(row["hash"]), row["at_us"], row["key_id"], bytes(row["signature"]), bytes(row["prev"])))

    await db.execute("""
        INSERT INTO audit_events (actor_sub, actor_roles, action, decision, basis)
        SELECT 'bulk', '{staff}', 'client.read', 'allow', 'own_zone' FROM generate_series(1, 5)""")
    ahead = await unsealed()
    await as_the_application(ahead, "now")  # a row at each seq the sealer could sign next
    two = sealer(2)
    try:
        assert await two.catch_up() == 5  # sealed, not stalled
    finally:
        await two.close()
    result = await verify_chain(db, rt.keyring.audit_public_keys)
    assert (result.ok, result.problem, result.first_bad_seq) == (False, "bad_signature", ahead[0])


async def test_a_key_replaced_under_its_id_does_not_vouch_for_the_old_keys_checkpoints(rt, api, db, database_url):
    """Found in review: the ring is read again while the service runs; a signing key replaced under the same id
    went on vouching (by the digest in memory) for checkpoints the new key does not verify, so a run proven by the
    new key's signature hid them. A checkpoint signed by another key than the one before begins a new run."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from service.audit_chain_sealer import AuditChainSealer
    from service.database import connect_options

    rings = [rt.keyring]
    one = AuditChainSealer(lambda: asyncpg.connect(database_url, **connect_options()), lambda: rings[-1],
                           checkpoint_events=2)
    await rt.chain_sealer.close()
    try:
        await accesses(api, 4)
        await one.catch_up()
        first, last = await db.fetchrow("SELECT min(seq), max(seq) FROM audit_checkpoints")
        rings.append(dataclasses.replace(rt.keyring, audit_signing_key=Ed25519PrivateKey.generate()))  # same id
        await db.execute("""
            INSERT INTO audit_events (actor_sub, actor_roles, action, decision, basis)
            SELECT 'bulk', '{staff}', 'client.read', 'allow', 'own_zone' FROM generate_series(1, 5)""")
        assert await one.catch_up() == 5
    finally:
        await one.close()
    after = await db.fetchrow("SELECT seq, prev FROM audit_checkpoints WHERE seq > $1 ORDER BY seq LIMIT 1", last)
    assert bytes(after["prev"]) == GENESIS  # the new key's first checkpoint begins a run
    replaced = rings[-1].audit_public_keys
    alone = await verify_chain(db, replaced)
    assert (alone.ok, alone.problem, alone.first_bad_seq) == (False, "bad_signature", first)


@pytest.mark.parametrize("unsealed", [False, True])
async def test_verification_tells_its_progress_up_to_the_verdicts_count(rt, api, db, unsealed):
    """`audit verify` prints how far it got (a large log takes minutes): verify_chain tells its count after each
    COPY of lines and each batch of the walk of values (unsealed events are walked by their values)."""
    await accesses(api, 6)
    await sealed(rt, db)
    if unsealed:
        await accesses_more(api)
    counts: list[int] = []
    result = await verify_chain(db, rt.keyring.audit_public_keys, progress=counts.append)
    assert result.ok and counts and counts == sorted(counts) and counts[-1] == result.checked
    assert result.checked == await db.fetchval("SELECT count(*) FROM audit_chain")


async def test_a_pooled_connection_comes_back_with_no_transaction_and_the_application_role(rt):
    """The pool skips the RESET query (service/database.py): what matters must still hold after a failure."""
    async with rt.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("SELECT 1")  # left open, as a handler that raised mid-way would
    async with rt.pool.acquire() as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT current_user") == "brygga_app"


# --- the later stretch in a worker process (domain/audit_stretches.py), joined where the chain before it ends

_COLUMNS = ("at, actor_sub, actor_name, actor_unit, actor_organisation, actor_domain, actor_roles, action, client_id, "
            "document_id, consent_id, decision, basis, reason_codes, purpose, request_id, remote_addr, flagged")


@pytest.mark.parametrize("damage", ["none", "modified", "deleted", "deleted_early", "swapped", "swapped_across", "cut_before",
                                    "first_link", "forged_checkpoint", "unsealed"])
async def test_the_later_stretch_checked_apart_gets_the_verdict_of_one_walk(rt, api, db, damage):
    """Damage in the stretch a worker process checks (a changed field, a deleted event, a swap, a forged
    checkpoint), at its first link, or just before it (the event its first link names, cut out): the verdict is
    the one walk's, because the stretch counts only where the chain before it ends at exactly its first link."""
    await accesses(api, 8)
    seqs = await sealed(rt, db)
    low = seqs[len(seqs) // 2]  # the worker checks the events after it
    later = [seq for seq in seqs if seq > low]
    if damage == "modified":
        await tamper(db, "UPDATE audit_events SET actor_name = 'Mallory' WHERE seq = $1", later[2])
    elif damage == "deleted":
        await tamper(db, "DELETE FROM audit_events WHERE seq = $1", later[2])
    elif damage == "deleted_early":  # its link stays, before the worker's stretch, which then is not joined
        await tamper(db, "DELETE FROM audit_events WHERE seq = $1", seqs[2])
    elif damage in ("swapped", "swapped_across"):
        a, b = (later[1], later[3]) if damage == "swapped" else (seqs[2], later[1])
        await tamper(db, f"""
            UPDATE audit_events t SET ({_COLUMNS}) = (SELECT {_COLUMNS} FROM audit_events s
                                                      WHERE s.seq = CASE t.seq WHEN $1 THEN $2 ELSE $1 END)
            WHERE t.seq IN ($1, $2)""", a, b)
    elif damage == "cut_before":
        await tamper(db, "DELETE FROM audit_events WHERE seq = $1", low)
        await tamper(db, "DELETE FROM audit_chain WHERE seq = $1", low)
    elif damage == "first_link":
        await tamper(db, "UPDATE audit_chain SET prev_hash = $1 WHERE seq = $2", bytes(32), later[0])
    elif damage == "forged_checkpoint":
        await tamper(db, "UPDATE audit_checkpoints SET signature = $1 WHERE seq = $2", bytes(64), seqs[-1])
    elif damage == "unsealed":
        await accesses(api, 1)
    one_walk = await verify_chain(db, rt.keyring.audit_public_keys)
    assert await in_stretches(rt, db, split=low) == one_walk
    expected = {"none": (None, None), "modified": ("modified", later[2]), "deleted": ("missing", later[2]),
                "deleted_early": ("missing", seqs[2]),
                "swapped": ("reordered", later[1]), "swapped_across": ("reordered", seqs[2]),
                "cut_before": ("missing", low), "first_link": ("modified", later[0]),
                "forged_checkpoint": ("bad_signature", seqs[-1]), "unsealed": (None, None)}[damage]
    assert (one_walk.problem, one_walk.first_bad_seq) == expected
    assert one_walk.checked == (len(seqs) if damage in ("none", "unsealed") else one_walk.checked)


async def test_the_worker_process_checks_its_stretch_and_it_is_joined(rt, api, db):
    """The worker is a process of its own (`python -m service.domain.audit_stretches`, arguments and answer
    pickled through its pipes) and its stretch counts: without this the verdicts above would agree even if no
    worker ever answered (the walk takes a failed worker's stretch). Where it cannot start its answer is None."""
    await accesses(api, 8)
    seqs = await sealed(rt, db)
    low = seqs[len(seqs) // 2]
    answers = []
    answer = audit_stretches._answer

    async def recorded(process, arguments, **bounds):
        answers.append((process.pid, await answer(process, arguments, **bounds)))
        return answers[-1][1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit_stretches, "_answer", recorded)
        verdict = await in_stretches(rt, db, split=low)
    assert verdict.ok and verdict.checked == len(seqs)
    [(pid, stretch)] = answers
    assert pid != os.getpid() and stretch is not None and stretch.intact
    assert stretch.head_seq == seqs[-1] and stretch.checked == len([seq for seq in seqs if seq > low])
    async def no_process(*args, **kwargs):
        raise OSError("no process to be had")

    with pytest.MonkeyPatch.context() as patch:  # a worker that cannot start: the walk alone, the same verdict
        patch.setattr(audit_stretches.asyncio, "create_subprocess_exec", no_process)
        assert await in_stretches(rt, db, split=low) == verdict
    answers.clear()
    with pytest.MonkeyPatch.context() as patch:  # one that fails (no database there): None, and the same verdict
        patch.setattr(audit_stretches, "_answer", recorded)
        patch.setattr(audit_stretches, "WORKER_FROM", 0)
        patch.setattr(audit_stretches, "split_point", at(low))
        gone = "postgresql://nobody@/nowhere?host=/nonexistent-brygga-socket"
        assert await verify_chain(db, rt.keyring.audit_public_keys, dsn=gone) == verdict
    assert [stretch for _, stretch in answers] == [None]


# --- the checkpoints a window at a time (domain/audit_windows.py)


async def signed_checkpoint(rt, db, seq: int, *, forged: bool = False) -> None:
    """A checkpoint at `seq` as the key signs one (its hash the link's there, else zeros), or a forged one, put in
    by the database's owner."""
    chain_hash = await db.fetchval("SELECT hash FROM audit_chain WHERE seq = $1", seq) or bytes(32)
    at = datetime.now(UTC)
    signature = bytes(64) if forged else sign_checkpoint(rt.keyring.audit_signing_key, rt.keyring.audit_key_id, seq,
                                                         chain_hash, micros(at), GENESIS)
    await tamper(db, "INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature, prev) "
                     "VALUES ($1, $2, $3, $4, $5, $6)", seq, chain_hash, at, rt.keyring.audit_key_id, signature, GENESIS)


@pytest.mark.parametrize("forged", [False, True], ids=["signed", "forged"])
@pytest.mark.parametrize("place", ["this process's stretch", "the worker's stretch", "both"])
async def test_a_checkpoint_naming_no_event_is_found_whichever_window_and_stretch_it_is_in(rt, api, db, place, forged):
    """A checkpoint at a seq no event has (a rolled-back recording's) is passed by the walk without being met: the
    window that held it is let go, and the verdict still names it (missing, or bad_signature when forged), as
    when every checkpoint was held at once; in the worker's stretch the worker's answer is not taken and the walk
    here finds it. Before one checkpoint after the head, after it the lowest counts."""
    await accesses(api, 4)
    caller = Caller(Principal(sub="x", name=None, roles=frozenset({Role.STAFF}), unit="iof-norr",
                              zone=Zone("malmo-stad", "social")), request_id="r", remote_addr=None)
    gaps = []
    for _ in range(2):
        async with rt.pool.acquire() as conn:
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    gaps.append(await audit.record(conn, Action.CLIENT_READ, caller=caller, decision=allow("own_zone")))
                    raise RuntimeError("the access failed")
        await accesses(api, 4)
    seqs = await sealed(rt, db)
    assert not set(gaps) & set(seqs)
    named = {"this process's stretch": gaps[:1], "the worker's stretch": gaps[1:], "both": gaps}[place]
    for gap in named:
        await signed_checkpoint(rt, db, gap, forged=forged)
    await signed_checkpoint(rt, db, seqs[-1] + 1000)  # beyond the head: a cut tail, but a lower one counts first
    one_walk = await verify_chain(db, rt.keyring.audit_public_keys)
    assert (one_walk.problem, one_walk.first_bad_seq) == ("bad_signature" if forged else "missing", named[0])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit_stretches, "LINES_AT_ONCE", 2)
        assert await verify_chain(db, rt.keyring.audit_public_keys) == one_walk
    split = max(seq for seq in seqs if seq < gaps[1])  # the worker checks from the second gap on
    assert await in_stretches(rt, db, split=split) == one_walk
    await tamper(db, "DELETE FROM audit_checkpoints WHERE seq = ANY($1)", named)
    beyond = await verify_chain(db, rt.keyring.audit_public_keys)
    assert (beyond.problem, beyond.first_bad_seq) == ("truncated", seqs[-1] + 1)
    assert await in_stretches(rt, db, split=split) == beyond
    await accesses_more(api)  # not sealed: the walk ends at the first of them, before the window that held it
    unsealed = await verify_chain(db, rt.keyring.audit_public_keys)
    assert (unsealed.problem, unsealed.first_bad_seq) == ("truncated", seqs[-1] + 1)
    assert await in_stretches(rt, db, split=split) == unsealed


@pytest.mark.parametrize("forged", [False, True], ids=["signed", "forged"])
async def test_a_checkpoint_in_numbers_no_event_has_is_found_with_the_worker_checking_after_it(rt, api, db, forged):
    """The walk steps over a run of numbers no event has (a month's roll skips many) without loading their
    window; a checkpoint there, with the worker's stretch beginning at or after it, was skipped when the worker's
    stretch was joined (found in review: the verdict was ok). It is found, as by one walk."""
    await accesses(api, 3)
    before = await sealed(rt, db)
    await db.execute("SELECT setval('audit_events_seq_seq', $1)", before[-1] + 1000)
    await accesses_more(api)
    seqs = await sealed(rt, db)
    inside = before[-1] + 500
    await signed_checkpoint(rt, db, inside, forged=forged)
    one_walk = await verify_chain(db, rt.keyring.audit_public_keys)
    assert (one_walk.problem, one_walk.first_bad_seq) == ("bad_signature" if forged else "missing", inside)
    for split in (inside, inside + 100, inside - 1):
        assert await in_stretches(rt, db, split=split) == one_walk, split
    assert seqs[-1] > before[-1] + 1000


async def test_an_event_at_the_largest_seq_gets_a_verdict_not_an_error(rt, api, db):
    """The owner adds a partition up to MAXVALUE and an event at 2^63 - 1: the walk's bound (the last seq + 1) no
    longer overflows a bigint (found in review; verification raised, before this change too)."""
    await accesses(api, 3)
    seqs = await sealed(rt, db)
    largest = (1 << 63) - 1
    await db.execute("CREATE TABLE audit_events_beyond PARTITION OF audit_events "
                     "FOR VALUES FROM (4611686018427387904) TO (MAXVALUE)")
    await tamper(db, "INSERT INTO audit_events (seq, actor_sub, actor_roles, action, decision, basis) OVERRIDING SYSTEM VALUE "
                     "VALUES ($1, 'owner', '{staff}', 'client.read', 'allow', 'own_zone')", largest)
    result = await verify_chain(db, rt.keyring.audit_public_keys)
    assert (result.ok, result.checked, result.head_seq) == (True, len(seqs), seqs[-1])  # an unsealed tail
    assert await in_stretches(rt, db, split=seqs[len(seqs) // 2]) == result
    await signed_checkpoint(rt, db, largest, forged=True)
    result = await verify_chain(db, rt.keyring.audit_public_keys)
    assert (result.problem, result.first_bad_seq) == ("bad_signature", largest)


async def test_a_held_checkpoint_at_seq_0_after_an_archive_anchor_holds(rt, api, db):
    """A held seq 0 (the API allows it) is before any anchor: met. Its mark was -0 among the checkpoints' seqs,
    which a window let go of (found in review: truncated at 0)."""
    await accesses(api, 4)
    seqs = await sealed(rt, db)
    at = datetime.now(UTC)
    anchor = seqs[1]
    chain_hash = await db.fetchval("SELECT hash FROM audit_chain WHERE seq = $1", anchor)
    signature = sign_checkpoint(rt.keyring.audit_signing_key, rt.keyring.audit_key_id, anchor, chain_hash, micros(at),
                                GENESIS)
    await tamper(db, "INSERT INTO audit_anchors (seq, hash, at, key_id, signature, prev, archived_before, events, "
                     "file_sha256) VALUES ($1, $2, $3, $4, $5, $6, $3, 2, $7)", anchor, chain_hash, at,
                 rt.keyring.audit_key_id, signature, GENESIS, bytes(32))
    await tamper(db, "DELETE FROM audit_events WHERE seq <= $1", anchor)
    result = await verify_chain(db, rt.keyring.audit_public_keys, held=(0, bytes(32)))
    assert result.ok and result.start_seq == anchor, result


async def test_verification_holds_a_window_of_checkpoints_not_the_log_s(rt, api, db):
    """A quiet service's log has a checkpoint each few events (millions a year): the walk holds those of the stretch
    it reads, never all."""
    await accesses(api, 40)
    seqs = await sealed(rt, db)
    have = {row["seq"] for row in await db.fetch("SELECT seq FROM audit_checkpoints")}
    for seq in seqs:
        if seq not in have:
            await signed_checkpoint(rt, db, seq)
    held = []
    window = ChainVerifier.window

    def recorded(self, checkpoints, *, below):
        window(self, checkpoints, below=below)
        held.append(len(self.checkpoints))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit_stretches, "LINES_AT_ONCE", 5)
        patch.setattr(ChainVerifier, "window", recorded)
        result = await verify_chain(db, rt.keyring.audit_public_keys)
    assert result.ok and result.checked == len(seqs) >= 40
    assert len(held) >= 8 and max(held) <= 5, held  # of one per event


# --- the walk as lines (store/audit_chain.py walk_lines): COPY's text, made the canonical bytes

_ODD_COLUMNS = ("actor_sub, actor_name, actor_unit, actor_organisation, actor_domain, actor_roles, action, client_id, "
                "document_id, consent_id, decision, basis, reason_codes, purpose, request_id, remote_addr, flagged")

# Values a line must write as canonical() does, or, where COPY's text cannot be JSON, write otherwise (and
# leave to the walk of values). `None` for a value: SQL NULL.
ODD_EVENTS = [
    # written as canonical() writes them
    dict(actor_name='Ann "the" Analyst', purpose="back\\slash", request_id="tab\there, newline\nthere, return\r"),
    dict(actor_name="\\N", actor_unit="null", purpose='"\\N"', request_id='["\\N"]', remote_addr='\\N"\\N"'),
    dict(actor_name="Åsa Öberg, 日本", basis="", purpose="\b\f", request_id="", actor_roles=[]),
    dict(actor_roles=["a", "b"], reason_codes=["x", "y", "z"]),
    dict(actor_roles=["a", "b", "c", "d"], reason_codes=['q"uote', "back\\slash", "", "\\N"]),
    dict(actor_roles=['a","b'], reason_codes=["\\N", "]"]),
    dict(actor_roles=["a", "b", "c", "d", "e", "f"], reason_codes=["", ""]),
    dict(actor_name=None, actor_unit=None, actor_organisation=None, actor_domain=None, basis=None, purpose=None,
         request_id=None, remote_addr=None, flagged=True),
    # not JSON as COPY writes them: the walk of values takes these events
    dict(actor_name="bell\x07", odd=True),
    dict(purpose="vertical\x0btab", odd=True),
    dict(actor_roles=["a\x01b"], odd=True),
    dict(actor_name="one\x01two", odd=True),
    dict(actor_roles=["staff", None], odd=True),
    dict(reason_codes=[None], odd=True),
]
_ODD_ARRAYS = {"'{{staff}}'": True, "'[0:0]={staff}'": True}  # written as SQL: a 2-dimensional array, bounds from 0
# Instants the line writes as microseconds since the epoch, as canonical() does: before the epoch, a leap day, either
# side of 2041 (the line computes them in floating point before it, exactly; in numeric after), far ahead.
ODD_INSTANTS = ["'1969-12-31 23:59:59.999999+00'", "'1970-01-01 00:00:00+00'", "'2000-02-29 12:34:56.789012+01'",
                "'2040-12-31 23:59:59.999999+00'", "'2041-01-01 00:00:00.000001+00'", "'2262-04-11 23:47:16.854775+00'",
                "'0001-01-01 00:00:00.000001+00'"]


async def insert_event(db, **values) -> int:
    """One event of a staff member, with `values` in place of the usual ones (`actor_roles` may be SQL text)."""
    row = dict(actor_sub="hsa-odd", actor_name="Odd", actor_unit="iof-norr", actor_organisation="malmo-stad",
               actor_domain="social", actor_roles=["staff"], action="client.read", client_id=None, document_id=None,
               consent_id=None, decision="allow", basis="own_zone", reason_codes=[], purpose="care",
               request_id="r-1", remote_addr="10.0.0.1", flagged=False)
    row.update({k: v for k, v in values.items() if k not in ("odd", "at")})
    roles = row.pop("actor_roles")
    names = [name for name in _ODD_COLUMNS.split(", ") if name != "actor_roles"]
    placeholders = [f"${i + 1}" for i in range(len(names))]
    args = list(row.values())
    if "at" in values:  # SQL text
        names.append("at")
        placeholders.append(values["at"])
    names.append("actor_roles")
    placeholders.append(roles if isinstance(roles, str) else f"${len(args) + 1}::text[]")
    args += [] if isinstance(roles, str) else [roles]
    return await db.fetchval(f"INSERT INTO audit_events ({', '.join(names)}) VALUES ({', '.join(placeholders)}) "
                             "RETURNING seq", *args)


async def lines_of(db) -> dict[int, bytes]:
    """Each event's bytes as the lines carry them, by seq."""
    found: dict[int, bytes] = {}

    def take(lines: list[bytes]) -> bool:
        for line in lines:
            seq, _, _, _, encoded = line.split(b'"', 4)
            found[int(seq)] = encoded
        return True

    async with db.transaction(isolation="repeatable_read", readonly=True):
        assert await chain_store.walk_lines(db, take, after=0, below=1 << 62)
    return found


async def test_the_lines_are_the_canonical_bytes_or_are_left_to_the_walk_of_values(rt, api, db):
    """Every value COPY writes as JSON comes out as canonical() writes it; the others make lines that cannot
    hash right (they hold a control character, or COPY's own escape), and the chain verifies all the same."""
    await accesses(api, 2)
    odd = {}
    for values in ODD_EVENTS:
        odd[await insert_event(db, **values)] = values.get("odd", False)
    for roles, is_odd in _ODD_ARRAYS.items():
        odd[await insert_event(db, actor_roles=roles)] = is_odd
    for at in ODD_INSTANTS:
        odd[await insert_event(db, at=at)] = False
    seqs = await sealed(rt, db)
    lines = await lines_of(db)
    assert sorted(lines) == seqs
    async with db.transaction(isolation="repeatable_read", readonly=True):
        walked = {row[0]: canonical(tuple(row[2:-3])) async for rows in chain_store.walk(db) for row in rows}
    differ = {seq for seq in seqs if lines[seq] != walked[seq]}
    assert differ == {seq for seq, is_odd in odd.items() if is_odd}, [lines[seq] for seq in differ]
    result = await verdict(rt, db)
    assert (result.ok, result.checked) == (True, len(seqs))


@pytest.mark.parametrize(("sealed_as", "changed_to"), [
    (dict(actor_name=None), dict(actor_name="\\N")), (dict(actor_name=None), dict(actor_name="null")),
    (dict(actor_name='a"b'), dict(actor_name='a\\"b')), (dict(actor_roles=["a", "b"]), dict(actor_roles=['a","b'])),
    (dict(reason_codes=[]), dict(reason_codes=[""])), (dict(reason_codes=["x"]), dict(reason_codes=["x", None])),
    (dict(actor_roles=["staff"]), dict(actor_roles="'{{staff}}'")),
    (dict(purpose="care"), dict(purpose="care\x01")),
    (dict(actor_roles=["a", "b"]), dict(actor_roles=["a\x01b"])),
    (dict(request_id="r-1"), dict(request_id="r-1\x02")), (dict(purpose="care"), dict(purpose="care\x03")),
], ids=["null to \\N", "null to 'null'", "quote to escaped quote", "two roles to one with a comma",
        "no reason to an empty one", "a null reason added", "roles 2-dimensional", "a control character",
        "two roles to one with the lines' joining character", "the lines' delimiter", "the lines' quote"])
async def test_a_change_an_encoding_might_hide_is_found(rt, api, db, sealed_as, changed_to):
    """Changes that a careless text encoding would write as the sealed bytes: the lines must not prove them."""
    await accesses(api, 2)
    target = await insert_event(db, **sealed_as)
    await insert_event(db)
    await sealed(rt, db)
    column, value = next(iter(changed_to.items()))
    sql = value if isinstance(value, str) and value.startswith("'") else "$1"
    await tamper(db, f"UPDATE audit_events SET {column} = {sql} WHERE seq = ${1 if sql != '$1' else 2}",
                 *([target] if sql != "$1" else [value, target]))
    result = await verdict(rt, db)
    assert (result.ok, result.first_bad_seq, result.problem) == (False, target, "modified")
