"""What the read path does more cheaply (issue #21) answers exactly as before."""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from service.store.audit_recording import events_json
from tests.unit.test_crypto_envelope import make_ring


def test_a_ring_holds_a_version_and_an_epoch_as_its_sets_say() -> None:
    """KeyRing.holds (asked on every download instead of building kek_versions and epoch_ids) agrees with them,
    for keys in memory and keys in a token alike."""
    ring = replace(make_ring(1, 2), epochs={"2026-11": os.urandom(32)})
    token = replace(make_ring(1), token_keks={7: object()}, token_epochs={"2026-12": object()})
    for candidate in (ring, token):
        for version in (0, 1, 2, 3, 7):
            for epoch in (None, "2026-11", "2026-12", "2027-01"):
                expected = version in candidate.kek_versions and (epoch is None or epoch in candidate.epoch_ids)
                assert candidate.holds(version, epoch) is expected, (version, epoch)


def test_a_batch_of_events_is_one_json_array_of_their_values() -> None:
    """A batch of events goes to PostgreSQL as one JSON array (store/audit_recording.py): each event's values in
    column order, ids as their text, the roles and reason codes as arrays, nulls and flags as JSON's; a value of
    another type is refused rather than written as some text."""
    document, client = uuid.uuid4(), uuid.uuid4()

    def event(roles: list[str], reasons: list[str], flagged: bool = False) -> tuple:
        return ("sub", None, "unit", "org", "social", roles, "document.read_content", client, document, None, "allow",
                "relation", reasons, "care", "rid", "127.0.0.1", flagged)

    events = [event(["staff"], []), event(["manager", "staff"], ["no_relation"]), event(["staff"], [], True),
              event(["staff"], ["consent_missing", "consent:abc"])]
    decoded = json.loads(events_json(events))
    assert [row[5] for row in decoded] == [["staff"], ["manager", "staff"], ["staff"], ["staff"]]
    assert [row[12] for row in decoded] == [[], ["no_relation"], [], ["consent_missing", "consent:abc"]]
    assert decoded[0][7:10] == [client.hex, document.hex, None] and decoded[0][1] is None
    assert [row[16] for row in decoded] == [False, False, True, False]
    assert decoded[1] == [*(v.hex if isinstance(v, uuid.UUID) else v for v in events[1])]
    with pytest.raises(TypeError):
        events_json([event(["staff"], [])[:16] + (datetime.now(UTC),)])
    with pytest.raises(TypeError):
        events_json([event(["staff"], [])[:7] + (12,) + event(["staff"], [])[8:]])
