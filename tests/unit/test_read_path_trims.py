"""What the read path does more cheaply (issue #21) answers exactly as before."""
from __future__ import annotations

import json
import os
from dataclasses import replace

from service.store.audit_recording import _columns
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


def test_the_events_list_columns_are_the_json_of_each_list() -> None:
    """The roles and reason codes columns of a batch of events: each event's own list as JSON, in order, however
    many events share one (the encoding is remembered per distinct list)."""
    def event(roles: list[str], reasons: list[str]) -> tuple:
        return ("sub", None, "unit", "org", "social", roles, "document.read_content", None, None, None, "allow",
                "relation", reasons, "care", "rid", "127.0.0.1", False)

    events = [event(["staff"], []), event(["manager", "staff"], ["no_relation"]), event(["staff"], []),
              event(["staff"], ["consent_missing", "consent:abc"])]
    columns = _columns(events)
    assert [json.loads(text) for text in columns[5]] == [["staff"], ["manager", "staff"], ["staff"], ["staff"]]
    assert [json.loads(text) for text in columns[12]] == [[], ["no_relation"], [], ["consent_missing", "consent:abc"]]
    assert columns[0] == ["sub"] * 4 and columns[16] == [False] * 4
