"""A year's indicator tables made ahead and shared (issue 17): stored in the database (migration indicator_tables),
read by a second app on the same database without making them again, made anew for a new threshold or new zones;
made by the background task once the year has ended plus BRYGGA_INDICATORS_FREEZE_DAYS, never before; and by
`python -m service indicators build`.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
import zlib
from datetime import date
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from service import indicator_schedule
from service.app import create_app
from service.domain import indicators
from service.http.context import RUNTIME
from service.runtime import Runtime
from service.store import indicator_tables as kept
from tests.integration.test_indicators import table, value, world  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[2]
STORED = "SELECT year, published, min_cell, frozen_at, zones_digest, cells FROM indicator_tables ORDER BY made_at"


def _no_making(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, making a year's tables fails: what is read must come from the database."""
    def refuse(*_: object) -> None:
        raise AssertionError("the tables were made again")
    monkeypatch.setattr(indicators, "_suppress", refuse)


async def test_a_second_app_reads_the_stored_tables_without_making_them(client, world, settings, db, monkeypatch):
    first = await table(client, world["analyst"], unit="iof", group_by="sex")
    assert value(first, "persons") == 7
    (row,) = await db.fetch(STORED)
    assert row["year"] == 2025 and row["min_cell"] == 5
    with pytest.raises(zlib.error):  # sealed: the database holds no readable table
        zlib.decompress(row["cells"])
    opened = indicators.open_stored(client.server.app[RUNTIME], row)
    stored = json.loads(zlib.decompress(opened))
    assert stored["suppressed"], "the one man at the clinic is suppressed somewhere"
    # No person is named and no suppressed cell's value is kept: cells are (period, scope, measure, sex, band).
    assert all(len(cell) == 5 for cell in stored["suppressed"]) and all(len(c) == 6 for c in stored["values"])
    text = zlib.decompress(opened).decode()
    for person in await db.fetch("SELECT id FROM clients"):
        assert str(person["id"]) not in text
    _no_making(monkeypatch)
    async with TestClient(TestServer(create_app(settings))) as second:
        assert not second.server.app[RUNTIME].indicator_tables
        assert (await table(second, world["analyst"], unit="iof", group_by="sex"))["cells"] == first["cells"]
        assert value(await table(second, world["analyst"], organisation="malmo-stad,region-skane"), "persons") is None
        month = await table(second, world["analyst"], period="2025-03", organisation="malmo-stad")
        assert value(month, "contacts_individual") == 7
    assert await db.fetchval("SELECT count(*) FROM indicator_tables") == 1
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'indicators.read'") == 4


async def test_a_year_is_published_once_whatever_the_threshold_or_the_units_later(client, world, settings, api, db,
                                                                                     monkeypatch):
    """A year's tables are made under the threshold and zones of its freeze: a stricter BRYGGA_MIN_CELL, a new unit
    of a new organisation or a unit moved later give no second publication to set against the first (insider attack
    13: the joint table's men under one threshold minus a month's under the other gave the clinic's one man)."""
    first = await table(client, world["analyst"], organisation="malmo-stad,region-skane", group_by="sex")
    pinned = await db.fetchrow("SELECT min_cell, zones FROM indicator_years WHERE year = 2025")
    assert pinned["min_cell"] == 5 and json.loads(pinned["zones"])["beroendecentrum"] == ["region-skane", "health"]
    _no_making(monkeypatch)
    async with TestClient(TestServer(create_app(dataclasses.replace(settings, min_cell=8)))) as stricter:
        again = await table(stricter, world["analyst"], organisation="malmo-stad,region-skane", group_by="sex")
        assert again["min_cell"] == 5 and again["cells"] == first["cells"]
        assert value(await table(stricter, world["analyst"], unit="iof"), "persons") == 7  # 7 < 8, published in 2025
    await api.unit("skola", organisation="annan-kommun", domain="social")  # a new unit of a new organisation
    assert (await table(client, world["analyst"], organisation="malmo-stad,region-skane", group_by="sex"))["cells"] \
        == first["cells"]
    manager = api.staff("skola", sub="chef-skola", roles=["unit_manager"])
    await table(client, manager, 404, unit="skola")  # not a unit of 2025's: no table of it
    assert [(r["year"], r["min_cell"]) for r in await db.fetch(STORED)] == [(2025, 5)]
    with pytest.raises(Exception, match="written once"):
        await db.execute("UPDATE indicator_years SET min_cell = 8 WHERE year = 2025")


