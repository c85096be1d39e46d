"""Relations: a unit takes part in the client's care or case, of a kind, for a reason (PDL 4:1; OSL 26:1).

Only those who take part in a client's care, or otherwise need the information for their work in it,
may read it (PDL 4:1 for health care; in social services the case (ärende) is the unit of work, OSL 26:1
and SoL 11:1). A relation says which: `care` (a care relation, vårdrelation), `case` (a social services
case), `sip` (a coordinated individual plan, SoL 2:7 / HSL 16:4) or `referral` (a referral received). A
unit that opens one without saying which gets its domain's own kind: `care` for health care, `case` for
social services and any other configured domain (whose work is handled as cases).

What opening one records in the audit event besides its basis: the kind and whether a reason was stated
(`relation_reason:stated` / `relation_reason:none`). The reason's text can name people and circumstances,
so it is sealed in the relation like other free text and never written to the log, which must hold no
personal data (service/audit.py).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Literal, get_args

from .decision import Basis, Decision, Reason, allow, deny
from .model import Principal
from .roles import Permission, role_gate

RelationKind = Literal["care", "case", "sip", "referral"]
KINDS: tuple[str, ...] = get_args(RelationKind)
HEALTH = "health"
_KIND_REASON = {"care": Reason.RELATION_KIND_CARE, "case": Reason.RELATION_KIND_CASE,
                "sip": Reason.RELATION_KIND_SIP, "referral": Reason.RELATION_KIND_REFERRAL}


def default_kind(domain: str) -> RelationKind:
    """The kind of a relation opened without one: `care` for a health care unit (PDL 4:1), else `case`."""
    return "care" if domain == HEALTH else "case"


def opened(decision: Decision, *, kind: str, reason_stated: bool) -> Decision:
    """The allowed decision to open a relation, with what its event records of the relation in its reasons: the
    kind and whether a reason was stated. A denial is returned as it is (nothing was opened)."""
    if not decision:
        return decision
    stated = Reason.RELATION_REASON_STATED if reason_stated else Reason.RELATION_REASON_NONE
    return replace(decision, reason_codes=(_KIND_REASON[kind], stated))


def decide_unit_clients(principal: Principal) -> Decision:
    """"Mina klienter": a member of staff lists the clients their own unit has an active relation with (the web
    interface, issue #20). The relation is the ground, as for reading each client (PDL 4:1; OSL 26:1): only the
    caller's own unit's clients, each listed one recorded as read (client.list) so it shows in that client's
    extract. Client work only, and a unit is needed (an installation role has no clients of its own)."""
    gate = role_gate(principal.roles, Permission.CLIENT_READ)
    if not gate:
        return gate
    if principal.unit is None:
        return deny(Reason.NO_UNIT, legal_basis="PDL 4:1; OSL 26:1")
    return allow(Basis.RELATION, legal_basis="PDL 4:1; OSL 26:1")
