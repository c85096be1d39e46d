"""decide(request, facts) -> Decision: the access rules on one screen (DESIGN.md "The decision").

Pure: facts in, decision out; no I/O and no clock. Order: role gate → the client
exists → uploader (system metadata) → an active relation of the caller's unit →
block → same zone → deny. Consent and emergency rules join before the final deny.
"""
from __future__ import annotations

from dataclasses import dataclass

from .decision import Basis, Decision, Reason, allow, deny
from .model import Principal, Role, Zone
from .roles import Permission, role_gate


@dataclass(frozen=True, slots=True)
class Request:
    """Who asks for what about which client."""

    principal: Principal
    permission: Permission


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What a decision needs to know about one document."""

    unit: str
    zone: Zone
    category: str
    blocked: bool
    created_by: str
    shredded: bool = False


@dataclass(frozen=True, slots=True)
class Facts:
    """What storage loaded about the client (and document), in one round trip."""

    client_exists: bool
    caller_relation_active: bool
    document: DocumentFacts | None = None


# Opening a relation is how a unit comes to take part; it cannot need one first.
_NEEDS_NO_RELATION = frozenset({Permission.RELATION_OPEN})
_CLIENT_WORK = frozenset({Role.STAFF, Role.UNIT_MANAGER})
# Acts on a document that only its owning unit may perform.
_OWNING_UNIT_ONLY = frozenset({Permission.DOCUMENT_BLOCK, Permission.DOCUMENT_SHRED})


def decide_unknown_document(request: Request) -> Decision:
    """For a document id that does not exist: the role gate still comes first."""
    gate = role_gate(request.principal.roles, request.permission)
    return gate if not gate else deny(Reason.UNKNOWN_DOCUMENT)


def decide(request: Request, facts: Facts) -> Decision:
    """The decision for `request` given `facts`; falsy when denied, with reason codes."""
    who, document = request.principal, facts.document
    gate = role_gate(who.roles, request.permission)
    if not gate:
        return gate
    if who.unit is None or who.zone is None:
        return deny(Reason.NO_UNIT, legal_basis="PDL 4:1")
    # Existence is not revealed: an unknown client and one without relation both read as 404.
    if not facts.client_exists:
        return deny(Reason.UNKNOWN_CLIENT, legal_basis="PDL 4:1")
    if request.permission in _NEEDS_NO_RELATION:
        return allow(Basis.ROLE, legal_basis="PDL 4:1")
    # A clinic system reads back the metadata of what it uploaded itself (API.md "Roles").
    if (document is not None and request.permission is Permission.DOCUMENT_READ_METADATA
            and Role.SYSTEM in who.roles and document.created_by == who.sub and document.unit == who.unit):
        return allow(Basis.UPLOADER, legal_basis="PDL 4:1")
    if document is not None and who.roles.isdisjoint(_CLIENT_WORK):
        return deny(Reason.NOT_UPLOADER, legal_basis="PDL 4:1")  # a system sees only its own uploads
    # Only those who take part in the client's care or case may read (PDL 4:1), in the own zone too.
    if not facts.caller_relation_active:
        return deny(Reason.NO_RELATION, legal_basis="PDL 4:1")
    if document is None:
        return allow(Basis.OWN_ZONE, legal_basis="PDL 4:1; OSL 25:1, 26:1")
    # The client's block (spärr) holds everywhere outside the owning unit (PDL 4:4, check).
    if document.blocked and document.unit != who.unit:
        return deny(Reason.BLOCKED, legal_basis="PDL 4:4")
    # Secrecy holds between zones, even under one roof (OSL 8:2, 25:1, 26:1).
    if document.zone != who.zone:
        return deny(Reason.NO_CONSENT, legal_basis="OSL 25:1, 26:1, 8:2")
    if request.permission in _OWNING_UNIT_ONLY and document.unit != who.unit:
        return deny(Reason.NOT_OWNING_UNIT, legal_basis="PDL 4:1")
    if request.permission is Permission.DOCUMENT_READ_CONTENT and document.shredded:
        return deny(Reason.SHREDDED)
    return allow(Basis.OWN_ZONE, legal_basis="PDL 4:1; OSL 25:1, 26:1")
