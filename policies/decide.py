"""decide(request, facts) -> Decision: the access rules on one screen (DESIGN.md "The decision").

Pure: facts in, decision out; no I/O and no clock. This foundation holds the role
gate and the relation rule; block, zone, consent and emergency rules join here.
"""
from __future__ import annotations

from dataclasses import dataclass

from .decision import Basis, Decision, Reason, allow, deny
from .model import Principal
from .roles import Permission, role_gate


@dataclass(frozen=True, slots=True)
class Request:
    """Who asks for what about which client."""

    principal: Principal
    permission: Permission


@dataclass(frozen=True, slots=True)
class ClientFacts:
    """What storage loaded about the client, in one round trip."""

    client_exists: bool
    caller_relation_active: bool


# Opening a relation is how a unit comes to take part; it cannot need one first.
_NEEDS_NO_RELATION = frozenset({Permission.RELATION_OPEN})


def decide(request: Request, facts: ClientFacts) -> Decision:
    """Role gate → the client exists → an active relation of the caller's unit → own zone."""
    gate = role_gate(request.principal.roles, request.permission)
    if not gate:
        return gate
    if request.principal.unit is None:
        return deny(Reason.NO_UNIT, legal_basis="PDL 4:1")
    # Existence is not revealed: an unknown client and one without relation both read as 404.
    if not facts.client_exists:
        return deny(Reason.UNKNOWN_CLIENT, legal_basis="PDL 4:1")
    if request.permission in _NEEDS_NO_RELATION:
        return allow(Basis.ROLE, legal_basis="PDL 4:1")
    # Only those who take part in the client's care or case may read (PDL 4:1), in the own zone too.
    if not facts.caller_relation_active:
        return deny(Reason.NO_RELATION, legal_basis="PDL 4:1")
    return allow(Basis.OWN_ZONE, legal_basis="PDL 4:1; OSL 25:1, 26:1")
