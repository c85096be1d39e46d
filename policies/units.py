"""The unit gate: a token acts for its unit only while that unit exists and is active.

Access rights are assigned for work in a unit, from its needs and risk analysis (PDL 4:3, check):
a unit an administrator deactivated (or one never registered) grants none, to any of its tokens,
from that instant. The refusal is an access decision like any other, so it is audited.
"""
from __future__ import annotations

from .decision import Basis, Decision, Reason, allow, deny

_ACTIVE = allow(Basis.ROLE, legal_basis="PDL 4:3")
_INACTIVE = deny(Reason.UNIT_INACTIVE, legal_basis="PDL 4:3")
_UNKNOWN = deny(Reason.UNKNOWN_UNIT, legal_basis="PDL 4:3")


def unit_gate(active: bool | None) -> Decision:
    """Allow for an active unit; deny unit_inactive for a deactivated one, unknown_unit for none (`active` None)."""
    if active is None:
        return _UNKNOWN
    return _ACTIVE if active else _INACTIVE


def decide_succession(*, predecessor: tuple[str, str, bool, bool] | None,
                      successor: tuple[str, str, bool, bool] | None, same_unit: bool, blocked_documents: int = 0,
                      move_blocked: bool = False) -> Decision:
    """Whether a unit may be succeeded by another (API-1.1 "Corrections and reorganisations").

    `predecessor` and `successor`: (organisation, domain, active, succeeded before);
    None: no such unit (404). A reorganisation stays inside one zone: the successor must be of the predecessor's
    organisation and domain, for records held under one organisation's secrecy never pass to another's by a change
    of units (OSL 25:1, 26:1; 422 different_zone). The records stay the organisation's, kept as they were written
    (PDL 3:14; SoL 11:5). A unit is succeeded once, by an active unit other than itself that was never succeeded
    (409): the chain of successions has one heir per unit and no cycle (A->B->A would make the heir of a consent's
    unit depend on the chain's length), so a consent given to a unit opens for the unit that holds its records.

    `blocked_documents`: the predecessor's blocked documents of clients the successor already has an active relation
    with. A block (spärr, PDL 4:4) holds against every unit but the owning one; after the move the successor owns the
    document, so the block no longer keeps out the unit the client may have blocked it against. Such a succession is
    refused (409 blocked_documents) unless the admin says `move_blocked` explicitly; then the basis names it
    (`:blocked_documents_moved`) so the audit log shows that the blocks' meaning changed and by whose decision.
    """
    if predecessor is None or successor is None:
        return deny(Reason.UNKNOWN_UNIT)
    if predecessor[:2] != successor[:2]:
        return deny(Reason.DIFFERENT_ZONE, legal_basis="OSL 25:1, 26:1")
    if same_unit or predecessor[3] or not successor[2] or successor[3]:
        return deny(Reason.SUCCESSION_CONFLICT)
    if blocked_documents and not move_blocked:
        return deny(Reason.BLOCKED_DOCUMENTS, legal_basis="PDL 4:4")
    if blocked_documents:
        return allow("blocked_documents_moved", legal_basis="OSL 25:1, 26:1; PDL 3:14, 4:4")
    return allow(Basis.ROLE, legal_basis="OSL 25:1, 26:1; PDL 3:14")


def decide_activation(*, active: bool, succeeded: bool) -> Decision:
    """Whether an admin may set a unit's `active`: a succeeded unit is never activated again (409).

    Its records, relations and the consents naming it belong to its successor (unit_heir); active again, it would
    take new consents and relations that open for the successor and not for itself, against what the client named
    (OSL 25:1, 26:1; PDL 4:3). Deactivating is always allowed.
    """
    if active and succeeded:
        return deny(Reason.SUCCESSION_CONFLICT, legal_basis="OSL 25:1, 26:1; PDL 4:3")
    return allow(Basis.ROLE, legal_basis="PDL 4:3")