async def test_a_year_frozen_before_its_threshold_was_kept_gets_it_pinned_once(client, world, db):
    """A row of before migration 0038 (no threshold, zones or seal) is pinned and sealed at its first use; the
    database role cannot write such a row itself (insider attack 13b: the service would have sealed an instant the
    role chose)."""
    async with client.server.app[RUNTIME].pool.acquire() as app_role:
        with pytest.raises(asyncpg.CheckViolationError):
            await app_role.execute("INSERT INTO indicator_years (year, frozen_at) VALUES (2025, now())")
    await db.execute("ALTER TABLE indicator_years DROP CONSTRAINT indicator_years_sealed")  # as before 0038
    await db.execute("INSERT INTO indicator_years (year, frozen_at) VALUES (2025, now())")
    await db.execute("ALTER TABLE indicator_years ADD CONSTRAINT indicator_years_sealed CHECK (seal IS NOT NULL) "
                     "NOT VALID")
    assert value(await table(client, world["analyst"], unit="iof"), "persons") == 7
    row = await db.fetchrow("SELECT min_cell, zones, seal FROM indicator_years WHERE year = 2025")
    assert row["min_cell"] == 5 and "iof" in json.loads(row["zones"]) and row["seal"]


async def test_a_frozen_year_is_judged_by_the_zones_of_its_freeze(client, world, db, tokens):
    """A unit moved to another organisation after the year's freeze still answers, for that year, to the
    organisation it counted under: the other organisation's analyst gets no table of it (insider attack 13b)."""
    assert value(await table(client, world["analyst"], unit="iof"), "persons") == 7
    await db.execute("UPDATE units SET organisation = 'region-skane', domain = 'health' WHERE id = 'iof'")
    skane = tokens.auth(sub="analytiker-skane", roles=["analyst"], organisations=["region-skane"])
    malmo = tokens.auth(sub="analytiker-malmo", roles=["analyst"], organisations=["malmo-stad"])
    assert (await table(client, skane, 403, unit="iof"))["code"] == "no_organisation"
    assert value(await table(client, malmo, unit="iof"), "persons") == 7
    assert value(await table(client, malmo, organisation="malmo-stad"), "persons") == 7


async def test_the_background_makes_a_year_after_the_delay_and_not_before(client, world, db, monkeypatch):
    rt = client.server.app[RUNTIME]
    assert rt.settings.indicators_freeze_days == 31
    monkeypatch.setattr(Runtime, "today", lambda self: date(2026, 1, 31))  # 30 days after 2025 ended
    assert await indicator_schedule.build_due(rt) == [2024]
    assert [r["year"] for r in await db.fetch("SELECT year FROM indicator_years")] == [2024]
    monkeypatch.setattr(Runtime, "today", lambda self: date(2026, 2, 1))
    assert await indicator_schedule.build_due(rt) == [2025]
    assert sorted(r["year"] for r in await db.fetch(STORED)) == [2024, 2025]
    assert await indicator_schedule.build_due(rt) == []  # made already
    rt.indicator_tables.clear()
    _no_making(monkeypatch)
    assert value(await table(client, world["analyst"], unit="iof"), "contacts_individual") == 7
    holder = await db.fetchval("SELECT pg_try_advisory_lock($1)", kept.BUILD_LOCK)
    assert holder
    try:
        assert await indicator_schedule.build_due(rt) is None  # another replica is making them
    finally:
        await db.execute("SELECT pg_advisory_unlock($1)", kept.BUILD_LOCK)
    # Making ahead is no read: no audit event but the analyst's read.
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'indicators.read'") == 1


def test_the_year_due_counts_the_delay_from_the_years_end():
    assert indicator_schedule.due_year(date(2026, 1, 31), 31) == 2024
    assert indicator_schedule.due_year(date(2026, 2, 1), 31) == 2025
    assert indicator_schedule.due_year(date(2026, 1, 1), 0) == 2025


