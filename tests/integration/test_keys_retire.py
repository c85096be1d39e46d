"""Retiring a KEK (issue 15): `keys reseal` seals every field again under the newest KEK through the owner's
maintenance path, `keys status` then shows the old version empty, and `keys retire` removes it from the ring;
the service still reads everything. Refused while anything needs the version; the app role cannot take the path.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from crypto import FieldSealer, FileKeyProvider
from service.app import create_app
from service.database import OWNER_ROLE, connect_options, with_user
from service.domain import keys as keys_domain
from service.store.keys import SEALED, TABLE_KEYS
from tests import files
from tests.conftest import Api
from tests.integration.test_consents import consent_body
from tests.integration.test_database_roles import _superuser

ROOT = Path(__file__).resolve().parents[2]
SOCIAL = {"organisation": "malmo-stad", "domain": "social"}
HEALTH = {"organisation": "region-skane", "domain": "health"}
REASON = "Medvetslös patient, akut behov av uppgifter om medicinering"
GUARDIAN = {"name": "Vera Vårdnadshavare", "personal_number": "19121212-1212"}
BASIS = "Samtal med eleven och skolkurator; förstår vad samtycket innebär."


def _keys(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", "keys", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
async def ring_service(settings, tmp_path, signing_keys, database_url):
    """The service on a key ring of its own (rotated and retired by the test), and the CLI's environment."""
    ring = tmp_path / "ring.json"
    shutil.copy(signing_keys.keyring_path, ring)
    ring.chmod(0o600)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("BRYGGA_", "DATABASE_URL"))},
           "DATABASE_URL": database_url, "BRYGGA_KEYRING": str(ring), "BRYGGA_DATA_DIR": str(tmp_path),
           "BRYGGA_LOG_LEVEL": "WARNING"}
    async with TestClient(TestServer(create_app(replace(settings, keyring_path=ring)))) as client:
        yield client, ring, env


async def _ok(response, status=(200, 201)) -> dict:
    assert response.status in status, await response.text()
    return await response.json()


