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
