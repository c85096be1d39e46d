"""Who may read the audit log and the client's log extract.

The log must be checked, systematically and recurrently (HSLF-FS 2016:40 ch. 4, check):
that is the auditor's work, which never includes document content. The client has
a right to learn who read their records (PDL 8:5, check): an auditor, or the
manager of a unit that has a relation with the client, produces the extract.
"""
from __future__ import annotations

from .decision import Basis, Decision, Reason, allow, deny
from .model import Principal, Role
from .roles import Permission, role_gate


def decide_audit(principal: Principal, permission: Permission) -> Decision:
    """Reading, verifying or reviewing the log: auditors only."""
    gate = role_gate(principal.roles, permission)
    return allow(Basis.ROLE, legal_basis="HSLF-FS 2016:40 4:9") if gate else gate


def decide_access_log(principal: Principal, *, client_exists: bool, relation_active: bool) -> Decision:
    """A client's log extract: an auditor, or a unit manager whose unit has an active relation with the client."""
    gate = role_gate(principal.roles, Permission.AUDIT_EXTRACT)
    if not gate:
        return gate
    if not client_exists:
        return deny(Reason.UNKNOWN_CLIENT, legal_basis="PDL 8:5")
    if Role.AUDITOR in principal.roles:
        return allow(Basis.ROLE, legal_basis="PDL 8:5; HSLF-FS 2016:40 4:9")
    if not relation_active:
        return deny(Reason.NO_RELATION, legal_basis="PDL 4:1")
    return allow(Basis.RELATION, legal_basis="PDL 8:5")


def decide_review(principal: Principal, *, grant_exists: bool, grant_sub: str | None) -> Decision:
    """A verdict on an emergency access: an auditor, never on an access of their own (no one judges themself)."""
    gate = role_gate(principal.roles, Permission.AUDIT_REVIEW)
    if not gate:
        return gate
    if not grant_exists:
        return deny(Reason.UNKNOWN_GRANT, legal_basis="HSLF-FS 2016:40 4:9")
    if grant_sub == principal.sub:
        return deny(Reason.OWN_EMERGENCY, legal_basis="HSLF-FS 2016:40 4:9")
    return allow(Basis.ROLE, legal_basis="HSLF-FS 2016:40 4:9")