async def seal_everything(client, api: Api, tokens) -> dict:
    """Through the API, something in (nearly) every sealed column: a minor's name and number, a relation's reason,
    titles, a block's and a shred's reason, a disclosure's need, a guardian's consent (guardian, note, revocation),
    a minor's own consent on a maturity assessment, an emergency access and an emergency block lifting, reviewed, and
    a patient record shredded on an IVO decision."""
    await api.unit("iof", **SOCIAL)
    await api.unit("clinic", **HEALTH)
    iof, clinic = api.staff("iof", sub="hsa-iof"), api.staff("clinic", sub="hsa-clinic")
    manager = api.staff("iof", sub="hsa-iof-chef", roles=["unit_manager"])
    auditor = tokens.auth(sub="granskare", roles=["auditor"], organisations=["region-skane"])
    minor = (await api.register(iof, "20121212-1212", "Ung Person"))["id"]
    await _ok(await client.post(f"/v1/clients/{minor}/relations", headers=iof, json={"reason": "Utredning enligt SoL"}))
    await api.relation(clinic, minor)
    docs = {}
    for category in ("statement", "journal_note", "assessment"):
        docs[category] = await _ok(await client.post(f"/v1/clients/{minor}/documents", headers=iof,
                                                     data=files.upload(category, f"Titel {category}")))
    await _ok(await client.post(f"/v1/documents/{docs['assessment']['id']}/block", headers=iof,
                                json={"reason": "klientens begäran"}))
    shred = await client.delete(f"/v1/documents/{docs['journal_note']['id']}", headers=manager,
                                json={"reason": "fel klient"})
    assert shred.status == 204, await shred.text()
    record = await _ok(await client.post(f"/v1/clients/{minor}/documents", headers=clinic,
                                         data=files.upload("journal_note", "Journalanteckning")))
    shred = await client.delete(f"/v1/documents/{record['id']}", json={"reason": "fel patient", "ivo_decision": "IVO 1/2026"},
                                headers=api.staff("clinic", sub="hsa-clinic-chef", roles=["unit_manager"]))
    assert shred.status == 204, await shred.text()
    # A correction (issue 22): the old version's title and the reason sealed to the version, its key kept.
    correction = aiohttp.FormData()
    correction.add_field("metadata", json.dumps({"reason": "Fel datum i utlåtandet", "title": "Titel statement, rättad"}),
                         content_type="application/json")
    correction.add_field("file", files.pdf(), filename="doc.pdf", content_type="application/pdf")
    await _ok(await client.post(f"/v1/documents/{docs['statement']['id']}/corrections", headers=iof, data=correction))
    await _ok(await client.post(f"/v1/clients/{minor}/disclosures", headers=iof, json={
        "to_unit": "clinic", "ground": "under_18", "need": "Behövs för att planera vården.",
        "document_ids": [docs["statement"]["id"]]}))
    guardians = await _ok(await client.post(f"/v1/clients/{minor}/consents", headers=iof, json=consent_body(
        given_by="guardian", guardian=GUARDIAN, note="Samtycke vid SIP-möte")))
    await _ok(await client.post(f"/v1/consents/{guardians['id']}/revoke", headers=iof, json={"reason": "återkallat"}))
    own = await _ok(await client.post(f"/v1/clients/{minor}/consents", headers=iof, json=consent_body(
        maturity={"assessed_by": "Kurator Karin", "assessed_at": date.today().isoformat(), "basis": BASIS})))
    grant = await _ok(await client.post(f"/v1/clients/{minor}/emergency-access", headers=clinic, json={"reason": REASON}))
    lifting = await _ok(await client.post(f"/v1/clients/{minor}/block-liftings", headers=clinic, json={
        "basis": "emergency", "scope": "self", "hours": 4, "reason": REASON, "form": None}))
    for grant_id in (grant["id"], lifting["id"]):
        await _ok(await client.post(f"/v1/audit/emergency-reviews/{grant_id}", headers=auditor,
                                    json={"verdict": "justified", "comment": "Styrkt i journalen"}))
    # A SIP plan of one zone (no consent needed): its title, two versions' contents and a follow-up's summary.
    await api.unit("iof-jour", **SOCIAL)
    await api.relation(api.staff("iof-jour"), minor)
    body = {"title": "SIP för Ung Person", "start_date": date.today().isoformat(),
            "participants": [{"unit": "iof"}, {"unit": "iof-jour"}], "responsible_unit": "iof",
            "efforts": [{"text": "Samtalsstöd", "provided_by_unit": "iof"}], "no_measures_by_others": True,
            "next_follow_up": (date.today() + timedelta(days=30)).isoformat()}
    plan = await _ok(await client.post(f"/v1/clients/{minor}/sip-plans", headers=iof, json=body))
    await _ok(await client.put(f"/v1/sip-plans/{plan['id']}", headers={**iof, "If-Match": '"1"'},
                               json={**body, "title": "SIP för Ung Person, reviderad"}))
    await _ok(await client.post(f"/v1/sip-plans/{plan['id']}/follow-ups", headers=iof,
                                json={"held_on": date.today().isoformat(), "summary": "Stödet fungerar."}))
    # A follow-up contact voided: its reason (issue 17).
    contact = await _ok(await client.post(f"/v1/clients/{minor}/contacts", headers=iof,
                                          json={"on": date.today().isoformat(), "kind": "individual"}))
    await _ok(await client.post(f"/v1/contacts/{contact['id']}/void", headers=iof, json={"reason": "Fel datum"}))
    return {"iof": iof, "clinic": clinic, "auditor": auditor, "minor": minor, "docs": docs, "record": record["id"],
            "consents": [guardians["id"], own["id"]], "plan": plan["id"]}


