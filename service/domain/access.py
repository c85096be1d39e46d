"""Turning a denied Decision into the error the contract prescribes."""
from __future__ import annotations

from policies.decision import Decision, Reason

from ..errors import Forbidden, NotFound


def raise_if_denied(decision: Decision) -> None:
    """403 forbidden_role for a role refusal; 404 not_found for anything else (existence is not revealed)."""
    if decision:
        return
    if Reason.FORBIDDEN_ROLE in decision.reason_codes:
        raise Forbidden("your roles do not allow this")
    raise NotFound()
