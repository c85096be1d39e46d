"""The needs-and-risk analysis (PDL 4:3) written out on its own, role by permission.

The property tests' reference model reads `ROLE_PERMISSIONS` itself, so it would
mirror a mistake there (say, `system` gaining consent revocation). This table is
typed in independently from API.md "Tokens" and API-1.1.md; a change to who may
do what must change both, on purpose.
"""
from __future__ import annotations

import pytest

from policies.model import Role
from policies.roles import Permission, role_gate

A, AU, C, S, SY, M = Role.ADMIN, Role.AUDITOR, Role.CLIENT, Role.STAFF, Role.SYSTEM, Role.UNIT_MANAGER
AN = Role.ANALYST

# permission name -> the roles that hold it, and no others.
EXPECTED: dict[str, set[Role]] = {
    "audit:extract": {AU, M},
    "audit:read": {AU},
    "audit:review": {AU},
    "clients:lookup": {S, M, SY},
    "clients:network": {S, M},
    "clients:read": {S, M},
    "clients:register": {S, M, SY},
    "consents:confirm": {S, M},
    "consents:grant": {S, M},
    "consents:read": {S, M},
    "consents:revoke": {S, M},
    "blocks:lift": {S, M},
    "disclosures:create": {S, M},
    "disclosures:list": {S, M},
    "documents:block": {S, M},
    "documents:correct": {S, M},
    "documents:create": {S, M, SY},
    "documents:list": {S, M, SY},
    "documents:read_content": {S, M},
    "documents:read_metadata": {S, M, SY},
    "documents:release": {S, M},  # API-1.1 "The client's own view": the owning unit's staff
    "documents:shred": {M},
    "emergency:open": {S, M},
    "me:access_log": {C},  # the person themself, on themself only (OSL 12:1)
    "me:consent_grant": {C},
    "me:consent_revoke": {C},
    "me:documents": {C},
    "me:read": {C},
    "followup:read": {S, M},
    "followup:write": {S, M},
    "indicators:read": {AN, M},  # API-1.1 "Follow-up records and indicators"
    "relations:end": {S, M, SY},
    "relations:list": {S, M},
    "relations:open": {S, M, SY},
    "retention:read": {A, AU},  # API-1.1 "Retention": admins and auditors read rules and plan
    "retention:write": {A},
    "sip:create": {S, M},
    "sip:overdue": {M},
    "sip:read": {S, M},
    "sip:write": {S, M},
    "units:list": set(Role) - {C},
    "units:write": {A},
}


def test_the_matrix_names_every_permission_there_is() -> None:
    assert set(EXPECTED) == {permission.value for permission in Permission}


@pytest.mark.parametrize("permission", sorted(EXPECTED))
@pytest.mark.parametrize("role", sorted(Role))
def test_each_role_holds_exactly_the_permissions_of_the_matrix(role: Role, permission: str) -> None:
    assert bool(role_gate([role], Permission(permission))) is (role in EXPECTED[permission])
