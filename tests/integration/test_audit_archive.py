"""`audit archive` (#15): months older than BRYGGA_AUDIT_KEEP_YEARS out to a file that verifies on its own, their
partitions dropped, the chain going on from a signed anchor; each refusal changes nothing; a kill -9 at any point
leaves nothing half done.

The installation here began in March 2019 (its first partition is that month's, as the migration would have made
it then), kept events in March and April 2019, and has this month's: the sealer rolled the numbering into each.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from crypto import checkpoint_signatures
from service.audit_file import _checkpoint as _file_checkpoint
from service.http.context import RUNTIME
from tests.integration.test_audit_chain import accesses

ROOT = Path(__file__).resolve().parents[2]
OLD_EVENTS = 20_000  # a month; enough that the export and its check take a moment (the kill test)

_OLD_SQL = """
INSERT INTO audit_events (at, actor_sub, actor_name, actor_unit, actor_organisation, actor_domain, actor_roles,
                          action, client_id, decision, basis, reason_codes, purpose, request_id, remote_addr)
SELECT $1::timestamptz + i * interval '1 minute', 'hsa-' || i % 97, 'Staff ' || i % 97, 'iof-norr', 'malmo-stad',
       'social', ARRAY['staff'], 'client.read', md5('c' || i % 500)::uuid, 'allow', 'own_zone', ARRAY[]::text[],
       'care', md5(i::text), '10.0.0.' || i % 200
FROM generate_series(1, $2) AS i
"""


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", "audit", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


async def _detached(db) -> list[str]:
    """Months an archive detached from the log and has not dropped yet."""
    return [row["relname"] for row in await db.fetch(
        "SELECT relname FROM pg_class WHERE relname LIKE 'archived\\_%' ORDER BY relname")]


async def _partitions(db) -> list[str]:
    return [row["relname"] for row in await db.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'audit_events'::regclass ORDER BY c.relname")]


async def _state(db) -> tuple:
    """What an archive changes: events (but its own audit.archive, recorded before it starts), links, anchors,
    partitions."""
    return (await db.fetchval("SELECT count(*) FROM audit_events WHERE action <> 'audit.archive'"),
            await db.fetchval("SELECT count(*) FROM audit_chain"),
            await db.fetchval("SELECT count(*) FROM audit_anchors"), await _partitions(db))


@pytest.fixture
async def installed(client, api, db, database_url, signing_keys, tmp_path, tokens):
    """The log described above, sealed; the CLI's environment."""
    assert await _partitions(db) == [f"audit_events_{datetime.now(UTC):%Y_%m}"]
    assert not await db.fetchval("SELECT count(*) FROM audit_events")
    await db.execute(f"DROP TABLE audit_events_{datetime.now(UTC):%Y_%m}")
    await db.execute("CREATE TABLE audit_events_2019_03 PARTITION OF audit_events FOR VALUES FROM (MINVALUE) TO (68719476736)")
    await db.execute("ALTER TABLE audit_events_2019_03 OWNER TO brygga_owner")
    await db.execute("SELECT audit_events_partition_made('audit_events_2019_03')")
    await db.execute(_OLD_SQL, datetime(2019, 3, 1, tzinfo=UTC), OLD_EVENTS)
    # one whose lines cannot be its canonical bytes (a control character, a null role): archived by its values
    await db.execute("INSERT INTO audit_events (at, actor_sub, actor_name, actor_roles, action, decision) "
                     "VALUES ('2019-03-31 12:00+00', 'hsa-odd', E'bell\x07', ARRAY['staff', NULL], 'client.read', 'allow')")
    assert await db.fetchval("SELECT audit_events_roll('2019-04-01')")
    await db.execute(_OLD_SQL, datetime(2019, 4, 1, tzinfo=UTC), OLD_EVENTS)
    sealer = client.server.app[RUNTIME].chain_sealer
    await sealer.catch_up()  # it rolls the numbering into this month when it takes over
    await accesses(api, 3)
    await sealer.catch_up()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRYGGA_", "DATABASE_URL"))}
    env.update(DATABASE_URL=database_url, BRYGGA_KEYRING=str(signing_keys.keyring_path), BRYGGA_DATA_DIR=str(tmp_path),
               BRYGGA_LOG_LEVEL="WARNING")
    return env


