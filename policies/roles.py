"""The role gate: the first rule of every decision (API.md "Tokens", Roles).

Access rights follow from a documented needs and risk analysis (PDL 4:3, check):
here that analysis is the table below, one line per permission.
"""
from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from .decision import Basis, Decision, Reason, allow, deny
from .model import Role

_CLIENT_WORK = frozenset({Role.STAFF, Role.UNIT_MANAGER})
_CLIENT_WORK_OR_SYSTEM = _CLIENT_WORK | {Role.SYSTEM}


class Permission(StrEnum):
    """What an endpoint needs, named resource:action, kept alphabetical."""

    AUDIT_EXTRACT = "audit:extract"
    AUDIT_READ = "audit:read"
    AUDIT_REVIEW = "audit:review"
    BLOCK_LIFT = "blocks:lift"
    CLIENT_LOOKUP = "clients:lookup"
    CLIENT_NETWORK = "clients:network"
    CLIENT_READ = "clients:read"
    CLIENT_REGISTER = "clients:register"
    CONSENT_CONFIRM = "consents:confirm"
    CONSENT_GRANT = "consents:grant"
    CONSENT_READ = "consents:read"
    CONSENT_REVOKE = "consents:revoke"
    DISCLOSURE_CREATE = "disclosures:create"
    DISCLOSURE_LIST = "disclosures:list"
    DOCUMENT_BLOCK = "documents:block"
    DOCUMENT_CORRECT = "documents:correct"
    DOCUMENT_CREATE = "documents:create"
    DOCUMENT_LIST = "documents:list"
    DOCUMENT_READ_CONTENT = "documents:read_content"
    DOCUMENT_READ_METADATA = "documents:read_metadata"
    DOCUMENT_RELEASE = "documents:release"
    DOCUMENT_SHRED = "documents:shred"
    EMERGENCY_OPEN = "emergency:open"
    FOLLOWUP_READ = "followup:read"
    FOLLOWUP_WRITE = "followup:write"
    INDICATORS_READ = "indicators:read"
    ME_ACCESS_LOG = "me:access_log"
    ME_CONSENT_GRANT = "me:consent_grant"
    ME_CONSENT_REVOKE = "me:consent_revoke"
    ME_DOCUMENTS = "me:documents"
    ME_READ = "me:read"
    RELATION_END = "relations:end"
    RELATION_LIST = "relations:list"
    RELATION_OPEN = "relations:open"
    RETENTION_READ = "retention:read"
    RETENTION_WRITE = "retention:write"
    SIP_CREATE = "sip:create"
    SIP_OVERDUE = "sip:overdue"
    SIP_READ = "sip:read"
    SIP_WRITE = "sip:write"
    UNIT_LIST = "units:list"
    UNIT_WRITE = "units:write"