async def test_the_command_line_builds_a_year(client, world, settings, database_url, db, monkeypatch):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BRYGGA_")},
           "DATABASE_URL": database_url, "BRYGGA_KEYRING": str(settings.keyring_path),
           "BRYGGA_DATA_DIR": str(settings.data_dir), "BRYGGA_JWKS": str(settings.jwks_path)}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "service", "indicators", "build", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    done = cli("--year", "2025")
    assert done.returncode == 0, done.stderr
    assert "made and stored" in done.stdout
    assert [r["year"] for r in await db.fetch(STORED)] == [2025]
    assert await db.fetchval("SELECT count(*) FROM indicator_years WHERE year = 2025") == 1
    again = cli("--year", "2025")
    assert again.returncode == 0 and "stored already" in again.stdout, again.stderr
    refused = cli("--year", str(date.today().year))
    assert refused.returncode == 2 and "has ended" in refused.stderr
    _no_making(monkeypatch)
    assert value(await table(client, world["analyst"], unit="iof"), "persons") == 7
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'indicators.read'") == 1


async def test_building_stores_tables_this_replica_only_kept_in_memory(client, world, db):
    """Tables gone from the database (a restore from before them) are stored again by the making, even where this
    replica still keeps them in memory."""
    assert value(await table(client, world["analyst"], unit="iof"), "persons") == 7
    await db.execute("DELETE FROM indicator_tables")
    rt = client.server.app[RUNTIME]
    assert rt.indicator_tables
    assert await indicators.build(rt, 2025) is True
    assert [r["year"] for r in await db.fetch(STORED)] == [2025]
    assert await indicators.build(rt, 2025) is False


