"""The role gate, the client decision and a consent's status: pure, ordered, with reasons."""
from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from policies.consents import ConsentDraft, check_draft, confirmed_on_recording, status
from policies.decide import Facts, Request, decide
from policies.decision import Basis, Reason
from policies.model import Consent, Principal, Role, Zone
from policies.roles import ROLE_PERMISSIONS, Permission, role_gate

ZONE = Zone("malmo-stad", "social")


def _principal(*roles: Role, unit: str | None = "malmo-iof") -> Principal:
    return Principal("sub-1", "Name", frozenset(roles), unit, ZONE if unit else None)


def test_every_permission_has_roles():
    assert set(ROLE_PERMISSIONS) == set(Permission)
    assert list(Permission) == sorted(Permission, key=lambda p: p.name)  # kept alphabetical


@pytest.mark.parametrize("role,permission,allowed", [
    (Role.STAFF, Permission.CLIENT_READ, True),
    (Role.UNIT_MANAGER, Permission.CLIENT_READ, True),
    (Role.SYSTEM, Permission.CLIENT_READ, False),
    (Role.AUDITOR, Permission.CLIENT_READ, False),
    (Role.ADMIN, Permission.CLIENT_READ, False),
    (Role.SYSTEM, Permission.CLIENT_REGISTER, True),
    (Role.SYSTEM, Permission.RELATION_OPEN, True),
    (Role.AUDITOR, Permission.CLIENT_REGISTER, False),
    (Role.ADMIN, Permission.UNIT_WRITE, True),
    (Role.STAFF, Permission.UNIT_WRITE, False),
    (Role.AUDITOR, Permission.UNIT_LIST, True),
])
def test_role_gate(role, permission, allowed):
    decision = role_gate([role], permission)
    assert bool(decision) is allowed
    assert decision.reason_codes == (() if allowed else (Reason.FORBIDDEN_ROLE,))


def test_no_roles_no_access():
    assert not any(role_gate([], permission) for permission in Permission)


def test_installation_roles_never_read_clients():
    for roles in itertools.chain.from_iterable(itertools.combinations([Role.ADMIN, Role.AUDITOR], n) for n in (1, 2)):
        for facts in (Facts(True, True), Facts(True, False)):
            decision = decide(Request(_principal(*roles), Permission.CLIENT_READ), facts)
            assert not decision and decision.reason_codes == (Reason.FORBIDDEN_ROLE,)


@pytest.mark.parametrize("exists,related,allowed,reason", [
    (True, True, True, None),
    (True, False, False, Reason.NO_RELATION),
    (False, False, False, Reason.UNKNOWN_CLIENT),
])
def test_read_needs_existing_client_and_active_relation(exists, related, allowed, reason):
    decision = decide(Request(_principal(Role.STAFF), Permission.CLIENT_READ), Facts(exists, related))
    assert bool(decision) is allowed
    if allowed:
        assert decision.basis is Basis.OWN_ZONE and "PDL 4:1" in decision.legal_basis
    else:
        assert decision.basis is Basis.NONE and decision.reason_codes == (reason,)


def test_role_is_checked_before_facts():
    decision = decide(Request(_principal(Role.SYSTEM), Permission.CLIENT_READ), Facts(False, False))
    assert decision.reason_codes == (Reason.FORBIDDEN_ROLE,)


def test_opening_a_relation_needs_no_relation_but_an_existing_client():
    request = Request(_principal(Role.SYSTEM), Permission.RELATION_OPEN)
    assert decide(request, Facts(True, False)).basis is Basis.ROLE
    assert decide(request, Facts(False, False)).reason_codes == (Reason.UNKNOWN_CLIENT,)


def test_a_principal_without_unit_never_reaches_client_data():
    # Defence in depth: auth refuses such tokens, and the policy does not rely on it.
    decision = decide(Request(_principal(Role.STAFF, unit=None), Permission.CLIENT_READ), Facts(True, True))
    assert not decision and decision.reason_codes == (Reason.NO_UNIT,)


def test_the_unit_gate_allows_only_an_active_unit_and_says_why_not():
    from policies.units import unit_gate

    assert unit_gate(True) and unit_gate(True).legal_basis == "PDL 4:3"
    assert not unit_gate(False) and unit_gate(False).reason_codes == (Reason.UNIT_INACTIVE,)
    assert not unit_gate(None) and unit_gate(None).reason_codes == (Reason.UNKNOWN_UNIT,)