@pytest.mark.parametrize(("before", "keep", "field", "says"), [
    ("2019-05-15", None, "--before", "not the first of a month"),
    ("2019-5-1", None, "--before", "not a date"),
    (f"{datetime.now(UTC).year + 1}-01-01", None, "--before", "in the future"),
    (f"{datetime.now(UTC).year - 2}-01-01", None, "--before", "younger than BRYGGA_AUDIT_KEEP_YEARS=5"),
    ("2019-05-01", "8", "--before", "younger than BRYGGA_AUDIT_KEEP_YEARS=8"),
    ("2019-05-01", "4", "BRYGGA_AUDIT_KEEP_YEARS", "between 5 and"),
], ids=["mid-month", "not a date", "future", "younger than five years", "younger than the setting", "keep below 5"])
async def test_a_refused_archive_names_the_field_and_changes_nothing(installed, db, tmp_path, before, keep, field, says):
    env = dict(installed, **({"BRYGGA_AUDIT_KEEP_YEARS": keep} if keep else {}))
    state = await _state(db)
    out = tmp_path / "archive.ndjson"
    result = _cli("archive", "--before", before, "--out", str(out), env=env)
    # 2: the command's refusal; 1: a setting the service cannot start with (every command's start-up error)
    assert result.returncode == (1 if field.startswith("BRYGGA_") else 2), result.stdout + result.stderr
    assert field in result.stderr and says in result.stderr, result.stderr
    assert await _state(db) == state
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("which", ["among them", "the newest before the anchor"])
async def test_a_forged_checkpoint_in_the_months_refuses_the_archive_and_changes_nothing(installed, db, tmp_path, which):
    """The archive verifies the months before it writes them away, every checkpoint signature too (checked ahead of
    its walk in threads, as verify_chain's): one forged among them and nothing is archived. Found in review: the
    anchor signed the digest of the checkpoint before it unchecked, so one forged there was vouched for by the
    anchor and went into the signed file; the anchor now vouches only for one whose signature holds."""
    april_last = await db.fetchval("SELECT max(seq) FROM audit_events_2019_04")
    seq = await db.fetchval("SELECT seq FROM audit_checkpoints WHERE seq < 68719476736 ORDER BY seq OFFSET 5 LIMIT 1"
                            if which == "among them" else
                            "SELECT max(seq) FROM audit_checkpoints WHERE seq < $1", *([] if which == "among them" else [april_last]))
    await db.execute("SET session_replication_role = replica")
    try:
        await db.execute("UPDATE audit_checkpoints SET signature = $1 WHERE seq = $2", os.urandom(64), seq)
    finally:
        await db.execute("SET session_replication_role = origin")
    state = await _state(db)
    out = tmp_path / "archive.ndjson"
    result = _cli("archive", "--before", "2019-05-01", "--out", str(out), env=installed)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"first bad seq {seq}: bad_signature" in result.stderr, result.stderr
    assert await _state(db) == state
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


async def test_archive_then_verify_online_from_the_anchor_and_the_file_on_its_own(installed, api, db, client, tmp_path,
                                                                                   tokens):
    april_last = await db.fetchval("SELECT max(seq) FROM audit_events_2019_04")
    out = tmp_path / "archive.ndjson"
    result = _cli("archive", "--before", "2019-05-01", "--out", str(out), env=installed)
    assert result.returncode == 0, result.stderr
    anchor = await db.fetchrow("SELECT * FROM audit_anchors")
    assert anchor["seq"] == april_last and anchor["events"] == 2 * OLD_EVENTS + 1
    assert anchor["archived_before"] == datetime(2019, 5, 1, tzinfo=UTC)
    assert await _partitions(db) == [f"audit_events_{datetime.now(UTC):%Y_%m}"]
    assert await _detached(db) == []  # taken out of the log in the transaction, dropped right after it
    assert not await db.fetchval("SELECT count(*) FROM audit_events WHERE seq <= $1", anchor["seq"])
    assert not await db.fetchval("SELECT count(*) FROM audit_chain WHERE seq < $1", anchor["seq"])
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'audit.archive'") == 1

    online = _cli("verify", env=installed)
    assert online.returncode == 0, online.stdout + online.stderr
    assert f"from the archive anchor at seq {anchor['seq']}" in online.stdout and "intact" in online.stdout
    offline = _cli("verify", "--file", str(out), env=installed)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert f"head seq {anchor['seq']} hash {bytes(anchor['hash']).hex()}" in offline.stdout  # links to the anchor
    lines = out.read_bytes().splitlines()
    assert json.loads(lines[0])["archive"]["anchor_seq"] == anchor["seq"]
    assert sum(1 for line in lines if line.startswith(b'{"seq"')) == anchor["events"]
    # Format 2: the anchor signs the digest of the file's last checkpoint, so the file's are one run (one signature).
    in_file = [_file_checkpoint(json.loads(line)["checkpoint"]) for line in lines if line.startswith(b'{"checkpoint"')]
    assert len(in_file) > 2 and in_file[-1].seq == anchor["seq"] and bytes(anchor["prev"]) == in_file[-1].prev
    assert checkpoint_signatures.runs(in_file) == [in_file]

    # The whole log's export after it goes on from the anchor too, and verifies on its own.
    export = tmp_path / "export.ndjson"
    assert _cli("export", "--out", str(export), env=installed).returncode == 0
    assert json.loads(export.read_text().splitlines()[0])["continues_from"]["seq"] == anchor["seq"]
    exported = _cli("verify", "--file", str(export), env=installed)
    assert exported.returncode == 0 and "intact" in exported.stdout, exported.stdout + exported.stderr

    # A rerun finds the months archived and changes nothing; the file stays as it was.
    written = out.read_bytes()
    again = _cli("archive", "--before", "2019-05-01", "--out", str(out), env=installed)
    assert again.returncode == 0 and "already archived" in again.stdout, again.stderr
    assert out.read_bytes() == written

    whole = tokens.auth(sub="auditor-1", roles=["auditor"], organisations=["*"])
    verified = await client.get("/v1/audit/verify", headers=whole)
    body = await verified.json()
    assert body["ok"] and body["from_anchor_seq"] == anchor["seq"]
    clients = await db.fetch("SELECT DISTINCT client_id FROM audit_events WHERE client_id IS NOT NULL")
    extract = await client.get(f"/v1/clients/{clients[0]['client_id']}/access-log", headers=whole)
    assert extract.status == 200, await extract.text()
    assert (await extract.json())["archived_before"] == "2019-05-01T00:00:00Z"