ROLE_PERMISSIONS: dict[Permission, frozenset[Role]] = {
    # Auditors read the log, never content; a unit manager may extract the log of a client of the unit.
    Permission.AUDIT_EXTRACT: frozenset({Role.AUDITOR, Role.UNIT_MANAGER}),
    Permission.AUDIT_READ: frozenset({Role.AUDITOR}),
    Permission.AUDIT_REVIEW: frozenset({Role.AUDITOR}),
    Permission.CLIENT_LOOKUP: _CLIENT_WORK_OR_SYSTEM,
    # Which units the client depends on: staff who coordinate the client's care (SoL 2:7; HSL 16:4).
    Permission.CLIENT_NETWORK: _CLIENT_WORK,
    Permission.CLIENT_READ: _CLIENT_WORK,
    Permission.CLIENT_REGISTER: _CLIENT_WORK_OR_SYSTEM,
    Permission.CONSENT_CONFIRM: _CLIENT_WORK,
    Permission.CONSENT_GRANT: _CLIENT_WORK,
    Permission.CONSENT_READ: _CLIENT_WORK,
    Permission.CONSENT_REVOKE: _CLIENT_WORK,
    # A member of the unit holding the documents decides a disclosure (OSL 25:12, 26:9); a system never does.
    Permission.DISCLOSURE_CREATE: _CLIENT_WORK,
    Permission.DISCLOSURE_LIST: _CLIENT_WORK,
    # Staff of a unit with a relation lift a block on the client's decision, or in an emergency (PDL 4:4).
    Permission.BLOCK_LIFT: _CLIENT_WORK,
    Permission.DOCUMENT_BLOCK: _CLIENT_WORK,
    # The owning unit's staff correct a record by a new version; the old one is kept (PDL 3:14).
    Permission.DOCUMENT_CORRECT: _CLIENT_WORK,
    Permission.DOCUMENT_CREATE: _CLIENT_WORK_OR_SYSTEM,
    Permission.DOCUMENT_LIST: _CLIENT_WORK_OR_SYSTEM,
    Permission.DOCUMENT_READ_CONTENT: _CLIENT_WORK,
    Permission.DOCUMENT_READ_METADATA: _CLIENT_WORK_OR_SYSTEM,
    # The owning unit's staff release a document to the client's own view (OSL 12:1; PDL 8:2).
    Permission.DOCUMENT_RELEASE: _CLIENT_WORK,
    Permission.DOCUMENT_SHRED: frozenset({Role.UNIT_MANAGER}),
    Permission.EMERGENCY_OPEN: _CLIENT_WORK,
    # The person themself, on their own records only (OSL 12:1; PDL 8:2, 8:5; policies/me.py).
    Permission.ME_ACCESS_LOG: frozenset({Role.CLIENT}),
    Permission.ME_CONSENT_GRANT: frozenset({Role.CLIENT}),
    Permission.ME_CONSENT_REVOKE: frozenset({Role.CLIENT}),
    Permission.ME_DOCUMENTS: frozenset({Role.CLIENT}),
    Permission.ME_READ: frozenset({Role.CLIENT}),
    # Follow-up records are kept by those who work with the client; a system does not record visits or scores.
    Permission.FOLLOWUP_READ: _CLIENT_WORK,
    Permission.FOLLOWUP_WRITE: _CLIENT_WORK,
    # Indicators hold no person: unit managers for their unit, analysts for the organisations of their token.
    Permission.INDICATORS_READ: frozenset({Role.ANALYST, Role.UNIT_MANAGER}),
    Permission.RELATION_END: _CLIENT_WORK_OR_SYSTEM,
    Permission.RELATION_LIST: _CLIENT_WORK,
    Permission.RELATION_OPEN: _CLIENT_WORK_OR_SYSTEM,
    # Retention rules and the plan of what is due name no client: admins set the rules, auditors review them.
    Permission.RETENTION_READ: frozenset({Role.ADMIN, Role.AUDITOR}),
    Permission.RETENTION_WRITE: frozenset({Role.ADMIN}),
    # SIP plans are written by the people who coordinate (SoL 2:7; HSL 16:4); the unit manager follows them up.
    Permission.SIP_CREATE: _CLIENT_WORK,
    Permission.SIP_OVERDUE: frozenset({Role.UNIT_MANAGER}),
    Permission.SIP_READ: _CLIENT_WORK,
    Permission.SIP_WRITE: _CLIENT_WORK,
    # Every role that works in or for the installation; the person themself needs no list of its units.
    Permission.UNIT_LIST: frozenset(Role) - {Role.CLIENT},
    Permission.UNIT_WRITE: frozenset({Role.ADMIN}),
}


def roles_allowed(permission: Permission) -> frozenset[Role]:
    """The roles that hold `permission` (for the OpenAPI document)."""
    return ROLE_PERMISSIONS[permission]


_ROLE_HELD = allow(Basis.ROLE, legal_basis="PDL 4:3")  # decisions are immutable: one serves every call
_ROLE_MISSING = deny(Reason.FORBIDDEN_ROLE, legal_basis="PDL 4:3")


def role_gate(roles: Iterable[Role], permission: Permission) -> Decision:
    """Allow when any of `roles` holds `permission`; checked before anything else."""
    return _ROLE_MISSING if ROLE_PERMISSIONS[permission].isdisjoint(roles) else _ROLE_HELD