async def test_recording_goes_on_while_the_making_reads_the_year(client, world, db, monkeypatch):
    """The making reads the year after its freeze has committed: a clinician recording a contact meanwhile is not
    held behind the freeze's SHARE lock for the whole read (a minute at 100,000 persons), and what they record after
    the freeze's instant is in no table of the year, though it is dated in it."""
    reading, go_on = asyncio.Event(), asyncio.Event()
    of_year = indicators.store.of_year

    async def held(*args: object, **kwargs: object) -> object:
        reading.set()
        await go_on.wait()
        return await of_year(*args, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(indicators.store, "of_year", held)
    making = asyncio.create_task(indicators.build(client.server.app[RUNTIME], 2025))
    await asyncio.wait_for(reading.wait(), 10)
    person = await db.fetchval("SELECT client_id FROM followup_records WHERE id = $1", uuid.UUID(world["contacts"][0]))
    try:
        recorded = await asyncio.wait_for(client.post(
            f"/v1/clients/{person}/contacts", headers=world["iof"], json={"on": "2025-03-20", "kind": "individual"}),
            10)
        assert recorded.status == 201, await recorded.text()
        frozen_at = await db.fetchval("SELECT frozen_at FROM indicator_years WHERE year = 2025")
        assert await db.fetchval("SELECT created_at FROM followup_records WHERE id = $1",
                                 uuid.UUID((await recorded.json())["id"])) > frozen_at
    finally:
        go_on.set()  # a write held behind the lock (the failure) goes on once the making has read
    assert await making is True
    _no_making(monkeypatch)
    assert value(await table(client, world["analyst"], period="2025-03", organisation="malmo-stad"),
                 "contacts_individual") == 7


async def test_a_read_waits_its_while_then_says_the_tables_are_being_made(client, world, settings, db, monkeypatch):
    """A year with no stored tables is made in a task of the replica's; a read waits BRYGGA_INDICATORS_WAIT seconds
    for it, then answers 503 indicators_being_made (Retry-After) while the making goes on; reads meanwhile join the
    same making, and the next read after it gets the table (a large year takes minutes: no request waits that long)."""
    made = []
    suppress = indicators._suppress

    def slow(*args: object) -> object:
        made.append(1)
        time.sleep(1.0)  # in the making's thread: a large year
        return suppress(*args)  # type: ignore[arg-type]
    monkeypatch.setattr(indicators, "_suppress", slow)
    async with TestClient(TestServer(create_app(dataclasses.replace(settings, indicators_wait=0.2)))) as impatient:
        for _ in range(2):
            response = await impatient.get("/v1/indicators", headers=world["analyst"],
                                           params={"period": "2025", "unit": "iof"})
            assert response.status == 503, await response.text()
            assert response.headers["Retry-After"] == "30"
            problem = await response.json()
            assert problem["code"] == "indicators_being_made" and "cells" not in problem
        rt = impatient.server.app[RUNTIME]
        (making,) = rt.indicator_builds.values()
        assert await making is True
        assert value(await table(impatient, world["analyst"], unit="iof"), "persons") == 7
    assert made == [1], "the reads joined one making"
    assert [r["year"] for r in await db.fetch(STORED)] == [2025]
    # Each read was decided and recorded before the wait: three allowed reads, the two answered 503 among them.
    assert [r["decision"] for r in await db.fetch(
        "SELECT decision FROM audit_events WHERE action = 'indicators.read' ORDER BY seq")] == ["allow"] * 3


async def test_a_failed_making_fails_its_reads_and_the_next_read_makes_again(client, world, settings, monkeypatch):
    suppress = indicators._suppress
    calls = []

    def once_broken(*args: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return suppress(*args)  # type: ignore[arg-type]
    monkeypatch.setattr(indicators, "_suppress", once_broken)
    response = await client.get("/v1/indicators", headers=world["analyst"], params={"period": "2025", "unit": "iof"})
    assert response.status == 500 and (await response.json())["code"] == "internal_error"
    assert not client.server.app[RUNTIME].indicator_builds
    assert value(await table(client, world["analyst"], unit="iof"), "persons") == 7
    assert len(calls) == 2


async def test_tables_or_a_freeze_the_database_role_wrote_itself_are_refused(client, world, settings, db, api):
    """The database role may insert rows (the service writes them), but not seal them: a planted freeze (a threshold
    of 1) or planted tables under the key a new unit gives are refused with 500 integrity_error, never published
    (insider attack 13, finding 3)."""
    planted = kept.encode(indicators.rules.Tables((), {(16, 0, "persons", "all", "all"): 1}, frozenset(), frozenset()))
    zones = {"iof": ("malmo-stad", "social"), "beroendecentrum": ("region-skane", "health")}
    await db.execute("INSERT INTO indicator_years (year, frozen_at, min_cell, zones, seal) "
                     "VALUES (2025, now(), 1, $1::text::jsonb, '\\x00')", json.dumps({u: list(z) for u, z in zones.items()}))
    response = await client.get("/v1/indicators", headers=world["analyst"], params={"period": "2025", "unit": "iof"})
    assert response.status == 500 and (await response.json())["code"] == "integrity_error"
    assert not await db.fetchval("SELECT count(*) FROM indicator_tables")
    await db.execute("DELETE FROM indicator_years")
    # A genuine freeze, then planted tables under its key (the stored row removed first: what a restore might do).
    assert value(await table(client, world["analyst"], unit="iof"), "persons") == 7
    (row,) = await db.fetch(STORED)
    await db.execute("DELETE FROM indicator_tables")
    await db.execute("INSERT INTO indicator_tables (year, published, min_cell, frozen_at, zones_digest, cells) "
                     "VALUES ($1, $2, $3, $4, $5, $6)", row["year"], row["published"], row["min_cell"],
                     row["frozen_at"], row["zones_digest"], planted)
    async with TestClient(TestServer(create_app(settings))) as second:
        response = await second.get("/v1/indicators", headers=world["analyst"], params={"period": "2025", "unit": "iof"})
        assert response.status == 500 and (await response.json())["code"] == "integrity_error"


async def test_a_read_before_the_year_is_due_is_refused_and_freezes_nothing(client, world, db, monkeypatch):
    """Before the year's end plus BRYGGA_INDICATORS_FREEZE_DAYS a read is 422 period_not_closed and freezes nothing,
    so December's late entries still count (insider attack 13, finding 4); a year made early by hand may be read."""
    monkeypatch.setattr(Runtime, "today", lambda self: date(2026, 1, 2))
    response = await client.get("/v1/indicators", headers=world["analyst"], params={"period": "2025", "unit": "iof"})
    assert response.status == 422, await response.text()
    problem = await response.json()
    assert problem["code"] == "period_not_closed" and "2026-02-01" in problem["detail"]
    assert not await db.fetchval("SELECT count(*) FROM indicator_years")
    # The access decision comes first: another unit's manager is refused as ever; both denials are audited.
    other = await client.get("/v1/indicators", headers=world["manager"], params={"period": "2025", "unit": "beroendecentrum"})
    assert other.status == 403, await other.text()
    assert [(r["decision"], r["reason_codes"][0]) for r in await db.fetch(
        "SELECT decision, reason_codes FROM audit_events WHERE action = 'indicators.read' ORDER BY seq")] == [
        ("deny", "period_not_due"), ("deny", "not_owning_unit")]
    assert await indicators.build(client.server.app[RUNTIME], 2025) is True  # `indicators build` early: the operator's
    assert value(await table(client, world["analyst"], unit="iof"), "persons") == 7