def test_a_refusal_for_the_tokens_unit_is_audited_under_the_action_its_route_stands_for():
    from service.app import endpoints
    from service.audit import Action
    from service.http.context import attempted_actions

    gates = attempted_actions(endpoints())
    by_name = {handler.__name__: gate.action for handler, gate in gates.items()}
    assert {handler.__name__: gate.permission for handler, gate in gates.items()}["unblock_document"] == \
        Permission.DOCUMENT_BLOCK  # the role gate of the route, checked before anything else
    assert by_name["unblock_document"] == Action.DOCUMENT_UNBLOCK
    assert by_name["block_document"] == Action.DOCUMENT_BLOCK
    assert by_name["read_content"] == Action.DOCUMENT_READ_CONTENT
    assert by_name["list_units"] == Action.AUTH_UNKNOWN_UNIT


# --- consents: who confirms, and the status a consent shows

_SOCIAL, _HEALTH = Zone("malmo-stad", "social"), Zone("region-skane", "health")
_NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _draft(recorder: Zone | None, *, by_client: bool = False) -> ConsentDraft:
    return ConsentDraft(from_zone=_SOCIAL, to_zone=_HEALTH, valid_from=_NOW, valid_until=_NOW + timedelta(days=30),
                        given_by="client", form="verbal", maturity_assessed=False, has_evidence=False,
                        recorder_zone=recorder, recorded_by_client=by_client)


def test_the_holding_zone_confirms_as_it_records_the_receiving_zone_does_not():
    assert confirmed_on_recording(_draft(_SOCIAL))
    assert not confirmed_on_recording(_draft(_HEALTH))
    # The seam for the client's own view (issue 18): given by the client themself, no zone needs to confirm it.
    assert confirmed_on_recording(_draft(None, by_client=True))
    adult, today = date(1980, 1, 1), _NOW.date()
    assert check_draft(_draft(None, by_client=True), client_birth_date=adult, today=today, max_days=730) == []
    assert [p.code for p in check_draft(_draft(None), client_birth_date=adult, today=today, max_days=730)] == [
        "validation_failed"]


@pytest.mark.parametrize("valid_from,valid_until,revoked_at,confirmed_at,expected", [
    (-1, 1, None, -1, "active"),
    (1, 2, None, -1, "pending"),
    (-1, 1, None, None, "awaiting_confirmation"),
    (1, 2, None, None, "awaiting_confirmation"),  # before valid_from too: the holding zone must find it
    (-1, 1, None, 1, "awaiting_confirmation"),  # confirmed only from its confirmation on
    (-2, -1, None, None, "expired"),  # can no longer be confirmed
    (-1, 1, 0, None, "revoked"),
    (-1, 1, 0, -1, "revoked"),
])
def test_a_consents_status(valid_from, valid_until, revoked_at, confirmed_at, expected):
    hours = lambda n: None if n is None else _NOW + timedelta(hours=n)  # noqa: E731
    consent = Consent("c", _SOCIAL, _HEALTH, None, frozenset({"*"}), frozenset({"care"}), hours(valid_from),
                      hours(valid_until), hours(revoked_at), hours(confirmed_at))
    assert status(consent, now=_NOW, birth_date=None) == expected


def test_an_unknown_consent_is_refused_after_the_role_gate():
    from policies.decide import decide_unknown_consent

    gate = decide_unknown_consent(Request(_principal(Role.AUDITOR), Permission.CONSENT_READ))
    assert not gate and gate.reason_codes == (Reason.FORBIDDEN_ROLE,)
    unknown = decide_unknown_consent(Request(_principal(Role.STAFF), Permission.CONSENT_REVOKE))
    assert not unknown and unknown.reason_codes == (Reason.UNKNOWN_CONSENT,)


def test_the_operators_read_of_the_log_from_the_command_line_is_allowed_by_role():
    from policies.audit import decide_operator_read

    decision = decide_operator_read()
    assert decision and decision.basis == Basis.ROLE and decision.legal_basis == "HSLF-FS 2016:40 4:9"
