"""Turning a denied Decision into the error the contract prescribes."""
from __future__ import annotations

from policies.decision import Decision, Reason

from ..errors import Forbidden, Gone, NotFound


def raise_if_denied(decision: Decision) -> None:
    """403 for a role (organisation, owning-unit) refusal, 410 for shredded content, else 404: existence is not revealed."""
    if decision:
        return
    if Reason.FORBIDDEN_ROLE in decision.reason_codes:
        raise Forbidden("your roles do not allow this")
    if Reason.NO_ORGANISATION in decision.reason_codes:
        raise Forbidden("an auditor's token must name the organisations audited (claim organisations)",
                        code="no_organisation")
    if Reason.OWN_EMERGENCY in decision.reason_codes:
        raise Forbidden("no one reviews their own emergency access", code="own_emergency")
    if Reason.NOT_OWNING_UNIT in decision.reason_codes:
        raise Forbidden("only the owning unit may do this", code="not_owning_unit")
    if Reason.SHREDDED in decision.reason_codes:
        raise Gone("the document was shredded; its content no longer exists")
    raise NotFound()