async def read_everything(client, world: dict) -> dict:
    """What the service shows of the sealed fields, over HTTP, and the content of the active documents."""
    iof, minor = world["iof"], world["minor"]
    shown: dict = {"client": (await _ok(await client.get(f"/v1/clients/{minor}", headers=iof)))["name"]}
    relations = await _ok(await client.get(f"/v1/clients/{minor}/relations", headers=iof))
    shown["relations"] = sorted(str(r["reason"]) for r in relations["items"])
    shown["titles"] = [(await _ok(await client.get(f"/v1/documents/{d['id']}", headers=iof)))["title"]
                       for d in world["docs"].values()]
    for name in ("statement", "assessment"):
        content = await client.get(f"/v1/documents/{world['docs'][name]['id']}/content", headers=iof)
        assert content.status == 200 and (await content.read()).startswith(b"%PDF")
    statement = world["docs"]["statement"]["id"]
    history = await _ok(await client.get(f"/v1/documents/{statement}/versions", headers=iof))
    shown["versions"] = [(v["title"], v["reason"]) for v in history["items"]]
    old = await client.get(f"/v1/documents/{statement}/versions/1/content", headers=iof)
    assert old.status == 200 and (await old.read()).startswith(b"%PDF")
    tombstone = await _ok(await client.get(f"/v1/documents/{world['record']}", headers=world["clinic"]))
    shown["tombstone"] = (tombstone["title"], tombstone["ivo_decision"])
    disclosures = await _ok(await client.get(f"/v1/clients/{minor}/disclosures", headers=iof))
    shown["needs"] = [d["need"] for d in disclosures["items"]]
    consents = [await _ok(await client.get(f"/v1/consents/{c}", headers=iof)) for c in world["consents"]]
    shown["consents"] = [(c["note"], c["guardian"], c["maturity"]) for c in consents]
    queue = await _ok(await client.get("/v1/audit/emergency-reviews?status=reviewed", headers=world["auditor"]))
    shown["reviews"] = sorted((g["kind"], g["reason"], g["review"]["comment"]) for g in queue["items"])
    plan = await _ok(await client.get(f"/v1/sip-plans/{world['plan']}", headers=iof))
    versions = await _ok(await client.get(f"/v1/sip-plans/{world['plan']}/versions", headers=iof))
    shown["sip"] = (plan["title"], [f["summary"] for f in plan["follow_ups"]],
                    [v["content"]["title"] for v in versions["items"]])
    contacts = await _ok(await client.get(f"/v1/clients/{minor}/contacts", headers=iof))
    shown["voided"] = [c["void_reason"] for c in contacts["items"]]
    assert shown["voided"] == ["Fel datum"]
    return shown


async def sealed_versions(db) -> dict[int, int]:
    """Fields by the KEK version that sealed them, counted here apart from service/store/keys.py."""
    counts: dict[int, int] = {}
    for sealed in SEALED:
        for row in await db.fetch(f"SELECT {sealed.column} AS v FROM {sealed.table} WHERE {sealed.column} IS NOT NULL"):
            version = int.from_bytes(bytes(row["v"])[1:5], "big")
            counts[version] = counts.get(version, 0) + 1
    return counts


