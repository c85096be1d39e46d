"""`audit export` and `audit verify` as an auditor runs them: online, and offline over the export alone."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from service.http.context import RUNTIME
from tests.integration.test_audit_chain import accesses, tamper

ROOT = Path(__file__).resolve().parents[2]


def _audit(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", "audit", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
async def exported(client, api, db, database_url, signing_keys, tmp_path, tokens):
    """A sealed log of 10 accesses, exported; the keys as an auditor fetches them."""
    await accesses(api, 8)
    await client.server.app[RUNTIME].chain_sealer.catch_up()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRYGGA_", "DATABASE_URL"))}
    env.update(DATABASE_URL=database_url, BRYGGA_KEYRING=str(signing_keys.keyring_path),
               BRYGGA_DATA_DIR=str(tmp_path), BRYGGA_LOG_LEVEL="WARNING")
    export = tmp_path / "audit.ndjson"
    result = _audit("export", "--out", str(export), env=env)
    assert result.returncode == 0, result.stderr
    keys = tmp_path / "keys.json"
    response = await client.get("/v1/audit/public-key", headers=tokens.auth(sub="auditor-1", roles=["auditor"]))
    keys.write_text(await response.text())
    return env, export, keys


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write(path: Path, items: list[dict]) -> None:
    path.write_text("".join(json.dumps(item) + "\n" for item in items))


async def test_export_holds_header_checkpoints_and_every_event(exported, db):
    env, export, _ = exported
    items = _lines(export)
    assert items[0]["brygga_audit_export"] == 1 and items[0]["public_keys"]
    assert any("checkpoint" in item for item in items)
    events = [item for item in items if "seq" in item]
    assert [e["seq"] for e in events] == [r["seq"] for r in await db.fetch("SELECT seq FROM audit_events ORDER BY seq")][:len(events)]
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'audit.read' AND actor_sub LIKE 'cli:%'") == 1


async def test_online_and_offline_verification_of_an_intact_log(exported):
    env, export, keys = exported
    online = _audit("verify", env=env)
    assert online.returncode == 0 and online.stdout.startswith("intact:"), online.stdout + online.stderr
    offline = _audit("verify", "--file", str(export), "--public-key", str(keys), env={"PATH": os.environ["PATH"]})
    assert offline.returncode == 0 and "intact: 10 sealed events" in offline.stdout, offline.stdout + offline.stderr
    trusting = _audit("verify", "--file", str(export), env={"PATH": os.environ["PATH"]})
    assert trusting.returncode == 0 and "keys inside the export" in trusting.stdout


def _edit(items: list[dict], n: int, **changes) -> list[dict]:
    events = [i for i, item in enumerate(items) if "seq" in item]
    items[events[n]].update(changes)
    return items


@pytest.mark.parametrize("tamper,problem", [
    (lambda items, seqs: (_edit(items, 4, basis="consent:forged"), seqs[4]), "modified"),
    (lambda items, seqs: (_edit(items, 6, at="2020-01-01T00:00:00+00:00"), seqs[6]), "modified"),
    (lambda items, seqs: ([item for item in items if item.get("seq") != seqs[5]], seqs[5]), "missing"),
])
async def test_offline_verification_names_the_first_bad_seq(exported, tmp_path, tamper, problem):
    env, export, keys = exported
    items = _lines(export)
    seqs = [item["seq"] for item in items if "seq" in item]
    changed, bad = tamper(items, seqs)
    forged = tmp_path / "forged.ndjson"
    _write(forged, changed)
    result = _audit("verify", "--file", str(forged), "--public-key", str(keys), env={"PATH": os.environ["PATH"]})
    assert result.returncode == 1 and f"first bad seq {bad}: {problem}" in result.stdout, result.stdout + result.stderr


async def test_swapped_lines_are_reordered(exported, tmp_path):
    env, export, keys = exported
    items = _lines(export)
    at = [i for i, item in enumerate(items) if "seq" in item]
    a, b = items[at[3]], items[at[7]]
    content = ("actor", "action", "client_id", "document_id", "consent_id", "decision", "basis", "reason_codes",
               "purpose", "request_id", "remote_addr", "flagged", "at")
    for key in content:
        a[key], b[key] = b[key], a[key]
    forged = tmp_path / "swapped.ndjson"
    _write(forged, items)
    result = _audit("verify", "--file", str(forged), "--public-key", str(keys), env={"PATH": os.environ["PATH"]})
    assert result.returncode == 1 and f"first bad seq {a['seq']}: reordered" in result.stdout, result.stdout


async def test_two_events_swapped_get_the_same_answer_online_and_offline(exported, tmp_path, db):
    """Swapping two lines of the export (seq, event and link move together) is the swap a database allows
    (contents trade seqs): both are reordered at the lower seq, not a gap reported as missing."""
    env, export, keys = exported
    items = _lines(export)
    at = [i for i, item in enumerate(items) if "seq" in item]
    a, b = items[at[3]]["seq"], items[at[7]]["seq"]
    items[at[3]], items[at[7]] = items[at[7]], items[at[3]]
    forged = tmp_path / "lines-swapped.ndjson"
    _write(forged, items)
    offline = _audit("verify", "--file", str(forged), "--public-key", str(keys), env={"PATH": os.environ["PATH"]})
    columns = "at, actor_sub, actor_name, actor_unit, actor_organisation, actor_domain, actor_roles, action, " \
              "client_id, document_id, consent_id, decision, basis, reason_codes, purpose, request_id, remote_addr, flagged"
    await tamper(db, f"""
        UPDATE audit_events t SET ({columns}) = (SELECT {columns} FROM audit_events s WHERE s.seq = CASE t.seq WHEN $1 THEN $2 ELSE $1 END)
        WHERE t.seq IN ($1, $2)""", a, b)
    online = _audit("verify", env=env)
    verdict = re.compile(r"first bad seq (\d+): (\w+)")
    assert offline.returncode == online.returncode == 1, offline.stdout + online.stdout
    assert verdict.search(offline.stdout).groups() == verdict.search(online.stdout).groups() == (str(a), "reordered")


async def test_a_cut_tail_needs_a_checkpoint_to_be_seen(exported, tmp_path):
    env, export, keys = exported
    items = _lines(export)
    held = tmp_path / "held.json"
    last = [item for item in items if item.get("hash")][-1]  # the newest sealed event
    held.write_text(json.dumps({"seq": last["seq"], "hash": last["hash"]}))
    cut = [item for item in items if "checkpoint" not in item and item.get("seq", 0) < last["seq"]]
    forged = tmp_path / "cut.ndjson"
    _write(forged, cut)
    plain = _audit("verify", "--file", str(forged), "--public-key", str(keys), env={"PATH": os.environ["PATH"]})
    assert plain.returncode == 0  # nothing inside the file can tell
    result = _audit("verify", "--file", str(forged), "--public-key", str(keys), "--checkpoint", str(held),
                    env={"PATH": os.environ["PATH"]})
    assert result.returncode == 1 and "truncated" in result.stdout


async def test_a_checkpoint_signed_by_another_key_is_refused(exported, tmp_path):
    env, export, keys = exported
    other = json.loads(keys.read_text())
    other["keys"][0]["public_key"] = "A" * 43 + "="
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(other))
    result = _audit("verify", "--file", str(export), "--public-key", str(wrong), env={"PATH": os.environ["PATH"]})
    assert result.returncode == 1 and "bad_signature" in result.stdout


async def test_online_verification_finds_tampering(exported, db):
    env, _, _ = exported
    seq = await db.fetchval("SELECT seq FROM audit_chain ORDER BY seq OFFSET 2 LIMIT 1")
    await db.execute("SET session_replication_role = replica")
    await db.execute("DELETE FROM audit_events WHERE seq = $1", seq)
    await db.execute("SET session_replication_role = origin")
    result = _audit("verify", env=env)
    assert result.returncode == 1 and f"first bad seq {seq}: missing" in result.stdout


async def test_a_file_that_is_not_an_export_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.ndjson"
    junk.write_text('{"hello": "world"}\n')
    result = _audit("verify", "--file", str(junk), env={"PATH": os.environ["PATH"]})
    assert result.returncode == 2 and "line 1" in result.stderr


@pytest.mark.parametrize("where", ["checkpoint", "public_keys"])
@pytest.mark.parametrize("key_id", [["audit-1"], {"id": 1}, "\ud800"], ids=["a list", "an object", "a lone surrogate"])
async def test_a_key_id_no_signature_can_hold_is_a_clear_error(exported, tmp_path, where, key_id):
    """Found in review: a checkpoint's key id that is not text UTF-8 can carry (JSON allows a list, or a lone
    surrogate) made verification raise (a traceback) instead of naming the line."""
    _, export, _ = exported
    items = _lines(export)
    number = next(n for n, item in enumerate(items, 1) if where in item)
    if where == "checkpoint":
        items[number - 1]["checkpoint"]["key_id"] = key_id
    else:
        items[number - 1]["public_keys"][0]["key_id"] = key_id
    edited = tmp_path / "edited.ndjson"
    _write(edited, items)
    result = _audit("verify", "--file", str(edited), env={"PATH": os.environ["PATH"]})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "key_id" in result.stderr, result.stderr
