"""policies.candidates: a list selects every document decide() could allow (a superset), on random worlds.

The worlds are those of test_decide_properties (zones, units, consents in and out of force, grants,
blocks, roles, purposes, clocks). If a candidate set ever left out a document decide() allows, a list
would hide what the caller may see; the store's SQL says what `admits` says (tested against the API in
tests/integration/test_document_list_candidates.py).
"""
from __future__ import annotations

from dataclasses import replace

from hypothesis import event, given
from hypothesis import strategies as st

from policies.candidates import NOTHING, candidates
from policies.roles import Permission, role_gate
from tests.unit.test_decide_properties import _settings, cross_zone_reads, worlds

_ON_ONE_DOCUMENT = (Permission.DOCUMENT_READ_METADATA, Permission.DOCUMENT_READ_CONTENT, Permission.DOCUMENT_BLOCK,
                    Permission.DOCUMENT_SHRED)


@_settings(1000)
@given(st.one_of(worlds(), cross_zone_reads()), st.sampled_from(_ON_ONE_DOCUMENT))
def test_every_document_decide_allows_is_a_candidate(world, permission):
    if world.document is None:
        return
    world = replace(world, request=replace(world.request, permission=permission))
    decision = world.decide()
    listed = candidates(world.request, replace(world.facts, document=None), world.config)
    event("allowed" if decision else "denied")
    if decision:
        event(f"allowed: {str(decision.basis).split(':')[0]}")
        assert listed.admits(world.document), (decision, listed)


@_settings(300)
@given(worlds())
def test_nothing_is_a_candidate_for_a_caller_without_unit_client_or_role(world):
    facts = replace(world.facts, document=None)
    request = replace(world.request, permission=Permission.DOCUMENT_READ_METADATA)
    if world.who.unit is None or world.who.zone is None or not facts.client_exists or not role_gate(
            world.who.roles, request.permission):
        assert candidates(request, facts, world.config) == NOTHING


@_settings(1000)
@given(st.one_of(worlds(), cross_zone_reads()))
def test_the_ranges_read_exactly_the_scope_each_document_once(world):
    """The store reads Candidates.ranges(): every document the scope admits lies in exactly one range, and no
    document it does not admit lies in any (a range of a category the caller may not open is never read)."""
    if world.document is None:
        return
    listed = candidates(world.request, replace(world.facts, document=None), world.config)
    if listed.unit is None:
        assert listed.ranges() == ()
        return
    document = replace(world.document, blocked=False)
    by_scope = replace(listed, emergency_domains=frozenset(), uploader=None)
    hits = [r for r in listed.ranges() if r[0] == document.zone and r[1] in (None, document.category)]
    event(f"ranges hit: {len(hits)}")
    assert len(hits) == (1 if by_scope.admits(document) else 0), (listed.scope, document)


@_settings(1000)
@given(st.one_of(worlds(), cross_zone_reads()))
def test_a_list_reads_only_what_it_shows(world):
    """For a list (metadata of each document), candidates are exactly what decide() allows: so a page is one
    round trip that reads what it shows (#13), and the count of what a list skips cannot be timed (#11)."""
    if world.document is None:
        return
    world = replace(world, request=replace(world.request, permission=Permission.DOCUMENT_READ_METADATA))
    listed = candidates(world.request, replace(world.facts, document=None), world.config)
    assert listed.admits(world.document) is bool(world.decide()), (world.decide(), listed)