async def test_rotate_reseal_rewrap_retire_and_everything_still_reads(ring_service, tokens, db):
    client, ring, env = ring_service
    world = await seal_everything(client, Api(client, tokens), tokens)
    before = await read_everything(client, world)
    assert before["needs"] and before["reviews"] and before["consents"][0][1]["name"] == GUARDIAN["name"]
    assert before["tombstone"] == ("Journalanteckning", "IVO 1/2026")
    assert before["versions"] == [("Titel statement", "Fel datum i utlåtandet"), ("Titel statement, rättad", None)]
    sealed_v1 = (await sealed_versions(db))[1]
    assert set(await sealed_versions(db)) == {1}
    holding = {s.table for s in SEALED if await db.fetchval(f"SELECT count(*) FROM {s.table} WHERE {s.column} IS NOT NULL")}
    assert set(TABLE_KEYS) - {"ui_sessions"} <= holding  # every table with seals but the web sessions'
    assert all([await db.fetchval(f"SELECT count(*) FROM documents WHERE {s.column} IS NOT NULL")
                for s in SEALED if s.table == "documents"])

    assert _keys("rotate", env=env).returncode == 0
    await asyncio.sleep(1.1)  # the service re-reads a changed ring at most once a second
    refused = _keys("retire", "1", env=env)
    # Two active documents and the one superseded version of the corrected statement (issue 22)
    assert refused.returncode == 2 and "KEK version 1 still wraps 3 data keys and seals" in refused.stderr, refused.stderr
    assert _keys("rewrap", env=env).returncode == 0
    refused = _keys("retire", "1", env=env)  # the data keys moved; the sealed fields still need version 1
    assert refused.returncode == 2
    assert f"still wraps 0 data keys and seals {sealed_v1} fields" in refused.stderr
    assert "keys reseal" in refused.stderr

    resealed = _keys("reseal", "--batch", "2", env=env)
    assert resealed.returncode == 0, resealed.stderr
    assert f"resealed {sealed_v1}/{sealed_v1}" in resealed.stdout and "resealed 2/" in resealed.stdout  # batch by batch
    assert f"done: {sealed_v1} fields now sealed under KEK version 2" in resealed.stdout
    assert await sealed_versions(db) == {2: sealed_v1}
    status = _keys("status", env=env)
    assert "KEK version 1: 0 data keys, 0 sealed fields  (nothing under it: `keys retire 1` removes it)" in status.stdout
    assert _keys("reseal", env=env).stdout.startswith("done: 0 fields")  # resumable: nothing left

    retired = _keys("retire", "1", env=env)
    assert retired.returncode == 0, retired.stderr
    assert "in any backup" in retired.stdout
    document = json.loads(ring.read_text())
    assert [k["version"] for k in document["keks"]] == [2] and stat.S_IMODE(ring.stat().st_mode) == 0o600
    assert "KEK version 1" not in _keys("status", env=env).stdout
    await asyncio.sleep(1.1)
    assert await read_everything(client, world) == before  # the service, on the ring without version 1

    for version, why in (("2", "is the newest"), ("1", "is not in the ring"), ("7", "is not in the ring")):
        refused = _keys("retire", version, env=env)
        assert refused.returncode == 2 and why in refused.stderr, refused.stderr
    assert [k["version"] for k in json.loads(ring.read_text())["keks"]] == [2]


class Interrupted(Exception):
    pass