async def test_the_extract_says_nothing_is_archived_before_an_archive(installed, db, client, tokens):
    whole = tokens.auth(sub="auditor-1", roles=["auditor"], organisations=["*"])
    clients = await db.fetch("SELECT DISTINCT client_id FROM audit_events WHERE client_id IS NOT NULL "
                             "AND seq > (SELECT max(seq) FROM audit_events_2019_04)")
    extract = await client.get(f"/v1/clients/{clients[0]['client_id']}/access-log", headers=whole)
    assert extract.status == 200 and (await extract.json())["archived_before"] is None


@pytest.mark.parametrize("when", ["writing the file", "after the drop"])
async def test_a_kill_in_the_middle_leaves_nothing_half_done(installed, db, tmp_path, when):
    out = tmp_path / "archive.ndjson"
    partial = tmp_path / "archive.ndjson.partial"
    state = await _state(db)
    process = subprocess.Popen([sys.executable, "-m", "service", "audit", "archive", "--before", "2019-05-01",
                                "--out", str(out)], cwd=ROOT, env=installed, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if when == "writing the file" and partial.exists() and partial.stat().st_size > 0:
                break
            if when == "after the drop" and await db.fetchval("SELECT count(*) FROM audit_anchors"):
                break
            await asyncio.sleep(0.005)
        assert process.poll() is None, "the archive ended before the kill"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(30)
        process.stdout.close()
        process.stderr.close()
    if when == "writing the file":
        assert await _state(db) == state and not out.exists()  # nothing changed in the database
    result = _cli("archive", "--before", "2019-05-01", "--out", str(out), env=installed)
    assert result.returncode == 0, result.stderr
    assert await _detached(db) == []  # a crashed run's detached months are dropped by the rerun
    anchor = await db.fetchrow("SELECT seq, hash FROM audit_anchors")
    assert not await db.fetchval("SELECT count(*) FROM audit_chain WHERE seq < $1", anchor["seq"])
    online = _cli("verify", env=installed)
    assert online.returncode == 0 and "intact" in online.stdout, online.stdout + online.stderr
    offline = _cli("verify", "--file", str(out), env=installed)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert f"head seq {anchor['seq']} hash {bytes(anchor['hash']).hex()}" in offline.stdout


async def test_the_file_s_lines_get_the_verdict_their_values_get(installed, db, tmp_path, signing_keys):
    """`audit verify --file` hashes an archive's lines as they stand (audit_file.verify_lines, add_lines); tampered,
    they get the verdict the same lines get when each is parsed and verified by its values (the lines as text)."""
    from crypto import FileKeyProvider
    from service.audit_file import verify_lines

    out = tmp_path / "archive.ndjson"
    assert _cli("archive", "--before", "2019-05-01", "--out", str(out), env=installed).returncode == 0
    keys = FileKeyProvider(signing_keys.keyring_path).load().audit_public_keys
    lines = out.read_bytes().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith(b'{"seq"'))
    a, b = first + 100, first + 30_000

    def swapped(ls):
        ls[a], ls[a + 1] = ls[a + 1], ls[a]
        return ls

    tamperings = {
        "intact": lambda ls: ls,
        "a value": lambda ls: ls[:a] + [ls[a].replace(b'"hsa-', b'"hsb-', 1)] + ls[a + 1:],
        "a line gone": lambda ls: ls[:b] + ls[b + 1:],
        "two lines swapped": swapped,
        "the tail cut": lambda ls: ls[:b],
        "reformatted, same values": lambda ls: ls[:a] + [ls[a].replace(b'","', b'", "', 1)] + ls[a + 1:],
    }
    for name, tamper in tamperings.items():
        tampered = tamper(list(lines))
        fast, _ = verify_lines(tampered, keys)
        slow, _ = verify_lines([line.decode() for line in tampered], keys)
        assert fast == slow, name
        assert fast.ok == (name in ("intact", "reformatted, same values")), (name, fast)


