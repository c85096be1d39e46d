"""The role gate and the client decision: pure, ordered, with reasons."""
from __future__ import annotations

import itertools

import pytest

from policies.decide import Facts, Request, decide
from policies.decision import Basis, Reason
from policies.model import Principal, Role, Zone
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

    by_name = {handler.__name__: action for handler, action in attempted_actions(endpoints()).items()}
    assert by_name["unblock_document"] == Action.DOCUMENT_UNBLOCK
    assert by_name["block_document"] == Action.DOCUMENT_BLOCK
    assert by_name["read_content"] == Action.DOCUMENT_READ_CONTENT
    assert by_name["list_units"] == Action.AUTH_UNKNOWN_UNIT