async def test_reseal_is_resumable_after_an_interruption_between_batches(ring_service, tokens, db, database_url):
    client, ring, env = ring_service
    world = await seal_everything(client, Api(client, tokens), tokens)
    before = await read_everything(client, world)
    FileKeyProvider(ring).rotate()
    keyring = FileKeyProvider(ring).load()
    total = (await sealed_versions(db))[1]
    seen: list[int] = []

    def stop_after_two_batches(done: int, _: int) -> None:
        seen.append(done)
        if len(seen) == 2:
            raise Interrupted

    owner = await asyncpg.connect(database_url, **connect_options(OWNER_ROLE))
    try:
        with pytest.raises(Interrupted):
            await keys_domain.reseal_all(owner, keyring, batch=1, progress=stop_after_two_batches)
    finally:
        await owner.close()
    versions = await sealed_versions(db)
    assert versions == {2: seen[-1], 1: total - seen[-1]} and 0 < seen[-1] < total  # two batches, whole
    await asyncio.sleep(1.1)
    assert await read_everything(client, world) == before  # half old, half new: everything opens

    resumed = _keys("reseal", "--batch", "3", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"done: {total - seen[-1]} fields now sealed" in resumed.stdout
    assert await sealed_versions(db) == {2: total}
    assert await read_everything(client, world) == before


async def _consent_note(db, sealer: FieldSealer) -> tuple[uuid.UUID, bytes, bytes]:
    """A consent's id, its note as sealed by version 1, and the same note sealed again by the ring's newest."""
    row = await db.fetchrow("SELECT id, note_sealed FROM consents WHERE note_sealed IS NOT NULL LIMIT 1")
    bound = {"record": "consent", "record_id": str(row["id"]), "field": "note"}
    return row["id"], bytes(row["note_sealed"]), sealer.seal(sealer.open(bytes(row["note_sealed"]), **bound), **bound)


async def _try(conn, *statements: tuple) -> None:
    async with conn.transaction():
        await conn.execute("SELECT set_config('brygga.reseal', 'on', true)")
        for statement in statements:
            await conn.execute(*statement)


async def test_only_the_owner_takes_the_maintenance_path_and_only_to_reseal(
        ring_service, tokens, db, database_url, pg_server_dsn):
    client, ring, _ = ring_service
    await seal_everything(client, Api(client, tokens), tokens)
    FileKeyProvider(ring).rotate()
    sealer = FieldSealer(FileKeyProvider(ring).load())
    consent_id, old, new = await _consent_note(db, sealer)
    reseal = ("UPDATE consents SET note_sealed = $2 WHERE id = $1", consent_id, new)

    # The application role: as the service connects (a login with more rights, acting as brygga_app), and as a
    # login that holds brygga_app only. The setting is theirs to set; the path stays shut.
    name = f"svc_{uuid.uuid4().hex[:8]}"
    await _superuser(pg_server_dsn, f"CREATE ROLE {name} LOGIN IN ROLE brygga_app")
    for app in (await asyncpg.connect(database_url, **connect_options()), await asyncpg.connect(with_user(database_url, name))):
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="never edited"):
                await _try(app, reseal)
            for table, column in (("emergency_reviews", "comment_sealed"), ("disclosures", "need_sealed")):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):  # no UPDATE right at all
                    await _try(app, (f"UPDATE {table} SET {column} = {column}",))
            if await app.fetchval("SELECT session_user = current_user"):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await app.execute(f"SET ROLE {OWNER_ROLE}")
        finally:
            await app.close()
    assert bytes(await db.fetchval("SELECT note_sealed FROM consents WHERE id = $1", consent_id)) == old

    owner = await asyncpg.connect(database_url, **connect_options(OWNER_ROLE))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # without the setting: refused as ever
            async with owner.transaction():
                await owner.execute(*reseal)
        refused = [
            ("UPDATE consents SET note_sealed = $2, categories = '{\"*\"}' WHERE id = $1", consent_id, new),  # more
            ("UPDATE consents SET note_sealed = $2 WHERE id = $1", consent_id, new + b"x"),  # another length
            ("UPDATE consents SET note_sealed = $2 WHERE id = $1", consent_id, old[:5] + new[5:]),  # not newer
            ("UPDATE consents SET note_sealed = NULL WHERE id = $1", consent_id),  # gone
            ("UPDATE consents SET note_sealed = note_sealed WHERE id = $1", consent_id),  # nothing resealed
            ("DELETE FROM consents WHERE id = $1", consent_id),
            ("UPDATE audit_events SET action = 'x' WHERE seq = (SELECT min(seq) FROM audit_events)",),
            ("DELETE FROM emergency_reviews",),
        ]
        for statement in refused:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await _try(owner, statement)
        await owner.execute("SET bytea_output = 'escape'")  # the trigger reads the bytes whatever the session shows
        await _try(owner, reseal)
    finally:
        await owner.close()
    stored = bytes(await db.fetchval("SELECT note_sealed FROM consents WHERE id = $1", consent_id))
    assert stored == new and sealer.open_text(stored, record="consent", record_id=str(consent_id), field="note")