async def test_the_archive_s_transaction_detaches_the_months_and_a_later_one_drops_them(installed, db):
    """The transaction that takes months out of the log is a catalogue change (its lock on the log lasts
    milliseconds whatever the months hold); their files are freed after it, in a transaction of their own."""
    march = await db.fetchval("SELECT count(*) FROM audit_events_2019_03")
    last = await db.fetchval("SELECT max(seq) FROM audit_events_2019_03")
    # Only on the maintenance path, in a session that never set it too (its setting is null then).
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.fetchval("SELECT audit_events_drop_archived()")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.fetchval("SELECT audit_events_archive($1::text[], $2)", ["audit_events_2019_03"], last)
    async with db.transaction():
        await db.execute("SET LOCAL brygga.audit_maintenance = 'on'")
        await db.fetchval("SELECT audit_events_archive($1::text[], $2)", ["audit_events_2019_03"], last)
    assert "audit_events_2019_03" not in await _partitions(db)
    assert await _detached(db) == ["archived_audit_events_2019_03"]
    assert await db.fetchval("SELECT count(*) FROM archived_audit_events_2019_03") == march
    assert not await db.fetchval("SELECT count(*) FROM audit_events WHERE seq <= $1", last)
    async with db.transaction():
        await db.execute("SET LOCAL brygga.audit_maintenance = 'on'")
        assert await db.fetchval("SELECT audit_events_drop_archived()") == 1
    assert await _detached(db) == []


async def test_the_archive_holds_a_window_of_the_months_checkpoints(installed, db, tmp_path, signing_keys, monkeypatch):
    """The months' checkpoints are written to the file as they are read and verified a window at a time (as
    verify_chain's walk: audit_archive._MonthsWindows), not held all at once; the file verifies by windows too, with
    the verdict holding them all gives."""
    from crypto import FileKeyProvider
    from service import audit_archive
    from service.audit_file import verify_file, verify_lines
    from service.domain import audit_stretches, audit_windows

    monkeypatch.setattr(audit_stretches, "LINES_AT_ONCE", 2_000)
    held: list[int] = []  # checkpoints the archive's verifier held after each window
    take = audit_windows.Windowing._take

    def measuring(self, checkpoints, below):
        take(self, checkpoints, below)
        if isinstance(self, audit_archive._MonthsWindows):
            held.append(len(self._verifier.checkpoints))

    monkeypatch.setattr(audit_windows.Windowing, "_take", measuring)
    months = await db.fetchval("SELECT count(*) FROM audit_checkpoints WHERE seq <= $1",
                               await db.fetchval("SELECT max(seq) FROM audit_events_2019_04"))
    keyring = FileKeyProvider(signing_keys.keyring_path).load()
    out = tmp_path / "archive.ndjson"
    done = await audit_archive.archive(db, keyring, before=datetime(2019, 5, 1, tzinfo=UTC), out=out, keep_years=5,
                                       now=datetime.now(UTC))
    assert done is not None and done.events == 2 * OLD_EVENTS + 1
    file_checkpoints = sum(1 for line in out.read_bytes().splitlines() if line.startswith(b'{"checkpoint"'))
    assert file_checkpoints == months + 1 >= 40  # the sealer's (one each 1,000 events at least) and the anchor
    assert len(held) >= 10 and max(held) <= 6 < months  # windows of 2,000 seqs: a checkpoint or two each
    verdict, _ = verify_file(out, keyring.audit_public_keys)
    with open(out, "rb") as lines:
        assert verdict == verify_lines(lines, keyring.audit_public_keys)[0]
    assert verdict.ok and verdict.checked == done.events and verdict.head_seq == done.anchor_seq
