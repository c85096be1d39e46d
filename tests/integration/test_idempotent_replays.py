"""Idempotent replays of an upload (#11 item 10; API-1.1 "Side doors closed in v1.1").

A replay returns the first document, title included, so it is decided like a read of that document's
metadata (the same decide(), audited as `document.read_metadata`); only then are its metadata and bytes
compared with the first upload's, and any difference is 409 `idempotency_conflict`.
"""
from __future__ import annotations

import json

import aiohttp
import pytest

from tests import files

KEY = {"Idempotency-Key": "batch-7/item-3"}


def _form(content: bytes, *, category: str = "assessment", title: str = "Utredning enligt SoL") -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("metadata", json.dumps({"category": category, "title": title}), content_type="application/json")
    data.add_field("file", content, filename="a.pdf", content_type="application/pdf")
    return data


@pytest.fixture
async def world(api):
    await api.unit("malmo-iof", organisation="malmo-stad", domain="social")
    staff = api.staff("malmo-iof")
    person = await api.register(staff)
    await api.relation(staff, person["id"])
    return {"staff": staff, "path": f"/v1/clients/{person['id']}/documents",
            "system-a": api.staff("malmo-iof", sub="journal-system-a", roles=["system"]),
            "system-b": api.staff("malmo-iof", sub="journal-system-b", roles=["system"])}


async def _events(db) -> list[tuple]:
    rows = await db.fetch("SELECT action, actor_sub, decision, reason_codes, document_id::text FROM audit_events "
                          "WHERE action LIKE 'document.%' ORDER BY seq")
    return [(r["action"], r["actor_sub"], r["decision"], list(r["reason_codes"]), r["document_id"]) for r in rows]


async def test_a_replay_by_a_caller_who_may_not_read_the_first_document_is_refused_like_that_read(client, world, db):
    content = files.pdf(5000)
    first = await client.post(world["path"], headers={**world["system-a"], **KEY}, data=_form(content))
    assert first.status == 201, await first.text()
    document = await first.json()
    # Another system of the same unit sends the same key, metadata and bytes: it reads only its own uploads.
    replay = await client.post(world["path"], headers={**world["system-b"], **KEY}, data=_form(content))
    body = await replay.text()
    assert (replay.status, json.loads(body)["code"]) == (404, "not_found")
    assert "Utredning" not in body and document["id"] not in body
    # One who may read it gets the first document, and the replay is audited as the read it is.
    staff_replay = await client.post(world["path"], headers={**world["staff"], **KEY}, data=_form(content))
    assert staff_replay.status == 200 and (await staff_replay.json())["title"] == "Utredning enligt SoL"
    own_replay = await client.post(world["path"], headers={**world["system-a"], **KEY}, data=_form(content))
    assert own_replay.status == 200 and (await own_replay.json())["id"] == document["id"]
    assert await _events(db) == [
        ("document.create", "journal-system-a", "allow", [], document["id"]),
        ("document.read_metadata", "journal-system-b", "deny", ["not_uploader"], document["id"]),
        ("document.read_metadata", "staff-of-malmo-iof", "allow", [], document["id"]),
        ("document.read_metadata", "journal-system-a", "allow", [], document["id"]),
    ]
    assert await db.fetchval("SELECT count(*) FROM documents") == 1


@pytest.mark.parametrize("changed", [{"title": "Utredning enligt LVM"}, {"category": "decision"}])
async def test_a_replay_whose_metadata_differ_is_409_and_stores_nothing(client, world, db, changed):
    content = files.pdf(5000)
    first = await client.post(world["path"], headers={**world["staff"], **KEY}, data=_form(content))
    assert first.status == 201, await first.text()
    replay = await client.post(world["path"], headers={**world["staff"], **KEY}, data=_form(content, **changed))
    problem = await replay.json()
    assert (replay.status, problem["code"]) == (409, "idempotency_conflict"), problem
    assert "Utredning enligt SoL" not in json.dumps(problem)
    assert await db.fetchval("SELECT count(*) FROM documents") == 1
    document = await (await client.get(f"/v1/documents/{(await first.json())['id']}", headers=world["staff"])).json()
    assert (document["title"], document["category"]) == ("Utredning enligt SoL", "assessment")
