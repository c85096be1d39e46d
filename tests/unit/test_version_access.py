"""A version is readable exactly when its document is (policies/versions.py; API-1.1 "Corrections").

Over the worlds of test_decide_properties (zones, consents, grants, disclosures, blocks, liftings), any version of
the document, made by anyone in any unit at any time: its decision for reading metadata or content equals the
document's, allowed or denied, for the same reasons. Then the domain code must ask that decision: service/domain/
versions.py reads the history and old content only through documents.document_decision.
"""
from __future__ import annotations

import ast
import dataclasses
from datetime import timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from policies.decide import decide
from policies.roles import Permission
from policies.versions import VersionFacts, decide_version
from tests.unit.test_decide_properties import BASE, SUBS, _settings, cross_zone_reads, worlds

_READS = (Permission.DOCUMENT_READ_METADATA, Permission.DOCUMENT_READ_CONTENT)


@st.composite
def versions(draw) -> VersionFacts:
    return VersionFacts(number=draw(st.integers(1, 20)),
                        created_at=BASE - timedelta(days=draw(st.integers(0, 4000))),
                        created_by=draw(st.sampled_from(SUBS + ("someone-else",))),
                        created_in_unit=draw(st.sampled_from(("u1", "u2", "u3", "old-unit"))),
                        superseded=draw(st.booleans()))


@_settings(1000)
@given(st.one_of(worlds(), cross_zone_reads()), versions(), st.sampled_from(_READS))
def test_a_version_is_readable_exactly_when_its_document_is(world, version, permission):
    if world.facts.document is None:
        return
    request = dataclasses.replace(world.request, permission=permission)
    document = decide(request, world.facts, world.config)
    shown = decide_version(request, world.facts, version, world.config)
    assert bool(shown) == bool(document)
    assert shown.reason_codes == document.reason_codes and shown.basis == document.basis


def test_the_versions_are_read_only_through_the_documents_decision():
    """The domain module reads versions under documents.document_decision, never a decision of its own."""
    source = Path(__file__).resolve().parents[2] / "service" / "domain" / "versions.py"
    tree = ast.parse(source.read_text())
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert "document_decision" in called
    assert not {"decide", "client_decision", "decided"} & called
